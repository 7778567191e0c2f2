//! Runs every shared vector in `tests/vectors/` against the core.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::str::FromStr;

use keyward_core::{
    ApiKey, Code, EnvRule, KeyHash, KeyRecord, ParseError, Presented, Scope, ScopeSet, Verdict,
    checksum, credential, verify,
};
use serde_json::Value;

fn cases(json: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["version"], 1);
    let cases = v["cases"].as_array().unwrap().clone();
    assert!(!cases.is_empty());
    cases
}

/// A vector input: a string, or `{prefix?, repeat, times}` for huge strings.
fn input(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            let prefix = o.get("prefix").and_then(Value::as_str).unwrap_or("");
            let times = o["times"].as_u64().unwrap() as usize;
            format!("{prefix}{}", o["repeat"].as_str().unwrap().repeat(times))
        }
        other => panic!("unexpected input {other}"),
    }
}

#[test]
fn parse_vectors() {
    for case in cases(include_str!("../../../tests/vectors/parse.json")) {
        let name = case["name"].as_str().unwrap();
        let raw = input(&case["input"]);
        match ApiKey::from_str(&raw) {
            Ok(key) => {
                let expect = &case["expect"];
                assert!(
                    expect.is_object(),
                    "{name}: parsed but expected {}",
                    case["error"]
                );
                assert_eq!(key.vendor(), expect["vendor"], "{name}");
                assert_eq!(key.env(), expect["env"], "{name}");
                assert_eq!(key.hint(), expect["hint"], "{name}");
                assert_eq!(key.hash().to_hex(), expect["hash"], "{name}");
                assert_eq!(key.expose_secret(), raw, "{name}");
                for shown in [format!("{key:?}"), format!("{key}")] {
                    assert!(!shown.contains(&raw[raw.len() - 20..]), "{name}: {shown}");
                    assert!(shown.contains(&key.hint()), "{name}: {shown}");
                }
            }
            Err(err) => {
                let expect = &case["error"];
                assert!(expect.is_object(), "{name}: refused with {err:?}");
                assert_eq!(err.code().as_str(), expect["code"], "{name}");
                match err {
                    ParseError::Malformed(part) => {
                        assert_eq!(part.as_str(), expect["part"], "{name}")
                    }
                    ParseError::BadChecksum => assert!(expect.get("part").is_none(), "{name}"),
                    _ => panic!("{name}: unexpected error {err:?}"),
                }
                let message = err.to_string();
                if raw.len() > 10 {
                    assert!(!message.contains(&raw), "{name}: error echoes the input");
                }
            }
        }
    }
}

#[test]
fn checksum_vectors() {
    for case in cases(include_str!("../../../tests/vectors/checksum.json")) {
        let sum = checksum(case["input"].as_str().unwrap());
        assert_eq!(
            std::str::from_utf8(&sum).unwrap(),
            case["expect"],
            "{}",
            case["name"]
        );
    }
}

#[test]
fn hash_vectors() {
    for case in cases(include_str!("../../../tests/vectors/hash.json")) {
        let hash = KeyHash::of(case["input"].as_str().unwrap());
        assert_eq!(hash.to_hex(), case["expect"], "{}", case["name"]);
        let back: KeyHash = hash.to_hex().parse().unwrap();
        assert!(back.ct_eq(&hash));
    }
}

#[test]
fn scope_parse_vectors() {
    for case in cases(include_str!("../../../tests/vectors/scope_parse.json")) {
        let name = case["name"].as_str().unwrap();
        match Scope::parse(case["input"].as_str().unwrap()) {
            Ok(scope) => assert_eq!(scope.as_str(), case["expect"], "{name}"),
            Err(err) => assert_eq!(err.code().as_str(), case["error"]["code"], "{name}"),
        }
    }
}

