//! Audit events and the pure misuse rules that turn a key's history into alerts.

use chrono::{DateTime, Duration, Timelike as _, Utc};
use serde::{Deserialize, Serialize};

use crate::code::Code;
use crate::random::{RandomError, RandomSource};
use crate::record::KeyRecord;

/// One use of a key (or of something that looked like one), or a management action.
///
/// Holds the key's id and hint, never the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AuditEvent {
    /// Unique id (32 hex chars): consumers store events idempotently by it.
    pub event_id: String,
    /// The key's id, when the key was found.
    #[serde(default)]
    pub key_id: Option<String>,
    /// The key's hint, when the presented string parsed.
    #[serde(default)]
    pub hint: Option<String>,
    /// The key's owner, when the key was found.
    #[serde(default)]
    pub owner: Option<String>,
    /// Who acted, for management actions: the calling key's id, or `root`.
    #[serde(default)]
    pub actor: Option<String>,
    /// `METHOD /path` for a request, or a management action such as `key.revoke`.
    pub action: String,
    /// Client IP.
    #[serde(default)]
    pub ip: Option<String>,
    /// Client country (ISO 3166 alpha-2), where the platform tells.
    #[serde(default)]
    pub country: Option<String>,
    /// Client user agent.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// When it happened.
    #[cfg_attr(feature = "schema", schemars(with = "DateTime<Utc>"))]
    #[serde(with = "crate::time::rfc3339")]
    pub time: DateTime<Utc>,
    /// The verification outcome or action result.
    pub outcome: Code,
    /// The HTTP status of the response, where known.
    #[serde(default)]
    pub status: Option<u16>,
}

/// The prefix of every lifecycle action, in `AuditEvent::action` and in storage queries.
pub const LIFECYCLE_PREFIX: &str = "key.";

/// Something done to a key (as opposed to a use of it). Its action is `key.{name}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Lifecycle {
    /// The key was created (also the successor of a rotation).
    Create,
    /// The key was revoked.
    Revoke,
    /// The key was rotated: a successor exists and this key ends with its grace period.
    Rotate,
    /// The key's limits or other settings changed.
    Update,
    /// The key's usage credits were set or added to.
    Credits,
}

impl Lifecycle {
    /// Every lifecycle action.
    pub const ALL: &'static [Lifecycle] = &[
        Lifecycle::Create,
        Lifecycle::Revoke,
        Lifecycle::Rotate,
        Lifecycle::Update,
        Lifecycle::Credits,
    ];

    /// The action as stored: `key.create`, `key.revoke`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Create => "key.create",
            Lifecycle::Revoke => "key.revoke",
            Lifecycle::Rotate => "key.rotate",
            Lifecycle::Update => "key.update",
            Lifecycle::Credits => "key.credits",
        }
    }
}

/// Whether an event is a use of a key or a lifecycle action on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A use of a key, or of something presented as one (any request action).
    Use,
    /// Something done to the key.
    Lifecycle(Lifecycle),
}

impl EventKind {
    /// The kind of an event with this `action`: a lifecycle action is exactly one of
    /// [`Lifecycle::ALL`]; anything else is a use. Storage filters by the same exact
    /// values (never a pattern, which a database may match case-insensitively), and no
    /// use can be named in the lifecycle namespace ([`is_reserved_action`]).
    pub fn of(action: &str) -> Self {
        match Lifecycle::ALL.iter().find(|l| l.as_str() == action) {
            Some(&l) => EventKind::Lifecycle(l),
            None => EventKind::Use,
        }
    }
}

/// Whether `action` is in keyward's lifecycle namespace, in any case (`key.`, `KEY.`,
/// `Key.`): a service reporting a use may not name it so.
pub fn is_reserved_action(action: &str) -> bool {
    action
        .as_bytes()
        .get(..LIFECYCLE_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(LIFECYCLE_PREFIX.as_bytes()))
}

impl AuditEvent {
    /// Whether this event is a use or a lifecycle action.
    pub fn kind(&self) -> EventKind {
        EventKind::of(&self.action)
    }

    /// Whether this event is a use of a key (what the misuse rules look at).
    pub fn is_use(&self) -> bool {
        self.kind() == EventKind::Use
    }
}

/// A new random event id: 16 bytes as 32 lowercase hex characters.
///
/// # Errors
/// [`RandomError`] if `rng` fails.
pub fn new_event_id(rng: &mut impl RandomSource) -> Result<String, RandomError> {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes)?;
    Ok(base16ct::lower::encode_string(&bytes))
}

/// What a consumer knows of a key's past use, summarised for the rules.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyHistory {
    /// Events seen for the key before this one.
    pub total_events: u64,
    /// IPs the key has been used from.
    pub known_ips: Vec<String>,
    /// Countries the key has been used from.
    pub known_countries: Vec<String>,
    /// Uses per UTC hour of day.
    pub uses_by_hour: [u64; 24],
    /// The key's usual requests per minute (e.g. the mean over recent active minutes).
    pub baseline_per_minute: f64,
    /// Requests in the minute of this event, this one included.
    pub current_minute: u64,
}

