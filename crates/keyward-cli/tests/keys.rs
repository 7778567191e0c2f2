//! `keyward keys ...` and `scan --revoke` against a stand-in for the Worker's API: stdout
//! purity, exit codes and request shapes. The real Worker is exercised by
//! tests/e2e/cli.test.mjs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use common::{key, keyward, run};
use keyward_core::{ApiKey, KeyHash};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    auth: String,
    body: Value,
}

/// A one-thread HTTP server answering like the Worker; returns its URL and the requests.
fn fake_worker(created_key: String) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_owned();
            let path = parts.next().unwrap_or("").to_owned();
            let (mut len, mut auth) = (0usize, String::new());
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                let (name, value) = h.split_once(':').unwrap();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => len = value.trim().parse().unwrap(),
                    "authorization" => auth = value.trim().to_owned(),
                    _ => {}
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let record = json!({
                "id": "key_0123456789abcdef", "hint": "sk_live_AbCd", "name": "ci",
                "owner": "team-a", "scopes": ["scans:read"], "env": "live",
                "created_at": "2026-01-01T00:00:00Z", "expires_at": null,
                "last_used_at": null, "revoked_at": null, "metadata": {}
            });
            let (status, resp) = match (method.as_str(), path.as_str()) {
                ("POST", "/v1/keys") => {
                    let mut r = record.clone();
                    r["key"] = json!(created_key);
                    (201, r)
                }
                ("GET", p) if p.starts_with("/v1/keys?") || p == "/v1/keys" => {
                    (200, json!({"keys": [record.clone()], "cursor": null}))
                }
                ("GET", "/v1/keys/key_0123456789abcdef") => (200, record.clone()),
                ("GET", "/v1/keys/key_boom") => (
                    500,
                    json!({"error": {"code": "internal", "message": "boom"}}),
                ),
                ("POST", "/v1/keys/key_0123456789abcdef/rotate") => {
                    let mut r = record.clone();
                    r["key"] = json!(created_key);
                    r["id"] = json!("key_fedcba9876543210");
                    r["rotated_from"] = json!("key_0123456789abcdef");
                    r["previous"] =
                        json!({"id": "key_0123456789abcdef", "expires_at": "2026-01-02T00:00:00Z"});
                    (201, r)
                }
                ("POST", "/v1/keys/key_0123456789abcdef/revoke") => {
                    let mut r = record.clone();
                    r["revoked_at"] = json!("2026-01-01T00:00:01Z");
                    r["revocation_reason"] = body["reason"].clone();
                    (200, r)
                }
                ("POST", "/v1/leaks") => {
                    let items: Vec<Value> = body
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|i| {
                            json!({
                                "token_hash": KeyHash::of(i["token"].as_str().unwrap()).to_hex(),
                                "token_type": "keyward_api_key",
                                "label": "true_positive"
                            })
                        })
                        .collect();
                    (200, Value::Array(items))
                }
                _ => (
                    404,
                    json!({"error": {"code": "not_found", "message": "This API key does not exist"}}),
                ),
            };
            log.lock().unwrap().push(Seen {
                method,
                path,
                auth,
                body,
            });
            let text = resp.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    (url, seen)
}

fn with_worker(dir: &std::path::Path, url: &str, args: &[&str]) -> std::process::Command {
    let mut c = keyward(dir);
    c.env("KEYWARD_URL", url)
        .env("KEYWARD_TOKEN", "sk_root_token-for-tests")
        .args(args);
    c
}

#[test]
fn missing_configuration_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(keyward(dir.path()).args(["keys", "list"]), &[]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("KEYWARD_URL and KEYWARD_TOKEN not set"),
        "{stderr}"
    );
    let (code, _, stderr) = run(
        keyward(dir.path())
            .env("KEYWARD_URL", "http://127.0.0.1:9")
            .args(["keys", "list"]),
        &[],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("KEYWARD_TOKEN not set"), "{stderr}");
    assert!(!stderr.contains("KEYWARD_URL and"), "{stderr}");
    // Usage errors are 2 as well.
    let (code, _, _) = run(
        keyward(dir.path()).args(["keys", "create", "--name", "x"]),
        &[],
    );
    assert_eq!(code, 2);
}