#[test]
fn scope_grant_vectors() {
    for case in cases(include_str!("../../../tests/vectors/scope_grants.json")) {
        let held: Vec<&str> = case["input"]["held"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        let held = ScopeSet::parse(&held).unwrap();
        let required = Scope::parse(case["input"]["required"].as_str().unwrap()).unwrap();
        assert_eq!(
            Value::Bool(held.grants(&required)),
            case["expect"],
            "{}",
            case["name"]
        );
    }
}

#[test]
fn verify_vectors() {
    for case in cases(include_str!("../../../tests/vectors/verify.json")) {
        let i = &case["input"];
        let record: Option<KeyRecord> = serde_json::from_value(i["record"].clone()).unwrap();
        let scopes: Vec<Scope> = serde_json::from_value(i["scopes"].clone()).unwrap();
        let now = serde_json::from_value(i["now"].clone()).unwrap();
        let verdict = verify(record.as_ref(), i["env"].as_str().unwrap(), &scopes, now);
        assert_eq!(
            verdict.code().as_str(),
            case["expect"]["code"],
            "{}",
            case["name"]
        );
    }
}

#[test]
fn code_table_matches_vectors() {
    let cases = cases(include_str!("../../../tests/vectors/codes.json"));
    assert_eq!(cases.len(), Code::ALL.len(), "every code has a vector");
    for (case, code) in cases.iter().zip(Code::ALL) {
        assert_eq!(code.as_str(), case["input"], "codes keep their order");
        assert_eq!(Code::from_str(code.as_str()), Ok(*code));
        assert_eq!(
            u64::from(code.http_status()),
            case["expect"]["status"],
            "{code}"
        );
        assert_eq!(
            code.bearer_error().map_or(Value::Null, Value::from),
            case["expect"]["bearer_error"],
            "{code}"
        );
        assert_eq!(
            Value::Bool(code.challenge()),
            case["expect"]["challenge"],
            "{code}"
        );
    }
}

/// The header lines of a credentials vector, joined as HTTP joins repeated lines.
fn header(lines: &Value) -> Option<String> {
    let lines: Vec<&str> = lines
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    (!lines.is_empty()).then(|| lines.join(", "))
}

#[test]
fn credential_vectors() {
    for case in cases(include_str!("../../../tests/vectors/credentials.json")) {
        let name = case["name"].as_str().unwrap();
        let auth = header(&case["input"]["authorization"]);
        let api_key = header(&case["input"]["x_api_key"]);
        match credential(auth.as_deref(), api_key.as_deref()) {
            Ok(key) => assert_eq!(key, case["expect"]["key"], "{name}"),
            Err(e) => {
                assert_eq!(e.code().as_str(), case["error"]["code"], "{name}");
                let message = e.to_string();
                assert!(!message.contains("sk_"), "{name}: {message}");
            }
        }
    }
}

#[test]
fn check_vectors() {
    for case in cases(include_str!("../../../tests/vectors/checks.json")) {
        let name = case["name"].as_str().unwrap();
        let i = &case["input"];
        let expect = &case["expect"];
        let record: Option<KeyRecord> = serde_json::from_value(i["record"].clone()).unwrap();
        let scopes: Vec<Scope> = serde_json::from_value(i["scopes"].clone()).unwrap();
        let now = serde_json::from_value(i["now"].clone()).unwrap();
        let rule = match i["env"].as_str() {
            Some(env) => EnvRule::Exactly(env),
            None => EnvRule::KeysOwn,
        };
        let (code, missing) = match Presented::parse(i["key"].as_str().unwrap()) {
            Err(e) => (e.code(), None),
            Ok(presented) => {
                let verdict =
                    presented.decide(record.as_ref().map(KeyRecord::facts), rule, &scopes, now);
                let missing = match &verdict {
                    Verdict::InsufficientScope { missing } => Some(missing.to_string()),
                    _ => None,
                };
                (verdict.code(), missing)
            }
        };
        assert_eq!(code.as_str(), expect["code"], "{name}");
        assert_eq!(u64::from(code.http_status()), expect["status"], "{name}");
        assert_eq!(Value::Bool(code.challenge()), expect["challenge"], "{name}");
        assert_eq!(
            missing.map_or(Value::Null, Value::from),
            expect.get("scope").cloned().unwrap_or(Value::Null),
            "{name}"
        );
    }
}

#[test]
fn path_vectors() {
    for case in cases(include_str!("../../../tests/vectors/paths.json")) {
        let name = case["name"].as_str().unwrap();
        match keyward_core::gateway::canonical_path(case["input"].as_str().unwrap()) {
            Ok(p) => assert_eq!(p, case["expect"], "{name}"),
            Err(e) => assert!(case["error"].is_object(), "{name}: refused with {e}"),
        }
    }
}

/// A live key whose record holds `rate_limits` and `credits` (JSON), for a replay through
/// the core's whole use.
fn counted_key(limits: Value, credits: Value) -> (keyward_core::ApiKey, keyward_core::KeyRecord) {
    let new = keyward_core::ApiKey::generate("sk", "live").unwrap();
    let record = serde_json::json!({
        "id": "key_0123456789abcdef", "hash": new.hash.to_hex(), "hint": new.hint,
        "name": "vectors", "owner": "o", "scopes": [], "env": "live",
        "created_at": "1970-01-01T00:00:00Z", "rate_limits": limits, "credits": credits,
    });
    (new.key, serde_json::from_value(record).unwrap())
}

/// One step of a replay through the core's whole use, at `now`, kept in `kept`.
fn use_step(
    key: &keyward_core::ApiKey,
    record: &mut keyward_core::KeyRecord,
    kept: &mut std::collections::HashMap<String, keyward_core::limits::Window>,
    now: keyward_core::chrono::DateTime<keyward_core::chrono::Utc>,
    cost: u32,
) -> keyward_core::UseReport {
    use keyward_core::{Counts, EnvRule, KeyId, KeyRecord, Presented, UseAsk, limits::Window};
    struct Kept<'a>(&'a std::collections::HashMap<String, Window>);
    impl Counts for Kept<'_> {
        type Error = ();
        fn window(&mut self, name: &str) -> Result<Window, ()> {
            Ok(self.0.get(name).cloned().unwrap_or_default())
        }
        fn record(&mut self, _: &KeyId) -> Result<Option<KeyRecord>, ()> {
            Ok(None)
        }
    }
    let presented = Presented::parse(key.expose_secret()).unwrap();
    let ask = UseAsk::new(&presented, EnvRule::Exactly("live"), &[]).costing(cost);
    let out = keyward_core::use_key(Some(record), &ask, &mut Kept(kept), now).unwrap();
    if out.admitted {
        kept.extend(out.windows);
        if let Some(holder) = out.holder {
            *record = holder;
        }
    }
    out.report
}

