//! Where a key's life is decided: a SQLite-backed Durable Object per rotation chain (its
//! first key's id), holding the records of the chain's keys. Every change of a key
//! (create, revoke, rotate, leak report) is applied there, atomically against the
//! object's own state, by the core's rules; KV is written after, as the global read index
//! that makes lookups fast, and what it says about revocation or expiry is never trusted
//! on its own.
//!
//! One object per chain rather than per key: a rotation then inserts the successor and
//! ends its predecessor in one SQLite transaction of one object, so no moment exists in
//! which two objects disagree about who succeeded whom, and two rotations cannot both win.
//!
//! An isolate reuses an object's answer about a key for at most the revocation bound
//! (`KEYWARD_REVOCATION_BOUND_MS`); its own changes replace that answer at once.

use std::cell::RefCell;

use keyward_core::chrono::{DateTime, Duration, Utc};
use keyward_core::time::{format_rfc3339, parse_rfc3339};
use keyward_core::{Code, KeyHash, KeyId, KeyRecord, Successor};
use worker::{
    DurableObject, Env, Method, Request, RequestInit, Response, SqlStorage, State, durable_object,
    wasm_bindgen,
};

use crate::cache::Recent;
use crate::http::ApiError;

/// The Durable Object namespace binding.
pub const KEY_LEDGER: &str = "KEY_LEDGER";

/// A change or question for a chain's object.
#[derive(Debug, Clone, PartialEq)]
pub enum LedgerOp {
    /// The record of a key of the chain (none if the object does not know it).
    Get {
        /// The key.
        id: KeyId,
    },
    /// A new key (its KV record is written first; it exists once this commits).
    Create {
        /// Its record.
        record: KeyRecord,
    },
    /// A record of the previous format, kept in KV only: taken as the object's state,
    /// once, if the object does not know the key yet.
    Adopt {
        /// The record as KV holds it.
        record: KeyRecord,
    },
    /// Revoke a key: write-once, the first revocation stands.
    Revoke {
        /// The key.
        id: KeyId,
        /// Who revokes it.
        by: String,
        /// Why.
        reason: String,
        /// When.
        now: DateTime<Utc>,
    },
    /// Rotate a key to a successor whose record the object makes.
    Rotate {
        /// The key.
        id: KeyId,
        /// The successor's id, hash and hint.
        successor: Successor,
        /// How long the old key keeps working.
        grace_seconds: i64,
        /// When.
        now: DateTime<Utc>,
    },
}

/// Percent-encodes a query value (everything but unreserved characters).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl LedgerOp {
    /// The request path (with its query) and body that carry this operation: records as
    /// JSON bodies, everything else in the query (the object decodes nothing but a
    /// `KeyRecord` with serde, which keeps the Worker's wasm small).
    pub fn to_parts(&self) -> (String, Option<String>) {
        let record_json = |r: &KeyRecord| serde_json::to_string(r).ok();
        match self {
            LedgerOp::Get { id } => (format!("/get?id={id}"), None),
            LedgerOp::Create { record } => ("/create".to_owned(), record_json(record)),
            LedgerOp::Adopt { record } => ("/adopt".to_owned(), record_json(record)),
            LedgerOp::Revoke {
                id,
                by,
                reason,
                now,
            } => (
                format!(
                    "/revoke?id={id}&by={}&reason={}&now={}",
                    encode(by),
                    encode(reason),
                    encode(&format_rfc3339(*now))
                ),
                None,
            ),
            LedgerOp::Rotate {
                id,
                successor,
                grace_seconds,
                now,
            } => (
                format!(
                    "/rotate?id={id}&next={}&hash={}&hint={}&grace={grace_seconds}&now={}",
                    successor.id,
                    successor.hash,
                    encode(&successor.hint),
                    encode(&format_rfc3339(*now))
                ),
                None,
            ),
        }
    }

    /// The operation a request to the object carries, or `None` for anything else.
    pub fn from_parts(path: &str, query: &str, body: &str) -> Option<Self> {
        let pairs = crate::http::query_pairs(query);
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let id = || get("id")?.parse::<KeyId>().ok();
        let now = || parse_rfc3339(get("now")?).ok();
        let record = || serde_json::from_str::<KeyRecord>(body).ok();
        Some(match path {
            "/get" => LedgerOp::Get { id: id()? },
            "/create" => LedgerOp::Create { record: record()? },
            "/adopt" => LedgerOp::Adopt { record: record()? },
            "/revoke" => LedgerOp::Revoke {
                id: id()?,
                by: get("by")?.to_owned(),
                reason: get("reason")?.to_owned(),
                now: now()?,
            },
            "/rotate" => LedgerOp::Rotate {
                id: id()?,
                successor: Successor {
                    id: get("next")?.parse().ok()?,
                    hash: get("hash")?.parse().ok()?,
                    hint: get("hint")?.to_owned(),
                },
                grace_seconds: get("grace")?.parse().ok()?,
                now: now()?,
            },
            _ => return None,
        })
    }
}

