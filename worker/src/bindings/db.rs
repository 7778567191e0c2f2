//! Every D1 statement: audit events and alerts in, history and reports out.
//!
//! Times are stored as RFC 3339 text in UTC with milliseconds, which sorts as text.
//! Lifecycle events are told from uses by the core's exact [`Lifecycle::ALL`] values.

use keyward_api::{Alert, AuditCursor, Bucket, KeyUses, UsageRow};
use keyward_core::chrono::{DateTime, Utc};
use keyward_core::{AlertKind, AuditEvent, KeyHistory, Lifecycle, Reads, Severity};
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

use crate::bindings::fields::{self, Fields, FromFields};
use crate::bindings::platform::{self, Ran};

/// The stored form of a time.
pub fn timestamp(t: DateTime<Utc>) -> String {
    keyward_core::time::format_rfc3339_millis(t)
}

/// The stored minute of a time: `YYYY-MM-DDTHH:MM`.
pub fn minute_of(t: DateTime<Utc>) -> String {
    let mut s = timestamp(t);
    s.truncate(16);
    s
}

fn opt(v: &Option<String>) -> JsValue {
    v.as_deref().map_or(JsValue::NULL, JsValue::from_str)
}

/// `action` is a use (not one of the lifecycle actions), as SQL: exact values, never
/// `LIKE` (which SQLite matches case-insensitively), the same rule as the core's
/// `EventKind::of`. The values are the core's own constants, never input.
fn uses() -> String {
    let list: Vec<String> = Lifecycle::ALL
        .iter()
        .map(|l| format!("'{}'", l.as_str()))
        .collect();
    format!("action NOT IN ({})", list.join(", "))
}

fn insert_event(db: &D1Database, e: &AuditEvent) -> worker::Result<D1PreparedStatement> {
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

fn insert_alert(db: &D1Database, a: &Alert) -> worker::Result<D1PreparedStatement> {
    db.prepare(
        "INSERT OR IGNORE INTO alerts (alert_id, kind, key_id, hint, owner, event_id, detail, time, severity) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .bind(&[
        JsValue::from_str(&a.alert_id),
        JsValue::from_str(a.kind.as_str()),
        opt(&a.key_id),
        opt(&a.hint),
        opt(&a.owner),
        opt(&a.event_id),
        JsValue::from_str(&a.detail),
        JsValue::from_str(&timestamp(a.time)),
        JsValue::from_str(a.severity.as_str()),
    ])
}

/// Stores `events` and `alerts` in one transaction (all or nothing; both idempotent by
/// id). Returns the alerts that were new.
///
/// # Errors
/// The D1 error; nothing is stored then.
pub async fn store(
    db: &D1Database,
    events: &[AuditEvent],
    alerts: Vec<Alert>,
) -> worker::Result<Vec<Alert>> {
    let mut statements = events
        .iter()
        .map(|e| insert_event(db, e))
        .collect::<worker::Result<Vec<_>>>()?;
    for a in &alerts {
        statements.push(insert_alert(db, a)?);
    }
    if statements.is_empty() {
        return Ok(Vec::new());
    }
    let results = platform::batch(db, &statements).await?;
    Ok(alerts
        .into_iter()
        .zip(results.iter().skip(events.len()))
        .filter(|(_, r)| r.changed())
        .map(|(a, _)| a)
        .collect())
}

