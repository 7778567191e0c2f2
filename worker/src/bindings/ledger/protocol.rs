//! The ledger's wire protocol: how an operation travels from the Worker to a chain's
//! object (a path, a query and, for a record or a list of limits, a JSON body) and how its
//! answer travels back (the records as JSON, a refusal as a status and a header, a use's
//! report in headers). Pure: tested on the host.

use keyward_core::limits::lease::{Lease, Unused};
use keyward_core::limits::{Interval, LimitStatus, NamedLimit, Refill};
use keyward_core::text::percent_encode;
use keyward_core::{
    Code, GiveBack, KeyHash, KeyId, KeyRecord, Reshape, Scope, Successor, UseReport,
};
use std::str::FromStr;

/// A change or question for a chain's object.
#[derive(Debug, Clone, PartialEq)]
pub enum LedgerOp {
    /// The record of a key of the chain (none if the object does not know it).
    Get {
        /// The key.
        id: KeyId,
    },
    /// A new key (its KV record is written first; it exists once this commits).
    Create {
        /// Its record.
        record: KeyRecord,
    },
    /// A record of the previous format, kept in KV only: taken as the object's state,
    /// once, if the object does not know the key yet.
    Adopt {
        /// The record as KV holds it.
        record: KeyRecord,
    },
    /// Revoke a key: write-once, the first revocation stands.
    Revoke {
        /// The key.
        id: KeyId,
        /// Who revokes it.
        by: String,
        /// Why.
        reason: String,
        /// The key acting, if a key is.
        actor: Option<KeyId>,
    },
    /// A use of a key that parsed: the decision (its hash compared again, then revoked,
    /// expired, environment, scopes) and, for a valid key, its limits and credits, all
    /// in one atomic step.
    Use {
        /// The key.
        id: KeyId,
        /// The presented key's hash.
        hash: KeyHash,
        /// The environment the key must belong to.
        env: String,
        /// Scopes the use needs.
        scopes: Vec<Scope>,
        /// Units it costs.
        cost: u32,
        /// The limits that apply when the key has none of its own (its environment's).
        defaults: Vec<NamedLimit>,
        /// Whether the answer may carry a lease (the key has no owner's limits, and the
        /// Worker spends leases); the object decides whether it does.
        lease: bool,
        /// Units of this isolate's earlier leases of the key it did not use.
        back: Vec<Unused>,
    },
    /// A use counted against shared limits (an owner's object): every limit admits it or
    /// none counts it.
    Take {
        /// The limits.
        limits: Vec<NamedLimit>,
        /// Units it costs.
        cost: u32,
    },
    /// Gives back, whole, a use a later check refused or that failed after it was
    /// counted: its units in the named windows, and, with a key, its credits and the
    /// low-credit alert's state.
    Refund {
        /// The key whose credits are refunded, if any.
        id: Option<KeyId>,
        /// What to give back.
        back: GiveBack,
    },
    /// Replaces a key's own limits and changes its restrictions and expiry.
    Update {
        /// The key.
        id: KeyId,
        /// Its limits (`None`: unchanged).
        rate_limits: Option<Vec<NamedLimit>>,
        /// The change to its restrictions and expiry.
        reshape: Reshape,
        /// Whether the change may widen the key (root or `admin`); otherwise it may only
        /// narrow it, judged against the key as the object holds it.
        widen: bool,
        /// The key acting, if a key is.
        actor: Option<KeyId>,
    },
    /// Sets or adds to a key's balance, and its settings.
    Credits {
        /// The key.
        id: KeyId,
        /// `true`: set the balance to `amount`; `false`: add `amount`.
        set: bool,
        /// The amount.
        amount: u64,
        /// A new refill, if given.
        refill: Option<Refill>,
        /// A new threshold, if given.
        alert_below: Option<u64>,
        /// The key acting, if a key is.
        actor: Option<KeyId>,
    },
    /// Rotate a key to a successor whose record the object makes.
    Rotate {
        /// The key.
        id: KeyId,
        /// The successor's id, hash and hint.
        successor: Successor,
        /// How long the old key keeps working.
        grace_seconds: i64,
        /// The key acting, if a key is.
        actor: Option<KeyId>,
    },
}

/// What an update carries in its body.
#[derive(serde::Serialize, serde::Deserialize)]
struct UpdateBody {
    rate_limits: Option<Vec<NamedLimit>>,
    #[serde(default)]
    reshape: Reshape,
}

/// The `&actor=` query parameter of an operation made on behalf of a key.
fn actor_param(actor: Option<&KeyId>) -> String {
    actor.map(|a| format!("&actor={a}")).unwrap_or_default()
}

