//! Opening and deleting the database. The requests, the schema's creation and upgrades,
//! and closing a connection when another tab needs to upgrade are `open` and
//! `deleteDatabase` of js/idb-store.js; their errors are made here.

use stepcache_core::entry::LIST_HEAD_LEN;
use stepcache_core::text;
use stepcache_core::{Error, ErrorKind, Result};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::error::{from_js, from_name};
use crate::{CHUNK, MAX_ENTRY_BYTES, js};

/// The schema version. Version 2: object stores `entries` (chunks keyed
/// `<hex>:<generation>:<number>`) and `heads` (listing records naming the generation),
/// out-of-line keys (js/idb-store.js describes the layout). A later version adds its
/// migration step to `open` in js/idb-store.js and keeps the earlier ones.
pub const SCHEMA_VERSION: u32 = 2;

/// Opens `name` at [`SCHEMA_VERSION`], creating or upgrading its object stores.
///
/// The connection closes itself on `versionchange`, so it never blocks another tab's
/// upgrade; the store then opens it again (and so upgrades, or fails clearly) on its
/// next call.
pub(crate) async fn open(name: &str) -> Result<js::Connection> {
    let opening = js::open(
        name,
        SCHEMA_VERSION,
        CHUNK as u32,
        MAX_ENTRY_BYTES as u32,
        LIST_HEAD_LEN as u32,
    );
    match JsFuture::from(opening).await {
        Ok(connection) => Ok(connection.unchecked_into()),
        Err(failure) => Err(failed("open the database", name, &failure)),
    }
}

/// Deletes the database `name`.
pub(crate) async fn delete(name: &str) -> Result<()> {
    match JsFuture::from(js::delete_database(name)).await {
        Ok(_) => Ok(()),
        Err(failure) => Err(failed("delete the database", name, &failure)),
    }
}

/// The error of an open or delete request of database `name`, for `op`, that rejected
/// with `failure` (a DOMException, or one of the strings BLOCKED, FOREIGN and
/// UNAVAILABLE of js/idb-store.js): a blocked request is a clear error, not a hang
/// (IndexedDB would wait until every other connection closed), and no IndexedDB is a
/// permission, not a storage failure.
fn failed(op: &str, name: &str, failure: &JsValue) -> Error {
    match failure.as_string().as_deref() {
        Some("blocked") => {
            return Error::new(
                ErrorKind::Blocked,
                text!(
                    "database \"",
                    name,
                    "\" is held open at an older schema version by another tab or worker; \
                     close or reload it, then try again"
                ),
            );
        }
        Some("foreign") => {
            return Error::new(
                ErrorKind::Storage,
                text!(
                    "database \"",
                    name,
                    "\" exists but is not a stepcache database (no \"entries\" and \"heads\" stores); \
                     use another name"
                ),
            );
        }
        Some("unavailable") => {
            let cause = from_name("open IndexedDB", "", "IndexedDB is not available here");
            return Error::new(ErrorKind::PermissionDenied, cause.message());
        }
        _ => {}
    }
    // `[reported, thrown]`: an upgrade step threw, and the upgrade was aborted.
    if let Some(pair) = failure.dyn_ref::<js_sys::Array>() {
        let err = from_js(op, &pair.get(0));
        let detail = from_js("upgrade", &pair.get(1));
        return Error::new(err.kind(), text!(err.message(), "; upgrade failed: ", detail.message()));
    }
    from_js(op, failure)
}
