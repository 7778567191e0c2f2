//! Rate limits and usage credits: the one counting algorithm, a pure function of state,
//! time and cost, that every store persists (the Worker's Durable Objects, the npm
//! package's `memoryStore` through WebAssembly).
//!
//! **Rate limits: a sliding-window log.** A limit `{name, limit, period}` admits a use of
//! `cost` units when the units used within the last `period` plus `cost` do not exceed
//! `limit`. The state is the list of recent uses `(time, units)`; uses older than the
//! period are dropped. It is exact: in *any* window of `period`, at most `limit` units
//! are admitted (a fixed window admits twice the limit across a boundary; GCRA and token
//! buckets admit a burst on top of the rate). The price is memory: at most `limit`
//! entries per limit, which is why a limit is at most [`MAX_LIMIT`] units.
//!
//! Several limits apply to every use: the use is admitted only if *every* limit admits
//! it, and then counted by all of them (a refused use counts against none).
//!
//! **Credits.** A key may hold a balance; each admitted use spends `cost`. At zero (or
//! less than `cost`) the answer is `usage_exceeded`. With a refill, the balance is *set*
//! (not added) to the refill amount at the first use after each UTC day or month
//! boundary. A `credits_low` alert is due once per refill period when the balance first
//! drops below `alert_below`.

use core::fmt;
use core::str::FromStr;

use chrono::{DateTime, Datelike as _, Utc};
use serde::{Deserialize, Serialize};

/// The largest limit: units per period.
pub const MAX_LIMIT: u32 = 10_000;
/// The shortest period: one second.
pub const MIN_PERIOD_SECONDS: u32 = 1;
/// The longest period: one day.
pub const MAX_PERIOD_SECONDS: u32 = 86_400;
/// Most named limits on one key or owner.
pub const MAX_LIMITS: usize = 8;
/// The most units one use may cost.
pub const MAX_COST: u32 = 1_000;

/// A limit that is not well formed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitError(pub String);

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LimitError {}

/// A period: a whole number of seconds, written `30s`, `1m`, `1h`, `1d` (or a bare number
/// of seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period(u32);

impl Period {
    /// The period in seconds.
    pub const fn seconds(self) -> u32 {
        self.0
    }

    /// A period of `seconds`, within the bounds.
    ///
    /// # Errors
    /// Out of bounds.
    pub fn of_seconds(seconds: u32) -> Result<Self, LimitError> {
        if (MIN_PERIOD_SECONDS..=MAX_PERIOD_SECONDS).contains(&seconds) {
            Ok(Period(seconds))
        } else {
            Err(LimitError(format!(
                "a period is 1s to 1d ({MIN_PERIOD_SECONDS} to {MAX_PERIOD_SECONDS} seconds)"
            )))
        }
    }

    fn ms(self) -> i64 {
        i64::from(self.0) * 1000
    }
}

impl FromStr for Period {
    type Err = LimitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || LimitError(format!("'{s}' is not a period: use 30s, 1m, 1h or 1d"));
        let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
            Some(i) => s.split_at(i),
            None => (s, "s"),
        };
        // One spelling per number: no leading zeros (the API document's pattern says so).
        if digits.starts_with('0') {
            return Err(bad());
        }
        let n: u32 = digits.parse().map_err(|_| bad())?;
        let mult = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        Period::of_seconds(n.checked_mul(mult).ok_or_else(bad)?)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            s if s % 86_400 == 0 => write!(f, "{}d", s / 86_400),
            s if s % 3600 == 0 => write!(f, "{}h", s / 3600),
            s if s % 60 == 0 => write!(f, "{}m", s / 60),
            s => write!(f, "{s}s"),
        }
    }
}

impl Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A named rate limit: at most `limit` units in any rolling `period`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NamedLimit {
    /// `[a-z][a-z0-9_-]{0,31}`, unique among a key's limits (it names the policy in the
    /// `RateLimit` header).
    #[cfg_attr(
        feature = "schema",
        schemars(regex(pattern = "^[a-z][a-z0-9_-]{0,31}$"))
    )]
    pub name: String,
    /// Units per period, 1 to 10000.
    #[serde(deserialize_with = "crate::whole::number")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = MAX_LIMIT)))]
    pub limit: u32,
    /// The rolling period.
    pub period: Period,
}

