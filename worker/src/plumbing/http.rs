//! HTTP plumbing: the error every handler returns, JSON answers, bounded body reading,
//! query strings and the request's credential (whose rules are the core's).

use keyward_api::{ErrorBody, ErrorDetail, FieldError};
use keyward_core::chrono::{DateTime, Utc};
use keyward_core::text::hex_value;
use keyward_core::{Code, CredentialError, www_authenticate};
use serde::Serialize;
use serde::de::DeserializeOwned;
use worker::js_sys::{Reflect, Uint8Array};
use worker::wasm_bindgen::JsCast as _;
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::ReadableStreamDefaultReader;
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
    /// For `insufficient_scope` and `scope_not_held`: the scope that was needed.
    pub scope: Option<String>,
    /// Headers the refusal carries besides its challenge (rate limits, `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            scope: None,
            headers: Vec::new(),
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

    /// The response: status from the code table, JSON body, and the challenge where the
    /// code table says a refusal carries one.
    pub fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut resp = json(self.code.http_status(), &body);
        if self.code.challenge() {
            let _ = resp.headers_mut().set(
                "WWW-Authenticate",
                &www_authenticate(REALM, self.code, self.scope.as_deref()),
            );
        }
        for (name, value) in &self.headers {
            let _ = resp.headers_mut().set(name, value);
        }
        resp
    }
}

impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        ApiError::unavailable("the platform", e)
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::new(e.code, e.message)
    }
}

impl From<keyward_core::Refusal> for ApiError {
    fn from(e: keyward_core::Refusal) -> Self {
        ApiError {
            code: e.code,
            message: e.message,
            scope: e.scope.map(|s| s.to_string()),
            headers: Vec::new(),
        }
    }
}

impl From<CredentialError> for ApiError {
    fn from(e: CredentialError) -> Self {
        ApiError::new(e.code(), e.message())
    }
}

/// The result type of every handler.
pub type ApiResult = Result<Response, ApiError>;

/// A JSON response with `status`, never cached, never sniffed as anything but JSON.
pub fn json<T: Serialize>(status: u16, body: &T) -> Response {
    json_bytes(
        status,
        serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec()),
    )
}

/// [`json`]'s response around the written body: one copy of it for every body type.
#[inline(never)]
fn json_bytes(status: u16, text: Vec<u8>) -> Response {
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json; charset=utf-8");
    let _ = headers.set("cache-control", "no-store");
    let _ = headers.set("x-content-type-options", "nosniff");
    Response::builder()
        .with_status(status)
        .with_headers(headers)
        .fixed(text)
}

/// Reads a request body of at most `max` bytes with a running count: refused with
/// `payload_too_large` the moment it passes `max` (a larger `content-length` is refused
/// before reading), chunked bodies included.
///
/// # Errors
/// `payload_too_large`, or `invalid_request` when the body cannot be read.
pub async fn read_body(req: &mut Request, max: usize) -> Result<Vec<u8>, ApiError> {
    if let Ok(Some(len)) = req.headers().get("content-length")
        && len.trim().parse::<usize>().map_or(true, |n| n > max)
    {
        return Err(too_large(max));
    }
    let unreadable = || ApiError::new(Code::InvalidRequest, "the request body could not be read");
    let mut body = Vec::new();
    let Some(stream) = req.inner().body() else {
        return Ok(body);
    };
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    loop {
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(|_| unreadable())?;
        let done = Reflect::get(&chunk, &"done".into()).is_ok_and(|d| d.is_truthy());
        if done {
            return Ok(body);
        }
        let value: Uint8Array = Reflect::get(&chunk, &"value".into())
            .ok()
            .and_then(|v| v.dyn_into().ok())
            .ok_or_else(unreadable)?;
        if body.len() + value.length() as usize > max {
            // Refused the moment the count passes the limit: nothing more is kept. The rest
            // is read and dropped before the answer (up to Cloudflare's own 100 MB request
            // limit), so the connection stays in order; cancelling a half-read upload
            // leaves `wrangler dev`'s local proxy stuck.
            drain(&reader).await;
            return Err(too_large(max));
        }
        let at = body.len();
        body.resize(at + value.length() as usize, 0);
        value.copy_to(&mut body[at..]);
    }
}

