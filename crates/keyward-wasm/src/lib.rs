//! `wasm-bindgen` bindings of [`keyward_core`] for the `keyward` npm package.
//!
//! This crate only forwards calls and maps errors; every decision is the core's. The
//! JavaScript in `npm/lib/` wraps these exports into the package's public API, so the
//! names here are low-level and may change with it.
//!
//! Errors thrown into JavaScript are plain objects `{code, message, part?}` with a stable
//! [`Code`]; the package turns them into `ApiKeyError`s. A refused key is not thrown: the
//! checks fill a [`Check`] in place, whose fields say what happened (a failed check is an
//! outcome, and throwing across the boundary is slow).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::HashMap;

use keyward_core::chrono::{DateTime, Utc};
use keyward_core::limits::{
    LimitStatus, MAX_COST, MAX_PERIOD_SECONDS, NamedLimit, Window, consume,
    ratelimit_headers as core_ratelimit_headers,
};
use keyward_core::{
    ApiKey, Code, EnvRule, KeyFacts, KeyHash, KeyRecord, OsRandom, ParseError, Presented, Scope,
    ScopeSet, Verdict, decide, decide_presented,
    missing_scope_message as core_missing_scope_message, new_event_id,
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

/// A time from epoch milliseconds; `NaN` (or any non-finite number) is none.
fn optional_time(ms: f64) -> Option<DateTime<Utc>> {
    // The fraction of a millisecond is below the records' precision.
    ms.is_finite()
        .then(|| DateTime::from_timestamp_millis(ms as i64))
        .flatten()
}

fn time(now_ms: f64) -> Result<DateTime<Utc>, JsValue> {
    optional_time(now_ms)
        .ok_or_else(|| error(Code::InvalidRequest, "now must be a valid time", None))
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

fn scope_set(list: &[String]) -> Result<ScopeSet, JsValue> {
    ScopeSet::new(scopes_from(list)?).map_err(|e| error(e.code(), &e.to_string(), None))
}

/// The environment rule of the package's `env` option: a name, or `""` for "whichever
/// the key names" (the explicit `{any: true}`).
fn env_rule(env: &str) -> EnvRule<'_> {
    if env.is_empty() {
        EnvRule::KeysOwn
    } else {
        EnvRule::Exactly(env)
    }
}

fn code_index(code: Code) -> u8 {
    Code::ALL
        .iter()
        .position(|&c| c == code)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(0)
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
    let k = Presented::parse(key).map_err(parse_error)?;
    Ok(object(&[
        ("vendor", k.key().vendor()),
        ("env", k.env()),
        ("hint", k.hint()),
    ]))
}

/// The lowercase hex SHA-256 of any string (does not check the key format).
#[wasm_bindgen(js_name = hashKey)]
pub fn hash_key(key: &str) -> String {
    KeyHash::of(key).to_hex()
}

/// Whether `name` can be an environment (or vendor) prefix: `[a-z][a-z0-9]{0,15}`.
#[wasm_bindgen(js_name = isPrefix)]
pub fn is_prefix(name: &str) -> bool {
    keyward_core::is_valid_prefix(name)
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
    let held = scope_set(&granted)?;
    let required = Scope::parse(required).map_err(|e| error(e.code(), &e.to_string(), None))?;
    Ok(held.grants(&required))
}

/// The request's one credential from its `Authorization` and `X-API-Key` values (each
/// `undefined` when absent, repeated lines joined with `", "`), by the core's rules.
/// Returns the presented string, or `undefined` with `out` holding the refusal.
#[wasm_bindgen]
pub fn credential(
    authorization: Option<String>,
    x_api_key: Option<String>,
    out: &mut Check,
) -> Option<String> {
    out.reset();
    match keyward_core::credential(authorization.as_deref(), x_api_key.as_deref()) {
        Ok(key) => Some(key.to_owned()),
        Err(e) => {
            out.code = e.code();
            out.note = Some(e.message());
            None
        }
    }
}

/// The core's decision for a stored key given by its fields (no presented key: the
/// public `verify(record)`; `record_env` `undefined`: no record), in environment `env`
/// (`""`: the record's own) needing every scope of `required`. Times are epoch
/// milliseconds, `NaN` for none. Fills `out` (code and missing scope).
///
/// # Errors
/// `invalid_scope` if `held` holds something that is not a scope; `invalid_request` for
/// a bad `now`.
#[wasm_bindgen(js_name = decideRecord)]
#[allow(clippy::too_many_arguments)]
pub fn decide_record(
    record_env: Option<String>,
    held: Vec<String>,
    expires_ms: f64,
    revoked_ms: f64,
    env: &str,
    required: &Scopes,
    now_ms: f64,
    out: &mut Check,
) -> Result<(), JsValue> {
    out.reset();
    let now = time(now_ms)?;
    let held = scope_set(&held)?;
    // No key was presented: there is no hash to compare, and `decide` compares none.
    let hash = KeyHash::from_bytes([0; 32]);
    let facts = record_env.as_deref().map(|record_env| KeyFacts {
        hash: &hash,
        env: record_env,
        scopes: &held,
        expires_at: optional_time(expires_ms),
        revoked_at: optional_time(revoked_ms),
    });
    let env = match (env, &record_env) {
        ("", Some(own)) => own.as_str(),
        (env, _) => env,
    };
    out.set_verdict(&decide(facts, env, &required.scopes, now), required);
    Ok(())
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

/// The code table as JSON, in [`Code::ALL`] order (a [`Check`]'s `code` is an index into
/// it): `[{"code", "status", "challenge", "bearer_error", "message"}]`.
#[wasm_bindgen(js_name = codeTable)]
pub fn code_table() -> String {
    let rows: Vec<serde_json::Value> = Code::ALL
        .iter()
        .map(|c| {
            serde_json::json!({
                "code": c.as_str(),
                "status": c.http_status(),
                "challenge": c.challenge(),
                "bearer_error": c.bearer_error(),
                "message": c.message(),
            })
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

/// The outcome of a check, filled in place by the calls that take it (no allocation per
/// check). One per store for synchronous paths; one per request across an `await`.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Check {
    code: Code,
    note: Option<&'static str>,
    slot: i32,
    missing: i32,
    hash: Option<KeyHash>,
    key_env: String,
    hint: String,
    usage: Option<Usage>,
}

/// What a counted use came to: the limits' statuses, when a retry can succeed, and the
/// credits left.
#[derive(Clone, Debug, Default)]
struct Usage {
    limits: Vec<LimitStatus>,
    retry_after_ms: Option<i64>,
    credits: Option<u64>,
    alert_due: bool,
}

impl Default for Check {
    fn default() -> Self {
        Check {
            code: Code::Valid,
            note: None,
            slot: -1,
            missing: -1,
            hash: None,
            key_env: String::new(),
            hint: String::new(),
            usage: None,
        }
    }
}

#[wasm_bindgen]
impl Check {
    /// An empty outcome.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Check {
        Check::default()
    }

    /// The outcome's code, as an index into [`code_table`].
    #[wasm_bindgen(getter)]
    pub fn code(&self) -> u8 {
        code_index(self.code)
    }

    /// A sentence saying why, when the code's own is too general (a refused credential).
    #[wasm_bindgen(getter)]
    pub fn note(&self) -> Option<String> {
        self.note.map(str::to_owned)
    }

    /// For a [`KeyTable`] check: the slot of the record found, or -1.
    #[wasm_bindgen(getter)]
    pub fn slot(&self) -> i32 {
        self.slot
    }

    /// For `insufficient_scope`: the index of the first missing scope in the required
    /// list, or -1.
    #[wasm_bindgen(getter)]
    pub fn missing(&self) -> i32 {
        self.missing
    }

    /// Whether the presented string parsed (its hash and hint are known).
    #[wasm_bindgen(getter)]
    pub fn parsed(&self) -> bool {
        self.hash.is_some()
    }

    /// The presented key's hash (lowercase hex), when it parsed.
    #[wasm_bindgen(getter)]
    pub fn hash(&self) -> Option<String> {
        self.hash.map(|h| h.to_hex())
    }

    /// The presented key's hint (safe to log), when it parsed.
    #[wasm_bindgen(getter)]
    pub fn hint(&self) -> Option<String> {
        self.hash.map(|_| self.hint.clone())
    }

    /// Parses and hashes `key` (junk is refused before any lookup): afterwards `code` is
    /// `valid` when it parsed, else `malformed` or `bad_checksum`.
    pub fn present(&mut self, key: &str) {
        self.reset();
        match Presented::parse(key) {
            Ok(p) => self.keep_presented(&p),
            Err(e) => self.code = e.code(),
        }
    }

    /// [`credential`] then [`present`](Check::present), in one call: the request's
    /// header values in, the presented key's hash (or the refusal) in `self`.
    #[wasm_bindgen(js_name = presentRequest)]
    pub fn present_request(&mut self, authorization: Option<String>, x_api_key: Option<String>) {
        self.reset();
        match keyward_core::credential(authorization.as_deref(), x_api_key.as_deref()) {
            Ok(key) => self.present(key),
            Err(e) => {
                self.code = e.code();
                self.note = Some(e.message());
            }
        }
    }

    /// Decides for the key [`present`](Check::present)ed, given the record a lookup by
    /// its hash found, as fields: its hash (hex), environment, and expiry and revocation
    /// times (epoch ms, `NaN` for none). `env` is the environment rule (`""`: the key's
    /// own). A record whose hash differs, compared in constant time, counts as none.
    #[allow(clippy::too_many_arguments)]
    pub fn decide(
        &mut self,
        record_hash: &str,
        record_env: &str,
        expires_ms: f64,
        revoked_ms: f64,
        env: &str,
        now_ms: f64,
    ) {
        let (Some(hash), Some(now)) = (self.hash, optional_time(now_ms)) else {
            self.code = Code::InvalidRequest;
            return;
        };
        let stored = record_hash.parse::<KeyHash>().ok();
        let none = ScopeSet::default();
        let facts = stored.as_ref().map(|h| KeyFacts {
            hash: h,
            env: record_env,
            scopes: &none,
            expires_at: optional_time(expires_ms),
            revoked_at: optional_time(revoked_ms),
        });
        let verdict = decide_presented(&hash, &self.key_env, facts, env_rule(env), &[], now);
        self.code = verdict.code();
    }

    /// A copy of this outcome, to keep across an `await` while this one is reused.
    pub fn keep(&self) -> Check {
        Check {
            code: self.code,
            note: self.note,
            slot: self.slot,
            missing: self.missing,
            hash: self.hash,
            key_env: self.key_env.clone(),
            hint: self.hint.clone(),
            usage: self.usage.clone(),
        }
    }

    /// Whether the use was counted under rate limits or credits (then [`usage`](Check::usage)
    /// and [`headers`](Check::headers) say what it came to).
    #[wasm_bindgen(getter)]
    pub fn metered(&self) -> bool {
        self.usage.is_some()
    }

    /// What a counted use came to, as JSON: `{limits: [{name, limit, period_seconds,
    /// remaining, reset_ms}], retry_after_ms, credits, alert_due}`.
    #[wasm_bindgen(getter)]
    pub fn usage(&self) -> Option<String> {
        self.usage.as_ref().map(|u| {
            serde_json::json!({
                "limits": u.limits,
                "retry_after_ms": u.retry_after_ms,
                "credits": u.credits,
                "alert_due": u.alert_due,
            })
            .to_string()
        })
    }

    /// The response headers of a counted use, as `[name, value, name, value, ...]`
    /// (`RateLimit-Policy`, `RateLimit`, and `Retry-After` when refused).
    #[wasm_bindgen(getter)]
    pub fn headers(&self) -> Vec<String> {
        self.usage.as_ref().map_or_else(Vec::new, |u| {
            let retry = u.retry_after_ms.filter(|_| self.code != Code::Valid);
            core_ratelimit_headers(&u.limits, retry)
                .into_iter()
                .flat_map(|(n, v)| [n.to_owned(), v])
                .collect()
        })
    }

    /// Decides for the key [`present`](Check::present)ed that no record was found.
    #[wasm_bindgen(js_name = notFound)]
    pub fn not_found(&mut self) {
        if self.hash.is_some() {
            self.code = Code::UnknownKey;
        }
    }
}

impl Check {
    fn reset(&mut self) {
        self.code = Code::Valid;
        self.note = None;
        self.slot = -1;
        self.missing = -1;
        self.hash = None;
        self.usage = None;
    }

    /// Counts a valid use of `cost` under `limits` (their windows by name) and `credits`:
    /// the verdict becomes `rate_limited` or `usage_exceeded` when they refuse it.
    fn count(
        &mut self,
        limits: &[NamedLimit],
        windows: &mut HashMap<String, Window>,
        credits: Option<&mut keyward_core::limits::Credits>,
        now: DateTime<Utc>,
        cost: u32,
    ) {
        let mut ws: Vec<Window> = limits
            .iter()
            .map(|l| windows.remove(&l.name).unwrap_or_default())
            .collect();
        let has_credits = credits.is_some();
        let c = consume(limits, &mut ws, credits, now, cost);
        for (l, w) in limits.iter().zip(ws) {
            windows.insert(l.name.clone(), w);
        }
        self.code = c.verdict.code();
        self.usage = Some(Usage {
            limits: c.admission.limits,
            retry_after_ms: c.admission.retry_after_ms,
            credits: c
                .spend
                .as_ref()
                .map(|s| s.remaining)
                .filter(|_| has_credits),
            alert_due: c.spend.is_some_and(|s| s.alert_due),
        });
    }

    fn keep_presented(&mut self, p: &Presented<'_>) {
        self.hash = Some(*p.hash());
        self.key_env.clear();
        self.key_env.push_str(p.env());
        self.hint.clear();
        self.hint.push_str(p.hint());
    }

    fn set_verdict(&mut self, verdict: &Verdict, required: &Scopes) {
        self.code = verdict.code();
        if let Verdict::InsufficientScope { missing } = verdict {
            self.missing = required
                .scopes
                .iter()
                .position(|s| s == missing)
                .and_then(|i| i32::try_from(i).ok())
                .unwrap_or(-1);
        }
    }
}

/// A set of held scopes, parsed once and kept inside WebAssembly.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Held {
    set: ScopeSet,
}

#[wasm_bindgen]
impl Held {
    /// Parses each scope.
    ///
    /// # Errors
    /// `invalid_scope` with the first bad scope.
    #[wasm_bindgen(constructor)]
    pub fn new(list: Vec<String>) -> Result<Held, JsValue> {
        Ok(Held {
            set: scope_set(&list)?,
        })
    }
}

/// A list of required scopes, parsed once and kept inside WebAssembly.
#[wasm_bindgen]
#[derive(Debug, Default)]
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
    #[wasm_bindgen(js_name = firstMissing)]
    pub fn first_missing(&self, held: &Held) -> i32 {
        held.set
            .first_missing(&self.scopes)
            .and_then(|m| self.scopes.iter().position(|s| s == m))
            .map_or(-1, |i| i32::try_from(i).unwrap_or(i32::MAX))
    }

    /// How many scopes.
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> usize {
        self.scopes.len()
    }
}

/// Records addressed by hash, inside WebAssembly: `memoryStore()`'s storage, so that the
/// whole hot path (credential, parse, checksum, hash, lookup, decision, scopes) is one
/// call.
#[wasm_bindgen]
#[derive(Debug, Default)]
pub struct KeyTable {
    slots: Vec<Option<KeyRecord>>,
    by_hash: HashMap<KeyHash, u32>,
    /// Each slot's rate-limit windows, by limit name.
    windows: Vec<HashMap<String, Window>>,
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
    /// then [`KeyTable::check`].
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
        out: &mut Check,
    ) {
        match keyward_core::credential(authorization.as_deref(), x_api_key.as_deref()) {
            Ok(key) => self.check(key, env, scopes, now_ms, cost, out),
            Err(e) => {
                out.reset();
                out.code = e.code();
                out.note = Some(e.message());
            }
        }
    }

    /// The whole check of a presented key in one call: parse and checksum (refusing junk
    /// before any lookup), SHA-256, lookup by hash, then the core's decision for `env`
    /// (`""`: the key's own) at `now_ms` needing every scope of `scopes`; a valid use is
    /// then counted as `cost` units (1 to 1000) under the record's rate limits and
    /// credits, whose balance the table keeps.
    pub fn check(
        &mut self,
        key: &str,
        env: &str,
        scopes: &Scopes,
        now_ms: f64,
        cost: u32,
        out: &mut Check,
    ) {
        out.reset();
        let presented = match Presented::parse(key) {
            Ok(p) => p,
            Err(e) => {
                out.code = e.code();
                return;
            }
        };
        out.keep_presented(&presented);
        let Some(now) = optional_time(now_ms) else {
            out.code = Code::InvalidRequest;
            return;
        };
        let found = self.by_hash.get(presented.hash()).and_then(|&slot| {
            self.slots
                .get(slot as usize)
                .and_then(Option::as_ref)
                .map(|r| (slot, r))
        });
        let verdict = presented.decide(
            found.map(|(_, r)| r.facts()),
            env_rule(env),
            &scopes.scopes,
            now,
        );
        out.set_verdict(&verdict, scopes);
        let Some(slot) = found.map(|(slot, _)| slot as usize) else {
            return;
        };
        if verdict.code() != Code::UnknownKey {
            out.slot = i32::try_from(slot).unwrap_or(-1);
        }
        if !verdict.is_valid() {
            return;
        }
        if !(1..=MAX_COST).contains(&cost) {
            out.code = Code::InvalidRequest;
            return;
        }
        if let (Some(Some(record)), Some(windows)) =
            (self.slots.get_mut(slot), self.windows.get_mut(slot))
        {
            let limits = record.limits();
            if !limits.is_empty() || record.credits.is_some() {
                out.count(&limits, windows, record.credits.as_mut(), now, cost);
            }
        }
    }
}