impl NamedLimit {
    /// Checks the name and bounds.
    ///
    /// # Errors
    /// A sentence naming what is wrong.
    pub fn validate(&self) -> Result<(), LimitError> {
        let b = self.name.as_bytes();
        let name_ok = !b.is_empty()
            && b.len() <= 32
            && b[0].is_ascii_lowercase()
            && b.iter()
                .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-');
        if !name_ok {
            return Err(LimitError(
                "a limit's name is [a-z][a-z0-9_-]{0,31}".to_owned(),
            ));
        }
        if !(1..=MAX_LIMIT).contains(&self.limit) {
            return Err(LimitError(format!(
                "limit '{}' must be 1 to {MAX_LIMIT} units per period",
                self.name
            )));
        }
        Ok(())
    }
}

impl FromStr for NamedLimit {
    type Err = LimitError;
    /// `[NAME=]LIMIT/PERIOD`, as in `burst=10/1s` or `100/1m` (named `default`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, rest) = s.split_once('=').unwrap_or(("default", s));
        let (limit, period) = rest.split_once('/').ok_or_else(|| {
            LimitError(format!(
                "'{s}' is not a limit: use [NAME=]LIMIT/PERIOD, e.g. 100/1m"
            ))
        })?;
        let limit = limit
            .trim()
            .parse()
            .map_err(|_| LimitError(format!("'{limit}' is not a whole number of units")))?;
        let parsed = NamedLimit {
            name: name.trim().to_owned(),
            limit,
            period: period.trim().parse()?,
        };
        parsed.validate()?;
        Ok(parsed)
    }
}

/// Checks a list of limits: each well formed, names unique, at most [`MAX_LIMITS`].
///
/// # Errors
/// A sentence naming what is wrong.
pub fn validate_limits(limits: &[NamedLimit]) -> Result<(), LimitError> {
    if limits.len() > MAX_LIMITS {
        return Err(LimitError(format!("at most {MAX_LIMITS} limits")));
    }
    for (i, l) in limits.iter().enumerate() {
        l.validate()?;
        if limits[..i].iter().any(|o| o.name == l.name) {
            return Err(LimitError(format!(
                "the limit name '{}' is used twice",
                l.name
            )));
        }
    }
    Ok(())
}

/// The recent uses one limit counts: `(time in ms, units)`, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Window(Vec<(i64, u32)>);

impl Window {
    /// Drops every use that has left the window. Every entry is looked at, not only a
    /// sorted prefix: a log written by an earlier version may be out of order, and an
    /// entry must never be dropped for where it sits.
    fn prune(&mut self, now_ms: i64, period_ms: i64) {
        self.0.retain(|&(t, _)| t > now_ms - period_ms);
    }

    /// Counts a use at `at_ms`, keeping the log oldest first whatever order uses arrive in
    /// (a use counted at a time before the latest goes before it).
    fn count(&mut self, at_ms: i64, units: u32) {
        let at = self.0.partition_point(|&(t, _)| t <= at_ms);
        self.0.insert(at, (at_ms, units));
    }

    fn used(&self) -> u64 {
        self.0.iter().map(|&(_, n)| u64::from(n)).sum()
    }

    /// The time (ms) from which `needed` more units fit under `limit`: now, when the oldest
    /// uses that must fall out have, or never ([`i64::MAX`]) when `needed` alone is more
    /// than the limit.
    fn free_at(&self, now_ms: i64, period_ms: i64, limit: u32, needed: u32) -> i64 {
        let limit = u64::from(limit);
        let mut used = self.used() + u64::from(needed);
        if used <= limit {
            return now_ms;
        }
        for &(t, n) in &self.0 {
            used -= u64::from(n);
            if used <= limit {
                return t + period_ms;
            }
        }
        i64::MAX
    }

    /// When the latest counted use was (ms), if any.
    pub fn last_ms(&self) -> Option<i64> {
        self.0.last().map(|&(t, _)| t)
    }

    /// Whether no use in it can still count at `now_ms` under any limit (its latest is
    /// older than the longest period): a keeper may forget it.
    pub fn is_idle(&self, now_ms: i64) -> bool {
        let horizon = now_ms - i64::from(MAX_PERIOD_SECONDS) * 1000;
        self.last_ms().is_none_or(|t| t <= horizon)
    }

