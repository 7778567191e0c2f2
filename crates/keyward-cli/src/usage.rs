//! `keyward usage`: a key's or an owner's uses per hour or day, by outcome
//! (`GET /v1/usage`).

use std::collections::BTreeSet;

use keyward_api::{Bucket, Usage};
use keyward_core::chrono::{DateTime, Duration, Utc};

use crate::api::{ApiError, Client};
use crate::keys::{Out, parse_duration, print_json, table, time};
use keyward_core::text::percent_encode;

/// What to count.
#[derive(Debug, Clone, Default)]
pub struct UsageArgs {
    /// Only this key's uses.
    pub key: Option<String>,
    /// Only this owner's uses.
    pub owner: Option<String>,
    /// From this time on: RFC 3339, or a duration before now (`24h`, `30d`).
    pub since: Option<String>,
    /// Hour or day buckets.
    pub bucket: Option<Bucket>,
}

/// The system clock's time.
pub fn now() -> DateTime<Utc> {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// `since` as the API takes it: an RFC 3339 time as given, or `now` minus a duration.
///
/// # Errors
/// A sentence naming `--since`.
pub fn since(s: &str, now: DateTime<Utc>) -> Result<String, String> {
    if keyward_core::time::parse_rfc3339(s).is_ok() {
        return Ok(s.to_owned());
    }
    let secs = parse_duration(s).map_err(|_| {
        format!("--since '{s}' is neither an RFC 3339 time nor a duration (24h, 7d)")
    })?;
    let ago = i64::try_from(secs)
        .ok()
        .and_then(Duration::try_seconds)
        .and_then(|d| now.checked_sub_signed(d))
        .ok_or_else(|| format!("--since '{s}' is too long ago"))?;
    Ok(keyward_core::time::format_rfc3339(ago))
}

/// The query string of a usage request.
///
/// # Errors
/// A bad `--since`.
pub fn query(args: &UsageArgs, now: DateTime<Utc>) -> Result<String, String> {
    let mut q = Vec::new();
    if let Some(k) = &args.key {
        q.push(format!("key_id={}", percent_encode(k)));
    }
    if let Some(o) = &args.owner {
        q.push(format!("owner={}", percent_encode(o)));
    }
    if let Some(s) = &args.since {
        q.push(format!("since={}", percent_encode(&since(s, now)?)));
    }
    if let Some(b) = args.bucket {
        q.push(format!("bucket={}", b.as_str()));
    }
    Ok(q.join("&"))
}

/// One row per bucket that had uses, one column per outcome seen, and the total.
pub fn usage_table(u: &Usage) -> String {
    let outcomes: BTreeSet<&str> = u.rows.iter().map(|r| r.outcome.as_str()).collect();
    let mut headers = vec!["START"];
    headers.extend(outcomes.iter().copied());
    headers.push("TOTAL");
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut current = None;
    for r in &u.rows {
        if current != Some(r.start) {
            current = Some(r.start);
            let mut row = vec![time(r.start)];
            row.extend(outcomes.iter().map(|_| "0".to_owned()));
            row.push("0".to_owned());
            rows.push(row);
        }
        let Some(row) = rows.last_mut() else { continue };
        let col = 1 + outcomes
            .iter()
            .position(|o| *o == r.outcome.as_str())
            .unwrap_or(0);
        row[col] = r.uses.to_string();
        let total = row.len() - 1;
        row[total] = (row[total].parse::<u64>().unwrap_or(0) + r.uses).to_string();
    }
    table(&headers, &rows)
}

/// `keyward usage`.
///
/// # Errors
/// See [`ApiError`].
pub fn usage(client: &Client, query: &str, out: Out) -> Result<(), ApiError> {
    let path = if query.is_empty() {
        "/v1/usage".to_owned()
    } else {
        format!("/v1/usage?{query}")
    };
    let u: Usage = client.get(&path)?;
    if out.json {
        print_json(&u);
        return Ok(());
    }
    crate::out(&usage_table(&u));
    let total: u64 = u.rows.iter().map(|r| r.uses).sum();
    eprintln!(
        "{total} uses per {} from {} to {}",
        u.bucket.as_str(),
        time(u.since),
        time(u.until)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use keyward_api::UsageRow;
    use keyward_core::Code;
    use keyward_core::time::parse_rfc3339;

    #[test]
    fn since_takes_a_time_or_a_duration_ago() {
        let now = parse_rfc3339("2026-06-10T12:00:00Z").unwrap();
        assert_eq!(
            since("2026-06-01T00:00:00Z", now).unwrap(),
            "2026-06-01T00:00:00Z"
        );
        assert_eq!(since("24h", now).unwrap(), "2026-06-09T12:00:00Z");
        assert!(since("last week", now).is_err());
        let args = UsageArgs {
            key: Some("key_abc".into()),
            since: Some("7d".into()),
            bucket: Some(Bucket::Day),
            ..UsageArgs::default()
        };
        assert_eq!(
            query(&args, now).unwrap(),
            "key_id=key_abc&since=2026-06-03T12%3A00%3A00Z&bucket=day"
        );
    }

    #[test]
    fn the_table_has_a_column_per_outcome_and_a_total() {
        let t = |s| parse_rfc3339(s).unwrap();
        let row = |start, outcome, uses| UsageRow {
            start: t(start),
            outcome,
            uses,
        };
        let u = Usage {
            bucket: Bucket::Hour,
            since: t("2026-06-03T12:00:00Z"),
            until: t("2026-06-10T12:30:00Z"),
            key_id: None,
            owner: Some("acme".into()),
            rows: vec![
                row("2026-06-10T10:00:00Z", Code::Revoked, 2),
                row("2026-06-10T10:00:00Z", Code::Valid, 5),
                row("2026-06-10T12:00:00Z", Code::Valid, 1),
            ],
        };
        assert_eq!(
            usage_table(&u),
            "START                 revoked  valid  TOTAL\n\
             2026-06-10T10:00:00Z  2        5      7\n\
             2026-06-10T12:00:00Z  0        1      1\n"
        );
    }
}
