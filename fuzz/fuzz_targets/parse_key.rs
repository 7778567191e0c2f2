//! Any bytes: parsing never panics, and whatever parses re-checks, hashes and hints
//! consistently without showing the secret.
#![no_main]

use keyward_core::{ApiKey, ApiKeyRef, KeyHash, Scope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Scope::parse(s);
    if let Ok(key) = ApiKeyRef::parse(s) {
        let owned: ApiKey = s.parse().expect("borrowed and owned parsers agree");
        assert_eq!(owned.hash(), KeyHash::of(s));
        assert_eq!(owned.hint(), key.hint());
        assert!(!format!("{owned:?}").contains(&s[s.len() - 10..]));
    } else {
        assert!(s.parse::<ApiKey>().is_err());
    }
});