/// A key's history of uses (with, of the IPs and countries in `batch`, those it used
/// before), and its uses in each of `minutes` (`YYYY-MM-DDTHH:MM`),
/// leaving out the events of `batch` (which a retried batch may already have stored), in
/// one round trip. `week_ago` bounds the baseline rate.
///
/// # Errors
/// The D1 error.
pub async fn history(
    db: &D1Database,
    key_id: &str,
    batch: &[&AuditEvent],
    minutes: &[String],
    week_ago: DateTime<Utc>,
) -> worker::Result<(KeyHistory, Vec<u64>)> {
    let json = |v: Vec<&str>| JsValue::from_str(&serde_json::to_string(&v).unwrap_or_default());
    let x = json(batch.iter().map(|e| e.event_id.as_str()).collect());
    // Which of the batch's IPs and countries the key has used before: asked exactly, so
    // a key with many IPs is judged as truly as one with few.
    let ips = json(batch.iter().filter_map(|e| e.ip.as_deref()).collect());
    let countries = json(batch.iter().filter_map(|e| e.country.as_deref()).collect());
    let k = JsValue::from_str(key_id);
    let scope = format!(
        "key_id = ?1 AND {} AND event_id NOT IN (SELECT value FROM json_each(?2))",
        uses()
    );
    let both = [k.clone(), x.clone()];
    let mut statements = vec![
        db.prepare(format!("SELECT COUNT(*) AS n FROM audit_events WHERE {scope}"))
            .bind(&both)?,
        db.prepare(format!(
            "SELECT DISTINCT ip FROM audit_events WHERE {scope} AND ip IN (SELECT value FROM json_each(?3))"
        ))
        .bind(&[k.clone(), x.clone(), ips])?,
        db.prepare(format!(
            "SELECT DISTINCT country FROM audit_events WHERE {scope} AND country IN (SELECT value FROM json_each(?3))"
        ))
        .bind(&[k.clone(), x.clone(), countries])?,
        db.prepare(format!(
            "SELECT CAST(substr(time, 12, 2) AS INTEGER) AS h, COUNT(*) AS n FROM audit_events WHERE {scope} GROUP BY h"
        ))
        .bind(&both)?,
        // The norm is what came before the batch's first minute: a burst's own earlier
        // batches must not raise the bar it is judged against.
        db.prepare(format!(
            "SELECT CAST(COUNT(*) AS REAL) / COUNT(DISTINCT substr(time, 1, 16)) AS per_minute \
             FROM audit_events WHERE {scope} AND time >= ?3 AND substr(time, 1, 16) < ?4"
        ))
        .bind(&[
            k.clone(),
            x.clone(),
            JsValue::from_str(&timestamp(week_ago)),
            JsValue::from_str(minutes.first().map_or("", String::as_str)),
        ])?,
    ];
    for minute in minutes {
        statements.push(
            db.prepare(format!(
                "SELECT COUNT(*) AS n FROM audit_events WHERE {scope} AND substr(time, 1, 16) = ?3"
            ))
            .bind(&[k.clone(), x.clone(), JsValue::from_str(minute)])?,
        );
    }
    let results = platform::batch(db, &statements).await?;
    let mut results = results.into_iter();
    let mut next = || {
        results
            .next()
            .ok_or_else(|| worker::Error::RustError("D1 returned too few results".into()))
    };
    let count = |r: Ran| -> worker::Result<u64> {
        r.rows()?.first().map_or(Ok(0), |c| Ok(c.num("n")? as u64))
    };
    let strings = |r: Ran, name: &str| -> worker::Result<Vec<String>> {
        r.rows()?.iter().map(|f| f.str(name)).collect()
    };
    let total = count(next()?)?;
    let known_ips = strings(next()?, "ip")?;
    let known_countries = strings(next()?, "country")?;
    let mut uses_by_hour = [0u64; 24];
    for row in next()?.rows()? {
        if let Some(slot) = uses_by_hour.get_mut(row.num("h")? as usize) {
            *slot = row.num("n")? as u64;
        }
    }
    let baseline_per_minute = match next()?.rows()?.first() {
        Some(r) => r.opt_num("per_minute")?.unwrap_or(0.0),
        None => 0.0,
    };
    let per_minute = minutes
        .iter()
        .map(|_| count(next()?))
        .collect::<worker::Result<Vec<_>>>()?;
    Ok((
        KeyHistory {
            total_events: total,
            known_ips,
            known_countries,
            uses_by_hour,
            baseline_per_minute,
            current_minute: 0,
        },
        per_minute,
    ))
}

