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
    /// A key outside the reporting key's owner and environment (and the reporter does not
    /// hold `admin`): left alone. A signed report, the root key or an `admin` key revokes
    /// it.
    NotPermitted,
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

/// The most characters an alert's `detail` holds; a longer one is cut, ending in `…`.
pub const MAX_ALERT_DETAIL: usize = 2048;
/// The most characters any other text field of an alert holds.
pub const MAX_ALERT_FIELD: usize = 256;

/// `s` cut to at most `max` characters (the last one `…` when cut), with invisible
/// format characters escaped: what an alert may carry to D1, a webhook and a screen.
pub fn bounded_text(s: &str, max: usize) -> String {
    let s = keyward_core::text::escape_format_chars(s);
    if s.chars().count() <= max {
        return s;
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn bounded_opt(s: Option<&str>) -> Option<String> {
    s.map(|s| bounded_text(s, MAX_ALERT_FIELD))
}

impl Alert {
    /// A new alert of `kind` with a deterministic `alert_id`; every field is bounded
    /// ([`MAX_ALERT_DETAIL`], [`MAX_ALERT_FIELD`]), whatever a report or a request put in.
    pub fn new(kind: AlertKind, alert_id: String, detail: String, time: DateTime<Utc>) -> Self {
        Alert {
            alert_id: bounded_text(&alert_id, MAX_ALERT_FIELD),
            kind,
            severity: kind.severity(),
            key_id: None,
            hint: None,
            owner: None,
            event_id: None,
            detail: bounded_text(&detail, MAX_ALERT_DETAIL),
            time,
        }
    }

    /// The alert concerns `record`'s key.
    pub fn for_key(mut self, record: &keyward_core::KeyRecord) -> Self {
        self.key_id = bounded_opt(Some(record.id.as_str()));
        self.hint = bounded_opt(Some(&record.hint));
        self.owner = bounded_opt(Some(&record.owner));
        self
    }

    /// The alert was fired by `event` (its key, hint, owner and id).
    pub fn for_event(mut self, event: &AuditEvent) -> Self {
        self.key_id = bounded_opt(event.key_id.as_deref());
        self.hint = bounded_opt(event.hint.as_deref());
        self.owner = bounded_opt(event.owner.as_deref());
        self.event_id = bounded_opt(Some(&event.event_id));
        self
    }
}

#[cfg(test)]
mod alert_bounds {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_field_of_an_alert_is_bounded() {
        let huge = "u".repeat(900_000);
        let t = keyward_core::time::parse_rfc3339("2026-06-01T00:00:00Z").unwrap();
        let a = Alert::new(AlertKind::Leaked, huge.clone(), huge.clone(), t);
        assert_eq!(a.detail.chars().count(), MAX_ALERT_DETAIL);
        assert!(a.detail.ends_with('…'));
        assert_eq!(a.alert_id.chars().count(), MAX_ALERT_FIELD);
        let event = AuditEvent {
            event_id: huge.clone(),
            key_id: Some(huge.clone()),
            hint: Some(huge.clone()),
            owner: Some(huge.clone()),
            actor: None,
            action: "GET /".into(),
            ip: None,
            country: None,
            user_agent: None,
            time: t,
            outcome: keyward_core::Code::Revoked,
            status: None,
        };
        let a = a.for_event(&event);
        for f in [&a.key_id, &a.hint, &a.owner, &a.event_id] {
            assert_eq!(f.as_ref().unwrap().chars().count(), MAX_ALERT_FIELD);
        }
        assert!(serde_json::to_string(&a).unwrap().len() < 8 * 1024);
        // Short text is kept as it is, format characters escaped.
        assert_eq!(bounded_text("at x", 10), "at x");
        assert_eq!(bounded_text("a\u{202E}b", 20), "a\\u{202E}b");
    }
}
