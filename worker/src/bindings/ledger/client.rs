//! The ledger's client: the Worker's side. It asks a chain's object (or an owner's) one
//! operation through the [protocol](super::protocol), turns a refusal into an
//! [`ApiError`], and keeps each record an object answered in a bounded cache
//! ([`CACHED_KEYS`] keys, each for at most the revocation bound
//! `KEYWARD_REVOCATION_BOUND_MS`); its own changes replace what it kept at once. It also
//! keeps the [leases](super::leases) of hot keys its objects granted, and spends them.

use std::cell::RefCell;

use keyward_core::limits::{CreditsChange, NamedLimit};
use keyward_core::{
    Code, GiveBack, KeyHash, KeyId, KeyRecord, Reshape, Successor, UseAsk, UseReport,
};
use worker::{Env, wasm_bindgen};

use super::KEY_LEDGER;
use super::leases::Leases;
use super::protocol::{
    CHANGED, LEASE, LedgerAnswer, LedgerOp, REFUSED, lease_from_header, report_from_headers,
};
use crate::bindings::cache::Recent;
use crate::plumbing::http::ApiError;

/// Keys whose latest answer the cache keeps.
pub const CACHED_KEYS: usize = 10_000;

thread_local! {
    /// The objects' recent answers, by key hash, for at most the revocation bound.
    static RECENT: RefCell<Option<Recent<[u8; 32], Option<KeyRecord>>>> = const { RefCell::new(None) };
    /// The leases this isolate holds, by key hash.
    static LEASES: RefCell<Option<Leases>> = const { RefCell::new(None) };
}

/// Forgets every answer this isolate keeps (a change was made where it did not see it).
#[cfg(not(feature = "control"))]
pub fn forget_all() {
    RECENT.with(|r| {
        if let Some(cache) = r.borrow_mut().as_mut() {
            cache.forget_all(now_ms());
        }
    });
}

/// `f` with this isolate's leases.
fn with_leases<T>(f: impl FnOnce(&mut Leases) -> T) -> T {
    LEASES.with(|l| f(l.borrow_mut().get_or_insert_with(Leases::default)))
}

fn now_ms() -> f64 {
    worker::Date::now().as_millis() as f64
}

fn fault(e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable("the key ledger", e)
}

/// The Worker's side: asks a chain's object, keeps answers for the revocation bound.
#[derive(Debug)]
pub struct Ledger<'a> {
    env: &'a Env,
    bound_ms: f64,
}

impl<'a> Ledger<'a> {
    /// The ledger, reusing answers for at most `bound_ms` (0: ask every time).
    pub fn new(env: &'a Env, bound_ms: u32) -> Self {
        Ledger {
            env,
            bound_ms: f64::from(bound_ms),
        }
    }

    async fn ask(&self, chain: &KeyId, op: &LedgerOp) -> Result<LedgerAnswer, ApiError> {
        self.ask_object(chain.as_str(), op).await
    }

    async fn ask_object(&self, object: &str, op: &LedgerOp) -> Result<LedgerAnswer, ApiError> {
        let namespace = self.env.durable_object(KEY_LEDGER).map_err(fault)?;
        let stub = namespace
            .id_from_name(object)
            .and_then(|id| id.get_stub())
            .map_err(fault)?;
        let (path, body) = op.to_parts();
        let body = body.map(|b| wasm_bindgen::JsValue::from_str(&b));
        let url = format!("https://key-ledger{path}");
        let req = crate::bindings::platform::request(&url, "POST", None, body.as_ref(), false)
            .map_err(fault)?;
        let mut resp = stub.fetch_with_request(req).await.map_err(fault)?;
        let refused = resp
            .headers()
            .get(REFUSED)
            .ok()
            .flatten()
            .and_then(|c| c.parse::<Code>().ok());
        let refusal = match (resp.status_code(), refused) {
            (200, _) => None,
            (_, Some(code)) => Some(code),
            (404, None) => Some(Code::NotFound),
            (409, None) => Some(Code::Conflict),
            (s, None) => return Err(fault(format!("the object answered {s}"))),
        };
        if let Some(code) = refusal {
            let why = resp.text().await.unwrap_or_default();
            return Ok(LedgerAnswer {
                refused: Some((code, why)),
                ..LedgerAnswer::default()
            });
        }
        let changed = resp.headers().get(CHANGED).ok().flatten().is_some();
        let usage = report_from_headers(|name| resp.headers().get(name).ok().flatten());
        let lease = match resp.headers().get(LEASE).ok().flatten() {
            None => None,
            Some(v) => Some(lease_from_header(&v).ok_or_else(|| fault("a garbled lease"))?),
        };
        let text = resp.text().await.map_err(fault)?;
        let records = keyward_core::json::from_str::<Vec<KeyRecord>>(&text).map_err(fault)?;
        Ok(LedgerAnswer {
            records,
            changed,
            refused: None,
            usage,
            lease,
        })
    }

