//! The repository's `.gitleaks.toml` rule, checked against the shared parse vectors with
//! the `regex` crate (gitleaks uses Go's RE2; the rule keeps to the syntax both share).
//!
//! A regex sees the key's shape, not its CRC32: it must match every valid key, and every
//! checksum failure too (it cannot tell them apart); it must never match a malformed
//! input as a whole, and whatever it does find inside one must be well formed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyward_core::{ApiKey, ApiKeyRef, ParseError};
use regex::Regex;
use serde_json::Value;

struct Rule {
    regex: Regex,
    group: usize,
    keywords: Vec<String>,
}

fn rule() -> Rule {
    let text = include_str!("../../../.gitleaks.toml");
    let doc: toml::Table = text.parse().unwrap();
    let rules = doc["rules"].as_array().unwrap();
    let rule = rules
        .iter()
        .find(|r| r["id"].as_str() == Some("keyward-api-key"))
        .expect("a keyward-api-key rule");
    assert!(!rule["description"].as_str().unwrap().is_empty());
    Rule {
        regex: Regex::new(rule["regex"].as_str().unwrap()).unwrap(),
        group: usize::try_from(rule["secretGroup"].as_integer().unwrap()).unwrap(),
        keywords: rule["keywords"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_owned())
            .collect(),
    }
}

impl Rule {
    /// What gitleaks would report: the secret group of every match.
    fn secrets<'a>(&self, text: &'a str) -> Vec<&'a str> {
        self.regex
            .captures_iter(text)
            .map(|c| c.get(self.group).unwrap().as_str())
            .collect()
    }

    /// Gitleaks runs a rule only on text holding one of its keywords (case-insensitive).
    fn keyword_hit(&self, text: &str) -> bool {
        let lower = text.to_lowercase();
        self.keywords
            .iter()
            .any(|k| lower.contains(&k.to_lowercase()))
    }
}

fn cases() -> Vec<(String, String, Value)> {
    let v: Value = serde_json::from_str(include_str!("../../../tests/vectors/parse.json")).unwrap();
    v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let input = match &c["input"] {
                Value::String(s) => s.clone(),
                Value::Object(o) => format!(
                    "{}{}",
                    o.get("prefix").and_then(Value::as_str).unwrap_or(""),
                    o["repeat"]
                        .as_str()
                        .unwrap()
                        .repeat(usize::try_from(o["times"].as_u64().unwrap()).unwrap())
                ),
                other => panic!("unexpected input {other}"),
            };
            let outcome = if c.get("expect").is_some() {
                c["expect"].clone()
            } else {
                c["error"].clone()
            };
            (c["name"].as_str().unwrap().to_owned(), input, outcome)
        })
        .collect()
}

#[test]
fn rule_matches_every_valid_key() {
    let rule = rule();
    let mut n = 0;
    for (name, input, _) in cases() {
        if ApiKeyRef::parse(&input).is_err() {
            continue;
        }
        n += 1;
        assert!(rule.keyword_hit(&input), "{name}: no keyword");
        assert_eq!(rule.secrets(&input), vec![&input[..]], "{name}: bare");
        for text in [
            format!("KEYWARD_TOKEN={input}\n"),
            format!("{{\"api_key\": \"{input}\"}}"),
            format!("api_key: '{input}'"),
            format!("const key = `{input}`;"),
            format!("Authorization: Bearer {input}\r\n"),
        ] {
            assert_eq!(rule.secrets(&text), vec![&input[..]], "{name}: in {text:?}");
        }
    }
    assert!(n >= 5, "the vectors hold valid keys");
}

#[test]
fn rule_matches_generated_keys_of_any_prefix() {
    let rule = rule();
    for (vendor, env) in [
        ("sk", "live"),
        ("sk", "test"),
        ("acme", "staging"),
        ("x9", "eu2"),
        ("a", "b"),
        ("abcdefghijklmnop", "qrstuvwxyz012345"),
    ] {
        for _ in 0..50 {
            let new = ApiKey::generate(vendor, env).unwrap();
            let key = new.key.expose_secret();
            assert!(rule.keyword_hit(key));
            assert_eq!(rule.secrets(&format!("x = \"{key}\"")), vec![key]);
        }
    }
}

#[test]
fn rule_cannot_check_the_checksum() {
    // A regex has no CRC32: every checksum failure of the right shape matches. This is the
    // limit of a regex rule, and why `keyward scan` validates candidates instead.
    let rule = rule();
    let mut n = 0;
    for (name, input, _) in cases() {
        if ApiKeyRef::parse(&input) != Err(ParseError::BadChecksum) {
            continue;
        }
        n += 1;
        assert_eq!(rule.secrets(&input), vec![&input[..]], "{name}");
    }
    assert!(n >= 3);
}

#[test]
fn rule_refuses_malformed_inputs() {
    let rule = rule();
    let mut n = 0;
    for (name, input, outcome) in cases() {
        let Err(ParseError::Malformed(_)) = ApiKeyRef::parse(&input) else {
            continue;
        };
        assert_eq!(outcome["code"], "malformed", "{name}");
        n += 1;
        for secret in rule.secrets(&input) {
            // Never the malformed input itself...
            assert_ne!(secret, input, "{name}: matched as a whole");
            // ...and only well-formed keys inside it: a valid key with a space or
            // "Bearer " before it or a newline after it is still a key; a bad checksum
            // (e.g. a vendor cut after a non-ASCII letter) is the regex's known limit.
            match ApiKeyRef::parse(secret) {
                Ok(_) | Err(ParseError::BadChecksum) => {}
                Err(e) => panic!("{name}: matched malformed {secret:?}: {e}"),
            }
        }
    }
    assert!(n >= 15);

    // The inputs that merely wrap a valid key yield exactly that key.
    let live = "sk_live_EyjWrnpz412femvE1HSRDfyp6BuUL8IP3zztYpyRo2s4MALsQ"; // keyward:allow (a vector)
    for text in [
        format!(" {live}"),
        format!("Bearer {live}"),
        format!("{live}\n"),
    ] {
        assert_eq!(rule.secrets(&text), vec![live]);
    }
}

#[test]
fn rule_refuses_other_shapes() {
    let rule = rule();
    let live = "sk_live_EyjWrnpz412femvE1HSRDfyp6BuUL8IP3zztYpyRo2s4MALsQ"; // keyward:allow (a vector)
    for text in [
        format!("{live}A"),                     // one character too long: a longer token
        live.replacen("sk_live", "SK_LIVE", 1), // uppercase prefixes
        live[..live.len() - 1].to_owned(),      // one character short
        "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB".to_owned(),
        "AKIAIOSFODNN7EXAMPLE".to_owned(),
        "xoxb-123456789012-1234567890123-abcdefghijklmnopqrstuvwx".to_owned(),
    ] {
        assert!(rule.secrets(&text).is_empty(), "{text}");
    }
}
