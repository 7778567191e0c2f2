//! The bodies of keyward's HTTP API, as Rust types: the Worker writes them and reads
//! requests into them, the CLI reads them, and the OpenAPI document is made from them.
//!
//! Field names are snake_case on the wire; times are RFC 3339 strings. A request type's
//! `validate` holds every rule about its fields that does not need the deployment's
//! settings, so the Worker and the document agree on one set of bounds.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod keys;
mod me;
mod overview;
mod reports;
pub mod routes;
#[cfg(feature = "openapi")]
pub mod schema;
mod secret;
pub mod strict;
mod usage;
mod verify;
mod webhooks;

pub use keys::{
    CreateKey, CreatedKey, CreditsSpec, CreditsView, KeyList, KeyView, MAX_CREDITS, Migration,
    OwnerLimits, Previous, RevokeKey, RotateKey, RotatedKey, SetCredits, UpdateKey, check_limits,
    check_owner, check_owner_filter,
};
/// The bounds the request types' documentation names.
pub use keys::{MAX_EXPIRES_IN, MAX_GRACE_SECONDS, MAX_METADATA_BYTES, MAX_NAME_LEN};
pub use me::{Deployment, Me, RoleEntry, ScopeEntry};
pub use overview::{CodeCount, KeyUses, OVERVIEW_ALERTS, Overview, TOP_KEYS, refusals};
pub use reports::{
    Alert, AlertList, AuditEventList, LeakFeedback, LeakLabel, MAX_ALERT_DETAIL, MAX_ALERT_FIELD,
    ReportedToken, Revocation, bounded_text,
};
pub use secret::SecretString;
pub use usage::{
    AuditCursor, Bucket, DEFAULT_USAGE_DAYS, MAX_USAGE_BUCKETS, Usage, UsageRow, usage_start,
};
pub use verify::{
    CONTEXT_HEADERS, CreditsLeft, KEY_HEADER, LimitView, MAX_ACTION_LEN, MAX_IP_LEN,
    MAX_USER_AGENT_LEN, QUERY_PARAMS, VerifyContext, VerifyRequest, VerifyResponse, check_no_body,
    check_no_form_headers, check_no_query,
};
pub use webhooks::{
    CreateWebhook, CreatedWebhook, DEFAULT_OVERLAP_SECONDS, Delivery, DeliveryList, MAX_EVENTS,
    MAX_OVERLAP_SECONDS, RotateWebhookSecret, RotatedWebhookSecret, WebhookEvent, WebhookList,
    WebhookState, WebhookView,
};

use keyward_core::Code;
pub use keyward_core::KeyStatus;
use serde::{Deserialize, Serialize};

/// Every error answer: `{"error": {"code", "message"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The code and sentence of an error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ErrorDetail {
    /// A stable code of the core's table.
    pub code: Code,
    /// A sentence for humans; never holds a secret.
    pub message: String,
}

/// `GET /healthz`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Health {
    /// Always true when answered with 200.
    pub ok: bool,
}

/// A field of a request body that breaks a rule: the field's name and the rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The code to answer with (`invalid_request` unless a more precise one applies).
    pub code: Code,
    /// A sentence naming the field and the rule; never holds the offending value.
    pub message: String,
}

impl FieldError {
    /// An `invalid_request` naming `field` and `rule`.
    pub fn new(field: &str, rule: impl core::fmt::Display) -> Self {
        FieldError {
            code: Code::InvalidRequest,
            message: format!("'{field}' {rule}"),
        }
    }
}

impl core::fmt::Display for FieldError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FieldError {}

/// A list of scopes as asked for: at most [`MAX_SCOPES`](keyward_core::MAX_SCOPES)
/// entries (duplicates included), as the document's `maxItems` says.
///
/// # Errors
/// A [`FieldError`] naming `scopes`.
pub fn check_scope_count(scopes: &[String]) -> Result<(), FieldError> {
    if scopes.len() > keyward_core::MAX_SCOPES {
        return Err(FieldError::new(
            "scopes",
            format!("may list at most {} scopes", keyward_core::MAX_SCOPES),
        ));
    }
    Ok(())
}

/// An environment name as a request gives it: `[a-z][a-z0-9]{0,15}` (whether the
/// deployment has it is checked where that matters).
///
/// # Errors
/// A [`FieldError`] naming `env`.
pub fn check_env_name(env: &str) -> Result<(), FieldError> {
    if keyward_core::is_valid_prefix(env) {
        Ok(())
    } else {
        Err(FieldError::new("env", "must be [a-z][a-z0-9]{0,15}"))
    }
}

/// Checks a text field: 1 to `max` characters, not blank, no control characters and no
/// invisible format characters (bidi controls, zero-width: the core's
/// `text::is_format_char`), which would let one name pass for another on a screen.
///
/// # Errors
/// A [`FieldError`] naming `field`.
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.trim().is_empty() || value.chars().count() > max || value.chars().any(char::is_control)
    {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {max} characters without control characters"),
        ));
    }
    if keyward_core::text::has_format_chars(value) {
        return Err(format_chars(field));
    }
    Ok(())
}

/// The refusal of a field holding an invisible format character.
pub(crate) fn format_chars(field: &str) -> FieldError {
    FieldError::new(
        field,
        "may not hold bidi controls or other invisible format characters (U+202A-U+202E, U+2066-U+2069, zero-width characters, ...)",
    )
}
