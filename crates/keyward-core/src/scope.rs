//! Scopes: `resource:action`, `resource:*` and `admin`; sets of them; the registry of
//! a deployment's declared scopes.
//!
//! ```text
//! scope    = "admin" / resource ":" action
//! resource = [a-z][a-z0-9_-]*
//! action   = [a-z][a-z0-9_-]* / "*"
//! ```
//!
//! `admin` is reserved: it is never a resource, so `admin:read` is refused.

use crate::table::Table;
use core::fmt;
use core::str::FromStr;

/// The scope that grants everything.
pub const ADMIN: &str = "admin";
/// Longest scope string accepted.
pub const MAX_SCOPE_LEN: usize = 64;
/// Most scopes one key may hold.
pub const MAX_SCOPES: usize = 64;

/// keyward's own reserved scopes, with their descriptions.
pub const RESERVED: &[(&str, &str)] = &[
    (ADMIN, "Full administrative access: every scope"),
    ("keys:read", "List and read API key records"),
    ("keys:write", "Create, rotate and revoke API keys"),
    ("keys:verify", "Verify API keys"),
    ("audit:read", "Read audit events and alerts"),
];

/// One scope. Cheap to compare; validated on construction.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(String);

/// Why a scope, a set or a registry was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeError {
    /// Not `admin`, `resource:action` or `resource:*` (the offending input, truncated).
    Invalid(String),
    /// Well-formed, but this deployment has not declared it.
    Undeclared(Scope),
    /// More than [`MAX_SCOPES`] scopes.
    TooMany,
    /// A registry's JSON is not an object of scope name to description string.
    NotARegistry,
}

impl ScopeError {
    /// The stable code for this error.
    pub const fn code(&self) -> crate::Code {
        match self {
            ScopeError::Invalid(_) | ScopeError::TooMany | ScopeError::NotARegistry => {
                crate::Code::InvalidScope
            }
            ScopeError::Undeclared(_) => crate::Code::UndeclaredScope,
        }
    }
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeError::Invalid(s) => write!(
                f,
                "'{s}' is not a scope: expected 'admin', 'resource:action' or 'resource:*'"
            ),
            ScopeError::Undeclared(s) => write!(f, "the scope '{s}' is not declared"),
            ScopeError::TooMany => write!(f, "a key holds at most {MAX_SCOPES} scopes"),
            ScopeError::NotARegistry => {
                f.write_str("expected a JSON object of scope name to description string")
            }
        }
    }
}

impl std::error::Error for ScopeError {}

fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
}

impl Scope {
    /// Parses a scope.
    ///
    /// # Errors
    /// [`ScopeError::Invalid`] if `s` does not follow the grammar.
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        let ok = s.len() <= MAX_SCOPE_LEN
            && (s == ADMIN
                || s.split_once(':').is_some_and(|(resource, action)| {
                    is_name(resource) && resource != ADMIN && (action == "*" || is_name(action))
                }));
        if ok {
            Ok(Scope(s.to_owned()))
        } else {
            let shown: String = s.chars().take(MAX_SCOPE_LEN).collect();
            Err(ScopeError::Invalid(shown))
        }
    }

    /// The `admin` scope.
    pub fn admin() -> Self {
        Scope(ADMIN.to_owned())
    }

    /// The scope as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `admin`.
    pub fn is_admin(&self) -> bool {
        self.0 == ADMIN
    }

    /// The resource (`None` for `admin`).
    pub fn resource(&self) -> Option<&str> {
        self.0.split_once(':').map(|(r, _)| r)
    }

    /// Whether this is a `resource:*` wildcard.
    pub fn is_wildcard(&self) -> bool {
        self.0.ends_with(":*")
    }

    /// Whether holding this scope grants `required`.
    pub fn grants(&self, required: &Scope) -> bool {
        if self.is_admin() || self == required {
            return true;
        }
        self.is_wildcard() && !required.is_admin() && self.resource() == required.resource()
    }
}

impl FromStr for Scope {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::parse(s)
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scope({})", self.0)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Scope::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The scopes a key holds: sorted, without duplicates, at most [`MAX_SCOPES`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ScopeSet(Vec<Scope>);

impl ScopeSet {
    /// Builds a set, sorting and removing duplicates.
    ///
    /// # Errors
    /// [`ScopeError::TooMany`] past [`MAX_SCOPES`].
    pub fn new(scopes: impl IntoIterator<Item = Scope>) -> Result<Self, ScopeError> {
        let mut v: Vec<Scope> = scopes.into_iter().collect();
        crate::order::sort(&mut v);
        v.dedup();
        if v.len() > MAX_SCOPES {
            return Err(ScopeError::TooMany);
        }
        Ok(ScopeSet(v))
    }

