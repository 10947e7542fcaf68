#![doc = include_str!("../README.md")]
// IndexedDB exists only in browsers: natively this crate is empty.
#![cfg(target_family = "wasm")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod http;
mod js;
mod lock;
mod open;
mod write;

use std::cell::RefCell;
use std::ops::Range;

use js_sys::{Array, Promise, Uint8Array};
use stepcache_core::entry::{EntryReader, EntryWriter, PayloadCheck};
use stepcache_core::{
    AlignedBytes, Error, ErrorKind, Fingerprint, Listed, LockGuard, Result, SharedBytes, Store, text,
};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use error::from_store;

pub use http::HttpStore;
pub use js::Locks;
pub use open::{INDEXED_DB, SCHEMA_VERSION};

/// The piece an entry is read and written in: IndexedDB keeps entries in records of
/// 4 MiB (js/idb-store.js says why), cut where [`EntryWriter::pieces`] cuts them, and
/// other places read and write in pieces of the same size.
pub const CHUNK_BYTES: usize = 4 << 20;

/// Where a [`WebStore`] keeps its entries: IndexedDB ([`INDEXED_DB`]), or the origin
/// private file system (`stepcache_opfs::OPFS`).
///
/// A place is its JavaScript module's `open` and `delete`: `open(name, locks)` resolves
/// to a connection to store `name` that holds [`Locks`], an object with the methods of
/// js/idb-store.js's `Connection` (`read`, `readRange`, `write`, `remove`, `list`,
/// `counters`, `saveCounters`, `close` and `closed`), which the store drives.
#[derive(Clone, Copy)]
pub struct Place {
    what: &'static str,
    tag: &'static str,
    open: fn(&str, &Locks) -> Promise,
    delete: fn(&str) -> Promise,
}

impl Place {
    /// The place `what` (how errors name it, e.g. "IndexedDB") whose stores `open` opens
    /// and `delete` deletes, each by name, as Promises; a rejection is a DOMException or
    /// the string `"unavailable"` (no such place here), or for IndexedDB one of
    /// js/idb-store.js's. `tag` (e.g. "idb") tells its stores' Web Locks and channels
    /// from other places' of the same name: they begin `stepcache-<tag>:<name>:`.
    pub const fn new(
        what: &'static str,
        tag: &'static str,
        open: fn(&str, &Locks) -> Promise,
        delete: fn(&str) -> Promise,
    ) -> Self {
        Place {
            what,
            tag,
            open,
            delete,
        }
    }

    /// How errors name the place.
    pub fn what(&self) -> &'static str {
        self.what
    }
}

impl std::fmt::Debug for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.what)
    }
}

/// A [`Store`] in the current origin's storage: an IndexedDB database, or a directory of
/// the origin private file system (its [`Place`]).
///
/// Works in a Window and in a dedicated Web Worker (the place is found through the global
/// scope). Each call is finished before it returns.
pub struct WebStore {
    name: String,
    place: Place,
    connection: RefCell<Option<js::Connection>>,
    /// The function that requests Web Locks (see [`WebStore::set_locking`]).
    locking: Option<js_sys::Function>,
}

impl std::fmt::Debug for WebStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebStore")
            .field("name", &self.name)
            .field("place", &self.place)
            .finish_non_exhaustive()
    }
}

/// The largest entry (header and payload) the store keeps: 1 GiB.
///
/// The npm package copies a value into WebAssembly memory to store it and assembles an
/// entry there to read it, and a 32-bit module has at most 4 GiB of memory for both, the
/// memory tier and everything else; `index.js` refuses larger values before copying them.
pub const MAX_ENTRY_BYTES: usize = 1 << 30;

/// [`ErrorKind::TooLarge`] for an entry of `total` bytes over [`MAX_ENTRY_BYTES`].
fn check_size(total: usize) -> Result<()> {
    if total <= MAX_ENTRY_BYTES {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::TooLarge,
        text!(
            "an entry of ",
            total,
            " bytes is over the browser limit of 1 GiB (",
            MAX_ENTRY_BYTES,
            " bytes)"
        ),
    ))
}

