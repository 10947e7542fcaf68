//! The `unsafe` code of stepcache, all of it memory maps: entry files mapped read-only, and
//! the small counters file mapped shared (see [`SharedCounters`]).
//!
//! Mapping is unsafe because another process could change the file underneath the map.
//! stepcache never writes into an entry file in place: every write goes to a new
//! temporary file that is renamed over the old one, so an existing map keeps seeing the
//! complete old file. Only a foreign process truncating an entry file while it is mapped
//! could fault (SIGBUS); the cache directory is owner-only to keep others out.

use std::fs::File;
use std::io;

use memmap2::{Mmap, MmapOptions};

/// Maps all of `file` read-only.
pub(crate) fn map_readonly(file: &File) -> io::Result<Mmap> {
    // SAFETY: see the module docs: entry files are immutable once renamed into place.
    #[allow(unsafe_code)]
    unsafe {
        MmapOptions::new().populate().map(file)
    }
}

/// Maps the first `len` bytes of pack `file` read-only, whatever its length now: a pack
/// grows by appends after it is mapped, and the map covers what later appends add.
///
/// Only bytes of records already scanned, complete and below the file's end, are ever
/// read through the map; pages past the end of the file are never touched (that would
/// fault). Records are never rewritten in place and packs never shrink: compaction
/// writes the records elsewhere and removes the whole file, which an existing map keeps
/// alive.
pub(crate) fn map_pack(file: &File, len: usize) -> io::Result<Mmap> {
    // SAFETY: see above, and the module docs on foreign processes.
    #[allow(unsafe_code)]
    unsafe {
        MmapOptions::new().len(len).map(file)
    }
}

/// Counters shared by every process that opens a cache directory: a small file mapped
/// read-write into each, its first bytes used as atomic `u64`s.
///
/// Shared memory is how processes agree on an order and learn of each other's writes
/// without a system call per read (SQLite's WAL index and LMDB's lock file do the same).
/// The file is created at its full size and never shrunk, so the map never loses its
/// pages; the directory is owner-only to keep other users from truncating it.
pub(crate) struct SharedCounters {
    map: memmap2::MmapMut,
}

/// The counters in the shared file, by slot.
#[derive(Clone, Copy)]
pub(crate) enum Counter {
    /// The last stamp handed out: orders every record of every pack (last writer wins).
    Stamp = 0,
    /// Bumped after every record is complete on disk: "someone wrote; look again".
    Published = 1,
    /// Bumped whenever a pack file is created or removed: "list the packs again".
    PackSet = 2,
}

/// The size of the counters file (one page).
pub(crate) const COUNTERS_LEN: u64 = 4096;

impl SharedCounters {
    /// Maps `file`, which must be at least [`COUNTERS_LEN`] bytes long.
    pub(crate) fn map(file: &File) -> io::Result<SharedCounters> {
        if file.metadata()?.len() < COUNTERS_LEN {
            return Err(io::Error::other("counters file is shorter than one page"));
        }
        // SAFETY: a shared writable map of a file this process opened read-write. Other
        // stepcache processes map the same page and touch it only through atomics.
        #[allow(unsafe_code)]
        let map = unsafe { MmapOptions::new().len(COUNTERS_LEN as usize).map_mut(file)? };
        Ok(SharedCounters { map })
    }

    fn slot(&self, counter: Counter) -> &std::sync::atomic::AtomicU64 {
        let at = counter as usize * 8;
        let bytes = &self.map[at..at + 8];
        // SAFETY: the map is page-aligned, so `at` (a multiple of 8) is aligned for u64;
        // the 8 bytes lie inside the map, which lives as long as `&self`; every access to
        // them, in this process and others, is atomic.
        #[allow(unsafe_code)]
        unsafe {
            &*bytes.as_ptr().cast::<std::sync::atomic::AtomicU64>()
        }
    }

    /// The counter's current value.
    pub(crate) fn load(&self, counter: Counter) -> u64 {
        self.slot(counter).load(std::sync::atomic::Ordering::Acquire)
    }

    /// Adds one and returns the new value.
    pub(crate) fn bump(&self, counter: Counter) -> u64 {
        self.slot(counter).fetch_add(1, std::sync::atomic::Ordering::AcqRel) + 1
    }

    /// Raises the counter to at least `value` (a counters file lost or recreated must not
    /// hand out stamps older than records already on disk).
    pub(crate) fn raise(&self, counter: Counter, value: u64) {
        self.slot(counter).fetch_max(value, std::sync::atomic::Ordering::AcqRel);
    }
}
