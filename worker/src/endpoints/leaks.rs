//! `POST /v1/leaks`: leaked-key reports, from GitHub's secret scanning partner program
//! (ECDSA P-256 signed) or from `keyward scan --revoke` (a `keys:write` key). Every valid
//! keyward key in the batch is revoked with reason `leaked` and raises an alert; a key
//! reporting revokes only keys of its own owner and environment (unless it holds
//! `admin`), and labels the others without touching them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyward_core::chrono::{DateTime, Utc};
use keyward_core::{AlertKind, AuditEvent, Code, KeyHash, KeyRecord, Lifecycle, Presented};
use worker::wasm_bindgen::JsValue;
use worker::{Request, SendMessage};

use keyward_api::{Alert, LeakFeedback, LeakLabel, ReportedToken, Revocation, bounded_text};

use crate::bindings::config::{AUDIT_DB, REVOCATIONS};
use crate::bindings::fields::{Builder, Fields, FromFields};
use crate::endpoints::keys::revoke_record;
use crate::jobs::alerts;
use crate::plumbing::context::{Caller, Ctx};
use crate::plumbing::http::{ApiError, ApiResult, json, read_body};

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
    let sig = crate::plumbing::signature::p1363_from_der(&der)
        .ok_or_else(|| bad_signature("is not a DER ECDSA P-256 signature"))?;
    match crate::plumbing::signature::verify_p256(spki, &sig, body).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(bad_signature("does not verify")),
        Err(e) => Err(ApiError::unavailable("signature verification", e)),
    }
}

/// GitHub's headers naming the public key a report is signed with, and the signature.
const KEY_ID_HEADER: &str = "github-public-key-identifier";
const SIGNATURE_HEADER: &str = "github-public-key-signature";

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// Whether a report comes signed (either of GitHub's signature headers is sent): then its
/// signature, not a key, is its credential.
pub fn is_signed(req: &Request) -> bool {
    header(req, KEY_ID_HEADER).is_some() || header(req, SIGNATURE_HEADER).is_some()
}

/// A signed report's public key and signature, checked as far as they can be before its
/// body is read: both headers, and a key this deployment knows.
fn signed_by(ctx: &Ctx<'_>, req: &Request) -> Result<(Vec<u8>, String), ApiError> {
    match (header(req, KEY_ID_HEADER), header(req, SIGNATURE_HEADER)) {
        (Some(k), Some(s)) => match ctx.config.leak_report_keys.get(&k) {
            Some(spki) => Ok((spki.clone(), s)),
            None => Err(bad_signature(
                "names a public key this deployment does not know",
            )),
        },
        _ => Err(bad_signature(
            "needs both Github-Public-Key-Identifier and Github-Public-Key-Signature",
        )),
    }
}

