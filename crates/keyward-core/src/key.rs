//! The key format: generation, parsing and the checksum.

use core::fmt;
use core::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

use crate::hash::KeyHash;
use crate::random::{OsRandom, RandomError, RandomSource};

/// Bytes of CSPRNG output in a key's secret.
pub const SECRET_BYTES: usize = 32;
/// Characters of the base64url secret.
pub const SECRET_LEN: usize = 43;
/// Characters of the base64url CRC32 checksum.
pub const CHECKSUM_LEN: usize = 6;
/// Longest vendor or environment prefix.
pub const MAX_PREFIX_LEN: usize = 16;
/// Longest string that can be a key; anything longer is refused before any other work.
pub const MAX_KEY_LEN: usize = 2 * (MAX_PREFIX_LEN + 1) + SECRET_LEN + CHECKSUM_LEN;
/// Characters of the secret shown in a hint.
pub const HINT_SECRET_CHARS: usize = 4;

/// The part of a key string that is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyPart {
    /// The string is empty or longer than any key.
    Length,
    /// The string lacks the `{vendor}_{env}_` prefix.
    Prefix,
    /// The vendor is not `[a-z][a-z0-9]{0,15}`.
    Vendor,
    /// The environment is not `[a-z][a-z0-9]{0,15}`.
    Environment,
    /// The secret is not 43 base64url characters followed by the checksum.
    Secret,
    /// The checksum is not 6 base64url characters.
    Checksum,
}

impl KeyPart {
    /// The part's stable name: `length`, `prefix`, `vendor`, `environment`, `secret`, `checksum`.
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyPart::Length => "length",
            KeyPart::Prefix => "prefix",
            KeyPart::Vendor => "vendor",
            KeyPart::Environment => "environment",
            KeyPart::Secret => "secret",
            KeyPart::Checksum => "checksum",
        }
    }
}

/// Why a string is not a key. Never holds any of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseError {
    /// The string does not follow the key grammar; the part says where.
    Malformed(KeyPart),
    /// The string follows the grammar but its checksum does not match.
    BadChecksum,
}

impl ParseError {
    /// The stable code: [`Code::Malformed`](crate::Code::Malformed) or
    /// [`Code::BadChecksum`](crate::Code::BadChecksum).
    pub const fn code(self) -> crate::Code {
        match self {
            ParseError::Malformed(_) => crate::Code::Malformed,
            ParseError::BadChecksum => crate::Code::BadChecksum,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Malformed(KeyPart::Length) => f.write_str("malformed key: wrong length"),
            ParseError::Malformed(KeyPart::Prefix) => {
                f.write_str("malformed key: expected {vendor}_{env}_{secret}{checksum}")
            }
            ParseError::Malformed(KeyPart::Vendor) => {
                f.write_str("malformed key: vendor must be [a-z][a-z0-9]{0,15}")
            }
            ParseError::Malformed(KeyPart::Environment) => {
                f.write_str("malformed key: environment must be [a-z][a-z0-9]{0,15}")
            }
            ParseError::Malformed(KeyPart::Secret) => f.write_str(
                "malformed key: secret must be 43 base64url characters followed by a 6-character checksum",
            ),
            ParseError::Malformed(KeyPart::Checksum) => {
                f.write_str("malformed key: checksum must be 6 base64url characters")
            }
            ParseError::BadChecksum => f.write_str("key checksum does not match"),
        }
    }
}

impl std::error::Error for ParseError {}

/// The environment a key's hint (`{vendor}_{env}_` and 4 characters) names, if it is one.
pub fn env_of_hint(hint: &str) -> Option<&str> {
    let mut parts = hint.splitn(3, '_');
    let (_vendor, env, _rest) = (parts.next()?, parts.next()?, parts.next()?);
    is_valid_prefix(env).then_some(env)
}

/// Whether `s` is a valid vendor or environment prefix: `[a-z][a-z0-9]{0,15}`.
pub fn is_valid_prefix(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_PREFIX_LEN
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// The checksum of a key body (`{vendor}_{env}_{secret}`): CRC32 (IEEE), big-endian,
/// base64url without padding.
pub fn checksum(body: &str) -> [u8; CHECKSUM_LEN] {
    let crc = crc32(CRC_INIT, body.as_bytes()).0 ^ CRC_INIT;
    let mut out = [0u8; CHECKSUM_LEN];
    // 4 bytes always encode to exactly 6 characters; the buffer is sized for it.
    let _ = URL_SAFE_NO_PAD.encode_slice(crc.to_be_bytes(), &mut out);
    out
}

/// A checked key borrowed from the caller's string: the allocation-free form the
/// verification hot path uses. Same checks as [`ApiKey`]; `Debug` shows only the hint.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ApiKeyRef<'a> {
    raw: &'a str,
    vendor_len: usize,
    env_len: usize,
}

