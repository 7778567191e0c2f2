//! Rate limits: their bounds and grammar, and the sliding-window log that admits a use
//! under every limit or none.

use core::fmt;
use core::str::FromStr;

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

    /// Forgets every count at or before `until_ms`.
    pub(super) fn forget_until(&mut self, until_ms: i64) {
        self.0.retain(|&(t, _)| t > until_ms);
    }

    /// Counts `units` at `at_ms`.
    pub(super) fn count_at(&mut self, at_ms: i64, units: u32) {
        self.count(at_ms, units);
    }

    /// Units counted after `since_ms`.
    pub fn used_after(&self, since_ms: i64) -> u64 {
        self.0
            .iter()
            .filter(|&&(t, _)| t > since_ms)
            .map(|&(_, n)| u64::from(n))
            .sum()
    }

    /// Takes `by` units out of one count at `at_ms` of `units` (a lease's unused units),
    /// if it is still counted; a count left with none is removed.
    pub fn shrink(&mut self, at_ms: i64, units: u32, by: u32) {
        if let Some(i) = self.0.iter().rposition(|&(t, n)| t == at_ms && n == units) {
            match units.checked_sub(by) {
                Some(0) => {
                    self.0.remove(i);
                }
                Some(left) => self.0[i].1 = left,
                None => {}
            }
        }
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
        crate::order::sort_by_key(&mut w.0, |&(t, _)| t);
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