impl KeyHistory {
    /// Adds a use to the history, so that the events after it are judged with it (the
    /// minute count is the caller's: it comes from storage). Lifecycle events are not
    /// uses and change nothing.
    pub fn observe(&mut self, event: &AuditEvent) {
        if !event.is_use() {
            return;
        }
        self.total_events += 1;
        if let Some(ip) = &event.ip
            && !self.known_ips.contains(ip)
        {
            self.known_ips.push(ip.clone());
        }
        if let Some(country) = &event.country
            && !self.known_countries.contains(country)
        {
            self.known_countries.push(country.clone());
        }
        if let Some(slot) = self.uses_by_hour.get_mut(event.time.hour() as usize) {
            *slot += 1;
        }
    }
}

/// Thresholds for the misuse rules.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MisuseRules {
    /// History needed before "new IP", "new country" and "unusual hour" fire.
    pub min_history: u64,
    /// A minute this many times the baseline is a burst...
    pub burst_factor: f64,
    /// ...provided it also holds at least this many requests.
    pub burst_floor: u64,
}

impl Default for MisuseRules {
    fn default() -> Self {
        MisuseRules {
            min_history: 20,
            burst_factor: 10.0,
            burst_floor: 60,
        }
    }
}

/// The kinds of alert keyward raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AlertKind {
    /// A revoked key was presented: possibly an attacker testing a stolen key.
    RevokedKeyUsed,
    /// An expired key was presented.
    ExpiredKeyUsed,
    /// The key was used from an IP it has never used.
    NewIp,
    /// The key was used from a country it has never used.
    NewCountry,
    /// Far more requests than the key's norm.
    Burst,
    /// Use at an hour of day the key is never used.
    UnusualHour,
    /// Unused for 90 days or more.
    Stale,
    /// Holds `admin` or a wildcard scope.
    OverPrivileged,
    /// Reported or found leaked.
    Leaked,
    /// The deployment's root key was reported leaked: replace it.
    RootKeyLeaked,
    /// A key's usage credits dropped below its threshold.
    CreditsLow,
    /// A key was presented from an address outside its allowed networks (or an unknown
    /// one): possibly a stolen key used from elsewhere.
    IpNotAllowed,
}

/// How urgent an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Hygiene: worth a look.
    Info,
    /// Unusual: look soon.
    Warning,
    /// Act now.
    Critical,
}

impl Severity {
    /// Every severity.
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];

    /// The severity named `name` (its [`Severity::as_str`]), if there is one.
    pub fn parse(name: &str) -> Option<Severity> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The severity's stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// How often one kind of alert may be raised for one key: the window its id is bucketed
/// by, so that a busy key cannot flood the trail and the webhook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    /// Once per key per UTC minute.
    Minute,
    /// Once per key per UTC hour.
    Hour,
    /// Once per key per UTC day.
    Day,
}

impl AlertKind {
    /// Every kind of alert.
    pub const ALL: [AlertKind; 12] = [
        AlertKind::RevokedKeyUsed,
        AlertKind::ExpiredKeyUsed,
        AlertKind::NewIp,
        AlertKind::NewCountry,
        AlertKind::Burst,
        AlertKind::UnusualHour,
        AlertKind::Stale,
        AlertKind::OverPrivileged,
        AlertKind::Leaked,
        AlertKind::RootKeyLeaked,
        AlertKind::CreditsLow,
        AlertKind::IpNotAllowed,
    ];

    /// The kind named `name` (its [`AlertKind::as_str`]), if there is one.
    pub fn parse(name: &str) -> Option<AlertKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The alert's stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertKind::RevokedKeyUsed => "revoked_key_used",
            AlertKind::ExpiredKeyUsed => "expired_key_used",
            AlertKind::NewIp => "new_ip",
            AlertKind::NewCountry => "new_country",
            AlertKind::Burst => "burst",
            AlertKind::UnusualHour => "unusual_hour",
            AlertKind::Stale => "stale",
            AlertKind::OverPrivileged => "over_privileged",
            AlertKind::Leaked => "leaked",
            AlertKind::RootKeyLeaked => "root_key_leaked",
            AlertKind::CreditsLow => "credits_low",
            AlertKind::IpNotAllowed => "ip_not_allowed",
        }
    }

    /// How urgent it is.
    pub const fn severity(self) -> Severity {
        match self {
            AlertKind::Leaked | AlertKind::RootKeyLeaked | AlertKind::RevokedKeyUsed => {
                Severity::Critical
            }
            AlertKind::Stale | AlertKind::OverPrivileged => Severity::Info,
            _ => Severity::Warning,
        }
    }

    /// How often it may be raised for one key.
    pub const fn window(self) -> Window {
        match self {
            AlertKind::RevokedKeyUsed
            | AlertKind::ExpiredKeyUsed
            | AlertKind::Burst
            | AlertKind::IpNotAllowed => Window::Minute,
            AlertKind::NewIp | AlertKind::NewCountry | AlertKind::UnusualHour => Window::Hour,
            _ => Window::Day,
        }
    }

    /// The deterministic id of this kind of alert for `subject` (a key id) at `time`:
    /// the same finding in the same window always has the same id, so a retried batch or
    /// a flood of uses stores and posts it once.
    pub fn alert_id(self, subject: &str, time: DateTime<Utc>) -> String {
        let t = crate::time::format_rfc3339_millis(time);
        let bucket = match self.window() {
            Window::Minute => &t[..16],
            Window::Hour => &t[..13],
            Window::Day => &t[..10],
        };
        format!("{}:{subject}:{bucket}", self.as_str())
    }
}

