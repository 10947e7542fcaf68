//! IndexedDB failures as stepcache errors: the DOMException's name and message are copied
//! into the error, so no `JsValue` is ever kept in one.

use stepcache_core::text;
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
    // Chromium's quota errors come with an empty message: no dangling ": " then.
    let sep = if message.is_empty() { "" } else { ": " };
    Error::new(kind, text!(op, ": ", name, sep, message, hint))
}

/// The error of a failure reported by the `idb` crate.
///
/// Read by variant, not through the crate's `Display`: most variants carry the
/// DOMException or value that was thrown, which [`from_js`] classifies by its name (a
/// `QuotaExceededError` inside `AddFailed` is `StorageFull`), and leaving `Display` out
/// keeps the crate's forty message templates out of the npm package's .wasm.
pub(crate) fn from_idb(op: &str, error: idb::Error) -> Error {
    use idb::Error as E;
    let text = match &error {
        E::DomException(ex) => return from_name(op, &ex.name(), &ex.message()),
        E::AddFailed(v)
        | E::ClearFailed(v)
        | E::CountFailed(v)
        | E::CursorAdvanceFailed(v)
        | E::CursorContinueFailed(v)
        | E::CursorKeyNotFound(v)
        | E::CursorPrimaryKeyNotFound(v)
        | E::CursorValueNotFound(v)
        | E::DeleteFailed(v)
        | E::GetAllFailed(v)
        | E::GetAllKeysFailed(v)
        | E::GetFailed(v)
        | E::GetKeyFailed(v)
        | E::IndexCreateFailed(v)
        | E::IndexDeleteFailed(v)
        | E::IndexedDbDeleteFailed(v)
        | E::IndexedDbOpenFailed(v)
        | E::IndexNotFound(v)
        | E::KeyPathNotFound(v)
        | E::KeyRangeBoundNotFound(v)
        | E::KeyRangeCreateFailed(v)
        | E::KeyRangeIncludesFailed(v)
        | E::ObjectStoreCreateFailed(v)
        | E::ObjectStoreDeleteFailed(v)
        | E::ObjectStoreNotFound(v)
        | E::OpenCursorFailed(v)
        | E::OpenKeyCursorFailed(v)
        | E::RequestErrorNotFound(v)
        | E::RequestResultNotFound(v)
        | E::TransactionAbortError(v)
        | E::TransactionCommitError(v)
        | E::TransactionModeNotFound(v)
        | E::TransactionOpenFailed(v)
        | E::UnexpectedJsType(_, v)
        | E::UpdateFailed(v)
            if !v.is_undefined() && !v.is_null() =>
        {
            return from_js(op, v);
        }
        E::IndexedDbNotFound(_) => "IndexedDB is not available here",
        E::CursorFinished => "cursor is finished",
        E::OneshotChannelReceiveError => "the request was dropped before it answered",
        _ => "IndexedDB answered in a way the idb crate did not expect",
    };
    from_name(op, "", text)
}
