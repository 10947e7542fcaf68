//! The entry format: how one cached result is laid out as bytes in a store.
//!
//! # Layout, format version 1
//!
//! ```text
//! offset  size  field
//! 0       8     magic "STEPCACH"
//! 8       2     format version, u16 LE (1)
//! 10      2     reserved, zero
//! 12      4     header length N, u32 LE
//! 16      16    the first 16 bytes of blake3(header)
//! 32      N     header: postcard encoding of [`EntryHeader`]
//! ...           zero padding up to a multiple of 64 bytes
//! P       L     payload (L = header.payload_len), P a multiple of 64
//! ```
//!
//! The entry is exactly `P + L` bytes long. The payload starts 64-byte aligned, so a
//! memory-mapped `f32`/`f64` map is viewed in place. The header carries the payload's
//! blake3 digest and is itself checksummed, so any damaged byte, truncation, extension
//! or swap with another key's entry is detected: [`decode`] reports it as [`Corrupt`],
//! and the engine treats it as a miss and removes the entry.
//!
//! Old format versions stay readable or are reported as [`Corrupt::UnknownVersion`].

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use serde::{Deserialize, Serialize};

use crate::fingerprint::Fingerprint;
use crate::value::{ElementType, check_layout};

/// The magic bytes every entry starts with.
pub const MAGIC: [u8; 8] = *b"STEPCACH";
/// The format version this build writes.
pub const FORMAT_VERSION: u16 = 1;
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
    /// blake3 of the stored payload.
    pub payload_hash: Fingerprint,
    /// The caller's metadata.
    pub meta: Vec<u8>,
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
}

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Corrupt::Truncated => f.write_str("entry is truncated"),
            Corrupt::TrailingBytes => f.write_str("entry has trailing bytes"),
            Corrupt::BadMagic => f.write_str("not a stepcache entry"),
            Corrupt::UnknownVersion(v) => write!(f, "unknown entry format version {v}"),
            Corrupt::HeaderChecksum => f.write_str("header checksum mismatch"),
            Corrupt::BadHeader => f.write_str("header does not decode"),
            Corrupt::WrongKey => f.write_str("entry belongs to another key"),
            Corrupt::PayloadChecksum => f.write_str("payload checksum mismatch"),
        }
    }
}

fn header_check(header: &[u8]) -> [u8; 16] {
    let digest = blake3::hash(header);
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest.as_bytes()[..16]);
    out
}

fn align_up(n: usize) -> usize {
    n.div_ceil(PAYLOAD_ALIGN) * PAYLOAD_ALIGN
}

/// Encodes everything that precedes the payload: prelude, header and padding.
///
/// A store writes `[head, payload]` as one entry.
pub fn encode_head(header: &EntryHeader) -> Vec<u8> {
    // Serialising a struct of plain fields into a Vec cannot fail.
    let body = postcard::to_allocvec(header).unwrap_or_default();
    let mut out = Vec::with_capacity(align_up(PRELUDE_LEN + body.len()));
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&header_check(&body));
    out.extend_from_slice(&body);
    out.resize(align_up(out.len()), 0);
    out
}

/// The outcome of reading a header from an entry's first bytes.
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
    if version != FORMAT_VERSION {
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
    if header_check(body) != prelude[16..32] {
        return Err(Corrupt::HeaderChecksum);
    }
    let header: EntryHeader = match postcard::from_bytes(body) {
        Ok(h) => h,
        Err(_) => return Err(Corrupt::BadHeader),
    };
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
    if Fingerprint::of_bytes(&bytes[payload.clone()]) != header.payload_hash {
        return Err(Corrupt::PayloadChecksum);
    }
    Ok((header, payload))
}
