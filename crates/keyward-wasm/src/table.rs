//! `memoryStore()`'s records, addressed by hash inside WebAssembly, so that the whole
//! check of a request (credential, parse, checksum, hash, lookup, decision, scopes,
//! counting) is one call. The use itself is the core's [`use_key`]: the table loads the
//! record and its windows, calls it, and saves what it says.

use std::collections::HashMap;

use keyward_core::limits::{MAX_COST, Window};
use keyward_core::{
    Code, Counts, DEFAULT_MEMO_SLOTS, HashMemo, KeyHash, KeyId, KeyRecord, UseAsk, UseOutcome,
    client_ip, use_key,
};
use wasm_bindgen::prelude::*;

use crate::check::{Check, MAX_SLOTS, Scopes, env_rule};
use crate::{error, optional_time, record_from_json};

/// Records addressed by hash, with each one's rate-limit windows and credit balance.
#[wasm_bindgen]
#[derive(Debug)]
pub struct KeyTable {
    slots: Vec<Option<KeyRecord>>,
    by_hash: HashMap<KeyHash, u32>,
    /// Each slot's rate-limit windows, by limit name.
    windows: Vec<HashMap<String, Window>>,
    /// Found keys' hashes by a keyed digest of the key (none if the CSPRNG failed).
    memo: Option<HashMemo>,
}

impl Default for KeyTable {
    fn default() -> Self {
        KeyTable::new()
    }
}

#[wasm_bindgen]
impl KeyTable {
    /// An empty table, with a memo of the hashes of the last keys it found
    /// ([`HashMemo`], [`DEFAULT_MEMO_SLOTS`] slots; none if the CSPRNG fails).
    #[wasm_bindgen(constructor)]
    pub fn new() -> KeyTable {
        KeyTable {
            memo: HashMemo::new(DEFAULT_MEMO_SLOTS).ok(),
            ..KeyTable::without_memo()
        }
    }

    /// An empty table that hashes every presented key.
    #[wasm_bindgen(js_name = withoutMemo)]
    pub fn without_memo() -> KeyTable {
        KeyTable {
            slots: Vec::new(),
            by_hash: HashMap::new(),
            windows: Vec::new(),
            memo: None,
        }
    }

    /// Adds a record given as JSON, or replaces the record with the same hash; returns
    /// its slot. Slots are never reused.
    ///
    /// # Errors
    /// `invalid_request` if it is not a key record (a field it does not have is named);
    /// `internal` past 2^27 records.
    pub fn add(&mut self, record_json: &str) -> Result<u32, JsValue> {
        let record = record_from_json(record_json)?;
        if let Some(&slot) = self.by_hash.get(&record.hash) {
            if let Some(s) = self.slots.get_mut(slot as usize) {
                *s = Some(record);
            }
            return Ok(slot);
        }
        let slot = u32::try_from(self.slots.len())
            .ok()
            .filter(|&s| s < MAX_SLOTS)
            .ok_or_else(|| error(Code::Internal, "too many records", None))?;
        self.by_hash.insert(record.hash, slot);
        self.slots.push(Some(record));
        self.windows.push(HashMap::new());
        Ok(slot)
    }

    /// Removes the record with this hash; whether there was one.
    pub fn remove(&mut self, hash: &str) -> bool {
        let Ok(hash) = hash.parse::<KeyHash>() else {
            return false;
        };
        match self.by_hash.remove(&hash) {
            Some(slot) => {
                if let Some(s) = self.slots.get_mut(slot as usize) {
                    *s = None;
                }
                true
            }
            None => false,
        }
    }

    /// The slot of the record with this hash, or -1.
    pub fn find(&self, hash: &str) -> i32 {
        hash.parse::<KeyHash>()
            .ok()
            .and_then(|h| self.by_hash.get(&h))
            .map_or(-1, |&s| i32::try_from(s).unwrap_or(-1))
    }

    /// The record in `slot` as JSON.
    pub fn get(&self, slot: u32) -> Option<String> {
        self.slots
            .get(slot as usize)
            .and_then(Option::as_ref)
            .and_then(|r| serde_json::to_string(r).ok())
    }