/// Where a read of events or alerts is confined: one key, one owner, one environment (by
/// the stored hint, `{vendor}_{env}_` and 4 characters: neither part holds `_`).
#[derive(Debug, Default)]
pub struct Within {
    /// Only this key's.
    pub key_id: Option<String>,
    /// Only this owner's.
    pub owner: Option<String>,
    /// Only keys whose hint starts so (`{vendor}_{env}_`: one environment's).
    pub hint_prefix: Option<String>,
}

impl Within {
    /// What `reads` (the core's [`keyward_core::Actor::reads`]) confines a report to: an
    /// environment by the hints of its keys (`{vendor}_{env}_`).
    pub fn reads(reads: Reads<'_>, vendor: &str) -> Self {
        Within {
            key_id: None,
            owner: reads.owner.map(str::to_owned),
            hint_prefix: reads.env.map(|env| format!("{vendor}_{env}_")),
        }
    }

    /// The SQL conditions, their values appended to `binds` (numbered after those there).
    pub fn clauses(&self, binds: &mut Vec<JsValue>) -> Vec<String> {
        let mut clauses = Vec::new();
        for (column, value) in [("key_id", &self.key_id), ("owner", &self.owner)] {
            if let Some(v) = value {
                binds.push(JsValue::from_str(v));
                clauses.push(format!("{column} = ?{}", binds.len()));
            }
        }
        if let Some(p) = &self.hint_prefix {
            // Compared as text, never `LIKE` (`_` is a wildcard there).
            binds.push(JsValue::from_str(p));
            let n = binds.len();
            clauses.push(format!("substr(hint, 1, length(?{n})) = ?{n}"));
        }
        clauses
    }
}

/// What to read back from the audit trail or the alerts.
#[derive(Debug, Default)]
pub struct Filter {
    /// Only this key's, owner's or environment's.
    pub within: Within,
    /// At or after this time.
    pub since: Option<DateTime<Utc>>,
    /// At most this many, newest first.
    pub limit: u32,
    /// Only refusals (any outcome but `valid`).
    pub refused: bool,
    /// Only events older than this page's end (`(time, event_id)` before it).
    pub before: Option<AuditCursor>,
}

impl Filter {
    fn sql(&self) -> (String, Vec<JsValue>) {
        let mut clauses = vec!["time >= ?1".to_owned()];
        let mut binds = vec![
            JsValue::from_str(&self.since.map_or_else(|| "0000".to_owned(), timestamp)),
            JsValue::from(self.limit),
        ];
        clauses.extend(self.within.clauses(&mut binds));
        if self.refused {
            clauses.push("outcome <> 'valid'".to_owned());
        }
        if let Some(c) = &self.before {
            binds.push(JsValue::from_str(&timestamp(c.time)));
            binds.push(JsValue::from_str(&c.event_id));
            let (t, id) = (binds.len() - 1, binds.len());
            clauses.push(format!(
                "(time < ?{t} OR (time = ?{t} AND event_id < ?{id}))"
            ));
        }
        (clauses.join(" AND "), binds)
    }
}

async fn select<T: FromFields>(
    db: &D1Database,
    (table, id): (&str, &str),
    filter: &Filter,
) -> worker::Result<Vec<T>> {
    let (clauses, binds) = filter.sql();
    fields::all(
        db.prepare(format!(
            "SELECT * FROM {table} WHERE {clauses} ORDER BY time DESC, {id} DESC LIMIT ?2"
        ))
        .bind(&binds)?,
    )
    .await
}

impl FromFields for Alert {
    fn from_fields(f: &Fields) -> worker::Result<Self> {
        Ok(Alert {
            alert_id: f.str("alert_id")?,
            kind: f.named("kind", AlertKind::parse)?,
            severity: f.named("severity", Severity::parse)?,
            key_id: f.opt_str("key_id")?,
            hint: f.opt_str("hint")?,
            owner: f.opt_str("owner")?,
            event_id: f.opt_str("event_id")?,
            detail: f.str("detail")?,
            time: f.time("time")?,
        })
    }
}

