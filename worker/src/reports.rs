//! Reading the audit trail and alerts back (`audit:read`).

use keyward_core::Code;
use keyward_core::chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use worker::Request;
use worker::wasm_bindgen::JsValue;

use crate::alerts::timestamp;
use crate::api::Ctx;
use crate::config::AUDIT_DB;
use crate::http::{ApiError, ApiResult, json};

#[derive(Deserialize)]
struct Query {
    key_id: Option<String>,
    since: Option<String>,
    limit: Option<String>,
}

fn parse_query(req: &Request) -> Result<(Option<String>, String, u32), ApiError> {
    let q: Query = req
        .query()
        .map_err(|_| ApiError::new(Code::InvalidRequest, "the query string is invalid"))?;
    let since = match q.since.as_deref() {
        None | Some("") => "0000".to_owned(),
        Some(s) => timestamp(s.parse::<DateTime<Utc>>().map_err(|_| {
            ApiError::new(Code::InvalidRequest, "'since' must be an RFC 3339 time")
        })?),
    };
    let limit = crate::http::limit(q.limit.as_deref(), 100, 1000)?;
    Ok((q.key_id.filter(|k| !k.is_empty()), since, limit))
}

async fn rows(
    ctx: &Ctx<'_>,
    table: &str,
    key_id: Option<String>,
    since: String,
    limit: u32,
) -> Result<Vec<Value>, ApiError> {
    let db = ctx.env.d1(AUDIT_DB)?;
    let (filter, binds) = match key_id {
        Some(k) => (
            "time >= ?1 AND key_id = ?3",
            vec![
                JsValue::from_str(&since),
                JsValue::from(limit),
                JsValue::from_str(&k),
            ],
        ),
        None => (
            "time >= ?1",
            vec![JsValue::from_str(&since), JsValue::from(limit)],
        ),
    };
    let result = db
        .prepare(format!(
            "SELECT * FROM {table} WHERE {filter} ORDER BY time DESC LIMIT ?2"
        ))
        .bind(&binds)
        .map_err(|e| ApiError::unavailable("audit storage", e))?
        .all()
        .await
        .map_err(|e| ApiError::unavailable("audit storage", e))?;
    result
        .results::<Value>()
        .map_err(|e| ApiError::unavailable("audit storage", e))
}

/// `GET /v1/audit?key_id=&since=&limit=`: newest first.
pub async fn audit(ctx: &mut Ctx<'_>, req: Request) -> ApiResult {
    ctx.authorize(&req, "audit:read", "GET /v1/audit").await?;
    let (key_id, since, limit) = parse_query(&req)?;
    let events = rows(ctx, "audit_events", key_id, since, limit).await?;
    Ok(json(200, &json!({ "events": events })))
}

/// `GET /v1/alerts?since=&key_id=&limit=`: newest first.
pub async fn alerts(ctx: &mut Ctx<'_>, req: Request) -> ApiResult {
    ctx.authorize(&req, "audit:read", "GET /v1/alerts").await?;
    let (key_id, since, limit) = parse_query(&req)?;
    let alerts = rows(ctx, "alerts", key_id, since, limit).await?;
    Ok(json(200, &json!({ "alerts": alerts })))
}
