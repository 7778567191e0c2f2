//! `GET /v1/overview`: the deployment at a glance, as far as the caller may read it: uses
//! per hour by outcome over 7 days, refusals by code, the most used keys and the alerts of
//! those 7 days.

use keyward_core::chrono::{DateTime, Utc};
use keyward_core::{Code, KeyId};
use serde::{Deserialize, Serialize};

use crate::{Alert, UsageRow};

/// Most keys in [`Overview::top_keys`].
pub const TOP_KEYS: u32 = 10;
/// Most alerts in [`Overview::alerts`].
pub const OVERVIEW_ALERTS: u32 = 20;

/// `GET /v1/overview` (`audit:read`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Overview {
    /// The start of the first hour counted (7 days ago).
    #[serde(with = "keyward_core::time::rfc3339")]
    #[cfg_attr(feature = "openapi", schemars(with = "DateTime<Utc>"))]
    pub since: DateTime<Utc>,
    /// When the answer was made.
    #[serde(with = "keyward_core::time::rfc3339")]
    #[cfg_attr(feature = "openapi", schemars(with = "DateTime<Utc>"))]
    pub until: DateTime<Utc>,
    /// The owner everything is confined to (a key that is not root or `admin`: its own);
    /// `null`: every owner.
    pub owner: Option<String>,
    /// The environment everything is confined to, as `owner`.
    pub env: Option<String>,
    /// Uses per UTC hour by outcome (only hours with uses are listed).
    pub uses: Vec<UsageRow>,
    /// Refused uses by the code that refused them, most first.
    pub refusals: Vec<CodeCount>,
    /// The most used keys (at most [`TOP_KEYS`]), most first.
    pub top_keys: Vec<KeyUses>,
    /// The alerts of these 7 days (at most [`OVERVIEW_ALERTS`]), newest first.
    pub alerts: Vec<Alert>,
}

/// How many uses one code refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct CodeCount {
    /// The refusing code.
    pub code: Code,
    /// How many uses it refused.
    pub uses: u64,
}

/// One key's uses over the overview's 7 days.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct KeyUses {
    /// The key's id; `null` for the root key (which has no record).
    pub key_id: Option<KeyId>,
    /// Whether it is the deployment's root key (which has no record, hence no page).
    pub root: bool,
    /// Its hint.
    pub hint: Option<String>,
    /// Its owner.
    pub owner: Option<String>,
    /// Its uses, valid or not.
    pub uses: u64,
    /// How many of them were refused.
    pub refused: u64,
}

/// Refused uses by code, most first (then by code), summed over `rows`.
pub fn refusals(rows: &[UsageRow]) -> Vec<CodeCount> {
    let mut counts: Vec<CodeCount> = Vec::new();
    for r in rows.iter().filter(|r| r.outcome != Code::Valid) {
        match counts.iter_mut().find(|c| c.code == r.outcome) {
            Some(c) => c.uses += r.uses,
            None => counts.push(CodeCount {
                code: r.outcome,
                uses: r.uses,
            }),
        }
    }
    keyward_core::order::sort_by(&mut counts, |a, b| {
        b.uses
            .cmp(&a.uses)
            .then_with(|| a.code.as_str().cmp(b.code.as_str()))
    });
    counts
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn row(hour: &str, outcome: Code, uses: u64) -> UsageRow {
        UsageRow {
            start: keyward_core::time::parse_rfc3339(hour).unwrap(),
            outcome,
            uses,
        }
    }

    #[test]
    fn refusals_are_summed_by_code_over_hours_most_first_and_valid_uses_are_not_refusals() {
        let rows = [
            row("2026-06-01T10:00:00Z", Code::Valid, 50),
            row("2026-06-01T10:00:00Z", Code::Revoked, 2),
            row("2026-06-01T11:00:00Z", Code::RateLimited, 3),
            row("2026-06-01T12:00:00Z", Code::Revoked, 2),
            row("2026-06-01T12:00:00Z", Code::Expired, 4),
        ];
        let got: Vec<(&str, u64)> = refusals(&rows)
            .iter()
            .map(|c| (c.code.as_str(), c.uses))
            .collect();
        assert_eq!(got, [("expired", 4), ("revoked", 4), ("rate_limited", 3)]);
        assert!(refusals(&rows[..1]).is_empty());
    }
}
