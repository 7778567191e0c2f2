//! `keyward scan --git`, `--staged` and the pre-commit hook, on temporary repositories.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;

use common::{git, key, keyward, repo, run};
use serde_json::Value;

#[test]
fn history_scan_reports_deleted_keys_with_commit_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    repo(root);
    let k = key("sk", "live");
    let other = key("acme", "test");
    fs::write(root.join("README.md"), "hello\n").unwrap();
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "first"]);
    fs::create_dir_all(root.join("config")).unwrap();
    fs::write(root.join("config/prod.env"), format!("A=1\nTOKEN={k}\n")).unwrap();
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "add config"]);
    let added = git(root, &["rev-parse", "HEAD"]);
    git(root, &["rm", "-q", "config/prod.env"]);
    git(root, &["commit", "-q", "-m", "oops, remove it"]);
    // A key kept through two versions of a file: one finding, at the commit that added it.
    let kept = key("sk", "dev");
    fs::write(root.join("app.yaml"), format!("token: {kept}\n")).unwrap();
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "app config"]);
    let kept_first = git(root, &["rev-parse", "HEAD"]);
    fs::write(root.join("app.yaml"), format!("# prod\ntoken: {kept}\n")).unwrap();
    git(root, &["commit", "-q", "-am", "comment"]);
    let kept_second = git(root, &["rev-parse", "HEAD"]);
    // A key on another branch only, never merged.
    git(root, &["checkout", "-q", "-b", "side"]);
    fs::write(root.join("side.txt"), format!("x: {other}\n")).unwrap();
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "side"]);
    let side = git(root, &["rev-parse", "HEAD"]);
    git(root, &["checkout", "-q", "main"]);

    // The working tree is clean...
    fs::remove_file(root.join("app.yaml")).unwrap();
    git(root, &["commit", "-q", "-am", "drop app.yaml"]);
    let (code, _, _) = run(keyward(root).arg("scan"), &[&k, &other, &kept]);
    assert_eq!(code, 0);
    // ...history is not.
    let (code, stdout, stderr) = run(
        keyward(root).args(["scan", "--git", "--json"]),
        &[&k, &other, &kept],
    );
    assert_eq!(code, 1, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 3, "{stdout}");
    let by_path = |p: &str| findings.iter().find(|f| f["path"] == p).unwrap();
    let f = by_path("config/prod.env");
    assert_eq!(f["commit"], added.as_str());
    assert_eq!(
        (f["line"].as_u64(), f["column"].as_u64()),
        (Some(2), Some(7))
    );
    assert_eq!(f["source"], "git");
    assert_eq!(by_path("side.txt")["commit"], side.as_str());
    let app = by_path("app.yaml");
    assert_eq!(app["commit"], kept_first.as_str());
    assert_eq!(
        (app["line"].as_u64(), app["column"].as_u64()),
        (Some(1), Some(8))
    );
    assert_eq!(app["later_commits"], serde_json::json!([kept_second]));

    // Text output names the commit and path; --git takes the repository as a value.
    let parent = root.parent().unwrap();
    let name = root.file_name().unwrap().to_str().unwrap();
    let (code, stdout, _) = run(
        keyward(parent).args(["scan", "--git", name]),
        &[&k, &other, &kept],
    );
    assert_eq!(code, 1);
    assert!(
        stdout.contains(&format!(
            "{}:config/prod.env:2:7: keyward API key",
            &added[..12]
        )),
        "{stdout}"
    );

    // Not a repository: an error.
    let empty = tempfile::tempdir().unwrap();
    let (code, _, _) = run(keyward(empty.path()).args(["scan", "--git"]), &[]);
    assert_eq!(code, 2);
}

