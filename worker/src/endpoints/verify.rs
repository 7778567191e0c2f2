//! `POST /v1/verify` and `POST /v1/verify/header`: a service asks whether its end user's
//! key is good, the key in a JSON body or, body-less, in the `Keyward-Key` header with the
//! options in the query.

use keyward_api::{
    CONTEXT_HEADERS, CreditsLeft, KEY_HEADER, LimitView, SecretString, VerifyRequest,
    VerifyResponse,
};
use keyward_core::chrono::Duration;
use keyward_core::{Code, EnvRule, Scope};
use worker::Request;

use crate::bindings::audit::Client;
use crate::plumbing::auth::{self, Root};
use crate::plumbing::context::{Caller, Ctx};
use crate::plumbing::http::{ApiError, ApiResult, json, query_of, query_pairs, raw_url, read_json};

/// Where a verification's key and options are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `POST /v1/verify`: a JSON body.
    Json,
    /// `POST /v1/verify/header`: the `Keyward-Key` header and the query; no body.
    Header,
}

/// `POST /v1/verify` or `/v1/verify/header`, by `caller` (authorised with `keys:verify`).
pub async fn verify(ctx: &mut Ctx<'_>, mut req: Request, caller: Caller, form: Form) -> ApiResult {
    // The calling service was authorised before its body is read (`dispatch`): a key that
    // may not verify cannot hold the Worker open with a trickled body. It is checked again
    // once the body has arrived, so that the use is decided with the caller's key as it
    // is then (within the revocation bound: usually the isolate's cached answer).
    let body = read_request(&mut req, form).await?;
    ctx.still_acting(&caller).await?;
    if let Some(c) = &body.context {
        c.validate()?;
    }
    let cost = body.cost()?;
    keyward_api::check_scope_count(&body.scopes)?;
    if let Some(env) = &body.env {
        keyward_api::check_env_name(env)?;
    }
    let required = body
        .scopes
        .iter()
        .map(|s| Scope::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::new(e.code(), e.to_string()))?;
    // The environment verified in: the caller's own unless named (the core's rule).
    let env = caller.actor().verify_env(body.env.as_deref())?;
    let check = auth::check(
        &ctx.lookup(),
        body.key.expose_secret(),
        (EnvRule::Exactly(env), Root::Unknown),
        &required,
        Some(cost),
        // Whose request is verified: the service says, in `context.ip`; without it the
        // address is unknown (a key restricted to networks is refused).
        body.context
            .as_ref()
            .and_then(|c| c.ip.as_deref())
            .and_then(keyward_core::client_ip),
    )
    .await?;
    ctx.alert_if_due(&check);
    let context = body.context.unwrap_or_default();
    let action = context.action.unwrap_or_else(|| "verify".to_owned());
    ctx.client = Client {
        ip: context.ip.or(ctx.client.ip.take()),
        country: None,
        user_agent: context.user_agent.or(ctx.client.user_agent.take()),
    };
    ctx.record_use(&action, Some(&check), check.code);
    // The calling service is recorded as the actor of every event it reports.
    if let Some(e) = ctx.events.last_mut() {
        e.actor = Some(caller.id.clone());
    }
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
            ratelimits: check
                .usage
                .as_ref()
                .filter(|u| !u.limits.is_empty())
                .map(|u| {
                    u.limits
                        .iter()
                        .map(|l| LimitView {
                            name: l.name.clone(),
                            limit: l.limit,
                            period: l.period_seconds,
                            remaining: l.remaining,
                            reset_at: ctx.now + Duration::milliseconds(l.reset_ms),
                        })
                        .collect()
                }),
            credits: check
                .usage
                .as_ref()
                .and_then(|u| u.credits)
                .map(|remaining| CreditsLeft { remaining }),
            retry_after: check
                .usage
                .as_ref()
                .and_then(keyward_core::UseReport::retry_after_seconds),
            expires_at: record.and_then(|r| r.expires_at),
            ip_restricted: record.map(|r| r.allowed_ips.is_restricted()),
        },
    ))
}

/// The request in its `form` (keyward-api's rules). The header form's key comes from the
/// [`KEY_HEADER`] header, its options from the query and the end user's request from the
/// [`CONTEXT_HEADERS`], the body never read (there must be none); the JSON form's from the
/// body, with neither a query nor those headers. A key in the query is refused in both.
async fn read_request(req: &mut Request, form: Form) -> Result<VerifyRequest, ApiError> {
    let pairs = query_pairs(query_of(&raw_url(req)));
    let headers = req.headers();
    let key = headers.get(KEY_HEADER).ok().flatten();
    let context = CONTEXT_HEADERS.map(|name| headers.get(name).ok().flatten());
    match form {
        Form::Header => {
            let key = SecretString::new(key.ok_or_else(|| {
                ApiError::new(
                    Code::InvalidRequest,
                    "the Keyward-Key header (the key to verify) is required",
                )
            })?);
            keyward_api::check_no_body(
                headers.get("content-length").ok().flatten().as_deref(),
                headers.get("transfer-encoding").ok().flatten().as_deref(),
            )?;
            Ok(VerifyRequest::from_parts(key, &pairs, context)?)
        }
        Form::Json => {
            keyward_api::check_no_query(&pairs)?;
            keyward_api::check_no_form_headers(key.is_some(), context.iter().any(Option::is_some))?;
            read_json(req).await
        }
    }
}
