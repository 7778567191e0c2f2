//! RFC 3339 times, written and read here rather than by chrono's general-purpose
//! formatter and parser (which would be most of the time-handling code in the Worker's
//! wasm). chrono keeps the arithmetic.
//!
//! ```text
//! time   = date "T" hms [ "." 1*9DIGIT ] offset     ; "t" and "z" are accepted too
//! date   = 4DIGIT "-" 2DIGIT "-" 2DIGIT
//! hms    = 2DIGIT ":" 2DIGIT ":" 2DIGIT             ; second 60 (a leap second) is refused
//! offset = "Z" / ("+" / "-") 2DIGIT ":" 2DIGIT
//! ```
//!
//! ```
//! use keyward_core::time::{format_rfc3339, parse_rfc3339};
//! let t = parse_rfc3339("2026-06-01T14:00:00.250+02:00").unwrap();
//! assert_eq!(format_rfc3339(t), "2026-06-01T12:00:00.250Z");
//! ```

use core::fmt;
use core::fmt::Write as _;

use chrono::{DateTime, Datelike as _, Duration, NaiveDate, Timelike as _, Utc};

/// A string that is not an RFC 3339 time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidTime;

impl fmt::Display for InvalidTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected an RFC 3339 time, e.g. 2026-06-01T12:00:00Z")
    }
}

impl std::error::Error for InvalidTime {}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

/// Reads an RFC 3339 time (any offset) as UTC.
///
/// # Errors
/// [`InvalidTime`] for anything else.
pub fn parse_rfc3339(s: &str) -> Result<DateTime<Utc>, InvalidTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b.len() > 40 {
        return Err(InvalidTime);
    }
    let at = |i: usize, c: u8| b.get(i).is_some_and(|&x| x == c);
    if !(at(4, b'-')
        && at(7, b'-')
        && (at(10, b'T') || at(10, b't'))
        && at(13, b':')
        && at(16, b':'))
    {
        return Err(InvalidTime);
    }
    let field = |from: usize, to: usize| digits(&b[from..to]).ok_or(InvalidTime);
    let (year, month, day) = (field(0, 4)?, field(5, 7)?, field(8, 10)?);
    let (hour, minute, second) = (field(11, 13)?, field(14, 16)?, field(17, 19)?);
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if let Some((b'.', frac)) = rest.split_first() {
        let len = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 || len > 9 {
            return Err(InvalidTime);
        }
        nanos = digits(&frac[..len]).ok_or(InvalidTime)? * 10u32.pow(9 - len as u32);
        rest = &frac[len..];
    }
    let offset_minutes: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (
                digits(&[*h1, *h2]).ok_or(InvalidTime)?,
                digits(&[*m1, *m2]).ok_or(InvalidTime)?,
            );
            if h > 23 || m > 59 {
                return Err(InvalidTime);
            }
            let minutes = i64::from(h * 60 + m);
            if *sign == b'-' { -minutes } else { minutes }
        }
        _ => return Err(InvalidTime),
    };
    let local = NaiveDate::from_ymd_opt(i32::try_from(year).map_err(|_| InvalidTime)?, month, day)
        .and_then(|d| d.and_hms_nano_opt(hour, minute, second, nanos))
        .filter(|_| second < 60)
        .ok_or(InvalidTime)?;
    local
        .and_utc()
        .checked_sub_signed(Duration::minutes(offset_minutes))
        .ok_or(InvalidTime)
}

fn write_date_time(out: &mut String, t: DateTime<Utc>) {
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
}

/// The earliest time a platform clock may read: 2024-01-01T00:00:00Z, before keyward
/// existed. A clock that reads earlier (or nothing) is broken.
pub const CLOCK_FLOOR_MS: i64 = 1_704_067_200_000;

/// The time from a platform clock's milliseconds plus a configured offset; none when the
/// clock gave no number, or one before [`CLOCK_FLOOR_MS`] (a clock that fell back to the
/// 1970 epoch would make every expiry lie in the future and every window empty): the
/// caller refuses to decide rather than decide at a wrong time.
pub fn platform_time(ms: f64, offset_ms: i64) -> Option<DateTime<Utc>> {
    if !ms.is_finite() || ms < CLOCK_FLOOR_MS as f64 || ms > 1e15 {
        return None;
    }
    let t = (ms as i64).checked_add(offset_ms)?;
    (t >= CLOCK_FLOOR_MS)
        .then(|| DateTime::from_timestamp_millis(t))
        .flatten()
}

