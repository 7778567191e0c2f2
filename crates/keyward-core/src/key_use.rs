//! One use of a key, whole: the decision, the limits that apply, the balance that pays,
//! the counting, the headers, and what to give back when a later step refuses. A front
//! end loads what a use needs, calls [`use_key`], and saves what it says: the Worker's
//! Durable Object, the Worker's uncounted path with [`NoCounts`], and the npm package's
//! `memoryStore()` (keyward-wasm's `KeyTable`).
//!
//! ```text
//! decide        hash compared again → revoked → expired → restrictions (when asked) →
//!               wrong environment → scopes
//! limits        the key's own, or (none of its own) its environment's defaults
//! balance       its own, or (rotated, none of its own) its latest successor's
//! count         credits checked → every limit admits → credits charged (refused: nothing)
//! shared        an owner's limits count it after ([`take_shared`]); refused there, the
//!               use is given back whole ([`UseReport::owner_counted`], [`GiveBack`])
//! ```
//!
//! ```
//! use keyward_core::{ApiKey, EnvRule, NoCounts, Presented, UseAsk, use_key};
//! # let now = keyward_core::chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap();
//! let new = ApiKey::generate("sk", "live").unwrap();
//! let presented = Presented::parse(new.key.expose_secret()).unwrap();
//! let ask = UseAsk::new(&presented, EnvRule::Exactly("live"), &[]);
//! let outcome = use_key(None, &ask.costing(1), &mut NoCounts, now).unwrap();
//! assert_eq!(outcome.report.code.as_str(), "unknown_key");
//! ```

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::check::{EnvRule, Presented, decide_presented};
use crate::code::Code;
use crate::hash::KeyHash;
use crate::limits::{LimitStatus, NamedLimit, Window, admit, consume, retry_after_seconds};
use crate::record::{KeyId, KeyRecord};
use crate::restrict::restrict;
use crate::scope::Scope;
use crate::verdict::Verdict;

/// Links followed from a rotated key to the successor holding its balance, at most.
const MAX_CHAIN: usize = 64;

/// What one use asks of a key.
#[derive(Clone, Copy, Debug)]
pub struct UseAsk<'a> {
    /// The presented key's hash (a record with another is no record).
    pub hash: &'a KeyHash,
    /// The environment the presented key's prefix names.
    pub key_env: &'a str,
    /// The environment the key must belong to.
    pub rule: EnvRule<'a>,
    /// Scopes the use needs.
    pub required: &'a [Scope],
    /// Units it costs; `None`: a look (a management call's caller), counted by nothing.
    pub cost: Option<u32>,
    /// The deployment's limits for the key's environment, for a key with none of its own.
    pub defaults: &'a [NamedLimit],
    /// `Some(client)`: the record's restrictions (`not_before`, allowed networks) are
    /// decided here for a use from `client` (`None`: the address is unknown, which a key
    /// restricted to networks refuses); `None`: the caller decided them already.
    pub client: Option<Option<IpAddr>>,
}

impl<'a> UseAsk<'a> {
    /// A look at `presented` under `rule` needing `required`: no cost, no defaults.
    pub fn new(presented: &'a Presented<'_>, rule: EnvRule<'a>, required: &'a [Scope]) -> Self {
        UseAsk {
            hash: presented.hash(),
            key_env: presented.env(),
            rule,
            required,
            cost: None,
            defaults: &[],
            client: None,
        }
    }

    /// The same ask, with the record's restrictions decided for a use from `client`.
    pub fn from_client(self, client: Option<IpAddr>) -> Self {
        UseAsk {
            client: Some(client),
            ..self
        }
    }

    /// The same ask, as a use of `cost` units.
    pub fn costing(self, cost: u32) -> Self {
        UseAsk {
            cost: Some(cost),
            ..self
        }
    }

    /// The same ask, with the deployment's `defaults` for the key's environment.
    pub fn with_defaults(self, defaults: &'a [NamedLimit]) -> Self {
        UseAsk { defaults, ..self }
    }

