//! The store's JavaScript side: the connection interface a place's module implements
//! (`js/idb-store.js` here, `js/opfs-store.js` in stepcache-opfs), and the IndexedDB
//! module's own functions (that module's opening comment says why it is JavaScript).
//! Answers come as Promises, which the store awaits.

use js_sys::{Array, Promise};
use wasm_bindgen::prelude::*;

// Methods are called on the object itself (`connection.read(...)`), so one declaration
// serves every place's module.
#[wasm_bindgen]
extern "C" {
    /// An open store of a place, with the layout's sizes (`Connection` in each module).
    #[derive(Clone)]
    pub(crate) type Connection;

    /// One put of an entry (`Put` in js/idb-store.js, `HandlePut` or `WritablePut` in
    /// js/opfs-store.js).
    pub(crate) type Put;

    /// A file being read straight into WebAssembly memory (`HandleSource` in
    /// js/opfs-store.js), as `Connection::read` may answer instead of chunks.
    pub(crate) type Source;

    /// Whether the connection closed itself because another tab or worker needed to
    /// upgrade or delete the database.
    #[wasm_bindgen(method, getter)]
    pub(crate) fn closed(this: &Connection) -> bool;

    /// Closes the connection.
    #[wasm_bindgen(method)]
    pub(crate) fn close(this: &Connection);

    /// Reads entry `hex`: `null` if there is none, `"damaged"` if its records disagree,
    /// else `[length, chunks]`: a Promise of each chunk's bytes in order (`null` for a
    /// damaged chunk), all asked already; or a [`Source`] to read the bytes from.
    #[wasm_bindgen(method)]
    pub(crate) fn read(this: &Connection, hex: &str) -> Promise;

    /// Bytes `start..end` of entry `hex`, cut short where it ends, as pieces in order;
    /// `null` if there is no whole entry or a piece is damaged.
    #[wasm_bindgen(method, js_name = readRange)]
    pub(crate) fn read_range(this: &Connection, hex: &str, start: f64, end: f64) -> Promise;

    /// Begins a put of entry `hex` of `length` bytes, whose bytes after chunk 0 are `chunks`
    /// chunks; resolves to a [`Put`].
    #[wasm_bindgen(method)]
    pub(crate) fn write(this: &Connection, hex: &str, chunks: u32, length: f64) -> Promise;

    /// Removes entry `hex`, every record of it, at once.
    #[wasm_bindgen(method)]
    pub(crate) fn remove(this: &Connection, hex: &str) -> Promise;

    /// Lists every entry, or entry `only`, as `[hex, length, lead]` each, removing what is
    /// out of step on the way.
    #[wasm_bindgen(method)]
    pub(crate) fn list(this: &Connection, only: Option<&str>) -> Promise;

    /// `[token, bytes]`: the lasting counters' bytes (`null` if none), and what
    /// [`save_counters`] needs to finish the update if `write` (a transaction, or a held
    /// lock).
    #[wasm_bindgen(method)]
    pub(crate) fn counters(this: &Connection, write: bool) -> Promise;

    /// Replaces the lasting counters' bytes with `bytes`, finishing the update `token`
    /// from [`counters`] began.
    #[wasm_bindgen(method, js_name = saveCounters)]
    pub(crate) fn save_counters(this: &Connection, token: &JsValue, bytes: &[u8]) -> Promise;

    /// Puts the next chunk, taken from `bytes` at once: returns a Promise to wait for
    /// before the next (the commit of a transaction), or `undefined`.
    #[wasm_bindgen(method, catch)]
    pub(crate) fn put(this: &Put, bytes: &[u8]) -> Result<JsValue, JsValue>;

    /// Puts chunk 0 (`head`, then the payload's `first` bytes, taken at once) of an entry
    /// of `length` bytes, makes the put the entry, replacing the version before, and
    /// resolves once it is.
    #[wasm_bindgen(method)]
    pub(crate) fn finish(this: &Put, head: &[u8], first: &[u8], length: f64) -> Promise;

    /// Gives the put up and removes what it wrote; never rejects.
    #[wasm_bindgen(method)]
    pub(crate) fn abandon(this: &Put) -> Promise;

    /// Reads the file's bytes from `at` into `into`; returns how many were read. Throws
    /// what the file throws.
    #[wasm_bindgen(method, catch, js_name = readInto)]
    pub(crate) fn read_into(this: &Source, into: &mut [u8], at: f64) -> Result<u32, JsValue>;

    /// Releases the file.
    #[wasm_bindgen(method, js_name = close)]
    pub(crate) fn release(this: &Source);
}

#[wasm_bindgen(module = "/js/locks.js")]
extern "C" {
    /// What one connection to a store shares with every other tab and worker of the
    /// origin, whatever the place: the names of its Web Locks and channels, and the lock
    /// that shows it is alive (`Locks` in js/locks.js, which says why). The store claims
    /// them before it opens its place, and hands them to the place's `open`.
    pub type Locks;

    /// Claims the locks of a new connection to store `name` of place `place` (a
    /// [`crate::Place`]'s tag); resolves to [`Locks`], never rejects.
    pub(crate) fn claim(place: &str, name: &str) -> Promise;

    /// Gives the connection's owner lock back (the place's `open` failed).
    #[wasm_bindgen(method, js_name = close)]
    pub(crate) fn release(this: &Locks);
}

#[wasm_bindgen(module = "/js/idb-store.js")]
extern "C" {
    /// Opens database `name` at schema `version`, creating or upgrading it, for entries
    /// cut into chunks of `chunk_bytes`, of at most `max_entry_bytes`, whose first
    /// `lead_bytes` listing records keep, as the connection that holds `locks`. Resolves
    /// to a [`Connection`]; rejects as `crate::open` reads it.
    pub(crate) fn open(
        name: &str,
        version: u32,
        chunk_bytes: u32,
        max_entry_bytes: u32,
        lead_bytes: u32,
        locks: &Locks,
    ) -> Promise;

    /// Deletes database `name`; rejects as [`open`] does.
    #[wasm_bindgen(js_name = deleteDatabase)]
    pub(crate) fn delete_database(name: &str) -> Promise;

    /// `[name, message]` of a thrown value: a DOMException's name, else `""`.
    pub(crate) fn describe(thrown: &JsValue) -> Array;
}
