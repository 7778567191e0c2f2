//! `POST /v1/verify`.

use keyward_core::chrono::{DateTime, Utc};
use keyward_core::{Code, LIFECYCLE_PREFIX, ScopeSet};
use serde::{Deserialize, Serialize};

use crate::{FieldError, SecretString};

/// Longest `context.ip`: the longest text form of an IPv6 address.
pub const MAX_IP_LEN: usize = 45;
/// Longest `context.user_agent`.
pub const MAX_USER_AGENT_LEN: usize = 512;
/// Longest `context.action`.
pub const MAX_ACTION_LEN: usize = 256;
/// The refusal of a `key` in a query string.
const KEY_IN_URL: &str = "may not be in the URL (URLs are logged): send the key in the Keyward-Key header of POST /v1/verify/header, or in the body of POST /v1/verify";

/// The request header that carries the key in the body-less form, `/v1/verify/header`.
pub const KEY_HEADER: &str = "keyward-key";
/// The query parameters of the body-less form, `/v1/verify/header` (`scopes` may repeat).
pub const QUERY_PARAMS: [&str; 3] = ["scopes", "env", "cost"];
/// The request headers of the body-less form that carry the end user's request (the JSON
/// form's `context`): `ip`, `user_agent` and `action`, in that order. Never the query:
/// URLs are logged by servers and proxies, and these are the end user's.
pub const CONTEXT_HEADERS: [&str; 3] = [
    "keyward-context-ip",
    "keyward-context-user-agent",
    "keyward-context-action",
];
/// The [`CONTEXT_HEADERS`] as messages name them.
const CONTEXT_HEADER_NAMES: [&str; 3] = [
    "Keyward-Context-Ip",
    "Keyward-Context-User-Agent",
    "Keyward-Context-Action",
];
/// The `context` fields the [`CONTEXT_HEADERS`] carry, in the same order.
const CONTEXT_FIELDS: [&str; 3] = ["ip", "user_agent", "action"];

/// `POST /v1/verify`: is this key good for a request needing these scopes?
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The key as the end user presented it.
    pub key: SecretString,
    /// Scopes the request needs (default: none).
    #[cfg_attr(
        feature = "openapi",
        schemars(length(max = 64), with = "Vec<keyward_core::Scope>")
    )]
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The environment the key must belong to (default: the calling service key's own).
    #[cfg_attr(feature = "openapi", schemars(regex(pattern = crate::schema::ENV)))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Units this use costs against the key's limits and credits (default 1, 1 to 1000).
    #[cfg_attr(feature = "openapi", schemars(range(min = 1, max = 1000)))]
    #[serde(deserialize_with = "keyward_core::whole::optional")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<u32>,
    /// The end user's request, for the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<VerifyContext>,
}

impl VerifyRequest {
    /// The use's cost: default 1, at most [`MAX_COST`](keyward_core::limits::MAX_COST).
    ///
    /// # Errors
    /// A [`FieldError`] naming `cost`.
    pub fn cost(&self) -> Result<u32, FieldError> {
        match self.cost.unwrap_or(1) {
            c @ 1..=keyward_core::limits::MAX_COST => Ok(c),
            _ => Err(FieldError::new(
                "cost",
                format!("must be 1 to {}", keyward_core::limits::MAX_COST),
            )),
        }
    }

