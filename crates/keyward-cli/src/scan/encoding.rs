//! What a file's bytes are, from its first [`SNIFF_LEN`] bytes: UTF-8, UTF-16 or UTF-32
//! text (with or without a byte order mark), or a binary; and UTF-16 and UTF-32 decoded
//! to UTF-8, whole or as a stream in constant memory.
//!
//! The rules, in order:
//! 1. A byte order mark names the encoding: `FF FE 00 00` UTF-32LE, `00 00 FE FF`
//!    UTF-32BE (both before UTF-16's, which they start with), `EF BB BF` UTF-8, `FF FE`
//!    UTF-16LE, `FE FF` UTF-16BE. The mark is not part of the text (columns do not count
//!    it).
//! 2. No NUL byte: UTF-8 (as git decides text).
//! 3. NUL bytes, no mark: UTF-32 or UTF-16 of either byte order if every unit is a
//!    character that text holds (no U+0000, no C0 control but tab, line feed, form feed
//!    and carriage return, no unpaired surrogate) and at least a quarter of the units are
//!    U+0000 to U+00FF (so NULs sit where ASCII's high bytes are); otherwise a binary.

use std::io::Read as _;

/// Bytes looked at to tell text from a binary, as git does (a NUL among them).
pub const SNIFF_LEN: usize = 8000;

/// A text encoding the scanner reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 (or ASCII, or anything else without NUL bytes).
    Utf8,
    /// UTF-16, little endian.
    Utf16Le,
    /// UTF-16, big endian.
    Utf16Be,
    /// UTF-32, little endian.
    Utf32Le,
    /// UTF-32, big endian.
    Utf32Be,
}

impl Encoding {
    /// Bytes per code unit.
    fn unit_len(self) -> usize {
        match self {
            Encoding::Utf8 => 1,
            Encoding::Utf16Le | Encoding::Utf16Be => 2,
            Encoding::Utf32Le | Encoding::Utf32Be => 4,
        }
    }

    /// The code unit in `b` (exactly [`Encoding::unit_len`] bytes).
    fn unit(self, b: &[u8]) -> u32 {
        match (self, b) {
            (Encoding::Utf16Le, [x, y]) => u32::from(u16::from_le_bytes([*x, *y])),
            (Encoding::Utf16Be, [x, y]) => u32::from(u16::from_be_bytes([*x, *y])),
            (Encoding::Utf32Le, [a, b, c, d]) => u32::from_le_bytes([*a, *b, *c, *d]),
            (Encoding::Utf32Be, [a, b, c, d]) => u32::from_be_bytes([*a, *b, *c, *d]),
            (_, [x, ..]) => u32::from(*x),
            (_, []) => 0,
        }
    }

    fn is_utf16(self) -> bool {
        matches!(self, Encoding::Utf16Le | Encoding::Utf16Be)
    }
}

/// What a buffer's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// Text: its encoding, and the length of its byte order mark (0 without one).
    Text {
        /// How the text is encoded.
        encoding: Encoding,
        /// Bytes of byte order mark to skip.
        bom: usize,
    },
    /// A binary: not scanned.
    Binary,
}

/// Tells text from a binary by `head`, a buffer's first [`SNIFF_LEN`] bytes (or all of
/// it), by the rules in this module's documentation.
pub fn sniff(head: &[u8]) -> Sniffed {
    let head = &head[..head.len().min(SNIFF_LEN)];
    let text = |encoding, bom| Sniffed::Text { encoding, bom };
    let boms: [(&[u8], Encoding); 5] = [
        (&[0xFF, 0xFE, 0, 0], Encoding::Utf32Le),
        (&[0, 0, 0xFE, 0xFF], Encoding::Utf32Be),
        (&[0xEF, 0xBB, 0xBF], Encoding::Utf8),
        (&[0xFF, 0xFE], Encoding::Utf16Le),
        (&[0xFE, 0xFF], Encoding::Utf16Be),
    ];
    for (mark, encoding) in boms {
        if head.starts_with(mark) {
            if encoding == Encoding::Utf8 && memchr::memchr(0, head).is_some() {
                return Sniffed::Binary;
            }
            return text(encoding, mark.len());
        }
    }
    if memchr::memchr(0, head).is_none() {
        return text(Encoding::Utf8, 0);
    }
    [
        Encoding::Utf32Le,
        Encoding::Utf32Be,
        Encoding::Utf16Le,
        Encoding::Utf16Be,
    ]
    .into_iter()
    .find(|&e| looks_like(head, e))
    .map_or(Sniffed::Binary, |e| text(e, 0))
}

/// Whether a character is one text holds: not U+0000, not a C0 control other than tab,
/// line feed, form feed and carriage return.
fn is_text_char(c: u32) -> bool {
    c >= 0x20 || matches!(c, 0x09 | 0x0A | 0x0C | 0x0D)
}

