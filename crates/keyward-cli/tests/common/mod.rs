//! Helpers shared by the CLI's integration tests: they drive the real binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

use keyward_core::ApiKey;

/// The `keyward` binary, with no Worker configured and git isolated from the user's
/// configuration.
pub fn keyward(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keyward"));
    c.current_dir(dir)
        .env_remove("KEYWARD_URL")
        .env_remove("KEYWARD_TOKEN")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null");
    c
}

/// A fresh key as a plain string.
pub fn key(vendor: &str, env: &str) -> String {
    ApiKey::generate(vendor, env)
        .unwrap()
        .key
        .expose_secret()
        .to_owned()
}

/// Output as text, asserting neither stream holds any of `keys`.
pub fn run(cmd: &mut Command, keys: &[&str]) -> (i32, String, String) {
    let out: Output = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    for k in keys {
        // Not the key, nor any part of its secret beyond the 4-character hint.
        let secret_tail = &k[k.len() - 30..];
        assert!(
            !stdout.contains(secret_tail),
            "stdout leaks a key: {stdout}"
        );
        assert!(
            !stderr.contains(secret_tail),
            "stderr leaks a key: {stderr}"
        );
    }
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

/// `git` in `dir`, isolated from the user's configuration; panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A new repository with a committer identity.
pub fn repo(dir: &Path) {
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.name", "Test"]);
    git(dir, &["config", "user.email", "test@example.invalid"]);
    git(dir, &["config", "commit.gpgsign", "false"]);
}
