//! A small client for the Worker's management API.

use std::fmt;
use std::time::Duration;

use serde_json::Value;
use zeroize::Zeroizing;

/// The Worker to talk to: `KEYWARD_URL` and `KEYWARD_TOKEN`.
pub struct Client {
    base: String,
    token: Zeroizing<String>,
    agent: ureq::Agent,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Why a call failed.
#[derive(Debug)]
pub enum ApiError {
    /// The API refused the request (4xx): a stable code and a sentence.
    Refused {
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: String,
        /// Human message.
        message: String,
    },
    /// The server failed (5xx) or answered something that is not the contract.
    Server {
        /// HTTP status.
        status: u16,
        /// Stable error code, or a description.
        code: String,
        /// Human message.
        message: String,
    },
    /// The server could not be reached.
    Network(String),
}

impl ApiError {
    /// The CLI exit code: 1 refused by the API, 3 server or network fault.
    pub fn exit_code(&self) -> u8 {
        match self {
            ApiError::Refused { .. } => 1,
            ApiError::Server { .. } | ApiError::Network(_) => 3,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Refused {
                status,
                code,
                message,
            }
            | ApiError::Server {
                status,
                code,
                message,
            } => write!(f, "{code} ({status}): {message}"),
            ApiError::Network(e) => write!(f, "cannot reach the Worker: {e}"),
        }
    }
}

impl Client {
    /// Reads `KEYWARD_URL` and `KEYWARD_TOKEN`.
    ///
    /// # Errors
    /// A sentence naming what is missing or wrong.
    pub fn from_env() -> Result<Self, String> {
        let url = std::env::var("KEYWARD_URL")
            .ok()
            .filter(|s| !s.trim().is_empty());
        let token = std::env::var("KEYWARD_TOKEN")
            .ok()
            .filter(|s| !s.trim().is_empty());
        let missing: Vec<&str> = [
            ("KEYWARD_URL", url.is_none()),
            ("KEYWARD_TOKEN", token.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, gone)| gone.then_some(name))
        .collect();
        let (Some(url), Some(token)) = (url, token) else {
            return Err(format!(
                "{} not set: KEYWARD_URL is the Worker's address (e.g. http://127.0.0.1:8787), KEYWARD_TOKEN a keyward key with the keys:* scopes",
                missing.join(" and ")
            ));
        };
        let url = url.trim().trim_end_matches('/').to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err("KEYWARD_URL must start with http:// or https://".to_owned());
        }
        Ok(Self::new(url, token.trim().to_owned()))
    }

    /// A client for `base` (no trailing slash) with a bearer `token`.
    pub fn new(base: String, token: String) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .user_agent(concat!("keyward-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client {
            base,
            token: Zeroizing::new(token),
            agent,
        }
    }

    /// `GET {base}{path}`.
    ///
    /// # Errors
    /// See [`ApiError`].
    pub fn get(&self, path: &str) -> Result<Value, ApiError> {
        let resp = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", &*self.token))
            .header("Accept", "application/json")
            .call();
        finish(resp)
    }

    /// `POST {base}{path}` with a JSON body.
    ///
    /// # Errors
    /// See [`ApiError`].
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        let body = Zeroizing::new(body.to_string());
        let resp = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", &*self.token))
            .header("Accept", "application/json")
            .content_type("application/json")
            .send(body.as_bytes());
        finish(resp)
    }
}

fn finish(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Value, ApiError> {
    let mut resp = resp.map_err(|e| ApiError::Network(e.to_string()))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| ApiError::Network(e.to_string()))?;
    let body: Option<Value> = serde_json::from_str(&text).ok();
    if (200..300).contains(&status) {
        return body.ok_or_else(|| ApiError::Server {
            status,
            code: "invalid_response".to_owned(),
            message: "the Worker's answer is not JSON".to_owned(),
        });
    }
    let err = body.as_ref().and_then(|b| b.get("error"));
    let code = err
        .and_then(|e| e.get("code"))
        .and_then(Value::as_str)
        .unwrap_or("http_error")
        .to_owned();
    let message = err
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map_or_else(|| format!("HTTP {status}"), str::to_owned);
    if (400..500).contains(&status) {
        Err(ApiError::Refused {
            status,
            code,
            message,
        })
    } else {
        Err(ApiError::Server {
            status,
            code,
            message,
        })
    }
}

/// Percent-encodes a query or path component.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