    /// Parses each string as a scope.
    ///
    /// # Errors
    /// The first invalid scope, or [`ScopeError::TooMany`].
    pub fn parse<S: AsRef<str>>(scopes: &[S]) -> Result<Self, ScopeError> {
        if scopes.len() > MAX_SCOPES * 4 {
            return Err(ScopeError::TooMany);
        }
        let parsed = scopes
            .iter()
            .map(|s| Scope::parse(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(parsed)
    }

    /// Whether any scope in the set grants `required`.
    pub fn grants(&self, required: &Scope) -> bool {
        self.0.iter().any(|held| held.grants(required))
    }

    /// Whether this set grants every scope of `other`: a key may only grant what it holds.
    pub fn covers(&self, other: &ScopeSet) -> bool {
        other.0.iter().all(|s| self.grants(s))
    }

    /// The first scope of `required` this set does not grant.
    pub fn first_missing<'a>(&self, required: &'a [Scope]) -> Option<&'a Scope> {
        required.iter().find(|s| !self.grants(s))
    }

    /// Whether the set holds `admin`.
    pub fn has_admin(&self) -> bool {
        self.0.iter().any(Scope::is_admin)
    }

    /// The scopes, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    /// How many scopes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> serde::Deserialize<'de> for ScopeSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Vec::<Scope>::deserialize(d)?;
        ScopeSet::new(v).map_err(serde::de::Error::custom)
    }
}

/// The scopes a deployment declares (keyward's reserved ones plus its own), with descriptions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeRegistry {
    declared: Table<Scope, String>,
}

impl Default for ScopeRegistry {
    fn default() -> Self {
        let declared = Table::from_pairs(
            RESERVED
                .iter()
                .map(|&(name, description)| (Scope(name.to_owned()), description.to_owned())),
        );
        ScopeRegistry { declared }
    }
}

impl ScopeRegistry {
    /// The reserved scopes plus the deployment's `(name, description)` pairs. A reserved
    /// name declared again keeps keyward's description.
    ///
    /// # Errors
    /// [`ScopeError::Invalid`] for a name that is not a scope.
    pub fn with_declared<N: AsRef<str>, D: Into<String>>(
        scopes: impl IntoIterator<Item = (N, D)>,
    ) -> Result<Self, ScopeError> {
        let mut registry = ScopeRegistry::default();
        for (name, description) in scopes {
            let scope = Scope::parse(name.as_ref())?;
            registry
                .declared
                .get_or_insert_with(scope, || description.into());
        }
        Ok(registry)
    }

    /// Reads a JSON object of scope → description.
    ///
    /// # Errors
    /// [`ScopeError::NotARegistry`] if the JSON is not such an object, or
    /// [`ScopeError::Invalid`] for a name that is not a scope.
    pub fn from_json(json: &str) -> Result<Self, ScopeError> {
        let map: Table<String, String> =
            crate::json::from_str(json).map_err(|_| ScopeError::NotARegistry)?;
        Self::with_declared(map)
    }

    /// Every scope a key may be given here: each declared scope, and `resource:*` for
    /// each declared resource (sorted). Exactly the scopes [`is_declared`](Self::is_declared)
    /// accepts.
    pub fn grantable(&self) -> Vec<String> {
        let mut all: Vec<String> = self.declared.keys().map(|s| s.to_string()).collect();
        for s in self.declared.keys() {
            if let Some(resource) = s.resource().filter(|_| !s.is_wildcard()) {
                all.push(format!("{resource}:*"));
            }
        }
        crate::order::sort(&mut all);
        all.dedup();
        all
    }

    /// Whether `scope` is declared. `resource:*` counts as declared when the resource
    /// has a declared scope.
    pub fn is_declared(&self, scope: &Scope) -> bool {
        if self.declared.contains_key(scope) {
            return true;
        }
        scope.is_wildcard()
            && self
                .declared
                .keys()
                .any(|d| !d.is_admin() && d.resource() == scope.resource())
    }

    /// Checks that every scope of `set` is declared.
    ///
    /// # Errors
    /// [`ScopeError::Undeclared`] with the first undeclared scope.
    pub fn validate(&self, set: &ScopeSet) -> Result<(), ScopeError> {
        match set.iter().find(|s| !self.is_declared(s)) {
            Some(s) => Err(ScopeError::Undeclared(s.clone())),
            None => Ok(()),
        }
    }

    /// The declared scopes and their descriptions, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&Scope, &str)> {
        self.declared.iter().map(|(s, d)| (s, d.as_str()))
    }
}