#[test]
fn limit_vectors() {
    use keyward_core::limits::{NamedLimit, Window, admit};
    for case in cases(include_str!("../../../tests/vectors/limits.json")) {
        let name = case["name"].as_str().unwrap();
        let limits: Vec<NamedLimit> =
            serde_json::from_value(case["input"]["limits"].clone()).unwrap();
        let mut windows = vec![Window::default(); limits.len()];
        let (key, mut record) = counted_key(case["input"]["limits"].clone(), Value::Null);
        let mut kept = std::collections::HashMap::new();
        let steps = case["input"]["steps"].as_array().unwrap();
        let want = case["expect"].as_array().unwrap();
        assert_eq!(steps.len(), want.len(), "{name}: one expectation per step");
        // Each step as the vectors write it: the counting alone, and the whole use.
        let mut counted = Vec::new();
        let mut used = Vec::new();
        for step in steps {
            let at = step["at_ms"].as_i64().unwrap();
            let cost = step["cost"].as_u64().unwrap() as u32;
            let got = admit(&limits, &mut windows, at, cost);
            let statuses = |ls: &[keyward_core::limits::LimitStatus]| -> Value {
                ls.iter()
                    .map(|l| {
                        serde_json::json!({"name": l.name, "remaining": l.remaining, "reset_ms": l.reset_ms})
                    })
                    .collect()
            };
            counted.push(serde_json::json!({
                "allowed": got.allowed,
                "limits": statuses(&got.limits),
                "retry_after_ms": got.retry_after_ms,
            }));
            let now = keyward_core::chrono::DateTime::from_timestamp_millis(at).unwrap();
            let report = use_step(&key, &mut record, &mut kept, now, cost);
            used.push(serde_json::json!({
                "allowed": report.is_valid(),
                "limits": statuses(&report.limits),
                "retry_after_ms": report.retry_after_ms,
            }));
        }
        assert_eq!(Value::from(counted), case["expect"], "{name}: the counting");
        assert_eq!(Value::from(used), case["expect"], "{name}: the whole use");
    }
}

