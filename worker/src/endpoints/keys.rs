//! Key management: `/v1/keys` and its sub-resources.

use keyward_api::{
    CreateKey, CreatedKey, CreditsSpec, KeyList, KeyView, Previous, RevokeKey, RotateKey,
    RotatedKey, SecretString, SetCredits, UpdateKey, check_env_name, check_limits,
    check_owner_filter,
};
use keyward_core::chrono::Duration;
use keyward_core::limits::CreditsChange;
use keyward_core::{
    ApiKey, Asked, Code, KeyId, KeyRecord, Lifecycle, NewRecord, OsRandom, Restrictions, ScopeSet,
    StatusFilter, Successor,
};
use worker::Request;

use crate::bindings::ledger::Ledger;
use crate::plumbing::context::{Caller, Ctx};
use crate::plumbing::http::{ApiError, ApiResult, Query, json, read_json, read_optional_json};

fn scope_error(e: keyward_core::ScopeError) -> ApiError {
    ApiError::new(e.code(), e.to_string())
}

/// `POST /v1/keys`
pub async fn create(ctx: &mut Ctx<'_>, mut req: Request, caller: Caller) -> ApiResult {
    let body: CreateKey = read_json(&mut req).await?;
    body.validate()?;
    if let Some(env) = &body.env {
        ctx.config
            .environments
            .check(env)
            .map_err(|e| ApiError::new(e.code(), e.to_string()))?;
    }
    let scopes = ScopeSet::parse(&body.scopes).map_err(scope_error)?;
    ctx.config.scopes.validate(&scopes).map_err(scope_error)?;
    // Roles are resolved now, into the scopes the caller must hold (frozen at mint).
    let roles = body.roles.clone().unwrap_or_default();
    let scopes = ctx.config.roles.resolve(&roles, &scopes)?;
    let rate_limits = body.limits()?;
    let terms = caller.actor().create_terms(
        &scopes,
        Asked {
            owner: body.owner.as_deref(),
            env: body.env.as_deref(),
            expires_at: body
                .expires_in
                .and_then(|s| ctx.now.checked_add_signed(Duration::seconds(s))),
            credits: body.credits.is_some(),
        },
        caller.env_limits(ctx.config),
    )?;
    let asked = Restrictions {
        allowed_ips: body.allowed_ips.clone().unwrap_or_default(),
        not_before: body.not_before,
    };
    let restrictions = match &caller.record {
        Some(own) => own.restrictions().mint(asked)?,
        None => asked,
    };
    let expires_at = ctx
        .config
        .max_lifetime
        .expiry(&terms.env, terms.expires_at, ctx.now)?;
    if let (Some(start), Some(end)) = (restrictions.not_before, expires_at)
        && start >= end
    {
        return Err(ApiError::new(
            Code::InvalidRequest,
            "'not_before' must be before the key's expiry",
        ));
    }
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
            expires_at,
            metadata: body.metadata.unwrap_or_default(),
            rate_limits,
            credits: body.credits.map(CreditsSpec::into_credits),
            restrictions,
            roles,
        },
        ctx.now,
    );
    // The KV record first (inert until the ledger knows the key), then the ledger: the
    // key exists once its object commits it.
    ctx.store.put(&record).await?;
    ctx.still_acting(&caller).await?;
    let record = ctx.ledger().create(&record).await?;
    ctx.record_action(Lifecycle::Create, &record, &caller.id);
    Ok(json(
        201,
        &CreatedKey {
            key: SecretString::new(new.key.expose_secret()),
            record: KeyView::of(&record, ctx.now),
        },
    ))
}

/// Most records one page of `GET /v1/keys` reads to fill itself (each is a KV read and a
/// ledger call): a filtered page keeps reading the store's pages until it holds `limit`
/// keys, the list ends, or this many records were read; only then may it be short, and
/// it is empty only at the end of the list or after this many records matched nothing.
pub const MAX_LIST_SCAN: u64 = 200;

