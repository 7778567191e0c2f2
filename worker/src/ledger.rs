//! Where a key's life is decided: a SQLite-backed Durable Object per rotation chain (its
//! first key's id), holding the records of the chain's keys. Every change of a key
//! (create, revoke, rotate, leak report) is applied there, atomically against the
//! object's own state, by the core's rules; KV is written after, as the global read index
//! that makes lookups fast, and what it says about revocation or expiry is never trusted
//! on its own.
//!
//! One object per chain rather than per key: a rotation then inserts the successor and
//! ends its predecessor in one SQLite transaction of one object, so no moment exists in
//! which two objects disagree about who succeeded whom, and two rotations cannot both win.
//!
//! An isolate reuses an object's answer about a key for at most the revocation bound
//! (`KEYWARD_REVOCATION_BOUND_MS`); its own changes replace that answer at once.
//!
//! Time is the object's: every decision it makes (windows, refills, expiry, revocation,
//! rotation) uses its own clock at the moment it applies the operation, never a time the
//! caller sent (a request held open would otherwise bring its start time with it). A
//! change made on behalf of a key of the chain (`actor`) is refused there, in the same
//! step, when that key can no longer act.

use std::cell::RefCell;

use keyward_core::chrono::{DateTime, Duration, Utc};
use keyward_core::limits::{
    Credits, CreditsChange, Interval, LimitStatus, NamedLimit, Refill, Window, admit, consume,
};
use keyward_core::{
    Code, EnvRule, KeyHash, KeyId, KeyRecord, LifetimePolicy, Reshape, Scope, Successor, Verdict,
    decide_presented,
};
use worker::{
    DurableObject, Env, Method, Request, RequestInit, Response, SqlStorage, State, durable_object,
    wasm_bindgen,
};

use crate::cache::Recent;
use crate::http::ApiError;

/// The Durable Object namespace binding.
pub const KEY_LEDGER: &str = "KEY_LEDGER";

/// A change or question for a chain's object.
#[derive(Debug, Clone, PartialEq)]
pub enum LedgerOp {
    /// The record of a key of the chain (none if the object does not know it).
    Get {
        /// The key.
        id: KeyId,
    },
    /// A new key (its KV record is written first; it exists once this commits).
    Create {
        /// Its record.
        record: KeyRecord,
    },
    /// A record of the previous format, kept in KV only: taken as the object's state,
    /// once, if the object does not know the key yet.
    Adopt {
        /// The record as KV holds it.
        record: KeyRecord,
    },
    /// Revoke a key: write-once, the first revocation stands.
    Revoke {
        /// The key.
        id: KeyId,
        /// Who revokes it.
        by: String,
        /// Why.
        reason: String,
        /// The key acting, if a key is.
        actor: Option<KeyId>,
    },
    /// A use of a key that parsed: the decision (its hash compared again, then revoked,
    /// expired, environment, scopes) and, for a valid key, its limits and credits, all
    /// in one atomic step.
    Use {
        /// The key.
        id: KeyId,
        /// The presented key's hash.
        hash: KeyHash,
        /// The environment the key must belong to.
        env: String,
        /// Scopes the use needs.
        scopes: Vec<Scope>,
        /// Units it costs.
        cost: u32,
        /// The limits that apply when the key has none of its own (its environment's).
        defaults: Vec<NamedLimit>,
    },
    /// A use counted against shared limits (an owner's object): every limit admits it or
    /// none counts it.
    Take {
        /// The limits.
        limits: Vec<NamedLimit>,
        /// Units it costs.
        cost: u32,
    },
    /// Gives back, whole, a use a later check refused or that failed after it was
    /// counted: its units in the named windows, and, with a key, its credits and the
    /// low-credit alert's state.
    Refund {
        /// The key whose credits are refunded, if any.
        id: Option<KeyId>,
        /// The windows.
        names: Vec<String>,
        /// The use's time, as counted (ms): which use to give back.
        at_ms: i64,
        /// Its units.
        cost: u32,
        /// Whether the use made the `credits_low` alert due.
        alert: bool,
    },
    /// Replaces a key's own limits and changes its restrictions and expiry.
    Update {
        /// The key.
        id: KeyId,
        /// Its limits (`None`: unchanged).
        rate_limits: Option<Vec<NamedLimit>>,
        /// The change to its restrictions and expiry.
        reshape: Reshape,
        /// Whether the change may widen the key (root or `admin`); otherwise it may only
        /// narrow it, judged against the key as the object holds it.
        widen: bool,
        /// The key acting, if a key is.
        actor: Option<KeyId>,
    },
    /// Sets or adds to a key's balance, and its settings.
    Credits {
        /// The key.
        id: KeyId,
        /// `true`: set the balance to `amount`; `false`: add `amount`.
        set: bool,
        /// The amount.
        amount: u64,
        /// A new refill, if given.
        refill: Option<Refill>,
        /// A new threshold, if given.
        alert_below: Option<u64>,
        /// The key acting, if a key is.
        actor: Option<KeyId>,
    },
    /// Rotate a key to a successor whose record the object makes.
    Rotate {
        /// The key.
        id: KeyId,
        /// The successor's id, hash and hint.
        successor: Successor,
        /// How long the old key keeps working.
        grace_seconds: i64,
        /// The key acting, if a key is.
        actor: Option<KeyId>,
    },
}

