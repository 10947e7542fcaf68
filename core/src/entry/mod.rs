//! The entry format: how one cached result is laid out as bytes in a store. The layout,
//! the header's fields and the reasons for its checksums are specified for users and
//! implementers of other stores in `docs/entry-format.md`; this module is that
//! specification's one implementation ([`encode_head`], [`decode`], [`EntryWriter`]).

mod reader;
mod seal;
mod writer;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;
pub use reader::EntryReader;
pub use seal::{MIN_SECRET_LEN, SEAL_LEN, SEAL_MAGIC, TeamKey, unseal};
pub use writer::{EntryHasher, EntryWriter};

use serde::{Deserialize, Serialize};

use crate::fingerprint::Fingerprint;
use crate::provenance::ProvenanceRecord;
use crate::value::{ElementType, check_layout};

/// The magic bytes every entry starts with.
pub const MAGIC: [u8; 8] = *b"STEPCACH";
/// The newest format version this build writes (see [`version_of`] for which version an
/// entry gets: 3, 4 for records, 5 for a raw payload of more than one block).
pub const FORMAT_VERSION: u16 = 5;
/// The oldest format version this build reads.
pub const OLDEST_READABLE_VERSION: u16 = 1;
/// The fixed part before the header.
pub const PRELUDE_LEN: usize = 32;
/// Payload alignment in bytes.
pub const PAYLOAD_ALIGN: usize = 64;
/// How many leading bytes of an entry a store returns when it lists entries: enough for
/// the header of every entry whose metadata is small. Larger headers are read whole.
pub const LIST_HEAD_LEN: usize = 4096;
/// The largest header accepted (the caller's metadata is limited to 1 MiB).
pub const MAX_HEADER_LEN: usize = 2 << 20;
/// The largest caller metadata accepted by `put`.
pub const MAX_META_LEN: usize = 1 << 20;
/// The length of the blocks that format version 5 checksums one by one
/// ([`EntryHeader::blocks`]): 1 MiB, so one slice of a volume is read and verified
/// without the rest, at 16 bytes of header per MiB of payload.
pub const BLOCK_LEN: usize = 1 << 20;

/// How a payload is stored.
///
/// The numeric codes are part of the format: never reorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Codec {
    /// As is.
    Raw,
    /// Bytes of equal significance grouped together, then LZ4 (see `codec`).
    ShuffleLz4,
}

/// Everything an entry says about itself besides its payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryHeader {
    /// The key's fingerprint.
    #[serde(with = "crate::wire::fingerprint")]
    pub key: Fingerprint,
    /// The step (result type) name.
    pub step: String,
    /// When it was stored, milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// How long it took to compute, in microseconds (0 when unknown).
    pub cost_us: u64,
    /// The element type of the value.
    pub elem: ElementType,
    /// The value's shape.
    pub shape: Vec<u64>,
    /// How the payload is stored.
    pub codec: Codec,
    /// The value's length in bytes before the codec.
    pub raw_len: u64,
    /// The payload's stored length in bytes.
    pub payload_len: u64,
    /// The checksum of the stored payload.
    pub payload_check: PayloadCheck,
    /// The caller's metadata.
    #[serde(with = "crate::wire::vec")]
    pub meta: Vec<u8>,
    /// How the entry was made (format version 3; empty when read from older entries).
    /// Not a postcard field: the record follows them and runs to the end of the header,
    /// so a header is decoded without decoding its provenance.
    #[serde(skip)]
    pub provenance: ProvenanceRecord,
    /// The XXH3-128 (little-endian) of each [`BLOCK_LEN`] bytes of the payload in order,
    /// the last block possibly shorter (format version 5; empty in every other version):
    /// a region read checks only the blocks it reads. [`block_count`] says how many an
    /// entry has. Not a postcard field: the table lies between the fields and the
    /// provenance record; [`EntryWriter`] fills it in from the payload.
    #[serde(skip)]
    pub blocks: BlockTable,
}

/// How many per-block checksums an entry of `header` carries ([`EntryHeader::blocks`]):
/// one per [`BLOCK_LEN`] bytes of a raw payload longer than one block, none otherwise (a
/// compressed payload is read whole, and a region of a payload of one block is that block).
pub fn block_count(header: &EntryHeader) -> u64 {
    let blocked = header.codec == Codec::Raw && header.elem != ElementType::Record;
    if blocked && header.payload_len > BLOCK_LEN as u64 {
        header.payload_len.div_ceil(BLOCK_LEN as u64)
    } else {
        0
    }
}

