//! The gateway's rules: one canonical form of a request path (what is matched is what the
//! origin receives), and the route table that says which scope a request needs.
//!
//! ```text
//! canonical path: "/" segments, each percent-decoded where the byte is unreserved
//!                 (A-Z a-z 0-9 - . _ ~), other escapes kept with upper-case hex,
//!                 "." and ".." segments resolved; a trailing "/" is kept
//! refused:        an encoded "/" or "\", a raw "\", ";" (path parameters), an empty
//!                 segment ("//"), an invalid "%" escape, control characters, a space,
//!                 anything not ASCII, ".." above the root, a path not starting with "/"
//! ```
//!
//! What reaches the origin: the client's headers without those it may not choose
//! ([`is_stripped`]), `X-Forwarded-For`/`-Proto`/`-Host` from what the gateway itself
//! knows ([`forwarded_headers`]), and the key's identity with a signature over it
//! ([`signed_message`]).
//!
//! Origins (Express, nginx, Spring, Django) normalise paths; a gateway that matched the
//! raw path would let `/Admin`, `/%61dmin`, `//admin`, `/admin;x` or `/admin%2Fx` past a
//! rule written for `/admin`.

use core::fmt;

use serde::Deserialize;

use crate::scope::Scope;

/// Why a path cannot be made canonical without guessing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathError {
    /// Not starting with `/`.
    NotAbsolute,
    /// An empty segment (`//`).
    EmptySegment,
    /// `%2F` or `%5C`: a slash inside a segment.
    EncodedSlash,
    /// `;` path parameters.
    Parameters,
    /// `%` not followed by two hex digits.
    BadEscape,
    /// A control character, space, raw `\` or non-ASCII byte.
    BadCharacter,
    /// `..` above the root.
    AboveRoot,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "the path must start with '/'",
            PathError::EmptySegment => "the path has an empty segment ('//')",
            PathError::EncodedSlash => "the path has an encoded '/' or '\\' (%2F, %5C)",
            PathError::Parameters => "the path has ';' parameters",
            PathError::BadEscape => "the path has a '%' not followed by two hex digits",
            PathError::BadCharacter => {
                "the path has a control character, a space, a '\\' or a non-ASCII byte"
            }
            PathError::AboveRoot => "the path climbs above the root with '..'",
        })
    }
}

impl std::error::Error for PathError {}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

/// One segment, decoded where that changes nothing the origin could read differently.
fn canonical_segment(seg: &[u8]) -> Result<String, PathError> {
    let mut out = String::with_capacity(seg.len());
    let mut i = 0;
    while i < seg.len() {
        let c = seg[i];
        match c {
            b'%' => {
                let (Some(h), Some(l)) = (
                    seg.get(i + 1).copied().and_then(hex),
                    seg.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(PathError::BadEscape);
                };
                let byte = h << 4 | l;
                match byte {
                    b'/' | b'\\' => return Err(PathError::EncodedSlash),
                    b';' => return Err(PathError::Parameters),
                    0x00..=0x1F | 0x7F => return Err(PathError::BadCharacter),
                    b if unreserved(b) => out.push(char::from(b)),
                    b => {
                        out.push('%');
                        out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
                        out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 0xF)]));
                    }
                }
                i += 3;
            }
            b';' => return Err(PathError::Parameters),
            b'\\' | 0x00..=0x20 | 0x7F..=0xFF => return Err(PathError::BadCharacter),
            _ => {
                out.push(char::from(c));
                i += 1;
            }
        }
    }
    Ok(out)
}