impl LedgerOp {
    /// The request path (with its query) and body that carry this operation: a record, or
    /// a list of limits, as a JSON body; everything else in the query.
    pub fn to_parts(&self) -> (String, Option<String>) {
        let record_json = |r: &KeyRecord| serde_json::to_string(r).ok();
        match self {
            LedgerOp::Get { id } => (format!("/get?id={id}"), None),
            LedgerOp::Create { record } => ("/create".to_owned(), record_json(record)),
            LedgerOp::Adopt { record } => ("/adopt".to_owned(), record_json(record)),
            LedgerOp::Revoke {
                id,
                by,
                reason,
                actor,
            } => (
                format!(
                    "/revoke?id={id}&by={}&reason={}{}",
                    percent_encode(by),
                    percent_encode(reason),
                    actor_param(actor.as_ref())
                ),
                None,
            ),
            LedgerOp::Use {
                id,
                hash,
                env,
                scopes,
                cost,
                defaults,
                lease,
                back,
            } => (
                format!(
                    "/use?id={id}&hash={hash}&env={}&scopes={}&cost={cost}&lease={}&back={}",
                    percent_encode(env),
                    percent_encode(
                        &scopes
                            .iter()
                            .map(Scope::as_str)
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                    u8::from(*lease),
                    back.iter()
                        .map(|b| format!("{}:{}:{}", b.at_ms, b.granted, b.unused))
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                serde_json::to_string(defaults).ok(),
            ),
            LedgerOp::Take { limits, cost } => (
                format!("/take?cost={cost}"),
                serde_json::to_string(limits).ok(),
            ),
            LedgerOp::Refund { id, back } => (
                format!(
                    "/refund?names={}&at={}&cost={}&alert={}{}",
                    percent_encode(&back.names.join(" ")),
                    back.at_ms,
                    back.cost,
                    u8::from(back.alert),
                    id.as_ref()
                        .map(|id| format!("&id={id}"))
                        .unwrap_or_default()
                ),
                None,
            ),
            LedgerOp::Update {
                id,
                rate_limits,
                reshape,
                widen,
                actor,
            } => (
                format!(
                    "/update?id={id}&widen={}{}",
                    u8::from(*widen),
                    actor_param(actor.as_ref())
                ),
                serde_json::to_string(&UpdateBody {
                    rate_limits: rate_limits.clone(),
                    reshape: reshape.clone(),
                })
                .ok(),
            ),
            LedgerOp::Credits {
                id,
                set,
                amount,
                refill,
                alert_below,
                actor,
            } => {
                let mut q = format!(
                    "/credits?id={id}&{}={amount}{}",
                    if *set { "set" } else { "add" },
                    actor_param(actor.as_ref())
                );
                if let Some(r) = refill {
                    let every = match r.interval {
                        Interval::Day => "day",
                        Interval::Month => "month",
                    };
                    q.push_str(&format!("&refill={}&every={every}", r.amount));
                }
                if let Some(below) = alert_below {
                    q.push_str(&format!("&below={below}"));
                }
                (q, None)
            }
            LedgerOp::Rotate {
                id,
                successor,
                grace_seconds,
                actor,
            } => (
                format!(
                    "/rotate?id={id}&next={}&hash={}&hint={}&grace={grace_seconds}{}",
                    successor.id,
                    successor.hash,
                    percent_encode(&successor.hint),
                    actor_param(actor.as_ref())
                ),
                None,
            ),
        }
    }

    /// The operation a request to the object carries, or `None` for anything else.
    pub fn from_parts(path: &str, query: &str, body: &str) -> Option<Self> {
        let pairs = crate::plumbing::http::query_pairs(query);
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let id = || get("id")?.parse::<KeyId>().ok();
        // An actor that is present must parse: a garbled one is no operation, never none.
        let actor = || match get("actor") {
            None => Some(None),
            Some(a) => a.parse::<KeyId>().ok().map(Some),
        };
        let record = || keyward_core::json::from_str::<KeyRecord>(body).ok();
        Some(match path {
            "/get" => LedgerOp::Get { id: id()? },
            "/create" => LedgerOp::Create { record: record()? },
            "/adopt" => LedgerOp::Adopt { record: record()? },
            "/revoke" => LedgerOp::Revoke {
                id: id()?,
                by: get("by")?.to_owned(),
                reason: get("reason")?.to_owned(),
                actor: actor()?,
            },
            "/use" => LedgerOp::Use {
                id: id()?,
                hash: get("hash")?.parse().ok()?,
                env: get("env")?.to_owned(),
                scopes: get("scopes")?
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(|s| Scope::parse(s).ok())
                    .collect::<Option<Vec<_>>>()?,
                cost: get("cost")?.parse().ok()?,
                defaults: keyward_core::json::from_str(body).ok()?,
                lease: match get("lease")? {
                    "1" => true,
                    "0" => false,
                    _ => return None,
                },
                back: get("back")?
                    .split(',')
                    .filter(|b| !b.is_empty())
                    .map(|b| {
                        let (at_ms, granted, unused) = three_numbers(b, ':')?;
                        Some(Unused {
                            at_ms,
                            granted,
                            unused,
                        })
                    })
                    .collect::<Option<Vec<_>>>()?,
            },
            "/take" => LedgerOp::Take {
                limits: keyward_core::json::from_str(body).ok()?,
                cost: get("cost")?.parse().ok()?,
            },
            "/refund" => LedgerOp::Refund {
                id: match get("id") {
                    Some(id) => Some(id.parse().ok()?),
                    None => None,
                },
                back: GiveBack {
                    names: get("names")?
                        .split(' ')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    at_ms: get("at")?.parse().ok()?,
                    cost: get("cost")?.parse().ok()?,
                    alert: match get("alert")? {
                        "1" => true,
                        "0" => false,
                        _ => return None,
                    },
                },
            },
            "/update" => {
                let body: UpdateBody = keyward_core::json::from_str(body).ok()?;
                LedgerOp::Update {
                    id: id()?,
                    rate_limits: body.rate_limits,
                    reshape: body.reshape,
                    widen: match get("widen")? {
                        "1" => true,
                        "0" => false,
                        _ => return None,
                    },
                    actor: actor()?,
                }
            }
            "/credits" => {
                let (set, amount) = match (get("set"), get("add")) {
                    (Some(v), None) => (true, v.parse().ok()?),
                    (None, Some(v)) => (false, v.parse().ok()?),
                    _ => return None,
                };
                let refill = match get("refill") {
                    None => None,
                    Some(amount) => Some(Refill {
                        amount: amount.parse().ok()?,
                        interval: match get("every")? {
                            "day" => Interval::Day,
                            "month" => Interval::Month,
                            _ => return None,
                        },
                    }),
                };
                LedgerOp::Credits {
                    id: id()?,
                    set,
                    amount,
                    refill,
                    alert_below: match get("below") {
                        None => None,
                        Some(v) => Some(v.parse().ok()?),
                    },
                    actor: actor()?,
                }
            }
            "/rotate" => LedgerOp::Rotate {
                id: id()?,
                successor: Successor {
                    id: get("next")?.parse().ok()?,
                    hash: get("hash")?.parse().ok()?,
                    hint: get("hint")?.to_owned(),
                },
                grace_seconds: get("grace")?.parse().ok()?,
                actor: actor()?,
            },
            _ => return None,
        })
    }
}

/// An object's answer: the records concerned after the operation (as the response's
/// JSON body), whether a revocation was this call's (a header), or a refusal (a status).
#[derive(Debug, Default)]
pub struct LedgerAnswer {
    /// The records concerned, after the change.
    pub records: Vec<KeyRecord>,
    /// For a revocation: whether this call revoked the key (not an earlier one).
    pub changed: bool,
    /// A refusal: `conflict` with the reason, or `not_found`.
    pub refused: Option<(Code, String)>,
    /// For a use or a take: what it came to.
    pub usage: Option<UseReport>,
    /// For a use: the lease the object granted with it, if any.
    pub lease: Option<Lease>,
}

impl LedgerAnswer {
    /// The records concerned, as they are (nothing changed).
    pub fn records(records: Vec<KeyRecord>) -> Self {
        LedgerAnswer {
            records,
            ..LedgerAnswer::default()
        }
    }

    /// The records concerned after this call changed them.
    pub fn changed(records: Vec<KeyRecord>) -> Self {
        LedgerAnswer {
            records,
            changed: true,
            ..LedgerAnswer::default()
        }
    }

    /// A refusal: `code`, and why.
    pub fn refused(code: Code, why: impl Into<String>) -> Self {
        LedgerAnswer {
            refused: Some((code, why.into())),
            ..LedgerAnswer::default()
        }
    }
}

/// A use's report as response header (name, value) pairs.
pub fn report_headers(report: &UseReport) -> Vec<(&'static str, String)> {
    let mut h = vec![("x-keyward-at", report.at_ms.to_string())];
    h.push(("x-keyward-code", report.code.as_str().to_owned()));
    if let Some(m) = &report.missing {
        h.push(("x-keyward-missing", m.to_string()));
    }
    if !report.limits.is_empty() {
        let limits: Vec<String> = report
            .limits
            .iter()
            .map(|l| {
                format!(
                    "{};{};{};{};{}",
                    l.name, l.limit, l.period_seconds, l.remaining, l.reset_ms
                )
            })
            .collect();
        h.push(("x-keyward-limits", limits.join(",")));
    }
    if let Some(c) = report.credits {
        h.push(("x-keyward-credits", c.to_string()));
    }
    if report.alert_due {
        h.push(("x-keyward-alert", "credits_low".to_owned()));
    }
    if let Some(r) = report.retry_after_ms {
        h.push(("x-keyward-retry-ms", r.to_string()));
    }
    h
}

/// A use's report from the response headers, through `get(name)`; none when they do not
/// hold one whole.
pub fn report_from_headers(get: impl Fn(&str) -> Option<String>) -> Option<UseReport> {
    let limits = match get("x-keyward-limits") {
        None => Vec::new(),
        Some(v) => v
            .split(',')
            .map(|l| {
                let f: Vec<&str> = l.split(';').collect();
                let [name, limit, period, remaining, reset] = f.as_slice() else {
                    return None;
                };
                Some(LimitStatus {
                    name: (*name).to_owned(),
                    limit: limit.parse().ok()?,
                    period_seconds: period.parse().ok()?,
                    remaining: remaining.parse().ok()?,
                    reset_ms: reset.parse().ok()?,
                })
            })
            .collect::<Option<Vec<_>>>()?,
    };
    Some(UseReport {
        code: get("x-keyward-code")?.parse().ok()?,
        missing: match get("x-keyward-missing") {
            None => None,
            Some(m) => Some(Scope::parse(&m).ok()?),
        },
        limits,
        credits: match get("x-keyward-credits") {
            None => None,
            Some(c) => Some(c.parse().ok()?),
        },
        alert_due: get("x-keyward-alert").is_some(),
        retry_after_ms: match get("x-keyward-retry-ms") {
            None => None,
            Some(r) => Some(r.parse().ok()?),
        },
        at_ms: get("x-keyward-at")?.parse().ok()?,
    })
}

/// A lease as its response header's value: `at_ms;units;until_ms`.
pub fn lease_header(lease: &Lease) -> String {
    format!("{};{};{}", lease.at_ms, lease.units, lease.until_ms)
}

/// A lease from its response header's value; none when it is not whole.
pub fn lease_from_header(value: &str) -> Option<Lease> {
    let (at_ms, units, until_ms) = three_numbers(value, ';')?;
    Some(Lease {
        at_ms,
        units,
        until_ms,
    })
}

/// Exactly three numbers separated by `sep` (a lease's and a hand-back's wire form).
fn three_numbers<A: FromStr, B: FromStr, C: FromStr>(text: &str, sep: char) -> Option<(A, B, C)> {
    let mut f = text.split(sep);
    let three = (
        f.next()?.parse().ok()?,
        f.next()?.parse().ok()?,
        f.next()?.parse().ok()?,
    );
    f.next().is_none().then_some(three)
}

/// The header that carries a lease granted with a use.
pub(super) const LEASE: &str = "x-keyward-lease";
/// The header an object sets when its operation changed the key.
pub(super) const CHANGED: &str = "x-keyward-changed";
/// The header that carries the code of a refusal.
pub(super) const REFUSED: &str = "x-keyward-refused";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_operation_travels_to_the_object_and_back_unchanged() {
        let new = keyward_core::ApiKey::generate("sk", "live").unwrap();
        let now = keyward_core::chrono::DateTime::from_timestamp_millis(1_780_000_000_123).unwrap();
        let id: KeyId = "key_0123456789abcdef".parse().unwrap();
        let record = KeyRecord::new(
            id.clone(),
            &new,
            keyward_core::NewRecord::new("n", "o & p=q", keyward_core::ScopeSet::default(), "live"),
            now,
        );
        // Every operation the object applies, each sent through the protocol and back.
        for op in [
            LedgerOp::Get { id: id.clone() },
            LedgerOp::Create {
                record: record.clone(),
            },
            LedgerOp::Adopt { record },
            LedgerOp::Revoke {
                id: id.clone(),
                by: "root".into(),
                reason: "left the team & more: 100%?".into(),
                actor: None,
            },
            LedgerOp::Revoke {
                id: id.clone(),
                by: id.to_string(),
                reason: "itself".into(),
                actor: Some(id.clone()),
            },
            LedgerOp::Update {
                id: id.clone(),
                rate_limits: Some(vec!["m=5/1m".parse().unwrap()]),
                reshape: Reshape::default(),
                widen: false,
                actor: Some(id.clone()),
            },
            LedgerOp::Update {
                id: id.clone(),
                rate_limits: None,
                reshape: serde_json::from_str(
                    r#"{"allowed_ips": ["10.0.0.0/8"], "not_before": null, "expires_at": "2027-01-01T00:00:00Z"}"#,
                )
                .unwrap(),
                widen: true,
                actor: None,
            },
            LedgerOp::Credits {
                id: id.clone(),
                set: true,
                amount: 3,
                refill: Some(Refill {
                    amount: 3,
                    interval: Interval::Day,
                }),
                alert_below: Some(1),
                actor: None,
            },
            LedgerOp::Refund {
                id: Some(id.clone()),
                back: GiveBack {
                    names: vec!["m".into()],
                    at_ms: now.timestamp_millis(),
                    cost: 2,
                    alert: true,
                },
            },
            LedgerOp::Refund {
                id: None,
                back: GiveBack {
                    names: vec!["m".into(), "h".into()],
                    at_ms: now.timestamp_millis(),
                    cost: 1,
                    alert: false,
                },
            },
            LedgerOp::Use {
                id: id.clone(),
                hash: new.hash,
                env: "live".into(),
                scopes: vec![
                    Scope::parse("scans:read").unwrap(),
                    Scope::parse("admin").unwrap(),
                ],
                cost: 7,
                defaults: vec!["m=5/1m".parse().unwrap(), "d=100/1d".parse().unwrap()],
                lease: true,
                back: vec![
                    Unused {
                        at_ms: 1_780_000_000_123,
                        granted: 25,
                        unused: 3,
                    },
                    Unused {
                        at_ms: 1_780_000_000_200,
                        granted: 4,
                        unused: 4,
                    },
                ],
            },
            LedgerOp::Use {
                id: id.clone(),
                hash: new.hash,
                env: "test".into(),
                scopes: Vec::new(),
                cost: 1,
                defaults: Vec::new(),
                lease: false,
                back: Vec::new(),
            },
            LedgerOp::Take {
                limits: vec!["o=50/1h".parse().unwrap()],
                cost: 3,
            },
            LedgerOp::Rotate {
                id: id.clone(),
                successor: Successor {
                    id: "key_fedcba9876543210".parse().unwrap(),
                    hash: new.hash,
                    hint: new.hint.clone(),
                },
                grace_seconds: 60,
                actor: Some(id),
            },
        ] {
            let (path, body) = op.to_parts();
            let (path, query) = path.split_once('?').unwrap_or((&path, ""));
            let back = LedgerOp::from_parts(path, query, body.as_deref().unwrap_or(""));
            assert_eq!(back.as_ref(), Some(&op), "{path}");
        }
        assert_eq!(
            LedgerOp::from_parts("/revoke", "id=key_0123456789abcdef", ""),
            None
        );
        assert_eq!(LedgerOp::from_parts("/nothing", "", ""), None);
        assert_eq!(
            LedgerOp::from_parts(
                "/revoke",
                "id=key_0123456789abcdef&by=root&reason=x&actor=garbled",
                ""
            ),
            None,
            "a garbled actor is no operation, never one without an actor"
        );
    }

    #[test]
    fn a_use_report_travels_in_headers() {
        let report = UseReport {
            code: Code::RateLimited,
            missing: Some(Scope::parse("scans:read").unwrap()),
            limits: vec![LimitStatus {
                name: "per-minute".into(),
                limit: 50,
                period_seconds: 60,
                remaining: 0,
                reset_ms: 1234,
            }],
            credits: Some(9),
            alert_due: true,
            retry_after_ms: Some(1234),
            at_ms: 1_780_000_000_000,
        };
        let headers = report_headers(&report);
        let back = report_from_headers(|name| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        });
        assert_eq!(back, Some(report));
        let lease = Lease {
            at_ms: 1_780_000_000_000,
            units: 25,
            until_ms: 1_780_000_001_000,
        };
        assert_eq!(lease_from_header(&lease_header(&lease)), Some(lease));
        assert_eq!(lease_from_header("1;2"), None);
        assert_eq!(lease_from_header("1;2;3;4"), None);
        assert_eq!(
            report_from_headers(|name| (name == "x-keyward-at").then(|| "1".to_owned())),
            None,
            "a report without its code is no report"
        );
    }
}