/// The checksums of a payload's blocks ([`EntryHeader::blocks`]): the XXH3-128 of each
/// [`BLOCK_LEN`] bytes in order, the last block possibly shorter, 16 bytes each
/// (little-endian), as the table is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockTable(Vec<u8>);

impl BlockTable {
    /// The table of `payload`, cut into blocks by the same hasher the streaming writer
    /// uses, so that where blocks are cut is decided once.
    pub fn of(payload: &[u8]) -> Self {
        let mut hasher = BlockHasher::new();
        hasher.update(payload);
        hasher.finish()
    }

    /// A table of `count` zero checksums, the length of the real one.
    pub fn placeholder(count: usize) -> Self {
        BlockTable(alloc::vec![0; count * 16])
    }

    /// The number of blocks.
    pub fn len(&self) -> usize {
        self.0.len() / 16
    }

    /// Whether there are no blocks (every entry but a version 5 one's).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `block` has the checksum of block number `index`.
    pub fn matches(&self, index: usize, block: &[u8]) -> bool {
        self.0.get(index * 16..index * 16 + 16) == Some(&xxh3_128(block)[..])
    }

    /// The table as written: 16 bytes per block.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The checksum of an entry's payload, tagged with its algorithm.
///
/// The numeric codes are part of the format: never reorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PayloadCheck {
    /// blake3 of the payload: what format version 1 entries carry.
    Blake3(#[serde(with = "crate::wire::fingerprint")] Fingerprint),
    /// XXH3-128 of the payload (seed 0), little-endian: what this build writes.
    Xxh3(#[serde(with = "crate::wire::array")] [u8; 16]),
}

impl PayloadCheck {
    /// The checksum this build writes for `payload`.
    pub fn of(payload: &[u8]) -> Self {
        PayloadCheck::Xxh3(xxh3_128(payload))
    }

    /// A placeholder of the same encoded size as [`PayloadCheck::of`], for a header whose
    /// checksum is filled in later (a store may hash while it writes).
    pub const fn placeholder() -> Self {
        PayloadCheck::Xxh3([0; 16])
    }

    /// Whether `payload` has this checksum.
    pub fn matches(&self, payload: &[u8]) -> bool {
        match self {
            PayloadCheck::Blake3(digest) => Fingerprint::of_bytes(payload) == *digest,
            PayloadCheck::Xxh3(check) => xxh3_128(payload) == *check,
        }
    }
}

/// Computes a [`PayloadCheck`] over a payload given in pieces: a store may checksum each
/// piece as it writes it, or as it reads it.
pub struct PayloadHasher(Hasher);

enum Hasher {
    Blake3(alloc::boxed::Box<blake3::Hasher>),
    Xxh3(alloc::boxed::Box<crate::checksum::Xxh3>),
}

impl PayloadHasher {
    /// A hasher for the checksum this build writes ([`PayloadCheck::of`]).
    pub fn new() -> Self {
        PayloadHasher(Hasher::Xxh3(alloc::boxed::Box::new(crate::checksum::Xxh3::new())))
    }

    /// A hasher of the same algorithm as `check` (to verify an entry while reading it).
    pub fn like(check: &PayloadCheck) -> Self {
        match check {
            PayloadCheck::Blake3(_) => PayloadHasher(Hasher::Blake3(alloc::boxed::Box::default())),
            PayloadCheck::Xxh3(_) => Self::new(),
        }
    }

    /// Takes the next piece of the payload.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            Hasher::Blake3(h) => {
                h.update(bytes);
            }
            Hasher::Xxh3(h) => h.update(bytes),
        }
    }

    /// The checksum of everything given, in order: equal to the one-shot checksum of the
    /// concatenation.
    pub fn finish(&self) -> PayloadCheck {
        match &self.0 {
            Hasher::Blake3(h) => PayloadCheck::Blake3(Fingerprint::from_bytes(*h.finalize().as_bytes())),
            Hasher::Xxh3(h) => PayloadCheck::Xxh3(h.finish().to_le_bytes()),
        }
    }
}

impl Default for PayloadHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for PayloadHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PayloadHasher")
    }
}

/// Computes a [`BlockTable`] over a payload given in pieces of any lengths, as a
/// [`PayloadHasher`] computes the payload's checksum (see [`EntryHasher`]).
pub(crate) struct BlockHasher {
    table: Vec<u8>,
    block: alloc::boxed::Box<crate::checksum::Xxh3>,
    /// How many bytes of the current block it has been given.
    filled: usize,
}