impl<'a> ApiKeyRef<'a> {
    /// Checks `s` against the key grammar and checksum without copying it.
    ///
    /// # Errors
    /// [`ParseError::Malformed`] naming the wrong part, or [`ParseError::BadChecksum`].
    pub fn parse(s: &'a str) -> Result<Self, ParseError> {
        let (vendor_len, env_len) = check_format(s)?;
        Ok(ApiKeyRef {
            raw: s,
            vendor_len,
            env_len,
        })
    }

    /// The vendor prefix, e.g. `sk`.
    pub fn vendor(&self) -> &'a str {
        &self.raw[..self.vendor_len]
    }

    /// The environment prefix, e.g. `live`.
    pub fn env(&self) -> &'a str {
        let start = self.vendor_len + 1;
        &self.raw[start..start + self.env_len]
    }

    /// `{vendor}_{env}_` plus the first 4 characters of the secret.
    pub fn hint(&self) -> &'a str {
        &self.raw[..self.vendor_len + self.env_len + 2 + HINT_SECRET_CHARS]
    }

    /// The SHA-256 of the whole key string.
    pub fn hash(&self) -> KeyHash {
        KeyHash::of(self.raw)
    }

    /// An owned copy that wipes itself on drop.
    pub fn to_owned_key(&self) -> ApiKey {
        ApiKey {
            raw: Zeroizing::new(self.raw.to_owned()),
            vendor_len: self.vendor_len,
            env_len: self.env_len,
        }
    }

    /// The full key string. Never log it.
    pub fn expose_secret(&self) -> &'a str {
        self.raw
    }
}

impl fmt::Debug for ApiKeyRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ApiKeyRef")
            .field(&format_args!("{}…", self.hint()))
            .finish()
    }
}

impl fmt::Display for ApiKeyRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…", self.hint())
    }
}

/// A parsed, well-formed API key whose checksum holds.
///
/// `Debug` and `Display` show only the [hint](ApiKey::hint); the secret is reachable
/// through [`ApiKey::expose_secret`] alone and is wiped from memory on drop.
///
/// ```text
/// key      = vendor "_" env "_" secret checksum
/// vendor   = [a-z][a-z0-9]{0,15}
/// env      = [a-z][a-z0-9]{0,15}
/// secret   = 43 base64url chars          ; 32 CSPRNG bytes, no padding; may hold "_" and "-"
/// checksum = 6 base64url chars           ; CRC32 (IEEE, big-endian) of vendor "_" env "_" secret
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    raw: Zeroizing<String>,
    vendor_len: usize,
    env_len: usize,
}

