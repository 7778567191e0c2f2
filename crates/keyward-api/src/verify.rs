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
        if let Some(ip) = &self.ip
            && (ip.len() > MAX_IP_LEN || ip.parse::<std::net::IpAddr>().is_err())
        {
            return Err(FieldError::new(
                "context.ip",
                "must be an IPv4 or IPv6 address",
            ));
        }
        if let Some(ua) = &self.user_agent
            && (ua.chars().count() > MAX_USER_AGENT_LEN || ua.chars().any(char::is_control))
        {
            return Err(FieldError::new(
                "context.user_agent",
                format!(
                    "must be at most {MAX_USER_AGENT_LEN} characters without control characters"
                ),
            ));
        }
        if let Some(ua) = &self.user_agent
            && keyward_core::text::has_format_chars(ua)
        {
            return Err(crate::format_chars("context.user_agent"));
        }
        if let Some(action) = &self.action {
            crate::check_text("context.action", action, MAX_ACTION_LEN)?;
            if keyward_core::is_reserved_action(action) {
                return Err(FieldError::new(
                    "context.action",
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
