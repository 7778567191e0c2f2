//! `GET /v1/usage`: a key's or an owner's uses per hour or day, by outcome, and the
//! audit trail's paging cursor.

use keyward_core::chrono::{DateTime, Duration, DurationRound as _, Utc};
use keyward_core::{Code, KeyId};
use serde::{Deserialize, Serialize};

use crate::FieldError;

/// Most buckets one `GET /v1/usage` answer covers (hours: about 41 days; days: about
/// 2.7 years).
pub const MAX_USAGE_BUCKETS: i64 = 1000;
/// How far back `GET /v1/usage` looks when `since` is not given.
pub const DEFAULT_USAGE_DAYS: i64 = 7;

/// The width of a usage bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// One UTC hour (the default).
    #[default]
    Hour,
    /// One UTC day.
    Day,
}

impl Bucket {
    /// `hour` or `day`.
    ///
    /// # Errors
    /// A [`FieldError`] naming `bucket`.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        match s {
            "hour" => Ok(Bucket::Hour),
            "day" => Ok(Bucket::Day),
            _ => Err(FieldError::new("bucket", "must be hour or day")),
        }
    }

    /// `hour` or `day`.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }

    /// Its width.
    pub fn width(self) -> Duration {
        match self {
            Bucket::Hour => Duration::hours(1),
            Bucket::Day => Duration::days(1),
        }
    }

    /// How many leading characters of a stored RFC 3339 time name its bucket
    /// (`2026-06-01T12` or `2026-06-01`).
    pub fn prefix_len(self) -> usize {
        match self {
            Bucket::Hour => 13,
            Bucket::Day => 10,
        }
    }

    /// The start of the bucket holding `t`.
    pub fn start_of(self, t: DateTime<Utc>) -> DateTime<Utc> {
        t.duration_trunc(self.width()).unwrap_or(t)
    }
}

/// The first bucket's start for `since` (default: [`DEFAULT_USAGE_DAYS`] before `now`):
/// the bucket holding it, within the [`MAX_USAGE_BUCKETS`] buckets up to `now`'s. An
/// earlier `since` starts at the oldest of those, a later one at `now`'s bucket; the
/// answer's `since` says where it started.
pub fn usage_start(
    since: Option<DateTime<Utc>>,
    bucket: Bucket,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let since = since.unwrap_or(now - Duration::days(DEFAULT_USAGE_DAYS));
    let newest = bucket.start_of(now);
    let width = bucket.width().num_seconds();
    let oldest = newest - Duration::seconds(width * (MAX_USAGE_BUCKETS - 1));
    bucket.start_of(since).clamp(oldest, newest)
}

/// `GET /v1/usage`: uses (not lifecycle actions) per bucket and outcome. Only buckets
/// and outcomes with uses are listed; the rest are zero.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Usage {
    /// The width of each bucket.
    pub bucket: Bucket,
    /// The start of the first bucket.
    #[serde(with = "keyward_core::time::rfc3339")]
    #[cfg_attr(feature = "openapi", schemars(with = "DateTime<Utc>"))]
    pub since: DateTime<Utc>,
    /// When the answer was made (inside the last bucket).
    #[serde(with = "keyward_core::time::rfc3339")]
    #[cfg_attr(feature = "openapi", schemars(with = "DateTime<Utc>"))]
    pub until: DateTime<Utc>,
    /// Only this key's uses, when asked.
    pub key_id: Option<KeyId>,
    /// Only this owner's, when asked (a bounded caller: always its own).
    pub owner: Option<String>,
    /// Uses per bucket and outcome, by bucket then outcome.
    pub rows: Vec<UsageRow>,
}

/// The uses of one bucket with one outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct UsageRow {
    /// The bucket's start.
    #[serde(with = "keyward_core::time::rfc3339")]
    #[cfg_attr(feature = "openapi", schemars(with = "DateTime<Utc>"))]
    pub start: DateTime<Utc>,
    /// The outcome (`valid`, or the code that refused the use).
    pub outcome: Code,
    /// How many uses.
    pub uses: u64,
}

/// Where a page of the audit trail ends: pass it as `before` for the next (older) page.
/// Written `{time}~{event_id}`, the last event's stored time and id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditCursor {
    /// The last event's time.
    pub time: DateTime<Utc>,
    /// The last event's id.
    pub event_id: String,
}

impl AuditCursor {
    /// Reads a cursor.
    ///
    /// # Errors
    /// A [`FieldError`] naming `before`.
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        let bad = || FieldError::new("before", "must be a cursor from a previous page");
        let (time, id) = s.split_once('~').ok_or_else(bad)?;
        let time = keyward_core::time::parse_rfc3339(time).map_err(|_| bad())?;
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(bad());
        }
        Ok(AuditCursor {
            time,
            event_id: id.to_owned(),
        })
    }
}

impl core::fmt::Display for AuditCursor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{}~{}",
            keyward_core::time::format_rfc3339_millis(self.time),
            self.event_id
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use keyward_core::time::parse_rfc3339;

    fn t(s: &str) -> DateTime<Utc> {
        parse_rfc3339(s).unwrap()
    }

    #[test]
    fn buckets_default_to_a_week_of_hours_and_are_bounded() {
        let now = t("2026-06-10T12:34:56.789Z");
        assert_eq!(Bucket::parse("hour").unwrap(), Bucket::Hour);
        assert_eq!(Bucket::parse("day").unwrap(), Bucket::Day);
        assert!(Bucket::parse("minute").is_err());
        assert_eq!(
            usage_start(None, Bucket::Hour, now),
            t("2026-06-03T12:00:00Z")
        );
        assert_eq!(
            usage_start(None, Bucket::Day, now),
            t("2026-06-03T00:00:00Z")
        );
        // 1000 hourly buckets, the current one included, and not one more.
        let oldest = t("2026-06-10T12:00:00Z") - Duration::hours(999);
        assert_eq!(
            usage_start(Some(now - Duration::hours(999)), Bucket::Hour, now),
            oldest
        );
        assert_eq!(
            usage_start(Some(now - Duration::hours(5000)), Bucket::Hour, now),
            oldest
        );
        assert_eq!(
            usage_start(Some(t("2000-01-01T00:00:00Z")), Bucket::Day, now),
            t("2026-06-10T00:00:00Z") - Duration::days(999)
        );
        // Later than now: the current bucket.
        assert_eq!(
            usage_start(Some(now + Duration::days(3)), Bucket::Hour, now),
            t("2026-06-10T12:00:00Z")
        );
    }

    #[test]
    fn audit_cursors_round_trip_and_refuse_junk() {
        let c = AuditCursor {
            time: t("2026-06-10T12:34:56.789Z"),
            event_id: "0123456789abcdef0123456789abcdef".to_owned(),
        };
        let s = c.to_string();
        assert_eq!(
            s,
            "2026-06-10T12:34:56.789Z~0123456789abcdef0123456789abcdef"
        );
        assert_eq!(AuditCursor::parse(&s).unwrap(), c);
        for junk in [
            "",
            "~abc",
            "2026-06-10T12:34:56Z",
            "2026-06-10T12:34:56Z~",
            "yesterday~abc",
            "2026-06-10T12:34:56Z~a'b",
            "2026-06-10T12:34:56Z~a b",
        ] {
            assert!(AuditCursor::parse(junk).is_err(), "{junk:?}");
        }
    }
}
