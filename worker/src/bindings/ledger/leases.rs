//! The leases an isolate holds (the core's [`keyward_core::limits::lease`]): units of a hot
//! key's rate limits its object granted, spent here for at most the revocation bound, on
//! the isolate's clock from before it asked (so never past the object's grant plus the
//! bound). What a lease has left when it runs out or ends is handed back on the isolate's
//! next ask of the key; a lease lost with its isolate, or dropped here, only leaves units
//! unused. Times are milliseconds on the isolate's clock, passed in, so that the rules
//! are tested on the host.

use keyward_core::limits::lease::{Lease, Unused};
use keyward_core::limits::{LimitStatus, NamedLimit};
use keyward_core::{KeyId, KeyRecord};

/// Leases an isolate holds at most; a lease past that is dropped (its units unused).
pub const HELD: usize = 256;

/// What a lease was granted for: the key's own limits, no balance, and its successor (a
/// rotated key's balance may live there). A lease is spent only while the isolate's truth
/// about the key has the same (a balance given to the key since is charged by its object,
/// never skipped by a lease); its validity is decided on the truth, as for any use.
#[derive(Debug, PartialEq)]
struct GrantedFor {
    limits: Vec<NamedLimit>,
    rotated_to: Option<KeyId>,
}

impl GrantedFor {
    fn of(record: &KeyRecord) -> Self {
        GrantedFor {
            limits: record.rate_limits.clone(),
            rotated_to: record.rotated_to.clone(),
        }
    }

    fn is(&self, record: &KeyRecord) -> bool {
        self.limits == record.rate_limits
            && self.rotated_to == record.rotated_to
            && record.credits.is_none()
    }
}

/// One lease held.
#[derive(Debug)]
struct Held {
    /// The key's hash.
    hash: [u8; 32],
    lease: Lease,
    /// Units not spent yet.
    left: u32,
    /// When this isolate stops spending it: its ask's start plus the bound.
    until: f64,
    /// What it was granted for.
    of: GrantedFor,
    /// The limits' statuses the object answered with it (the lease's units counted).
    limits: Vec<LimitStatus>,
    /// When it came (for the statuses' reset times).
    came: f64,
}

/// The leases held (a hot key has a few at a time; an isolate holds few hot keys).
#[derive(Debug, Default)]
pub struct Leases {
    held: Vec<Held>,
}

impl Leases {
    /// Whether a live lease of the key `hash` holds `cost` units at `now`: the one check
    /// made on every counted use, before the use is decided on the isolate's truth for it.
    pub fn holds(&self, hash: &[u8; 32], cost: u32, now: f64) -> bool {
        self.held
            .iter()
            .any(|h| h.hash == *hash && now < h.until && h.left >= cost)
    }

    /// Spends `cost` units of a live lease of the key `hash` whose record is `truth` (the
    /// isolate's truth about the key, decided valid for this use) at `now`. Returns the
    /// limits' statuses to answer with: as the object answered at the grant (its whole
    /// lease counted, so `remaining` never says more than the object had left then), the
    /// reset times moved on by the time since. `None`: no live lease of the same record
    /// holds `cost` units; the use is asked of the object.
    pub fn spend(
        &mut self,
        hash: &[u8; 32],
        truth: &KeyRecord,
        cost: u32,
        now: f64,
    ) -> Option<Vec<LimitStatus>> {
        let h = self
            .held
            .iter_mut()
            .find(|h| h.hash == *hash && now < h.until && h.left >= cost && h.of.is(truth))?;
        h.left -= cost;
        // Whole milliseconds since the lease came (a clock is never believed backwards).
        let since = (now - h.came).max(0.0) as i64;
        Some(
            h.limits
                .iter()
                .map(|l| LimitStatus {
                    reset_ms: (l.reset_ms - since).max(0),
                    ..l.clone()
                })
                .collect(),
        )
    }

    /// Takes out every lease of `hash` that has ended or cannot pay `cost` at `now`, or
    /// was granted for another record than `truth`: what they left, to hand back with the
    /// ask about to be made.
    pub fn take_back(
        &mut self,
        hash: &[u8; 32],
        truth: Option<&KeyRecord>,
        cost: u32,
        now: f64,
    ) -> Vec<Unused> {
        let mut back = Vec::new();
        self.held.retain(|h| {
            if h.hash != *hash {
                return true;
            }
            let live = now < h.until && h.left >= cost && truth.is_some_and(|t| h.of.is(t));
            if !live && h.left > 0 {
                back.push(Unused {
                    at_ms: h.lease.at_ms,
                    granted: h.lease.units,
                    unused: h.left,
                });
            }
            live
        });
        back
    }

