//! `keyward keys ...`: key management against the Worker's HTTP API.

use keyward_api::{
    CreateKey, CreatedKey, CreditsView, KeyList, KeyView, Migration, OwnerLimits, RevokeKey,
    RotateKey, RotatedKey, SecretString, SetCredits, UpdateKey,
};
use keyward_core::limits::{Interval, NamedLimit};
use serde::Serialize;

use crate::api::{ApiError, Client};
use keyward_core::text::percent_encode;

/// Where and how to print.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// Everything as JSON on stdout.
    pub json: bool,
}

/// Parses `90`, `90s`, `15m`, `24h`, `30d` or `2w` into seconds.
///
/// # Errors
/// A sentence when the text is not a duration.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (e.g. 3600, 90s, 15m, 24h, 30d)"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => {
            return Err(format!(
                "'{s}': unknown unit '{unit}' (use s, m, h, d or w)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("'{s}' is too long a duration"))
}

pub(crate) fn print_json<T: Serialize>(v: &T) {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    crate::out(&format!("{text}\n"));
}

fn opt<T: ToString>(v: Option<&T>) -> String {
    v.map_or_else(|| "-".to_owned(), ToString::to_string)
}

pub(crate) fn time(t: keyward_core::chrono::DateTime<keyward_core::chrono::Utc>) -> String {
    keyward_core::time::format_rfc3339(t)
}

fn scopes(v: &KeyView) -> String {
    let s: Vec<&str> = v.scopes.iter().map(|s| s.as_str()).collect();
    if s.is_empty() {
        "-".to_owned()
    } else {
        s.join(",")
    }
}

/// Columns padded to their widest cell.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                l.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// `burst=10/1s, default=100/1m`, or `-`.
fn limits(limits: &[NamedLimit]) -> String {
    if limits.is_empty() {
        return "-".to_owned();
    }
    let each: Vec<String> = limits
        .iter()
        .map(|l| format!("{}={}/{}", l.name, l.limit, l.period))
        .collect();
    each.join(", ")
}

/// `480 (refill 500/day, alert below 50)`, or `-`.
fn credits(c: Option<&CreditsView>) -> String {
    let Some(c) = c else {
        return "-".to_owned();
    };
    let mut notes = Vec::new();
    if let Some(r) = c.refill {
        let every = match r.interval {
            Interval::Day => "day",
            Interval::Month => "month",
        };
        notes.push(format!("refill {}/{every}", r.amount));
    }
    if let Some(below) = c.alert_below {
        notes.push(format!("alert below {below}"));
    }
    if notes.is_empty() {
        c.remaining.to_string()
    } else {
        format!("{} ({})", c.remaining, notes.join(", "))
    }
}

/// Items joined by spaces, or `-` for none.
fn list_or_dash<T: ToString>(items: impl Iterator<Item = T>) -> String {
    let all: Vec<String> = items.map(|i| i.to_string()).collect();
    if all.is_empty() {
        "-".to_owned()
    } else {
        all.join(" ")
    }
}

/// A record as `field  value` lines (never holds the key: the API does not return it).
fn record_table(v: &KeyView) -> String {
    let metadata = if v.metadata.is_empty() {
        "-".to_owned()
    } else {
        serde_json::Value::Object(v.metadata.clone()).to_string()
    };
    let rows: Vec<Vec<String>> = [
        ("id", v.id.to_string()),
        ("hint", v.hint.clone()),
        ("name", v.name.clone()),
        ("owner", v.owner.clone()),
        ("env", v.env.clone()),
        ("scopes", scopes(v)),
        ("roles", list_or_dash(v.roles.iter())),
        ("allowed_ips", list_or_dash(v.allowed_ips.iter())),
        ("not_before", opt(v.not_before.map(time).as_ref())),
        ("status", v.status.as_str().to_owned()),
        ("created_at", time(v.created_at)),
        ("expires_at", opt(v.expires_at.map(time).as_ref())),
        ("last_used_at", opt(v.last_used_at.map(time).as_ref())),
        ("revoked_at", opt(v.revoked_at.map(time).as_ref())),
        ("revoked_by", opt(v.revoked_by.as_ref())),
        ("revocation_reason", opt(v.revocation_reason.as_ref())),
        ("rotated_from", opt(v.rotated_from.as_ref())),
        ("rotated_to", opt(v.rotated_to.as_ref())),
        ("rate_limits", limits(&v.rate_limits)),
        ("credits", credits(v.credits.as_ref())),
        ("metadata", metadata),
    ]
    .into_iter()
    .map(|(k, v)| vec![k.to_owned(), v])
    .collect();
    table(&["field", "value"], &rows)
}

/// `keys create`.
///
/// # Errors
/// See [`ApiError`].
pub fn create(client: &Client, body: &CreateKey, out: Out) -> Result<(), ApiError> {
    let created: CreatedKey = client.post("/v1/keys", body)?;
    if out.json {
        print_json(&created);
    } else {
        print_new_key(&created.key, &created.record, "created");
    }
    Ok(())
}

/// The raw key alone on stdout, the record on stderr.
fn print_new_key(key: &SecretString, record: &KeyView, what: &str) {
    // stdout carries the key and nothing else, so it can be piped to a secret manager.
    crate::out(&format!("{}\n", key.expose_secret()));
    eprintln!(
        "{what} {} ({}); the key above is shown once: store it now.",
        record.id, record.hint
    );
    eprint!("{}", record_table(record));
}

/// `keys list`.
///
/// # Errors
/// See [`ApiError`].
pub fn list(
    client: &Client,
    owner: Option<&str>,
    env: Option<&str>,
    limit: Option<u32>,
    cursor: Option<&str>,
    all: bool,
    out: Out,
) -> Result<(), ApiError> {
    let mut keys: Vec<KeyView> = Vec::new();
    let mut cursor = cursor.map(str::to_owned);
    let next = loop {
        let mut q: Vec<String> = Vec::new();
        if let Some(o) = owner {
            q.push(format!("owner={}", percent_encode(o)));
        }
        if let Some(e) = env {
            q.push(format!("env={}", percent_encode(e)));
        }
        if let Some(c) = &cursor {
            q.push(format!("cursor={}", percent_encode(c)));
        }
        if let Some(l) = limit {
            q.push(format!("limit={l}"));
        }
        let path = if q.is_empty() {
            "/v1/keys".to_owned()
        } else {
            format!("/v1/keys?{}", q.join("&"))
        };
        let page: KeyList = client.get(&path)?;
        keys.extend(page.keys);
        match page.cursor.filter(|c| !c.is_empty()) {
            Some(c) if all => cursor = Some(c),
            other => break other,
        }
    };
    if out.json {
        print_json(&KeyList { keys, cursor: next });
        return Ok(());
    }
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            vec![
                k.id.to_string(),
                k.hint.clone(),
                k.name.clone(),
                k.owner.clone(),
                k.env.clone(),
                scopes(k),
                k.status.as_str().to_owned(),
                time(k.created_at),
                opt(k.expires_at.map(time).as_ref()),
                opt(k.last_used_at.map(time).as_ref()),
            ]
        })
        .collect();
    crate::out(&table(
        &[
            "ID",
            "HINT",
            "NAME",
            "OWNER",
            "ENV",
            "SCOPES",
            "STATUS",
            "CREATED",
            "EXPIRES",
            "LAST USED",
        ],
        &rows,
    ));
    match next {
        Some(c) => eprintln!("{} keys; more with --cursor {c} (or --all)", keys.len()),
        None => eprintln!("{} keys", keys.len()),
    }
    Ok(())
}

