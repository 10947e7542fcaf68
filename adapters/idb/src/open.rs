//! Opening and deleting a store of a [`Place`], and the IndexedDB place. For IndexedDB,
//! the requests, the schema's creation and upgrades, and closing a connection when
//! another tab needs to upgrade are `open` and `deleteDatabase` of js/idb-store.js;
//! every place's errors are made here.

use js_sys::Promise;
use stepcache_core::entry::LIST_HEAD_LEN;
use stepcache_core::text;
use stepcache_core::{Error, ErrorKind, Result};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::error::{from_js, from_name};
use crate::js::{self, Locks};
use crate::{CHUNK_BYTES, MAX_ENTRY_BYTES, Place};

/// The schema version. Version 2: object stores `entries` (chunks keyed
/// `<hex>:<generation>:<number>`) and `heads` (listing records naming the generation),
/// out-of-line keys (js/idb-store.js describes the layout). A later version adds its
/// migration step to `open` in js/idb-store.js and keeps the earlier ones.
pub const SCHEMA_VERSION: u32 = 2;

/// IndexedDB: each store a database of its name, at [`SCHEMA_VERSION`].
///
/// The connection closes itself on `versionchange`, so it never blocks another tab's
/// upgrade; the store then opens it again (and so upgrades, or fails clearly) on its
/// next call.
pub const INDEXED_DB: Place = Place::new("IndexedDB", "idb", open_database, js::delete_database);

/// Opens database `name` at [`SCHEMA_VERSION`], creating or upgrading its object stores,
/// as the connection that holds `locks`.
fn open_database(name: &str, locks: &Locks) -> Promise {
    js::open(
        name,
        SCHEMA_VERSION,
        CHUNK_BYTES as u32,
        MAX_ENTRY_BYTES as u32,
        LIST_HEAD_LEN as u32,
        locks,
    )
}

/// Opens store `name` of `place`: claims the connection's [`Locks`], then opens the
/// place with them.
pub(crate) async fn open(name: &str, place: Place) -> Result<js::Connection> {
    let locks: Locks = match JsFuture::from(js::claim(place.tag, name)).await {
        Ok(locks) => locks.unchecked_into(),
        Err(failure) => return Err(failed("open", name, place, &failure)),
    };
    match JsFuture::from((place.open)(name, &locks)).await {
        Ok(connection) => Ok(connection.unchecked_into()),
        Err(failure) => {
            locks.release();
            Err(failed("open", name, place, &failure))
        }
    }
}

/// Deletes store `name` of `place`.
pub(crate) async fn delete(name: &str, place: Place) -> Result<()> {
    match JsFuture::from((place.delete)(name)).await {
        Ok(_) => Ok(()),
        Err(failure) => Err(failed("delete", name, place, &failure)),
    }
}

/// The error of an open or delete request (`verb`) of store `name` of `place` that
/// rejected with `failure` (a DOMException, or one of the strings BLOCKED, FOREIGN and
/// UNAVAILABLE of js/idb-store.js, the last also of js/opfs-store.js): a blocked request
/// is a clear error, not a hang (IndexedDB would wait until every other connection
/// closed), and no such place is a permission, not a storage failure.
fn failed(verb: &str, name: &str, place: Place, failure: &JsValue) -> Error {
    let what = place.what();
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
            let cause = from_name(&text!("open ", what), "", &text!(what, " is not available here"));
            return Error::new(ErrorKind::PermissionDenied, cause.message());
        }
        _ => {}
    }
    let op = text!(verb, " store \"", name, "\" in ", what);
    // `[reported, thrown]`: an upgrade step threw, and the upgrade was aborted.
    if let Some(pair) = failure.dyn_ref::<js_sys::Array>() {
        let err = from_js(&op, &pair.get(0));
        let detail = from_js("upgrade", &pair.get(1));
        return Error::new(err.kind(), text!(err.message(), "; upgrade failed: ", detail.message()));
    }
    from_js(&op, failure)
}
