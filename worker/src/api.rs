//! The management and verification API (`/v1/...`).

use keyward_core::chrono::{DateTime, Duration, Utc};
use keyward_core::{
    ApiKey, AuditEvent, Code, KeyId, KeyRecord, NewRecord, OsRandom, RateLimit, Scope, ScopeSet,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use worker::{Env, Request};

use crate::audit::{self, Client};
use crate::auth::{self, Check, ROOT};
use crate::config::Config;
use crate::http::{ApiError, ApiResult, credential, json, read_json};
use crate::store::Store;

/// What every handler gets.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// Settings.
    pub config: &'a Config,
    /// Key state.
    pub store: Store,
    /// Bindings.
    pub env: &'a Env,
    /// Request time.
    pub now: DateTime<Utc>,
    /// The client.
    pub client: Client,
    /// Audit events to send after the response.
    pub events: Vec<AuditEvent>,
}

/// The authenticated caller of a management call.
#[derive(Debug)]
pub struct Caller {
    /// `root` or the key's id.
    pub id: String,
    /// What the caller holds (`admin` for root).
    pub scopes: ScopeSet,
}

impl Ctx<'_> {
    /// Authenticates the request's credential and requires `scope`; audits the use.
    ///
    /// # Errors
    /// The refusal (401/403 with the code), or `unavailable`.
    pub async fn authorize(
        &mut self,
        req: &Request,
        scope: &str,
        action: &str,
    ) -> Result<Caller, ApiError> {
        self.authorize_logging(req, scope, action, true).await
    }

    /// [`Ctx::authorize`], logging a successful use only when `log_success` (refusals are
    /// always logged). `/v1/verify` logs the verified key's use instead of the caller's:
    /// a service's own key would otherwise double the audit trail on the hottest path.
    ///
    /// # Errors
    /// The refusal (401/403 with the code), or `unavailable`.
    pub async fn authorize_logging(
        &mut self,
        req: &Request,
        scope: &str,
        action: &str,
        log_success: bool,
    ) -> Result<Caller, ApiError> {
        let raw = match credential(req.headers()) {
            Ok(raw) => raw,
            Err(e) => {
                self.record_use(action, None, e.code);
                return Err(e);
            }
        };
        let required = [Scope::parse(scope).map_err(|_| ApiError::code(Code::Internal))?];
        let check = auth::check(self.config, &self.store, &raw, None, &required, self.now).await?;
        if log_success || !check.is_valid() {
            self.record_use(action, Some(&check), check.code);
        }
        if !check.is_valid() {
            return Err(check.to_error());
        }
        if check.root {
            return Ok(Caller {
                id: ROOT.to_owned(),
                scopes: ScopeSet::new([Scope::admin()])
                    .map_err(|_| ApiError::code(Code::Internal))?,
            });
        }
        match check.record {
            Some(r) => Ok(Caller {
                id: r.id.to_string(),
                scopes: r.scopes,
            }),
            None => Err(ApiError::code(Code::Internal)),
        }
    }

    /// Queues an event for the use of a key (or of something presented as one).
    pub fn record_use(&mut self, action: &str, check: Option<&Check>, outcome: Code) {
        let mut event = audit::event(
            &self.client,
            action.to_owned(),
            outcome,
            Some(outcome.http_status()),
            self.now,
        );
        if let Some(check) = check {
            event.key_id = check.key_id();
            event.hint = check.hint.clone();
            event.owner = check.record.as_ref().map(|r| r.owner.clone());
        }
        self.events.push(event);
    }

    /// Queues an event for a lifecycle action on `record` by `caller`.
    pub fn record_action(&mut self, action: &str, record: &KeyRecord, caller: &str) {
        let mut event = audit::event(&self.client, action.to_owned(), Code::Valid, None, self.now);
        event.key_id = Some(record.id.to_string());
        event.hint = Some(record.hint.clone());
        event.owner = Some(record.owner.clone());
        event.actor = Some(caller.to_owned());
        self.events.push(event);
    }
}

/// A record as the API shows it: every field but the hash.
pub fn public(record: &KeyRecord) -> Value {
    let mut v = serde_json::to_value(record).unwrap_or_else(|_| json!({}));
    if let Some(o) = v.as_object_mut() {
        o.remove("hash");
    }
    v
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    owner: String,
    scopes: Vec<String>,
    env: String,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    metadata: Option<Map<String, Value>>,
    #[serde(default)]
    rate_limit: Option<RateLimit>,
}

fn text_field(name: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.chars().count() > max || value.chars().any(char::is_control)
    {
        return Err(ApiError::new(
            Code::InvalidRequest,
            format!("'{name}' must be 1 to {max} characters without control characters"),
        ));
    }
    Ok(())
}

