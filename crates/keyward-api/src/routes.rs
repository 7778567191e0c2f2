//! The API's routes: one table that the Worker routes by and the OpenAPI document is made
//! from, so that neither can answer or describe an operation the other does not know.

/// An operation of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `GET /healthz`
    Health,
    /// `HEAD /healthz`
    HealthHead,
    /// `GET /v1/openapi.json`
    OpenApi,
    /// `POST /v1/keys`
    CreateKey,
    /// `GET /v1/keys`
    ListKeys,
    /// `GET /v1/keys/{id}`
    ShowKey,
    /// `PATCH /v1/keys/{id}`
    UpdateKey,
    /// `POST /v1/keys/{id}/credits`
    SetCredits,
    /// `POST /v1/keys/{id}/revoke`
    RevokeKey,
    /// `POST /v1/keys/{id}/rotate`
    RotateKey,
    /// `GET /v1/owners/{owner}/limits`
    GetOwnerLimits,
    /// `PUT /v1/owners/{owner}/limits`
    PutOwnerLimits,
    /// `POST /v1/verify`
    Verify,
    /// `POST /v1/verify/header`
    VerifyHeader,
    /// `POST /v1/leaks`
    ReportLeaks,
    /// `GET /v1/audit`
    Audit,
    /// `GET /v1/alerts`
    Alerts,
    /// `GET /v1/usage`
    Usage,
    /// `GET /v1/me`
    Me,
    /// `GET /v1/audit/export`
    ExportAudit,
    /// `GET /v1/overview`
    Overview,
    /// `POST /v1/webhooks`
    CreateWebhook,
    /// `GET /v1/webhooks`
    ListWebhooks,
    /// `GET /v1/webhooks/{webhook_id}`
    ShowWebhook,
    /// `DELETE /v1/webhooks/{webhook_id}`
    DeleteWebhook,
    /// `GET /v1/webhooks/{webhook_id}/deliveries`
    ListDeliveries,
    /// `POST /v1/webhooks/{webhook_id}/rotate-secret`
    RotateWebhookSecret,
    /// `POST /v1/migrate`
    Migrate,
}

/// One route: an operation at a method and a path template (`{name}` is one segment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The operation.
    pub op: Op,
    /// `GET`, `POST`, ...
    pub method: &'static str,
    /// The path template, e.g. `/v1/keys/{id}/rotate`.
    pub path: &'static str,
    /// The scope a key needs (`None`: no scope; see `any_key`).
    pub scope: Option<&'static str>,
    /// Whether any valid key may do it (no scope needed, but a key is).
    pub any_key: bool,
    /// Whether only the root key or an `admin` key may do it (besides the scope).
    pub admin_only: bool,
    /// The operation's id in the OpenAPI document.
    pub id: &'static str,
    /// One line for people.
    pub summary: &'static str,
}

const fn route(
    op: Op,
    method: &'static str,
    path: &'static str,
    scope: Option<&'static str>,
    id: &'static str,
    summary: &'static str,
) -> Route {
    Route {
        op,
        method,
        path,
        scope,
        any_key: false,
        admin_only: false,
        id,
        summary,
    }
}

const fn admin(r: Route) -> Route {
    Route {
        admin_only: true,
        ..r
    }
}

const fn any_key(r: Route) -> Route {
    Route { any_key: true, ..r }
}