#[test]
fn credit_vectors() {
    use keyward_core::limits::Credits;
    for case in cases(include_str!("../../../tests/vectors/credits.json")) {
        let name = case["name"].as_str().unwrap();
        let mut credits: Credits =
            serde_json::from_value(case["input"]["credits"].clone()).unwrap();
        let (key, mut record) =
            counted_key(Value::Array(Vec::new()), case["input"]["credits"].clone());
        let mut kept = std::collections::HashMap::new();
        let steps = case["input"]["steps"].as_array().unwrap();
        let want = case["expect"].as_array().unwrap();
        assert_eq!(steps.len(), want.len(), "{name}: one expectation per step");
        let mut spent = Vec::new();
        let mut used = Vec::new();
        for step in steps {
            let now = keyward_core::time::parse_rfc3339(step["now"].as_str().unwrap()).unwrap();
            let cost = step["cost"].as_u64().unwrap() as u32;
            let got = credits.spend(now, cost);
            spent.push(serde_json::json!({
                "allowed": got.allowed, "remaining": got.remaining, "alert_due": got.alert_due,
            }));
            let report = use_step(&key, &mut record, &mut kept, now, cost);
            assert!(
                matches!(
                    report.code,
                    keyward_core::Code::Valid | keyward_core::Code::UsageExceeded
                ),
                "{name}: {}",
                report.code
            );
            used.push(serde_json::json!({
                "allowed": report.is_valid(),
                "remaining": report.credits,
                "alert_due": report.alert_due,
            }));
        }
        assert_eq!(Value::from(spent), case["expect"], "{name}: the balance");
        assert_eq!(Value::from(used), case["expect"], "{name}: the whole use");
    }
}

