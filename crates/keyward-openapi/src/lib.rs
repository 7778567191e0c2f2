//! The OpenAPI 3.1 document of keyward's HTTP API, made from `keyward-api`: its route
//! table (the one the Worker routes by) and the JSON Schemas of its body types (the ones
//! the Worker reads and writes). `cargo run -p keyward-openapi > worker/openapi.json`
//! writes it; a test fails when the committed file differs from what this makes.
//!
//! The Worker serves the file at `GET /v1/openapi.json`, filling in the deployment's own
//! environments and declared scopes (`DeclaredEnvironment`, `DeclaredScope`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use keyward_api::routes::{Op, ROUTES, Route};
use keyward_api::{
    AlertList, AuditEventList, CreateKey, CreateWebhook, CreatedKey, CreatedWebhook, DeliveryList,
    ErrorBody, Health, KeyList, KeyView, LeakFeedback, Me, Migration, Overview, OwnerLimits,
    ReportedToken, RevokeKey, RotateKey, RotateWebhookSecret, RotatedKey, RotatedWebhookSecret,
    SetCredits, UpdateKey, Usage, VerifyRequest, VerifyResponse, WebhookList, WebhookView,
};
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

/// A published test-vector key (tests/vectors/parse.json), for the examples: key-shaped,
/// never live.
pub const EXAMPLE_KEY: &str = "sk_live_EyjWrnpz412femvE1HSRDfyp6BuUL8IP3zztYpyRo2s4MALsQ";

/// What an operation reads and answers, beside its route.
struct Shape {
    /// The request body's schema, and whether the body is required.
    body: Option<(Value, bool)>,
    /// Query parameters: name, schema, description.
    query: Vec<(&'static str, Value, &'static str)>,
    /// Request headers: name, schema, description, whether required.
    headers: Vec<(&'static str, Value, &'static str, bool)>,
    /// The success status and its body's schema (`None`: no body).
    ok: (u16, Option<Value>),
    /// Refusals beside the ones every authenticated call can give.
    errors: &'static [u16],
}

fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Value {
    g.subschema_for::<T>().to_value()
}

fn limit(max: u32, default: u32) -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": max, "default": default})
}

fn since() -> Value {
    json!({"type": "string", "format": "date-time"})
}

/// `POST /v1/verify/header`'s query: the JSON form's fields but `key` and `context`, each by
/// the same rules (keyward-api's `VerifyRequest::from_parts`); no value may be empty.
fn verify_query(g: &mut SchemaGenerator) -> Vec<(&'static str, Value, &'static str)> {
    use keyward_api::schema::ENV;
    vec![
        (
            "scopes",
            json!({"type": "array", "maxItems": 64, "items": schema::<keyward_core::Scope>(g)}),
            "Scopes the request needs, the parameter repeated for each (default: none).",
        ),
        (
            "env",
            json!({"type": "string", "pattern": ENV}),
            "The environment the key must belong to (default: the calling service key's own).",
        ),
        (
            "cost",
            json!({"type": "integer", "minimum": 1, "maximum": keyward_core::limits::MAX_COST}),
            "Units this use costs against the key's limits and credits (default 1).",
        ),
    ]
}

