#![doc = include_str!("../README.md")]
// IndexedDB exists only in browsers: natively this crate is empty.
#![cfg(target_family = "wasm")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod http;
mod list;
mod lock;
mod open;
mod record;
mod request;
mod write;

use std::cell::RefCell;
use std::rc::Rc;
use stepcache_core::text;

use idb::{Database, TransactionMode};
use js_sys::Promise;
use stepcache_core::entry::{EntryReader, EntryWriter, PayloadCheck};
use stepcache_core::{AlignedBytes, Error, ErrorKind, Fingerprint, Listed, LockGuard, Result, Store};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

pub use http::HttpStore;
pub use open::SCHEMA_VERSION;

/// The object store holding the entries' bytes, in chunks (see [`record`]).
const ENTRIES: &str = "entries";
/// The object store holding each entry's listing record (the generation of its chunks,
/// its length and first bytes), so listing the cache never reads the (possibly huge)
/// entries themselves.
const HEADS: &str = "heads";
/// The key of the lasting counters' record in [`HEADS`] ([`Store::update_counters`]): not a
/// fingerprint's hex, so listings, which read only those, pass over it.
const COUNTERS: &str = "counters";

/// A [`Store`] in an IndexedDB database of the current origin.
///
/// Works in a Window and in a dedicated Web Worker (IndexedDB is found through the global
/// scope). Each call is one transaction, finished before the call returns.
pub struct IdbStore {
    name: String,
    connection: RefCell<Option<open::Connection>>,
    /// The function that requests Web Locks (see [`IdbStore::set_locking`]).
    locking: Option<js_sys::Function>,
}

impl std::fmt::Debug for IdbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdbStore")
            .field("name", &self.name)
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

pub(crate) fn key_of(id: &Fingerprint) -> JsValue {
    JsValue::from_str(&id.to_hex())
}

