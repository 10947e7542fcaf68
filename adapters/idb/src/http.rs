//! The shared tier as a browser reads it: entries fetched over HTTP(S) from a bucket or
//! any static file host (with CORS), never written.
//!
//! The embedder does the fetching (the npm package's `sharedRead` in `index.js`): given an
//! entry's hex id and whether only its head is wanted, its function resolves to `null`
//! for a missing entry, or to `[length, next]`: the object's length (-1 if the host did
//! not say) and a function resolving to each next batch of the body's pieces (an array of
//! `Uint8Array`s, batched so that a large body takes few calls), then to `null`. Pieces go
//! straight into core's [`EntryReader`], which checksums them as they arrive, so a large
//! entry is copied once and not read again to be verified.

use js_sys::{Array, Function, Promise, Uint8Array};
use stepcache_core::entry::{EntryReader, EntryWriter, LIST_HEAD_LEN, PayloadCheck};
use stepcache_core::{AlignedBytes, Error, ErrorKind, Fingerprint, Listed, Result, Store};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::error::from_js;

/// A read-only [`Store`] over HTTP, for a cache's shared tier in a browser.
pub struct HttpStore {
    read: Function,
}

impl std::fmt::Debug for HttpStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpStore")
    }
}

impl HttpStore {
    /// A store that reads entries through `read` (see the module's documentation).
    pub fn new(read: Function) -> Self {
        HttpStore { read }
    }

    /// Calls `read` for entry `id`: `None` for a missing entry, else the length the host
    /// gave (if it did) and the function that gives the body's pieces.
    async fn open(&self, id: &Fingerprint, head: bool) -> Result<Option<(Option<usize>, Function)>> {
        let asked = self.read.call2(
            &JsValue::UNDEFINED,
            &JsValue::from_str(&id.to_hex()),
            &JsValue::from_bool(head),
        );
        let answer = match asked {
            Ok(promise) => JsFuture::from(promise.unchecked_into::<Promise>()).await,
            Err(thrown) => Err(thrown),
        }
        .map_err(|e| from_js("read from the shared tier", &e))?;
        if answer.is_null() || answer.is_undefined() {
            return Ok(None);
        }
        let pair: Array = answer.unchecked_into();
        let len = pair.get(0).as_f64().filter(|n| *n >= 0.0).map(|n| n as usize);
        let next = pair.get(1).dyn_into::<Function>().map_err(|_| {
            Error::new(
                ErrorKind::Storage,
                "read from the shared tier: the reader gave no function for the body",
            )
        })?;
        Ok(Some((len, next)))
    }

    /// The next batch of a body's pieces, or `None` at its end.
    async fn batch(next: &Function) -> Result<Option<Vec<Uint8Array>>> {
        let asked = next.call0(&JsValue::UNDEFINED);
        let batch = match asked {
            Ok(promise) => JsFuture::from(promise.unchecked_into::<Promise>()).await,
            Err(thrown) => Err(thrown),
        }
        .map_err(|e| from_js("read from the shared tier", &e))?;
        Ok(batch
            .dyn_into::<Array>()
            .ok()
            .map(|pieces| pieces.iter().filter_map(|p| p.dyn_into::<Uint8Array>().ok()).collect()))
    }
}

impl Store for HttpStore {
    type Bytes = AlignedBytes;

    const READ_ONLY: bool = true;

    async fn get(&self, id: &Fingerprint) -> Result<Option<AlignedBytes>> {
        Ok(self.get_entry(id).await?.map(|(bytes, _)| bytes))
    }

    /// Streams the body into an [`EntryReader`] of the length the host gave. A body
    /// without a length (a host that compresses on the fly) is gathered first, then read
    /// the same way.
    async fn get_entry(&self, id: &Fingerprint) -> Result<Option<(AlignedBytes, Option<PayloadCheck>)>> {
        let Some((len, next)) = self.open(id, false).await? else {
            return Ok(None);
        };
        let mut gathered = Vec::new();
        let len = match len {
            Some(len) => len,
            None => {
                while let Some(batch) = Self::batch(&next).await? {
                    gathered.extend(batch);
                }
                gathered.iter().map(|p| p.length() as usize).sum()
            }
        };
        let mut entry = EntryReader::new(len);
        let push = |entry: &mut EntryReader, piece: Uint8Array| {
            entry.push_with(piece.length() as usize, |into| piece.copy_to(into));
        };
        for piece in gathered {
            push(&mut entry, piece);
        }
        while let Some(batch) = Self::batch(&next).await? {
            for piece in batch {
                push(&mut entry, piece);
            }
        }
        Ok(Some(entry.finish()))
    }

    /// The first bytes of the entry (a ranged request), for `status` and `has`.
    async fn head(&self, id: &Fingerprint) -> Result<Option<Listed>> {
        let Some((len, next)) = self.open(id, true).await? else {
            return Ok(None);
        };
        let mut head = Vec::with_capacity(LIST_HEAD_LEN);
        while let Some(batch) = Self::batch(&next).await? {
            for piece in batch {
                head.extend(piece.to_vec());
            }
        }
        head.truncate(LIST_HEAD_LEN);
        // A host that hides the length gets the length the head itself names, checked
        // when the entry is read.
        let len = len.map_or_else(|| stepcache_core::entry::listed_len(&head), |len| len as u64);
        Ok(Some(Listed { id: *id, len, head }))
    }

    async fn put_entry(&self, _: &Fingerprint, _: &EntryWriter<'_>) -> Result<PayloadCheck> {
        Err(read_only())
    }

    async fn delete(&self, _: &Fingerprint) -> Result<()> {
        Err(read_only())
    }

    /// A static host cannot be listed: the shared tier lists nothing here.
    async fn list(&self) -> Result<Vec<Listed>> {
        Ok(Vec::new())
    }
}

fn read_only() -> Error {
    Error::new(
        ErrorKind::PermissionDenied,
        "the browser reads the shared tier; it never writes it",
    )
}