impl BlockHasher {
    /// A hasher given nothing yet.
    pub(crate) fn new() -> Self {
        BlockHasher {
            table: Vec::new(),
            block: alloc::boxed::Box::new(crate::checksum::Xxh3::new()),
            filled: 0,
        }
    }

    /// Takes the next piece of the payload.
    pub(crate) fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let take = (BLOCK_LEN - self.filled).min(bytes.len());
            self.block.update(&bytes[..take]);
            self.filled += take;
            bytes = &bytes[take..];
            if self.filled == BLOCK_LEN {
                self.end_block();
            }
        }
    }

    fn end_block(&mut self) {
        self.table.extend_from_slice(&self.block.finish().to_le_bytes());
        *self.block = crate::checksum::Xxh3::new();
        self.filled = 0;
    }

    /// The table of everything given, in order: equal to [`BlockTable::of`] the
    /// concatenation.
    pub(crate) fn finish(mut self) -> BlockTable {
        if self.filled > 0 {
            self.end_block();
        }
        BlockTable(self.table)
    }
}

/// XXH3-128 (seed 0) of `bytes`, little-endian.
fn xxh3_128(bytes: &[u8]) -> [u8; 16] {
    crate::checksum::xxh3_128(bytes).to_le_bytes()
}

/// Why bytes are not a valid entry. Every one of these is a miss, never an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Corrupt {
    /// Shorter than its header says.
    Truncated,
    /// Longer than its header says.
    TrailingBytes,
    /// Does not start with [`MAGIC`].
    BadMagic,
    /// A format version this build cannot read.
    UnknownVersion(u16),
    /// The header's checksum does not match.
    HeaderChecksum,
    /// The header does not decode, or its fields disagree with each other.
    BadHeader,
    /// The entry belongs to another key.
    WrongKey,
    /// The payload's digest does not match.
    PayloadChecksum,
    /// Read with a team key, but not sealed (see [`TeamKey`]).
    Unsealed,
    /// Read with a team key, but sealed by another key or altered since.
    BadSeal,
}

impl crate::text::Piece for Corrupt {
    fn push_to(&self, out: &mut String) {
        out.push_str(match self {
            Corrupt::Truncated => "entry is truncated",
            Corrupt::TrailingBytes => "entry has trailing bytes",
            Corrupt::BadMagic => "not a stepcache entry",
            Corrupt::UnknownVersion(v) => {
                out.push_str("unknown entry format version ");
                v.push_to(out);
                return;
            }
            Corrupt::HeaderChecksum => "header checksum mismatch",
            Corrupt::BadHeader => "header does not decode",
            Corrupt::WrongKey => "entry belongs to another key",
            Corrupt::PayloadChecksum => "payload checksum mismatch",
            Corrupt::Unsealed => "entry has no team-key seal",
            Corrupt::BadSeal => "entry's team-key seal does not match",
        });
    }
}

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `write_str`, not `write!`: see `crate::text`.
        f.write_str(&crate::text!(self))
    }
}

/// The header checksum stored in bytes 16..32 of the prelude, by format version, over the
/// header `body` and, from version 5, the prelude's first 16 bytes before it (magic,
/// version, header length): a header relabelled as another version then fails its check
/// instead of being read by the other version's rules.
fn header_check(version: u16, prelude: &[u8], body: &[u8]) -> [u8; 16] {
    if version == 1 {
        let digest = blake3::hash(body);
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest.as_bytes()[..16]);
        return out;
    }
    let mut hasher = crate::checksum::Xxh3::new();
    if version >= 5 {
        hasher.update(&prelude[..16]);
    }
    hasher.update(body);
    hasher.finish().to_le_bytes()
}

/// Decodes a header body of format `version`.
///
/// Versions 2 to 5 share their fields; version 3 follows them with the provenance
/// record, never empty, to the end of the header, and version 5 puts the block table
/// ([`EntryHeader::blocks`]) between the two. Before version 3 nothing may follow the
/// fields. So a header relabelled from one version to another does not decode.
fn decode_header_body(version: u16, body: &[u8]) -> Option<EntryHeader> {
    let v2;
    let body = if version == 1 {
        v2 = v1_as_v2(body)?;
        &v2
    } else {
        body
    };
    let (mut header, mut rest): (EntryHeader, &[u8]) = postcard::take_from_bytes(body).ok()?;
    // Only version 5 has a table, and only an entry that has blocks is version 5.
    let blocks = match (version, block_count(&header)) {
        (5, 0) => return None,
        (5, blocks) => blocks,
        _ => 0,
    };
    let table_len = usize::try_from(blocks).ok()?.checked_mul(16)?;
    header.blocks = BlockTable(rest.get(..table_len)?.to_vec());
    rest = &rest[table_len..];
    match (version, rest) {
        (3.., [_, ..]) => header.provenance = ProvenanceRecord::from_bytes(rest.to_vec()),
        (..3, []) => {}
        _ => return None,
    }
    // Records are version 4's alone, and version 4 holds nothing else.
    ((header.elem == ElementType::Record) == (version == 4)).then_some(header)
}

