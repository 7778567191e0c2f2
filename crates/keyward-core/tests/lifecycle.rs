//! Behaviour of scopes, records, rotation and the misuse rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keyward_core::chrono::{DateTime, Duration, TimeZone, Utc};
use keyward_core::{
    AlertKind, ApiKey, AuditEvent, Code, GenerateError, KeyHistory, KeyId, KeyRecord, MisuseRules,
    NewRecord, RotateError, Scope, ScopeError, ScopeRegistry, ScopeSet, Verdict, evaluate,
    new_event_id, over_privileged, stale, stale_after, verify, www_authenticate,
};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
}

fn record(scopes: &[&str], expires_in: Option<Duration>) -> (ApiKey, KeyRecord) {
    let new = ApiKey::generate("sk", "live").unwrap();
    let id = KeyId::generate(&mut keyward_core::OsRandom).unwrap();
    let rec = KeyRecord::new(
        id,
        &new,
        NewRecord {
            expires_at: expires_in.map(|d| now() + d),
            ..NewRecord::new("ci", "team-ci", ScopeSet::parse(scopes).unwrap(), "live")
        },
        now(),
    );
    (new.key, rec)
}

#[test]
fn registry_refuses_undeclared_scopes() {
    let registry = ScopeRegistry::from_json(
        r#"{"scans:read": "Read scan results", "scans:trigger": "Trigger scans", "admin": "mine"}"#,
    )
    .unwrap();
    for ok in ["scans:read", "scans:*", "keys:write", "admin", "keys:*"] {
        assert!(registry.is_declared(&Scope::parse(ok).unwrap()), "{ok}");
    }
    let set = ScopeSet::parse(&["scans:read", "repos:read"]).unwrap();
    let err = registry.validate(&set).unwrap_err();
    assert_eq!(
        err,
        ScopeError::Undeclared(Scope::parse("repos:read").unwrap())
    );
    assert_eq!(err.code(), Code::UndeclaredScope);
    assert!(
        registry
            .validate(&ScopeSet::parse(&["repos:*"]).unwrap())
            .is_err()
    );
    let admin = registry.iter().find(|(s, _)| s.is_admin()).unwrap();
    assert_ne!(
        admin.1, "mine",
        "reserved scopes keep keyward's description"
    );
    assert!(ScopeRegistry::from_json("[1,2]").is_err());
    assert!(ScopeRegistry::from_json(r#"{"Bad Scope": "x"}"#).is_err());

    // What the API document lists as grantable is exactly what is declared.
    let grantable = registry.grantable();
    for s in &grantable {
        assert!(registry.is_declared(&Scope::parse(s).unwrap()), "{s}");
    }
    for s in ["scans:*", "keys:*", "audit:*", "admin", "scans:trigger"] {
        assert!(grantable.iter().any(|g| g == s), "{s}");
    }
    for s in ["repos:read", "repos:*", "scans:write", "admin:*"] {
        assert!(!grantable.iter().any(|g| g == s), "{s}");
        if let Ok(scope) = Scope::parse(s) {
            assert!(!registry.is_declared(&scope), "{s}");
        }
    }
}

#[test]
fn a_key_only_grants_what_it_holds() {
    let creator = ScopeSet::parse(&["keys:write", "scans:*"]).unwrap();
    assert!(creator.covers(&ScopeSet::parse(&["scans:read", "scans:trigger"]).unwrap()));
    assert!(creator.covers(&ScopeSet::parse(&["scans:*"]).unwrap()));
    assert!(!creator.covers(&ScopeSet::parse(&["scans:read", "repos:read"]).unwrap()));
    assert!(!creator.covers(&ScopeSet::parse(&["admin"]).unwrap()));
    assert!(ScopeSet::parse(&["admin"]).unwrap().covers(&creator));
}

#[test]
fn scope_sets_are_sorted_deduplicated_and_bounded() {
    let set = ScopeSet::parse(&["b:x", "a:x", "b:x"]).unwrap();
    let names: Vec<&str> = set.iter().map(Scope::as_str).collect();
    assert_eq!(names, ["a:x", "b:x"]);
    let many: Vec<String> = (0..65).map(|i| format!("r{i}:read")).collect();
    assert_eq!(ScopeSet::parse(&many), Err(ScopeError::TooMany));
}

#[test]
fn generation_refuses_bad_prefixes() {
    assert_eq!(
        ApiKey::generate("SK", "live").unwrap_err(),
        GenerateError::Vendor
    );
    assert_eq!(
        ApiKey::generate("sk", "").unwrap_err(),
        GenerateError::Environment
    );
    assert_eq!(
        ApiKey::generate(&"v".repeat(17), "live").unwrap_err(),
        GenerateError::Vendor
    );
}

#[test]
fn debug_output_never_holds_the_secret() {
    let new = ApiKey::generate("sk", "live").unwrap();
    let raw = new.key.expose_secret().to_owned();
    let secret = &raw[8..];
    for shown in [
        format!("{new:?}"),
        format!("{:?}", new.key),
        format!("{}", new.key),
    ] {
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains(&new.hint));
    }
}

#[test]
fn key_ids_are_well_formed_and_distinct() {
    let a = KeyId::generate(&mut keyward_core::OsRandom).unwrap();
    let b = KeyId::generate(&mut keyward_core::OsRandom).unwrap();
    assert_ne!(a, b);
    assert_eq!(a.as_str().len(), 20);
    assert_eq!(a.as_str().parse::<KeyId>().unwrap(), a);
    for bad in [
        "",
        "key_",
        "key_0123456789abcde",
        "kex_0123456789abcdef",
        "key_0123456789abcde!",
    ] {
        assert!(bad.parse::<KeyId>().is_err(), "{bad}");
    }
}

#[test]
fn records_round_trip_as_json_with_snake_case_fields_and_no_key() {
    let (key, rec) = record(&["scans:read"], Some(Duration::days(30)));
    let json = serde_json::to_string(&rec).unwrap();
    assert!(!json.contains(key.expose_secret()));
    for field in [
        "\"id\"",
        "\"hash\"",
        "\"expires_at\"",
        "\"revoked_at\"",
        "\"rotated_to\"",
    ] {
        assert!(json.contains(field), "{field} in {json}");
    }
    assert!(
        json.contains("\"2026-07-01T12:00:00Z\""),
        "RFC 3339 times: {json}"
    );
    let back: KeyRecord = serde_json::from_str(&json).unwrap();
    assert_eq!(back, rec);
}

#[test]
fn revocation_is_immediate_and_keeps_the_first_reason() {
    let (_, mut rec) = record(&["scans:read"], None);
    rec.revoke("root", "leaked", now());
    rec.revoke("someone", "other", now() + Duration::seconds(5));
    assert_eq!(verify(Some(&rec), "live", &[], now()), Verdict::Revoked);
    assert_eq!(rec.revocation_reason.as_deref(), Some("leaked"));
    assert_eq!(rec.revoked_by.as_deref(), Some("root"));
}

#[test]
fn a_revocation_is_a_fact_whatever_clock_asks() {
    let (_, mut rec) = record(&["scans:read"], None);
    // Revoked by a clock ahead of the one that asks next.
    rec.revoke("root", "left", now() + Duration::hours(1));
    assert!(rec.is_revoked());
    assert_eq!(verify(Some(&rec), "live", &[], now()), Verdict::Revoked);
    assert_eq!(rec.status(now()), keyward_core::KeyStatus::Revoked);
    let next = ApiKey::generate("sk", "live").unwrap();
    let id = KeyId::generate(&mut keyward_core::OsRandom).unwrap();
    assert_eq!(
        rec.rotate(id, &next, Duration::hours(1), now())
            .unwrap_err(),
        RotateError::Revoked
    );
    assert_eq!(rec.rotated_to, None, "never gains a successor");
}

#[test]
fn rotation_with_grace_keeps_both_keys_working_until_the_grace_ends() {
    let (_, mut old) = record(&["scans:read"], Some(Duration::days(30)));
    let new_key = ApiKey::generate("sk", "live").unwrap();
    let new_id = KeyId::generate(&mut keyward_core::OsRandom).unwrap();
    let next = old
        .rotate(new_id.clone(), &new_key, Duration::hours(1), now())
        .unwrap();
    assert_eq!(next.rotated_from.as_ref(), Some(&old.id));
    assert_eq!(old.rotated_to.as_ref(), Some(&new_id));
    assert_eq!(next.scopes, old.scopes);
    assert_eq!(
        next.expires_at,
        Some(now() + Duration::days(30)),
        "the same expiry: rotating never extends a key's life"
    );
    assert_eq!(old.expires_at, Some(now() + Duration::hours(1)));
    let read = [Scope::parse("scans:read").unwrap()];
    let in_grace = now() + Duration::minutes(59);
    assert!(verify(Some(&old), "live", &read, in_grace).is_valid());
    assert!(verify(Some(&next), "live", &read, in_grace).is_valid());
    let after = now() + Duration::hours(1);
    assert_eq!(verify(Some(&old), "live", &read, after), Verdict::Expired);
    assert!(verify(Some(&next), "live", &read, after).is_valid());
    assert_eq!(
        old.rotate(new_id, &new_key, Duration::zero(), now())
            .unwrap_err(),
        RotateError::AlreadyRotated
    );
}

#[test]
fn rotation_without_grace_ends_the_old_key_at_once_and_never_extends_it() {
    let (_, mut old) = record(&[], Some(Duration::minutes(10)));
    let new_key = ApiKey::generate("sk", "live").unwrap();
    let id = KeyId::generate(&mut keyward_core::OsRandom).unwrap();
    old.rotate(id, &new_key, Duration::zero(), now()).unwrap();
    assert_eq!(verify(Some(&old), "live", &[], now()), Verdict::Expired);

    let (_, mut short) = record(&[], Some(Duration::minutes(10)));
    let id = KeyId::generate(&mut keyward_core::OsRandom).unwrap();
    short
        .rotate(id, &new_key, Duration::days(7), now())
        .unwrap();
    assert_eq!(
        short.expires_at,
        Some(now() + Duration::minutes(10)),
        "grace never extends a key"
    );

    let (_, mut revoked) = record(&[], None);
    revoked.revoke("root", "x", now());
    let id = KeyId::generate(&mut keyward_core::OsRandom).unwrap();
    assert_eq!(
        revoked
            .rotate(id, &new_key, Duration::zero(), now())
            .unwrap_err(),
        RotateError::Revoked
    );
}

#[test]
fn insufficient_scope_names_the_scope() {
    let (_, rec) = record(&["scans:read"], None);
    let verdict = verify(
        Some(&rec),
        "live",
        &[Scope::parse("scans:trigger").unwrap()],
        now(),
    );
    assert_eq!(verdict.code(), Code::InsufficientScope);
    assert_eq!(
        verdict.message(),
        "This API key does not have the 'scans:trigger' scope"
    );
}

fn event(outcome: Code, ip: &str, hour: u32) -> AuditEvent {
    AuditEvent {
        event_id: new_event_id(&mut keyward_core::OsRandom).unwrap(),
        key_id: Some("key_0123456789abcdef".into()),
        hint: Some("sk_live_AbCd".into()),
        owner: Some("team-ci".into()),
        actor: None,
        action: "GET /scans".into(),
        ip: Some(ip.into()),
        country: None,
        user_agent: Some("curl/8".into()),
        time: Utc.with_ymd_and_hms(2026, 6, 1, hour, 0, 0).unwrap(),
        outcome,
        status: Some(200),
    }
}

fn seasoned_history() -> KeyHistory {
    let mut uses_by_hour = [0; 24];
    uses_by_hour[9..18].fill(10);
    KeyHistory {
        total_events: 90,
        known_ips: vec!["203.0.113.7".into()],
        known_countries: vec![],
        uses_by_hour,
        baseline_per_minute: 2.0,
        current_minute: 3,
    }
}

#[test]
fn misuse_rules_fire_on_what_they_describe_and_nothing_else() {
    let rules = MisuseRules::default();
    let history = seasoned_history();
    assert!(evaluate(&event(Code::Valid, "203.0.113.7", 10), &history, &rules).is_empty());
    assert_eq!(
        evaluate(&event(Code::Revoked, "203.0.113.7", 10), &history, &rules),
        [AlertKind::RevokedKeyUsed]
    );
    assert_eq!(
        evaluate(&event(Code::Expired, "203.0.113.7", 10), &history, &rules),
        [AlertKind::ExpiredKeyUsed]
    );
    assert_eq!(
        evaluate(&event(Code::Valid, "198.51.100.1", 10), &history, &rules),
        [AlertKind::NewIp]
    );
    assert_eq!(
        evaluate(&event(Code::Valid, "203.0.113.7", 3), &history, &rules),
        [AlertKind::UnusualHour]
    );
    let burst = KeyHistory {
        current_minute: 61,
        ..seasoned_history()
    };
    assert_eq!(
        evaluate(&event(Code::Valid, "203.0.113.7", 10), &burst, &rules),
        [AlertKind::Burst]
    );
    let below_floor = KeyHistory {
        current_minute: 59,
        baseline_per_minute: 0.1,
        ..seasoned_history()
    };
    assert!(evaluate(&event(Code::Valid, "203.0.113.7", 10), &below_floor, &rules).is_empty());
    let busy_key = KeyHistory {
        current_minute: 500,
        baseline_per_minute: 100.0,
        ..seasoned_history()
    };
    assert!(evaluate(&event(Code::Valid, "203.0.113.7", 10), &busy_key, &rules).is_empty());
    let young = KeyHistory {
        total_events: 3,
        ..seasoned_history()
    };
    assert!(
        evaluate(&event(Code::Valid, "198.51.100.1", 3), &young, &rules).is_empty(),
        "no baseline yet: new IP and hour do not fire"
    );
}

#[test]
fn stale_and_over_privileged_reports() {
    let (_, mut rec) = record(&["admin", "scans:*", "repos:read"], None);
    assert!(!stale(&rec, now() + Duration::days(89), stale_after()));
    assert!(stale(&rec, now() + Duration::days(90), stale_after()));
    rec.last_used_at = Some(now() + Duration::days(80));
    assert!(!stale(&rec, now() + Duration::days(100), stale_after()));
    assert_eq!(over_privileged(&rec, now()), ["admin", "scans:*"]);
    rec.revoke("root", "done", now());
    assert!(over_privileged(&rec, now()).is_empty());
    assert!(
        !stale(&rec, now() + Duration::days(400), stale_after()),
        "revoked keys are not stale"
    );
}

#[test]
fn www_authenticate_follows_rfc_6750() {
    assert_eq!(
        www_authenticate("api", Code::MissingKey, None),
        "Bearer realm=\"api\""
    );
    let v = www_authenticate("api", Code::InsufficientScope, Some("scans:read"));
    assert!(
        v.starts_with("Bearer realm=\"api\", error=\"insufficient_scope\""),
        "{v}"
    );
    assert!(v.ends_with("scope=\"scans:read\""), "{v}");
    let v = www_authenticate("a\"pi\\", Code::Revoked, None);
    assert!(
        v.starts_with("Bearer realm=\"api\", error=\"invalid_token\""),
        "{v}"
    );
}

#[test]
fn a_successor_keeps_its_predecessors_expiry_however_late_the_rotation() {
    let (_, mut old) = record(&[], Some(Duration::days(30)));
    let new_key = ApiKey::generate("sk", "live").unwrap();
    let id = KeyId::generate(&mut keyward_core::OsRandom).unwrap();
    let later = now() + Duration::days(29);
    let next = old.rotate(id, &new_key, Duration::hours(1), later).unwrap();
    assert_eq!(next.expires_at, Some(now() + Duration::days(30)));
    let (_, mut forever) = record(&[], None);
    let id = KeyId::generate(&mut keyward_core::OsRandom).unwrap();
    let next = forever
        .rotate(id, &new_key, Duration::zero(), later)
        .unwrap();
    assert_eq!(
        next.expires_at, None,
        "a key that never expires keeps never expiring"
    );
}

mod containment {
    use super::*;
    use keyward_core::{Actor, Asked};

    fn key(owner: &str, env: &str, scopes: &[&str], expires: Option<Duration>) -> KeyRecord {
        let (_, mut r) = record(scopes, expires);
        r.owner = owner.into();
        r.env = env.into();
        r
    }

    fn set(s: &[&str]) -> ScopeSet {
        ScopeSet::parse(s).unwrap()
    }

    #[test]
    fn every_listing_reads_within_a_bounded_key_s_own_owner_and_environment() {
        use keyward_core::{Code, Reads};
        let reader = key("acme", "test", &["audit:read", "keys:read"], None);
        let bounded = Actor::Key(&reader);
        let own = Reads {
            owner: Some("acme"),
            env: Some("test"),
        };
        for (owner, env) in [
            (None, None),
            (Some("acme"), None),
            (None, Some("test")),
            (Some("acme"), Some("test")),
        ] {
            assert_eq!(bounded.reads(owner, env).unwrap(), own, "{owner:?} {env:?}");
        }
        for (owner, env) in [
            (Some("victim"), None),
            (None, Some("live")),
            (Some("acme"), Some("live")),
            (Some("victim"), Some("test")),
            (Some("ACME"), None),
        ] {
            let refused = bounded.reads(owner, env).unwrap_err();
            assert_eq!(refused.code, Code::Forbidden, "{owner:?} {env:?}");
        }
        // The root key and admin keys read what they ask, everything when they ask nothing.
        let admin = key("acme", "test", &["admin"], None);
        for actor in [Actor::Root, Actor::Key(&admin)] {
            let all = Reads {
                owner: None,
                env: None,
            };
            assert_eq!(actor.reads(None, None).unwrap(), all);
            let asked = actor.reads(Some("victim"), Some("live")).unwrap();
            assert_eq!((asked.owner, asked.env), (Some("victim"), Some("live")));
        }
    }

    #[test]
    fn a_key_creates_only_in_its_own_owner_and_environment() {
        let caller = key("acme", "test", &["keys:write", "scans:read"], None);
        let actor = Actor::Key(&caller);
        let t = actor
            .create_terms(&set(&["scans:read"]), Asked::default(), &[])
            .unwrap();
        assert_eq!((t.owner.as_str(), t.env.as_str()), ("acme", "test"));
        for asked in [
            Asked {
                env: Some("live"),
                ..Asked::default()
            },
            Asked {
                owner: Some("other"),
                ..Asked::default()
            },
        ] {
            let e = actor.create_terms(&set(&[]), asked, &[]).unwrap_err();
            assert_eq!(e.code, Code::Forbidden, "{}", e.message);
        }
        let e = actor
            .create_terms(&set(&["admin"]), Asked::default(), &[])
            .unwrap_err();
        assert_eq!(e.code, Code::ScopeNotHeld);
        assert_eq!(e.scope, Some(Scope::admin()));
    }

    #[test]
    fn a_key_never_escapes_usage_limits() {
        let plain = key("acme", "live", &["keys:write"], None);
        let actor = Actor::Key(&plain);
        assert!(actor.create_terms(&set(&[]), Asked::default(), &[]).is_ok());
        let credits = Asked {
            credits: true,
            ..Asked::default()
        };
        let e = actor.create_terms(&set(&[]), credits, &[]).unwrap_err();
        assert_eq!(
            e.code,
            Code::Forbidden,
            "credits are not minted by a bounded key"
        );
        assert_eq!(actor.may_set_usage().unwrap_err().code, Code::Forbidden);

        let mut limited = key("acme", "live", &["keys:write"], None);
        limited.rate_limits = vec!["10/1m".parse().unwrap()];
        let e = Actor::Key(&limited)
            .create_terms(&set(&[]), Asked::default(), &[])
            .unwrap_err();
        assert_eq!(e.code, Code::Forbidden, "{}", e.message);
        let mut metered = key("acme", "live", &["keys:write"], None);
        metered.credits = Some(keyward_core::limits::Credits {
            remaining: 5,
            refill: None,
            alert_below: None,
            period: None,
            alerted: None,
        });
        let e = Actor::Key(&metered)
            .create_terms(&set(&[]), Asked::default(), &[])
            .unwrap_err();
        assert_eq!(e.code, Code::Forbidden);

        // Under its environment's defaults, a key is limited as much as by its own: each
        // key it made would count under a fresh allowance.
        let defaults: Vec<keyward_core::limits::NamedLimit> = vec!["5/1m".parse().unwrap()];
        let e = actor
            .create_terms(&set(&[]), Asked::default(), &defaults)
            .unwrap_err();
        assert_eq!(e.code, Code::Forbidden, "{}", e.message);
        assert!(!actor.abilities(&defaults).create);

        let admin = key("ops", "live", &["admin"], None);
        assert!(Actor::Key(&admin).may_set_usage().is_ok());
        assert!(Actor::Root.may_set_usage().is_ok());
        assert!(
            Actor::Key(&admin)
                .create_terms(&set(&[]), credits, &[])
                .is_ok()
        );
        assert!(
            Actor::Key(&admin)
                .create_terms(&set(&[]), Asked::default(), &defaults)
                .is_ok()
        );
    }

    #[test]
    fn a_key_never_creates_one_that_outlives_it() {
        let caller = key("acme", "live", &["keys:write"], Some(Duration::days(1)));
        let actor = Actor::Key(&caller);
        let inherited = actor
            .create_terms(&set(&[]), Asked::default(), &[])
            .unwrap();
        assert_eq!(inherited.expires_at, caller.expires_at);
        let sooner = Some(now() + Duration::hours(1));
        let asked = Asked {
            expires_at: sooner,
            ..Asked::default()
        };
        assert_eq!(
            actor
                .create_terms(&set(&[]), asked, &[])
                .unwrap()
                .expires_at,
            sooner
        );
        let later = Asked {
            expires_at: Some(now() + Duration::days(2)),
            ..Asked::default()
        };
        assert_eq!(
            actor.create_terms(&set(&[]), later, &[]).unwrap_err().code,
            Code::Forbidden
        );
    }

    #[test]
    fn root_and_admin_are_not_bounded_but_root_names_owner_and_env() {
        let e = Actor::Root
            .create_terms(&set(&["admin"]), Asked::default(), &[])
            .unwrap_err();
        assert_eq!(e.code, Code::InvalidRequest);
        let asked = Asked {
            owner: Some("x"),
            env: Some("live"),
            expires_at: None,
            credits: true,
        };
        assert!(
            Actor::Root
                .create_terms(&set(&["admin"]), asked, &[])
                .is_ok()
        );
        let admin = key("ops", "test", &["admin"], Some(Duration::hours(1)));
        let t = Actor::Key(&admin)
            .create_terms(&set(&["scans:read"]), asked, &[])
            .unwrap();
        assert_eq!(
            (t.owner.as_str(), t.env.as_str(), t.expires_at),
            ("x", "live", None)
        );
        let other = key("someone", "live", &["admin"], None);
        assert!(Actor::Key(&admin).may_manage(&other).is_ok());
    }

    #[test]
    fn abilities_follow_the_same_rules_as_the_actions() {
        use keyward_core::Abilities;
        let all = Abilities {
            create: true,
            rotate: true,
            revoke: true,
            read_keys: true,
            read_audit: true,
            set_limits: true,
            manage_webhooks: true,
        };
        assert_eq!(Actor::Root.abilities(&[]), all);
        let admin = key("ops", "live", &["admin"], None);
        assert_eq!(Actor::Key(&admin).abilities(&[]), all);

        let reader = key("acme", "live", &["keys:read"], None);
        assert_eq!(
            Actor::Key(&reader).abilities(&[]),
            Abilities {
                read_keys: true,
                ..Abilities::default()
            }
        );
        let writer = key("acme", "live", &["keys:*", "audit:read"], None);
        assert_eq!(
            Actor::Key(&writer).abilities(&[]),
            Abilities {
                set_limits: false,
                ..all
            }
        );
        // A key bound by its own limits may rotate and revoke but creates nothing: the
        // rule create_terms applies.
        let mut limited = key("acme", "live", &["keys:write"], None);
        limited.rate_limits = vec!["10/1m".parse().unwrap()];
        let can = Actor::Key(&limited).abilities(&[]);
        assert!(!can.create && can.rotate && can.revoke && !can.set_limits && can.manage_webhooks);
        assert_eq!(
            can.create,
            Actor::Key(&limited)
                .create_terms(&set(&[]), Asked::default(), &[])
                .is_ok()
        );
        let verifier = key("acme", "live", &["keys:verify"], None);
        assert_eq!(Actor::Key(&verifier).abilities(&[]), Abilities::default());
    }

    #[test]
    fn a_key_verifies_only_in_its_own_environment_of_any_owner() {
        let service = key("acme", "test", &["keys:verify"], None);
        let actor = Actor::Key(&service);
        assert!(actor.may_verify_in("test").is_ok());
        assert_eq!(
            actor.may_verify_in("live").unwrap_err().code,
            Code::Forbidden
        );
        let admin = key("ops", "test", &["admin"], None);
        assert!(Actor::Key(&admin).may_verify_in("live").is_ok());
        assert!(Actor::Root.may_verify_in("live").is_ok());
    }

    #[test]
    fn a_key_manages_only_its_owners_keys_whose_scopes_it_holds() {
        let caller = key("acme", "live", &["keys:write", "scans:*"], None);
        let actor = Actor::Key(&caller);
        assert!(
            actor
                .may_manage(&key("acme", "live", &["scans:read"], None))
                .is_ok()
        );
        assert!(actor.may_manage(&caller).is_ok(), "itself");
        for (target, code) in [
            (key("other", "live", &["scans:read"], None), Code::Forbidden),
            (key("acme", "test", &["scans:read"], None), Code::Forbidden),
            (key("acme", "live", &["admin"], None), Code::ScopeNotHeld),
            (
                key("acme", "live", &["repos:read"], None),
                Code::ScopeNotHeld,
            ),
        ] {
            assert_eq!(
                actor.may_manage(&target).unwrap_err().code,
                code,
                "{target:?}"
            );
        }
    }
}

#[test]
fn a_rotation_chain_keeps_its_first_keys_id() {
    let (_, mut first) = record(&[], None);
    assert_eq!(first.chain(), &first.id, "a new key starts its chain");
    let new_key = ApiKey::generate("sk", "live").unwrap();
    let second = first
        .rotate(
            KeyId::generate(&mut keyward_core::OsRandom).unwrap(),
            &new_key,
            Duration::zero(),
            now(),
        )
        .unwrap();
    assert_eq!(second.chain(), &first.id);
    let mut legacy = first.clone();
    legacy.lineage = None;
    assert_eq!(
        legacy.chain(),
        &legacy.id,
        "a record of the previous format is its own chain"
    );
}
