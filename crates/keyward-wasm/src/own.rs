//! A store of the app's own (`findByHash`): each record it finds, read whole once (the
//! core's [`KeyRecord`], as `memoryStore()` reads one) and kept inside WebAssembly, and
//! the rate-limit windows of its keys, kept in this process. A use is the core's
//! [`use_key`](keyward_core::use_key), as for `memoryStore()`: the package fetches the
//! record, calls, and answers what the outcome says; whether and how the use is counted
//! is decided there.

use std::collections::HashMap;

use keyward_core::limits::{MAX_COST, Window};
use keyward_core::{
    Code, Counts, DEFAULT_MEMO_SLOTS, HashMemo, KeyId, KeyRecord, UseAsk, UseOutcome, client_ip,
    use_key as core_use_key,
};
use wasm_bindgen::prelude::*;

use crate::check::{Check, Env, Scopes, env_rule};
use crate::hash_text::HashTexts;
use crate::{optional_time, record_from_json};

/// Keys whose windows [`OwnUses`] keeps before it forgets idle ones.
const KEPT_KEYS: usize = 100_000;

/// A record a store of the app's own found, read whole once.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Found {
    record: KeyRecord,
}

#[wasm_bindgen]
impl Found {
    /// The record given as JSON, read as `memoryStore().add` reads one.
    ///
    /// # Errors
    /// `invalid_request` if it is not a key record (a field it does not have is named).
    #[wasm_bindgen(constructor)]
    pub fn new(record_json: &str) -> Result<Found, JsValue> {
        record_from_json(record_json).map(|record| Found { record })
    }
}

/// The rate-limit windows of a store of the app's own, by key id: exact within the
/// process (each use is one synchronous call; JavaScript runs one at a time).
#[wasm_bindgen]
#[derive(Debug, Default)]
pub struct OwnUses {
    keys: HashMap<KeyId, HashMap<String, Window>>,
    /// The presented hash's text for the lookup (see [`HashTexts`]).
    texts: HashTexts,
    /// Where the package writes a presented key for [`presentWritten`](Self::present_written)
    /// (zeroed again by it).
    key: KeyBuffer,
    /// The hashes of the last keys the app's store found, by a keyed digest of the key.
    memo: Option<HashMemo>,
}

/// [`KEY_BUFFER`] bytes: room for any key (83 characters at most) and more.
#[derive(Debug)]
struct KeyBuffer([u8; KEY_BUFFER]);

impl Default for KeyBuffer {
    fn default() -> Self {
        KeyBuffer([0; KEY_BUFFER])
    }
}

/// The bytes of [`OwnUses`]'s key buffer.
pub const KEY_BUFFER: usize = 128;

#[wasm_bindgen]
impl OwnUses {
    /// No windows yet.
    #[wasm_bindgen(constructor)]
    pub fn new() -> OwnUses {
        OwnUses {
            memo: HashMemo::new(DEFAULT_MEMO_SLOTS).ok(),
            ..OwnUses::default()
        }
    }

    /// [`Check::present`]s `key` in `out`, then gives its hash as the text a store of the
    /// app's own is looked up by: the index of the string the package holds for it
    /// ([`rememberHash`](Self::remember_hash)), or -1 with its lowercase hex written at
    /// [`hexAt`](Self::hex_at), or -2 when the key did not parse (`out`'s code says why).
    #[wasm_bindgen(js_name = presentHash)]
    pub fn present_hash(&mut self, key: &str, out: &mut Check) -> f64 {
        out.present_through(key, self.memo.as_ref());
        self.texts.present(out.presented_hash().as_ref())
    }

    /// [`presentHash`](Self::present_hash) of the `len` bytes of text the package wrote at
    /// [`keyAt`](Self::key_at) (a key as ASCII: no string crosses, nothing is allocated),
    /// then zeroes them. More than [`KEY_BUFFER`] bytes, or bytes that are not UTF-8, are
    /// no key: `malformed`.
    #[wasm_bindgen(js_name = presentWritten)]
    pub fn present_written(&mut self, len: usize, out: &mut Check) -> f64 {
        let written = self.key.0.get(..len).unwrap_or_default();
        out.present_through(
            std::str::from_utf8(written).unwrap_or_default(),
            self.memo.as_ref(),
        );
        self.key.0.fill(0);
        self.texts.present(out.presented_hash().as_ref())
    }

    /// Where in WebAssembly's memory the [`KEY_BUFFER`] bytes that
    /// [`presentWritten`](Self::present_written) reads are: fixed for this object's life.
    #[wasm_bindgen(getter, js_name = keyAt)]
    pub fn key_at(&self) -> usize {
        self.key.0.as_ptr().addr()
    }