/// What an update carries in its body.
#[derive(serde::Serialize, serde::Deserialize)]
struct UpdateBody {
    rate_limits: Option<Vec<NamedLimit>>,
    #[serde(default)]
    reshape: Reshape,
}

/// The `&actor=` query parameter of an operation made on behalf of a key.
fn actor_param(actor: Option<&KeyId>) -> String {
    actor.map(|a| format!("&actor={a}")).unwrap_or_default()
}

/// Percent-encodes a query value (everything but unreserved characters).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl LedgerOp {
    /// The request path (with its query) and body that carry this operation: records as
    /// JSON bodies, everything else in the query (the object decodes nothing but a
    /// `KeyRecord` with serde, which keeps the Worker's wasm small).
    pub fn to_parts(&self) -> (String, Option<String>) {
        let record_json = |r: &KeyRecord| serde_json::to_string(r).ok();
        match self {
            LedgerOp::Get { id } => (format!("/get?id={id}"), None),
            LedgerOp::Create { record } => ("/create".to_owned(), record_json(record)),
            LedgerOp::Adopt { record } => ("/adopt".to_owned(), record_json(record)),
            LedgerOp::Revoke {
                id,
                by,
                reason,
                actor,
            } => (
                format!(
                    "/revoke?id={id}&by={}&reason={}{}",
                    encode(by),
                    encode(reason),
                    actor_param(actor.as_ref())
                ),
                None,
            ),
            LedgerOp::Use {
                id,
                hash,
                env,
                scopes,
                cost,
                defaults,
            } => (
                format!(
                    "/use?id={id}&hash={hash}&env={}&scopes={}&cost={cost}",
                    encode(env),
                    encode(
                        &scopes
                            .iter()
                            .map(Scope::as_str)
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                ),
                serde_json::to_string(defaults).ok(),
            ),
            LedgerOp::Take { limits, cost } => (
                format!("/take?cost={cost}"),
                serde_json::to_string(limits).ok(),
            ),
            LedgerOp::Refund {
                id,
                names,
                at_ms,
                cost,
                alert,
            } => (
                format!(
                    "/refund?names={}&at={at_ms}&cost={cost}&alert={}{}",
                    encode(&names.join(" ")),
                    u8::from(*alert),
                    id.as_ref()
                        .map(|id| format!("&id={id}"))
                        .unwrap_or_default()
                ),
                None,
            ),
            LedgerOp::Update {
                id,
                rate_limits,
                reshape,
                widen,
                actor,
            } => (
                format!(
                    "/update?id={id}&widen={}{}",
                    u8::from(*widen),
                    actor_param(actor.as_ref())
                ),
                serde_json::to_string(&UpdateBody {
                    rate_limits: rate_limits.clone(),
                    reshape: reshape.clone(),
                })
                .ok(),
            ),
            LedgerOp::Credits {
                id,
                set,
                amount,
                refill,
                alert_below,
                actor,
            } => {
                let mut q = format!(
                    "/credits?id={id}&{}={amount}{}",
                    if *set { "set" } else { "add" },
                    actor_param(actor.as_ref())
                );
                if let Some(r) = refill {
                    let every = match r.interval {
                        Interval::Day => "day",
                        Interval::Month => "month",
                    };
                    q.push_str(&format!("&refill={}&every={every}", r.amount));
                }
                if let Some(below) = alert_below {
                    q.push_str(&format!("&below={below}"));
                }
                (q, None)
            }
            LedgerOp::Rotate {
                id,
                successor,
                grace_seconds,
                actor,
            } => (
                format!(
                    "/rotate?id={id}&next={}&hash={}&hint={}&grace={grace_seconds}{}",
                    successor.id,
                    successor.hash,
                    encode(&successor.hint),
                    actor_param(actor.as_ref())
                ),
                None,
            ),
        }
    }

    /// The operation a request to the object carries, or `None` for anything else.
    pub fn from_parts(path: &str, query: &str, body: &str) -> Option<Self> {
        let pairs = crate::http::query_pairs(query);
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let id = || get("id")?.parse::<KeyId>().ok();
        // An actor that is present must parse: a garbled one is no operation, never none.
        let actor = || match get("actor") {
            None => Some(None),
            Some(a) => a.parse::<KeyId>().ok().map(Some),
        };
        let record = || serde_json::from_str::<KeyRecord>(body).ok();
        Some(match path {
            "/get" => LedgerOp::Get { id: id()? },
            "/create" => LedgerOp::Create { record: record()? },
            "/adopt" => LedgerOp::Adopt { record: record()? },
            "/revoke" => LedgerOp::Revoke {
                id: id()?,
                by: get("by")?.to_owned(),
                reason: get("reason")?.to_owned(),
                actor: actor()?,
            },
            "/use" => LedgerOp::Use {
                id: id()?,
                hash: get("hash")?.parse().ok()?,
                env: get("env")?.to_owned(),
                scopes: get("scopes")?
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(|s| Scope::parse(s).ok())
                    .collect::<Option<Vec<_>>>()?,
                cost: get("cost")?.parse().ok()?,
                defaults: serde_json::from_str(body).ok()?,
            },
            "/take" => LedgerOp::Take {
                limits: serde_json::from_str(body).ok()?,
                cost: get("cost")?.parse().ok()?,
            },
            "/refund" => LedgerOp::Refund {
                id: match get("id") {
                    Some(id) => Some(id.parse().ok()?),
                    None => None,
                },
                names: get("names")?
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                at_ms: get("at")?.parse().ok()?,
                cost: get("cost")?.parse().ok()?,
                alert: match get("alert")? {
                    "1" => true,
                    "0" => false,
                    _ => return None,
                },
            },
            "/update" => {
                let body: UpdateBody = serde_json::from_str(body).ok()?;
                LedgerOp::Update {
                    id: id()?,
                    rate_limits: body.rate_limits,
                    reshape: body.reshape,
                    widen: match get("widen")? {
                        "1" => true,
                        "0" => false,
                        _ => return None,
                    },
                    actor: actor()?,
                }
            }
            "/credits" => {
                let (set, amount) = match (get("set"), get("add")) {
                    (Some(v), None) => (true, v.parse().ok()?),
                    (None, Some(v)) => (false, v.parse().ok()?),
                    _ => return None,
                };
                let refill = match get("refill") {
                    None => None,
                    Some(amount) => Some(Refill {
                        amount: amount.parse().ok()?,
                        interval: match get("every")? {
                            "day" => Interval::Day,
                            "month" => Interval::Month,
                            _ => return None,
                        },
                    }),
                };
                LedgerOp::Credits {
                    id: id()?,
                    set,
                    amount,
                    refill,
                    alert_below: match get("below") {
                        None => None,
                        Some(v) => Some(v.parse().ok()?),
                    },
                    actor: actor()?,
                }
            }
            "/rotate" => LedgerOp::Rotate {
                id: id()?,
                successor: Successor {
                    id: get("next")?.parse().ok()?,
                    hash: get("hash")?.parse().ok()?,
                    hint: get("hint")?.to_owned(),
                },
                grace_seconds: get("grace")?.parse().ok()?,
                actor: actor()?,
            },
            _ => return None,
        })
    }
}