    /// Removes one use at `at_ms` of `units` (a refund), if it is still counted.
    pub fn refund(&mut self, at_ms: i64, units: u32) {
        if let Some(i) = self.0.iter().rposition(|&(t, n)| t == at_ms && n == units) {
            self.0.remove(i);
        }
    }
}

/// What one limit says of a use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitStatus {
    /// The limit's name.
    pub name: String,
    /// Its units per period.
    pub limit: u32,
    /// Its period, in seconds.
    pub period_seconds: u32,
    /// Units left in the current window after this use (0 when refused).
    pub remaining: u32,
    /// Milliseconds until the window's oldest counted use falls out (the next unit is
    /// free then); 0 when nothing is counted.
    pub reset_ms: i64,
}

/// What a use came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admission {
    /// Whether every limit admitted it.
    pub allowed: bool,
    /// Each limit's status (after the use when admitted).
    pub limits: Vec<LimitStatus>,
    /// When refused: milliseconds until a use of the same cost would be admitted (`None`:
    /// never, the cost is above a limit).
    pub retry_after_ms: Option<i64>,
}

/// Decides one use of `cost` units at `now_ms` under every limit, with their windows
/// (one per limit, in order). Admitted: the use is counted in every window. Refused:
/// nothing is counted.
pub fn admit(limits: &[NamedLimit], windows: &mut [Window], now_ms: i64, cost: u32) -> Admission {
    let mut allowed = true;
    let mut retry_at = now_ms;
    for (l, w) in limits.iter().zip(windows.iter_mut()) {
        w.0.sort_by_key(|&(t, _)| t);
        w.prune(now_ms, l.period.ms());
        let free = w.free_at(now_ms, l.period.ms(), l.limit, cost);
        if free > now_ms {
            allowed = false;
            retry_at = retry_at.max(free);
        }
    }
    if allowed {
        for w in windows.iter_mut() {
            w.count(now_ms, cost);
        }
    }
    let limits = limits
        .iter()
        .zip(windows.iter())
        .map(|(l, w)| {
            let used = w.used();
            LimitStatus {
                name: l.name.clone(),
                limit: l.limit,
                period_seconds: l.period.seconds(),
                remaining: u32::try_from(u64::from(l.limit).saturating_sub(used)).unwrap_or(0),
                reset_ms: w.0.first().map_or(0, |&(t, _)| t + l.period.ms() - now_ms),
            }
        })
        .collect();
    Admission {
        allowed,
        limits,
        retry_after_ms: (!allowed)
            .then(|| (retry_at != i64::MAX).then(|| retry_at - now_ms))
            .flatten(),
    }
}

/// How often a balance is refilled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    /// At each UTC midnight.
    Day,
    /// At each first of the month, UTC.
    Month,
}

/// A refill: the balance is set to `amount` at each interval boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Refill {
    /// What the balance is set to.
    #[serde(deserialize_with = "crate::whole::number")]
    #[cfg_attr(feature = "schema", schemars(range(max = 1_000_000_000_000u64)))]
    pub amount: u64,
    /// When.
    pub interval: Interval,
}

impl FromStr for Refill {
    type Err = LimitError;
    /// `AMOUNT/day` or `AMOUNT/month`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            LimitError(format!(
                "'{s}' is not a refill: use AMOUNT/day or AMOUNT/month"
            ))
        };
        let (amount, interval) = s.split_once('/').ok_or_else(bad)?;
        Ok(Refill {
            amount: amount.trim().parse().map_err(|_| bad())?,
            interval: match interval.trim() {
                "day" => Interval::Day,
                "month" => Interval::Month,
                _ => return Err(bad()),
            },
        })
    }
}

/// A key's usage credits: its settings and its balance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Credits {
    /// The balance.
    pub remaining: u64,
    /// How it is refilled, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refill: Option<Refill>,
    /// Below this balance a `credits_low` alert is raised, once per refill period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_below: Option<u64>,
    /// The refill period the balance belongs to (`2026-06-01` or `2026-06`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// The refill period a `credits_low` alert was last due in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerted: Option<String>,
}

