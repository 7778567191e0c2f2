//! Webhooks: which endpoint receives which event, who may manage an endpoint, where one
//! may point, how a delivery is signed (the Standard Webhooks specification,
//! standardwebhooks.com) and when a failed delivery is tried again.
//!
//! The signature of one delivery:
//!
//! ```text
//! webhook-id:        msg_<32 hex>            (the same on every attempt)
//! webhook-timestamp: <unix seconds of the attempt>
//! webhook-signature: v1,<base64 HMAC-SHA256(secret, id "." timestamp "." body)> [ v1,... ]
//! secret:            whsec_<base64 of 32 random bytes>
//! ```

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::code::Code;
use crate::policy::{Actor, Refusal};
use crate::random::{RandomError, RandomSource};

/// What every endpoint secret starts with.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a new endpoint secret.
pub const SECRET_BYTES: usize = 32;
/// How long one delivery attempt may take before it counts as failed, in seconds.
pub const TIMEOUT_SECONDS: u32 = 10;
/// The wait before each retry, in seconds: the specification's schedule (5 s, 5 min,
/// 30 min, 2 h, 5 h, 10 h, 10 h), 27 h 35 min 5 s in all.
pub const RETRY_SCHEDULE: [u32; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];
/// How long before its expiry a key's `key.expiring` event is sent, in days.
pub const EXPIRING_NOTICE_DAYS: i64 = 7;

/// Whether `key.expiring` is due for `record` at `now`: it expires within
/// [`EXPIRING_NOTICE_DAYS`] and has not yet, and it is neither revoked nor rotated (a
/// rotated key's end is its grace period, announced by `key.rotated`).
pub fn expiring(record: &crate::KeyRecord, now: chrono::DateTime<chrono::Utc>) -> bool {
    let horizon = now
        .checked_add_signed(chrono::Duration::days(EXPIRING_NOTICE_DAYS))
        .unwrap_or(now);
    !record.is_revoked()
        && record.rotated_to.is_none()
        && record.expires_at.is_some_and(|t| now < t && t <= horizon)
}

/// Attempts one delivery gets: the first, then one per entry of [`RETRY_SCHEDULE`].
pub const MAX_ATTEMPTS: u32 = RETRY_SCHEDULE.len() as u32 + 1;

/// The events a webhook endpoint may subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// A key was created (also a rotation's successor).
    KeyCreated,
    /// A key's limits or credits were changed.
    KeyUpdated,
    /// A key was rotated (the event is the old key's).
    KeyRotated,
    /// A key was revoked (its reason included, `leaked` among them).
    KeyRevoked,
    /// A key expires within [`EXPIRING_NOTICE_DAYS`] (announced once, by the daily cron).
    KeyExpiring,
    /// A key's credits fell below its threshold.
    CreditsLow,
    /// A misuse alert was raised.
    AlertRaised,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 7] = [
        EventType::KeyCreated,
        EventType::KeyUpdated,
        EventType::KeyRotated,
        EventType::KeyRevoked,
        EventType::KeyExpiring,
        EventType::CreditsLow,
        EventType::AlertRaised,
    ];

    /// The name on the wire, e.g. `key.created`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::KeyCreated => "key.created",
            EventType::KeyUpdated => "key.updated",
            EventType::KeyRotated => "key.rotated",
            EventType::KeyRevoked => "key.revoked",
            EventType::KeyExpiring => "key.expiring",
            EventType::CreditsLow => "credits.low",
            EventType::AlertRaised => "alert.raised",
        }
    }

    /// The event type named `name`, if there is one.
    pub fn parse(name: &str) -> Option<EventType> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The event a lifecycle action on a key announces.
    pub fn of_lifecycle(action: crate::Lifecycle) -> EventType {
        match action {
            crate::Lifecycle::Create => EventType::KeyCreated,
            crate::Lifecycle::Revoke => EventType::KeyRevoked,
            crate::Lifecycle::Rotate => EventType::KeyRotated,
            crate::Lifecycle::Update | crate::Lifecycle::Credits => EventType::KeyUpdated,
        }
    }

    /// The event an alert of `kind` announces: `credits.low` for low credits, every other
    /// (misuse) alert `alert.raised`.
    pub fn of_alert(kind: crate::AlertKind) -> EventType {
        if kind == crate::AlertKind::CreditsLow {
            EventType::CreditsLow
        } else {
            EventType::AlertRaised
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an endpoint's events come from: every owner (`owner: None`) or one owner, in
/// every environment (`env: None`) or one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds<'a> {
    /// Only this owner's events.
    pub owner: Option<&'a str>,
    /// Only events of keys of this environment.
    pub env: Option<&'a str>,
}

impl Bounds<'_> {
    /// Whether an endpoint with these bounds subscribed to `events` receives an event of
    /// `kind` about `owner`'s key in `env`. An event about no owner (a deployment-wide
    /// alert) reaches only endpoints bound to no owner; one about no environment only
    /// endpoints bound to none.
    pub fn receives(
        &self,
        events: &[EventType],
        kind: EventType,
        owner: Option<&str>,
        env: Option<&str>,
    ) -> bool {
        let fits = |bound: Option<&str>, value: Option<&str>| bound.is_none() || bound == value;
        events.contains(&kind) && fits(self.owner, owner) && fits(self.env, env)
    }
}

