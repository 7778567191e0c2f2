//! keyward at the edge: a Cloudflare Worker that mints, verifies, rotates and revokes API
//! keys (KV), logs every use through a Queue into D1, raises alerts, and can stand in front
//! of an origin as a gateway. The security decisions are `keyward-core`'s.
//!
//! It is built twice from this crate. The full build (the default feature `control`) is the
//! Worker `keyward`: every endpoint, the dashboard, the queues' consumers, the daily checks
//! and the ledger's Durable Object. The edge build (`--no-default-features`, the Worker
//! `keyward-edge`, `wrangler.edge.toml`) is the one the public reaches: it answers
//! verification, `/healthz` and the gateway itself, with every rule of a key's use inside,
//! and hands every other request untouched to `keyward` through the service binding
//! `CONTROL` (`plumbing::control`), so the wasm a verification starts is the small one.
#![forbid(unsafe_code)]
// What only the full build calls (the control plane's handlers and jobs) is unused in the
// edge build by design.
#![cfg_attr(not(feature = "control"), allow(dead_code, unused_imports))]

mod bindings;
mod endpoints;
mod jobs;
mod plumbing;

use keyward_api::routes::{Op, Resolved, Route, resolve};

use crate::bindings::{audit, config};
use crate::endpoints::{
    dashboard, export, gateway, keys, leaks, migrate, openapi, owners, reports, verify, webhooks,
};
use crate::jobs::{alerts, consumer, cron, deliveries};
use keyward_core::chrono::{DateTime, Utc};
use keyward_core::{AuditEvent, Code};
use worker::{
    Context, Env, MessageBatch, Request, Response, ScheduleContext, ScheduledEvent, event,
};

use crate::bindings::config::Config;
use crate::bindings::fields::Fields;
use crate::bindings::store::Store;
use crate::plumbing::context::Ctx;
use crate::plumbing::http::{ApiError, ApiResult, json};

/// The time on the configured clock (`Config::clock`: the platform's, or a test
/// configuration's); none when it cannot be read (never the 1970 epoch: the core's
/// `platform_time`).
fn now(config: &Config) -> Option<DateTime<Utc>> {
    config::read_clock(config.clock)
}

fn no_clock() -> ApiError {
    ApiError::new(Code::Unavailable, "the clock cannot be read")
}

/// The configuration for `req` at the edge, the Worker the public reaches (the control
/// plane has no address of its own and is reached through it). A test clock decides only
/// requests to loopback (wrangler dev): a deployment whose settings carry one refuses
/// every request as misconfigured, and says why, rather than decide at a wrong time
/// (expiry, windows and refills shifted or standing still).
#[cfg(not(feature = "control"))]
fn config_for(env: &Env, req: &Request) -> Result<std::rc::Rc<Config>, String> {
    let config = Config::get(env)?;
    // The URL is read (a call out to JavaScript) only under a test clock: never on a
    // deployment's verification path.
    if !config.clock.is_test() || config.clock.serves_url(&plumbing::http::raw_url(req)) {
        Ok(config)
    } else {
        Err(TEST_CLOCK_OUTSIDE_LOOPBACK.to_owned())
    }
}

/// Why a request is refused when the settings carry a test clock and it is not addressed
/// to loopback.
#[cfg(not(feature = "control"))]
const TEST_CLOCK_OUTSIDE_LOOPBACK: &str = "KEYWARD_TEST_CLOCK_OFFSET_MS or KEYWARD_TEST_CLOCK_AT_MS is set: a test clock serves only requests to loopback (wrangler dev); remove it from this deployment's settings";

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    #[cfg(not(feature = "control"))]
    let config = config_for(&env, &req);
    #[cfg(feature = "control")]
    let config = Config::get(&env);
    let config = match config {
        Ok(c) => c,
        Err(problem) => {
            worker::console_error!("{problem}");
            return Ok(ApiError::new(Code::Unavailable, problem).into_response());
        }
    };
    let store = match Store::open(&env) {
        Ok(store) => store,
        Err(e) => return Ok(ApiError::unavailable("key storage", e).into_response()),
    };
    let Some(now) = now(&config) else {
        return Ok(no_clock().into_response());
    };
    let mut c = Ctx {
        config: &config,
        store,
        env: &env,
        now,
        client: audit::Client::of(&req),
        events: Vec::new(),
        alerts: Vec::new(),
        announcements: Vec::new(),
    };
    let response = route(&mut c, req)
        .await
        .unwrap_or_else(ApiError::into_response);
    let events: Vec<AuditEvent> = std::mem::take(&mut c.events);
    audit::send(&env, &ctx, events);
    webhooks::announce_later(&env, &ctx, std::mem::take(&mut c.announcements));
    let due = std::mem::take(&mut c.alerts);
    if !due.is_empty()
        && let Ok(db) = env.d1(config::AUDIT_DB)
    {
        let env = env.clone();
        ctx.wait_until(async move {
            if let Err(e) = alerts::raise(&env, &db, due).await {
                worker::console_error!("alerts could not be stored: {e}");
            }
        });
    }
    Ok(response)
}

