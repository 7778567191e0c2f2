//! D1 rows and queue messages, read and written field by field on the JS object.
//!
//! `serde_wasm_bindgen` decodes a JS object through one `Deserializer` instance per Rust
//! type (and writes one through a `Serializer` instance per type); these few readers and
//! one writer do the same for every type, which the Worker's size pays for once. Rows come
//! from this Worker's own tables and messages from its own producers: a field that is
//! missing or of the wrong type is a [`worker::Error`], never a default.

use keyward_core::chrono::{DateTime, Utc};
use worker::js_sys::{Array, Object, Reflect};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::{D1PreparedStatement, QueueContentType, RawMessageBuilder, SendMessage};

use crate::bindings::platform;

/// One JS object, read by field name.
#[derive(Debug)]
pub struct Fields(JsValue);

/// A type read from one JS object.
pub trait FromFields: Sized {
    /// Reads the fields.
    ///
    /// # Errors
    /// A field missing or of the wrong type.
    fn from_fields(f: &Fields) -> worker::Result<Self>;
}

fn wrong(name: &str, expected: &str) -> worker::Error {
    worker::Error::RustError(format!("field `{name}`: expected {expected}"))
}

impl Fields {
    /// The object `value`.
    pub fn of(value: JsValue) -> Self {
        Fields(value)
    }

    /// Reads `T` from the object.
    ///
    /// # Errors
    /// [`FromFields::from_fields`]'s.
    pub fn read<T: FromFields>(&self) -> worker::Result<T> {
        T::from_fields(self)
    }

    /// Whether the object has the field `name` (own or inherited).
    pub fn has(&self, name: &str) -> bool {
        Reflect::has(&self.0, &JsValue::from_str(name)).unwrap_or(false)
    }

    /// The field, `None` when missing, `undefined` or `null`.
    fn get(&self, name: &str) -> Option<JsValue> {
        Reflect::get(&self.0, &JsValue::from_str(name))
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
    }

    /// A string field, or none.
    ///
    /// # Errors
    /// Present but not a string.
    pub fn opt_str(&self, name: &str) -> worker::Result<Option<String>> {
        self.get(name)
            .map(|v| v.as_string().ok_or_else(|| wrong(name, "a string")))
            .transpose()
    }

    /// A string field.
    ///
    /// # Errors
    /// Missing or not a string.
    pub fn str(&self, name: &str) -> worker::Result<String> {
        self.opt_str(name)?.ok_or_else(|| wrong(name, "a string"))
    }

    /// A number field, or none.
    ///
    /// # Errors
    /// Present but not a number.
    pub fn opt_num(&self, name: &str) -> worker::Result<Option<f64>> {
        self.get(name)
            .map(|v| v.as_f64().ok_or_else(|| wrong(name, "a number")))
            .transpose()
    }

    /// A number field.
    ///
    /// # Errors
    /// Missing or not a number.
    pub fn num(&self, name: &str) -> worker::Result<f64> {
        self.opt_num(name)?.ok_or_else(|| wrong(name, "a number"))
    }

    /// A boolean field.
    ///
    /// # Errors
    /// Missing or not a boolean.
    pub fn bool(&self, name: &str) -> worker::Result<bool> {
        self.get(name)
            .and_then(|v| v.as_bool())
            .ok_or_else(|| wrong(name, "a boolean"))
    }

    /// An array field.
    ///
    /// # Errors
    /// Missing or not an array.
    pub fn array(&self, name: &str) -> worker::Result<Array> {
        self.get(name)
            .and_then(|v| v.dyn_into::<Array>().ok())
            .ok_or_else(|| wrong(name, "an array"))
    }

    /// An object field (anything but a string, number or boolean), or none.
    pub fn opt_object(&self, name: &str) -> Option<Fields> {
        self.get(name).filter(JsValue::is_object).map(Fields)
    }

