//! `keyward scan` on trees built in temporary directories.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::path::Path;

use common::{key, keyward, run};
use serde_json::Value;

fn write(root: &Path, rel: &str, content: impl AsRef<[u8]>) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}

/// (path, line, column) of each finding, from `--json`.
fn places(json: &str) -> Vec<(String, u64, u64, String)> {
    let v: Value = serde_json::from_str(json).unwrap();
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
                f["hint"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn finds_planted_keys_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let live = key("sk", "live");
    let test = key("sk", "test");
    let custom = key("acme", "staging");
    let dev = key("sk", "dev");
    let env = key("sk", "live");
    write(
        root,
        "config/app.json",
        format!("{{\n  \"name\": \"x\",\n  \"api_key\": \"{live}\"\n}}\n"),
    );
    write(
        root,
        "deploy/values.yaml",
        format!("service:\n  auth:\n    token: {test}\n"),
    );
    write(root, ".env", format!("# local\nKEYWARD_TOKEN={custom}\n"));
    write(
        root,
        "src/client.rs",
        format!("fn main() {{\n    let k = \"{dev}\"; // é\n}}\n"),
    );
    // Non-ASCII before the key on the same line: columns count characters.
    write(root, "src/ünï.py", format!("é = 'ü{env}'\n"));
    write(root, "README.md", "nothing to see here\n");

    let (code, stdout, stderr) = run(
        keyward(root).args(["scan", "--json"]),
        &[&live, &test, &custom, &dev, &env],
    );
    assert_eq!(code, 1, "{stderr}");
    let found = places(&stdout);
    let hint = |k: &str| keyward_core::ApiKey::parse(k).unwrap().hint();
    assert_eq!(
        found,
        vec![
            (".env".to_owned(), 2, 15, hint(&custom)),
            ("config/app.json".to_owned(), 3, 15, hint(&live)),
            ("deploy/values.yaml".to_owned(), 3, 12, hint(&test)),
            ("src/client.rs".to_owned(), 2, 14, hint(&dev)),
            ("src/ünï.py".to_owned(), 1, 7, hint(&env)),
        ]
    );

    // The text format: path:line:column: hint…, one line each, nothing else on stdout.
    let (code, stdout, _) = run(
        keyward(root).arg("scan"),
        &[&live, &test, &custom, &dev, &env],
    );
    assert_eq!(code, 1);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5);
    assert!(lines[1].starts_with(&format!(
        "config/app.json:3:15: keyward API key {}…",
        hint(&live)
    )));

    // Explicit paths, and --vendor narrowing.
    let (code, stdout, _) = run(
        keyward(root).args(["scan", "--json", "--vendor", "acme", "."]),
        &[],
    );
    assert_eq!(code, 1);
    assert_eq!(places(&stdout).len(), 1);
    let (code, stdout, _) = run(
        keyward(root).args(["scan", "--json", "--vendor", "zz"]),
        &[],
    );
    assert_eq!(code, 0);
    assert!(places(&stdout).is_empty());
    let (code, _, _) = run(keyward(root).args(["scan", "README.md"]), &[]);
    assert_eq!(code, 0);
}

#[test]
fn keys_inside_longer_tokens_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let k1 = key("sk", "live");
    let k2 = key("sk", "test");
    let k3 = key("acme", "dev");
    // Glued to base64url on both sides, to a lowercase word, after an underscore.
    write(
        dir.path(),
        "blob.txt",
        format!("AAAA-{k1}-BBBB_cc\nprefix{k2}zz\nMY_VAR_{k3}\n"),
    );
    let (code, stdout, _) = run(
        keyward(dir.path()).args(["scan", "--json"]),
        &[&k1, &k2, &k3],
    );
    assert_eq!(code, 1);
    let found: Vec<(u64, u64)> = places(&stdout).iter().map(|p| (p.1, p.2)).collect();
    assert_eq!(found, vec![(1, 6), (2, 7), (3, 8)]);
}