/// An object's answer: the records concerned after the operation (as the response's
/// JSON body), whether a revocation was this call's (a header), or a refusal (a status).
#[derive(Debug, Default)]
pub struct LedgerAnswer {
    /// The records concerned, after the change.
    pub records: Vec<KeyRecord>,
    /// For a revocation: whether this call revoked the key (not an earlier one).
    pub changed: bool,
    /// A refusal: `conflict` with the reason, or `not_found`.
    pub refused: Option<(Code, String)>,
    /// For a use or a take: what it came to.
    pub usage: Option<UseReport>,
}

/// What a use (or a take of shared limits) came to, carried in response headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UseReport {
    /// The verdict.
    pub code: Option<Code>,
    /// For `insufficient_scope`: the scope.
    pub missing: Option<String>,
    /// The limits' statuses.
    pub limits: Vec<LimitStatus>,
    /// The credit balance, if the key has credits.
    pub credits: Option<u64>,
    /// Whether a `credits_low` alert is due.
    pub alert_due: bool,
    /// When refused by a limit or credits: milliseconds until a retry can succeed.
    pub retry_after_ms: Option<i64>,
    /// The time the use was counted at (ms), for a refund.
    pub at_ms: i64,
}

impl UseReport {
    /// The report as header (name, value) pairs.
    pub fn to_headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![("x-keyward-at", self.at_ms.to_string())];
        if let Some(code) = self.code {
            h.push(("x-keyward-code", code.as_str().to_owned()));
        }
        if let Some(m) = &self.missing {
            h.push(("x-keyward-missing", m.clone()));
        }
        if !self.limits.is_empty() {
            let limits: Vec<String> = self
                .limits
                .iter()
                .map(|l| {
                    format!(
                        "{};{};{};{};{}",
                        l.name, l.limit, l.period_seconds, l.remaining, l.reset_ms
                    )
                })
                .collect();
            h.push(("x-keyward-limits", limits.join(",")));
        }
        if let Some(c) = self.credits {
            h.push(("x-keyward-credits", c.to_string()));
        }
        if self.alert_due {
            h.push(("x-keyward-alert", "credits_low".to_owned()));
        }
        if let Some(r) = self.retry_after_ms {
            h.push(("x-keyward-retry-ms", r.to_string()));
        }
        h
    }

    /// The report from the headers, through `get(name)`.
    pub fn from_headers(get: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let limits = match get("x-keyward-limits") {
            None => Vec::new(),
            Some(v) => v
                .split(',')
                .map(|l| {
                    let f: Vec<&str> = l.split(';').collect();
                    let [name, limit, period, remaining, reset] = f.as_slice() else {
                        return None;
                    };
                    Some(LimitStatus {
                        name: (*name).to_owned(),
                        limit: limit.parse().ok()?,
                        period_seconds: period.parse().ok()?,
                        remaining: remaining.parse().ok()?,
                        reset_ms: reset.parse().ok()?,
                    })
                })
                .collect::<Option<Vec<_>>>()?,
        };
        Some(UseReport {
            code: match get("x-keyward-code") {
                None => None,
                Some(c) => Some(c.parse().ok()?),
            },
            missing: get("x-keyward-missing"),
            limits,
            credits: match get("x-keyward-credits") {
                None => None,
                Some(c) => Some(c.parse().ok()?),
            },
            alert_due: get("x-keyward-alert").is_some(),
            retry_after_ms: match get("x-keyward-retry-ms") {
                None => None,
                Some(r) => Some(r.parse().ok()?),
            },
            at_ms: get("x-keyward-at")?.parse().ok()?,
        })
    }
}

