//! IndexedDB failures as stepcache errors: the DOMException's name and message are copied
//! into the error, so no `JsValue` is ever kept in one.

use stepcache_core::text;
use stepcache_core::{Error, ErrorKind};
use wasm_bindgen::JsValue;

use crate::js;

/// The error of a DOMException (or any thrown value) met while doing `op`.
pub(crate) fn from_js(op: &str, value: &JsValue) -> Error {
    // Read in JavaScript (`describe` in js/idb-store.js): a DOMException's name and
    // message, any other Error's message, or a thrown string.
    let parts = js::describe(value);
    let part = |i| parts.get(i).as_string().unwrap_or_default();
    from_name(op, &part(0), &part(1))
}

/// The error of a request of the store's JavaScript side, made while doing `op`, that
/// rejected with `value`: as [`from_js`], and the module's own conditions (`null` for a
/// transaction that aborted with no error, the string REMOVED of js/idb-store.js).
pub(crate) fn from_store(op: &str, value: &JsValue) -> Error {
    if value.is_null() || value.is_undefined() {
        // A transaction aborted with no error given, neither its own nor a request's.
        return Error::new(ErrorKind::Storage, text!(op, ": transaction aborted"));
    }
    if value.as_string().as_deref() == Some("removed") {
        return Error::new(
            ErrorKind::Storage,
            text!(
                op,
                ": chunks written earlier were removed (by a clear, or as left behind)"
            ),
        );
    }
    from_js(op, value)
}

/// The error for a DOMException `name` with `message`.
pub(crate) fn from_name(op: &str, name: &str, message: &str) -> Error {
    let kind = match name {
        "QuotaExceededError" => ErrorKind::StorageFull,
        "SecurityError" | "NotAllowedError" => ErrorKind::PermissionDenied,
        _ => ErrorKind::Storage,
    };
    let name = if name.is_empty() { "Error" } else { name };
    let hint = match name {
        "VersionError" => {
            " (a newer stepcache upgraded this database; update this page's stepcache or use another database name)"
        }
        "QuotaExceededError" => " (the origin's storage quota is used up)",
        _ => "",
    };
    // Chromium's quota errors come with an empty message: no dangling ": " then.
    let sep = if message.is_empty() { "" } else { ": " };
    Error::new(kind, text!(op, ": ", name, sep, message, hint))
}