impl IdbStore {
    /// Opens (creating or upgrading it as needed) the database `name`.
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`] where IndexedDB is unavailable (e.g. some private
    /// modes), [`ErrorKind::Blocked`] if another tab's connection to an older schema
    /// version blocks the upgrade, or [`ErrorKind::Storage`].
    pub async fn open(name: &str) -> Result<Self> {
        let store = IdbStore {
            name: name.to_owned(),
            connection: RefCell::new(None),
            locking: None,
        };
        store.database().await?;
        Ok(store)
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
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
            connection.db.close();
        }
    }

    /// Deletes the database `name` and everything in it.
    ///
    /// # Errors
    /// [`ErrorKind::Blocked`] while a connection is open elsewhere, or [`ErrorKind::Storage`].
    pub async fn delete_database(name: &str) -> Result<()> {
        open::delete(name).await
    }

    /// The open connection, opened again if a schema change elsewhere closed it.
    async fn database(&self) -> Result<Rc<Database>> {
        if let Some(connection) = self.connection.borrow().as_ref().filter(|c| !c.is_closed()) {
            return Ok(Rc::clone(&connection.db));
        }
        let connection = open::open(&self.name).await?;
        let db = Rc::clone(&connection.db);
        *self.connection.borrow_mut() = Some(connection);
        Ok(db)
    }
}

/// Commits `tx`, the transaction of `op`, and waits for it.
async fn finish(op: &str, tx: idb::Transaction) -> Result<()> {
    let tx = web_sys::IdbTransaction::from(tx.commit().map_err(|e| error::from_idb(op, e))?);
    // Settled by the first of its events: complete, abort, or the error of a failed
    // request, which reaches the transaction before it aborts.
    let ended = JsFuture::from(Promise::new(&mut |resolve, reject| {
        tx.set_oncomplete(Some(&resolve));
        tx.set_onabort(Some(&reject));
        tx.set_onerror(Some(&reject));
    }));
    let Err(event) = ended.await else {
        return Ok(());
    };
    // Asked of the transaction: a quota overrun is reported only as the transaction's
    // error (QuotaExceededError), not as a request's.
    Err(match tx.error() {
        Some(ex) => error::from_name(op, &ex.name(), &ex.message()),
        None if event.unchecked_into::<web_sys::Event>().type_() == "abort" => {
            Error::new(ErrorKind::Storage, text!(op, ": transaction aborted"))
        }
        // A request's error, before the abort sets the transaction's.
        None => error::from_idb(op, idb::Error::DomExceptionNotFound),
    })
}

impl Store for IdbStore {
    type Bytes = AlignedBytes;

    /// The bytes [`Store::get_entry`] reads; its checksum is not needed here.
    async fn get(&self, id: &Fingerprint) -> Result<Option<AlignedBytes>> {
        Ok(self.get_entry(id).await?.map(|(bytes, _)| bytes))
    }

    /// Reads the listing record and the chunk keys, then the chunks of the generation the
    /// listing names, one request each, all asked for at once: while IndexedDB delivers
    /// the later ones, the earlier ones are copied into WebAssembly memory and their
    /// payload bytes checksummed, so verifying costs little more than reading.
    ///
    /// An entry whose records disagree (chunks without a listing, a listing whose chunks
    /// are missing or too many) reads as damaged, so the engine removes it as a whole.
    async fn get_entry(&self, id: &Fingerprint) -> Result<Option<(AlignedBytes, Option<PayloadCheck>)>> {
        let db = self.database().await?;
        let e = |err| error::from_idb("read an entry", err);
        let tx = db
            .transaction(&[ENTRIES, HEADS], TransactionMode::ReadOnly)
            .map_err(e)?;
        let entries = tx.object_store(ENTRIES).map_err(e)?;
        let hex = id.to_hex();
        // Both asked at once: one round trip, as for a get of the chunks alone.
        let head = request::value(tx.object_store(HEADS).map_err(e)?.get(key_of(id)).map_err(e)?);
        let keys = request::values(
            entries
                .get_all_keys(Some(record::entry_range(&hex).map_err(e)?.into()), None)
                .map_err(e)?,
        );
        let (head, keys) = (head.await.map_err(e)?, keys.await.map_err(e)?);
        let chunks = list::chunks_of(&keys);
        let Some(head) = head else {
            // Chunk 0 is written with the listing record: one without it is damage; chunks
            // without chunk 0 belong to a put in progress.
            return Ok(chunks.iter().any(|c| c.has_first).then(record::damaged));
        };
        let Some(head) = record::Head::decode(&head) else {
            return Ok(Some(record::damaged()));
        };
        if !list::whole(&chunks, &hex, head.generation, head.len) {
            return Ok(Some(record::damaged()));
        }
        // Handlers are attached by `request::value`, so every request is watched before
        // any of them can finish.
        let requests = (0..record::chunk_count(head.len))
            .map(|i| {
                entries
                    .get(record::chunk_key(&hex, head.generation, i))
                    .map(request::value)
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(e)?;
        // Each record copied once, from JavaScript into its place, and its payload bytes
        // checksummed there while IndexedDB delivers the next ones.
        let mut reader = EntryReader::new(head.len as usize);
        for request in requests {
            let value = request.await.map_err(e)?.unwrap_or(JsValue::UNDEFINED);
            match record::bytes_of(&value).filter(|part| part.length() as usize <= record::CHUNK) {
                Some(part) => reader.push_with(part.length() as usize, |into| part.copy_to(into)),
                None => reader.damage(),
            }
        }
        Ok(Some(reader.finish()))
    }

    /// Writes the entry in chunks, hashing the payload while IndexedDB takes them (see
    /// [`write::write`]). Sealed entries are for the shared tier, which a browser only
    /// reads: they are refused.
    async fn put_entry(&self, id: &Fingerprint, entry: &EntryWriter<'_>) -> Result<PayloadCheck> {
        if entry.trailer_len() != 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "IndexedDB keeps entries unsealed: seals are for the shared tier",
            ));
        }
        check_size(entry.len())?;
        let db = self.database().await?;
        write::write(&db, id, entry, now_ms()).await
    }

    async fn delete(&self, id: &Fingerprint) -> Result<()> {
        let db = self.database().await?;
        let e = |err| error::from_idb("remove an entry", err);
        let tx = db
            .transaction(&[ENTRIES, HEADS], TransactionMode::ReadWrite)
            .map_err(e)?;
        tx.object_store(ENTRIES)
            .map_err(e)?
            .delete(record::entry_range(&id.to_hex()).map_err(e)?)
            .map_err(e)?;
        tx.object_store(HEADS).map_err(e)?.delete(key_of(id)).map_err(e)?;
        finish("remove an entry", tx).await
    }

    async fn lock(&self, id: &Fingerprint) -> Result<Option<LockGuard>> {
        let Some(request) = &self.locking else {
            return Ok(None);
        };
        lock::acquire(request, &text!("stepcache:", self.name, ":", id.to_hex())).await
    }

    async fn list(&self) -> Result<Vec<Listed>> {
        list::list(&*self.database().await?, None, now_ms()).await
    }

    async fn head(&self, id: &Fingerprint) -> Result<Option<Listed>> {
        Ok(list::list(&*self.database().await?, Some(id), now_ms()).await?.pop())
    }

    const KEEPS_COUNTERS: bool = true;

    async fn load_counters(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.counters(TransactionMode::ReadOnly).await?.1)
    }

    async fn update_counters<F>(&self, update: F) -> Result<()>
    where
        F: FnOnce(Option<&[u8]>) -> Vec<u8>,
    {
        // Read and written in one transaction, which IndexedDB runs alone against any
        // other that writes the record: every tab's and worker's counts add up.
        let (tx, kept) = self.counters(TransactionMode::ReadWrite).await?;
        let bytes = update(kept.as_deref());
        tx.object_store(HEADS)
            .and_then(|heads| {
                heads.put(
                    &js_sys::Uint8Array::from(&bytes[..]),
                    Some(&JsValue::from_str(COUNTERS)),
                )
            })
            .map_err(|err| error::from_idb(COUNTERS_OP, err))?;
        finish(COUNTERS_OP, tx).await
    }
}

/// What the errors of the lasting counters' requests say was being done.
const COUNTERS_OP: &str = "keep the lasting counters";

impl IdbStore {
    /// A transaction of `mode` on the heads, and the lasting counters' bytes read in it.
    async fn counters(&self, mode: TransactionMode) -> Result<(idb::Transaction, Option<Vec<u8>>)> {
        let db = self.database().await?;
        let e = |err| error::from_idb(COUNTERS_OP, err);
        let tx = db.transaction(&[HEADS], mode).map_err(e)?;
        let get = tx
            .object_store(HEADS)
            .map_err(e)?
            .get(JsValue::from_str(COUNTERS))
            .map_err(e)?;
        let value = request::value(get).await.map_err(e)?;
        // Anything but bytes reads as no counters; the engine checks the bytes themselves.
        Ok((
            tx,
            value.as_ref().and_then(record::bytes_of).map(|bytes| bytes.to_vec()),
        ))
    }
}

/// The time, ms since the epoch (generations begin with it).
fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}