/// The header an object sets when its operation changed the key.
const CHANGED: &str = "x-keyward-changed";
/// The header that carries the code of a refusal.
const REFUSED: &str = "x-keyward-refused";

/// The time on this machine's clock, shifted by `offset_ms` (`KEYWARD_TEST_CLOCK_OFFSET_MS`);
/// none when the clock cannot be believed (the core's `platform_time`): nothing is decided
/// then.
pub fn clock(offset_ms: i64) -> Option<DateTime<Utc>> {
    keyward_core::time::platform_time(worker::js_sys::Date::now(), offset_ms)
}

/// A chain's object.
#[durable_object]
#[allow(missing_debug_implementations)]
pub struct KeyLedger {
    sql: SqlStorage,
    /// The test clock offset, read from the Worker's settings once.
    clock_offset_ms: i64,
    /// The lifetime policy (`KEYWARD_MAX_LIFETIME`) a rotation's successor is held to.
    max_lifetime: LifetimePolicy,
}

impl KeyLedger {
    /// The object's own time, read as each operation is applied.
    ///
    /// # Errors
    /// A clock that cannot be believed: the operation fails (the Worker answers 503).
    fn now(&self) -> worker::Result<DateTime<Utc>> {
        clock(self.clock_offset_ms)
            .ok_or_else(|| worker::Error::RustError("the clock cannot be read".into()))
    }

