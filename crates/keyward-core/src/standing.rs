//! Where a key stands at a moment, as a reader of keys sees it: what may still be done to
//! it (rotate, revoke) and what the daily checks would say of it (stale, over-privileged),
//! and the list filters over the same facts. The API answers these, so that no client
//! (the dashboard, the CLI) re-derives them.
//!
//! ```text
//! rotatable        status = active (not revoked, not expired, not already rotated)
//! revocable        status = active or rotating (the key works, or will)
//! stale            live, and unused (never used: unchanged since creation) for 90+ days
//! over_privileged  live, and holds `admin` or a `resource:*` wildcard
//!
//! status filter    active: active or rotating (it works) · revoked · expired
//!                  expiring: works, and expires within 7 days · stale · over_privileged
//! ```

use core::fmt;
use core::str::FromStr;

use chrono::{DateTime, Duration, Utc};

use crate::audit::{over_privileged, stale, stale_after};
use crate::record::{KeyRecord, KeyStatus};

/// What may be done to a key and what the daily checks say of it, at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Standing {
    /// It can be rotated (it is active: not revoked, expired or already rotated).
    pub rotatable: bool,
    /// It can be revoked to any effect (it works, or still will: active or rotating).
    pub revocable: bool,
    /// Live and unused for 90 days or more (the daily `stale` alert's rule).
    pub stale: bool,
    /// Live and holding `admin` or a wildcard (the daily `over_privileged` alert's rule).
    pub over_privileged: bool,
}

impl Standing {
    /// Where `record` stands at `now`.
    pub fn of(record: &KeyRecord, now: DateTime<Utc>) -> Self {
        let status = record.status(now);
        Standing {
            rotatable: status == KeyStatus::Active,
            revocable: matches!(status, KeyStatus::Active | KeyStatus::Rotating),
            stale: stale(record, now, stale_after()),
            over_privileged: !over_privileged(record, now).is_empty(),
        }
    }
}

/// A filter of the keys list (`GET /v1/keys?status=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    /// Keys that work: active, or rotating within their grace period.
    Active,
    /// Revoked keys.
    Revoked,
    /// Expired keys (not revoked).
    Expired,
    /// Keys that work and expire within [`expiring_within`].
    Expiring,
    /// Live keys unused for 90 days or more.
    Stale,
    /// Live keys holding `admin` or a wildcard.
    OverPrivileged,
}

/// How soon an expiry counts as near for [`StatusFilter::Expiring`]: 7 days.
pub fn expiring_within() -> Duration {
    Duration::days(7)
}

/// A `status` that is not one of the filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownStatusFilter;

impl fmt::Display for UnknownStatusFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("'status' must be one of: ")?;
        f.write_str(&StatusFilter::ALL.map(StatusFilter::as_str).join(", "))
    }
}

impl std::error::Error for UnknownStatusFilter {}

impl StatusFilter {
    /// Every filter, in the order a client offers them.
    pub const ALL: [StatusFilter; 6] = [
        StatusFilter::Active,
        StatusFilter::Revoked,
        StatusFilter::Expired,
        StatusFilter::Expiring,
        StatusFilter::Stale,
        StatusFilter::OverPrivileged,
    ];

    /// The filter as on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            StatusFilter::Active => "active",
            StatusFilter::Revoked => "revoked",
            StatusFilter::Expired => "expired",
            StatusFilter::Expiring => "expiring",
            StatusFilter::Stale => "stale",
            StatusFilter::OverPrivileged => "over_privileged",
        }
    }

    /// Whether `record` passes the filter at `now`.
    pub fn matches(self, record: &KeyRecord, now: DateTime<Utc>) -> bool {
        match self {
            StatusFilter::Active => Standing::of(record, now).revocable,
            StatusFilter::Revoked => record.status(now) == KeyStatus::Revoked,
            StatusFilter::Expired => record.status(now) == KeyStatus::Expired,
            StatusFilter::Expiring => {
                Standing::of(record, now).revocable
                    && record
                        .expires_at
                        .is_some_and(|t| t - now <= expiring_within())
            }
            StatusFilter::Stale => Standing::of(record, now).stale,
            StatusFilter::OverPrivileged => Standing::of(record, now).over_privileged,
        }
    }
}

