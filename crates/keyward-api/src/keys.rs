//! `/v1/keys` and its sub-resources.

use keyward_core::chrono::{DateTime, Utc};
use keyward_core::limits::{Credits, NamedLimit, Period, Refill, validate_limits};
use keyward_core::{KeyId, KeyRecord, KeyStatus, Networks, RateLimit, ScopeSet, Standing};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{FieldError, SecretString, check_scope_count, check_text};

/// Longest `name` and `owner`.
pub const MAX_NAME_LEN: usize = 128;
/// Longest revocation reason.
pub const MAX_REASON_LEN: usize = 256;
/// Longest lifetime a key may be created with: ten years of 366 days, in seconds.
pub const MAX_EXPIRES_IN: i64 = 10 * 366 * 86_400;
/// Longest grace period of a rotation: 30 days, in seconds.
pub const MAX_GRACE_SECONDS: i64 = 30 * 86_400;
/// Most roles a key is created with.
pub const MAX_ROLES: usize = 16;
/// Largest `metadata`, as JSON.
pub const MAX_METADATA_BYTES: usize = 4096;

/// `POST /v1/keys`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "openapi",
    schemars(extend("not" = {
        "required": ["rate_limits", "rate_limit"],
        "properties": {"rate_limits": {"type": "array"}, "rate_limit": {"type": "object"}}
    }))
)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    #[cfg_attr(feature = "openapi", schemars(length(min = 1, max = 128), regex(pattern = crate::schema::TEXT)))]
    /// A name for people.
    pub name: String,
    /// Who the key belongs to: a letter or digit, then up to 127 letters, digits or
    /// `. _ - @ + : =` (it travels in the gateway's `X-Keyward-Owner` header). Default:
    /// the caller's own (required with the root key).
    #[cfg_attr(feature = "openapi", schemars(length(min = 1, max = 128), regex(pattern = crate::schema::OWNER_NAME)))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Scopes to grant; each must be declared, and held by the caller.
    #[cfg_attr(
        feature = "openapi",
        schemars(length(max = 64), with = "Vec<crate::schema::DeclaredScope>")
    )]
    pub scopes: Vec<String>,
    /// The environment, one of the deployment's. Default: the caller's own (required
    /// with the root key).
    #[cfg_attr(
        feature = "openapi",
        schemars(with = "Option<crate::schema::DeclaredEnvironment>")
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Lifetime in seconds (1 to [`MAX_EXPIRES_IN`]); none: the key does not expire.
    #[cfg_attr(feature = "openapi", schemars(range(min = 1, max = MAX_EXPIRES_IN)))]
    #[serde(deserialize_with = "keyward_core::whole::optional")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    /// A JSON object for the deployment's own use (at most [`MAX_METADATA_BYTES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// Named rate limits (every one applies to every use; at most 8, names unique).
    #[cfg_attr(feature = "openapi", schemars(length(max = 8), extend("x-keyward-unique-by" = "name")))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<Vec<NamedLimit>>,
    /// The previous format's single limit, accepted as the named limit `default`.
    #[cfg_attr(feature = "openapi", schemars(extend("deprecated" = true)))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Usage credits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<CreditsSpec>,
    /// Allowed client networks: up to 100 IPv4/IPv6 CIDR blocks (a bare address is its
    /// /32 or /128). Default: the caller's own (none for the root key: any address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_ips: Option<Networks>,
    /// The key works from this time on (RFC 3339). Default: the caller's own, or at once.
    #[cfg_attr(feature = "openapi", schemars(with = "Option<DateTime<Utc>>"))]
    #[serde(
        default,
        with = "keyward_core::time::rfc3339_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub not_before: Option<DateTime<Utc>>,
    /// Roles of the deployment (`KEYWARD_ROLES`); the key holds their scopes and `scopes`.
    #[cfg_attr(
        feature = "openapi",
        schemars(length(max = 16), with = "Option<Vec<crate::schema::DeclaredRole>>")
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

/// Usage credits as asked for: a balance, an optional refill and an alert threshold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreditsSpec {
    /// The balance to start with.
    #[serde(deserialize_with = "keyward_core::whole::number")]
    #[cfg_attr(feature = "openapi", schemars(range(max = MAX_CREDITS)))]
    pub remaining: u64,
    /// Set the balance to `amount` at each UTC day or month boundary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refill: Option<Refill>,
    /// Raise `credits_low` (once per refill period) when the balance drops below this.
    #[cfg_attr(feature = "openapi", schemars(range(max = MAX_CREDITS)))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "keyward_core::whole::optional")]
    pub alert_below: Option<u64>,
}

