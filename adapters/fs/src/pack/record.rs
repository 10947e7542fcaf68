//! The bytes of a pack file: a fixed header, then records one after another.
//!
//! ```text
//! pack header, 64 bytes
//!   0   16  magic "STEPCACHE-PACK\0\0"
//!   16  2   pack format version, u16 LE (1)
//!   18  46  reserved, zero
//!
//! record header, 64 bytes, then `len` bytes of body, then zeros up to a multiple of 64
//!   0   4   magic "SCPR"
//!   4   1   kind: 1 = entry (the body is one whole entry), 2 = removal (no body)
//!   5   3   reserved, zero
//!   8   8   stamp, u64 LE: the shared counter's value when written; the highest wins
//!   16  32  the entry's id
//!   48  4   body length, u32 LE
//!   52  4   copy generation, u32 LE: 0 as written, one more each time compaction copies it
//!   56  8   the low 64 bits of XXH3-128 of bytes 0..56, u64 LE
//! ```
//!
//! Records start at multiples of 64 bytes, so an entry read in place from a memory map of
//! the pack has its payload as aligned as in an entry file, and `f32`/`f64` maps are
//! viewed without a copy.
//!
//! Compaction copies a record with its stamp, so for a while the same record exists twice:
//! in the pack being compacted and in the compactor's. Every handle must then settle on
//! the copy, whichever of the two it happens to scan first, or it would follow the
//! original into a pack that is about to disappear. The generation says which is the
//! copy: of records with equal stamps, the higher generation wins.
//!
//! The record header is checksummed so a scan can tell a complete header from a torn or
//! damaged one; the body is an entry in the entry format, which verifies itself on every
//! read. A scan stops at the first header that is incomplete or does not check: past it,
//! record boundaries are unknown (a writer may still be writing it, or it was torn).

use stepcache_core::Fingerprint;

/// The first bytes of every pack file.
pub(crate) const PACK_MAGIC: [u8; 16] = *b"STEPCACHE-PACK\0\0";
/// The pack format this build writes and reads.
pub(crate) const PACK_VERSION: u16 = 1;
/// Bytes before the first record.
pub(crate) const PACK_HEADER_LEN: u64 = 64;
/// Bytes of a record header.
pub(crate) const RECORD_HEADER_LEN: usize = 64;
const RECORD_MAGIC: [u8; 4] = *b"SCPR";

/// What a record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The body is the entry stored under the id.
    Entry = 1,
    /// The id's entry was removed.
    Removal = 2,
}

/// A decoded record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    pub kind: Kind,
    pub stamp: u64,
    pub id: Fingerprint,
    pub len: u32,
    /// How many times compaction copied the record (0: as first written).
    pub generation: u32,
}

/// The pack header this build writes.
pub(crate) fn pack_header() -> [u8; PACK_HEADER_LEN as usize] {
    let mut out = [0u8; PACK_HEADER_LEN as usize];
    out[..16].copy_from_slice(&PACK_MAGIC);
    out[16..18].copy_from_slice(&PACK_VERSION.to_le_bytes());
    out
}

/// Whether `bytes` start a pack this build can read.
pub(crate) fn is_pack_header(bytes: &[u8]) -> bool {
    bytes.len() >= PACK_HEADER_LEN as usize
        && bytes[..16] == PACK_MAGIC
        && bytes[16..18] == PACK_VERSION.to_le_bytes()
        && bytes[18..PACK_HEADER_LEN as usize].iter().all(|&b| b == 0)
}

fn check(bytes: &[u8]) -> u64 {
    twox_hash::XxHash3_128::oneshot(bytes) as u64
}

impl RecordHeader {
    /// The header's 64 bytes.
    pub(crate) fn encode(&self) -> [u8; RECORD_HEADER_LEN] {
        let mut out = [0u8; RECORD_HEADER_LEN];
        out[..4].copy_from_slice(&RECORD_MAGIC);
        out[4] = self.kind as u8;
        out[8..16].copy_from_slice(&self.stamp.to_le_bytes());
        out[16..48].copy_from_slice(self.id.as_bytes());
        out[48..52].copy_from_slice(&self.len.to_le_bytes());
        out[52..56].copy_from_slice(&self.generation.to_le_bytes());
        let sum = check(&out[..56]);
        out[56..64].copy_from_slice(&sum.to_le_bytes());
        out
    }

