//! The ledger's object: a SQLite-backed Durable Object per rotation chain (its first key's
//! id), holding the records of the chain's keys and the windows of their limits (an
//! owner's object holds the windows of the limits its keys share). It loads, asks the core
//! ([`use_key`], [`take_shared`], the record's own rules), and saves, each operation
//! synchronous from its first read to its last write.
//!
//! Time is the object's: every decision it makes (windows, refills, expiry, revocation,
//! rotation) uses its own clock at the moment it applies the operation, never a time the
//! caller sent (a request held open would otherwise bring its start time with it). A
//! change made on behalf of a key of the chain (`actor`) is refused there, in the same
//! step, when that key can no longer act.

use keyward_core::chrono::{DateTime, Duration, Utc};
use keyward_core::limits::lease::{self, GRANTS, Unused};
use keyward_core::limits::{Credits, CreditsChange, NamedLimit, Window};
use keyward_core::{
    Code, Counts, EnvRule, KeyId, KeyRecord, LifetimePolicy, UseAsk, credit_holder, take_shared,
    use_key,
};
use worker::{
    DurableObject, Env, Request, Response, SqlStorage, State, durable_object, wasm_bindgen,
};

use crate::bindings::config::read_clock;
use keyward_core::time::Clock;

use super::protocol::{
    CHANGED, LEASE, LedgerAnswer, LedgerOp, REFUSED, lease_header, report_headers,
};

/// A chain's object.
#[durable_object]
#[allow(missing_debug_implementations)]
pub struct KeyLedger {
    sql: SqlStorage,
    /// The clock (the platform's, or a test configuration's), read from the Worker's
    /// settings once.
    clock: Clock,
    /// The lifetime policy (`KEYWARD_MAX_LIFETIME`) a rotation's successor is held to.
    max_lifetime: LifetimePolicy,
    /// The revocation bound (`KEYWARD_REVOCATION_BOUND_MS`): how long a lease lives, and
    /// the interval its share of a limit is counted over (0: no leases).
    bound_ms: u32,
}

impl KeyLedger {
    /// The object's own time, read as each operation is applied.
    ///
    /// # Errors
    /// A clock that cannot be believed: the operation fails (the Worker answers 503).
    fn now(&self) -> worker::Result<DateTime<Utc>> {
        read_clock(self.clock)
            .ok_or_else(|| worker::Error::RustError("the clock cannot be read".into()))
    }

    /// The key `id` that a change made on behalf of `actor` is applied to, or the answer
    /// refusing the change: `revoked` or `expired` when the actor is a key of this chain
    /// that can no longer act (decided in the same step as the change; an actor of another
    /// chain was checked by the Worker just before), `not_found` when no key has this id,
    /// and `conflict` for a revoked key when `if_revoked` refuses it.
    fn key_to_change(
        &self,
        id: &KeyId,
        actor: Option<&KeyId>,
        if_revoked: IfRevoked,
        now: DateTime<Utc>,
    ) -> worker::Result<Result<KeyRecord, LedgerAnswer>> {
        if let Some(actor) = actor
            && let Some(acting) = self.load(actor)?
            && let Err(code) = acting.may_act(now)
        {
            return Ok(Err(LedgerAnswer::refused(code, code.message())));
        }
        let Some(record) = self.load(id)? else {
            return Ok(Err(LedgerAnswer::refused(
                Code::NotFound,
                "no key has this id",
            )));
        };
        if if_revoked == IfRevoked::Refuse && record.is_revoked() {
            return Ok(Err(LedgerAnswer::refused(
                Code::Conflict,
                REVOKED_NEVER_CHANGES,
            )));
        }
        Ok(Ok(record))
    }

    fn load(&self, id: &KeyId) -> worker::Result<Option<KeyRecord>> {
        let mut rows = self.sql.exec(
            "SELECT record FROM keys WHERE id = ?",
            vec![id.as_str().into()],
        )?;
        let Some(row) = Iterator::next(&mut rows).transpose()? else {
            return Ok(None);
        };
        let json = worker::js_sys::Reflect::get(&row, &"record".into())?
            .as_string()
            .ok_or_else(|| worker::Error::RustError("a ledger row without a record".into()))?;
        keyward_core::json::from_str(&json)
            .map(Some)
            .map_err(|e| worker::Error::RustError(e.to_string()))
    }