/// Audit events, newest first.
///
/// # Errors
/// The D1 error.
pub async fn events(db: &D1Database, filter: &Filter) -> worker::Result<Vec<AuditEvent>> {
    select(db, ("audit_events", "event_id"), filter).await
}

/// Alerts, newest first.
///
/// # Errors
/// The D1 error.
pub async fn alerts(db: &D1Database, filter: &Filter) -> worker::Result<Vec<Alert>> {
    select(db, ("alerts", "alert_id"), filter).await
}

/// Uses (not lifecycle actions) per `bucket` and outcome from `start` on, `within` one
/// key, owner or environment, by bucket then outcome.
///
/// # Errors
/// The D1 error; a stored outcome or time that cannot be read.
pub async fn usage(
    db: &D1Database,
    within: &Within,
    start: DateTime<Utc>,
    bucket: Bucket,
) -> worker::Result<Vec<UsageRow>> {
    let mut clauses = vec!["time >= ?2".to_owned(), uses()];
    let mut binds = vec![
        JsValue::from(bucket.prefix_len() as u32),
        JsValue::from_str(&timestamp(start)),
    ];
    clauses.extend(within.clauses(&mut binds));
    let statement = db
        .prepare(format!(
            "SELECT substr(time, 1, ?1) AS b, outcome, COUNT(*) AS n FROM audit_events \
             WHERE {} GROUP BY b, outcome ORDER BY b, outcome",
            clauses.join(" AND ")
        ))
        .bind(&binds)?;
    let result = platform::all(&statement).await?;
    let unreadable =
        |what: &str| worker::Error::RustError(format!("a stored {what} cannot be read"));
    result
        .rows()?
        .iter()
        .map(|r| {
            let b = r.str("b")?;
            let start = match bucket {
                Bucket::Hour => format!("{b}:00:00Z"),
                Bucket::Day => format!("{b}T00:00:00Z"),
            };
            Ok(UsageRow {
                start: keyward_core::time::parse_rfc3339(&start).map_err(|_| unreadable("time"))?,
                outcome: r
                    .str("outcome")?
                    .parse()
                    .map_err(|_| unreadable("outcome"))?,
                uses: r.num("n")? as u64,
            })
        })
        .collect()
}

/// The `limit` most used keys from `start` on, `within` an owner or environment: uses
/// (not lifecycle actions), valid or not, most first.
///
/// # Errors
/// The D1 error.
pub async fn top_keys(
    db: &D1Database,
    within: &Within,
    start: DateTime<Utc>,
    limit: u32,
) -> worker::Result<Vec<KeyUses>> {
    let mut binds = vec![JsValue::from_str(&timestamp(start)), JsValue::from(limit)];
    let mut clauses = vec![
        "time >= ?1".to_owned(),
        uses(),
        "key_id IS NOT NULL".to_owned(),
    ];
    clauses.extend(within.clauses(&mut binds));
    let statement = db
        .prepare(format!(
            "SELECT key_id, MAX(hint) AS hint, MAX(owner) AS owner, COUNT(*) AS n, \
             SUM(outcome <> 'valid') AS refused FROM audit_events WHERE {} \
             GROUP BY key_id ORDER BY n DESC, key_id LIMIT ?2",
            clauses.join(" AND ")
        ))
        .bind(&binds)?;
    let result = platform::all(&statement).await?;
    result
        .rows()?
        .iter()
        .map(|r| {
            let key_id = r.str("key_id")?;
            Ok(KeyUses {
                root: key_id == crate::plumbing::auth::ROOT,
                key_id: key_id.parse().ok(),
                hint: r.opt_str("hint")?,
                owner: r.opt_str("owner")?,
                uses: r.num("n")? as u64,
                refused: r.num("refused")? as u64,
            })
        })
        .collect()
}
