//! One check's outcome, the scope lists kept inside WebAssembly (required and held), and
//! the decision for a record a store of the app's own found.
//!
//! Every call that checks returns its outcome packed in one number (see
//! [`Check::outcome`]), so that the common answer needs no second call into
//! WebAssembly; the [`Check`] it fills holds what is read more rarely (the hint, the
//! hash, the usage of a counted use).

use keyward_core::chrono::{DateTime, Utc};
use keyward_core::limits::{LimitStatus, ratelimit_headers as core_ratelimit_headers};
use keyward_core::{
    Code, EnvRule, HashMemo, KeyFacts, KeyHash, MemoTag, Networks, Presented, Restrictions, Scope,
    ScopeSet, UseReport, Verdict, client_ip, decide, restrict,
};
use wasm_bindgen::prelude::*;

use crate::{code_index, error, optional_time, scope_set, scopes_from, time};

/// Required scopes one check may name: a missing one's index fits the packed outcome.
const MAX_REQUIRED: usize = 65_534;
/// Records a [`KeyTable`](crate::table::KeyTable) may hold: a slot fits the packed
/// outcome exactly in a double.
pub(crate) const MAX_SLOTS: u32 = 1 << 27;

/// The environment rule of the package's `env` option: a name, or `""` for "whichever
/// the key names" (the explicit `{any: true}`; the package refuses an empty `env` option
/// before it gets here).
pub(crate) fn env_rule(env: &str) -> EnvRule<'_> {
    if env.is_empty() {
        EnvRule::KeysOwn
    } else {
        EnvRule::Exactly(env)
    }
}

/// An environment rule's name (the package's `env` option, `""` for "the key's own"),
/// kept inside WebAssembly so that a check need not copy it in.
#[wasm_bindgen]
#[derive(Debug, Default)]
pub struct Env {
    pub(crate) name: String,
}

#[wasm_bindgen]
impl Env {
    /// The rule of `name` (checked by the package first: an environment name, or `""`).
    #[wasm_bindgen(constructor)]
    pub fn new(name: String) -> Env {
        Env { name }
    }
}

/// A list of required scopes, parsed once and kept inside WebAssembly.
#[wasm_bindgen]
#[derive(Debug, Default)]
pub struct Scopes {
    pub(crate) scopes: Vec<Scope>,
}

