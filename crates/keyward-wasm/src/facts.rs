//! A record of a store of the app's own, read once and kept inside WebAssembly: the
//! package keeps one per record object it was given, so that each later check of the
//! same record is one call with nothing of the record crossing again.

use keyward_core::chrono::{DateTime, Utc};
use keyward_core::{
    Code, EnvRule, KeyFacts, KeyHash, Restrictions, ScopeSet, Verdict, client_ip, decide,
    decide_presented, restrict,
};
use wasm_bindgen::prelude::*;

use crate::check::{Allowed, Check, Env, Held, Scopes, env_rule};
use crate::optional_time;

/// What the decision reads of one record: its hash (none when it has none, or one that is
/// not a hash), environment, held scopes, expiry, revocation and restrictions.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Facts {
    hash: Option<KeyHash>,
    env: String,
    held: ScopeSet,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    restrictions: Restrictions,
}

#[wasm_bindgen]
impl Facts {
    /// The facts of a record given as fields: its hash (hex; `undefined` or not a hash:
    /// none), environment, held scopes, expiry, revocation and `not_before` times (epoch
    /// ms, `NaN` for none) and allowed networks.
    #[wasm_bindgen(constructor)]
    pub fn new(
        hash: Option<String>,
        env: String,
        held: &Held,
        expires_ms: f64,
        revoked_ms: f64,
        not_before_ms: f64,
        allowed: &Allowed,
    ) -> Facts {
        Facts {
            hash: hash.and_then(|h| h.parse().ok()),
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

    /// The core's decision for the key [`present`](Check::present)ed in `out`, this
    /// being the record its hash found: the hashes compared in constant time (a record
    /// with another counts as none), then as [`decide`](Facts::decide) with the key's own
    /// environment for `""`. Returns the outcome.
    #[wasm_bindgen(js_name = decidePresented)]
    pub fn decide_presented(
        &self,
        env: &Env,
        required: &Scopes,
        now_ms: f64,
        client: Option<String>,
        out: &mut Check,
    ) -> f64 {
        let (Some(presented), Some(now)) = (out.presented_hash(), optional_time(now_ms)) else {
            out.code = Code::InvalidRequest;
            return out.outcome();
        };
        let facts = self.hash.as_ref().map(|h| self.facts(h));
        let rule: EnvRule<'_> = env_rule(&env.name);
        let verdict = decide_presented(
            &presented,
            out.key_env(),
            facts,
            rule,
            &required.scopes,
            now,
        );
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
    use keyward_core::KeyHash;

    use super::*;

    #[test]
    fn a_presented_key_is_decided_from_its_records_facts() {
        let new = keyward_core::ApiKey::generate("sk", "live").unwrap();
        let mut out = Check::new();
        out.present(new.key.expose_secret());
        let now = 1_780_000_000_000.0;
        let nan = f64::NAN;
        let any = Allowed::default();
        let net = Allowed::new(vec!["203.0.113.0/24".into()]).unwrap();
        let read = Held::new(vec!["scans:read".into()]).unwrap();
        let none = Scopes::default();
        let hash = Some(new.hash.to_hex());
        let facts = |hash: &Option<String>, env: &str, revoked, not_before, allowed| {
            Facts::new(
                hash.clone(),
                env.into(),
                &read,
                nan,
                revoked,
                not_before,
                allowed,
            )
        };
        let mut code = |f: Facts, client: Option<&str>, required: &Scopes| {
            f.decide_presented(
                &Env::default(),
                required,
                now,
                client.map(str::to_owned),
                &mut out,
            );
            out.code
        };
        assert_eq!(
            code(facts(&hash, "live", nan, nan, &any), None, &none),
            Code::Valid
        );
        let write = Scopes::new(vec!["scans:write".into()]).unwrap();
        assert_eq!(
            code(facts(&hash, "live", nan, nan, &any), None, &write),
            Code::InsufficientScope
        );
        assert_eq!(
            code(facts(&hash, "live", now - 1.0, nan, &any), None, &none),
            Code::Revoked
        );
        assert_eq!(
            code(facts(&hash, "test", nan, nan, &any), None, &none),
            Code::WrongEnvironment,
            "the key says live"
        );
        let other = Some(KeyHash::of("x").to_hex());
        assert_eq!(
            code(facts(&other, "live", nan, nan, &any), None, &none),
            Code::UnknownKey,
            "another key's record"
        );
        assert_eq!(
            code(
                facts(&Some("zz".into()), "live", nan, nan, &any),
                None,
                &none
            ),
            Code::UnknownKey,
            "a record whose hash is no hash"
        );

        assert_eq!(
            code(
                facts(&hash, "live", nan, nan, &net),
                Some("::ffff:203.0.113.9"),
                &none
            ),
            Code::Valid
        );
        assert_eq!(
            code(facts(&hash, "live", nan, nan, &net), None, &none),
            Code::IpNotAllowed,
            "an unknown address fails closed"
        );
        assert_eq!(
            code(
                facts(&hash, "test", nan, nan, &net),
                Some("198.51.100.1"),
                &none
            ),
            Code::IpNotAllowed,
            "before the environment"
        );
        assert_eq!(
            code(facts(&hash, "live", nan, now + 1.0, &net), None, &none),
            Code::NotYetValid,
            "not_before before the address"
        );
        assert_eq!(
            code(
                facts(&hash, "live", now - 1.0, now + 1.0, &net),
                None,
                &none
            ),
            Code::Revoked,
            "revoked before the restrictions"
        );
    }

    #[test]
    fn a_record_is_decided_with_no_key_presented() {
        let read = Held::new(vec!["scans:*".into()]).unwrap();
        let f = Facts::new(
            None,
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
