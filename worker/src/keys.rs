//! Key management: `/v1/keys` and its sub-resources.

use keyward_api::{
    CreateKey, CreatedKey, KeyList, KeyView, Previous, RevokeKey, RotateKey, RotatedKey,
    SecretString,
};
use keyward_core::chrono::Duration;
use keyward_core::{
    ApiKey, Asked, Code, KeyId, KeyRecord, Lifecycle, NewRecord, OsRandom, ScopeSet,
};
use worker::Request;

use crate::context::{Ctx, LogUse};
use crate::http::{ApiError, ApiResult, Query, json, read_json, read_optional_json};

fn scope_error(e: keyward_core::ScopeError) -> ApiError {
    ApiError::new(e.code(), e.to_string())
}

/// `POST /v1/keys`
pub async fn create(ctx: &mut Ctx<'_>, mut req: Request) -> ApiResult {
    let caller = ctx
        .authorize(&req, "keys:write", "POST /v1/keys", LogUse::Always)
        .await?;
    let body: CreateKey = read_json(&mut req).await?;
    body.validate()?;
    if let Some(env) = &body.env
        && !ctx.config.has_environment(env)
    {
        return Err(ApiError::new(
            Code::UnknownEnvironment,
            format!(
                "'env' must be one of: {}",
                ctx.config.environments.join(", ")
            ),
        ));
    }
    let scopes = ScopeSet::parse(&body.scopes).map_err(scope_error)?;
    ctx.config.scopes.validate(&scopes).map_err(scope_error)?;
    let terms = caller.actor().create_terms(
        &scopes,
        Asked {
            owner: body.owner.as_deref(),
            env: body.env.as_deref(),
            expires_at: body
                .expires_in
                .and_then(|s| ctx.now.checked_add_signed(Duration::seconds(s))),
        },
    )?;
    let new = ApiKey::generate(&ctx.config.vendor, &terms.env)
        .map_err(|e| ApiError::unavailable("key generation", e))?;
    let id =
        KeyId::generate(&mut OsRandom).map_err(|e| ApiError::unavailable("key generation", e))?;
    let record = KeyRecord::new(
        id,
        &new,
        NewRecord {
            name: body.name,
            owner: terms.owner,
            scopes,
            env: terms.env,
            expires_at: terms.expires_at,
            metadata: body.metadata.unwrap_or_default(),
            rate_limit: body.rate_limit,
        },
        ctx.now,
    );
    ctx.store.put(&record).await?;
    ctx.record_action(Lifecycle::Create, &record, &caller.id);
    Ok(json(
        201,
        &CreatedKey {
            key: SecretString::new(new.key.expose_secret()),
            record: KeyView::of(&record, ctx.now),
        },
    ))
}

/// `GET /v1/keys`
pub async fn list(ctx: &mut Ctx<'_>, req: Request) -> ApiResult {
    let caller = ctx
        .authorize(&req, "keys:read", "GET /v1/keys", LogUse::Always)
        .await?;
    let q = Query::of(&req, &["owner", "env", "cursor", "limit"])?;
    let limit = q.limit(50, 100)?;
    // A bounded key lists its own owner's keys of its own environment, and only those.
    let actor = caller.actor();
    let (owner, env) = match actor.home() {
        Some((own, own_env)) if actor.is_bounded() => {
            let (owner, env) = (
                q.get("owner").unwrap_or(own),
                q.get("env").unwrap_or(own_env),
            );
            actor.may_manage_owner(owner, env)?;
            (Some(owner), Some(env))
        }
        _ => (q.get("owner"), q.get("env")),
    };
    let (records, cursor) = ctx
        .store
        .list(
            owner,
            env,
            q.get("cursor").map(str::to_owned),
            u64::from(limit),
        )
        .await?;
    let keys = records.iter().map(|r| KeyView::of(r, ctx.now)).collect();
    Ok(json(200, &KeyList { keys, cursor }))
}

async fn load(ctx: &Ctx<'_>, id: &str) -> Result<KeyRecord, ApiError> {
    let not_found = || ApiError::new(Code::NotFound, "no key has this id");
    if id.parse::<KeyId>().is_err() {
        return Err(not_found());
    }
    ctx.store.by_id(id).await?.ok_or_else(not_found)
}

/// `GET /v1/keys/{id}`
pub async fn show(ctx: &mut Ctx<'_>, req: Request, id: &str) -> ApiResult {
    let caller = ctx
        .authorize(&req, "keys:read", "GET /v1/keys/{id}", LogUse::Always)
        .await?;
    let record = load(ctx, id).await?;
    caller
        .actor()
        .may_manage_owner(&record.owner, &record.env)?;
    Ok(json(200, &KeyView::of(&record, ctx.now)))
}

/// Revokes `record` (kept, never deleted) and stores it.
///
/// # Errors
/// `unavailable` when storage fails.
pub async fn revoke_record(
    ctx: &mut Ctx<'_>,
    record: &mut KeyRecord,
    by: &str,
    reason: &str,
) -> Result<(), ApiError> {
    record.revoke(by, reason, ctx.now);
    ctx.store.put(record).await?;
    ctx.record_action(Lifecycle::Revoke, record, by);
    Ok(())
}

/// `POST /v1/keys/{id}/revoke`
pub async fn revoke(ctx: &mut Ctx<'_>, mut req: Request, id: &str) -> ApiResult {
    let caller = ctx
        .authorize(
            &req,
            "keys:write",
            "POST /v1/keys/{id}/revoke",
            LogUse::Always,
        )
        .await?;
    let body: RevokeKey = read_optional_json(&mut req).await?;
    let reason = body.reason()?.to_owned();
    let mut record = load(ctx, id).await?;
    caller.actor().may_manage(&record)?;
    if record.revoked_at.is_none() {
        revoke_record(ctx, &mut record, &caller.id, &reason).await?;
    }
    Ok(json(200, &KeyView::of(&record, ctx.now)))
}

/// `POST /v1/keys/{id}/rotate`
pub async fn rotate(ctx: &mut Ctx<'_>, mut req: Request, id: &str) -> ApiResult {
    let caller = ctx
        .authorize(
            &req,
            "keys:write",
            "POST /v1/keys/{id}/rotate",
            LogUse::Always,
        )
        .await?;
    let body: RotateKey = read_optional_json(&mut req).await?;
    let grace = Duration::seconds(body.grace_seconds()?);
    let mut old = load(ctx, id).await?;
    caller.actor().may_manage(&old)?;
    let new = ApiKey::generate(&ctx.config.vendor, &old.env)
        .map_err(|e| ApiError::unavailable("key generation", e))?;
    let new_id =
        KeyId::generate(&mut OsRandom).map_err(|e| ApiError::unavailable("key generation", e))?;
    let next = old
        .rotate(new_id, &new, grace, ctx.now)
        .map_err(|e| ApiError::new(Code::Conflict, e.to_string()))?;
    // The successor first: if the second write fails, the old key still works unchanged.
    ctx.store.put(&next).await?;
    ctx.store.put(&old).await?;
    ctx.record_action(Lifecycle::Rotate, &old, &caller.id);
    ctx.record_action(Lifecycle::Create, &next, &caller.id);
    Ok(json(
        201,
        &RotatedKey {
            key: SecretString::new(new.key.expose_secret()),
            record: KeyView::of(&next, ctx.now),
            previous: Previous {
                id: old.id.clone(),
                expires_at: old.expires_at,
            },
        },
    ))
}
