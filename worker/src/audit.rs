//! Building audit events from requests and sending them to the queue off the response path.

use keyward_core::chrono::{DateTime, Utc};
use keyward_core::{AuditEvent, Code, OsRandom, new_event_id};
use std::cell::RefCell;
use std::time::Duration;

use worker::{Context, Delay, Env, Request};

use crate::config::AUDIT;

/// Who made a request: IP, country, user agent.
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// Client IP (`CF-Connecting-IP`).
    pub ip: Option<String>,
    /// Country from Cloudflare's request metadata.
    pub country: Option<String>,
    /// `User-Agent`, truncated.
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
            user_agent: h.get("user-agent").ok().flatten().map(|v| bounded(v, 256)),
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
        let batch = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
        // A queue batch holds at most 100 messages.
        for chunk in batch.chunks(100) {
            if let Err(e) = queue.send_batch(chunk.to_vec()).await {
                worker::console_error!("{} audit events could not be queued: {e}", chunk.len());
            }
        }
    });
}
