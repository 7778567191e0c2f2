//! SHA-256 key hashes and constant-time comparison.

use core::fmt;
use core::str::FromStr;

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// The SHA-256 of a whole key string (32 raw bytes; [`to_hex`](KeyHash::to_hex) and
/// `Display` give the lowercase hex form that is stored): the only form of a key keyward
/// keeps.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    /// Hashes a key string. Does not check the key's format; parse first.
    pub fn of(key: &str) -> Self {
        KeyHash(Sha256::digest(key.as_bytes()).into())
    }

    /// A hash from its 32 raw bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        KeyHash(bytes)
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64-character lowercase hex form, as stored and as used for storage keys.
    pub fn to_hex(&self) -> String {
        base16ct::lower::encode_string(&self.0)
    }

    /// The same hex form written into `out`, with no allocation (for a caller that hands
    /// the bytes over itself).
    pub fn write_hex(&self, out: &mut [u8; 64]) {
        // 32 bytes always fit 64 hex digits: the encoder cannot refuse this buffer.
        let _ = base16ct::lower::encode(&self.0, out);
    }

    /// Compares two hashes in constant time.
    pub fn ct_eq(&self, other: &KeyHash) -> bool {
        // The differences of all 32 bytes folded into one word with no branch on the
        // data, then that word compared with zero in constant time (one barrier, not 32).
        let (mine, _) = self.0.as_chunks::<8>();
        let (theirs, _) = other.0.as_chunks::<8>();
        let diff = mine.iter().zip(theirs).fold(0u64, |acc, (a, b)| {
            acc | (u64::from_ne_bytes(*a) ^ u64::from_ne_bytes(*b))
        });
        diff.ct_eq(&0).into()
    }
}

/// A string that is not 64 lowercase hex characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidHash;

impl fmt::Display for InvalidHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key hash is 64 lowercase hex characters")
    }
}

impl std::error::Error for InvalidHash {}

impl FromStr for KeyHash {
    type Err = InvalidHash;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        if s.len() != 64 {
            return Err(InvalidHash);
        }
        base16ct::lower::decode(s, &mut out).map_err(|_| InvalidHash)?;
        Ok(KeyHash(out))
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({})", self.to_hex())
    }
}

impl fmt::Display for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl serde::Serialize for KeyHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for KeyHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hex_written_in_place_is_the_hex_form() {
        for key in ["", "sk_live_x", "another key"] {
            let h = KeyHash::of(key);
            let mut out = [0u8; 64];
            h.write_hex(&mut out);
            assert_eq!(std::str::from_utf8(&out).ok(), Some(h.to_hex().as_str()));
        }
    }
}