fn key_path(id: &str, action: &str) -> String {
    format!("/v1/keys/{}{action}", percent_encode(id))
}

/// `keys show`.
///
/// # Errors
/// See [`ApiError`].
pub fn show(client: &Client, id: &str, out: Out) -> Result<(), ApiError> {
    let record: KeyView = client.get(&key_path(id, ""))?;
    show_record(&record, out);
    Ok(())
}

/// `keys revoke`.
///
/// # Errors
/// See [`ApiError`].
pub fn revoke(client: &Client, id: &str, reason: &str, out: Out) -> Result<(), ApiError> {
    let body = RevokeKey {
        reason: Some(reason.to_owned()),
    };
    let record: KeyView = client.post(&key_path(id, "/revoke"), &body)?;
    if out.json {
        print_json(&record);
    } else {
        eprintln!("revoked {} ({})", record.id, record.hint);
        crate::out(&record_table(&record));
    }
    Ok(())
}

/// `keys migrate`: has the Worker adopt every key stored before the ledger, page after
/// page (`POST /v1/migrate`, root key only); prints the adopted ids, one a line.
///
/// # Errors
/// See [`ApiError`].
pub fn migrate(client: &Client, out: Out) -> Result<(), ApiError> {
    let mut total = Migration::default();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/v1/migrate".to_owned(),
            Some(c) => format!("/v1/migrate?cursor={}", percent_encode(c)),
        };
        let page: Migration = client.post(&path, &serde_json::json!({}))?;
        total.adopted.extend(page.adopted);
        total.kept += page.kept;
        total.refused.extend(page.refused);
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }
    if out.json {
        print_json(&total);
    } else {
        let ids: String = total.adopted.iter().map(|id| format!("{id}\n")).collect();
        crate::out(&ids);
        eprintln!(
            "adopted {}, already kept {}, refused {}{}",
            total.adopted.len(),
            total.kept,
            total.refused.len(),
            if total.refused.is_empty() {
                String::new()
            } else {
                let refused: Vec<String> = total.refused.iter().map(ToString::to_string).collect();
                format!(" (not of the previous format: {})", refused.join(", "))
            }
        );
    }
    Ok(())
}

