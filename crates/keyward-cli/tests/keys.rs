//! `keyward keys ...` configuration checks that need no server. Everything that talks to
//! the Worker (stdout purity, tables, exit codes 1 and 3, `scan --revoke`) runs against the
//! real Worker under wrangler dev in tests/e2e/cli.test.mjs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{keyward, run};

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