/// `POST /v1/keys`
pub async fn create(ctx: &mut Ctx<'_>, mut req: Request) -> ApiResult {
    let caller = ctx.authorize(&req, "keys:write", "POST /v1/keys").await?;
    let body: CreateBody = read_json(&mut req).await?;
    text_field("name", &body.name, 128)?;
    text_field("owner", &body.owner, 128)?;
    if !ctx.config.has_environment(&body.env) {
        return Err(ApiError::new(
            Code::UnknownEnvironment,
            format!(
                "'env' must be one of: {}",
                ctx.config.environments.join(", ")
            ),
        ));
    }
    let scopes =
        ScopeSet::parse(&body.scopes).map_err(|e| ApiError::new(e.code(), e.to_string()))?;
    ctx.config
        .scopes
        .validate(&scopes)
        .map_err(|e| ApiError::new(e.code(), e.to_string()))?;
    if !caller.scopes.covers(&scopes) {
        let missing = scopes
            .iter()
            .find(|s| !caller.scopes.grants(s))
            .map(|s| s.to_string())
            .unwrap_or_default();
        return Err(ApiError {
            code: Code::ScopeNotHeld,
            message: format!(
                "a key can only grant scopes it holds; the caller does not hold '{missing}'"
            ),
            scope: Some(missing),
        });
    }
    let expires_in = match body.expires_in {
        None => None,
        Some(s) if (1..=10 * 366 * 86_400).contains(&s) => Some(Duration::seconds(s)),
        Some(_) => {
            return Err(ApiError::new(
                Code::InvalidRequest,
                "'expires_in' must be 1 to 316224000 seconds",
            ));
        }
    };
    let metadata = body.metadata.unwrap_or_default();
    if serde_json::to_string(&metadata).map_or(0, |s| s.len()) > 4096 {
        return Err(ApiError::new(
            Code::InvalidRequest,
            "'metadata' must be at most 4096 bytes of JSON",
        ));
    }
    let new = ApiKey::generate(&ctx.config.vendor, &body.env)
        .map_err(|e| ApiError::unavailable("key generation", e))?;
    let id =
        KeyId::generate(&mut OsRandom).map_err(|e| ApiError::unavailable("key generation", e))?;
    let record = KeyRecord::new(
        id,
        &new,
        NewRecord {
            name: body.name,
            owner: body.owner,
            scopes,
            env: body.env,
            expires_in,
            metadata,
            rate_limit: body.rate_limit,
        },
        ctx.now,
    );
    ctx.store.put(&record).await?;
    ctx.record_action("key.create", &record, &caller.id);
    Ok(json(201, &with_key(&record, &new.key)))
}

/// The one response that holds a raw key: the creating one.
fn with_key(record: &KeyRecord, key: &ApiKey) -> Value {
    let mut v = public(record);
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "key".to_owned(),
            Value::String(key.expose_secret().to_owned()),
        );
    }
    v
}