    /// [`Check::present_request`] (the credential of a request's `Authorization` and
    /// `X-API-Key` values), then its hash as [`presentHash`](Self::present_hash) gives it.
    #[wasm_bindgen(js_name = presentRequestHash)]
    pub fn present_request_hash(
        &mut self,
        authorization: Option<String>,
        x_api_key: Option<String>,
        out: &mut Check,
    ) -> f64 {
        out.present_request_through(authorization, x_api_key, self.memo.as_ref());
        self.texts.present(out.presented_hash().as_ref())
    }

    /// The index under which the package is to hold the text of the hash presented in
    /// `out` (its lookup found a record), which [`presentHash`](Self::present_hash) then
    /// gives for it; at most [`KNOWN_MAX`](crate::hash_text::KNOWN_MAX) are held, the
    /// oldest index reused first. -1 when `out` holds no hash.
    #[wasm_bindgen(js_name = rememberHash)]
    pub fn remember_hash(&mut self, out: &Check) -> i32 {
        out.presented_hash()
            .map_or(-1, |h| i32::try_from(self.texts.remember(&h)).unwrap_or(-1))
    }

    /// Where in WebAssembly's memory ([`wasmMemory`](crate::hash_text::wasm_memory)) the
    /// 64 bytes of a hex [`presentHash`](Self::present_hash) wrote are: fixed for this
    /// object's life.
    #[wasm_bindgen(getter, js_name = hexAt)]
    pub fn hex_at(&self) -> usize {
        self.texts.hex_at()
    }

    /// The whole use of the key [`present`](Check::present)ed in `out`, `found` being the
    /// record its hash found: the core's [`use_key`](core_use_key) in environment `env`
    /// (`""`: the key's own) needing every scope of `required` at `now_ms`, with the
    /// record's restrictions for a use from `client` (`undefined`: unknown), counted as
    /// `cost` units (1 to `MAX_COST`) under the record's rate limits in this process.
    /// Fills `out`; returns the [outcome](crate::check::Check::outcome). A refused use
    /// counts nothing.
    ///
    /// A use that would spend credits is the code `internal`, with a
    /// [note](Check::note) saying so (the package throws it: never a pass): the balance is
    /// the app's record's, which this process cannot write, so it would live nowhere. The
    /// use is given back whole first (its windows hold nothing of it). The outcome is a
    /// number, not a `Result`, for this call is on every check of such a store.
    #[wasm_bindgen(js_name = useKey)]
    #[allow(clippy::too_many_arguments)]
    pub fn use_key(
        &mut self,
        found: &Found,
        env: &Env,
        required: &Scopes,
        now_ms: f64,
        cost: u32,
        client: Option<String>,
        out: &mut Check,
    ) -> f64 {
        match self.use_found(found, env, required, now_ms, cost, client, out) {
            Ok(outcome) => outcome,
            Err(SpendsCredits) => out.refuse(Code::Internal, SPENDS_CREDITS),
        }
    }
}

/// What a use that would spend credits is refused with (see [`OwnUses::use_key`]).
const SPENDS_CREDITS: &str =
    "a store of your own cannot spend credits: use memoryStore() or remoteStore()";

/// A use of a store of one's own that would spend credits (see [`OwnUses::use_key`]).
#[derive(Debug, PartialEq, Eq)]
pub struct SpendsCredits;

