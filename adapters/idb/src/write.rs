//! Writing an entry: its chunks under a new generation, in transactions of at most
//! [`SPAN_CHUNKS`] chunks, then chunk 0 and the listing record together in the last one
//! (see [`record`](crate::record) for why).

use std::future::IntoFuture;

use idb::{Database, TransactionMode};
use js_sys::Uint8Array;
use stepcache_core::entry::{self, EntryHeader, PayloadCheck, PayloadHasher};
use stepcache_core::{Error, ErrorKind, Fingerprint, Result};

use crate::record::{self, CHUNK, Generation, Head};
use crate::{ENTRIES, HEADS, error, key_of};

/// The chunks one transaction carries: 64 MiB, well under what Chromium accepts in one
/// (entries of about 480 MiB failed as one transaction) and large enough that committing
/// costs little next to the copies.
const SPAN_CHUNKS: usize = 16;

/// The entry a put writes, as its chunks are produced.
pub(crate) trait Source {
    /// Takes note of chunk `piece` (from chunk 1 on) once it is handed to IndexedDB.
    fn saw(&mut self, piece: &[u8]);
    /// Chunk 0, once every other chunk was seen.
    fn first_chunk(&mut self) -> Result<Uint8Array>;
}

/// An entry whose header waits for its payload's checksum, computed while the payload's
/// chunks are handed to IndexedDB: every chunk but the first holds only payload bytes, so
/// each is hashed after its put (which copies it out of WebAssembly memory and lets the
/// browser move it in the background) and chunk 0, with the finished header, goes last.
pub(crate) struct Hashing<'a> {
    header: EntryHeader,
    head_len: usize,
    /// The payload bytes in chunk 0.
    first: &'a [u8],
    hasher: PayloadHasher,
}

impl<'a> Hashing<'a> {
    /// The entry `header` + `payload`, whose head is `head_len` bytes, and the payload bytes
    /// from chunk 1 on.
    pub(crate) fn new(header: &EntryHeader, head_len: usize, payload: &'a [u8]) -> (Self, &'a [u8]) {
        let (first, rest) = payload.split_at(CHUNK.saturating_sub(head_len).min(payload.len()));
        let mut hasher = PayloadHasher::new();
        hasher.update(first);
        let source = Hashing {
            header: header.clone(),
            head_len,
            first,
            hasher,
        };
        (source, rest)
    }

    /// The payload checksum, once [`Source::first_chunk`] has filled it in.
    pub(crate) fn check(&self) -> PayloadCheck {
        self.header.payload_check
    }
}

impl Source for Hashing<'_> {
    fn saw(&mut self, piece: &[u8]) {
        self.hasher.update(piece);
    }

    fn first_chunk(&mut self) -> Result<Uint8Array> {
        self.header.payload_check = std::mem::replace(&mut self.hasher, PayloadHasher::new()).finish();
        let head = entry::encode_head(&self.header);
        if head.len() != self.head_len || self.head_len >= CHUNK {
            // Cannot happen (the digest has a fixed size; metadata, shape and step name
            // are limited to far less than a chunk); if it did, the chunks would be
            // misplaced, so the put fails instead.
            return Err(Error::new(
                ErrorKind::Storage,
                "write an entry: the header does not fit its place",
            ));
        }
        let chunk0 = Uint8Array::new_with_length((head.len() + self.first.len()) as u32);
        chunk0.subarray(0, head.len() as u32).copy_from(&head);
        chunk0
            .subarray(head.len() as u32, chunk0.length())
            .copy_from(self.first);
        Ok(chunk0)
    }
}

/// An entry given whole, as bytes (`Store::put`).
pub(crate) struct Whole<'a>(pub(crate) &'a [u8]);

impl Source for Whole<'_> {
    fn saw(&mut self, _: &[u8]) {}

    fn first_chunk(&mut self) -> Result<Uint8Array> {
        Ok(Uint8Array::from(&self.0[..self.0.len().min(CHUNK)]))
    }
}

