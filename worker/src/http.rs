//! JSON responses, the error type every handler returns, and request-reading helpers.

use keyward_core::{Code, www_authenticate};
use serde::Serialize;
use serde::de::DeserializeOwned;
use worker::{Headers, Request, Response};

/// Largest request body the management API reads.
pub const MAX_BODY: usize = 64 * 1024;
/// The realm in `WWW-Authenticate` challenges.
pub const REALM: &str = "keyward";

/// A refusal or fault, written as `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    /// The stable code; its status is the HTTP status.
    pub code: Code,
    /// A sentence for humans. Never holds a secret.
    pub message: String,
    /// For `insufficient_scope`: the scope that was needed.
    pub scope: Option<String>,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            scope: None,
        }
    }

    /// An error with the code's default message.
    pub fn code(code: Code) -> Self {
        Self::new(code, code.message())
    }

    /// A system fault (storage, queue): 503, fails closed. The detail goes to the log only.
    pub fn unavailable(what: &str, detail: impl std::fmt::Display) -> Self {
        worker::console_error!("{what} failed: {detail}");
        Self::new(
            Code::Unavailable,
            format!("{what} is temporarily unavailable"),
        )
    }

    /// The response: status from the code table, JSON body, RFC 6750 challenge on 401/403.
    pub fn into_response(self) -> Response {
        let status = self.code.http_status();
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        let mut resp = json(status, &body);
        if self.code.bearer_error().is_some() || self.code == Code::MissingKey {
            let _ = resp.headers_mut().set(
                "WWW-Authenticate",
                &www_authenticate(REALM, self.code, self.scope.as_deref()),
            );
        }
        resp
    }
}

impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        ApiError::unavailable("the platform", e)
    }
}

/// The result type of every handler.
pub type ApiResult = Result<Response, ApiError>;

/// A JSON response with `status`, never cached.
pub fn json<T: Serialize>(status: u16, body: &T) -> Response {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json; charset=utf-8");
    let _ = headers.set("cache-control", "no-store");
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(text.into_bytes())
}

/// Reads a request body of at most `max` bytes (refused early on a larger
/// `content-length`, and again after reading, since the header may be absent or wrong).
///
/// # Errors
/// `payload_too_large`, or `invalid_request` when the body cannot be read.
pub async fn read_body(req: &mut Request, max: usize) -> Result<Vec<u8>, ApiError> {
    if let Ok(Some(len)) = req.headers().get("content-length")
        && len.trim().parse::<usize>().map_or(true, |n| n > max)
    {
        return Err(too_large(max));
    }
    let bytes = req
        .bytes()
        .await
        .map_err(|_| ApiError::new(Code::InvalidRequest, "the request body could not be read"))?;
    if bytes.len() > max {
        return Err(too_large(max));
    }
    Ok(bytes)
}

/// Reads and decodes a JSON body of at most [`MAX_BODY`] bytes.
///
/// # Errors
/// `payload_too_large`, `unsupported_media_type` or `invalid_request` (with where the
/// JSON went wrong, never the offending value).
pub async fn read_json<T: DeserializeOwned>(req: &mut Request) -> Result<T, ApiError> {
    if let Ok(Some(ct)) = req.headers().get("content-type")
        && !ct.to_ascii_lowercase().starts_with("application/json")
    {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            "the request body must be JSON (content-type: application/json)",
        ));
    }
    let bytes = read_body(req, MAX_BODY).await?;
    if bytes.is_empty() {
        return Err(ApiError::new(
            Code::InvalidRequest,
            "a JSON request body is required",
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "has the wrong shape or types for this endpoint",
            _ => "is not valid JSON",
        };
        ApiError::new(
            Code::InvalidRequest,
            format!(
                "the request body {what} (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })
}

/// `limit` from a query string: `default` when absent, else 1 to `max`.
///
/// # Errors
/// `invalid_request` naming the range.
pub fn limit(value: Option<&str>, default: u32, max: u32) -> Result<u32, ApiError> {
    match value {
        None => Ok(default),
        Some(l) => match l.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::new(
                Code::InvalidRequest,
                format!("'limit' must be 1 to {max}"),
            )),
        },
    }
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        Code::PayloadTooLarge,
        format!("the request body is larger than {max} bytes"),
    )
}

/// The single credential of a request: `Authorization: Bearer` (any case) or `X-API-Key`.
///
/// # Errors
/// `missing_key` with neither, `invalid_request` with both, another scheme, or an empty value.
pub fn credential(headers: &Headers) -> Result<String, ApiError> {
    let auth = headers.get("authorization").ok().flatten();
    let api_key = headers.get("x-api-key").ok().flatten();
    match (auth, api_key) {
        (Some(_), Some(_)) => Err(ApiError::new(
            Code::InvalidRequest,
            "present exactly one credential: Authorization: Bearer or X-API-Key, not both",
        )),
        (None, None) => Err(ApiError::code(Code::MissingKey)),
        (None, Some(k)) => non_empty(k.trim().to_owned()),
        (Some(a), None) => {
            let a = a.trim();
            match a.split_once(' ') {
                Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => {
                    non_empty(rest.trim().to_owned())
                }
                _ => Err(ApiError::new(
                    Code::InvalidRequest,
                    "the Authorization header must use the Bearer scheme",
                )),
            }
        }
    }
}

fn non_empty(s: String) -> Result<String, ApiError> {
    if s.is_empty() {
        Err(ApiError::code(Code::MissingKey))
    } else {
        Ok(s)
    }
}