#[test]
fn staged_scan_sees_the_index_not_the_working_tree() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    repo(root);
    let k = key("sk", "test");
    // Before the first commit: everything staged is new.
    fs::write(root.join("app.yaml"), format!("token: {k}\n")).unwrap();
    fs::write(root.join("clean.txt"), "ok\n").unwrap();
    git(root, &["add", "app.yaml", "clean.txt"]);
    let (code, stdout, stderr) = run(keyward(root).args(["scan", "--staged"]), &[&k]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stdout.starts_with("app.yaml:1:8: keyward API key"),
        "{stdout}"
    );
    assert!(stderr.contains("commit blocked"), "{stderr}");

    // Fixed in the working tree but not staged: still blocked (the index is committed).
    fs::write(root.join("app.yaml"), "token: ${TOKEN}\n").unwrap();
    let (code, _, _) = run(keyward(root).args(["scan", "--staged"]), &[&k]);
    assert_eq!(code, 1);
    git(root, &["add", "app.yaml"]);
    let (code, _, _) = run(keyward(root).args(["scan", "--staged"]), &[&k]);
    assert_eq!(code, 0);
    git(root, &["commit", "-q", "-m", "clean"]);

    // After a commit: only what changed is scanned, and an unstaged key is not.
    fs::write(root.join("later.txt"), format!("{k}\n")).unwrap();
    let (code, _, _) = run(keyward(root).args(["scan", "--staged"]), &[&k]);
    assert_eq!(code, 0);
    git(root, &["add", "later.txt"]);
    let (code, stdout, _) = run(keyward(root).args(["scan", "--staged", "--json"]), &[&k]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["findings"][0]["path"], "later.txt");
    assert_eq!(v["findings"][0]["source"], "staged");
}

#[test]
fn keywardignore_applies_to_history_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    repo(root);
    let k = key("sk", "test");
    fs::create_dir_all(root.join("tests/vectors")).unwrap();
    fs::write(root.join("tests/vectors/keys.json"), format!("[\"{k}\"]\n")).unwrap();
    fs::write(root.join("app.env"), format!("K={k}\n")).unwrap();
    fs::write(root.join(".keywardignore"), "tests/vectors/\n").unwrap();
    git(root, &["add", "."]);
    let (code, stdout, _) = run(keyward(root).args(["scan", "--staged", "--json"]), &[&k]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 1);
    assert_eq!(v["findings"][0]["path"], "app.env");
    git(root, &["commit", "-q", "--no-verify", "-m", "x"]);
    let (code, stdout, _) = run(keyward(root).args(["scan", "--git", "--json"]), &[&k]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 1);
    assert_eq!(v["findings"][0]["path"], "app.env");
}

/// UTF-16LE text with a byte order mark.
fn utf16le(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

#[test]
fn utf16_blobs_are_decoded_in_history_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    repo(root);
    let k = key("sk", "live");
    let content = utf16le(&format!("[auth]\r\nuser = é\r\n  token = {k}\r\n"));
    fs::write(root.join("app.ini"), &content).unwrap();
    // A binary blob (a NUL, no byte order mark) holding a key is still skipped.
    let skipped = key("sk", "dev");
    let mut binary = b"\x00\x01".to_vec();
    binary.extend_from_slice(skipped.as_bytes());
    fs::write(root.join("data.bin"), &binary).unwrap();
    git(root, &["add", "."]);
    let (code, stdout, stderr) = run(
        keyward(root).args(["scan", "--staged", "--json"]),
        &[&k, &skipped],
    );
    assert_eq!(code, 1, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{stdout}");
    assert_eq!(findings[0]["path"], "app.ini");
    assert_eq!(findings[0]["source"], "staged");
    assert_eq!(v["binary_skipped"], 1);

    git(root, &["commit", "-q", "-m", "config"]);
    let added = git(root, &["rev-parse", "HEAD"]);
    git(root, &["rm", "-q", "app.ini"]);
    git(root, &["commit", "-q", "-m", "remove it"]);
    let (code, stdout, stderr) = run(
        keyward(root).args(["scan", "--git", "--json"]),
        &[&k, &skipped],
    );
    assert_eq!(code, 1, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{stdout}");
    let f = &findings[0];
    assert_eq!(f["path"], "app.ini");
    assert_eq!(f["commit"], added.as_str());
    assert_eq!(
        (f["line"].as_u64(), f["column"].as_u64()),
        (Some(3), Some(11))
    );
    let hint = keyward_core::ApiKey::parse(&k).unwrap().hint().to_owned();
    assert_eq!(f["hint"], hint.as_str());
    assert_eq!(v["binary_skipped"], 1);
}

#[test]
fn pre_commit_hook_blocks_a_commit_with_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    repo(root);
    let (code, _, stderr) = run(keyward(root).args(["hook", "install"]), &[]);
    assert_eq!(code, 0, "{stderr}");
    let hook = root.join(".git/hooks/pre-commit");
    let script = fs::read_to_string(&hook).unwrap();
    assert!(script.contains("scan --staged"), "{script}");
    assert!(script.contains(env!("CARGO_BIN_EXE_keyward")) || script.contains("keyward"));

    // A second install refuses to overwrite, unless forced.
    let (code, _, stderr) = run(keyward(root).args(["hook", "install"]), &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--force"), "{stderr}");
    let (code, _, _) = run(keyward(root).args(["hook", "install", "--force"]), &[]);
    assert_eq!(code, 0);

    // A clean commit goes through.
    fs::write(root.join("README.md"), "hello\n").unwrap();
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "-m", "clean"]);

    // A commit adding a key is refused, and nothing is recorded.
    let k = key("sk", "live");
    fs::write(root.join("settings.py"), format!("API_KEY = \"{k}\"\n")).unwrap();
    git(root, &["add", "settings.py"]);
    let out = std::process::Command::new("git")
        .current_dir(root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(["commit", "-m", "add settings"])
        .output()
        .unwrap();
    let stderr = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "the commit went through");
    assert!(
        stderr.contains("settings.py:1:12: keyward API key"),
        "{stderr}"
    );
    assert!(stderr.contains("commit blocked"), "{stderr}");
    assert!(!stderr.contains(&k[20..]), "{stderr}");
    assert_eq!(git(root, &["rev-list", "--count", "HEAD"]), "1");

    // Outside a repository, install fails cleanly.
    let empty = tempfile::tempdir().unwrap();
    let (code, _, _) = run(keyward(empty.path()).args(["hook", "install"]), &[]);
    assert_eq!(code, 2);
}

