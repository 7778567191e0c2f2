//! Text people read: the characters that can make a name look like another, and the
//! grammar of owner names (which travel to the origin in a header); and text in URLs,
//! percent-encoded ([`percent_encode`], [`percent_decode`]).
//!
//! ```text
//! owner     = alnum *127( alnum / "." / "_" / "-" / "@" / "+" / ":" / "=" )
//! alnum     = A-Z / a-z / 0-9
//! format    = U+00AD, U+061C, U+180E, U+200B-U+200F, U+202A-U+202E, U+2060-U+2064,
//!             U+2066-U+206F, U+FEFF, U+FFF9-U+FFFB
//! ```
//!
//! Format characters (bidi controls, zero-width characters, invisible operators)
//! are refused where text is stored from a request body (key names, owners, actions, user
//! agents a service reports): `admin\u{202E}txt.exe` shows as `adminexe.txt` in a
//! dashboard or a terminal. Refusing keeps what is stored equal to what is shown; an
//! escape would have to be applied by every reader, and one that forgets is spoofed. A
//! `User-Agent` header is the client's, not a field of a request keyward refuses, so it
//! is stored with such characters escaped ([`escape_format_chars`]). Tag characters
//! (U+E0000-U+E007F) are not among them: they spell the flags of subdivisions in emoji,
//! and the set stays within the Basic Multilingual Plane so that the OpenAPI document's
//! patterns can state it exactly.

/// Longest owner name, in bytes (all ASCII).
pub const MAX_OWNER_LEN: usize = 128;

/// Whether `c` is an invisible format character (bidi control, zero-width, ...).
pub fn is_format_char(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x061C
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
    )
}

/// Whether `s` holds a format character ([`is_format_char`]).
pub fn has_format_chars(s: &str) -> bool {
    s.chars().any(is_format_char)
}

/// `s` with every format character (and every control character) written as
/// `\u{XXXX}`, for text keyward stores but cannot refuse (a request's `User-Agent`).
pub fn escape_format_chars(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_format_char(c) || c.is_control() {
            out.push_str(&format!("\\u{{{:04X}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

fn owner_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@' | b'+' | b':' | b'=')
}

/// Whether `owner` follows the owner grammar (see the module docs): what a new key's
/// owner must be. It holds no space, comma, quote, `;` or `%`, so it is one token in any
/// header, list or not.
pub fn is_valid_owner(owner: &str) -> bool {
    let b = owner.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_OWNER_LEN
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|&c| owner_byte(c))
}

/// The owner as the gateway sends it in `X-Keyward-Owner`: unchanged when it follows the
/// grammar; otherwise (an owner stored before the grammar) every byte outside it
/// percent-encoded, so that no owner can add a list item, a quote or a line to a header.
pub fn owner_header_value(owner: &str) -> String {
    let mut out = String::with_capacity(owner.len());
    for &b in owner.as_bytes() {
        if owner_byte(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 0xF)]));
        }
    }
    out
}

/// Percent-encodes `s` as one URL component (a path segment or a query value): every byte
/// but the unreserved characters (`A-Z a-z 0-9 - . _ ~`, RFC 3986 section 2.3) as `%XX`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX_DIGITS[usize::from(b >> 4)]));
            out.push(char::from(HEX_DIGITS[usize::from(b & 0xF)]));
        }
    }
    out
}

const HEX_DIGITS: &[u8; 16] = b"0123456789ABCDEF";

/// A URL component percent-decoded (`+` is kept: it is a space only in a form); `None`
/// when an escape is not `%` and two hex digits, or the bytes are not UTF-8.
pub fn percent_decode(component: &str) -> Option<String> {
    let b = component.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let (h, l) = (hex_value(*b.get(i + 1)?)?, hex_value(*b.get(i + 2)?)?);
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The value of one hex digit (either case).
pub fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_keeps_unreserved_characters_only_and_decodes_back() {
        assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(
            percent_encode("a b/c?d&e=f+g%h#i"),
            "a%20b%2Fc%3Fd%26e%3Df%2Bg%25h%23i"
        );
        assert_eq!(percent_encode("é\u{202E}"), "%C3%A9%E2%80%AE");
        assert_eq!(percent_encode(""), "");
        for s in [
            "acme:team@x.io",
            "a b+c",
            "100%",
            "é\u{202E}\u{0}",
            "/v1/../keys",
            "",
        ] {
            assert_eq!(
                percent_decode(&percent_encode(s)).as_deref(),
                Some(s),
                "{s:?}"
            );
        }
        // Every byte value, one at a time, as the encoder writes it.
        for b in 0u8..=0x7F {
            let s = char::from(b).to_string();
            let e = percent_encode(&s);
            assert!(e.len() == 1 || e.len() == 3, "{b}: {e}");
            assert_eq!(percent_decode(&e).as_deref(), Some(s.as_str()));
        }
    }

    #[test]
    fn percent_decoding_refuses_broken_escapes_and_bytes_that_are_not_utf8() {
        assert_eq!(percent_decode("a%2fb").as_deref(), Some("a/b"));
        assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
        for bad in ["%", "%2", "%ZZ", "a%G0", "%C3", "%FF%FE"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn bidi_zero_width_and_tag_characters_are_format_characters() {
        for s in [
            "admin\u{202E}txt.exe",
            "a\u{2066}b",
            "a\u{2069}",
            "\u{200B}x",
            "x\u{200D}",
            "\u{FEFF}bom",
            "soft\u{00AD}hyphen",
            "\u{061C}",
        ] {
            assert!(has_format_chars(s), "{s:?}");
            let escaped = escape_format_chars(s);
            assert!(!has_format_chars(&escaped), "{escaped}");
            assert!(escaped.contains("\\u{"), "{escaped}");
        }
        for s in [
            "team-ci",
            "Zürich",
            "日本",
            "emoji 🔑",
            "a b",
            "flag \u{1F3F4}\u{E0067}\u{E0062}\u{E007F}",
        ] {
            assert!(!has_format_chars(s), "{s:?}");
            assert_eq!(escape_format_chars(s), s);
        }
        assert_eq!(escape_format_chars("a\u{202E}b\n"), "a\\u{202E}b\\u{000A}");
    }

    #[test]
    fn owner_names_cannot_break_a_header() {
        for ok in [
            "team-ci",
            "a",
            "ops@example.com",
            "t:1",
            "A.b_c+d=e",
            &"x".repeat(128),
        ] {
            assert!(is_valid_owner(ok), "{ok}");
            assert_eq!(owner_header_value(ok), ok);
        }
        for bad in [
            "",
            "a,b",
            "a b",
            "\"q\"",
            "a;b",
            "50%",
            "-lead",
            ".dot",
            "tab\t",
            "line\r\nx-keyward-scopes: admin",
            "Zürich",
            &"x".repeat(129),
        ] {
            assert!(!is_valid_owner(bad), "{bad:?}");
        }
        // An owner stored before the grammar still travels, as one token.
        assert_eq!(owner_header_value("team a, admin"), "team%20a%2C%20admin");
        assert_eq!(owner_header_value("50%"), "50%25");
        for old in ["team a, admin", "x\"y", "a;b=c", "r\u{e9}sum\u{e9}"] {
            let v = owner_header_value(old);
            assert!(v.bytes().all(|b| owner_byte(b) || b == b'%'), "{v}");
        }
    }
}
