//! keyward's operator command line: `keyward init`, `keyward keys ...` against the
//! Worker's HTTP API, `keyward usage`, and `keyward scan`, a leak scanner for files, git history and
//! staged changes that reports a key only when its checksum holds.
//!
//! Exit codes: `scan` 0 clean, 1 keys found, 2 error; `keys` 0 ok, 1 refused by the API
//! (4xx), 2 usage or configuration error, 3 server or network fault.
#![forbid(unsafe_code)]

pub mod api;
pub mod cli;
pub mod finder;
pub mod git;
pub mod hook;
pub mod init;
pub mod keys;
pub mod output;
pub mod scan;
pub mod usage;

/// Writes to stdout; a closed pipe (`keyward scan | head`) is not an error worth a panic.
pub fn out(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}