/// `GET /v1/keys?owner=&env=&status=&cursor=&limit=`
pub async fn list(ctx: &mut Ctx<'_>, req: Request, caller: Caller) -> ApiResult {
    let q = Query::of(&req, &["owner", "env", "status", "cursor", "limit"])?;
    let limit = u64::from(q.limit(50, 100)?);
    if let Some(owner) = q.get("owner") {
        check_owner_filter(owner)?;
    }
    if let Some(env) = q.get("env") {
        check_env_name(env)?;
    }
    let status = q
        .get("status")
        .map(str::parse::<StatusFilter>)
        .transpose()
        .map_err(|e| ApiError::new(Code::InvalidRequest, e.to_string()))?;
    // A cursor keyward did not give names no page (the store is not asked).
    let mut cursor = q.cursor("cursor")?;
    // A bounded key lists its own owner's keys of its own environment, and only those.
    let actor = caller.actor();
    let reads = actor.reads(q.get("owner"), q.get("env"))?;
    let (owner, env) = (reads.owner, reads.env);
    // The store's pages are read until this one is full: each asks for no more than the
    // keys still missing, so the cursor given back never skips a key.
    let mut keys = Vec::new();
    let mut read = 0;
    loop {
        let want = limit - keys.len() as u64;
        let (records, next) = ctx.store.list(owner, env, cursor, want).await?;
        read += want;
        for record in records {
            if let Some(truth) = truth_of(&ctx.ledger(), record).await?
                && status.is_none_or(|f| f.matches(&truth, ctx.now))
            {
                keys.push(KeyView::of(&truth, ctx.now));
            }
        }
        cursor = next;
        if cursor.is_none() || keys.len() as u64 >= limit || read >= MAX_LIST_SCAN {
            break;
        }
    }
    let cursor = cursor.map(|c| keyward_core::cursor::seal(&c));
    Ok(json(200, &KeyList { keys, cursor }))
}

/// The truth about a key KV lists: a revocation in KV is final (revocation is write-once,
/// so KV can only lag behind one, never invent one); anything else is the ledger's
/// word. `None`: a KV record whose key was never committed.
///
/// # Errors
/// `unavailable`.
pub async fn truth_of(ledger: &Ledger<'_>, kv: KeyRecord) -> Result<Option<KeyRecord>, ApiError> {
    if kv.revoked_at.is_some() && kv.lineage.is_some() {
        return Ok(Some(kv));
    }
    let last_used = kv.last_used_at;
    Ok(ledger.truth(&kv).await?.map(|mut r| {
        r.last_used_at = last_used;
        r
    }))
}

async fn load(ctx: &Ctx<'_>, id: &str) -> Result<KeyRecord, ApiError> {
    let not_found = || ApiError::new(Code::NotFound, "no key has this id");
    if id.parse::<KeyId>().is_err() {
        return Err(not_found());
    }
    let kv = ctx.store.by_id(id).await?.ok_or_else(not_found)?;
    let last_used = kv.last_used_at;
    let mut truth = ctx.ledger().truth(&kv).await?.ok_or_else(not_found)?;
    truth.last_used_at = last_used;
    Ok(truth)
}

/// `GET /v1/keys/{id}`
pub async fn show(ctx: &mut Ctx<'_>, caller: Caller, id: &str) -> ApiResult {
    let record = load(ctx, id).await?;
    caller
        .actor()
        .may_manage_owner(&record.owner, &record.env)?;
    Ok(json(200, &KeyView::of(&record, ctx.now)))
}

/// Revokes `record`'s key in its ledger (kept, never deleted; the first revocation
/// stands), then in KV; returns the record and whether this call revoked it.
///
/// # Errors
/// `not_found` or `unavailable`.
pub async fn revoke_record(
    ctx: &mut Ctx<'_>,
    record: &KeyRecord,
    by: &str,
    reason: &str,
) -> Result<(KeyRecord, bool), ApiError> {
    let (revoked, changed) = ctx.ledger().revoke(record, by, reason).await?;
    if changed {
        ctx.store.put(&revoked).await?;
        ctx.record_action(Lifecycle::Revoke, &revoked, by);
    }
    Ok((revoked, changed))
}

/// `POST /v1/keys/{id}/revoke`
pub async fn revoke(ctx: &mut Ctx<'_>, mut req: Request, caller: Caller, id: &str) -> ApiResult {
    let body: RevokeKey = read_optional_json(&mut req).await?;
    let reason = body.reason()?.to_owned();
    let record = load(ctx, id).await?;
    caller.actor().may_manage(&record)?;
    ctx.still_acting(&caller).await?;
    let (record, _) = revoke_record(ctx, &record, &caller.id, &reason).await?;
    Ok(json(200, &KeyView::of(&record, ctx.now)))
}