    /// The body-less form: the key from the [`KEY_HEADER`] header, the options from the
    /// query's decoded `pairs` (`scopes` repeated; `env` and `cost` at most once each), and
    /// the end user's request from the [`CONTEXT_HEADERS`]' values, in their order (the
    /// JSON form's `context`). The result is checked by the same rules as a JSON body.
    ///
    /// # Errors
    /// A [`FieldError`] naming the parameter or header: unknown, repeated, empty or
    /// malformed; `key` (a key never goes in a URL, which servers and proxies log); or a
    /// `context` field in the query instead of its header. No message holds a value.
    pub fn from_parts(
        key: SecretString,
        pairs: &[(String, String)],
        context_headers: [Option<String>; 3],
    ) -> Result<Self, FieldError> {
        let mut request = VerifyRequest {
            key,
            scopes: Vec::new(),
            env: None,
            cost: None,
            context: None,
        };
        for (i, (name, value)) in pairs.iter().enumerate() {
            if name == "key" {
                return Err(FieldError::new("key", KEY_IN_URL));
            }
            if let Some(at) = CONTEXT_FIELDS.iter().position(|f| f == name) {
                return Err(FieldError::new(
                    CONTEXT_FIELDS[at],
                    format!(
                        "goes in the {} header, not the URL (URLs are logged)",
                        CONTEXT_HEADER_NAMES[at]
                    ),
                ));
            }
            let Some(known) = QUERY_PARAMS.iter().find(|p| **p == name) else {
                // The unknown name is not repeated: it could be a key.
                return Err(FieldError {
                    code: Code::InvalidRequest,
                    message: "unknown query parameter; /v1/verify/header takes scopes, env, cost (the end user's request in the Keyward-Context-Ip, Keyward-Context-User-Agent, Keyward-Context-Action headers)".to_owned(),
                });
            };
            if value.is_empty() {
                return Err(FieldError::new(known, "has no value"));
            }
            if *known != "scopes" && pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(FieldError::new(known, "is given twice"));
            }
            match *known {
                "scopes" => request.scopes.push(value.clone()),
                "env" => request.env = Some(value.clone()),
                _ => {
                    request.cost = Some(
                        value
                            .parse::<u32>()
                            .ok()
                            .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                            .ok_or_else(|| {
                                FieldError::new(
                                    "cost",
                                    format!(
                                        "must be a whole number, 1 to {}",
                                        keyward_core::limits::MAX_COST
                                    ),
                                )
                            })?,
                    );
                }
            }
        }
        let header_name = |field: &str| {
            CONTEXT_FIELDS
                .iter()
                .position(|f| *f == field)
                .map_or(field, |at| CONTEXT_HEADER_NAMES[at])
                .to_owned()
        };
        let [ip, user_agent, action] = context_headers;
        for (value, field) in [
            (&ip, "ip"),
            (&user_agent, "user_agent"),
            (&action, "action"),
        ] {
            if value.as_deref() == Some("") {
                return Err(FieldError::new(&header_name(field), "has no value"));
            }
            // A header's bytes past ASCII do not arrive as the text that was sent (the
            // runtime reads them as UTF-8, replacing what is not): other text is refused,
            // and goes in the JSON form's `context`.
            if value
                .as_deref()
                .is_some_and(|v| !v.bytes().all(|b| (b' '..=b'~').contains(&b)))
            {
                return Err(FieldError::new(
                    &header_name(field),
                    "must be printable ASCII (other text goes in POST /v1/verify's context)",
                ));
            }
        }
        let context = VerifyContext {
            ip,
            user_agent,
            action,
        };
        context.validate_named(&header_name)?;
        if context != VerifyContext::default() {
            request.context = Some(context);
        }
        Ok(request)
    }
}

/// The body-less form's rule (`/v1/verify/header`): the key is in the [`KEY_HEADER`]
/// header and the request has no body, told by its headers alone (the body is never read): a `content-length` other
/// than 0, or any `transfer-encoding`, is a body.
///
/// # Errors
/// `invalid_request`: a key in the header and a body (which may hold another key).
pub fn check_no_body(
    content_length: Option<&str>,
    transfer_encoding: Option<&str>,
) -> Result<(), FieldError> {
    let has_body = transfer_encoding.is_some()
        || content_length.is_some_and(|n| n.trim().parse::<u64>() != Ok(0));
    if has_body {
        return Err(FieldError {
            code: Code::InvalidRequest,
            message: "POST /v1/verify/header takes no body: send the key either in the Keyward-Key header (options in the query) or in a JSON body to POST /v1/verify".to_owned(),
        });
    }
    Ok(())
}