/// `POST /v1/verify/header`'s headers: the key, and the JSON form's `context`, each field in
/// its own header by the same rules; none may be empty.
fn verify_headers() -> Vec<(&'static str, Value, &'static str, bool)> {
    use keyward_api::schema::{HEADER_ASCII, HEADER_ASCII_TEXT};
    vec![
        (
            "Keyward-Key",
            json!({"type": "string"}),
            "The key as the end user presented it (never in the URL: `key` in the query is refused).",
            true,
        ),
        (
            "Keyward-Context-Ip",
            json!({"type": "string", "maxLength": keyward_api::MAX_IP_LEN, "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}),
            "The end user's IP address (IPv4 or IPv6 text form); never in the URL.",
            false,
        ),
        (
            "Keyward-Context-User-Agent",
            json!({"type": "string", "minLength": 1, "maxLength": keyward_api::MAX_USER_AGENT_LEN, "pattern": HEADER_ASCII}),
            "The end user's user agent, for the audit trail; never in the URL. Printable ASCII and spaces: another user agent goes in `POST /v1/verify`'s `context`.",
            false,
        ),
        (
            "Keyward-Context-Action",
            json!({"type": "string", "minLength": 1, "maxLength": keyward_api::MAX_ACTION_LEN, "pattern": HEADER_ASCII_TEXT,
                "not": {"type": "string", "pattern": "^[kK][eE][yY]\\."}}),
            "What the end user did, e.g. `GET /scans`, for the audit trail (never in the `key.` namespace, in any case); never in the URL. Printable ASCII and spaces, not only spaces: other text goes in `POST /v1/verify`'s `context`.",
            false,
        ),
    ]
}

fn key_id_query(g: &mut SchemaGenerator) -> (&'static str, Value, &'static str) {
    (
        "key_id",
        schema::<keyward_core::KeyId>(g),
        "Only this key's.",
    )
}

/// The audit trail's and the alerts' key filter: a key id, or `root` (the root key's
/// events and alerts are stored under that name).
fn key_id_or_root_query(g: &mut SchemaGenerator) -> (&'static str, Value, &'static str) {
    (
        "key_id",
        json!({"anyOf": [schema::<keyward_core::KeyId>(g), {"const": "root"}]}),
        "Only this key's (`root`: the root key's).",
    )
}

fn shape(op: Op, g: &mut SchemaGenerator) -> Shape {
    let none = Shape {
        body: None,
        query: Vec::new(),
        headers: Vec::new(),
        ok: (200, None),
        errors: &[],
    };
    match op {
        Op::Health => Shape {
            ok: (200, Some(schema::<Health>(g))),
            ..none
        },
        Op::HealthHead => none,
        Op::OpenApi => Shape {
            ok: (200, Some(json!({"type": "object"}))),
            ..none
        },
        Op::CreateKey => Shape {
            body: Some((schema::<CreateKey>(g), true)),
            ok: (201, Some(schema::<CreatedKey>(g))),
            errors: &[413, 415],
            ..none
        },
        Op::ListKeys => Shape {
            query: vec![
                (
                    "owner",
                    json!({"type": "string", "minLength": 1, "maxLength": 128, "pattern": keyward_api::schema::OWNER}),
                    "Only this owner's keys (a key that is not root or admin: its own owner, the default).",
                ),
                (
                    "env",
                    json!({"type": "string", "pattern": keyward_api::schema::ENV}),
                    "Only keys of this environment.",
                ),
                (
                    "status",
                    json!({"type": "string", "enum": keyward_core::StatusFilter::ALL.map(keyward_core::StatusFilter::as_str)}),
                    "Only keys that work (`active`: active or rotating), `revoked`, `expired`, `expiring` (works, and expires within 7 days), `stale` (live, unused for 90 days or more) or `over_privileged` (live, holding `admin` or a wildcard): decided by the server, which reads on (at most 200 records per page) until the page is full or the list ends, so a page is never empty by accident.",
                ),
                (
                    "cursor",
                    json!({"type": "string", "pattern": keyward_core::cursor::CURSOR_PATTERN}),
                    "The `cursor` of the previous page (one this API gave: another is 404).",
                ),
                ("limit", limit(100, 50), "Keys per page."),
            ],
            ok: (200, Some(schema::<KeyList>(g))),
            errors: &[404],
            ..none
        },
        Op::ShowKey => Shape {
            ok: (200, Some(schema::<KeyView>(g))),
            errors: &[404],
            ..none
        },
        Op::UpdateKey => Shape {
            body: Some((schema::<UpdateKey>(g), true)),
            ok: (200, Some(schema::<KeyView>(g))),
            errors: &[404, 409, 413, 415],
            ..none
        },
        Op::SetCredits => Shape {
            body: Some((schema::<SetCredits>(g), true)),
            ok: (200, Some(schema::<KeyView>(g))),
            errors: &[404, 409, 413, 415],
            ..none
        },
        Op::RevokeKey => Shape {
            body: Some((schema::<RevokeKey>(g), false)),
            ok: (200, Some(schema::<KeyView>(g))),
            errors: &[404, 413, 415],
            ..none
        },
        Op::RotateKey => Shape {
            body: Some((schema::<RotateKey>(g), false)),
            ok: (201, Some(schema::<RotatedKey>(g))),
            errors: &[404, 409, 413, 415],
            ..none
        },
        Op::GetOwnerLimits => Shape {
            ok: (200, Some(schema::<OwnerLimits>(g))),
            errors: &[404],
            ..none
        },
        Op::PutOwnerLimits => Shape {
            body: Some((schema::<OwnerLimits>(g), true)),
            ok: (200, Some(schema::<OwnerLimits>(g))),
            errors: &[404, 413, 415],
            ..none
        },
        Op::Verify => Shape {
            body: Some((schema::<VerifyRequest>(g), true)),
            ok: (200, Some(schema::<VerifyResponse>(g))),
            errors: &[413, 415],
            ..none
        },
        Op::VerifyHeader => Shape {
            headers: verify_headers(),
            query: verify_query(g),
            ok: (200, Some(schema::<VerifyResponse>(g))),
            ..none
        },
        Op::ReportLeaks => Shape {
            body: Some((
                json!({"type": "array", "maxItems": 1000, "items": schema::<ReportedToken>(g)}),
                true,
            )),
            ok: (
                200,
                Some(json!({"type": "array", "items": schema::<LeakFeedback>(g)})),
            ),
            errors: &[413, 415],
            ..none
        },
        Op::Audit => Shape {
            query: vec![
                key_id_or_root_query(g),
                ("since", since(), "Only events at or after this time."),
                ("limit", limit(1000, 100), "Most events."),
                (
                    "refused",
                    json!({"type": "string", "enum": ["true", "false"]}),
                    "`true`: refused uses only.",
                ),
                (
                    "before",
                    json!({"type": "string", "pattern": keyward_core::cursor::CURSOR_PATTERN}),
                    "The `cursor` of the previous page (one this API gave: another is 404): only events older than its last.",
                ),
            ],
            ok: (200, Some(schema::<AuditEventList>(g))),
            errors: &[404],
            ..none
        },
        Op::Alerts => Shape {
            query: vec![
                key_id_or_root_query(g),
                ("since", since(), "Only alerts at or after this time."),
                ("limit", limit(1000, 100), "Most alerts."),
            ],
            ok: (200, Some(schema::<AlertList>(g))),
            ..none
        },
        Op::Usage => Shape {
            query: vec![
                key_id_query(g),
                (
                    "owner",
                    json!({"type": "string", "minLength": 1, "maxLength": 128, "pattern": keyward_api::schema::OWNER}),
                    "Only this owner's uses (a key that is not root or admin: its own owner only).",
                ),
                (
                    "since",
                    since(),
                    "The first bucket holds this time (default: 7 days ago). At most 1000 buckets are counted: an earlier time starts at the oldest of them, a later one at the current bucket; the answer's `since` is where it started.",
                ),
                (
                    "bucket",
                    json!({"type": "string", "enum": ["hour", "day"], "default": "hour"}),
                    "The width of each bucket.",
                ),
            ],
            ok: (200, Some(schema::<Usage>(g))),
            ..none
        },
        Op::Overview => Shape {
            ok: (200, Some(schema::<Overview>(g))),
            ..none
        },
        Op::Me => Shape {
            ok: (200, Some(schema::<Me>(g))),
            ..none
        },
        Op::ExportAudit => Shape {
            query: vec![
                (
                    "since",
                    since(),
                    "The first time (default: a day before `until`).",
                ),
                ("until", since(), "The end, not included (default: now)."),
                (
                    "format",
                    json!({"type": "string", "enum": ["json", "ocsf"], "default": "json"}),
                    "`json`: keyward's events; `ocsf`: OCSF 1.3 events (Authentication 3002 for uses, Account Change 3001 for lifecycle actions).",
                ),
            ],
            ok: (200, Some(json!({"type": "string"}))),
            ..none
        },
        Op::CreateWebhook => Shape {
            body: Some((schema::<CreateWebhook>(g), true)),
            ok: (201, Some(schema::<CreatedWebhook>(g))),
            errors: &[413, 415],
            ..none
        },
        Op::ListWebhooks => Shape {
            ok: (200, Some(schema::<WebhookList>(g))),
            ..none
        },
        Op::ShowWebhook => Shape {
            ok: (200, Some(schema::<WebhookView>(g))),
            errors: &[404],
            ..none
        },
        Op::DeleteWebhook => Shape {
            ok: (204, None),
            errors: &[404],
            ..none
        },
        Op::RotateWebhookSecret => Shape {
            body: Some((schema::<RotateWebhookSecret>(g), false)),
            ok: (200, Some(schema::<RotatedWebhookSecret>(g))),
            errors: &[404, 413, 415],
            ..none
        },
        Op::ListDeliveries => Shape {
            ok: (200, Some(schema::<DeliveryList>(g))),
            errors: &[404],
            ..none
        },
        Op::Migrate => Shape {
            query: vec![(
                "cursor",
                json!({"type": "string", "pattern": keyward_core::cursor::CURSOR_PATTERN}),
                "The `cursor` of the previous page (one this API gave: another is 404).",
            )],
            ok: (200, Some(schema::<Migration>(g))),
            errors: &[404],
            ..none
        },
    }
}

/// Why each refusal status is given.
fn status_text(status: u16) -> &'static str {
    match status {
        400 => {
            "The request is not valid (`invalid_request`, `malformed`, `undeclared_scope`, `invalid_scope`, `unknown_environment`)"
        }
        401 => {
            "No key, or a key that is not good (`missing_key`, `unknown_key`, `revoked`, `expired`, `bad_checksum`, `wrong_environment`, `bad_signature`); with `WWW-Authenticate: Bearer`"
        }
        403 => "The key may not do this (`insufficient_scope`, `scope_not_held`, `forbidden`)",
        404 => "No such key, owner, webhook endpoint or page (`not_found`)",
        409 => {
            "The key's state does not allow it, e.g. rotating or changing a revoked key, or adding credits past the largest balance (`conflict`)"
        }
        413 => "The body is larger than the limit (`payload_too_large`)",
        415 => "The body is not `application/json` (`unsupported_media_type`)",
        429 => "Too many failed attempts from this address (`rate_limited`); see `Retry-After`",
        503 => {
            "The Worker is not configured, or storage cannot be reached (`unavailable`): never a pass"
        }
        _ => "",
    }
}

fn error_response(status: u16) -> Value {
    let mut r = json!({
        "description": status_text(status),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    });
    if status == 429 {
        r["headers"] = json!({"Retry-After": {"$ref": "#/components/headers/Retry-After"}});
    }
    if status == 401 {
        r["headers"] =
            json!({"WWW-Authenticate": {"$ref": "#/components/headers/WWW-Authenticate"}});
    }
    r
}

fn example_body(op: Op) -> Option<Value> {
    Some(match op {
        Op::CreateKey => json!({
            "name": "ci", "owner": "team-a", "scopes": ["keys:verify"], "env": "live",
            "expires_in": 2_592_000, "rate_limits": [{"name": "burst", "limit": 10, "period": "1s"}],
            "credits": {"remaining": 1000, "refill": {"amount": 1000, "interval": "month"}, "alert_below": 100}
        }),
        Op::Verify => json!({"key": EXAMPLE_KEY, "env": "live", "scopes": ["keys:read"], "cost": 1,
            "context": {"ip": "203.0.113.7", "user_agent": "curl/8.5", "action": "GET /scans"}}),
        Op::ReportLeaks => json!([{"token": EXAMPLE_KEY, "type": "keyward_api_key",
            "url": "https://github.com/acme/app/blob/main/.env", "source": "content"}]),
        Op::RevokeKey => json!({"reason": "left the team"}),
        Op::RotateKey => json!({"grace_seconds": 86_400}),
        Op::UpdateKey => json!({"rate_limits": [{"name": "minute", "limit": 100, "period": "1m"}]}),
        Op::SetCredits => json!({"add": 500}),
        Op::CreateWebhook => json!({"url": "https://hooks.example.com/keyward",
            "events": ["key.revoked", "alert.raised"], "owner": "payments", "env": "live"}),
        Op::RotateWebhookSecret => json!({"overlap_seconds": 86_400}),
        Op::PutOwnerLimits => {
            json!({"rate_limits": [{"name": "team", "limit": 600, "period": "1m"}]})
        }
        _ => return None,
    })
}

/// Links from a created or rotated key to what can be done with it next: the stateful
/// tests follow them (create → show → rotate → revoke, and verify).
fn links(op: Op) -> Option<Value> {
    let id = json!({"id": "$response.body#/id"});
    match op {
        Op::CreateKey | Op::RotateKey => Some(json!({
            "ShowKey": {"operationId": "showKey", "parameters": id},
            "RotateKey": {"operationId": "rotateKey", "parameters": id},
            "RevokeKey": {"operationId": "revokeKey", "parameters": id},
            "UpdateKey": {"operationId": "updateKey", "parameters": id},
            "SetCredits": {"operationId": "setCredits", "parameters": id},
            "VerifyKey": {"operationId": "verifyKey", "requestBody": {"key": "$response.body#/key", "env": "$response.body#/env"}},
            "VerifyKeyInHeader": {"operationId": "verifyKeyInHeader", "parameters": {"header.Keyward-Key": "$response.body#/key", "query.env": "$response.body#/env"}},
        })),
        _ => None,
    }
}

fn operation(r: &Route, g: &mut SchemaGenerator) -> Value {
    let s = shape(r.op, g);
    let mut o = Map::new();
    o.insert("operationId".into(), json!(r.id));
    o.insert("summary".into(), json!(r.summary));
    let mut description = match r.scope {
        Some(scope) => format!("Needs a key holding `{scope}`"),
        None if r.any_key => "Needs a key (any valid key)".to_owned(),
        None => "Needs no key".to_owned(),
    };
    if r.admin_only {
        description.push_str(", and the root key or a key holding `admin`");
    }
    if r.op == Op::Migrate {
        description.push_str(": only the root key, never an `admin` key");
    }
    if r.op == Op::ReportLeaks {
        description.push_str(
            ", or GitHub's signature headers (`Github-Public-Key-Identifier`, `Github-Public-Key-Signature`: ECDSA P-256 over the raw body)",
        );
    }
    description.push('.');
    o.insert("description".into(), json!(description));
    let mut statuses: Vec<u16> = s.errors.to_vec();
    if r.scope.is_some() || r.any_key {
        if let Some(scope) = r.scope {
            o.insert("x-keyward-scope".into(), json!(scope));
            o.insert("x-keyward-admin-only".into(), json!(r.admin_only));
        }
        let mut security = vec![json!({"bearer": []}), json!({"apiKey": []})];
        if r.op == Op::ReportLeaks {
            security.push(json!({"githubKeyId": [], "githubSignature": []}));
        }
        o.insert("security".into(), Value::Array(security));
        statuses.extend([400, 401, 403, 429, 503]);
    } else {
        o.insert("security".into(), json!([]));
        statuses.push(503);
    }
    statuses.sort_unstable();
    statuses.dedup();

    let mut params: Vec<Value> = Vec::new();
    for segment in r.path.split('/') {
        let Some(name) = segment.strip_prefix('{').and_then(|n| n.strip_suffix('}')) else {
            continue;
        };
        let (schema, description) = match name {
            "id" => (
                schema::<keyward_core::KeyId>(g),
                "The key's id (`key_` and 16 base62 characters).",
            ),
            "webhook_id" => (
                json!({"type": "string", "pattern": "^wh_[0-9a-f]{32}$"}),
                "The webhook endpoint's id (`wh_` and 32 hex digits).",
            ),
            _ => (
                json!({"type": "string", "minLength": 1, "maxLength": 128, "pattern": keyward_api::schema::OWNER}),
                "The owner, percent-encoded: 1 to 128 printable ASCII characters.",
            ),
        };
        params.push(json!({"name": name, "in": "path", "required": true, "schema": schema, "description": description}));
    }
    for (name, schema, description) in s.query {
        params.push(json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description}));
    }
    for (name, schema, description, required) in s.headers {
        params.push(json!({"name": name, "in": "header", "required": required, "schema": schema, "description": description}));
    }
    if !params.is_empty() {
        o.insert("parameters".into(), Value::Array(params));
    }
    if let Some((schema, required)) = s.body {
        let mut media = json!({"schema": schema});
        if let Some(example) = example_body(r.op) {
            media["example"] = example;
        }
        o.insert(
            "requestBody".into(),
            json!({"required": required, "content": {"application/json": media}}),
        );
    }

    let mut responses = Map::new();
    let (status, body) = s.ok;
    let mut ok = json!({"description": "Done"});
    if let Some(schema) = body {
        let media = if r.op == Op::ExportAudit {
            "application/x-ndjson"
        } else {
            "application/json"
        };
        ok["content"] = json!({ media: {"schema": schema} });
    }
    if let Some(l) = links(r.op) {
        ok["links"] = l;
    }
    responses.insert(status.to_string(), ok);
    for e in statuses {
        responses.insert(e.to_string(), error_response(e));
    }
    o.insert("responses".into(), Value::Object(responses));
    Value::Object(o)
}