#[test]
fn create_prints_the_key_alone_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let k = key("sk", "live");
    let (url, seen) = fake_worker(k.clone());
    let out = with_worker(
        dir.path(),
        &url,
        &[
            "keys",
            "create",
            "--name",
            "ci",
            "--owner",
            "team-a",
            "--scope",
            "scans:read",
            "--scope",
            "repos:read,repos:write",
            "--env",
            "live",
            "--expires-in",
            "30d",
            "--metadata",
            "{\"team\":\"a\"}",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{k}\n"));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("key_0123456789abcdef"), "{stderr}");
    assert!(!stderr.contains(&k[12..]), "{stderr}");
    let req = seen.lock().unwrap()[0].clone();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/v1/keys")
    );
    assert_eq!(req.auth, "Bearer sk_root_token-for-tests");
    assert_eq!(
        req.body,
        json!({"name": "ci", "owner": "team-a", "scopes": ["scans:read", "repos:read", "repos:write"],
               "env": "live", "expires_in": 2_592_000, "metadata": {"team": "a"}})
    );

    // --json: the whole answer on stdout, stderr quiet.
    let out = with_worker(
        dir.path(),
        &url,
        &[
            "keys", "create", "--json", "--name", "ci", "--owner", "o", "--scope", "a:b", "--env",
            "live",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["key"], k.as_str());
    assert!(out.stderr.is_empty());
}

#[test]
fn list_show_rotate_revoke_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let k = key("sk", "live");
    let (url, seen) = fake_worker(k.clone());

    let (code, stdout, _) = run(
        &mut with_worker(
            dir.path(),
            &url,
            &["keys", "list", "--owner", "team a", "--env", "live"],
        ),
        &[&k],
    );
    assert_eq!(code, 0);
    assert!(stdout.starts_with("ID "), "{stdout}");
    assert!(
        stdout.contains("key_0123456789abcdef") && stdout.contains("active"),
        "{stdout}"
    );
    assert_eq!(
        seen.lock().unwrap().last().unwrap().path,
        "/v1/keys?owner=team%20a&env=live"
    );

    let (code, stdout, _) = run(
        &mut with_worker(dir.path(), &url, &["keys", "show", "key_0123456789abcdef"]),
        &[&k],
    );
    assert_eq!(code, 0);
    assert!(
        stdout.contains("owner") && stdout.contains("team-a"),
        "{stdout}"
    );
    let (code, stdout, _) = run(
        &mut with_worker(
            dir.path(),
            &url,
            &["keys", "show", "--json", "key_0123456789abcdef"],
        ),
        &[&k],
    );
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()["id"],
        "key_0123456789abcdef"
    );

    let out = with_worker(
        dir.path(),
        &url,
        &["keys", "rotate", "key_0123456789abcdef", "--grace", "1h"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{k}\n"));
    assert_eq!(
        seen.lock().unwrap().last().unwrap().body,
        json!({"grace_seconds": 3600})
    );

    let (code, _, stderr) = run(
        &mut with_worker(
            dir.path(),
            &url,
            &[
                "keys",
                "revoke",
                "key_0123456789abcdef",
                "--reason",
                "left the team",
            ],
        ),
        &[&k],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("revoked key_0123456789abcdef"), "{stderr}");
    assert_eq!(
        seen.lock().unwrap().last().unwrap().body,
        json!({"reason": "left the team"})
    );

    // 4xx: exit 1 with the API's code; 5xx: exit 3; unreachable: exit 3.
    let (code, stdout, stderr) = run(
        &mut with_worker(dir.path(), &url, &["keys", "show", "key_missing"]),
        &[],
    );
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(stderr.contains("not_found (404)"), "{stderr}");
    let (code, _, stderr) = run(
        &mut with_worker(dir.path(), &url, &["keys", "show", "key_boom"]),
        &[],
    );
    assert_eq!(code, 3, "{stderr}");
    let (code, _, _) = run(
        &mut with_worker(dir.path(), "http://127.0.0.1:1", &["keys", "list"]),
        &[],
    );
    assert_eq!(code, 3);
}

#[test]
fn scan_revoke_reports_found_keys_to_the_worker() {
    let dir = tempfile::tempdir().unwrap();
    let k = key("sk", "live");
    let (url, seen) = fake_worker(k.clone());
    std::fs::write(dir.path().join("a.env"), format!("X={k}\nY={k}\n")).unwrap();
    let (code, stdout, stderr) = run(
        &mut with_worker(dir.path(), &url, &["scan", "--revoke", "--json"]),
        &[&k],
    );
    assert_eq!(code, 1, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let hash = ApiKey::parse(&k).unwrap().hash().to_hex();
    assert_eq!(v["leak_report"][0]["token_hash"], hash.as_str());
    assert_eq!(v["leak_report"][0]["label"], "true_positive");
    // One report per distinct key, with where it was found.
    let req = seen.lock().unwrap().last().unwrap().clone();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/v1/leaks")
    );
    assert_eq!(
        req.body,
        json!([{"token": k, "type": "keyward_api_key", "url": "a.env:1", "source": "keyward-cli"}])
    );
    // Text mode says what happened on stderr.
    let (code, _, stderr) = run(
        &mut with_worker(dir.path(), &url, &["scan", "--revoke"]),
        &[&k],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains(": revoked as leaked"), "{stderr}");
    // A clean tree sends nothing.
    let clean = tempfile::tempdir().unwrap();
    let before = seen.lock().unwrap().len();
    let (code, _, _) = run(
        &mut with_worker(clean.path(), &url, &["scan", "--revoke"]),
        &[],
    );
    assert_eq!(code, 0);
    assert_eq!(seen.lock().unwrap().len(), before);
}
