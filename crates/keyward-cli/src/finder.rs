//! Finding keyward keys in a byte buffer.
//!
//! A key is `{vendor}_{env}_{secret}{checksum}`: two lowercase prefixes, then 49
//! base64url characters. The search jumps from one `_` to the next with `memchr`; each
//! `_` is tried as the end of a vendor. The vendor is the run of `[a-z0-9]` just before
//! it, starting with a letter: the whole run first (a vendor begins after a character
//! that is not `[a-z0-9]`), then every shorter tail of it, so that a key glued to the end
//! of a longer lowercase token is found too. The environment and the 49 characters after
//! it are checked byte by byte, and only then does [`ApiKeyRef::parse`] check the CRC32:
//! a candidate counts only if its checksum holds. Nothing looks at what follows the key,
//! because `_` and `-` are themselves secret characters: a key inside a longer run of
//! base64url characters is still found.

use keyward_core::{ApiKeyRef, CHECKSUM_LEN, MAX_PREFIX_LEN, SECRET_LEN};

const TAIL_LEN: usize = SECRET_LEN + CHECKSUM_LEN;

/// A key found in a buffer: where it starts and the checked key itself.
#[derive(Debug, Clone, Copy)]
pub struct Found<'a> {
    /// Byte offset of the key's first character.
    pub offset: usize,
    /// The key, checksum verified.
    pub key: ApiKeyRef<'a>,
}

/// Which vendors to look for: any, or a fixed list.
#[derive(Debug, Clone, Default)]
pub struct VendorFilter {
    vendors: Vec<String>,
}

impl VendorFilter {
    /// Every vendor.
    pub fn any() -> Self {
        VendorFilter::default()
    }

    /// Only these vendors (each must be a valid prefix; the caller checks).
    pub fn only(vendors: Vec<String>) -> Self {
        VendorFilter { vendors }
    }

    /// Whether keys of `vendor` are looked for.
    pub fn allows(&self, vendor: &str) -> bool {
        self.vendors.is_empty() || self.vendors.iter().any(|v| v == vendor)
    }
}

#[inline]
fn is_lower_digit(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

#[inline]
fn is_base64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

/// Calls `found` for every key in `hay`, in order of position.
pub fn find_keys<'a>(hay: &'a [u8], vendors: &VendorFilter, mut found: impl FnMut(Found<'a>)) {
    let mut resume = 0;
    for sep in memchr::memchr_iter(b'_', hay) {
        if sep < resume {
            continue;
        }
        if let Some(f) = candidate_at(hay, sep, vendors) {
            resume = f.offset + f.key.expose_secret().len();
            found(f);
        }
    }
}

/// Tries `hay[sep]` as the underscore between vendor and environment.
#[inline]
fn candidate_at<'a>(hay: &'a [u8], sep: usize, vendors: &VendorFilter) -> Option<Found<'a>> {
    // The environment: [a-z][a-z0-9]{0,15} then "_".
    let env_start = sep + 1;
    let first = *hay.get(env_start)?;
    if !first.is_ascii_lowercase() {
        return None;
    }
    let mut env_end = env_start + 1;
    while env_end < hay.len() && is_lower_digit(hay[env_end]) {
        env_end += 1;
        if env_end - env_start > MAX_PREFIX_LEN {
            return None;
        }
    }
    if hay.get(env_end) != Some(&b'_') {
        return None;
    }
    // The secret and checksum: 49 base64url characters.
    let tail_start = env_end + 1;
    let end = tail_start + TAIL_LEN;
    if end > hay.len() || !hay[tail_start..end].iter().all(|&c| is_base64url(c)) {
        return None;
    }
    // The vendor: the run of [a-z0-9] before `sep` (at most 16 of it), longest first.
    let mut run_start = sep;
    while run_start > 0 && sep - run_start < MAX_PREFIX_LEN && is_lower_digit(hay[run_start - 1]) {
        run_start -= 1;
    }
    for start in run_start..sep {
        // All bytes in hay[start..end] are ASCII, so this never fails.
        let Ok(text) = std::str::from_utf8(&hay[start..end]) else {
            continue;
        };
        if !hay[start].is_ascii_lowercase() || !vendors.allows(&text[..sep - start]) {
            continue;
        }
        if let Ok(key) = ApiKeyRef::parse(text) {
            return Some(Found { offset: start, key });
        }
    }
    None
}

