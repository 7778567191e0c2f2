//! JSON Schemas (draft 2020-12, as OpenAPI 3.1 uses) of the core's types that appear in
//! keyward's HTTP API, for the OpenAPI document. Each schema states exactly what the
//! type's parser accepts, so that a document made from them neither refuses what the
//! Worker takes nor admits what it refuses. Host builds only (feature `schema`).

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use crate::code::Code;
use crate::limits::Period;
use crate::record::KeyId;
use crate::scope::{MAX_SCOPE_LEN, Scope, ScopeSet};

/// A resource name other than `admin` (which is reserved), as a regular expression with
/// no look-ahead: every string of `[a-z][a-z0-9_-]*` that differs from `admin`.
const RESOURCE: &str = "(?:[b-z][a-z0-9_-]*|a(?:[a-ce-z0-9_-][a-z0-9_-]*)?|ad(?:[a-ln-z0-9_-][a-z0-9_-]*)?|adm(?:[a-hj-z0-9_-][a-z0-9_-]*)?|admi(?:[a-mo-z0-9_-][a-z0-9_-]*)?|admin[a-z0-9_-]+)";

/// The pattern of a scope: `admin`, `resource:action` or `resource:*`.
pub fn scope_pattern() -> String {
    format!("^(?:admin|{RESOURCE}:(?:[a-z][a-z0-9_-]*|\\*))$")
}

/// The pattern of a period: 1 to 86400 seconds (bare or `s`), 1 to 1440 minutes, 1 to 24
/// hours, or `1d`; no leading zeros.
pub const PERIOD_PATTERN: &str = "^(?:(?:[1-9][0-9]{0,3}|[1-7][0-9]{4}|8[0-5][0-9]{3}|86[0-3][0-9]{2}|86400)s?|(?:[1-9][0-9]{0,2}|1[0-3][0-9]{2}|14[0-3][0-9]|1440)m|(?:[1-9]|1[0-9]|2[0-4])h|1d)$";

impl JsonSchema for KeyId {
    fn schema_name() -> Cow<'static, str> {
        "KeyId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A key's public id: `key_` and 16 base62 characters.",
            "pattern": "^key_[0-9A-Za-z]{16}$",
            "examples": ["key_4f9TqZ2LmN8xWb3K"],
        })
    }
}

impl JsonSchema for Scope {
    fn schema_name() -> Cow<'static, str> {
        "Scope".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "`resource:action`, `resource:*` (every action of the resource) or `admin` (everything); `admin` is never a resource.",
            "maxLength": MAX_SCOPE_LEN,
            "pattern": scope_pattern(),
            "examples": ["scans:read"],
        })
    }
}

impl JsonSchema for ScopeSet {
    fn schema_name() -> Cow<'static, str> {
        "ScopeSet".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "array",
            "description": "Scopes, sorted, without duplicates.",
            "items": generator.subschema_for::<Scope>(),
            "maxItems": crate::scope::MAX_SCOPES,
        })
    }
}

impl JsonSchema for Code {
    fn schema_name() -> Cow<'static, str> {
        "Code".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let codes: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        json_schema!({
            "type": "string",
            "description": "keyward's stable codes (the core's code table): added, never renamed.",
            "enum": codes,
        })
    }
}

impl JsonSchema for Period {
    fn schema_name() -> Cow<'static, str> {
        "Period".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A rolling period of 1 s to 1 day: `30s` (or `30`), `15m`, `1h`, `1d`.",
            "pattern": PERIOD_PATTERN,
            "examples": ["1m"],
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The patterns use only classes, alternation, groups, `?`, `*` and `{m,n}`, which the
    /// `regex` crate reads as ECMA-262 and Python do.
    fn matcher(pattern: &str) -> impl Fn(&str) -> bool + use<> {
        let re = regex::Regex::new(pattern).unwrap();
        move |s| re.is_match(s)
    }

    #[test]
    fn the_period_pattern_accepts_exactly_what_the_parser_does() {
        let matches = matcher(PERIOD_PATTERN);
        for n in 0..=90_000u32 {
            for unit in ["", "s", "m", "h", "d"] {
                let s = format!("{n}{unit}");
                assert_eq!(matches(&s), s.parse::<Period>().is_ok(), "{s}");
            }
        }
        for s in ["01m", "00", "", "1w", "m", "+5", " 5", "5 "] {
            assert!(!matches(s), "{s}");
            assert!(s.parse::<Period>().is_err(), "{s}");
        }
    }

    #[test]
    fn the_scope_pattern_accepts_exactly_what_the_parser_does() {
        let matches = matcher(&scope_pattern());
        let parts = [
            "", "a", "ad", "adm", "admi", "admin", "admins", "adx", "b", "scans", "x-y_z", "a1",
            "1a", "*", "A", "admim", "bdmin", "read",
        ];
        for r in parts {
            for a in parts {
                let s = format!("{r}:{a}");
                assert_eq!(matches(&s), Scope::parse(&s).is_ok(), "{s}");
            }
            assert_eq!(matches(r), Scope::parse(r).is_ok(), "{r}");
        }
    }
}
