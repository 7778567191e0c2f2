//! Key restrictions beyond scope and expiry: allowed client networks and a validity start
//! (`not_before`); the deployment's roles and lifetime policy; and containment, the rule
//! that a key never makes or widens a key past its own restrictions.
//!
//! ```text
//! use      revoked → expired → not_yet_valid → ip_not_allowed → wrong env → missing scope
//! mint     allowed_ips ⊆ the minter's (inherited when not asked), not_before ≥ the
//!          minter's (inherited when not asked); every key, admin included (root has none)
//! patch    keys:write may narrow (fewer addresses, a later start, an earlier expiry);
//!          only root or admin widens, and an admin key still within its own restrictions
//! roles    resolved into scopes when the key is minted (frozen; see the README)
//! lifetime a key of an environment with a policy expires at most that long after it is
//!          made, and gets that expiry when none is asked
//! ```

use crate::table::Table;
use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};

use crate::check::KeyFacts;
use crate::check::decide;
use crate::code::Code;
use crate::network::Networks;
use crate::policy::Refusal;
use crate::record::KeyRecord;
use crate::scope::{Scope, ScopeError, ScopeRegistry, ScopeSet};
use crate::verdict::Verdict;

/// What a key is restricted to besides scopes and expiry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restrictions {
    /// Allowed client networks (empty: any address).
    pub allowed_ips: Networks,
    /// Before this time the key does not work.
    pub not_before: Option<DateTime<Utc>>,
}

/// Which restriction refused a use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restriction {
    /// `allowed_ips`: the client's address is outside them, or unknown.
    AllowedIps,
    /// `not_before`: the key's start has not come.
    NotBefore,
}

impl Restriction {
    /// The record field that refused: `allowed_ips` or `not_before`.
    pub const fn field(self) -> &'static str {
        match self {
            Restriction::AllowedIps => "allowed_ips",
            Restriction::NotBefore => "not_before",
        }
    }

    /// The restriction that refused a use with this verdict (`ip_not_allowed`,
    /// `not_yet_valid`), for audit events; none for any other verdict.
    pub fn of(verdict: &Verdict) -> Option<Restriction> {
        match verdict {
            Verdict::IpNotAllowed => Some(Restriction::AllowedIps),
            Verdict::NotYetValid => Some(Restriction::NotBefore),
            _ => None,
        }
    }

    /// The verdict of a use it refused.
    pub fn verdict(self) -> Verdict {
        match self {
            Restriction::AllowedIps => Verdict::IpNotAllowed,
            Restriction::NotBefore => Verdict::NotYetValid,
        }
    }
}

impl Restrictions {
    /// Whether a use from `client` (`None`: the address is unknown) at `now` is admitted.
    ///
    /// # Errors
    /// The [`Restriction`] that refuses it, `not_before` first.
    pub fn admit(&self, client: Option<IpAddr>, now: DateTime<Utc>) -> Result<(), Restriction> {
        if self.not_before.is_some_and(|t| now < t) {
            return Err(Restriction::NotBefore);
        }
        if !self.allowed_ips.admits_client(client) {
            return Err(Restriction::AllowedIps);
        }
        Ok(())
    }

    /// Whether every use these restrictions admit, `outer` admits too (no more addresses,
    /// no earlier start).
    pub fn within(&self, outer: &Restrictions) -> bool {
        outer.allowed_ips.contains_all(&self.allowed_ips)
            && match (outer.not_before, self.not_before) {
                (Some(o), Some(s)) => s >= o,
                (Some(_), None) => false,
                (None, _) => true,
            }
    }

    /// The restrictions of a key a key restricted by `self` mints, given what was `asked`:
    /// unasked ones are inherited, asked ones must lie within the minter's.
    ///
    /// # Errors
    /// `forbidden`, naming the restriction, for networks outside the minter's or a start
    /// before the minter's.
    pub fn mint(&self, asked: Restrictions) -> Result<Restrictions, Refusal> {
        let out = Restrictions {
            allowed_ips: if asked.allowed_ips.is_restricted() {
                asked.allowed_ips
            } else {
                self.allowed_ips.clone()
            },
            not_before: asked.not_before.or(self.not_before),
        };
        self.contain(&out)?;
        Ok(out)
    }

