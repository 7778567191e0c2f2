//! `wasm-bindgen` bindings of [`keyward_core`] for the `keyward` npm package.
//!
//! This crate only forwards calls and maps errors; every decision is the core's. The
//! JavaScript in `npm/lib/` wraps these exports into the package's public API, so the
//! names here are low-level and may change with it.
//!
//! Errors thrown into JavaScript are plain objects `{code, message, part?}` with a stable
//! [`Code`]; the package turns them into `ApiKeyError`s. Refused keys on the hot paths
//! ([`inspect_key`], [`KeyTable::check`]) are returned as data, not thrown, because a
//! failed check is an outcome and throwing across the boundary is slow.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::HashMap;

use keyward_core::chrono::{DateTime, Utc};
use keyward_core::{
    ApiKey, ApiKeyRef, Code, KeyHash, KeyRecord, OsRandom, ParseError, Scope, ScopeSet, Verdict,
    missing_scope_message as core_missing_scope_message, new_event_id, verify,
    www_authenticate as core_www_authenticate,
};
use wasm_bindgen::prelude::*;

/// A JavaScript error value `{code, message, part?}` for the package to rethrow.
fn error(code: Code, message: &str, part: Option<&str>) -> JsValue {
    let o = js_sys::Object::new();
    // Setting a property on a fresh plain object cannot fail.
    let _ = js_sys::Reflect::set(&o, &"code".into(), &code.as_str().into());
    let _ = js_sys::Reflect::set(&o, &"message".into(), &message.into());
    if let Some(part) = part {
        let _ = js_sys::Reflect::set(&o, &"part".into(), &part.into());
    }
    o.into()
}

fn parse_error(e: ParseError) -> JsValue {
    let part = match e {
        ParseError::Malformed(part) => Some(part.as_str()),
        _ => None,
    };
    error(e.code(), &e.to_string(), part)
}

fn object(pairs: &[(&str, &str)]) -> JsValue {
    let o = js_sys::Object::new();
    for (k, v) in pairs {
        let _ = js_sys::Reflect::set(&o, &(*k).into(), &(*v).into());
    }
    o.into()
}

fn time(now_ms: f64) -> Result<DateTime<Utc>, JsValue> {
    if now_ms.is_finite() {
        // Milliseconds since the epoch; the fraction is below the records' precision.
        if let Some(t) = DateTime::from_timestamp_millis(now_ms as i64) {
            return Ok(t);
        }
    }
    Err(error(
        Code::InvalidRequest,
        "now must be a valid time",
        None,
    ))
}

fn record_from_json(json: &str) -> Result<KeyRecord, JsValue> {
    serde_json::from_str(json).map_err(|e| {
        error(
            Code::InvalidRequest,
            &format!("not a keyward key record: {e}"),
            None,
        )
    })
}

fn scopes_from(list: &[String]) -> Result<Vec<Scope>, JsValue> {
    list.iter()
        .map(|s| Scope::parse(s).map_err(|e| error(e.code(), &e.to_string(), None)))
        .collect()
}

/// Generates a key; returns `{key, hash, hint}`. Show `key` once; store `hash` and `hint`.
///
/// # Errors
/// `invalid_request` if `vendor` or `env` is not `[a-z][a-z0-9]{0,15}`; `internal` if the
/// CSPRNG fails.
#[wasm_bindgen(js_name = createKey)]
pub fn create_key(vendor: &str, env: &str) -> Result<JsValue, JsValue> {
    match ApiKey::generate(vendor, env) {
        Ok(new) => Ok(object(&[
            ("key", new.key.expose_secret()),
            ("hash", &new.hash.to_hex()),
            ("hint", &new.hint),
        ])),
        Err(keyward_core::GenerateError::Random(e)) => {
            Err(error(Code::Internal, &e.to_string(), None))
        }
        Err(e) => Err(error(Code::InvalidRequest, &e.to_string(), None)),
    }
}

/// Parses and checks a key; returns `{vendor, env, hint}`.
///
/// # Errors
/// `malformed` (with `part`) or `bad_checksum`.
#[wasm_bindgen(js_name = parseKey)]
pub fn parse_key(key: &str) -> Result<JsValue, JsValue> {
    let k = ApiKeyRef::parse(key).map_err(parse_error)?;
    Ok(object(&[
        ("vendor", k.vendor()),
        ("env", k.env()),
        ("hint", k.hint()),
    ]))
}

