//! A small client for the Worker's management API.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use keyward_api::ErrorBody;
use serde::Serialize;
use serde::de::DeserializeOwned;
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
        let url = check_url(&url)?;
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

    /// `GET {base}{path}`, read as `T`.
    ///
    /// # Errors
    /// See [`ApiError`].
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let resp = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", &*self.token))
            .header("Accept", "application/json")
            .call();
        finish(resp)
    }

    /// `GET {base}{path}`, a 2xx answer's body copied to `out` as it arrives (the audit
    /// export); the bytes copied.
    ///
    /// # Errors
    /// See [`ApiError`]; a write to `out` that fails is a `Network` error naming it.
    pub fn stream_to(&self, path: &str, out: &mut impl std::io::Write) -> Result<u64, ApiError> {
        let resp = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", &*self.token))
            .header("Accept", "application/x-ndjson")
            .call();
        let mut resp = resp.map_err(|e| ApiError::Network(e.to_string()))?;
        if !resp.status().is_success() {
            return finish::<serde_json::Value>(Ok(resp)).map(|_| 0);
        }
        std::io::copy(&mut resp.body_mut().as_reader(), out)
            .map_err(|e| ApiError::Network(format!("the export could not be copied: {e}")))
    }

    /// `POST {base}{path}` with a JSON body, the answer read as `T`.
    ///
    /// # Errors
    /// See [`ApiError`].
    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        self.send("POST", path, body)
    }

    /// `{method} {base}{path}` with a JSON body (`POST`, `PUT` or `PATCH`), the answer
    /// read as `T`.
    ///
    /// # Errors
    /// See [`ApiError`].
    pub fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        // The body may hold raw keys (leak reports): it is wiped after sending.
        let body = Zeroizing::new(serde_json::to_string(body).map_err(|e| {
            ApiError::Network(format!("the request body could not be written: {e}"))
        })?);
        let url = format!("{}{path}", self.base);
        let request = match method {
            "PUT" => self.agent.put(url),
            "PATCH" => self.agent.patch(url),
            _ => self.agent.post(url),
        };
        let resp = request
            .header("Authorization", format!("Bearer {}", &*self.token))
            .header("Accept", "application/json")
            .content_type("application/json")
            .send(body.as_bytes());
        finish(resp)
    }
}

/// Checks `KEYWARD_URL` and returns it without surrounding space or trailing `/`.
///
/// `https://` may point anywhere. Plain `http://` is accepted only for a loopback host
/// (`localhost`, `127.x.y.z` or `[::1]`), because every request carries the bearer token
/// and `keyward scan --revoke` sends raw keys: over http they would cross the network in
/// clear text. The host is taken from the authority as an HTTP client does: up to the
/// first `/`, `?` or `#`, after the last `@` (user information), without the `:port`.
///
/// # Errors
/// A sentence naming `KEYWARD_URL` and what is wrong with it. It names the host, never
/// the whole URL, which may hold a password.
pub fn check_url(url: &str) -> Result<String, String> {
    let url = url.trim().trim_end_matches('/');
    // Whitespace, control characters and `\` are not URL characters, and some parsers
    // drop or reinterpret them (`\` as `/`): refuse them rather than guess.
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return Err(
            "KEYWARD_URL holds whitespace, a control character or '\\': it is not a valid URL"
                .to_owned(),
        );
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(
            "KEYWARD_URL must start with https:// (or http:// to a loopback address)".to_owned(),
        );
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(
            "KEYWARD_URL must start with https:// (or http:// to a loopback address)".to_owned(),
        );
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // User information ends at the last '@' of the authority.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = url_host(host_port)
        .ok_or_else(|| "KEYWARD_URL has no valid host or port (expected e.g. https://keys.example.com or http://127.0.0.1:8787)".to_owned())?;
    if scheme == "http" && !is_loopback(&host) {
        return Err(format!(
            "KEYWARD_URL is plain http to {host}, which is not a loopback address: http would \
             send KEYWARD_TOKEN (and, with `scan --revoke`, the raw keys found) in clear text. \
             Use https://, or http:// to a loopback address (localhost, 127.x.y.z, [::1])"
        ));
    }
    Ok(format!("{scheme}://{rest}"))
}

/// The host of `host[:port]` or `[v6][:port]`, lowercased (an IPv6 host keeps its
/// brackets); `None` if either part is malformed.
fn url_host(host_port: &str) -> Option<String> {
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let (inside, after) = v6.split_once(']')?;
        inside.parse::<Ipv6Addr>().ok()?;
        let port = if after.is_empty() {
            None
        } else {
            Some(after.strip_prefix(':')?)
        };
        (format!("[{inside}]"), port)
    } else {
        let (host, port) = match host_port.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        };
        if host.is_empty() || host.contains(['[', ']']) {
            return None;
        }
        (host.to_owned(), port)
    };
    let port_ok =
        port.is_none_or(|p| p.parse::<u16>().is_ok() && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok.then(|| host.to_ascii_lowercase())
}

