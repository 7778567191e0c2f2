//! Searching one file's, blob's or stream's content: sniffed and decoded (see
//! [`super::encoding`]), read whole or in windows, with the `keyward:allow` rule.

use std::io::Read as _;

use keyward_core::MAX_KEY_LEN;

use super::encoding::{DecodeReader, Encoding, SNIFF_LEN, Sniffed, decode, sniff};
use super::{Finding, Options, Place};
use crate::finder::{LineCounter, VendorFilter, find_keys};

/// Marks the key right before it on its line as one not to report (a published test
/// vector, a documentation example): the last key that ends before the marker on the
/// same line, when no other key comes between them. One marker allows one key; it allows
/// nothing on other lines, nor a key after it.
pub const ALLOW_MARKER: &[u8] = b"keyward:allow";

/// Files larger than this are read in windows of this size instead of whole.
pub const WINDOW: usize = 16 << 20;
/// Bytes carried from one window to the next, so that a key across the seam is whole in
/// the next window.
const CARRY: usize = MAX_KEY_LEN - 1;

/// Searches one buffer of UTF-8 text, appending findings for `place`.
pub fn scan_buffer(buf: &[u8], place: &Place, opts: &Options, out: &mut Vec<Finding>) {
    scan_window(buf, buf.len(), (1, 0), place, opts, out);
}

/// Searches one whole file or blob: sniffed, its byte order mark skipped, UTF-16 and
/// UTF-32 decoded to UTF-8 first. Returns the bytes searched, `None` for a binary.
pub fn scan_whole(
    buf: &[u8],
    place: &Place,
    opts: &Options,
    out: &mut Vec<Finding>,
) -> Option<u64> {
    let Sniffed::Text { encoding, bom } = sniff(buf) else {
        return None;
    };
    let body = &buf[bom..];
    if encoding == Encoding::Utf8 {
        scan_buffer(body, place, opts, out);
        return Some(body.len() as u64);
    }
    let text = decode(body, encoding);
    scan_buffer(&text, place, opts, out);
    Some(text.len() as u64)
}

/// Scans a stream in windows of [`WINDOW`] bytes, in constant memory. Returns the bytes
/// searched (UTF-16 and UTF-32 count as their UTF-8 decoding), or `None` if the stream
/// is a binary. The first [`SNIFF_LEN`] bytes decide, as for files.
///
/// # Errors
/// Reading fails.
pub fn scan_stream(
    reader: impl std::io::Read,
    place: &Place,
    opts: &Options,
    out: &mut Vec<Finding>,
) -> std::io::Result<Option<u64>> {
    scan_stream_in(reader, WINDOW, place, opts, out)
}

/// [`scan_stream`] with windows of `window` bytes.
pub(super) fn scan_stream_in(
    mut reader: impl std::io::Read,
    window: usize,
    place: &Place,
    opts: &Options,
    out: &mut Vec<Finding>,
) -> std::io::Result<Option<u64>> {
    let mut head = Vec::with_capacity(SNIFF_LEN);
    (&mut reader)
        .take(SNIFF_LEN as u64)
        .read_to_end(&mut head)?;
    let Sniffed::Text { encoding, bom } = sniff(&head) else {
        return Ok(None);
    };
    head.drain(..bom);
    let rest = std::io::Cursor::new(head).chain(reader);
    let searched = if encoding == Encoding::Utf8 {
        scan_windows(rest, window, place, opts, out)?
    } else {
        scan_windows(DecodeReader::new(rest, encoding), window, place, opts, out)?
    };
    Ok(Some(searched))
}

/// Scans UTF-8 text in windows of `window` bytes (a window holds at most twice that);
/// returns the bytes read.
pub(super) fn scan_windows(
    mut reader: impl std::io::Read,
    window: usize,
    place: &Place,
    opts: &Options,
    out: &mut Vec<Finding>,
) -> std::io::Result<u64> {
    let mut buf: Vec<u8> = Vec::with_capacity(window + CARRY);
    let mut origin = (1, 0);
    let mut total = 0u64;
    loop {
        let got = (&mut reader).take(window as u64).read_to_end(&mut buf)?;
        total += got as u64;
        if got < window {
            scan_window(&buf, buf.len(), origin, place, opts, out);
            return Ok(total);
        }
        // Keys from `limit` on are left to the next window, with what follows them. The
        // window ends at a line start when it can, so that a key and the marker after it
        // on its line are read together (for lines shorter than a window).
        let seam = buf.len().saturating_sub(CARRY);
        let limit = memchr::memrchr(b'\n', &buf[..seam]).map_or(seam, |nl| nl + 1);
        scan_window(&buf, limit, origin, place, opts, out);
        origin = advance(origin, &buf[..limit]);
        buf.drain(..limit);
    }
}

