//! Leases: how one hot rate-limited key is used faster than its object can answer.
//!
//! A key's object counts every use in its sliding log ([`admit`]). When a key is *hot*
//! (at least [`HOT_USES`] units counted in the last [`HOT_SPAN_MS`]), the object may
//! answer an admitted use with a lease as well: `n` more units, admitted and written into
//! the log at the grant's time with the same [`admit`] as a use of cost `n`, which the
//! asking isolate spends locally for at most the revocation bound `B`. Unused units are
//! handed back ([`hand_back`]) on that isolate's next ask; an isolate that is evicted
//! never hands them back, which costs the customer part of its limit (under-admission),
//! never over-admission.
//!
//! **The bound.** The object grants at most [`share`]`(limit)` units (`limit ×`
//! [`SHARE_PERCENT`]` / 100`, rounded down) of each limit within any interval of length
//! `B` ([`Grants`] keeps the grants of the last `B`). Then in any window `[a, a + P)` of
//! a limit of `limit` units per period `P`, at most `limit + share(limit)` units are
//! used:
//!
//! - a unit used in the window was counted in the log at its use (an asked use) or at its
//!   lease's grant `g`, and a lease lives at most `B`, so `a − B < g < a + P`;
//! - the units counted in the log at times within `[a, a + P)` are at most `limit`: the
//!   sliding log admits a count at `t` only when the log holds at most `limit` units in
//!   `(t − P, t]` with it, and the last count within the window sees all the others (the
//!   object's clock does not go back; a hand-back only removes units);
//! - the units granted in `(a − B, a)` are at most `share(limit)`: at the last grant in
//!   that interval, all the others were within the bound before it.
//!
//! A unit used in a window but granted in the bound before it is the only kind not
//! counted in that window; a unit granted in the window but used after it is counted
//! there without being used there (under-admission). So over-admission is at most
//! [`SHARE_PERCENT`] % of a limit in any window, whatever the number of isolates, and
//! none at all while the key is not hot (every use is asked, exactly as without leases).
//!
//! **Who gets a lease.** Only a use the object admitted, of a key counted by rate limits
//! in that one object (its own, or its environment's defaults): a key with credits or an
//! owner's shared limits is always asked (a leased credit would be lost with an evicted
//! isolate; an owner's limits live in another object). A revoked, expired, not yet
//! valid or narrowed key gets none: the object decides the use first, and a lease lives
//! no longer than the bound, so a revocation reaches every isolate within the bound. A
//! bound of 0 grants none.

use serde::{Deserialize, Serialize};

use super::window::{Admission, NamedLimit, Window, admit};
use crate::key_use::UseOutcome;

/// Units counted in the last [`HOT_SPAN_MS`] from which a key is hot.
pub const HOT_USES: u64 = 100;
/// The span over which [`HOT_USES`] is counted (ms).
pub const HOT_SPAN_MS: i64 = 1_000;
/// The share of a limit that may be granted in leases within one bound (percent).
pub const SHARE_PERCENT: u32 = 10;
/// A lease is at most this part of a limit's share (so that several isolates may hold
/// one within the same bound).
pub const LEASE_PARTS: u32 = 4;

/// The units of `limit` that leases may hold within one bound: [`SHARE_PERCENT`] % of
/// it, rounded down.
pub const fn share(limit: u32) -> u32 {
    // A limit is at most MAX_LIMIT (10,000): no overflow.
    limit.saturating_mul(SHARE_PERCENT) / 100
}

/// The grants of leases of the last bound, as an object keeps them: a log of `(time in
/// ms, units)` like a limit's [`Window`] (and stored as one, under [`GRANTS`]).
pub type Grants = Window;

/// The name an object keeps its [`Grants`] under, beside its limits' windows (never a
/// limit's name: those start with a letter).
pub const GRANTS: &str = "~leases";

/// Units an isolate may spend locally, until `until_ms` (the grant's time plus the
/// bound; the isolate counts its own bound from before it asked).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// When it was granted and counted (ms, the object's time): where its units sit in
    /// the log, and how a hand-back finds them.
    pub at_ms: i64,
    /// Units granted.
    pub units: u32,
    /// When it ends at the latest (ms, the object's time).
    pub until_ms: i64,
}

