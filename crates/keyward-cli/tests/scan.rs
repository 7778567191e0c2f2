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

/// (path, reason) of each entry of a JSON list (`skipped`, `ignored_scanned`).
fn reasons(json: &str, list: &str) -> Vec<(String, String)> {
    let v: Value = serde_json::from_str(json).unwrap();
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

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn ignored_and_binary_files_are_skipped_and_said() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let k = key("sk", "live");
    write(root, ".gitignore", "secrets/\n*.log\n");
    write(root, "secrets/prod.txt", format!("K={k}\n"));
    write(root, "debug.log", format!("K={k}\n"));
    write(root, "nested/.gitignore", "local.txt\n");
    write(root, "nested/local.txt", format!("K={k}\n"));
    // ripgrep's .ignore counts as an ignore file too.
    write(root, ".ignore", "scratch.md\n");
    write(root, "scratch.md", format!("K={k}\n"));
    let mut binary = b"\x7fELF\x02\x01\x01\0\0\0".to_vec();
    binary.extend_from_slice(k.as_bytes());
    write(root, "app.bin", &binary);
    let (code, stdout, stderr) = run(keyward(root).args(["scan", "--json"]), &[&k]);
    assert_eq!(code, 0, "{stdout}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["binary_skipped"], 1);
    assert_eq!(v["ignored_skipped"], 3);
    assert_eq!(v["ignored_directories_skipped"], 1);
    assert_eq!(
        reasons(&stdout, "skipped"),
        pairs(&[
            ("app.bin", "binary"),
            ("debug.log", "ignored"),
            ("nested/local.txt", "ignored"),
            ("scratch.md", "ignored"),
            ("secrets", "ignored_directory"),
        ])
    );
    // The summary says what was skipped and how to include it.
    assert!(
        stderr.contains(
            "skipped 1 binary, 3 ignored files, 1 ignored directory (--no-ignore scans ignored ones"
        ),
        "{stderr}"
    );

    // --no-ignore scans what the ignore files exclude (binaries are still skipped).
    let (code, stdout, _) = run(keyward(root).args(["scan", "--json", "--no-ignore"]), &[&k]);
    assert_eq!(code, 1);
    let paths: Vec<String> = places(&stdout).into_iter().map(|p| p.0).collect();
    assert_eq!(
        paths,
        vec![
            "debug.log",
            "nested/local.txt",
            "scratch.md",
            "secrets/prod.txt"
        ]
    );
    assert_eq!(reasons(&stdout, "skipped"), pairs(&[("app.bin", "binary")]));
}

#[test]
fn ignored_secret_files_are_scanned_in_and_outside_a_repository() {
    let keys: Vec<String> = (0..6).map(|_| key("sk", "live")).collect();
    let all: Vec<&str> = keys.iter().map(String::as_str).collect();
    let dir = tempfile::tempdir().unwrap();
    // Git's global excludes (core.excludesFile unset: $XDG_CONFIG_HOME/git/ignore).
    let top = dir.path();
    write(top, "xdg/git/ignore", ".dev.vars\nprivate/\n*.pem\n");
    for in_repo in [false, true] {
        // A parent directory's .gitignore: the scan runs in base/app.
        let base = top.join(if in_repo { "repo" } else { "plain" });
        write(&base, ".gitignore", ".env*\nnotes.txt\n");
        if in_repo {
            common::repo(&base);
        }
        let app = base.join("app");
        write(&app, ".gitignore", "local.settings.json\n");
        write(&app, ".env", format!("A={}\n", keys[0]));
        write(&app, ".env.local", format!("A={}\n", keys[1]));
        write(&app, ".dev.vars", format!("A={}\n", keys[2]));
        write(&app, "tls.pem", format!("{}\n", keys[3]));
        write(
            &app,
            "local.settings.json",
            format!("{{\"k\": \"{}\"}}\n", keys[4]),
        );
        // Ignored, not a secret file's name: skipped, and said.
        write(&app, "notes.txt", format!("{}\n", keys[5]));
        write(&app, "private/.env", format!("{}\n", keys[5]));
        // .keywardignore still skips a secret file.
        write(&app, ".keywardignore", "fixtures/\n");
        write(&app, "fixtures/.env", format!("{}\n", keys[5]));
        let scan = |extra: &[&str]| {
            let mut cmd = keyward(&app);
            cmd.env("XDG_CONFIG_HOME", top.join("xdg"))
                .env("HOME", top)
                .args(["scan", "--json"])
                .args(extra);
            run(&mut cmd, &all)
        };
        let (code, stdout, stderr) = scan(&[]);
        assert_eq!(code, 1, "{stderr}");
        let found: Vec<(String, String)> =
            places(&stdout).into_iter().map(|p| (p.0, p.3)).collect();
        let hint = |k: &str| keyward_core::ApiKey::parse(k).unwrap().hint().to_owned();
        assert_eq!(
            found,
            vec![
                (".dev.vars".to_owned(), hint(&keys[2])),
                (".env".to_owned(), hint(&keys[0])),
                (".env.local".to_owned(), hint(&keys[1])),
                ("local.settings.json".to_owned(), hint(&keys[4])),
                ("tls.pem".to_owned(), hint(&keys[3])),
            ],
            "in a repository: {in_repo}"
        );
        assert_eq!(
            reasons(&stdout, "ignored_scanned"),
            pairs(&[
                (".dev.vars", "secret_file"),
                (".env", "secret_file"),
                (".env.local", "secret_file"),
                ("local.settings.json", "secret_file"),
                ("tls.pem", "secret_file"),
            ])
        );
        assert_eq!(
            reasons(&stdout, "skipped"),
            pairs(&[("notes.txt", "ignored"), ("private", "ignored_directory")])
        );
        assert!(
            stderr.contains("scanned 5 ignored files all the same: 5 named as secret files"),
            "{stderr}"
        );
        // --no-ignore enters the ignored directory too; .keywardignore still applies.
        let (code, stdout, _) = scan(&["--no-ignore"]);
        assert_eq!(code, 1);
        let paths: Vec<String> = places(&stdout).into_iter().map(|p| p.0).collect();
        assert_eq!(paths.len(), 7, "{paths:?}");
        assert!(paths.contains(&"private/.env".to_owned()));
        assert!(!paths.iter().any(|p| p.starts_with("fixtures")));
    }
}

/// `text` in UTF-16 or UTF-32 (`wide`), big or little endian, with or without a byte
/// order mark.
fn encode(text: &str, wide: bool, big_endian: bool, bom: bool) -> Vec<u8> {
    let text = if bom {
        format!("\u{FEFF}{text}")
    } else {
        text.to_owned()
    };
    let mut out = Vec::new();
    if wide {
        for c in text.chars() {
            let c = u32::from(c);
            out.extend_from_slice(&if big_endian {
                c.to_be_bytes()
            } else {
                c.to_le_bytes()
            });
        }
    } else {
        for u in text.encode_utf16() {
            out.extend_from_slice(&if big_endian {
                u.to_be_bytes()
            } else {
                u.to_le_bytes()
            });
        }
    }
    out
}

#[test]
fn utf16_and_utf32_files_are_decoded_and_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Line 3, after a character outside the BMP (a surrogate pair in UTF-16: one
    // character) and a non-ASCII one: the key starts in column 7 of what an editor shows.
    let text = |k: &str| format!("# settings\r\nname = ü\r\n😀é = \"{k}\"\r\n");
    let mut expected = Vec::new();
    let mut keys = Vec::new();
    for wide in [false, true] {
        for big_endian in [false, true] {
            for bom in [true, false] {
                let k = key("sk", "live");
                let name = format!(
                    "{}-{}-{}.ini",
                    if wide { "utf32" } else { "utf16" },
                    if big_endian { "be" } else { "le" },
                    if bom { "bom" } else { "nobom" }
                );
                write(root, &name, encode(&text(&k), wide, big_endian, bom));
                let hint = keyward_core::ApiKey::parse(&k).unwrap().hint().to_owned();
                expected.push((name, 3, 7, hint));
                keys.push(k);
            }
        }
    }
    expected.sort();
    // A NUL in bytes that read as no text is still a binary, skipped even with a key in
    // it, and named in the report.
    let skipped = key("sk", "dev");
    let mut binary = b"\xFF\x00\xFE".to_vec();
    binary.extend_from_slice(skipped.as_bytes());
    write(root, "blob.dat", &binary);
    // A key on an allowlisted line of a UTF-16 file is not reported.
    write(
        root,
        "docs/example.txt",
        encode(&format!("{skipped} keyward:allow\n"), false, false, true),
    );
    keys.push(skipped);
    let all: Vec<&str> = keys.iter().map(String::as_str).collect();

    let (code, stdout, stderr) = run(keyward(root).args(["scan", "--json"]), &all);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(places(&stdout), expected);
    assert_eq!(
        reasons(&stdout, "skipped"),
        pairs(&[("blob.dat", "binary")])
    );
    assert!(
        stderr.contains("skipped 1 binary (--json lists them)"),
        "{stderr}"
    );

    // The text format says the same.
    let (code, stdout, _) = run(keyward(root).args(["scan", "utf16-le-nobom.ini"]), &all);
    assert_eq!(code, 1);
    assert!(
        stdout.starts_with("utf16-le-nobom.ini:3:7: keyward API key"),
        "{stdout}"
    );

    // stdin is read in windows: every encoding is decoded there too.
    for wide in [false, true] {
        let k = &keys[0];
        let out = stdin_scan(root, &encode(&text(k), wide, true, false));
        assert!(!out.contains(&k[12..]));
        let hint = keyward_core::ApiKey::parse(k).unwrap().hint().to_owned();
        assert_eq!(places(&out), vec![("-".to_owned(), 3, 7, hint)]);
    }
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
fn an_allow_marker_allows_only_the_key_right_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (a, b, c, d, e) = (
        key("sk", "live"),
        key("sk", "live"),
        key("acme", "test"),
        key("sk", "test"),
        key("sk", "dev"),
    );
    let hint = |k: &str| keyward_core::ApiKey::parse(k).unwrap().hint().to_owned();
    // A minified line: two keys, one marker after the second.
    write(
        root,
        "dist/app.min.js",
        format!("var a=\"{a}\",b=\"{b}\";/* keyward:allow */var z=1;\n"),
    );
    // A marker after each key allows both; a marker before a key allows nothing.
    write(
        root,
        "docs/two.md",
        format!("`{c}` <!-- keyward:allow --> and `{d}` <!-- keyward:allow -->\n"),
    );
    write(
        root,
        "src/before.py",
        format!("# keyward:allow\nX = 1  # keyward:allow {e}\n"),
    );
    let keys = [a.as_str(), b.as_str(), c.as_str(), d.as_str(), e.as_str()];
    let (code, stdout, _) = run(keyward(root).args(["scan", "--json"]), &keys);
    assert_eq!(code, 1);
    assert_eq!(
        places(&stdout),
        vec![
            ("dist/app.min.js".to_owned(), 1, 8, hint(&a)),
            ("src/before.py".to_owned(), 2, 24, hint(&e)),
        ]
    );
    // What a marker allows does not depend on --vendor: with only acme keys looked for,
    // the marker after an sk key still does not allow the acme key before it.
    write(root, "mixed.txt", format!("{c} {a} // keyward:allow\n"));
    let (code, stdout, _) = run(
        keyward(root).args(["scan", "--json", "--vendor", "acme", "mixed.txt"]),
        &keys,
    );
    assert_eq!(code, 1);
    assert_eq!(
        places(&stdout),
        vec![("mixed.txt".to_owned(), 1, 1, hint(&c))]
    );
}

#[test]
fn a_utf8_byte_order_mark_is_not_a_column() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let k = key("sk", "live");
    write(root, "bom.env", format!("\u{FEFF}KEY={k}\n"));
    write(root, "bom2.txt", format!("\u{FEFF}\nKEY={k}\n"));
    let hint = keyward_core::ApiKey::parse(&k).unwrap().hint().to_owned();
    let (code, stdout, _) = run(keyward(root).args(["scan", "--json"]), &[&k]);
    assert_eq!(code, 1);
    assert_eq!(
        places(&stdout),
        vec![
            ("bom.env".to_owned(), 1, 5, hint.clone()),
            ("bom2.txt".to_owned(), 2, 5, hint.clone()),
        ]
    );
    // Streamed (stdin) the same.
    let out = stdin_scan(root, format!("\u{FEFF}KEY={k}\n").as_bytes());
    assert_eq!(places(&out), vec![("-".to_owned(), 1, 5, hint)]);
}

/// `keyward scan --json -` with `input` on stdin: its stdout.
fn stdin_scan(root: &Path, input: &[u8]) -> String {
    use std::io::Write as _;
    let mut child = keyward(root)
        .args(["scan", "--json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()
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
