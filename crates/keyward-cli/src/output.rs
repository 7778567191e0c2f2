//! Scan results as text, JSON or SARIF 2.1.0. None of them holds a key: only its hint
//! (`{vendor}_{env}_` plus 4 characters) and its SHA-256.

use serde_json::{Value, json};

use crate::git::Provenance;
use crate::scan::{Finding, Place, Report, SkipReason};

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
        "binary_skipped": report.skipped(SkipReason::Binary),
        "ignored_skipped": report.skipped(SkipReason::Ignored),
        "ignored_directories_skipped": report.skipped(SkipReason::IgnoredDirectory),
        "skipped": report.skipped.iter().map(|s| json!({
            "path": s.path,
            "reason": s.reason.as_str(),
        })).collect::<Vec<_>>(),
        "ignored_scanned": report.ignored_scanned.iter().map(|s| json!({
            "path": s.path,
            "reason": s.reason.as_str(),
        })).collect::<Vec<_>>(),
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

/// The SARIF `uriBaseId` under which a history finding's path is read: the commit that
/// added it, mapped in the run's `versionControlProvenance`.
fn commit_base(commit: &str) -> String {
    format!("COMMIT_{commit}")
}

/// The repository's URI for `versionControlProvenance` (required there): its origin
/// remote, else its top directory.
fn repository_uri(repo: &Provenance) -> Option<String> {
    repo.remote.clone().or_else(|| {
        let top = repo.top.as_ref()?.to_string_lossy().replace('\\', "/");
        Some(format!("{}/", uri(top.trim_end_matches('/'))))
    })
}

/// The tool's home page, if the crate names a real one (not an `.invalid` placeholder).
fn information_uri() -> Option<&'static str> {
    let repo = env!("CARGO_PKG_REPOSITORY");
    let host = repo.split("://").nth(1)?.split('/').next()?;
    (repo.starts_with("https://") && !host.ends_with(".invalid") && !host.is_empty())
        .then_some(repo)
}

/// The report as a SARIF 2.1.0 log with one rule, [`RULE_ID`]. `repo` describes the
/// repository of a history or staged scan: the run then carries `versionControlProvenance`
/// (the repository at `HEAD`, mapped to `SRCROOT`, and each commit that added a key,
/// mapped to `COMMIT_<sha>`), and each history result reads its path under its commit's
/// base (`uriBaseId`), names the commit in its message, and lists later commits that
/// added the key again as `relatedLocations` (without a region: the line there is not
/// known).
pub fn sarif(report: &Report, repo: Option<&Provenance>) -> Value {
    let repo_uri = repo.and_then(repository_uri);
    let location = |f: &Finding, commit: Option<&str>| {
        let mut artifact = json!({ "uri": uri(&f.place.path()) });
        if let Some(c) = commit
            && repo_uri.is_some()
        {
            artifact["uriBaseId"] = json!(commit_base(c));
        } else if repo_uri.is_some() && !matches!(f.place, Place::File(_)) {
            artifact["uriBaseId"] = json!("SRCROOT");
        }
        json!({
            "physicalLocation": {
                "artifactLocation": artifact,
                "region": {
                    "startLine": f.line,
                    "startColumn": f.column,
                    "endLine": f.line,
                    "endColumn": f.column + f.len,
                }
            }
        })
    };
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut message = format!(
                "keyward API key {}… (vendor {}, env {}) found",
                f.hint, f.vendor, f.env
            );
            if let Some(c) = f.place.commit() {
                message.push_str(&format!(" in {} as added by commit {c}", f.place.path()));
            }
            message.push_str(". Revoke it, then remove it from the code and history.");
            let mut r = json!({
                "ruleId": RULE_ID,
                "ruleIndex": 0,
                "level": "error",
                "message": { "text": message },
                "locations": [location(f, f.place.commit())],
                "partialFingerprints": { "keywardKeyHash/v1": f.hash.to_hex() },
                "properties": { "hint": f.hint, "vendor": f.vendor, "env": f.env, "source": source(&f.place) },
            });
            if let Some(c) = f.place.commit() {
                r["properties"]["commit"] = json!(c);
                r["properties"]["laterCommits"] = json!(f.later_commits);
                let related: Vec<Value> = f
                    .later_commits
                    .iter()
                    .enumerate()
                    .map(|(i, later)| {
                        let mut l = location(f, Some(later));
                        // Where the key sits in that version is not known.
                        if let Some(p) = l["physicalLocation"].as_object_mut() {
                            p.remove("region");
                        }
                        l["id"] = json!(i + 1);
                        l["message"] = json!({ "text": format!("added again by commit {later}") });
                        l
                    })
                    .collect();
                if !related.is_empty() {
                    r["relatedLocations"] = json!(related);
                }
            }
            r
        })
        .collect();
    let mut driver = json!({
        "name": "keyward",
        "version": env!("CARGO_PKG_VERSION"),
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
    });
    if let Some(home) = information_uri() {
        driver["informationUri"] = json!(home);
    }
    let mut run = json!({
        "tool": { "driver": driver },
        "columnKind": "unicodeCodePoints",
        "results": results,
    });
    if let (Some(repo), Some(repo_uri)) = (repo, repo_uri.as_ref()) {
        let mut vcp = Vec::new();
        let mut head = json!({ "repositoryUri": repo_uri, "mappedTo": { "uriBaseId": "SRCROOT" } });
        if let Some(h) = &repo.head {
            head["revisionId"] = json!(h);
        }
        if let Some(b) = &repo.branch {
            head["branch"] = json!(b);
        }
        vcp.push(head);
        let mut commits: Vec<&str> = report
            .findings
            .iter()
            .flat_map(|f| {
                f.place
                    .commit()
                    .into_iter()
                    .chain(f.later_commits.iter().map(String::as_str))
            })
            .collect();
        commits.sort_unstable();
        commits.dedup();
        for c in commits {
            vcp.push(json!({
                "repositoryUri": repo_uri,
                "revisionId": c,
                "mappedTo": { "uriBaseId": commit_base(c) },
            }));
        }
        run["versionControlProvenance"] = json!(vcp);
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [run]
    })
}
