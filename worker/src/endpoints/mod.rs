//! The HTTP API's endpoints and the gateway: each handler authorises, reads, asks the core and
//! answers; none holds a rule of its own.

pub(crate) mod dashboard;
pub(crate) mod export;
pub(crate) mod gateway;
pub(crate) mod keys;
pub(crate) mod leaks;
pub(crate) mod migrate;
pub(crate) mod openapi;
pub(crate) mod owners;
pub(crate) mod reports;
pub(crate) mod verify;
pub(crate) mod webhooks;