/// The refill period `now` falls in: the UTC day or month, or `once` without a refill.
pub fn refill_period(refill: Option<&Refill>, now: DateTime<Utc>) -> String {
    match refill.map(|r| r.interval) {
        Some(Interval::Day) => format!("{:04}-{:02}-{:02}", now.year(), now.month(), now.day()),
        Some(Interval::Month) => format!("{:04}-{:02}", now.year(), now.month()),
        None => "once".to_owned(),
    }
}

/// When the period after `now`'s starts (ms), for a refill.
fn next_refill_ms(refill: &Refill, now: DateTime<Utc>) -> Option<i64> {
    let date = now.date_naive();
    let next = match refill.interval {
        Interval::Day => date.succ_opt()?,
        Interval::Month => {
            let (y, m) = if date.month() == 12 {
                (date.year() + 1, 1)
            } else {
                (date.year(), date.month() + 1)
            };
            chrono::NaiveDate::from_ymd_opt(y, m, 1)?
        }
    };
    Some(next.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// What a spend came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spend {
    /// Whether the balance covered the cost (and was charged).
    pub allowed: bool,
    /// The balance after.
    pub remaining: u64,
    /// Whether this spend is the one that first took the balance below `alert_below` in
    /// this refill period: a `credits_low` alert is due, once.
    pub alert_due: bool,
    /// When refused: milliseconds until the next refill (`None`: none is coming).
    pub retry_after_ms: Option<i64>,
}

/// An operator's change to a key's credits (`POST /v1/keys/{id}/credits`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CreditsChange {
    /// `true`: the balance becomes `amount`; `false`: `amount` is added to it.
    pub set: bool,
    /// What to set or add.
    pub amount: u64,
    /// A new refill (`None`: unchanged).
    pub refill: Option<Refill>,
    /// A new `credits_low` threshold (`None`: unchanged).
    pub alert_below: Option<u64>,
}

/// The largest balance or refill amount: well below 2^53, so that every JavaScript
/// client reads it exactly.
pub const MAX_CREDITS: u64 = 1_000_000_000_000;

/// A change that would take a balance past [`MAX_CREDITS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreditsOverflow {
    /// The balance before the change (after its refill).
    pub remaining: u64,
}

impl core::fmt::Display for CreditsOverflow {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "the balance ({}) would pass the largest balance, {MAX_CREDITS}",
            self.remaining
        )
    }
}

impl std::error::Error for CreditsOverflow {}

impl Credits {
    /// `current` (none: an empty balance) changed by `change` at `now`: brought into
    /// `now`'s refill period first, then set or added to. A new balance may fall below its
    /// threshold again, so its `credits_low` alert is due again.
    ///
    /// # Errors
    /// [`CreditsOverflow`] when the new balance would pass [`MAX_CREDITS`] (nothing is
    /// changed).
    pub fn changed(
        current: Option<Credits>,
        change: CreditsChange,
        now: DateTime<Utc>,
    ) -> Result<Credits, CreditsOverflow> {
        let mut credits = current.unwrap_or(Credits {
            remaining: 0,
            refill: None,
            alert_below: None,
            period: None,
            alerted: None,
        });
        credits.refill(now);
        if change.refill.is_some() {
            credits.refill = change.refill;
        }
        if change.alert_below.is_some() {
            credits.alert_below = change.alert_below;
        }
        let remaining = if change.set {
            Some(change.amount)
        } else {
            credits.remaining.checked_add(change.amount)
        };
        credits.remaining = match remaining {
            Some(r) if r <= MAX_CREDITS => r,
            _ => {
                return Err(CreditsOverflow {
                    remaining: credits.remaining,
                });
            }
        };
        credits.alerted = None;
        Ok(credits)
    }

    /// Brings the balance into `now`'s refill period: at the first use after a boundary it
    /// is *set* to the refill amount (not added to).
    ///
    /// A period never moves backwards: a `now` in a period before the balance's own (a
    /// clock behind the one that last refilled it) changes nothing, so no use can set the
    /// balance back to an earlier period's refill.
    pub fn refill(&mut self, now: DateTime<Utc>) {
        let period = refill_period(self.refill.as_ref(), now);
        if self.refill.is_some()
            && let Some(current) = &self.period
            && current.len() == period.len()
            && *current > period
        {
            return;
        }
        if let Some(refill) = self.refill
            && self.period.as_deref() != Some(period.as_str())
        {
            self.remaining = refill.amount;
        }
        self.period = Some(period);
    }

