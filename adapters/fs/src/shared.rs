//! The one small file every handle on a cache directory shares: a change counter.
//!
//! ```text
//! v2/changes   24 bytes
//!   0   8   changes, u64 LE: bumped after every put and removal, by any process
//!   8   8   reserved, zero
//!   16  8   the low 64 bits of XXH3-128 of bytes 0..16 and the magic, u64 LE
//! ```
//!
//! A handle's memory tier holds values it read or wrote earlier; another process may
//! have replaced or removed them since. Before a memory-tier hit the engine asks
//! [`Changes::epoch`], which reads the counter (a `pread`, and an `fstat` that tells
//! whether the file was removed or replaced, so that a handle never keeps reading a file
//! nobody writes any more) and moves on whenever a change it did not make itself is seen;
//! the engine then checks the entry against the store once before serving it again.
//!
//! The file is read with `pread`, never memory-mapped: a mapped file that someone truncates
//! kills every process touching the map (SIGBUS), and this file is read on every hit.
//! Writers serialise on an `flock` of it. Values are only ever compared for equality, so
//! a damaged file (any bytes, any length, or none) can never make a change look older
//! than it is: an unreadable counter is "changed" on every read, until the next writer
//! rewrites it whole.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::sys::{read_at, same_file, write_at};

/// Mixed into the checksum, so a file of zeros (or of another format) does not check.
const MAGIC: &[u8; 8] = b"SCCHNGS1";
/// The file's length.
const LEN: usize = 24;

/// The shared change counter of one cache directory (see the module docs).
#[derive(Debug)]
pub(crate) struct Changes {
    path: PathBuf,
    /// The open counter file; `None` where it cannot be opened (a read-only directory
    /// without one: nobody can change the store then).
    file: RwLock<Option<File>>,
    /// The counter's value as this handle last saw it (`u64::MAX`: unreadable).
    seen: AtomicU64,
    /// This handle's count of changes made by others, as [`Changes::epoch`] returns it.
    epoch: AtomicU64,
    /// Whether this handle may create the file.
    writable: bool,
}

fn checksum(value: u64) -> u64 {
    let mut bytes = [0u8; 16 + MAGIC.len()];
    bytes[..8].copy_from_slice(&value.to_le_bytes());
    bytes[16..].copy_from_slice(MAGIC);
    twox_hash::XxHash3_128::oneshot(&bytes) as u64
}

fn encode(value: u64) -> [u8; LEN] {
    let mut out = [0u8; LEN];
    out[..8].copy_from_slice(&value.to_le_bytes());
    out[16..].copy_from_slice(&checksum(value).to_le_bytes());
    out
}

/// The counter in `bytes`, or `None` if they are not a whole, intact counter file.
fn decode(bytes: &[u8]) -> Option<u64> {
    let bytes: &[u8; LEN] = bytes.try_into().ok()?;
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
    let value = word(0);
    (word(8) == 0 && word(16) == checksum(value)).then_some(value)
}

impl Changes {
    /// Opens (creating it if `writable`) the counter file at `path`.
    pub(crate) fn open(path: &Path, writable: bool) -> io::Result<Changes> {
        let file = match open_counter(path, writable) {
            Ok(file) => Some(file),
            Err(e) if !writable => {
                let _ = e;
                None
            }
            Err(e) => return Err(e),
        };
        let changes = Changes {
            path: path.to_path_buf(),
            file: RwLock::new(file),
            seen: AtomicU64::new(u64::MAX),
            epoch: AtomicU64::new(0),
            writable,
        };
        match changes.read() {
            Some(value) => changes.seen.store(value, Ordering::Relaxed),
            // New or damaged: made whole now, before this handle holds anything to check.
            None if writable => changes.bump()?,
            None => {}
        }
        Ok(changes)
    }

    /// The counter's value; `None` if it is unreadable, or if the file was removed or
    /// replaced (then the current file is opened for the next read).
    fn read(&self) -> Option<u64> {
        let (value, removed) = {
            let file = self.file.read().ok()?;
            let file = file.as_ref()?;
            let mut bytes = [0u8; LEN];
            let value = read_at(file, &mut bytes, 0).ok().and_then(|()| decode(&bytes));
            (value, is_removed(file))
        };
        if !removed {
            return value;
        }
        // Writers count changes in the file that has the name now; until this handle
        // reads that one, everything counts as changed.
        if let Ok(mut file) = self.file.write() {
            *file = open_counter(&self.path, self.writable).ok();
        }
        None
    }