/// The largest balance or refill amount (the core's).
pub use keyward_core::limits::MAX_CREDITS;

impl CreditsSpec {
    /// Checks the bounds.
    ///
    /// # Errors
    /// A [`FieldError`] naming the field.
    pub fn validate(&self) -> Result<(), FieldError> {
        let too_big = |v: u64| v > MAX_CREDITS;
        if too_big(self.remaining)
            || self.refill.is_some_and(|r| too_big(r.amount))
            || self.alert_below.is_some_and(too_big)
        {
            return Err(FieldError::new(
                "credits",
                format!("amounts must be 0 to {MAX_CREDITS}"),
            ));
        }
        Ok(())
    }

    /// The credits a new key starts with.
    pub fn into_credits(self) -> Credits {
        Credits {
            remaining: self.remaining,
            refill: self.refill,
            alert_below: self.alert_below,
            period: None,
            alerted: None,
        }
    }
}

/// Checks a list of limits, as a request field.
///
/// # Errors
/// A [`FieldError`] naming `rate_limits`.
pub fn check_limits(limits: &[NamedLimit]) -> Result<(), FieldError> {
    validate_limits(limits).map_err(|e| FieldError::new("rate_limits", e))
}

impl CreateKey {
    /// The named limits asked for: `rate_limits`, or the previous format's `rate_limit`
    /// as the limit `default`.
    ///
    /// # Errors
    /// Both given, or a limit out of bounds.
    pub fn limits(&self) -> Result<Vec<NamedLimit>, FieldError> {
        let limits = match (&self.rate_limits, self.rate_limit) {
            (Some(_), Some(_)) => {
                return Err(FieldError::new(
                    "rate_limit",
                    "cannot be given with 'rate_limits' (it is the previous format of one limit)",
                ));
            }
            (Some(l), None) => l.clone(),
            (None, Some(old)) => vec![NamedLimit {
                name: "default".to_owned(),
                limit: old.requests,
                period: Period::of_seconds(old.window_seconds)
                    .map_err(|e| FieldError::new("rate_limit", e))?,
            }],
            (None, None) => Vec::new(),
        };
        check_limits(&limits)?;
        Ok(limits)
    }