/// Reads and drops the rest of a body, at most [`DRAIN_LIMIT`] bytes, then cancels it.
async fn drain(reader: &ReadableStreamDefaultReader) {
    let mut seen = 0usize;
    while let Ok(chunk) = JsFuture::from(reader.read()).await {
        if Reflect::get(&chunk, &"done".into()).is_ok_and(|d| d.is_truthy()) {
            return;
        }
        seen += Reflect::get(&chunk, &"value".into())
            .ok()
            .and_then(|v| v.dyn_into::<Uint8Array>().ok())
            .map_or(0, |v| v.length() as usize);
        if seen > DRAIN_LIMIT {
            let _ = JsFuture::from(reader.cancel()).await;
            return;
        }
    }
}

/// Most bytes of a refused body read and dropped: Cloudflare's request body limit on the
/// Free and Pro plans.
const DRAIN_LIMIT: usize = 100 * 1024 * 1024;

fn check_json_type(req: &Request) -> Result<(), ApiError> {
    if let Ok(Some(ct)) = req.headers().get("content-type")
        && !ct.to_ascii_lowercase().starts_with("application/json")
    {
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            "the request body must be JSON (content-type: application/json)",
        ));
    }
    Ok(())
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    keyward_api::strict::from_slice(bytes).map_err(undecodable)
}

/// [`decode`]'s refusal: one copy of it for every body type.
#[inline(never)]
fn undecodable(e: serde_json::Error) -> ApiError {
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
}

/// A JSON request's body of at most [`MAX_BODY`] bytes, the part of [`read_json`] and
/// [`read_optional_json`] that is the same for every body type (one copy of it, not one
/// per type). An empty body is refused when `required`; otherwise a body that is empty or
/// JSON's own white space only is returned empty.
async fn json_body(req: &mut Request, required: bool) -> Result<Vec<u8>, ApiError> {
    check_json_type(req)?;
    let mut bytes = read_body(req, MAX_BODY).await?;
    if required && bytes.is_empty() {
        return Err(ApiError::new(
            Code::InvalidRequest,
            "a JSON request body is required",
        ));
    }
    // No body, or JSON's own white space only (not form feeds and the like: those are
    // not JSON, so they are refused like any other text).
    if !required
        && bytes
            .iter()
            .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        bytes.clear();
    }
    Ok(bytes)
}

/// Reads and decodes a JSON body of at most [`MAX_BODY`] bytes.
///
/// # Errors
/// `payload_too_large`, `unsupported_media_type` or `invalid_request` (with where the
/// JSON went wrong, never the offending value).
pub async fn read_json<T: DeserializeOwned>(req: &mut Request) -> Result<T, ApiError> {
    decode(&json_body(req, true).await?)
}

/// [`read_json`] for an endpoint whose body is optional: no body is `T::default()`.
///
/// # Errors
/// As [`read_json`].
pub async fn read_optional_json<T: DeserializeOwned + Default>(
    req: &mut Request,
) -> Result<T, ApiError> {
    let bytes = json_body(req, false).await?;
    if bytes.is_empty() {
        return Ok(T::default());
    }
    decode(&bytes)
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        Code::PayloadTooLarge,
        format!("the request body is larger than {max} bytes"),
    )
}

/// The request's one credential, by the core's rules.
///
/// # Errors
/// `missing_key` or `invalid_request`.
pub fn credential(headers: &Headers) -> Result<String, ApiError> {
    let auth = headers.get("authorization").ok().flatten();
    let api_key = headers.get("x-api-key").ok().flatten();
    Ok(keyward_core::credential(auth.as_deref(), api_key.as_deref())?.to_owned())
}

/// The request's URL as the runtime received it (not re-parsed).
pub fn raw_url(req: &Request) -> String {
    req.inner().url()
}

/// The query string of `url` (after `?`, before `#`), or `""`.
pub fn query_of(url: &str) -> &str {
    let url = url.split_once('#').map_or(url, |(u, _)| u);
    url.split_once('?').map_or("", |(_, q)| q)
}