/// `POST /v1/leaks`, from `reporter` (a caller authorised with the route's scope) or,
/// without one, signed by GitHub.
pub async fn report(ctx: &mut Ctx<'_>, mut req: Request, reporter: Option<Caller>) -> ApiResult {
    let signed = match reporter {
        Some(_) => None,
        None => Some(signed_by(ctx, &req)?),
    };
    let body = read_body(&mut req, MAX_REPORT).await?;
    if let Some(caller) = &reporter {
        ctx.still_acting(caller).await?;
    }
    if let Some((spki, signature)) = &signed {
        verify_signature(spki, signature, &body).await?;
    }
    let reported: Vec<ReportedToken> = keyward_api::strict::from_slice(&body).map_err(|e| {
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
    let mut alerts_found = Vec::new();
    let outcome = revoke_reported(ctx, &reported, reporter.as_ref(), &mut alerts_found).await;
    // Alerts for what was revoked are raised even when a later item failed.
    let db = ctx.env.d1(AUDIT_DB)?;
    alerts::raise(ctx.env, &db, alerts_found)
        .await
        .map_err(|e| ApiError::unavailable("alert storage", e))?;
    Ok(json(200, &outcome?))
}

/// Revocations done in the report's own request; the rest are queued. Each revocation
/// costs storage operations and subrequests, and a request may make at most 50
/// subrequests on the Workers Free plan (10,000 on Paid) and 1,000 KV operations on any
/// plan; lookups are bulk reads of up to 100 keys, each counting as one operation.
pub const REVOKE_IN_REQUEST: usize = 20;

/// A revocation the report's request could not make itself, made by the queue consumer.
#[derive(Debug, Clone)]
pub struct RevokeJob {
    /// The key's hash (hex).
    pub hash: String,
    /// Who reported it.
    pub by: String,
    /// Where it was found.
    pub place: String,
}

impl FromFields for RevokeJob {
    fn from_fields(f: &Fields) -> worker::Result<Self> {
        Ok(RevokeJob {
            hash: f.str("hash")?,
            by: f.str("by")?,
            place: f.str("place")?,
        })
    }
}

impl RevokeJob {
    /// The queue message: its fields as the revocation queue's consumer reads them.
    fn message(&self) -> SendMessage<JsValue> {
        Builder::new()
            .str("hash", &self.hash)
            .str("by", &self.by)
            .str("place", &self.place)
            .message(None)
    }
}

fn leaked_alert(record: &KeyRecord, place: &str, by: &str, now: DateTime<Utc>, how: &str) -> Alert {
    Alert::new(
        AlertKind::Leaked,
        AlertKind::Leaked.alert_id(record.id.as_str(), now),
        format!(
            "key {} was reported leaked at {place} by {by}; {how}",
            record.hint
        ),
        now,
    )
    .for_key(record)
}

/// Labels every reported token and revokes every valid key among them that the reporter
/// (`None`: a signed report) may revoke: the first [`REVOKE_IN_REQUEST`] here, the others
/// through the revocation queue. `found` collects the alerts raised, including for what
/// was revoked before a fault.
async fn revoke_reported(
    ctx: &mut Ctx<'_>,
    reported: &[ReportedToken],
    reporter: Option<&Caller>,
    found: &mut Vec<Alert>,
) -> Result<Vec<LeakFeedback>, ApiError> {
    let by = reporter.map_or(GITHUB, |c| c.id.as_str());
    let outside = |record: &KeyRecord| {
        reporter.is_some_and(|c| {
            c.actor()
                .may_manage_owner(&record.owner, &record.env)
                .is_err()
        })
    };
    let parsed: Vec<Option<KeyHash>> = reported
        .iter()
        .map(|item| {
            Presented::parse(item.token.expose_secret())
                .ok()
                .map(|p| *p.hash())
        })
        .collect();
    let mut wanted: Vec<KeyHash> = parsed.iter().flatten().copied().collect();
    keyward_core::order::sort_by(&mut wanted, |a, b| a.as_bytes().cmp(b.as_bytes()));
    wanted.dedup();
    let records = ctx.store.by_hashes(&wanted).await?;
    let mut feedback = Vec::with_capacity(reported.len());
    let mut queued = Vec::new();
    let mut done: Vec<KeyHash> = Vec::new();
    let mut revoked_here = 0;
    for (item, hash) in reported.iter().zip(&parsed) {
        let token_hash = KeyHash::of(item.token.expose_secret()).to_hex();
        // The reporter's words are bounded before they go into an alert (which bounds
        // its fields again), so that the verdict at the end of the detail is kept.
        let place = format!(
            "{} ({})",
            bounded_text(item.url.as_deref().unwrap_or("an unknown place"), 512),
            bounded_text(item.source.as_deref().unwrap_or("unknown source"), 64)
        );
        let (label, revocation) = match hash {
            None => (LeakLabel::FalsePositive, None),
            Some(h) if h.ct_eq(&ctx.config.root_key_hash) => {
                found.push(Alert::new(
                    AlertKind::RootKeyLeaked,
                    AlertKind::RootKeyLeaked.alert_id("root", ctx.now),
                    format!(
                        "CRITICAL: the root key was reported leaked at {place} by {by}: replace it now (keyward init --force, then set the new KEYWARD_ROOT_KEY_HASH)"
                    ),
                    ctx.now,
                ));
                (LeakLabel::TruePositive, Some(Revocation::ReplaceRootKey))
            }
            Some(h) => match records.get(h) {
                None => (LeakLabel::FalsePositive, None),
                // Another owner's or environment's key: labelled, left alone.
                Some(record) if outside(record) => {
                    (LeakLabel::TruePositive, Some(Revocation::NotPermitted))
                }
                Some(record) if record.revoked_at.is_some() || done.contains(h) => {
                    found.push(leaked_alert(
                        record,
                        &place,
                        by,
                        ctx.now,
                        "it was already revoked",
                    ));
                    (LeakLabel::TruePositive, Some(Revocation::AlreadyRevoked))
                }
                Some(record) if revoked_here < REVOKE_IN_REQUEST => {
                    // KV only finds the key; its ledger revokes it (or says it was).
                    let (record, changed) = revoke_record(ctx, record, by, "leaked").await?;
                    revoked_here += 1;
                    done.push(*h);
                    let (how, revocation) = if changed {
                        ("it is now revoked", Revocation::Revoked)
                    } else {
                        ("it was already revoked", Revocation::AlreadyRevoked)
                    };
                    found.push(leaked_alert(&record, &place, by, ctx.now, how));
                    (LeakLabel::TruePositive, Some(revocation))
                }
                Some(_) => {
                    done.push(*h);
                    queued.push(RevokeJob {
                        hash: h.to_hex(),
                        by: by.to_owned(),
                        place,
                    });
                    (LeakLabel::TruePositive, Some(Revocation::Queued))
                }
            },
        };
        feedback.push(LeakFeedback {
            token_hash,
            token_type: item.token_type.clone(),
            label,
            revocation,
        });
    }
    if !queued.is_empty() {
        let queue = ctx.env.queue(REVOCATIONS)?;
        for chunk in queued.chunks(100) {
            queue
                .send_raw_batch(chunk.iter().map(RevokeJob::message))
                .await
                .map_err(|e| ApiError::unavailable("the revocation queue", e))?;
        }
    }
    Ok(feedback)
}

/// The revocation queue's consumer: revokes each queued key (idempotent: a revoked key
/// stays revoked with its first reason) and raises its alert.
///
/// # Errors
/// A storage fault: the batch is retried.
pub async fn revoke_queued(
    jobs: Vec<RevokeJob>,
    env: &worker::Env,
    config: &crate::bindings::config::Config,
    now: DateTime<Utc>,
) -> worker::Result<Vec<AuditEvent>> {
    let store = crate::bindings::store::Store::open(env)?;
    let ledger = crate::bindings::ledger::Ledger::new(env, config.revocation_bound_ms);
    let mut events = Vec::new();
    let mut announcements = Vec::new();
    let mut alerts_found = Vec::new();
    let fault = |e: ApiError| worker::Error::RustError(e.message);
    // Whether each reporting key can still act, asked once per batch.
    let mut acting: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
    for job in jobs {
        let Ok(hash) = job.hash.parse::<KeyHash>() else {
            continue;
        };
        if job.by.parse::<keyward_core::KeyId>().is_ok() {
            let can = match acting.get(&job.by) {
                Some(can) => *can,
                None => {
                    let truth = match store.by_id(&job.by).await.map_err(fault)? {
                        Some(kv) => ledger.truth(&kv).await.map_err(fault)?,
                        None => None,
                    };
                    let can = truth.is_some_and(|r| r.may_act(now).is_ok());
                    acting.insert(job.by.clone(), can);
                    can
                }
            };
            if !can {
                worker::console_warn!("a queued revocation by a key that cannot act: dropped");
                continue;
            }
        }
        let Some(found) = store.by_hash(&hash).await.map_err(fault)? else {
            continue;
        };
        // KV only finds the key; its ledger revokes it (or says it was).
        let (record, changed) = match ledger.revoke(&found, &job.by, "leaked").await {
            Ok(done) => done,
            // The reporting key can no longer act: its queued revocations are not made.
            Err(e) if matches!(e.code, Code::Revoked | Code::Expired) => {
                worker::console_warn!("a queued revocation by a key that cannot act: dropped");
                continue;
            }
            Err(e) => return Err(fault(e)),
        };
        let how = if changed {
            store.put(&record).await.map_err(fault)?;
            events.push(crate::bindings::audit::lifecycle_event(
                &record,
                &job.by,
                Lifecycle::Revoke,
                now,
            ));
            announcements.push(crate::endpoints::webhooks::Announcement::of_action(
                Lifecycle::Revoke,
                &record,
                now,
            ));
            "it is now revoked"
        } else {
            "it was already revoked"
        };
        alerts_found.push(leaked_alert(&record, &job.place, &job.by, now, how));
    }
    // `key.revoked` (reason `leaked`) for what this batch revoked, like an API revocation.
    if let Err(e) = crate::endpoints::webhooks::announce(env, announcements).await {
        worker::console_error!("key.revoked events could not be queued: {e}");
    }
    let db = env.d1(AUDIT_DB)?;
    alerts::raise(env, &db, alerts_found).await?;
    Ok(events)
}
