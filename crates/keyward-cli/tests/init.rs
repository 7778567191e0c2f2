//! `keyward init`: .dev.vars with a fresh root key's hash, the key printed once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;

use common::{keyward, run};
use keyward_core::{ApiKey, KeyHash};

fn hash_in(vars: &str) -> String {
    vars.lines()
        .find_map(|l| l.strip_prefix("KEYWARD_ROOT_KEY_HASH="))
        .unwrap()
        .to_owned()
}

#[test]
fn init_writes_the_hash_and_prints_the_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(
        root.join(".dev.vars.example"),
        "# comment\nKEYWARD_ROOT_KEY_HASH=\n# ALERT_WEBHOOK_URL=http://x\n",
    )
    .unwrap();
    let out = keyward(root).arg("init").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    // stdout is the root key alone.
    assert_eq!(stdout.lines().count(), 1);
    let key = ApiKey::parse(stdout.trim_end()).unwrap();
    assert_eq!(key.vendor(), "sk");
    assert_eq!(key.env(), "root");
    assert!(!stderr.contains(&stdout.trim_end()[12..]), "{stderr}");

    let vars = fs::read_to_string(root.join(".dev.vars")).unwrap();
    let hash = hash_in(&vars);
    assert_eq!(hash, key.hash().to_hex());
    assert!(hash.parse::<KeyHash>().is_ok(), "lowercase hex");
    assert!(vars.starts_with("# comment\n") && vars.contains("# ALERT_WEBHOOK_URL=http://x"));
    assert!(!vars.contains(key.expose_secret()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(root.join(".dev.vars"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "only the owner may read .dev.vars");
    }

    // A second run refuses to overwrite: exit 2, nothing printed, file unchanged.
    let (code, stdout, stderr) = run(keyward(root).arg("init"), &[key.expose_secret()]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("already exists") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(fs::read_to_string(root.join(".dev.vars")).unwrap(), vars);

    // --force replaces it with a new key; --vendor picks the prefix.
    let out = keyward(root)
        .args(["init", "--force", "--vendor", "acme"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let second = ApiKey::parse(String::from_utf8(out.stdout).unwrap().trim_end()).unwrap();
    assert_eq!((second.vendor(), second.env()), ("acme", "root"));
    let vars2 = fs::read_to_string(root.join(".dev.vars")).unwrap();
    assert_eq!(hash_in(&vars2), second.hash().to_hex());
    assert_ne!(second.hash(), key.hash());
}

#[test]
fn init_without_a_template_uses_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let out = keyward(dir.path()).arg("init").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let key = ApiKey::parse(String::from_utf8(out.stdout).unwrap().trim_end()).unwrap();
    let vars = fs::read_to_string(dir.path().join(".dev.vars")).unwrap();
    assert_eq!(hash_in(&vars), key.hash().to_hex());
    let (code, _, _) = run(keyward(dir.path()).args(["init", "--vendor", "Nope"]), &[]);
    assert_eq!(code, 2);
}

#[cfg(unix)]
#[test]
fn init_force_replaces_a_readable_file_with_an_owner_only_one() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let vars = dir.path().join(".dev.vars");
    fs::write(&vars, "KEYWARD_ROOT_KEY_HASH=old\n").unwrap();
    fs::set_permissions(&vars, fs::Permissions::from_mode(0o644)).unwrap();
    let out = keyward(dir.path())
        .args(["init", "--force"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let key = ApiKey::parse(String::from_utf8(out.stdout).unwrap().trim_end()).unwrap();
    let written = fs::read_to_string(&vars).unwrap();
    assert_eq!(hash_in(&written), key.hash().to_hex());
    let mode = fs::metadata(&vars).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the replaced file is a new owner-only file"
    );
    // The gateway's signing secret is filled: 64 hex characters.
    let secret = written
        .lines()
        .find_map(|l| l.strip_prefix("ORIGIN_SECRET="))
        .unwrap();
    assert_eq!(secret.len(), 64);
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));
    // Nothing but the file is left behind.
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, [".dev.vars"]);
}

#[cfg(unix)]
#[test]
fn init_refuses_a_dev_vars_that_is_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let victim = elsewhere.path().join("authorized_keys");
    fs::write(&victim, "ssh-ed25519 AAAA precious\n").unwrap();
    std::os::unix::fs::symlink(&victim, dir.path().join(".dev.vars")).unwrap();
    for args in [&["init"][..], &["init", "--force"][..]] {
        let (code, stdout, stderr) = run(keyward(dir.path()).args(args), &[]);
        assert_eq!(code, 2, "{args:?}");
        assert!(stdout.is_empty());
        assert!(stderr.contains("symbolic link"), "{stderr}");
    }
    assert_eq!(
        fs::read_to_string(&victim).unwrap(),
        "ssh-ed25519 AAAA precious\n",
        "the link's target is untouched"
    );
    assert!(
        fs::symlink_metadata(dir.path().join(".dev.vars"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // A dangling link is refused too (it would create its target).
    let dangling = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("created-by-init");
    std::os::unix::fs::symlink(&target, dangling.path().join(".dev.vars")).unwrap();
    let (code, _, _) = run(keyward(dangling.path()).args(["init", "--force"]), &[]);
    assert_eq!(code, 2);
    assert!(!target.exists());
}
