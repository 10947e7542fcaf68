//! The one `unsafe` block of stepcache: memory-mapping an entry file read-only.
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
