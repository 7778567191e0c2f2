//! The stored record of a key, its public id, and rotation.

use core::fmt;
use core::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::hash::KeyHash;
use crate::key::NewKey;
use crate::limits::{Credits, NamedLimit, Period};
use crate::network::Networks;
use crate::random::{RandomError, RandomSource};
use crate::restrict::Restrictions;
use crate::scope::ScopeSet;

const ID_PREFIX: &str = "key_";
const ID_CHARS: usize = 16;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A key's stable public id: `key_` plus 16 base62 characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(String);

impl KeyId {
    /// A new random id.
    ///
    /// # Errors
    /// [`RandomError`] if `rng` fails.
    pub fn generate(rng: &mut impl RandomSource) -> Result<Self, RandomError> {
        let mut id = String::with_capacity(ID_PREFIX.len() + ID_CHARS);
        id.push_str(ID_PREFIX);
        let mut buf = [0u8; 32];
        while id.len() < ID_PREFIX.len() + ID_CHARS {
            rng.fill(&mut buf)?;
            // Rejection sampling keeps every character equally likely.
            for &b in buf.iter().filter(|&&b| b < 248) {
                if id.len() == ID_PREFIX.len() + ID_CHARS {
                    break;
                }
                id.push(char::from(BASE62[usize::from(b % 62)]));
            }
        }
        Ok(KeyId(id))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A string that is not a key id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidKeyId;

impl fmt::Display for InvalidKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key id is 'key_' followed by 16 letters and digits")
    }
}

impl std::error::Error for InvalidKeyId {}

impl FromStr for KeyId {
    type Err = InvalidKeyId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix(ID_PREFIX) {
            Some(rest)
                if rest.len() == ID_CHARS && rest.bytes().all(|b| b.is_ascii_alphanumeric()) =>
            {
                Ok(KeyId(s.to_owned()))
            }
            _ => Err(InvalidKeyId),
        }
    }
}

impl TryFrom<String> for KeyId {
    type Error = InvalidKeyId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<KeyId> for String {
    fn from(id: KeyId) -> String {
        id.0
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The previous format's single per-key limit: read as the named limit `default`
/// (see [`KeyRecord::limits`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RateLimit {
    /// Requests allowed per window (1 to 10000).
    #[serde(deserialize_with = "crate::whole::number")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 10_000)))]
    pub requests: u32,
    /// Window length in seconds (1 to 86400).
    #[serde(deserialize_with = "crate::whole::number")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 86_400)))]
    pub window_seconds: u32,
}

/// The limits a record's fields come to: `rate_limits`, or without them the previous
/// format's `rate_limit` as the limit `default`.
pub fn effective_limits(rate_limits: &[NamedLimit], legacy: Option<RateLimit>) -> Vec<NamedLimit> {
    match (rate_limits.is_empty(), legacy) {
        (true, Some(old)) => Period::of_seconds(old.window_seconds)
            .ok()
            .map(|period| NamedLimit {
                name: "default".to_owned(),
                limit: old.requests.clamp(1, crate::limits::MAX_LIMIT),
                period,
            })
            .into_iter()
            .collect(),
        _ => rate_limits.to_vec(),
    }
}

/// Everything stored about a key. Never the key itself: only its hash and hint.
///
/// Times serialise as RFC 3339 strings; field names are snake_case in every language.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct KeyRecord {
    /// Public id.
    pub id: KeyId,
    /// SHA-256 of the key (lowercase hex): storage is addressed by it.
    #[cfg_attr(
        feature = "schema",
        schemars(with = "String", regex(pattern = "^[0-9a-f]{64}$"))
    )]
    pub hash: KeyHash,
    /// `{vendor}_{env}_` and 4 characters of the secret.
    pub hint: String,
    /// A name for humans.
    pub name: String,
    /// Who the key belongs to (a user, team or service id).
    pub owner: String,
    /// What the key may do.
    pub scopes: ScopeSet,
    /// The environment the key works in.
    pub env: String,
    /// When it was made.
    #[serde(with = "crate::time::rfc3339")]
    #[cfg_attr(feature = "schema", schemars(with = "DateTime<Utc>"))]
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    #[serde(default, with = "crate::time::rfc3339_option")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<DateTime<Utc>>"))]
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last used (updated in batches).
    #[serde(default, with = "crate::time::rfc3339_option")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<DateTime<Utc>>"))]
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    #[serde(default, with = "crate::time::rfc3339_option")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<DateTime<Utc>>"))]
    pub revoked_at: Option<DateTime<Utc>>,
    /// Who revoked it (a key id, `root`, or a leak reporter).
    #[serde(default)]
    pub revoked_by: Option<String>,
    /// Why it was revoked.
    #[serde(default)]
    pub revocation_reason: Option<String>,
    /// The key that replaced this one.
    #[serde(default)]
    pub rotated_to: Option<KeyId>,
    /// The key this one replaced.
    #[serde(default)]
    pub rotated_from: Option<KeyId>,
    /// Free-form JSON object for the deployment's own use.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The single rate limit of the previous format: read as the limit named `default`
    /// (see [`KeyRecord::limits`]); never written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Named rate limits: every one applies to every use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<NamedLimit>,
    /// Usage credits, if the key has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<Credits>,
    /// The first key of this key's rotation chain: where its lifecycle is kept. `None` for
    /// a record stored before lifecycles were kept apart (its own id is its chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<KeyId>,
    /// Allowed client networks (empty: any address); see [`Restrictions`].
    #[serde(default, skip_serializing_if = "Networks::is_empty")]
    pub allowed_ips: Networks,
    /// Before this time the key does not work.
    #[serde(
        default,
        with = "crate::time::rfc3339_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "schema", schemars(with = "Option<DateTime<Utc>>"))]
    pub not_before: Option<DateTime<Utc>>,
    /// The roles the key was minted with (their scopes are in `scopes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

