//! The response headers of a counted use: `RateLimit-Policy`, `RateLimit` and
//! `Retry-After`.

use super::LimitStatus;

/// Whole seconds, rounded up, of a duration in ms (at least 0).
fn ceil_seconds(ms: i64) -> i64 {
    (ms.max(0) + 999) / 1000
}

/// `Retry-After` for a retry possible in `ms`: whole seconds, rounded up, at least 1.
pub fn retry_after_seconds(ms: i64) -> u64 {
    u64::try_from(ceil_seconds(ms)).unwrap_or(0).max(1)
}

/// The response headers of a use under `limits` (draft-ietf-httpapi-ratelimit-headers):
/// `RateLimit-Policy` names every limit (`"name";q=limit;w=period`), `RateLimit` gives
/// the one with the fewest units left (`"name";r=remaining;t=seconds to reset`); names are
/// structured-field strings (they hold no character that needs escaping), and for a
/// refused use `Retry-After` gives the seconds until a retry can succeed (the same point
/// in time as `t` when a limit refused it).
pub fn ratelimit_headers(
    limits: &[LimitStatus],
    retry_after_ms: Option<i64>,
) -> Vec<(&'static str, String)> {
    let mut headers = Vec::new();
    if !limits.is_empty() {
        let policy: Vec<String> = limits
            .iter()
            .map(|l| format!("\"{}\";q={};w={}", l.name, l.limit, l.period_seconds))
            .collect();
        headers.push(("RateLimit-Policy", policy.join(", ")));
        if let Some(low) = limits.iter().min_by_key(|l| l.remaining) {
            let t = match (low.remaining, retry_after_ms) {
                (0, Some(retry)) => ceil_seconds(retry),
                _ => ceil_seconds(low.reset_ms),
            };
            headers.push((
                "RateLimit",
                format!("\"{}\";r={};t={t}", low.name, low.remaining),
            ));
        }
    }
    if let Some(retry) = retry_after_ms {
        headers.push(("Retry-After", retry_after_seconds(retry).to_string()));
    }
    headers
}