/// Turns byte offsets into 1-based line and column (in characters), front to back.
#[derive(Debug)]
pub struct LineCounter<'a> {
    hay: &'a [u8],
    pos: usize,
    line: usize,
    line_start: usize,
}

impl<'a> LineCounter<'a> {
    /// A counter at the start of `hay`.
    pub fn new(hay: &'a [u8]) -> Self {
        LineCounter {
            hay,
            pos: 0,
            line: 1,
            line_start: 0,
        }
    }

    /// Line and column of `offset`; offsets must not decrease between calls.
    pub fn locate(&mut self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.hay.len());
        if offset < self.pos {
            *self = LineCounter::new(self.hay);
        }
        for nl in memchr::memchr_iter(b'\n', &self.hay[self.pos..offset]) {
            self.line += 1;
            self.line_start = self.pos + nl + 1;
        }
        self.pos = offset;
        let before = &self.hay[self.line_start..offset];
        // Characters, not bytes: count the bytes that start a UTF-8 sequence.
        let column = before.iter().filter(|&&b| (b & 0xC0) != 0x80).count() + 1;
        (self.line, column)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A published test vector from tests/vectors/parse.json, by name (never issued).
    fn vector(name: &str) -> String {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/vectors/parse.json")).unwrap();
        let case = v["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap();
        case["input"].as_str().unwrap().to_owned()
    }

    fn find(hay: &str) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        find_keys(hay.as_bytes(), &VendorFilter::any(), |f| {
            out.push((f.offset, f.key.hint().to_owned()));
        });
        out
    }

    #[test]
    fn finds_keys_at_any_boundary() {
        let live = vector("live key");
        let underscore = vector("secret holding '_' and '-'");
        for (text, at) in [
            (live.to_owned(), 0),
            (format!("KEY={live}"), 4),
            (format!("\"{live}\""), 1),
            (format!("MY_VAR_{live}"), 7),
            (format!("xyz{live}"), 3),
            (format!("AAAA-{live}-more_tokens_here"), 5),
            (format!("{live}AAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 0),
            (format!("ab_cd_{underscore}"), 6),
        ] {
            let found = find(&text);
            assert_eq!(found.len(), 1, "{text}");
            assert_eq!(found[0].0, at, "{text}");
        }
        assert_eq!(find(&underscore), vec![(0, "sk_live_JZp7".to_owned())]);
    }

    #[test]
    fn refuses_look_alikes() {
        let live = vector("live key");
        let flipped = live.replace("4MALsQ", "4MALsB");
        for text in [
            &flipped[..],
            &live[..live.len() - 1],
            "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
            "AKIAIOSFODNN7EXAMPLE",
            "sk_live_",
            "",
            "_",
            "a_b_",
        ] {
            assert!(find(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn vendor_filter_narrows() {
        let live = vector("live key");
        let mut out = 0;
        find_keys(
            live.as_bytes(),
            &VendorFilter::only(vec!["acme".into()]),
            |_| out += 1,
        );
        assert_eq!(out, 0);
        find_keys(
            live.as_bytes(),
            &VendorFilter::only(vec!["acme".into(), "sk".into()]),
            |_| out += 1,
        );
        assert_eq!(out, 1);
    }

    #[test]
    fn lines_and_columns() {
        let text = "a\nbé c\n\nxyz";
        let mut lc = LineCounter::new(text.as_bytes());
        assert_eq!(lc.locate(0), (1, 1));
        assert_eq!(lc.locate(2), (2, 1));
        assert_eq!(lc.locate(6), (2, 4));
        assert_eq!(lc.locate(9), (4, 1));
        assert_eq!(lc.locate(1), (1, 2));
    }
}