/// Every route of the API, in the order the document lists them.
pub const ROUTES: &[Route] = &[
    route(
        Op::Health,
        "GET",
        "/healthz",
        None,
        "health",
        "Whether the Worker is configured and up",
    ),
    route(
        Op::HealthHead,
        "HEAD",
        "/healthz",
        None,
        "healthHead",
        "The same, without a body",
    ),
    route(
        Op::OpenApi,
        "GET",
        "/v1/openapi.json",
        None,
        "openapi",
        "This document",
    ),
    route(
        Op::CreateKey,
        "POST",
        "/v1/keys",
        Some("keys:write"),
        "createKey",
        "Create a key; the key is in this answer only",
    ),
    route(
        Op::ListKeys,
        "GET",
        "/v1/keys",
        Some("keys:read"),
        "listKeys",
        "List keys, one page at a time",
    ),
    route(
        Op::ShowKey,
        "GET",
        "/v1/keys/{id}",
        Some("keys:read"),
        "showKey",
        "A key's record",
    ),
    route(
        Op::UpdateKey,
        "PATCH",
        "/v1/keys/{id}",
        Some("keys:write"),
        "updateKey",
        "Narrow a key's restrictions (allowed_ips, not_before, expires_at); root or admin also widens them and replaces its rate limits",
    ),
    admin(route(
        Op::SetCredits,
        "POST",
        "/v1/keys/{id}/credits",
        Some("keys:write"),
        "setCredits",
        "Set or add to a key's credits",
    )),
    route(
        Op::RevokeKey,
        "POST",
        "/v1/keys/{id}/revoke",
        Some("keys:write"),
        "revokeKey",
        "Revoke a key at once, for good",
    ),
    route(
        Op::RotateKey,
        "POST",
        "/v1/keys/{id}/rotate",
        Some("keys:write"),
        "rotateKey",
        "Replace a key; the old one works for a grace period",
    ),
    route(
        Op::GetOwnerLimits,
        "GET",
        "/v1/owners/{owner}/limits",
        Some("keys:read"),
        "getOwnerLimits",
        "The rate limits an owner's keys share",
    ),
    admin(route(
        Op::PutOwnerLimits,
        "PUT",
        "/v1/owners/{owner}/limits",
        Some("keys:write"),
        "putOwnerLimits",
        "Replace the rate limits an owner's keys share",
    )),
    route(
        Op::Verify,
        "POST",
        "/v1/verify",
        Some("keys:verify"),
        "verifyKey",
        "Check a key, count its use, and log it",
    ),
    route(
        Op::VerifyHeader,
        "POST",
        "/v1/verify/header",
        Some("keys:verify"),
        "verifyKeyInHeader",
        "Check a key sent in the Keyward-Key header (no body), count its use, and log it",
    ),
    route(
        Op::ReportLeaks,
        "POST",
        "/v1/leaks",
        Some("keys:write"),
        "reportLeaks",
        "Report leaked keys (GitHub secret scanning, or keyward scan --revoke); each is revoked",
    ),
    route(
        Op::Audit,
        "GET",
        "/v1/audit",
        Some("audit:read"),
        "listAuditEvents",
        "Audit events, newest first",
    ),
    route(
        Op::ExportAudit,
        "GET",
        "/v1/audit/export",
        Some("audit:read"),
        "exportAuditEvents",
        "The audit trail between two times, oldest first, as newline-delimited JSON or OCSF",
    ),
    route(
        Op::Alerts,
        "GET",
        "/v1/alerts",
        Some("audit:read"),
        "listAlerts",
        "Alerts, newest first",
    ),
    route(
        Op::Usage,
        "GET",
        "/v1/usage",
        Some("audit:read"),
        "usage",
        "Uses per hour or day, by outcome",
    ),
    route(
        Op::Overview,
        "GET",
        "/v1/overview",
        Some("audit:read"),
        "overview",
        "The deployment at a glance: uses per hour by outcome over 7 days, refusals by code, the most used keys, the alerts",
    ),
    any_key(route(
        Op::Me,
        "GET",
        "/v1/me",
        None,
        "me",
        "Who the calling key is and what it may do",
    )),
    route(
        Op::CreateWebhook,
        "POST",
        "/v1/webhooks",
        Some("keys:write"),
        "createWebhook",
        "Create a webhook endpoint; its signing secret is in this answer only",
    ),
    route(
        Op::ListWebhooks,
        "GET",
        "/v1/webhooks",
        Some("keys:write"),
        "listWebhooks",
        "The webhook endpoints the caller may manage",
    ),
    route(
        Op::ShowWebhook,
        "GET",
        "/v1/webhooks/{webhook_id}",
        Some("keys:write"),
        "showWebhook",
        "A webhook endpoint and its state",
    ),
    route(
        Op::DeleteWebhook,
        "DELETE",
        "/v1/webhooks/{webhook_id}",
        Some("keys:write"),
        "deleteWebhook",
        "Delete a webhook endpoint: nothing more is delivered to it",
    ),
    route(
        Op::ListDeliveries,
        "GET",
        "/v1/webhooks/{webhook_id}/deliveries",
        Some("keys:write"),
        "listWebhookDeliveries",
        "A webhook endpoint's delivery attempts, newest first",
    ),
    route(
        Op::RotateWebhookSecret,
        "POST",
        "/v1/webhooks/{webhook_id}/rotate-secret",
        Some("keys:write"),
        "rotateWebhookSecret",
        "Give a webhook endpoint a new signing secret (in this answer only); the old one signs too during the overlap",
    ),
    admin(route(
        Op::Migrate,
        "POST",
        "/v1/migrate",
        Some("admin"),
        "migrateKeys",
        "Adopt keys stored before the ledger, one page at a time (root key only; idempotent)",
    )),
];

