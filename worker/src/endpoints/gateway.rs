//! The edge gateway: every request that is not keyward's own is made canonical, checked
//! against the route's scope and forwarded to `ORIGIN_URL` without the credential, at
//! exactly the path that was matched, with the key's identity signed. Fails closed. The
//! rules (the canonical path, the route table, which headers the origin may receive,
//! the signed message) are the core's; this module does the I/O.

use keyward_core::gateway::{
    Assertion, KEY_ID_HEADER, OWNER_HEADER, SCOPES_HEADER, SIGNATURE_HEADER, SIGNATURE_VERSION,
    TIMESTAMP_HEADER, canonical_path, forwarded_headers, is_stripped, origin_target,
    scheme_and_host, signed_message,
};
use keyward_core::text::owner_header_value;
use keyward_core::{Code, EnvRule, KeyRecord};
use worker::{Fetch, Headers, Request, Response};

use crate::bindings::platform;
use crate::plumbing::auth::Root;
use crate::plumbing::context::Ctx;
use crate::plumbing::http::{ApiError, read_body};

/// The headers the origin receives: the client's, without those it may not choose; what
/// the gateway knows of the client; the key's identity, with the timestamp and the
/// HMAC-SHA256 signature over them, the method and `path_and_query` (as the origin
/// receives them). URLs are read as strings: parsing them in the wasm would pull in
/// `url` and `idna` (about 80 KB gzipped).
async fn origin_headers(
    ctx: &Ctx<'_>,
    req: &Request,
    record: &KeyRecord,
    method: &str,
    path_and_query: &str,
) -> Result<Headers, ApiError> {
    let headers = Headers::new();
    for (name, value) in req.headers().entries() {
        if !is_stripped(&name) {
            let _ = headers.append(&name, &value);
        }
    }
    let asked = crate::plumbing::http::raw_url(req);
    let (proto, host) = scheme_and_host(&asked).unwrap_or_default();
    for (name, value) in forwarded_headers(ctx.client.ip.as_deref(), proto, host) {
        headers.set(name, &value)?;
    }
    let scopes: Vec<&str> = record.scopes.iter().map(|s| s.as_str()).collect();
    let scopes = scopes.join(" ");
    let owner = owner_header_value(&record.owner);
    let timestamp = crate::now(ctx.config)
        .ok_or_else(|| ApiError::new(Code::Unavailable, "the clock cannot be read"))?
        .timestamp();
    let message = signed_message(&Assertion {
        method,
        path_and_query,
        timestamp,
        key_id: record.id.as_str(),
        owner: &owner,
        scopes: &scopes,
    });
    let secret = ctx
        .config
        .origin_secret
        .as_ref()
        .ok_or_else(|| ApiError::new(Code::Unavailable, "ORIGIN_SECRET is not set"))?;
    let mac = crate::plumbing::signature::hmac_sha256(&secret.0, message.as_bytes())
        .await
        .map_err(|e| ApiError::unavailable("signing for the origin", e))?;
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    headers.set(KEY_ID_HEADER, record.id.as_str())?;
    headers.set(OWNER_HEADER, &owner)?;
    headers.set(SCOPES_HEADER, &scopes)?;
    headers.set(TIMESTAMP_HEADER, &timestamp.to_string())?;
    headers.set(SIGNATURE_HEADER, &format!("{SIGNATURE_VERSION}={hex}"))?;
    Ok(headers)
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
    let raw_url = crate::plumbing::http::raw_url(&req);
    let query = crate::plumbing::http::query_of(&raw_url).to_owned();
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
    // The management API's authentication step, as a use of the gateway's environment
    // (the root key is no key here).
    let gateway_env = ctx.config.gateway_env.clone();
    let check = ctx
        .present(
            &req,
            &action,
            (EnvRule::Exactly(&gateway_env), Root::Unknown),
            std::slice::from_ref(&route.scope),
            Some(1),
        )
        .await?;
    let Some(record) = check.record.as_ref() else {
        return Err(ApiError::code(Code::Internal));
    };

    let (target, path_and_query) = origin_target(origin, &path, &query);
    let mut body = None;
    if !matches!(method.as_str(), "GET" | "HEAD") {
        let bytes = match read_body(&mut req, ctx.config.gateway_max_body).await {
            Ok(b) => b,
            Err(e) => {
                ctx.record_use(&action, Some(&check), e.code);
                return Err(e);
            }
        };
        if !bytes.is_empty() {
            body = Some(worker::js_sys::Uint8Array::from(bytes.as_slice()).into());
        }
    }
    // The key is checked again as the request is forwarded (its body, however slowly
    // sent, is read by now): a key revoked meanwhile reaches no origin.
    if let Err(code) = ctx.still_live(record).await? {
        let refusal = ApiError::code(code);
        ctx.record_use(&action, Some(&check), code);
        return Err(refusal);
    }
    // Signed when it is sent (a body may have taken minutes to arrive).
    let headers = origin_headers(ctx, &req, record, &method, &path_and_query).await?;
    // An origin's redirect goes back to the client; it is not followed with keyward's
    // headers to wherever it points.
    let upstream = platform::request(
        &target,
        req.method().as_ref(),
        Some(&headers),
        body.as_ref(),
        true,
    )?;
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
