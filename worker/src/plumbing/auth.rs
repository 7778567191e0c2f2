//! Checking a presented key: the core's sequence, with this Worker's I/O in the middle
//! (the root key, then the KV lookup). Used by `/v1/verify`, the gateway and the
//! management API alike.

use std::net::IpAddr;

use keyward_core::limits::NamedLimit;
use keyward_core::{
    Code, EnvRule, KeyHash, KeyRecord, NoCounts, Presented, Scope, UseAsk, UseReport, restrict,
    use_key,
};

use crate::bindings::config::Config;
use crate::bindings::ledger::Ledger;
use crate::bindings::store::Store;
use crate::plumbing::http::ApiError;

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
            .map(UseReport::headers)
            .unwrap_or_default()
    }
}

/// What a check reads: the settings, KV and the ledger. Borrowed from the request's
/// context (`Ctx::lookup`), so that the check knows nothing of the request.
#[derive(Debug)]
pub struct Lookup<'a> {
    /// Settings (the root key's hash, the environments' default limits).
    pub config: &'a Config,
    /// Key records by hash, owners' limits.
    pub store: &'a Store,
    /// Where keys' lives and counts are decided.
    pub ledger: Ledger<'a>,
}

impl Lookup<'_> {
    /// The time now, on the Worker's clock.
    ///
    /// # Errors
    /// `unavailable` when the clock cannot be believed: nothing is decided then.
    pub fn clock(
        &self,
    ) -> Result<keyward_core::chrono::DateTime<keyward_core::chrono::Utc>, ApiError> {
        crate::bindings::config::read_clock(self.config.clock)
            .ok_or_else(|| ApiError::new(Code::Unavailable, "the clock cannot be read"))
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
    ctx: &Lookup<'_>,
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
    let record = ctx.ledger.truth(&found).await?;
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
        let defaults = ctx
            .config
            .default_limits
            .get(&truth.env)
            .cloned()
            .unwrap_or_default();
        let owner_limits = ctx.store.owner_limits(&truth.owner).await?;
        if truth.is_counted_with(&defaults, &owner_limits) {
            let ask = UseAsk::new(&presented, rule, required)
                .costing(cost)
                .with_defaults(&defaults);
            let truth = Some(truth).filter(|t| t.hash.ct_eq(presented.hash()));
            return use_counted(ctx, (&found, truth), &ask, &owner_limits, hint, now).await;
        }
    }
    // Not counted anywhere: the core's whole use, with nothing to count.
    let ask = UseAsk::new(&presented, rule, required);
    let Ok(outcome) = use_key(record.as_ref(), &ask, &mut NoCounts, now);
    Ok(Check {
        code: outcome.report.code,
        // A record whose hash did not match is not the presented key's.
        record: record.filter(|r| r.hash.ct_eq(presented.hash())),
        root: false,
        hint,
        missing: outcome.report.missing,
        usage: None,
    })
}

/// The object of the limits an owner's keys share.
pub fn owner_object(owner: &str) -> String {
    format!("owner:{}", KeyHash::of(owner).to_hex())
}

/// A use counted by the key's ledger, then by its owner's shared limits; a use the
/// owner's limits refuse, or that fails there (the owner's object unreachable), is given
/// back to the key's, whole: units, credits and the low-credit alert's state (the core's
/// [`UseReport::owner_counted`]).
///
/// A key without an owner's limits whose use the core decides valid on this isolate's
/// truth about it (`truth`, at most the revocation bound old) is first paid from a lease
/// of its rate limits this isolate holds, if one is live (see
/// [`keyward_core::limits::lease`]); otherwise, or for any other verdict, its object is
/// asked, and may answer with a lease.
async fn use_counted(
    ctx: &Lookup<'_>,
    (found, truth): (&KeyRecord, Option<&KeyRecord>),
    ask: &UseAsk<'_>,
    owner_limits: &[NamedLimit],
    hint: Option<String>,
    now: keyward_core::chrono::DateTime<keyward_core::chrono::Utc>,
) -> Result<Check, ApiError> {
    let ledger = &ctx.ledger;
    let cost = ask.cost.unwrap_or(0);
    let may_lease = owner_limits.is_empty();
    // Only a use a lease could pay for is decided here first (no second decision for
    // every counted use).
    if let (true, Some(truth)) = (may_lease && ledger.holds_lease(ask.hash, cost), truth) {
        // The whole decision, as for any use, on the truth: counted by nothing here.
        let look = UseAsk { cost: None, ..*ask };
        let Ok(decided) = use_key(Some(truth), &look, &mut NoCounts, now);
        if decided.report.is_valid()
            && let Some(report) = ledger.spend_lease(ask.hash, truth, cost, now)
        {
            return Ok(Check {
                code: report.code,
                record: Some(truth.clone()),
                root: false,
                hint,
                missing: None,
                usage: Some(report),
            });
        }
    }
    let (record, mut report) = ledger.use_key((found, truth), ask, may_lease).await?;
    if report.is_valid() && !owner_limits.is_empty() {
        let chain = found.chain().as_str();
        let owner = match ledger
            .take(&owner_object(&found.owner), owner_limits, cost)
            .await
        {
            Ok(owner) => owner,
            Err(e) => {
                let back = report.give_back(cost);
                if let Err(lost) = ledger.refund(chain, Some(&found.id), back).await {
                    worker::console_error!(
                        "a use the owner's object failed on was not given back: {}",
                        lost.message
                    );
                }
                return Err(e);
            }
        };
        if let Some(back) = report.owner_counted(owner, cost) {
            ledger.refund(chain, Some(&found.id), back).await?;
        }
    }
    Ok(Check {
        code: report.code,
        record: record.filter(|r| r.hash.ct_eq(ask.hash)),
        root: false,
        hint,
        missing: report.missing.clone(),
        usage: Some(report),
    })
}