    /// Keeps an answer about the key whose hash is `hash` (the cache is keyed like the
    /// KV lookups, by the key's hash).
    fn remember(
        &self,
        hash: &KeyHash,
        record: Option<KeyRecord>,
        started: Option<f64>,
    ) -> Option<KeyRecord> {
        if self.bound_ms <= 0.0 {
            return record;
        }
        RECENT.with(|r| {
            let mut r = r.borrow_mut();
            let cache = r.get_or_insert_with(|| Recent::new(self.bound_ms, CACHED_KEYS));
            match started {
                Some(started) => cache.remember_read(*hash.as_bytes(), record, started, now_ms()),
                None => {
                    cache.remember_write(*hash.as_bytes(), record.clone(), now_ms());
                    record
                }
            }
        })
    }

    /// An answer whose refusal is an error; otherwise each record in it is kept as the
    /// latest truth about its key.
    ///
    /// # Errors
    /// The refusal (`conflict`, `not_found`, the actor's `revoked` or `expired`).
    fn settle(&self, answer: LedgerAnswer) -> Result<LedgerAnswer, ApiError> {
        if let Some((code, why)) = answer.refused {
            return Err(ApiError::new(code, why));
        }
        for record in &answer.records {
            self.remember(&record.hash, Some(record.clone()), None);
        }
        Ok(answer)
    }

    /// The first record of an answer that must hold one.
    fn first(answer: LedgerAnswer) -> Result<KeyRecord, ApiError> {
        answer
            .records
            .into_iter()
            .next()
            .ok_or_else(|| fault("the object kept nothing"))
    }

    /// The truth about the key whose record KV holds (`found`): the object's record. A
    /// record its object does not know (`None`) is no key: of the current format, it was
    /// never committed; of the previous format, it was never migrated (KV never
    /// introduces a key, a right or a life; see [`Ledger::adopt`]).
    ///
    /// # Errors
    /// `unavailable` when the object cannot be reached: never a pass.
    pub async fn truth(&self, found: &KeyRecord) -> Result<Option<KeyRecord>, ApiError> {
        if self.bound_ms > 0.0 {
            let cached = RECENT.with(|r| {
                r.borrow()
                    .as_ref()
                    .and_then(|c| c.get(found.hash.as_bytes(), now_ms()))
            });
            if let Some(record) = cached {
                return Ok(record);
            }
        }
        let started = now_ms();
        let op = LedgerOp::Get {
            id: found.id.clone(),
        };
        let answer = self.ask(found.chain(), &op).await?;
        let record = answer.records.into_iter().find(|r| r.id == found.id);
        Ok(self.remember(&found.hash, record, Some(started)))
    }

    /// The record of the previous format KV holds (`found`, without a `lineage`) made the
    /// first state of its own chain, unless its object knows the key already (then that
    /// object's record, unchanged). For the explicit migration only: never on a
    /// verification or a management call. Returns the record and whether this call
    /// adopted it.
    ///
    /// # Errors
    /// `conflict` for a record that is not of the previous format, or `unavailable`.
    pub async fn adopt(&self, found: &KeyRecord) -> Result<(KeyRecord, bool), ApiError> {
        let op = LedgerOp::Adopt {
            record: found.clone(),
        };
        let answer = self.settle(self.ask(found.chain(), &op).await?)?;
        let changed = answer.changed;
        Ok((Self::first(answer)?, changed))
    }

