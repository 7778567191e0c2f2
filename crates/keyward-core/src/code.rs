//! The one table of stable codes shared by Rust, the Worker's JSON and the npm package.
//!
//! Codes are added, never renamed. Each has an HTTP status, whether a refusal with it
//! carries a `WWW-Authenticate: Bearer` challenge, and, where RFC 6750 defines one, the
//! `error` attribute of that challenge.

use core::fmt;
use core::str::FromStr;

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $status:literal, $bearer:expr, $challenge:literal, $message:literal; )*) => {
        /// A stable, snake_case outcome or error code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Code {
            $( $(#[$doc])* $variant, )*
        }

        impl Code {
            /// Every code, in table order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The code as it appears on the wire, e.g. `"unknown_key"`.
            pub const fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }

            /// The HTTP status a request refused with this code answers.
            pub const fn http_status(self) -> u16 {
                match self { $(Code::$variant => $status,)* }
            }

            /// The RFC 6750 `error` attribute for the `WWW-Authenticate` header, if any.
            pub const fn bearer_error(self) -> Option<&'static str> {
                match self { $(Code::$variant => $bearer,)* }
            }

            /// Whether a refusal with this code carries a `WWW-Authenticate: Bearer`
            /// challenge: every 401 (RFC 7235 §3.1 requires one) and every refusal of the
            /// presented credential (RFC 6750 §3). Front ends ask this column; none decides
            /// it for itself.
            pub const fn challenge(self) -> bool {
                match self { $(Code::$variant => $challenge,)* }
            }

            /// A short default sentence for humans. Never contains a secret.
            pub const fn message(self) -> &'static str {
                match self { $(Code::$variant => $message,)* }
            }
        }

        impl FromStr for Code {
            type Err = UnknownCode;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s { $($name => Ok(Code::$variant),)* _ => Err(UnknownCode) }
            }
        }
    };
}

const INVALID_REQUEST: Option<&str> = Some("invalid_request");
const INVALID_TOKEN: Option<&str> = Some("invalid_token");
const INSUFFICIENT_SCOPE: Option<&str> = Some("insufficient_scope");

codes! {
    /// The key is good for this request.
    Valid = "valid", 200, None, false, "the API key is valid";
    /// No credential was presented (RFC 6750 §3.1: no `error` attribute).
    MissingKey = "missing_key", 401, None, true, "an API key is required";
    /// The credential is not shaped like a key (RFC 6750 §3.1: a malformed token is
    /// `invalid_token`, 401).
    Malformed = "malformed", 401, INVALID_TOKEN, true, "the API key is malformed";
    /// The key is shaped right but its checksum does not hold (a typo or a look-alike).
    BadChecksum = "bad_checksum", 401, INVALID_TOKEN, true, "the API key's checksum does not match";
    /// No key with this hash exists.
    UnknownKey = "unknown_key", 401, INVALID_TOKEN, true, "the API key is not recognised";
    /// The key belongs to another environment.
    WrongEnvironment = "wrong_environment", 401, INVALID_TOKEN, true, "the API key belongs to another environment";
    /// The key's expiry has passed.
    Expired = "expired", 401, INVALID_TOKEN, true, "the API key has expired";
    /// The key was revoked.
    Revoked = "revoked", 401, INVALID_TOKEN, true, "the API key has been revoked";
    /// The key lacks a scope the request needs.
    InsufficientScope = "insufficient_scope", 403, INSUFFICIENT_SCOPE, true, "the API key does not have the required scope";
    /// The key (or its owner, or the client's IP, for failed attempts) is over a rate limit.
    RateLimited = "rate_limited", 429, None, false, "the API key is over its rate limit";
    /// More than one credential was presented, or the request is otherwise unusable.
    InvalidRequest = "invalid_request", 400, INVALID_REQUEST, true, "the request is invalid";
    /// The caller is not authenticated.
    Unauthorized = "unauthorized", 401, INVALID_TOKEN, true, "authentication is required";
    /// The caller may not do this.
    Forbidden = "forbidden", 403, None, false, "the caller may not do this";
    /// No such resource.
    NotFound = "not_found", 404, None, false, "not found";
    /// The resource exists but not with this method.
    MethodNotAllowed = "method_not_allowed", 405, None, false, "method not allowed";
    /// The request conflicts with the resource's state (e.g. rotating a revoked key).
    Conflict = "conflict", 409, None, false, "the request conflicts with the resource's state";
    /// The request body is too large.
    PayloadTooLarge = "payload_too_large", 413, None, false, "the request body is too large";
    /// The request body is not JSON.
    UnsupportedMediaType = "unsupported_media_type", 415, None, false, "the request body must be JSON";
    /// A scope that the deployment has not declared.
    UndeclaredScope = "undeclared_scope", 400, INVALID_REQUEST, false, "the scope is not declared by this deployment";
    /// A scope string that does not follow the grammar.
    InvalidScope = "invalid_scope", 400, INVALID_REQUEST, false, "the scope is not valid";
    /// An environment the deployment does not have.
    UnknownEnvironment = "unknown_environment", 400, INVALID_REQUEST, false, "the environment is not one of this deployment's";
    /// A key tried to grant a scope it does not hold itself.
    ScopeNotHeld = "scope_not_held", 403, INSUFFICIENT_SCOPE, true, "a key can only grant scopes it holds";
    /// A signature (e.g. on a leak report) did not verify.
    BadSignature = "bad_signature", 401, None, true, "the signature does not verify";
    /// A fault inside keyward.
    Internal = "internal", 500, None, false, "internal error";
    /// A dependency (storage, queue) is unavailable; keyward fails closed.
    Unavailable = "unavailable", 503, None, false, "the service is temporarily unavailable";
    /// The key's usage credits do not cover the use.
    UsageExceeded = "usage_exceeded", 429, None, false, "the API key's usage credits are used up";
    /// The key may not be used from the client's address (or the address is unknown:
    /// a key restricted to networks fails closed).
    IpNotAllowed = "ip_not_allowed", 403, None, false, "the API key may not be used from this address";
    /// The key's `not_before` time has not come yet.
    NotYetValid = "not_yet_valid", 401, INVALID_TOKEN, true, "the API key is not valid yet";
    /// The key service refused the calling service's own credential (a verifier token
    /// that is unknown, revoked, lacks `keys:verify`, or verifies another environment):
    /// a configuration error of the service, which retrying does not mend.
    VerifierRefused = "verifier_refused", 500, None, false, "the key service refused this service's verifier credential";
}

/// The error for a string that is not a known code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownCode;

impl fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown code")
    }
}

impl std::error::Error for UnknownCode {}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse()
            .map_err(|_| serde::de::Error::custom(format_args!("unknown code `{s}`")))
    }
}

/// The value of a `WWW-Authenticate` header for a refusal with `code` (RFC 6750 §3).
///
/// `scope` names the scope that was needed, for `insufficient_scope`.
pub fn www_authenticate(realm: &str, code: Code, scope: Option<&str>) -> String {
    let mut value = format!("Bearer realm=\"{}\"", quote_safe(realm));
    if let Some(error) = code.bearer_error() {
        value.push_str(&format!(", error=\"{error}\""));
        value.push_str(&format!(
            ", error_description=\"{}\"",
            quote_safe(code.message())
        ));
    }
    if let Some(scope) = scope {
        value.push_str(&format!(", scope=\"{}\"", quote_safe(scope)));
    }
    value
}

/// Keeps only characters RFC 6750 allows inside a quoted attribute value.
fn quote_safe(s: &str) -> String {
    s.chars()
        .filter(|&c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E'))
        .collect()
}