#[derive(Deserialize)]
struct ListQuery {
    owner: Option<String>,
    env: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

/// `GET /v1/keys`
pub async fn list(ctx: &mut Ctx<'_>, req: Request) -> ApiResult {
    ctx.authorize(&req, "keys:read", "GET /v1/keys").await?;
    let q: ListQuery = req
        .query()
        .map_err(|_| ApiError::new(Code::InvalidRequest, "the query string is invalid"))?;
    let limit = crate::http::limit(q.limit.as_deref(), 50, 100)?;
    let (records, cursor) = ctx
        .store
        .list(
            q.owner.as_deref(),
            q.env.as_deref(),
            q.cursor.filter(|c| !c.is_empty()),
            u64::from(limit),
        )
        .await?;
    let keys: Vec<Value> = records.iter().map(public).collect();
    Ok(json(200, &json!({"keys": keys, "cursor": cursor})))
}

async fn load(ctx: &Ctx<'_>, id: &str) -> Result<KeyRecord, ApiError> {
    if id.parse::<KeyId>().is_err() {
        return Err(ApiError::new(Code::NotFound, "no key has this id"));
    }
    ctx.store
        .by_id(id)
        .await?
        .ok_or_else(|| ApiError::new(Code::NotFound, "no key has this id"))
}

/// `GET /v1/keys/{id}`
pub async fn show(ctx: &mut Ctx<'_>, req: Request, id: &str) -> ApiResult {
    ctx.authorize(&req, "keys:read", "GET /v1/keys/{id}")
        .await?;
    Ok(json(200, &public(&load(ctx, id).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    #[serde(default)]
    reason: Option<String>,
}

/// Revokes `record` (kept, never deleted) and stores it.
///
/// # Errors
/// `unavailable` when KV fails.
pub async fn revoke_record(
    ctx: &mut Ctx<'_>,
    record: &mut KeyRecord,
    by: &str,
    reason: &str,
) -> Result<(), ApiError> {
    record.revoke(by, reason, ctx.now);
    ctx.store.put(record).await?;
    ctx.record_action("key.revoke", record, by);
    Ok(())
}

/// `POST /v1/keys/{id}/revoke`
pub async fn revoke(ctx: &mut Ctx<'_>, mut req: Request, id: &str) -> ApiResult {
    let caller = ctx
        .authorize(&req, "keys:write", "POST /v1/keys/{id}/revoke")
        .await?;
    let body: RevokeBody = read_json(&mut req).await?;
    let reason = body.reason.unwrap_or_else(|| "unspecified".to_owned());
    text_field("reason", &reason, 256)?;
    let mut record = load(ctx, id).await?;
    if record.revoked_at.is_none() {
        revoke_record(ctx, &mut record, &caller.id, &reason).await?;
    }
    Ok(json(200, &public(&record)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    #[serde(default)]
    grace_seconds: Option<i64>,
}

/// `POST /v1/keys/{id}/rotate`
pub async fn rotate(ctx: &mut Ctx<'_>, mut req: Request, id: &str) -> ApiResult {
    let caller = ctx
        .authorize(&req, "keys:write", "POST /v1/keys/{id}/rotate")
        .await?;
    let body: RotateBody = read_json(&mut req).await?;
    let grace = match body.grace_seconds.unwrap_or(0) {
        s @ 0..=2_592_000 => Duration::seconds(s),
        _ => {
            return Err(ApiError::new(
                Code::InvalidRequest,
                "'grace_seconds' must be 0 to 2592000 (30 days)",
            ));
        }
    };
    let mut old = load(ctx, id).await?;
    if !caller.scopes.covers(&old.scopes) {
        return Err(ApiError::new(
            Code::ScopeNotHeld,
            "a key can only rotate keys whose scopes it holds",
        ));
    }
    let vendor = ctx.config.vendor.clone();
    let new = ApiKey::generate(&vendor, &old.env)
        .map_err(|e| ApiError::unavailable("key generation", e))?;
    let new_id =
        KeyId::generate(&mut OsRandom).map_err(|e| ApiError::unavailable("key generation", e))?;
    let next = old
        .rotate(new_id, &new, grace, ctx.now)
        .map_err(|e| ApiError::new(Code::Conflict, e.to_string()))?;
    // The successor first: if the second write fails, the old key still works unchanged.
    ctx.store.put(&next).await?;
    ctx.store.put(&old).await?;
    ctx.record_action("key.rotate", &old, &caller.id);
    ctx.record_action("key.create", &next, &caller.id);
    let mut body = with_key(&next, &new.key);
    if let Some(o) = body.as_object_mut() {
        o.insert(
            "previous".to_owned(),
            json!({"id": old.id, "expires_at": old.expires_at}),
        );
    }
    Ok(json(201, &body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    key: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    env: Option<String>,
    /// The end user's request, when a service verifies on its behalf.
    #[serde(default)]
    context: Option<VerifyContext>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyContext {
    ip: Option<String>,
    user_agent: Option<String>,
    action: Option<String>,
}

/// The answer of `/v1/verify`: a failed check is data.
#[derive(Serialize)]
struct VerifyAnswer {
    valid: bool,
    code: Code,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scopes: Option<ScopeSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
}

/// `POST /v1/verify`
pub async fn verify(ctx: &mut Ctx<'_>, mut req: Request) -> ApiResult {
    ctx.authorize_logging(&req, "keys:verify", "POST /v1/verify", false)
        .await?;
    let body: VerifyBody = read_json(&mut req).await?;
    let required = body
        .scopes
        .iter()
        .map(|s| Scope::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::new(e.code(), e.to_string()))?;
    let check = auth::check(
        ctx.config,
        &ctx.store,
        &body.key,
        body.env.as_deref(),
        &required,
        ctx.now,
    )
    .await?;
    let action = body
        .context
        .as_ref()
        .and_then(|c| c.action.clone())
        .unwrap_or_else(|| "verify".to_owned());
    if let Some(c) = body.context {
        ctx.client = Client {
            ip: c.ip.or(ctx.client.ip.take()),
            country: None,
            user_agent: c.user_agent.or(ctx.client.user_agent.take()),
        };
    }
    ctx.record_use(&action, Some(&check), check.code);
    let record = check.record.as_ref().filter(|_| check.is_valid());
    let answer = VerifyAnswer {
        valid: check.is_valid(),
        code: check.code,
        message: check.message(),
        key_id: check.key_id(),
        hint: check.hint.clone(),
        owner: record.map(|r| r.owner.clone()),
        scopes: record.map(|r| r.scopes.clone()),
        env: record.map(|r| r.env.clone()),
        expires_at: record.and_then(|r| r.expires_at),
    };
    Ok(json(200, &answer))
}
