//! A put: the entry's bytes handed to the place's module chunk by chunk, each checksummed
//! while the place writes it (`Put` in js/idb-store.js writes them under a new
//! generation, in transactions of at most 64 MiB, and makes them the entry in the last;
//! js/opfs-store.js writes a new file and moves it over the entry).

use js_sys::Promise;
use stepcache_core::entry::{EntryWriter, PayloadCheck};
use stepcache_core::{Fingerprint, Result};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::error::from_store;
use crate::{CHUNK_BYTES, js};

/// What the errors of a put say was being done.
const OP: &str = "write an entry";

/// Writes `entry` as entry `id` and returns its payload checksum. Every chunk but the
/// first holds only payload bytes, so each is hashed after its put (which copies it out
/// of WebAssembly memory and lets the browser write it in the background, or writes it
/// at once); chunk 0,
/// with the head and so the finished checksum, goes last. The previous version stays
/// readable until the last transaction commits; if the put fails, what it wrote is
/// removed (or, if that fails too, left to listing to remove).
pub(crate) async fn write(db: &js::Connection, id: &Fingerprint, entry: &EntryWriter<'_>) -> Result<PayloadCheck> {
    let mut pieces = entry.pieces(CHUNK_BYTES);
    let first = pieces.next().unwrap_or_default();
    let chunks = pieces.clone().count() as u32;
    let began = JsFuture::from(db.write(&id.to_hex(), chunks, entry.len() as f64)).await;
    // A put that could not begin has nothing to give up.
    let put: js::Put = began.map_err(|e| from_store(OP, &e))?.unchecked_into();
    let result = hand_over(&put, entry, first, pieces).await;
    if result.is_err() {
        // Never rejects.
        let _ = JsFuture::from(put.abandon()).await;
    }
    result
}

/// Hands `first` (the payload bytes of chunk 0) and the later `pieces` to `put`, hashing
/// them in order (the payload's checksum and block table in one pass), then the head with
/// the checksums.
async fn hand_over<'a>(
    put: &js::Put,
    entry: &EntryWriter<'a>,
    first: &'a [u8],
    pieces: impl Iterator<Item = &'a [u8]>,
) -> Result<PayloadCheck> {
    let e = |err| from_store(OP, &err);
    let mut hasher = entry.hasher();
    hasher.update(first);
    for piece in pieces {
        let committing = put.put(piece).map_err(e)?;
        hasher.update(piece);
        // The end of a transaction: hashed while it commits, and waited for before the
        // next one begins.
        if !committing.is_undefined() {
            JsFuture::from(committing.unchecked_into::<Promise>())
                .await
                .map_err(e)?;
        }
    }
    let (head, check) = entry.head_from(hasher)?;
    JsFuture::from(put.finish(&head, first, entry.len() as f64))
        .await
        .map_err(e)?;
    Ok(check)
}
