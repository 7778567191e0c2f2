//! Failed attempts (no key, a malformed key, an unknown key) limited per client IP with the
//! Workers Rate Limiting binding, so that a flood of random well-formed keys cannot turn
//! into unbounded KV reads and audit rows. Cloudflare's rate limiting is counted per
//! location and is approximate by its own description; it bounds abuse, it does not
//! meter customers (keys' limits, counted in their Durable Objects, do that exactly).
//!
//! An IP over the limit is remembered by the isolate for the limiter's period: its next
//! requests are answered 429 `rate_limited` before any lookup, and without an audit row
//! each (the one that tripped the limit is logged).

use std::cell::RefCell;
use std::collections::HashMap;

use keyward_core::Code;
use worker::Env;

use crate::config::UNAUTHENTICATED;
use crate::http::ApiError;

/// The period of the `UNAUTHENTICATED` limiter (wrangler.toml), in seconds.
pub const PERIOD_SECONDS: u32 = 60;

thread_local! {
    /// IPs over the limit, until when (ms).
    static BLOCKED: RefCell<HashMap<String, f64>> = RefCell::new(HashMap::new());
}

fn now_ms() -> f64 {
    worker::Date::now().as_millis() as f64
}

/// Whether `code` is a failed attempt that counts: no key, junk, or a key nobody holds.
pub fn counts(code: Code) -> bool {
    matches!(
        code,
        Code::MissingKey | Code::Malformed | Code::BadChecksum | Code::UnknownKey
    )
}

/// The refusal for an IP over the limit.
pub fn refusal() -> ApiError {
    let mut e = ApiError::new(
        Code::RateLimited,
        "too many failed attempts from this address; try again later",
    );
    e.headers.push(("Retry-After", PERIOD_SECONDS.to_string()));
    e
}

/// Whether `ip` is over the limit now (no lookup is made for it).
pub fn blocked(ip: Option<&str>) -> bool {
    let Some(ip) = ip else { return false };
    BLOCKED.with(|b| {
        let mut b = b.borrow_mut();
        match b.get(ip) {
            Some(&until) if until > now_ms() => true,
            Some(_) => {
                b.remove(ip);
                false
            }
            None => false,
        }
    })
}

/// Counts a failed attempt from `ip`; whether it went over the limit (the IP is then
/// blocked for the period). A limiter that cannot be reached counts nothing: the attempt
/// was refused anyway.
pub async fn failed(env: &Env, ip: Option<&str>) -> bool {
    let Some(ip) = ip else { return false };
    let Ok(limiter) = env.rate_limiter(UNAUTHENTICATED) else {
        return false;
    };
    match limiter.limit(ip.to_owned()).await {
        Ok(outcome) if !outcome.success => {
            BLOCKED.with(|b| {
                let mut b = b.borrow_mut();
                if b.len() > 10_000 {
                    b.clear();
                }
                b.insert(ip.to_owned(), now_ms() + f64::from(PERIOD_SECONDS) * 1000.0);
            });
            true
        }
        Ok(_) => false,
        Err(e) => {
            worker::console_warn!("the failed-attempt limiter failed: {e}");
            false
        }
    }
}