/// An object's answer: the records concerned after the operation (as the response's
/// JSON body), whether a revocation was this call's (a header), or a refusal (a status).
#[derive(Debug, Default)]
pub struct LedgerAnswer {
    /// The records concerned, after the change.
    pub records: Vec<KeyRecord>,
    /// For a revocation: whether this call revoked the key (not an earlier one).
    pub changed: bool,
    /// A refusal: `conflict` with the reason, or `not_found`.
    pub refused: Option<(Code, String)>,
}

/// The header an object sets when its operation changed the key.
const CHANGED: &str = "x-keyward-changed";

/// A chain's object.
#[durable_object]
#[allow(missing_debug_implementations)]
pub struct KeyLedger {
    sql: SqlStorage,
}

impl KeyLedger {
    fn load(&self, id: &KeyId) -> worker::Result<Option<KeyRecord>> {
        let mut rows = self.sql.exec(
            "SELECT record FROM keys WHERE id = ?",
            vec![id.as_str().into()],
        )?;
        let Some(row) = Iterator::next(&mut rows).transpose()? else {
            return Ok(None);
        };
        let json = worker::js_sys::Reflect::get(&row, &"record".into())?
            .as_string()
            .ok_or_else(|| worker::Error::RustError("a ledger row without a record".into()))?;
        serde_json::from_str(&json)
            .map(Some)
            .map_err(|e| worker::Error::RustError(e.to_string()))
    }

    fn save(&self, record: &KeyRecord) -> worker::Result<()> {
        let json =
            serde_json::to_string(record).map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.sql.exec(
            "INSERT INTO keys (id, record) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET record = excluded.record",
            vec![record.id.as_str().into(), json.into()],
        )?;
        Ok(())
    }

    /// Applies one operation. Synchronous from its first read to its last write: nothing
    /// else runs in the object in between, so each operation is atomic.
    fn apply(&self, op: LedgerOp) -> worker::Result<LedgerAnswer> {
        let refused = |code: Code, why: &str| LedgerAnswer {
            refused: Some((code, why.to_owned())),
            ..LedgerAnswer::default()
        };
        match op {
            LedgerOp::Get { id } => Ok(LedgerAnswer {
                records: self.load(&id)?.into_iter().collect(),
                ..LedgerAnswer::default()
            }),
            LedgerOp::Create { record } | LedgerOp::Adopt { record } => {
                // The first state of a key wins: neither a second create nor a (possibly
                // stale) copy from KV can replace what the object holds.
                let kept = match self.load(&record.id)? {
                    Some(existing) => existing,
                    None => {
                        self.save(&record)?;
                        record
                    }
                };
                Ok(LedgerAnswer {
                    records: vec![kept],
                    ..LedgerAnswer::default()
                })
            }
            LedgerOp::Revoke {
                id,
                by,
                reason,
                now,
            } => {
                let Some(mut record) = self.load(&id)? else {
                    return Ok(refused(Code::NotFound, "no key has this id"));
                };
                let changed = record.revoked_at.is_none();
                record.revoke(&by, &reason, now);
                if changed {
                    self.save(&record)?;
                }
                Ok(LedgerAnswer {
                    records: vec![record],
                    changed,
                    refused: None,
                })
            }
            LedgerOp::Rotate {
                id,
                successor,
                grace_seconds,
                now,
            } => {
                let Some(mut old) = self.load(&id)? else {
                    return Ok(refused(Code::NotFound, "no key has this id"));
                };
                match old.rotate_to(successor, Duration::seconds(grace_seconds), now) {
                    Ok(next) => {
                        self.save(&next)?;
                        self.save(&old)?;
                        Ok(LedgerAnswer {
                            records: vec![old, next],
                            changed: true,
                            refused: None,
                        })
                    }
                    Err(e) => Ok(refused(Code::Conflict, &e.to_string())),
                }
            }
        }
    }
}

