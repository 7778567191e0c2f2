//! The patterns of the API's text fields, stated exactly as the Worker checks them, for
//! the OpenAPI document's schemas.

/// A name, reason or action: 1 to N characters (the schema's `maxLength`), at least one
/// of them not white space, none a control character (`Cc`: U+0000 to U+001F and U+007F
/// to U+009F) nor an invisible format character (the core's `text::is_format_char`).
pub const TEXT: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u061c\\u180e\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u206f\\ufeff\\ufff9-\\ufffb]*[^\\s\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u061c\\u180e\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u206f\\ufeff\\ufff9-\\ufffb][^\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u061c\\u180e\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u206f\\ufeff\\ufff9-\\ufffb]*$";

/// A user agent: no control characters nor invisible format characters (may be empty).
pub const NO_CONTROLS: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u061c\\u180e\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u206f\\ufeff\\ufff9-\\ufffb]*$";

/// A header's text in the body-less verification (`Keyward-Context-User-Agent`): printable
/// ASCII and spaces (header bytes past ASCII do not arrive as the text that was meant).
pub const HEADER_ASCII: &str = "^[ -~]*$";

/// [`HEADER_ASCII`] with at least one character that is not a space
/// (`Keyward-Context-Action`, which is also [`TEXT`]).
pub const HEADER_ASCII_TEXT: &str = "^[ -~]*[!-~][ -~]*$";

/// A new key's owner: the core's owner grammar (`text::is_valid_owner`).
pub const OWNER_NAME: &str = "^[A-Za-z0-9][A-Za-z0-9._@+:=-]{0,127}$";

/// An owner to look up: any owner a key may have, including one stored before the
/// owner grammar: printable ASCII (space to `~`), at least one character not a space.
pub const OWNER: &str = "^[ -~]*[!-~][ -~]*$";

/// A webhook endpoint URL as a deployment without loopback `http://` accepts it (the core's
/// `webhook::check_url`): `https://`, a host, no credentials, spaces or control characters.
pub const HTTPS_URL: &str = "^[Hh][Tt][Tt][Pp][Ss]://(\\[[^\\]/?#@\\\\\\s\\u0000-\\u001f\\u007f-\\u009f]|[^\\[:/?#@\\\\\\s\\u0000-\\u001f\\u007f-\\u009f])[^/?#@\\\\\\s\\u0000-\\u001f\\u007f-\\u009f]*([/?#][^\\s\\u0000-\\u001f\\u007f-\\u009f]*)?$";

/// An environment name.
pub const ENV: &str = "^[a-z][a-z0-9]{0,15}$";

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

/// A scope the deployment declares (or `admin`, or `resource:*` of a declared resource).
/// The document the Worker serves lists them (`enum`); the generic document gives the
/// grammar.
#[derive(Debug)]
pub struct DeclaredScope;

impl JsonSchema for DeclaredScope {
    fn schema_name() -> Cow<'static, str> {
        "DeclaredScope".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "One of the deployment's declared scopes (keyward's own: admin, keys:read, keys:write, keys:verify, audit:read; and KEYWARD_SCOPES), or resource:* of a declared resource.",
            "maxLength": keyward_core::MAX_SCOPE_LEN,
            "pattern": keyward_core::schema::scope_pattern(),
        })
    }
}

/// One of the deployment's environments (`KEYWARD_ENVIRONMENTS`). The document the Worker
/// serves lists them (`enum`).
#[derive(Debug)]
pub struct DeclaredEnvironment;

impl JsonSchema for DeclaredEnvironment {
    fn schema_name() -> Cow<'static, str> {
        "DeclaredEnvironment".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "One of the deployment's environments (KEYWARD_ENVIRONMENTS).",
            "pattern": ENV,
        })
    }
}

/// One of the deployment's roles (`KEYWARD_ROLES`). The document the Worker serves lists
/// them (`enum`; empty where none is declared).
#[derive(Debug)]
pub struct DeclaredRole;

impl JsonSchema for DeclaredRole {
    fn schema_name() -> Cow<'static, str> {
        "DeclaredRole".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "One of the deployment's roles (KEYWARD_ROLES).",
            "minLength": 1,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The document's patterns refuse exactly what the checks refuse.
    #[test]
    fn patterns_state_the_checks() {
        let text = regex::Regex::new(TEXT).unwrap();
        let ua = regex::Regex::new(NO_CONTROLS).unwrap();
        let owner = regex::Regex::new(OWNER_NAME).unwrap();
        let samples = [
            "ci",
            "team a, admin",
            "Zürich 日本 🔑",
            "admin\u{202E}txt.exe",
            "a\u{2066}b\u{2069}",
            "zero\u{200B}width",
            "join\u{200D}er",
            "\u{FEFF}bom",
            "soft\u{00AD}",
            "tab\t",
            "  ",
            "",
            "ops@example.com",
            "-x",
            "a;b",
            "50%",
        ];
        for s in samples {
            assert_eq!(
                text.is_match(s),
                crate::check_text("f", s, 128).is_ok(),
                "TEXT {s:?}"
            );
            assert_eq!(
                ua.is_match(s),
                !s.chars().any(char::is_control) && !keyward_core::text::has_format_chars(s),
                "NO_CONTROLS {s:?}"
            );
            assert_eq!(
                owner.is_match(s),
                crate::check_owner(s).is_ok(),
                "OWNER_NAME {s:?}"
            );
        }
    }
}