/// The largest shift a test clock may give the platform's clock: 400 days either way.
pub const MAX_CLOCK_OFFSET_MS: i64 = 400 * 86_400_000;

/// The latest instant a frozen clock may be set to: 2100-01-01T00:00:00Z.
pub const CLOCK_CEILING_MS: i64 = 4_102_444_800_000;

/// The clock a front end decides by: the platform's, or, in a test configuration only,
/// the platform's shifted by an offset or one instant that every reading answers. Set by
/// the deployment's settings, never by a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// The platform's clock plus `offset_ms` (0 in a deployment).
    Platform {
        /// Added to every reading.
        offset_ms: i64,
    },
    /// Every reading is this instant (epoch ms), whatever the platform's clock says.
    Frozen {
        /// The instant.
        at_ms: i64,
    },
}

impl Default for Clock {
    /// The platform's clock as it is.
    fn default() -> Self {
        Clock::Platform { offset_ms: 0 }
    }
}

impl Clock {
    /// The platform's clock shifted by `offset_ms`; none beyond [`MAX_CLOCK_OFFSET_MS`].
    pub fn shifted(offset_ms: i64) -> Option<Clock> {
        (offset_ms.unsigned_abs() <= MAX_CLOCK_OFFSET_MS.unsigned_abs())
            .then_some(Clock::Platform { offset_ms })
    }

    /// A clock standing at `at_ms`; none outside [`CLOCK_FLOOR_MS`] to
    /// [`CLOCK_CEILING_MS`].
    pub fn frozen(at_ms: i64) -> Option<Clock> {
        (CLOCK_FLOOR_MS..=CLOCK_CEILING_MS)
            .contains(&at_ms)
            .then_some(Clock::Frozen { at_ms })
    }

    /// Whether this is a test configuration's clock (shifted or frozen) rather than the
    /// platform's own.
    pub fn is_test(self) -> bool {
        self != Clock::default()
    }

    /// Whether this clock may decide a request addressed to `host` (its URL's host): the
    /// platform's always; a test clock only on loopback (`localhost`, 127.0.0.0/8 written
    /// as four decimals, `[::1]`), where `wrangler dev` serves it, so that a deployment
    /// whose settings carry a test clock refuses every request instead of deciding at a
    /// wrong time.
    pub fn serves(self, host: &str) -> bool {
        if !self.is_test() {
            return true;
        }
        let ipv4_loopback = host.strip_prefix("127.").is_some_and(|rest| {
            let mut parts = 0;
            rest.split('.').all(|p| {
                parts += 1;
                !p.is_empty() && p.len() <= 3 && p.parse::<u8>().is_ok()
            }) && parts == 3
        });
        ipv4_loopback || host.eq_ignore_ascii_case("localhost") || host == "[::1]"
    }

    /// [`serves`](Clock::serves) for a request's whole URL, as the runtime received it
    /// (`scheme://host[:port]/…`; no user info): its host read without a URL parser.
    pub fn serves_url(self, url: &str) -> bool {
        let rest = url.split_once("://").map_or("", |(_, r)| r);
        let end = rest
            .bytes()
            .position(|b| matches!(b, b'/' | b'?' | b'#'))
            .unwrap_or(rest.len());
        let authority = rest.get(..end).unwrap_or_default();
        // `[v6]:port` keeps its brackets; `host:port` loses its port.
        let host = match authority.find(']') {
            Some(close) if authority.starts_with('[') => {
                authority.get(..=close).unwrap_or_default()
            }
            _ => authority.split(':').next().unwrap_or_default(),
        };
        self.serves(host)
    }

    /// The time this clock reads when the platform's reads `platform_ms`; none when a
    /// platform clock cannot be believed ([`platform_time`]).
    pub fn time(self, platform_ms: f64) -> Option<DateTime<Utc>> {
        match self {
            Clock::Platform { offset_ms } => platform_time(platform_ms, offset_ms),
            Clock::Frozen { at_ms } => DateTime::from_timestamp_millis(at_ms),
        }
    }
}