    /// The environment the key must belong to, the rule resolved.
    pub fn env(&self) -> &'a str {
        self.rule.resolve(self.key_env)
    }
}

/// Where a use's counts are kept, read when the use needs them.
pub trait Counts {
    /// Why a read failed (the use is then not decided: never read as empty).
    type Error;
    /// The window of the limit `name` (empty if none is kept).
    ///
    /// # Errors
    /// A window that cannot be read.
    fn window(&mut self, name: &str) -> Result<Window, Self::Error>;
    /// The record of the key `id`, to follow a rotation to its balance (`None`: not kept).
    ///
    /// # Errors
    /// A record that cannot be read.
    fn record(&mut self, id: &KeyId) -> Result<Option<KeyRecord>, Self::Error>;
}

/// Counts that keep nothing: a key's own balance only, no window.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCounts;

impl Counts for NoCounts {
    type Error = core::convert::Infallible;
    fn window(&mut self, _: &str) -> Result<Window, Self::Error> {
        Ok(Window::default())
    }
    fn record(&mut self, _: &KeyId) -> Result<Option<KeyRecord>, Self::Error> {
        Ok(None)
    }
}

/// What a use (or a take of shared limits) came to: what a front end answers with, and
/// what travels between the Worker and its objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UseReport {
    /// The verdict's code.
    pub code: Code,
    /// For `insufficient_scope`: the scope.
    pub missing: Option<Scope>,
    /// The limits' statuses.
    pub limits: Vec<LimitStatus>,
    /// The credit balance, if the key has credits.
    pub credits: Option<u64>,
    /// Whether a `credits_low` alert is due.
    pub alert_due: bool,
    /// When refused by a limit or credits: milliseconds until a retry can succeed.
    pub retry_after_ms: Option<i64>,
    /// The time the use was counted at (ms), for a give-back.
    pub at_ms: i64,
}

impl UseReport {
    /// The report of `verdict` at `now`, counted by nothing.
    pub fn of(verdict: &Verdict, now: DateTime<Utc>) -> Self {
        UseReport {
            code: verdict.code(),
            missing: match verdict {
                Verdict::InsufficientScope { missing } => Some(missing.clone()),
                _ => None,
            },
            limits: Vec::new(),
            credits: None,
            alert_due: false,
            retry_after_ms: None,
            at_ms: now.timestamp_millis(),
        }
    }

    /// Whether the use passed.
    pub fn is_valid(&self) -> bool {
        self.code == Code::Valid
    }

    /// When a refused use may be retried, whole seconds rounded up (at least 1), as
    /// `Retry-After` says it; none for a use that passed or can never pass.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        self.retry_after_ms
            .filter(|_| !self.is_valid())
            .map(retry_after_seconds)
    }

    /// `RateLimit-Policy`, `RateLimit` and (refused) `Retry-After` for this use.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        crate::limits::ratelimit_headers(
            &self.limits,
            self.retry_after_ms.filter(|_| !self.is_valid()),
        )
    }

    /// Adds what the owner's shared limits said of this use (`owner`, from
    /// [`take_shared`]). Returns what to give back to the key's counts when the owner
    /// refused a use the key's counts admitted: the use is then `rate_limited`, retried
    /// when the owner's limits allow, and raises no low-credit alert (its charge is
    /// given back).
    pub fn owner_counted(&mut self, owner: UseReport, cost: u32) -> Option<GiveBack> {
        let give_back = (self.is_valid() && !owner.is_valid()).then(|| self.give_back(cost));
        if give_back.is_some() {
            self.code = Code::RateLimited;
            self.retry_after_ms = owner.retry_after_ms;
            self.alert_due = false;
        }
        self.limits.extend(owner.limits);
        give_back
    }

    /// What giving this use back, whole, takes from its counts.
    pub fn give_back(&self, cost: u32) -> GiveBack {
        GiveBack {
            names: self.limits.iter().map(|l| l.name.clone()).collect(),
            at_ms: self.at_ms,
            cost,
            alert: self.alert_due,
        }
    }
}

