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
        let routes: Vec<Route> = serde_json::from_str(json).map_err(|e| {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