    /// Whether `inner` lies within these restrictions.
    ///
    /// # Errors
    /// `forbidden`, naming the restriction it exceeds.
    pub fn contain(&self, inner: &Restrictions) -> Result<(), Refusal> {
        if !self.allowed_ips.contains_all(&inner.allowed_ips) {
            return Err(forbidden(
                "'allowed_ips' must lie inside the caller's own allowed networks",
            ));
        }
        if !(Restrictions {
            allowed_ips: Networks::default(),
            not_before: inner.not_before,
        })
        .within(&Restrictions {
            allowed_ips: Networks::default(),
            not_before: self.not_before,
        }) {
            return Err(forbidden(
                "'not_before' may not be earlier than the caller's own 'not_before'",
            ));
        }
        Ok(())
    }
}

fn forbidden(message: &str) -> Refusal {
    Refusal {
        code: Code::Forbidden,
        message: message.to_owned(),
        scope: None,
    }
}

fn invalid(message: String) -> Refusal {
    Refusal {
        code: Code::InvalidRequest,
        message,
        scope: None,
    }
}

/// Whether changing a key from `old` (expiring at `old_expiry`) to `new` (at `new_expiry`)
/// only narrows it: no more networks, no earlier start, no later (or removed) expiry. What
/// `keys:write` may do without `admin`.
pub fn narrows(
    old: &Restrictions,
    old_expiry: Option<DateTime<Utc>>,
    new: &Restrictions,
    new_expiry: Option<DateTime<Utc>>,
) -> bool {
    new.within(old)
        && match (old_expiry, new_expiry) {
            (Some(o), Some(n)) => n <= o,
            (Some(_), None) => false,
            (None, _) => true,
        }
}

/// A change to a key's restrictions and expiry (`PATCH /v1/keys/{id}`): a field left
/// `None` stays as it is; `Some(None)` removes the restriction (`allowed_ips: []` allows
/// any address).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reshape {
    /// New allowed client networks (empty: any address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_ips: Option<Networks>,
    /// A new start, or `Some(None)`: none.
    #[serde(
        default,
        with = "crate::time::rfc3339_patch",
        skip_serializing_if = "Option::is_none"
    )]
    pub not_before: Option<Option<DateTime<Utc>>>,
    /// A new expiry, or `Some(None)`: never.
    #[serde(
        default,
        with = "crate::time::rfc3339_patch",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<Option<DateTime<Utc>>>,
}

impl Reshape {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.allowed_ips.is_none() && self.not_before.is_none() && self.expires_at.is_none()
    }

    /// Whether what it sets lies within `outer` (the restrictions of a caller that may
    /// widen: an `admin` key widens only as far as its own restrictions reach).
    ///
    /// # Errors
    /// `forbidden`, naming the restriction it exceeds.
    pub fn within(&self, outer: &Restrictions) -> Result<(), Refusal> {
        outer.contain(&Restrictions {
            allowed_ips: self
                .allowed_ips
                .clone()
                .unwrap_or_else(|| outer.allowed_ips.clone()),
            not_before: self.not_before.unwrap_or(outer.not_before),
        })
    }

    /// Applies the change to `record`, judged against the record as it is now: unless
    /// `widen` (root or `admin`), it may only narrow ([`narrows`]). Nothing changes when
    /// it is refused.
    ///
    /// # Errors
    /// `forbidden` for a widening without `widen`; `invalid_request` when the start would
    /// not be before the expiry.
    pub fn apply(&self, record: &mut KeyRecord, widen: bool) -> Result<(), Refusal> {
        let old = record.restrictions();
        let new = Restrictions {
            allowed_ips: self
                .allowed_ips
                .clone()
                .unwrap_or_else(|| old.allowed_ips.clone()),
            not_before: self.not_before.unwrap_or(old.not_before),
        };
        let expires_at = self.expires_at.unwrap_or(record.expires_at);
        if let (Some(start), Some(end)) = (new.not_before, expires_at)
            && start >= end
        {
            return Err(invalid(
                "'not_before' must be before the key's expiry".to_owned(),
            ));
        }
        if !widen && !narrows(&old, record.expires_at, &new, expires_at) {
            return Err(forbidden(
                "only the root key or an admin key widens a key's restrictions (more networks, an earlier or no start, a later or no expiry); 'keys:write' may only narrow them",
            ));
        }
        record.allowed_ips = new.allowed_ips;
        record.not_before = new.not_before;
        record.expires_at = expires_at;
        Ok(())
    }
}