/// (path, reason) of each entry of a JSON list (`skipped`, `ignored_scanned`).
fn reasons(v: &Value, list: &str) -> Vec<(String, String)> {
    v[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().to_owned(),
                s["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn finding_paths(v: &Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_tracked_file_is_scanned_even_when_gitignore_matches_it() {
    let dir = tempfile::tempdir().unwrap();
    // Not a repository itself: it holds one (found by the walk), like a folder of clones.
    let top = dir.path();
    let root = top.join("app");
    fs::create_dir_all(&root).unwrap();
    repo(&root);
    let keys: Vec<String> = (0..6).map(|_| key("sk", "live")).collect();
    let all: Vec<&str> = keys.iter().map(String::as_str).collect();
    fs::write(
        root.join(".gitignore"),
        "config/\n*.log\n.env\nbuild/\nsettings.yaml\n",
    )
    .unwrap();
    fs::create_dir_all(root.join("config/deep")).unwrap();
    fs::create_dir_all(root.join("build")).unwrap();
    fs::write(
        root.join("config/deep/app.yaml"),
        format!("k: {}\n", keys[0]),
    )
    .unwrap();
    fs::write(root.join("debug.log"), format!("{}\n", keys[1])).unwrap();
    fs::write(root.join(".env"), format!("K={}\n", keys[2])).unwrap();
    fs::write(root.join("settings.yaml"), format!("k: {}\n", keys[3])).unwrap();
    // Ignored and untracked: skipped (and said), even beside tracked files.
    fs::write(
        root.join("config/deep/local.yaml"),
        format!("k: {}\n", keys[4]),
    )
    .unwrap();
    fs::write(root.join("other.log"), format!("{}\n", keys[4])).unwrap();
    fs::write(root.join("build/out.txt"), format!("{}\n", keys[5])).unwrap();
    // The repository's own excludes count as an ignore file.
    fs::create_dir_all(root.join(".git/info")).unwrap();
    fs::write(root.join(".git/info/exclude"), "mine.txt\n").unwrap();
    fs::write(root.join("mine.txt"), format!("{}\n", keys[5])).unwrap();
    git(
        &root,
        &[
            "add",
            "-f",
            ".gitignore",
            "config/deep/app.yaml",
            "debug.log",
            ".env",
        ],
    );
    // Tracked, committed, then ignored: still pushed with every commit.
    git(&root, &["add", "-f", "settings.yaml"]);
    git(&root, &["commit", "-q", "--no-verify", "-m", "x"]);

    let expected_found = vec![
        ".env".to_owned(),
        "config/deep/app.yaml".to_owned(),
        "debug.log".to_owned(),
        "settings.yaml".to_owned(),
    ];
    for (cwd, prefix) in [(&root, ""), (&top.to_path_buf(), "app/")] {
        let (code, stdout, stderr) = run(keyward(cwd).args(["scan", "--json"]), &all);
        assert_eq!(code, 1, "{stderr}");
        let v: Value = serde_json::from_str(&stdout).unwrap();
        let with = |p: &[String]| p.iter().map(|p| format!("{prefix}{p}")).collect::<Vec<_>>();
        assert_eq!(finding_paths(&v), with(&expected_found), "from {cwd:?}");
        let scanned: Vec<(String, String)> = reasons(&v, "ignored_scanned");
        assert_eq!(
            scanned,
            vec![
                (format!("{prefix}.env"), "tracked".to_owned()),
                (
                    format!("{prefix}config/deep/app.yaml"),
                    "tracked".to_owned()
                ),
                (format!("{prefix}debug.log"), "tracked".to_owned()),
                (format!("{prefix}settings.yaml"), "tracked".to_owned()),
            ]
        );
        assert_eq!(
            reasons(&v, "skipped"),
            vec![
                (format!("{prefix}build"), "ignored_directory".to_owned()),
                (
                    format!("{prefix}config/deep/local.yaml"),
                    "ignored".to_owned()
                ),
                (format!("{prefix}mine.txt"), "ignored".to_owned()),
                (format!("{prefix}other.log"), "ignored".to_owned()),
            ]
        );
        assert!(
            stderr.contains("scanned 4 ignored files all the same: 4 tracked by git"),
            "{stderr}"
        );
    }
    // A path named on the command line is read, whatever ignores it (as ripgrep does).
    let (code, stdout, _) = run(keyward(&root).args(["scan", "--json", "config"]), &all);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        finding_paths(&v),
        vec![
            "config/deep/app.yaml".to_owned(),
            "config/deep/local.yaml".to_owned()
        ]
    );
}

#[test]
fn staged_and_history_scans_outside_a_repository_say_so() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["scan", "--staged"][..],
        &["scan", "--git"],
        &["scan", "--git", "."],
    ] {
        let (code, stdout, stderr) = run(keyward(dir.path()).args(args), &[]);
        assert_eq!(code, 2, "{args:?}");
        assert!(stdout.is_empty(), "{stdout}");
        // One line, not git's usage text.
        assert_eq!(
            stderr.trim(),
            "keyward: error: not a git repository (or any of its parents): .",
            "{args:?}"
        );
    }
}