/// The successor of a rotation, before it has a record: its id, and the hash and hint of
/// its key (never the key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Successor {
    /// The new key's id.
    pub id: KeyId,
    /// The new key's hash.
    pub hash: KeyHash,
    /// The new key's hint.
    pub hint: String,
}

/// What a new key record is made from, besides the generated key.
#[derive(Clone, Debug)]
pub struct NewRecord {
    /// A name for humans.
    pub name: String,
    /// The owner.
    pub owner: String,
    /// The scopes, already validated against the registry.
    pub scopes: ScopeSet,
    /// The environment.
    pub env: String,
    /// When the key expires, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// Deployment metadata.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Named rate limits.
    pub rate_limits: Vec<NamedLimit>,
    /// Usage credits.
    pub credits: Option<Credits>,
    /// Allowed networks and start.
    pub restrictions: Restrictions,
    /// The roles it was minted with.
    pub roles: Vec<String>,
}

impl NewRecord {
    /// A key named `name` for `owner` in `env` with `scopes` and nothing else: no expiry,
    /// metadata, limits, credits, restrictions or roles. Set any of those with struct
    /// update syntax: `NewRecord { credits, ..NewRecord::new(..) }`.
    pub fn new(
        name: impl Into<String>,
        owner: impl Into<String>,
        scopes: ScopeSet,
        env: impl Into<String>,
    ) -> Self {
        NewRecord {
            name: name.into(),
            owner: owner.into(),
            scopes,
            env: env.into(),
            expires_at: None,
            metadata: serde_json::Map::new(),
            rate_limits: Vec::new(),
            credits: None,
            restrictions: Restrictions::default(),
            roles: Vec::new(),
        }
    }
}