/// [`decide`] with the key's restrictions: a use refused by revocation or expiry is
/// reported as such; a key otherwise live is then checked against its `not_before` and
/// allowed networks (`client`: the caller's address, `None` when unknown), and only then
/// for environment and scope. One order, for every front end.
pub fn decide_restricted(
    found: Option<KeyFacts<'_>>,
    restrictions: &Restrictions,
    client: Option<IpAddr>,
    env: &str,
    required: &[Scope],
    now: DateTime<Utc>,
) -> Verdict {
    restrict(decide(found, env, required, now), restrictions, client, now)
}

/// A verdict of [`decide`] given the key's restrictions: unknown, revoked and expired
/// stand; any other verdict is replaced by the refusal of a restriction, if one refuses
/// (`not_before`, then the allowed networks; `client` is `None` when the address is
/// unknown).
pub fn restrict(
    verdict: Verdict,
    restrictions: &Restrictions,
    client: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Verdict {
    match verdict {
        Verdict::UnknownKey | Verdict::Revoked | Verdict::Expired => verdict,
        _ => match restrictions.admit(client, now) {
            Err(refused) => refused.verdict(),
            Ok(()) => verdict,
        },
    }
}

/// Longest role name.
pub const MAX_ROLE_LEN: usize = 64;

/// The deployment's roles (`KEYWARD_ROLES`): named sets of declared scopes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roles(Table<String, ScopeSet>);

/// Why a role list or a lifetime policy is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn is_role_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= MAX_ROLE_LEN
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl Roles {
    /// Reads `{"reader": ["scans:read", ...], ...}`; every scope must be declared.
    ///
    /// # Errors
    /// [`ConfigError`] naming the role or scope at fault.
    pub fn from_json(json: &str, registry: &ScopeRegistry) -> Result<Self, ConfigError> {
        let map: Table<String, Vec<String>> = crate::json::from_str(json).map_err(|_| {
            ConfigError("KEYWARD_ROLES must be a JSON object of role name → list of scopes".into())
        })?;
        let mut roles = Table::new();
        for (name, scopes) in map {
            if !is_role_name(&name) {
                return Err(ConfigError(format!(
                    "role name '{}' must be 1 to {MAX_ROLE_LEN} of a-z, 0-9, '_', '-', starting with a letter",
                    name.escape_debug()
                )));
            }
            let set =
                ScopeSet::parse(&scopes).map_err(|e| ConfigError(format!("role '{name}': {e}")))?;
            registry
                .validate(&set)
                .map_err(|e| ConfigError(format!("role '{name}': {e}")))?;
            roles.insert(name, set);
        }
        Ok(Roles(roles))
    }

    /// Each role and its scopes, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ScopeSet)> {
        self.0.iter().map(|(name, set)| (name.as_str(), set))
    }

    /// The role names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The scopes of `scopes` and of every role of `roles`, together: what a key minted
    /// with them holds (roles are resolved when a key is minted).
    ///
    /// # Errors
    /// `invalid_request` naming a role the deployment does not declare.
    pub fn resolve<S: AsRef<str>>(
        &self,
        roles: &[S],
        scopes: &ScopeSet,
    ) -> Result<ScopeSet, Refusal> {
        let mut all: Vec<Scope> = scopes.iter().cloned().collect();
        for role in roles {
            let role = role.as_ref();
            let set = self.0.get(role).ok_or_else(|| {
                invalid(format!(
                    "'{}' is not one of this deployment's roles",
                    role.escape_debug()
                ))
            })?;
            all.extend(set.iter().cloned());
        }
        ScopeSet::new(all).map_err(|e: ScopeError| invalid(e.to_string()))
    }
}

