//! The platform's KV, D1 and rate-limiting bindings called directly, their answers read
//! field by field ([`Fields`]).
//!
//! The `worker` crate decodes these answers (a KV listing and its metadata, a D1 result's
//! rows and `meta`, the limiter's outcome) with `serde_wasm_bindgen`'s `Deserializer`, one
//! instance per type, and turns every KV value into a `JsValue` through its `Serializer`
//! and a number check; calling the bindings here, as the `worker` crate itself does, leaves
//! `serde_wasm_bindgen`'s decoder out of the wasm. Only the bindings' documented fields are
//! read; one missing or of the wrong type is a [`worker::Error`].

use worker::js_sys::{Array, Function, Promise, Reflect};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{D1Database, D1PreparedStatement, Env, Headers, Request};

use crate::bindings::fields::{Builder, Fields};

/// Calls `this.method(...args)` and awaits its answer (a value that is not a promise is
/// the answer itself).
///
/// # Errors
/// No such method, or the call threw or was rejected.
async fn call(this: &JsValue, method: &str, args: &[&JsValue]) -> worker::Result<JsValue> {
    let function: Function = Reflect::get(this, &JsValue::from_str(method))?
        .dyn_into()
        .map_err(|_| worker::Error::RustError(format!("the binding has no method `{method}`")))?;
    let args: Array = args.iter().copied().collect();
    let answer = function.apply(this, &args)?;
    Ok(JsFuture::from(Promise::resolve(&answer)).await?)
}

/// A binding of the Worker's environment, untyped.
///
/// # Errors
/// The binding is not set.
fn binding(env: &Env, name: &str) -> worker::Result<JsValue> {
    let value = Reflect::get(env, &JsValue::from_str(name))?;
    if value.is_undefined() {
        return Err(worker::Error::RustError(format!("no binding `{name}`")));
    }
    Ok(value)
}

/// A KV namespace.
#[derive(Debug, Clone)]
pub struct Kv(JsValue);

/// One page of a KV listing: the keys' names and metadata, and the cursor of the next page.
#[derive(Debug)]
pub struct KvPage {
    /// Each key's name and its metadata (`None`: none stored).
    pub keys: Vec<(String, Option<Fields>)>,
    /// The cursor of the next page; `None` at the end.
    pub cursor: Option<String>,
}

impl Kv {
    /// The namespace bound as `name`.
    ///
    /// # Errors
    /// The binding is not set.
    pub fn of(env: &Env, name: &str) -> worker::Result<Self> {
        binding(env, name).map(Kv)
    }

    /// The text stored under `key`, if any, read through the edge cache for at most
    /// `cache_ttl` seconds when given.
    ///
    /// # Errors
    /// KV's.
    pub async fn text(&self, key: &str, cache_ttl: Option<u32>) -> worker::Result<Option<String>> {
        let mut options = Builder::new().str("type", "text");
        if let Some(ttl) = cache_ttl {
            options = options.num("cacheTtl", f64::from(ttl));
        }
        let value = call(&self.0, "get", &[&JsValue::from_str(key), &options.build()]).await?;
        Ok(value.as_string())
    }

    /// The texts stored under up to 100 `keys` in one operation; keys without a value are
    /// absent.
    ///
    /// # Errors
    /// KV's.
    pub async fn texts(&self, keys: &[String]) -> worker::Result<Vec<String>> {
        let names: Array = keys.iter().map(|k| JsValue::from_str(k)).collect();
        let options = Builder::new().str("type", "text").build();
        let map: worker::js_sys::Map = call(&self.0, "get", &[&names, &options])
            .await?
            .dyn_into()
            .map_err(|_| worker::Error::RustError("KV's bulk read is not a Map".into()))?;
        let mut texts = Vec::with_capacity(keys.len());
        map.for_each(&mut |value, _| {
            if let Some(text) = value.as_string() {
                texts.push(text);
            }
        });
        Ok(texts)
    }

    /// The metadata stored with `key`, if the key exists and has any.
    ///
    /// # Errors
    /// KV's.
    pub async fn metadata(&self, key: &str) -> worker::Result<Option<Fields>> {
        let options = Builder::new().str("type", "text").build();
        let answer = call(
            &self.0,
            "getWithMetadata",
            &[&JsValue::from_str(key), &options],
        )
        .await?;
        Ok(Fields::of(answer).opt_object("metadata"))
    }

    /// Stores `value` under `key`, with `metadata` when given.
    ///
    /// # Errors
    /// KV's.
    pub async fn put(
        &self,
        key: &str,
        value: &str,
        metadata: Option<Builder>,
    ) -> worker::Result<()> {
        let options = match metadata {
            Some(m) => Builder::new().set("metadata", m.build()),
            None => Builder::new(),
        }
        .build();
        call(
            &self.0,
            "put",
            &[&JsValue::from_str(key), &JsValue::from_str(value), &options],
        )
        .await?;
        Ok(())
    }