/// Whether `head` (with no byte order mark) reads as text in `encoding`: see the rules.
fn looks_like(head: &[u8], encoding: Encoding) -> bool {
    let units: Vec<u32> = head
        .chunks_exact(encoding.unit_len())
        .map(|b| encoding.unit(b))
        .collect();
    if units.is_empty() {
        return false;
    }
    let mut latin = 0usize;
    let mut i = 0;
    while i < units.len() {
        let u = units[i];
        if u < 0x100 {
            latin += 1;
        }
        let ok = if encoding.is_utf16() && (0xD800..0xDC00).contains(&u) {
            // A high surrogate needs a low one next (or the sniffed bytes end here).
            match units.get(i + 1) {
                Some(low) if (0xDC00..0xE000).contains(low) => {
                    i += 1;
                    true
                }
                Some(_) => false,
                None => true,
            }
        } else {
            char::from_u32(u).is_some_and(|c| is_text_char(u32::from(c)))
        };
        if !ok {
            return false;
        }
        i += 1;
    }
    latin * 4 >= units.len()
}

/// Appends the UTF-8 of `c`, or of U+FFFD when `c` is not a character.
fn push_char(c: Option<char>, out: &mut Vec<u8>) {
    let mut utf8 = [0u8; 4];
    let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
    out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
}

/// Decodes the code units at the start of `raw` to UTF-8 in `out`; returns the bytes
/// consumed. Before the end (`at_end` false) it stops before a partial unit, and in
/// UTF-16 before a high surrogate whose pair may come next; at the end, those become
/// U+FFFD. Unpaired surrogates and values that are no character become U+FFFD, as
/// [`String::from_utf16_lossy`] does.
fn decode_into(raw: &[u8], encoding: Encoding, at_end: bool, out: &mut Vec<u8>) -> usize {
    let n = encoding.unit_len();
    let whole = raw.len() / n * n;
    let mut used = whole;
    if encoding.is_utf16() {
        let mut units: Vec<u16> = raw[..whole]
            .chunks_exact(2)
            .map(|b| u16::try_from(encoding.unit(b)).unwrap_or(0xFFFD))
            .collect();
        if !at_end && units.last().is_some_and(|u| (0xD800..0xDC00).contains(u)) {
            units.pop();
            used -= 2;
        }
        for c in char::decode_utf16(units) {
            push_char(c.ok(), out);
        }
    } else {
        for b in raw[..whole].chunks_exact(n) {
            push_char(char::from_u32(encoding.unit(b)), out);
        }
    }
    if at_end && used < raw.len() {
        // A partial last unit.
        push_char(None, out);
        used = raw.len();
    }
    used
}

/// Decodes a whole buffer (its byte order mark already skipped) to UTF-8.
pub fn decode(raw: &[u8], encoding: Encoding) -> Vec<u8> {
    if encoding == Encoding::Utf8 {
        return raw.to_vec();
    }
    // Exact for ASCII text; anything else grows the buffer as needed.
    let mut out = Vec::with_capacity(raw.len() / encoding.unit_len());
    decode_into(raw, encoding, true, &mut out);
    out
}

/// Reads UTF-16 or UTF-32 (after its byte order mark) as UTF-8, in constant memory, so
/// that large files and streams go through the same windows as UTF-8 ones. Decodes as
/// [`decode`] does: a unit or surrogate pair split across reads is joined.
#[derive(Debug)]
pub struct DecodeReader<R> {
    inner: R,
    encoding: Encoding,
    /// Raw bytes read and not decoded yet.
    raw: Vec<u8>,
    /// Decoded UTF-8 not handed out yet, from `done`.
    utf8: Vec<u8>,
    done: usize,
    eof: bool,
}

impl<R: std::io::Read> DecodeReader<R> {
    /// Raw bytes read from `inner` at a time.
    const CHUNK: usize = 64 << 10;

    /// A reader of `inner`'s text in `encoding`, as UTF-8.
    pub fn new(inner: R, encoding: Encoding) -> Self {
        DecodeReader {
            inner,
            encoding,
            raw: Vec::new(),
            utf8: Vec::new(),
            done: 0,
            eof: false,
        }
    }

    fn fill(&mut self) -> std::io::Result<()> {
        self.utf8.clear();
        self.done = 0;
        let got = (&mut self.inner)
            .take(Self::CHUNK as u64)
            .read_to_end(&mut self.raw)?;
        self.eof = got == 0;
        let used = decode_into(&self.raw, self.encoding, self.eof, &mut self.utf8);
        self.raw.drain(..used);
        Ok(())
    }
}

