//! The patterns of the API's text fields, stated exactly as the Worker checks them, for
//! the OpenAPI document's schemas.

/// A name, reason or action: 1 to N characters (the schema's `maxLength`), at least one
/// of them not white space, none a control character (`Cc`: U+0000 to U+001F and U+007F
/// to U+009F).
pub const TEXT: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$";

/// A user agent: no control characters (may be empty).
pub const NO_CONTROLS: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";

/// An owner: printable ASCII (space to `~`), at least one character not a space.
pub const OWNER: &str = "^[ -~]*[!-~][ -~]*$";

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