#[wasm_bindgen]
impl Scopes {
    /// Parses each scope.
    ///
    /// # Errors
    /// `invalid_scope` with the first bad scope; `invalid_request` for more than 65,534.
    #[wasm_bindgen(constructor)]
    pub fn new(list: Vec<String>) -> Result<Scopes, JsValue> {
        if list.len() > MAX_REQUIRED {
            return Err(error(
                Code::InvalidRequest,
                "at most 65534 required scopes",
                None,
            ));
        }
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

/// A set of held scopes, parsed once and kept inside WebAssembly.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Held {
    pub(crate) set: ScopeSet,
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

/// A record's allowed client networks (`allowed_ips`), parsed once and kept inside
/// WebAssembly; the empty list restricts nothing.
#[wasm_bindgen]
#[derive(Debug, Default)]
pub struct Allowed {
    pub(crate) networks: Networks,
}

#[wasm_bindgen]
impl Allowed {
    /// Parses each block (a bare address is its /32 or /128).
    ///
    /// # Errors
    /// `invalid_request` naming the first bad block, or for more than the core's maximum.
    #[wasm_bindgen(constructor)]
    pub fn new(list: Vec<String>) -> Result<Allowed, JsValue> {
        Networks::parse(&list)
            .map(|networks| Allowed { networks })
            .map_err(|e| error(Code::InvalidRequest, &format!("allowed_ips: {e}"), None))
    }
}

/// The verdict of a use given the record's restrictions (`not_before`, allowed networks)
/// and the client's address as text (`None`, or text that is no address: unknown), by the
/// core's [`restrict`].
pub(crate) fn restricted(
    verdict: Verdict,
    allowed: &Networks,
    not_before: Option<DateTime<Utc>>,
    client: Option<&str>,
    now: DateTime<Utc>,
) -> Verdict {
    let restrictions = Restrictions {
        allowed_ips: allowed.clone(),
        not_before,
    };
    restrict(verdict, &restrictions, client.and_then(client_ip), now)
}

/// The client's address as the core reads it (IPv4, IPv6, an IPv4-mapped IPv6 address),
/// in its canonical text; `undefined` for text that is none (a zone id, a name, junk).
#[wasm_bindgen(js_name = clientIp)]
pub fn client_ip_text(text: &str) -> Option<String> {
    client_ip(text).map(|ip| ip.to_string())
}

/// The outcome of a check, filled in place by the calls that take it (no allocation per
/// check). One per store for synchronous paths; one per request across an `await`.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Check {
    pub(crate) code: Code,
    note: Option<&'static str>,
    pub(crate) slot: i32,
    pub(crate) missing: i32,
    hash: Option<KeyHash>,
    /// The presented key's tag in its store's memo, when it was presented through one.
    memo_tag: Option<MemoTag>,
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
            memo_tag: None,
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

    /// The outcome in one number, as every checking call returns it:
    ///
    /// ```text
    /// outcome = code + 256 × counted + 512 × (missing + 1) + 2^25 × (slot + 1)
    /// ```
    ///
    /// `code` indexes the code table; `counted` is 1 when the use was counted (the usage
    /// is then here); `missing` is the index of the first required scope not held (-1:
    /// none); `slot` the table slot of the record found (-1: none). Every part is below
    /// its unit, and the whole below 2^53: exact in a double.
    #[wasm_bindgen(getter)]
    pub fn outcome(&self) -> f64 {
        f64::from(code_index(self.code))
            + 256.0 * f64::from(u8::from(self.usage.is_some()))
            + 512.0 * f64::from(self.missing + 1)
            + 33_554_432.0 * f64::from(self.slot + 1)
    }

    /// The outcome's code, as an index into the code table.
    #[wasm_bindgen(getter)]
    pub fn code(&self) -> u8 {
        code_index(self.code)
    }

    /// A sentence saying why, when the code's own is too general (a refused credential).
    #[wasm_bindgen(getter)]
    pub fn note(&self) -> Option<String> {
        self.note.map(str::to_owned)
    }

    /// For a table check: the slot of the record found, or -1.
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

    /// Parses and hashes `key` (junk is refused before any lookup): afterwards the code
    /// is `valid` when it parsed, else `malformed` or `bad_checksum`. Returns the
    /// [outcome](Check::outcome).
    pub fn present(&mut self, key: &str) -> f64 {
        self.present_through(key, None)
    }

    /// The request's credential from its `Authorization` and `X-API-Key` values (each
    /// `undefined` when absent, repeated lines joined with `", "`), by the core's rules,
    /// then [`present`](Check::present)ed, in one call. Returns the outcome.
    #[wasm_bindgen(js_name = presentRequest)]
    pub fn present_request(
        &mut self,
        authorization: Option<String>,
        x_api_key: Option<String>,
    ) -> f64 {
        self.present_request_through(authorization, x_api_key, None)
    }

    /// Decides for the key [`present`](Check::present)ed that no record was found.
    /// Returns the outcome.
    #[wasm_bindgen(js_name = notFound)]
    pub fn not_found(&mut self) -> f64 {
        if self.hash.is_some() {
            self.code = Code::UnknownKey;
        }
        self.outcome()
    }

    /// A copy of this outcome, to keep across an `await` while this one is reused.
    pub fn keep(&self) -> Check {
        Check {
            code: self.code,
            note: self.note,
            slot: self.slot,
            missing: self.missing,
            hash: self.hash,
            memo_tag: self.memo_tag,
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
}

impl Check {
    /// The hash of the key [`present`](Check::present)ed, if it parsed.
    pub(crate) fn presented_hash(&self) -> Option<KeyHash> {
        self.hash
    }

    /// The environment the presented key names.
    pub(crate) fn key_env(&self) -> &str {
        &self.key_env
    }

    /// The presented key's tag in the memo it was presented through, if any.
    pub(crate) fn memo_tag(&self) -> Option<MemoTag> {
        self.memo_tag
    }

    /// [`present`](Check::present), its hash taken from `memo` when the memo holds it.
    pub(crate) fn present_through(&mut self, key: &str, memo: Option<&HashMemo>) -> f64 {
        self.reset();
        let parsed = match memo {
            Some(memo) => memo.present(key).map(|(p, tag)| (p, Some(tag))),
            None => Presented::parse(key).map(|p| (p, None)),
        };
        match parsed {
            Ok((p, tag)) => {
                self.keep_presented(&p);
                self.memo_tag = tag;
            }
            Err(e) => self.code = e.code(),
        }
        self.outcome()
    }

    /// [`present_request`](Check::present_request) through `memo`, as
    /// [`present_through`](Check::present_through).
    pub(crate) fn present_request_through(
        &mut self,
        authorization: Option<String>,
        x_api_key: Option<String>,
        memo: Option<&HashMemo>,
    ) -> f64 {
        match keyward_core::credential(authorization.as_deref(), x_api_key.as_deref()) {
            Ok(key) => self.present_through(key, memo),
            Err(e) => {
                self.refuse_credential(e);
                self.outcome()
            }
        }
    }

    pub(crate) fn reset(&mut self) {
        self.code = Code::Valid;
        self.note = None;
        self.slot = -1;
        self.missing = -1;
        self.hash = None;
        self.memo_tag = None;
        self.usage = None;
    }

    /// Refuses the check with `code`, `note` saying why; the outcome.
    pub(crate) fn refuse(&mut self, code: Code, note: &'static str) -> f64 {
        self.code = code;
        self.note = Some(note);
        self.outcome()
    }

    pub(crate) fn refuse_credential(&mut self, e: keyward_core::CredentialError) {
        self.reset();
        self.code = e.code();
        self.note = Some(e.message());
    }

    pub(crate) fn keep_presented(&mut self, p: &Presented<'_>) {
        self.hash = Some(*p.hash());
        self.key_env.clear();
        self.key_env.push_str(p.env());
        self.hint.clear();
        self.hint.push_str(p.hint());
    }

    /// Takes what one use (the core's `use_key`) came to: its verdict and, when it was
    /// counted, its report's usage.
    pub(crate) fn set_use(
        &mut self,
        verdict: &Verdict,
        report: UseReport,
        counted: bool,
        required: &[Scope],
    ) {
        self.set_verdict(verdict, required);
        if counted {
            self.usage = Some(Usage {
                limits: report.limits,
                retry_after_ms: report.retry_after_ms,
                credits: report.credits,
                alert_due: report.alert_due,
            });
        }
    }

    pub(crate) fn set_verdict(&mut self, verdict: &Verdict, required: &[Scope]) {
        self.code = verdict.code();
        if let Verdict::InsufficientScope { missing } = verdict {
            self.missing = required
                .iter()
                .position(|s| s == missing)
                .and_then(|i| i32::try_from(i).ok())
                .unwrap_or(-1);
        }
    }
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
            out.refuse_credential(e);
            None
        }
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

/// The core's decision for a stored key given by its fields (no presented key: the
/// public `verify(record)`; `record_env` `undefined`: no record), in environment `env`
/// (`""`: the record's own), needing every scope of `required`, used from `client`
/// (`undefined`: unknown). Times are epoch milliseconds, `NaN` for none. Fills `out`;
/// returns the outcome.
///
/// # Errors
/// `invalid_request` for a bad `now`.
#[wasm_bindgen(js_name = decideRecord)]
#[allow(clippy::too_many_arguments)]
pub fn decide_record(
    record_env: Option<String>,
    held: &Held,
    expires_ms: f64,
    revoked_ms: f64,
    not_before_ms: f64,
    allowed: &Allowed,
    client: Option<String>,
    env: &str,
    required: &Scopes,
    now_ms: f64,
    out: &mut Check,
) -> Result<f64, JsValue> {
    out.reset();
    let now = time(now_ms)?;
    // No key was presented: there is no hash to compare, and `decide` compares none.
    let hash = KeyHash::from_bytes([0; 32]);
    let facts = record_env.as_deref().map(|record_env| KeyFacts {
        hash: &hash,
        env: record_env,
        scopes: &held.set,
        expires_at: optional_time(expires_ms),
        revoked_at: optional_time(revoked_ms),
    });
    let env = match (env, &record_env) {
        ("", Some(own)) => own.as_str(),
        (env, _) => env,
    };
    let verdict = restricted(
        decide(facts, env, &required.scopes, now),
        &allowed.networks,
        optional_time(not_before_ms),
        client.as_deref(),
        now,
    );
    out.set_verdict(&verdict, &required.scopes);
    Ok(out.outcome())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_outcome_packs_code_counted_missing_and_slot_exactly() {
        let mut out = Check::new();
        out.code = Code::InsufficientScope;
        out.missing = 65_533;
        out.slot = i32::try_from(MAX_SLOTS - 1).unwrap();
        out.usage = Some(Usage::default());
        let o = out.outcome();
        assert_eq!(o % 256.0, f64::from(code_index(Code::InsufficientScope)));
        assert_eq!((o / 256.0).floor() % 2.0, 1.0);
        assert_eq!((o / 512.0).floor() % 65_536.0 - 1.0, 65_533.0);
        assert_eq!((o / 33_554_432.0).floor() - 1.0, f64::from(MAX_SLOTS - 1));
        assert!(o < 2f64.powi(53));
    }
}
