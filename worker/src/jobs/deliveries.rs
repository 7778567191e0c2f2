//! Delivering queued webhook events: signed (Standard Webhooks), one POST with a 10 s
//! timeout and no redirects followed, each attempt recorded; a failed attempt is queued
//! again after the core's retry schedule, with the same `webhook-id`; when the schedule
//! is exhausted the endpoint is marked failing.

use keyward_api::Delivery;
use keyward_core::webhook::{self, WebhookSecret};
use worker::wasm_bindgen::JsValue;
use worker::{AbortSignal, D1Database, Env, Fetch, Headers, MessageBatch, MessageExt};

use crate::bindings::config::AUDIT_DB;
use crate::bindings::db::timestamp;
use crate::bindings::fields::{self, Fields, FromFields};
use crate::bindings::platform;
use crate::endpoints::webhooks::{ALERT_WEBHOOK_ID, Outgoing, WEBHOOKS};

/// The wait before the retry after `attempt`: the core's schedule, or every wait
/// replaced by `KEYWARD_TEST_WEBHOOK_RETRY_SECONDS` (0 to 60; tests only).
fn retry_delay(env: &Env, attempt: u32) -> Option<u32> {
    let delay = webhook::retry_delay(attempt)?;
    let test = env
        .var("KEYWARD_TEST_WEBHOOK_RETRY_SECONDS")
        .ok()
        .and_then(|v| v.to_string().parse::<u32>().ok())
        .filter(|s| *s <= 60);
    Some(test.unwrap_or(delay))
}

struct Target {
    url: String,
    secret: String,
    /// The secret before a rotation, and until when it signs too.
    previous_secret: Option<String>,
    previous_until: Option<String>,
}

impl FromFields for Target {
    fn from_fields(f: &Fields) -> worker::Result<Self> {
        Ok(Target {
            url: f.str("url")?,
            secret: f.str("secret")?,
            previous_secret: f.opt_str("previous_secret")?,
            previous_until: f.opt_str("previous_until")?,
        })
    }
}

impl Target {
    /// The secrets that sign an attempt at `now`: the current one, and the previous one
    /// during a rotation's overlap.
    fn secrets(
        &self,
        now: keyward_core::chrono::DateTime<keyward_core::chrono::Utc>,
    ) -> Result<Vec<WebhookSecret>, String> {
        let mut secrets = vec![WebhookSecret::parse(&self.secret).map_err(|e| e.to_string())?];
        let overlapping = self
            .previous_until
            .as_deref()
            .and_then(|t| keyward_core::time::parse_rfc3339(t).ok())
            .is_some_and(|until| now < until);
        if let (true, Some(previous)) = (overlapping, &self.previous_secret) {
            secrets.push(WebhookSecret::parse(previous).map_err(|e| e.to_string())?);
        }
        Ok(secrets)
    }
}

/// What one attempt came to.
struct Attempt {
    status: Option<u16>,
    latency_ms: u32,
    error: Option<String>,
}

fn now_ms() -> f64 {
    worker::Date::now().as_millis() as f64
}

/// The time on the configured clock, or a fault (the attempt is then retried by the queue).
fn clock(env: &Env) -> worker::Result<keyward_core::chrono::DateTime<keyward_core::chrono::Utc>> {
    let config = crate::bindings::config::Config::get(env).map_err(worker::Error::RustError)?;
    crate::now(&config).ok_or_else(|| worker::Error::RustError("the clock cannot be read".into()))
}

async fn post(
    target: &Target,
    out: &Outgoing,
    now: keyward_core::chrono::DateTime<keyward_core::chrono::Utc>,
) -> Attempt {
    let at = now.timestamp();
    let started = now_ms();
    let done = |status: Option<u16>, error: Option<String>| Attempt {
        status,
        latency_ms: (now_ms() - started).max(0.0) as u32,
        error,
    };
    let secrets = match target.secrets(now) {
        Ok(s) => s,
        Err(e) => return done(None, Some(e)),
    };
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    let _ = headers.set("user-agent", "keyward-webhooks");
    let _ = headers.set("webhook-id", &out.message_id);
    let _ = headers.set("webhook-timestamp", &at.to_string());
    let _ = headers.set(
        "webhook-signature",
        &webhook::signature_header(&secrets, &out.message_id, at, &out.body),
    );
    let body = JsValue::from_str(&out.body);
    let req = match platform::request(&target.url, "POST", Some(&headers), Some(&body), true) {
        Ok(r) => r,
        Err(e) => return done(None, Some(format!("the request could not be made: {e}"))),
    };
    let signal = AbortSignal::from(worker::web_sys::AbortSignal::timeout_with_u32(
        webhook::TIMEOUT_SECONDS * 1000,
    ));
    match Fetch::Request(req).send_with_signal(&signal).await {
        Ok(r) => {
            let status = r.status_code();
            if webhook::delivered(status) {
                done(Some(status), None)
            } else if (300..400).contains(&status) {
                done(
                    Some(status),
                    Some(format!("redirect not followed ({status})")),
                )
            } else {
                done(Some(status), Some(format!("answered {status}")))
            }
        }
        Err(_) if signal.aborted() => done(
            None,
            Some(format!("no answer within {} s", webhook::TIMEOUT_SECONDS)),
        ),
        Err(e) => done(None, Some(format!("could not connect: {e}"))),
    }
}