impl WebStore {
    /// Opens (creating or upgrading it as needed) the store `name` in `place`.
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`] where the place is unavailable (no IndexedDB or
    /// OPFS here, some private modes), [`ErrorKind::Blocked`] if another tab's connection
    /// to an older IndexedDB schema version blocks the upgrade, or [`ErrorKind::Storage`].
    pub async fn open(name: &str, place: Place) -> Result<Self> {
        let store = WebStore {
            name: name.to_owned(),
            place,
            connection: RefCell::new(None),
            locking: None,
        };
        store.database().await?;
        Ok(store)
    }

    /// The store's name (a database name in IndexedDB).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the store keeps its entries.
    pub fn place(&self) -> Place {
        self.place
    }

    /// Takes Web Locks through `request` (`None`, the default: no locks; tabs and workers
    /// asking for one missing key at once may then each compute it).
    ///
    /// `request(name)` asks for the exclusive lock `name` and returns a Promise of the
    /// function that releases it once granted (`undefined` where Web Locks are
    /// unavailable), or a rejected one if the request fails. The embedder makes the
    /// request, so it can also release every lock it handed out, and withdraw requests.
    pub fn set_locking(&mut self, request: Option<js_sys::Function>) {
        self.locking = request;
    }

    /// Closes the connection; the next call opens it again.
    pub fn close(&self) {
        if let Some(connection) = self.connection.borrow_mut().take() {
            connection.close();
        }
    }

    /// Deletes the store `name` of `place` and everything in it.
    ///
    /// # Errors
    /// [`ErrorKind::Blocked`] while a connection to an IndexedDB database is open
    /// elsewhere, [`ErrorKind::PermissionDenied`] where the place is unavailable, or
    /// [`ErrorKind::Storage`] (an OPFS file being read or written elsewhere).
    pub async fn delete(name: &str, place: Place) -> Result<()> {
        open::delete(name, place).await
    }

    /// The open connection, opened again if a schema change elsewhere closed it.
    async fn database(&self) -> Result<js::Connection> {
        if let Some(connection) = self.connection.borrow().as_ref().filter(|c| !c.closed()) {
            return Ok(connection.clone());
        }
        let connection = open::open(&self.name, self.place).await?;
        *self.connection.borrow_mut() = Some(connection.clone());
        Ok(connection)
    }
}

/// Pushes `chunks` (Promises of each chunk's bytes, or `null` for a damaged one) into
/// `reader` in order, each copied once, from JavaScript into its place.
async fn read_chunks(reader: &mut EntryReader, chunks: Array) -> std::result::Result<(), JsValue> {
    // Every answer watched before any is awaited, so none is left unhandled if an earlier
    // one fails.
    let chunks: Vec<JsFuture> = chunks
        .iter()
        .map(|chunk| JsFuture::from(chunk.unchecked_into::<Promise>()))
        .collect();
    for chunk in chunks {
        let part = chunk.await?;
        if part.is_null() {
            reader.damage();
        } else {
            let part: Uint8Array = part.unchecked_into();
            reader.push_with(part.length() as usize, |into| part.copy_to(into));
        }
    }
    Ok(())
}

/// Reads all that `reader` expects from `source`, [`CHUNK_BYTES`] at a time; a short
/// read marks the entry damaged.
fn read_source(reader: &mut EntryReader, source: &js::Source) -> std::result::Result<(), JsValue> {
    let mut at = 0;
    while reader.remaining() > 0 {
        let len = reader.remaining().min(CHUNK_BYTES);
        let mut read = Ok(0);
        reader.push_with(len, |into| read = source.read_into(into, at as f64));
        if read? as usize != len {
            reader.damage();
            return Ok(());
        }
        at += len;
    }
    Ok(())
}

/// What the errors of the lasting counters' requests say was being done.
const COUNTERS_OP: &str = "keep the lasting counters";

/// The lasting counters' bytes, and the transaction of `db` (readwrite if `write`) that
/// read them.
async fn counters(db: &js::Connection, write: bool) -> Result<(JsValue, Option<Vec<u8>>)> {
    let answer = JsFuture::from(db.counters(write))
        .await
        .map_err(|e| from_store(COUNTERS_OP, &e))?;
    let answer: Array = answer.unchecked_into();
    let bytes = answer.get(1);
    // Anything but bytes reads as no counters; the engine checks the bytes themselves.
    let bytes = (!bytes.is_null()).then(|| bytes.unchecked_into::<Uint8Array>().to_vec());
    Ok((answer.get(0), bytes))
}

/// The listings of every entry, or of entry `only`, in `db`.
async fn listings(db: &js::Connection, only: Option<&Fingerprint>) -> Result<Vec<Listed>> {
    let only = only.map(Fingerprint::to_hex);
    let rows = JsFuture::from(db.list(only.as_deref()))
        .await
        .map_err(|e| from_store("list entries", &e))?;
    let rows: Array = rows.unchecked_into();
    Ok(rows
        .iter()
        .filter_map(|row| {
            let row: Array = row.unchecked_into();
            Some(Listed {
                id: text!("b3:", row.get(0).as_string()?).parse().ok()?,
                len: row.get(1).as_f64()? as u64,
                head: row.get(2).unchecked_into::<Uint8Array>().to_vec(),
            })
        })
        .collect())
}

impl Store for WebStore {
    type Bytes = AlignedBytes;

    /// The bytes [`Store::get_entry`] reads; its checksum is not needed here.
    async fn get(&self, id: &Fingerprint) -> Result<Option<AlignedBytes>> {
        Ok(self.get_entry(id).await?.map(|(bytes, _)| bytes))
    }

    /// Reads the entry as its place delivers it: in IndexedDB, the listing record and the
    /// chunk keys, then the chunks of the generation the listing names, one request each,
    /// all asked for at once, so that while IndexedDB delivers the later ones, the earlier
    /// ones are copied into WebAssembly memory and their payload bytes checksummed; from
    /// an OPFS file, piece by piece straight into WebAssembly memory, each checksummed
    /// while it is fresh in the processor's caches. Verifying costs little more than
    /// reading.
    ///
    /// An entry whose records disagree (chunks without a listing, a listing whose chunks
    /// are missing or too many, a chunk that is not bytes, a file shorter than it said)
    /// reads as damaged: no bytes, which the engine's entry check rejects, so that it
    /// removes the entry as a whole.
    async fn get_entry(&self, id: &Fingerprint) -> Result<Option<(AlignedBytes, Option<PayloadCheck>)>> {
        let db = self.database().await?;
        let e = |err| from_store("read an entry", &err);
        let found = JsFuture::from(db.read(&id.to_hex())).await.map_err(e)?;
        if found.is_null() {
            return Ok(None);
        }
        let Some(found) = found.dyn_ref::<Array>() else {
            return Ok(Some((AlignedBytes::zeroed(0), None)));
        };
        let len = found.get(0).as_f64().unwrap_or_default() as usize;
        let mut reader = EntryReader::new(len);
        let source = found.get(1);
        if Array::is_array(&source) {
            read_chunks(&mut reader, source.unchecked_into()).await.map_err(e)?;
        } else {
            let source: js::Source = source.unchecked_into();
            let read = read_source(&mut reader, &source);
            source.release();
            read.map_err(e)?;
        }
        Ok(Some(reader.finish()))
    }

    /// Reads only the chunks that hold `range`, in one transaction. An entry whose
    /// records disagree, or a damaged chunk, reads as no entry: the engine then reads
    /// the entry whole, and finds out.
    async fn get_range(&self, id: &Fingerprint, range: Range<usize>) -> Result<Option<SharedBytes>> {
        let db = self.database().await?;
        let asked = db.read_range(&id.to_hex(), range.start as f64, range.end as f64);
        let parts = JsFuture::from(asked)
            .await
            .map_err(|e| from_store("read an entry", &e))?;
        if parts.is_null() {
            return Ok(None);
        }
        let parts: Vec<Uint8Array> = parts
            .unchecked_into::<Array>()
            .iter()
            .map(JsCast::unchecked_into)
            .collect();
        // Aligned, so that a region's values are viewed in place, as a whole entry's are.
        let mut bytes = AlignedBytes::zeroed(parts.iter().map(|p| p.length() as usize).sum());
        let mut at = 0;
        for part in parts {
            let end = at + part.length() as usize;
            part.copy_to(&mut bytes.as_mut_slice()[at..end]);
            at = end;
        }
        Ok(Some(SharedBytes::from_owner(bytes)))
    }

    /// Writes the entry in chunks, hashing the payload while IndexedDB takes them (see
    /// `write::write`). Sealed entries are for the shared tier, which a browser only
    /// reads: they are refused.
    async fn put_entry(&self, id: &Fingerprint, entry: &EntryWriter<'_>) -> Result<PayloadCheck> {
        if entry.trailer_len() != 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "IndexedDB keeps entries unsealed: seals are for the shared tier",
            ));
        }
        check_size(entry.len())?;
        write::write(&self.database().await?, id, entry).await
    }

    async fn delete(&self, id: &Fingerprint) -> Result<()> {
        let db = self.database().await?;
        match JsFuture::from(db.remove(&id.to_hex())).await {
            Ok(_) => Ok(()),
            Err(e) => Err(from_store("remove an entry", &e)),
        }
    }

    async fn lock(&self, id: &Fingerprint) -> Result<Option<LockGuard>> {
        let Some(request) = &self.locking else {
            return Ok(None);
        };
        lock::acquire(request, &text!("stepcache:", self.name, ":", id.to_hex())).await
    }

    async fn list(&self) -> Result<Vec<Listed>> {
        listings(&self.database().await?, None).await
    }

    async fn head(&self, id: &Fingerprint) -> Result<Option<Listed>> {
        Ok(listings(&self.database().await?, Some(id)).await?.pop())
    }

    const KEEPS_COUNTERS: bool = true;

    async fn load_counters(&self) -> Result<Option<Vec<u8>>> {
        Ok(counters(&self.database().await?, false).await?.1)
    }

    async fn update_counters<F>(&self, update: F) -> Result<()>
    where
        F: FnOnce(Option<&[u8]>) -> Vec<u8>,
    {
        // Read and written in one transaction, which IndexedDB runs alone against any
        // other that writes the record: every tab's and worker's counts add up.
        let db = self.database().await?;
        let (tx, kept) = counters(&db, true).await?;
        let bytes = update(kept.as_deref());
        match JsFuture::from(db.save_counters(&tx, &bytes)).await {
            Ok(_) => Ok(()),
            Err(e) => Err(from_store(COUNTERS_OP, &e)),
        }
    }
}