impl OwnUses {
    #[allow(clippy::too_many_arguments)]
    fn use_found(
        &mut self,
        found: &Found,
        env: &Env,
        required: &Scopes,
        now_ms: f64,
        cost: u32,
        client: Option<String>,
        out: &mut Check,
    ) -> Result<f64, SpendsCredits> {
        let (Some(hash), Some(now)) = (out.presented_hash(), optional_time(now_ms)) else {
            out.code = Code::InvalidRequest;
            return Ok(out.outcome());
        };
        let record = &found.record;
        // A cost out of range is refused, but only for a use that would pass: the ask is
        // then a look, counted by nothing.
        let cost = Some(cost).filter(|c| (1..=MAX_COST).contains(c));
        let ask = UseAsk {
            hash: &hash,
            key_env: out.key_env(),
            rule: env_rule(&env.name),
            required: &required.scopes,
            cost,
            defaults: &[],
            client: Some(client.as_deref().and_then(client_ip)),
        };
        let mut counts = KeyWindows {
            keys: &mut self.keys,
            id: &record.id,
        };
        let Ok(outcome) = core_use_key(Some(record), &ask, &mut counts, now);
        // The app's store found the key: the memo may keep its hash.
        if let (Some(memo), Some(tag), false) = (
            self.memo.as_mut(),
            out.memo_tag(),
            outcome.verdict.code() == Code::UnknownKey,
        ) {
            memo.keep(tag, &hash);
        }
        let UseOutcome {
            verdict,
            report,
            counted,
            admitted,
            mut windows,
            ..
        } = outcome;
        if report.credits.is_some() {
            if let (true, Some(cost)) = (admitted, cost) {
                let back = report.give_back(cost);
                for (_, w) in &mut windows {
                    w.refund(back.at_ms, back.cost);
                }
            }
            self.keep(&record.id, windows, now.timestamp_millis());
            return Err(SpendsCredits);
        }
        self.keep(&record.id, windows, now.timestamp_millis());
        out.set_use(&verdict, report, counted, &required.scopes);
        if verdict.is_valid() && cost.is_none() {
            out.code = Code::InvalidRequest;
        }
        Ok(out.outcome())
    }

    /// Puts back the windows a use moved out (admitted or not), forgetting the keys whose
    /// windows hold nothing that still counts when a new key would pass the bound.
    fn keep(&mut self, id: &KeyId, windows: Vec<(String, Window)>, now_ms: i64) {
        if windows.is_empty() {
            return;
        }
        if self.keys.len() >= KEPT_KEYS && !self.keys.contains_key(id) {
            self.keys
                .retain(|_, ws| ws.values().any(|w| !w.is_idle(now_ms)));
        }
        self.keys.entry(id.clone()).or_default().extend(windows);
    }
}

/// One key's windows, moved out for a use (and put back by [`OwnUses::keep`]); a store of
/// one's own is asked for no other record, so a rotation's successor is none.
struct KeyWindows<'a> {
    keys: &'a mut HashMap<KeyId, HashMap<String, Window>>,
    id: &'a KeyId,
}

