//! What every request handler gets: settings, bindings, the time, the client, the audit
//! events to send after the answer, and authorization of the caller's key.

use keyward_api::Alert;
use keyward_api::routes::{Op, Route};
use keyward_core::chrono::{DateTime, Utc};
use keyward_core::limits::NamedLimit;
use keyward_core::{
    Actor, AlertKind, AuditEvent, Code, EnvRule, KeyId, KeyRecord, Lifecycle, Scope,
};
use worker::{Env, Request};

use crate::bindings::audit::{self, Client};
use crate::bindings::config::Config;
use crate::bindings::ledger::Ledger;
use crate::bindings::store::Store;
use crate::plumbing::auth::{self, Check, Lookup, ROOT, Root};
use crate::plumbing::http::{ApiError, credential};
use crate::plumbing::throttle;

/// What every handler gets.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// Settings.
    pub config: &'a Config,
    /// Key records.
    pub store: Store,
    /// Bindings.
    pub env: &'a Env,
    /// Request time.
    pub now: DateTime<Utc>,
    /// The client.
    pub client: Client,
    /// Audit events to send after the response.
    pub events: Vec<AuditEvent>,
    /// Alerts to raise after the response.
    pub alerts: Vec<Alert>,
    /// Events to announce to webhook endpoints after the response.
    pub announcements: Vec<crate::endpoints::webhooks::Announcement>,
}

/// The authenticated caller of a management call.
#[derive(Debug)]
pub struct Caller {
    /// `root` or the key's id.
    pub id: String,
    /// The caller's record (`None` for the root key).
    pub record: Option<KeyRecord>,
    /// The audit action of its call: the route's method and path template.
    pub action: String,
}

impl Caller {
    /// The default rate limits of the caller's environment (none for the root key).
    pub fn env_limits<'c>(&self, config: &'c Config) -> &'c [NamedLimit] {
        self.record
            .as_ref()
            .and_then(|r| config.default_limits.get(&r.env))
            .map_or(&[], Vec::as_slice)
    }

    /// The caller's key id (`None` for the root key): the actor of its changes.
    pub fn key_id(&self) -> Option<&KeyId> {
        self.record.as_ref().map(|r| &r.id)
    }

    /// The caller as the core's containment rules see it.
    pub fn actor(&self) -> Actor<'_> {
        match &self.record {
            None => Actor::Root,
            Some(r) => Actor::Key(r),
        }
    }
}

