//! Scan results as text, JSON or SARIF 2.1.0. None of them holds a key: only its hint
//! (`{vendor}_{env}_` plus 4 characters) and its SHA-256.

use serde_json::{Value, json};

use crate::scan::{Finding, Place, Report};

/// The SARIF rule id of a keyward key.
pub const RULE_ID: &str = "keyward-api-key";

/// One line per finding: `path:line:column: hint… (...)`.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let what = format!(
            "keyward API key {}… (vendor {}, env {})",
            f.hint, f.vendor, f.env
        );
        let line = match &f.place {
            Place::File(_) => format!("{}:{}:{}: {what}\n", f.place.path(), f.line, f.column),
            Place::Staged(_) => format!(
                "{}:{}:{}: {what} [staged]\n",
                f.place.path(),
                f.line,
                f.column
            ),
            Place::Commit { commit, .. } => {
                let later = match f.later_commits.len() {
                    0 => String::new(),
                    1 => " [also added again in 1 later commit]".to_owned(),
                    n => format!(" [also added again in {n} later commits]"),
                };
                format!(
                    "{}:{}:{}:{}: {what}{later}\n",
                    commit
                        .as_deref()
                        .map_or("(unknown commit)", |c| &c[..c.len().min(12)]),
                    f.place.path(),
                    f.line,
                    f.column
                )
            }
        };
        out.push_str(&line);
    }
    out
}

fn source(place: &Place) -> &'static str {
    match place {
        Place::File(_) => "file",
        Place::Commit { .. } => "git",
        Place::Staged(_) => "staged",
    }
}

fn finding_json(f: &Finding) -> Value {
    let mut v = json!({
        "source": source(&f.place),
        "path": f.place.path(),
        "line": f.line,
        "column": f.column,
        "hint": f.hint,
        "vendor": f.vendor,
        "env": f.env,
        "key_hash": f.hash.to_hex(),
    });
    if let Place::Commit { commit, .. } = &f.place {
        v["commit"] = json!(commit);
        v["later_commits"] = json!(f.later_commits);
    }
    if let Some(blob) = &f.blob {
        v["blob"] = json!(blob);
    }
    v
}

/// The whole report as one JSON document.
pub fn json(report: &Report, leak_report: Option<&Vec<keyward_api::LeakFeedback>>) -> Value {
    let mut v = json!({
        "findings": report.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "files": report.files,
        "bytes": report.bytes,
        "binary_skipped": report.binary,
        "errors": report.errors,
    });
    if let Some(lr) = leak_report {
        v["leak_report"] = serde_json::to_value(lr).unwrap_or_default();
    }
    v
}

/// A SARIF `uri`: a percent-encoded relative reference, or a `file://` URI for an
/// absolute path (keeps `/` and unreserved bytes).
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 7);
    if path.starts_with('/') {
        out.push_str("file://");
    }
    for &b in path.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The report as a SARIF 2.1.0 log with one rule, [`RULE_ID`].
pub fn sarif(report: &Report) -> Value {
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut message = format!(
                "keyward API key {}… (vendor {}, env {}) found",
                f.hint, f.vendor, f.env
            );
            if let Some(c) = f.place.commit() {
                message.push_str(&format!(" in commit {c}"));
            }
            message.push_str(". Revoke it, then remove it from the code and history.");
            let mut r = json!({
                "ruleId": RULE_ID,
                "ruleIndex": 0,
                "level": "error",
                "message": { "text": message },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&f.place.path()) },
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.column,
                            "endLine": f.line,
                            "endColumn": f.column + f.len,
                        }
                    }
                }],
                "partialFingerprints": { "keywardKeyHash/v1": f.hash.to_hex() },
                "properties": { "hint": f.hint, "vendor": f.vendor, "env": f.env, "source": source(&f.place) },
            });
            if let Some(c) = f.place.commit() {
                r["properties"]["commit"] = json!(c);
                r["properties"]["laterCommits"] = json!(f.later_commits);
            }
            r
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "keyward",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": env!("CARGO_PKG_REPOSITORY"),
                    "rules": [{
                        "id": RULE_ID,
                        "name": "KeywardApiKey",
                        "shortDescription": { "text": "keyward API key" },
                        "fullDescription": {
                            "text": "A keyward API key ({vendor}_{env}_{secret}{checksum}) whose checksum holds: almost certainly a real key."
                        },
                        "help": {
                            "text": "Revoke the key (keyward scan --revoke, or keyward keys revoke <id>), issue a new one, and keep keys in a secret manager, never in code."
                        },
                        "defaultConfiguration": { "level": "error" },
                        "properties": { "tags": ["security", "secret"], "precision": "very-high" }
                    }]
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}