/// Rewrites a version 1 header body as the version 2 body of the same header, so one
/// decoder reads both: a second serde decoder, for a version 1 struct, was 0.7 KB of the
/// npm package's module gzipped. The two differ only in how they write the key and the
/// payload digest: version 1 as 32 bare bytes each, version 2 as byte strings (a length
/// byte, then the bytes), the digest as [`PayloadCheck::Blake3`] (variant 0). Every field
/// between them is varints (postcard's integers, lengths and enum variants), skipped here.
/// `None` if the body ends before the digest; the decoder judges the rest.
fn v1_as_v2(body: &[u8]) -> Option<Vec<u8>> {
    /// The length of the varint at the start of `bytes`, and its value.
    fn varint(bytes: &[u8]) -> Option<(usize, u64)> {
        let mut value = 0u64;
        for (i, &b) in bytes.iter().take(10).enumerate() {
            value |= u64::from(b & 0x7f).checked_shl(7 * i as u32)?;
            if b < 0x80 {
                return Some((i + 1, value));
            }
        }
        None
    }
    let mut at = 32;
    let mut skip = |count: usize, then_bytes: bool| -> Option<u64> {
        let mut last = 0;
        for _ in 0..count {
            let (len, value) = varint(body.get(at..)?)?;
            at = at.checked_add(len)?;
            last = value;
        }
        if then_bytes {
            at = at.checked_add(usize::try_from(last).ok()?)?;
        }
        Some(last)
    };
    skip(1, true)?; // step: its length, then its bytes
    skip(3, false)?; // created_ms, cost_us, elem
    let dims = skip(1, false)?; // shape: its length, then one varint per dimension
    skip(usize::try_from(dims).ok()?.min(body.len()), false)?;
    skip(3, false)?; // codec, raw_len, payload_len
    let digest = body.get(at..at.checked_add(32)?)?;
    let mut out = Vec::with_capacity(body.len() + 3);
    out.push(32);
    out.extend_from_slice(body.get(..32)?);
    out.extend_from_slice(&body[32..at]);
    out.extend_from_slice(&[0, 32]);
    out.extend_from_slice(digest);
    out.extend_from_slice(&body[at + 32..]);
    Some(out)
}

fn align_up(n: usize) -> usize {
    n.div_ceil(PAYLOAD_ALIGN) * PAYLOAD_ALIGN
}

/// The postcard encoding's length of `header`.
///
/// Measured by encoding it into a scratch vector, not with postcard's `Size` flavor: one
/// serializer instance instead of two (0.3 KB of the npm package's .wasm gzipped), for a
/// header of a few hundred bytes.
fn body_len(header: &EntryHeader) -> usize {
    // Serialising a struct of plain fields into a Vec cannot fail.
    postcard::to_extend(header, Vec::new()).map_or(0, |body| body.len())
        + header.blocks.as_bytes().len()
        + header.provenance.as_bytes().len()
}

/// The length of [`encode_head`]`(header)`, without encoding it.
pub fn head_len(header: &EntryHeader) -> usize {
    align_up(PRELUDE_LEN + body_len(header))
}

/// The format version an entry of `header` is written in: 4 for a record, 5 for a payload
/// with per-block checksums ([`block_count`]), 3 otherwise. Versions 4 and 5 are version
/// 3's layout with a record's payload, or with a block table; each is its own version so
/// that a build that knows neither refuses one as an unknown version, and each version
/// says exactly which entries it holds (a record labelled 3, a payload of one block
/// labelled 5, and so on, is a bad header).
pub fn version_of(header: &EntryHeader) -> u16 {
    if header.elem == ElementType::Record {
        4
    } else if block_count(header) > 0 {
        5
    } else {
        3
    }
}