/// The JSON form's rule (`/v1/verify`): no query parameters (its options are in the body), and never a
/// key in the URL.
///
/// # Errors
/// `invalid_request`.
pub fn check_no_query(pairs: &[(String, String)]) -> Result<(), FieldError> {
    match pairs.first() {
        None => Ok(()),
        Some(_) if pairs.iter().any(|(n, _)| n == "key") => Err(FieldError::new(
            "key",
            KEY_IN_URL,
        )),
        Some(_) => Err(FieldError {
            code: Code::InvalidRequest,
            message: "POST /v1/verify takes no query parameters: its options are in the body (the query is for POST /v1/verify/header)".to_owned(),
        }),
    }
}

/// The JSON form's rule about the body-less form's headers: neither the [`KEY_HEADER`]
/// (`key_header`) nor any of the [`CONTEXT_HEADERS`] (`context_header`), whose values
/// belong in the body.
///
/// # Errors
/// `invalid_request`, naming where they go.
pub fn check_no_form_headers(key_header: bool, context_header: bool) -> Result<(), FieldError> {
    let message = if key_header {
        "the Keyward-Key header belongs to POST /v1/verify/header: send the key either there (no body) or in this JSON body"
    } else if context_header {
        "the Keyward-Context-* headers belong to POST /v1/verify/header: in this JSON body the end user's request is 'context'"
    } else {
        return Ok(());
    };
    Err(FieldError {
        code: Code::InvalidRequest,
        message: message.to_owned(),
    })
}

/// The end user's request, as the calling service saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyContext {
    /// The end user's IP address (IPv4 or IPv6 text form).
    #[cfg_attr(feature = "openapi", schemars(length(max = 45), extend("anyOf" = [{"format": "ipv4"}, {"format": "ipv6"}])))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The end user's user agent.
    #[cfg_attr(feature = "openapi", schemars(length(max = 512), regex(pattern = crate::schema::NO_CONTROLS)))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// What the end user did, e.g. `GET /scans`. Never in the `key.` namespace (in any
    /// case), which is keyward's own lifecycle actions.
    #[cfg_attr(feature = "openapi", schemars(length(min = 1, max = 256), regex(pattern = crate::schema::TEXT), extend("not" = {"type": "string", "pattern": "^[kK][eE][yY]\\."})))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

impl VerifyContext {
    /// Checks the bounds of every field.
    ///
    /// # Errors
    /// The first field that breaks a rule.
    pub fn validate(&self) -> Result<(), FieldError> {
        self.validate_named(&|field| format!("context.{field}"))
    }