/// Searches `buf` for keys that start before `limit`. `origin` is the line and the
/// number of characters already on that line at `buf[0]`.
///
/// Every key is found whatever its vendor, so that what a marker allows does not depend
/// on `--vendor`; the vendor filter applies to what is reported.
fn scan_window(
    buf: &[u8],
    limit: usize,
    origin: (usize, usize),
    place: &Place,
    opts: &Options,
    out: &mut Vec<Finding>,
) {
    let mut keys = Vec::new();
    find_keys(buf, &VendorFilter::any(), |f| keys.push(f));
    let mut lines = LineCounter::new(buf);
    for (i, f) in keys.iter().enumerate() {
        if f.offset >= limit || !opts.vendors.allows(f.key.vendor()) {
            continue;
        }
        let end = f.offset + f.key.expose_secret().len();
        let next = keys.get(i + 1).map_or(buf.len(), |n| n.offset);
        if allowed(buf, end, next) {
            continue;
        }
        let (line, column) = lines.locate(f.offset);
        let (line, column) = if line == 1 {
            (origin.0, column + origin.1)
        } else {
            (line + origin.0 - 1, column)
        };
        out.push(Finding {
            place: place.clone(),
            line,
            column,
            hint: f.key.hint().to_owned(),
            vendor: f.key.vendor().to_owned(),
            env: f.key.env().to_owned(),
            hash: f.key.hash(),
            len: f.key.expose_secret().len(),
            blob: None,
            later_commits: Vec::new(),
            key: opts.keep_keys.then(|| f.key.to_owned_key()),
        });
    }
}

/// Whether [`ALLOW_MARKER`] follows a key ending at `end` on its line before the next
/// key (at `next`).
fn allowed(buf: &[u8], end: usize, next: usize) -> bool {
    let after = &buf[end..next.max(end)];
    let line = memchr::memchr(b'\n', after).map_or(after, |nl| &after[..nl]);
    memchr::memmem::find(line, ALLOW_MARKER).is_some()
}

