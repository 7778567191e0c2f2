//! The key and scope functions: create, parse and hash keys, scopes, the code table,
//! times, and the constants the package must not copy.

use keyward_core::limits::MAX_COST;
use keyward_core::{
    ApiKey, Code, KeyHash, KeyRecord, OsRandom, Presented, Scope,
    missing_scope_message as core_missing_scope_message, new_event_id,
    www_authenticate as core_www_authenticate,
};
use wasm_bindgen::prelude::*;

use crate::{error, object, parse_error, scope_set};

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

/// An RFC 3339 time read strictly by the core, as epoch milliseconds (the fraction of a
/// millisecond dropped, as the records keep it).
///
/// # Errors
/// `invalid_request` for anything else (`Date.parse` would accept far more).
#[wasm_bindgen(js_name = parseTime)]
pub fn parse_time(text: &str) -> Result<f64, JsValue> {
    keyward_core::time::parse_rfc3339(text)
        // Epoch milliseconds of a year-9999 time are far below 2^53: exact in a double.
        .map(|t| t.timestamp_millis() as f64)
        .map_err(|e| error(Code::InvalidRequest, &e.to_string(), None))
}

/// The fields of a key record in JSON (`KeyRecord::FIELDS`): a record from a store of
/// the app's own with any other field is refused.
#[wasm_bindgen(js_name = recordFields)]
pub fn record_fields() -> Vec<String> {
    KeyRecord::FIELDS.iter().map(|&f| f.to_owned()).collect()
}

/// The most units one use may cost (`MAX_COST`).
#[wasm_bindgen(js_name = maxCost)]
pub fn max_cost() -> u32 {
    MAX_COST
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

/// The code table as JSON, in [`Code::ALL`] order (an outcome's code is an index into
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn times_are_read_by_the_core_strictly() {
        assert_eq!(
            parse_time("2026-01-01T00:00:00.5Z").unwrap(),
            1_767_225_600_500.0
        );
        assert_eq!(
            parse_time("2026-01-01T01:00:00+01:00").unwrap(),
            1_767_225_600_000.0
        );
    }
}