fn forbidden(message: &str) -> Refusal {
    Refusal {
        code: Code::Forbidden,
        message: message.to_owned(),
        scope: None,
    }
}

impl Actor<'_> {
    /// The bounds a new endpoint gets when the actor asks for `asked`: root and `admin`
    /// get what they ask; any other key gets its own owner and environment, and may not
    /// ask for another's.
    ///
    /// # Errors
    /// `forbidden` when a bounded key asks for another owner or environment.
    pub fn webhook_bounds<'a>(&'a self, asked: Bounds<'a>) -> Result<Bounds<'a>, Refusal> {
        match self.home() {
            Some((own, own_env)) if self.is_bounded() => {
                self.may_manage_owner(asked.owner.unwrap_or(own), asked.env.unwrap_or(own_env))?;
                Ok(Bounds {
                    owner: Some(own),
                    env: Some(own_env),
                })
            }
            _ => Ok(asked),
        }
    }

    /// Whether the actor may see, list the deliveries of, or delete an endpoint with
    /// `bounds`: root and `admin` every one; any other key only one bound to its own
    /// owner and environment.
    ///
    /// # Errors
    /// `forbidden`.
    pub fn may_manage_webhook(&self, bounds: Bounds<'_>) -> Result<(), Refusal> {
        if !self.is_bounded() {
            return Ok(());
        }
        match (bounds.owner, bounds.env) {
            (Some(owner), Some(env)) => self.may_manage_owner(owner, env),
            _ => Err(forbidden(
                "a key can only manage webhook endpoints of its own owner and environment",
            )),
        }
    }
}

/// Why an endpoint URL is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// Not an absolute `https://` URL (or `http://` to a loopback address where allowed).
    NotHttps,
    /// Longer than 2048 characters, or holds credentials, spaces or control characters.
    Malformed,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::NotHttps => {
                "must be an https:// URL (http:// only to a loopback address, where the deployment allows it)"
            }
            UrlError::Malformed => {
                "must be an absolute URL of at most 2048 characters, without credentials, spaces or control characters"
            }
        })
    }
}

impl std::error::Error for UrlError {}

