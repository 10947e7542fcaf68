//! stepcache errors as JavaScript `Error` objects with a stable `name`.

use stepcache_core::{Error, ErrorKind};
use wasm_bindgen::JsValue;

/// A result whose error is a JavaScript value (an `Error`).
pub(crate) type JsResult<T> = Result<T, JsValue>;

/// The `Error` for `error`: `name` is the kind's stable name, `message` says what to fix.
pub(crate) fn to_js(error: Error) -> JsValue {
    let js = js_sys::Error::new(error.message());
    js.set_name(error.kind().name());
    js.into()
}

/// An error of `kind` with `message`.
pub(crate) fn err(kind: ErrorKind, message: impl Into<String>) -> Error {
    Error::new(kind, message)
}