/// `keys rotate`.
///
/// # Errors
/// See [`ApiError`].
pub fn rotate(client: &Client, id: &str, grace_seconds: u64, out: Out) -> Result<(), ApiError> {
    let body = RotateKey {
        grace_seconds: Some(i64::try_from(grace_seconds).unwrap_or(i64::MAX)),
    };
    let rotated: RotatedKey = client.post(&key_path(id, "/rotate"), &body)?;
    if out.json {
        print_json(&rotated);
        return Ok(());
    }
    print_new_key(&rotated.key, &rotated.record, "rotated to");
    eprintln!(
        "the old key {} keeps working until {}",
        rotated.previous.id,
        opt(rotated.previous.expires_at.map(time).as_ref())
    );
    Ok(())
}

/// `keys limits`: replaces the key's own limits.
///
/// # Errors
/// See [`ApiError`].
pub fn set_limits(
    client: &Client,
    id: &str,
    rate_limits: Vec<NamedLimit>,
    out: Out,
) -> Result<(), ApiError> {
    let body = UpdateKey {
        rate_limits: Some(rate_limits),
        ..UpdateKey::default()
    };
    update(client, id, &body, out)
}

/// `keys restrict` (and `keys limits`): `PATCH /v1/keys/{id}`, then the key as it now is.
///
/// # Errors
/// See [`ApiError`].
pub fn update(client: &Client, id: &str, body: &UpdateKey, out: Out) -> Result<(), ApiError> {
    let record: KeyView = client.send("PATCH", &key_path(id, ""), body)?;
    show_record(&record, out);
    Ok(())
}

/// `keys credits`.
///
/// # Errors
/// See [`ApiError`].
pub fn set_credits(client: &Client, id: &str, body: &SetCredits, out: Out) -> Result<(), ApiError> {
    let record: KeyView = client.post(&key_path(id, "/credits"), body)?;
    show_record(&record, out);
    Ok(())
}

/// `keys owner-limits`: shows an owner's limits, or replaces them.
///
/// # Errors
/// See [`ApiError`].
pub fn owner_limits(
    client: &Client,
    owner: &str,
    replace: Option<Vec<NamedLimit>>,
    out: Out,
) -> Result<(), ApiError> {
    let path = format!("/v1/owners/{}/limits", percent_encode(owner));
    let limits: OwnerLimits = match replace {
        None => client.get(&path)?,
        Some(rate_limits) => client.send("PUT", &path, &OwnerLimits { rate_limits })?,
    };
    if out.json {
        print_json(&limits);
    } else {
        crate::out(&format!("{}\n", self::limits(&limits.rate_limits)));
    }
    Ok(())
}

fn show_record(record: &KeyView, out: Out) {
    if out.json {
        print_json(record);
    } else {
        crate::out(&record_table(record));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert_eq!(parse_duration("15m").unwrap(), 900);
        assert_eq!(parse_duration("24h").unwrap(), 86_400);
        assert_eq!(parse_duration("30d").unwrap(), 2_592_000);
        assert!(parse_duration("3y").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn tables_align() {
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
    }
}