    /// Checks every rule that does not depend on the deployment's settings.
    ///
    /// # Errors
    /// The first field that breaks a rule.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_text("name", &self.name, MAX_NAME_LEN)?;
        check_scope_count(&self.scopes)?;
        if let Some(owner) = &self.owner {
            check_owner(owner)?;
        }
        self.limits()?;
        if let Some(c) = &self.credits {
            c.validate()?;
        }
        if let Some(s) = self.expires_in
            && !(1..=MAX_EXPIRES_IN).contains(&s)
        {
            return Err(FieldError::new(
                "expires_in",
                format!("must be 1 to {MAX_EXPIRES_IN} seconds"),
            ));
        }
        if self.roles.as_ref().is_some_and(|r| r.len() > MAX_ROLES) {
            return Err(FieldError::new(
                "roles",
                format!("at most {MAX_ROLES} roles"),
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

/// A new key's owner: the core's owner grammar (`text::is_valid_owner`): a letter or
/// digit, then up to 127 of letters, digits and `. _ - @ + : =`, so that it is one token
/// in any header.
///
/// # Errors
/// A [`FieldError`] naming `owner`.
pub fn check_owner(owner: &str) -> Result<(), FieldError> {
    if !keyward_core::text::is_valid_owner(owner) {
        return Err(FieldError::new(
            "owner",
            "must be a letter or digit, then up to 127 letters, digits or . _ - @ + : =",
        ));
    }
    Ok(())
}

/// An owner named to find keys or limits: any owner a key may have, including one stored
/// before the grammar of [`check_owner`] (1 to [`MAX_NAME_LEN`] printable ASCII
/// characters, not blank).
///
/// # Errors
/// A [`FieldError`] naming `owner`.
pub fn check_owner_filter(owner: &str) -> Result<(), FieldError> {
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
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
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
    #[cfg_attr(feature = "openapi", schemars(with = "DateTime<Utc>"))]
    #[serde(with = "keyward_core::time::rfc3339")]
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    #[cfg_attr(feature = "openapi", schemars(with = "Option<DateTime<Utc>>"))]
    #[serde(with = "keyward_core::time::rfc3339_option")]
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last used (updated in batches, off the request path).
    #[cfg_attr(feature = "openapi", schemars(with = "Option<DateTime<Utc>>"))]
    #[serde(with = "keyward_core::time::rfc3339_option")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    #[cfg_attr(feature = "openapi", schemars(with = "Option<DateTime<Utc>>"))]
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
    /// Named rate limits (own; deployments may add defaults per environment).
    pub rate_limits: Vec<NamedLimit>,
    /// Usage credits: the balance when the answer was made.
    pub credits: Option<CreditsView>,
    /// Allowed client networks (empty: any address).
    #[serde(default)]
    pub allowed_ips: Networks,
    /// The key works from this time on.
    #[cfg_attr(feature = "openapi", schemars(with = "Option<DateTime<Utc>>"))]
    #[serde(default, with = "keyward_core::time::rfc3339_option")]
    pub not_before: Option<DateTime<Utc>>,
    /// The roles it was minted with (their scopes are in `scopes`).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Whether it can be rotated (active: not revoked, expired or already rotated).
    #[serde(default)]
    pub rotatable: bool,
    /// Whether revoking it has any effect (it works, or still will: active or rotating).
    #[serde(default)]
    pub revocable: bool,
    /// Live and unused for 90 days or more (the daily `stale` check).
    #[serde(default)]
    pub stale: bool,
    /// Live and holding `admin` or a `resource:*` wildcard (the daily
    /// `over_privileged` check).
    #[serde(default)]
    pub over_privileged: bool,
}

/// A key's credits as the API shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CreditsView {
    /// The balance.
    pub remaining: u64,
    /// How it is refilled.
    pub refill: Option<Refill>,
    /// The `credits_low` threshold.
    pub alert_below: Option<u64>,
}

impl KeyView {
    /// The view of `record` as of `now`.
    pub fn of(record: &KeyRecord, now: DateTime<Utc>) -> Self {
        let standing = Standing::of(record, now);
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
            rate_limits: record.limits(),
            credits: record.credits.as_ref().map(|c| CreditsView {
                remaining: c.remaining,
                refill: c.refill,
                alert_below: c.alert_below,
            }),
            allowed_ips: record.allowed_ips.clone(),
            not_before: record.not_before,
            roles: record.roles.clone(),
            rotatable: standing.rotatable,
            revocable: standing.revocable,
            stale: standing.stale,
            over_privileged: standing.over_privileged,
        }
    }
}

/// `201` to `POST /v1/keys`: the record and the key itself, shown this once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CreatedKey {
    /// The key. This is the only answer that ever holds it.
    pub key: SecretString,
    /// The new key's record.
    #[serde(flatten)]
    pub record: KeyView,
}

/// `GET /v1/keys`: one page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct KeyList {
    /// The keys of this page.
    pub keys: Vec<KeyView>,
    /// The next page's cursor; `null` on the last page.
    pub cursor: Option<String>,
}

/// `POST /v1/migrate`: one page of the migration of keys stored before the ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Migration {
    /// Keys of the previous format adopted by this call: each now lives in its own
    /// ledger, as KV held it.
    pub adopted: Vec<KeyId>,
    /// Keys of this page already kept by their ledger (adopted before, or of the current
    /// format): left as they are.
    pub kept: u32,
    /// Records of the previous format that cannot be adopted (a rotation's successor
    /// without its chain is not of that format, it is forged): left inert.
    pub refused: Vec<KeyId>,
    /// The next page's cursor; `null` on the last page.
    pub cursor: Option<String>,
}

