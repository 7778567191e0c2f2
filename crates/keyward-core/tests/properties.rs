//! Property tests: generation round-trips through parsing, and any single-character
//! change to a key is caught.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keyward_core::{ApiKey, KeyHash, ParseError};
use proptest::prelude::*;

fn prefix() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,15}"
}

fn seeded(seed: [u8; 32]) -> impl FnMut(&mut [u8]) {
    move |buf: &mut [u8]| {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = seed[i % 32];
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_keys_parse_back(vendor in prefix(), env in prefix(), seed in any::<[u8; 32]>()) {
        let new = ApiKey::generate_with(&vendor, &env, &mut seeded(seed)).unwrap();
        let raw = new.key.expose_secret();
        let parsed: ApiKey = raw.parse().unwrap();
        prop_assert_eq!(parsed.vendor(), vendor.as_str());
        prop_assert_eq!(parsed.env(), env.as_str());
        prop_assert_eq!(parsed.hint(), new.hint.clone());
        prop_assert_eq!(parsed.hash(), new.hash);
        prop_assert_eq!(new.hash, KeyHash::of(raw));
        prop_assert_eq!(raw.len(), vendor.len() + env.len() + 2 + 43 + 6);
    }

    #[test]
    fn any_single_character_change_is_caught(
        vendor in prefix(),
        env in prefix(),
        seed in any::<[u8; 32]>(),
        position in any::<prop::sample::Index>(),
        replacement in any::<char>(),
    ) {
        let new = ApiKey::generate_with(&vendor, &env, &mut seeded(seed)).unwrap();
        let raw = new.key.expose_secret();
        let mut chars: Vec<char> = raw.chars().collect();
        let at = position.index(chars.len());
        prop_assume!(chars[at] != replacement);
        chars[at] = replacement;
        let changed: String = chars.into_iter().collect();
        let result = changed.parse::<ApiKey>();
        prop_assert!(
            matches!(result, Err(ParseError::Malformed(_) | ParseError::BadChecksum)),
            "a change at {} was not caught", at
        );
    }

    #[test]
    fn parsing_never_panics(s in any::<String>()) {
        let _ = s.parse::<ApiKey>();
    }

    #[test]
    fn key_shaped_junk_is_refused(vendor in prefix(), env in prefix(), body in "[A-Za-z0-9_-]{49}") {
        // Random bodies have a 1 in 2^32 chance of a matching checksum.
        let s = format!("{vendor}_{env}_{body}");
        prop_assert_eq!(s.parse::<ApiKey>().err(), Some(ParseError::BadChecksum));
    }
}

#[test]
fn os_random_keys_differ() {
    let a = ApiKey::generate("sk", "live").unwrap();
    let b = ApiKey::generate("sk", "live").unwrap();
    assert_ne!(a.key.expose_secret(), b.key.expose_secret());
    assert_ne!(a.hash, b.hash);
}
