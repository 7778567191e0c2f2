//! Key state in KV.
//!
//! ```text
//! rec:{hash}           the KeyRecord (JSON), addressed by the key's SHA-256
//! id:{id}              ""  with metadata {hash, owner, env}: lookup by id, listing
//! own:{owner-hash}:{id} "" with metadata {hash, owner, env}: listing by owner
//! used:{id}            RFC 3339 time of last use, written by the audit consumer only
//! ```
//! `last_used_at` lives apart from the record so that the consumer never rewrites a
//! record (and so can never undo a revocation that raced it).

use std::cell::RefCell;

use crate::bindings::cache::Recent;
use crate::bindings::config::KEYS;
use crate::bindings::fields::{Builder, Fields};
use crate::bindings::platform::Kv;
use crate::plumbing::http::ApiError;
use keyward_core::limits::NamedLimit;
use keyward_core::{KeyHash, KeyRecord};

/// How long a KV read may be served from the edge cache of the location that made it:
/// KV's minimum. It bounds how stale a revocation can be at other locations (plus
/// KV's own propagation, up to about 60 s).
pub const CACHE_TTL_SECONDS: u32 = 30;

/// How long an isolate reuses a hot-path lookup (found or not) before asking KV again.
/// Writes through this isolate update it at once, so a revocation made here is seen by
/// the next request here; other isolates see it within this time plus KV's bound.
pub const ISOLATE_CACHE_MS: f64 = 2_000.0;
/// Entries kept per isolate before the cache is emptied.
const ISOLATE_CACHE_MAX: usize = 10_000;

thread_local! {
    /// Owners' shared limits, by the owner's hash.
    static OWNER_LIMITS: RefCell<Recent<[u8; 32], Vec<NamedLimit>>> =
        RefCell::new(Recent::new(ISOLATE_CACHE_MS, ISOLATE_CACHE_MAX));
    /// Recent hot-path lookups by key hash.
    static RECENT: RefCell<Recent<[u8; 32], Option<KeyRecord>>> =
        RefCell::new(Recent::new(ISOLATE_CACHE_MS, ISOLATE_CACHE_MAX));
}

fn now_ms() -> f64 {
    worker::Date::now().as_millis() as f64
}

/// Forgets every lookup this isolate keeps (a change was made where it did not see it).
#[cfg(not(feature = "control"))]
pub fn forget_all() {
    let now = now_ms();
    OWNER_LIMITS.with(|c| c.borrow_mut().forget_all(now));
    RECENT.with(|c| c.borrow_mut().forget_all(now));
}

/// Index metadata stored with `id:` and `own:` entries.
#[derive(Debug)]
pub struct IndexMeta {
    /// Hex hash of the key.
    pub hash: String,
    /// Owner.
    pub owner: String,
    /// Environment.
    pub env: String,
}

impl IndexMeta {
    /// The metadata as KV stores it (a JSON object of the three fields).
    fn fields(&self) -> Builder {
        Builder::new()
            .str("hash", &self.hash)
            .str("owner", &self.owner)
            .str("env", &self.env)
    }

    /// The metadata read back; `None` when it is not this shape.
    fn read(f: &Fields) -> Option<Self> {
        Some(IndexMeta {
            hash: f.str("hash").ok()?,
            owner: f.str("owner").ok()?,
            env: f.str("env").ok()?,
        })
    }
}

/// KV access for key records.
#[derive(Debug)]
pub struct Store {
    kv: Kv,
}

fn fault(e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable("key storage", e)
}

/// A stored record, read with the same JSON decoder as the key ledger's (one decoder in
/// the wasm, not two).
fn decode(text: Option<String>) -> Result<Option<KeyRecord>, ApiError> {
    text.map(|t| keyward_core::json::from_str(&t))
        .transpose()
        .map_err(fault)
}

fn owner_limits_key(owner: &str) -> String {
    format!("olim:{}", KeyHash::of(owner).to_hex())
}

fn owner_prefix(owner: &str) -> String {
    let h = KeyHash::of(owner).to_hex();
    format!("own:{}:", &h[..32])
}

impl Store {
    /// The `KEYS` namespace.
    ///
    /// # Errors
    /// The binding is not set.
    pub fn open(env: &worker::Env) -> worker::Result<Self> {
        Kv::of(env, KEYS).map(|kv| Store { kv })
    }

