//! The `unsafe` code of stepcache: read-only memory maps of entry files, and asking the
//! system who we are. Plus the positioned reads and writes every module shares.
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

/// Reads exactly `buf.len()` bytes at `offset`.
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < buf.len() {
            match std::os::windows::fs::FileExt::seek_read(file, &mut buf[done..], offset + done as u64)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => done += n,
            }
        }
        Ok(())
    }
}

/// Writes all of `buf` at `offset`.
pub(crate) fn write_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < buf.len() {
            done += std::os::windows::fs::FileExt::seek_write(file, &buf[done..], offset + done as u64)?;
        }
        Ok(())
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