/// Longest endpoint URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Checks an endpoint URL: `https://` with a host; `http://` only to `127.0.0.1`,
/// `[::1]` or `localhost` and only when `allow_loopback_http`.
///
/// # Errors
/// [`UrlError`].
pub fn check_url(url: &str, allow_loopback_http: bool) -> Result<(), UrlError> {
    if url.chars().count() > MAX_URL_LEN || url.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(UrlError::Malformed);
    }
    let lower = url.to_ascii_lowercase();
    let (rest, http) = if let Some(rest) = lower.strip_prefix("https://") {
        (rest, false)
    } else if let Some(rest) = lower.strip_prefix("http://") {
        (rest, true)
    } else {
        return Err(UrlError::NotHttps);
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') || authority.contains('\\') {
        return Err(UrlError::Malformed);
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Err(UrlError::Malformed);
    }
    if http && !(allow_loopback_http && matches!(host, "127.0.0.1" | "::1" | "localhost")) {
        return Err(UrlError::NotHttps);
    }
    Ok(())
}

/// An endpoint's signing secret. Its `Debug` output hides the bytes.
#[derive(Clone)]
pub struct WebhookSecret(Zeroizing<Vec<u8>>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// A string that is not `whsec_` and base64 of 1 to 64 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidSecret;

impl fmt::Display for InvalidSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a webhook secret is 'whsec_' and the base64 of 1 to 64 bytes")
    }
}

impl std::error::Error for InvalidSecret {}

impl WebhookSecret {
    /// A new secret of [`SECRET_BYTES`] random bytes.
    ///
    /// # Errors
    /// [`RandomError`].
    pub fn generate(rng: &mut impl RandomSource) -> Result<Self, RandomError> {
        let mut bytes = Zeroizing::new(vec![0u8; SECRET_BYTES]);
        rng.fill(&mut bytes)?;
        Ok(WebhookSecret(bytes))
    }

    /// Reads `whsec_<base64>`.
    ///
    /// # Errors
    /// [`InvalidSecret`].
    pub fn parse(text: &str) -> Result<Self, InvalidSecret> {
        let b64 = text.strip_prefix(SECRET_PREFIX).ok_or(InvalidSecret)?;
        let bytes = STANDARD.decode(b64).map_err(|_| InvalidSecret)?;
        if bytes.is_empty() || bytes.len() > 64 {
            return Err(InvalidSecret);
        }
        Ok(WebhookSecret(Zeroizing::new(bytes)))
    }

    /// `whsec_<base64>`: the form shown once and stored.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&*self.0))
    }

    /// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        let content = format!("{id}.{timestamp}.{body}");
        format!(
            "v1,{}",
            STANDARD.encode(hmac_sha256(&self.0, content.as_bytes()))
        )
    }
}