impl KeyRecord {
    /// Every field a record has in JSON, as [`KeyRecord`] reads and writes them: a record
    /// made elsewhere that holds any other field (a camelCase `revokedAt`, say) is not
    /// read as one by the npm package, which refuses it rather than ignore what it says.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "hash",
        "hint",
        "name",
        "owner",
        "scopes",
        "env",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
        "revocation_reason",
        "rotated_to",
        "rotated_from",
        "metadata",
        "rate_limit",
        "rate_limits",
        "credits",
        "lineage",
        "allowed_ips",
        "not_before",
        "roles",
    ];

    /// The record for a freshly generated key.
    pub fn new(id: KeyId, key: &NewKey, spec: NewRecord, now: DateTime<Utc>) -> Self {
        Self::from_parts(id, key.hash, key.hint.clone(), spec, now)
    }

    fn from_parts(
        id: KeyId,
        hash: KeyHash,
        hint: String,
        spec: NewRecord,
        now: DateTime<Utc>,
    ) -> Self {
        KeyRecord {
            lineage: Some(id.clone()),
            id,
            hash,
            hint,
            name: spec.name,
            owner: spec.owner,
            scopes: spec.scopes,
            env: spec.env,
            created_at: now,
            expires_at: spec.expires_at,
            last_used_at: None,
            revoked_at: None,
            revoked_by: None,
            revocation_reason: None,
            rotated_to: None,
            rotated_from: None,
            metadata: spec.metadata,
            rate_limit: None,
            rate_limits: spec.rate_limits,
            credits: spec.credits.map(|mut c| {
                c.begin(now);
                c
            }),
            allowed_ips: spec.restrictions.allowed_ips,
            not_before: spec.restrictions.not_before,
            roles: spec.roles,
        }
    }

    /// Its allowed networks and start.
    pub fn restrictions(&self) -> Restrictions {
        Restrictions {
            allowed_ips: self.allowed_ips.clone(),
            not_before: self.not_before,
        }
    }

    /// Whether the key has been revoked. A revocation is a fact, not a time: a key with
    /// `revoked_at` set is revoked whatever clock asks (a clock behind the revocation's,
    /// or a caller's, cannot make it live again).
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }

    /// Whether the key may still act at `now`: a caller's key checked again at the moment
    /// its change is made (after its request's body is read), not when the request began.
    ///
    /// # Errors
    /// `revoked` or `expired`: the key is no longer a caller.
    pub fn may_act(&self, now: DateTime<Utc>) -> Result<(), crate::code::Code> {
        if self.is_revoked() {
            Err(crate::code::Code::Revoked)
        } else if self.is_expired(now) {
            Err(crate::code::Code::Expired)
        } else {
            Ok(())
        }
    }

    /// Whether the key has expired as of `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }

    /// The key's own rate limits: its named limits, or the single limit of a record of the
    /// previous format, read as the limit `default`.
    pub fn limits(&self) -> Vec<NamedLimit> {
        effective_limits(&self.rate_limits, self.rate_limit)
    }

    /// Whether each use of the key is counted (it has rate limits or credits): such a use
    /// is never answered from a cache, and is decided where its counts are kept.
    pub fn is_counted(&self) -> bool {
        self.credits.is_some() || !self.limits().is_empty()
    }

    /// Where the key is in its life as of `now`: revoked, expired, rotating (replaced,
    /// working until its grace period ends) or active.
    pub fn status(&self, now: DateTime<Utc>) -> KeyStatus {
        if self.is_revoked() {
            KeyStatus::Revoked
        } else if self.is_expired(now) {
            KeyStatus::Expired
        } else if self.rotated_to.is_some() {
            KeyStatus::Rotating
        } else {
            KeyStatus::Active
        }
    }

    /// Marks the key revoked. Revoking a revoked key keeps the first revocation.
    pub fn revoke(&mut self, by: &str, reason: &str, now: DateTime<Utc>) {
        if self.revoked_at.is_none() {
            self.revoked_at = Some(now);
            self.revoked_by = Some(by.to_owned());
            self.revocation_reason = Some(reason.to_owned());
        }
    }

    /// Rotates this key: returns the successor's record (same name, owner, scopes, env,
    /// metadata and expiry: a key cannot live longer by rotating itself) and updates
    /// `self` to expire after `grace` (never later than it would have) and point to it.
    ///
    /// # Errors
    /// [`RotateError`] if this key is revoked, expired or already rotated.
    pub fn rotate(
        &mut self,
        new_id: KeyId,
        new_key: &NewKey,
        grace: Duration,
        now: DateTime<Utc>,
    ) -> Result<KeyRecord, RotateError> {
        let successor = Successor {
            id: new_id,
            hash: new_key.hash,
            hint: new_key.hint.clone(),
        };
        self.rotate_to(successor, grace, now)
    }

    /// The chain this key's lifecycle is kept in: its `lineage`, or its own id for a
    /// record of the previous format.
    pub fn chain(&self) -> &KeyId {
        self.lineage.as_ref().unwrap_or(&self.id)
    }

    /// [`KeyRecord::rotate`] given the successor's id, hash and hint: what a store that
    /// never sees the new key itself applies.
    ///
    /// # Errors
    /// [`RotateError`] if this key is revoked, expired or already rotated.
    pub fn rotate_to(
        &mut self,
        successor: Successor,
        grace: Duration,
        now: DateTime<Utc>,
    ) -> Result<KeyRecord, RotateError> {
        if self.is_revoked() {
            return Err(RotateError::Revoked);
        }
        if self.is_expired(now) {
            return Err(RotateError::Expired);
        }
        if self.rotated_to.is_some() {
            return Err(RotateError::AlreadyRotated);
        }
        let mut next = KeyRecord::from_parts(
            successor.id,
            successor.hash,
            successor.hint,
            NewRecord {
                name: self.name.clone(),
                owner: self.owner.clone(),
                scopes: self.scopes.clone(),
                env: self.env.clone(),
                expires_at: self.expires_at,
                metadata: self.metadata.clone(),
                rate_limits: self.limits(),
                // The balance moves to the successor; the old key, in its grace period,
                // spends from it (one balance per chain, never two).
                credits: self.credits.take(),
                restrictions: self.restrictions(),
                roles: self.roles.clone(),
            },
            now,
        );
        next.rotated_from = Some(self.id.clone());
        next.lineage = Some(self.chain().clone());
        let grace_end = now
            .checked_add_signed(grace.max(Duration::zero()))
            .unwrap_or(now);
        self.expires_at = Some(self.expires_at.map_or(grace_end, |e| e.min(grace_end)));
        self.rotated_to = Some(next.id.clone());
        Ok(next)
    }
}

