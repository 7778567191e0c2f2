//! `wasm-bindgen` bindings of [`keyward_core`] for the `keyward` npm package.
//!
//! This crate only forwards calls and maps errors; every decision is the core's. The
//! JavaScript in `npm/lib/` wraps these exports into the package's public API, so the
//! names here are low-level and may change with it. One module per job:
//!
//! - [`keys`]: the key and scope functions (create, parse, hash, scopes, codes, times);
//! - [`check`]: one check's outcome ([`check::Check`]), the scope lists kept inside
//!   WebAssembly, and the decision for a record found elsewhere;
//! - [`facts`]: a record given to `verify(record)`, read once and decided in one call;
//! - [`hash_text`]: a presented key's hash as the text a store of the app's own is looked
//!   up by, handed over without a string made per check;
//! - [`own`]: a record a store of the app's own found, read whole once, and its use (the
//!   core's `use_key`, counted under its rate limits in this process) in one call;
//! - [`table`]: `memoryStore()`'s records, checked whole in one call.
//!
//! Errors thrown into JavaScript are plain objects `{code, message, part?}` with a stable
//! [`Code`]; the package turns them into `ApiKeyError`s. A refused key is not thrown: a
//! check returns its outcome packed in one number (see [`check::Check::outcome`]), and
//! fills a [`check::Check`] in place with what is read more rarely (a failed check is an
//! outcome, and throwing or calling again across the boundary is slow).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod check;
pub mod facts;
pub mod hash_text;
pub mod keys;
pub mod own;
pub mod table;

use keyward_core::chrono::{DateTime, Utc};
use keyward_core::{Code, KeyRecord, ParseError, Scope, ScopeSet};
use wasm_bindgen::JsValue;

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

/// A key record from JSON; a field the record does not have (a camelCase `revokedAt`, a
/// typo) is refused by name rather than ignored.
fn record_from_json(json: &str) -> Result<KeyRecord, JsValue> {
    let not_one = |e: &dyn std::fmt::Display| {
        error(
            Code::InvalidRequest,
            &format!("not a keyward key record: {e}"),
            None,
        )
    };
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| not_one(&e))?;
    if let Some(fields) = value.as_object() {
        let unknown: Vec<&str> = fields
            .keys()
            .map(String::as_str)
            .filter(|k| !KeyRecord::FIELDS.contains(k))
            .collect();
        if !unknown.is_empty() {
            return Err(not_one(&format!(
                "fields keyward does not know: {} (a key record's fields are snake_case: {})",
                unknown.join(", "),
                KeyRecord::FIELDS.join(", ")
            )));
        }
    }
    serde_json::from_value(value).map_err(|e| not_one(&e))
}

fn scopes_from(list: &[String]) -> Result<Vec<Scope>, JsValue> {
    list.iter()
        .map(|s| Scope::parse(s).map_err(|e| error(e.code(), &e.to_string(), None)))
        .collect()
}

fn scope_set(list: &[String]) -> Result<ScopeSet, JsValue> {
    ScopeSet::new(scopes_from(list)?).map_err(|e| error(e.code(), &e.to_string(), None))
}

fn code_index(code: Code) -> u8 {
    Code::ALL
        .iter()
        .position(|&c| c == code)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(0)
}