    /// Whether the balance covers `cost` now (refilled first). Charges nothing.
    pub fn covers(&mut self, now: DateTime<Utc>, cost: u32) -> bool {
        self.refill(now);
        self.remaining >= u64::from(cost)
    }

    /// Spends `cost` if the balance covers it.
    pub fn spend(&mut self, now: DateTime<Utc>, cost: u32) -> Spend {
        self.refill(now);
        let cost = u64::from(cost);
        if self.remaining < cost {
            return Spend {
                allowed: false,
                remaining: self.remaining,
                alert_due: false,
                retry_after_ms: self
                    .refill
                    .as_ref()
                    .and_then(|r| next_refill_ms(r, now))
                    .map(|t| t - now.timestamp_millis()),
            };
        }
        self.remaining -= cost;
        let alert_due = self.alert_below.is_some_and(|below| self.remaining < below)
            && self.alerted != self.period;
        if alert_due {
            self.alerted.clone_from(&self.period);
        }
        Spend {
            allowed: true,
            remaining: self.remaining,
            alert_due,
            retry_after_ms: None,
        }
    }

    /// Gives back, whole, a use of `cost` charged at `at` that was refused or failed
    /// after it was charged: its units, and, when that use made the `credits_low` alert
    /// due (`alert_was_due`), the alert's state, so that the next use to go below the
    /// threshold raises it. A use charged in an earlier refill period than the balance's
    /// is not given back: the refill has set the balance since, and it holds no part of
    /// that use.
    pub fn give_back(&mut self, cost: u32, at: DateTime<Utc>, alert_was_due: bool) {
        if self.period.as_deref() != Some(refill_period(self.refill.as_ref(), at).as_str()) {
            return;
        }
        self.remaining = self.remaining.saturating_add(u64::from(cost));
        if alert_was_due {
            self.alerted = None;
        }
    }
}

/// What one use of a key that decided `valid` comes to under its limits and credits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumption {
    /// `Valid`, `RateLimited` or `UsageExceeded`.
    pub verdict: crate::verdict::Verdict,
    /// The limits' statuses.
    pub admission: Admission,
    /// The credits' balance, when the key has credits.
    pub spend: Option<Spend>,
}

/// Counts one use of `cost` units: credits are checked first (without charging), then
/// every limit (counting the use only if all admit), then the credits are charged. A
/// refused use is counted by nothing and charged nothing.
pub fn consume(
    limits: &[NamedLimit],
    windows: &mut [Window],
    credits: Option<&mut Credits>,
    now: DateTime<Utc>,
    cost: u32,
) -> Consumption {
    use crate::verdict::Verdict;
    let now_ms = now.timestamp_millis();
    if let Some(c) = &credits {
        let mut probe = (*c).clone();
        if !probe.covers(now, cost) {
            let spend = probe.spend(now, cost);
            let admission = admit(limits, &mut windows.to_vec(), now_ms, 0);
            return Consumption {
                verdict: Verdict::UsageExceeded,
                admission: Admission {
                    allowed: false,
                    retry_after_ms: spend.retry_after_ms,
                    ..admission
                },
                spend: Some(spend),
            };
        }
    }
    let admission = admit(limits, windows, now_ms, cost);
    if !admission.allowed {
        return Consumption {
            verdict: Verdict::RateLimited,
            spend: credits.map(|c| Spend {
                allowed: false,
                remaining: c.remaining,
                alert_due: false,
                retry_after_ms: None,
            }),
            admission,
        };
    }
    Consumption {
        verdict: Verdict::Valid,
        spend: credits.map(|c| c.spend(now, cost)),
        admission,
    }
}

/// Whole seconds, rounded up, of a duration in ms (at least 0).
fn ceil_seconds(ms: i64) -> i64 {
    (ms.max(0) + 999) / 1000
}

/// `Retry-After` for a retry possible in `ms`: whole seconds, rounded up, at least 1.
pub fn retry_after_seconds(ms: i64) -> u64 {
    u64::try_from(ceil_seconds(ms)).unwrap_or(0).max(1)
}

