//! What a key may do to other keys: a key mints, reads, rotates and revokes only within
//! its own owner and environment, grants only scopes it holds, and never makes a key that
//! outlives it. The root key and keys holding `admin` are not bounded by owner,
//! environment or expiry.
//!
//! ```text
//! create   owner = the caller's, env = the caller's, scopes ⊆ the caller's,
//!          expires_at ≤ the caller's (inherited when not asked)
//! manage   (show, list, revoke, rotate, limits) target.owner = the caller's,
//!          target.env = the caller's, target.scopes ⊆ the caller's
//! rotate   the successor keeps the predecessor's expires_at (never later)
//! usage    rate limits and credits of existing keys, and owners' limits, are set by
//!          root or admin only; a bounded key may give a new key rate limits (they only
//!          restrict it) but not credits, and a key bound by rate limits (its own, or
//!          its environment's defaults) or credits creates no keys: each key it made
//!          would get an allowance of its own, and the allowance would be multiplied
//! verify   a bounded key verifies keys of its own environment only (of any owner)
//! ```

use core::fmt;

use chrono::{DateTime, Utc};

use crate::code::Code;
use crate::limits::NamedLimit;
use crate::record::KeyRecord;
use crate::scope::{Scope, ScopeSet};

/// Who acts on keys.
#[derive(Clone, Copy, Debug)]
pub enum Actor<'a> {
    /// The deployment's root key: holds `admin`, belongs to no owner or environment.
    Root,
    /// A key, by its record.
    Key(&'a KeyRecord),
}

/// What a listing or report reads ([`Actor::reads`]): one owner's and one environment's,
/// or (`None`) every one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reads<'a> {
    /// Only this owner's.
    pub owner: Option<&'a str>,
    /// Only this environment's.
    pub env: Option<&'a str>,
}

/// A refused key-management action: a code (`forbidden`, `scope_not_held` or
/// `invalid_request`) and a sentence naming the rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The stable code.
    pub code: Code,
    /// The rule, in a sentence (never a secret).
    pub message: String,
    /// For `scope_not_held`: the scope the caller does not hold.
    pub scope: Option<Scope>,
}

impl Refusal {
    fn forbidden(message: String) -> Self {
        Refusal {
            code: Code::Forbidden,
            message,
            scope: None,
        }
    }

    fn invalid(message: &str) -> Self {
        Refusal {
            code: Code::InvalidRequest,
            message: message.to_owned(),
            scope: None,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

/// What an actor may do at all, by its scopes and the rules above; each action is still
/// checked against its target when it is asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Abilities {
    /// Create keys (`keys:write`, and not bound by rate limits or credits, its own or its
    /// environment's).
    pub create: bool,
    /// Rotate keys (`keys:write`; only keys it may manage).
    pub rotate: bool,
    /// Revoke keys (`keys:write`; only keys it may manage).
    pub revoke: bool,
    /// List and show keys (`keys:read`).
    pub read_keys: bool,
    /// Read audit events, alerts and usage (`audit:read`).
    pub read_audit: bool,
    /// Set rate limits and credits (`keys:write`, root or `admin`).
    pub set_limits: bool,
    /// Manage webhook endpoints (`keys:write`; a bounded key: its own owner's and
    /// environment's only).
    pub manage_webhooks: bool,
}

/// What a caller asked for a new key.
#[derive(Clone, Copy, Debug, Default)]
pub struct Asked<'a> {
    /// The owner asked for, if any.
    pub owner: Option<&'a str>,
    /// The environment asked for, if any.
    pub env: Option<&'a str>,
    /// When the key should expire, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether credits were asked for.
    pub credits: bool,
}

/// The owner, environment and expiry a new key gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terms {
    /// Its owner.
    pub owner: String,
    /// Its environment.
    pub env: String,
    /// When it expires, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Actor<'_> {
    /// Whether the actor is bounded by owner, environment and expiry (not root, no `admin`).
    pub fn is_bounded(&self) -> bool {
        match self {
            Actor::Root => false,
            Actor::Key(r) => !r.scopes.has_admin(),
        }
    }

    /// What the actor holds.
    pub fn holds(&self, scope: &Scope) -> bool {
        match self {
            Actor::Root => true,
            Actor::Key(r) => r.scopes.grants(scope),
        }
    }

    /// The actor's owner and environment, when it is a key.
    pub fn home(&self) -> Option<(&str, &str)> {
        match self {
            Actor::Root => None,
            Actor::Key(r) => Some((&r.owner, &r.env)),
        }
    }

    /// The owner and environment every read of the actor is confined to: a bounded key's
    /// own; `None` for the root key and `admin` keys, which read everything.
    pub fn reads_within(&self) -> Option<(&str, &str)> {
        self.home().filter(|_| self.is_bounded())
    }