const DESCRIPTION: &str = "\
keyward's HTTP API: API keys made, verified, rotated, revoked, limited and audited.

**Authentication.** Every operation but `/healthz` and this document needs a keyward key, \
as `Authorization: Bearer <key>` or `X-API-Key: <key>` (exactly one). Each operation names \
the scope it needs (`x-keyward-scope`); the root key and keys holding `admin` hold every \
scope. A key that is not root or admin acts only within its own owner and environment.

**Errors** are `{\"error\": {\"code\", \"message\"}}` with a stable `code` from keyward's \
code table (`Code`): codes are added, never renamed.

**Rate limits.** Keys may carry named rate limits and credits, counted exactly per use of \
the key (the gateway and `/v1/verify`). The gateway's answers carry `RateLimit-Policy` and \
`RateLimit` (draft-ietf-httpapi-ratelimit-headers) and, refused, `Retry-After`; \
`/v1/verify` reports the same in its body. Failed attempts (no key, a malformed or \
unknown key) are limited per client address: 429 `rate_limited` with `Retry-After`.

**Verification** takes the key in a JSON body (`POST /v1/verify`) or, without a body, in \
the `Keyward-Key` header with the options in the query (`POST /v1/verify/header`): the \
same decision, answer and audit event. A key never goes in a URL (`key` in a query is \
refused).