/// The canonical form of a request path (without its query). See the module docs.
///
/// # Errors
/// [`PathError`] for a path that cannot be made canonical without guessing.
pub fn canonical_path(path: &str) -> Result<String, PathError> {
    let rest = path.strip_prefix('/').ok_or(PathError::NotAbsolute)?;
    if rest.is_empty() {
        return Ok("/".to_owned());
    }
    let raw: Vec<&[u8]> = rest.as_bytes().split(|&b| b == b'/').collect();
    let last = raw.len() - 1;
    let mut segments: Vec<String> = Vec::with_capacity(raw.len());
    let mut trailing_slash = false;
    for (i, seg) in raw.iter().enumerate() {
        if seg.is_empty() {
            if i == last {
                trailing_slash = true;
                continue;
            }
            return Err(PathError::EmptySegment);
        }
        let seg = canonical_segment(seg)?;
        match seg.as_str() {
            "." => trailing_slash = i == last,
            ".." => {
                segments.pop().ok_or(PathError::AboveRoot)?;
                trailing_slash = i == last;
            }
            _ => segments.push(seg),
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Whether a route's path is matched with case folded (the default) or exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Case {
    /// `/Admin` matches a route for `/admin` (as most origins route).
    #[default]
    Insensitive,
    /// Only the exact case matches.
    Sensitive,
}

/// The path keyward keeps for its own dashboard (`/_keyward` and everything under it):
/// the Worker serves it, and the gateway never forwards it.
pub const RESERVED_PREFIX: &str = "/_keyward";

/// Whether a canonical path is keyward's own ([`RESERVED_PREFIX`]), in any case: no
/// route ever matches it, whatever the route table says.
pub fn is_reserved(path: &str) -> bool {
    let p = path.as_bytes();
    let n = RESERVED_PREFIX.len();
    p.len() >= n
        && p[..n].eq_ignore_ascii_case(RESERVED_PREFIX.as_bytes())
        && matches!(p.get(n), None | Some(b'/' | b'?'))
}

/// One gateway route: requests matching `method` and `path` need `scope`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// HTTP method, or `*` for any.
    pub method: String,
    /// Path pattern, canonical; `*` matches any run of characters.
    pub path: String,
    /// Scope the key must hold.
    pub scope: Scope,
    /// How the path's case is matched.
    #[serde(default)]
    pub case: Case,
}

/// A route table that failed its checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteError(pub String);

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RouteError {}

/// The gateway's routes, first match wins; no match means no access.
#[derive(Clone, Debug, Default)]
pub struct Routes(Vec<Route>);

impl Routes {
    /// Reads `[{method, path, scope, case?}]` and checks that each pattern is canonical
    /// (a pattern the canonical form of a request can never equal would never match).
    ///
    /// # Errors
    /// [`RouteError`] naming the route and what is wrong.
    pub fn from_json(json: &str) -> Result<Self, RouteError> {
        let routes: Vec<Route> = crate::json::from_str(json).map_err(|e| {
            RouteError(format!(
                "expected a JSON list of {{method, path, scope, case?}}: {e}"
            ))
        })?;
        for (i, r) in routes.iter().enumerate() {
            let literal = r.path.replace('*', "x");
            if canonical_path(&literal).as_deref() != Ok(literal.as_str()) {
                return Err(RouteError(format!(
                    "route {i} ('{}'): the path must be canonical (no '//', '%', '.', '..' or ';' segments)",
                    r.path
                )));
            }
            if r.method != "*" && !r.method.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(RouteError(format!(
                    "route {i}: the method must be a word or '*'"
                )));
            }
        }
        Ok(Routes(routes))
    }

    /// The first route matching `method` and a `path` already made canonical; none for
    /// keyward's own paths ([`is_reserved`]).
    pub fn find(&self, method: &str, path: &str) -> Option<&Route> {
        if is_reserved(path) {
            return None;
        }
        self.0.iter().find(|r| {
            (r.method == "*" || r.method.eq_ignore_ascii_case(method))
                && match r.case {
                    Case::Sensitive => wildcard_match(&r.path, path),
                    Case::Insensitive => {
                        wildcard_match(&r.path.to_ascii_lowercase(), &path.to_ascii_lowercase())
                    }
                }
        })
    }

    /// Whether there are no routes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Whether `pattern` (with `*` matching any run of characters) matches `text`.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return true;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = parts.collect();
    for (i, piece) in pieces.iter().enumerate() {
        if i == pieces.len() - 1 {
            return rest.ends_with(piece);
        }
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// Headers that ask an origin to treat a request as another method.
const METHOD_OVERRIDES: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Headers that ask an origin (IIS URL Rewrite, Symfony, Zend, Envoy, nginx setups) to
/// route by another path than the one the gateway matched.
const URL_REWRITES: [&str; 8] = [
    "x-original-url",
    "x-rewrite-url",
    "x-original-uri",
    "x-forwarded-uri",
    "x-forwarded-path",
    "x-forwarded-prefix",
    "x-envoy-original-path",
    "x-override-url",
];

/// Headers that carry a credential for a proxy, or steer one.
const PROXY_HEADERS: [&str; 3] = ["proxy-authorization", "proxy-connection", "proxy"];

/// Headers that tell an origin who the client is or what it asked for: the client may
/// not choose them; the gateway sets `X-Forwarded-For`, `-Proto` and `-Host` itself.
const CLIENT_ADDRESS: [&str; 14] = [
    "forwarded",
    "x-real-ip",
    "x-client-ip",
    "client-ip",
    "true-client-ip",
    "x-cluster-client-ip",
    "x-originating-ip",
    "x-remote-ip",
    "x-remote-addr",
    "fastly-client-ip",
    "cf-connecting-ip",
    "cf-connecting-ipv6",
    "x-host",
    "x-original-host",
];

/// Whether a client's request header is one the origin must not receive: the credential,
/// a method override, a URL rewrite, a proxy credential, a client address (every
/// `X-Forwarded-*` among them), or anything in keyward's own `X-Keyward-*` namespace.
/// Names are compared case-insensitively with `_` read as `-`, since some servers fold
/// the two.
pub fn is_stripped(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace('_', "-");
    let n = name.as_str();
    n == "authorization"
        || n == "x-api-key"
        || METHOD_OVERRIDES.contains(&n)
        || URL_REWRITES.contains(&n)
        || PROXY_HEADERS.contains(&n)
        || CLIENT_ADDRESS.contains(&n)
        || n.starts_with("x-forwarded-")
        || n.starts_with("x-keyward-")
}

/// What the gateway knows of the client, as the origin receives it: `X-Forwarded-For`
/// (the address the platform saw, `CF-Connecting-IP`), `X-Forwarded-Proto` and
/// `X-Forwarded-Host` (the scheme and host the client asked for). A value that is
/// missing, or that could not travel in a header, is left out.
pub fn forwarded_headers(
    client_ip: Option<&str>,
    proto: &str,
    host: &str,
) -> Vec<(&'static str, String)> {
    let clean = |v: &str| {
        let ok = !v.is_empty() && v.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| v.to_owned())
    };
    let mut out = Vec::with_capacity(3);
    if let Some(ip) = client_ip.and_then(|ip| ip.parse::<std::net::IpAddr>().ok()) {
        out.push(("x-forwarded-for", ip.to_string()));
    }
    if let Some(p) = clean(proto) {
        out.push(("x-forwarded-proto", p));
    }
    if let Some(h) = clean(host) {
        out.push(("x-forwarded-host", h));
    }
    out
}

/// The scheme and authority (`host[:port]`) of an absolute URL string, without parsing
/// it further (`https://api.example.com:8443/x?y` → `("https", "api.example.com:8443")`).
pub fn scheme_and_host(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some((scheme, &rest[..end]))
}

/// Where the gateway sends a request: the URL, and its path and query as the origin
/// receives them (what is signed). `origin` is `ORIGIN_URL` without a trailing `/` (it
/// may have a path of its own, which prefixes every forwarded path); `path` is
/// canonical; `query` is the client's, as the platform serialised it.
pub fn origin_target(origin: &str, path: &str, query: &str) -> (String, String) {
    let prefix = scheme_and_host(origin)
        .map(|(scheme, host)| &origin[scheme.len() + 3 + host.len()..])
        .unwrap_or_default();
    let path_and_query = if query.is_empty() {
        format!("{prefix}{path}")
    } else {
        format!("{prefix}{path}?{query}")
    };
    let url = format!("{}{path_and_query}", &origin[..origin.len() - prefix.len()]);
    (url, path_and_query)
}

/// The header holding the key's id, as the gateway asserts it to the origin.
pub const KEY_ID_HEADER: &str = "x-keyward-key-id";
/// The key's owner ([`crate::text::owner_header_value`]).
pub const OWNER_HEADER: &str = "x-keyward-owner";
/// The key's scopes, separated by single spaces.
pub const SCOPES_HEADER: &str = "x-keyward-scopes";
/// When the gateway signed, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "x-keyward-timestamp";
/// `v1=` and the lowercase hex HMAC-SHA256 of [`signed_message`] under `ORIGIN_SECRET`.
pub const SIGNATURE_HEADER: &str = "x-keyward-signature";
/// The version of the signed message.
pub const SIGNATURE_VERSION: &str = "v1";

/// What the gateway asserts to the origin about one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assertion<'a> {
    /// The method as forwarded (upper case).
    pub method: &'a str,
    /// The path and query as the origin receives them (`/repos/1?x=1`).
    pub path_and_query: &'a str,
    /// Unix seconds at signing.
    pub timestamp: i64,
    /// `X-Keyward-Key-Id`.
    pub key_id: &'a str,
    /// `X-Keyward-Owner`, as sent (encoded).
    pub owner: &'a str,
    /// `X-Keyward-Scopes`, as sent.
    pub scopes: &'a str,
}

