//! Building audit events from requests and sending them to the queue off the response path.

use keyward_core::chrono::{DateTime, Utc};
use keyward_core::{AuditEvent, Code, OsRandom, new_event_id};
use std::cell::RefCell;
use std::time::Duration;

use worker::wasm_bindgen::JsValue;
use worker::{Context, Delay, Env, Request, SendMessage};

use crate::bindings::config::AUDIT;
use crate::bindings::fields::{Builder, Fields, FromFields};

/// Who made a request: IP, country, user agent.
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// Client IP (`CF-Connecting-IP`).
    pub ip: Option<String>,
    /// Country from Cloudflare's request metadata.
    pub country: Option<String>,
    /// `User-Agent`, format characters escaped, truncated.
    pub user_agent: Option<String>,
}

fn bounded(s: String, max: usize) -> String {
    s.chars().take(max).collect()
}

impl Client {
    /// Reads the client's details from a request.
    pub fn of(req: &Request) -> Self {
        let h = req.headers();
        Client {
            ip: h
                .get("cf-connecting-ip")
                .ok()
                .flatten()
                .map(|v| bounded(v, 64)),
            country: req.cf().and_then(|cf| cf.country()),
            // The client's header cannot be refused like a field: its invisible format
            // characters are stored escaped (the core's `text::escape_format_chars`).
            user_agent: h
                .get("user-agent")
                .ok()
                .flatten()
                .map(|v| bounded(keyward_core::text::escape_format_chars(&v), 256)),
        }
    }
}

/// A new event; ids come from the CSPRNG so retries can be deduplicated.
pub fn event(
    client: &Client,
    action: String,
    outcome: Code,
    status: Option<u16>,
    now: DateTime<Utc>,
) -> AuditEvent {
    AuditEvent {
        event_id: new_event_id(&mut OsRandom)
            .unwrap_or_else(|_| format!("t{}", now.timestamp_nanos_opt().unwrap_or_default())),
        key_id: None,
        hint: None,
        owner: None,
        actor: None,
        action: bounded(action, 512),
        ip: client.ip.clone(),
        country: client.country.clone(),
        user_agent: client.user_agent.clone(),
        time: now,
        outcome,
        status,
    }
}

/// The event of a lifecycle action on `record` by `actor` (a key id, `root`, or a leak
/// reporter), made off any request (the queue consumers).
pub fn lifecycle_event(
    record: &keyward_core::KeyRecord,
    actor: &str,
    action: keyward_core::Lifecycle,
    now: DateTime<Utc>,
) -> AuditEvent {
    let mut event = event(
        &Client::default(),
        action.as_str().to_owned(),
        Code::Valid,
        None,
        now,
    );
    event.key_id = Some(record.id.to_string());
    event.hint = Some(record.hint.clone());
    event.owner = Some(record.owner.clone());
    event.actor = Some(actor.to_owned());
    event
}

impl FromFields for AuditEvent {
    fn from_fields(f: &Fields) -> worker::Result<Self> {
        Ok(AuditEvent {
            event_id: f.str("event_id")?,
            key_id: f.opt_str("key_id")?,
            hint: f.opt_str("hint")?,
            owner: f.opt_str("owner")?,
            actor: f.opt_str("actor")?,
            action: f.str("action")?,
            ip: f.opt_str("ip")?,
            country: f.opt_str("country")?,
            user_agent: f.opt_str("user_agent")?,
            time: f.time("time")?,
            outcome: f.named("outcome", |s| s.parse::<Code>().ok())?,
            status: f.opt_u16("status")?,
        })
    }
}

/// The queue message of `e`: its fields as the audit queue's consumer reads them.
fn message(e: &AuditEvent) -> SendMessage<JsValue> {
    let b = Builder::new()
        .str("event_id", &e.event_id)
        .opt_str("key_id", e.key_id.as_deref())
        .opt_str("hint", e.hint.as_deref())
        .opt_str("owner", e.owner.as_deref())
        .opt_str("actor", e.actor.as_deref())
        .str("action", &e.action)
        .opt_str("ip", e.ip.as_deref())
        .opt_str("country", e.country.as_deref())
        .opt_str("user_agent", e.user_agent.as_deref())
        .str("time", &keyward_core::time::format_rfc3339(e.time))
        .str("outcome", e.outcome.as_str());
    match e.status {
        Some(s) => b.num("status", s.into()),
        None => b,
    }
    .message(None)
}

/// How long events wait in the isolate for others to share one queue write.
const FLUSH_AFTER_MS: u64 = 20;

thread_local! {
    /// Events waiting for the isolate's next queue write.
    static PENDING: RefCell<Vec<AuditEvent>> = const { RefCell::new(Vec::new()) };
}

