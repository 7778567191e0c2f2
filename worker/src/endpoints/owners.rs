//! `/v1/owners/{owner}/limits`: rate limits shared by all of an owner's keys, counted in
//! one Durable Object per owner, so that five keys of one customer do not get five times
//! the allowance.

use keyward_api::{OwnerLimits, check_limits, check_owner_filter};
use worker::Request;

use crate::plumbing::context::{Caller, Ctx};
use crate::plumbing::http::{ApiError, ApiResult, json, read_json};
use keyward_core::Code;

/// `GET /v1/owners/{owner}/limits`
pub async fn get(ctx: &mut Ctx<'_>, caller: Caller, owner: &str) -> ApiResult {
    known_shape(owner)?;
    caller.actor().reads(Some(owner), None)?;
    let rate_limits = ctx.store.owner_limits(owner).await?;
    Ok(json(200, &OwnerLimits { rate_limits }))
}

/// `PUT /v1/owners/{owner}/limits`
pub async fn put(ctx: &mut Ctx<'_>, mut req: Request, caller: Caller, owner: &str) -> ApiResult {
    known_shape(owner)?;
    caller.actor().may_set_usage()?;
    let body: OwnerLimits = read_json(&mut req).await?;
    check_limits(&body.rate_limits)?;
    ctx.still_acting(&caller).await?;
    ctx.store.set_owner_limits(owner, &body.rate_limits).await?;
    Ok(json(200, &body))
}

/// An owner in the path that could not be one (not 1 to 128 printable ASCII characters)
/// names no resource: 404, as an id that could not be a key's does.
fn known_shape(owner: &str) -> Result<(), ApiError> {
    check_owner_filter(owner).map_err(|_| ApiError::new(Code::NotFound, "no such owner"))
}