#[test]
fn boms_and_utf16_without_a_mark_in_history_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    repo(root);
    let (a, b) = (key("sk", "live"), key("sk", "test"));
    fs::write(root.join("bom.env"), format!("\u{FEFF}KEY={a}\n")).unwrap();
    let mut utf16 = Vec::new();
    for u in format!("x\r\n  token = {b}\r\n").encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    fs::write(root.join("win.ini"), &utf16).unwrap();
    git(root, &["add", "."]);
    let lines = |v: &Value| {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["path"].as_str().unwrap().to_owned(),
                    f["line"].as_u64().unwrap(),
                    f["column"].as_u64().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let expected = vec![("bom.env".to_owned(), 1, 5), ("win.ini".to_owned(), 2, 11)];
    let (code, stdout, _) = run(
        keyward(root).args(["scan", "--staged", "--json"]),
        &[&a, &b],
    );
    assert_eq!(code, 1);
    assert_eq!(lines(&serde_json::from_str(&stdout).unwrap()), expected);
    git(root, &["commit", "-q", "--no-verify", "-m", "x"]);
    git(root, &["rm", "-q", "bom.env", "win.ini"]);
    git(root, &["commit", "-q", "--no-verify", "-m", "gone"]);
    let (code, stdout, _) = run(keyward(root).args(["scan", "--git", "--json"]), &[&a, &b]);
    assert_eq!(code, 1);
    assert_eq!(lines(&serde_json::from_str(&stdout).unwrap()), expected);
}

