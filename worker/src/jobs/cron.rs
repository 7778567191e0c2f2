//! Daily checks: keys unused for 90+ days, keys holding `admin` or wildcards, and keys
//! expiring within 7 days (`key.expiring`, once per key).

use keyward_core::chrono::{DateTime, Utc};
use keyward_core::{AlertKind, over_privileged, stale, stale_after};
use worker::Env;

use keyward_api::Alert;

use crate::bindings::config::{AUDIT_DB, Config};
use crate::bindings::ledger::Ledger;
use crate::bindings::store::Store;
use crate::endpoints::keys::truth_of;
use crate::jobs::alerts;

/// Runs the checks over every key; returns how many new alerts were raised.
///
/// # Errors
/// Any KV or D1 fault (the next run tries again; alert ids are per key per day).
pub async fn run(env: &Env, now: DateTime<Utc>) -> worker::Result<usize> {
    let store = Store::open(env)?;
    let config = Config::get(env).map_err(worker::Error::RustError)?;
    let ledger = Ledger::new(env, config.revocation_bound_ms);
    let db = env.d1(AUDIT_DB)?;
    let mut found = Vec::new();
    let mut expiring = Vec::new();
    let mut cursor = None;
    loop {
        let (records, next) = store
            .list(None, None, cursor, 100)
            .await
            .map_err(|e| worker::Error::RustError(e.message))?;
        for kv in records {
            // KV lists; the ledger says what each key's life is.
            let Some(r) = truth_of(&ledger, kv)
                .await
                .map_err(|e| worker::Error::RustError(e.message))?
            else {
                continue;
            };
            if stale(&r, now, stale_after()) {
                let last = r
                    .last_used_at
                    .map_or_else(|| "never used".to_owned(), |t| format!("last used {t}"));
                let a = Alert::new(
                    AlertKind::Stale,
                    AlertKind::Stale.alert_id(r.id.as_str(), now),
                    format!(
                        "key {} has not been used for 90 days or more ({last}): revoke it if it is not needed",
                        r.hint
                    ),
                    now,
                );
                found.push(a.for_key(&r));
            }
            if keyward_core::webhook::expiring(&r, now) {
                expiring.push(r.clone());
            }
            let broad = over_privileged(&r, now);
            if !broad.is_empty() {
                let a = Alert::new(
                    AlertKind::OverPrivileged,
                    AlertKind::OverPrivileged.alert_id(r.id.as_str(), now),
                    format!(
                        "key {} holds {}: narrow it to the scopes it needs",
                        r.hint,
                        broad.join(", ")
                    ),
                    now,
                );
                found.push(a.for_key(&r));
            }
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let announced = crate::endpoints::webhooks::announce_expiring(env, &db, &expiring, now).await?;
    worker::console_log!("daily checks announced {announced} expiring keys");
    alerts::raise(env, &db, found).await
}