/// A counted use to give back whole: its units in the named windows, and (for a key)
/// its charge and the low-credit alert's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GiveBack {
    /// The windows that counted it.
    pub names: Vec<String>,
    /// Its time, as counted (ms): which use to give back.
    pub at_ms: i64,
    /// Its units.
    pub cost: u32,
    /// Whether it made the `credits_low` alert due.
    pub alert: bool,
}

/// What one use came to, and what to save.
#[derive(Clone, Debug)]
pub struct UseOutcome {
    /// The verdict (after the counts: `rate_limited` or `usage_exceeded` when they refuse).
    pub verdict: Verdict,
    /// The verdict and counts as answered.
    pub report: UseReport,
    /// Whether limits or a balance counted the use (else the report has no usage).
    pub counted: bool,
    /// Whether the counts admitted it: then `windows` and `holder` are to be saved.
    pub admitted: bool,
    /// The windows read, by limit name, as they are after the use (holding it when
    /// admitted; a keeper that moved them out puts them back either way).
    pub windows: Vec<(String, Window)>,
    /// The record whose balance was charged, to save (none unless admitted).
    pub holder: Option<KeyRecord>,
}

impl UseOutcome {
    /// The key's record as it is after the use: with its balance charged when it holds
    /// its own.
    pub fn record_after(&self, found: Option<KeyRecord>) -> Option<KeyRecord> {
        match (&self.holder, found) {
            (Some(h), Some(f)) if h.id == f.id => Some(h.clone()),
            (_, found) => found,
        }
    }
}

/// The whole use of the key whose record a lookup by `ask.hash` found (`found`), at `now`
/// (the time of whoever keeps the counts): decided, then, when it passes and costs
/// something, counted under its limits (its own, or its environment's defaults) and
/// charged to its balance (its own, or after a rotation its successor's), reading what
/// it needs from `counts`. Nothing is saved here: the outcome says what to save.
///
/// # Errors
/// What `counts` fails with.
pub fn use_key<C: Counts>(
    found: Option<&KeyRecord>,
    ask: &UseAsk<'_>,
    counts: &mut C,
    now: DateTime<Utc>,
) -> Result<UseOutcome, C::Error> {
    let verdict = decide_presented(
        ask.hash,
        ask.key_env,
        found.map(KeyRecord::facts),
        ask.rule,
        ask.required,
        now,
    );
    // The restrictions refuse a live key before anything is counted or charged; the
    // core orders them after revoked and expired.
    let verdict = match (found, ask.client) {
        (Some(record), Some(client)) => restrict(verdict, &record.restrictions(), client, now),
        _ => verdict,
    };
    let mut out = UseOutcome {
        report: UseReport::of(&verdict, now),
        verdict,
        counted: false,
        admitted: false,
        windows: Vec::new(),
        holder: None,
    };
    let (Some(record), Some(cost), true) = (found, ask.cost, out.verdict.is_valid()) else {
        return Ok(out);
    };
    let limits = record.limits_or(ask.defaults);
    let mut holder = credit_holder(record, |id| counts.record(id))?;
    if limits.is_empty() && holder.is_none() {
        return Ok(out);
    }
    let mut windows = limits
        .iter()
        .map(|l| counts.window(&l.name))
        .collect::<Result<Vec<_>, _>>()?;
    let consumed = consume(
        &limits,
        &mut windows,
        holder.as_mut().and_then(|h| h.credits.as_mut()),
        now,
        cost,
    );
    out.counted = true;
    out.report.code = consumed.verdict.code();
    out.report.limits = consumed.admission.limits;
    out.report.retry_after_ms = consumed.admission.retry_after_ms;
    out.report.credits = consumed.spend.as_ref().map(|s| s.remaining);
    out.report.alert_due = consumed.spend.as_ref().is_some_and(|s| s.alert_due);
    out.admitted = consumed.verdict.is_valid();
    out.windows = limits.into_iter().map(|l| l.name).zip(windows).collect();
    if out.admitted {
        out.holder = holder;
    }
    out.verdict = consumed.verdict;
    Ok(out)
}