    /// Removes `key`.
    ///
    /// # Errors
    /// KV's.
    pub async fn delete(&self, key: &str) -> worker::Result<()> {
        call(&self.0, "delete", &[&JsValue::from_str(key)]).await?;
        Ok(())
    }

    /// One page of at most `limit` keys starting with `prefix`, from `cursor`.
    ///
    /// # Errors
    /// KV's, or an answer without its `keys`.
    pub async fn list(
        &self,
        prefix: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> worker::Result<KvPage> {
        let options = Builder::new()
            .str("prefix", prefix)
            .num("limit", f64::from(limit))
            .opt_str("cursor", cursor)
            .build();
        let page = Fields::of(call(&self.0, "list", &[&options]).await?);
        let keys = page
            .array("keys")?
            .iter()
            .map(|k| {
                let key = Fields::of(k);
                Ok((key.str("name")?, key.opt_object("metadata")))
            })
            .collect::<worker::Result<Vec<_>>>()?;
        let cursor = if page.bool("list_complete")? {
            None
        } else {
            page.opt_str("cursor")?
        };
        Ok(KvPage { keys, cursor })
    }
}

/// A D1 statement's result: its rows and its `meta`.
#[derive(Debug)]
pub struct Ran(Fields);

impl Ran {
    /// The result's rows, each to be read by [`Fields::read`] (none for a statement that
    /// returns none).
    ///
    /// # Errors
    /// `results` is present but not an array.
    pub fn rows(&self) -> worker::Result<Vec<Fields>> {
        if !self.0.has("results") {
            return Ok(Vec::new());
        }
        Ok(self.0.array("results")?.iter().map(Fields::of).collect())
    }

    /// Whether the statement changed a row (`meta.changes` above 0; an `INSERT OR IGNORE`
    /// that inserted).
    pub fn changed(&self) -> bool {
        self.0
            .opt_object("meta")
            .and_then(|m| m.opt_num("changes").ok().flatten())
            .is_some_and(|n| n > 0.0)
    }
}

/// Runs `statement`, returning its rows and `meta`.
///
/// # Errors
/// D1's.
pub async fn all(statement: &D1PreparedStatement) -> worker::Result<Ran> {
    let answer = call(statement.inner(), "all", &[]).await?;
    Ok(Ran(Fields::of(answer)))
}

/// Runs `statement`'s first row, if it has one.
///
/// # Errors
/// D1's.
pub async fn first(statement: &D1PreparedStatement) -> worker::Result<Option<Fields>> {
    let row = call(statement.inner(), "first", &[]).await?;
    Ok((!row.is_null() && !row.is_undefined()).then(|| Fields::of(row)))
}

/// Runs `statements` in one transaction (all or none), returning each one's result.
///
/// # Errors
/// D1's; nothing is stored then.
pub async fn batch(
    db: &D1Database,
    statements: &[D1PreparedStatement],
) -> worker::Result<Vec<Ran>> {
    let list: Array = statements
        .iter()
        .map(|s| JsValue::from(s.inner()))
        .collect();
    let answer = call(db.as_ref(), "batch", &[&list]).await?;
    let results: Array = answer
        .dyn_into()
        .map_err(|_| worker::Error::RustError("D1's batch answer is not an array".into()))?;
    Ok(results.iter().map(|r| Ran(Fields::of(r))).collect())
}

/// Counts one use of `key` against the rate-limiting binding `name`; whether it is within
/// the limit.
///
/// # Errors
/// The binding is not set, the call failed, or its answer has no `success`.
pub async fn within_limit(env: &Env, name: &str, key: &str) -> worker::Result<bool> {
    let limiter = binding(env, name)?;
    let options = Builder::new().str("key", key).build();
    let outcome = Fields::of(call(&limiter, "limit", &[&options]).await?);
    outcome.bool("success")
}

/// A request of `method` to `url` with `headers` and `body`, built on the platform's own
/// `Request`; `manual` leaves a redirect unfollowed. (The `worker` crate's `RequestInit`
/// converts its Cloudflare properties, image resizing among them, on every request: code
/// this Worker, which sets none, need not carry.)
///
/// # Errors
/// The URL or the method is not valid.
pub fn request(
    url: &str,
    method: &str,
    headers: Option<&Headers>,
    body: Option<&JsValue>,
    manual: bool,
) -> worker::Result<Request> {
    let init = worker::web_sys::RequestInit::new();
    init.set_method(method);
    if let Some(h) = headers {
        init.set_headers(h.as_ref());
    }
    if let Some(b) = body {
        init.set_body(b);
    }
    if manual {
        init.set_redirect(worker::web_sys::RequestRedirect::Manual);
    }
    Ok(worker::web_sys::Request::new_with_str_and_init(url, &init)?.into())
}