impl DurableObject for KeyLedger {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        if let Err(e) = sql.exec(
            "CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, record TEXT NOT NULL)",
            None,
        ) {
            worker::console_error!("key ledger: the keys table could not be made: {e}");
        }
        KeyLedger { sql }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let url = crate::http::raw_url(&req);
        let body = req.text().await?;
        let Some(op) = LedgerOp::from_parts(&req.path(), crate::http::query_of(&url), &body) else {
            return Response::error("not a ledger operation", 400);
        };
        let answer = self.apply(op)?;
        if let Some((code, why)) = answer.refused {
            return Response::error(why, code.http_status());
        }
        let mut resp = Response::from_json(&answer.records)?;
        if answer.changed {
            resp.headers_mut().set(CHANGED, "1")?;
        }
        Ok(resp)
    }
}

thread_local! {
    /// The objects' recent answers, by key id, for at most the revocation bound.
    static RECENT: RefCell<Option<Recent<[u8; 32], Option<KeyRecord>>>> = const { RefCell::new(None) };
}

fn now_ms() -> f64 {
    worker::Date::now().as_millis() as f64
}

fn fault(e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable("the key ledger", e)
}

/// The Worker's side: asks a chain's object, keeps answers for the revocation bound.
#[derive(Debug)]
pub struct Ledger<'a> {
    env: &'a Env,
    bound_ms: f64,
}

impl<'a> Ledger<'a> {
    /// The ledger, reusing answers for at most `bound_ms` (0: ask every time).
    pub fn new(env: &'a Env, bound_ms: u32) -> Self {
        Ledger {
            env,
            bound_ms: f64::from(bound_ms),
        }
    }

    async fn ask(&self, chain: &KeyId, op: &LedgerOp) -> Result<LedgerAnswer, ApiError> {
        let namespace = self.env.durable_object(KEY_LEDGER).map_err(fault)?;
        let stub = namespace
            .id_from_name(chain.as_str())
            .and_then(|id| id.get_stub())
            .map_err(fault)?;
        let (path, body) = op.to_parts();
        let mut init = RequestInit::new();
        init.with_method(Method::Post);
        if let Some(body) = body {
            init.with_body(Some(wasm_bindgen::JsValue::from_str(&body)));
        }
        let req =
            Request::new_with_init(&format!("https://key-ledger{path}"), &init).map_err(fault)?;
        let mut resp = stub.fetch_with_request(req).await.map_err(fault)?;
        let refusal = match resp.status_code() {
            200 => None,
            404 => Some(Code::NotFound),
            409 => Some(Code::Conflict),
            s => return Err(fault(format!("the object answered {s}"))),
        };
        if let Some(code) = refusal {
            let why = resp.text().await.unwrap_or_default();
            return Ok(LedgerAnswer {
                refused: Some((code, why)),
                ..LedgerAnswer::default()
            });
        }
        let changed = resp.headers().get(CHANGED).ok().flatten().is_some();
        let records = resp.json::<Vec<KeyRecord>>().await.map_err(fault)?;
        Ok(LedgerAnswer {
            records,
            changed,
            refused: None,
        })
    }

    /// Keeps an answer about the key whose hash is `hash` (the cache is keyed like the
    /// KV lookups, by the key's hash).
    fn remember(
        &self,
        hash: &KeyHash,
        record: Option<KeyRecord>,
        started: Option<f64>,
    ) -> Option<KeyRecord> {
        if self.bound_ms <= 0.0 {
            return record;
        }
        RECENT.with(|r| {
            let mut r = r.borrow_mut();
            let cache = r.get_or_insert_with(|| Recent::new(self.bound_ms, 10_000));
            match started {
                Some(started) => cache.remember_read(*hash.as_bytes(), record, started, now_ms()),
                None => {
                    cache.remember_write(*hash.as_bytes(), record.clone(), now_ms());
                    record
                }
            }
        })
    }

    /// The truth about the key whose record KV holds (`found`): the object's record. A
    /// record of the previous format is adopted by its object once; a record of the
    /// current format that its object does not know was never committed (`None`).
    ///
    /// # Errors
    /// `unavailable` when the object cannot be reached: never a pass.
    pub async fn truth(&self, found: &KeyRecord) -> Result<Option<KeyRecord>, ApiError> {
        if self.bound_ms > 0.0 {
            let cached = RECENT.with(|r| {
                r.borrow()
                    .as_ref()
                    .and_then(|c| c.get(found.hash.as_bytes(), now_ms()))
            });
            if let Some(record) = cached {
                return Ok(record);
            }
        }
        let started = now_ms();
        let op = if found.lineage.is_none() {
            LedgerOp::Adopt {
                record: found.clone(),
            }
        } else {
            LedgerOp::Get {
                id: found.id.clone(),
            }
        };
        let answer = self.ask(found.chain(), &op).await?;
        let record = answer.records.into_iter().find(|r| r.id == found.id);
        Ok(self.remember(&found.hash, record, Some(started)))
    }

