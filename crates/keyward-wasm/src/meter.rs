//! Rate-limit windows kept in this process for records of a store of the app's own, and
//! the headers of a use the Worker counted.

use std::collections::HashMap;

use keyward_core::Code;
use keyward_core::limits::{
    LimitStatus, MAX_COST, NamedLimit, Window, ratelimit_headers as core_ratelimit_headers,
};
use wasm_bindgen::prelude::*;

use crate::check::Check;
use crate::{error, time};

/// Rate-limit windows by key id: exact within the process (each call is atomic;
/// JavaScript runs one at a time).
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
    /// (`valid` or `rate_limited`) and the usage. Returns the outcome.
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
    ) -> Result<f64, JsValue> {
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
            return Ok(out.outcome());
        }
        if self.keys.len() >= METER_KEYS && !self.keys.contains_key(key_id) {
            // Forget keys not used within the longest period: nothing of theirs counts.
            let now_ms = now.timestamp_millis();
            self.keys
                .retain(|_, ws| ws.values().any(|w| !w.is_idle(now_ms)));
        }
        let windows = self.keys.entry(key_id.to_owned()).or_default();
        out.count(&limits, windows, None, now, cost);
        Ok(out.outcome())
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
    fn a_meter_counts_limits_of_the_previous_format_as_default() {
        let mut meter = Meter::new();
        let mut out = Check::new();
        let now = 1_780_000_000_000.0;
        let limits = r#"{"rate_limit": {"requests": 2, "window_seconds": 10}}"#;
        let mut admitted = 0;
        for _ in 0..5 {
            out.code = Code::Valid;
            meter.count("key_a", limits, 1, now, &mut out).unwrap();
            admitted += usize::from(out.code == Code::Valid);
        }
        assert_eq!(admitted, 2);
        let usage: serde_json::Value = serde_json::from_str(&out.usage().unwrap()).unwrap();
        assert_eq!(usage["limits"][0]["name"], "default");
    }
}
