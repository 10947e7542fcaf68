//! Refuses a `get_or_compute` of a key inside that key's own compute on the same thread.
//!
//! [`crate::Cache`] runs a compute on the calling thread, and a second call for a key being
//! computed waits for the first call's result: made from inside that compute, the second
//! call would wait for itself forever, holding the key's lock against other processes.
//! Another handle on the same directory would wait on that lock as well; a handle on
//! another directory computes its own entry and is let through.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use stepcache_core::{Error, ErrorKind, Fingerprint, Key, Result};

thread_local! {
    /// The cache directories and keys whose `get_or_compute` runs on this thread,
    /// innermost last.
    static COMPUTING: RefCell<Vec<(PathBuf, Fingerprint)>> = const { RefCell::new(Vec::new()) };
}

/// Marks a key as being computed on this thread until dropped.
pub(crate) struct Computing(());

impl Computing {
    /// Marks `key` of the cache in `dir`, or refuses it if this thread is already inside
    /// its compute.
    pub(crate) fn enter(dir: &Path, key: &Key) -> Result<Computing> {
        COMPUTING.with_borrow_mut(|keys| {
            if keys.iter().any(|(d, k)| d == dir && k == key.fingerprint()) {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "get_or_compute of {key} was called inside its own compute (on the same thread): \
                         it would wait for itself forever"
                    ),
                ));
            }
            keys.push((dir.to_path_buf(), *key.fingerprint()));
            Ok(Computing(()))
        })
    }
}

impl Drop for Computing {
    fn drop(&mut self) {
        COMPUTING.with_borrow_mut(|keys| keys.pop());
    }
}