async fn route(c: &mut Ctx<'_>, req: Request) -> ApiResult {
    let path = req.path();
    // The method as sent: the `worker` crate reads methods it does not know as GET.
    let method = req.inner().method();
    match resolve(&method, &path) {
        Resolved::Found(route, params) => {
            let param = params.first().copied().unwrap_or_default();
            dispatch(c, req, route, param).await
        }
        Resolved::MethodNotAllowed(allowed) => Err(not_allowed(&allowed)),
        Resolved::NotFound if path == "/v1" || path.starts_with("/v1/") => {
            Err(ApiError::new(Code::NotFound, "no such endpoint"))
        }
        // keyward's own paths: the dashboard, never the gateway's (the core's
        // `gateway::is_reserved`).
        Resolved::NotFound if keyward_core::gateway::is_reserved(&path) => {
            #[cfg(feature = "control")]
            return dashboard::serve(c, req).await;
            #[cfg(not(feature = "control"))]
            plumbing::control::forward(c, req).await
        }
        Resolved::NotFound => match c.config.origin_url.clone() {
            Some(origin) => gateway::forward(c, req, &origin).await,
            None => Err(ApiError::new(Code::NotFound, "no such endpoint")),
        },
    }
}

/// The edge build's routes: `/healthz` and verification answered here (by the same code as
/// in the full build); every other endpoint handed to the full build untouched, its
/// caller's credential judged here first (a refusal is logged and counted here, and the
/// control plane never sees it), but for the public ones (the OpenAPI document, a leak
/// report signed by GitHub, whose signature is its credential).
#[cfg(not(feature = "control"))]
async fn dispatch(c: &mut Ctx<'_>, req: Request, route: &Route, _param: &str) -> ApiResult {
    use crate::plumbing::control::forward;
    let form = match route.op {
        Op::Health | Op::HealthHead => return Ok(json(200, &keyward_api::Health { ok: true })),
        Op::Verify => verify::Form::Json,
        Op::VerifyHeader => verify::Form::Header,
        Op::OpenApi => return forward(c, req).await,
        Op::ReportLeaks if leaks::is_signed(&req) => return forward(c, req).await,
        _ => {
            c.judge(&req, route).await?;
            return forward(c, req).await;
        }
    };
    let caller = c.authorize(&req, route).await?;
    verify::verify(c, req, caller, form).await
}

