//! Page cursors: the store's own cursor, sealed with a checksum so that a cursor keyward
//! did not give is recognised without asking the store (`not_found`, never a store
//! fault). Not a secret and not a signature: the store's cursor is not one either.
//!
//! ```text
//! cursor = base64url(store cursor) checksum     ; checksum: the key format's CRC32
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::key::checksum;

/// The pattern every sealed cursor matches.
pub const CURSOR_PATTERN: &str = "^[A-Za-z0-9_-]{8,2048}$";

/// Seals the store's cursor `inner` for the API.
pub fn seal(inner: &str) -> String {
    let mut out = URL_SAFE_NO_PAD.encode(inner);
    out.push_str(core::str::from_utf8(&checksum(&out)).unwrap_or_default());
    out
}

/// The store's cursor inside `sealed`, if keyward made it.
pub fn open(sealed: &str) -> Option<String> {
    let well_formed = (8..=2048).contains(&sealed.len())
        && sealed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return None;
    }
    let (body, sum) = sealed.split_at(sealed.len() - 6);
    if checksum(body).as_slice() != sum.as_bytes() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(body).ok()?;
    String::from_utf8(bytes).ok().filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn sealed_cursors_open_and_others_do_not() {
        let pattern = regex::Regex::new(CURSOR_PATTERN).unwrap();
        for inner in ["a", "AAAAAIg9ciMXOw==", &"x".repeat(1000)] {
            let s = seal(inner);
            assert!(pattern.is_match(&s), "{s}");
            assert_eq!(open(&s).as_deref(), Some(inner));
            let mut tampered = s.clone().into_bytes();
            tampered[0] = if tampered[0] == b'A' { b'B' } else { b'A' };
            assert_eq!(open(core::str::from_utf8(&tampered).unwrap()), None);
        }
        for junk in [
            "",
            "0",
            "00000000",
            "zzzzzzzzzzzz",
            "cursor-from-elsewhere",
            "\u{fc}\u{86}\u{93}\u{f0}y\u{97}",
            "AAAAAAAAAA\u{e9}",
        ] {
            assert_eq!(open(junk), None, "{junk}");
        }
    }
}
