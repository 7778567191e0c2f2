//! Bindings and settings, read from `Env` once per isolate and checked up front.

use keyward_core::table::Table;
use std::cell::RefCell;
use std::rc::Rc;

use keyward_core::gateway::{MIN_ORIGIN_SECRET_LEN, Routes};
use keyward_core::limits::{NamedLimit, validate_limits};
use keyward_core::time::Clock;
use keyward_core::{Environments, KeyHash, ScopeRegistry, is_valid_prefix};
use worker::Env;

/// KV namespace holding key records.
pub const KEYS: &str = "KEYS";
/// Queue producer for audit events.
pub const AUDIT: &str = "AUDIT";
/// D1 database for audit events and alerts.
pub const AUDIT_DB: &str = "AUDIT_DB";
/// Static assets: the operator's dashboard under `/_keyward/`.
pub const ASSETS: &str = "ASSETS";

/// Rate limiting binding for failed attempts (no key, malformed or unknown), per client IP.
pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";

/// Queue producer for revocations that did not fit in the request that asked for them.
pub const REVOCATIONS: &str = "REVOCATIONS";

/// Default revocation bound: an isolate reuses a ledger's answer for at most 1 s.
pub const DEFAULT_REVOCATION_BOUND_MS: u32 = 1_000;
/// Largest revocation bound accepted: 60 s (the bound other products promise).
pub const MAX_REVOCATION_BOUND_MS: u32 = 60_000;

/// Default largest request body the gateway forwards: 10 MiB.
pub const DEFAULT_GATEWAY_MAX_BODY: usize = 10 * 1024 * 1024;

/// The alert endpoint of `ALERT_WEBHOOK_URL`, signed with `ALERT_WEBHOOK_SECRET`.
#[derive(Clone, Debug)]
pub struct AlertWebhook {
    /// Where alerts are delivered.
    pub url: String,
    /// What they are signed with (its `Debug` hides it).
    pub secret: keyward_core::webhook::WebhookSecret,
}

/// Everything the Worker needs besides its bindings.
#[derive(Debug)]
pub struct Config {
    /// SHA-256 of the root key, which holds `admin`.
    pub root_key_hash: KeyHash,
    /// Vendor prefix of keys minted here.
    pub vendor: String,
    /// Environments keys may be minted for (the core's registry).
    pub environments: Environments,
    /// Declared scopes.
    pub scopes: ScopeRegistry,
    /// Gateway origin, when the gateway is on.
    pub origin_url: Option<String>,
    /// Gateway routes.
    pub routes: Routes,
    /// The secret the gateway signs what it asserts to the origin with (required with
    /// `origin_url`).
    pub origin_secret: Option<OriginSecret>,
    /// Largest request body the gateway forwards.
    pub gateway_max_body: usize,
    /// How long an isolate may reuse a key ledger's answer, in ms (0: never).
    pub revocation_bound_ms: u32,
    /// Rate limits for keys with none of their own, by environment.
    pub default_limits: Table<String, Vec<NamedLimit>>,
    /// The clock every decision is made by: the platform's in a deployment; in a test
    /// configuration shifted (`KEYWARD_TEST_CLOCK_OFFSET_MS`) or frozen
    /// (`KEYWARD_TEST_CLOCK_AT_MS`). Settings only: no request can change it.
    pub clock: Clock,
    /// Environment the gateway serves.
    pub gateway_env: String,
    /// `ALERT_WEBHOOK_URL` with `ALERT_WEBHOOK_SECRET`: an endpoint that receives every
    /// alert (`alert.raised`, `credits.low`), delivered and signed like every endpoint.
    pub alert_webhook: Option<AlertWebhook>,
    /// Leak-report signing keys: identifier → P-256 public key (SPKI DER).
    pub leak_report_keys: Table<String, Vec<u8>>,
    /// `KEYWARD_ROLES`: named sets of declared scopes.
    pub roles: keyward_core::Roles,
    /// `KEYWARD_MAX_LIFETIME`: the longest life of a key, per environment.
    pub max_lifetime: keyward_core::LifetimePolicy,
}

/// `ORIGIN_SECRET`'s bytes; never printed.
pub struct OriginSecret(pub Vec<u8>);

impl std::fmt::Debug for OriginSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OriginSecret(…)")
    }
}

thread_local! {
    static CACHED: RefCell<Option<Rc<Config>>> = const { RefCell::new(None) };
}