impl ApiKey {
    /// Parses and checks a key string. Same as [`str::parse`].
    ///
    /// # Errors
    /// [`ParseError::Malformed`] naming the wrong part, or [`ParseError::BadChecksum`].
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        ApiKeyRef::parse(s).map(|k| k.to_owned_key())
    }

    /// The borrowed view of this key.
    pub fn as_ref(&self) -> ApiKeyRef<'_> {
        ApiKeyRef {
            raw: &self.raw,
            vendor_len: self.vendor_len,
            env_len: self.env_len,
        }
    }

    /// Generates a new key from the OS CSPRNG.
    ///
    /// # Errors
    /// [`GenerateError`] if `vendor` or `env` is not a valid prefix or the CSPRNG fails.
    pub fn generate(vendor: &str, env: &str) -> Result<NewKey, GenerateError> {
        Self::generate_with(vendor, env, &mut OsRandom)
    }

    /// Generates a new key from `rng` (inject a deterministic source in tests).
    ///
    /// # Errors
    /// [`GenerateError`] if `vendor` or `env` is not a valid prefix or `rng` fails.
    pub fn generate_with(
        vendor: &str,
        env: &str,
        rng: &mut impl RandomSource,
    ) -> Result<NewKey, GenerateError> {
        if !is_valid_prefix(vendor) {
            return Err(GenerateError::Vendor);
        }
        if !is_valid_prefix(env) {
            return Err(GenerateError::Environment);
        }
        let mut bytes = Zeroizing::new([0u8; SECRET_BYTES]);
        rng.fill(bytes.as_mut()).map_err(GenerateError::Random)?;
        let mut raw = Zeroizing::new(String::with_capacity(MAX_KEY_LEN));
        raw.push_str(vendor);
        raw.push('_');
        raw.push_str(env);
        raw.push('_');
        URL_SAFE_NO_PAD.encode_string(bytes.as_ref(), &mut raw);
        let sum = checksum(&raw);
        raw.extend(sum.iter().map(|&b| char::from(b)));
        let key = ApiKey {
            raw,
            vendor_len: vendor.len(),
            env_len: env.len(),
        };
        Ok(NewKey {
            hash: key.hash(),
            hint: key.hint(),
            key,
        })
    }

    /// The vendor prefix, e.g. `sk`.
    pub fn vendor(&self) -> &str {
        self.as_ref().vendor()
    }

    /// The environment prefix, e.g. `live`.
    pub fn env(&self) -> &str {
        self.as_ref().env()
    }

    /// `{vendor}_{env}_` plus the first 4 characters of the secret: safe to display and log.
    pub fn hint(&self) -> String {
        self.as_ref().hint().to_owned()
    }

    /// The SHA-256 of the whole key string: what storage is addressed by.
    pub fn hash(&self) -> KeyHash {
        self.as_ref().hash()
    }

    /// The full key string. Show it once, at creation; never log it.
    pub fn expose_secret(&self) -> &str {
        &self.raw
    }
}

/// Checks the grammar and checksum; returns the vendor and env lengths.
///
/// This is the verification hot path, with no allocation: the prefix is read once to find
/// its two `_` and check its characters, then the body once for the CRC32, which checks
/// each character against the base64url alphabet in the same pass (the prefix's `[a-z0-9_]`
/// are all in it).
fn check_format(s: &str) -> Result<(usize, usize), ParseError> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > MAX_KEY_LEN {
        return Err(ParseError::Malformed(KeyPart::Length));
    }
    let Some((vendor_len, vendor_ok)) = prefix_field(b) else {
        return Err(ParseError::Malformed(KeyPart::Prefix));
    };
    let env_start = vendor_len + 1;
    let Some((env_len, env_ok)) = prefix_field(&b[env_start..]) else {
        return Err(ParseError::Malformed(KeyPart::Prefix));
    };
    if !vendor_ok {
        return Err(ParseError::Malformed(KeyPart::Vendor));
    }
    if !env_ok {
        return Err(ParseError::Malformed(KeyPart::Environment));
    }
    if b.len() - (env_start + env_len + 1) != SECRET_LEN + CHECKSUM_LEN {
        return Err(ParseError::Malformed(KeyPart::Secret));
    }
    let (body, sum) = b.split_at(b.len() - CHECKSUM_LEN);
    let (crc, classes) = crc32(CRC_INIT, body);
    if classes & INVALID == INVALID {
        return Err(ParseError::Malformed(KeyPart::Secret));
    }
    let Some(presented) = decode_checksum(sum) else {
        return Err(ParseError::Malformed(KeyPart::Checksum));
    };
    // A checksum is not a secret (it is printed in the key); plain comparison is fine.
    if presented != Some(crc ^ CRC_INIT) {
        return Err(ParseError::BadChecksum);
    }
    Ok((vendor_len, env_len))
}

/// The field of `b` before its first `_`: its length, and whether it is a valid prefix
/// (`[a-z][a-z0-9]{0,15}`). `None` when `b` has no `_`.
fn prefix_field(b: &[u8]) -> Option<(usize, bool)> {
    let mut ok = b.first().is_some_and(u8::is_ascii_lowercase);
    for (len, &c) in b.iter().enumerate() {
        if c == b'_' {
            return Some((len, ok && len <= MAX_PREFIX_LEN));
        }
        ok &= c.is_ascii_lowercase() || c.is_ascii_digit();
    }
    None
}

/// The CRC32 register's start value, and the value its end is XORed with.
const CRC_INIT: u32 = 0xFFFF_FFFF;

