//! Webhook endpoints: `/v1/webhooks` (stored in D1), and announcing events to them: each
//! event, for each endpoint that receives it (the core's `Bounds::receives`), becomes one
//! message on the webhook queue, delivered by `deliveries`.

use keyward_api::{
    Alert, CreateWebhook, CreatedWebhook, DeliveryList, KeyView, RotateWebhookSecret,
    RotatedWebhookSecret, SecretString, WebhookEvent, WebhookList, WebhookState, WebhookView,
};
use keyward_core::chrono::{DateTime, Utc};
use keyward_core::webhook::{self, Bounds, EventType, WebhookSecret};
use keyward_core::{Code, KeyRecord, Lifecycle, OsRandom, Reads};
use worker::wasm_bindgen::JsValue;
use worker::{Context, D1Database, Env, Request, Response, SendMessage};

use crate::bindings::config::AUDIT_DB;
use crate::bindings::db::timestamp;
use crate::bindings::fields::{self, Builder, Fields, FromFields};
use crate::plumbing::context::{Caller, Ctx};
use crate::plumbing::http::{ApiError, ApiResult, json, read_json, read_optional_json};

/// Queue producer for webhook deliveries.
pub const WEBHOOKS: &str = "WEBHOOKS";
/// The endpoint id of `ALERT_WEBHOOK_URL` in queue messages and delivery records (not of
/// the `wh_` form: no endpoint made through the API has it).
pub const ALERT_WEBHOOK_ID: &str = "alert_webhook";
/// The queue's name (the consumer is told apart by it).
pub const WEBHOOK_QUEUE: &str = "keyward-webhooks";

/// Whether `http://` to loopback addresses is allowed (`make dev` and the tests; never in
/// production).
pub fn allow_loopback_http(env: &Env) -> bool {
    env.var("KEYWARD_WEBHOOK_ALLOW_LOOPBACK_HTTP")
        .is_ok_and(|v| v.to_string() == "true")
}

/// Something to announce: an event type about an owner's key (or the deployment).
#[derive(Clone, Debug)]
pub struct Announcement {
    /// The event type.
    pub kind: EventType,
    /// The key's owner (`None`: about the deployment).
    pub owner: Option<String>,
    /// The key's environment.
    pub env: Option<String>,
    /// The body delivered.
    pub event: WebhookEvent,
}

impl Announcement {
    /// The announcement of a lifecycle action on `record`: its public view, never the key
    /// or its hash.
    pub fn of_action(action: Lifecycle, record: &KeyRecord, now: DateTime<Utc>) -> Self {
        Self::of_key(EventType::of_lifecycle(action), record, now)
    }

    /// An event of `kind` about `record`: its public view, never the key or its hash.
    pub fn of_key(kind: EventType, record: &KeyRecord, now: DateTime<Utc>) -> Self {
        Announcement {
            kind,
            owner: Some(record.owner.clone()),
            env: Some(record.env.clone()),
            event: WebhookEvent {
                kind: kind.as_str().to_owned(),
                timestamp: now,
                data: serde_json::to_value(KeyView::of(record, now)).unwrap_or_default(),
            },
        }
    }

    /// The announcement of a new alert (`credits.low` or `alert.raised`).
    pub fn of_alert(alert: &Alert) -> Self {
        let kind = EventType::of_alert(alert.kind);
        Announcement {
            kind,
            owner: alert.owner.clone(),
            env: alert
                .hint
                .as_deref()
                .and_then(keyward_core::env_of_hint)
                .map(str::to_owned),
            event: WebhookEvent {
                kind: kind.as_str().to_owned(),
                timestamp: alert.time,
                data: serde_json::to_value(alert).unwrap_or_default(),
            },
        }
    }
}

/// One event to one endpoint: the queue message, the same on every attempt but `attempt`.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// The endpoint.
    pub webhook_id: String,
    /// The `webhook-id` header.
    pub message_id: String,
    /// The event type.
    pub event_type: String,
    /// The JSON body, as signed.
    pub body: String,
    /// 1 for the first attempt.
    pub attempt: u32,
}

impl FromFields for Outgoing {
    fn from_fields(f: &Fields) -> worker::Result<Self> {
        Ok(Outgoing {
            webhook_id: f.str("webhook_id")?,
            message_id: f.str("message_id")?,
            event_type: f.str("event_type")?,
            body: f.str("body")?,
            attempt: f.u32("attempt")?,
        })
    }
}