    /// One use of the key KV found (`found`), asked as `ask` (its hash, environment,
    /// scopes, cost and the environment's default limits): decided, counted and charged
    /// by its object in one step, at the object's time. Returns the object's record (if it
    /// knows the key) and what the use came to. What this isolate's leases of the key
    /// left unused (ended, out, or of another record than `truth`) is handed back with the
    /// ask; with `may_lease` (the key has no owner's limits), the object may answer with a
    /// lease, kept here for at most the bound from this ask's start.
    ///
    /// # Errors
    /// `unavailable`.
    pub async fn use_key(
        &self,
        (found, truth): (&KeyRecord, Option<&KeyRecord>),
        ask: &UseAsk<'_>,
        may_lease: bool,
    ) -> Result<(Option<KeyRecord>, UseReport), ApiError> {
        let (hash, cost) = (ask.hash, ask.cost.unwrap_or(0));
        let started = now_ms();
        let leasing = self.bound_ms > 0.0;
        let back = if leasing {
            with_leases(|l| l.take_back(hash.as_bytes(), truth, cost, started))
        } else {
            Vec::new()
        };
        let op = LedgerOp::Use {
            id: found.id.clone(),
            hash: *hash,
            env: ask.env().to_owned(),
            scopes: ask.required.to_vec(),
            cost,
            defaults: ask.defaults.to_vec(),
            lease: may_lease && leasing,
            back,
        };
        let answer = self.settle(self.ask(found.chain(), &op).await?)?;
        let report = answer
            .usage
            .ok_or_else(|| fault("the object reported no use"))?;
        let record = answer.records.into_iter().next();
        if let (Some(lease), Some(r), true) = (answer.lease, &record, leasing) {
            let times = (started, self.bound_ms, now_ms());
            with_leases(|l| {
                l.keep(*hash.as_bytes(), lease, r, report.limits.clone(), times);
            });
        }
        Ok((record, report))
    }

    /// Whether this isolate holds a live lease of the key `hash` with `cost` units left
    /// (never with a bound of 0): only then is a use decided here before its object is asked.
    pub fn holds_lease(&self, hash: &KeyHash, cost: u32) -> bool {
        self.bound_ms > 0.0 && with_leases(|l| l.holds(hash.as_bytes(), cost, now_ms()))
    }

    /// A use of `cost` units of the key whose hash is `hash`, spent from a live lease
    /// this isolate holds for the same record as `truth` (a use the caller decided
    /// valid on `truth`, at `now`): what it came to, or `None` when no lease pays for it
    /// (the use is then asked of the object).
    pub fn spend_lease(
        &self,
        hash: &KeyHash,
        truth: &KeyRecord,
        cost: u32,
        now: keyward_core::chrono::DateTime<keyward_core::chrono::Utc>,
    ) -> Option<UseReport> {
        if self.bound_ms <= 0.0 {
            return None;
        }
        let limits = with_leases(|l| l.spend(hash.as_bytes(), truth, cost, now_ms()))?;
        Some(UseReport {
            limits,
            ..UseReport::of(&keyward_core::Verdict::Valid, now)
        })
    }

    /// Counts a use against limits shared in the object `object` (an owner's).
    ///
    /// # Errors
    /// `unavailable`.
    pub async fn take(
        &self,
        object: &str,
        limits: &[NamedLimit],
        cost: u32,
    ) -> Result<UseReport, ApiError> {
        let op = LedgerOp::Take {
            limits: limits.to_vec(),
            cost,
        };
        self.settle(self.ask_object(object, &op).await?)?
            .usage
            .ok_or_else(|| fault("the object reported no use"))
    }

    /// Gives back, whole, a use counted in the object `object` (`back`: its windows, and
    /// with `id`, that key's credits and the low-credit alert's state). The balance given
    /// back is kept, so that no answer kept here outlives it.
    ///
    /// # Errors
    /// `unavailable`.
    pub async fn refund(
        &self,
        object: &str,
        id: Option<&KeyId>,
        back: GiveBack,
    ) -> Result<(), ApiError> {
        let op = LedgerOp::Refund {
            id: id.cloned(),
            back,
        };
        self.settle(self.ask_object(object, &op).await?)?;
        Ok(())
    }