    fn save(&self, record: &KeyRecord) -> worker::Result<()> {
        let json =
            serde_json::to_string(record).map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.sql.exec(
            "INSERT INTO keys (id, record) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET record = excluded.record",
            vec![record.id.as_str().into(), json.into()],
        )?;
        Ok(())
    }

    fn window(&self, name: &str) -> worker::Result<Window> {
        let mut rows = self
            .sql
            .exec("SELECT uses FROM windows WHERE name = ?", vec![name.into()])?;
        let Some(row) = Iterator::next(&mut rows).transpose()? else {
            return Ok(Window::default());
        };
        // A window that cannot be read is never read as empty (that would reset the
        // limit): the use is refused as `unavailable` instead.
        let json = worker::js_sys::Reflect::get(&row, &"uses".into())?
            .as_string()
            .ok_or_else(|| worker::Error::RustError(format!("window {name}: not text")))?;
        keyward_core::json::from_str(&json)
            .map_err(|e| worker::Error::RustError(format!("window {name} cannot be read: {e}")))
    }

    fn windows(&self, limits: &[NamedLimit]) -> worker::Result<Vec<Window>> {
        limits.iter().map(|l| self.window(&l.name)).collect()
    }

    fn save_window(&self, name: &str, window: &Window) -> worker::Result<()> {
        let json =
            serde_json::to_string(window).map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.sql.exec(
            "INSERT INTO windows (name, uses) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET uses = excluded.uses",
            vec![name.into(), json.into()],
        )?;
        Ok(())
    }

    fn save_windows(&self, limits: &[NamedLimit], windows: &[Window]) -> worker::Result<()> {
        for (l, w) in limits.iter().zip(windows) {
            self.save_window(&l.name, w)?;
        }
        Ok(())
    }

    /// The record whose balance the key `id` spends (its own, or after a rotation its
    /// latest successor's), by the core's rule.
    fn credit_holder(&self, id: &KeyId) -> worker::Result<Option<KeyRecord>> {
        match self.load(id)? {
            Some(record) => credit_holder(&record, |next| self.load(next)),
            None => Ok(None),
        }
    }

    /// Takes the units an isolate did not use of its earlier leases out of the windows
    /// of `limits` (the core's [`lease::hand_back`]).
    fn hand_back(&self, limits: &[NamedLimit], back: &[Unused]) -> worker::Result<()> {
        let mut windows = self.windows(limits)?;
        for &unused in back {
            lease::hand_back(&mut windows, unused);
        }
        self.save_windows(limits, &windows)
    }

    /// One use: loaded, decided and counted by the core ([`use_key`]), then saved. Windows
    /// are shared by the keys of a chain, so a rotation's two keys share one allowance.
    /// With `may_lease`, an admitted use of a hot key counted by rate limits alone (no
    /// balance) may be answered with a lease (the core's [`lease::after_use`]); `back` is
    /// handed back first.
    fn use_key(
        &self,
        id: &KeyId,
        ask: &UseAsk<'_>,
        may_lease: bool,
        back: &[Unused],
    ) -> worker::Result<LedgerAnswer> {
        let now = self.now()?;
        let record = self.load(id)?;
        if let Some(r) = &record
            && !back.is_empty()
        {
            self.hand_back(&r.limits_or(ask.defaults), back)?;
        }
        let mut outcome = use_key(record.as_ref(), ask, &mut Stored(self), now)?;
        let mut granted = None;
        // Kept for the whole chain, as its windows are; read only for a use that may be leased.
        if lease::leasable(&outcome, may_lease, self.bound_ms) {
            let limits = record
                .as_ref()
                .map(|r| r.limits_or(ask.defaults))
                .unwrap_or_default();
            let mut grants = self.window(GRANTS)?;
            let at = (now.timestamp_millis(), self.bound_ms);
            let cost = ask.cost.unwrap_or(0);
            granted = lease::after_use(&mut outcome, &limits, &mut grants, at, cost, may_lease);
            if granted.is_some() {
                self.save_window(GRANTS, &grants)?;
            }
        }
        for (name, window) in outcome.windows.iter().filter(|_| outcome.admitted) {
            self.save_window(name, window)?;
        }
        if let Some(holder) = &outcome.holder {
            self.save(holder)?;
        }
        // A refused use still names its key (the audit event, and the alerts on it such
        // as a revoked key's use, are the key's).
        let records = outcome.record_after(record).into_iter().collect();
        Ok(LedgerAnswer {
            usage: Some(outcome.report),
            lease: granted,
            ..LedgerAnswer::records(records)
        })
    }

