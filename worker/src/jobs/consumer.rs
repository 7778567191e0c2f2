//! The audit queue consumer: events into D1 (idempotent by event id), misuse rules into
//! alerts, `last_used_at` into KV once per key per batch. A failed batch is retried whole;
//! the D1 writes are one transaction, and history leaves out the batch's own events, so a
//! retry neither loses, doubles nor double-counts anything.

use keyward_core::table::Table;

use keyward_api::Alert;
use keyward_core::chrono::{DateTime, Duration, Timelike as _, Utc};
use keyward_core::{AlertKind, AuditEvent, Code, KeyHistory, MisuseRules, evaluate};
use worker::Env;

use crate::bindings::config::AUDIT_DB;
use crate::bindings::db::{self, minute_of};
use crate::bindings::store::Store;
use crate::plumbing::auth::ROOT;

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

/// What one key's events in a batch amount to.
#[derive(Debug, Default, PartialEq)]
pub struct Judged {
    /// Alerts to store (ids are deterministic).
    pub alerts: Vec<Alert>,
    /// The time of the key's last valid use in the batch.
    pub last_used: Option<DateTime<Utc>>,
}

/// Runs the misuse rules over one key's `uses` (sorted by time), given its `history`
/// before the batch and its stored uses per minute (`YYYY-MM-DDTHH:MM`). Each use joins
/// the history for the ones after it.
pub fn judge(
    uses: &[&AuditEvent],
    mut history: KeyHistory,
    stored_per_minute: &Table<String, u64>,
    rules: &MisuseRules,
) -> Judged {
    let mut judged = Judged::default();
    let mut in_minute: Table<String, u64> = Table::new();
    for e in uses {
        let minute = minute_of(e.time);
        let count = in_minute.get_or_insert_with(minute.clone(), || {
            stored_per_minute.get(&minute).copied().unwrap_or(0)
        });
        *count += 1;
        history.current_minute = *count;
        for kind in evaluate(e, &history, rules) {
            let id = kind.alert_id(e.key_id.as_deref().unwrap_or("-"), e.time);
            if judged.alerts.iter().any(|a| a.alert_id == id) {
                continue;
            }
            judged.alerts.push(
                Alert::new(
                    kind,
                    kind.alert_id(e.key_id.as_deref().unwrap_or("-"), e.time),
                    describe(kind, e),
                    e.time,
                )
                .for_event(e),
            );
        }
        history.observe(e);
        if e.outcome == Code::Valid && e.key_id.as_deref() != Some(ROOT) {
            judged.last_used = Some(e.time);
        }
    }
    judged
}

