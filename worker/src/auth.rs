//! Checking a presented key: the core's sequence, with this Worker's I/O in the middle
//! (the root key, then the KV lookup). Used by `/v1/verify`, the gateway and the
//! management API alike.

use keyward_core::chrono::{DateTime, Utc};
use keyward_core::{Code, EnvRule, KeyRecord, Presented, Scope, Verdict};

use crate::context::Ctx;
use crate::http::ApiError;

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
}

impl Check {
    fn refused(code: Code) -> Self {
        Check {
            code,
            record: None,
            root: false,
            hint: None,
            missing: None,
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
        }
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
/// `required`; `root` says what the root key is here.
///
/// # Errors
/// `unavailable` when storage fails: the caller answers 503, never a pass.
pub async fn check(
    ctx: &Ctx<'_>,
    raw: &str,
    (rule, root): (EnvRule<'_>, Root),
    required: &[Scope],
    now: DateTime<Utc>,
) -> Result<Check, ApiError> {
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
        });
    }
    // KV finds the key; its lifecycle is the ledger's (a stale or forged KV copy can
    // neither revive a revoked key nor lengthen its life).
    let record = match ctx.store.by_hash(presented.hash()).await? {
        Some(found) if found.hash.ct_eq(presented.hash()) => ctx.ledger().truth(&found).await?,
        _ => None,
    };
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
    })
}