#[test]
fn look_alikes_are_not_reported() {
    let dir = tempfile::tempdir().unwrap();
    let good = key("sk", "live");
    let mut corpus = String::new();
    // Broken checksums: every position of the secret and checksum changed once.
    let prefix = "sk_live_".len();
    for i in prefix..good.len() {
        let mut b = good.clone().into_bytes();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        corpus.push_str(&format!("k{i} = \"{}\"\n", String::from_utf8(b).unwrap()));
    }
    // Wrong lengths.
    corpus.push_str(&format!("short = {}\n", &good[..good.len() - 1]));
    corpus.push_str(&format!("nosum = {}\n", &good[..good.len() - 6]));
    // Wrong prefixes: uppercase, too long, digit first, missing env.
    corpus.push_str(&format!("up = SK_LIVE_{}\n", &good[prefix..]));
    corpus.push_str(&format!(
        "long = abcdefghijklmnopq_live_{}\n",
        &good[prefix..]
    ));
    corpus.push_str(&format!("digit = 9k_live_{}\n", &good[prefix..]));
    corpus.push_str(&format!("noenv = sk__{}\n", &good[prefix..]));
    // Other vendors' token shapes.
    for other in [
        "ghp_1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVwXyZ12",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV",
        "AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "sk_live_51HqLyjWDarjtT1zdp7dcXUXKkE1b0Jc8h4QyQkXrQ2Y0Ox1234567890abcdefghijklmn",
        "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ_klmnop-qrstuv",
        "glpat-xxxxxxxxxxxxxxxxxxxx",
        "some_snake_case_identifier_that_is_long_enough_to_fill_forty_nine_",
    ] {
        corpus.push_str(other);
        corpus.push('\n');
    }
    write(dir.path(), "corpus.txt", &corpus);
    let (code, stdout, stderr) = run(keyward(dir.path()).args(["scan", "--json"]), &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(places(&stdout).is_empty());
    assert!(stderr.contains("no keys found"));
}

#[test]
fn ignored_and_binary_files_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let k = key("sk", "live");
    write(root, ".gitignore", "secrets/\n*.log\n");
    write(root, "secrets/prod.env", format!("K={k}\n"));
    write(root, "debug.log", format!("K={k}\n"));
    write(root, "nested/.gitignore", "local.txt\n");
    write(root, "nested/local.txt", format!("K={k}\n"));
    let mut binary = b"\x7fELF\x02\x01\x01\0\0\0".to_vec();
    binary.extend_from_slice(k.as_bytes());
    write(root, "app.bin", &binary);
    let (code, stdout, _) = run(keyward(root).args(["scan", "--json"]), &[&k]);
    assert_eq!(code, 0, "{stdout}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["binary_skipped"], 1);

    // --no-ignore scans what .gitignore excludes (binaries are still skipped).
    let (code, stdout, _) = run(keyward(root).args(["scan", "--json", "--no-ignore"]), &[&k]);
    assert_eq!(code, 1);
    let paths: Vec<String> = places(&stdout).into_iter().map(|p| p.0).collect();
    assert_eq!(
        paths,
        vec!["debug.log", "nested/local.txt", "secrets/prod.env"]
    );
}

/// `text` as UTF-16 with a byte order mark: little endian, or big endian.
fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    let mut out = if big_endian {
        vec![0xFE, 0xFF]
    } else {
        vec![0xFF, 0xFE]
    };
    for u in text.encode_utf16() {
        out.extend_from_slice(&if big_endian {
            u.to_be_bytes()
        } else {
            u.to_le_bytes()
        });
    }
    out
}