    /// Replaces a key's own limits and changes its restrictions and expiry (`widen`: root
    /// or `admin`; otherwise it may only narrow) on behalf of `actor`; returns its record.
    ///
    /// # Errors
    /// `not_found`, `conflict` (revoked), the actor's `revoked` or `expired`, or
    /// `unavailable`.
    pub async fn update(
        &self,
        record: &KeyRecord,
        rate_limits: Option<Vec<NamedLimit>>,
        reshape: Reshape,
        widen: bool,
        actor: Option<&KeyId>,
    ) -> Result<KeyRecord, ApiError> {
        let op = LedgerOp::Update {
            id: record.id.clone(),
            rate_limits,
            reshape,
            widen,
            actor: actor.cloned(),
        };
        self.one(record, &op).await
    }

    /// Sets (or adds to) a key's balance and its settings on behalf of `actor`; returns
    /// the record that holds the balance (the key's, or its successor's after a rotation).
    ///
    /// # Errors
    /// `not_found`, `conflict` (revoked), the actor's `revoked` or `expired`, or
    /// `unavailable`.
    pub async fn set_credits(
        &self,
        record: &KeyRecord,
        change: CreditsChange,
        actor: Option<&KeyId>,
    ) -> Result<KeyRecord, ApiError> {
        let op = LedgerOp::Credits {
            id: record.id.clone(),
            set: change.set,
            amount: change.amount,
            refill: change.refill,
            alert_below: change.alert_below,
            actor: actor.cloned(),
        };
        self.one(record, &op).await
    }

    /// An operation on `record`'s chain that answers one record.
    async fn one(&self, record: &KeyRecord, op: &LedgerOp) -> Result<KeyRecord, ApiError> {
        Self::first(self.settle(self.ask(record.chain(), op).await?)?)
    }

    /// Commits a new key (its KV record already written).
    ///
    /// # Errors
    /// `unavailable`.
    pub async fn create(&self, record: &KeyRecord) -> Result<KeyRecord, ApiError> {
        let op = LedgerOp::Create {
            record: record.clone(),
        };
        self.one(record, &op).await
    }

    /// Revokes a key; returns its record and whether this call revoked it. `by` is a key
    /// id when a key revokes (it is then the actor, checked as it acts), `root`, or a
    /// leak reporter.
    ///
    /// # Errors
    /// `not_found`, the actor's `revoked` or `expired`, or `unavailable`.
    pub async fn revoke(
        &self,
        record: &KeyRecord,
        by: &str,
        reason: &str,
    ) -> Result<(KeyRecord, bool), ApiError> {
        let op = LedgerOp::Revoke {
            id: record.id.clone(),
            by: by.to_owned(),
            reason: reason.to_owned(),
            actor: by.parse().ok(),
        };
        let answer = self.settle(self.ask(record.chain(), &op).await?)?;
        let changed = answer.changed;
        Ok((Self::first(answer)?, changed))
    }

    /// Rotates a key on behalf of `actor`; returns the old key's record (ending with its
    /// grace) and the successor's.
    ///
    /// # Errors
    /// `conflict` (revoked, expired, already rotated), `not_found`, the actor's `revoked`
    /// or `expired`, or `unavailable`.
    pub async fn rotate(
        &self,
        old: &KeyRecord,
        successor: Successor,
        grace_seconds: i64,
        actor: Option<&KeyId>,
    ) -> Result<(KeyRecord, KeyRecord), ApiError> {
        let op = LedgerOp::Rotate {
            id: old.id.clone(),
            successor,
            grace_seconds,
            actor: actor.cloned(),
        };
        let answer = self.settle(self.ask(old.chain(), &op).await?)?;
        let mut records = answer.records.into_iter();
        let (Some(old), Some(next)) = (records.next(), records.next()) else {
            return Err(fault("the object answered no successor"));
        };
        Ok((old, next))
    }
}