/// Whether the windows show a hot key: at least [`HOT_USES`] units counted in one of
/// them within the last [`HOT_SPAN_MS`] before `now_ms`.
pub fn is_hot(windows: &[Window], now_ms: i64) -> bool {
    windows
        .iter()
        .any(|w| w.used_after(now_ms - HOT_SPAN_MS) >= HOT_USES)
}

/// After a use of `cost` units that `limits` admitted at `now_ms` (already counted in
/// `windows`), the lease the object grants with its answer, if any: none for a bound of
/// 0, a key that is not hot, or when what is left of a limit's share within the bound
/// (or of the limit itself) is less than `cost`. Granted, its units are counted in
/// `windows` at `now_ms`, kept in `grants`, and the admission (the limits' statuses
/// with the lease counted) is returned with it. Grants older than the bound are
/// forgotten.
pub fn grant(
    limits: &[NamedLimit],
    windows: &mut [Window],
    grants: &mut Grants,
    now_ms: i64,
    bound_ms: u32,
    cost: u32,
) -> Option<(Lease, Admission)> {
    let since = now_ms - i64::from(bound_ms);
    grants.forget_until(since);
    if bound_ms == 0 || limits.is_empty() || cost == 0 || !is_hot(windows, now_ms) {
        return None;
    }
    let granted = grants.used_after(since);
    let units = limits
        .iter()
        .map(|l| {
            let left = u64::from(share(l.limit)).saturating_sub(granted);
            let part = u64::from(share(l.limit).div_ceil(LEASE_PARTS));
            left.min(part)
        })
        .min()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n >= cost)?;
    let admission = admit(limits, windows, now_ms, units);
    if !admission.allowed {
        return None;
    }
    grants.count_at(now_ms, units);
    Some((
        Lease {
            at_ms: now_ms,
            units,
            until_ms: now_ms + i64::from(bound_ms),
        },
        admission,
    ))
}

/// Whether the answer to the use `outcome` may carry a lease: a use the counts admitted
/// that charged no balance (a leased credit would be lost with an evicted isolate), asked
/// by an isolate that may hold one (`may_lease`: the key has no owner's limits, which
/// live in another object), under a bound above 0. The object reads its [`Grants`] only
/// then.
pub fn leasable(outcome: &UseOutcome, may_lease: bool, bound_ms: u32) -> bool {
    may_lease && bound_ms > 0 && outcome.admitted && outcome.holder.is_none()
}

/// After the use `outcome` of a key counted under `limits` (its own, or its environment's
/// defaults: the limits the use was counted under, each found by its name among the
/// outcome's windows), the lease granted with its answer ([`grant`], `cost` the use's units): none unless it is [`leasable`].
/// Granted, its units are counted in the outcome's windows (to be saved with them) and
/// in its report's limits, and kept in `grants`.
pub fn after_use(
    outcome: &mut UseOutcome,
    limits: &[NamedLimit],
    grants: &mut Grants,
    (now_ms, bound_ms): (i64, u32),
    cost: u32,
    may_lease: bool,
) -> Option<Lease> {
    if !leasable(outcome, may_lease, bound_ms) {
        return None;
    }
    // Each limit's window, by its name, moved out of the outcome and put back after.
    let at = limits
        .iter()
        .map(|l| outcome.windows.iter().position(|(name, _)| *name == l.name))
        .collect::<Option<Vec<usize>>>()?;
    let mut windows: Vec<Window> = at
        .iter()
        .map(|&i| core::mem::take(&mut outcome.windows[i].1))
        .collect();
    let granted = grant(limits, &mut windows, grants, now_ms, bound_ms, cost);
    for (&i, window) in at.iter().zip(windows) {
        outcome.windows[i].1 = window;
    }
    let (lease, admission) = granted?;
    outcome.report.limits = admission.limits;
    Some(lease)
}

/// The units of a lease its isolate did not use, handed back on its next ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unused {
    /// The lease's grant time (ms, the object's), as granted.
    pub at_ms: i64,
    /// Its units, as granted.
    pub granted: u32,
    /// The units not used.
    pub unused: u32,
}

