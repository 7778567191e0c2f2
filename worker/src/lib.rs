//! keyward at the edge: a Cloudflare Worker that mints, verifies, rotates and revokes API
//! keys (KV), logs every use through a Queue into D1, raises alerts, and can stand in front
//! of an origin as a gateway. The security decisions are `keyward-core`'s.
#![forbid(unsafe_code)]

mod alerts;
mod audit;
mod auth;
mod cache;
mod config;
mod consumer;
mod context;
mod cron;
mod db;
mod gateway;
mod http;
mod keys;
mod leaks;
mod ledger;
mod owners;
mod reports;
mod signature;
mod store;
mod throttle;
mod verify;

use keyward_core::chrono::{DateTime, Utc};
use keyward_core::{AuditEvent, Code};
use worker::{
    Context, Env, MessageBatch, Method, Request, Response, ScheduleContext, ScheduledEvent, event,
};

use crate::config::{Config, KEYS};
use crate::context::Ctx;
use crate::http::{ApiError, ApiResult, json};
use crate::store::Store;

/// The time: the platform's clock, plus the test clock offset a test configuration may set.
fn now() -> DateTime<Utc> {
    let offset = CLOCK_OFFSET_MS.with(std::cell::Cell::get);
    DateTime::from_timestamp_millis(worker::Date::now().as_millis() as i64 + offset)
        .unwrap_or_default()
}

thread_local! {
    static CLOCK_OFFSET_MS: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let config = match Config::get(&env) {
        Ok(c) => c,
        Err(problem) => {
            worker::console_error!("{problem}");
            return Ok(ApiError::new(Code::Unavailable, problem).into_response());
        }
    };
    CLOCK_OFFSET_MS.with(|c| c.set(config.clock_offset_ms));
    let store = match env.kv(KEYS) {
        Ok(kv) => Store::new(kv),
        Err(e) => return Ok(ApiError::unavailable("key storage", e).into_response()),
    };
    let mut c = Ctx {
        config: &config,
        store,
        env: &env,
        now: now(),
        client: audit::Client::of(&req),
        events: Vec::new(),
        alerts: Vec::new(),
    };
    let response = route(&mut c, req)
        .await
        .unwrap_or_else(ApiError::into_response);
    let events: Vec<AuditEvent> = std::mem::take(&mut c.events);
    audit::send(&env, &ctx, events);
    let due = std::mem::take(&mut c.alerts);
    if !due.is_empty()
        && let Ok(db) = env.d1(config::AUDIT_DB)
    {
        let webhook = config.alert_webhook_url.clone();
        ctx.wait_until(async move {
            if let Err(e) = alerts::raise(&db, webhook.as_deref(), due).await {
                worker::console_error!("alerts could not be stored: {e}");
            }
        });
    }
    Ok(response)
}

async fn route(c: &mut Ctx<'_>, req: Request) -> ApiResult {
    let path = req.path();
    let method = req.method();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["healthz"] => match method {
            Method::Get | Method::Head => Ok(json(200, &keyward_api::Health { ok: true })),
            _ => Err(not_allowed("GET")),
        },
        ["v1", "keys"] => match method {
            Method::Post => keys::create(c, req).await,
            Method::Get => keys::list(c, req).await,
            _ => Err(not_allowed("GET, POST")),
        },
        ["v1", "keys", id] => match method {
            Method::Get => keys::show(c, req, id).await,
            Method::Patch => keys::update(c, req, id).await,
            _ => Err(not_allowed("GET, PATCH")),
        },
        ["v1", "keys", id, "credits"] => match method {
            Method::Post => keys::credits(c, req, id).await,
            _ => Err(not_allowed("POST")),
        },
        ["v1", "owners", owner, "limits"] => {
            let owner = http::percent_decode(owner)
                .ok_or_else(|| ApiError::new(Code::NotFound, "no such owner"))?;
            match method {
                Method::Get => owners::get(c, req, &owner).await,
                Method::Put => owners::put(c, req, &owner).await,
                _ => Err(not_allowed("GET, PUT")),
            }
        }
        ["v1", "keys", id, "revoke"] => match method {
            Method::Post => keys::revoke(c, req, id).await,
            _ => Err(not_allowed("POST")),
        },
        ["v1", "keys", id, "rotate"] => match method {
            Method::Post => keys::rotate(c, req, id).await,
            _ => Err(not_allowed("POST")),
        },
        ["v1", "verify"] => match method {
            Method::Post => verify::verify(c, req).await,
            _ => Err(not_allowed("POST")),
        },
        ["v1", "leaks"] => match method {
            Method::Post => leaks::report(c, req).await,
            _ => Err(not_allowed("POST")),
        },
        ["v1", "audit"] => match method {
            Method::Get => reports::audit(c, req).await,
            _ => Err(not_allowed("GET")),
        },
        ["v1", "alerts"] => match method {
            Method::Get => reports::alerts(c, req).await,
            _ => Err(not_allowed("GET")),
        },
        ["v1", ..] => Err(ApiError::new(Code::NotFound, "no such endpoint")),
        _ => match c.config.origin_url.clone() {
            Some(origin) => gateway::forward(c, req, &origin).await,
            None => Err(ApiError::new(Code::NotFound, "no such endpoint")),
        },
    }
}

fn not_allowed(allowed: &str) -> ApiError {
    ApiError::new(
        Code::MethodNotAllowed,
        format!("this endpoint allows {allowed}"),
    )
}

/// One handler for every queue: audit events (and their dead letters) and queued
/// revocations, told apart by their shape. Only this Worker produces these messages; one
/// that cannot be read can never be handled, so it is logged and acknowledged rather than
/// retried forever.
#[event(queue)]
async fn queue(batch: MessageBatch<AuditEvent>, env: Env, ctx: Context) -> worker::Result<()> {
    let mut events = Vec::new();
    let mut jobs = Vec::new();
    for message in batch.raw_iter() {
        let body = message.body();
        let audit = worker::js_sys::Reflect::has(&body, &"event_id".into()).unwrap_or(false);
        let read = if audit {
            serde_wasm_bindgen::from_value::<AuditEvent>(body).map(|e| events.push(e))
        } else {
            serde_wasm_bindgen::from_value::<leaks::RevokeJob>(body).map(|j| jobs.push(j))
        };
        if let Err(e) = read {
            worker::console_error!("unreadable queue message dropped: {e}");
        }
    }
    if !jobs.is_empty() {
        let config = Config::get(&env).map_err(worker::Error::RustError)?;
        let done = leaks::revoke_queued(jobs, &env, &config, now()).await?;
        audit::send(&env, &ctx, done);
    }
    if events.is_empty() {
        return Ok(());
    }
    consumer::handle(events, &env).await
}

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    match cron::run(&env, now()).await {
        Ok(n) => worker::console_log!("daily checks raised {n} new alerts"),
        Err(e) => worker::console_error!("daily checks failed: {e}"),
    }
}