    /// Applies one operation. Synchronous from its first read to its last write: nothing
    /// else runs in the object in between, so each operation is atomic.
    fn apply(&self, op: LedgerOp) -> worker::Result<LedgerAnswer> {
        let now = self.now()?;
        match op {
            LedgerOp::Get { id } => {
                Ok(LedgerAnswer::records(self.load(&id)?.into_iter().collect()))
            }
            LedgerOp::Create { record } => {
                // The first state of a key wins: neither a second create nor a (possibly
                // stale) copy from KV can replace what the object holds.
                let kept = match self.load(&record.id)? {
                    Some(existing) => existing,
                    None => {
                        self.save(&record)?;
                        record
                    }
                };
                Ok(LedgerAnswer::records(vec![kept]))
            }
            LedgerOp::Adopt { mut record } => {
                // The explicit migration only (root, `POST /v1/migrate`): a record of the
                // previous format becomes the first state of its own chain, unless the
                // object holds the key already. A rotation's successor was never of the
                // previous format: one without its chain is forged, and not adopted.
                if record.lineage.is_some() || record.rotated_from.is_some() {
                    return Ok(LedgerAnswer::refused(
                        Code::Conflict,
                        "only a record of the previous format is adopted",
                    ));
                }
                let adopted = match self.load(&record.id)? {
                    Some(existing) => return Ok(LedgerAnswer::records(vec![existing])),
                    None => {
                        record.lineage = Some(record.id.clone());
                        record.last_used_at = None;
                        self.save(&record)?;
                        record
                    }
                };
                Ok(LedgerAnswer::changed(vec![adopted]))
            }
            LedgerOp::Revoke {
                id,
                by,
                reason,
                actor,
            } => {
                // A revocation is idempotent: a revoked key is answered as it is.
                let mut record =
                    match self.key_to_change(&id, actor.as_ref(), IfRevoked::Keep, now)? {
                        Ok(record) => record,
                        Err(no) => return Ok(no),
                    };
                if record.is_revoked() {
                    return Ok(LedgerAnswer::records(vec![record]));
                }
                record.revoke(&by, &reason, now);
                self.save(&record)?;
                Ok(LedgerAnswer::changed(vec![record]))
            }
            LedgerOp::Use {
                id,
                hash,
                env,
                scopes,
                cost,
                defaults,
                lease,
                back,
            } => {
                let ask = UseAsk {
                    hash: &hash,
                    key_env: &env,
                    rule: EnvRule::Exactly(&env),
                    required: &scopes,
                    cost: Some(cost),
                    defaults: &defaults,
                    // Decided by the Worker with the client's address, just before.
                    client: None,
                };
                self.use_key(&id, &ask, lease, &back)
            }
            LedgerOp::Take { limits, cost } => {
                let mut windows = self.windows(&limits)?;
                let report = take_shared(&limits, &mut windows, now, cost);
                if report.is_valid() {
                    self.save_windows(&limits, &windows)?;
                }
                Ok(LedgerAnswer {
                    usage: Some(report),
                    ..LedgerAnswer::default()
                })
            }
            LedgerOp::Refund { id, back } => {
                for name in &back.names {
                    let mut w = self.window(name)?;
                    w.refund(back.at_ms, back.cost);
                    self.save_window(name, &w)?;
                }
                let mut records = Vec::new();
                if let Some(id) = id
                    && let Some(mut holder) = self.credit_holder(&id)?
                    && let Some(credits) = holder.credits.as_mut()
                {
                    let at = DateTime::from_timestamp_millis(back.at_ms).unwrap_or(now);
                    credits.give_back(back.cost, at, back.alert);
                    self.save(&holder)?;
                    records.push(holder);
                }
                // The balance given back, so that no answer kept by an isolate outlives it.
                Ok(LedgerAnswer::records(records))
            }
            LedgerOp::Update {
                id,
                rate_limits,
                reshape,
                widen,
                actor,
            } => {
                let mut record =
                    match self.key_to_change(&id, actor.as_ref(), IfRevoked::Refuse, now)? {
                        Ok(record) => record,
                        Err(no) => return Ok(no),
                    };
                // Narrowing is judged against the key as this object holds it now.
                if let Err(no) = reshape.apply(&mut record, widen) {
                    return Ok(LedgerAnswer::refused(no.code, no.message));
                }
                if let Some(rate_limits) = rate_limits {
                    record.rate_limits = rate_limits;
                    record.rate_limit = None;
                }
                self.save(&record)?;
                Ok(LedgerAnswer::changed(vec![record]))
            }
            LedgerOp::Credits {
                id,
                set,
                amount,
                refill,
                alert_below,
                actor,
            } => {
                let record =
                    match self.key_to_change(&id, actor.as_ref(), IfRevoked::Refuse, now)? {
                        Ok(record) => record,
                        Err(no) => return Ok(no),
                    };
                // A rotated key's balance lives with its successor.
                let mut holder = self.credit_holder(&id)?.unwrap_or(record);
                if holder.is_revoked() {
                    return Ok(LedgerAnswer::refused(Code::Conflict, REVOKED_NEVER_CHANGES));
                }
                let change = CreditsChange {
                    set,
                    amount,
                    refill,
                    alert_below,
                };
                let credits = match Credits::changed(holder.credits.clone(), change, now) {
                    Ok(c) => c,
                    Err(e) => return Ok(LedgerAnswer::refused(Code::Conflict, e.to_string())),
                };
                holder.credits = Some(credits);
                self.save(&holder)?;
                Ok(LedgerAnswer::changed(vec![holder]))
            }
            LedgerOp::Rotate {
                id,
                successor,
                grace_seconds,
                actor,
            } => {
                // A revoked key is refused by the core's rotation rule, with its reason.
                let mut old = match self.key_to_change(&id, actor.as_ref(), IfRevoked::Keep, now)? {
                    Ok(record) => record,
                    Err(no) => return Ok(no),
                };
                match self.max_lifetime.rotate(
                    &mut old,
                    successor,
                    Duration::seconds(grace_seconds),
                    now,
                ) {
                    Ok(next) => {
                        self.save(&next)?;
                        self.save(&old)?;
                        Ok(LedgerAnswer::changed(vec![old, next]))
                    }
                    Err(e) => Ok(LedgerAnswer::refused(Code::Conflict, e.to_string())),
                }
            }
        }
    }
}