/// Encodes everything that precedes the payload: prelude, header and padding.
///
/// A store writes `[head, payload]` as one entry.
pub fn encode_head(header: &EntryHeader) -> Vec<u8> {
    let version = version_of(header);
    let mut out = Vec::with_capacity(align_up(PRELUDE_LEN + 256));
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    // The header's length and checksum, once the header is written (it is encoded once).
    out.extend_from_slice(&[0; 20]);
    // Serialising a struct of plain fields into a Vec cannot fail.
    let mut out = postcard::to_extend(header, out).unwrap_or_default();
    out.extend_from_slice(header.blocks.as_bytes());
    out.extend_from_slice(header.provenance.as_bytes());
    let len = (out.len() - PRELUDE_LEN) as u32;
    out[12..16].copy_from_slice(&len.to_le_bytes());
    let check = header_check(version, &out[..PRELUDE_LEN], &out[PRELUDE_LEN..]);
    out[16..PRELUDE_LEN].copy_from_slice(&check);
    out.resize(align_up(out.len()), 0);
    out
}

/// The outcome of reading a header from an entry's first bytes.
// Made once per read and matched at once: boxing the header would cost an allocation on
// every read to save stack bytes that are never held for long.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Head {
    /// The header, and where the payload lies in the entry.
    Complete(EntryHeader, Range<usize>),
    /// The header is longer than the bytes given; read at least this many.
    NeedBytes(usize),
}

/// Reads the header from the first bytes of an entry (checks magic, version, header
/// checksum and internal consistency; not the payload).
///
/// # Errors
/// [`Corrupt`] if the bytes are not a valid entry head.
pub fn decode_head(bytes: &[u8]) -> Result<Head, Corrupt> {
    let prelude = bytes.get(..PRELUDE_LEN).ok_or(Corrupt::Truncated)?;
    if prelude[..8] != MAGIC {
        return Err(Corrupt::BadMagic);
    }
    let version = u16::from_le_bytes([prelude[8], prelude[9]]);
    if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(Corrupt::UnknownVersion(version));
    }
    if prelude[10..12] != [0, 0] {
        return Err(Corrupt::BadHeader);
    }
    let header_len = header_len(&prelude[12..16]);
    if header_len > MAX_HEADER_LEN {
        return Err(Corrupt::BadHeader);
    }
    let payload_start = align_up(PRELUDE_LEN + header_len);
    let Some(body) = bytes.get(PRELUDE_LEN..PRELUDE_LEN + header_len) else {
        return Ok(Head::NeedBytes(payload_start));
    };
    if header_check(version, prelude, body) != prelude[16..32] {
        return Err(Corrupt::HeaderChecksum);
    }
    let header = decode_header_body(version, body).ok_or(Corrupt::BadHeader)?;
    let stored_ok = match header.codec {
        Codec::Raw => header.raw_len == header.payload_len,
        Codec::ShuffleLz4 => true,
    };
    let payload_len = usize::try_from(header.payload_len).map_err(|_| Corrupt::BadHeader)?;
    let raw_len = usize::try_from(header.raw_len).map_err(|_| Corrupt::BadHeader)?;
    if !stored_ok || check_layout(header.elem, &header.shape, raw_len).is_err() {
        return Err(Corrupt::BadHeader);
    }
    let end = payload_start.checked_add(payload_len).ok_or(Corrupt::BadHeader)?;
    Ok(Head::Complete(header, payload_start..end))
}

fn header_len(field: &[u8]) -> usize {
    u32::from_le_bytes([field[0], field[1], field[2], field[3]]) as usize
}

/// Decodes and fully verifies a whole entry read for `key`.
///
/// Returns the header and the payload's byte range within `bytes`.
///
/// # Errors
/// [`Corrupt`] for any damage, a wrong key, or an unknown version.
pub fn decode(bytes: &[u8], key: &Fingerprint) -> Result<(EntryHeader, Range<usize>), Corrupt> {
    decode_checked(bytes, key, None)
}

/// The length an entry whose first bytes are `head` says it has (where its payload
/// ends), or the length of `head` if they do not say: for a store that can read an
/// entry's head but not learn its length (a ranged HTTP request whose host hides it).
pub fn listed_len(head: &[u8]) -> u64 {
    match decode_head(head) {
        Ok(Head::Complete(_, range)) => range.end as u64,
        _ => head.len() as u64,
    }
}