impl Counts for KeyWindows<'_> {
    type Error = core::convert::Infallible;

    fn window(&mut self, name: &str) -> Result<Window, Self::Error> {
        Ok(self
            .keys
            .get_mut(self.id)
            .and_then(|ws| ws.remove(name))
            .unwrap_or_default())
    }

    fn record(&mut self, _: &KeyId) -> Result<Option<KeyRecord>, Self::Error> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use keyward_core::{ApiKey, KeyHash};

    use super::*;

    /// A new live key and its record with `extra`'s fields over the rest.
    fn key_and_found(extra: serde_json::Value) -> (keyward_core::NewKey, Found) {
        let new = ApiKey::generate("sk", "live").unwrap();
        let mut record = serde_json::json!({
            "id": "key_0123456789abcdef", "hash": KeyHash::of(new.key.expose_secret()).to_hex(),
            "hint": new.hint, "name": "ci", "owner": "o", "scopes": ["scans:read"],
            "env": "live", "created_at": "2026-01-01T00:00:00Z"
        });
        if let (Some(fields), Some(more)) = (record.as_object_mut(), extra.as_object()) {
            fields.extend(more.clone());
        }
        (new, Found::new(&record.to_string()).unwrap())
    }

    const NOW: f64 = 1_780_000_000_000.0;

    #[test]
    fn a_found_record_is_decided_and_counted_by_the_core() {
        let (new, found) = key_and_found(serde_json::json!({
            "rate_limit": {"requests": 2, "window_seconds": 10}
        }));
        let mut uses = OwnUses::new();
        let mut out = Check::new();
        let none = Scopes::default();
        let any = Env::default();
        let mut codes = Vec::new();
        for i in 0..3 {
            out.present(new.key.expose_secret());
            uses.use_found(&found, &any, &none, NOW + f64::from(i), 1, None, &mut out)
                .unwrap();
            codes.push(out.code);
        }
        assert_eq!(codes, [Code::Valid, Code::Valid, Code::RateLimited]);
        let usage: serde_json::Value = serde_json::from_str(&out.usage().unwrap()).unwrap();
        assert_eq!(usage["limits"][0]["name"], "default", "the previous format");

        out.present(new.key.expose_secret());
        let write = Scopes::new(vec!["scans:write".into()]).unwrap();
        uses.use_found(&found, &any, &write, NOW, 1, None, &mut out)
            .unwrap();
        assert_eq!(
            (out.code, out.missing, out.metered()),
            (Code::InsufficientScope, 0, false)
        );
        out.present(new.key.expose_secret());
        uses.use_found(
            &found,
            &Env::new("test".into()),
            &none,
            NOW,
            1,
            None,
            &mut out,
        )
        .unwrap();
        assert_eq!(out.code, Code::WrongEnvironment);
        let other = ApiKey::generate("sk", "live").unwrap();
        out.present(other.key.expose_secret());
        uses.use_found(&found, &any, &none, NOW, 1, None, &mut out)
            .unwrap();
        assert_eq!(out.code, Code::UnknownKey, "another key's record");
        out.present(new.key.expose_secret());
        uses.use_found(&found, &any, &none, NOW + 60_000.0, 1001, None, &mut out)
            .unwrap();
        assert_eq!(out.code, Code::InvalidRequest, "a cost out of range");
    }

    #[test]
    fn credits_are_a_fault_that_counts_nothing() {
        let (new, paid) = key_and_found(serde_json::json!({
            "rate_limits": [{"name": "m", "limit": 1, "period": "1m"}],
            "credits": {"remaining": 5}
        }));
        let (_, unpaid) = key_and_found(serde_json::json!({
            "hash": KeyHash::of(new.key.expose_secret()).to_hex(),
            "rate_limits": [{"name": "m", "limit": 1, "period": "1m"}]
        }));
        let mut uses = OwnUses::new();
        let mut out = Check::new();
        let none = Scopes::default();
        for _ in 0..3 {
            out.present(new.key.expose_secret());
            let e = uses.use_found(&paid, &Env::default(), &none, NOW, 1, None, &mut out);
            assert_eq!(e, Err(SpendsCredits));
        }
        out.present(new.key.expose_secret());
        uses.use_found(&unpaid, &Env::default(), &none, NOW, 1, None, &mut out)
            .unwrap();
        assert_eq!(out.code, Code::Valid, "the refused uses were given back");
        out.present(new.key.expose_secret());
        uses.use_found(&unpaid, &Env::default(), &none, NOW, 1, None, &mut out)
            .unwrap();
        assert_eq!(out.code, Code::RateLimited);
    }

    #[test]
    fn restrictions_refuse_before_anything_is_counted() {
        let (new, found) = key_and_found(serde_json::json!({
            "allowed_ips": ["203.0.113.0/24"],
            "rate_limits": [{"name": "m", "limit": 1, "period": "1m"}]
        }));
        let mut uses = OwnUses::new();
        let mut out = Check::new();
        let none = Scopes::default();
        for client in [None, Some("198.51.100.1".to_owned())] {
            out.present(new.key.expose_secret());
            uses.use_found(&found, &Env::default(), &none, NOW, 1, client, &mut out)
                .unwrap();
            assert_eq!((out.code, out.metered()), (Code::IpNotAllowed, false));
        }
        out.present(new.key.expose_secret());
        let ip = Some("::ffff:203.0.113.9".to_owned());
        uses.use_found(&found, &Env::default(), &none, NOW, 1, ip, &mut out)
            .unwrap();
        assert_eq!((out.code, out.metered()), (Code::Valid, true));
    }

    #[test]
    fn the_memo_keeps_a_key_once_the_apps_store_found_it() {
        let (new, found) = key_and_found(serde_json::json!({}));
        let key = new.key.expose_secret();
        let mut uses = OwnUses::new();
        let mut out = Check::new();
        let (none, any) = (Scopes::default(), Env::default());
        let held = |u: &OwnUses| u.memo.as_ref().is_some_and(|m| m.holds(key));
        // Presented, not yet found (the app's lookup runs between): not kept.
        uses.present_hash(key, &mut out);
        assert!(!held(&uses));
        uses.use_found(&found, &any, &none, NOW, 1, None, &mut out)
            .unwrap();
        assert!(held(&uses));
        // A record filed under another hash is no find: not kept.
        let (other, _) = key_and_found(serde_json::json!({}));
        uses.present_hash(other.key.expose_secret(), &mut out);
        uses.use_found(&found, &any, &none, NOW, 1, None, &mut out)
            .unwrap();
        assert_eq!(out.code, Code::UnknownKey);
        assert!(
            !uses
                .memo
                .as_ref()
                .is_some_and(|m| m.holds(other.key.expose_secret()))
        );
        // Seen again: the same hash, the same decision.
        uses.present_hash(key, &mut out);
        assert_eq!(out.hash(), Some(KeyHash::of(key).to_hex()));
        uses.use_found(&found, &any, &none, NOW, 1, None, &mut out)
            .unwrap();
        assert_eq!(out.code, Code::Valid);
    }
}
