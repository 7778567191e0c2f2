//! A record given to `verify(record)` (no key presented), read once and kept inside
//! WebAssembly: the package keeps one per record object it was given, so that each later
//! check of the same record is one call with nothing of the record crossing again. (A
//! record a store of the app's own found is read whole instead: see [`crate::own`].)

use keyward_core::chrono::{DateTime, Utc};
use keyward_core::{
    Code, KeyFacts, KeyHash, Restrictions, ScopeSet, Verdict, client_ip, decide, restrict,
};
use wasm_bindgen::prelude::*;

use crate::check::{Allowed, Check, Env, Held, Scopes};
use crate::optional_time;

/// What the decision reads of one record: its environment, held scopes, expiry,
/// revocation and restrictions.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Facts {
    env: String,
    held: ScopeSet,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    restrictions: Restrictions,
}

#[wasm_bindgen]
impl Facts {
    /// The facts of a record given as fields: its environment, held scopes, expiry,
    /// revocation and `not_before` times (epoch ms, `NaN` for none) and allowed networks.
    #[wasm_bindgen(constructor)]
    pub fn new(
        env: String,
        held: &Held,
        expires_ms: f64,
        revoked_ms: f64,
        not_before_ms: f64,
        allowed: &Allowed,
    ) -> Facts {
        Facts {
            env,
            held: held.set.clone(),
            expires_at: optional_time(expires_ms),
            revoked_at: optional_time(revoked_ms),
            restrictions: Restrictions {
                allowed_ips: allowed.networks.clone(),
                not_before: optional_time(not_before_ms),
            },
        }
    }

    /// The core's decision for this record with no key presented (the public
    /// `verify(record)`), in environment `env` (`""`: the record's own), needing every
    /// scope of `required`, used from `client` (`undefined`: unknown) at `now_ms` (a time
    /// out of range: `invalid_request`). Fills `out`; returns the outcome.
    pub fn decide(
        &self,
        env: &Env,
        required: &Scopes,
        now_ms: f64,
        client: Option<String>,
        out: &mut Check,
    ) -> f64 {
        out.reset();
        let Some(now) = optional_time(now_ms) else {
            out.code = Code::InvalidRequest;
            return out.outcome();
        };
        // No key was presented: there is no hash to compare, and `decide` compares none.
        let none = KeyHash::from_bytes([0; 32]);
        let env = if env.name.is_empty() {
            self.env.as_str()
        } else {
            env.name.as_str()
        };
        let verdict = decide(Some(self.facts(&none)), env, &required.scopes, now);
        let verdict = self.restricted(verdict, client.as_deref(), now);
        out.set_verdict(&verdict, &required.scopes);
        out.outcome()
    }
}

impl Facts {
    fn facts<'a>(&'a self, hash: &'a KeyHash) -> KeyFacts<'a> {
        KeyFacts {
            hash,
            env: &self.env,
            scopes: &self.held,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
        }
    }

    /// The verdict given this record's restrictions, for a use from `client` (text that is
    /// no address, or none: unknown).
    fn restricted(&self, verdict: Verdict, client: Option<&str>, now: DateTime<Utc>) -> Verdict {
        restrict(verdict, &self.restrictions, client.and_then(client_ip), now)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_record_is_decided_with_no_key_presented() {
        let read = Held::new(vec!["scans:*".into()]).unwrap();
        let f = Facts::new(
            "live".into(),
            &read,
            f64::NAN,
            f64::NAN,
            f64::NAN,
            &Allowed::default(),
        );
        let mut out = Check::new();
        let now = 1_780_000_000_000.0;
        let need = Scopes::new(vec!["scans:read".into(), "keys:write".into()]).unwrap();
        f.decide(&Env::default(), &need, now, None, &mut out);
        assert_eq!((out.code, out.missing), (Code::InsufficientScope, 1));
        let none = Scopes::default();
        f.decide(&Env::new("test".into()), &none, now, None, &mut out);
        assert_eq!(out.code, Code::WrongEnvironment);
        f.decide(&Env::new("live".into()), &none, now, None, &mut out);
        assert_eq!(out.code, Code::Valid);
        f.decide(&Env::default(), &none, 1e300, None, &mut out);
        assert_eq!(out.code, Code::InvalidRequest, "a time out of range");
    }
}
