//! `GET /v1/openapi.json`: the API's OpenAPI 3.1 document (`worker/openapi.json`, made by
//! `crates/keyward-openapi` from the same route table and body types the Worker uses),
//! with this deployment's environments and grantable scopes filled in.
//!
//! The document is not in the wasm (it was about 16 KB of it gzipped): the build step
//! (`scripts/build-worker.sh`) places it among the static assets at [`ASSET_PATH`], a path
//! the Worker never hands to the assets for a request (only `/_keyward/` is), and it is
//! read through the `ASSETS` binding once per isolate.

use std::cell::RefCell;

use serde_json::{Value, json};
use worker::{Headers, Response};

use crate::bindings::config::{ASSETS, Config};
use crate::plumbing::context::Ctx;
use crate::plumbing::http::{ApiError, ApiResult};

/// Where the build step puts the committed document among the static assets.
pub const ASSET_PATH: &str = "/openapi/openapi.json";

thread_local! {
    /// The filled-in document, made once per isolate (configuration does not change
    /// within one).
    static SERVED: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The document `committed` (the text of `worker/openapi.json`) for `config`:
/// `DeclaredEnvironment`, `DeclaredScope` and `DeclaredRole` list this deployment's
/// environments, the scopes a key may be given here and its roles; `None` when the text
/// is not a JSON document.
pub fn document(committed: &str, config: &Config) -> Option<String> {
    let mut doc: Value = keyward_core::json::from_str(committed).ok()?;
    let schemas = &mut doc["components"]["schemas"];
    schemas["DeclaredEnvironment"]["enum"] = json!(config.environments.names());
    schemas["DeclaredScope"]["enum"] = json!(config.scopes.grantable());
    schemas["DeclaredRole"]["enum"] = json!(config.roles.names().collect::<Vec<_>>());
    serde_json::to_string(&doc).ok()
}

/// Reads the committed document from the assets and fills it in.
async fn made(ctx: &Ctx<'_>) -> Result<String, ApiError> {
    const WHAT: &str = "the OpenAPI document";
    let assets = ctx
        .env
        .assets(ASSETS)
        .map_err(|e| ApiError::unavailable(WHAT, e))?;
    let url = format!("https://assets.invalid{ASSET_PATH}");
    let req = crate::bindings::platform::request(&url, "GET", None, None, false)
        .map_err(|e| ApiError::unavailable(WHAT, e))?;
    let mut resp = assets
        .fetch_request(req)
        .await
        .map_err(|e| ApiError::unavailable(WHAT, e))?;
    if resp.status_code() != 200 {
        return Err(ApiError::unavailable(WHAT, resp.status_code()));
    }
    let committed = resp
        .text()
        .await
        .map_err(|e| ApiError::unavailable(WHAT, e))?;
    document(&committed, ctx.config).ok_or_else(|| ApiError::unavailable(WHAT, "not JSON"))
}

/// The answer: the document, cacheable for a minute (it holds no secret).
///
/// # Errors
/// `unavailable` when the document cannot be read from the assets.
pub async fn serve(ctx: &Ctx<'_>) -> ApiResult {
    let text = match SERVED.with(|s| s.borrow().clone()) {
        Some(text) => text,
        None => {
            let text = made(ctx).await?;
            SERVED.with(|s| *s.borrow_mut() = Some(text.clone()));
            text
        }
    };
    let headers = Headers::new();
    headers.set("content-type", "application/json; charset=utf-8")?;
    headers.set("cache-control", "public, max-age=60")?;
    headers.set("x-content-type-options", "nosniff")?;
    Ok(Response::builder()
        .with_status(200)
        .with_headers(headers)
        .fixed(text.into_bytes()))
}
