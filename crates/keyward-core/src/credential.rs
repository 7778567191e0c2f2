//! Finding the one credential of a request in its headers.
//!
//! Every front end (the Worker, the npm middleware through WebAssembly) passes the raw
//! values of two headers here and gets one answer. The rules:
//!
//! ```text
//! Authorization: Bearer <key>     scheme matched case-insensitively (RFC 7235 §2.1)
//! X-API-Key: <key>
//! ```
//!
//! - Neither header, or an `Authorization` of another scheme (Basic, Digest, ...) and no
//!   `X-API-Key`: `missing_key` (401, a challenge with no `error`; RFC 6750 §3.1 says a
//!   request made with an unsupported method "lacks any authentication information").
//! - An `Authorization` of another scheme beside an `X-API-Key`: the `X-API-Key` is the
//!   credential (the other scheme is not a keyward credential).
//! - More than one credential: a Bearer `Authorization` and an `X-API-Key`, a header
//!   given twice, or a value holding a comma (HTTP joins repeated header lines with `,`,
//!   and no key holds one): `invalid_request`.
//! - `Bearer` with no token, or an empty `X-API-Key`: `invalid_request`.
//!
//! A value is passed as the front end received it: the Worker's `Headers.get` joins
//! repeated lines with `", "`, and Node's `rawHeaders` are joined the same way.

use core::fmt;

use crate::code::Code;

/// Why a request's headers hold no usable credential. Never holds any header value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialError {
    /// No keyward credential at all.
    Missing,
    /// Two credentials, or a header given twice.
    Ambiguous,
    /// `Bearer` with no token, or an empty `X-API-Key`.
    Empty,
}

impl CredentialError {
    /// The stable code: `missing_key` or `invalid_request`.
    pub const fn code(self) -> Code {
        match self {
            CredentialError::Missing => Code::MissingKey,
            CredentialError::Ambiguous | CredentialError::Empty => Code::InvalidRequest,
        }
    }

    /// A sentence for humans.
    pub const fn message(self) -> &'static str {
        match self {
            CredentialError::Missing => {
                "an API key is required: Authorization: Bearer <key> or X-API-Key: <key>"
            }
            CredentialError::Ambiguous => {
                "present exactly one API key: Authorization: Bearer or X-API-Key, once"
            }
            CredentialError::Empty => "the API key header is empty",
        }
    }
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for CredentialError {}

/// The credential in a request's `Authorization` and `X-API-Key` header values (`None`:
/// the header is absent). Returns the presented string, which may still be malformed:
/// [`Presented::parse`](crate::Presented::parse) checks it.
///
/// # Errors
/// [`CredentialError`]; see the module docs for the rules.
pub fn credential<'a>(
    authorization: Option<&'a str>,
    x_api_key: Option<&'a str>,
) -> Result<&'a str, CredentialError> {
    let bearer = match authorization {
        None => None,
        Some(value) if value.contains(',') => return Err(CredentialError::Ambiguous),
        Some(value) => bearer_token(value),
    };
    let header = match x_api_key {
        None => None,
        Some(value) if value.contains(',') => return Err(CredentialError::Ambiguous),
        Some(value) => Some(value.trim_matches(is_space)),
    };
    match (bearer, header) {
        (Some(_), Some(_)) => Err(CredentialError::Ambiguous),
        (None, None) => Err(CredentialError::Missing),
        (Some(""), None) | (None, Some("")) => Err(CredentialError::Empty),
        (Some(key), None) | (None, Some(key)) => Ok(key),
    }
}

/// The token of a `Bearer` credential (possibly empty), or `None` for another scheme.
fn bearer_token(value: &str) -> Option<&str> {
    let value = value.trim_matches(is_space);
    let (scheme, rest) = match value.find(is_space) {
        Some(at) => value.split_at(at),
        None => (value, ""),
    };
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_matches(is_space))
}

/// Optional whitespace in HTTP field values: space and horizontal tab (RFC 9110 §5.6.3).
fn is_space(c: char) -> bool {
    c == ' ' || c == '\t'
}