/// Runs the CRC32 (IEEE) register `crc` over `bytes`, eight bytes a step (slice-by-8), and
/// ORs together the [`BASE64URL_VALUE`] of every byte on the way: the result has every bit of
/// [`INVALID`] set exactly when some byte is outside the base64url alphabet.
fn crc32(mut crc: u32, bytes: &[u8]) -> (u32, u8) {
    let t = &CRC_TABLES;
    let mut classes = 0u8;
    let (chunks, tail) = bytes.as_chunks::<8>();
    for c in chunks {
        for &byte in c {
            classes |= BASE64URL_VALUE[usize::from(byte)];
        }
        let lo = crc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        crc = t[7][(lo & 0xFF) as usize]
            ^ t[6][((lo >> 8) & 0xFF) as usize]
            ^ t[5][((lo >> 16) & 0xFF) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][usize::from(c[4])]
            ^ t[2][usize::from(c[5])]
            ^ t[1][usize::from(c[6])]
            ^ t[0][usize::from(c[7])];
    }
    for &byte in tail {
        classes |= BASE64URL_VALUE[usize::from(byte)];
        crc = t[0][((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    (crc, classes)
}

/// The slice-by-8 tables of CRC32 (IEEE, reflected polynomial `0xEDB88320`): `[0]` is the
/// classic byte table, `[k]` advances a byte through `k` more zero bytes.
const CRC_TABLES: [[u32; 256]; 8] = {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            bit += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xFF) as usize];
            i += 1;
        }
        k += 1;
    }
    t
};

/// Decodes 6 base64url characters into the CRC32 they encode.
///
/// `None` when a character is outside the alphabet; `Some(None)` when the characters are
/// in the alphabet but are not the canonical encoding of 4 bytes (so match no checksum).
fn decode_checksum(sum: &[u8]) -> Option<Option<u32>> {
    let mut bits: u64 = 0;
    for &c in sum {
        let v = BASE64URL_VALUE[usize::from(c)];
        if v == INVALID {
            return None;
        }
        bits = (bits << 6) | u64::from(v);
    }
    // 6 characters carry 36 bits: the 32 of the CRC, then 4 zero bits.
    Some((bits & 0xF == 0).then_some((bits >> 4) as u32))
}

const INVALID: u8 = 0xFF;

/// The 6-bit value of each base64url character, [`INVALID`] for the rest.
const BASE64URL_VALUE: [u8; 256] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

impl FromStr for ApiKey {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ApiKey::parse(s)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ApiKey")
            .field(&format_args!("{}…", self.hint()))
            .finish()
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…", self.hint())
    }
}

/// A freshly generated key: the raw key (show it once), its hash and its hint.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The key itself. Hand it to the caller once, then drop it.
    pub key: ApiKey,
    /// What to store.
    pub hash: KeyHash,
    /// What to display.
    pub hint: String,
}

/// Why a key could not be generated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GenerateError {
    /// The vendor is not `[a-z][a-z0-9]{0,15}`.
    Vendor,
    /// The environment is not `[a-z][a-z0-9]{0,15}`.
    Environment,
    /// The random source failed.
    Random(RandomError),
}

impl fmt::Display for GenerateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenerateError::Vendor => f.write_str("vendor must be [a-z][a-z0-9]{0,15}"),
            GenerateError::Environment => f.write_str("environment must be [a-z][a-z0-9]{0,15}"),
            GenerateError::Random(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for GenerateError {}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_hint_names_its_environment() {
        assert_eq!(env_of_hint("sk_live_EyjW"), Some("live"));
        assert_eq!(env_of_hint("acme_staging2_a_b-"), Some("staging2"));
        assert_eq!(env_of_hint("sk_live"), None);
        assert_eq!(env_of_hint("sk_Live_abcd"), None);
        assert_eq!(env_of_hint(""), None);
    }

    proptest! {
        /// The hot path's own CRC32 agrees with crc32fast at every length and split.
        #[test]
        fn crc32_is_crc32_ieee(bytes in proptest::collection::vec(any::<u8>(), 0..80), cut in 0usize..80) {
            let cut = cut.min(bytes.len());
            let (head, tail) = bytes.split_at(cut);
            let (crc, _) = crc32(CRC_INIT, head);
            let (crc, classes) = crc32(crc, tail);
            prop_assert_eq!(crc ^ CRC_INIT, crc32fast::hash(&bytes));
            let all_base64url = tail.iter().all(|&c| BASE64URL_VALUE[usize::from(c)] != INVALID);
            prop_assert_eq!(classes & INVALID != INVALID, all_base64url);
        }
    }
}
