//! What every request goes through: its context and authorisation (`context`, `auth`), bodies,
//! queries and answers (`http`), the failed-attempt limiter (`throttle`) and leak-report
//! signatures (`signature`).

pub(crate) mod auth;
pub(crate) mod context;
pub(crate) mod http;
pub(crate) mod signature;
pub(crate) mod throttle;
