//! The edge build's hand-over: a request for anything but verification, `/healthz` and the
//! gateway goes, untouched (method, URL, headers, the body's stream unread), to the full
//! build through the service binding [`CONTROL`], which authorises and answers it exactly
//! as if it had been sent there. Its answer is passed back as it is.

use worker::Request;

use crate::plumbing::context::Ctx;
use crate::plumbing::http::{ApiError, ApiResult};

/// The service binding to the full build (the Worker `keyward`), in the edge build only.
pub const CONTROL: &str = "CONTROL";

/// Hands `req` to the full build and answers with what it answered. After a request that
/// may have changed something (any but `GET` and `HEAD`), this isolate forgets what it
/// keeps about keys, so a change made through it is seen by its next request (as in the
/// full build, whose changes replace its own cached answers); other isolates see it
/// within the revocation bound, as always.
pub async fn forward(c: &Ctx<'_>, req: Request) -> ApiResult {
    let reads_only = matches!(req.inner().method().as_str(), "GET" | "HEAD");
    let control = c
        .env
        .service(CONTROL)
        .map_err(|e| ApiError::unavailable("the control Worker", e))?;
    let answer: ApiResult = control
        .fetch_request(req)
        .await
        .map_err(|e| ApiError::unavailable("the control Worker", e));
    // Forgotten after the answer, whatever it was: the change (if any) is committed by then.
    if !reads_only {
        crate::bindings::ledger::forget_all();
        crate::bindings::store::forget_all();
    }
    answer
}
