//! The audit trail, alerts and leak reports.

use keyward_core::chrono::{DateTime, Utc};
use keyward_core::{AlertKind, AuditEvent, Severity};
use serde::{Deserialize, Serialize};

use crate::SecretString;

/// `GET /v1/audit`: events, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct AuditEventList {
    /// The events.
    pub events: Vec<AuditEvent>,
    /// A full page's last position: pass it as `before` for the next (older) page;
    /// `null` when the page was not full (there is nothing older).
    #[serde(default)]
    pub cursor: Option<String>,
}

/// One alert: stored with a deterministic id (never doubled) and posted to the webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Alert {
    /// Deterministic id: the same finding always has the same id.
    pub alert_id: String,
    /// What fired.
    pub kind: AlertKind,
    /// How urgent it is (from its kind).
    pub severity: Severity,
    /// The key concerned.
    pub key_id: Option<String>,
    /// Its hint.
    pub hint: Option<String>,
    /// Its owner.
    pub owner: Option<String>,
    /// The event that fired it, if one did.
    pub event_id: Option<String>,
    /// A sentence for people.
    pub detail: String,
    /// When.
    #[cfg_attr(feature = "openapi", schemars(with = "DateTime<Utc>"))]
    #[serde(with = "keyward_core::time::rfc3339")]
    pub time: DateTime<Utc>,
}

/// `GET /v1/alerts`: alerts, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct AlertList {
    /// The alerts.
    pub alerts: Vec<Alert>,
}

/// One token of a leak report, in GitHub's secret scanning partner format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ReportedToken {
    /// The leaked string.
    pub token: SecretString,
    /// The token type the reporter matched.
    #[serde(rename = "type")]
    pub token_type: String,
    /// Where it was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// What kind of place (`content`, `commit`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Whether a reported token was one of this deployment's keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum LeakLabel {
    /// A live or revoked key of this deployment (now revoked).
    TruePositive,
    /// Not a key of this deployment.
    FalsePositive,
}

/// What became of a reported key (keyward's addition to GitHub's feedback format).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Revocation {
    /// Revoked by this report.
    Revoked,
    /// It was revoked before.
    AlreadyRevoked,
    /// More keys than one request may revoke: this one is revoked by the revocation
    /// queue, within seconds.
    Queued,
    /// The deployment's root key: it cannot be revoked, it must be replaced.
    ReplaceRootKey,
}

/// GitHub's feedback format, one per reported token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct LeakFeedback {
    /// SHA-256 of the token, lowercase hex.
    pub token_hash: String,
    /// The type as reported.
    pub token_type: String,
    /// The verdict.
    pub label: LeakLabel,
    /// For a key of this deployment: what became of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<Revocation>,
}

impl Alert {
    /// A new alert of `kind` with a deterministic `alert_id`.
    pub fn new(kind: AlertKind, alert_id: String, detail: String, time: DateTime<Utc>) -> Self {
        Alert {
            alert_id,
            kind,
            severity: kind.severity(),
            key_id: None,
            hint: None,
            owner: None,
            event_id: None,
            detail,
            time,
        }
    }

    /// The alert concerns `record`'s key.
    pub fn for_key(mut self, record: &keyward_core::KeyRecord) -> Self {
        self.key_id = Some(record.id.to_string());
        self.hint = Some(record.hint.clone());
        self.owner = Some(record.owner.clone());
        self
    }

    /// The alert was fired by `event` (its key, hint, owner and id).
    pub fn for_event(mut self, event: &AuditEvent) -> Self {
        self.key_id = event.key_id.clone();
        self.hint = event.hint.clone();
        self.owner = event.owner.clone();
        self.event_id = Some(event.event_id.clone());
        self
    }
}
