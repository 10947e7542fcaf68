//! IndexedDB failures as stepcache errors: the DOMException's name and message are copied
//! into the error, so no `JsValue` is ever kept in one.

use stepcache_core::{Error, ErrorKind};
use wasm_bindgen::{JsCast, JsValue};

/// The error of a DOMException (or any thrown value) met while doing `op`.
pub(crate) fn from_js(op: &str, value: &JsValue) -> Error {
    match value.dyn_ref::<web_sys::DomException>() {
        Some(ex) => from_name(op, &ex.name(), &ex.message()),
        None => {
            let text = match value.dyn_ref::<js_sys::Error>() {
                Some(e) => String::from(e.message()),
                // Not `{value:?}`: that alone links the JS debug printer into the .wasm.
                None => value
                    .as_string()
                    .unwrap_or_else(|| String::from("a thrown value that is not an Error")),
            };
            from_name(op, "", &text)
        }
    }
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
    Error::new(kind, format!("{op}: {name}: {message}{hint}"))
}

/// The error of a failure reported by the `idb` crate.
pub(crate) fn from_idb(op: &str, error: idb::Error) -> Error {
    match &error {
        idb::Error::DomException(ex) => from_name(op, &ex.name(), &ex.message()),
        other => {
            let text = other.to_string();
            // The crate renders DOMExceptions it wraps as "...: Name: message".
            let name = ["QuotaExceededError", "SecurityError", "NotAllowedError"]
                .into_iter()
                .find(|n| text.contains(n))
                .unwrap_or("");
            from_name(op, name, &text)
        }
    }
}
