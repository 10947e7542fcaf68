//! The store's JavaScript side, `js/idb-store.js`: the layout of entries in IndexedDB and
//! every request made to it (that module's opening comment says why it is JavaScript).
//! Its answers come as Promises, which the store awaits.

use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/idb-store.js")]
extern "C" {
    /// An open database, with the layout's sizes (`Connection` in the module).
    #[derive(Clone)]
    pub(crate) type Connection;

    /// One put of an entry, under a generation of its own (`Put` in the module).
    pub(crate) type Put;

    /// Opens database `name` at schema `version`, creating or upgrading it, for entries
    /// cut into chunks of `chunk_bytes`, of at most `max_entry_bytes`, whose first
    /// `lead_bytes` listing records keep. Resolves to a [`Connection`]; rejects as
    /// `crate::open` reads it.
    pub(crate) fn open(name: &str, version: u32, chunk_bytes: u32, max_entry_bytes: u32, lead_bytes: u32) -> Promise;

    /// Deletes database `name`; rejects as [`open`] does.
    #[wasm_bindgen(js_name = deleteDatabase)]
    pub(crate) fn delete_database(name: &str) -> Promise;

    /// `[name, message]` of a thrown value: a DOMException's name, else `""`.
    pub(crate) fn describe(thrown: &JsValue) -> Array;

    /// Whether the connection closed itself because another tab or worker needed to
    /// upgrade or delete the database.
    #[wasm_bindgen(method, getter)]
    pub(crate) fn closed(this: &Connection) -> bool;

    /// Closes the connection.
    #[wasm_bindgen(method)]
    pub(crate) fn close(this: &Connection);

    /// Reads entry `hex`: `null` if there is none, `"damaged"` if its records disagree,
    /// else `[length, chunks]`, a Promise of each chunk's bytes in order (`null` for a
    /// damaged chunk), all asked already.
    #[wasm_bindgen(method)]
    pub(crate) fn read(this: &Connection, hex: &str) -> Promise;

    /// Bytes `start..end` of entry `hex`, cut short where it ends, as the pieces of the
    /// chunks that hold them; `null` if there is no whole entry or a chunk is damaged.
    #[wasm_bindgen(method, js_name = readRange)]
    pub(crate) fn read_range(this: &Connection, hex: &str, start: f64, end: f64) -> Promise;

    /// Begins a put of entry `hex` whose bytes after chunk 0 are `chunks` chunks.
    #[wasm_bindgen(method)]
    pub(crate) fn write(this: &Connection, hex: &str, chunks: u32) -> Put;

    /// Removes entry `hex`, every record of it, in one transaction.
    #[wasm_bindgen(method)]
    pub(crate) fn remove(this: &Connection, hex: &str) -> Promise;

    /// Lists every entry, or entry `only`, as `[hex, length, lead]` each, removing what is
    /// out of step on the way.
    #[wasm_bindgen(method)]
    pub(crate) fn list(this: &Connection, only: Option<&str>) -> Promise;

    /// `[transaction, bytes]`: the lasting counters' record (`null` if none), read in a
    /// new transaction, readwrite if `write`.
    #[wasm_bindgen(method)]
    pub(crate) fn counters(this: &Connection, write: bool) -> Promise;

    /// Replaces the lasting counters' record with `bytes` in `tx`, from [`counters`], and
    /// commits it.
    #[wasm_bindgen(method, js_name = saveCounters)]
    pub(crate) fn save_counters(this: &Connection, tx: &JsValue, bytes: &[u8]) -> Promise;

    /// Puts the next chunk, copied out of `bytes` at once: returns the Promise of the
    /// commit if the chunk ends a transaction, else `undefined`.
    #[wasm_bindgen(method, catch)]
    pub(crate) fn put(this: &Put, bytes: &[u8]) -> Result<JsValue, JsValue>;

    /// Puts chunk 0 (`head`, then the payload's `first` bytes, copied at once) and the
    /// listing record of an entry of `length` bytes, removes the version it replaces, and
    /// commits.
    #[wasm_bindgen(method)]
    pub(crate) fn finish(this: &Put, head: &[u8], first: &[u8], length: f64) -> Promise;

    /// Gives the put up and removes what it wrote; never rejects.
    #[wasm_bindgen(method)]
    pub(crate) fn abandon(this: &Put) -> Promise;
}
