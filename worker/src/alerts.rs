//! Alerts: stored in D1 by a deterministic id (never doubled), posted to a webhook once.

use keyward_core::AlertKind;
use keyward_core::chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Fetch, Headers, Method, Request, RequestInit};

/// One alert.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alert {
    /// Deterministic id: the same finding always has the same id.
    pub alert_id: String,
    /// What fired, e.g. `revoked_key_used`.
    pub kind: String,
    /// The key concerned.
    pub key_id: Option<String>,
    /// Its hint.
    pub hint: Option<String>,
    /// Its owner.
    pub owner: Option<String>,
    /// The event that fired it, if one did.
    pub event_id: Option<String>,
    /// A sentence for humans.
    pub detail: String,
    /// When.
    pub time: String,
}

/// RFC 3339, UTC, milliseconds: the form stored in D1, which sorts as text.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An optional string as a D1 parameter (NULL when absent).
pub fn opt(v: &Option<String>) -> JsValue {
    v.as_deref().map_or(JsValue::NULL, JsValue::from_str)
}

impl Alert {
    /// A new alert of `kind`.
    pub fn new(kind: AlertKind, alert_id: String, detail: String, time: DateTime<Utc>) -> Self {
        Alert {
            alert_id,
            kind: kind.as_str().to_owned(),
            key_id: None,
            hint: None,
            owner: None,
            event_id: None,
            detail,
            time: timestamp(time),
        }
    }

    /// The alert concerns `record`'s key.
    pub fn for_key(mut self, record: &keyward_core::KeyRecord) -> Self {
        self.key_id = Some(record.id.to_string());
        self.hint = Some(record.hint.clone());
        self.owner = Some(record.owner.clone());
        self
    }

    /// The idempotent insert.
    ///
    /// # Errors
    /// Binding errors.
    pub fn insert(&self, db: &D1Database) -> worker::Result<D1PreparedStatement> {
        db.prepare(
            "INSERT OR IGNORE INTO alerts (alert_id, kind, key_id, hint, owner, event_id, detail, time) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(&[
            JsValue::from_str(&self.alert_id),
            JsValue::from_str(&self.kind),
            opt(&self.key_id),
            opt(&self.hint),
            opt(&self.owner),
            opt(&self.event_id),
            JsValue::from_str(&self.detail),
            JsValue::from_str(&self.time),
        ])
    }
}

/// Stores `alerts` in one transaction; returns those that were new (not stored before).
///
/// # Errors
/// The D1 error; nothing is stored then.
pub async fn store(db: &D1Database, alerts: Vec<Alert>) -> worker::Result<Vec<Alert>> {
    if alerts.is_empty() {
        return Ok(alerts);
    }
    let statements = alerts
        .iter()
        .map(|a| a.insert(db))
        .collect::<worker::Result<Vec<_>>>()?;
    let results = db.batch(statements).await?;
    Ok(alerts
        .into_iter()
        .zip(results)
        .filter(|(_, r)| r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0) > 0)
        .map(|(a, _)| a)
        .collect())
}

/// Stores `alerts` and posts the new ones to `webhook`; returns how many were new.
///
/// # Errors
/// The D1 error; nothing is stored or posted then.
pub async fn raise(
    db: &D1Database,
    webhook: Option<&str>,
    alerts: Vec<Alert>,
) -> worker::Result<usize> {
    let new = store(db, alerts).await?;
    post(webhook, &new).await;
    Ok(new.len())
}

/// Posts each alert as JSON to `url`. Best effort: failures are logged; alerts stay in D1.
pub async fn post(url: Option<&str>, alerts: &[Alert]) {
    let Some(url) = url else { return };
    for alert in alerts {
        let Ok(body) = serde_json::to_string(alert) else {
            continue;
        };
        let headers = Headers::new();
        let _ = headers.set("content-type", "application/json");
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(JsValue::from_str(&body)));
        let sent = match Request::new_with_init(url, &init) {
            Ok(req) => Fetch::Request(req).send().await.map(|r| r.status_code()),
            Err(e) => Err(e),
        };
        match sent {
            Ok(s) if (200..300).contains(&s) => {}
            Ok(s) => worker::console_error!("alert webhook answered {s} for {}", alert.alert_id),
            Err(e) => worker::console_error!("alert webhook failed for {}: {e}", alert.alert_id),
        }
    }
}