/// The test clock settings: `KEYWARD_TEST_CLOCK_OFFSET_MS` (milliseconds within 400
/// days) shifts the platform's clock, `KEYWARD_TEST_CLOCK_AT_MS` (epoch milliseconds,
/// 2024 to 2100) stops it at one instant; at most one of them. Neither: the platform's.
fn test_clock(env: &Env, problems: &mut Vec<String>) -> Clock {
    let number = |v: String| v.trim().parse::<i64>().ok();
    match (
        var(env, "KEYWARD_TEST_CLOCK_OFFSET_MS"),
        var(env, "KEYWARD_TEST_CLOCK_AT_MS"),
    ) {
        (None, None) => Clock::default(),
        (Some(_), Some(_)) => {
            problems.push(
                "KEYWARD_TEST_CLOCK_OFFSET_MS and KEYWARD_TEST_CLOCK_AT_MS cannot both be set (a frozen clock has no offset)"
                    .to_owned(),
            );
            Clock::default()
        }
        (Some(offset), None) => number(offset).and_then(Clock::shifted).unwrap_or_else(|| {
            problems.push(
                "KEYWARD_TEST_CLOCK_OFFSET_MS must be milliseconds within 400 days".to_owned(),
            );
            Clock::default()
        }),
        (None, Some(at)) => number(at).and_then(Clock::frozen).unwrap_or_else(|| {
            problems.push(
                "KEYWARD_TEST_CLOCK_AT_MS must be epoch milliseconds from 2024-01-01 to 2100-01-01"
                    .to_owned(),
            );
            Clock::default()
        }),
    }
}

/// `ALERT_WEBHOOK_URL` and `ALERT_WEBHOOK_SECRET`: both or neither; a URL a webhook
/// endpoint may have, a secret of the `whsec_` form.
fn alert_webhook(env: &Env, problems: &mut Vec<String>) -> Option<AlertWebhook> {
    const HOW: &str =
        "`whsec_` and the base64 of 32 random bytes, e.g. `echo whsec_$(openssl rand -base64 32)`";
    match (
        var(env, "ALERT_WEBHOOK_URL"),
        var(env, "ALERT_WEBHOOK_SECRET"),
    ) {
        (None, None) => None,
        (None, Some(_)) => {
            problems.push("ALERT_WEBHOOK_SECRET is set but ALERT_WEBHOOK_URL is not".to_owned());
            None
        }
        (Some(_), None) => {
            problems.push(format!(
                "ALERT_WEBHOOK_SECRET is required when ALERT_WEBHOOK_URL is set (alerts are signed by Standard Webhooks with it: {HOW}; see the README's Webhooks section)"
            ));
            None
        }
        (Some(url), Some(secret)) => {
            let url = url.trim().to_owned();
            if let Err(e) = keyward_core::webhook::check_url(
                &url,
                crate::endpoints::webhooks::allow_loopback_http(env),
            ) {
                problems.push(format!("ALERT_WEBHOOK_URL {e}"));
                return None;
            }
            match keyward_core::webhook::WebhookSecret::parse(secret.trim()) {
                Ok(secret) => Some(AlertWebhook { url, secret }),
                Err(_) => {
                    problems.push(format!("ALERT_WEBHOOK_SECRET must be {HOW}"));
                    None
                }
            }
        }
    }
}

/// The time on `clock` now (the platform's reading is `Date.now()`); none when it cannot be
/// believed: nothing is decided then.
pub fn read_clock(
    clock: Clock,
) -> Option<keyward_core::chrono::DateTime<keyward_core::chrono::Utc>> {
    clock.time(worker::js_sys::Date::now())
}

fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .ok()
        .map(|v| v.to_string())
        .or_else(|| env.secret(name).ok().map(|v| v.to_string()))
        .filter(|v| !v.trim().is_empty())
}

impl Config {
    /// The isolate's config, read and checked on first use. Settings do not change within
    /// an isolate, so the parsed form is kept.
    ///
    /// # Errors
    /// A sentence naming every missing or invalid setting and binding.
    pub fn get(env: &Env) -> Result<Rc<Config>, String> {
        if let Some(c) = CACHED.with(|c| c.borrow().clone()) {
            return Ok(c);
        }
        let config = Rc::new(Self::read(env)?);
        CACHED.with(|c| *c.borrow_mut() = Some(config.clone()));
        Ok(config)
    }

