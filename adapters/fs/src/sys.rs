//! The `unsafe` code of stepcache: read-only memory maps of entry files, and asking the
//! system who we are. Plus the one file-identity check the modules share.
//!
//! Mapping is unsafe because another process could change the file underneath the map.
//! stepcache never writes into an entry file in place: every write goes to a new
//! temporary file that is renamed over the old one, so an existing map keeps seeing the
//! complete old file. Only a process truncating an entry file while it is mapped makes
//! the reader fault (SIGBUS); the cache directory is owner-only to keep others out, and
//! only entries of [`crate::store::MAP_MIN_LEN`] bytes or more are ever mapped (see
//! [`crate::Builder::memory_map`] to read every entry into memory instead).

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

/// The effective user id of this process.
#[cfg(unix)]
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions, cannot fail and touches no memory of ours.
    #[allow(unsafe_code)]
    unsafe {
        libc::geteuid()
    }
}

/// Whether `path` still names the file `file` has open (not replaced or removed since).
pub(crate) fn same_file(file: &File, path: &std::path::Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::symlink_metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}