**Bodies** are JSON, at most 64 KiB (leak reports: 1 MiB); unknown fields are refused.";

/// Descriptions come from the types' doc comments: their rustdoc links (`` [`X`] ``) are
/// written as plain code.
fn plain_descriptions(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "description"
                    && let Value::String(s) = child
                {
                    *s = s.replace("[`", "`").replace("`]", "`");
                } else {
                    plain_descriptions(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(plain_descriptions),
        _ => {}
    }
}

/// The document.
pub fn document() -> Value {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
    });
    let mut g = SchemaGenerator::new(settings);
    let mut paths = Map::new();
    for r in ROUTES {
        let op = operation(r, &mut g);
        let entry = paths
            .entry(r.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[r.method.to_ascii_lowercase()] = op;
    }
    // The error body, with the code table as its enum.
    g.subschema_for::<ErrorBody>();
    let mut schemas: Map<String, Value> = g.take_definitions(true).into_iter().collect();
    for schema in schemas.values_mut() {
        plain_descriptions(schema);
    }
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "keyward",
            "version": env!("CARGO_PKG_VERSION"),
            "description": DESCRIPTION,
            "license": {"name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0"},
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "A keyward key: `Authorization: Bearer sk_live_…`."},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "A keyward key in `X-API-Key`."},
                "githubKeyId": {"type": "apiKey", "in": "header", "name": "Github-Public-Key-Identifier", "description": "GitHub secret scanning: the signing key's identifier."},
                "githubSignature": {"type": "apiKey", "in": "header", "name": "Github-Public-Key-Signature", "description": "GitHub secret scanning: base64 ECDSA P-256 signature of the raw body."},
            },
            "headers": {
                "Retry-After": {"description": "Seconds until a retry can succeed.", "schema": {"type": "integer", "minimum": 1}},
                "WWW-Authenticate": {"description": "RFC 6750 Bearer challenge.", "schema": {"type": "string"}},
                "RateLimit-Policy": {"description": "The key's limits, e.g. `\"burst\";q=20;w=60` (gateway answers).", "schema": {"type": "string"}},
                "RateLimit": {"description": "The limit with the fewest units left, e.g. `\"burst\";r=0;t=42` (gateway answers).", "schema": {"type": "string"}},
            },
        },
    })
}

/// The JSON Schema (2020-12) of a key record as it is stored and as a store of the npm
/// package's user returns it (`keyward_core::KeyRecord`): the npm package's `KeyRecord`
/// type is generated from it (`npm/key-record.schema.json`, committed; a test keeps it
/// current).
pub fn key_record_schema() -> Value {
    let settings = SchemaSettings::draft2020_12();
    let mut g = SchemaGenerator::new(settings);
    g.root_schema_for::<keyward_core::KeyRecord>().to_value()
}

/// [`key_record_schema`] as the committed file holds it (pretty, with a final newline).
pub fn key_record_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&key_record_schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// [`document`] as the committed file holds it (pretty, with a final newline).
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}