impl FromStr for StatusFilter {
    type Err = UnknownStatusFilter;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StatusFilter::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or(UnknownStatusFilter)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::Duration;

    use super::*;
    use crate::record::{NewRecord, Successor};
    use crate::{ApiKey, KeyId, ScopeSet};

    fn record(scopes: &[&str], created: DateTime<Utc>) -> KeyRecord {
        let new = ApiKey::generate("sk", "live").unwrap();
        KeyRecord::new(
            "key_0123456789abcdef".parse::<KeyId>().unwrap(),
            &new,
            NewRecord {
                expires_at: Some(created + Duration::days(365)),
                ..NewRecord::new("n", "o", ScopeSet::parse(scopes).unwrap(), "live")
            },
            created,
        )
    }

    fn passing(r: &KeyRecord, now: DateTime<Utc>) -> Vec<&'static str> {
        StatusFilter::ALL
            .into_iter()
            .filter(|f| f.matches(r, now))
            .map(StatusFilter::as_str)
            .collect()
    }

    #[test]
    fn a_key_stands_differently_through_its_life() {
        let t0 = crate::time::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        let mut r = record(&["scans:read"], t0);
        let fresh = Standing::of(&r, t0);
        assert_eq!(
            fresh,
            Standing {
                rotatable: true,
                revocable: true,
                stale: false,
                over_privileged: false
            }
        );
        assert_eq!(passing(&r, t0), ["active"]);
        // Within 7 days of its expiry: expiring.
        let near = t0 + Duration::days(358);
        assert_eq!(passing(&r, near), ["active", "expiring", "stale"]);
        assert_eq!(passing(&r, t0 + Duration::days(357)), ["active", "stale"]);

        // Unused for 90 days: stale, still active.
        let later = t0 + Duration::days(90);
        assert!(Standing::of(&r, later).stale);
        assert_eq!(passing(&r, later), ["active", "stale"]);
        // Used since: not stale.
        r.last_used_at = Some(t0 + Duration::days(10));
        assert!(!Standing::of(&r, later).stale);

        // Rotating: revocable, not rotatable.
        let next = ApiKey::generate("sk", "live").unwrap();
        r.rotate_to(
            Successor {
                id: "key_fedcba9876543210".parse().unwrap(),
                hash: next.hash,
                hint: next.hint.clone(),
            },
            Duration::days(1),
            t0,
        )
        .unwrap();
        let s = Standing::of(&r, t0);
        assert!(!s.rotatable && s.revocable);
        assert_eq!(passing(&r, t0), ["active", "expiring"]);

        // Past its grace: expired, nothing to do, no alert.
        let gone = t0 + Duration::days(400);
        assert_eq!(Standing::of(&r, gone), Standing::default());
        assert_eq!(passing(&r, gone), ["expired"]);
    }

    #[test]
    fn revoked_keys_are_neither_stale_nor_over_privileged() {
        let t0 = crate::time::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        let mut r = record(&["admin"], t0);
        assert!(Standing::of(&r, t0).over_privileged);
        assert_eq!(passing(&r, t0), ["active", "over_privileged"]);
        let w = record(&["scans:*"], t0);
        assert!(Standing::of(&w, t0).over_privileged);
        r.revoke("root", "test", t0);
        let later = t0 + Duration::days(100);
        assert_eq!(Standing::of(&r, later), Standing::default());
        assert_eq!(passing(&r, later), ["revoked"]);
    }

    #[test]
    fn filters_parse_from_their_names_only() {
        for f in StatusFilter::ALL {
            assert_eq!(f.as_str().parse::<StatusFilter>(), Ok(f));
        }
        for bad in [
            "",
            "Active",
            "any",
            "rotating",
            "over-privileged",
            "active ",
        ] {
            assert_eq!(bad.parse::<StatusFilter>(), Err(UnknownStatusFilter));
        }
        assert_eq!(
            UnknownStatusFilter.to_string(),
            "'status' must be one of: active, revoked, expired, expiring, stale, over_privileged"
        );
    }
}