/// `POST /v1/keys/{id}/rotate`
pub async fn rotate(ctx: &mut Ctx<'_>, mut req: Request, caller: Caller, id: &str) -> ApiResult {
    let body: RotateKey = read_optional_json(&mut req).await?;
    let grace = Duration::seconds(body.grace_seconds()?);
    // Checked again before the commit below; here, so that a caller revoked while it sent
    // its body is told so (401) rather than, rotating itself, that its key is revoked (409).
    ctx.still_acting(&caller).await?;
    let old = load(ctx, id).await?;
    caller.actor().may_manage(&old)?;
    let new = ApiKey::generate(&ctx.config.vendor, &old.env)
        .map_err(|e| ApiError::unavailable("key generation", e))?;
    let successor = Successor {
        id: KeyId::generate(&mut OsRandom)
            .map_err(|e| ApiError::unavailable("key generation", e))?,
        hash: new.hash,
        hint: new.hint.clone(),
    };
    // What the ledger will make, worked out here to write KV first: a successor KV holds
    // but its ledger never committed is inert (unknown), so a failure cannot leave a live
    // successor nobody was given, nor end the old key with none.
    let mut draft = old.clone();
    let next = ctx
        .config
        .max_lifetime
        .rotate(&mut draft, successor.clone(), grace, ctx.now)
        .map_err(|e| ApiError::new(Code::Conflict, e.to_string()))?;
    ctx.store.put(&next).await?;
    let decided = match ctx.still_acting(&caller).await {
        Ok(()) => {
            ctx.ledger()
                .rotate(&old, successor, grace.num_seconds(), caller.key_id())
                .await
        }
        Err(e) => Err(e),
    };
    let (old, next) = match decided {
        Ok(pair) => pair,
        Err(e) => {
            // Refused (the key or its caller revoked or rotated meanwhile): the draft
            // never becomes a key.
            if let Err(gone) = ctx.store.forget(&next).await {
                worker::console_warn!(
                    "an uncommitted successor stays in KV, inert: {}",
                    gone.message
                );
            }
            return Err(e);
        }
    };
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

/// `PATCH /v1/keys/{id}`: replaces the key's own rate limits (root or `admin`) and
/// changes its restrictions and expiry: `keys:write` narrows them on a key it may
/// manage; only root or `admin` widens them, within its own restrictions and the lifetime
/// policy. The key's object decides, against the key as it holds it then.
pub async fn update(ctx: &mut Ctx<'_>, mut req: Request, caller: Caller, id: &str) -> ApiResult {
    let body: UpdateKey = read_json(&mut req).await?;
    let record = load(ctx, id).await?;
    let actor = caller.actor();
    actor.may_manage(&record)?;
    if let Some(limits) = &body.rate_limits {
        actor.may_set_usage()?;
        check_limits(limits)?;
    }
    let reshape = body.reshape();
    if body.rate_limits.is_none() && reshape.is_empty() {
        return Ok(json(200, &KeyView::of(&record, ctx.now)));
    }
    let widen = !actor.is_bounded();
    if widen && let Some(own) = &caller.record {
        reshape.within(&own.restrictions())?;
    }
    if let Some(expiry) = reshape.expires_at {
        ctx.config
            .max_lifetime
            .admits(&record.env, expiry, ctx.now)?;
    }
    ctx.still_acting(&caller).await?;
    let mut updated = ctx
        .ledger()
        .update(&record, body.rate_limits, reshape, widen, caller.key_id())
        .await?;
    ctx.store.put(&updated).await?;
    ctx.record_action(Lifecycle::Update, &updated, &caller.id);
    updated.last_used_at = record.last_used_at;
    Ok(json(200, &KeyView::of(&updated, ctx.now)))
}

/// `POST /v1/keys/{id}/credits`: sets or adds to the key's balance (a rotated key's
/// balance lives with its successor, and that record is answered).
pub async fn credits(ctx: &mut Ctx<'_>, mut req: Request, caller: Caller, id: &str) -> ApiResult {
    let body: SetCredits = read_json(&mut req).await?;
    body.validate()?;
    let record = load(ctx, id).await?;
    caller.actor().may_manage(&record)?;
    caller.actor().may_set_usage()?;
    let (set, amount) = match (body.set, body.add) {
        (Some(v), _) => (true, v),
        (None, v) => (false, v.unwrap_or(0)),
    };
    let change = CreditsChange {
        set,
        amount,
        refill: body.refill,
        alert_below: body.alert_below,
    };
    ctx.still_acting(&caller).await?;
    let holder = ctx
        .ledger()
        .set_credits(&record, change, caller.key_id())
        .await?;
    ctx.store.put(&holder).await?;
    ctx.record_action(Lifecycle::Credits, &holder, &caller.id);
    Ok(json(200, &KeyView::of(&holder, ctx.now)))
}
