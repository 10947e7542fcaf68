//! How an entry is kept in IndexedDB: its bytes in chunks of at most [`CHUNK`] bytes, each
//! a record of [`ENTRIES`](crate::ENTRIES) keyed `<hex>:<generation>:<chunk number>`, and a
//! listing record in [`HEADS`](crate::HEADS) keyed `<hex>` that names the generation a get
//! reads.
//!
//! Why generations: Chromium refuses a transaction that carries more than a few hundred
//! MiB of blobs (measured: entries over about 480 MiB failed), so a large entry is written
//! in several transactions. Each put writes its chunks under a generation of its own and
//! makes them the entry in its last transaction, which writes chunk 0 and the listing
//! record together: until then readers see the previous version whole, and a put that
//! dies half-way leaves chunks no listing names, which listing the store removes.
//!
//! Why chunks: on a quiet machine, putting a 64 MiB map as 4 MiB records took 0.71-0.82x
//! the time of one 64 MiB record and getting it 0.69-0.79x (three runs of
//! `adapters/wasm/bench`); Chromium stores large single values as separate blob files.
//! Why not hand IndexedDB views of WebAssembly memory and skip the copy: structured clone
//! serialises a view's whole underlying ArrayBuffer, i.e. all of WebAssembly memory for
//! every chunk, which Chromium then refuses (measured: the transaction aborts).

use js_sys::{ArrayBuffer, Uint8Array};
use stepcache_core::AlignedBytes;
use stepcache_core::entry::{self, PayloadCheck};
use stepcache_core::text;
use wasm_bindgen::{JsCast, JsValue};
/// The largest record of an entry.
pub(crate) const CHUNK: usize = 4 << 20;

/// How many chunks an entry of `len` bytes has (an empty entry still has chunk 0).
pub(crate) fn chunk_count(len: u64) -> usize {
    (len.div_ceil(CHUNK as u64) as usize).max(1)
}

/// A new generation: the time in ms (so listing can tell a put in progress from one that
/// died long ago, see [`Generation::age_ms`]) and 20 random bits (so two tabs putting the
/// same key in the same millisecond never share chunks).
pub(crate) fn new_generation(now_ms: u64) -> Generation {
    let random = (js_sys::Math::random() * f64::from(1u32 << 20)) as u64;
    Generation((now_ms << 20) | (random & 0xf_ffff))
}

/// Which put wrote a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Generation(u64);

impl Generation {
    /// How long ago it began, in ms (0 if the clock went back).
    pub(crate) fn age_ms(self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.0 >> 20)
    }
}

/// The record key of chunk `i` of generation `generation` of the entry whose key is `hex`.
///
/// Chunk numbers have four digits, so keys sort by chunk number: an entry has at most
/// [`MAX_ENTRY_BYTES`](crate::MAX_ENTRY_BYTES) / [`CHUNK`] = 256 chunks.
pub(crate) fn chunk_key(hex: &str, generation: Generation, i: usize) -> JsValue {
    let digits = text!(i);
    let zeros = "0000".get(digits.len()..).unwrap_or("");
    JsValue::from(text!(hex, ":", generation.0, ":", zeros, digits))
}

/// The hex, generation and chunk number of a record key `hex:generation:number`.
pub(crate) fn parse_chunk_key(key: &str) -> Option<(&str, Generation, usize)> {
    let mut parts = key.split(':');
    let hex = parts.next()?;
    let mut number = || parts.next()?.parse::<u64>().ok();
    let (generation, i) = (number()?, number()?);
    parts
        .next()
        .is_none()
        .then_some((hex, Generation(generation), i as usize))
}

/// The records of generation `generation` of entry `hex` from chunk `first` on (`:` sorts after
/// digits and `;` right after `:`, and no generation holds either).
pub(crate) fn generation_range(hex: &str, generation: Generation, first: usize) -> Result<idb::KeyRange, idb::Error> {
    idb::KeyRange::bound(
        &chunk_key(hex, generation, first),
        &JsValue::from(text!(hex, ":", generation.0, ";")),
        Some(false),
        Some(true),
    )
}

/// Every record of entry `hex`, of every generation (fingerprints have a fixed length,
/// so no other entry's keys fall in between).
pub(crate) fn entry_range(hex: &str) -> Result<idb::KeyRange, idb::Error> {
    idb::KeyRange::bound(
        &JsValue::from(text!(hex, ":")),
        &JsValue::from(text!(hex, ";")),
        Some(false),
        Some(true),
    )
}

/// The listing record of an entry: the generation that holds its chunks, its length, and
/// its first [`entry::LIST_HEAD_LEN`] bytes.
pub(crate) struct Head {
    pub(crate) generation: Generation,
    pub(crate) len: u64,
    pub(crate) lead: Vec<u8>,
}

impl Head {
    /// The record's bytes: generation and length (u64 little endian each), then `lead`.
    pub(crate) fn encode(&self) -> Uint8Array {
        let mut bytes = Vec::with_capacity(16 + self.lead.len());
        bytes.extend_from_slice(&self.generation.0.to_le_bytes());
        bytes.extend_from_slice(&self.len.to_le_bytes());
        bytes.extend_from_slice(&self.lead);
        Uint8Array::from(bytes.as_slice())
    }

    /// Reads a listing record; `None` if it is damaged (not bytes, too short, or longer
    /// than the store's limit).
    pub(crate) fn decode(record: &JsValue) -> Option<Head> {
        let bytes = bytes_of(record)?.to_vec();
        let (generation, rest) = bytes.split_first_chunk::<8>()?;
        let (len, lead) = rest.split_first_chunk::<8>()?;
        let len = u64::from_le_bytes(*len);
        (len <= crate::MAX_ENTRY_BYTES as u64 && lead.len() <= entry::LIST_HEAD_LEN).then(|| Head {
            generation: Generation(u64::from_le_bytes(*generation)),
            len,
            lead: lead.to_vec(),
        })
    }
}

/// The first [`entry::LIST_HEAD_LEN`] bytes of an entry, from its chunk 0.
pub(crate) fn lead_of(chunk0: &Uint8Array) -> Vec<u8> {
    chunk0
        .subarray(0, chunk0.length().min(entry::LIST_HEAD_LEN as u32))
        .to_vec()
}

/// What a damaged entry reads as: no bytes, which the engine's entry check rejects (and
/// so removes the entry as a whole).
pub(crate) fn damaged() -> (AlignedBytes, Option<PayloadCheck>) {
    (AlignedBytes::zeroed(0), None)
}

pub(crate) fn bytes_of(value: &JsValue) -> Option<Uint8Array> {
    // The record itself, not `new Uint8Array(record)`: given a typed array, that
    // constructor copies it (52 ms of a 64 MiB get); given an ArrayBuffer, it is a view.
    if value.is_instance_of::<Uint8Array>() {
        Some(value.clone().unchecked_into())
    } else {
        value.is_instance_of::<ArrayBuffer>().then(|| Uint8Array::new(value))
    }
}