/// Writes entry `id` of `len` bytes: chunk 0 from `source`, then `tail` (the entry's bytes
/// from [`CHUNK`] on). The previous version stays readable until the last transaction
/// commits; if the put fails, what it wrote is removed (or, if that fails too, left to
/// listing to remove).
pub(crate) async fn write(
    db: &Database,
    id: &Fingerprint,
    len: usize,
    tail: &[u8],
    source: &mut impl Source,
    now_ms: u64,
) -> Result<()> {
    let hex = id.to_hex();
    let generation = record::new_generation(now_ms);
    let chunks: Vec<&[u8]> = tail.chunks(CHUNK).collect();
    // Spans of SPAN_CHUNKS in transactions of their own; the last (perhaps empty) goes
    // with chunk 0.
    let spans = chunks.len().div_ceil(SPAN_CHUNKS).max(1);
    let mut result = Ok(());
    for span in 0..spans {
        let first = span * SPAN_CHUNKS;
        let these = &chunks[first..chunks.len().min(first + SPAN_CHUNKS)];
        let last = (span + 1 == spans).then_some((id, len, first));
        result = transaction(db, &hex, generation, 1 + first, these, last, source).await;
        if result.is_err() {
            break;
        }
    }
    if result.is_err() {
        let _ = crate::list::remove_generations(db, vec![(hex, generation)]).await;
    }
    result
}

/// Puts `chunks` (numbered from `number`) of generation `generation` of entry `hex` in one
/// transaction. The `last` one of a put of `len` bytes of entry `id` (whose first
/// `staged` chunks after chunk 0 were written before) also checks that those are all
/// still there (listing may have taken a put paused for long for a dead one), puts
/// chunk 0 and the listing record, and removes the previous version.
async fn transaction(
    db: &Database,
    hex: &str,
    generation: Generation,
    number: usize,
    chunks: &[&[u8]],
    last: Option<(&Fingerprint, usize, usize)>,
    source: &mut impl Source,
) -> Result<()> {
    let e = |err| error::from_idb("write an entry", err);
    let stores: &[&str] = if last.is_some() { &[ENTRIES, HEADS] } else { &[ENTRIES] };
    let tx = db.transaction(stores, TransactionMode::ReadWrite).map_err(e)?;
    let result = async {
        let entries = tx.object_store(ENTRIES).map_err(e)?;
        // Asked before any put, so they answer for the state before this transaction.
        let asked = match last {
            Some((id, _, _)) => {
                let previous = tx.object_store(HEADS).map_err(e)?.get(key_of(id)).map_err(e)?;
                let range = record::generation_range(hex, generation, 1).map_err(e)?;
                let found = entries.get_all_keys(Some(range.into()), None).map_err(e)?;
                Some((previous.into_future(), found.into_future()))
            }
            None => None,
        };
        for (i, piece) in chunks.iter().enumerate() {
            let key = record::chunk_key(hex, generation, number + i);
            entries.put(&Uint8Array::from(*piece), Some(&key)).map_err(e)?;
            source.saw(piece);
        }
        let (Some((id, len, staged)), Some((previous, found))) = (last, asked) else {
            return Ok(());
        };
        let previous = previous.await.map_err(e)?.as_ref().and_then(Head::decode);
        if found.await.map_err(e)?.len() != staged {
            return Err(Error::new(
                ErrorKind::Storage,
                "write an entry: chunks written earlier were removed (by a clear, or as left behind)",
            ));
        }
        let chunk0 = source.first_chunk()?;
        let head = Head {
            generation,
            len: len as u64,
            lead: record::lead_of(&chunk0),
        };
        entries
            .put(&chunk0, Some(&record::chunk_key(hex, generation, 0)))
            .map_err(e)?;
        tx.object_store(HEADS)
            .map_err(e)?
            .put(&head.encode(), Some(&key_of(id)))
            .map_err(e)?;
        if let Some(previous) = previous.filter(|p| p.generation != generation) {
            entries
                .delete(record::generation_range(hex, previous.generation, 0).map_err(e)?)
                .map_err(e)?;
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => crate::finish("write an entry", tx).await,
        Err(err) => {
            // Never let IndexedDB auto-commit the chunks already put.
            let _ = tx.abort();
            Err(err)
        }
    }
}
