#![doc = include_str!("../README.md")]
// OPFS exists only in browsers: natively this crate is empty.
#![cfg(target_family = "wasm")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

use js_sys::Promise;
use stepcache_core::entry::LIST_HEAD_LEN;
use stepcache_idb::{CHUNK_BYTES, Locks, MAX_ENTRY_BYTES, Place};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/opfs-store.js")]
extern "C" {
    /// Opens store `name` (see js/opfs-store.js), for entries read and written in pieces
    /// of `chunk_bytes`, of at most `max_entry_bytes`, whose first `lead_bytes` listings
    /// give, as the connection that holds `locks`.
    #[wasm_bindgen(js_name = open)]
    fn open_store(name: &str, chunk_bytes: u32, max_entry_bytes: u32, lead_bytes: u32, locks: &Locks) -> Promise;

    /// Deletes store `name` and everything in it.
    #[wasm_bindgen(js_name = deleteStore)]
    fn delete_store(name: &str) -> Promise;

    /// Whether OPFS is usable here; resolves to a boolean, never rejects.
    #[wasm_bindgen(js_name = available)]
    fn available_here() -> Promise;
}

/// The origin private file system: each store a directory of it, each entry one file.
pub const OPFS: Place = Place::new("the origin private file system", "opfs", open, delete_store);

/// Opens store `name` with the layout's sizes, as the connection that holds `locks`.
fn open(name: &str, locks: &Locks) -> Promise {
    open_store(
        name,
        CHUNK_BYTES as u32,
        MAX_ENTRY_BYTES as u32,
        LIST_HEAD_LEN as u32,
        locks,
    )
}

/// Whether OPFS is usable here (a page or worker of a browser that has it, with storage
/// allowed).
pub async fn available() -> bool {
    wasm_bindgen_futures::JsFuture::from(available_here())
        .await
        .is_ok_and(|answer| answer.is_truthy())
}