/// The RFC 3339 form in UTC, with as many fraction digits as the time holds (none, 3, 6
/// or 9): `2026-06-01T12:00:00Z`, `2026-06-01T12:00:00.250Z`.
pub fn format_rfc3339(t: DateTime<Utc>) -> String {
    let mut out = String::with_capacity(30);
    write_date_time(&mut out, t);
    let nanos = t.nanosecond() % 1_000_000_000;
    let _ = match nanos {
        0 => Ok(()),
        n if n % 1_000_000 == 0 => write!(out, ".{:03}", n / 1_000_000),
        n if n % 1_000 == 0 => write!(out, ".{:06}", n / 1_000),
        n => write!(out, ".{n:09}"),
    };
    out.push('Z');
    out
}

/// The RFC 3339 form in UTC with exactly three fraction digits, which sorts as text:
/// `2026-06-01T12:00:00.000Z`.
pub fn format_rfc3339_millis(t: DateTime<Utc>) -> String {
    let mut out = String::with_capacity(24);
    write_date_time(&mut out, t);
    let _ = write!(out, ".{:03}Z", (t.nanosecond() % 1_000_000_000) / 1_000_000);
    out
}

/// Serde for a `DateTime<Utc>` as an RFC 3339 string: `#[serde(with = "keyward_core::time::rfc3339")]`.
pub mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize as _, Deserializer, Serializer};

    /// Writes the time.
    ///
    /// # Errors
    /// The serializer's.
    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_rfc3339(*t))
    }

    /// Reads the time.
    ///
    /// # Errors
    /// Not a string, or not RFC 3339.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        super::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

/// Serde for an `Option<DateTime<Utc>>` (`null` for none):
/// `#[serde(default, with = "keyward_core::time::rfc3339_option")]`.
pub mod rfc3339_option {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize as _, Deserializer, Serializer};

    /// Writes the time, or `null`.
    ///
    /// # Errors
    /// The serializer's.
    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::format_rfc3339(*t)),
            None => s.serialize_none(),
        }
    }

    /// Reads the time, or `null`.
    ///
    /// # Errors
    /// Not a string or null, or not RFC 3339.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match <Option<std::borrow::Cow<'de, str>>>::deserialize(d)? {
            None => Ok(None),
            Some(s) => super::parse_rfc3339(&s)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Serde for a field that may be absent (unchanged), `null` (removed) or a time (set):
/// `#[serde(default, with = "rfc3339_patch", skip_serializing_if = "Option::is_none")]`.
pub mod rfc3339_patch {
    use chrono::{DateTime, Utc};
    use serde::{Deserializer, Serializer};

    /// Writes `null` or the time (an absent field is skipped by the caller).
    ///
    /// # Errors
    /// The serializer's.
    #[allow(clippy::ref_option)]
    pub fn serialize<S: Serializer>(
        t: &Option<Option<DateTime<Utc>>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        super::rfc3339_option::serialize(&t.flatten(), s)
    }

    /// Reads `null` (`Some(None)`) or a time (`Some(Some(t))`); an absent field is the
    /// caller's `default` (`None`).
    ///
    /// # Errors
    /// Not a string or null, or not RFC 3339.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<DateTime<Utc>>>, D::Error> {
        super::rfc3339_option::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trips_and_offsets() {
        for (input, utc) in [
            ("2026-06-01T12:00:00Z", "2026-06-01T12:00:00Z"),
            ("2026-06-01t12:00:00z", "2026-06-01T12:00:00Z"),
            ("2026-06-01T12:00:00.5Z", "2026-06-01T12:00:00.500Z"),
            ("2026-06-01T12:00:00.123456Z", "2026-06-01T12:00:00.123456Z"),
            (
                "2026-06-01T12:00:00.000000001Z",
                "2026-06-01T12:00:00.000000001Z",
            ),
            ("2026-06-01T00:30:00+01:00", "2026-05-31T23:30:00Z"),
            ("2026-12-31T23:30:00-01:00", "2027-01-01T00:30:00Z"),
            ("2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"),
        ] {
            let t = parse_rfc3339(input).unwrap();
            assert_eq!(format_rfc3339(t), utc, "{input}");
            let chrono: DateTime<Utc> = input.parse().unwrap();
            assert_eq!(t, chrono, "chrono agrees on {input}");
        }
        let t = parse_rfc3339("2026-06-01T12:00:00Z").unwrap();
        assert_eq!(format_rfc3339_millis(t), "2026-06-01T12:00:00.000Z");
    }

