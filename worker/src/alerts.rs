//! Raising alerts: stored in D1 by a deterministic id (never doubled), then the new ones
//! are posted to the webhook and announced to webhook endpoints.

use keyward_api::Alert;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, Env, Fetch, Headers, Method, Request, RequestInit};

/// Stores `alerts` and posts the new ones to `webhook`; returns how many were new.
///
/// # Errors
/// The D1 error; nothing is stored or posted then.
pub async fn raise(
    env: &Env,
    db: &D1Database,
    webhook: Option<&str>,
    alerts: Vec<Alert>,
) -> worker::Result<usize> {
    let new = crate::db::store(db, &[], alerts).await?;
    post(webhook, &new).await;
    crate::webhooks::announce_alerts(env, &new).await;
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
