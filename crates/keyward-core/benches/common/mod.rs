//! The key and record both benchmarks verify.

use keyward_core::chrono::{DateTime, TimeZone, Utc};
use keyward_core::{ApiKey, KeyId, KeyRecord, NewRecord, OsRandom, Scope, ScopeSet};

/// A fresh live key, its record with three scopes, the scope a use asks for and the time.
pub fn key_and_record() -> (String, KeyRecord, [Scope; 1], DateTime<Utc>) {
    let new = ApiKey::generate("sk", "live").unwrap();
    let now = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
    let scopes = ScopeSet::parse(&["repos:read", "scans:read", "scans:trigger"]).unwrap();
    let record = KeyRecord::new(
        KeyId::generate(&mut OsRandom).unwrap(),
        &new,
        NewRecord::new("bench", "bench", scopes, "live"),
        now,
    );
    let raw = new.key.expose_secret().to_owned();
    (raw, record, [Scope::parse("scans:read").unwrap()], now)
}