    #[test]
    fn refuses_what_is_not_rfc_3339() {
        for bad in [
            "",
            "2026-06-01",
            "2026-06-01T12:00:00",
            "2026-06-01 12:00:00Z",
            "2026-13-01T12:00:00Z",
            "2026-02-30T12:00:00Z",
            "2025-02-29T12:00:00Z",
            "2026-06-01T24:00:00Z",
            "2026-06-01T12:60:00Z",
            "2026-06-01T12:00:60Z",
            "2026-06-01T12:00:00.Z",
            "2026-06-01T12:00:00.1234567890Z",
            "2026-06-01T12:00:00+2400",
            "2026-06-01T12:00:00+24:00",
            "2026-06-01T12:00:00Zjunk",
            "+2026-06-01T12:00:00Z",
            "2026-06-01T12:00:00\u{0}Z",
            "２０２６-06-01T12:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), Err(InvalidTime), "{bad:?}");
        }
    }

    #[test]
    fn a_clock_that_cannot_be_read_is_no_time() {
        for ms in [f64::NAN, f64::INFINITY, 0.0, -1.0, 86_400_000.0, 1e300] {
            assert_eq!(platform_time(ms, 0), None, "{ms}");
        }
        let now = 1_764_460_800_000.0; // 2025-11-30
        assert_eq!(
            platform_time(now, 0).map(|t| t.timestamp_millis()),
            Some(1_764_460_800_000)
        );
        assert_eq!(
            platform_time(now, 86_400_000).map(|t| t.timestamp_millis()),
            Some(1_764_547_200_000)
        );
        assert_eq!(platform_time(now, i64::MIN), None);
        assert_eq!(platform_time(now, -1_764_460_800_000), None);
    }

    #[test]
    fn a_frozen_clock_answers_its_instant_whatever_the_platform_says() {
        let at = 1_780_308_000_000; // 2026-06-01T10:00:00Z
        let clock = Clock::frozen(at).unwrap();
        for platform in [1_764_460_800_000.0, 1_900_000_000_000.0, f64::NAN, 0.0] {
            assert_eq!(clock.time(platform).map(|t| t.timestamp_millis()), Some(at));
        }
        assert_eq!(Clock::frozen(CLOCK_FLOOR_MS - 1), None);
        assert_eq!(Clock::frozen(CLOCK_CEILING_MS + 1), None);
        assert_eq!(Clock::frozen(i64::MIN), None);
        assert!(Clock::frozen(CLOCK_FLOOR_MS).is_some());
        assert!(Clock::frozen(CLOCK_CEILING_MS).is_some());
    }

    #[test]
    fn a_shifted_clock_moves_with_the_platform_within_its_bound() {
        let clock = Clock::shifted(1_000).unwrap();
        assert_eq!(
            clock
                .time(1_764_460_800_000.0)
                .map(|t| t.timestamp_millis()),
            Some(1_764_460_801_000)
        );
        assert_eq!(clock.time(f64::NAN), None);
        assert_eq!(Clock::shifted(MAX_CLOCK_OFFSET_MS + 1), None);
        assert_eq!(Clock::shifted(-MAX_CLOCK_OFFSET_MS - 1), None);
        assert_eq!(Clock::shifted(i64::MIN), None);
        assert_eq!(Clock::default(), Clock::Platform { offset_ms: 0 });
    }

    #[test]
    fn a_test_clock_serves_loopback_only() {
        let hosts_served = |clock: Clock| {
            [
                "127.0.0.1",
                "localhost",
                "LOCALHOST",
                "[::1]",
                "127.9.9.9",
                "api.example.com",
                "10.0.0.1",
                "[::ffff:127.0.0.1]",
                "localhost.example.com",
                "",
                "[::1",
            ]
            .map(|h| clock.serves(h))
        };
        let loopback_only = [
            true, true, true, true, true, false, false, false, false, false, false,
        ];
        for clock in [Clock::frozen(CLOCK_FLOOR_MS), Clock::shifted(1)] {
            let clock = clock.unwrap();
            assert!(clock.is_test());
            assert_eq!(hosts_served(clock), loopback_only, "{clock:?}");
        }
        assert!(!Clock::default().is_test());
        assert_eq!(hosts_served(Clock::default()), [true; 11]);
        assert!(
            !Clock::shifted(0).unwrap().is_test(),
            "no offset is the platform's own"
        );
    }
}