    /// A change made on behalf of `actor`, when the actor is a key of this chain: refused
    /// (`revoked` or `expired`) if the actor can no longer act, decided in the same step as
    /// the change. An actor of another chain was checked by the Worker just before.
    fn actor_refusal(
        &self,
        actor: Option<&KeyId>,
        now: DateTime<Utc>,
    ) -> worker::Result<Option<LedgerAnswer>> {
        let Some(actor) = actor else { return Ok(None) };
        let Some(record) = self.load(actor)? else {
            return Ok(None);
        };
        Ok(record.may_act(now).err().map(|code| LedgerAnswer {
            refused: Some((code, code.message().to_owned())),
            ..LedgerAnswer::default()
        }))
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
        serde_json::from_str(&json)
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
        serde_json::from_str(&json)
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

    /// The record whose balance a key spends: its own, or (after a rotation moved the
    /// balance) its latest successor's.
    fn credit_holder(&self, id: &KeyId) -> worker::Result<Option<KeyRecord>> {
        let mut current = self.load(id)?;
        for _ in 0..64 {
            match current {
                Some(ref r) if r.credits.is_none() && r.rotated_to.is_some() => {
                    let next = r.rotated_to.clone();
                    current = match next {
                        Some(n) => self.load(&n)?,
                        None => None,
                    };
                }
                _ => break,
            }
        }
        Ok(current.filter(|r| r.credits.is_some()))
    }

    /// One use: the core decides, then (for a valid key) counts it under the key's limits
    /// (its own, or its environment's defaults) and charges its credits. Windows are
    /// shared by the keys of a chain, so a rotation's two keys share one allowance.
    #[allow(clippy::too_many_arguments)]
    fn use_key(
        &self,
        id: &KeyId,
        hash: &KeyHash,
        env: &str,
        scopes: &[Scope],
        cost: u32,
        defaults: &[NamedLimit],
    ) -> worker::Result<LedgerAnswer> {
        let now = self.now()?;
        let record = self.load(id)?;
        let verdict = decide_presented(
            hash,
            env,
            record.as_ref().map(KeyRecord::facts),
            EnvRule::Exactly(env),
            scopes,
            now,
        );
        let mut report = UseReport {
            code: Some(verdict.code()),
            at_ms: now.timestamp_millis(),
            ..UseReport::default()
        };
        if let Verdict::InsufficientScope { missing } = &verdict {
            report.missing = Some(missing.to_string());
        }
        // A refused use still names its key (the audit event, and the alerts on it such
        // as a revoked key's use, are the key's): nothing is counted or charged.
        let record = match (record, verdict.is_valid()) {
            (Some(record), true) => record,
            (record, false) | (record @ None, _) => {
                return Ok(LedgerAnswer {
                    records: record.into_iter().collect(),
                    usage: Some(report),
                    ..LedgerAnswer::default()
                });
            }
        };
        let own = record.limits();
        let limits = if own.is_empty() {
            defaults.to_vec()
        } else {
            own
        };
        let mut windows = self.windows(&limits)?;
        let mut holder = self.credit_holder(id)?;
        let consumed = consume(
            &limits,
            &mut windows,
            holder.as_mut().and_then(|h| h.credits.as_mut()),
            now,
            cost,
        );
        if consumed.verdict.is_valid() {
            self.save_windows(&limits, &windows)?;
            if let Some(h) = &holder {
                self.save(h)?;
            }
        }
        report.code = Some(consumed.verdict.code());
        report.limits = consumed.admission.limits;
        report.retry_after_ms = consumed.admission.retry_after_ms;
        report.credits = consumed.spend.as_ref().map(|s| s.remaining);
        report.alert_due = consumed.spend.as_ref().is_some_and(|s| s.alert_due);
        // The record as it is now: with its balance charged when it holds its own.
        let record = match holder {
            Some(h) if h.id == record.id && consumed.verdict.is_valid() => h,
            _ => record,
        };
        Ok(LedgerAnswer {
            records: vec![record],
            usage: Some(report),
            ..LedgerAnswer::default()
        })
    }

    /// Applies one operation. Synchronous from its first read to its last write: nothing
    /// else runs in the object in between, so each operation is atomic.
    fn apply(&self, op: LedgerOp) -> worker::Result<LedgerAnswer> {
        let now = self.now()?;
        let refused = |code: Code, why: &str| LedgerAnswer {
            refused: Some((code, why.to_owned())),
            ..LedgerAnswer::default()
        };
        match op {
            LedgerOp::Get { id } => Ok(LedgerAnswer {
                records: self.load(&id)?.into_iter().collect(),
                ..LedgerAnswer::default()
            }),
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
                Ok(LedgerAnswer {
                    records: vec![kept],
                    ..LedgerAnswer::default()
                })
            }
            LedgerOp::Adopt { mut record } => {
                // The explicit migration only (root, `POST /v1/migrate`): a record of the
                // previous format becomes the first state of its own chain, unless the
                // object holds the key already. A rotation's successor was never of the
                // previous format: one without its chain is forged, and not adopted.
                if record.lineage.is_some() || record.rotated_from.is_some() {
                    return Ok(refused(
                        Code::Conflict,
                        "only a record of the previous format is adopted",
                    ));
                }
                let adopted = match self.load(&record.id)? {
                    Some(existing) => {
                        return Ok(LedgerAnswer {
                            records: vec![existing],
                            ..LedgerAnswer::default()
                        });
                    }
                    None => {
                        record.lineage = Some(record.id.clone());
                        record.last_used_at = None;
                        self.save(&record)?;
                        record
                    }
                };
                Ok(LedgerAnswer {
                    records: vec![adopted],
                    changed: true,
                    ..LedgerAnswer::default()
                })
            }
            LedgerOp::Revoke {
                id,
                by,
                reason,
                actor,
            } => {
                if let Some(no) = self.actor_refusal(actor.as_ref(), now)? {
                    return Ok(no);
                }
                let Some(mut record) = self.load(&id)? else {
                    return Ok(refused(Code::NotFound, "no key has this id"));
                };
                let changed = record.revoked_at.is_none();
                record.revoke(&by, &reason, now);
                if changed {
                    self.save(&record)?;
                }
                Ok(LedgerAnswer {
                    records: vec![record],
                    changed,
                    ..LedgerAnswer::default()
                })
            }
            LedgerOp::Use {
                id,
                hash,
                env,
                scopes,
                cost,
                defaults,
            } => self.use_key(&id, &hash, &env, &scopes, cost, &defaults),
            LedgerOp::Take { limits, cost } => {
                let mut windows = self.windows(&limits)?;
                let admission = admit(&limits, &mut windows, now.timestamp_millis(), cost);
                if admission.allowed {
                    self.save_windows(&limits, &windows)?;
                }
                Ok(LedgerAnswer {
                    usage: Some(UseReport {
                        code: Some(if admission.allowed {
                            Code::Valid
                        } else {
                            Code::RateLimited
                        }),
                        limits: admission.limits,
                        retry_after_ms: admission.retry_after_ms,
                        at_ms: now.timestamp_millis(),
                        ..UseReport::default()
                    }),
                    ..LedgerAnswer::default()
                })
            }
            LedgerOp::Refund {
                id,
                names,
                at_ms,
                cost,
                alert,
            } => {
                for name in &names {
                    let mut w = self.window(name)?;
                    w.refund(at_ms, cost);
                    self.save_window(name, &w)?;
                }
                let mut records = Vec::new();
                if let Some(id) = id
                    && let Some(mut holder) = self.credit_holder(&id)?
                    && let Some(credits) = holder.credits.as_mut()
                {
                    let at = DateTime::from_timestamp_millis(at_ms).unwrap_or(now);
                    credits.give_back(cost, at, alert);
                    self.save(&holder)?;
                    records.push(holder);
                }
                // The balance given back, so that no answer kept by an isolate outlives it.
                Ok(LedgerAnswer {
                    records,
                    ..LedgerAnswer::default()
                })
            }
            LedgerOp::Update {
                id,
                rate_limits,
                reshape,
                widen,
                actor,
            } => {
                if let Some(no) = self.actor_refusal(actor.as_ref(), now)? {
                    return Ok(no);
                }
                let Some(mut record) = self.load(&id)? else {
                    return Ok(refused(Code::NotFound, "no key has this id"));
                };
                if record.is_revoked() {
                    return Ok(refused(Code::Conflict, REVOKED_NEVER_CHANGES));
                }
                // Narrowing is judged against the key as this object holds it now.
                if let Err(no) = reshape.apply(&mut record, widen) {
                    return Ok(refused(no.code, &no.message));
                }
                if let Some(rate_limits) = rate_limits {
                    record.rate_limits = rate_limits;
                    record.rate_limit = None;
                }
                self.save(&record)?;
                Ok(LedgerAnswer {
                    records: vec![record],
                    changed: true,
                    ..LedgerAnswer::default()
                })
            }
            LedgerOp::Credits {
                id,
                set,
                amount,
                refill,
                alert_below,
                actor,
            } => {
                if let Some(no) = self.actor_refusal(actor.as_ref(), now)? {
                    return Ok(no);
                }
                let Some(record) = self.load(&id)? else {
                    return Ok(refused(Code::NotFound, "no key has this id"));
                };
                // A rotated key's balance lives with its successor.
                let mut holder = self.credit_holder(&id)?.unwrap_or(record.clone());
                if record.is_revoked() || holder.is_revoked() {
                    return Ok(refused(Code::Conflict, REVOKED_NEVER_CHANGES));
                }
                let change = CreditsChange {
                    set,
                    amount,
                    refill,
                    alert_below,
                };
                let credits = match Credits::changed(holder.credits.clone(), change, now) {
                    Ok(c) => c,
                    Err(e) => return Ok(refused(Code::Conflict, &e.to_string())),
                };
                holder.credits = Some(credits);
                self.save(&holder)?;
                Ok(LedgerAnswer {
                    records: vec![holder],
                    changed: true,
                    ..LedgerAnswer::default()
                })
            }
            LedgerOp::Rotate {
                id,
                successor,
                grace_seconds,
                actor,
            } => {
                if let Some(no) = self.actor_refusal(actor.as_ref(), now)? {
                    return Ok(no);
                }
                let Some(mut old) = self.load(&id)? else {
                    return Ok(refused(Code::NotFound, "no key has this id"));
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
                        Ok(LedgerAnswer {
                            records: vec![old, next],
                            changed: true,
                            ..LedgerAnswer::default()
                        })
                    }
                    Err(e) => Ok(refused(Code::Conflict, &e.to_string())),
                }
            }
        }
    }
}

