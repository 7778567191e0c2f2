//! Where key material comes from: the OS CSPRNG by default, or an injected source.

use core::fmt;

/// The random source failed; no key was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RandomError;

impl fmt::Display for RandomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the random source failed")
    }
}

impl std::error::Error for RandomError {}

/// A source of random bytes for keys, ids and event ids.
///
/// Production code uses [`OsRandom`]; tests may pass a closure for determinism.
pub trait RandomSource {
    /// Fills `buf` entirely with random bytes.
    ///
    /// # Errors
    /// [`RandomError`] if the source cannot produce bytes.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomError>;
}

/// The operating system's CSPRNG (`getrandom`; Web Crypto on wasm32).
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomError> {
        getrandom::fill(buf).map_err(|_| RandomError)
    }
}

impl<F: FnMut(&mut [u8])> RandomSource for F {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomError> {
        self(buf);
        Ok(())
    }
}
