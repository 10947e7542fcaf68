//! Mapping a download's buffer ahead of its copies.
//!
//! A get copies the response into one new buffer, which the kernel maps page by page on
//! first write: one page fault per 4 KiB, 65,536 for a 256 MiB entry, which on the
//! benchmark's machine cost more than the copy itself. Asking the kernel to map the next
//! few MiB in one call (`madvise(MADV_POPULATE_WRITE)`, Linux 5.14 and later) does the
//! same work in about half the time. Elsewhere, or on an older kernel, the pages fault
//! in as before: the call only ever saves time.

use stepcache_core::entry::EntryReader;

/// How far ahead of the copy the pages are mapped, per call: enough that the calls are
/// few, little enough that mapping never stalls the download for long.
const AHEAD: usize = 4 << 20;

/// How many of an [`EntryReader`]'s unfilled bytes already have their pages mapped.
#[derive(Debug, Default)]
pub(crate) struct PagesAhead {
    ready: usize,
}

impl PagesAhead {
    /// Called before `entry` takes a piece of `len` bytes: maps the pages of that piece
    /// and of the next [`AHEAD`] bytes, if they are not mapped yet.
    pub(crate) fn before_push(&mut self, entry: &mut EntryReader, len: usize) {
        if self.ready < len {
            let unfilled = entry.unfilled();
            let until = unfilled.len().min(len.saturating_add(AHEAD));
            if self.ready < until {
                map_pages(&mut unfilled[self.ready..until]);
            }
            self.ready = until;
        }
        self.ready = self.ready.saturating_sub(len);
    }
}

/// Asks the kernel to map the pages wholly inside `bytes` now.
#[cfg(target_os = "linux")]
fn map_pages(bytes: &mut [u8]) {
    // Aligned to 64 KiB, a multiple of every page size Linux runs with, so the call is
    // valid wherever it runs; the pages at the two edges fault in as usual.
    const ALIGN: usize = 64 << 10;
    let start = bytes.as_mut_ptr() as usize;
    let (first, end) = (start.next_multiple_of(ALIGN), (start + bytes.len()) / ALIGN * ALIGN);
    if first < end {
        // SAFETY: the range lies inside `bytes`, which we hold exclusively; populating
        // maps pages without changing what they hold (untouched ones read as the zeros
        // they already read as). A refusal (an older kernel) leaves the pages to fault in.
        #[allow(unsafe_code)]
        unsafe {
            libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_POPULATE_WRITE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn map_pages(_bytes: &mut [u8]) {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes` to a reader in pieces of `piece` bytes, mapping ahead as a get does.
    fn read_in_pieces(bytes: &[u8], piece: usize, len: usize) -> Vec<u8> {
        let (mut entry, mut pages) = (EntryReader::new(len), PagesAhead::default());
        for chunk in bytes.chunks(piece) {
            pages.before_push(&mut entry, chunk.len());
            entry.push(chunk);
        }
        entry.finish().0.as_ref().to_vec()
    }

    #[test]
    fn mapping_ahead_leaves_the_bytes_as_pushed() {
        let bytes: Vec<u8> = (0..(9 << 20) + 123).map(|i: u32| (i % 251) as u8).collect();
        // Pieces smaller than, equal to and larger than the span mapped per call.
        for piece in [1 << 10, 64 << 10, 1_000_003, AHEAD, AHEAD + 7, 8 << 20] {
            assert!(read_in_pieces(&bytes, piece, bytes.len()) == bytes, "pieces of {piece}");
        }
    }

    #[test]
    fn more_bytes_than_the_length_are_damage_not_a_panic() {
        let bytes = vec![7u8; 3 << 20];
        assert!(read_in_pieces(&bytes, 1 << 20, 2 << 20).is_empty());
    }
}