    /// How many records.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> usize {
        self.by_hash.len()
    }

    /// The whole check of a request in one call: the credential from its header values,
    /// then [`KeyTable::check`]. Returns the outcome.
    #[wasm_bindgen(js_name = checkRequest)]
    #[allow(clippy::too_many_arguments)]
    pub fn check_request(
        &mut self,
        authorization: Option<String>,
        x_api_key: Option<String>,
        env: &str,
        scopes: &Scopes,
        now_ms: f64,
        cost: u32,
        client: Option<String>,
        out: &mut Check,
    ) -> f64 {
        match keyward_core::credential(authorization.as_deref(), x_api_key.as_deref()) {
            Ok(key) => self.check(key, env, scopes, now_ms, cost, client, out),
            Err(e) => {
                out.refuse_credential(e);
                out.outcome()
            }
        }
    }

    /// The whole check of a presented key in one call: parse and checksum (refusing junk
    /// before any lookup), SHA-256, lookup by hash, then the core's decision for `env`
    /// (`""`: the key's own) at `now_ms` needing every scope of `scopes`, with the
    /// record's restrictions for a use from `client` (the client's address; `undefined`:
    /// unknown, which a record with allowed networks refuses); a valid use of a counted
    /// key is then counted as `cost` units (1 to `MAX_COST`) under the record's rate
    /// limits and credits, whose balance the table keeps. A refused use counts nothing.
    /// Returns the [outcome](crate::check::Check::outcome).
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        &mut self,
        key: &str,
        env: &str,
        scopes: &Scopes,
        now_ms: f64,
        cost: u32,
        client: Option<String>,
        out: &mut Check,
    ) -> f64 {
        out.present_through(key, self.memo.as_ref());
        let Some(hash) = out.presented_hash() else {
            return out.outcome();
        };
        let Some(now) = optional_time(now_ms) else {
            out.code = Code::InvalidRequest;
            return out.outcome();
        };
        let KeyTable {
            slots,
            by_hash,
            windows,
            memo,
        } = self;
        let Some(slot) = by_hash.get(&hash).map(|&s| s as usize) else {
            out.code = Code::UnknownKey;
            return out.outcome();
        };
        // Found: the memo may keep its hash.
        if let (Some(memo), Some(tag)) = (memo.as_mut(), out.memo_tag()) {
            memo.keep(tag, &hash);
        }
        let (Some(Some(record)), Some(kept)) = (slots.get_mut(slot), windows.get_mut(slot)) else {
            out.code = Code::UnknownKey;
            return out.outcome();
        };
        // A cost out of range is refused, but only for a use that would pass: the ask is
        // then a look, counted by nothing.
        let cost = Some(cost).filter(|c| (1..=MAX_COST).contains(c));
        let ask = UseAsk {
            hash: &hash,
            key_env: out.key_env(),
            rule: env_rule(env),
            required: &scopes.scopes,
            cost,
            defaults: &[],
            client: Some(client.as_deref().and_then(client_ip)),
        };
        let Ok(outcome) = use_key(Some(record), &ask, &mut SlotCounts(kept), now);
        let UseOutcome {
            verdict,
            report,
            counted,
            windows,
            holder,
            ..
        } = outcome;
        out.set_use(&verdict, report, counted, &scopes.scopes);
        if verdict.code() != Code::UnknownKey {
            out.slot = i32::try_from(slot).unwrap_or(-1);
        }
        // Saved as the outcome says: the windows moved back (admitted or not), the
        // balance when it was charged.
        kept.extend(windows);
        if let Some(holder) = holder
            && holder.id == record.id
        {
            *record = holder;
        }
        if verdict.is_valid() && cost.is_none() {
            out.code = Code::InvalidRequest;
        }
        out.outcome()
    }
}

/// A slot's rate-limit windows, moved out for a use and put back after it; the table
/// follows no rotation (each record holds its own balance).
struct SlotCounts<'a>(&'a mut HashMap<String, Window>);