/// Where `origin` moves to after `consumed`: lines passed, and characters on the last one.
fn advance(origin: (usize, usize), consumed: &[u8]) -> (usize, usize) {
    let chars = |b: &[u8]| b.iter().filter(|&&c| (c & 0xC0) != 0x80).count();
    let newlines = memchr::memchr_iter(b'\n', consumed).count();
    match memchr::memrchr(b'\n', consumed) {
        Some(last) => (origin.0 + newlines, chars(&consumed[last + 1..])),
        None => (origin.0, origin.1 + chars(consumed)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::PathBuf;

    use keyward_core::{ApiKey, KeyHash};

    use super::*;

    fn summary(v: &[Finding]) -> Vec<(usize, usize, KeyHash)> {
        v.iter().map(|f| (f.line, f.column, f.hash)).collect()
    }

    fn encode(text: &str, encoding: Encoding) -> Vec<u8> {
        let mut out = Vec::new();
        match encoding {
            Encoding::Utf16Le => text
                .encode_utf16()
                .for_each(|u| out.extend_from_slice(&u.to_le_bytes())),
            Encoding::Utf16Be => text
                .encode_utf16()
                .for_each(|u| out.extend_from_slice(&u.to_be_bytes())),
            Encoding::Utf32Le => text
                .chars()
                .for_each(|c| out.extend_from_slice(&u32::from(c).to_le_bytes())),
            Encoding::Utf32Be => text
                .chars()
                .for_each(|c| out.extend_from_slice(&u32::from(c).to_be_bytes())),
            Encoding::Utf8 => out.extend_from_slice(text.as_bytes()),
        }
        out
    }

    /// Hands out at most `n` bytes per read.
    struct Trickle<'a>(&'a [u8], usize);

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn key(vendor: &str, env: &str) -> String {
        ApiKey::generate(vendor, env)
            .unwrap()
            .key
            .expose_secret()
            .to_owned()
    }

    #[test]
    fn every_encoding_finds_what_the_decoded_text_holds_whole_or_in_windows() {
        let mut text = String::new();
        for i in 0..25 {
            let k = key("sk", if i % 2 == 0 { "live" } else { "test" });
            text.push_str(&"😀é x".repeat(i * 5 % 17));
            text.push_str(&k);
            text.push_str(if i % 3 == 0 { "\r\n" } else { " \u{2603} " });
        }
        let opts = Options::default();
        let place = Place::File(PathBuf::from("t"));
        let mut whole = Vec::new();
        scan_buffer(text.as_bytes(), &place, &opts, &mut whole);
        assert_eq!(whole.len(), 25);
        let boms: [(Encoding, &[u8]); 5] = [
            (Encoding::Utf8, b"\xEF\xBB\xBF"),
            (Encoding::Utf16Le, b"\xFF\xFE"),
            (Encoding::Utf16Be, b"\xFE\xFF"),
            (Encoding::Utf32Le, b"\xFF\xFE\0\0"),
            (Encoding::Utf32Be, b"\0\0\xFE\xFF"),
        ];
        for (encoding, mark) in boms {
            // With its byte order mark, and (but UTF-8, where the mark is all there is to
            // tell) without.
            let body = encode(&text, encoding);
            let with_mark = [mark, &body[..]].concat();
            let inputs = if encoding == Encoding::Utf8 {
                vec![with_mark]
            } else {
                vec![with_mark, body]
            };
            for bytes in inputs {
                let mut found = Vec::new();
                assert_eq!(
                    scan_whole(&bytes, &place, &opts, &mut found),
                    Some(text.len() as u64),
                    "{encoding:?}"
                );
                assert_eq!(summary(&found), summary(&whole), "{encoding:?} whole");
                for window in [7, 100, 333, 4096] {
                    let mut windowed = Vec::new();
                    let n =
                        scan_stream_in(Trickle(&bytes, 1000), window, &place, &opts, &mut windowed)
                            .unwrap();
                    assert_eq!(n, Some(text.len() as u64));
                    assert_eq!(
                        summary(&windowed),
                        summary(&whole),
                        "{encoding:?} window {window}"
                    );
                }
            }
        }
        // A NUL in what reads as no text marks a binary, whole or streamed.
        let mut binary = b"\x7fELF\0".to_vec();
        binary.extend_from_slice(text.as_bytes());
        assert_eq!(scan_whole(&binary, &place, &opts, &mut Vec::new()), None);
        let streamed = scan_stream_in(&binary[..], 100, &place, &opts, &mut Vec::new());
        assert_eq!(streamed.unwrap(), None);
    }

    #[test]
    fn a_marker_past_a_window_seam_still_allows_its_key() {
        let (allowed, reported) = (key("sk", "live"), key("sk", "test"));
        let mut text = String::new();
        for i in 0..30 {
            let pad = "x".repeat(i * 13 % 97);
            text.push_str(&format!("{pad}{allowed} {pad} // keyward:allow\n"));
            text.push_str(&format!("{pad}{reported}\n"));
        }
        let opts = Options::default();
        let place = Place::File(PathBuf::from("t"));
        let mut whole = Vec::new();
        scan_buffer(text.as_bytes(), &place, &opts, &mut whole);
        assert_eq!(whole.len(), 30);
        // Lines are at most 290 bytes here: any window longer than a line.
        for window in [300, 333, 500, 1024] {
            let mut windowed = Vec::new();
            scan_windows(text.as_bytes(), window, &place, &opts, &mut windowed).unwrap();
            assert_eq!(summary(&windowed), summary(&whole), "window {window}");
        }
    }

    #[test]
    fn windows_find_what_a_whole_read_finds() {
        let mut text = String::new();
        for i in 0..40 {
            let k = key(if i % 3 == 0 { "acme" } else { "sk" }, "live");
            text.push_str(&"é_x ".repeat(i * 7 % 23));
            text.push_str(&k);
            text.push_str(if i % 2 == 0 { "\n" } else { " \u{2603} " });
        }
        let opts = Options::default();
        let place = Place::File(PathBuf::from("t"));
        let mut whole = Vec::new();
        scan_buffer(text.as_bytes(), &place, &opts, &mut whole);
        assert_eq!(whole.len(), 40);
        for window in [1, 7, 50, 83, 100, 333, 4096] {
            let mut windowed = Vec::new();
            let n = scan_windows(text.as_bytes(), window, &place, &opts, &mut windowed).unwrap();
            assert_eq!(n, text.len() as u64);
            assert_eq!(summary(&windowed), summary(&whole), "window {window}");
        }
    }
}