/// [`decode`], with the payload's checksum already computed by whoever read `bytes`, over
/// exactly the bytes of the payload range (see [`crate::Store::get_entry`]); `None`:
/// compute it here.
///
/// # Errors
/// [`Corrupt`] for any damage, a wrong key, or an unknown version.
pub fn decode_checked(
    bytes: &[u8],
    key: &Fingerprint,
    payload_check: Option<PayloadCheck>,
) -> Result<(EntryHeader, Range<usize>), Corrupt> {
    let (header, payload) = match decode_head(bytes)? {
        Head::Complete(h, p) => (h, p),
        Head::NeedBytes(_) => return Err(Corrupt::Truncated),
    };
    if header.key != *key {
        return Err(Corrupt::WrongKey);
    }
    if bytes.len() < payload.end {
        return Err(Corrupt::Truncated);
    }
    if bytes.len() > payload.end {
        return Err(Corrupt::TrailingBytes);
    }
    let header_end = PRELUDE_LEN + header_len(&bytes[12..16]);
    if bytes[header_end..payload.start].iter().any(|&b| b != 0) {
        return Err(Corrupt::BadHeader);
    }
    let intact = match payload_check {
        Some(check) => check == header.payload_check,
        None => header.payload_check.matches(&bytes[payload.clone()]),
    };
    if !intact {
        return Err(Corrupt::PayloadChecksum);
    }
    Ok((header, payload))
}

/// An entry of raw bytes `payload` under the key of `key_byte`s, and its payload checksum:
/// for the unit tests of the entry's readers and seals.
#[cfg(test)]
pub(crate) fn test_entry(key_byte: u8, payload: &[u8]) -> (Vec<u8>, PayloadCheck) {
    let header = EntryHeader {
        key: Fingerprint::from_bytes([key_byte; 32]),
        step: "s".into(),
        created_ms: 1,
        cost_us: 2,
        elem: ElementType::Bytes,
        shape: alloc::vec![payload.len() as u64],
        codec: Codec::Raw,
        raw_len: payload.len() as u64,
        payload_len: payload.len() as u64,
        payload_check: PayloadCheck::placeholder(),
        meta: Vec::new(),
        provenance: ProvenanceRecord::default(),
        blocks: BlockTable::default(),
    };
    EntryWriter::new(&header, payload)
        .to_bytes()
        .expect("a head of the length it said")
}

#[cfg(test)]
mod tests {
    use alloc::string::String;
    use alloc::vec::Vec;
    use proptest::prelude::*;
    use serde::Serialize;

    use super::*;

    /// A header as format version 1 wrote it: key and digest as serde's 32-tuples.
    #[derive(Serialize)]
    struct WrittenV1 {
        key: [u8; 32],
        step: String,
        created_ms: u64,
        cost_us: u64,
        elem: ElementType,
        shape: Vec<u64>,
        codec: Codec,
        raw_len: u64,
        payload_len: u64,
        payload_hash: [u8; 32],
        meta: Vec<u8>,
    }

    proptest! {
        /// Any version 1 body, rewritten, decodes to the header it describes.
        #[test]
        fn v1_bodies_decode_through_the_v2_decoder(
            key: [u8; 32],
            digest: [u8; 32],
            step in "[a-z]{1,300}",
            created_ms: u64,
            cost_us: u64,
            // Every element type version 1 knew (records came with version 4).
            elem in 0..usize::from(ElementType::Record.code()),
            shape in proptest::collection::vec(any::<u64>(), 0..40),
            compressed: bool,
            raw_len: u64,
            payload_len: u64,
            meta in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let codec = if compressed { Codec::ShuffleLz4 } else { Codec::Raw };
            let elem = ElementType::ALL[elem];
            let written = WrittenV1 {
                key, step: step.clone(), created_ms, cost_us, elem, shape: shape.clone(), codec,
                raw_len, payload_len, payload_hash: digest, meta: meta.clone(),
            };
            let body = postcard::to_allocvec(&written).unwrap();
            let expected = EntryHeader {
                key: Fingerprint::from_bytes(key), step, created_ms, cost_us, elem, shape, codec,
                raw_len, payload_len, payload_check: PayloadCheck::Blake3(Fingerprint::from_bytes(digest)), meta,
                provenance: ProvenanceRecord::default(), blocks: BlockTable::default(),
            };
            prop_assert_eq!(decode_header_body(1, &body), Some(expected));
            // Cut anywhere, it never decodes to a header, nor panics.
            for cut in 0..body.len() {
                prop_assert_eq!(decode_header_body(1, &body[..cut]), None);
            }
        }
    }
}
