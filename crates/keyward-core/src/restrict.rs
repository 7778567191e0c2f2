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

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};

use crate::check::KeyFacts;
use crate::check::decide;
use crate::code::Code;
use crate::network::Networks;
use crate::policy::Refusal;
use crate::scope::{Scope, ScopeError, ScopeRegistry, ScopeSet};
use crate::verify::Verdict;

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
pub struct Roles(BTreeMap<String, ScopeSet>);

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
        let map: BTreeMap<String, Vec<String>> = serde_json::from_str(json).map_err(|_| {
            ConfigError("KEYWARD_ROLES must be a JSON object of role name → list of scopes".into())
        })?;
        let mut roles = BTreeMap::new();
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
pub struct LifetimePolicy(BTreeMap<String, Duration>);

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
        let map: BTreeMap<String, String> = serde_json::from_str(json).map_err(|_| {
            ConfigError("KEYWARD_MAX_LIFETIME must be a JSON object of environment → duration such as \"366d\"".into())
        })?;
        map.into_iter()
            .map(|(env, d)| match parse_duration(&d) {
                Some(d) => Ok((env, d)),
                None => Err(ConfigError(format!(
                    "KEYWARD_MAX_LIFETIME: '{}' for '{env}' is not a duration of 1s to {MAX_POLICY_DAYS}d (e.g. \"366d\", \"12h\")",
                    d.escape_debug()
                ))),
            })
            .collect::<Result<_, _>>()
            .map(LifetimePolicy)
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