/// `application/x-www-form-urlencoded` pairs of a query string, decoded (`+` is a
/// space; a `%` not followed by two hex digits is kept as it is, as browsers do).
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex_value(b[i + 1]), hex_value(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A query string's parameters by name. Each name may appear once.
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// The query of `req`, checked against the names the endpoint takes.
    ///
    /// # Errors
    /// `invalid_request` for an unknown or repeated parameter.
    pub fn of(req: &Request, allowed: &[&str]) -> Result<Self, ApiError> {
        let pairs = query_pairs(query_of(&raw_url(req)));
        for (i, (name, _)) in pairs.iter().enumerate() {
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::new(
                    Code::InvalidRequest,
                    format!(
                        "unknown query parameter; this endpoint takes {}",
                        allowed.join(", ")
                    ),
                ));
            }
            if pairs[i].1.is_empty() {
                return Err(ApiError::new(
                    Code::InvalidRequest,
                    format!("the query parameter '{name}' has no value"),
                ));
            }
            if pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(ApiError::new(
                    Code::InvalidRequest,
                    format!("the query parameter '{name}' is given twice"),
                ));
            }
        }
        Ok(Query(pairs))
    }

    /// The parameter's value (never empty: [`Query::of`] refuses that).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The time `name` names (`since`, `until`), when given: an RFC 3339 time.
    ///
    /// # Errors
    /// `invalid_request` naming the parameter.
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.get(name)
            .map(|s| {
                keyward_core::time::parse_rfc3339(s).map_err(|_| {
                    ApiError::new(
                        Code::InvalidRequest,
                        format!("'{name}' must be an RFC 3339 time"),
                    )
                })
            })
            .transpose()
    }

    /// The page cursor `name` holds (`cursor`, `before`), opened: when given, it must be one
    /// this API sealed, or it names no page (the store is never asked).
    ///
    /// # Errors
    /// `not_found`: a cursor keyward did not give.
    pub fn cursor(&self, name: &str) -> Result<Option<String>, ApiError> {
        self.get(name)
            .map(|c| {
                keyward_core::cursor::open(c).ok_or_else(|| {
                    ApiError::new(
                        Code::NotFound,
                        "no such page: the cursor is not one this API gave",
                    )
                })
            })
            .transpose()
    }

    /// `limit`: `default` when absent, else 1 to `max`.
    ///
    /// # Errors
    /// `invalid_request` naming the range.
    pub fn limit(&self, default: u32, max: u32) -> Result<u32, ApiError> {
        match self.get("limit") {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_time_is_rfc3339_or_refused_naming_its_parameter() {
        let q = Query(vec![
            ("since".to_owned(), "2030-01-02T03:04:05Z".to_owned()),
            ("until".to_owned(), "yesterday".to_owned()),
        ]);
        let since = q.time("since").ok().flatten().map(|t| t.to_rfc3339());
        assert_eq!(since.as_deref(), Some("2030-01-02T03:04:05+00:00"));
        let until = q.time("until").err().map(|e| (e.code, e.message));
        assert_eq!(
            until,
            Some((
                Code::InvalidRequest,
                "'until' must be an RFC 3339 time".to_owned()
            ))
        );
        assert!(matches!(q.time("before"), Ok(None)));
    }

    #[test]
    fn query_strings_decode_like_forms() {
        assert_eq!(query_of("https://h/p?a=1&b=2#x?y"), "a=1&b=2");
        assert_eq!(query_of("https://h/p#x?y"), "");
        assert_eq!(
            query_pairs("owner=team+a&env=live&cursor=a%2Fb%3D&x=%zz&&empty="),
            vec![
                ("owner".to_owned(), "team a".to_owned()),
                ("env".to_owned(), "live".to_owned()),
                ("cursor".to_owned(), "a/b=".to_owned()),
                ("x".to_owned(), "%zz".to_owned()),
                ("empty".to_owned(), String::new()),
            ]
        );
        assert_eq!(query_pairs("a=%"), vec![("a".to_owned(), "%".to_owned())]);
        assert_eq!(query_pairs("a=%4"), vec![("a".to_owned(), "%4".to_owned())]);
        assert_eq!(query_pairs("a=%41"), vec![("a".to_owned(), "A".to_owned())]);
    }
}
