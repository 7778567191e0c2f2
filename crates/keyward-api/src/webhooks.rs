//! Webhook endpoints, their deliveries, and the events they receive.

use keyward_core::chrono::{DateTime, Utc};
use keyward_core::webhook::EventType;
use serde::{Deserialize, Serialize};

use crate::{FieldError, SecretString, check_env_name, check_owner};

/// The most event types one endpoint lists.
pub const MAX_EVENTS: usize = 7;

/// `POST /v1/webhooks`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where events are POSTed: `https://` (`http://` to a loopback address only where
    /// the deployment sets `KEYWARD_WEBHOOK_ALLOW_LOOPBACK_HTTP=true`).
    #[cfg_attr(feature = "openapi", schemars(length(min = 1, max = keyward_core::webhook::MAX_URL_LEN), regex(pattern = crate::schema::HTTPS_URL)))]
    pub url: String,
    /// The event types to receive (at least one).
    #[cfg_attr(
        feature = "openapi",
        schemars(length(min = 1, max = MAX_EVENTS), with = "Vec<EventName>", extend("uniqueItems" = true))
    )]
    pub events: Vec<String>,
    /// Only this owner's events. Default: every owner's (root and `admin`), the caller's
    /// own (any other key, which may not name another).
    #[cfg_attr(feature = "openapi", schemars(length(min = 1, max = 128), regex(pattern = crate::schema::OWNER_NAME)))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Only events of keys of this environment. Default as for `owner`.
    #[cfg_attr(
        feature = "openapi",
        schemars(with = "Option<crate::schema::DeclaredEnvironment>")
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
}

/// An event type's name.
#[cfg(feature = "openapi")]
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
#[schemars(rename = "EventName")]
enum EventName {
    #[serde(rename = "key.created")]
    KeyCreated,
    #[serde(rename = "key.updated")]
    KeyUpdated,
    #[serde(rename = "key.rotated")]
    KeyRotated,
    #[serde(rename = "key.revoked")]
    KeyRevoked,
    #[serde(rename = "key.expiring")]
    KeyExpiring,
    #[serde(rename = "credits.low")]
    CreditsLow,
    #[serde(rename = "alert.raised")]
    AlertRaised,
}

impl CreateWebhook {
    /// The event types, each known, none twice.
    ///
    /// # Errors
    /// A [`FieldError`] naming the field that breaks a rule.
    pub fn validate(&self) -> Result<Vec<EventType>, FieldError> {
        if let Some(owner) = &self.owner {
            check_owner(owner)?;
        }
        if let Some(env) = &self.env {
            check_env_name(env)?;
        }
        if self.events.is_empty() || self.events.len() > MAX_EVENTS {
            return Err(FieldError::new(
                "events",
                format!("must list 1 to {MAX_EVENTS} event types"),
            ));
        }
        let mut types = Vec::with_capacity(self.events.len());
        for name in &self.events {
            let t = EventType::parse(name).ok_or_else(|| {
                FieldError::new(
                    "events",
                    format!(
                        "may hold only {}",
                        EventType::ALL.map(EventType::as_str).join(", ")
                    ),
                )
            })?;
            if types.contains(&t) {
                return Err(FieldError::new("events", "must not list a type twice"));
            }
            types.push(t);
        }
        Ok(types)
    }
}

/// Whether an endpoint's deliveries arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum WebhookState {
    /// Delivering (or not yet asked to).
    Active,
    /// A delivery failed every attempt of the retry schedule (more than a day); the next
    /// successful delivery makes it active again.
    Failing,
}

/// An endpoint as the API shows it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct WebhookView {
    /// `wh_` and 32 hex digits.
    pub id: String,
    /// Where events are POSTed.
    pub url: String,
    /// The event types it receives.
    pub events: Vec<String>,
    /// Only this owner's events (`null`: every owner's).
    pub owner: Option<String>,
    /// Only this environment's (`null`: every one).
    pub env: Option<String>,
    /// Whether deliveries arrive.
    pub state: WebhookState,
    /// Since when it is failing.
    #[cfg_attr(feature = "openapi", schemars(with = "Option<DateTime<Utc>>"))]
    #[serde(with = "keyward_core::time::rfc3339_option")]
    pub failing_since: Option<DateTime<Utc>>,
    /// When it was made.
    #[cfg_attr(feature = "openapi", schemars(with = "DateTime<Utc>"))]
    #[serde(with = "keyward_core::time::rfc3339")]
    pub created_at: DateTime<Utc>,
}

/// `201` to `POST /v1/webhooks`: the endpoint and its signing secret, shown this once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CreatedWebhook {
    /// The endpoint's id.
    pub id: String,
    /// `whsec_` and the base64 of 32 random bytes: verify deliveries with it (any
    /// Standard Webhooks library). Shown once.
    #[cfg_attr(feature = "openapi", schemars(with = "String"))]
    pub secret: SecretString,
    /// The endpoint.
    pub webhook: WebhookView,
}