    /// Keeps a lease of `hash` granted with an answer about `record` (its statuses
    /// `limits`), for an ask that started at `asked`, spendable until `asked + bound_ms`
    /// and never past the lease's own length. Past [`HELD`] leases, ended ones are
    /// forgotten first; with no room still, the lease is dropped (its units unused).
    pub fn keep(
        &mut self,
        hash: [u8; 32],
        lease: Lease,
        record: &KeyRecord,
        limits: Vec<LimitStatus>,
        (asked, bound_ms, now): (f64, f64, f64),
    ) {
        let length = (lease.until_ms - lease.at_ms) as f64;
        let until = asked + bound_ms.min(length);
        if self.held.len() >= HELD {
            self.held.retain(|h| now < h.until);
            if self.held.len() >= HELD {
                return;
            }
        }
        self.held.push(Held {
            hash,
            lease,
            left: lease.units,
            until,
            of: GrantedFor::of(record),
            limits,
            came: now,
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn record(scopes: &[&str]) -> KeyRecord {
        let new = keyward_core::ApiKey::generate("sk", "live").unwrap();
        KeyRecord::new(
            "key_0123456789abcdef".parse().unwrap(),
            &new,
            keyward_core::NewRecord::new(
                "n",
                "o",
                keyward_core::ScopeSet::parse(scopes).unwrap(),
                "live",
            ),
            keyward_core::chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap(),
        )
    }

    fn status(remaining: u32) -> Vec<LimitStatus> {
        vec![LimitStatus {
            name: "m".into(),
            limit: 1000,
            period_seconds: 60,
            remaining,
            reset_ms: 60_000,
        }]
    }

    const LEASE: Lease = Lease {
        at_ms: 5_000,
        units: 3,
        until_ms: 6_000,
    };

    #[test]
    fn a_lease_is_spent_until_it_is_out_or_ends_then_handed_back() {
        let r = record(&["a:read"]);
        let hash = [7; 32];
        let mut leases = Leases::default();
        leases.keep(hash, LEASE, &r, status(875), (100.0, 1000.0, 110.0));
        assert!(!leases.holds(&[8; 32], 1, 120.0), "another key's");
        assert!(leases.holds(&hash, 3, 120.0));
        assert!(!leases.holds(&hash, 4, 120.0), "more than it holds");
        assert!(!leases.holds(&hash, 1, 1100.0), "past the bound");
        let got = leases.spend(&hash, &r, 2, 120.0).unwrap();
        assert_eq!((got[0].remaining, got[0].reset_ms), (875, 59_990));
        assert_eq!(
            leases.spend(&hash, &r, 2, 121.0),
            None,
            "1 left, a use of 2"
        );
        assert_eq!(
            leases.take_back(&hash, Some(&r), 2, 121.0),
            vec![Unused {
                at_ms: 5_000,
                granted: 3,
                unused: 1
            }]
        );
        assert_eq!(leases.take_back(&hash, Some(&r), 1, 121.0), Vec::new());
        // Ends at the ask's start plus the bound, on this isolate's clock.
        leases.keep(hash, LEASE, &r, status(875), (100.0, 1000.0, 110.0));
        assert!(leases.spend(&hash, &r, 1, 1099.0).is_some());
        assert_eq!(leases.spend(&hash, &r, 1, 1100.0), None);
        assert_eq!(leases.take_back(&hash, Some(&r), 1, 1100.0)[0].unused, 2);
    }

    #[test]
    fn a_key_whose_limits_or_successor_changed_spends_no_lease_of_before() {
        let r = record(&["a:read", "b:read"]);
        let narrowed = KeyRecord {
            rate_limits: vec!["m=10/1m".parse().unwrap()],
            ..r.clone()
        };
        let hash = [1; 32];
        let mut leases = Leases::default();
        leases.keep(hash, LEASE, &r, status(875), (0.0, 1000.0, 0.0));
        assert_eq!(leases.spend(&hash, &narrowed, 1, 10.0), None);
        assert_eq!(
            leases.take_back(&hash, Some(&narrowed), 1, 10.0)[0].unused,
            3
        );
        assert_eq!(leases.spend(&hash, &r, 1, 10.0), None, "handed back: gone");
        // A rotated key (its balance may be its successor's) the same, and a key the
        // isolate no longer has a truth about.
        leases.keep(hash, LEASE, &r, status(875), (0.0, 1000.0, 0.0));
        let rotated = KeyRecord {
            rotated_to: Some("key_1123456789abcdef".parse().unwrap()),
            ..r.clone()
        };
        assert_eq!(leases.spend(&hash, &rotated, 1, 10.0), None);
        assert!(
            leases.spend(&[2; 32], &r, 1, 10.0).is_none(),
            "another key's"
        );
        assert_eq!(leases.take_back(&hash, None, 1, 10.0).len(), 1);
    }

    #[test]
    fn a_lease_never_outlives_its_own_length_and_room_is_bounded() {
        let r = record(&[]);
        let mut leases = Leases::default();
        let short = Lease {
            until_ms: LEASE.at_ms + 200,
            ..LEASE
        };
        leases.keep([2; 32], short, &r, status(1), (0.0, 1000.0, 0.0));
        assert_eq!(leases.spend(&[2; 32], &r, 1, 200.0), None);
        let mut leases = Leases::default();
        for i in 0..HELD {
            let mut hash = [0; 32];
            hash[..8].copy_from_slice(&(i as u64).to_le_bytes());
            leases.keep(hash, LEASE, &r, status(1), (0.0, 1000.0, 0.0));
        }
        leases.keep([9; 32], LEASE, &r, status(1), (0.0, 1000.0, 10.0));
        assert_eq!(
            leases.spend(&[9; 32], &r, 1, 10.0),
            None,
            "no room: dropped"
        );
        // Once the others have ended, they make room.
        leases.keep([9; 32], LEASE, &r, status(1), (1000.0, 1000.0, 1000.0));
        assert!(leases.spend(&[9; 32], &r, 1, 1001.0).is_some());
    }
}