/// The deployment's lifetime policy (`KEYWARD_MAX_LIFETIME`): environment → longest life.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LifetimePolicy(Table<String, Duration>);

/// Longest lifetime a policy may name: 100 years.
const MAX_POLICY_DAYS: i64 = 36_525;

/// Reads `366d`, `12h`, `30m` or `90s`.
fn parse_duration(s: &str) -> Option<Duration> {
    let (digits, unit) = s.split_at(s.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    let d = match unit {
        "d" => Duration::try_days(n)?,
        "h" => Duration::try_hours(n)?,
        "m" => Duration::try_minutes(n)?,
        "s" => Duration::try_seconds(n)?,
        _ => return None,
    };
    (d > Duration::zero() && d <= Duration::try_days(MAX_POLICY_DAYS)?).then_some(d)
}

impl LifetimePolicy {
    /// Reads `{"live": "366d", "test": "30d"}` (units `d`, `h`, `m`, `s`).
    ///
    /// # Errors
    /// [`ConfigError`] naming the environment whose duration is not one.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let map: Table<String, String> = crate::json::from_str(json).map_err(|_| {
            ConfigError("KEYWARD_MAX_LIFETIME must be a JSON object of environment → duration such as \"366d\"".into())
        })?;
        let pairs = map
            .into_iter()
            .map(|(env, d)| match parse_duration(&d) {
                Some(d) => Ok((env, d)),
                None => Err(ConfigError(format!(
                    "KEYWARD_MAX_LIFETIME: '{}' for '{env}' is not a duration of 1s to {MAX_POLICY_DAYS}d (e.g. \"366d\", \"12h\")",
                    d.escape_debug()
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LifetimePolicy(Table::from_pairs(pairs)))
    }

    /// The longest life of a key of `env`, if the policy bounds it.
    pub fn max(&self, env: &str) -> Option<Duration> {
        self.0.get(env).copied()
    }

    /// The expiry a key of `env` made at `now` gets when `asked` was asked: the asked one
    /// if within the policy, the policy's longest when none was asked.
    ///
    /// # Errors
    /// `invalid_request` naming the policy when `asked` is later (or never).
    pub fn expiry(
        &self,
        env: &str,
        asked: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, Refusal> {
        let Some(max) = self.max(env) else {
            return Ok(asked);
        };
        let latest = now.checked_add_signed(max).unwrap_or(now);
        match asked {
            None => Ok(Some(latest)),
            Some(t) if t <= latest => Ok(Some(t)),
            Some(_) => Err(invalid(format!(
                "the lifetime policy (KEYWARD_MAX_LIFETIME) lets keys of '{env}' live at most {} seconds",
                max.num_seconds()
            ))),
        }
    }

    /// Whether a key of `env` may be set to expire at `expiry` (`None`: never) at `now`.
    ///
    /// # Errors
    /// `invalid_request` naming the policy when it is later than the policy allows, or
    /// never while the policy bounds `env`.
    pub fn admits(
        &self,
        env: &str,
        expiry: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        match (self.max(env), expiry) {
            (None, _) => Ok(()),
            (Some(max), None) => Err(invalid(format!(
                "the lifetime policy (KEYWARD_MAX_LIFETIME) lets keys of '{env}' live at most {} seconds: they must expire",
                max.num_seconds()
            ))),
            (Some(_), Some(_)) => self.expiry(env, expiry, now).map(|_| ()),
        }
    }

    /// Rotates `old` to `successor` ([`KeyRecord::rotate_to`]), the successor expiring
    /// within the policy of its environment from `now` ([`Self::successor_expiry`]): a
    /// chain of rotations never outlives the policy.
    ///
    /// # Errors
    /// The [`RotateError`](crate::record::RotateError) of `rotate_to`.
    pub fn rotate(
        &self,
        old: &mut KeyRecord,
        successor: crate::record::Successor,
        grace: Duration,
        now: DateTime<Utc>,
    ) -> Result<KeyRecord, crate::record::RotateError> {
        let mut next = old.rotate_to(successor, grace, now)?;
        next.expires_at = self.successor_expiry(&next.env, next.expires_at, now);
        Ok(next)
    }

    /// A rotation successor's expiry: the predecessor's, never past the policy from `now`.
    pub fn successor_expiry(
        &self,
        env: &str,
        predecessor: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let latest = self
            .max(env)
            .map(|m| now.checked_add_signed(m).unwrap_or(now));
        match (predecessor, latest) {
            (Some(p), Some(l)) => Some(p.min(l)),
            (p, l) => p.or(l),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::network::client_ip;

    fn at(s: &str) -> DateTime<Utc> {
        crate::time::parse_rfc3339(s).unwrap()
    }

    fn nets(b: &[&str]) -> Networks {
        Networks::parse(b).unwrap()
    }

    #[test]
    fn not_before_refuses_until_it_comes() {
        let r = Restrictions {
            not_before: Some(at("2026-06-01T00:00:00Z")),
            ..Default::default()
        };
        assert_eq!(
            r.admit(None, at("2026-05-31T23:59:59Z")),
            Err(Restriction::NotBefore)
        );
        assert_eq!(r.admit(None, at("2026-06-01T00:00:00Z")), Ok(()));
    }

    #[test]
    fn networks_refuse_outside_and_unknown() {
        let r = Restrictions {
            allowed_ips: nets(&["203.0.113.0/24"]),
            ..Default::default()
        };
        let now = at("2026-06-01T00:00:00Z");
        assert_eq!(r.admit(client_ip("::ffff:203.0.113.9"), now), Ok(()));
        assert_eq!(
            r.admit(client_ip("198.51.100.1"), now),
            Err(Restriction::AllowedIps)
        );
        assert_eq!(r.admit(None, now), Err(Restriction::AllowedIps));
        assert_eq!(Restriction::AllowedIps.verdict().code(), Code::IpNotAllowed);
        assert_eq!(Restriction::NotBefore.verdict().code(), Code::NotYetValid);
    }

    #[test]
    fn minting_inherits_and_contains() {
        let minter = Restrictions {
            allowed_ips: nets(&["10.0.0.0/8"]),
            not_before: Some(at("2026-01-01T00:00:00Z")),
        };
        let inherited = minter.mint(Restrictions::default()).unwrap();
        assert_eq!(inherited, minter);
        let narrower = Restrictions {
            allowed_ips: nets(&["10.1.0.0/16"]),
            not_before: Some(at("2026-02-01T00:00:00Z")),
        };
        assert_eq!(minter.mint(narrower.clone()).unwrap(), narrower);
        let wider = Restrictions {
            allowed_ips: nets(&["0.0.0.0/0"]),
            ..Default::default()
        };
        assert_eq!(minter.mint(wider).unwrap_err().code, Code::Forbidden);
        let earlier = Restrictions {
            not_before: Some(at("2025-01-01T00:00:00Z")),
            ..Default::default()
        };
        let e = minter.mint(earlier).unwrap_err();
        assert!(e.message.contains("not_before"), "{e}");
        // An unrestricted minter may give any restriction.
        assert!(Restrictions::default().mint(narrower).is_ok());
    }

    #[test]
    fn narrowing_and_widening() {
        let old = Restrictions {
            allowed_ips: nets(&["10.0.0.0/8"]),
            not_before: None,
        };
        let exp = Some(at("2027-01-01T00:00:00Z"));
        let narrower = Restrictions {
            allowed_ips: nets(&["10.0.0.0/16"]),
            not_before: Some(at("2026-06-01T00:00:00Z")),
        };
        assert!(narrows(
            &old,
            exp,
            &narrower,
            Some(at("2026-12-01T00:00:00Z"))
        ));
        assert!(
            !narrows(&old, exp, &Restrictions::default(), exp),
            "dropping networks widens"
        );
        assert!(!narrows(&old, exp, &old, None), "dropping expiry widens");
        assert!(!narrows(&old, exp, &old, Some(at("2027-01-02T00:00:00Z"))));
        assert!(
            !narrows(&narrower, exp, &old, exp),
            "an earlier start widens"
        );
    }

    fn record(r: Restrictions, expires_at: Option<DateTime<Utc>>) -> KeyRecord {
        let new = crate::ApiKey::generate("sk", "live").unwrap();
        KeyRecord::new(
            crate::KeyId::generate(&mut crate::OsRandom).unwrap(),
            &new,
            crate::NewRecord {
                expires_at,
                restrictions: r,
                ..crate::NewRecord::new("k", "o", ScopeSet::default(), "live")
            },
            at("2026-01-01T00:00:00Z"),
        )
    }

    #[test]
    fn reshaping_narrows_freely_and_widens_only_when_allowed() {
        let exp = Some(at("2027-01-01T00:00:00Z"));
        let old = Restrictions {
            allowed_ips: nets(&["10.0.0.0/8"]),
            not_before: None,
        };
        let narrower = Reshape {
            allowed_ips: Some(nets(&["10.1.0.0/16"])),
            not_before: Some(Some(at("2026-02-01T00:00:00Z"))),
            expires_at: Some(Some(at("2026-12-01T00:00:00Z"))),
        };
        let mut k = record(old.clone(), exp);
        narrower.apply(&mut k, false).unwrap();
        assert_eq!(k.allowed_ips, nets(&["10.1.0.0/16"]));
        assert_eq!(k.expires_at, Some(at("2026-12-01T00:00:00Z")));
        for wider in [
            Reshape {
                allowed_ips: Some(Networks::default()),
                ..Default::default()
            },
            Reshape {
                expires_at: Some(None),
                ..Default::default()
            },
            Reshape {
                expires_at: Some(Some(at("2027-01-02T00:00:00Z"))),
                ..Default::default()
            },
        ] {
            let mut k = record(old.clone(), exp);
            let before = k.clone();
            assert_eq!(
                wider.apply(&mut k, false).unwrap_err().code,
                Code::Forbidden
            );
            assert_eq!(k, before, "nothing changes when refused");
            wider.apply(&mut k, true).unwrap();
            assert_ne!(k, before);
        }
        let mut started = record(narrower_start(), exp);
        let earlier = Reshape {
            not_before: Some(None),
            ..Default::default()
        };
        assert_eq!(
            earlier.apply(&mut started, false).unwrap_err().code,
            Code::Forbidden
        );
        let empty = Reshape {
            not_before: Some(Some(at("2027-01-01T00:00:00Z"))),
            ..Default::default()
        };
        assert_eq!(
            empty
                .apply(&mut record(old.clone(), exp), true)
                .unwrap_err()
                .code,
            Code::InvalidRequest
        );
        // An admin key widens only as far as its own restrictions reach.
        let all = Reshape {
            allowed_ips: Some(Networks::default()),
            ..Default::default()
        };
        assert!(all.within(&old).is_err());
        assert!(all.within(&Restrictions::default()).is_ok());
        assert!(narrower.within(&old).is_ok());
    }

    fn narrower_start() -> Restrictions {
        Restrictions {
            allowed_ips: Networks::default(),
            not_before: Some(at("2026-06-01T00:00:00Z")),
        }
    }

    #[test]
    fn a_reshape_reads_absent_null_and_set_apart() {
        let r: Reshape =
            serde_json::from_str(r#"{"not_before": null, "expires_at": "2026-06-01T00:00:00Z"}"#)
                .unwrap();
        assert_eq!(r.allowed_ips, None);
        assert_eq!(r.not_before, Some(None));
        assert_eq!(r.expires_at, Some(Some(at("2026-06-01T00:00:00Z"))));
        let back: Reshape = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        assert!(serde_json::from_str::<Reshape>("{}").unwrap().is_empty());
        assert!(serde_json::from_str::<Reshape>(r#"{"not_before": "soon"}"#).is_err());
    }

    #[test]
    fn the_policy_admits_only_expiries_within_it() {
        let p = LifetimePolicy::from_json(r#"{"test": "1d"}"#).unwrap();
        let now = at("2026-01-01T00:00:00Z");
        assert!(
            p.admits("test", Some(at("2026-01-02T00:00:00Z")), now)
                .is_ok()
        );
        assert!(
            p.admits("test", Some(at("2026-01-02T00:00:01Z")), now)
                .is_err()
        );
        assert!(p.admits("test", None, now).is_err());
        assert!(p.admits("live", None, now).is_ok());
    }

    #[test]
    fn a_successor_expires_within_the_policy() {
        let p = LifetimePolicy::from_json(r#"{"live": "1d"}"#).unwrap();
        let mut old = record(Restrictions::default(), None);
        let later = at("2026-03-01T00:00:00Z");
        let new = crate::ApiKey::generate("sk", "live").unwrap();
        let next = p
            .rotate(
                &mut old,
                crate::record::Successor {
                    id: crate::KeyId::generate(&mut crate::OsRandom).unwrap(),
                    hash: new.hash,
                    hint: new.hint,
                },
                Duration::hours(1),
                later,
            )
            .unwrap();
        assert_eq!(next.expires_at, Some(at("2026-03-02T00:00:00Z")));
        assert_eq!(old.expires_at, Some(at("2026-03-01T01:00:00Z")));
    }

    #[test]
    fn roles_resolve_to_declared_scopes() {
        let registry =
            ScopeRegistry::with_declared([("scans:read", "r"), ("repos:read", "r")]).unwrap();
        let roles =
            Roles::from_json(r#"{"reader": ["scans:read", "repos:read"]}"#, &registry).unwrap();
        let got = roles
            .resolve(&["reader"], &ScopeSet::parse(&["keys:read"]).unwrap())
            .unwrap();
        assert_eq!(
            got,
            ScopeSet::parse(&["keys:read", "repos:read", "scans:read"]).unwrap()
        );
        assert_eq!(
            roles
                .resolve(&["writer"], &ScopeSet::default())
                .unwrap_err()
                .code,
            Code::InvalidRequest
        );
        assert!(
            Roles::from_json(r#"{"reader": ["nope:read"]}"#, &registry).is_err(),
            "undeclared scope"
        );
        assert!(Roles::from_json(r#"{"Reader": []}"#, &registry).is_err());
        assert!(Roles::from_json(r#"["reader"]"#, &registry).is_err());
    }

    #[test]
    fn lifetime_policy_defaults_and_refuses() {
        let p = LifetimePolicy::from_json(r#"{"live": "366d", "test": "12h"}"#).unwrap();
        let now = at("2026-01-01T00:00:00Z");
        assert_eq!(
            p.expiry("live", None, now).unwrap(),
            Some(at("2027-01-02T00:00:00Z"))
        );
        assert_eq!(
            p.expiry("test", Some(at("2026-01-01T12:00:00Z")), now)
                .unwrap(),
            Some(at("2026-01-01T12:00:00Z"))
        );
        let e = p
            .expiry("test", Some(at("2026-01-01T12:00:01Z")), now)
            .unwrap_err();
        assert_eq!(e.code, Code::InvalidRequest);
        assert!(e.message.contains("KEYWARD_MAX_LIFETIME"), "{e}");
        assert_eq!(
            p.expiry("dev", None, now).unwrap(),
            None,
            "no policy for dev"
        );
        assert_eq!(
            p.successor_expiry("test", None, now),
            Some(at("2026-01-01T12:00:00Z"))
        );
        assert_eq!(
            p.successor_expiry("test", Some(at("2026-01-01T01:00:00Z")), now),
            Some(at("2026-01-01T01:00:00Z"))
        );
        for bad in [
            r#"{"live": "0d"}"#,
            r#"{"live": "1y"}"#,
            r#"{"live": "d"}"#,
            r#"{"live": "-1d"}"#,
            r#"{"live": "99999999d"}"#,
            "[]",
        ] {
            assert!(LifetimePolicy::from_json(bad).is_err(), "{bad}");
        }
    }
}