    fn read(env: &Env) -> Result<Config, String> {
        let mut problems = Vec::new();
        let root_key_hash = match var(env, "KEYWARD_ROOT_KEY_HASH") {
            None => {
                problems.push("KEYWARD_ROOT_KEY_HASH is not set (the lowercase hex SHA-256 of the root key; `make dev` or `keyward init` makes one)".to_owned());
                None
            }
            Some(h) => match h.trim().parse::<KeyHash>() {
                Ok(h) => Some(h),
                Err(_) => {
                    problems.push(
                        "KEYWARD_ROOT_KEY_HASH must be 64 lowercase hex characters".to_owned(),
                    );
                    None
                }
            },
        };
        let vendor = var(env, "KEYWARD_VENDOR").unwrap_or_else(|| "sk".to_owned());
        if !is_valid_prefix(&vendor) {
            problems.push("KEYWARD_VENDOR must be [a-z][a-z0-9]{0,15}".to_owned());
        }
        let environments = match var(env, "KEYWARD_ENVIRONMENTS") {
            None => Environments::default(),
            Some(list) => Environments::parse(&list).unwrap_or_else(|e| {
                problems.push(format!("KEYWARD_ENVIRONMENTS must be {e}"));
                Environments::default()
            }),
        };
        let scopes = match var(env, "KEYWARD_SCOPES") {
            None => Some(ScopeRegistry::default()),
            Some(json) => match ScopeRegistry::from_json(&json) {
                Ok(r) => Some(r),
                Err(e) => {
                    problems.push(format!("KEYWARD_SCOPES: {e}"));
                    None
                }
            },
        };
        let origin_url = var(env, "ORIGIN_URL").map(|u| u.trim_end_matches('/').to_owned());
        if let Some(u) = &origin_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            problems.push("ORIGIN_URL must be an http(s) URL".to_owned());
        }
        let routes = match var(env, "ROUTES") {
            None => Routes::default(),
            Some(json) => Routes::from_json(&json).unwrap_or_else(|e| {
                problems.push(format!("ROUTES: {e}"));
                Routes::default()
            }),
        };
        let gateway_max_body = match var(env, "GATEWAY_MAX_BODY") {
            None => DEFAULT_GATEWAY_MAX_BODY,
            Some(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=100 * 1024 * 1024).contains(n))
                .unwrap_or_else(|| {
                    problems.push(
                        "GATEWAY_MAX_BODY must be a number of bytes from 1 to 104857600 (100 MiB)"
                            .to_owned(),
                    );
                    0
                }),
        };
        let origin_secret =
            var(env, "ORIGIN_SECRET").map(|s| OriginSecret(s.trim().as_bytes().to_vec()));
        match (&origin_url, &origin_secret) {
            (Some(_), None) => problems.push(format!(
                "ORIGIN_SECRET is required when ORIGIN_URL is set (the gateway signs what it tells the origin with it; at least {MIN_ORIGIN_SECRET_LEN} characters, e.g. `openssl rand -hex 32`; `keyward init` writes one into .dev.vars)"
            )),
            (_, Some(s)) if s.0.len() < MIN_ORIGIN_SECRET_LEN => problems.push(format!(
                "ORIGIN_SECRET must be at least {MIN_ORIGIN_SECRET_LEN} characters"
            )),
            _ => {}
        }
        let alert_webhook = alert_webhook(env, &mut problems);
        if origin_url.is_some() && routes.is_empty() {
            problems.push("ROUTES is required when ORIGIN_URL is set (the gateway fails closed: no route, no access)".to_owned());
        }
        let revocation_bound_ms = match var(env, "KEYWARD_REVOCATION_BOUND_MS") {
            None => DEFAULT_REVOCATION_BOUND_MS,
            Some(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= MAX_REVOCATION_BOUND_MS)
                .unwrap_or_else(|| {
                    problems.push(format!(
                        "KEYWARD_REVOCATION_BOUND_MS must be a number of milliseconds from 0 to {MAX_REVOCATION_BOUND_MS}"
                    ));
                    0
                }),
        };
        let default_limits = match var(env, "KEYWARD_RATE_LIMITS") {
            None => Table::new(),
            Some(json) => {
                match keyward_core::json::from_str::<Table<String, Vec<NamedLimit>>>(&json) {
                    Err(e) => {
                        problems.push(format!(
                        "KEYWARD_RATE_LIMITS must be a JSON object of environment to [{{name, limit, period}}]: {e}"
                    ));
                        Table::new()
                    }
                    Ok(map) => {
                        for (name, limits) in map.iter() {
                            if !environments.contains(name) {
                                problems.push(format!(
                                "KEYWARD_RATE_LIMITS names '{name}', which is not one of KEYWARD_ENVIRONMENTS"
                            ));
                            }
                            if let Err(e) = validate_limits(limits) {
                                problems.push(format!("KEYWARD_RATE_LIMITS[{name}]: {e}"));
                            }
                        }
                        map
                    }
                }
            }
        };
        let clock = test_clock(env, &mut problems);
        let gateway_env = var(env, "GATEWAY_ENV").unwrap_or_else(|| "live".to_owned());
        if !environments.contains(&gateway_env) {
            problems.push(format!(
                "GATEWAY_ENV must be one of KEYWARD_ENVIRONMENTS ({})",
                environments.names().join(", ")
            ));
        }
        let leak_report_keys = match var(env, "LEAK_REPORT_PUBLIC_KEYS") {
            None => Table::new(),
            Some(json) => match keyward_core::json::from_str::<Table<String, String>>(&json) {
                Err(_) => {
                    problems.push(
                        "LEAK_REPORT_PUBLIC_KEYS must be a JSON object of identifier to PEM"
                            .to_owned(),
                    );
                    Table::new()
                }
                Ok(pems) => {
                    let pems = pems.into_iter().filter_map(|(id, pem)| {
                        match crate::plumbing::signature::p256_spki_from_pem(&pem) {
                            Some(spki) => Some((id, spki)),
                            None => {
                                problems.push(format!(
                                    "LEAK_REPORT_PUBLIC_KEYS[{id}] is not a P-256 public key PEM"
                                ));
                                None
                            }
                        }
                    });
                    Table::from_pairs(pems)
                }
            },
        };
        let roles = match (var(env, "KEYWARD_ROLES"), &scopes) {
            (Some(json), Some(registry)) => keyward_core::Roles::from_json(&json, registry)
                .unwrap_or_else(|e| {
                    problems.push(e.to_string());
                    keyward_core::Roles::default()
                }),
            _ => keyward_core::Roles::default(),
        };
        let max_lifetime = match var(env, "KEYWARD_MAX_LIFETIME") {
            None => keyward_core::LifetimePolicy::default(),
            Some(json) => keyward_core::LifetimePolicy::from_json(&json).unwrap_or_else(|e| {
                problems.push(e.to_string());
                keyward_core::LifetimePolicy::default()
            }),
        };
        if env.kv(KEYS).is_err() {
            problems.push(format!("the KV binding {KEYS} is missing"));
        }
        if env.queue(AUDIT).is_err() {
            problems.push(format!("the queue binding {AUDIT} is missing"));
        }
        if env
            .durable_object(crate::bindings::ledger::KEY_LEDGER)
            .is_err()
        {
            problems.push(format!(
                "the Durable Object binding {} is missing",
                crate::bindings::ledger::KEY_LEDGER
            ));
        }
        // Required at the edge, which judges every credential first. The full build behind
        // it counts the failed attempts it sees itself when the binding is there (a
        // deployment of `keyward` alone); under `wrangler dev` with both Workers, wrangler
        // gives the second one none.
        #[cfg(not(feature = "control"))]
        if env.rate_limiter(UNAUTHENTICATED).is_err() {
            problems.push(format!(
                "the rate limiting binding {UNAUTHENTICATED} is missing"
            ));
        }
        if env.queue(REVOCATIONS).is_err() {
            problems.push(format!("the queue binding {REVOCATIONS} is missing"));
        }
        if env.d1(AUDIT_DB).is_err() {
            problems.push(format!("the D1 binding {AUDIT_DB} is missing"));
        }
        #[cfg(not(feature = "control"))]
        if env.service(crate::plumbing::control::CONTROL).is_err() {
            problems.push(format!(
                "the service binding {} is missing",
                crate::plumbing::control::CONTROL
            ));
        }
        match (root_key_hash, scopes) {
            (Some(root_key_hash), Some(scopes)) if problems.is_empty() => Ok(Config {
                root_key_hash,
                vendor,
                environments,
                scopes,
                origin_url,
                routes,
                origin_secret,
                gateway_max_body,
                revocation_bound_ms,
                default_limits,
                clock,
                gateway_env,
                alert_webhook,
                leak_report_keys,
                roles,
                max_lifetime,
            }),
            _ => Err(format!("keyward is misconfigured: {}", problems.join("; "))),
        }
    }
}