/// The lowercase hex SHA-256 of any string (does not check the key format).
#[wasm_bindgen(js_name = hashKey)]
pub fn hash_key(key: &str) -> String {
    KeyHash::of(key).to_hex()
}

/// The middleware's first step, in one call: parse, check, hash.
///
/// Returns the 64-character hash followed by the hint when the key parses, or else a
/// string shorter than 64 characters: `malformed:{part}` or `bad_checksum`.
#[wasm_bindgen(js_name = inspectKey)]
pub fn inspect_key(key: &str) -> String {
    match ApiKeyRef::parse(key) {
        Ok(k) => {
            let mut out = k.hash().to_hex();
            out.push_str(k.hint());
            out
        }
        Err(ParseError::Malformed(part)) => format!("malformed:{}", part.as_str()),
        Err(e) => e.code().as_str().to_owned(),
    }
}

/// Parses a scope; returns it.
///
/// # Errors
/// `invalid_scope`.
#[wasm_bindgen(js_name = parseScope)]
pub fn parse_scope(scope: &str) -> Result<String, JsValue> {
    Scope::parse(scope)
        .map(|s| s.as_str().to_owned())
        .map_err(|e| error(e.code(), &e.to_string(), None))
}

/// Whether holding `granted` grants `required`.
///
/// # Errors
/// `invalid_scope` if any scope is not one.
#[wasm_bindgen(js_name = hasScope)]
pub fn has_scope(granted: Vec<String>, required: &str) -> Result<bool, JsValue> {
    let held =
        ScopeSet::new(scopes_from(&granted)?).map_err(|e| error(e.code(), &e.to_string(), None))?;
    let required = Scope::parse(required).map_err(|e| error(e.code(), &e.to_string(), None))?;
    Ok(held.grants(&required))
}

/// The verification decision for a record given as JSON (`None`: no record).
///
/// `env` empty means the record's own environment. When `expected_hash` is given (the
/// presented key's hash), a record whose hash differs, compared in constant time, counts
/// as no record. Returns `{valid, code, message, scope?}`; `scope` names the missing
/// scope for `insufficient_scope`.
///
/// # Errors
/// `invalid_request` for a record that is not a key record or a bad `now`;
/// `invalid_scope` for a bad required scope.
#[wasm_bindgen(js_name = verifyRecord)]
pub fn verify_record(
    record_json: Option<String>,
    env: &str,
    scopes: Vec<String>,
    now_ms: f64,
    expected_hash: Option<String>,
) -> Result<JsValue, JsValue> {
    let mut record = record_json.as_deref().map(record_from_json).transpose()?;
    if let Some(expected) = expected_hash {
        let expected: KeyHash = expected
            .parse()
            .map_err(|_| error(Code::InvalidRequest, "not a key hash", None))?;
        record = record.filter(|r| r.hash.ct_eq(&expected));
    }
    let required = scopes_from(&scopes)?;
    let now = time(now_ms)?;
    let env = match (env, &record) {
        ("", Some(r)) => r.env.as_str(),
        (e, _) => e,
    };
    let verdict = verify(record.as_ref(), env, &required, now);
    let o = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&o, &"valid".into(), &verdict.is_valid().into());
    let _ = js_sys::Reflect::set(&o, &"code".into(), &verdict.code().as_str().into());
    let _ = js_sys::Reflect::set(&o, &"message".into(), &verdict.message().into());
    if let Verdict::InsufficientScope { missing } = &verdict {
        let _ = js_sys::Reflect::set(&o, &"scope".into(), &missing.as_str().into());
    }
    Ok(o.into())
}

/// Checks a record given as JSON and returns it in canonical form (scopes sorted).
///
/// # Errors
/// `invalid_request` if it is not a key record.
#[wasm_bindgen(js_name = normalizeRecord)]
pub fn normalize_record(record_json: &str) -> Result<String, JsValue> {
    let record = record_from_json(record_json)?;
    serde_json::to_string(&record).map_err(|e| error(Code::Internal, &e.to_string(), None))
}