/// Rate-limit windows kept in this process for records of a store of the app's own:
/// exact within the process (each call is atomic; JavaScript runs one at a time).
#[wasm_bindgen]
#[derive(Debug, Default)]
pub struct Meter {
    keys: HashMap<String, HashMap<String, Window>>,
}

/// Keys whose windows a [`Meter`] keeps before it forgets idle ones.
const METER_KEYS: usize = 100_000;

#[wasm_bindgen]
impl Meter {
    /// An empty meter.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Meter {
        Meter::default()
    }

    /// Counts a valid use of `cost` units of the key `key_id` under the limits of its
    /// record, given as JSON `{rate_limits?, rate_limit?}`; `out` then holds the verdict
    /// (`valid` or `rate_limited`) and the usage.
    ///
    /// # Errors
    /// `invalid_request` when the limits are not well formed, or the cost or time is out
    /// of range.
    pub fn count(
        &mut self,
        key_id: &str,
        limits_json: &str,
        cost: u32,
        now_ms: f64,
        out: &mut Check,
    ) -> Result<(), JsValue> {
        let now = time(now_ms)?;
        if !(1..=MAX_COST).contains(&cost) {
            return Err(error(Code::InvalidRequest, "cost must be 1 to 1000", None));
        }
        let record: LimitsOf = serde_json::from_str(limits_json)
            .map_err(|e| error(Code::InvalidRequest, &format!("rate limits: {e}"), None))?;
        let limits = record.limits();
        keyward_core::limits::validate_limits(&limits)
            .map_err(|e| error(Code::InvalidRequest, &e.to_string(), None))?;
        if limits.is_empty() {
            return Ok(());
        }
        if self.keys.len() >= METER_KEYS && !self.keys.contains_key(key_id) {
            // Forget keys not used within the longest period: nothing of theirs counts.
            let horizon = now.timestamp_millis() - i64::from(MAX_PERIOD_SECONDS) * 1000;
            self.keys.retain(|_, ws| {
                ws.values()
                    .any(|w| w.last_ms().is_some_and(|t| t > horizon))
            });
        }
        let windows = self.keys.entry(key_id.to_owned()).or_default();
        out.count(&limits, windows, None, now, cost);
        Ok(())
    }
}

