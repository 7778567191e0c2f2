//! `GET /v1/audit/export`: the audit trail between two times as newline-delimited JSON,
//! streamed page by page from D1 (oldest first), as keyward's events or as OCSF events
//! (the core's `ocsf`). A bounded key exports the events of its own owner's keys of its own
//! environment only.

use futures_util::stream;
use keyward_core::chrono::Duration;
use keyward_core::{AuditEvent, Code};
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, Headers, Request, Response};

use crate::bindings::config::AUDIT_DB;
use crate::bindings::db::{Within, timestamp};
use crate::plumbing::context::{Caller, Ctx};
use crate::plumbing::http::{ApiError, ApiResult, Query};

/// Events per D1 read.
const PAGE: u32 = 1000;
/// Most events one export streams (each page is one D1 query, within a request's
/// subrequest budget); a longer range is continued from the last event's time.
pub const MAX_EVENTS: u32 = 20 * PAGE;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Ocsf,
}

struct Page {
    db: D1Database,
    format: Format,
    /// The owner and environment a bounded caller is held to.
    within: Within,
    since: String,
    until: String,
    after: Option<(String, String)>,
    left: u32,
}

/// `GET /v1/audit/export?since=&until=&format=json|ocsf`
pub async fn export(ctx: &mut Ctx<'_>, req: Request, caller: Caller) -> ApiResult {
    let q = Query::of(&req, &["since", "until", "format"])?;
    let format = match q.get("format") {
        None | Some("json") => Format::Json,
        Some("ocsf") => Format::Ocsf,
        Some(_) => {
            return Err(ApiError::new(
                Code::InvalidRequest,
                "'format' must be json or ocsf",
            ));
        }
    };
    let until = q.time("until")?.unwrap_or(ctx.now);
    let since = q
        .time("since")?
        .unwrap_or_else(|| until.checked_sub_signed(Duration::days(1)).unwrap_or(until));
    // A `since` after `until` is an empty range (every query value the document allows is
    // answered, never refused for its order): the stream below then holds no line.
    let actor = caller.actor();
    let within = Within::reads(actor.reads(None, None)?, &ctx.config.vendor);
    let db = ctx
        .env
        .d1(AUDIT_DB)
        .map_err(|e| ApiError::unavailable("audit storage", e))?;
    let first = Page {
        db,
        format,
        within,
        since: timestamp(since),
        until: timestamp(until),
        after: None,
        left: MAX_EVENTS,
    };
    let lines = stream::unfold(Some(first), |state| async move {
        let mut page = state?;
        match read(&mut page).await {
            Ok(None) => None,
            Ok(Some(chunk)) => Some((Ok::<Vec<u8>, worker::Error>(chunk), Some(page))),
            Err(e) => {
                // The answer has begun: the stream ends short, and the log says why.
                worker::console_error!("audit export stopped: {e}");
                Some((Err(e), None))
            }
        }
    });
    let headers = Headers::new();
    headers.set("content-type", "application/x-ndjson")?;
    headers.set("cache-control", "no-store")?;
    Ok(Response::from_stream(lines)?.with_headers(headers))
}

/// The next page's lines, or `None` when the range is done.
async fn read(page: &mut Page) -> worker::Result<Option<Vec<u8>>> {
    if page.left == 0 {
        return Ok(None);
    }
    let mut clauses = vec!["time >= ?1".to_owned(), "time < ?2".to_owned()];
    let mut binds = vec![
        JsValue::from_str(&page.since),
        JsValue::from_str(&page.until),
    ];
    clauses.extend(page.within.clauses(&mut binds));
    if let Some((t, id)) = &page.after {
        binds.push(JsValue::from_str(t));
        binds.push(JsValue::from_str(id));
        clauses.push(format!(
            "(time, event_id) > (?{}, ?{})",
            binds.len() - 1,
            binds.len()
        ));
    }
    let sql = format!(
        "SELECT event_id, key_id, hint, owner, actor, action, ip, country, user_agent, time, outcome, status \
         FROM audit_events WHERE {} ORDER BY time, event_id LIMIT {}",
        clauses.join(" AND "),
        PAGE.min(page.left)
    );
    let events: Vec<AuditEvent> =
        crate::bindings::fields::all(page.db.prepare(sql).bind(&binds)?).await?;
    let Some(last) = events.last() else {
        return Ok(None);
    };
    page.after = Some((timestamp(last.time), last.event_id.clone()));
    page.left = page.left.saturating_sub(events.len() as u32);
    if (events.len() as u32) < PAGE {
        page.left = 0;
    }
    let mut out = Vec::new();
    for e in &events {
        let line = match page.format {
            Format::Json => serde_json::to_vec(e)?,
            Format::Ocsf => {
                serde_json::to_vec(&keyward_core::ocsf::event(e, env!("CARGO_PKG_VERSION")))?
            }
        };
        out.extend(line);
        out.push(b'\n');
    }
    Ok(Some(out))
}
