//! The audit queue consumer: events into D1 (idempotent by event id), misuse rules into
//! alerts, `last_used_at` into KV once per key per batch. A failed batch is retried whole;
//! the D1 writes are one transaction, so a retry neither loses nor doubles anything.

use std::collections::BTreeMap;

use keyward_core::chrono::{Duration, Timelike as _};
use keyward_core::{AlertKind, AuditEvent, Code, KeyHistory, MisuseRules, evaluate};
use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env, MessageBatch};

use crate::alerts::{self, Alert, opt, timestamp};
use crate::config::{AUDIT_DB, Config, KEYS};
use crate::store::Store;

/// Whether the event is a use of a key (as opposed to a lifecycle action on it).
fn is_use(e: &AuditEvent) -> bool {
    !e.action.starts_with("key.")
}

fn insert(db: &D1Database, e: &AuditEvent) -> worker::Result<D1PreparedStatement> {
    db.prepare(
        "INSERT OR IGNORE INTO audit_events \
         (event_id, key_id, hint, owner, actor, action, ip, country, user_agent, time, outcome, status) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .bind(&[
        JsValue::from_str(&e.event_id),
        opt(&e.key_id),
        opt(&e.hint),
        opt(&e.owner),
        opt(&e.actor),
        JsValue::from_str(&e.action),
        opt(&e.ip),
        opt(&e.country),
        opt(&e.user_agent),
        JsValue::from_str(&timestamp(e.time)),
        JsValue::from_str(e.outcome.as_str()),
        e.status.map_or(JsValue::NULL, JsValue::from),
    ])
}

#[derive(Deserialize)]
struct Count {
    n: f64,
}
#[derive(Deserialize)]
struct Ip {
    ip: String,
}
#[derive(Deserialize)]
struct Country {
    country: String,
}
#[derive(Deserialize)]
struct HourCount {
    h: f64,
    n: f64,
}
#[derive(Deserialize)]
struct Rate {
    per_minute: Option<f64>,
}

/// The key's history before this batch, from D1, in one round trip.
async fn history(db: &D1Database, key_id: &str, week_ago: &str) -> worker::Result<KeyHistory> {
    let k = JsValue::from_str(key_id);
    let w = JsValue::from_str(week_ago);
    let uses = "key_id = ?1 AND action NOT LIKE 'key.%'";
    let results = db
        .batch(vec![
            db.prepare(format!("SELECT COUNT(*) AS n FROM audit_events WHERE {uses}")).bind(std::slice::from_ref(&k))?,
            db.prepare(format!("SELECT DISTINCT ip FROM audit_events WHERE {uses} AND ip IS NOT NULL LIMIT 1000"))
                .bind(std::slice::from_ref(&k))?,
            db.prepare(format!(
                "SELECT DISTINCT country FROM audit_events WHERE {uses} AND country IS NOT NULL LIMIT 300"
            ))
            .bind(std::slice::from_ref(&k))?,
            db.prepare(format!(
                "SELECT CAST(substr(time, 12, 2) AS INTEGER) AS h, COUNT(*) AS n FROM audit_events WHERE {uses} GROUP BY h"
            ))
            .bind(std::slice::from_ref(&k))?,
            db.prepare(format!(
                "SELECT CAST(COUNT(*) AS REAL) / COUNT(DISTINCT substr(time, 1, 16)) AS per_minute \
                 FROM audit_events WHERE {uses} AND time >= ?2"
            ))
            .bind(&[k, w])?,
        ])
        .await?;
    let [total, ips, countries, hours, rate]: [worker::D1Result; 5] = results
        .try_into()
        .map_err(|_| worker::Error::RustError("D1 returned the wrong number of results".into()))?;
    let mut uses_by_hour = [0u64; 24];
    for row in hours.results::<HourCount>()? {
        if let Some(slot) = uses_by_hour.get_mut(row.h as usize) {
            *slot = row.n as u64;
        }
    }
    Ok(KeyHistory {
        total_events: total.results::<Count>()?.first().map_or(0, |c| c.n as u64),
        known_ips: ips.results::<Ip>()?.into_iter().map(|r| r.ip).collect(),
        known_countries: countries
            .results::<Country>()?
            .into_iter()
            .map(|r| r.country)
            .collect(),
        uses_by_hour,
        baseline_per_minute: rate
            .results::<Rate>()?
            .first()
            .and_then(|r| r.per_minute)
            .unwrap_or(0.0),
        current_minute: 0,
    })
}

fn describe(kind: AlertKind, e: &AuditEvent) -> String {
    let key = e.hint.as_deref().unwrap_or("a key");
    let from = e.ip.as_deref().unwrap_or("an unknown IP");
    match kind {
        AlertKind::RevokedKeyUsed => format!(
            "revoked key {key} was presented from {from} for {}",
            e.action
        ),
        AlertKind::ExpiredKeyUsed => format!(
            "expired key {key} was presented from {from} for {}",
            e.action
        ),
        AlertKind::NewIp => format!("key {key} was used from a new IP, {from}"),
        AlertKind::NewCountry => format!(
            "key {key} was used from a new country, {}",
            e.country.as_deref().unwrap_or("?")
        ),
        AlertKind::Burst => format!("key {key} made far more requests than its norm"),
        AlertKind::UnusualHour => format!(
            "key {key} was used at {:02}:00 UTC, an hour it is never used",
            e.time.hour()
        ),
        other => format!("{} for key {key}", other.as_str()),
    }
}

