//! `/v1/keys` and its sub-resources.

use keyward_core::chrono::{DateTime, Utc};
use keyward_core::{KeyId, KeyRecord, KeyStatus, RateLimit, ScopeSet};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{FieldError, SecretString, check_text};

/// Longest `name` and `owner`.
pub const MAX_NAME_LEN: usize = 128;
/// Longest revocation reason.
pub const MAX_REASON_LEN: usize = 256;
/// Longest lifetime a key may be created with: ten years of 366 days, in seconds.
pub const MAX_EXPIRES_IN: i64 = 10 * 366 * 86_400;
/// Longest grace period of a rotation: 30 days, in seconds.
pub const MAX_GRACE_SECONDS: i64 = 30 * 86_400;
/// Largest `metadata`, as JSON.
pub const MAX_METADATA_BYTES: usize = 4096;

/// `POST /v1/keys`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// A name for people.
    pub name: String,
    /// Who the key belongs to: printable ASCII (it travels in the gateway's
    /// `X-Keyward-Owner` header). Default: the caller's own (required with the root key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Scopes to grant; each must be declared, and held by the caller.
    pub scopes: Vec<String>,
    /// The environment, one of the deployment's. Default: the caller's own (required
    /// with the root key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Lifetime in seconds (1 to [`MAX_EXPIRES_IN`]); none: the key does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    /// A JSON object for the deployment's own use (at most [`MAX_METADATA_BYTES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// A rate limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

impl CreateKey {
    /// Checks every rule that does not depend on the deployment's settings.
    ///
    /// # Errors
    /// The first field that breaks a rule.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_text("name", &self.name, MAX_NAME_LEN)?;
        if let Some(owner) = &self.owner {
            check_owner(owner)?;
        }
        if let Some(s) = self.expires_in
            && !(1..=MAX_EXPIRES_IN).contains(&s)
        {
            return Err(FieldError::new(
                "expires_in",
                format!("must be 1 to {MAX_EXPIRES_IN} seconds"),
            ));
        }
        if let Some(m) = &self.metadata
            && serde_json::to_string(m).map_or(0, |s| s.len()) > MAX_METADATA_BYTES
        {
            return Err(FieldError::new(
                "metadata",
                format!("must be at most {MAX_METADATA_BYTES} bytes of JSON"),
            ));
        }
        Ok(())
    }
}

/// An owner: 1 to [`MAX_NAME_LEN`] printable ASCII characters (space to `~`), not blank,
/// so that it can travel in an HTTP header unchanged.
///
/// # Errors
/// A [`FieldError`] naming `owner`.
pub fn check_owner(owner: &str) -> Result<(), FieldError> {
    if owner.trim().is_empty()
        || owner.len() > MAX_NAME_LEN
        || !owner.bytes().all(|b| (0x20..=0x7e).contains(&b))
    {
        return Err(FieldError::new(
            "owner",
            format!("must be 1 to {MAX_NAME_LEN} printable ASCII characters"),
        ));
    }
    Ok(())
}

/// A key's record as the API shows it: every stored field but the hash, and its status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyView {
    /// Public id.
    pub id: KeyId,
    /// `{vendor}_{env}_` and 4 characters of the secret.
    pub hint: String,
    /// A name for people.
    pub name: String,
    /// Who the key belongs to.
    pub owner: String,
    /// What the key may do.
    pub scopes: ScopeSet,
    /// The environment the key works in.
    pub env: String,
    /// Where the key is in its life when the answer was made.
    pub status: KeyStatus,
    /// When it was made.
    #[serde(with = "keyward_core::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    #[serde(with = "keyward_core::time::rfc3339_option")]
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last used (updated in batches, off the request path).
    #[serde(with = "keyward_core::time::rfc3339_option")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    #[serde(with = "keyward_core::time::rfc3339_option")]
    pub revoked_at: Option<DateTime<Utc>>,
    /// Who revoked it: a key id, `root`, or a leak reporter.
    pub revoked_by: Option<String>,
    /// Why it was revoked.
    pub revocation_reason: Option<String>,
    /// The key that replaced this one.
    pub rotated_to: Option<KeyId>,
    /// The key this one replaced.
    pub rotated_from: Option<KeyId>,
    /// The deployment's own data.
    pub metadata: Map<String, Value>,
    /// Rate limit, if any.
    pub rate_limit: Option<RateLimit>,
}

impl KeyView {
    /// The view of `record` as of `now`.
    pub fn of(record: &KeyRecord, now: DateTime<Utc>) -> Self {
        KeyView {
            id: record.id.clone(),
            hint: record.hint.clone(),
            name: record.name.clone(),
            owner: record.owner.clone(),
            scopes: record.scopes.clone(),
            env: record.env.clone(),
            status: record.status(now),
            created_at: record.created_at,
            expires_at: record.expires_at,
            last_used_at: record.last_used_at,
            revoked_at: record.revoked_at,
            revoked_by: record.revoked_by.clone(),
            revocation_reason: record.revocation_reason.clone(),
            rotated_to: record.rotated_to.clone(),
            rotated_from: record.rotated_from.clone(),
            metadata: record.metadata.clone(),
            rate_limit: record.rate_limit,
        }
    }
}

/// `201` to `POST /v1/keys`: the record and the key itself, shown this once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreatedKey {
    /// The key. This is the only answer that ever holds it.
    pub key: SecretString,
    /// The new key's record.
    #[serde(flatten)]
    pub record: KeyView,
}

/// `GET /v1/keys`: one page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyList {
    /// The keys of this page.
    pub keys: Vec<KeyView>,
    /// The next page's cursor; `null` on the last page.
    pub cursor: Option<String>,
}

/// `POST /v1/keys/{id}/revoke`. The body is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeKey {
    /// Why (default `unspecified`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl RevokeKey {
    /// The reason to record.
    ///
    /// # Errors
    /// A reason that is blank, too long or holds control characters.
    pub fn reason(&self) -> Result<&str, FieldError> {
        let reason = self.reason.as_deref().unwrap_or("unspecified");
        check_text("reason", reason, MAX_REASON_LEN)?;
        Ok(reason)
    }
}

/// `POST /v1/keys/{id}/rotate`. The body is optional.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    /// How long the old key keeps working, 0 (default) to [`MAX_GRACE_SECONDS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_seconds: Option<i64>,
}

impl RotateKey {
    /// The grace period in seconds.
    ///
    /// # Errors
    /// A grace period out of range.
    pub fn grace_seconds(&self) -> Result<i64, FieldError> {
        match self.grace_seconds.unwrap_or(0) {
            s @ 0..=MAX_GRACE_SECONDS => Ok(s),
            _ => Err(FieldError::new(
                "grace_seconds",
                format!("must be 0 to {MAX_GRACE_SECONDS} (30 days)"),
            )),
        }
    }
}

/// `201` to `POST /v1/keys/{id}/rotate`: the successor, with its key shown this once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RotatedKey {
    /// The successor's key. This is the only answer that ever holds it.
    pub key: SecretString,
    /// The successor's record.
    #[serde(flatten)]
    pub record: KeyView,
    /// The key it replaces, and when that one stops working.
    pub previous: Previous,
}

/// The replaced key of a rotation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Previous {
    /// Its id.
    pub id: KeyId,
    /// When it stops working: the end of the grace period (or earlier, if it was to
    /// expire sooner).
    #[serde(with = "keyward_core::time::rfc3339_option")]
    pub expires_at: Option<DateTime<Utc>>,
}
