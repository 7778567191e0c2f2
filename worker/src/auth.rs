//! Checking a presented key: parse (no storage read for junk), root key, KV lookup, the
//! core's decision. Used by `/v1/verify`, the gateway and the management API alike.

use keyward_core::chrono::{DateTime, Utc};
use keyward_core::{ApiKeyRef, Code, KeyRecord, Scope, Verdict, missing_scope_message, verify};

use crate::config::Config;
use crate::http::ApiError;
use crate::store::Store;

/// Id recorded as actor for the root key.
pub const ROOT: &str = "root";

/// The outcome of checking one presented string.
#[derive(Debug)]
pub struct Check {
    /// The stable outcome code.
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
            Some(scope) => missing_scope_message(scope.as_str()),
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

/// Checks `raw` for a request in `env` (the key's own environment when `None`) needing
/// every scope of `required`.
///
/// # Errors
/// `unavailable` when storage fails: the caller answers 503, never a pass.
pub async fn check(
    config: &Config,
    store: &Store,
    raw: &str,
    env: Option<&str>,
    required: &[Scope],
    now: DateTime<Utc>,
) -> Result<Check, ApiError> {
    let key = match ApiKeyRef::parse(raw) {
        Ok(k) => k,
        Err(e) => {
            return Ok(Check {
                code: e.code(),
                record: None,
                root: false,
                hint: None,
                missing: None,
            });
        }
    };
    let hash = key.hash();
    let hint = Some(key.hint().to_owned());
    if hash.ct_eq(&config.root_key_hash) {
        return Ok(Check {
            code: Code::Valid,
            record: None,
            root: true,
            hint,
            missing: None,
        });
    }
    let record = store.by_hash(&hash).await?;
    // The record is addressed by hash; compare again in constant time for defence in depth.
    let record = record.filter(|r| r.hash.ct_eq(&hash));
    let env = env.unwrap_or(key.env());
    let verdict = verify(record.as_ref(), env, required, now);
    let missing = match &verdict {
        Verdict::InsufficientScope { missing } => Some(missing.clone()),
        _ => None,
    };
    Ok(Check {
        code: verdict.code(),
        record,
        root: false,
        hint,
        missing,
    })
}
