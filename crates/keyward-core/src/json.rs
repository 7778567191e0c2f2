//! JSON text read by the one `serde_json` reader the API's bodies use. `serde_json`'s
//! decoder is generic over its reader: `from_str` and `from_slice` are two copies of it
//! (number and string parsing, skipping, errors, and every type's visitor), so text is read
//! here as bytes (README, Benchmarks). The result is the same: text that is a `&str` is
//! valid UTF-8, which is all `from_str` skips checking.
//!
//! ```
//! let v: Vec<u32> = keyward_core::json::from_str("[1, 2]").unwrap();
//! assert_eq!(v, [1, 2]);
//! ```

use serde::de::DeserializeOwned;

/// `serde_json::from_str`, through `serde_json`'s byte reader.
///
/// # Errors
/// Text that is not JSON, or not a `T` (`serde_json`'s error, as `from_str` gives it).
pub fn from_str<T: DeserializeOwned>(text: &str) -> serde_json::Result<T> {
    serde_json::from_slice(text.as_bytes())
}