/// The response headers of a use under `limits` (draft-ietf-httpapi-ratelimit-headers):
/// `RateLimit-Policy` names every limit (`"name";q=limit;w=period`), `RateLimit` gives
/// the one with the fewest units left (`"name";r=remaining;t=seconds to reset`); names are
/// structured-field strings (they hold no character that needs escaping), and for a
/// refused use `Retry-After` gives the seconds until a retry can succeed (the same point
/// in time as `t` when a limit refused it).
pub fn ratelimit_headers(
    limits: &[LimitStatus],
    retry_after_ms: Option<i64>,
) -> Vec<(&'static str, String)> {
    let mut headers = Vec::new();
    if !limits.is_empty() {
        let policy: Vec<String> = limits
            .iter()
            .map(|l| format!("\"{}\";q={};w={}", l.name, l.limit, l.period_seconds))
            .collect();
        headers.push(("RateLimit-Policy", policy.join(", ")));
        if let Some(low) = limits.iter().min_by_key(|l| l.remaining) {
            let t = match (low.remaining, retry_after_ms) {
                (0, Some(retry)) => ceil_seconds(retry),
                _ => ceil_seconds(low.reset_ms),
            };
            headers.push((
                "RateLimit",
                format!("\"{}\";r={};t={t}", low.name, low.remaining),
            ));
        }
    }
    if let Some(retry) = retry_after_ms {
        headers.push(("Retry-After", retry_after_seconds(retry).to_string()));
    }
    headers
}

