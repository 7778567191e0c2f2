//! Work done off the request path: the audit queue's consumer, webhook deliveries, raising
//! alerts and the daily checks.

pub(crate) mod alerts;
pub(crate) mod consumer;
pub(crate) mod cron;
pub(crate) mod deliveries;
