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
//!
//! In four parts: `window` (limits, their grammar, the sliding log), `credits` (the
//! balance, its refills, an operator's change), `headers` (what a counted use answers
//! with) and [`lease`] (units of a hot key's limits spent by an isolate for at most the
//! revocation bound); [`consume`] puts the first two together for one use.

mod credits;
mod headers;
pub mod lease;
mod window;

use chrono::{DateTime, Utc};

pub use credits::{
    Credits, CreditsChange, CreditsOverflow, Interval, MAX_CREDITS, Refill, Spend, refill_period,
};
pub use headers::{ratelimit_headers, retry_after_seconds};
pub use window::{
    Admission, LimitError, LimitStatus, MAX_COST, MAX_LIMIT, MAX_LIMITS, MAX_PERIOD_SECONDS,
    MIN_PERIOD_SECONDS, NamedLimit, Period, Window, admit, validate_limits,
};

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