/// Why a change to a revoked key is refused.
const REVOKED_NEVER_CHANGES: &str = "a revoked key never changes";

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
        let (clock_offset_ms, max_lifetime) = crate::config::Config::get(&env)
            .map(|c| (c.clock_offset_ms, c.max_lifetime.clone()))
            .unwrap_or_default();
        KeyLedger {
            sql,
            clock_offset_ms,
            max_lifetime,
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let url = crate::http::raw_url(&req);
        let body = req.text().await?;
        let Some(op) = LedgerOp::from_parts(&req.path(), crate::http::query_of(&url), &body) else {
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
        if let Some(usage) = &answer.usage {
            for (name, value) in usage.to_headers() {
                resp.headers_mut().set(name, &value)?;
            }
        }
        Ok(resp)
    }
}

thread_local! {
    /// The objects' recent answers, by key id, for at most the revocation bound.
    static RECENT: RefCell<Option<Recent<[u8; 32], Option<KeyRecord>>>> = const { RefCell::new(None) };
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
        let mut init = RequestInit::new();
        init.with_method(Method::Post);
        if let Some(body) = body {
            init.with_body(Some(wasm_bindgen::JsValue::from_str(&body)));
        }
        let req =
            Request::new_with_init(&format!("https://key-ledger{path}"), &init).map_err(fault)?;
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
        let usage = UseReport::from_headers(|name| resp.headers().get(name).ok().flatten());
        let records = resp.json::<Vec<KeyRecord>>().await.map_err(fault)?;
        Ok(LedgerAnswer {
            records,
            changed,
            refused: None,
            usage,
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
            let cache = r.get_or_insert_with(|| Recent::new(self.bound_ms, 10_000));
            match started {
                Some(started) => cache.remember_read(*hash.as_bytes(), record, started, now_ms()),
                None => {
                    cache.remember_write(*hash.as_bytes(), record.clone(), now_ms());
                    record
                }
            }
        })
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
        let answer = self
            .ask(
                found.chain(),
                &LedgerOp::Adopt {
                    record: found.clone(),
                },
            )
            .await?;
        if let Some((code, why)) = answer.refused {
            return Err(ApiError::new(code, why));
        }
        let kept = answer
            .records
            .into_iter()
            .next()
            .ok_or_else(|| fault("the object kept nothing"))?;
        self.remember(&kept.hash, Some(kept.clone()), None);
        Ok((kept, answer.changed))
    }

    /// One use of the key KV found (`found`), presented with `hash`: decided, counted and
    /// charged by its object in one step, at the object's time. Returns the object's
    /// record (if it knows the key) and what the use came to.
    ///
    /// # Errors
    /// `unavailable`.
    pub async fn use_key(
        &self,
        found: &KeyRecord,
        hash: &KeyHash,
        env: &str,
        scopes: &[Scope],
        cost: u32,
        defaults: &[NamedLimit],
    ) -> Result<(Option<KeyRecord>, UseReport), ApiError> {
        let op = LedgerOp::Use {
            id: found.id.clone(),
            hash: *hash,
            env: env.to_owned(),
            scopes: scopes.to_vec(),
            cost,
            defaults: defaults.to_vec(),
        };
        let answer = self.ask(found.chain(), &op).await?;
        let report = answer
            .usage
            .ok_or_else(|| fault("the object reported no use"))?;
        let record = answer.records.into_iter().next();
        if let Some(r) = &record {
            self.remember(&r.hash, Some(r.clone()), None);
        }
        Ok((record, report))
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
        self.ask_object(object, &op)
            .await?
            .usage
            .ok_or_else(|| fault("the object reported no use"))
    }

    /// Gives back, whole, the use `report` counted in the object `object` (its windows,
    /// and with `id`, that key's credits and the low-credit alert's state).
    ///
    /// # Errors
    /// `unavailable`.
    pub async fn refund(
        &self,
        object: &str,
        id: Option<&KeyId>,
        report: &UseReport,
        cost: u32,
    ) -> Result<(), ApiError> {
        let op = LedgerOp::Refund {
            id: id.cloned(),
            names: report.limits.iter().map(|l| l.name.clone()).collect(),
            at_ms: report.at_ms,
            cost,
            alert: report.alert_due,
        };
        for record in self.ask_object(object, &op).await?.records {
            let hash = record.hash;
            self.remember(&hash, Some(record), None);
        }
        Ok(())
    }

    /// Replaces a key's own limits on behalf of `actor`; returns its record.
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

    async fn one(&self, record: &KeyRecord, op: &LedgerOp) -> Result<KeyRecord, ApiError> {
        let answer = self.ask(record.chain(), op).await?;
        if let Some((code, why)) = answer.refused {
            return Err(ApiError::new(code, why));
        }
        let kept = answer
            .records
            .into_iter()
            .next()
            .ok_or_else(|| fault("the object kept nothing"))?;
        self.remember(&kept.hash, Some(kept.clone()), None);
        Ok(kept)
    }

    /// Commits a new key (its KV record already written).
    ///
    /// # Errors
    /// `unavailable`.
    pub async fn create(&self, record: &KeyRecord) -> Result<KeyRecord, ApiError> {
        let answer = self
            .ask(
                record.chain(),
                &LedgerOp::Create {
                    record: record.clone(),
                },
            )
            .await?;
        let kept = answer
            .records
            .into_iter()
            .next()
            .ok_or_else(|| fault("the object kept nothing"))?;
        self.remember(&kept.hash, Some(kept.clone()), None);
        Ok(kept)
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
        let answer = self.ask(record.chain(), &op).await?;
        if let Some((code, why)) = answer.refused {
            return Err(ApiError::new(code, why));
        }
        let kept = answer
            .records
            .into_iter()
            .next()
            .ok_or_else(|| fault("the object kept nothing"))?;
        self.remember(&kept.hash, Some(kept.clone()), None);
        Ok((kept, answer.changed))
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
        let answer = self.ask(old.chain(), &op).await?;
        if let Some((code, why)) = answer.refused {
            return Err(ApiError::new(code, why));
        }
        let mut records = answer.records.into_iter();
        let (Some(old), Some(next)) = (records.next(), records.next()) else {
            return Err(fault("the object answered no successor"));
        };
        self.remember(&old.hash, Some(old.clone()), None);
        self.remember(&next.hash, Some(next.clone()), None);
        Ok((old, next))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_operation_travels_to_the_object_and_back_unchanged() {
        let new = keyward_core::ApiKey::generate("sk", "live").unwrap();
        let now = DateTime::from_timestamp_millis(1_780_000_000_123).unwrap();
        let id: KeyId = "key_0123456789abcdef".parse().unwrap();
        let record = KeyRecord::new(
            id.clone(),
            &new,
            keyward_core::NewRecord {
                name: "n".into(),
                owner: "o & p=q".into(),
                scopes: keyward_core::ScopeSet::default(),
                env: "live".into(),
                expires_at: None,
                metadata: Default::default(),
                rate_limits: Vec::new(),
                credits: None,
                restrictions: Default::default(),
                roles: Vec::new(),
            },
            now,
        );
        for op in [
            LedgerOp::Get { id: id.clone() },
            LedgerOp::Create {
                record: record.clone(),
            },
            LedgerOp::Adopt { record },
            LedgerOp::Revoke {
                id: id.clone(),
                by: "root".into(),
                reason: "left the team & more: 100%?".into(),
                actor: None,
            },
            LedgerOp::Revoke {
                id: id.clone(),
                by: id.to_string(),
                reason: "itself".into(),
                actor: Some(id.clone()),
            },
            LedgerOp::Update {
                id: id.clone(),
                rate_limits: Some(vec!["m=5/1m".parse().unwrap()]),
                reshape: Reshape::default(),
                widen: false,
                actor: Some(id.clone()),
            },
            LedgerOp::Update {
                id: id.clone(),
                rate_limits: None,
                reshape: serde_json::from_str(
                    r#"{"allowed_ips": ["10.0.0.0/8"], "not_before": null, "expires_at": "2027-01-01T00:00:00Z"}"#,
                )
                .unwrap(),
                widen: true,
                actor: None,
            },
            LedgerOp::Credits {
                id: id.clone(),
                set: true,
                amount: 3,
                refill: Some(Refill {
                    amount: 3,
                    interval: Interval::Day,
                }),
                alert_below: Some(1),
                actor: None,
            },
            LedgerOp::Refund {
                id: Some(id.clone()),
                names: vec!["m".into()],
                at_ms: now.timestamp_millis(),
                cost: 2,
                alert: true,
            },
            LedgerOp::Rotate {
                id: id.clone(),
                successor: Successor {
                    id: "key_fedcba9876543210".parse().unwrap(),
                    hash: new.hash,
                    hint: new.hint.clone(),
                },
                grace_seconds: 60,
                actor: Some(id),
            },
        ] {
            let (path, body) = op.to_parts();
            let (path, query) = path.split_once('?').unwrap_or((&path, ""));
            let back = LedgerOp::from_parts(path, query, body.as_deref().unwrap_or(""));
            assert_eq!(back.as_ref(), Some(&op), "{path}");
        }
        assert_eq!(
            LedgerOp::from_parts("/revoke", "id=key_0123456789abcdef", ""),
            None
        );
        assert_eq!(LedgerOp::from_parts("/nothing", "", ""), None);
        assert_eq!(
            LedgerOp::from_parts(
                "/revoke",
                "id=key_0123456789abcdef&by=root&reason=x&actor=garbled",
                ""
            ),
            None,
            "a garbled actor is no operation, never one without an actor"
        );
    }

    #[test]
    fn a_use_report_travels_in_headers() {
        let report = UseReport {
            code: Some(Code::RateLimited),
            missing: Some("scans:read".into()),
            limits: vec![LimitStatus {
                name: "per-minute".into(),
                limit: 50,
                period_seconds: 60,
                remaining: 0,
                reset_ms: 1234,
            }],
            credits: Some(9),
            alert_due: true,
            retry_after_ms: Some(1234),
            at_ms: 1_780_000_000_000,
        };
        let headers = report.to_headers();
        let back = UseReport::from_headers(|name| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        });
        assert_eq!(back, Some(report));
    }
}