/// The limits fields of a record.
#[derive(serde::Deserialize)]
struct LimitsOf {
    #[serde(default)]
    rate_limits: Vec<NamedLimit>,
    #[serde(default)]
    rate_limit: Option<keyward_core::RateLimit>,
}

impl LimitsOf {
    fn limits(self) -> Vec<NamedLimit> {
        keyward_core::effective_limits(&self.rate_limits, self.rate_limit)
    }
}

/// The response headers of a use the Worker counted (remoteStore): `limits` as JSON
/// `[{name, limit, period_seconds, remaining, reset_ms}]`, `retry_after_ms` (`NaN`: none)
/// for a refused use. `[name, value, ...]`.
///
/// # Errors
/// `invalid_request` when `limits` is not that JSON.
#[wasm_bindgen(js_name = ratelimitHeaders)]
pub fn ratelimit_headers(limits_json: &str, retry_after_ms: f64) -> Result<Vec<String>, JsValue> {
    let limits: Vec<LimitStatus> = serde_json::from_str(limits_json)
        .map_err(|e| error(Code::InvalidRequest, &format!("limits: {e}"), None))?;
    let retry = retry_after_ms.is_finite().then_some(retry_after_ms as i64);
    Ok(core_ratelimit_headers(&limits, retry)
        .into_iter()
        .flat_map(|(n, v)| [n.to_owned(), v])
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn table_check_fills_code_slot_and_missing_scope() {
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
        let none = Scopes::default();
        let mut out = Check::new();
        table.check(key, "", &scopes, now, 1, &mut out);
        assert_eq!(
            (out.code, out.slot, out.missing),
            (Code::InsufficientScope, 0, 1)
        );
        assert_eq!(out.hint(), Some(new.hint.clone()));
        table.check(key, "live", &none, now, 1, &mut out);
        assert_eq!((out.code, out.slot, out.missing), (Code::Valid, 0, -1));
        table.check(key, "test", &none, now, 1, &mut out);
        assert_eq!(out.code, Code::WrongEnvironment);
        table.check("nope", "", &none, now, 1, &mut out);
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
            &mut out,
        );
        assert_eq!(out.code, Code::InvalidRequest);
    }

    #[test]
    fn a_table_counts_limits_and_credits_and_a_meter_counts_limits() {
        let new = keyward_core::ApiKey::generate("sk", "live").unwrap();
        let key = new.key.expose_secret();
        let mut table = KeyTable::new();
        let record = serde_json::json!({
            "id": "key_0123456789abcdef", "hash": KeyHash::of(key).to_hex(),
            "hint": new.hint, "name": "ci", "owner": "o", "scopes": [],
            "env": "live", "created_at": "2026-01-01T00:00:00Z",
            "rate_limits": [{"name": "m", "limit": 3, "period": "1m"}],
            "credits": {"remaining": 4}
        });
        table.add(&record.to_string()).unwrap();
        let none = Scopes::default();
        let mut out = Check::new();
        let now = 1_780_000_000_000.0;
        let mut codes = Vec::new();
        for i in 0..4 {
            table.check(key, "live", &none, now + f64::from(i), 1, &mut out);
            codes.push(out.code);
        }
        assert_eq!(
            codes,
            [Code::Valid, Code::Valid, Code::Valid, Code::RateLimited]
        );
        assert!(out.metered());
        assert!(out.headers().iter().any(|h| h == "Retry-After"));
        table.check(key, "live", &none, now + 60_000.0, 2, &mut out);
        assert_eq!(out.code, Code::UsageExceeded, "1 credit left, cost 2");
        table.check(key, "live", &none, now + 60_000.0, 1001, &mut out);
        assert_eq!(out.code, Code::InvalidRequest);
        let kept: serde_json::Value = serde_json::from_str(&table.get(0).unwrap()).unwrap();
        assert_eq!(kept["credits"]["remaining"], 1);

        let mut meter = Meter::new();
        let limits = r#"{"rate_limit": {"requests": 2, "window_seconds": 10}}"#;
        let mut admitted = 0;
        for _ in 0..5 {
            out.code = Code::Valid;
            meter.count("key_a", limits, 1, now, &mut out).unwrap();
            admitted += usize::from(out.code == Code::Valid);
        }
        assert_eq!(
            admitted, 2,
            "the previous format's limit is counted as 'default'"
        );
        let usage: serde_json::Value = serde_json::from_str(&out.usage().unwrap()).unwrap();
        assert_eq!(usage["limits"][0]["name"], "default");
    }

    #[test]
    fn a_presented_key_is_decided_from_record_fields() {
        let new = keyward_core::ApiKey::generate("sk", "live").unwrap();
        let mut out = Check::new();
        out.present(new.key.expose_secret());
        assert_eq!(out.hash(), Some(new.hash.to_hex()));
        let now = 1_780_000_000_000.0;
        out.decide(&new.hash.to_hex(), "live", f64::NAN, f64::NAN, "", now);
        assert_eq!(out.code, Code::Valid);
        out.decide(&new.hash.to_hex(), "live", f64::NAN, now - 1.0, "", now);
        assert_eq!(out.code, Code::Revoked);
        out.decide(&new.hash.to_hex(), "test", f64::NAN, f64::NAN, "", now);
        assert_eq!(out.code, Code::WrongEnvironment, "the key says live");
        out.decide(
            &KeyHash::of("x").to_hex(),
            "live",
            f64::NAN,
            f64::NAN,
            "",
            now,
        );
        assert_eq!(out.code, Code::UnknownKey, "another key's record");
    }
}
