//! The deployment's environments: the registry beside the scope registry. A key, a
//! webhook, the gateway and an environment's default limits name only a declared one.

use std::fmt;

use crate::Code;
use crate::key::is_valid_prefix;

/// The environments a deployment declares (`KEYWARD_ENVIRONMENTS`), in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environments(Vec<String>);

/// The environments of a deployment that declares none: `live,test,dev,staging`.
impl Default for Environments {
    fn default() -> Self {
        Environments(
            ["live", "test", "dev", "staging"]
                .map(str::to_owned)
                .to_vec(),
        )
    }
}

/// A list of environments that cannot be a deployment's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidEnvironments;

impl fmt::Display for InvalidEnvironments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a comma-separated list of [a-z][a-z0-9]{0,15}")
    }
}

impl std::error::Error for InvalidEnvironments {}

/// An environment a request named that the deployment does not declare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownEnvironment {
    declared: String,
}

impl UnknownEnvironment {
    /// `unknown_environment`.
    pub fn code(&self) -> Code {
        Code::UnknownEnvironment
    }
}

impl fmt::Display for UnknownEnvironment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'env' must be one of: {}", self.declared)
    }
}

impl std::error::Error for UnknownEnvironment {}

impl Environments {
    /// The environments of a comma-separated list (blanks around names ignored).
    ///
    /// # Errors
    /// [`InvalidEnvironments`] for an empty list or a name that is not a key prefix.
    pub fn parse(list: &str) -> Result<Self, InvalidEnvironments> {
        let names: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect();
        if names.is_empty() || !names.iter().all(|e| is_valid_prefix(e)) {
            return Err(InvalidEnvironments);
        }
        Ok(Environments(names))
    }

    /// Whether `env` is declared.
    pub fn contains(&self, env: &str) -> bool {
        self.0.iter().any(|e| e == env)
    }

    /// `env`, when it is declared.
    ///
    /// # Errors
    /// [`UnknownEnvironment`], naming the declared ones.
    pub fn check<'e>(&self, env: &'e str) -> Result<&'e str, UnknownEnvironment> {
        if self.contains(env) {
            Ok(env)
        } else {
            Err(UnknownEnvironment {
                declared: self.0.join(", "),
            })
        }
    }

    /// The declared names, in order.
    pub fn names(&self) -> &[String] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_list_is_names_that_could_prefix_a_key() {
        let e = Environments::parse(" live, test ,,eu1").unwrap();
        assert_eq!(e.names(), ["live", "test", "eu1"]);
        for bad in [
            "",
            " , ",
            "live,Test",
            "live,1x",
            "live,te-st",
            "live,abcdefghijklmnopq",
        ] {
            assert_eq!(
                Environments::parse(bad),
                Err(InvalidEnvironments),
                "{bad:?}"
            );
        }
        assert_eq!(
            Environments::default().names(),
            ["live", "test", "dev", "staging"]
        );
    }

    #[test]
    fn only_a_declared_environment_is_named() {
        let e = Environments::parse("live,test").unwrap();
        assert_eq!(e.check("test"), Ok("test"));
        for unknown in ["staging", "", "LIVE", "live "] {
            let refused = e.check(unknown).unwrap_err();
            assert_eq!(refused.code(), Code::UnknownEnvironment);
            assert_eq!(refused.to_string(), "'env' must be one of: live, test");
        }
    }
}