impl Outgoing {
    /// The queue message, sent `delay_seconds` later if given: its fields as the webhook
    /// queue's consumer reads them.
    pub fn message(&self, delay_seconds: Option<u32>) -> SendMessage<JsValue> {
        Builder::new()
            .str("webhook_id", &self.webhook_id)
            .str("message_id", &self.message_id)
            .str("event_type", &self.event_type)
            .str("body", &self.body)
            .num("attempt", self.attempt.into())
            .message(delay_seconds)
    }
}

#[derive(Debug)]
struct Row {
    id: String,
    url: String,
    events: String,
    owner: Option<String>,
    env: Option<String>,
    created_at: String,
    failing_since: Option<String>,
}

impl FromFields for Row {
    fn from_fields(f: &Fields) -> worker::Result<Self> {
        Ok(Row {
            id: f.str("id")?,
            url: f.str("url")?,
            events: f.str("events")?,
            owner: f.opt_str("owner")?,
            env: f.opt_str("env")?,
            created_at: f.str("created_at")?,
            failing_since: f.opt_str("failing_since")?,
        })
    }
}

impl Row {
    fn events(&self) -> Vec<EventType> {
        keyward_core::json::from_str::<Vec<String>>(&self.events)
            .unwrap_or_default()
            .iter()
            .filter_map(|n| EventType::parse(n))
            .collect()
    }

    fn bounds(&self) -> Bounds<'_> {
        Bounds {
            owner: self.owner.as_deref(),
            env: self.env.as_deref(),
        }
    }

    fn view(self) -> WebhookView {
        let time = |s: &str| keyward_core::time::parse_rfc3339(s).unwrap_or_default();
        let failing_since = self.failing_since.as_deref().map(time);
        WebhookView {
            events: self
                .events()
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect(),
            id: self.id,
            url: self.url,
            owner: self.owner,
            env: self.env,
            state: if failing_since.is_some() {
                WebhookState::Failing
            } else {
                WebhookState::Active
            },
            failing_since,
            created_at: time(&self.created_at),
        }
    }
}

const COLUMNS: &str = "id, url, events, owner, env, created_at, failing_since";

fn db(env: &Env) -> Result<D1Database, ApiError> {
    env.d1(AUDIT_DB)
        .map_err(|e| ApiError::unavailable("webhook storage", e))
}

fn opt(v: Option<&str>) -> JsValue {
    v.map_or(JsValue::NULL, JsValue::from_str)
}

/// `POST /v1/webhooks`
pub async fn create(ctx: &mut Ctx<'_>, mut req: Request, caller: Caller) -> ApiResult {
    let body: CreateWebhook = read_json(&mut req).await?;
    let events = body.validate()?;
    if let Some(env) = &body.env {
        ctx.config
            .environments
            .check(env)
            .map_err(|e| ApiError::new(e.code(), e.to_string()))?;
    }
    webhook::check_url(&body.url, allow_loopback_http(ctx.env))
        .map_err(|e| ApiError::new(Code::InvalidRequest, format!("'url' {e}")))?;
    let actor = caller.actor();
    let bounds = actor.webhook_bounds(Bounds {
        owner: body.owner.as_deref(),
        env: body.env.as_deref(),
    })?;
    let id = webhook::new_endpoint_id(&mut OsRandom)
        .map_err(|e| ApiError::unavailable("id generation", e))?;
    let secret = WebhookSecret::generate(&mut OsRandom)
        .map_err(|e| ApiError::unavailable("secret generation", e))?;
    let names: Vec<&str> = events.iter().map(|t| t.as_str()).collect();
    let row = Row {
        id: id.clone(),
        url: body.url.clone(),
        events: serde_json::to_string(&names).unwrap_or_default(),
        owner: bounds.owner.map(str::to_owned),
        env: bounds.env.map(str::to_owned),
        created_at: timestamp(ctx.now),
        failing_since: None,
    };
    db(ctx.env)?
        .prepare(
            "INSERT INTO webhooks (id, url, events, owner, env, secret, created_by, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(&[
            JsValue::from_str(&row.id),
            JsValue::from_str(&row.url),
            JsValue::from_str(&row.events),
            opt(row.owner.as_deref()),
            opt(row.env.as_deref()),
            JsValue::from_str(&secret.expose()),
            JsValue::from_str(&caller.id),
            JsValue::from_str(&row.created_at),
        ])?
        .run()
        .await?;
    Ok(json(
        201,
        &CreatedWebhook {
            id,
            secret: SecretString::new(secret.expose()),
            webhook: row.view(),
        },
    ))
}