/// `localhost`, a dotted-quad IPv4 address in 127.0.0.0/8, or `[::1]`. Nothing else: not
/// `localhost.` nor `*.localhost` (they can go to a resolver), not IPv4-mapped IPv6.
fn is_loopback(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6
            .parse::<Ipv6Addr>()
            .is_ok_and(|a| a == Ipv6Addr::LOCALHOST);
    }
    // Ipv4Addr parses exactly four decimal parts (no octal, hex or short forms).
    host.parse::<Ipv4Addr>().is_ok_and(|a| a.is_loopback())
}

fn finish<T: DeserializeOwned>(
    resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<T, ApiError> {
    let mut resp = resp.map_err(|e| ApiError::Network(e.to_string()))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| ApiError::Network(e.to_string()))?;
    if (200..300).contains(&status) {
        return serde_json::from_str(&text).map_err(|e| ApiError::Server {
            status,
            code: "invalid_response".to_owned(),
            message: format!("the Worker's answer is not what the API promises: {e}"),
        });
    }
    let (code, message) = match serde_json::from_str::<ErrorBody>(&text) {
        Ok(b) => (b.error.code.as_str().to_owned(), b.error.message),
        Err(_) => ("http_error".to_owned(), format!("HTTP {status}")),
    };
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn https_anywhere_and_http_to_loopback_are_accepted() {
        for (url, base) in [
            ("https://keys.example.com", "https://keys.example.com"),
            ("https://keys.example.com/", "https://keys.example.com"),
            (
                "  https://keys.example.com:8443/api/ ",
                "https://keys.example.com:8443/api",
            ),
            (
                "https://user:pw@keys.example.com",
                "https://user:pw@keys.example.com",
            ),
            ("HTTPS://Keys.Example.com", "https://Keys.Example.com"),
            ("http://127.0.0.1:8787", "http://127.0.0.1:8787"),
            ("http://127.0.0.1", "http://127.0.0.1"),
            ("http://127.1.2.3:9/", "http://127.1.2.3:9"),
            ("http://localhost:8787/", "http://localhost:8787"),
            ("http://LOCALHOST:8787", "http://LOCALHOST:8787"),
            ("http://[::1]:8787", "http://[::1]:8787"),
            ("http://[::1]", "http://[::1]"),
            ("http://user@127.0.0.1:8787", "http://user@127.0.0.1:8787"),
        ] {
            assert_eq!(check_url(url).as_deref(), Ok(base), "{url}");
        }
    }

    #[test]
    fn http_to_anything_but_loopback_is_refused() {
        for url in [
            "http://example.com",
            "http://keys.example.com:8787/",
            "http://127.0.0.1.evil.com",
            "http://127.0.0.1.evil.com:8787",
            "http://localhost.evil.com",
            "http://evil.com#@127.0.0.1",
            "http://evil.com?@127.0.0.1",
            "http://127.0.0.1@evil.com",
            "http://127.0.0.1:8787@evil.com",
            "http://user@evil.com/127.0.0.1",
            "http://localhost@evil.com/",
            "http://10.0.0.1:8787",
            "http://0.0.0.0:8787",
            "http://[::ffff:127.0.0.1]:8787",
            "http://[2001:db8::1]:8787",
            "http://localhost.:8787",
            "http://0x7f.0.0.1",
            "http://2130706433",
            "http://127.1",
        ] {
            let err = check_url(url).unwrap_err();
            assert!(err.contains("KEYWARD_URL"), "{url}: {err}");
            assert!(err.contains("clear text"), "{url}: {err}");
            assert!(err.contains("https://"), "{url}: {err}");
        }
        // The message names the host, never the URL (it may hold a password).
        let err = check_url("http://me:hunter2@evil.com").unwrap_err();
        assert!(
            err.contains("evil.com") && !err.contains("hunter2"),
            "{err}"
        );
    }

    #[test]
    fn malformed_urls_are_refused() {
        for url in [
            "",
            "keys.example.com",
            "ftp://127.0.0.1",
            "http:/127.0.0.1",
            "http://",
            "https://",
            "http://:8787",
            "http://127.0.0.1:",
            "http://127.0.0.1:87a",
            "http://127.0.0.1:99999",
            "http://[::1",
            "http://[::1]x",
            "http://[nonsense]:8787",
            "http://::1:8787",
            "http://evil.com\\@127.0.0.1",
            "http://evil.com\t@127.0.0.1",
            "http://evil.com\n@127.0.0.1",
        ] {
            let err = check_url(url).unwrap_err();
            assert!(err.contains("KEYWARD_URL"), "{url:?}: {err}");
        }
    }
}