#[test]
fn utf16_files_are_decoded_and_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let le = key("sk", "live");
    let be = key("acme", "test");
    // Line 3, after a character outside the BMP (a surrogate pair: one character) and a
    // non-ASCII one: the key starts in column 7 of what an editor shows.
    let text = |k: &str| format!("# settings\r\nname = ü\r\n😀é = \"{k}\"\r\n");
    write(root, "win/settings.ini", utf16(&text(&le), false));
    write(root, "mac/settings.ini", utf16(&text(&be), true));
    // A NUL without a byte order mark is still a binary, skipped even with a key in it.
    let skipped = key("sk", "dev");
    let mut binary = b"\xFF\x00\xFE".to_vec();
    binary.extend_from_slice(skipped.as_bytes());
    write(root, "blob.dat", &binary);
    // A key on an allowlisted line of a UTF-16 file is not reported.
    write(
        root,
        "docs/example.txt",
        utf16(&format!("{skipped} keyward:allow\n"), false),
    );

    let keys = [le.as_str(), be.as_str(), skipped.as_str()];
    let (code, stdout, stderr) = run(keyward(root).args(["scan", "--json"]), &keys);
    assert_eq!(code, 1, "{stderr}");
    let hint = |k: &str| keyward_core::ApiKey::parse(k).unwrap().hint();
    assert_eq!(
        places(&stdout),
        vec![
            ("mac/settings.ini".to_owned(), 3, 7, hint(&be)),
            ("win/settings.ini".to_owned(), 3, 7, hint(&le)),
        ]
    );
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["binary_skipped"], 1);

    // The text format says the same.
    let (code, stdout, _) = run(keyward(root).args(["scan", "win"]), &keys);
    assert_eq!(code, 1);
    assert!(
        stdout.starts_with(&format!(
            "win/settings.ini:3:7: keyward API key {}…",
            hint(&le)
        )),
        "{stdout}"
    );

    // stdin is read in windows: UTF-16 is decoded there too.
    let out = {
        use std::io::Write as _;
        let mut child = keyward(root)
            .args(["scan", "--json", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&utf16(&text(&be), true)).unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    };
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.contains(&be[12..]));
    assert_eq!(places(&stdout), vec![("-".to_owned(), 3, 7, hint(&be))]);
}

#[test]
fn allowlisted_paths_and_lines_are_not_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let k = key("sk", "live");
    write(root, ".keywardignore", "fixtures/\n*.vectors.json\n");
    write(root, "fixtures/keys.txt", format!("{k}\n"));
    write(root, "deep/a.vectors.json", format!("[\"{k}\"]\n"));
    write(
        root,
        "docs/example.md",
        format!("`{k}` <!-- keyward:allow -->\n"),
    );
    write(
        root,
        "src/test.rs",
        format!("const K: &str = \"{k}\"; // keyward:allow\n"),
    );
    write(
        root,
        "src/real.rs",
        format!("// keyward:allow is on another line\nlet k = \"{k}\";\n"),
    );
    let (code, stdout, _) = run(keyward(root).args(["scan", "--json"]), &[&k]);
    assert_eq!(code, 1);
    let found: Vec<(String, u64)> = places(&stdout).into_iter().map(|p| (p.0, p.1)).collect();
    assert_eq!(found, vec![("src/real.rs".to_owned(), 2)]);
}

#[test]
fn sarif_output() {
    let dir = tempfile::tempdir().unwrap();
    let k = key("sk", "live");
    write(dir.path(), "src/a b.js", format!("\n\nconst k = '{k}';\n"));
    let (code, stdout, _) = run(
        keyward(dir.path()).args(["scan", "--format", "sarif"]),
        &[&k],
    );
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let run0 = &v["runs"][0];
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["id"], "keyward-api-key");
    let results = run0["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["ruleId"], "keyward-api-key");
    let loc = &results[0]["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "src/a%20b.js");
    assert_eq!(loc["region"]["startLine"], 3);
    assert_eq!(loc["region"]["startColumn"], 12);
    assert_eq!(loc["region"]["endColumn"], 12 + k.len() as u64);
}

#[test]
fn stdin_is_scanned_with_a_dash() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let k = key("sk", "live");
    let mut child = keyward(dir.path())
        .args(["scan", "--json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("line one\n+ KEY={k}\n").as_bytes())
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.contains(&k[12..]));
    assert_eq!(places(&stdout)[0].0, "-");
    assert_eq!((places(&stdout)[0].1, places(&stdout)[0].2), (2, 7));
}

#[test]
fn errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(keyward(dir.path()).args(["scan", "no/such/path"]), &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no/such/path"), "{stderr}");
    let (code, _, _) = run(keyward(dir.path()).args(["scan", "--vendor", "Bad!"]), &[]);
    assert_eq!(code, 2);
    let (code, _, _) = run(keyward(dir.path()).args(["scan", "--format", "xml"]), &[]);
    assert_eq!(code, 2);
    // --revoke needs the Worker's address and a token, named when missing.
    let (code, _, stderr) = run(keyward(dir.path()).args(["scan", "--revoke"]), &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("KEYWARD_URL and KEYWARD_TOKEN"), "{stderr}");
    // A clean directory.
    let (code, _, _) = run(keyward(dir.path()).arg("scan"), &[]);
    assert_eq!(code, 0);
}