    /// Decodes a header, or `None` if it is not a complete, intact one.
    pub(crate) fn decode(bytes: &[u8]) -> Option<RecordHeader> {
        let bytes = bytes.get(..RECORD_HEADER_LEN)?;
        let u32_at = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let u64_at = |at: usize| (u64::from(u32_at(at + 4)) << 32) | u64::from(u32_at(at));
        if bytes[..4] != RECORD_MAGIC || u64_at(56) != check(&bytes[..56]) {
            return None;
        }
        if bytes[5..8] != [0; 3] {
            return None;
        }
        let kind = match bytes[4] {
            1 => Kind::Entry,
            2 => Kind::Removal,
            _ => return None,
        };
        let len = u32_at(48);
        if kind == Kind::Removal && len != 0 {
            return None;
        }
        let mut id = [0u8; 32];
        id.copy_from_slice(&bytes[16..48]);
        Some(RecordHeader {
            kind,
            stamp: u64_at(8),
            id: Fingerprint::from_bytes(id),
            len,
            generation: u32_at(52),
        })
    }

    /// The record's whole length: header, body and padding.
    pub(crate) fn record_len(&self) -> u64 {
        record_len(self.len)
    }
}

/// The length of a record whose body is `len` bytes: header, body and padding.
pub(crate) fn record_len(len: u32) -> u64 {
    (RECORD_HEADER_LEN as u64 + u64::from(len)).div_ceil(RECORD_ALIGN) * RECORD_ALIGN
}

/// Records start at multiples of this.
const RECORD_ALIGN: u64 = 64;

/// One record found by [`scan`], at `offset` in its pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    pub header: RecordHeader,
    pub offset: u64,
}

/// Reads records from `bytes`, which hold a pack from file offset `start` on. Returns the
/// records that are complete and the offset where scanning stopped (the end of the last
/// complete record).
pub(crate) fn scan(bytes: &[u8], start: u64) -> (Vec<Found>, u64) {
    let mut found = Vec::new();
    let mut at = 0usize;
    while let Some(header) = bytes.get(at..).and_then(RecordHeader::decode) {
        let end = at as u64 + header.record_len();
        if end > bytes.len() as u64 {
            break; // the body is not all there (yet)
        }
        found.push(Found {
            header,
            offset: start + at as u64,
        });
        at = end as usize;
    }
    (found, start + at as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: Kind, len: u32) -> RecordHeader {
        RecordHeader {
            kind,
            stamp: 0x0102_0304_0506_0708,
            id: Fingerprint::from_bytes([7; 32]),
            len,
            generation: 3,
        }
    }

    #[test]
    fn header_round_trips_and_every_flip_is_caught() {
        let h = header(Kind::Entry, 1234);
        let bytes = h.encode();
        assert_eq!(RecordHeader::decode(&bytes), Some(h));
        for pos in 0..RECORD_HEADER_LEN {
            let mut damaged = bytes;
            damaged[pos] ^= 0x10;
            assert_eq!(RecordHeader::decode(&damaged), None, "flip at {pos}");
        }
        assert_eq!(RecordHeader::decode(&bytes[..63]), None);
    }

    #[test]
    fn scan_stops_at_incomplete_and_damaged_records() {
        let mut pack = Vec::new();
        for len in [3u32, 0, 70] {
            pack.extend_from_slice(&header(Kind::Entry, len).encode());
            pack.extend(std::iter::repeat_n(9u8, len as usize));
            pack.resize(pack.len().next_multiple_of(64), 0);
        }
        pack.extend_from_slice(&header(Kind::Removal, 0).encode());
        let whole = pack.len() as u64;
        let (found, end) = scan(&pack, 128);
        assert_eq!(found.len(), 4);
        assert_eq!(end, 128 + whole);
        // Records start at multiples of 64: 128 + 0, + 128 (64 + 3, padded), + 64.
        let offsets: Vec<u64> = found.iter().map(|f| f.offset).collect();
        assert_eq!(offsets, [128, 256, 320, 512]);
        assert_eq!(record_len(70), 192);
        // A record cut short: the scan stops before it.
        let (found, end) = scan(&pack[..128 + 64 + 100], 0);
        assert_eq!(found.len(), 2);
        assert_eq!(end, 192);
        // A damaged header: nothing from there on.
        let mut damaged = pack.clone();
        damaged[128 + 10] ^= 1;
        assert_eq!(scan(&damaged, 0).0.len(), 1);
    }

    #[test]
    fn pack_header_is_recognised() {
        let h = pack_header();
        assert!(is_pack_header(&h));
        let mut bad = h;
        bad[20] = 1;
        assert!(!is_pack_header(&bad));
        assert!(!is_pack_header(&h[..63]));
    }
}