/// `POST /v1/keys/{id}/revoke`. The body is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RevokeKey {
    /// Why (default `unspecified`).
    #[cfg_attr(feature = "openapi", schemars(length(min = 1, max = 256), regex(pattern = crate::schema::TEXT)))]
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
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    /// How long the old key keeps working, 0 (default) to [`MAX_GRACE_SECONDS`].
    #[cfg_attr(feature = "openapi", schemars(range(min = 0, max = MAX_GRACE_SECONDS)))]
    #[serde(deserialize_with = "keyward_core::whole::optional")]
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
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Previous {
    /// Its id.
    pub id: KeyId,
    /// When it stops working: the end of the grace period (or earlier, if it was to
    /// expire sooner).
    #[cfg_attr(feature = "openapi", schemars(with = "Option<DateTime<Utc>>"))]
    #[serde(with = "keyward_core::time::rfc3339_option")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// `PATCH /v1/keys/{id}`: a key's settings that may change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateKey {
    /// The key's named rate limits, replacing its own (`[]`: none of its own).
    #[cfg_attr(feature = "openapi", schemars(length(max = 8), extend("x-keyward-unique-by" = "name")))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<Vec<NamedLimit>>,
    /// New allowed client networks (`[]`: any address). Fewer or narrower blocks narrow
    /// the key (`keys:write`); more, or none, widen it (root or `admin` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_ips: Option<Networks>,
    /// A new start (RFC 3339), or `null` for none. A later start narrows the key; an
    /// earlier one, or none, widens it.
    #[cfg_attr(feature = "openapi", schemars(with = "Option<DateTime<Utc>>"))]
    #[serde(
        default,
        with = "keyward_core::time::rfc3339_patch",
        skip_serializing_if = "Option::is_none"
    )]
    pub not_before: Option<Option<DateTime<Utc>>>,
    /// A new expiry (RFC 3339), or `null` for never. An earlier expiry narrows the key; a
    /// later one, or never, widens it; always within the lifetime policy.
    #[cfg_attr(feature = "openapi", schemars(with = "Option<DateTime<Utc>>"))]
    #[serde(
        default,
        with = "keyward_core::time::rfc3339_patch",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<Option<DateTime<Utc>>>,
}

impl UpdateKey {
    /// The change to the key's restrictions and expiry it asks for.
    pub fn reshape(&self) -> keyward_core::Reshape {
        keyward_core::Reshape {
            allowed_ips: self.allowed_ips.clone(),
            not_before: self.not_before,
            expires_at: self.expires_at,
        }
    }
}

/// `POST /v1/keys/{id}/credits`: set or add to a balance, and its settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "openapi",
    schemars(extend("oneOf" = [
        {"required": ["set"], "properties": {"set": {"type": "integer"}}},
        {"required": ["add"], "properties": {"add": {"type": "integer"}}}
    ]))
)]
#[serde(deny_unknown_fields)]
pub struct SetCredits {
    /// Set the balance to this.
    #[cfg_attr(feature = "openapi", schemars(range(max = MAX_CREDITS)))]
    #[serde(deserialize_with = "keyward_core::whole::optional")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<u64>,
    /// Add this to the balance.
    #[cfg_attr(feature = "openapi", schemars(range(max = MAX_CREDITS)))]
    #[serde(deserialize_with = "keyward_core::whole::optional")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add: Option<u64>,
    /// The refill (`null` or absent: unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refill: Option<Refill>,
    /// The `credits_low` threshold (absent: unchanged).
    #[cfg_attr(feature = "openapi", schemars(range(max = MAX_CREDITS)))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "keyward_core::whole::optional")]
    pub alert_below: Option<u64>,
}

impl SetCredits {
    /// Checks that exactly one of `set` and `add` is given, within bounds.
    ///
    /// # Errors
    /// A [`FieldError`].
    pub fn validate(&self) -> Result<(), FieldError> {
        match (self.set, self.add) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(FieldError::new("set", "or 'add': exactly one is required"));
            }
            (Some(v), None) | (None, Some(v)) if v > MAX_CREDITS => {
                return Err(FieldError::new(
                    "set",
                    format!("and 'add' must be 0 to {MAX_CREDITS}"),
                ));
            }
            _ => {}
        }
        if self.refill.is_some_and(|r| r.amount > MAX_CREDITS)
            || self.alert_below.is_some_and(|v| v > MAX_CREDITS)
        {
            return Err(FieldError::new(
                "refill",
                format!("amounts must be 0 to {MAX_CREDITS}"),
            ));
        }
        Ok(())
    }
}

/// `PUT /v1/owners/{owner}/limits` and its answer: limits shared by all of an owner's keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct OwnerLimits {
    /// The limits (`[]`: none).
    #[cfg_attr(feature = "openapi", schemars(length(max = 8), extend("x-keyward-unique-by" = "name")))]
    pub rate_limits: Vec<NamedLimit>,
}