    /// Commits a new key (its KV record already written).
    ///
    /// # Errors
    /// `unavailable`.
    pub async fn create(&self, record: &KeyRecord) -> Result<KeyRecord, ApiError> {
        let answer = self
            .ask(
                record.chain(),
                &LedgerOp::Create {
                    record: record.clone(),
                },
            )
            .await?;
        let kept = answer
            .records
            .into_iter()
            .next()
            .ok_or_else(|| fault("the object kept nothing"))?;
        self.remember(&kept.hash, Some(kept.clone()), None);
        Ok(kept)
    }

    /// Revokes a key; returns its record and whether this call revoked it.
    ///
    /// # Errors
    /// `not_found`, or `unavailable`.
    pub async fn revoke(
        &self,
        record: &KeyRecord,
        by: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(KeyRecord, bool), ApiError> {
        let op = LedgerOp::Revoke {
            id: record.id.clone(),
            by: by.to_owned(),
            reason: reason.to_owned(),
            now,
        };
        let answer = self.ask(record.chain(), &op).await?;
        if let Some((code, why)) = answer.refused {
            return Err(ApiError::new(code, why));
        }
        let kept = answer
            .records
            .into_iter()
            .next()
            .ok_or_else(|| fault("the object kept nothing"))?;
        self.remember(&kept.hash, Some(kept.clone()), None);
        Ok((kept, answer.changed))
    }

    /// Rotates a key; returns the old key's record (ending with its grace) and the
    /// successor's.
    ///
    /// # Errors
    /// `conflict` (revoked, expired, already rotated), `not_found`, or `unavailable`.
    pub async fn rotate(
        &self,
        old: &KeyRecord,
        successor: Successor,
        grace_seconds: i64,
        now: DateTime<Utc>,
    ) -> Result<(KeyRecord, KeyRecord), ApiError> {
        let op = LedgerOp::Rotate {
            id: old.id.clone(),
            successor,
            grace_seconds,
            now,
        };
        let answer = self.ask(old.chain(), &op).await?;
        if let Some((code, why)) = answer.refused {
            return Err(ApiError::new(code, why));
        }
        let mut records = answer.records.into_iter();
        let (Some(old), Some(next)) = (records.next(), records.next()) else {
            return Err(fault("the object answered no successor"));
        };
        self.remember(&old.hash, Some(old.clone()), None);
        self.remember(&next.hash, Some(next.clone()), None);
        Ok((old, next))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_operation_travels_to_the_object_and_back_unchanged() {
        let new = keyward_core::ApiKey::generate("sk", "live").unwrap();
        let now = DateTime::from_timestamp_millis(1_780_000_000_123).unwrap();
        let id: KeyId = "key_0123456789abcdef".parse().unwrap();
        let record = KeyRecord::new(
            id.clone(),
            &new,
            keyward_core::NewRecord {
                name: "n".into(),
                owner: "o & p=q".into(),
                scopes: keyward_core::ScopeSet::default(),
                env: "live".into(),
                expires_at: None,
                metadata: Default::default(),
                rate_limit: None,
            },
            now,
        );
        for op in [
            LedgerOp::Get { id: id.clone() },
            LedgerOp::Create {
                record: record.clone(),
            },
            LedgerOp::Adopt { record },
            LedgerOp::Revoke {
                id: id.clone(),
                by: "root".into(),
                reason: "left the team & more: 100%?".into(),
                now,
            },
            LedgerOp::Rotate {
                id,
                successor: Successor {
                    id: "key_fedcba9876543210".parse().unwrap(),
                    hash: new.hash,
                    hint: new.hint.clone(),
                },
                grace_seconds: 60,
                now,
            },
        ] {
            let (path, body) = op.to_parts();
            let (path, query) = path.split_once('?').unwrap_or((&path, ""));
            let back = LedgerOp::from_parts(path, query, body.as_deref().unwrap_or(""));
            assert_eq!(back.as_ref(), Some(&op), "{path}");
        }
        assert_eq!(
            LedgerOp::from_parts("/revoke", "id=key_0123456789abcdef", ""),
            None
        );
        assert_eq!(LedgerOp::from_parts("/nothing", "", ""), None);
    }
}