/// What a request's method and path come to.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved<'a> {
    /// A route, with the path's values for its `{name}` segments, in order (still
    /// percent-encoded).
    Found(&'static Route, Vec<&'a str>),
    /// The path is a route's, not the method: the methods it takes, comma-separated.
    MethodNotAllowed(String),
    /// No route has this path.
    NotFound,
}

/// The path's values for `template`'s `{name}` segments, if the path fits it.
fn fit<'a>(template: &str, path: &'a str) -> Option<Vec<&'a str>> {
    let mut params = Vec::new();
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(params),
            (Some(ts), Some(ps)) if ts.starts_with('{') && !ps.is_empty() => params.push(ps),
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return None,
        }
    }
}

/// Finds the route of `method` and `path` (the URL's path, without the query).
pub fn resolve<'a>(method: &str, path: &'a str) -> Resolved<'a> {
    let mut allowed: Vec<&str> = Vec::new();
    for r in ROUTES {
        if let Some(params) = fit(r.path, path) {
            if r.method == method {
                return Resolved::Found(r, params);
            }
            allowed.push(r.method);
        }
    }
    if allowed.is_empty() {
        Resolved::NotFound
    } else {
        Resolved::MethodNotAllowed(allowed.join(", "))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    #[test]
    fn every_route_resolves_to_itself_and_ids_are_unique() {
        for r in ROUTES {
            let path = r
                .path
                .replace("{id}", "key_0123456789abcdef")
                .replace("{owner}", "acme");
            match resolve(r.method, &path) {
                Resolved::Found(found, _) => assert_eq!(found.op, r.op, "{} {}", r.method, r.path),
                other => panic!("{} {}: {other:?}", r.method, r.path),
            }
            assert_eq!(
                ROUTES.iter().filter(|o| o.id == r.id).count(),
                1,
                "{}",
                r.id
            );
            assert_eq!(
                ROUTES
                    .iter()
                    .filter(|o| o.method == r.method && o.path == r.path)
                    .count(),
                1
            );
        }
    }

    #[test]
    fn other_paths_and_methods_are_not_routes() {
        assert_eq!(resolve("GET", "/v1/nope"), Resolved::NotFound);
        assert_eq!(
            resolve("GET", "/v1/keys/"),
            Resolved::NotFound,
            "an empty id"
        );
        assert_eq!(resolve("GET", "/v1/keys/a/b"), Resolved::NotFound);
        assert_eq!(resolve("GET", "/healthz/x"), Resolved::NotFound);
        assert_eq!(
            resolve("DELETE", "/v1/keys/key_0123456789abcdef"),
            Resolved::MethodNotAllowed("GET, PATCH".to_owned())
        );
        assert_eq!(
            resolve("GET", "/v1/verify"),
            Resolved::MethodNotAllowed("POST".to_owned())
        );
        match resolve("PUT", "/v1/owners/a%20b/limits") {
            Resolved::Found(r, params) => {
                assert_eq!(r.op, Op::PutOwnerLimits);
                assert_eq!(params, ["a%20b"]);
            }
            other => panic!("{other:?}"),
        }
    }
}
