//! `POST /v1/migrate`: the one way a key stored before the ledger becomes a key again.
//! KV never introduces a key, a right or a life on its own: a record of the previous
//! format (no `lineage`) is no key until the root key, knowingly, has its ledger adopt
//! it. Idempotent: a key its ledger already keeps is left as it is.

use keyward_api::Migration;
use keyward_core::Code;
use worker::Request;

use crate::plumbing::context::{Caller, Ctx};
use crate::plumbing::http::{ApiError, ApiResult, Query, json};

/// Records looked at per call.
const PAGE: u64 = 100;

/// `POST /v1/migrate`
pub async fn migrate(ctx: &mut Ctx<'_>, req: Request, caller: Caller) -> ApiResult {
    if caller.record.is_some() {
        return Err(ApiError::new(
            Code::Forbidden,
            "keys stored before the ledger are adopted with the root key only",
        ));
    }
    let q = Query::of(&req, &["cursor"])?;
    let cursor = q.cursor("cursor")?;
    let (records, next) = ctx.store.list(None, None, cursor, PAGE).await?;
    let mut answer = Migration {
        cursor: next.map(|c| keyward_core::cursor::seal(&c)),
        ..Migration::default()
    };
    let ledger = ctx.ledger();
    for record in records {
        if record.lineage.is_some() {
            answer.kept += 1;
            continue;
        }
        match ledger.adopt(&record).await {
            Ok((adopted, true)) => {
                // KV now names the key's chain: every later read asks its ledger.
                ctx.store.put(&adopted).await?;
                answer.adopted.push(adopted.id);
            }
            Ok((_, false)) => answer.kept += 1,
            Err(e) if e.code == Code::Conflict => answer.refused.push(record.id),
            Err(e) => return Err(e),
        }
    }
    Ok(json(200, &answer))
}
