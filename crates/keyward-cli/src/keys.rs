//! `keyward keys ...`: key management against the Worker's HTTP API.

use serde_json::{Value, json};

use crate::api::{ApiError, Client, encode};

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

fn print_json(v: &Value) {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    crate::out(&format!("{text}\n"));
}

fn str_field<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn show_value(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) if s.is_empty() => "-".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.is_empty() => "-".to_owned(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::Object(o)) if o.is_empty() => "-".to_owned(),
        Some(other) => other.to_string(),
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `active`, `revoked`, `expired` or `rotating` (replaced, still in its grace window).
fn status(record: &Value) -> &'static str {
    if !record.get("revoked_at").is_none_or(Value::is_null) {
        return "revoked";
    }
    let expires = record
        .get("expires_at")
        .and_then(Value::as_str)
        .and_then(|s| keyward_core::chrono::DateTime::parse_from_rfc3339(s).ok());
    if expires.is_some_and(|t| t.timestamp() <= now_unix()) {
        return "expired";
    }
    if !record.get("rotated_to").is_none_or(Value::is_null) {
        return "rotating";
    }
    "active"
}

/// Columns padded to their widest cell.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
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

const RECORD_FIELDS: &[&str] = &[
    "id",
    "hint",
    "name",
    "owner",
    "env",
    "scopes",
    "created_at",
    "expires_at",
    "last_used_at",
    "revoked_at",
    "revoked_by",
    "revocation_reason",
    "rotated_from",
    "rotated_to",
    "rate_limit",
    "metadata",
];

/// A record as `field  value` lines (never holds the key: the API does not return it).
fn record_table(record: &Value) -> String {
    let mut rows: Vec<Vec<String>> = RECORD_FIELDS
        .iter()
        .filter(|f| record.get(**f).is_some())
        .map(|f| vec![(*f).to_owned(), show_value(record.get(*f))])
        .collect();
    rows.push(vec!["status".to_owned(), status(record).to_owned()]);
    table(&["field", "value"], &rows)
}

/// `keys create`.
///
/// # Errors
/// See [`ApiError`].
pub fn create(client: &Client, body: Value, out: Out) -> Result<(), ApiError> {
    let resp = client.post("/v1/keys", &body)?;
    print_new_key(&resp, out, "created");
    Ok(())
}

/// The raw key alone on stdout, the rest on stderr (or all of it as JSON on stdout).
fn print_new_key(resp: &Value, out: Out, what: &str) {
    if out.json {
        print_json(resp);
        return;
    }
    let mut record = resp.clone();
    if let Some(o) = record.as_object_mut() {
        o.remove("key");
    }
    let key = str_field(resp, "key");
    // stdout carries the key and nothing else, so it can be piped to a secret manager.
    crate::out(&format!("{key}\n"));
    eprintln!(
        "{what} {} ({}); the key above is shown once: store it now.",
        str_field(resp, "id"),
        str_field(resp, "hint")
    );
    eprint!("{}", record_table(&record));
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
    let mut keys: Vec<Value> = Vec::new();
    let mut cursor = cursor.map(str::to_owned);
    let next = loop {
        let mut q: Vec<String> = Vec::new();
        if let Some(o) = owner {
            q.push(format!("owner={}", encode(o)));
        }
        if let Some(e) = env {
            q.push(format!("env={}", encode(e)));
        }
        if let Some(c) = &cursor {
            q.push(format!("cursor={}", encode(c)));
        }
        if let Some(l) = limit {
            q.push(format!("limit={l}"));
        }
        let path = if q.is_empty() {
            "/v1/keys".to_owned()
        } else {
            format!("/v1/keys?{}", q.join("&"))
        };
        let page = client.get(&path)?;
        if let Some(arr) = page.get("keys").and_then(Value::as_array) {
            keys.extend(arr.iter().cloned());
        }
        let next = page
            .get("cursor")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        match next {
            Some(c) if all => cursor = Some(c),
            other => break other,
        }
    };
    if out.json {
        print_json(&json!({ "keys": keys, "cursor": next }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            vec![
                str_field(k, "id").to_owned(),
                str_field(k, "hint").to_owned(),
                show_value(k.get("name")),
                show_value(k.get("owner")),
                show_value(k.get("env")),
                show_value(k.get("scopes")),
                status(k).to_owned(),
                show_value(k.get("created_at")),
                show_value(k.get("expires_at")),
                show_value(k.get("last_used_at")),
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
    format!("/v1/keys/{}{action}", encode(id))
}

/// `keys show`.
///
/// # Errors
/// See [`ApiError`].
pub fn show(client: &Client, id: &str, out: Out) -> Result<(), ApiError> {
    let record = client.get(&key_path(id, ""))?;
    if out.json {
        print_json(&record);
    } else {
        crate::out(&record_table(&record));
    }
    Ok(())
}

/// `keys revoke`.
///
/// # Errors
/// See [`ApiError`].
pub fn revoke(client: &Client, id: &str, reason: &str, out: Out) -> Result<(), ApiError> {
    let record = client.post(&key_path(id, "/revoke"), &json!({ "reason": reason }))?;
    if out.json {
        print_json(&record);
    } else {
        eprintln!(
            "revoked {} ({})",
            str_field(&record, "id"),
            str_field(&record, "hint")
        );
        crate::out(&record_table(&record));
    }
    Ok(())
}

/// `keys rotate`.
///
/// # Errors
/// See [`ApiError`].
pub fn rotate(client: &Client, id: &str, grace_seconds: u64, out: Out) -> Result<(), ApiError> {
    let resp = client.post(
        &key_path(id, "/rotate"),
        &json!({ "grace_seconds": grace_seconds }),
    )?;
    print_new_key(&resp, out, "rotated to");
    if !out.json
        && let Some(prev) = resp.get("previous")
    {
        eprintln!(
            "the old key {} keeps working until {}",
            str_field(prev, "id"),
            show_value(prev.get("expires_at"))
        );
    }
    Ok(())
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
    fn statuses() {
        assert_eq!(
            status(&json!({"revoked_at": "2020-01-01T00:00:00Z"})),
            "revoked"
        );
        assert_eq!(
            status(&json!({"expires_at": "2000-01-01T00:00:00Z"})),
            "expired"
        );
        assert_eq!(
            status(&json!({"expires_at": null, "rotated_to": "key_x"})),
            "rotating"
        );
        assert_eq!(
            status(&json!({"expires_at": "2999-01-01T00:00:00Z"})),
            "active"
        );
    }

    #[test]
    fn tables_align() {
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
    }
}