impl<R: std::io::Read> std::io::Read for DecodeReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.done == self.utf8.len() {
            if self.eof || buf.is_empty() {
                return Ok(0);
            }
            self.fill()?;
        }
        let n = buf.len().min(self.utf8.len() - self.done);
        buf[..n].copy_from_slice(&self.utf8[self.done..self.done + n]);
        self.done += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// `units` in `encoding`, without a byte order mark.
    fn encode(units: &[u32], encoding: Encoding) -> Vec<u8> {
        let mut out = Vec::new();
        for &u in units {
            match encoding {
                Encoding::Utf16Le => out.extend_from_slice(&(u as u16).to_le_bytes()),
                Encoding::Utf16Be => out.extend_from_slice(&(u as u16).to_be_bytes()),
                Encoding::Utf32Le => out.extend_from_slice(&u.to_le_bytes()),
                Encoding::Utf32Be => out.extend_from_slice(&u.to_be_bytes()),
                Encoding::Utf8 => out.push(u as u8),
            }
        }
        out
    }

    /// Hands out at most `n` bytes per read, to split units and surrogates anywhere.
    struct Trickle<'a>(&'a [u8], usize);

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn byte_order_marks_name_the_encoding() {
        let cases: [(&[u8], Encoding, usize); 5] = [
            (b"\xFF\xFE\0\0a\0\0\0", Encoding::Utf32Le, 4),
            (b"\0\0\xFE\xFF\0\0\0a", Encoding::Utf32Be, 4),
            (b"\xEF\xBB\xBFtext", Encoding::Utf8, 3),
            (b"\xFF\xFEa\0", Encoding::Utf16Le, 2),
            (b"\xFE\xFF\0a", Encoding::Utf16Be, 2),
        ];
        for (head, encoding, bom) in cases {
            assert_eq!(sniff(head), Sniffed::Text { encoding, bom }, "{head:?}");
        }
        assert_eq!(
            sniff(b"plain"),
            Sniffed::Text {
                encoding: Encoding::Utf8,
                bom: 0
            }
        );
    }

    #[test]
    fn text_without_a_mark_is_recognised_and_binaries_are_not_text() {
        let text = "key = \"é 😀\"\r\n\tnext line\n";
        let utf16: Vec<u32> = text.encode_utf16().map(u32::from).collect();
        let utf32: Vec<u32> = text.chars().map(u32::from).collect();
        for (units, encoding) in [
            (&utf16, Encoding::Utf16Le),
            (&utf16, Encoding::Utf16Be),
            (&utf32, Encoding::Utf32Le),
            (&utf32, Encoding::Utf32Be),
        ] {
            let bytes = encode(units, encoding);
            assert_eq!(sniff(&bytes), Sniffed::Text { encoding, bom: 0 });
            assert_eq!(decode(&bytes, encoding), text.as_bytes());
        }
        for binary in [
            &b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0"[..],
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x01\0",
            b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xFF\xFF\0\0",
            // One NUL among text that does not read as UTF-16 (a key's ASCII pairs
            // would be CJK): a binary, as git decides.
            b"\xFF\x00\xFEsk_live_abcdefghijklmnopqrstuvwxyz",
            b"\0",
        ] {
            assert_eq!(sniff(binary), Sniffed::Binary, "{binary:?}");
        }
    }

    #[test]
    fn decoding_is_lossy_like_the_standard_library_and_streams_the_same() {
        let mut units: Vec<u16> = "a\né 😀 ☃\r\n".encode_utf16().collect();
        // Unpaired surrogates: a low one alone, a high one before a letter, a high one last.
        units.extend([0xDC00, 0x41, 0xD83D, 0x42, 0xD83D]);
        let expected = String::from_utf16_lossy(&units).into_bytes();
        let wide: Vec<u32> = units.iter().map(|&u| u32::from(u)).collect();
        for encoding in [Encoding::Utf16Le, Encoding::Utf16Be] {
            let bytes = encode(&wide, encoding);
            assert_eq!(decode(&bytes, encoding), expected);
            // An odd last byte is one more U+FFFD.
            let mut odd = bytes.clone();
            odd.push(0x41);
            let mut with_odd = expected.clone();
            with_odd.extend_from_slice("\u{FFFD}".as_bytes());
            assert_eq!(decode(&odd, encoding), with_odd);
            for n in [1, 2, 3, 5, 8, 64] {
                for input in [&bytes, &odd] {
                    let mut streamed = Vec::new();
                    DecodeReader::new(Trickle(input, n), encoding)
                        .read_to_end(&mut streamed)
                        .unwrap();
                    assert_eq!(streamed, decode(input, encoding), "{encoding:?} by {n}");
                }
            }
        }
        // UTF-32: a surrogate and a value past U+10FFFF are no characters; a partial last
        // unit is one U+FFFD.
        let chars: Vec<u32> = vec![0x61, 0x1F600, 0xD800, 0x11_0000, 0x0A];
        for encoding in [Encoding::Utf32Le, Encoding::Utf32Be] {
            let mut bytes = encode(&chars, encoding);
            bytes.extend_from_slice(&[0x41, 0x41]);
            let expected = "a😀\u{FFFD}\u{FFFD}\n\u{FFFD}".as_bytes();
            assert_eq!(decode(&bytes, encoding), expected);
            for n in [1, 3, 5, 64] {
                let mut streamed = Vec::new();
                DecodeReader::new(Trickle(&bytes, n), encoding)
                    .read_to_end(&mut streamed)
                    .unwrap();
                assert_eq!(streamed, expected, "{encoding:?} by {n}");
            }
        }
    }
}