/// Where a key is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Works.
    Active,
    /// Replaced by a successor; works until its grace period ends.
    Rotating,
    /// Its expiry has passed.
    Expired,
    /// Revoked; never works again.
    Revoked,
}

impl KeyStatus {
    /// The status as on the wire: `active`, `rotating`, `expired`, `revoked`.
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Rotating => "rotating",
            KeyStatus::Expired => "expired",
            KeyStatus::Revoked => "revoked",
        }
    }
}

/// Why a key cannot be rotated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RotateError {
    /// Revoked keys stay revoked; create a new key instead.
    Revoked,
    /// Expired keys cannot be rotated.
    Expired,
    /// The key was already rotated; rotate its successor.
    AlreadyRotated,
}

impl fmt::Display for RotateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RotateError::Revoked => "a revoked key cannot be rotated",
            RotateError::Expired => "an expired key cannot be rotated",
            RotateError::AlreadyRotated => "the key was already rotated; rotate its successor",
        })
    }
}

impl std::error::Error for RotateError {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fields_names_every_field_of_a_whole_record() {
        let now = DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        let id: KeyId = "key_0123456789abcdef".parse().unwrap();
        let record = KeyRecord {
            id: id.clone(),
            hash: KeyHash::of("k"),
            hint: "sk_live_abcd".into(),
            name: "n".into(),
            owner: "o".into(),
            scopes: ScopeSet::default(),
            env: "live".into(),
            created_at: now,
            expires_at: Some(now),
            last_used_at: Some(now),
            revoked_at: Some(now),
            revoked_by: Some("root".into()),
            revocation_reason: Some("r".into()),
            rotated_to: Some(id.clone()),
            rotated_from: Some(id.clone()),
            metadata: serde_json::Map::new(),
            rate_limit: Some(RateLimit {
                requests: 1,
                window_seconds: 1,
            }),
            rate_limits: vec![NamedLimit {
                name: "m".into(),
                limit: 1,
                period: Period::of_seconds(60).unwrap(),
            }],
            credits: Some(Credits {
                remaining: 1,
                refill: None,
                alert_below: None,
                period: None,
                alerted: None,
            }),
            lineage: Some(id),
            allowed_ips: crate::network::Networks::parse(&["10.0.0.0/8"]).unwrap(),
            not_before: Some(now),
            roles: vec!["reader".into()],
        };
        let json = serde_json::to_value(&record).unwrap();
        let mut written: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut fields = KeyRecord::FIELDS.to_vec();
        written.sort_unstable();
        fields.sort_unstable();
        assert_eq!(written, fields);
    }
}
