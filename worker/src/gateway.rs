//! The edge gateway: every request that is not keyward's own API is checked against the
//! route's scope and forwarded to `ORIGIN_URL` without the credential. Fails closed.

use keyward_core::Code;
use worker::{Fetch, Headers, Request, RequestInit, Response};

use crate::auth;
use crate::config::Route;
use crate::context::Ctx;
use crate::http::{ApiError, credential};

/// Headers a client may not set: the gateway sets them for the origin.
const KEYWARD_HEADERS: [&str; 3] = ["x-keyward-key-id", "x-keyward-owner", "x-keyward-scopes"];

/// Whether `pattern` (with `*` matching any run of characters) matches `text`.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return true;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = parts.collect();
    for (i, piece) in pieces.iter().enumerate() {
        if i == pieces.len() - 1 {
            return rest.ends_with(piece);
        }
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

fn route_for<'a>(routes: &'a [Route], method: &str, path: &str) -> Option<&'a Route> {
    routes.iter().find(|r| {
        (r.method == "*" || r.method.eq_ignore_ascii_case(method)) && wildcard_match(&r.path, path)
    })
}

/// Checks and forwards one request.
///
/// # Errors
/// The refusal (RFC 6750), or `unavailable` when KV or the origin fails.
pub async fn forward(
    ctx: &mut Ctx<'_>,
    mut req: Request,
    origin: &str,
) -> Result<Response, ApiError> {
    let method = req.method().to_string();
    let raw_url = crate::http::raw_url(&req);
    let query = crate::http::query_of(&raw_url).to_owned();
    let path = req.path();
    let action = format!("{method} {path}");
    let Some(route) = route_for(&ctx.config.routes, &method, &path) else {
        ctx.record_use(&action, None, Code::NotFound);
        return Err(ApiError::new(
            Code::NotFound,
            "no gateway route matches this request",
        ));
    };
    let raw = match credential(req.headers()) {
        Ok(raw) => raw,
        Err(e) => {
            ctx.record_use(&action, None, e.code);
            return Err(e);
        }
    };
    let gateway_env = ctx.config.gateway_env.clone();
    let check = auth::check(
        ctx.config,
        &ctx.store,
        &raw,
        keyward_core::EnvRule::Exactly(&gateway_env),
        std::slice::from_ref(&route.scope),
        ctx.now,
    )
    .await?;
    if !check.is_valid() {
        ctx.record_use(&action, Some(&check), check.code);
        return Err(check.to_error());
    }

    let headers = Headers::new();
    for (name, value) in req.headers().entries() {
        let lower = name.to_ascii_lowercase();
        if lower == "authorization"
            || lower == "x-api-key"
            || KEYWARD_HEADERS.contains(&lower.as_str())
        {
            continue;
        }
        let _ = headers.append(&name, &value);
    }
    let (id, owner, scopes) = match &check.record {
        Some(r) => (
            r.id.to_string(),
            r.owner.clone(),
            r.scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        None => (
            auth::ROOT.to_owned(),
            auth::ROOT.to_owned(),
            "admin".to_owned(),
        ),
    };
    headers.set("x-keyward-key-id", &id)?;
    headers.set("x-keyward-owner", &owner)?;
    headers.set("x-keyward-scopes", &scopes)?;
    let target = format!(
        "{origin}{path}{}",
        if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        }
    );
    let mut init = RequestInit::new();
    init.with_method(req.method()).with_headers(headers);
    if !matches!(method.as_str(), "GET" | "HEAD") {
        let body = req
            .bytes()
            .await
            .map_err(|_| ApiError::code(Code::InvalidRequest))?;
        if !body.is_empty() {
            init.with_body(Some(
                worker::js_sys::Uint8Array::from(body.as_slice()).into(),
            ));
        }
    }
    let upstream = Request::new_with_init(&target, &init)?;
    match Fetch::Request(upstream).send().await {
        Ok(resp) => {
            ctx.record_use(&action, Some(&check), Code::Valid);
            if let Some(e) = ctx.events.last_mut() {
                e.status = Some(resp.status_code());
            }
            Ok(resp)
        }
        Err(e) => {
            ctx.record_use(&action, Some(&check), Code::Unavailable);
            Err(ApiError::unavailable("the origin", e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn wildcards_match_any_run_of_characters() {
        for (pattern, text, expect) in [
            ("/scans", "/scans", true),
            ("/scans", "/scans/1", false),
            ("/scans*", "/scans", true),
            ("/scans*", "/scans/1/results", true),
            ("/scans*", "/scan", false),
            ("/repos/*/scans", "/repos/a/b/scans", true),
            ("/repos/*/scans", "/repos/a/scans/x", false),
            ("*", "/anything", true),
            ("/a*b*c", "/a-x-b-y-c", true),
            ("/a*b*c", "/a-x-c-y-b", false),
        ] {
            assert_eq!(wildcard_match(pattern, text), expect, "{pattern} vs {text}");
        }
    }
}