/// The alerts that `event` fires, given the key's `history` before it.
pub fn evaluate(event: &AuditEvent, history: &KeyHistory, rules: &MisuseRules) -> Vec<AlertKind> {
    let mut alerts = Vec::new();
    match event.outcome {
        Code::Revoked => alerts.push(AlertKind::RevokedKeyUsed),
        Code::Expired => alerts.push(AlertKind::ExpiredKeyUsed),
        Code::IpNotAllowed => alerts.push(AlertKind::IpNotAllowed),
        _ => {}
    }
    if event.key_id.is_none() {
        return alerts;
    }
    let seasoned = history.total_events >= rules.min_history;
    if seasoned {
        if let Some(ip) = &event.ip
            && !history.known_ips.contains(ip)
        {
            alerts.push(AlertKind::NewIp);
        }
        if let Some(country) = &event.country
            && !history.known_countries.contains(country)
        {
            alerts.push(AlertKind::NewCountry);
        }
        let hour = event.time.hour() as usize;
        if history.uses_by_hour.get(hour) == Some(&0) {
            alerts.push(AlertKind::UnusualHour);
        }
    }
    let threshold =
        (history.baseline_per_minute * rules.burst_factor).max(rules.burst_floor as f64);
    if history.current_minute as f64 >= threshold && history.current_minute >= rules.burst_floor {
        alerts.push(AlertKind::Burst);
    }
    alerts
}

/// How long unused before a key counts as stale.
pub fn stale_after() -> Duration {
    Duration::days(90)
}

/// Whether a live key has gone unused (or, never used, unchanged since creation) for `after`.
pub fn stale(record: &KeyRecord, now: DateTime<Utc>, after: Duration) -> bool {
    if record.is_revoked() || record.is_expired(now) {
        return false;
    }
    let last = record.last_used_at.unwrap_or(record.created_at);
    now - last >= after
}

/// Why a live key is over-privileged: the `admin` scope or any `resource:*` wildcard it holds.
pub fn over_privileged(record: &KeyRecord, now: DateTime<Utc>) -> Vec<String> {
    if record.is_revoked() || record.is_expired(now) {
        return Vec::new();
    }
    record
        .scopes
        .iter()
        .filter(|s| s.is_admin() || s.is_wildcard())
        .map(|s| s.as_str().to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind is in `ALL` (the match below has no wildcard: a new kind must be added
    /// to it, and so to `ALL`), and each is parsed back from its name, which is its serde
    /// name.
    #[test]
    fn every_alert_kind_and_severity_is_parsed_from_its_name() {
        for k in AlertKind::ALL {
            match k {
                AlertKind::RevokedKeyUsed
                | AlertKind::ExpiredKeyUsed
                | AlertKind::NewIp
                | AlertKind::NewCountry
                | AlertKind::Burst
                | AlertKind::UnusualHour
                | AlertKind::Stale
                | AlertKind::OverPrivileged
                | AlertKind::Leaked
                | AlertKind::RootKeyLeaked
                | AlertKind::CreditsLow
                | AlertKind::IpNotAllowed => {}
            }
            assert_eq!(AlertKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_string(&k).ok(),
                Some(format!("\"{}\"", k.as_str()))
            );
        }
        for s in Severity::ALL {
            match s {
                Severity::Info | Severity::Warning | Severity::Critical => {}
            }
            assert_eq!(Severity::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).ok(),
                Some(format!("\"{}\"", s.as_str()))
            );
        }
        assert_eq!(AlertKind::parse("Leaked"), None);
        assert_eq!(Severity::parse(""), None);
    }

    #[test]
    fn the_lifecycle_namespace_is_reserved_in_any_case() {
        for a in [
            "key.create",
            "KEY.create",
            "Key.Revoke",
            "kEy.anything",
            "key.",
        ] {
            assert!(is_reserved_action(a), "{a}");
        }
        for a in ["GET /keys", "keys.create", "key", "ke", "", "monkey.create"] {
            assert!(!is_reserved_action(a), "{a}");
        }
        assert_eq!(EventKind::of("KEY.create"), EventKind::Use);
        assert_eq!(
            EventKind::of("key.revoke"),
            EventKind::Lifecycle(Lifecycle::Revoke)
        );
    }
}