/// The record whose balance `record` spends: its own, or (a rotation moved the balance)
/// its latest successor's, read through `load`; none when no record of the chain holds
/// one.
///
/// # Errors
/// What `load` fails with.
pub fn credit_holder<E>(
    record: &KeyRecord,
    mut load: impl FnMut(&KeyId) -> Result<Option<KeyRecord>, E>,
) -> Result<Option<KeyRecord>, E> {
    if record.credits.is_some() {
        return Ok(Some(record.clone()));
    }
    let mut next = record.rotated_to.clone();
    for _ in 0..MAX_CHAIN {
        let Some(id) = next else { return Ok(None) };
        let Some(r) = load(&id)? else { return Ok(None) };
        if r.credits.is_some() {
            return Ok(Some(r));
        }
        next = r.rotated_to;
    }
    Ok(None)
}

/// A use of `cost` units counted against limits several keys share (an owner's), at
/// `now`: every limit admits it or none counts it. Admitted, `windows` hold it.
pub fn take_shared(
    limits: &[NamedLimit],
    windows: &mut [Window],
    now: DateTime<Utc>,
    cost: u32,
) -> UseReport {
    let admission = admit(limits, windows, now.timestamp_millis(), cost);
    let verdict = if admission.allowed {
        Verdict::Valid
    } else {
        Verdict::RateLimited
    };
    UseReport {
        limits: admission.limits,
        retry_after_ms: admission.retry_after_ms,
        ..UseReport::of(&verdict, now)
    }
}

impl KeyRecord {
    /// The limits a use of this key is counted under: its own, or when it has none, its
    /// environment's `defaults`.
    pub fn limits_or(&self, defaults: &[NamedLimit]) -> Vec<NamedLimit> {
        let own = self.limits();
        if own.is_empty() {
            defaults.to_vec()
        } else {
            own
        }
    }