/// Why a change to a revoked key is refused.
const REVOKED_NEVER_CHANGES: &str = "a revoked key never changes";

/// What a change does with a revoked key ([`KeyLedger::key_to_change`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IfRevoked {
    /// Loads it: the change decides (a revocation is idempotent; the core's rotation
    /// refuses it).
    Keep,
    /// Refuses it (`conflict`): a revoked key's limits and credits never change.
    Refuse,
}

impl DurableObject for KeyLedger {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        for table in [
            "CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, record TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS windows (name TEXT PRIMARY KEY, uses TEXT NOT NULL)",
        ] {
            if let Err(e) = sql.exec(table, None) {
                worker::console_error!("key ledger: a table could not be made: {e}");
            }
        }
        // A configuration that cannot be read grants no leases (bound 0): every use asked.
        let (clock, max_lifetime, bound_ms) = crate::bindings::config::Config::get(&env)
            .map(|c| (c.clock, c.max_lifetime.clone(), c.revocation_bound_ms))
            .unwrap_or_default();
        KeyLedger {
            sql,
            clock,
            max_lifetime,
            bound_ms,
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let url = crate::plumbing::http::raw_url(&req);
        let body = req.text().await?;
        let Some(op) =
            LedgerOp::from_parts(&req.path(), crate::plumbing::http::query_of(&url), &body)
        else {
            return Response::error("not a ledger operation", 400);
        };
        let answer = self.apply(op)?;
        if let Some((code, why)) = answer.refused {
            let mut resp = Response::error(why, code.http_status())?;
            resp.headers_mut().set(REFUSED, code.as_str())?;
            return Ok(resp);
        }
        let mut resp = Response::from_json(&answer.records)?;
        if answer.changed {
            resp.headers_mut().set(CHANGED, "1")?;
        }
        if let Some(lease) = &answer.lease {
            resp.headers_mut().set(LEASE, &lease_header(lease))?;
        }
        if let Some(usage) = &answer.usage {
            for (name, value) in report_headers(usage) {
                resp.headers_mut().set(name, &value)?;
            }
        }
        Ok(resp)
    }
}

/// An object's storage, as the core reads a use's counts.
struct Stored<'a>(&'a KeyLedger);

impl Counts for Stored<'_> {
    type Error = worker::Error;
    fn window(&mut self, name: &str) -> worker::Result<Window> {
        self.0.window(name)
    }
    fn record(&mut self, id: &KeyId) -> worker::Result<Option<KeyRecord>> {
        self.0.load(id)
    }
}
