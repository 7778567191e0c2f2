//! Failed attempts (no key, junk, an unknown key, a revoked, expired or wrong-environment
//! key) limited per client address with the Workers Rate Limiting binding, so that a flood
//! of random keys cannot turn into unbounded audit rows. Cloudflare's rate limiting is
//! counted per location and is approximate by its own description; it bounds abuse, it
//! does not meter customers (keys' limits, counted in their Durable Objects, do that
//! exactly).
//!
//! The rules are the core's (`keyward_core::throttle`): the credential is judged first and
//! only a failed attempt is ever refused, so a valid key is never locked out by others
//! behind the same address; IPv6 is counted by /64. A bucket over the limit is remembered
//! by the isolate for the limiter's period (at most [`CAPACITY`] buckets, the oldest
//! evicted first): its next failed attempts are answered 429 `rate_limited` without an
//! audit row each (the one that tripped the limit is logged).

use std::cell::RefCell;

use keyward_core::Code;
use keyward_core::throttle::{Blocklist, bucket, counts, refuses};
use worker::Env;

use crate::bindings::config::UNAUTHENTICATED;
use crate::plumbing::http::ApiError;

/// The period of the `UNAUTHENTICATED` limiter (wrangler.toml), in seconds.
pub const PERIOD_SECONDS: u32 = 60;

/// The most buckets an isolate remembers as blocked.
pub const CAPACITY: usize = 10_000;

thread_local! {
    /// Buckets over the limit, until when (ms).
    static BLOCKED: RefCell<Blocklist> = RefCell::new(Blocklist::new(CAPACITY));
}

fn now_ms() -> f64 {
    worker::js_sys::Date::now()
}

/// The refusal for an address over the limit.
pub fn refusal() -> ApiError {
    let mut e = ApiError::new(
        Code::RateLimited,
        "too many failed attempts from this address; try again later",
    );
    e.headers.push(("Retry-After", PERIOD_SECONDS.to_string()));
    e
}

/// Whether an attempt judged `code` from `ip` is refused because the address is over the
/// limit (only failed attempts ever are).
pub fn refused(ip: Option<&str>, code: Code) -> bool {
    let Some(ip) = ip else { return false };
    if !counts(code) {
        return false;
    }
    let key = bucket(ip);
    let blocked = BLOCKED.with(|b| b.borrow_mut().is_blocked(&key, now_ms()));
    refuses(blocked, code)
}

/// Counts a failed attempt judged `code` from `ip`; whether it went over the limit (the
/// address is then blocked for the period). A limiter that cannot be reached counts
/// nothing: the attempt was refused anyway.
pub async fn failed(env: &Env, ip: Option<&str>, code: Code) -> bool {
    let Some(ip) = ip else { return false };
    if !counts(code) {
        return false;
    }
    let key = bucket(ip);
    match crate::bindings::platform::within_limit(env, UNAUTHENTICATED, &key).await {
        Ok(false) => {
            let until = now_ms() + f64::from(PERIOD_SECONDS) * 1000.0;
            BLOCKED.with(|b| b.borrow_mut().block(&key, until));
            true
        }
        Ok(true) => false,
        Err(e) => {
            worker::console_warn!("the failed-attempt limiter failed: {e}");
            false
        }
    }
}