#[test]
fn sarif_of_a_history_scan_names_the_repository_and_each_commit() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    repo(root);
    // A token in the remote's URL must not reach the report.
    git(
        root,
        &[
            "remote",
            "add",
            "origin",
            "https://ci-user:s3cr3t-t0ken@git.example.com/team/app.git",
        ],
    );
    let k = key("sk", "live");
    fs::create_dir_all(root.join("config")).unwrap();
    fs::write(root.join("config/prod.env"), format!("A=1\nTOKEN={k}\n")).unwrap();
    git(root, &["add", "."]);
    git(root, &["commit", "-q", "--no-verify", "-m", "add"]);
    let added = git(root, &["rev-parse", "HEAD"]);
    fs::write(
        root.join("config/prod.env"),
        format!("# prod\nA=1\nTOKEN={k}\n"),
    )
    .unwrap();
    git(root, &["commit", "-q", "--no-verify", "-am", "again"]);
    let again = git(root, &["rev-parse", "HEAD"]);
    git(root, &["rm", "-q", "config/prod.env"]);
    git(root, &["commit", "-q", "--no-verify", "-m", "remove"]);
    let head = git(root, &["rev-parse", "HEAD"]);

    let (code, stdout, _) = run(
        keyward(root).args(["scan", "--git", "--format", "sarif"]),
        &[&k],
    );
    assert_eq!(code, 1);
    assert!(
        !stdout.contains("s3cr3t") && !stdout.contains("ci-user"),
        "{stdout}"
    );
    assert!(!stdout.contains(".invalid"), "a placeholder informationUri");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let run0 = &v["runs"][0];
    let repo_uri = "https://git.example.com/team/app.git";
    let vcp = run0["versionControlProvenance"].as_array().unwrap();
    assert_eq!(
        vcp[0],
        serde_json::json!({
            "repositoryUri": repo_uri,
            "revisionId": head,
            "branch": "main",
            "mappedTo": { "uriBaseId": "SRCROOT" },
        })
    );
    let base = |c: &str| format!("COMMIT_{c}");
    for c in [&added, &again] {
        assert!(
            vcp.contains(&serde_json::json!({
                "repositoryUri": repo_uri,
                "revisionId": c,
                "mappedTo": { "uriBaseId": base(c) },
            })),
            "{vcp:?}"
        );
    }
    let results = run0["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    let r = &results[0];
    let loc = &r["locations"][0]["physicalLocation"];
    assert_eq!(
        loc["artifactLocation"],
        serde_json::json!({ "uri": "config/prod.env", "uriBaseId": base(&added) })
    );
    assert_eq!(loc["region"]["startLine"], 2);
    assert_eq!(loc["region"]["startColumn"], 7);
    assert!(r["message"]["text"].as_str().unwrap().contains(&added));
    let related = &r["relatedLocations"][0];
    assert_eq!(
        related["physicalLocation"]["artifactLocation"],
        serde_json::json!({ "uri": "config/prod.env", "uriBaseId": base(&again) })
    );
    // Where the key sits in that later version is not known: no region is made up.
    assert!(related["physicalLocation"].get("region").is_none());

    // A file scan's SARIF names no repository revision.
    let (_, stdout, _) = run(keyward(root).args(["scan", "--format", "sarif"]), &[&k]);
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert!(v["runs"][0].get("versionControlProvenance").is_none());
}

#[test]
fn a_repository_found_by_a_file_scan_cannot_run_its_fsmonitor_command() {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path();
    let inner = top.join("vendor/lib");
    fs::create_dir_all(&inner).unwrap();
    repo(&inner);
    let k = key("sk", "live");
    fs::write(inner.join(".gitignore"), "*.log\n").unwrap();
    fs::write(inner.join("keep.log"), format!("{k}\n")).unwrap();
    git(&inner, &["add", "-f", ".gitignore", "keep.log"]);
    git(&inner, &["commit", "-q", "--no-verify", "-m", "x"]);
    // A repository handed to the scanner names a command to run when its index is read.
    let marker = top.join("ran");
    let hook = top.join("fsmonitor.sh");
    fs::write(&hook, format!("#!/bin/sh\ntouch '{}'\n", marker.display())).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).unwrap();
    }
    git(
        &inner,
        &["config", "core.fsmonitor", hook.to_str().unwrap()],
    );
    // git itself runs it (so the attack is real here)...
    git(&inner, &["ls-files"]);
    assert!(marker.exists(), "git did not run core.fsmonitor");
    fs::remove_file(&marker).unwrap();
    // ...keyward does not, and still reads the tracked, ignored file.
    let (code, stdout, stderr) = run(keyward(top).args(["scan", "--json"]), &[&k]);
    assert_eq!(code, 1, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(finding_paths(&v), vec!["vendor/lib/keep.log".to_owned()]);
    assert!(
        !marker.exists(),
        "keyward ran the repository's fsmonitor command"
    );
}
