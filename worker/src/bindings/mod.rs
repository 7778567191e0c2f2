//! The platform's storage and queues as this Worker uses them: settings and bindings (`config`),
//! KV (`store`, with the isolate's `cache`), D1 (`db`), the bindings called directly
//! (`platform`), the Durable Object ledger (`ledger`)
//! and the audit queue (`audit`).

pub(crate) mod audit;
pub(crate) mod cache;
pub(crate) mod config;
pub(crate) mod db;
pub(crate) mod fields;
pub(crate) mod ledger;
pub(crate) mod platform;
pub(crate) mod store;
