//! `GET /v1/openapi.json`: the API's OpenAPI 3.1 document (`worker/openapi.json`, made by
//! `crates/keyward-openapi` from the same route table and body types the Worker uses),
//! with this deployment's environments and grantable scopes filled in.

use std::cell::RefCell;

use serde_json::{Value, json};
use worker::{Headers, Response};

use crate::config::Config;

/// The document as committed (a test keeps it equal to what the types make).
const DOCUMENT: &str = include_str!("../openapi.json");

thread_local! {
    /// The filled-in document, made once per isolate (configuration does not change
    /// within one).
    static SERVED: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The document for `config`: `DeclaredEnvironment`, `DeclaredScope` and `DeclaredRole` list
/// this deployment's environments, the scopes a key may be given here and its roles.
pub fn document(config: &Config) -> String {
    let mut doc: Value = serde_json::from_str(DOCUMENT).unwrap_or_else(|_| json!({}));
    let schemas = &mut doc["components"]["schemas"];
    schemas["DeclaredEnvironment"]["enum"] = json!(config.environments);
    schemas["DeclaredScope"]["enum"] = json!(config.scopes.grantable());
    schemas["DeclaredRole"]["enum"] = json!(config.roles.names().collect::<Vec<_>>());
    serde_json::to_string(&doc).unwrap_or_default()
}

/// The answer: the document, cacheable for a minute (it holds no secret).
pub fn serve(config: &Config) -> Response {
    let text = SERVED.with(|s| {
        s.borrow_mut()
            .get_or_insert_with(|| document(config))
            .clone()
    });
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json; charset=utf-8");
    let _ = headers.set("cache-control", "public, max-age=60");
    let _ = headers.set("x-content-type-options", "nosniff");
    Response::builder()
        .with_status(200)
        .with_headers(headers)
        .fixed(text.into_bytes())
}