/// `GET /v1/webhooks`: a bounded key sees its own owner's and environment's only.
pub async fn list(ctx: &mut Ctx<'_>, req: Request, caller: Caller) -> ApiResult {
    crate::plumbing::http::Query::of(&req, &[])?;
    let actor = caller.actor();
    let db = db(ctx.env)?;
    let statement = match actor.reads(None, None)? {
        Reads {
            owner: Some(owner),
            env: Some(env),
        } => db
            .prepare(format!(
                "SELECT {COLUMNS} FROM webhooks WHERE owner = ?1 AND env = ?2 \
                 ORDER BY created_at DESC LIMIT 100"
            ))
            .bind(&[JsValue::from_str(owner), JsValue::from_str(env)])?,
        Reads {
            owner: None,
            env: None,
        } => db.prepare(format!(
            "SELECT {COLUMNS} FROM webhooks ORDER BY created_at DESC LIMIT 100"
        )),
        // Asked for nothing, a read is confined to both or to neither.
        Reads { .. } => return Err(ApiError::code(Code::Internal)),
    };
    let rows: Vec<Row> = fields::all(statement).await?;
    Ok(json(
        200,
        &WebhookList {
            webhooks: rows.into_iter().map(Row::view).collect(),
        },
    ))
}

/// The endpoint `id`, if the caller may manage it.
async fn load(ctx: &Ctx<'_>, caller: &Caller, id: &str) -> Result<Row, ApiError> {
    let not_found = || ApiError::new(Code::NotFound, "no webhook endpoint has this id");
    if !webhook::is_endpoint_id(id) {
        return Err(not_found());
    }
    let row = fields::first::<Row>(
        db(ctx.env)?
            .prepare(format!("SELECT {COLUMNS} FROM webhooks WHERE id = ?1"))
            .bind(&[JsValue::from_str(id)])?,
    )
    .await?
    .ok_or_else(not_found)?;
    caller.actor().may_manage_webhook(row.bounds())?;
    Ok(row)
}

/// `GET /v1/webhooks/{webhook_id}`
pub async fn show(ctx: &mut Ctx<'_>, caller: Caller, id: &str) -> ApiResult {
    let row = load(ctx, &caller, id).await?;
    Ok(json(200, &row.view()))
}

/// `DELETE /v1/webhooks/{webhook_id}`: queued deliveries to it are dropped.
pub async fn delete(ctx: &mut Ctx<'_>, caller: Caller, id: &str) -> ApiResult {
    let row = load(ctx, &caller, id).await?;
    db(ctx.env)?
        .prepare("DELETE FROM webhooks WHERE id = ?1")
        .bind(&[JsValue::from_str(&row.id)])?
        .run()
        .await?;
    Ok(Response::empty()?.with_status(204))
}

/// `GET /v1/webhooks/{webhook_id}/deliveries`
pub async fn deliveries(ctx: &mut Ctx<'_>, req: Request, caller: Caller, id: &str) -> ApiResult {
    crate::plumbing::http::Query::of(&req, &[])?;
    let row = load(ctx, &caller, id).await?;
    let deliveries = crate::jobs::deliveries::recent(&db(ctx.env)?, &row.id).await?;
    Ok(json(200, &DeliveryList { deliveries }))
}

/// `POST /v1/webhooks/{webhook_id}/rotate-secret`: a new secret, answered once; the old
/// one keeps signing (beside the new) until the overlap ends, so a receiver that knows
/// either verifies every delivery meanwhile.
pub async fn rotate_secret(
    ctx: &mut Ctx<'_>,
    mut req: Request,
    caller: Caller,
    id: &str,
) -> ApiResult {
    let body: RotateWebhookSecret = read_optional_json(&mut req).await?;
    let overlap = body.overlap_seconds()?;
    let row = load(ctx, &caller, id).await?;
    let secret = WebhookSecret::generate(&mut OsRandom)
        .map_err(|e| ApiError::unavailable("secret generation", e))?;
    let until = (overlap > 0)
        .then(|| {
            ctx.now
                .checked_add_signed(keyward_core::chrono::Duration::seconds(overlap))
        })
        .flatten();
    ctx.still_acting(&caller).await?;
    // SQLite reads every right-hand side from the row before the update: the previous
    // secret is the one being replaced.
    db(ctx.env)?
        .prepare(
            "UPDATE webhooks SET previous_secret = CASE WHEN ?3 IS NULL THEN NULL ELSE secret END, \
             previous_until = ?3, secret = ?2 WHERE id = ?1",
        )
        .bind(&[
            JsValue::from_str(&row.id),
            JsValue::from_str(&secret.expose()),
            opt(until.map(timestamp).as_deref()),
        ])?
        .run()
        .await?;
    Ok(json(
        200,
        &RotatedWebhookSecret {
            id: row.id,
            secret: SecretString::new(secret.expose()),
            previous_expires_at: until,
        },
    ))
}

