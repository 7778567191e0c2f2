//! Raising alerts: stored in D1 by a deterministic id (never doubled), then the new ones
//! are announced to webhook endpoints (`ALERT_WEBHOOK_URL`'s among them).

use keyward_api::Alert;
use worker::{D1Database, Env};

/// Stores `alerts` and announces the new ones; returns how many were new.
///
/// # Errors
/// The D1 error; nothing is stored or announced then.
pub async fn raise(env: &Env, db: &D1Database, alerts: Vec<Alert>) -> worker::Result<usize> {
    let new = crate::bindings::db::store(db, &[], alerts).await?;
    crate::endpoints::webhooks::announce_alerts(env, &new).await;
    Ok(new.len())
}
