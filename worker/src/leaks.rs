//! `POST /v1/leaks`: leaked-key reports, from GitHub's secret scanning partner program
//! (ECDSA P-256 signed) or from `keyward scan --revoke` (a `keys:write` key). Every valid
//! keyward key in the batch is revoked with reason `leaked` and raises an alert.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyward_core::{AlertKind, ApiKeyRef, Code};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey as _;
use serde::{Deserialize, Serialize};
use worker::Request;

use crate::alerts::{self, Alert};
use crate::api::{Ctx, revoke_record};
use crate::config::AUDIT_DB;
use crate::http::{ApiError, ApiResult, json, read_body};

/// Largest report body read (GitHub batches many tokens).
const MAX_REPORT: usize = 1024 * 1024;
/// Most tokens in one report.
const MAX_TOKENS: usize = 1000;
/// Who a signed report is recorded as.
const GITHUB: &str = "github-secret-scanning";

/// One reported token, in GitHub's format.
#[derive(Deserialize)]
struct Reported {
    token: String,
    #[serde(rename = "type")]
    token_type: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    source: Option<String>,
}

/// GitHub's feedback format for each token.
#[derive(Serialize)]
struct Feedback {
    token_hash: String,
    token_type: String,
    label: &'static str,
}

fn bad_signature(why: &str) -> ApiError {
    ApiError::new(
        Code::BadSignature,
        format!("the leak report signature {why}"),
    )
}

/// Verifies GitHub's signature over the raw body against the configured public keys.
fn verify_signature(
    ctx: &Ctx<'_>,
    key_id: &str,
    signature: &str,
    body: &[u8],
) -> Result<(), ApiError> {
    let pem = ctx
        .config
        .leak_report_keys
        .get(key_id)
        .ok_or_else(|| bad_signature("names a public key this deployment does not know"))?;
    let key = VerifyingKey::from_public_key_pem(pem).map_err(|_| {
        worker::console_error!("LEAK_REPORT_PUBLIC_KEYS[{key_id}] is not a P-256 public key PEM");
        ApiError::new(Code::Internal, "a configured leak report key is invalid")
    })?;
    let der = STANDARD
        .decode(signature.trim())
        .map_err(|_| bad_signature("is not base64"))?;
    let sig =
        Signature::from_der(&der).map_err(|_| bad_signature("is not a DER ECDSA signature"))?;
    key.verify(body, &sig)
        .map_err(|_| bad_signature("does not verify"))
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
    let signed = key_id.is_some() || signature.is_some();
    let reporter = if signed {
        None
    } else {
        Some(ctx.authorize(&req, "keys:write", "POST /v1/leaks").await?)
    };
    let body = read_body(&mut req, MAX_REPORT).await?;
    if signed {
        match (key_id.as_deref(), signature.as_deref()) {
            (Some(k), Some(s)) => verify_signature(ctx, k, s, &body)?,
            _ => {
                return Err(bad_signature(
                    "needs both Github-Public-Key-Identifier and Github-Public-Key-Signature",
                ));
            }
        }
    }
    let reported: Vec<Reported> = serde_json::from_slice(&body).map_err(|e| {
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
        let token_hash = keyward_core::KeyHash::of(&item.token).to_hex();
        let label = match ApiKeyRef::parse(&item.token) {
            Err(_) => "false_positive",
            Ok(key) => match ctx.store.by_hash(&key.hash()).await? {
                None => "false_positive",
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
                    "true_positive"
                }
            },
        };
        feedback.push(Feedback {
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
