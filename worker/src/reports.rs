//! Reading the audit trail and alerts back (`audit:read`).

use keyward_api::{AlertList, AuditEventList};
use keyward_core::Code;
use worker::Request;

use crate::config::AUDIT_DB;
use crate::context::{Caller, Ctx, LogUse};
use crate::db::{self, Filter};
use crate::http::{ApiError, ApiResult, Query, json};

/// The query's filter; a bounded key reads its own owner's events and alerts only.
fn filter(req: &Request, caller: &Caller, events: bool) -> Result<Filter, ApiError> {
    let names: &[&str] = if events {
        &["key_id", "since", "limit", "refused"]
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
    let since = match q.get("since") {
        None => None,
        Some(s) => Some(keyward_core::time::parse_rfc3339(s).map_err(|_| {
            ApiError::new(Code::InvalidRequest, "'since' must be an RFC 3339 time")
        })?),
    };
    if let Some(id) = q.get("key_id")
        && id.parse::<keyward_core::KeyId>().is_err()
    {
        return Err(ApiError::new(
            Code::InvalidRequest,
            "'key_id' must be a key id (key_ and 16 base62 characters)",
        ));
    }
    Ok(Filter {
        key_id: q.get("key_id").map(str::to_owned),
        owner: match caller.actor() {
            a if a.is_bounded() => a.home().map(|(owner, _)| owner.to_owned()),
            _ => None,
        },
        since,
        limit: q.limit(100, 1000)?,
        refused,
    })
}

fn fault(e: worker::Error) -> ApiError {
    ApiError::unavailable("audit storage", e)
}

/// `GET /v1/audit?key_id=&since=&limit=`: newest first.
pub async fn audit(ctx: &mut Ctx<'_>, req: Request) -> ApiResult {
    let caller = ctx
        .authorize(&req, "audit:read", "GET /v1/audit", LogUse::Always)
        .await?;
    let filter = filter(&req, &caller, true)?;
    let events = db::events(&ctx.env.d1(AUDIT_DB)?, &filter)
        .await
        .map_err(fault)?;
    Ok(json(200, &AuditEventList { events }))
}

/// `GET /v1/alerts?key_id=&since=&limit=`: newest first.
pub async fn alerts(ctx: &mut Ctx<'_>, req: Request) -> ApiResult {
    let caller = ctx
        .authorize(&req, "audit:read", "GET /v1/alerts", LogUse::Always)
        .await?;
    let filter = filter(&req, &caller, false)?;
    let alerts = db::alerts(&ctx.env.d1(AUDIT_DB)?, &filter)
        .await
        .map_err(fault)?;
    Ok(json(200, &AlertList { alerts }))
}
