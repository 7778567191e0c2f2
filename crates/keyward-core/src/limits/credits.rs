//! Usage credits: a balance, its refill by UTC day or month, the low-credit alert, and an
//! operator's change to them.

use core::str::FromStr;

use chrono::{DateTime, Datelike as _, Utc};
use serde::{Deserialize, Serialize};

use super::LimitError;

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
    /// `now`'s refill period first, then set or added to; the balance made belongs to
    /// `now`'s period under the refill it now has (a refill given with the change starts at
    /// the next boundary, it does not replace the balance just set). A new balance may fall
    /// below its threshold again, so its `credits_low` alert is due again.
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
        credits.begin(now);
        Ok(credits)
    }

    /// Takes the balance as it is to be `now`'s refill period's: a balance given at
    /// creation or by an operator is what the key holds until the next boundary, where a
    /// refill sets it (without this, the first use would find no period, or another
    /// interval's, and refill it at once).
    pub fn begin(&mut self, now: DateTime<Utc>) {
        self.period = Some(refill_period(self.refill.as_ref(), now));
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

#[cfg(test)]
mod credits_change_tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        crate::time::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn a_balance_given_with_a_refill_is_kept_until_the_next_boundary() {
        let now = t("2026-06-01T10:00:00Z");
        let daily = Refill {
            amount: 5,
            interval: Interval::Day,
        };
        // Given at creation: 2 now, 5 from the next UTC midnight (not 5 at the first use).
        let mut made = Credits {
            remaining: 2,
            refill: Some(daily),
            alert_below: None,
            period: None,
            alerted: None,
        };
        made.begin(now);
        assert_eq!(made.period.as_deref(), Some("2026-06-01"));
        assert_eq!(made.spend(t("2026-06-01T23:59:59Z"), 1).remaining, 1);
        assert_eq!(made.spend(t("2026-06-02T00:00:00Z"), 1).remaining, 4);
        // Set by an operator with a refill it did not have, or with another interval: the
        // balance set holds for the rest of the period.
        for current in [
            None,
            Some(Credits {
                remaining: 9,
                refill: Some(Refill {
                    amount: 9,
                    interval: Interval::Month,
                }),
                alert_below: None,
                period: Some("2026-06".to_owned()),
                alerted: None,
            }),
        ] {
            let mut set = Credits::changed(
                current,
                CreditsChange {
                    set: true,
                    amount: 2,
                    refill: Some(daily),
                    alert_below: None,
                },
                now,
            )
            .unwrap();
            assert_eq!(set.period.as_deref(), Some("2026-06-01"));
            assert_eq!(set.spend(t("2026-06-01T10:00:01Z"), 1).remaining, 1);
            assert_eq!(set.spend(t("2026-06-02T00:00:00Z"), 1).remaining, 4);
        }
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
