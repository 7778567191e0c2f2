//! The ledger, where a key's life is decided, in three parts: its wire
//! [`protocol`], the [`object`] (a Durable Object per rotation chain, holding the
//! records of the chain's keys and their counts) and the [`client`] (the Worker's side,
//! with its bounded cache). Every change of a key (create, revoke, rotate, leak report)
//! and every counted use is applied in the object, atomically against its own state, by
//! the core's rules; KV is written after, as the global read index that makes lookups
//! fast, and what it says about revocation or expiry is never trusted on its own.
//!
//! One object per chain rather than per key: a rotation then inserts the successor and
//! ends its predecessor in one SQLite transaction of one object, so no moment exists in
//! which two objects disagree about who succeeded whom, and two rotations cannot both win.

mod client;
mod leases;
// The object's class is the full build's (the Worker `keyward`); the edge build reaches the
// same objects through its binding (`script_name = "keyward"`).
#[cfg(feature = "control")]
mod object;
mod protocol;

pub use client::Ledger;
#[cfg(not(feature = "control"))]
pub use client::forget_all;

/// The Durable Object namespace binding.
pub const KEY_LEDGER: &str = "KEY_LEDGER";