    /// A number that stays the same for as long as no other handle (in this process or
    /// another) has changed the store, and moves on when one has. One `pread`.
    pub(crate) fn epoch(&self) -> u64 {
        let now = self.read();
        let seen = self.seen.load(Ordering::Acquire);
        match now {
            Some(value) if value == seen => self.epoch.load(Ordering::Acquire),
            _ => {
                self.seen.store(now.unwrap_or(u64::MAX), Ordering::Release);
                self.epoch.fetch_add(1, Ordering::AcqRel) + 1
            }
        }
    }

    /// Counts one change made by this handle: after a put or a removal completes, before
    /// it returns, so that every later [`Changes::epoch`] elsewhere sees it.
    ///
    /// If the file was replaced or removed under this handle, the new file is used (and
    /// created); a damaged one is rewritten whole.
    pub(crate) fn bump(&self) -> io::Result<()> {
        let mut file = self
            .file
            .write()
            .map_err(|_| io::Error::other("a thread panicked holding the counter"))?;
        loop {
            let Some(current) = file.as_ref() else {
                *file = Some(open_counter(&self.path, true)?);
                continue;
            };
            current.lock()?;
            // Another handle may have replaced the file between our open and our lock:
            // then our lock guards nothing and our write would be seen by nobody.
            if !same_file(current, &self.path) {
                let _ = current.unlock();
                *file = Some(open_counter(&self.path, true)?);
                continue;
            }
            let mut bytes = [0u8; LEN];
            let old = read_at(current, &mut bytes, 0).ok().and_then(|()| decode(&bytes));
            // An unreadable counter restarts from a value no handle can have seen.
            let new = old.map_or_else(fresh_value, |v| v.wrapping_add(1));
            let written = write_at(current, &encode(new), 0).and_then(|()| current.set_len(LEN as u64));
            let _ = current.unlock();
            written?;
            // Only our own change since we last looked: our epoch need not move.
            if old != Some(self.seen.swap(new, Ordering::AcqRel)) {
                self.epoch.fetch_add(1, Ordering::AcqRel);
            }
            return Ok(());
        }
    }
}

/// Whether `file` no longer has a name (removed, or replaced by a rename): a second
/// system call per read, the price of never missing a change counted in a new file.
fn is_removed(file: &File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        file.metadata().is_ok_and(|m| m.nlink() == 0)
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        false
    }
}

/// Opens the counter file. A writable handle replaces whatever else stands at its path
/// (a directory, a symlink, a special file: damage) with a new, empty counter file.
fn open_counter(path: &Path, writable: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    if writable {
        options.write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    let file = options.open(path).and_then(|file| match file.metadata()?.is_file() {
        true => Ok(file),
        false => Err(io::Error::other("the counter is not a regular file")),
    });
    match file {
        Err(_) if writable && std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_file()) => {
            crate::dir::remove_any(path);
            options.open(path)
        }
        other => other,
    }
}

/// A counter value for a file that was unreadable: unlike any value seen before, with
/// overwhelming probability (equality is all that is ever asked of it).
fn fresh_value() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut bytes = [0u8; 20];
    bytes[..16].copy_from_slice(&nanos.to_le_bytes());
    bytes[16..].copy_from_slice(&std::process::id().to_le_bytes());
    twox_hash::XxHash3_128::oneshot(&bytes) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_round_trips_and_damage_never_decodes() {
        for value in [0, 1, u64::MAX - 1, u64::MAX] {
            assert_eq!(decode(&encode(value)), Some(value));
        }
        let good = encode(7);
        for i in 0..LEN * 8 {
            let mut bad = good;
            bad[i / 8] ^= 1 << (i % 8);
            assert_eq!(decode(&bad), None, "bit {i}");
        }
        for len in 0..LEN {
            assert_eq!(decode(&good[..len]), None);
        }
        assert_eq!(decode(&[0u8; LEN]), None);
        assert_eq!(decode(&[0xFFu8; LEN]), None);
    }
}