#[cfg(test)]
mod credits_change_tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        crate::time::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn set_and_add_stop_at_the_largest_balance_and_rearm_the_alert() {
        let now = t("2026-06-02T10:00:00Z");
        let daily = Refill {
            amount: 100,
            interval: Interval::Day,
        };
        // None yet: an empty balance, then the change.
        let fresh = Credits::changed(
            None,
            CreditsChange {
                set: false,
                amount: 5,
                ..Default::default()
            },
            now,
        )
        .unwrap();
        assert_eq!(
            (fresh.remaining, fresh.refill, fresh.alert_below),
            (5, None, None)
        );
        // Yesterday's balance is refilled first, then added to.
        let old = Credits {
            remaining: 3,
            refill: Some(daily),
            alert_below: Some(10),
            period: Some("2026-06-01".to_owned()),
            alerted: Some("2026-06-01".to_owned()),
        };
        let added = Credits::changed(
            Some(old.clone()),
            CreditsChange {
                amount: 7,
                ..Default::default()
            },
            now,
        )
        .unwrap();
        assert_eq!(added.remaining, 107);
        assert_eq!(added.alerted, None, "the alert is due again");
        assert_eq!(added.alert_below, Some(10), "unchanged when not given");
        let set = Credits::changed(
            Some(old.clone()),
            CreditsChange {
                set: true,
                amount: 1,
                alert_below: Some(0),
                refill: None,
            },
            now,
        )
        .unwrap();
        assert_eq!(
            (set.remaining, set.alert_below, set.refill),
            (1, Some(0), Some(daily))
        );
        // Repeated adds stop at the largest balance: the one that would pass it is
        // refused, and a balance past it (or past 2^53, or u64) is never made.
        let mut balance = None;
        for _ in 0..10 {
            balance = Some(
                Credits::changed(
                    balance,
                    CreditsChange {
                        amount: MAX_CREDITS / 10,
                        ..Default::default()
                    },
                    now,
                )
                .unwrap(),
            );
        }
        let full = balance.unwrap();
        assert_eq!(full.remaining, MAX_CREDITS);
        for amount in [1, MAX_CREDITS, u64::MAX] {
            assert_eq!(
                Credits::changed(
                    Some(full.clone()),
                    CreditsChange {
                        amount,
                        ..Default::default()
                    },
                    now
                ),
                Err(CreditsOverflow {
                    remaining: MAX_CREDITS
                })
            );
        }
        let too_big = CreditsChange {
            set: true,
            amount: MAX_CREDITS + 1,
            ..Default::default()
        };
        assert!(Credits::changed(None, too_big, now).is_err());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn limits_and_refills_parse_from_the_command_line_form() {
        let l: NamedLimit = "burst=10/1s".parse().unwrap();
        assert_eq!(
            (l.name.as_str(), l.limit, l.period.seconds()),
            ("burst", 10, 1)
        );
        let l: NamedLimit = "100/1m".parse().unwrap();
        assert_eq!(
            (l.name.as_str(), l.limit, l.period.seconds()),
            ("default", 100, 60)
        );
        for bad in [
            "",
            "10",
            "x=10/1y",
            "Big=1/1s",
            "a=0/1s",
            "a=10001/1s",
            "a=1/2d",
            "a=-1/1s",
        ] {
            assert!(bad.parse::<NamedLimit>().is_err(), "{bad}");
        }
        let r: Refill = "500/day".parse().unwrap();
        assert_eq!(
            r,
            Refill {
                amount: 500,
                interval: Interval::Day
            }
        );
        assert_eq!(
            "7/month".parse::<Refill>().unwrap().interval,
            Interval::Month
        );
        for bad in ["500", "500/week", "x/day", "-1/day"] {
            assert!(bad.parse::<Refill>().is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod order_tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        crate::time::parse_rfc3339(s).unwrap()
    }

    fn two_per_ten_seconds() -> Vec<NamedLimit> {
        vec!["w=2/10s".parse().unwrap()]
    }

    #[test]
    fn the_sliding_log_holds_its_limit_whatever_order_uses_arrive_in() {
        let limits = two_per_ten_seconds();
        let mut windows = vec![Window::default()];
        let mut admitted = Vec::new();
        // A slow use counted after a newer one, then uses around the older one's expiry.
        for at in [9_000, 2_000, 11_500, 12_100, 12_200, 19_100, 19_200] {
            if admit(&limits, &mut windows, at, 1).allowed {
                admitted.push(at);
            }
        }
        assert_eq!(admitted, vec![9_000, 2_000, 12_100, 19_100]);
        for &start in &admitted {
            let within = admitted
                .iter()
                .filter(|&&a| a >= start && a < start + 10_000)
                .count();
            assert!(within <= 2, "{within} uses within 10 s of {start}");
        }
    }

    #[test]
    fn an_unsorted_log_from_storage_loses_no_live_entry() {
        let limits = two_per_ten_seconds();
        // What an earlier version could have stored: a live use after an expired one,
        // before another live one.
        let mut windows: Vec<Window> =
            vec![serde_json::from_str("[[12000,1],[1000,1],[2500,1]]").unwrap()];
        let a = admit(&limits, &mut windows, 12_100, 1);
        assert!(
            !a.allowed,
            "two uses are live: 12000 and 2500 (until 12500)"
        );
        assert!(admit(&limits, &mut windows, 12_600, 1).allowed);
        assert_eq!(
            windows[0],
            serde_json::from_str("[[12000,1],[12600,1]]").unwrap()
        );
    }

    #[test]
    fn a_refill_period_never_moves_backwards() {
        let daily = Refill {
            amount: 3,
            interval: Interval::Day,
        };
        let mut c = Credits {
            remaining: 3,
            refill: Some(daily),
            alert_below: None,
            period: None,
            alerted: None,
        };
        let after_midnight = t("2026-06-02T00:00:01Z");
        let before_midnight = t("2026-06-01T23:59:59Z");
        assert!(c.spend(after_midnight, 3).allowed);
        // A use timed before midnight, applied after: no earlier period's refill.
        let late = c.spend(before_midnight, 1);
        assert!(!late.allowed);
        assert_eq!((c.remaining, c.period.as_deref()), (0, Some("2026-06-02")));
        assert!(!c.spend(after_midnight, 1).allowed);
    }

    #[test]
    fn a_use_given_back_returns_its_units_and_its_alert() {
        let mut c = Credits {
            remaining: 10,
            refill: Some(Refill {
                amount: 10,
                interval: Interval::Day,
            }),
            alert_below: Some(5),
            period: None,
            alerted: None,
        };
        let now = t("2026-06-01T10:00:00Z");
        let before = {
            let mut b = c.clone();
            b.refill(now);
            b
        };
        let spend = c.spend(now, 6);
        assert!(spend.alert_due);
        c.give_back(6, now, spend.alert_due);
        assert_eq!(c, before, "units and the alert's state, whole");
        assert!(c.spend(now, 6).alert_due, "the alert is due again");
        // A use of yesterday's period is not given back to today's refilled balance.
        let mut today = c.clone();
        today.refill(t("2026-06-02T00:00:00Z"));
        let refilled = today.clone();
        today.give_back(6, now, true);
        assert_eq!(today, refilled);
    }
}