/// The `webhook-signature` header: one signature per secret, space-separated (during a
/// rotation both the new and the old secret sign, and a receiver knowing either accepts).
pub fn signature_header(secrets: &[WebhookSecret], id: &str, timestamp: i64, body: &str) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = Zeroizing::new([0u8; BLOCK]);
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| -> Zeroizing<[u8; BLOCK]> {
        let mut p = Zeroizing::new([0u8; BLOCK]);
        for (o, k) in p.iter_mut().zip(block.iter()) {
            *o = k ^ byte;
        }
        p
    };
    let inner = Sha256::new()
        .chain_update(*pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(*pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn random_id(prefix: &str, rng: &mut impl RandomSource) -> Result<String, RandomError> {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes)?;
    Ok(format!(
        "{prefix}{}",
        base16ct::lower::encode_string(&bytes)
    ))
}

/// A new endpoint id: `wh_` and 32 hex digits.
///
/// # Errors
/// [`RandomError`].
pub fn new_endpoint_id(rng: &mut impl RandomSource) -> Result<String, RandomError> {
    random_id("wh_", rng)
}

/// Whether `id` has the form of an endpoint id (`wh_` and 32 lowercase hex digits).
pub fn is_endpoint_id(id: &str) -> bool {
    id.strip_prefix("wh_").is_some_and(|h| {
        h.len() == 32
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// A new message id (the `webhook-id` of one event to one endpoint, kept across its
/// attempts): `msg_` and 32 hex digits.
///
/// # Errors
/// [`RandomError`].
pub fn new_message_id(rng: &mut impl RandomSource) -> Result<String, RandomError> {
    random_id("msg_", rng)
}

/// What to do after attempt `attempt` (1 for the first) of a delivery failed: wait this
/// many seconds and try again, or (`None`) give up and mark the endpoint failing.
pub fn retry_delay(attempt: u32) -> Option<u32> {
    let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
    RETRY_SCHEDULE.get(index).copied()
}

/// Whether a receiver's answer counts as delivered: any 2xx. A redirect is not followed
/// and counts as a failure.
pub fn delivered(status: u16) -> bool {
    (200..300).contains(&status)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{KeyRecord, NewRecord, ScopeSet};

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test cases 1, 2 and 6 (a key longer than the block).
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn signs_as_the_specification_example() {
        // The example of the Standard Webhooks specification's reference libraries.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        let two = signature_header(
            &[secret.clone(), secret],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            body,
        );
        assert_eq!(two.split(' ').count(), 2);
    }

    #[test]
    fn secrets_are_whsec_base64_of_32_bytes_and_hidden_in_debug() {
        let s = WebhookSecret::generate(&mut |b: &mut [u8]| b.fill(7)).unwrap();
        let text = s.expose();
        assert!(text.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&text[6..]).unwrap(), vec![7u8; 32]);
        assert_eq!(WebhookSecret::parse(&text).unwrap().expose(), text);
        assert_eq!(format!("{s:?}"), "WebhookSecret(..)");
        for bad in ["", "whsec_", "whsec_!!", "sk_abc", "AAAA"] {
            assert_eq!(
                WebhookSecret::parse(bad).unwrap_err(),
                InvalidSecret,
                "{bad}"
            );
        }
    }

    #[test]
    fn urls_are_https_unless_loopback_http_is_allowed() {
        assert_eq!(check_url("https://example.com/hook", false), Ok(()));
        assert_eq!(check_url("HTTPS://example.com:8443", false), Ok(()));
        assert_eq!(
            check_url("http://127.0.0.1:9000/h", false),
            Err(UrlError::NotHttps)
        );
        assert_eq!(check_url("http://127.0.0.1:9000/h", true), Ok(()));
        assert_eq!(check_url("http://[::1]:9000/h", true), Ok(()));
        assert_eq!(check_url("http://localhost/h", true), Ok(()));
        for bad in [
            "http://example.com/h",
            "http://127.0.0.1.example.com/h",
            "http://10.0.0.1/h",
            "ftp://example.com",
            "example.com",
        ] {
            assert_eq!(check_url(bad, true), Err(UrlError::NotHttps), "{bad}");
        }
        for bad in [
            "https://user:pw@example.com/",
            "http://x@127.0.0.1/",
            "https:///path",
            "https://exa mple.com",
            "https://example.com/\n",
        ] {
            assert_eq!(check_url(bad, true), Err(UrlError::Malformed), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(check_url(&long, false), Err(UrlError::Malformed));
    }

    #[test]
    fn retries_follow_the_schedule_for_more_than_a_day_then_stop() {
        assert_eq!(retry_delay(0), None);
        assert_eq!(retry_delay(1), Some(5));
        assert_eq!(retry_delay(2), Some(300));
        assert_eq!(retry_delay(7), Some(36_000));
        assert_eq!(retry_delay(MAX_ATTEMPTS), None);
        let total: u32 = (1..MAX_ATTEMPTS).filter_map(retry_delay).sum();
        assert!(total > 24 * 3600, "{total}");
        assert!(delivered(200) && delivered(204) && !delivered(301) && !delivered(500));
    }

    #[test]
    fn ids_have_their_forms() {
        let id = new_endpoint_id(&mut |b: &mut [u8]| b.fill(0xab)).unwrap();
        assert_eq!(id, format!("wh_{}", "ab".repeat(16)));
        assert!(is_endpoint_id(&id));
        for bad in [
            "wh_",
            "wh_ABABABABABABABABABABABABABABABAB",
            "key_0123",
            &format!("{id}0"),
        ] {
            assert!(!is_endpoint_id(bad), "{bad}");
        }
        let msg = new_message_id(&mut crate::OsRandom).unwrap();
        assert!(msg.starts_with("msg_") && msg.len() == 36);
    }

    #[test]
    fn event_names_round_trip_and_map_actions() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("key.*"), None);
        assert_eq!(
            EventType::of_lifecycle(crate::Lifecycle::Credits),
            EventType::KeyUpdated
        );
        assert_eq!(
            EventType::of_alert(crate::AlertKind::CreditsLow),
            EventType::CreditsLow
        );
    }

    #[test]
    fn a_bounded_endpoint_receives_only_its_owners_events() {
        let all = EventType::ALL;
        let acme = Bounds {
            owner: Some("acme"),
            env: Some("live"),
        };
        let k = EventType::KeyCreated;
        assert!(acme.receives(&all, k, Some("acme"), Some("live")));
        assert!(!acme.receives(&all, k, Some("other"), Some("live")));
        assert!(!acme.receives(&all, k, Some("acme"), Some("test")));
        assert!(!acme.receives(&all, EventType::AlertRaised, None, None));
        assert!(!acme.receives(&[EventType::KeyRevoked], k, Some("acme"), Some("live")));
        let every = Bounds {
            owner: None,
            env: None,
        };
        assert!(every.receives(&all, k, Some("other"), Some("test")));
        assert!(every.receives(&all, EventType::AlertRaised, None, None));
    }

    fn key(owner: &str, scopes: &[&str]) -> KeyRecord {
        let new = crate::ApiKey::generate("sk", "live").unwrap();
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        KeyRecord::new(
            crate::KeyId::generate(&mut crate::OsRandom).unwrap(),
            &new,
            NewRecord::new("k", owner, ScopeSet::parse(&scopes).unwrap(), "live"),
            chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        )
    }

    #[test]
    fn a_key_is_expiring_in_its_last_seven_days_only() {
        let mut k = key("acme", &[]);
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let days = |d: i64| Some(now + chrono::Duration::days(d));
        assert!(!expiring(&k, now), "no expiry");
        k.expires_at = days(8);
        assert!(!expiring(&k, now));
        k.expires_at = days(7);
        assert!(expiring(&k, now));
        k.expires_at = Some(now);
        assert!(!expiring(&k, now), "already expired");
        k.expires_at = days(1);
        k.rotated_to = Some(k.id.clone());
        assert!(!expiring(&k, now), "rotated");
        k.rotated_to = None;
        k.revoke("root", "done", now);
        assert!(!expiring(&k, now), "revoked");
        assert_eq!(
            EventType::parse("key.expiring"),
            Some(EventType::KeyExpiring)
        );
    }

    #[test]
    fn a_bounded_key_manages_only_its_own_owners_endpoints() {
        let writer = key("acme", &["keys:write"]);
        let actor = Actor::Key(&writer);
        let none = Bounds {
            owner: None,
            env: None,
        };
        let own = actor.webhook_bounds(none).unwrap();
        assert_eq!((own.owner, own.env), (Some("acme"), Some("live")));
        let other = Bounds {
            owner: Some("other"),
            env: None,
        };
        assert_eq!(
            actor.webhook_bounds(other).unwrap_err().code,
            Code::Forbidden
        );
        assert!(actor.may_manage_webhook(own).is_ok());
        assert!(actor.may_manage_webhook(none).is_err());
        assert!(
            actor
                .may_manage_webhook(Bounds {
                    owner: Some("other"),
                    env: Some("live")
                })
                .is_err()
        );
        let admin = key("ops", &["admin"]);
        assert_eq!(Actor::Key(&admin).webhook_bounds(other).unwrap(), other);
        assert!(Actor::Root.may_manage_webhook(none).is_ok());
    }
}