/// The text the gateway signs, one field a line (no field can hold a line break: each is
/// a header value or a request line's part):
///
/// ```text
/// keyward-origin-v1 LF METHOD LF path?query LF timestamp LF key id LF owner LF scopes
/// ```
pub fn signed_message(a: &Assertion<'_>) -> String {
    format!(
        "keyward-origin-{SIGNATURE_VERSION}\n{}\n{}\n{}\n{}\n{}\n{}",
        a.method.to_ascii_uppercase(),
        a.path_and_query,
        a.timestamp,
        a.key_id,
        a.owner,
        a.scopes
    )
}

/// The shortest `ORIGIN_SECRET` accepted, in bytes (256 bits as 64 hex characters is
/// what `keyward init` writes).
pub const MIN_ORIGIN_SECRET_LEN: usize = 32;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn headers_the_client_may_not_choose_never_reach_the_origin() {
        for name in [
            "Authorization",
            "X-API-Key",
            "X-HTTP-Method-Override",
            "x-http-method",
            "X-Method-Override",
            "X-Keyward-Owner",
            "x_keyward_owner",
            "X_KEYWARD-Key-Id",
            "x-keyward-anything",
            "X-Original-URL",
            "X-Rewrite-URL",
            "x_original_url",
            "X-Forwarded-For",
            "X-Forwarded-Host",
            "X-Forwarded-Proto",
            "x-forwarded-anything",
            "Forwarded",
            "X-Real-IP",
            "True-Client-IP",
            "CF-Connecting-IP",
            "Proxy-Authorization",
        ] {
            assert!(is_stripped(name), "{name}");
        }
        for name in [
            "x-trace",
            "content-type",
            "x-keywardish",
            "accept",
            "x-forwardedish",
        ] {
            assert!(!is_stripped(name), "{name}");
        }
    }

    #[test]
    fn the_gateway_says_what_it_knows_of_the_client() {
        assert_eq!(
            forwarded_headers(Some("2001:db8::1"), "https", "api.example.com"),
            vec![
                ("x-forwarded-for", "2001:db8::1".to_owned()),
                ("x-forwarded-proto", "https".to_owned()),
                ("x-forwarded-host", "api.example.com".to_owned()),
            ]
        );
        // Nothing that is no address, or could break a header, is passed on.
        assert_eq!(
            forwarded_headers(Some("1.2.3.4, 5.6.7.8"), "http", "a\r\nb"),
            vec![("x-forwarded-proto", "http".to_owned())]
        );
    }

    #[test]
    fn the_origin_receives_the_path_that_is_signed() {
        assert_eq!(
            origin_target("http://127.0.0.1:9000", "/repos/1", "x=1"),
            (
                "http://127.0.0.1:9000/repos/1?x=1".to_owned(),
                "/repos/1?x=1".to_owned()
            )
        );
        assert_eq!(
            origin_target("https://api.internal/base", "/repos/1", ""),
            (
                "https://api.internal/base/repos/1".to_owned(),
                "/base/repos/1".to_owned()
            )
        );
        assert_eq!(
            scheme_and_host("https://api.example.com:8443/x?y"),
            Some(("https", "api.example.com:8443"))
        );
        assert_eq!(scheme_and_host("http://h?q"), Some(("http", "h")));
        assert_eq!(scheme_and_host("no scheme"), None);
    }

    #[test]
    fn the_signed_message_has_one_field_a_line() {
        let a = Assertion {
            method: "get",
            path_and_query: "/repos/1?x=1",
            timestamp: 1_700_000_000,
            key_id: "key_abc",
            owner: "team-ci",
            scopes: "repos:read repos:write",
        };
        assert_eq!(
            signed_message(&a),
            "keyward-origin-v1\nGET\n/repos/1?x=1\n1700000000\nkey_abc\nteam-ci\nrepos:read repos:write"
        );
    }

    #[test]
    fn keywards_own_paths_are_never_routed() {
        let routes =
            Routes::from_json(r#"[{"method": "*", "path": "/*", "scope": "repos:read"}]"#).unwrap();
        for path in [
            "/_keyward",
            "/_keyward/",
            "/_keyward/app.js",
            "/_KEYWARD/x",
            "/_Keyward",
        ] {
            assert!(is_reserved(path), "{path}");
            assert!(routes.find("GET", path).is_none(), "{path}");
        }
        // What an encoded spelling becomes once canonical is reserved too.
        let decoded = canonical_path("/%5Fkeyward/index.html").unwrap();
        assert!(routes.find("GET", &decoded).is_none(), "{decoded}");
        for path in ["/_keywardx", "/keyward/", "/x/_keyward/", "/"] {
            assert!(!is_reserved(path), "{path}");
            assert!(routes.find("GET", path).is_some(), "{path}");
        }
    }

    #[test]
    fn wildcards_match_any_run_of_characters() {
        for (pattern, text, expect) in [
            ("/scans", "/scans", true),
            ("/scans", "/scans/1", false),
            ("/scans*", "/scans", true),
            ("/scans*", "/scans/1/results", true),
            ("/scans*", "/scan", false),
            ("/repos/*/scans", "/repos/a/b/scans", true),
            ("/repos/*/scans", "/repos/a/scans/x", false),
            ("*", "/anything", true),
            ("/a*b*c", "/a-x-b-y-c", true),
            ("/a*b*c", "/a-x-c-y-b", false),
        ] {
            assert_eq!(wildcard_match(pattern, text), expect, "{pattern} vs {text}");
        }
    }

    #[test]
    fn routes_match_case_insensitively_unless_told() {
        let routes = Routes::from_json(
            r#"[{"method":"GET","path":"/admin*","scope":"settings:write"},
                {"method":"GET","path":"/Exact","scope":"a:b","case":"sensitive"},
                {"method":"*","path":"/*","scope":"repos:read"}]"#,
        )
        .unwrap();
        assert_eq!(
            routes.find("GET", "/ADMIN/x").unwrap().scope.as_str(),
            "settings:write"
        );
        assert_eq!(
            routes.find("get", "/admin").unwrap().scope.as_str(),
            "settings:write"
        );
        assert_eq!(routes.find("GET", "/Exact").unwrap().scope.as_str(), "a:b");
        assert_eq!(
            routes.find("GET", "/exact").unwrap().scope.as_str(),
            "repos:read"
        );
        assert!(Routes::from_json(r#"[{"method":"GET","path":"/a//b","scope":"a:b"}]"#).is_err());
        assert!(Routes::from_json(r#"[{"method":"GET","path":"/%61","scope":"a:b"}]"#).is_err());
        assert!(
            Routes::from_json(r#"[{"method":"GET","path":"/a","scope":"a:b","x":1}]"#).is_err()
        );
    }
}