/// HMAC-SHA256 (RFC 2104), to check the vectors' signatures; the Worker signs through Web
/// Crypto and origins verify with their platform's HMAC.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn origin_signature_vectors() {
    use keyward_core::gateway::{Assertion, signed_message};
    let json = include_str!("../../../tests/vectors/origin_signature.json");
    let secret = serde_json::from_str::<Value>(json).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    for case in cases(json) {
        let name = case["name"].as_str().unwrap();
        let a = Assertion {
            method: case["method"].as_str().unwrap(),
            path_and_query: case["path_and_query"].as_str().unwrap(),
            timestamp: case["timestamp"].as_i64().unwrap(),
            key_id: case["key_id"].as_str().unwrap(),
            owner: case["owner"].as_str().unwrap(),
            scopes: case["scopes"].as_str().unwrap(),
        };
        let message = signed_message(&a);
        assert_eq!(message, case["message"].as_str().unwrap(), "{name}");
        assert_eq!(
            format!("v1={}", hmac_sha256(secret.as_bytes(), message.as_bytes())),
            case["signature"].as_str().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn restriction_vectors() {
    use keyward_core::{Networks, Restrictions, client_ip, time::parse_rfc3339};
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    for case in cases(include_str!("../../../tests/vectors/restrictions.json")) {
        let name = case["name"].as_str().unwrap();
        let input = &case["input"];
        if let Some(expect) = case.get("error") {
            let err = Networks::parse(&list(&input["allowed_ips"])).unwrap_err();
            assert_eq!(expect["code"], "invalid_request", "{name}: {err}");
        } else if let Some(contained) = case["expect"].get("contained") {
            let outer = Networks::parse(&list(&input["outer"])).unwrap();
            let inner = Networks::parse(&list(&input["inner"])).unwrap();
            assert_eq!(
                outer.contains_all(&inner),
                contained.as_bool().unwrap(),
                "{name}"
            );
        } else {
            let restrictions = Restrictions {
                allowed_ips: Networks::parse(&list(&input["allowed_ips"])).unwrap(),
                not_before: input["not_before"]
                    .as_str()
                    .map(|t| parse_rfc3339(t).unwrap()),
            };
            let client = input["ip"].as_str().and_then(client_ip);
            let now = parse_rfc3339(input["now"].as_str().unwrap()).unwrap();
            let want = case["expect"]["code"].as_str().unwrap();
            if input.get("key").is_none() {
                let got = match restrictions.admit(client, now) {
                    Ok(()) => Code::Valid,
                    Err(refused) => refused.verdict().code(),
                };
                assert_eq!(got.as_str(), want, "{name}");
            }
            // The whole use, in the one order (a live key holding scans:read by default).
            let key = input.get("key");
            let field = |f: &str| key.and_then(|k| k[f].as_str());
            let time = |f: &str| field(f).map(|t| parse_rfc3339(t).unwrap());
            let held = key.map_or_else(|| vec!["scans:read".to_owned()], |k| list(&k["scopes"]));
            let held = ScopeSet::parse(&held).unwrap();
            let hash = KeyHash::of("k");
            let facts = keyward_core::KeyFacts {
                hash: &hash,
                env: field("env").unwrap_or("live"),
                scopes: &held,
                expires_at: time("expires_at"),
                revoked_at: time("revoked_at"),
            };
            let request = input.get("request");
            let required: Vec<Scope> = request
                .map_or_else(Vec::new, |r| list(&r["scopes"]))
                .iter()
                .map(|s| Scope::parse(s).unwrap())
                .collect();
            let env = request.and_then(|r| r["env"].as_str()).unwrap_or("live");
            let got = keyward_core::decide_restricted(
                Some(facts),
                &restrictions,
                client,
                env,
                &required,
                now,
            );
            assert_eq!(got.code().as_str(), want, "{name}: the whole use");
        }
    }
}

#[test]
fn lease_vectors() {
    use keyward_core::limits::lease::{Grants, Unused, grant, hand_back};
    use keyward_core::limits::{NamedLimit, Window, admit};
    for case in cases(include_str!("../../../tests/vectors/leases.json")) {
        let name = case["name"].as_str().unwrap();
        let limits: Vec<NamedLimit> =
            serde_json::from_value(case["input"]["limits"].clone()).unwrap();
        let bound = case["input"]["bound_ms"].as_u64().unwrap() as u32;
        let mut windows = vec![Window::default(); limits.len()];
        let mut grants = Grants::default();
        let mut got = Vec::new();
        for step in case["input"]["steps"].as_array().unwrap() {
            let at = step["at_ms"].as_i64().unwrap();
            let cost = step["cost"].as_u64().unwrap() as u32;
            if let Some(back) = step["back"].as_array() {
                let n = |i: usize| back[i].as_i64().unwrap();
                let back = Unused {
                    at_ms: n(0),
                    granted: n(1) as u32,
                    unused: n(2) as u32,
                };
                hand_back(&mut windows, back);
            }
            let mut admission = admit(&limits, &mut windows, at, cost);
            let lease = if admission.allowed {
                grant(&limits, &mut windows, &mut grants, at, bound, cost).map(|(lease, a)| {
                    admission = a;
                    lease
                })
            } else {
                None
            };
            got.push(serde_json::json!({
                "allowed": admission.allowed,
                "lease": lease,
                "remaining": admission.limits.iter().map(|l| l.remaining).collect::<Vec<_>>(),
            }));
        }
        assert_eq!(Value::from(got), case["expect"], "{name}");
    }
}