    /// [`validate`](Self::validate), naming each field as `name` says (`context.ip` in a
    /// JSON body, its header in the body-less form).
    fn validate_named(&self, name: &dyn Fn(&str) -> String) -> Result<(), FieldError> {
        if let Some(ip) = &self.ip
            && (ip.len() > MAX_IP_LEN || ip.parse::<std::net::IpAddr>().is_err())
        {
            return Err(FieldError::new(
                &name("ip"),
                "must be an IPv4 or IPv6 address",
            ));
        }
        if let Some(ua) = &self.user_agent
            && (ua.chars().count() > MAX_USER_AGENT_LEN || ua.chars().any(char::is_control))
        {
            return Err(FieldError::new(
                &name("user_agent"),
                format!(
                    "must be at most {MAX_USER_AGENT_LEN} characters without control characters"
                ),
            ));
        }
        if let Some(ua) = &self.user_agent
            && keyward_core::text::has_format_chars(ua)
        {
            return Err(crate::format_chars(&name("user_agent")));
        }
        if let Some(action) = &self.action {
            crate::check_text(&name("action"), action, MAX_ACTION_LEN)?;
            if keyward_core::is_reserved_action(action) {
                return Err(FieldError::new(
                    &name("action"),
                    format!(
                        "may not start with '{LIFECYCLE_PREFIX}' in any case (keyward's lifecycle actions)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The answer to `POST /v1/verify`: a refused key is an answer (200), not an error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct VerifyResponse {
    /// Whether the key is good for the request.
    pub valid: bool,
    /// The verdict's stable code.
    pub code: Code,
    /// A sentence for humans; names a missing scope.
    pub message: String,
    /// The key's id, when the key was found (`root` for the root key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The key's hint, when it parsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The key's owner (valid keys only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The key's scopes (valid keys only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<ScopeSet>,
    /// The key's environment (valid keys only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Each rate limit's state after this use (keys with limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratelimits: Option<Vec<LimitView>>,
    /// The credit balance after this use (keys with credits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<CreditsLeft>,
    /// When refused by a limit or credits: seconds until a retry can succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// When the key expires (valid keys only).
    #[cfg_attr(feature = "openapi", schemars(with = "Option<DateTime<Utc>>"))]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "keyward_core::time::rfc3339_option"
    )]
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether the key admits only some networks (valid keys only): when true, this
    /// verdict holds for the client address it was asked for alone; when false, for any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_restricted: Option<bool>,
}

/// A rate limit's state as `/v1/verify` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct LimitView {
    /// The limit's name.
    pub name: String,
    /// Units per period.
    pub limit: u32,
    /// The period in seconds.
    pub period: u32,
    /// Units left in the current window.
    pub remaining: u32,
    /// When the window's oldest counted use falls out.
    #[cfg_attr(feature = "openapi", schemars(with = "DateTime<Utc>"))]
    #[serde(with = "keyward_core::time::rfc3339")]
    pub reset_at: DateTime<Utc>,
}

/// A credit balance as `/v1/verify` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CreditsLeft {
    /// The balance.
    pub remaining: u64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Any presented string: `from_parts` carries it, the verification parses it.
    const KEY: &str = "presented-secret-0123456789";

    fn query(pairs: &[(&str, &str)]) -> Result<VerifyRequest, FieldError> {
        with_headers(pairs, [None, None, None])
    }

    fn with_headers(
        pairs: &[(&str, &str)],
        context: [Option<&str>; 3],
    ) -> Result<VerifyRequest, FieldError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        VerifyRequest::from_parts(
            SecretString::new(KEY),
            &pairs,
            context.map(|v| v.map(str::to_owned)),
        )
    }

    #[test]
    fn the_query_form_is_the_json_form() {
        let q = with_headers(
            &[
                ("scopes", "scans:read"),
                ("env", "live"),
                ("scopes", "keys:read"),
                ("cost", "7"),
            ],
            [Some("203.0.113.7"), Some("curl/8.5"), Some("GET /scans")],
        )
        .unwrap();
        let json: VerifyRequest = serde_json::from_value(serde_json::json!({
            "key": KEY, "scopes": ["scans:read", "keys:read"], "env": "live", "cost": 7,
            "context": {"ip": "203.0.113.7", "user_agent": "curl/8.5", "action": "GET /scans"},
        }))
        .unwrap();
        assert_eq!(q, json);
        let bare: VerifyRequest = serde_json::from_value(serde_json::json!({"key": KEY})).unwrap();
        assert_eq!(query(&[]).unwrap(), bare, "no context when none is given");
    }

    #[test]
    fn a_bad_query_is_refused_naming_the_parameter_never_a_value() {
        for (pairs, names) in [
            (vec![("key", KEY)], "'key' may not be in the URL"),
            (
                vec![("scopes", "a:b"), ("key", KEY)],
                "'key' may not be in the URL",
            ),
            (
                vec![("env", "live"), ("env", "test")],
                "'env' is given twice",
            ),
            (vec![("cost", "1"), ("cost", "1")], "'cost' is given twice"),
            (
                vec![("ip", "")],
                "'ip' goes in the Keyward-Context-Ip header",
            ),
            (
                vec![("ip", "192.0.2.1")],
                "'ip' goes in the Keyward-Context-Ip header",
            ),
            (
                vec![("user_agent", "curl")],
                "'user_agent' goes in the Keyward-Context-User-Agent header",
            ),
            (
                vec![("action", "GET /")],
                "'action' goes in the Keyward-Context-Action header",
            ),
            (vec![("scopes", "")], "'scopes' has no value"),
            (vec![("cost", "+5")], "'cost' must be a whole number"),
            (
                vec![("cost", "99999999999")],
                "'cost' must be a whole number",
            ),
            (vec![("cost", "1.5")], "'cost' must be a whole number"),
            (vec![(KEY, "1")], "unknown query parameter"),
            (vec![(KEY, "")], "unknown query parameter"),
        ] {
            let e = query(&pairs).unwrap_err();
            assert_eq!(e.code, Code::InvalidRequest);
            assert!(e.message.starts_with(names), "{pairs:?}: {}", e.message);
            assert!(
                !e.message.contains(KEY) && !e.message.contains("EyjW"),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn a_bad_context_header_is_refused_naming_the_header_never_its_value() {
        for (headers, names) in [
            (
                [Some("not-an-ip"), None, None],
                "'Keyward-Context-Ip' must be an IPv4 or IPv6 address",
            ),
            ([Some(""), None, None], "'Keyward-Context-Ip' has no value"),
            (
                [Some("192.0.2.1, 192.0.2.2"), None, None],
                "'Keyward-Context-Ip' must be",
            ),
            (
                [None, Some("a\u{7}b"), None],
                "'Keyward-Context-User-Agent' must be printable ASCII",
            ),
            (
                [None, Some("caf\u{e9}"), None],
                "'Keyward-Context-User-Agent' must be printable ASCII",
            ),
            (
                [None, Some("a\u{fffd}"), None],
                "'Keyward-Context-User-Agent' must be printable ASCII",
            ),
            (
                [None, None, Some("GET /caf\u{e9}")],
                "'Keyward-Context-Action' must be printable ASCII",
            ),
            (
                [None, Some(""), None],
                "'Keyward-Context-User-Agent' has no value",
            ),
            (
                [None, None, Some("key.revoke")],
                "'Keyward-Context-Action' may not start with",
            ),
            ([None, None, Some(" ")], "'Keyward-Context-Action' must be"),
        ] {
            let e = with_headers(&[("env", "live")], headers).unwrap_err();
            assert_eq!(e.code, Code::InvalidRequest);
            assert!(e.message.starts_with(names), "{headers:?}: {}", e.message);
        }
        // The unknown parameter's message, written out, names every parameter and header.
        let e = query(&[("context.ip", "1")]).unwrap_err();
        for name in QUERY_PARAMS.iter().chain(&CONTEXT_HEADER_NAMES) {
            assert!(e.message.contains(name), "{name}: {}", e.message);
        }
        let one = with_headers(&[], [None, Some("curl/8.5"), None]).unwrap();
        assert_eq!(
            one.context,
            Some(VerifyContext {
                user_agent: Some("curl/8.5".to_owned()),
                ..VerifyContext::default()
            })
        );
    }

    #[test]
    fn the_json_form_takes_neither_header_of_the_bodyless_form() {
        assert!(check_no_form_headers(false, false).is_ok());
        let key = check_no_form_headers(true, true).unwrap_err();
        assert!(key.message.contains("Keyward-Key"), "{}", key.message);
        let context = check_no_form_headers(false, true).unwrap_err();
        assert!(context.message.contains("Keyward-Context-"));
        assert_eq!(context.code, Code::InvalidRequest);
    }

    #[test]
    fn a_body_beside_the_header_is_refused_by_its_headers() {
        assert!(check_no_body(None, None).is_ok());
        assert!(check_no_body(Some("0"), None).is_ok());
        assert!(check_no_body(Some(" 0 "), None).is_ok());
        assert!(check_no_body(Some("00"), None).is_ok());
        for (len, te) in [
            (Some("2"), None),
            (Some("junk"), None),
            (None, Some("chunked")),
            (Some("0"), Some("chunked")),
        ] {
            let e = check_no_body(len, te).unwrap_err();
            assert_eq!(e.code, Code::InvalidRequest, "{len:?} {te:?}");
        }
    }

    #[test]
    fn the_json_form_takes_no_query_and_never_a_key_in_it() {
        let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
            p.iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert!(check_no_query(&[]).is_ok());
        let e = check_no_query(&pairs(&[("env", "live"), ("key", KEY)])).unwrap_err();
        assert!(e.message.starts_with("'key' may not be in the URL"));
        assert!(!e.message.contains(KEY));
        let e = check_no_query(&pairs(&[("env", "live")])).unwrap_err();
        assert_eq!(e.code, Code::InvalidRequest);
    }
}
