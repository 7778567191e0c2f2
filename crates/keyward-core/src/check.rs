//! The whole check of a presented key, from the string to one [`Verdict`], in the order
//! every front end follows:
//!
//! ```text
//! parse + checksum  → malformed / bad_checksum, before any storage read
//! SHA-256           → the front end looks the record up by this hash (I/O, not here)
//! decide            → the record's hash compared again in constant time, the environment
//!                     rule, then revoked → expired → wrong environment → missing scope
//! ```
//!
//! ```
//! use keyward_core::{ApiKey, EnvRule, Presented};
//! # let now = keyward_core::chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap();
//! let new = ApiKey::generate("sk", "live").unwrap();
//! let presented = Presented::parse(new.key.expose_secret()).unwrap();
//! assert_eq!(presented.hash(), &new.hash);
//! // ... look the record up by presented.hash(), then:
//! let verdict = presented.decide(None, EnvRule::KeysOwn, &[], now);
//! assert_eq!(verdict.code().as_str(), "unknown_key");
//! ```

use chrono::{DateTime, Utc};

use crate::hash::KeyHash;
use crate::key::{ApiKeyRef, ParseError};
use crate::record::KeyRecord;
use crate::scope::{Scope, ScopeSet};
use crate::verdict::Verdict;

/// Which environment a key must belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvRule<'a> {
    /// Exactly this one (a `live` gateway accepts `live` keys only).
    Exactly(&'a str),
    /// Whichever the presented key names in its prefix; the record must agree. For
    /// deployments that accept every environment, said explicitly.
    KeysOwn,
}

impl<'a> EnvRule<'a> {
    /// The environment a key whose prefix names `key_env` must belong to.
    pub fn resolve(self, key_env: &'a str) -> &'a str {
        match self {
            EnvRule::Exactly(env) => env,
            EnvRule::KeysOwn => key_env,
        }
    }
}

/// What the decision needs of a stored key, borrowed from wherever it is kept.
#[derive(Clone, Copy, Debug)]
pub struct KeyFacts<'a> {
    /// The stored hash.
    pub hash: &'a KeyHash,
    /// The key's environment.
    pub env: &'a str,
    /// The scopes it holds.
    pub scopes: &'a ScopeSet,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl KeyRecord {
    /// The facts the decision needs.
    pub fn facts(&self) -> KeyFacts<'_> {
        KeyFacts {
            hash: &self.hash,
            env: &self.env,
            scopes: &self.scopes,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
        }
    }
}

/// A presented string that is shaped like a key and whose checksum holds, with its hash.
/// Borrows the string; `Debug` shows only the hint.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Presented<'a> {
    key: ApiKeyRef<'a>,
    hash: KeyHash,
}

impl<'a> Presented<'a> {
    /// Checks the grammar and checksum (no storage is needed to refuse junk), then hashes.
    ///
    /// # Errors
    /// [`ParseError`]: its [`code`](ParseError::code) is `malformed` or `bad_checksum`.
    pub fn parse(raw: &'a str) -> Result<Self, ParseError> {
        let key = ApiKeyRef::parse(raw)?;
        Ok(Presented {
            hash: key.hash(),
            key,
        })
    }

    /// A parsed key with its hash already known (the memo's).
    pub(crate) fn with_hash(key: ApiKeyRef<'a>, hash: KeyHash) -> Self {
        Presented { key, hash }
    }

    /// The SHA-256 of the key: what storage is addressed by.
    pub fn hash(&self) -> &KeyHash {
        &self.hash
    }

    /// `{vendor}_{env}_` plus 4 characters of the secret: safe to log.
    pub fn hint(&self) -> &'a str {
        self.key.hint()
    }

    /// The environment the key's prefix names.
    pub fn env(&self) -> &'a str {
        self.key.env()
    }

    /// The parsed key.
    pub fn key(&self) -> ApiKeyRef<'a> {
        self.key
    }

    /// Decides, given what the lookup by [`hash`](Presented::hash) found (`None`: nothing).
    ///
    /// A record whose hash differs from the presented key's (compared in constant time)
    /// counts as nothing found. Then the environment `rule` gives the environment to
    /// check, and [`decide`] gives the verdict.
    pub fn decide(
        &self,
        found: Option<KeyFacts<'_>>,
        rule: EnvRule<'_>,
        required: &[Scope],
        now: DateTime<Utc>,
    ) -> Verdict {
        decide_presented(&self.hash, self.key.env(), found, rule, required, now)
    }
}

impl core::fmt::Debug for Presented<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Presented")
            .field(&format_args!("{}…", self.hint()))
            .finish()
    }
}

/// [`Presented::decide`] for a key kept as its hash and environment (a front end that
/// cannot hold the borrowed string across its lookup): the same rule, in one place.
pub fn decide_presented(
    hash: &KeyHash,
    key_env: &str,
    found: Option<KeyFacts<'_>>,
    rule: EnvRule<'_>,
    required: &[Scope],
    now: DateTime<Utc>,
) -> Verdict {
    let found = found.filter(|f| f.hash.ct_eq(hash));
    decide(found, rule.resolve(key_env), required, now)
}

/// Decides whether the key behind `found` may make a request in environment `env`
/// needing every scope of `required`, at time `now`.
///
/// Checks run in this order, and the first failure is the verdict: unknown, revoked,
/// expired, wrong environment, missing scope. Revocation comes first so that use of a
/// revoked key is always reported as such.
pub fn decide(
    found: Option<KeyFacts<'_>>,
    env: &str,
    required: &[Scope],
    now: DateTime<Utc>,
) -> Verdict {
    let Some(key) = found else {
        return Verdict::UnknownKey;
    };
    // A revocation is a fact, not a time: no clock makes a revoked key live again.
    if key.revoked_at.is_some() {
        return Verdict::Revoked;
    }
    if key.expires_at.is_some_and(|t| t <= now) {
        return Verdict::Expired;
    }
    if key.env != env {
        return Verdict::WrongEnvironment;
    }
    match key.scopes.first_missing(required) {
        Some(missing) => Verdict::InsufficientScope {
            missing: missing.clone(),
        },
        None => Verdict::Valid,
    }
}

/// [`decide`] for a whole stored record (`None`: no record has the key's
/// hash), needing every scope of `required` in environment `presented_env`.
///
/// Checks run in this order, and the first failure is the verdict: unknown, revoked,
/// expired, wrong environment, missing scope.
pub fn verify(
    record: Option<&KeyRecord>,
    presented_env: &str,
    required: &[Scope],
    now: DateTime<Utc>,
) -> Verdict {
    decide(record.map(KeyRecord::facts), presented_env, required, now)
}