    /// The record whose key hashes to `hash`, if any. A fault is an error (fail closed).
    ///
    /// # Errors
    /// `unavailable` when KV fails.
    pub async fn by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, ApiError> {
        let cached = RECENT.with(|r| r.borrow().get(hash.as_bytes(), now_ms()));
        if let Some(record) = cached {
            return Ok(record);
        }
        let started = now_ms();
        let text = self
            .kv
            .text(&format!("rec:{}", hash.to_hex()), Some(CACHE_TTL_SECONDS))
            .await
            .map_err(fault)?;
        let record = decode(text)?;
        Ok(RECENT.with(|r| {
            r.borrow_mut()
                .remember_read(*hash.as_bytes(), record, started, now_ms())
        }))
    }

    /// The records of many hashes at once, in bulk reads of up to 100 keys (one KV
    /// operation each). Hashes without a record are absent from the map.
    ///
    /// # Errors
    /// `unavailable` when KV fails.
    pub async fn by_hashes(
        &self,
        hashes: &[KeyHash],
    ) -> Result<std::collections::HashMap<KeyHash, KeyRecord>, ApiError> {
        let mut found = std::collections::HashMap::new();
        for chunk in hashes.chunks(100) {
            let names: Vec<String> = chunk
                .iter()
                .map(|h| format!("rec:{}", h.to_hex()))
                .collect();
            let page = self.kv.texts(&names).await.map_err(fault)?;
            for text in page {
                if let Some(record) = decode(Some(text))? {
                    found.insert(record.hash, record);
                }
            }
        }
        Ok(found)
    }

    /// The record with public id `id`, with `last_used_at` filled in.
    ///
    /// # Errors
    /// `unavailable` when KV fails.
    pub async fn by_id(&self, id: &str) -> Result<Option<KeyRecord>, ApiError> {
        let meta = self.kv.metadata(&format!("id:{id}")).await.map_err(fault)?;
        let Some(meta) = meta else { return Ok(None) };
        let meta = IndexMeta::read(&meta)
            .ok_or_else(|| fault("an index entry's metadata cannot be read"))?;
        let hash: KeyHash = meta.hash.parse().map_err(fault)?;
        let record = self.by_hash_fresh(&hash).await?;
        match record {
            Some(r) => Ok(Some(self.with_last_used(r).await?)),
            None => Ok(None),
        }
    }

