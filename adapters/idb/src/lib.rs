#![doc = include_str!("../README.md")]
// IndexedDB exists only in browsers: natively this crate is empty.
#![cfg(target_family = "wasm")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod lock;
mod open;
mod record;

use std::cell::RefCell;
use std::rc::Rc;
use stepcache_core::text;

use idb::{Database, Query, TransactionMode, TransactionResult};
use js_sys::Uint8Array;
use stepcache_core::entry::{self, EntryHeader, PayloadCheck};
use stepcache_core::{AlignedBytes, Error, ErrorKind, Fingerprint, Listed, LockGuard, Result, Store};
use wasm_bindgen::JsValue;

pub use open::SCHEMA_VERSION;

/// The object store holding whole entries, keyed by the fingerprint's hex.
const ENTRIES: &str = "entries";
/// The object store holding each entry's length and first bytes, so listing the cache
/// never reads the (possibly huge) entries themselves.
const HEADS: &str = "heads";

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

    async fn finish(&self, op: &str, tx: idb::Transaction) -> Result<()> {
        // Keep a handle to ask why the transaction aborted: a quota overrun is reported
        // only as the transaction's error (QuotaExceededError), not as a request's.
        let raw = web_sys::IdbTransaction::from(tx);
        let tx = idb::Transaction::from(raw.clone());
        let aborted = |raw: &web_sys::IdbTransaction| match raw.error() {
            Some(ex) => error::from_name(op, &ex.name(), &ex.message()),
            None => Error::new(ErrorKind::Storage, text!(op, ": transaction aborted")),
        };
        match tx.commit().map_err(|e| error::from_idb(op, e))?.await {
            Ok(TransactionResult::Committed) => Ok(()),
            Ok(TransactionResult::Aborted) => Err(aborted(&raw)),
            Err(e) => match raw.error() {
                Some(_) => Err(aborted(&raw)),
                None => Err(error::from_idb(op, e)),
            },
        }
    }
}

impl Store for IdbStore {
    type Bytes = AlignedBytes;

    /// The bytes [`Store::get_entry`] reads; its checksum is not needed here.
    async fn get(&self, id: &Fingerprint) -> Result<Option<AlignedBytes>> {
        Ok(self.get_entry(id).await?.map(|(bytes, _)| bytes))
    }

    /// Reads the chunks one request each, all asked for at once: while IndexedDB delivers
    /// the later ones, the earlier ones are copied into WebAssembly memory and their
    /// payload bytes checksummed, so verifying costs little more than reading.
    async fn get_entry(&self, id: &Fingerprint) -> Result<Option<(AlignedBytes, Option<PayloadCheck>)>> {
        let db = self.database().await?;
        let e = |err| error::from_idb("read an entry", err);
        let tx = db.transaction(&[ENTRIES], TransactionMode::ReadOnly).map_err(e)?;
        let entries = tx.object_store(ENTRIES).map_err(e)?;
        let range = record::chunk_range(&id.to_hex(), 0).map_err(e)?;
        let keys = entries
            .get_all_keys(Some(range.into()), None)
            .map_err(e)?
            .await
            .map_err(e)?;
        if keys.is_empty() {
            return Ok(None);
        }
        // Handlers are attached by `into_future`, so every request is watched before any
        // of them can finish.
        let requests = keys
            .iter()
            .map(|k| entries.get(k.clone()).map(std::future::IntoFuture::into_future))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(e)?;
        let mut reader = record::Reader::new(keys.len());
        for request in requests {
            let value = request.await.map_err(e)?.unwrap_or(JsValue::UNDEFINED);
            reader.push(&value);
        }
        Ok(Some(reader.finish()))
    }