impl Counts for SlotCounts<'_> {
    type Error = core::convert::Infallible;

    fn window(&mut self, name: &str) -> Result<Window, Self::Error> {
        Ok(self.0.remove(name).unwrap_or_default())
    }

    fn record(&mut self, _: &KeyId) -> Result<Option<KeyRecord>, Self::Error> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use keyward_core::Scope;

    use super::*;

    /// A new live key and the JSON record of it a store holds: `scopes`, and `extra`'s
    /// fields (limits, credits) over the rest.
    fn key_and_record(scopes: &[&str], extra: serde_json::Value) -> (keyward_core::NewKey, String) {
        let new = keyward_core::ApiKey::generate("sk", "live").unwrap();
        let mut record = serde_json::json!({
            "id": "key_0123456789abcdef", "hash": KeyHash::of(new.key.expose_secret()).to_hex(),
            "hint": new.hint, "name": "ci", "owner": "o", "scopes": scopes,
            "env": "live", "created_at": "2026-01-01T00:00:00Z"
        });
        if let (Some(fields), Some(more)) = (record.as_object_mut(), extra.as_object()) {
            fields.extend(more.clone());
        }
        (new, record.to_string())
    }

    #[test]
    fn table_check_fills_code_slot_and_missing_scope() {
        let (new, record) = key_and_record(&["scans:read"], serde_json::json!({}));
        let key = new.key.expose_secret();
        let mut table = KeyTable::new();
        assert_eq!(table.add(&record).unwrap(), 0);
        let now = 1_780_000_000_000.0;
        let scopes = Scopes {
            scopes: vec![
                Scope::parse("scans:read").unwrap(),
                Scope::parse("x:y").unwrap(),
            ],
        };
        let none = Scopes::default();
        let mut out = Check::new();
        let o = table.check(key, "", &scopes, now, 1, None, &mut out);
        assert_eq!(
            (out.code, out.slot, out.missing),
            (Code::InsufficientScope, 0, 1)
        );
        assert_eq!(o, out.outcome());
        assert_eq!(out.hint(), Some(new.hint.clone()));
        table.check(key, "live", &none, now, 1, None, &mut out);
        assert_eq!((out.code, out.slot, out.missing), (Code::Valid, 0, -1));
        table.check(key, "test", &none, now, 1, None, &mut out);
        assert_eq!(out.code, Code::WrongEnvironment);
        table.check("nope", "", &none, now, 1, None, &mut out);
        assert_eq!(
            (out.code, out.slot, out.parsed()),
            (Code::Malformed, -1, false)
        );
        table.check_request(
            Some(format!("Bearer {key}")),
            Some(key.into()),
            "",
            &none,
            now,
            1,
            None,
            &mut out,
        );
        assert_eq!(out.code, Code::InvalidRequest);
    }

    #[test]
    fn a_table_counts_limits_and_credits() {
        let (new, record) = key_and_record(
            &[],
            serde_json::json!({
                "rate_limits": [{"name": "m", "limit": 3, "period": "1m"}],
                "credits": {"remaining": 4}
            }),
        );
        let key = new.key.expose_secret();
        let mut table = KeyTable::new();
        table.add(&record).unwrap();
        let none = Scopes::default();
        let mut out = Check::new();
        let now = 1_780_000_000_000.0;
        let mut codes = Vec::new();
        for i in 0..4 {
            table.check(key, "live", &none, now + f64::from(i), 1, None, &mut out);
            codes.push(out.code);
        }
        assert_eq!(
            codes,
            [Code::Valid, Code::Valid, Code::Valid, Code::RateLimited]
        );
        assert!(out.metered());
        assert!(out.headers().iter().any(|h| h == "Retry-After"));
        table.check(key, "live", &none, now + 60_000.0, 2, None, &mut out);
        assert_eq!(out.code, Code::UsageExceeded, "1 credit left, cost 2");
        table.check(key, "live", &none, now + 60_000.0, 1001, None, &mut out);
        assert_eq!(out.code, Code::InvalidRequest);
        let kept: serde_json::Value = serde_json::from_str(&table.get(0).unwrap()).unwrap();
        assert_eq!(kept["credits"]["remaining"], 1);
    }

    #[test]
    fn a_restricted_record_is_refused_before_it_is_counted() {
        let new = keyward_core::ApiKey::generate("sk", "live").unwrap();
        let key = new.key.expose_secret();
        let mut table = KeyTable::new();
        let record = serde_json::json!({
            "id": "key_0123456789abcdef", "hash": KeyHash::of(key).to_hex(),
            "hint": new.hint, "name": "ci", "owner": "o", "scopes": [],
            "env": "live", "created_at": "2026-01-01T00:00:00Z",
            "allowed_ips": ["203.0.113.0/24"], "not_before": "2026-06-01T00:00:00Z",
            "credits": {"remaining": 1}
        });
        table.add(&record.to_string()).unwrap();
        let none = Scopes::default();
        let mut out = Check::new();
        let start = 1_780_272_000_000.0; // 2026-06-01T00:00:00Z
        let ip = |s: &str| Some(s.to_owned());
        table.check(
            key,
            "live",
            &none,
            start - 1.0,
            1,
            ip("203.0.113.9"),
            &mut out,
        );
        assert_eq!(out.code, Code::NotYetValid);
        for client in [None, ip("198.51.100.1"), ip("fe80::1%eth0")] {
            table.check(key, "live", &none, start, 1, client, &mut out);
            assert_eq!((out.code, out.metered()), (Code::IpNotAllowed, false));
        }
        table.check(
            key,
            "live",
            &none,
            start,
            1,
            ip("::ffff:203.0.113.9"),
            &mut out,
        );
        assert_eq!(
            out.code,
            Code::Valid,
            "the one credit was not spent by refusals"
        );
        table.check(key, "live", &none, start, 1, ip("203.0.113.9"), &mut out);
        assert_eq!(out.code, Code::UsageExceeded);
    }

    #[test]
    fn the_memo_keeps_found_keys_only_and_decides_every_use_again() {
        let (new, record) = key_and_record(&[], serde_json::json!({}));
        let key = new.key.expose_secret();
        let stranger = keyward_core::ApiKey::generate("sk", "live").unwrap();
        let mut table = KeyTable::new();
        table.add(&record).unwrap();
        let none = Scopes::default();
        let mut out = Check::new();
        let now = 1_780_000_000_000.0;
        let held = |t: &KeyTable, k: &str| t.memo.as_ref().is_some_and(|m| m.holds(k));

        // A key with a valid checksum that no record has: refused, and not kept.
        table.check(
            stranger.key.expose_secret(),
            "",
            &none,
            now,
            1,
            None,
            &mut out,
        );
        assert_eq!(out.code, Code::UnknownKey);
        assert!(!held(&table, stranger.key.expose_secret()));
        // Found, even when refused (another environment): kept.
        table.check(key, "test", &none, now, 1, None, &mut out);
        assert_eq!(out.code, Code::WrongEnvironment);
        assert!(held(&table, key));
        table.check(key, "live", &none, now, 1, None, &mut out);
        assert_eq!(
            (out.code, out.hash()),
            (Code::Valid, Some(KeyHash::of(key).to_hex()))
        );

        // Revoked, then removed, after the memo kept it: each use decided on the record then.
        let mut revoked: serde_json::Value = serde_json::from_str(&record).unwrap();
        revoked["revoked_at"] = serde_json::json!("2026-01-02T00:00:00Z");
        table.add(&revoked.to_string()).unwrap();
        table.check(key, "live", &none, now, 1, None, &mut out);
        assert_eq!(out.code, Code::Revoked);
        table.remove(&KeyHash::of(key).to_hex());
        table.check(key, "live", &none, now, 1, None, &mut out);
        assert_eq!((out.code, out.slot), (Code::UnknownKey, -1));

        // Without the memo: the same answers, nothing kept.
        let mut plain = KeyTable::without_memo();
        plain.add(&record).unwrap();
        plain.check(key, "live", &none, now, 1, None, &mut out);
        assert_eq!(out.code, Code::Valid);
        assert!(plain.memo.is_none());
    }
}
