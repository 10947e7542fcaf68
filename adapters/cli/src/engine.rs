//! The engine call `verify` stands on, in one function, so that what it asks of the
//! engine is in one place.

use stepcache::{Cache, EntryInfo, Error, ErrorKind, Key, Result};

/// What reading one stored entry found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Read {
    /// Read in full, and it verified.
    Sound,
    /// Damaged (the reason, for people). Removed where the directory can be written.
    Damaged(String),
    /// Gone since it was listed (another process removed it).
    Missing,
}

/// Reads stored entry `info` in full and verifies it as a `get` does (its key, lengths
/// and checksums); a damaged entry is removed where the directory can be written.
///
/// # Errors
/// An IO error other than the entry being gone.
pub(crate) fn read_entry(cache: &Cache, info: &EntryInfo) -> Result<Read> {
    let store = cache.engine().store();
    let path = store.entry_path(&info.fingerprint);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Read::Missing),
        Err(e) => return Err(Error::new(ErrorKind::Storage, format!("read {}: {e}", path.display()))),
    };
    match stepcache_core::entry::decode(&bytes, &info.fingerprint) {
        Ok(_) => Ok(Read::Sound),
        Err(corrupt) => {
            // As the engine's reads do: a removal that fails (a directory that cannot be
            // written) leaves the entry a miss on every read, and is not this read's error.
            if !store.is_read_only() {
                let _ = cache.invalidate(&Key::from_parts(&info.step, info.fingerprint)?);
            }
            Ok(Read::Damaged(corrupt.to_string()))
        }
    }
}
