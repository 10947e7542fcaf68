//! IndexedDB failures as stepcache errors: the DOMException's name and message are copied
//! into the error, so no `JsValue` is ever kept in one.

use stepcache_core::{Error, ErrorKind};

/// The error for a DOMException `name` with `message`.
pub(crate) fn from_name(op: &str, name: &str, message: &str) -> Error {
    let kind = match name {
        "QuotaExceededError" => ErrorKind::StorageFull,
        "SecurityError" | "NotAllowedError" => ErrorKind::PermissionDenied,
        _ => ErrorKind::Storage,
    };
    let name = if name.is_empty() { "Error" } else { name };
    Error::new(kind, format!("{op}: {name}: {message}"))
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
