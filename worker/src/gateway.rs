//! The edge gateway: every request that is not keyward's own is made canonical, checked
//! against the route's scope and forwarded to `ORIGIN_URL` without the credential, at
//! exactly the path that was matched. Fails closed. The rules (the canonical path, the
//! route table) are the core's.

use keyward_core::gateway::canonical_path;
use keyward_core::{Code, EnvRule};
use worker::{Fetch, Headers, Request, RequestInit, RequestRedirect, Response};

use crate::auth::{self, Root};
use crate::context::Ctx;
use crate::http::{ApiError, credential, read_body};
use crate::throttle;

/// Headers that ask an origin to treat a request as another method.
const METHOD_OVERRIDES: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Whether a client header is one the origin must not receive: the credential, a method
/// override, or anything in keyward's own `X-Keyward-*` namespace (with `_` read as `-`,
/// since some servers fold the two).
pub fn is_stripped(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace('_', "-");
    name == "authorization"
        || name == "x-api-key"
        || METHOD_OVERRIDES.contains(&name.as_str())
        || name.starts_with("x-keyward-")
}

/// Checks and forwards one request.
///
/// # Errors
/// The refusal (RFC 6750), `invalid_request` for a path that cannot be made canonical,
/// `payload_too_large`, or `unavailable` when KV or the origin fails.
pub async fn forward(
    ctx: &mut Ctx<'_>,
    mut req: Request,
    origin: &str,
) -> Result<Response, ApiError> {
    let method = req.method().to_string();
    let raw_url = crate::http::raw_url(&req);
    let query = crate::http::query_of(&raw_url).to_owned();
    let raw_path = req.path();
    let path = match canonical_path(&raw_path) {
        Ok(p) => p,
        Err(e) => {
            let action = format!(
                "{method} {}",
                raw_path.chars().take(256).collect::<String>()
            );
            ctx.record_use(&action, None, Code::InvalidRequest);
            return Err(ApiError::new(Code::InvalidRequest, e.to_string()));
        }
    };
    let action = format!("{method} {path}");
    let Some(route) = ctx.config.routes.find(&method, &path) else {
        ctx.record_use(&action, None, Code::NotFound);
        return Err(ApiError::new(
            Code::NotFound,
            "no gateway route matches this request",
        ));
    };
    if throttle::blocked(ctx.client.ip.as_deref()) {
        return Err(throttle::refusal());
    }
    let raw = match credential(req.headers()) {
        Ok(raw) => raw,
        Err(e) => return Err(ctx.failed(&action, None, e).await),
    };
    let gateway_env = ctx.config.gateway_env.clone();
    let check = auth::check(
        ctx,
        &raw,
        (EnvRule::Exactly(&gateway_env), Root::Unknown),
        std::slice::from_ref(&route.scope),
        Some(1),
    )
    .await?;
    ctx.alert_if_due(&check);
    let Some(record) = check.record.as_ref().filter(|_| check.is_valid()) else {
        return Err(ctx.failed(&action, Some(&check), check.to_error()).await);
    };

    let headers = Headers::new();
    for (name, value) in req.headers().entries() {
        if !is_stripped(&name) {
            let _ = headers.append(&name, &value);
        }
    }
    let scopes: Vec<&str> = record.scopes.iter().map(|s| s.as_str()).collect();
    headers.set("x-keyward-key-id", record.id.as_str())?;
    headers.set("x-keyward-owner", &record.owner)?;
    headers.set("x-keyward-scopes", &scopes.join(" "))?;
    let target = if query.is_empty() {
        format!("{origin}{path}")
    } else {
        format!("{origin}{path}?{query}")
    };
    let mut init = RequestInit::new();
    // An origin's redirect goes back to the client; it is not followed with keyward's
    // headers to wherever it points.
    init.with_method(req.method())
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if !matches!(method.as_str(), "GET" | "HEAD") {
        let body = match read_body(&mut req, ctx.config.gateway_max_body).await {
            Ok(b) => b,
            Err(e) => {
                ctx.record_use(&action, Some(&check), e.code);
                return Err(e);
            }
        };
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
            let limits = check.ratelimit_headers();
            if limits.is_empty() {
                return Ok(resp);
            }
            // The origin's headers, with the key's limits as keyward counted them.
            let headers = Headers::new();
            for (name, value) in resp.headers().entries() {
                let _ = headers.append(&name, &value);
            }
            for (name, value) in limits {
                headers.set(name, &value)?;
            }
            Ok(resp.with_headers(headers))
        }
        Err(e) => {
            ctx.record_use(&action, Some(&check), Code::Unavailable);
            Err(ApiError::unavailable("the origin", e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_stripped;

    #[test]
    fn credentials_overrides_and_keyward_headers_never_reach_the_origin() {
        for name in [
            "Authorization",
            "X-API-Key",
            "X-HTTP-Method-Override",
            "x-http-method",
            "X-Method-Override",
            "X-Keyward-Owner",
            "x_keyward_owner",
            "X_KEYWARD-Key-Id",
            "x-keyward-anything",
        ] {
            assert!(is_stripped(name), "{name}");
        }
        for name in ["x-trace", "content-type", "x-keywardish", "accept"] {
            assert!(!is_stripped(name), "{name}");
        }
    }
}