/// The code table as JSON, in [`Code::ALL`] order:
/// `[{"code", "status", "bearer_error", "message"}]`.
#[wasm_bindgen(js_name = codeTable)]
pub fn code_table() -> String {
    let rows: Vec<serde_json::Value> = Code::ALL
        .iter()
        .map(|c| {
            serde_json::json!({
                "code": c.as_str(),
                "status": c.http_status(),
                "bearer_error": c.bearer_error(),
                "message": c.message(),
            })
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

/// The RFC 6750 `WWW-Authenticate` value for a refusal with `code`.
///
/// # Errors
/// `invalid_request` if `code` is not a known code.
#[wasm_bindgen(js_name = wwwAuthenticate)]
pub fn www_authenticate(realm: &str, code: &str, scope: Option<String>) -> Result<String, JsValue> {
    let code: Code = code
        .parse()
        .map_err(|_| error(Code::InvalidRequest, "unknown code", None))?;
    Ok(core_www_authenticate(realm, code, scope.as_deref()))
}

/// `This API key does not have the '{scope}' scope`.
#[wasm_bindgen(js_name = missingScopeMessage)]
pub fn missing_scope_message(scope: &str) -> String {
    core_missing_scope_message(scope)
}

/// A new audit event id (32 lowercase hex characters from the CSPRNG).
///
/// # Errors
/// `internal` if the CSPRNG fails.
#[wasm_bindgen(js_name = eventId)]
pub fn event_id() -> Result<String, JsValue> {
    new_event_id(&mut OsRandom).map_err(|e| error(Code::Internal, &e.to_string(), None))
}

/// A list of required scopes, parsed once and kept inside WebAssembly.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Scopes {
    scopes: Vec<Scope>,
}

#[wasm_bindgen]
impl Scopes {
    /// Parses each scope.
    ///
    /// # Errors
    /// `invalid_scope` with the first bad scope.
    #[wasm_bindgen(constructor)]
    pub fn new(list: Vec<String>) -> Result<Scopes, JsValue> {
        Ok(Scopes {
            scopes: scopes_from(&list)?,
        })
    }

    /// The index of the first scope that `held` does not grant, or -1 when all are granted.
    ///
    /// # Errors
    /// `invalid_scope` if `held` holds something that is not a scope.
    #[wasm_bindgen(js_name = firstMissing)]
    pub fn first_missing(&self, held: Vec<String>) -> Result<i32, JsValue> {
        let held = ScopeSet::new(scopes_from(&held)?)
            .map_err(|e| error(e.code(), &e.to_string(), None))?;
        Ok(self.first_missing_in(&held))
    }

    /// How many scopes.
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> usize {
        self.scopes.len()
    }

    fn first_missing_in(&self, held: &ScopeSet) -> i32 {
        held.first_missing(&self.scopes)
            .and_then(|m| self.scopes.iter().position(|s| s == m))
            .map_or(-1, |i| i32::try_from(i).unwrap_or(i32::MAX))
    }
}

/// Records addressed by hash, inside WebAssembly: `memoryStore()`'s storage, so that the
/// whole hot path (parse, checksum, hash, lookup, decision, scopes) is one call.
#[wasm_bindgen]
#[derive(Debug, Default)]
pub struct KeyTable {
    slots: Vec<Option<KeyRecord>>,
    by_hash: HashMap<KeyHash, u32>,
}

/// How [`KeyTable::check`] packs its answer into one number (exact in an f64):
/// `code index + 256 × (missing scope index + 1) + 65536 × (slot + 1)`.
const MISSING_UNIT: f64 = 256.0;
const SLOT_UNIT: f64 = 65536.0;

fn code_index(code: Code) -> f64 {
    Code::ALL.iter().position(|&c| c == code).unwrap_or(0) as f64
}

#[wasm_bindgen]
impl KeyTable {
    /// An empty table.
    #[wasm_bindgen(constructor)]
    pub fn new() -> KeyTable {
        KeyTable::default()
    }

    /// Adds a record given as JSON, or replaces the record with the same hash; returns
    /// its slot. Slots are never reused.
    ///
    /// # Errors
    /// `invalid_request` if it is not a key record.
    pub fn add(&mut self, record_json: &str) -> Result<u32, JsValue> {
        let record = record_from_json(record_json)?;
        if let Some(&slot) = self.by_hash.get(&record.hash) {
            if let Some(s) = self.slots.get_mut(slot as usize) {
                *s = Some(record);
            }
            return Ok(slot);
        }
        let slot = u32::try_from(self.slots.len())
            .map_err(|_| error(Code::Internal, "too many records", None))?;
        self.by_hash.insert(record.hash, slot);
        self.slots.push(Some(record));
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

    /// The whole verification hot path in one call: parse and checksum (refusing junk
    /// before any lookup), SHA-256, lookup by hash (compared again in constant time),
    /// then the core's decision for `env` (empty: the key's own) at `now_ms`, needing no
    /// scope. The answer is packed as [`SLOT_UNIT`] and [`MISSING_UNIT`] say; the code
    /// index is into [`code_table`].
    pub fn check(&self, key: &str, env: &str, now_ms: f64) -> f64 {
        self.check_ref(key, env, None, now_ms)
    }

    /// [`KeyTable::check`] with a borrowed scope list (the package's hot path).
    #[wasm_bindgen(js_name = checkWith)]
    pub fn check_with(&self, key: &str, env: &str, scopes: &Scopes, now_ms: f64) -> f64 {
        self.check_ref(key, env, Some(scopes), now_ms)
    }

    fn check_ref(&self, key: &str, env: &str, scopes: Option<&Scopes>, now_ms: f64) -> f64 {
        let parsed = match ApiKeyRef::parse(key) {
            Ok(k) => k,
            Err(e) => return code_index(e.code()),
        };
        let Ok(now) = time(now_ms) else {
            return code_index(Code::InvalidRequest);
        };
        let hash = parsed.hash();
        let found = self.by_hash.get(&hash).and_then(|&slot| {
            self.slots
                .get(slot as usize)
                .and_then(Option::as_ref)
                .filter(|r| r.hash.ct_eq(&hash))
                .map(|r| (slot, r))
        });
        let env = if env.is_empty() { parsed.env() } else { env };
        let required: &[Scope] = scopes.map_or(&[], |s| &s.scopes);
        let verdict = verify(found.map(|(_, r)| r), env, required, now);
        let mut packed = code_index(verdict.code());
        if let Verdict::InsufficientScope { missing } = &verdict
            && let Some(i) = required.iter().position(|s| s == missing)
        {
            packed += MISSING_UNIT * (i as f64 + 1.0);
        }
        if let Some((slot, _)) = found {
            packed += SLOT_UNIT * (f64::from(slot) + 1.0);
        }
        packed
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn inspect_answers_hash_and_hint_or_a_short_code() {
        let new = keyward_core::ApiKey::generate("sk", "live").unwrap();
        let key = new.key.expose_secret();
        let out = inspect_key(key);
        assert_eq!(&out[..64], KeyHash::of(key).to_hex());
        assert_eq!(&out[64..], new.hint);
        assert_eq!(inspect_key("sk_live_"), "malformed:secret");
        let last = if key.ends_with('A') { "B" } else { "A" };
        let bad = format!("{}{last}", &key[..key.len() - 1]);
        assert_eq!(inspect_key(&bad), "bad_checksum");
    }

    #[test]
    fn table_check_packs_code_slot_and_missing_scope() {
        let new = keyward_core::ApiKey::generate("sk", "live").unwrap();
        let key = new.key.expose_secret();
        let mut table = KeyTable::new();
        let record = serde_json::json!({
            "id": "key_0123456789abcdef", "hash": KeyHash::of(key).to_hex(),
            "hint": new.hint, "name": "ci", "owner": "o", "scopes": ["scans:read"],
            "env": "live", "created_at": "2026-01-01T00:00:00Z"
        });
        assert_eq!(table.add(&record.to_string()).unwrap(), 0);
        let now = 1_780_000_000_000.0;
        let scopes = Scopes {
            scopes: vec![
                Scope::parse("scans:read").unwrap(),
                Scope::parse("x:y").unwrap(),
            ],
        };
        let packed = table.check_ref(key, "", Some(&scopes), now);
        assert_eq!(
            packed,
            code_index(Code::InsufficientScope) + 2.0 * 256.0 + 65536.0
        );
        assert_eq!(
            table.check_ref(key, "live", None, now),
            code_index(Code::Valid) + 65536.0
        );
        assert_eq!(
            table.check_ref(key, "test", None, now),
            code_index(Code::WrongEnvironment) + 65536.0
        );
        assert_eq!(
            table.check_ref("nope", "", None, now),
            code_index(Code::Malformed)
        );
    }
}