/// Sends `events` to the audit queue after the response (`ctx.wait_until`).
///
/// Events of concurrent requests in the same isolate share one `send_batch`: the first
/// request schedules a flush [`FLUSH_AFTER_MS`] later and keeps the isolate alive until it
/// is done; later requests in that window only add their events.
pub fn send(env: &Env, ctx: &Context, events: Vec<AuditEvent>) {
    if events.is_empty() {
        return;
    }
    let first = PENDING.with(|p| {
        let mut p = p.borrow_mut();
        let first = p.is_empty();
        p.extend(events);
        first
    });
    if !first {
        return;
    }
    let queue = match env.queue(AUDIT) {
        Ok(q) => q,
        Err(e) => {
            worker::console_error!("audit queue binding unavailable: {e}");
            return;
        }
    };
    ctx.wait_until(async move {
        Delay::from(Duration::from_millis(FLUSH_AFTER_MS)).await;
        let pending = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
        for chunk in batches(pending) {
            let mut tries = 0;
            loop {
                tries += 1;
                match queue.send_raw_batch(chunk.iter().map(message)).await {
                    Ok(()) => break,
                    Err(e) if tries < SEND_TRIES => {
                        worker::console_warn!(
                            "queueing {} audit events failed ({e}); retrying",
                            chunk.len()
                        );
                        Delay::from(Duration::from_millis(50 * tries)).await;
                    }
                    Err(e) => {
                        // Never silent: the count lost, and why.
                        worker::console_error!(
                            "{} audit events were lost: the queue refused them {SEND_TRIES} times ({e})",
                            chunk.len()
                        );
                        break;
                    }
                }
            }
        }
    });
}

/// Attempts per batch before its events are reported lost.
const SEND_TRIES: u64 = 3;
/// Cloudflare Queues: at most 100 messages per `sendBatch`.
pub const MAX_BATCH_MESSAGES: usize = 100;
/// Cloudflare Queues: at most 256 KB per `sendBatch` (1 KB = 1000 bytes), each message
/// counting up to about 100 bytes of metadata; keyward keeps a margin below it.
pub const MAX_BATCH_BYTES: usize = 240_000;
/// Cloudflare Queues: at most 128 KB per message. Events are bounded far below it (an
/// action of 512 characters and a user agent of 512, at most 4 bytes each, plus ids).
pub const MAX_MESSAGE_BYTES: usize = 128_000;
/// The metadata each message carries towards the limits.
const MESSAGE_OVERHEAD: usize = 100;

/// Splits events into `sendBatch` calls that always fit the queue's limits, in order.
pub fn batches(events: Vec<AuditEvent>) -> Vec<Vec<AuditEvent>> {
    let mut out: Vec<Vec<AuditEvent>> = Vec::new();
    let mut bytes = 0;
    for e in events {
        let size = serde_json::to_vec(&e).map_or(MAX_MESSAGE_BYTES, |v| v.len()) + MESSAGE_OVERHEAD;
        let fits = out
            .last()
            .is_some_and(|b| b.len() < MAX_BATCH_MESSAGES && bytes + size <= MAX_BATCH_BYTES);
        if fits {
            bytes += size;
            if let Some(b) = out.last_mut() {
                b.push(e);
            }
        } else {
            bytes = size;
            out.push(vec![e]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn big(i: usize) -> AuditEvent {
        let mut e = event(
            &Client {
                ip: Some("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff".into()),
                country: Some("NL".into()),
                user_agent: Some("\u{1F600}".repeat(512)),
            },
            "\u{1F600}".repeat(512),
            Code::Valid,
            Some(200),
            keyward_core::chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap(),
        );
        e.event_id = format!("{i:032x}");
        e
    }

    #[test]
    fn batches_fit_the_queue_limits_and_keep_every_event() {
        for n in [0, 1, 99, 100, 101, 250, 1000] {
            let events: Vec<AuditEvent> = (0..n).map(big).collect();
            let split = batches(events);
            assert_eq!(split.iter().map(Vec::len).sum::<usize>(), n);
            for b in &split {
                assert!(b.len() <= MAX_BATCH_MESSAGES);
                let bytes: usize = b
                    .iter()
                    .map(|e| serde_json::to_vec(e).unwrap().len() + MESSAGE_OVERHEAD)
                    .sum();
                assert!(bytes <= MAX_BATCH_BYTES, "{bytes}");
                assert!(
                    b.iter()
                        .all(|e| serde_json::to_vec(e).unwrap().len() < MAX_MESSAGE_BYTES)
                );
            }
            let ids: Vec<String> = split.concat().into_iter().map(|e| e.event_id).collect();
            let want: Vec<String> = (0..n).map(|i| format!("{i:032x}")).collect();
            assert_eq!(ids, want, "in order");
        }
    }
}
