//! The operator's dashboard: static assets under `/_keyward/` (built from `dashboard/`),
//! served by this Worker through the `ASSETS` binding. The platform never answers for
//! them on its own (`run_worker_first`), so every asset answer, a 404 included, carries
//! the headers below; the page talks to the same HTTP API as the CLI, with the key its
//! user pastes.

use keyward_core::Code;
use worker::{Headers, Method, Request, Response};

use crate::bindings::config::ASSETS;
use crate::plumbing::context::Ctx;
use crate::plumbing::http::{ApiError, ApiResult};

/// The headers every dashboard answer carries: nothing runs or loads but the page's own
/// script and stylesheet, the page cannot be framed, and no URL leaks in a `Referer`.
pub const SECURITY_HEADERS: [(&str, &str); 6] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
];

fn secured(headers: &Headers) -> worker::Result<()> {
    for (name, value) in SECURITY_HEADERS {
        headers.set(name, value)?;
    }
    Ok(())
}

/// `GET /_keyward/...`: the asset, with [`SECURITY_HEADERS`]; `/_keyward` itself
/// redirects to `/_keyward/`.
///
/// # Errors
/// `method_not_allowed`, or `unavailable` when the assets cannot be read.
pub async fn serve(ctx: &Ctx<'_>, req: Request) -> ApiResult {
    if !matches!(req.method(), Method::Get | Method::Head) {
        let mut e = ApiError::new(Code::MethodNotAllowed, "the dashboard allows GET, HEAD");
        e.headers.push(("Allow", "GET, HEAD".to_owned()));
        return Err(e);
    }
    if req.path() == "/_keyward" {
        let headers = Headers::new();
        headers.set("location", "/_keyward/")?;
        secured(&headers)?;
        return Ok(Response::builder()
            .with_status(308)
            .with_headers(headers)
            .empty());
    }
    let assets = ctx
        .env
        .assets(ASSETS)
        .map_err(|e| ApiError::unavailable("the dashboard's assets", e))?;
    let resp = assets
        .fetch_request(req)
        .await
        .map_err(|e| ApiError::unavailable("the dashboard's assets", e))?;
    // A fetched answer's headers cannot be changed in place: copied, then ours set.
    let headers = Headers::new();
    for (name, value) in resp.headers().entries() {
        headers.append(&name, &value)?;
    }
    secured(&headers)?;
    Ok(resp.with_headers(headers))
}