/// Runs the handler of `route` (`param`: the path's one `{id}` or `{owner}`, if any), its
/// caller authorised first, by the scope the route table declares, before anything else
/// of the request is read.
#[cfg(feature = "control")]
async fn dispatch(c: &mut Ctx<'_>, req: Request, route: &Route, param: &str) -> ApiResult {
    match route.op {
        Op::Health | Op::HealthHead => return Ok(json(200, &keyward_api::Health { ok: true })),
        Op::OpenApi => return openapi::serve(c).await,
        // A report signed by GitHub carries no key: its signature is its credential.
        Op::ReportLeaks if leaks::is_signed(&req) => return leaks::report(c, req, None).await,
        _ => {}
    }
    let caller = c.authorize(&req, route).await?;
    match route.op {
        Op::Health | Op::HealthHead | Op::OpenApi => Err(ApiError::code(Code::Internal)),
        Op::CreateKey => keys::create(c, req, caller).await,
        Op::ListKeys => keys::list(c, req, caller).await,
        Op::ShowKey => keys::show(c, caller, param).await,
        Op::UpdateKey => keys::update(c, req, caller, param).await,
        Op::SetCredits => keys::credits(c, req, caller, param).await,
        Op::RevokeKey => keys::revoke(c, req, caller, param).await,
        Op::RotateKey => keys::rotate(c, req, caller, param).await,
        Op::GetOwnerLimits | Op::PutOwnerLimits => {
            let owner = keyward_core::text::percent_decode(param)
                .ok_or_else(|| ApiError::new(Code::NotFound, "no such owner"))?;
            if route.op == Op::GetOwnerLimits {
                owners::get(c, caller, &owner).await
            } else {
                owners::put(c, req, caller, &owner).await
            }
        }
        Op::Verify => verify::verify(c, req, caller, verify::Form::Json).await,
        Op::VerifyHeader => verify::verify(c, req, caller, verify::Form::Header).await,
        Op::ReportLeaks => leaks::report(c, req, Some(caller)).await,
        Op::Audit => reports::audit(c, req, caller).await,
        Op::Alerts => reports::alerts(c, req, caller).await,
        Op::Usage => reports::usage(c, req, caller).await,
        Op::Overview => reports::overview(c, req, caller).await,
        Op::Me => reports::me(c, req, caller).await,
        Op::ExportAudit => export::export(c, req, caller).await,
        Op::CreateWebhook => webhooks::create(c, req, caller).await,
        Op::ListWebhooks => webhooks::list(c, req, caller).await,
        Op::ShowWebhook => webhooks::show(c, caller, param).await,
        Op::DeleteWebhook => webhooks::delete(c, caller, param).await,
        Op::RotateWebhookSecret => webhooks::rotate_secret(c, req, caller, param).await,
        Op::ListDeliveries => webhooks::deliveries(c, req, caller, param).await,
        Op::Migrate => migrate::migrate(c, req, caller).await,
    }
}

fn not_allowed(allowed: &str) -> ApiError {
    let mut e = ApiError::new(
        Code::MethodNotAllowed,
        format!("this endpoint allows {allowed}"),
    );
    e.headers.push(("Allow", allowed.to_owned()));
    e
}

/// One handler for every queue: audit events (and their dead letters) and queued
/// revocations, told apart by their shape. Only this Worker produces these messages; one
/// that cannot be read can never be handled, so it is logged and acknowledged rather than
/// retried forever.
#[cfg(feature = "control")]
#[event(queue)]
async fn queue(batch: MessageBatch<AuditEvent>, env: Env, ctx: Context) -> worker::Result<()> {
    if batch.queue() == webhooks::WEBHOOK_QUEUE {
        return deliveries::handle(&batch, &env).await;
    }
    let mut events = Vec::new();
    let mut jobs = Vec::new();
    for message in batch.raw_iter() {
        let body = Fields::of(message.body());
        let read = if body.has("event_id") {
            body.read::<AuditEvent>().map(|e| events.push(e))
        } else {
            body.read::<leaks::RevokeJob>().map(|j| jobs.push(j))
        };
        if let Err(e) = read {
            worker::console_error!("unreadable queue message dropped: {e}");
        }
    }
    if !jobs.is_empty() {
        let config = Config::get(&env).map_err(worker::Error::RustError)?;
        let now = now(&config).ok_or_else(|| worker::Error::RustError(no_clock().message))?;
        let done = leaks::revoke_queued(jobs, &env, &config, now).await?;
        audit::send(&env, &ctx, done);
    }
    if events.is_empty() {
        return Ok(());
    }
    consumer::handle(events, &env).await
}

/// The daily checks (the cron trigger is the edge Worker's in a deployment of both, and
/// `wrangler dev --test-scheduled` reaches the Worker it serves).
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let config = match Config::get(&env) {
        Ok(c) => c,
        Err(problem) => {
            worker::console_error!("daily checks skipped: {problem}");
            return;
        }
    };
    let Some(now) = now(&config) else {
        worker::console_error!("daily checks skipped: the clock cannot be read");
        return;
    };
    match cron::run(&env, now).await {
        Ok(n) => worker::console_log!("daily checks raised {n} new alerts"),
        Err(e) => worker::console_error!("daily checks failed: {e}"),
    }
}
