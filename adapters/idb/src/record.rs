//! How an entry is kept in IndexedDB: in chunks of at most [`CHUNK`] bytes, records
//! `<hex>`, `<hex>:0001`, `<hex>:0002`, ... written in one transaction, each copied out of
//! WebAssembly memory once.
//!
//! Why chunks: on a quiet machine, putting a 64 MiB map as 4 MiB records took 0.71-0.82x
//! the time of one 64 MiB record and getting it 0.69-0.79x (three runs of
//! `adapters/wasm/bench`); Chromium stores large single values as separate blob files.
//! Why not hand IndexedDB views of WebAssembly memory and skip the copy: structured clone
//! serialises a view's whole underlying ArrayBuffer, i.e. all of WebAssembly memory for
//! every chunk, which Chromium then refuses (measured: the transaction aborts).

use js_sys::{ArrayBuffer, Uint8Array};
use stepcache_core::entry::{self, EntryHeader, LIST_HEAD_LEN, PayloadCheck, PayloadHasher};
use stepcache_core::text;
use stepcache_core::{AlignedBytes, Error, ErrorKind, Fingerprint, Result};
use wasm_bindgen::{JsCast, JsValue};

use crate::{ENTRIES, HEADS, error, key_of};

/// The listing record of an entry: its total length (u64 LE), then its first bytes.
pub(crate) fn head(parts: &[&[u8]], total: usize) -> Vec<u8> {
    let mut head = Vec::with_capacity(8 + LIST_HEAD_LEN);
    head.extend_from_slice(&(total as u64).to_le_bytes());
    for part in parts {
        let room = (8 + LIST_HEAD_LEN).saturating_sub(head.len());
        head.extend_from_slice(&part[..part.len().min(room)]);
    }
    head
}

/// The largest record of an entry.
pub(crate) const CHUNK: usize = 4 << 20;

/// The record key of chunk `i` of the entry whose key is `hex`.
pub(crate) fn chunk_key(hex: &str, i: usize) -> JsValue {
    if i == 0 {
        JsValue::from_str(hex)
    } else {
        // At least four digits, as `{i:04}` would write them.
        let digits = text!(i);
        let zeros = "0000".get(digits.len()..).unwrap_or("");
        JsValue::from(text!(hex, ":", zeros, digits))
    }
}

/// The record keys of the entry `hex` from chunk `first` on, as a key range (`:` sorts
/// after hex digits and `;` right after `:`): from 0, every record of the entry; from the
/// chunk count of a new version, what an older, longer version leaves behind.
///
/// A put deletes only that tail, not every chunk: its puts replace the others, and
/// deleting records that are put again in the same transaction made a 64 MiB put 50 ms
/// slower (raw IndexedDB, 16 chunks, delete-then-put 435-460 ms against overwriting
/// 385-410 ms). Entries are at most 4 GiB (`check_size`), 1,024 chunks, so chunk keys
/// always have four digits and the range holds exactly the chunks from `first` on.
pub(crate) fn chunk_range(hex: &str, first: usize) -> Result<idb::KeyRange, idb::Error> {
    idb::KeyRange::bound(
        &chunk_key(hex, first),
        &JsValue::from(text!(hex, ";")),
        Some(false),
        Some(true),
    )
}

/// The concatenation of `parts` cut into records of at most [`CHUNK`] bytes, each a new
/// byte array (the one copy out of WebAssembly memory).
pub(crate) fn chunks(parts: &[&[u8]], total: usize) -> Vec<Uint8Array> {
    let mut out = Vec::with_capacity(total.div_ceil(CHUNK).max(1));
    let mut current = Uint8Array::new_with_length(total.min(CHUNK) as u32);
    let (mut filled, mut remaining) = (0usize, total);
    for part in parts {
        let mut part: &[u8] = part;
        while !part.is_empty() {
            let room = current.length() as usize - filled;
            let take = room.min(part.len());
            current
                .subarray(filled as u32, (filled + take) as u32)
                .copy_from(&part[..take]);
            (filled, part, remaining) = (filled + take, &part[take..], remaining - take);
            if filled == current.length() as usize && remaining > 0 {
                out.push(std::mem::replace(
                    &mut current,
                    Uint8Array::new_with_length(remaining.min(CHUNK) as u32),
                ));
                filled = 0;
            }
        }
    }
    out.push(current);
    out
}