    /// The one containment query of every listing and report: what the actor reads when
    /// it asks for `owner` and `env` (`None`: not narrowed). The root key and `admin` keys
    /// read what they ask; a bounded key reads its own owner and environment, whether or
    /// not it names them.
    ///
    /// # Errors
    /// `forbidden` when a bounded key names another owner or environment.
    pub fn reads<'a>(
        &'a self,
        owner: Option<&'a str>,
        env: Option<&'a str>,
    ) -> Result<Reads<'a>, Refusal> {
        let Some((own, own_env)) = self.reads_within() else {
            return Ok(Reads { owner, env });
        };
        if owner.is_some_and(|o| o != own) {
            return Err(Refusal::forbidden(format!(
                "a key reads only its own owner's ('{own}')"
            )));
        }
        if env.is_some_and(|e| e != own_env) {
            return Err(Refusal::forbidden(format!(
                "a key reads only its own environment's ('{own_env}')"
            )));
        }
        Ok(Reads {
            owner: Some(own),
            env: Some(own_env),
        })
    }

    /// What the actor may do at all: the same rules [`Actor::create_terms`] and
    /// [`Actor::may_set_usage`] apply, asked of no particular target. `env_limits`: the
    /// default limits of the actor's environment (see [`Actor::create_terms`]).
    pub fn abilities(&self, env_limits: &[NamedLimit]) -> Abilities {
        let holds = |s: &str| Scope::parse(s).is_ok_and(|s| self.holds(&s));
        let write = holds("keys:write");
        let create = write
            && match self {
                Actor::Root => true,
                // A key creating a scopeless key for its own owner and environment: what
                // is left to refuse is the actor itself (its own limits or credits).
                Actor::Key(_) => self
                    .create_terms(&ScopeSet::default(), Asked::default(), env_limits)
                    .is_ok(),
            };
        Abilities {
            create,
            rotate: write,
            revoke: write,
            read_keys: holds("keys:read"),
            read_audit: holds("audit:read"),
            set_limits: write && self.may_set_usage().is_ok(),
            manage_webhooks: write,
        }
    }

    /// Whether the actor may grant every scope of `scopes` (it holds each): the rule
    /// [`Actor::create_terms`] applies to the scopes of a new key, and to a role's.
    pub fn may_grant(&self, scopes: &ScopeSet) -> bool {
        self.first_not_held(scopes).is_none()
    }

    fn first_not_held(&self, scopes: &ScopeSet) -> Option<Scope> {
        scopes.iter().find(|s| !self.holds(s)).cloned()
    }

    /// The terms of a key this actor creates with `scopes`, given what it `asked`.
    /// `env_limits` are the limits the actor's environment gives keys without limits of
    /// their own (`KEYWARD_RATE_LIMITS`): an actor under them is limited as much as one
    /// with its own, and neither may create keys, since every key it made would count
    /// under a fresh allowance of its own.
    ///
    /// # Errors
    /// `scope_not_held` for a scope the actor does not hold; `forbidden` for another
    /// owner or environment, an expiry past the actor's own, or an actor bound by rate
    /// limits or credits; `invalid_request` when the root key does not name an owner or
    /// environment.
    pub fn create_terms(
        &self,
        scopes: &ScopeSet,
        asked: Asked<'_>,
        env_limits: &[NamedLimit],
    ) -> Result<Terms, Refusal> {
        if let Some(missing) = self.first_not_held(scopes) {
            return Err(Refusal {
                code: Code::ScopeNotHeld,
                message: format!(
                    "a key can only grant scopes it holds; the caller does not hold '{missing}'"
                ),
                scope: Some(missing),
            });
        }
        let Actor::Key(caller) = self else {
            return Ok(Terms {
                owner: asked
                    .owner
                    .ok_or_else(|| Refusal::invalid("'owner' is required with the root key"))?
                    .to_owned(),
                env: asked
                    .env
                    .ok_or_else(|| Refusal::invalid("'env' is required with the root key"))?
                    .to_owned(),
                expires_at: asked.expires_at,
            });
        };
        let owner = asked.owner.unwrap_or(&caller.owner);
        let env = asked.env.unwrap_or(&caller.env);
        if !self.is_bounded() {
            return Ok(Terms {
                owner: owner.to_owned(),
                env: env.to_owned(),
                expires_at: asked.expires_at,
            });
        }
        if !caller.limits().is_empty() || caller.credits.is_some() {
            return Err(Refusal::forbidden(
                "a key with its own rate limits or credits cannot create keys (they would not be bound by them); an admin key can, and owner limits bind every key of an owner".to_owned(),
            ));
        }
        if !env_limits.is_empty() {
            return Err(Refusal::forbidden(format!(
                "a key under its environment's default rate limits cannot create keys (each would get a fresh allowance of its own); an admin key can, and owner limits bind every key of an owner ('{}')",
                caller.env
            )));
        }
        if asked.credits {
            return Err(Refusal::forbidden(
                "credits are granted by an admin key, not by a key of the same owner".to_owned(),
            ));
        }
        if owner != caller.owner {
            return Err(Refusal::forbidden(format!(
                "a key can only create keys for its own owner ('{}')",
                caller.owner
            )));
        }
        if env != caller.env {
            return Err(Refusal::forbidden(format!(
                "a key can only create keys in its own environment ('{}')",
                caller.env
            )));
        }
        let expires_at = match (asked.expires_at, caller.expires_at) {
            (Some(asked), Some(own)) if asked > own => {
                return Err(Refusal::forbidden(
                    "a key cannot create a key that outlives it: 'expires_in' ends after the caller's own expiry".to_owned(),
                ));
            }
            (Some(asked), _) => Some(asked),
            (None, own) => own,
        };
        Ok(Terms {
            owner: owner.to_owned(),
            env: env.to_owned(),
            expires_at,
        })
    }

    /// Whether the actor may see or change `target` (show, list, revoke, rotate, limits).
    ///
    /// # Errors
    /// `forbidden` for a key of another owner or environment; `scope_not_held` for a key
    /// holding a scope the actor does not.
    pub fn may_manage(&self, target: &KeyRecord) -> Result<(), Refusal> {
        if !self.is_bounded() {
            return Ok(());
        }
        self.may_manage_owner(&target.owner, &target.env)?;
        if let Some(missing) = self.first_not_held(&target.scopes) {
            return Err(Refusal {
                code: Code::ScopeNotHeld,
                message: format!(
                    "a key can only manage keys whose scopes it holds; the caller does not hold '{missing}'"
                ),
                scope: Some(missing),
            });
        }
        Ok(())
    }

    /// Whether the actor may verify keys of `env` (`POST /v1/verify`): a bounded key
    /// verifies keys of its own environment only, of any owner (a service verifying its
    /// customers' keys); root and `admin` verify in any environment.
    ///
    /// # Errors
    /// `forbidden` for a bounded key and another environment.
    pub fn may_verify_in(&self, env: &str) -> Result<(), Refusal> {
        match self.home() {
            Some((_, own_env)) if self.is_bounded() && env != own_env => Err(Refusal::forbidden(
                format!("a key verifies keys of its own environment only ('{own_env}')"),
            )),
            _ => Ok(()),
        }
    }

    /// The environment a verification by this actor checks keys in: `asked` when it names
    /// one, else the actor's own (a live service verifies live keys), then
    /// [`may_verify_in`](Actor::may_verify_in).
    ///
    /// # Errors
    /// `invalid_request` for root without `asked` (it belongs to no environment);
    /// `forbidden` for a bounded key and another environment.
    pub fn verify_env<'e>(&self, asked: Option<&'e str>) -> Result<&'e str, Refusal>
    where
        Self: 'e,
    {
        let env = match (asked, self) {
            (Some(env), _) => env,
            (None, Actor::Key(own)) => own.env.as_str(),
            (None, Actor::Root) => {
                return Err(Refusal::invalid(
                    "'env' is required with the root key (it belongs to no environment)",
                ));
            }
        };
        self.may_verify_in(env)?;
        Ok(env)
    }

    /// Whether the actor may set rate limits or credits (of a key or an owner): root and
    /// `admin` only, so that a key cannot lift its own limits, or those of its owner.
    ///
    /// # Errors
    /// `forbidden` for a bounded key.
    pub fn may_set_usage(&self) -> Result<(), Refusal> {
        if self.is_bounded() {
            return Err(Refusal::forbidden(
                "rate limits and credits are set by the root key or an admin key".to_owned(),
            ));
        }
        Ok(())
    }

    /// Whether the actor may see or act on what belongs to `owner` in `env` (`env`:
    /// `None` for every environment).
    ///
    /// # Errors
    /// `forbidden` for another owner or environment.
    pub fn may_manage_owner(&self, owner: &str, env: &str) -> Result<(), Refusal> {
        match self.home() {
            Some((own, own_env)) if self.is_bounded() => {
                if owner != own {
                    Err(Refusal::forbidden(format!(
                        "a key can only manage keys of its own owner ('{own}')"
                    )))
                } else if env != own_env {
                    Err(Refusal::forbidden(format!(
                        "a key can only manage keys of its own environment ('{own_env}')"
                    )))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }
}