    /// A whole number field up to `max`, or none.
    ///
    /// # Errors
    /// Present but not a whole number from 0 to `max`.
    fn opt_whole(&self, name: &str, max: u32) -> worker::Result<Option<u32>> {
        self.opt_num(name)?
            .map(|n| {
                if n.fract() == 0.0 && (0.0..=f64::from(max)).contains(&n) {
                    Ok(n as u32)
                } else {
                    Err(wrong(name, "a whole number in range"))
                }
            })
            .transpose()
    }

    /// A `u32` field.
    ///
    /// # Errors
    /// Missing, or not a whole number that fits.
    pub fn u32(&self, name: &str) -> worker::Result<u32> {
        self.opt_whole(name, u32::MAX)?
            .ok_or_else(|| wrong(name, "a number"))
    }

    /// A `u16` field, or none.
    ///
    /// # Errors
    /// Present but not a whole number that fits.
    pub fn opt_u16(&self, name: &str) -> worker::Result<Option<u16>> {
        Ok(self.opt_whole(name, u16::MAX.into())?.map(|n| n as u16))
    }

    /// An RFC 3339 time field.
    ///
    /// # Errors
    /// Missing, not a string, or not RFC 3339.
    pub fn time(&self, name: &str) -> worker::Result<DateTime<Utc>> {
        keyward_core::time::parse_rfc3339(&self.str(name)?)
            .map_err(|e| worker::Error::RustError(format!("field `{name}`: {e}")))
    }

    /// A field read by `parse` from its string: one of a set of names.
    ///
    /// # Errors
    /// Missing, not a string, or not a name `parse` knows.
    pub fn named<T>(&self, name: &str, parse: impl Fn(&str) -> Option<T>) -> worker::Result<T> {
        parse(&self.str(name)?).ok_or_else(|| wrong(name, "a known name"))
    }
}

/// A statement's rows, read as `T`.
///
/// # Errors
/// D1's, or a row that cannot be read.
pub async fn all<T: FromFields>(statement: D1PreparedStatement) -> worker::Result<Vec<T>> {
    platform::all(&statement)
        .await?
        .rows()?
        .iter()
        .map(Fields::read)
        .collect()
}

/// A statement's first row, read as `T`, if it has one.
///
/// # Errors
/// D1's, or a row that cannot be read.
pub async fn first<T: FromFields>(statement: D1PreparedStatement) -> worker::Result<Option<T>> {
    platform::first(&statement)
        .await?
        .map(|r| r.read())
        .transpose()
}

/// A JS object written field by field: what a queue message is sent as.
#[derive(Debug)]
pub struct Builder(Object);

impl Builder {
    /// An empty object.
    pub fn new() -> Self {
        Builder(Object::new())
    }

    /// Sets `name` to `value`.
    pub fn set(self, name: &str, value: JsValue) -> Self {
        // Setting a property on a plain object cannot fail.
        let _ = Reflect::set(&self.0, &JsValue::from_str(name), &value);
        self
    }

    /// Sets `name` to the string `value`.
    pub fn str(self, name: &str, value: &str) -> Self {
        self.set(name, JsValue::from_str(value))
    }

    /// Sets `name` to the string `value`, or leaves it out.
    pub fn opt_str(self, name: &str, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.str(name, v),
            None => self,
        }
    }

    /// Sets `name` to the number `value`.
    pub fn num(self, name: &str, value: f64) -> Self {
        self.set(name, JsValue::from_f64(value))
    }

    /// The object.
    pub fn build(self) -> JsValue {
        self.0.into()
    }

    /// The object as a queue message (JSON content, as `Queue::send` sends a Rust
    /// value), sent `delay_seconds` later if given.
    pub fn message(self, delay_seconds: Option<u32>) -> SendMessage<JsValue> {
        let builder = RawMessageBuilder::new(self.build());
        match delay_seconds {
            Some(d) => builder.delay_seconds(d),
            None => builder,
        }
        .build_with_content_type(QueueContentType::Json)
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}
