//! The audit trail as OCSF 1.x events (Open Cybersecurity Schema Framework, schema.ocsf.io):
//! a key's use is an Authentication (class 3002), a lifecycle action on a key an Account
//! Change (class 3001), both of the Identity & Access Management category (3).
//!
//! ```text
//! use (verify, gateway, API call)  → 3002 Authentication, activity 1 Logon
//! key.create                       → 3001 Account Change, activity 1 Create
//! key.rotate                       → 3001, activity 3 Password Change (the secret replaced)
//! key.revoke                       → 3001, activity 5 Disable
//! key.update, key.credits          → 3001, activity 99 Other
//! ```
//!
//! `status_id` is 1 (Success) for an accepted use or a done action, 2 (Failure) for a
//! refusal, with keyward's code as `status_code`; `severity_id` 1 (Informational) or 2
//! (Low) for a refusal. The key is the `user` (its id and hint, never the key or its
//! hash), its owner the user's `org`; `actor.user` is who acted (`root`, a key id).

use serde_json::{Map, Value, json};

use crate::audit::{AuditEvent, LIFECYCLE_PREFIX};
use crate::code::Code;

/// The OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.3.0";
/// Identity & Access Management.
pub const CATEGORY_IAM: u32 = 3;
/// Account Change.
pub const CLASS_ACCOUNT_CHANGE: u32 = 3001;
/// Authentication.
pub const CLASS_AUTHENTICATION: u32 = 3002;

/// The class, activity id and activity name of an audit event.
pub fn classify(action: &str) -> (u32, u32, &'static str) {
    match action.strip_prefix(LIFECYCLE_PREFIX) {
        None => (CLASS_AUTHENTICATION, 1, "Logon"),
        Some("create") => (CLASS_ACCOUNT_CHANGE, 1, "Create"),
        Some("rotate") => (CLASS_ACCOUNT_CHANGE, 3, "Password Change"),
        Some("revoke") => (CLASS_ACCOUNT_CHANGE, 5, "Disable"),
        Some(_) => (CLASS_ACCOUNT_CHANGE, 99, "Other"),
    }
}

/// `event` as an OCSF event; `product_version` is keyward's.
pub fn event(e: &AuditEvent, product_version: &str) -> Value {
    let (class_uid, activity_id, activity_name) = classify(&e.action);
    let ok = e.outcome == Code::Valid;
    let mut user = Map::new();
    if let Some(id) = &e.key_id {
        user.insert("uid".into(), json!(id));
    }
    if let Some(hint) = &e.hint {
        user.insert("name".into(), json!(hint));
    }
    if let Some(owner) = &e.owner {
        user.insert("org".into(), json!({"name": owner}));
    }
    user.insert("type_id".into(), json!(99));
    user.insert("type".into(), json!("API key"));
    let mut out = json!({
        "class_uid": class_uid,
        "class_name": if class_uid == CLASS_AUTHENTICATION { "Authentication" } else { "Account Change" },
        "category_uid": CATEGORY_IAM,
        "category_name": "Identity & Access Management",
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": u64::from(class_uid) * 100 + u64::from(activity_id),
        "time": e.time.timestamp_millis(),
        "severity_id": if ok { 1 } else { 2 },
        "severity": if ok { "Informational" } else { "Low" },
        "status_id": if ok { 1 } else { 2 },
        "status": if ok { "Success" } else { "Failure" },
        "status_code": e.outcome.as_str(),
        "message": e.action,
        "metadata": {
            "version": OCSF_VERSION,
            "uid": e.event_id,
            "product": {"name": "keyward", "vendor_name": "keyward", "version": product_version},
        },
        "user": Value::Object(user),
        "actor": {"user": {"uid": e.actor.as_deref().or(e.key_id.as_deref()).unwrap_or("unknown")}},
    });
    if let Some(ip) = &e.ip {
        let mut src = json!({"ip": ip});
        if let Some(country) = &e.country {
            src["location"] = json!({"country": country});
        }
        out["src_endpoint"] = src;
    }
    let mut unmapped = Map::new();
    if let Some(ua) = &e.user_agent {
        unmapped.insert("user_agent".into(), json!(ua));
    }
    if let Some(status) = e.status {
        unmapped.insert("http_status".into(), json!(status));
    }
    if !unmapped.is_empty() {
        out["unmapped"] = Value::Object(unmapped);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn ev(action: &str, outcome: Code) -> AuditEvent {
        AuditEvent {
            event_id: "evt_1".into(),
            key_id: Some("key_0123456789abcdef".into()),
            hint: Some("sk_live_abcd".into()),
            owner: Some("acme".into()),
            actor: None,
            action: action.into(),
            ip: Some("203.0.113.7".into()),
            country: Some("DE".into()),
            user_agent: Some("curl/8".into()),
            time: chrono::DateTime::from_timestamp_millis(1_700_000_000_123).unwrap(),
            outcome,
            status: Some(200),
        }
    }

    #[test]
    fn a_use_is_an_authentication() {
        let o = event(&ev("POST /v1/verify", Code::Valid), "0.1.0");
        assert_eq!(o["class_uid"], 3002);
        assert_eq!(o["type_uid"], 300_201);
        assert_eq!(o["time"], 1_700_000_000_123_i64);
        assert_eq!(o["status_id"], 1);
        assert_eq!(o["src_endpoint"]["ip"], "203.0.113.7");
        assert_eq!(o["metadata"]["product"]["name"], "keyward");
        assert_eq!(o["actor"]["user"]["uid"], "key_0123456789abcdef");
        let refused = event(&ev("POST /v1/verify", Code::Revoked), "0.1.0");
        assert_eq!(refused["status_id"], 2);
        assert_eq!(refused["status_code"], "revoked");
    }

    #[test]
    fn lifecycle_actions_are_account_changes() {
        for (action, activity) in [
            ("key.create", 1),
            ("key.rotate", 3),
            ("key.revoke", 5),
            ("key.update", 99),
            ("key.credits", 99),
        ] {
            let mut e = ev(action, Code::Valid);
            e.actor = Some("root".into());
            let o = event(&e, "0.1.0");
            assert_eq!(o["class_uid"], 3001, "{action}");
            assert_eq!(o["activity_id"], activity, "{action}");
            assert_eq!(o["type_uid"], 300_100 + activity, "{action}");
            assert_eq!(o["actor"]["user"]["uid"], "root");
        }
    }
}