async fn record(env: &Env, db: &D1Database, out: &Outgoing, a: &Attempt) -> worker::Result<()> {
    db.prepare(
        "INSERT OR IGNORE INTO webhook_deliveries \
         (message_id, attempt, webhook_id, event_type, at, status, latency_ms, error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .bind(&[
        JsValue::from_str(&out.message_id),
        JsValue::from(out.attempt),
        JsValue::from_str(&out.webhook_id),
        JsValue::from_str(&out.event_type),
        JsValue::from_str(&timestamp(clock(env)?)),
        a.status.map_or(JsValue::NULL, JsValue::from),
        JsValue::from(a.latency_ms),
        a.error.as_deref().map_or(JsValue::NULL, JsValue::from_str),
    ])?
    .run()
    .await?;
    Ok(())
}

/// Makes one attempt of `out` and queues the next when it fails.
async fn deliver(env: &Env, db: &D1Database, out: Outgoing) -> worker::Result<()> {
    let target = if out.webhook_id == ALERT_WEBHOOK_ID {
        crate::bindings::config::Config::get(env)
            .ok()
            .and_then(|c| c.alert_webhook.clone())
            .map(|a| Target {
                url: a.url.clone(),
                secret: a.secret.expose(),
                previous_secret: None,
                previous_until: None,
            })
    } else {
        fields::first::<Target>(
            db.prepare(
                "SELECT url, secret, previous_secret, previous_until FROM webhooks WHERE id = ?1",
            )
            .bind(&[JsValue::from_str(&out.webhook_id)])?,
        )
        .await?
    };
    // A deleted endpoint (or an alert endpoint no longer configured) gets nothing more.
    let Some(target) = target else { return Ok(()) };
    let attempt = post(&target, &out, clock(env)?).await;
    record(env, db, &out, &attempt).await?;
    if attempt.error.is_none() {
        db.prepare(
            "UPDATE webhooks SET failing_since = NULL WHERE id = ?1 AND failing_since IS NOT NULL",
        )
        .bind(&[JsValue::from_str(&out.webhook_id)])?
        .run()
        .await?;
        return Ok(());
    }
    match retry_delay(env, out.attempt) {
        Some(delay) => {
            let next = Outgoing {
                attempt: out.attempt + 1,
                ..out
            };
            env.queue(WEBHOOKS)?
                .send_raw(next.message(Some(delay)))
                .await?;
        }
        None => {
            db.prepare(
                "UPDATE webhooks SET failing_since = COALESCE(failing_since, ?2) WHERE id = ?1",
            )
            .bind(&[
                JsValue::from_str(&out.webhook_id),
                JsValue::from_str(&timestamp(clock(env)?)),
            ])?
            .run()
            .await?;
        }
    }
    Ok(())
}

/// The webhook queue's consumer: each message is one attempt. A message whose attempt
/// could not be recorded or re-queued is retried by the queue (the same attempt again:
/// its record is not doubled).
pub async fn handle<T>(batch: &MessageBatch<T>, env: &Env) -> worker::Result<()> {
    let db = env.d1(AUDIT_DB)?;
    for message in batch.raw_iter() {
        let out = match Fields::of(message.body()).read::<Outgoing>() {
            Ok(out) => out,
            Err(e) => {
                worker::console_error!("unreadable webhook message dropped: {e}");
                message.ack();
                continue;
            }
        };
        let id = out.message_id.clone();
        match deliver(env, &db, out).await {
            Ok(()) => message.ack(),
            Err(e) => {
                worker::console_error!("webhook delivery {id} will be retried: {e}");
                message.retry();
            }
        }
    }
    Ok(())
}

struct DeliveryRow {
    message_id: String,
    event_type: String,
    attempt: u32,
    at: String,
    status: Option<u16>,
    latency_ms: u32,
    error: Option<String>,
}

impl FromFields for DeliveryRow {
    fn from_fields(f: &Fields) -> worker::Result<Self> {
        Ok(DeliveryRow {
            message_id: f.str("message_id")?,
            event_type: f.str("event_type")?,
            attempt: f.u32("attempt")?,
            at: f.str("at")?,
            status: f.opt_u16("status")?,
            latency_ms: f.u32("latency_ms")?,
            error: f.opt_str("error")?,
        })
    }
}

/// The 100 latest attempts to endpoint `id`, newest first.
///
/// # Errors
/// D1.
pub async fn recent(db: &D1Database, id: &str) -> worker::Result<Vec<Delivery>> {
    let rows: Vec<DeliveryRow> = fields::all(
        db.prepare(
            "SELECT message_id, event_type, attempt, at, status, latency_ms, error \
             FROM webhook_deliveries WHERE webhook_id = ?1 ORDER BY at DESC, attempt DESC LIMIT 100",
        )
        .bind(&[JsValue::from_str(id)])?,
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Delivery {
            at: keyward_core::time::parse_rfc3339(&r.at).unwrap_or_default(),
            message_id: r.message_id,
            event_type: r.event_type,
            attempt: r.attempt,
            status: r.status,
            latency_ms: r.latency_ms,
            error: r.error,
        })
        .collect())
}