/// Hands back a lease's `unused` units: they are taken out of its count in each window
/// (the units used stay counted at the grant). A hand-back of more than was granted, or
/// of a grant no window holds any more, changes nothing.
pub fn hand_back(windows: &mut [Window], back: Unused) {
    if back.unused == 0 || back.unused > back.granted {
        return;
    }
    for w in windows {
        w.shrink(back.at_ms, back.granted, back.unused);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn limits(specs: &[&str]) -> Vec<NamedLimit> {
        specs.iter().map(|s| s.parse().unwrap()).collect()
    }

    /// A deterministic generator (xorshift64*), so that every run replays the same cases.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
        }
    }

    /// One isolate's lease: the grant, the units left, and when the isolate stops
    /// spending it (its own clock: from before it asked).
    struct Held {
        lease: Lease,
        left: u32,
        until_ms: i64,
    }

    /// Simulates `isolates` isolates using one key under `limits` for `span_ms`, with the
    /// object granting leases for a bound of `bound_ms`; returns the times of every
    /// admitted unit, and how many uses were spent from leases.
    fn simulate(
        seed: u64,
        limits: &[NamedLimit],
        isolates: usize,
        bound_ms: u32,
        span_ms: i64,
        evict: bool,
    ) -> (Vec<i64>, usize) {
        let mut rng = Rng(seed | 1);
        let mut windows = vec![Window::default(); limits.len()];
        let mut grants = Grants::default();
        let mut held: Vec<Vec<Held>> = (0..isolates).map(|_| Vec::new()).collect();
        let mut used = Vec::new();
        let mut local = 0;
        let mut now = 0_i64;
        while now < span_ms {
            // Bursts and lulls: the object's clock never goes back.
            let gap = if rng.below(50) == 0 { 300 } else { 2 };
            now += i64::try_from(rng.below(gap)).unwrap();
            let i = usize::try_from(rng.below(isolates as u64)).unwrap();
            let cost = 1 + u32::try_from(rng.below(3)).unwrap();
            // An isolate may be evicted, its leases lost (never handed back).
            if evict && rng.below(500) == 0 {
                held[i].clear();
            }
            if let Some(h) = held[i]
                .iter_mut()
                .find(|h| now < h.until_ms && h.left >= cost)
            {
                h.left -= cost;
                local += 1;
                used.extend(std::iter::repeat_n(now, cost as usize));
                continue;
            }
            // Its next ask hands back what its spent or expired leases left.
            for h in held[i].drain(..) {
                hand_back(
                    &mut windows,
                    Unused {
                        at_ms: h.lease.at_ms,
                        granted: h.lease.units,
                        unused: h.left,
                    },
                );
            }
            // The ask reaches the object a little later.
            let asked = now;
            now += i64::try_from(rng.below(2)).unwrap();
            let a = admit(limits, &mut windows, now, cost);
            if !a.allowed {
                continue;
            }
            used.extend(std::iter::repeat_n(now, cost as usize));
            if let Some((lease, _)) = grant(limits, &mut windows, &mut grants, now, bound_ms, cost)
            {
                assert!(lease.until_ms <= now + i64::from(bound_ms));
                held[i].push(Held {
                    lease,
                    left: lease.units,
                    until_ms: asked + i64::from(bound_ms),
                });
            }
        }
        (used, local)
    }

    /// The most units used within any window of `period_ms` (every window that starts
    /// at a use: no other window holds more).
    fn most_in_a_window(used: &[i64], period_ms: i64) -> usize {
        let mut sorted = used.to_vec();
        sorted.sort_unstable();
        let mut most = 0;
        let mut end = 0;
        for start in 0..sorted.len() {
            while end < sorted.len() && sorted[end] < sorted[start] + period_ms {
                end += 1;
            }
            most = most.max(end - start);
        }
        most
    }

    #[test]
    fn no_window_of_any_limit_ever_holds_more_than_the_limit_and_its_share() {
        let cases: &[(&[&str], u32)] = &[
            (&["m=1000/1m"], 1_000),
            (&["m=1000/1m", "s=60/1s"], 1_000),
            (&["s=400/1s"], 1_000),
            (&["s=400/1s"], 250),
            (&["h=10000/1h", "m=2000/1m"], 5_000),
            (&["s=200/2s"], 3_000),
        ];
        let mut leased_somewhere = false;
        for (seed, &(specs, bound)) in (1_u64..).zip(cases) {
            let limits = limits(specs);
            for isolates in [1, 4, 16] {
                for evict in [false, true] {
                    let seed = seed * 1_000 + isolates as u64 + u64::from(evict);
                    let (used, local) = simulate(seed, &limits, isolates, bound, 20_000, evict);
                    leased_somewhere |= local > 0;
                    for l in &limits {
                        let most = most_in_a_window(&used, i64::from(l.period.seconds()) * 1000);
                        let bound_units = (l.limit + share(l.limit)) as usize;
                        assert!(
                            most <= bound_units,
                            "{specs:?} bound {bound} isolates {isolates}: {most} units in one window of {}, more than {bound_units}",
                            l.name
                        );
                    }
                }
            }
        }
        assert!(leased_somewhere, "the simulations used leases");
    }

    #[test]
    fn without_leases_the_log_stays_exact() {
        let limits = limits(&["s=400/1s"]);
        let (used, local) = simulate(7, &limits, 8, 0, 10_000, false);
        assert_eq!(local, 0, "a bound of 0 grants nothing");
        assert!(most_in_a_window(&used, 1000) <= 400);
    }

    #[test]
    fn a_cold_key_gets_no_lease_and_a_hot_one_gets_its_part_of_the_share() {
        let limits = limits(&["m=1000/1m"]);
        let mut windows = vec![Window::default()];
        let mut grants = Grants::default();
        for t in 0..99 {
            assert!(admit(&limits, &mut windows, t, 1).allowed);
            assert_eq!(grant(&limits, &mut windows, &mut grants, t, 1000, 1), None);
        }
        assert!(admit(&limits, &mut windows, 99, 1).allowed);
        let (lease, admission) = grant(&limits, &mut windows, &mut grants, 99, 1000, 1).unwrap();
        assert_eq!(
            lease,
            Lease {
                at_ms: 99,
                units: 25,
                until_ms: 1099
            }
        );
        assert_eq!(admission.limits[0].remaining, 1000 - 100 - 25);
        // Four parts of the share (100) within one bound, then none until the first
        // grant is older than the bound.
        for t in 100..103 {
            assert!(admit(&limits, &mut windows, t, 1).allowed);
            assert_eq!(
                grant(&limits, &mut windows, &mut grants, t, 1000, 1).map(|g| g.0.units),
                Some(25)
            );
        }
        assert!(admit(&limits, &mut windows, 1098, 1).allowed);
        assert_eq!(
            grant(&limits, &mut windows, &mut grants, 1098, 1000, 1),
            None
        );
        // Still hot (104 units in the last second), with the grant at 99 out of the bound.
        assert!(admit(&limits, &mut windows, 1099, 25).allowed);
        assert_eq!(
            grant(&limits, &mut windows, &mut grants, 1099, 1000, 25).map(|g| g.0.units),
            Some(25)
        );
        // A bound of 0 grants nothing, however hot.
        assert_eq!(
            grant(&limits, &mut windows, &mut Grants::default(), 1100, 0, 1),
            None
        );
    }

    #[test]
    fn a_lease_is_never_more_than_the_limit_has_left_and_unused_units_come_back() {
        let limits = limits(&["s=120/1s"]);
        let mut windows = vec![Window::default()];
        let mut grants = Grants::default();
        assert!(admit(&limits, &mut windows, 0, 100).allowed);
        // Share 12, part 3: granted 3.
        let (lease, _) = grant(&limits, &mut windows, &mut grants, 0, 1000, 1).unwrap();
        assert_eq!(lease.units, 3);
        assert_eq!(windows[0].used_after(-1), 103);
        let back = |unused| Unused {
            at_ms: lease.at_ms,
            granted: lease.units,
            unused,
        };
        hand_back(&mut windows, back(2));
        assert_eq!(windows[0].used_after(-1), 101, "two unused units back");
        hand_back(&mut windows, back(9));
        assert_eq!(windows[0].used_after(-1), 101, "more than granted: nothing");
        // Near the limit: what is left (19) is more than a part, so a part; at 118 used
        // only 2 are left, less than a use of 3.
        assert!(admit(&limits, &mut windows, 1, 17).allowed);
        assert_eq!(
            grant(&limits, &mut windows, &mut grants, 1, 1000, 3),
            None,
            "2 left of the limit, a use costs 3"
        );
    }
}
