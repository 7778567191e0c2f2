//! What every request goes through: its context and authorisation (`context`, `auth`), bodies,
//! queries and answers (`http`), the failed-attempt limiter (`throttle`), leak-report
//! signatures (`signature`) and, in the edge build, the hand-over to the full build
//! (`control`).

pub(crate) mod auth;
pub(crate) mod context;
#[cfg(not(feature = "control"))]
pub(crate) mod control;
pub(crate) mod http;
pub(crate) mod signature;
pub(crate) mod throttle;
