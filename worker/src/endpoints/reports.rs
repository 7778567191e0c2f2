//! Reading the audit trail, alerts and usage back (`audit:read`), and who the caller is
//! (`/v1/me`).

use keyward_api::{
    AlertList, AuditCursor, AuditEventList, Bucket, Deployment, Me, OVERVIEW_ALERTS, Overview,
    TOP_KEYS, Usage, check_owner_filter, refusals, usage_start,
};
use keyward_core::{Code, KeyId};
use worker::Request;

use crate::bindings::config::AUDIT_DB;
use crate::bindings::db::{self, Filter, Within};
use crate::plumbing::context::{Caller, Ctx};
use crate::plumbing::http::{ApiError, ApiResult, Query, json};

/// The query's filter; a bounded key reads its own owner's and environment's events and
/// alerts only (the core's `Actor::reads`).
fn filter(req: &Request, caller: &Caller, vendor: &str, events: bool) -> Result<Filter, ApiError> {
    let names: &[&str] = if events {
        &["key_id", "since", "limit", "refused", "before"]
    } else {
        &["key_id", "since", "limit"]
    };
    let q = Query::of(req, names)?;
    let refused = match q.get("refused") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::new(
                Code::InvalidRequest,
                "'refused' must be true or false",
            ));
        }
    };
    let since = q.time("since")?;
    // A cursor this API did not give names no page (as for the keys list).
    let before = match q.cursor("before")? {
        None => None,
        Some(inner) => Some(AuditCursor::parse(&inner).map_err(|_| {
            ApiError::new(
                Code::NotFound,
                "no such page: the cursor is not one this API gave",
            )
        })?),
    };
    // The root key's events and alerts are stored under `root`.
    if let Some(id) = q.get("key_id")
        && id != crate::plumbing::auth::ROOT
        && id.parse::<KeyId>().is_err()
    {
        return Err(ApiError::new(
            Code::InvalidRequest,
            "'key_id' must be a key id (key_ and 16 base62 characters) or root",
        ));
    }
    Ok(Filter {
        within: Within {
            key_id: q.get("key_id").map(str::to_owned),
            ..Within::reads(caller.actor().reads(None, None)?, vendor)
        },
        since,
        limit: q.limit(100, 1000)?,
        refused,
        before,
    })
}

fn fault(e: worker::Error) -> ApiError {
    ApiError::unavailable("audit storage", e)
}

/// `GET /v1/audit?key_id=&since=&limit=&refused=&before=`: newest first.
pub async fn audit(ctx: &mut Ctx<'_>, req: Request, caller: Caller) -> ApiResult {
    let filter = filter(&req, &caller, &ctx.config.vendor, true)?;
    let events = db::events(&ctx.env.d1(AUDIT_DB)?, &filter)
        .await
        .map_err(fault)?;
    // A full page may have older events after it: its last one is where the next starts.
    let cursor = (events.len() == filter.limit as usize)
        .then(|| events.last())
        .flatten()
        .map(|e| {
            keyward_core::cursor::seal(
                &AuditCursor {
                    time: e.time,
                    event_id: e.event_id.clone(),
                }
                .to_string(),
            )
        });
    Ok(json(200, &AuditEventList { events, cursor }))
}

/// `GET /v1/alerts?key_id=&since=&limit=`: newest first.
pub async fn alerts(ctx: &mut Ctx<'_>, req: Request, caller: Caller) -> ApiResult {
    let filter = filter(&req, &caller, &ctx.config.vendor, false)?;
    let alerts = db::alerts(&ctx.env.d1(AUDIT_DB)?, &filter)
        .await
        .map_err(fault)?;
    Ok(json(200, &AlertList { alerts }))
}

/// `GET /v1/usage?key_id=&owner=&since=&bucket=`: uses per bucket and outcome. A bounded
/// key counts its own owner's uses of its own environment only (another owner asked for:
/// `forbidden`).
pub async fn usage(ctx: &mut Ctx<'_>, req: Request, caller: Caller) -> ApiResult {
    let q = Query::of(&req, &["key_id", "owner", "since", "bucket"])?;
    let bucket = q
        .get("bucket")
        .map(Bucket::parse)
        .transpose()?
        .unwrap_or_default();
    let since = q.time("since")?;
    let start = usage_start(since, bucket, ctx.now);
    let key_id = q
        .get("key_id")
        .map(|k| {
            k.parse::<KeyId>().map_err(|_| {
                ApiError::new(Code::InvalidRequest, "'key_id' must be a key id (key_...)")
            })
        })
        .transpose()?;
    let owner = q.get("owner");
    if let Some(o) = owner {
        check_owner_filter(o)?;
    }
    let actor = caller.actor();
    let reads = actor.reads(owner, None)?;
    let within = Within {
        key_id: key_id.as_ref().map(|k| k.as_str().to_owned()),
        ..Within::reads(reads, &ctx.config.vendor)
    };
    let rows = db::usage(&ctx.env.d1(AUDIT_DB)?, &within, start, bucket)
        .await
        .map_err(fault)?;
    Ok(json(
        200,
        &Usage {
            bucket,
            since: start,
            until: ctx.now,
            key_id,
            owner: reads.owner.map(str::to_owned),
            rows,
        },
    ))
}

/// `GET /v1/me` (any valid key): who the caller is and what it may do, by the core's
/// rules, with the deployment's environments and declared scopes.
pub async fn me(ctx: &mut Ctx<'_>, req: Request, caller: Caller) -> ApiResult {
    Query::of(&req, &[])?;
    let c = ctx.config;
    let deployment = Deployment::of(&c.vendor, c.environments.names(), &c.scopes, &c.roles);
    Ok(json(
        200,
        &Me::of(&caller.actor(), caller.env_limits(c), deployment),
    ))
}

/// `GET /v1/overview`: uses per hour by outcome over 7 days, refusals by code, the most
/// used keys and the alerts of those days, confined to the caller's owner and environment
/// when it is bounded (the core's `Actor::reads`), as every read is.
pub async fn overview(ctx: &mut Ctx<'_>, req: Request, caller: Caller) -> ApiResult {
    Query::of(&req, &[])?;
    let actor = caller.actor();
    let reads = actor.reads(None, None)?;
    let within = || Within::reads(reads, &ctx.config.vendor);
    let start = usage_start(None, Bucket::Hour, ctx.now);
    let db = ctx.env.d1(AUDIT_DB)?;
    let uses = db::usage(&db, &within(), start, Bucket::Hour)
        .await
        .map_err(fault)?;
    let top_keys = db::top_keys(&db, &within(), start, TOP_KEYS)
        .await
        .map_err(fault)?;
    let alerts = db::alerts(
        &db,
        &Filter {
            within: within(),
            since: Some(start),
            limit: OVERVIEW_ALERTS,
            ..Filter::default()
        },
    )
    .await
    .map_err(fault)?;
    Ok(json(
        200,
        &Overview {
            since: start,
            until: ctx.now,
            owner: reads.owner.map(str::to_owned),
            env: reads.env.map(str::to_owned),
            refusals: refusals(&uses),
            uses,
            top_keys,
            alerts,
        },
    ))
}