/// Handles one batch. Returning an error makes the runtime retry the whole batch.
///
/// # Errors
/// Any D1 or KV fault.
pub async fn handle(mut events: Vec<AuditEvent>, env: &Env) -> worker::Result<()> {
    let db = env.d1(AUDIT_DB)?;
    keyward_core::order::sort_by_key(&mut events, |e| e.time);

    let mut by_key: Table<&str, Vec<&AuditEvent>> = Table::new();
    for e in events.iter().filter(|e| e.is_use()) {
        if let Some(k) = &e.key_id {
            by_key.get_or_insert_with(k, Vec::new).push(e);
        }
    }
    let rules = MisuseRules::default();
    let mut alerts = Vec::new();
    let mut last_used = Vec::new();
    for (key_id, uses) in by_key.iter() {
        let Some(first) = uses.first() else { continue };
        let (history, per_minute) = if *key_id == ROOT {
            (KeyHistory::default(), Table::new())
        } else {
            let mut minutes: Vec<String> = uses.iter().map(|e| minute_of(e.time)).collect();
            minutes.dedup();
            let week_ago = first.time - Duration::days(7);
            let (history, counts) = db::history(&db, key_id, uses, &minutes, week_ago).await?;
            (history, Table::from_pairs(minutes.into_iter().zip(counts)))
        };
        let judged = judge(uses, history, &per_minute, &rules);
        alerts.extend(judged.alerts);
        if let Some(t) = judged.last_used {
            last_used.push((*key_id, t));
        }
    }

    let new_alerts = db::store(&db, &events, alerts).await?;
    crate::endpoints::webhooks::announce_alerts(env, &new_alerts).await;

    let store = Store::open(env)?;
    for (key_id, time) in last_used {
        store
            .set_last_used(key_id, &db::timestamp(time))
            .await
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use keyward_core::chrono::TimeZone as _;

    fn event(n: u32, ip: &str, second: u32, outcome: Code) -> AuditEvent {
        AuditEvent {
            event_id: format!("{n:032x}"),
            key_id: Some("key_0123456789abcdef".into()),
            hint: Some("sk_live_AbCd".into()),
            owner: Some("o".into()),
            actor: None,
            action: "GET /x".into(),
            ip: Some(ip.into()),
            country: None,
            user_agent: None,
            time: Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, second).unwrap(),
            outcome,
            status: None,
        }
    }

    fn seasoned(ips: &[&str]) -> KeyHistory {
        KeyHistory {
            total_events: 100,
            known_ips: ips.iter().map(|s| s.to_string()).collect(),
            uses_by_hour: [5; 24],
            baseline_per_minute: 1.0,
            ..KeyHistory::default()
        }
    }

    #[test]
    fn a_new_ip_alerts_once_then_is_known_for_the_rest_of_the_batch() {
        let events = [
            event(1, "192.0.2.1", 0, Code::Valid),
            event(2, "192.0.2.9", 1, Code::Valid),
            event(3, "192.0.2.9", 2, Code::Valid),
        ];
        let uses: Vec<&AuditEvent> = events.iter().collect();
        let j = judge(
            &uses,
            seasoned(&["192.0.2.1"]),
            &Table::new(),
            &MisuseRules::default(),
        );
        let kinds: Vec<_> = j
            .alerts
            .iter()
            .map(|a| (a.kind, a.event_id.clone()))
            .collect();
        assert_eq!(kinds, vec![(AlertKind::NewIp, Some(format!("{:032x}", 2)))]);
        assert_eq!(j.last_used, Some(events[2].time));
    }

    #[test]
    fn a_busy_key_raises_one_alert_per_kind_per_window_not_one_per_use() {
        // 50 uses from 50 new IPs in one hour, far above the norm, of a revoked key.
        let events: Vec<AuditEvent> = (0..50)
            .map(|i| event(i, &format!("198.51.100.{i}"), i % 60, Code::Revoked))
            .collect();
        let uses: Vec<&AuditEvent> = events.iter().collect();
        let rules = MisuseRules::default();
        let busy = Table::from_pairs([(minute_of(events[0].time), 500)]);
        let j = judge(&uses, seasoned(&["192.0.2.1"]), &busy, &rules);
        let kinds: Vec<AlertKind> = j.alerts.iter().map(|a| a.kind).collect();
        assert_eq!(
            kinds,
            vec![
                AlertKind::RevokedKeyUsed,
                AlertKind::NewIp,
                AlertKind::Burst
            ]
        );
    }

    #[test]
    fn stored_uses_of_the_minute_count_toward_a_burst() {
        let events = [event(1, "192.0.2.1", 30, Code::Valid)];
        let uses: Vec<&AuditEvent> = events.iter().collect();
        let rules = MisuseRules::default();
        let minute = minute_of(events[0].time);
        let quiet = judge(&uses, seasoned(&["192.0.2.1"]), &Table::new(), &rules);
        assert!(quiet.alerts.is_empty());
        let busy = Table::from_pairs([(minute, rules.burst_floor - 1)]);
        let loud = judge(&uses, seasoned(&["192.0.2.1"]), &busy, &rules);
        assert_eq!(loud.alerts[0].kind, AlertKind::Burst);
    }

    #[test]
    fn judging_the_same_batch_twice_gives_the_same_alerts() {
        // A retried batch is judged against the same history (its own events are left
        // out of it), so it raises the same alerts with the same ids, stored once.
        let events = [
            event(1, "192.0.2.7", 0, Code::Revoked),
            event(2, "192.0.2.8", 1, Code::Valid),
        ];
        let uses: Vec<&AuditEvent> = events.iter().collect();
        let rules = MisuseRules::default();
        let first = judge(&uses, seasoned(&["192.0.2.7"]), &Table::new(), &rules);
        let again = judge(&uses, seasoned(&["192.0.2.7"]), &Table::new(), &rules);
        assert_eq!(first, again);
        assert!(
            first
                .alerts
                .iter()
                .any(|a| a.kind == AlertKind::RevokedKeyUsed)
        );
        assert_eq!(first.last_used, Some(events[1].time));
    }
}