impl Ctx<'_> {
    /// Where keys' lives are decided. The full build asks the objects every time: behind
    /// the edge, the uses that change a key's counts are made by another Worker, and a
    /// management call is not the hot path.
    pub fn ledger(&self) -> Ledger<'_> {
        #[cfg(feature = "control")]
        let bound_ms = 0;
        #[cfg(not(feature = "control"))]
        let bound_ms = self.config.revocation_bound_ms;
        Ledger::new(self.env, bound_ms)
    }

    /// What a key's check reads: the settings, KV and the ledger.
    pub fn lookup(&self) -> Lookup<'_> {
        Lookup {
            config: self.config,
            store: &self.store,
            ledger: self.ledger(),
        }
    }

    /// The time now (the request's start is `now`), on the Worker's clock.
    ///
    /// # Errors
    /// `unavailable` when the clock cannot be believed: nothing is decided then.
    pub fn clock(&self) -> Result<DateTime<Utc>, ApiError> {
        self.lookup().clock()
    }

    /// Checks again, at the moment a change is made on its behalf (after the request's
    /// body was read, however slowly), that the caller can still act: its key's state is
    /// read then (at most the revocation bound old), not when the request began. The
    /// root key is a setting and always can. A change to the caller's own chain is also
    /// checked inside that chain's object, in the same step as the change (`actor`).
    ///
    /// # Errors
    /// `revoked`, `expired` or `unknown_key` (401), or `unavailable`.
    pub async fn still_acting(&mut self, caller: &Caller) -> Result<(), ApiError> {
        let Some(record) = &caller.record else {
            return Ok(());
        };
        if let Err(code) = self.still_live(record).await? {
            self.record_use(&caller.action, None, code);
            if let Some(e) = self.events.last_mut() {
                e.key_id = Some(record.id.to_string());
                e.hint = Some(record.hint.clone());
                e.owner = Some(record.owner.clone());
            }
            return Err(ApiError::code(code));
        }
        Ok(())
    }

    /// Whether `record`'s key is still live now, by its ledger (`Err`: the code it is
    /// refused with).
    ///
    /// # Errors
    /// `unavailable`.
    pub async fn still_live(&self, record: &KeyRecord) -> Result<Result<(), Code>, ApiError> {
        Ok(match self.ledger().truth(record).await? {
            None => Err(Code::UnknownKey),
            Some(truth) => truth.may_act(self.clock()?),
        })
    }

    /// Authorises the caller of `route` (an API route that needs a key): the request's
    /// credential, with the scope the route table declares (none for a route any valid
    /// key may call), before anything else of the request is read. A management call
    /// (the root key passes; the key acts in its own environment); the use is audited,
    /// except a successful `/v1/verify` in either form (its verified key's use is).
    ///
    /// # Errors
    /// The refusal (401/403 with the code), or `unavailable`.
    pub async fn authorize(&mut self, req: &Request, route: &Route) -> Result<Caller, ApiError> {
        let (check, action) = self.judge(req, route).await?;
        // `/v1/verify` logs the verified key's use instead of the caller's: a service's own
        // key would otherwise double the trail on the hottest path.
        if !matches!(route.op, Op::Verify | Op::VerifyHeader) {
            self.record_use(&action, Some(&check), check.code);
        }
        if check.root {
            return Ok(Caller {
                id: ROOT.to_owned(),
                record: None,
                action,
            });
        }
        match check.record {
            Some(r) => Ok(Caller {
                id: r.id.to_string(),
                record: Some(r),
                action,
            }),
            None => Err(ApiError::code(Code::Internal)),
        }
    }

    /// The credential of `route`'s caller judged as [`Ctx::authorize`] judges it: a refusal
    /// logged and counted against the address (the refusal to answer), a valid check
    /// returned, with the route's action, and not logged. The edge build judges a request
    /// for the control plane with this before handing it over, so a refused credential
    /// never reaches the full build (which judges it again, at the moment of its act, and
    /// logs the use).
    ///
    /// # Errors
    /// The refusal (401/403/429 with the code), or `unavailable`.
    pub async fn judge(
        &mut self,
        req: &Request,
        route: &Route,
    ) -> Result<(Check, String), ApiError> {
        let required = route
            .scope
            .map(Scope::parse)
            .transpose()
            .map_err(|_| ApiError::code(Code::Internal))?;
        let action = format!("{} {}", route.method, route.path);
        let check = self
            .present(
                req,
                &action,
                (EnvRule::KeysOwn, Root::Accepted),
                required.as_slice(),
                None,
            )
            .await?;
        Ok((check, action))
    }

    /// The one authentication step of the management API and the gateway: the request's
    /// credential checked under `rule` for `required` (a use of `cost` when given), at
    /// `action`. A refusal is logged and counted as a failed attempt (`failed`); a valid
    /// check is returned for the caller to log as it logs uses.
    ///
    /// # Errors
    /// The refusal (401/403/429 with the code), or `unavailable`.
    pub async fn present(
        &mut self,
        req: &Request,
        action: &str,
        (rule, root): (EnvRule<'_>, Root),
        required: &[Scope],
        cost: Option<u32>,
    ) -> Result<Check, ApiError> {
        // The credential is judged before the address: a valid key is never refused for
        // others' failures (the core's `throttle` rules).
        let raw = match credential(req.headers()) {
            Ok(raw) => raw,
            Err(e) => return Err(self.failed(action, None, e).await),
        };
        let check = auth::check(
            &self.lookup(),
            &raw,
            (rule, root),
            required,
            cost,
            self.client.ip.as_deref().and_then(keyward_core::client_ip),
        )
        .await?;
        self.alert_if_due(&check);
        if !check.is_valid() {
            return Err(self.failed(action, Some(&check), check.to_error()).await);
        }
        Ok(check)
    }

    /// A refused credential: from an address over the failed-attempt limit, 429 without
    /// an audit row; otherwise logged (its alert follows from the event), then counted
    /// against the address when it is a failed attempt (the core's `throttle::counts`).
    /// The refusal to answer.
    pub async fn failed(
        &mut self,
        action: &str,
        check: Option<&Check>,
        refusal: ApiError,
    ) -> ApiError {
        let ip = self.client.ip.clone();
        if throttle::refused(ip.as_deref(), refusal.code) {
            return throttle::refusal();
        }
        self.record_use(action, check, refusal.code);
        if throttle::failed(self.env, ip.as_deref(), refusal.code).await {
            return throttle::refusal();
        }
        refusal
    }

    /// Queues an event for the use of a key (or of something presented as one).
    pub fn record_use(&mut self, action: &str, check: Option<&Check>, outcome: Code) {
        let mut event = audit::event(
            &self.client,
            action.to_owned(),
            outcome,
            Some(outcome.http_status()),
            self.now,
        );
        if let Some(check) = check {
            event.key_id = check.key_id();
            event.hint = check.hint.clone();
            event.owner = check.record.as_ref().map(|r| r.owner.clone());
        }
        self.events.push(event);
    }

    /// Raises `credits_low` (after the response) when a use took a key's balance below its
    /// threshold: once per refill period (its id names the period).
    pub fn alert_if_due(&mut self, check: &Check) {
        let (Some(usage), Some(record)) = (&check.usage, &check.record) else {
            return;
        };
        if !usage.alert_due {
            return;
        }
        let refill = record.credits.as_ref().and_then(|c| c.refill);
        let period = keyward_core::limits::refill_period(refill.as_ref(), self.now);
        let alert = Alert::new(
            AlertKind::CreditsLow,
            format!("credits_low:{}:{period}", record.id),
            format!(
                "key {} has {} credits left, below its threshold",
                record.hint,
                usage.credits.unwrap_or(0)
            ),
            self.now,
        )
        .for_key(record);
        self.alerts.push(alert);
    }

    /// Queues an event for a lifecycle action on `record` by `caller`.
    pub fn record_action(&mut self, action: Lifecycle, record: &KeyRecord, caller: &str) {
        let mut event = audit::lifecycle_event(record, caller, action, self.now);
        event.ip.clone_from(&self.client.ip);
        event.country.clone_from(&self.client.country);
        event.user_agent.clone_from(&self.client.user_agent);
        self.events.push(event);
        self.announcements
            .push(crate::endpoints::webhooks::Announcement::of_action(
                action, record, self.now,
            ));
    }
}