    async fn by_hash_fresh(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, ApiError> {
        let text = self
            .kv
            .text(&format!("rec:{}", hash.to_hex()), None)
            .await
            .map_err(fault)?;
        decode(text)
    }

    /// Fills `last_used_at` from the consumer's `used:` entry.
    ///
    /// # Errors
    /// `unavailable` when KV fails.
    pub async fn with_last_used(&self, mut record: KeyRecord) -> Result<KeyRecord, ApiError> {
        let used = self
            .kv
            .text(&format!("used:{}", record.id), None)
            .await
            .map_err(fault)?;
        if let Some(t) = used.and_then(|t| keyward_core::time::parse_rfc3339(&t).ok()) {
            record.last_used_at = Some(t);
        }
        Ok(record)
    }

    /// Writes a record and its indexes (for a new key, or an update of a known one).
    ///
    /// # Errors
    /// `unavailable` when KV fails.
    pub async fn put(&self, record: &KeyRecord) -> Result<(), ApiError> {
        let mut stored = record.clone();
        stored.last_used_at = None;
        let hash = record.hash.to_hex();
        self.kv
            .put(
                &format!("rec:{hash}"),
                &serde_json::to_string(&stored).map_err(fault)?,
                None,
            )
            .await
            .map_err(fault)?;
        RECENT.with(|r| {
            r.borrow_mut()
                .remember_write(*record.hash.as_bytes(), Some(stored), now_ms())
        });
        let meta = IndexMeta {
            hash,
            owner: record.owner.clone(),
            env: record.env.clone(),
        };
        for key in [
            format!("id:{}", record.id),
            format!("{}{}", owner_prefix(&record.owner), record.id),
        ] {
            self.kv
                .put(&key, "", Some(meta.fields()))
                .await
                .map_err(fault)?;
        }
        Ok(())
    }

    /// Removes a record and its indexes (a successor whose rotation was refused).
    ///
    /// # Errors
    /// `unavailable` when KV fails.
    pub async fn forget(&self, record: &KeyRecord) -> Result<(), ApiError> {
        for key in [
            format!("rec:{}", record.hash.to_hex()),
            format!("id:{}", record.id),
            format!("{}{}", owner_prefix(&record.owner), record.id),
        ] {
            self.kv.delete(&key).await.map_err(fault)?;
        }
        RECENT.with(|r| {
            r.borrow_mut()
                .remember_write(*record.hash.as_bytes(), None, now_ms())
        });
        Ok(())
    }

    /// The limits all of `owner`'s keys share (`[]`: none), as KV holds them: read through
    /// the isolate cache, so a change applies everywhere within its time plus KV's
    /// propagation. Only the counting is exact; it happens in the owner's object.
    ///
    /// # Errors
    /// `unavailable` when KV fails.
    pub async fn owner_limits(&self, owner: &str) -> Result<Vec<NamedLimit>, ApiError> {
        let key = *KeyHash::of(owner).as_bytes();
        if let Some(cached) = OWNER_LIMITS.with(|c| c.borrow().get(&key, now_ms())) {
            return Ok(cached);
        }
        let started = now_ms();
        let text = self
            .kv
            .text(&owner_limits_key(owner), Some(CACHE_TTL_SECONDS))
            .await
            .map_err(fault)?;
        let limits: Vec<NamedLimit> = match text {
            None => Vec::new(),
            Some(t) => keyward_core::json::from_str(&t).map_err(fault)?,
        };
        Ok(OWNER_LIMITS.with(|c| c.borrow_mut().remember_read(key, limits, started, now_ms())))
    }

    /// Stores the limits `owner`'s keys share.
    ///
    /// # Errors
    /// `unavailable` when KV fails.
    pub async fn set_owner_limits(
        &self,
        owner: &str,
        limits: &[NamedLimit],
    ) -> Result<(), ApiError> {
        let json = serde_json::to_string(limits).map_err(fault)?;
        self.kv
            .put(&owner_limits_key(owner), &json, None)
            .await
            .map_err(fault)?;
        let key = *KeyHash::of(owner).as_bytes();
        OWNER_LIMITS.with(|c| {
            c.borrow_mut()
                .remember_write(key, limits.to_vec(), now_ms())
        });
        Ok(())
    }

    /// Records the last use of key `id` (audit consumer only).
    ///
    /// # Errors
    /// The KV error.
    pub async fn set_last_used(&self, id: &str, time: &str) -> worker::Result<()> {
        self.kv.put(&format!("used:{id}"), time, None).await
    }

    /// One page of records, optionally only `owner`'s, filtered by `env`.
    /// Returns the records and the cursor of the next page (`None` at the end).
    ///
    /// # Errors
    /// `unavailable` when KV fails.
    pub async fn list(
        &self,
        owner: Option<&str>,
        env: Option<&str>,
        cursor: Option<String>,
        limit: u64,
    ) -> Result<(Vec<KeyRecord>, Option<String>), ApiError> {
        let prefix = owner.map_or_else(|| "id:".to_owned(), owner_prefix);
        let page = self
            .kv
            .list(
                &prefix,
                u32::try_from(limit).unwrap_or(u32::MAX),
                cursor.as_deref(),
            )
            .await
            .map_err(fault)?;
        // The page's records are read at once, not one after another: a page is up to
        // `limit` reads of KV.
        let reads = page.keys.into_iter().filter_map(|(name, meta)| {
            let meta = IndexMeta::read(&meta?)?;
            if env.is_some_and(|e| e != meta.env) {
                return None;
            }
            let hash = meta.hash.parse::<KeyHash>().ok()?;
            Some(async move {
                // The record must be the indexed key's: one rewritten under another id is not.
                let indexed = name.rsplit(':').next().unwrap_or_default();
                match self.by_hash_fresh(&hash).await? {
                    Some(r) if r.id.as_str() == indexed => self.with_last_used(r).await.map(Some),
                    _ => Ok(None),
                }
            })
        });
        let records = futures_util::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
            .collect();
        Ok((records, page.cursor))
    }
}
