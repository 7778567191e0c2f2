//! `POST /v1/verify`: a service asks whether its end user's key is good.

use keyward_api::{VerifyRequest, VerifyResponse};
use keyward_core::{EnvRule, Scope};
use worker::Request;

use crate::audit::Client;
use crate::auth;
use crate::context::{Ctx, LogUse};
use crate::http::{ApiError, ApiResult, json, read_json};

/// `POST /v1/verify`
pub async fn verify(ctx: &mut Ctx<'_>, mut req: Request) -> ApiResult {
    ctx.authorize(&req, "keys:verify", "POST /v1/verify", LogUse::RefusalsOnly)
        .await?;
    let body: VerifyRequest = read_json(&mut req).await?;
    if let Some(c) = &body.context {
        c.validate()?;
    }
    let required = body
        .scopes
        .iter()
        .map(|s| Scope::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::new(e.code(), e.to_string()))?;
    let rule = match body.env.as_deref() {
        Some(env) => EnvRule::Exactly(env),
        None => EnvRule::KeysOwn,
    };
    let check = auth::check(
        ctx.config,
        &ctx.store,
        body.key.expose_secret(),
        rule,
        &required,
        ctx.now,
    )
    .await?;
    let context = body.context.unwrap_or_default();
    let action = context.action.unwrap_or_else(|| "verify".to_owned());
    ctx.client = Client {
        ip: context.ip.or(ctx.client.ip.take()),
        country: None,
        user_agent: context.user_agent.or(ctx.client.user_agent.take()),
    };
    ctx.record_use(&action, Some(&check), check.code);
    let record = check.record.as_ref().filter(|_| check.is_valid());
    Ok(json(
        200,
        &VerifyResponse {
            valid: check.is_valid(),
            code: check.code,
            message: check.message(),
            key_id: check.key_id(),
            hint: check.hint.clone(),
            owner: record.map(|r| r.owner.clone()),
            scopes: record.map(|r| r.scopes.clone()),
            env: record.map(|r| r.env.clone()),
            expires_at: record.and_then(|r| r.expires_at),
        },
    ))
}