/// The endpoints that receive `a`: those made through the API, and `ALERT_WEBHOOK_URL`'s
/// for every alert (`alert.raised`, `credits.low`).
async fn receivers(env: &Env, db: &D1Database, a: &Announcement) -> worker::Result<Vec<String>> {
    let rows: Vec<Row> = fields::all(
        db.prepare(format!(
            "SELECT {COLUMNS} FROM webhooks WHERE owner IS NULL OR owner = ?1"
        ))
        .bind(&[opt(a.owner.as_deref())])?,
    )
    .await?;
    let mut ids: Vec<String> = rows
        .into_iter()
        .filter(|r| {
            r.bounds()
                .receives(&r.events(), a.kind, a.owner.as_deref(), a.env.as_deref())
        })
        .map(|r| r.id)
        .collect();
    let alert = matches!(a.kind, EventType::AlertRaised | EventType::CreditsLow);
    if alert && crate::bindings::config::Config::get(env).is_ok_and(|c| c.alert_webhook.is_some()) {
        ids.push(ALERT_WEBHOOK_ID.to_owned());
    }
    Ok(ids)
}

/// Queues `announcements` for every endpoint that receives them.
///
/// # Errors
/// D1 or the queue; what was queued before stays queued.
pub async fn announce(env: &Env, announcements: Vec<Announcement>) -> worker::Result<()> {
    if announcements.is_empty() {
        return Ok(());
    }
    let db = env.d1(AUDIT_DB)?;
    let queue = env.queue(WEBHOOKS)?;
    for a in announcements {
        let body = serde_json::to_string(&a.event)?;
        for webhook_id in receivers(env, &db, &a).await? {
            let message_id = webhook::new_message_id(&mut OsRandom)
                .map_err(|e| worker::Error::RustError(e.to_string()))?;
            let out = Outgoing {
                webhook_id,
                message_id,
                event_type: a.kind.as_str().to_owned(),
                body: body.clone(),
                attempt: 1,
            };
            queue.send_raw(out.message(None)).await?;
        }
    }
    Ok(())
}

/// Announces after the response (`wait_until`); failures are logged.
pub fn announce_later(env: &Env, ctx: &Context, announcements: Vec<Announcement>) {
    if announcements.is_empty() {
        return;
    }
    let env = env.clone();
    ctx.wait_until(async move {
        if let Err(e) = announce(&env, announcements).await {
            worker::console_error!("webhook events could not be queued: {e}");
        }
    });
}

/// Announces new alerts (where they are raised, after they were stored).
pub async fn announce_alerts(env: &Env, alerts: &[Alert]) {
    let announcements = alerts.iter().map(Announcement::of_alert).collect();
    if let Err(e) = announce(env, announcements).await {
        worker::console_error!("alert webhook events could not be queued: {e}");
    }
}

/// Announces `key.expiring` for each of `records` (keys the daily cron found expiring),
/// once per key and expiry: a notice row is written first, and only a key whose row is new
/// is announced (its row is removed again if the event could not be queued, so that the
/// next run tries again). Returns how many were announced.
///
/// # Errors
/// D1.
pub async fn announce_expiring(
    env: &Env,
    db: &D1Database,
    records: &[KeyRecord],
    now: DateTime<Utc>,
) -> worker::Result<usize> {
    let mut announced = 0;
    for r in records {
        let Some(expires_at) = r.expires_at else {
            continue;
        };
        let key = [
            JsValue::from_str(r.id.as_str()),
            JsValue::from_str(&timestamp(expires_at)),
        ];
        let insert = db
            .prepare(
                "INSERT OR IGNORE INTO expiring_notices (key_id, expires_at, announced_at) \
                 VALUES (?1, ?2, ?3)",
            )
            .bind(&[
                key[0].clone(),
                key[1].clone(),
                JsValue::from_str(&timestamp(now)),
            ])?;
        if !crate::bindings::platform::all(&insert).await?.changed() {
            continue;
        }
        let a = Announcement::of_key(EventType::KeyExpiring, r, now);
        match announce(env, vec![a]).await {
            Ok(()) => announced += 1,
            Err(e) => {
                worker::console_error!("key.expiring could not be queued: {e}");
                db.prepare("DELETE FROM expiring_notices WHERE key_id = ?1 AND expires_at = ?2")
                    .bind(&key)?
                    .run()
                    .await?;
            }
        }
    }
    Ok(announced)
}