/// Puts entry `id` (`header` then `payload`, whose head is `head_len` bytes long) into
/// `tx` as chunks, hashing the payload between the puts; the first chunk, with the
/// finished digest in its header, is put last.
///
/// Each put copies its chunk out of WebAssembly memory once; IndexedDB then moves it to
/// the browser's storage process while the next chunk is hashed here, so hashing costs
/// little more than the copies. Everything is synchronous: the transaction stays active.
pub(crate) fn put_hashing(
    tx: &idb::Transaction,
    id: &Fingerprint,
    header: &EntryHeader,
    payload: &[u8],
    head_len: usize,
) -> Result<PayloadCheck> {
    let e = |err| error::from_idb("write an entry", err);
    if head_len >= CHUNK {
        // Cannot happen (metadata, shape and step name are limited to far less); the
        // first record would be larger than a chunk, which a get rejects.
        return Err(Error::new(
            ErrorKind::Storage,
            "write an entry: the header fills a record",
        ));
    }
    let hex = id.to_hex();
    let entries = tx.object_store(ENTRIES).map_err(e)?;
    let (first, rest) = payload.split_at((CHUNK - head_len).min(payload.len()));
    // An older version of the entry may have had more chunks.
    let count = 1 + rest.len().div_ceil(CHUNK);
    entries.delete(chunk_range(&hex, count).map_err(e)?).map_err(e)?;
    let mut hasher = PayloadHasher::new();
    hasher.update(first);
    for (i, piece) in rest.chunks(CHUNK).enumerate() {
        entries
            .put(&Uint8Array::from(piece), Some(&chunk_key(&hex, i + 1)))
            .map_err(e)?;
        hasher.update(piece);
    }
    let mut header = header.clone();
    header.payload_check = hasher.finish();
    let head = entry::encode_head(&header);
    if head.len() != head_len {
        // Cannot happen (the digest has a fixed size); if it did, the chunks would be
        // misplaced, so the caller aborts the transaction.
        return Err(Error::new(
            ErrorKind::Storage,
            "write an entry: the header changed length",
        ));
    }
    let chunk0 = Uint8Array::new_with_length((head_len + first.len()) as u32);
    chunk0.subarray(0, head_len as u32).copy_from(&head);
    chunk0.subarray(head_len as u32, chunk0.length()).copy_from(first);
    entries.put(&chunk0, Some(&chunk_key(&hex, 0))).map_err(e)?;
    let listing = self::head(&[&head, payload], head_len + payload.len());
    tx.object_store(HEADS)
        .map_err(e)?
        .put(&Uint8Array::from(listing.as_slice()), Some(&key_of(id)))
        .map_err(e)?;
    Ok(header.payload_check)
}

/// Assembles an entry from its records as they arrive, checksumming its payload on the
/// way (for `Store::get_entry`).
pub(crate) struct Reader {
    bytes: AlignedBytes,
    at: usize,
    /// The payload's range once the first record gave the header, and its checksum so far.
    payload: Option<(std::ops::Range<usize>, PayloadHasher)>,
    /// A record that is not bytes, or larger than a chunk: the entry reads as no bytes,
    /// which the entry check rejects.
    damaged: bool,
}

impl Reader {
    /// A reader of `records` records (each at most [`CHUNK`] bytes).
    pub(crate) fn new(records: usize) -> Self {
        Reader {
            bytes: AlignedBytes::zeroed(records * CHUNK),
            at: 0,
            payload: None,
            damaged: false,
        }
    }

    /// Adds the next record, and checksums the payload bytes it holds while they are
    /// fresh in the processor's caches.
    pub(crate) fn push(&mut self, record: &JsValue) {
        let Some(part) = bytes_of(record).filter(|p| p.length() as usize <= CHUNK) else {
            self.damaged = true;
            return;
        };
        if self.damaged {
            return;
        }
        let (start, end) = (self.at, self.at + part.length() as usize);
        part.copy_to(&mut self.bytes.as_mut_slice()[start..end]);
        self.at = end;
        if start == 0
            && let Ok(entry::Head::Complete(header, range)) = entry::decode_head(&self.bytes.as_ref()[..end])
        {
            self.payload = Some((range, PayloadHasher::like(&header.payload_check)));
        }
        if let Some((range, hasher)) = &mut self.payload {
            let (from, to) = (start.max(range.start), end.min(range.end));
            if from < to {
                hasher.update(&self.bytes.as_ref()[from..to]);
            }
        }
    }

    /// The entry's bytes, and the checksum of its payload range if all of it was read.
    pub(crate) fn finish(mut self) -> (AlignedBytes, Option<PayloadCheck>) {
        if self.damaged {
            return (AlignedBytes::zeroed(0), None);
        }
        self.bytes.truncate(self.at);
        let check = match self.payload {
            // Only a payload read to its exact end has a checksum here; anything else is
            // left to the engine's checks (which report it as truncated or extended).
            Some((range, hasher)) if range.end == self.at => Some(hasher.finish()),
            _ => None,
        };
        (self.bytes, check)
    }
}

fn bytes_of(value: &JsValue) -> Option<Uint8Array> {
    // The record itself, not `new Uint8Array(record)`: given a typed array, that
    // constructor copies it (52 ms of a 64 MiB get); given an ArrayBuffer, it is a view.
    if value.is_instance_of::<Uint8Array>() {
        Some(value.clone().unchecked_into())
    } else {
        value.is_instance_of::<ArrayBuffer>().then(|| Uint8Array::new(value))
    }
}
