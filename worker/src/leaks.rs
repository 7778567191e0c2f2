//! `POST /v1/leaks`: leaked-key reports, from GitHub's secret scanning partner program
//! (ECDSA P-256 signed) or from `keyward scan --revoke` (a `keys:write` key). Every valid
//! keyward key in the batch is revoked with reason `leaked` and raises an alert.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyward_core::{AlertKind, ApiKeyRef, Code};
use worker::Request;

use keyward_api::{Alert, LeakFeedback, LeakLabel, ReportedToken};

use crate::alerts;
use crate::config::AUDIT_DB;
use crate::context::{Ctx, LogUse};
use crate::http::{ApiError, ApiResult, json, read_body};
use crate::keys::revoke_record;

/// Largest report body read (GitHub batches many tokens).
const MAX_REPORT: usize = 1024 * 1024;
/// Most tokens in one report.
const MAX_TOKENS: usize = 1000;
/// Who a signed report is recorded as.
const GITHUB: &str = "github-secret-scanning";

fn bad_signature(why: &str) -> ApiError {
    ApiError::new(
        Code::BadSignature,
        format!("the leak report signature {why}"),
    )
}

/// Verifies GitHub's signature (base64 DER ECDSA P-256 over the raw body) with `spki`.
async fn verify_signature(spki: &[u8], signature: &str, body: &[u8]) -> Result<(), ApiError> {
    let der = STANDARD
        .decode(signature.trim())
        .map_err(|_| bad_signature("is not base64"))?;
    let sig = crate::signature::p1363_from_der(&der)
        .ok_or_else(|| bad_signature("is not a DER ECDSA P-256 signature"))?;
    match crate::signature::verify_p256(spki, &sig, body).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(bad_signature("does not verify")),
        Err(e) => Err(ApiError::unavailable("signature verification", e)),
    }
}

/// `POST /v1/leaks`
pub async fn report(ctx: &mut Ctx<'_>, mut req: Request) -> ApiResult {
    let key_id = req
        .headers()
        .get("github-public-key-identifier")
        .ok()
        .flatten();
    let signature = req
        .headers()
        .get("github-public-key-signature")
        .ok()
        .flatten();
    // A signed report is checked as far as it can be before its body is read: both
    // headers, and a key this deployment knows.
    let signed = match (key_id.as_deref(), signature.as_deref()) {
        (None, None) => None,
        (Some(k), Some(s)) => match ctx.config.leak_report_keys.get(k) {
            Some(spki) => Some((spki.clone(), s.to_owned())),
            None => {
                return Err(bad_signature(
                    "names a public key this deployment does not know",
                ));
            }
        },
        _ => {
            return Err(bad_signature(
                "needs both Github-Public-Key-Identifier and Github-Public-Key-Signature",
            ));
        }
    };
    let reporter = if signed.is_some() {
        None
    } else {
        Some(
            ctx.authorize(&req, "keys:write", "POST /v1/leaks", LogUse::Always)
                .await?,
        )
    };
    let body = read_body(&mut req, MAX_REPORT).await?;
    if let Some((spki, signature)) = &signed {
        verify_signature(spki, signature, &body).await?;
    }
    let reported: Vec<ReportedToken> = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            Code::InvalidRequest,
            format!("a leak report is a JSON array of {{token, type, url, source}} (line {}, column {})", e.line(), e.column()),
        )
    })?;
    if reported.len() > MAX_TOKENS {
        return Err(ApiError::new(
            Code::InvalidRequest,
            format!("at most {MAX_TOKENS} tokens per report"),
        ));
    }
    let by = reporter.map_or_else(|| GITHUB.to_owned(), |c| c.id);
    let mut feedback = Vec::with_capacity(reported.len());
    let mut found = Vec::new();
    for item in reported {
        let token = item.token.expose_secret();
        let token_hash = keyward_core::KeyHash::of(token).to_hex();
        let label = match ApiKeyRef::parse(token) {
            Err(_) => LeakLabel::FalsePositive,
            Ok(key) => match ctx.store.by_hash(&key.hash()).await? {
                None => LeakLabel::FalsePositive,
                Some(mut record) => {
                    let first = record.revoked_at.is_none();
                    if first {
                        revoke_record(ctx, &mut record, &by, "leaked").await?;
                    }
                    let place = item.url.as_deref().unwrap_or("an unknown place");
                    let source = item.source.as_deref().unwrap_or("unknown source");
                    let alert = Alert::new(
                        AlertKind::Leaked,
                        format!("leaked:{}", record.id),
                        format!(
                            "key {} was reported leaked at {place} ({source}) by {by}; {}",
                            record.hint,
                            if first {
                                "it is now revoked"
                            } else {
                                "it was already revoked"
                            }
                        ),
                        ctx.now,
                    );
                    found.push(alert.for_key(&record));
                    LeakLabel::TruePositive
                }
            },
        };
        feedback.push(LeakFeedback {
            token_hash,
            token_type: item.token_type,
            label,
        });
    }
    let db = ctx.env.d1(AUDIT_DB)?;
    alerts::raise(&db, ctx.config.alert_webhook_url.as_deref(), found)
        .await
        .map_err(|e| ApiError::unavailable("alert storage", e))?;
    Ok(json(200, &feedback))
}
