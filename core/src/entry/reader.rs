//! The one way a store assembles an entry it reads in pieces: [`EntryReader`].

use core::ops::Range;

use super::{Head, PayloadCheck, PayloadHasher, decode_head};
use crate::bytes::AlignedBytes;

/// An entry of a known length assembled from the pieces a store reads (records,
/// network chunks), its payload checksummed on the way while each piece is fresh in the
/// processor's caches: a store that reads through this returns the checksum with the
/// bytes ([`crate::Store::get_entry`]), and the engine does not read the payload again.
///
/// Damage never makes it allocate more than the length it was given: more bytes than
/// that mark the entry damaged, and a damaged or short entry reads as no bytes, which
/// the engine's entry check rejects.
#[derive(Debug)]
pub struct EntryReader {
    bytes: AlignedBytes,
    at: usize,
    /// The payload's range once the header was read, and its checksum so far.
    payload: Option<(Range<usize>, PayloadHasher)>,
    /// How many bytes the header needs before it is worth decoding (it is decoded once
    /// they are here, not once per piece); `usize::MAX` once it was found unreadable
    /// (then the engine's checks say why).
    head_needs: usize,
    damaged: bool,
}

impl EntryReader {
    /// A reader of an entry of `len` bytes, a length the store has checked against what
    /// it can hold (the browser's stores against the browser's limit): failing to
    /// allocate it ends the process, as any allocation does.
    pub fn new(len: usize) -> Self {
        Self::with_buffer(AlignedBytes::zeroed(len))
    }

    /// A reader of an entry of `len` bytes, or `None` if this process cannot allocate that
    /// much: for a length no limit was checked against (a response's, which another
    /// machine or damage may make larger than any entry this process could hold).
    pub fn try_new(len: usize) -> Option<Self> {
        AlignedBytes::try_zeroed(len).map(Self::with_buffer)
    }

    fn with_buffer(bytes: AlignedBytes) -> Self {
        EntryReader {
            bytes,
            at: 0,
            payload: None,
            head_needs: super::PRELUDE_LEN,
            damaged: false,
        }
    }

    /// Whether the entry is known to be damaged already: its pieces need not be read on.
    pub fn is_damaged(&self) -> bool {
        self.damaged
    }

    /// Bytes still expected.
    pub fn remaining(&self) -> usize {
        self.bytes.as_ref().len() - self.at
    }

    /// The bytes not pushed yet, in the place they will go: for a store that prepares
    /// that memory ahead of its copies (a native one asking the kernel to map the pages
    /// of the next piece in one call rather than one fault per page). Whatever is written
    /// here is overwritten by the next pushes, which alone are checksummed.
    pub fn unfilled(&mut self) -> &mut [u8] {
        let at = self.at;
        &mut self.bytes.as_mut_slice()[at..]
    }

    /// Adds the next `len` bytes, written by `fill` into the place they go (so a store
    /// whose pieces live elsewhere, such as JavaScript memory, copies each once). More
    /// bytes than remain mark the entry damaged, and `fill` is not called.
    pub fn push_with(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) {
        if self.damaged || len > self.remaining() {
            self.damaged = true;
            return;
        }
        let (start, end) = (self.at, self.at + len);
        fill(&mut self.bytes.as_mut_slice()[start..end]);
        self.at = end;
        if self.payload.is_none() && end >= self.head_needs {
            match decode_head(&self.bytes.as_ref()[..end]) {
                Ok(Head::Complete(header, range)) => {
                    let mut hasher = PayloadHasher::like(&header.payload_check);
                    // Payload bytes that came with the header.
                    let seen = range.start.min(end)..range.end.min(end);
                    hasher.update(&self.bytes.as_ref()[seen]);
                    self.payload = Some((range, hasher));
                    return;
                }
                Ok(Head::NeedBytes(n)) => {
                    self.head_needs = n;
                    return;
                }
                Err(_) => self.head_needs = usize::MAX,
            }
        }
        if let Some((range, hasher)) = &mut self.payload {
            let (from, to) = (start.max(range.start), end.min(range.end));
            if from < to {
                hasher.update(&self.bytes.as_ref()[from..to]);
            }
        }
    }

    /// Adds the next piece.
    pub fn push(&mut self, piece: &[u8]) {
        self.push_with(piece.len(), |into| into.copy_from_slice(piece));
    }

    /// Marks the entry damaged (a piece that was not bytes, say).
    pub fn damage(&mut self) {
        self.damaged = true;
    }

    /// The entry's bytes, and the checksum of its payload if the whole payload was read;
    /// no bytes if it was damaged or is shorter than its length.
    pub fn finish(self) -> (AlignedBytes, Option<PayloadCheck>) {
        if self.damaged || self.remaining() != 0 {
            return (AlignedBytes::zeroed(0), None);
        }
        let check = match self.payload {
            // Only a payload read to its end has a checksum here (bytes after it, a seal,
            // are the engine's to check); anything else is left to the engine's checks,
            // which report it as truncated.
            Some((range, hasher)) if range.end <= self.at => Some(hasher.finish()),
            _ => None,
        };
        (self.bytes, check)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn entry(payload: &[u8]) -> (alloc::vec::Vec<u8>, PayloadCheck) {
        crate::entry::test_entry(7, payload)
    }

    /// Whatever the pieces (one byte, a few, all), the bytes and the checksum are the
    /// entry's; too many bytes or too few read as no bytes.
    #[test]
    fn pieces_of_any_size_give_the_entry_and_its_checksum() {
        let payload: alloc::vec::Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let (bytes, check) = entry(&payload);
        for size in [1, 7, 64, 100, 4096, bytes.len()] {
            let mut reader = EntryReader::new(bytes.len());
            bytes.chunks(size).for_each(|piece| reader.push(piece));
            let (read, got) = reader.finish();
            assert_eq!(read.as_ref(), &bytes[..], "pieces of {size}");
            assert_eq!(got, Some(check), "pieces of {size}");
        }
        let mut short = EntryReader::new(bytes.len());
        short.push(&bytes[..bytes.len() - 1]);
        assert!(short.finish().0.as_ref().is_empty());
        let mut long = EntryReader::new(bytes.len() - 1);
        long.push(&bytes);
        assert!(long.is_damaged());
        assert!(long.finish().0.as_ref().is_empty());
    }

    /// A length no process can allocate (past `isize::MAX` bytes, and one far past any
    /// machine's memory) is refused, not an aborted process.
    #[test]
    fn a_length_too_large_to_hold_is_refused() {
        #[cfg(target_pointer_width = "64")]
        let far_past_memory = 1 << 60;
        #[cfg(not(target_pointer_width = "64"))]
        let far_past_memory = usize::MAX / 2;
        for len in [usize::MAX, usize::MAX / 2, far_past_memory] {
            assert!(EntryReader::try_new(len).is_none(), "{len}");
        }
        assert!(EntryReader::try_new(5000).is_some());
    }
}
