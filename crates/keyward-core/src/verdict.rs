//! The verdict of a check: one stable code, and for a missing scope, the scope. A leaf of
//! the core: it knows codes and scopes, nothing that decides.

use crate::code::Code;
use crate::scope::Scope;

/// The outcome of checking a key that parsed. A failed check is data, not an error.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The key is good for this request.
    Valid,
    /// No record has this key's hash.
    UnknownKey,
    /// The key was revoked.
    Revoked,
    /// The key has expired.
    Expired,
    /// The key belongs to another environment.
    WrongEnvironment,
    /// The key lacks `missing`.
    InsufficientScope {
        /// The first required scope the key does not hold.
        missing: Scope,
    },
    /// Over a rate limit.
    RateLimited,
    /// The usage credits do not cover the use.
    UsageExceeded,
    /// The client's address is outside the key's allowed networks, or unknown.
    IpNotAllowed,
    /// The key's `not_before` has not come.
    NotYetValid,
}

impl Verdict {
    /// The stable code.
    pub fn code(&self) -> Code {
        match self {
            Verdict::Valid => Code::Valid,
            Verdict::UnknownKey => Code::UnknownKey,
            Verdict::Revoked => Code::Revoked,
            Verdict::Expired => Code::Expired,
            Verdict::WrongEnvironment => Code::WrongEnvironment,
            Verdict::InsufficientScope { .. } => Code::InsufficientScope,
            Verdict::RateLimited => Code::RateLimited,
            Verdict::UsageExceeded => Code::UsageExceeded,
            Verdict::IpNotAllowed => Code::IpNotAllowed,
            Verdict::NotYetValid => Code::NotYetValid,
        }
    }

    /// Whether the key passed.
    pub fn is_valid(&self) -> bool {
        matches!(self, Verdict::Valid)
    }

    /// A sentence for humans; for a missing scope it names the scope.
    pub fn message(&self) -> String {
        match self {
            Verdict::InsufficientScope { missing } => missing_scope_message(missing.as_str()),
            other => other.code().message().to_owned(),
        }
    }
}

/// `This API key does not have the '{scope}' scope`.
pub fn missing_scope_message(scope: &str) -> String {
    format!("This API key does not have the '{scope}' scope")
}