    /// Whether a use of this key may be counted, given its environment's `defaults` and
    /// its owner's shared limits: then it is decided where its counts are kept, never
    /// from a cached answer. A rotated key may be: its balance may live with its
    /// successor.
    pub fn is_counted_with(&self, defaults: &[NamedLimit], owner: &[NamedLimit]) -> bool {
        self.is_counted() || self.rotated_to.is_some() || !defaults.is_empty() || !owner.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;

    use super::*;
    use crate::key::ApiKey;
    use crate::limits::{Credits, Window};
    use crate::record::NewRecord;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000, 0).unwrap()
    }

    /// Counts kept in maps, as a front end keeps them.
    #[derive(Default)]
    struct Kept {
        windows: HashMap<String, Window>,
        records: HashMap<KeyId, KeyRecord>,
    }

    impl Counts for Kept {
        type Error = ();
        fn window(&mut self, name: &str) -> Result<Window, ()> {
            Ok(self.windows.get(name).cloned().unwrap_or_default())
        }
        fn record(&mut self, id: &KeyId) -> Result<Option<KeyRecord>, ()> {
            Ok(self.records.get(id).cloned())
        }
    }

    impl Kept {
        fn save(&mut self, out: &UseOutcome) {
            if out.admitted {
                self.windows.extend(out.windows.iter().cloned());
                if let Some(h) = &out.holder {
                    self.records.insert(h.id.clone(), h.clone());
                }
            }
        }
    }

    fn key(id: &str, limits: &[&str], credits: Option<u64>) -> (ApiKey, KeyRecord) {
        let new = ApiKey::generate("sk", "live").unwrap();
        let record = KeyRecord::new(
            id.parse().unwrap(),
            &new,
            NewRecord {
                rate_limits: limits.iter().map(|l| l.parse().unwrap()).collect(),
                credits: credits.map(|remaining| Credits {
                    remaining,
                    refill: None,
                    alert_below: Some(2),
                    period: None,
                    alerted: None,
                }),
                ..NewRecord::new(
                    "n",
                    "o",
                    crate::ScopeSet::parse(&["scans:read"]).unwrap(),
                    "live",
                )
            },
            now(),
        );
        (new.key, record)
    }

    fn use_of(
        key: &ApiKey,
        record: Option<&KeyRecord>,
        kept: &mut Kept,
        defaults: &[NamedLimit],
        cost: Option<u32>,
    ) -> UseOutcome {
        let raw = key.expose_secret();
        let presented = Presented::parse(raw).unwrap();
        let required = [Scope::parse("scans:read").unwrap()];
        let mut ask =
            UseAsk::new(&presented, EnvRule::Exactly("live"), &required).with_defaults(defaults);
        ask.cost = cost;
        let out = use_key(record, &ask, kept, now()).unwrap();
        kept.save(&out);
        out
    }

    /// A use of cost 1 at `now()` answered as an object answers it: with a lease when
    /// the core grants one (`may_lease`, `bound_ms`), then saved.
    fn leased_use(
        key: &ApiKey,
        record: &KeyRecord,
        kept: &mut Kept,
        grants: &mut crate::limits::lease::Grants,
        (may_lease, bound_ms): (bool, u32),
    ) -> (UseOutcome, Option<crate::limits::lease::Lease>) {
        let presented = Presented::parse(key.expose_secret()).unwrap();
        let required = [Scope::parse("scans:read").unwrap()];
        let ask = UseAsk::new(&presented, EnvRule::Exactly("live"), &required).costing(1);
        let mut out = use_key(Some(record), &ask, kept, now()).unwrap();
        let limits = record.limits_or(&[]);
        let at = (now().timestamp_millis(), bound_ms);
        let lease = crate::limits::lease::after_use(&mut out, &limits, grants, at, 1, may_lease);
        kept.save(&out);
        (out, lease)
    }

    #[test]
    fn only_an_admitted_use_of_a_hot_key_counted_by_its_limits_alone_gets_a_lease() {
        let used = |kept: &Kept| kept.windows["m"].used_after(0);
        // Rate limits alone: no lease until the key is hot (100 units in the last second,
        // this use's among them), then one of a quarter of the limit's share, counted in
        // its window and report.
        let (k, limited) = key("key_0123456789abcdef", &["m=1000/1m"], None);
        let (mut kept, mut grants) = (Kept::default(), Default::default());
        for _ in 0..99 {
            let (out, lease) = leased_use(&k, &limited, &mut kept, &mut grants, (true, 1_000));
            assert_eq!((out.report.code, lease), (Code::Valid, None), "not hot yet");
        }
        let (out, lease) = leased_use(&k, &limited, &mut kept, &mut grants, (true, 1_000));
        assert_eq!(
            lease.map(|l| l.units),
            Some(25),
            "a hot key's admitted use is leased"
        );
        assert_eq!(used(&kept), 125, "the use and the lease's units, counted");
        assert_eq!(out.report.limits[0].remaining, 1000 - 125);
        // Not asked for (an owner's limits), or a bound of 0: none, and nothing more counted.
        for (may_lease, bound_ms) in [(false, 1_000), (true, 0)] {
            let (_, lease) =
                leased_use(&k, &limited, &mut kept, &mut grants, (may_lease, bound_ms));
            assert_eq!(lease, None, "may_lease {may_lease}, bound {bound_ms}");
        }
        assert_eq!(used(&kept), 127);
        // A refused use gets none: a key at its limit.
        let (k, small) = key("key_1123456789abcdef", &["m=100/1m"], None);
        let (mut kept, mut grants) = (Kept::default(), Default::default());
        for _ in 0..100 {
            leased_use(&k, &small, &mut kept, &mut grants, (false, 1_000));
        }
        let (out, lease) = leased_use(&k, &small, &mut kept, &mut grants, (true, 1_000));
        assert_eq!((out.report.code, lease), (Code::RateLimited, None));
        // A key with credits, as hot: never (its balance is charged by the object alone).
        let (k, paid) = key("key_2123456789abcdef", &["m=1000/1m"], Some(1_000));
        let (mut kept, mut grants) = (Kept::default(), Default::default());
        for _ in 0..150 {
            let (out, lease) = leased_use(&k, &paid, &mut kept, &mut grants, (true, 1_000));
            assert_eq!((out.report.code, lease), (Code::Valid, None));
        }
        assert_eq!(used(&kept), 150, "every use counted once, nothing leased");
    }

    #[test]
    fn own_limits_replace_the_environments_defaults() {
        let defaults: Vec<NamedLimit> = vec!["env=1/1m".parse().unwrap()];
        let (k, own) = key("key_0123456789abcdef", &["own=2/1m"], None);
        let mut kept = Kept::default();
        let codes: Vec<Code> = (0..3)
            .map(|_| {
                use_of(&k, Some(&own), &mut kept, &defaults, Some(1))
                    .report
                    .code
            })
            .collect();
        assert_eq!(codes, [Code::Valid, Code::Valid, Code::RateLimited]);
        assert!(
            !kept.windows.contains_key("env"),
            "the defaults counted nothing"
        );
        let (k, none) = key("key_1123456789abcdef", &[], None);
        let mut kept = Kept::default();
        let first = use_of(&k, Some(&none), &mut kept, &defaults, Some(1));
        assert_eq!((first.report.code, first.counted), (Code::Valid, true));
        assert_eq!(first.report.limits[0].name, "env");
        let second = use_of(&k, Some(&none), &mut kept, &defaults, Some(1));
        assert_eq!(second.report.code, Code::RateLimited);
        assert_eq!(second.report.retry_after_seconds(), Some(60));
        assert!(
            second
                .report
                .headers()
                .iter()
                .any(|(n, v)| *n == "Retry-After" && v == "60")
        );
    }

    #[test]
    fn a_key_without_limits_or_balance_is_counted_by_nothing_and_a_look_by_nothing() {
        let (k, plain) = key("key_0123456789abcdef", &[], None);
        let mut kept = Kept::default();
        let out = use_of(&k, Some(&plain), &mut kept, &[], Some(1));
        assert_eq!((out.report.code, out.counted), (Code::Valid, false));
        assert!(!plain.is_counted_with(&[], &[]));
        assert!(plain.is_counted_with(&[], &["o=1/1s".parse().unwrap()]));
        let (k, limited) = key("key_1123456789abcdef", &["m=1/1m"], None);
        for _ in 0..3 {
            let look = use_of(&k, Some(&limited), &mut kept, &[], None);
            assert_eq!((look.report.code, look.counted), (Code::Valid, false));
        }
        assert!(kept.windows.is_empty(), "a look counts nothing");
        // A refused decision counts nothing either.
        let (other, _) = key("key_2123456789abcdef", &[], None);
        let out = use_of(&other, Some(&limited), &mut kept, &[], Some(1));
        assert_eq!((out.report.code, out.counted), (Code::UnknownKey, false));
    }

    #[test]
    fn restrictions_refuse_before_anything_is_counted_when_asked_here() {
        let (k, mut own) = key("key_0123456789abcdef", &["m=5/1m"], Some(5));
        own.allowed_ips = crate::Networks::parse(&["10.0.0.0/8"]).unwrap();
        let raw = k.expose_secret();
        let presented = Presented::parse(raw).unwrap();
        let mut kept = Kept::default();
        let ask = UseAsk::new(&presented, EnvRule::Exactly("live"), &[]).costing(1);
        for (client, want) in [
            (None, Code::IpNotAllowed),
            (Some("192.0.2.1".parse().unwrap()), Code::IpNotAllowed),
            (Some("10.1.2.3".parse().unwrap()), Code::Valid),
        ] {
            let out = use_key(Some(&own), &ask.from_client(client), &mut kept, now()).unwrap();
            kept.save(&out);
            assert_eq!(out.report.code, want, "{client:?}");
            assert_eq!(
                out.counted,
                want == Code::Valid,
                "a refused use counts nothing"
            );
        }
        assert_eq!(kept.windows["m"].last_ms(), Some(now().timestamp_millis()));
        // Left to the caller (`client: None`), they are not decided here.
        let out = use_key(Some(&own), &ask, &mut kept, now()).unwrap();
        assert_eq!(out.report.code, Code::Valid);
        // A revoked key stays revoked, whatever its restrictions.
        own.revoked_at = Some(now());
        let out = use_key(Some(&own), &ask.from_client(None), &mut kept, now()).unwrap();
        assert_eq!(out.report.code, Code::Revoked);
    }

    #[test]
    fn a_rotated_keys_balance_follows_its_successor() {
        let (k, mut old) = key("key_0123456789abcdef", &[], None);
        let (_, mut next) = key("key_1123456789abcdef", &[], Some(3));
        old.rotated_to = Some(next.id.clone());
        next.rotated_from = Some(old.id.clone());
        let mut kept = Kept::default();
        kept.records.insert(next.id.clone(), next.clone());
        assert!(old.is_counted_with(&[], &[]));
        let out = use_of(&k, Some(&old), &mut kept, &[], Some(2));
        assert_eq!(
            (out.report.code, out.report.credits),
            (Code::Valid, Some(1))
        );
        assert!(out.report.alert_due, "1 left is below 2");
        assert_eq!(out.holder.as_ref().map(|h| &h.id), Some(&next.id));
        assert_eq!(out.record_after(Some(old.clone())), Some(old.clone()));
        let out = use_of(&k, Some(&old), &mut kept, &[], Some(2));
        assert_eq!(out.report.code, Code::UsageExceeded);
        assert_eq!(
            kept.records[&next.id].credits.as_ref().unwrap().remaining,
            1
        );
    }

    #[test]
    fn an_owners_refusal_gives_the_use_back_whole_and_suppresses_the_alert() {
        let (k, own) = key("key_0123456789abcdef", &["m=5/1m"], Some(2));
        let mut kept = Kept::default();
        let mut report = use_of(&k, Some(&own), &mut kept, &[], Some(1)).report;
        assert!(report.alert_due);
        let shared: Vec<NamedLimit> = vec!["o=1/1h".parse().unwrap()];
        let mut windows = vec![Window::default()];
        let first = take_shared(&shared, &mut windows, now(), 1);
        assert!(first.is_valid());
        let refused = take_shared(&shared, &mut windows, now(), 1);
        assert_eq!(refused.code, Code::RateLimited);
        let back = report.owner_counted(refused, 1).unwrap();
        assert_eq!(
            back,
            GiveBack {
                names: vec!["m".into()],
                at_ms: now().timestamp_millis(),
                cost: 1,
                alert: true,
            }
        );
        assert_eq!(report.code, Code::RateLimited);
        assert!(!report.alert_due, "a use given back raises no alert");
        assert_eq!(report.retry_after_seconds(), Some(3600));
        let names: Vec<&str> = report.limits.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["m", "o"]);
        // An owner who admits it changes nothing but the statuses.
        let mut report = use_of(&k, Some(&own), &mut kept, &[], Some(1)).report;
        let mut fresh = vec![Window::default()];
        let admitted = take_shared(&shared, &mut fresh, now(), 1);
        assert_eq!(report.owner_counted(admitted, 1), None);
        assert!(report.is_valid());
    }
}
