//! `GET /v1/me`: who the caller is, what it may do, and what the deployment declares.

use keyward_core::chrono::{DateTime, Utc};
use keyward_core::limits::NamedLimit;
use keyward_core::webhook::EventType;
use keyward_core::{Abilities, Actor, KeyId, Roles, Scope, ScopeRegistry, ScopeSet};
use serde::{Deserialize, Serialize};

/// `GET /v1/me` (any valid management key): the caller, by the core's rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Me {
    /// The caller's key id; `null` for the root key.
    pub id: Option<KeyId>,
    /// Whether the caller is the deployment's root key.
    pub root: bool,
    /// The caller's owner; `null` for the root key.
    pub owner: Option<String>,
    /// The caller's environment; `null` for the root key.
    pub env: Option<String>,
    /// The caller's hint; `null` for the root key.
    pub hint: Option<String>,
    /// What the caller holds (the root key: `admin`).
    pub scopes: ScopeSet,
    /// When the caller stops working, if ever.
    #[serde(with = "keyward_core::time::rfc3339_option")]
    #[cfg_attr(feature = "openapi", schemars(with = "Option<DateTime<Utc>>"))]
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether the caller is bounded by its owner, environment and expiry (not root, no
    /// `admin`): what it reads and manages is its own owner's.
    pub bounded: bool,
    /// What the caller may do at all (each action is still checked against its target).
    pub can: Abilities,
    /// The declared scopes the caller may grant to a key it creates (those it holds).
    pub grantable_scopes: Vec<Scope>,
    /// The declared roles the caller may grant (it holds every scope each gives).
    pub grantable_roles: Vec<String>,
    /// What the deployment accepts: its environments and declared scopes.
    pub deployment: Deployment,
}

/// The deployment's settings a client needs to make valid requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct Deployment {
    /// The key prefix (`sk`).
    pub vendor: String,
    /// The environments keys may be made for.
    pub environments: Vec<String>,
    /// Every declared scope (keyward's reserved ones and the deployment's), by name.
    pub scopes: Vec<ScopeEntry>,
    /// Every declared role (`KEYWARD_ROLES`), by name, with the scopes it gives.
    pub roles: Vec<RoleEntry>,
    /// The event types a webhook endpoint may receive.
    pub webhook_events: Vec<String>,
}

/// One declared role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct RoleEntry {
    /// Its name.
    pub name: String,
    /// The scopes a key minted with it holds.
    pub scopes: ScopeSet,
}

/// One declared scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ScopeEntry {
    /// Its name.
    pub name: Scope,
    /// What it grants, for people.
    pub description: String,
}

impl Deployment {
    /// The deployment's `vendor`, `environments`, declared `scopes` and `roles`.
    pub fn of(
        vendor: &str,
        environments: &[String],
        scopes: &ScopeRegistry,
        roles: &Roles,
    ) -> Self {
        Deployment {
            vendor: vendor.to_owned(),
            environments: environments.to_vec(),
            scopes: scopes
                .iter()
                .map(|(name, description)| ScopeEntry {
                    name: name.clone(),
                    description: description.to_owned(),
                })
                .collect(),
            roles: roles
                .iter()
                .map(|(name, scopes)| RoleEntry {
                    name: name.to_owned(),
                    scopes: scopes.clone(),
                })
                .collect(),
            webhook_events: EventType::ALL
                .iter()
                .map(|e| e.as_str().to_owned())
                .collect(),
        }
    }
}

impl Me {
    /// The answer for `actor`: its identity and [`Actor::abilities`].
    /// `env_limits`: the default rate limits of the actor's environment.
    pub fn of(actor: &Actor<'_>, env_limits: &[NamedLimit], deployment: Deployment) -> Self {
        let can = actor.abilities(env_limits);
        let bounded = actor.is_bounded();
        let grantable_scopes = deployment
            .scopes
            .iter()
            .filter(|s| actor.holds(&s.name))
            .map(|s| s.name.clone())
            .collect();
        let grantable_roles = deployment
            .roles
            .iter()
            .filter(|r| actor.may_grant(&r.scopes))
            .map(|r| r.name.clone())
            .collect();
        match actor {
            Actor::Root => Me {
                id: None,
                root: true,
                owner: None,
                env: None,
                hint: None,
                scopes: ScopeSet::new([Scope::admin()]).unwrap_or_default(),
                expires_at: None,
                bounded,
                can,
                grantable_scopes,
                grantable_roles,
                deployment,
            },
            Actor::Key(r) => Me {
                id: Some(r.id.clone()),
                root: false,
                owner: Some(r.owner.clone()),
                env: Some(r.env.clone()),
                hint: Some(r.hint.clone()),
                scopes: r.scopes.clone(),
                expires_at: r.expires_at,
                bounded,
                can,
                grantable_scopes,
                grantable_roles,
                deployment,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn root_is_nobody_in_particular_and_may_do_everything() {
        let registry = ScopeRegistry::with_declared([("scans:read", "Read scans")]).unwrap();
        let roles = Roles::from_json(r#"{"reader": ["scans:read"]}"#, &registry).unwrap();
        let d = Deployment::of("sk", &["live".to_owned()], &registry, &roles);
        assert!(d.scopes.iter().any(|s| s.name.as_str() == "scans:read"));
        assert!(d.scopes.iter().any(|s| s.name.as_str() == "keys:write"));
        let me = Me::of(&Actor::Root, &[], d);
        let json = serde_json::to_value(&me).unwrap();
        assert_eq!(json["id"], serde_json::Value::Null);
        assert_eq!(json["owner"], serde_json::Value::Null);
        assert_eq!(json["root"], true);
        assert_eq!(json["scopes"], serde_json::json!(["admin"]));
        assert_eq!(json["can"]["create"], true);
        assert_eq!(json["can"]["set_limits"], true);
        assert_eq!(json["can"]["manage_webhooks"], true);
        assert!(
            me.deployment
                .webhook_events
                .contains(&"key.revoked".to_owned())
        );
        assert_eq!(json["bounded"], false);
        assert_eq!(json["grantable_roles"], serde_json::json!(["reader"]));
        assert_eq!(
            me.grantable_scopes.len(),
            me.deployment.scopes.len(),
            "root grants every declared scope"
        );
        assert_eq!(
            json["deployment"]["roles"][0]["scopes"],
            serde_json::json!(["scans:read"])
        );
    }
}
