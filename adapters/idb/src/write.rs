//! Writing an entry: its chunks under a new generation, in transactions of at most
//! [`SPAN_CHUNKS`] chunks, then chunk 0 and the listing record together in the last one
//! (see [`record`](crate::record) for why).

use idb::{Database, TransactionMode};
use js_sys::Uint8Array;
use stepcache_core::entry::{EntryWriter, PayloadCheck, PayloadHasher};
use stepcache_core::{Error, ErrorKind, Fingerprint, Result};

use crate::record::{self, CHUNK, Generation, Head};
use crate::{ENTRIES, HEADS, error, key_of, request};

/// The chunks one transaction carries: 64 MiB, well under what Chromium accepts in one
/// (entries of about 480 MiB failed as one transaction) and large enough that committing
/// costs little next to the copies.
const SPAN_CHUNKS: usize = 16;

/// Writes `entry` as entry `id` and returns its payload checksum. Every chunk but the
/// first holds only payload bytes, so each is hashed after its put (which copies it out
/// of WebAssembly memory and lets the browser move it in the background); chunk 0, with
/// the head and so the finished checksum, goes last. The previous version stays readable
/// until the last transaction commits; if the put fails, what it wrote is removed (or, if
/// that fails too, left to listing to remove).
pub(crate) async fn write(
    db: &Database,
    id: &Fingerprint,
    entry: &EntryWriter<'_>,
    now_ms: u64,
) -> Result<PayloadCheck> {
    let hex = id.to_hex();
    let generation = record::new_generation(now_ms);
    let mut pieces = entry.pieces(CHUNK);
    let first = pieces.next().unwrap_or_default();
    let chunks: Vec<&[u8]> = pieces.collect();
    let mut hasher = PayloadHasher::new();
    hasher.update(first);
    // Spans of SPAN_CHUNKS in transactions of their own; the last (perhaps empty) goes
    // with chunk 0.
    let spans = chunks.len().div_ceil(SPAN_CHUNKS).max(1);
    let mut result = Ok(None);
    for span in 0..spans {
        let staged = span * SPAN_CHUNKS;
        let these = &chunks[staged..chunks.len().min(staged + SPAN_CHUNKS)];
        let last = (span + 1 == spans).then_some(Last {
            id,
            entry,
            first,
            staged,
        });
        result = transaction(db, &hex, generation, 1 + staged, these, last, &mut hasher).await;
        if result.is_err() {
            break;
        }
    }
    match result {
        Ok(Some(check)) => Ok(check),
        // Cannot happen: the last span always runs, and returns the checksum.
        Ok(None) => Err(Error::new(ErrorKind::Storage, "write an entry: no last transaction")),
        Err(e) => {
            let _ = crate::list::remove_generations(db, vec![(hex, generation)]).await;
            Err(e)
        }
    }
}

/// What the last transaction of a put writes besides its chunks.
struct Last<'a, 'e> {
    id: &'a Fingerprint,
    entry: &'a EntryWriter<'e>,
    /// The payload bytes in chunk 0.
    first: &'a [u8],
    /// How many chunks earlier transactions wrote.
    staged: usize,
}

/// Puts `chunks` (numbered from `number`) of generation `generation` of entry `hex` in one
/// transaction, feeding them to `hasher`. The `last` one also checks that the chunks
/// earlier transactions wrote are all still there (listing may have taken a put paused
/// for long for a dead one), puts chunk 0 and the listing record, removes the previous
/// version, and returns the payload checksum.
async fn transaction(
    db: &Database,
    hex: &str,
    generation: Generation,
    number: usize,
    chunks: &[&[u8]],
    last: Option<Last<'_, '_>>,
    hasher: &mut PayloadHasher,
) -> Result<Option<PayloadCheck>> {
    let e = |err| error::from_idb("write an entry", err);
    let stores: &[&str] = if last.is_some() { &[ENTRIES, HEADS] } else { &[ENTRIES] };
    let tx = db.transaction(stores, TransactionMode::ReadWrite).map_err(e)?;
    let result = async {
        let entries = tx.object_store(ENTRIES).map_err(e)?;
        // Asked before any put, so they answer for the state before this transaction.
        let asked = match &last {
            Some(last) => {
                let previous = tx.object_store(HEADS).map_err(e)?.get(key_of(last.id)).map_err(e)?;
                let range = record::generation_range(hex, generation, 1).map_err(e)?;
                let found = entries.get_all_keys(Some(range.into()), None).map_err(e)?;
                Some((request::value(previous), request::values(found)))
            }
            None => None,
        };
        for (i, piece) in chunks.iter().enumerate() {
            let key = record::chunk_key(hex, generation, number + i);
            entries.put(&Uint8Array::from(*piece), Some(&key)).map_err(e)?;
            hasher.update(piece);
        }
        let (Some(last), Some((previous, found))) = (last, asked) else {
            return Ok(None);
        };
        let previous = previous.await.map_err(e)?.as_ref().and_then(Head::decode);
        if found.await.map_err(e)?.len() != last.staged {
            return Err(Error::new(
                ErrorKind::Storage,
                "write an entry: chunks written earlier were removed (by a clear, or as left behind)",
            ));
        }
        let check = std::mem::take(hasher).finish();
        let head = last.entry.head(check)?;
        let chunk0 = Uint8Array::new_with_length((head.len() + last.first.len()) as u32);
        chunk0.subarray(0, head.len() as u32).copy_from(&head);
        chunk0
            .subarray(head.len() as u32, chunk0.length())
            .copy_from(last.first);
        let listing = Head {
            generation,
            len: last.entry.len() as u64,
            lead: record::lead_of(&chunk0),
        };
        entries
            .put(&chunk0, Some(&record::chunk_key(hex, generation, 0)))
            .map_err(e)?;
        tx.object_store(HEADS)
            .map_err(e)?
            .put(&listing.encode(), Some(&key_of(last.id)))
            .map_err(e)?;
        if let Some(previous) = previous.filter(|p| p.generation != generation) {
            entries
                .delete(record::generation_range(hex, previous.generation, 0).map_err(e)?)
                .map_err(e)?;
        }
        Ok(Some(check))
    }
    .await;
    match result {
        Ok(check) => crate::finish("write an entry", tx).await.map(|()| check),
        Err(err) => {
            // Never let IndexedDB auto-commit the chunks already put.
            let _ = tx.abort();
            Err(err)
        }
    }
}