    async fn put(&self, id: &Fingerprint, parts: &[&[u8]]) -> Result<()> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        check_size(total)?;
        let chunks = record::chunks(parts, total);
        let head = record::head(parts, total);
        let hex = id.to_hex();
        let db = self.database().await?;
        let e = |err| error::from_idb("write an entry", err);
        let tx = db
            .transaction(&[ENTRIES, HEADS], TransactionMode::ReadWrite)
            .map_err(e)?;
        let entries = tx.object_store(ENTRIES).map_err(e)?;
        // An older version of the entry may have had more chunks.
        entries
            .delete(record::chunk_range(&hex, chunks.len()).map_err(e)?)
            .map_err(e)?;
        for (i, chunk) in chunks.iter().enumerate() {
            entries.put(chunk, Some(&record::chunk_key(&hex, i))).map_err(e)?;
        }
        let heads = tx.object_store(HEADS).map_err(e)?;
        heads
            .put(&Uint8Array::from(head.as_slice()), Some(&key_of(id)))
            .map_err(e)?;
        self.finish("write an entry", tx).await
    }

    /// Hashes the payload while IndexedDB takes it: every chunk but the first holds only
    /// payload bytes, so each is handed to IndexedDB (which copies it to the browser's
    /// storage process in the background) and then hashed here; the first chunk, which
    /// carries the header with the finished digest, goes last, in the same transaction.
    /// A small entry is that first chunk alone (the npm package never calls [`Store::put`],
    /// so its module holds one write path).
    async fn put_entry(&self, id: &Fingerprint, header: &EntryHeader, payload: &[u8]) -> Result<PayloadCheck> {
        // The checksum has a fixed size, so the head's length is known before it.
        let head_len = entry::head_len(header);
        check_size(head_len + payload.len())?;
        let db = self.database().await?;
        let e = |err| error::from_idb("write an entry", err);
        let tx = db
            .transaction(&[ENTRIES, HEADS], TransactionMode::ReadWrite)
            .map_err(e)?;
        match record::put_hashing(&tx, id, header, payload, head_len) {
            Ok(check) => {
                self.finish("write an entry", tx).await?;
                Ok(check)
            }
            Err(err) => {
                // Never let IndexedDB auto-commit the chunks already put.
                let _ = tx.abort();
                Err(err)
            }
        }
    }

    async fn delete(&self, id: &Fingerprint) -> Result<()> {
        let db = self.database().await?;
        let e = |err| error::from_idb("remove an entry", err);
        let tx = db
            .transaction(&[ENTRIES, HEADS], TransactionMode::ReadWrite)
            .map_err(e)?;
        tx.object_store(ENTRIES)
            .map_err(e)?
            .delete(record::chunk_range(&id.to_hex(), 0).map_err(e)?)
            .map_err(e)?;
        tx.object_store(HEADS).map_err(e)?.delete(key_of(id)).map_err(e)?;
        self.finish("remove an entry", tx).await
    }

    async fn lock(&self, id: &Fingerprint) -> Result<Option<LockGuard>> {
        let Some(request) = &self.locking else {
            return Ok(None);
        };
        lock::acquire(request, &text!("stepcache:", self.name, ":", id.to_hex())).await
    }

    async fn list(&self) -> Result<Vec<Listed>> {
        self.heads(None).await
    }

    async fn head(&self, id: &Fingerprint) -> Result<Option<Listed>> {
        Ok(self.heads(Some(id)).await?.pop())
    }
}

impl IdbStore {
    /// The listings of every entry, or of entry `only` (none or one): one reader for both,
    /// since each IndexedDB request type is a generic of its own in the npm module.
    async fn heads(&self, only: Option<&Fingerprint>) -> Result<Vec<Listed>> {
        let db = self.database().await?;
        let e = |err| error::from_idb("list entries", err);
        let tx = db.transaction(&[HEADS], TransactionMode::ReadOnly).map_err(e)?;
        let heads = tx.object_store(HEADS).map_err(e)?;
        let query = || only.map(|id| Query::Key(key_of(id)));
        let keys = heads.get_all_keys(query(), None).map_err(e)?.await.map_err(e)?;
        let values = heads.get_all(query(), None).map_err(e)?.await.map_err(e)?;
        let mut out = Vec::with_capacity(keys.len());
        for (key, value) in keys.iter().zip(values.iter()) {
            let Some(id) = key
                .as_string()
                .and_then(|k| text!("b3:", k).parse::<Fingerprint>().ok())
            else {
                continue;
            };
            out.push(listed(id, value));
        }
        Ok(out)
    }
}

/// The listing of entry `id` from its record in [`HEADS`]: its length (8 bytes, little
/// endian), then its leading bytes. A damaged record lists as an empty entry, which the
/// engine's header check rejects.
fn listed(id: Fingerprint, record: &JsValue) -> Listed {
    let record = Uint8Array::new(record).to_vec();
    let (len, head) = match record.split_first_chunk::<8>() {
        Some((len, head)) => (u64::from_le_bytes(*len), head.to_vec()),
        None => (0, Vec::new()),
    };
    Listed { id, len, head }
}
