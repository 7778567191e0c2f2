//! keyward's security core: the API key format, hashing, scopes, the verification
//! decision and misuse rules. No I/O; builds for native targets and
//! `wasm32-unknown-unknown` alike.
//!
//! # The key format
//!
//! ```text
//! key      = vendor "_" env "_" secret checksum
//! vendor   = [a-z][a-z0-9]{0,15}                 ; per deployment, default "sk"
//! env      = [a-z][a-z0-9]{0,15}                 ; live, test, dev, staging, ...
//! secret   = 43 base64url chars                  ; 32 CSPRNG bytes, no padding
//! checksum = 6 base64url chars                   ; CRC32 (IEEE, big-endian) of the rest
//! ```
//!
//! A parser splits on the first two underscores only (the secret may contain `_`).
//! Storage holds `hash` (lowercase hex SHA-256 of the whole key) and `hint`
//! (`{vendor}_{env}_` plus 4 characters of the secret), never the key.
//!
//! ```
//! use keyward_core::{ApiKey, Scope, ScopeSet};
//!
//! let new = ApiKey::generate("sk", "live").unwrap();
//! let parsed: ApiKey = new.key.expose_secret().parse().unwrap();
//! assert_eq!(parsed.hash(), new.hash);
//! assert_eq!(format!("{parsed:?}"), format!("ApiKey({}…)", new.hint));
//!
//! let held = ScopeSet::parse(&["scans:*"]).unwrap();
//! assert!(held.grants(&Scope::parse("scans:read").unwrap()));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod audit;
mod check;
mod code;
mod credential;
pub mod cursor;
mod environment;
pub mod gateway;
mod hash;
pub mod json;
mod key;
mod key_use;
pub mod limits;
mod memo;
mod network;
pub mod ocsf;
pub mod order;
mod policy;
mod random;
mod record;
mod restrict;
#[cfg(feature = "schema")]
pub mod schema;
mod scope;
mod standing;
pub mod table;
pub mod text;
pub mod throttle;
pub mod time;
mod verdict;
pub mod webhook;
pub mod whole;

pub use audit::{
    AlertKind, AuditEvent, EventKind, KeyHistory, LIFECYCLE_PREFIX, Lifecycle, MisuseRules,
    Severity, Window, evaluate, is_reserved_action, new_event_id, over_privileged, stale,
    stale_after,
};
pub use check::{EnvRule, KeyFacts, Presented, decide, decide_presented, verify};
pub use code::{Code, UnknownCode, www_authenticate};
pub use credential::{CredentialError, credential};
pub use environment::{Environments, InvalidEnvironments, UnknownEnvironment};
pub use hash::{InvalidHash, KeyHash};
pub use key::{
    ApiKey, ApiKeyRef, CHECKSUM_LEN, GenerateError, KeyPart, MAX_KEY_LEN, MAX_PREFIX_LEN, NewKey,
    ParseError, SECRET_BYTES, SECRET_LEN, checksum, env_of_hint, is_valid_prefix,
};
pub use key_use::{
    Counts, GiveBack, NoCounts, UseAsk, UseOutcome, UseReport, credit_holder, take_shared, use_key,
};
pub use memo::{DEFAULT_MEMO_SLOTS, HashMemo, MemoTag};
pub use network::{MAX_NETWORKS, Network, NetworkError, Networks, client_ip};
pub use policy::{Abilities, Actor, Asked, Reads, Refusal, Terms};
pub use random::{OsRandom, RandomError, RandomSource};
pub use record::{
    InvalidKeyId, KeyId, KeyRecord, KeyStatus, NewRecord, RateLimit, RotateError, Successor,
    effective_limits,
};
pub use restrict::{
    ConfigError, LifetimePolicy, MAX_ROLE_LEN, Reshape, Restriction, Restrictions, Roles,
    decide_restricted, narrows, restrict,
};
pub use scope::{
    ADMIN, MAX_SCOPE_LEN, MAX_SCOPES, RESERVED, Scope, ScopeError, ScopeRegistry, ScopeSet,
};
pub use standing::{Standing, StatusFilter, UnknownStatusFilter, expiring_within};
pub use verdict::{Verdict, missing_scope_message};

/// Re-exported so callers use the same time type as the records.
pub use chrono;
