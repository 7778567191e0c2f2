//! Checking a presented key: the core's sequence, with this Worker's I/O in the middle
//! (the root key, then the KV lookup). Used by `/v1/verify`, the gateway and the
//! management API alike.

use keyward_core::limits::NamedLimit;
use std::net::IpAddr;

use keyward_core::{Code, EnvRule, KeyHash, KeyRecord, Presented, Scope, Verdict, restrict};

use crate::context::Ctx;
use crate::http::ApiError;
use crate::ledger::UseReport;

/// Id recorded as actor for the root key.
pub const ROOT: &str = "root";

/// The outcome of checking one presented string.
#[derive(Debug)]
pub struct Check {
    /// The verdict (for junk: what parsing refused).
    pub code: Code,
    /// The key's record, when found.
    pub record: Option<KeyRecord>,
    /// Whether the root key was presented.
    pub root: bool,
    /// The key's hint, when it parsed.
    pub hint: Option<String>,
    /// The first required scope missing, for `insufficient_scope`.
    pub missing: Option<Scope>,
    /// For a counted use: its limits, credits and retry time.
    pub usage: Option<UseReport>,
}

impl Check {
    fn refused(code: Code) -> Self {
        Check {
            code,
            record: None,
            root: false,
            hint: None,
            missing: None,
            usage: None,
        }
    }

    /// Whether the key passed.
    pub fn is_valid(&self) -> bool {
        self.code == Code::Valid
    }

    /// The caller's id for audit (`root`, a key id, or none).
    pub fn key_id(&self) -> Option<String> {
        if self.root {
            Some(ROOT.to_owned())
        } else {
            self.record.as_ref().map(|r| r.id.to_string())
        }
    }

    /// A sentence for humans; names the missing scope.
    pub fn message(&self) -> String {
        match &self.missing {
            Some(scope) => keyward_core::missing_scope_message(scope.as_str()),
            None => self.code.message().to_owned(),
        }
    }

    /// The refusal as an HTTP error (for the gateway and the management API).
    pub fn to_error(&self) -> ApiError {
        ApiError {
            code: self.code,
            message: self.message(),
            scope: self.missing.as_ref().map(|s| s.to_string()),
            headers: self.ratelimit_headers(),
        }
    }

    /// `RateLimit-Policy`, `RateLimit` and (refused) `Retry-After` for this use, when
    /// the key is counted under limits.
    pub fn ratelimit_headers(&self) -> Vec<(&'static str, String)> {
        self.usage
            .as_ref()
            .map(|u| keyward_core::limits::ratelimit_headers(&u.limits, u.retry_after_ms))
            .unwrap_or_default()
    }
}

/// What the root key is to a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Root {
    /// A management credential: it passes every check (it holds `admin` in no
    /// environment).
    Accepted,
    /// Not a key of the data plane (the gateway, or the key a service verifies): it is no
    /// key at all there, `unknown_key`.
    Unknown,
}

