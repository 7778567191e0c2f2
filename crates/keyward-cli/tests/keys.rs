//! `keyward keys ...` configuration checks that need no server. Everything that talks to
//! the Worker (stdout purity, tables, exit codes 1 and 3, `scan --revoke`) runs against the
//! real Worker under wrangler dev in tests/e2e/cli.test.mjs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{key, keyward, run};

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

/// Plain http to a host that is not loopback would carry the token (and, with
/// `scan --revoke`, raw keys) in clear text: refused as a configuration error (exit 2)
/// before anything is read or sent.
#[test]
fn plain_http_to_a_remote_host_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(
        keyward(dir.path())
            .env("KEYWARD_URL", "http://example.com")
            .env("KEYWARD_TOKEN", "x")
            .args(["keys", "list"]),
        &[],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("KEYWARD_URL"), "{stderr}");
    assert!(stderr.contains("clear text"), "{stderr}");
    assert!(!stderr.contains("cannot reach"), "{stderr}");

    // scan --revoke with a key to report: refused before scanning, so nothing is sent.
    // example.invalid cannot resolve: had a request been tried, stderr would say the
    // Worker cannot be reached, and the finding would be on stdout.
    let k = key("sk", "live");
    std::fs::write(dir.path().join("app.env"), format!("TOKEN={k}\n")).unwrap();
    let (code, stdout, stderr) = run(
        keyward(dir.path())
            .env("KEYWARD_URL", "http://example.invalid")
            .env("KEYWARD_TOKEN", "x")
            .args(["scan", "--revoke", "."]),
        &[&k],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("--revoke"), "{stderr}");
    assert!(stderr.contains("KEYWARD_URL"), "{stderr}");
    assert!(stderr.contains("clear text"), "{stderr}");
    assert!(!stderr.contains("cannot reach"), "{stderr}");
    assert!(!stderr.contains("key found"), "{stderr}");

    // The same scan without --revoke does find the key: the refusal, not an empty tree,
    // is what kept the one above from sending it.
    let (code, stdout, _) = run(keyward(dir.path()).args(["scan", "."]), &[&k]);
    assert_eq!(code, 1);
    assert!(
        stdout.starts_with("app.env:1:7: keyward API key"),
        "{stdout}"
    );
}