/// Longest overlap of a secret rotation: 7 days.
pub const MAX_OVERLAP_SECONDS: i64 = 7 * 86_400;
/// The overlap of a secret rotation when none is asked: 24 hours.
pub const DEFAULT_OVERLAP_SECONDS: i64 = 86_400;

/// `POST /v1/webhooks/{webhook_id}/rotate-secret`. The body is optional.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateWebhookSecret {
    /// How long deliveries are signed with the old secret too, in seconds: 0 to
    /// [`MAX_OVERLAP_SECONDS`] (7 days); default [`DEFAULT_OVERLAP_SECONDS`] (24 hours).
    #[cfg_attr(feature = "openapi", schemars(range(min = 0, max = MAX_OVERLAP_SECONDS)))]
    #[serde(deserialize_with = "keyward_core::whole::optional")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap_seconds: Option<i64>,
}

impl RotateWebhookSecret {
    /// The overlap in seconds.
    ///
    /// # Errors
    /// An overlap out of range.
    pub fn overlap_seconds(&self) -> Result<i64, FieldError> {
        match self.overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECONDS) {
            s @ 0..=MAX_OVERLAP_SECONDS => Ok(s),
            _ => Err(FieldError::new(
                "overlap_seconds",
                format!("must be 0 to {MAX_OVERLAP_SECONDS} (7 days)"),
            )),
        }
    }
}

/// `200` to `POST /v1/webhooks/{webhook_id}/rotate-secret`: the new secret, shown this
/// once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RotatedWebhookSecret {
    /// The endpoint's id.
    pub id: String,
    /// The new secret (`whsec_` and the base64 of 32 random bytes). Shown once.
    #[cfg_attr(feature = "openapi", schemars(with = "String"))]
    pub secret: SecretString,
    /// Until when deliveries are signed with the previous secret too (both signatures in
    /// `webhook-signature`); `null`: no overlap, the previous secret signs nothing more.
    #[cfg_attr(feature = "openapi", schemars(with = "Option<DateTime<Utc>>"))]
    #[serde(with = "keyward_core::time::rfc3339_option")]
    pub previous_expires_at: Option<DateTime<Utc>>,
}

/// `GET /v1/webhooks`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct WebhookList {
    /// The endpoints the caller may manage, newest first (at most 100).
    pub webhooks: Vec<WebhookView>,
}

/// One delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Delivery {
    /// The `webhook-id` the receiver saw: the same on every attempt of one event.
    pub message_id: String,
    /// The event type.
    pub event_type: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When it was made.
    #[cfg_attr(feature = "openapi", schemars(with = "DateTime<Utc>"))]
    #[serde(with = "keyward_core::time::rfc3339")]
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status (`null`: no answer).
    pub status: Option<u16>,
    /// How long it took, in ms.
    pub latency_ms: u32,
    /// Why it failed (`null`: delivered).
    pub error: Option<String>,
}

/// `GET /v1/webhooks/{id}/deliveries`: attempts, newest first (at most 100).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct DeliveryList {
    /// The attempts.
    pub deliveries: Vec<Delivery>,
}

/// The body every delivery POSTs: `{type, timestamp, data}`. `data` is the key's public
/// view (a [`KeyView`](crate::KeyView)) or the [`Alert`](crate::Alert); never a key or
/// its hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// The event type, e.g. `key.revoked`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened.
    #[serde(with = "keyward_core::time::rfc3339")]
    pub timestamp: DateTime<Utc>,
    /// What it is about.
    pub data: serde_json::Value,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn body(events: &[&str]) -> CreateWebhook {
        CreateWebhook {
            url: "https://example.com/h".into(),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            owner: None,
            env: None,
        }
    }

    #[test]
    fn events_are_known_listed_once_and_at_least_one() {
        assert_eq!(
            body(&["key.revoked", "alert.raised"]).validate().unwrap(),
            [EventType::KeyRevoked, EventType::AlertRaised]
        );
        for bad in [&[][..], &["key.*"], &["key.created", "key.created"]] {
            assert!(body(bad).validate().is_err(), "{bad:?}");
        }
        let mut b = body(&["key.created"]);
        b.owner = Some(" ".into());
        assert!(b.validate().is_err());
        let mut b = body(&["key.created"]);
        b.env = Some("LIVE".into());
        assert!(b.validate().is_err());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r: Result<CreateWebhook, _> =
            serde_json::from_str(r#"{"url":"https://x","events":["key.created"],"secret":"x"}"#);
        assert!(r.is_err());
    }
}