/// Checks `raw` for a request whose environment `rule` gives, needing every scope of
/// `required`; `root` says what the root key is here; `client` is the address the key is
/// used from (`None`: unknown, which a key restricted to networks refuses). With `cost`, the check is a use:
/// a key with limits or credits (its own, its environment's defaults, its owner's) is
/// decided, counted and charged by its ledger in one step (never from an isolate's
/// cached answer).
///
/// # Errors
/// `unavailable` when storage fails: the caller answers 503, never a pass.
pub async fn check(
    ctx: &Ctx<'_>,
    raw: &str,
    (rule, root): (EnvRule<'_>, Root),
    required: &[Scope],
    cost: Option<u32>,
    client: Option<IpAddr>,
) -> Result<Check, ApiError> {
    // The decision's time is now, not the request's start (its body may have been held).
    let now = ctx.clock()?;
    let presented = match Presented::parse(raw) {
        Ok(p) => p,
        Err(e) => return Ok(Check::refused(e.code())),
    };
    let hint = Some(presented.hint().to_owned());
    if presented.hash().ct_eq(&ctx.config.root_key_hash) {
        return Ok(Check {
            code: match root {
                Root::Accepted => Code::Valid,
                Root::Unknown => Code::UnknownKey,
            },
            record: None,
            root: root == Root::Accepted,
            hint,
            missing: None,
            usage: None,
        });
    }
    // KV finds the key; its lifecycle is the ledger's (a stale or forged KV copy can
    // neither revive a revoked key nor lengthen its life).
    let found = ctx
        .store
        .by_hash(presented.hash())
        .await?
        .filter(|found| found.hash.ct_eq(presented.hash()));
    let Some(found) = found else {
        return Ok(Check {
            hint,
            ..Check::refused(Code::UnknownKey)
        });
    };
    let record = ctx.ledger().truth(&found).await?;
    // The key's restrictions (not_before, allowed networks) refuse a live key before
    // anything is counted or charged; the core orders them after revoked and expired.
    if let Some(truth) = record.as_ref().filter(|r| r.hash.ct_eq(presented.hash())) {
        let base = presented.decide(Some(truth.facts()), rule, required, now);
        let verdict = restrict(base.clone(), &truth.restrictions(), client, now);
        if verdict != base {
            return Ok(Check {
                code: verdict.code(),
                record: Some(truth.clone()),
                root: false,
                hint,
                missing: None,
                usage: None,
            });
        }
    }
    if let (Some(cost), Some(truth)) = (cost, &record) {
        let env = match rule {
            EnvRule::Exactly(env) => env,
            EnvRule::KeysOwn => presented.env(),
        };
        let defaults = ctx
            .config
            .default_limits
            .get(&truth.env)
            .cloned()
            .unwrap_or_default();
        let owner_limits = ctx.store.owner_limits(&truth.owner).await?;
        let counted = !truth.limits().is_empty()
            || truth.credits.is_some()
            || truth.rotated_to.is_some() // its balance may live with its successor
            || !defaults.is_empty()
            || !owner_limits.is_empty();
        if counted {
            return use_counted(
                ctx,
                &found,
                &presented,
                env,
                required,
                cost,
                &defaults,
                &owner_limits,
                hint,
            )
            .await;
        }
    }
    let verdict = presented.decide(record.as_ref().map(KeyRecord::facts), rule, required, now);
    let missing = match &verdict {
        Verdict::InsufficientScope { missing } => Some(missing.clone()),
        _ => None,
    };
    Ok(Check {
        code: verdict.code(),
        // A record whose hash did not match is not the presented key's.
        record: record.filter(|r| r.hash.ct_eq(presented.hash())),
        root: false,
        hint,
        missing,
        usage: None,
    })
}

/// The object of the limits an owner's keys share.
pub fn owner_object(owner: &str) -> String {
    format!("owner:{}", KeyHash::of(owner).to_hex())
}

/// A use counted by the key's ledger, then by its owner's shared limits; a use the
/// owner's limits refuse, or that fails there (the owner's object unreachable), is given
/// back to the key's, whole: units, credits and the low-credit alert's state.
#[allow(clippy::too_many_arguments)]
async fn use_counted(
    ctx: &Ctx<'_>,
    found: &KeyRecord,
    presented: &Presented<'_>,
    env: &str,
    required: &[Scope],
    cost: u32,
    defaults: &[NamedLimit],
    owner_limits: &[NamedLimit],
    hint: Option<String>,
) -> Result<Check, ApiError> {
    let ledger = ctx.ledger();
    let (record, mut report) = ledger
        .use_key(found, presented.hash(), env, required, cost, defaults)
        .await?;
    let mut code = report.code.unwrap_or(Code::UnknownKey);
    if code == Code::Valid && !owner_limits.is_empty() {
        let give_back = || ledger.refund(found.chain().as_str(), Some(&found.id), &report, cost);
        let owner = match ledger
            .take(&owner_object(&found.owner), owner_limits, cost)
            .await
        {
            Ok(owner) => owner,
            Err(e) => {
                if let Err(lost) = give_back().await {
                    worker::console_error!(
                        "a use the owner's object failed on was not given back: {}",
                        lost.message
                    );
                }
                return Err(e);
            }
        };
        if owner.code != Some(Code::Valid) {
            give_back().await?;
            code = Code::RateLimited;
            report.retry_after_ms = owner.retry_after_ms;
            report.alert_due = false;
        }
        report.limits.extend(owner.limits);
    }
    report.code = Some(code);
    let missing = report.missing.as_deref().and_then(|m| Scope::parse(m).ok());
    Ok(Check {
        code,
        record: record.filter(|r| r.hash.ct_eq(presented.hash())),
        root: false,
        hint,
        missing,
        usage: Some(report),
    })
}