/// Handles one batch. Returning an error makes the runtime retry the whole batch.
///
/// # Errors
/// Any D1 or KV fault.
pub async fn handle(batch: MessageBatch<AuditEvent>, env: &Env) -> worker::Result<()> {
    let db = env.d1(AUDIT_DB)?;
    let mut events = Vec::new();
    for message in batch.iter() {
        match message {
            Ok(m) => events.push(m.into_body()),
            // Only this Worker produces these messages; one that cannot be read can never be
            // stored, so it is logged and acknowledged rather than retried forever.
            Err(e) => worker::console_error!("unreadable audit message dropped: {e}"),
        }
    }
    events.sort_by_key(|e| e.time);

    let rules = MisuseRules::default();
    let mut by_key: BTreeMap<String, Vec<&AuditEvent>> = BTreeMap::new();
    for e in &events {
        if let Some(k) = &e.key_id {
            by_key.entry(k.clone()).or_default().push(e);
        }
    }
    let mut alerts_found = Vec::new();
    let mut last_used: BTreeMap<String, String> = BTreeMap::new();
    for (key_id, key_events) in &by_key {
        let uses: Vec<&&AuditEvent> = key_events.iter().filter(|e| is_use(e)).collect();
        if uses.is_empty() {
            continue;
        }
        let Some(first) = uses.first() else { continue };
        let week_ago = timestamp(first.time - Duration::days(7));
        let mut h = if key_id == crate::auth::ROOT {
            KeyHistory::default()
        } else {
            history(&db, key_id, &week_ago).await?
        };
        let mut minute_counts: BTreeMap<String, u64> = BTreeMap::new();
        for e in uses {
            let minute = timestamp(e.time)[..16].to_owned();
            let in_minute = minute_counts.entry(minute.clone()).or_insert(0);
            if *in_minute == 0 {
                *in_minute = count_minute(&db, key_id, &minute).await?;
            }
            *in_minute += 1;
            h.current_minute = *in_minute;
            for kind in evaluate(e, &h, &rules) {
                let mut alert = Alert::new(
                    kind,
                    format!("{}:{}", e.event_id, kind.as_str()),
                    describe(kind, e),
                    e.time,
                );
                alert.key_id = e.key_id.clone();
                alert.hint = e.hint.clone();
                alert.owner = e.owner.clone();
                alert.event_id = Some(e.event_id.clone());
                alerts_found.push(alert);
            }
            // The event joins the history for the events after it in this batch.
            h.total_events += 1;
            if let Some(ip) = &e.ip
                && !h.known_ips.contains(ip)
            {
                h.known_ips.push(ip.clone());
            }
            if let Some(c) = &e.country
                && !h.known_countries.contains(c)
            {
                h.known_countries.push(c.clone());
            }
            if let Some(slot) = h.uses_by_hour.get_mut(e.time.hour() as usize) {
                *slot += 1;
            }
            if e.outcome == Code::Valid && key_id != crate::auth::ROOT {
                last_used.insert(key_id.clone(), timestamp(e.time));
            }
        }
    }

    // Events and alerts in one transaction: all or nothing.
    let mut statements = events
        .iter()
        .map(|e| insert(&db, e))
        .collect::<worker::Result<Vec<_>>>()?;
    let alert_count = alerts_found.len();
    for a in &alerts_found {
        statements.push(a.insert(&db)?);
    }
    let results = if statements.is_empty() {
        Vec::new()
    } else {
        db.batch(statements).await?
    };
    let new_alerts: Vec<Alert> = alerts_found
        .into_iter()
        .zip(results.into_iter().skip(events.len()).take(alert_count))
        .filter(|(_, r)| r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0) > 0)
        .map(|(a, _)| a)
        .collect();
    let webhook = Config::get(env)
        .ok()
        .and_then(|c| c.alert_webhook_url.clone());
    alerts::post(webhook.as_deref(), &new_alerts).await;

    let store = Store::new(env.kv(KEYS)?);
    for (key_id, time) in last_used {
        store
            .set_last_used(&key_id, &time)
            .await
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
    }
    Ok(())
}

async fn count_minute(db: &D1Database, key_id: &str, minute: &str) -> worker::Result<u64> {
    let row = db
        .prepare("SELECT COUNT(*) AS n FROM audit_events WHERE key_id = ?1 AND substr(time, 1, 16) = ?2 AND action NOT LIKE 'key.%'")
        .bind(&[JsValue::from_str(key_id), JsValue::from_str(minute)])?
        .first::<Count>(None)
        .await?;
    Ok(row.map_or(0, |c| c.n as u64))
}
