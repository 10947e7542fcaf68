//! The change counter every handle on a cache directory shares: `v2/changes`, an empty
//! file whose modification time, in nanoseconds, is the counter.
//!
//! A handle's memory tier holds values it read or wrote earlier; another process may
//! have replaced or removed them since. Before a memory-tier hit the engine asks
//! [`Changes::epoch`], which moves on whenever a change this handle did not make is seen;
//! the engine then checks the entry against the store once before serving it again.
//! Every put and removal bumps the counter (under an `flock` of the file) before it
//! returns.
//!
//! Why a modification time: a check runs on every memory-tier hit, so it must be one
//! system call. One `fstat` of the open file gives both the counter and whether the file
//! still has its name (a removed or replaced file would otherwise be read forever while
//! writers count in a new one). A counter in the file's bytes needs a `pread` and that
//! `fstat`; a counter in a memory-mapped file needs none, but a mapped file that someone
//! truncates kills every process touching the map (SIGBUS).
//!
//! Values are only ever compared for equality, so damage (the file touched, its time set
//! back, its bytes written, the file removed or replaced by a directory) can never make a
//! change look older than it is; it reads as a change, at worst once per check until the
//! next writer sets the counter again. A filesystem that does not keep a time to the
//! nanosecond cannot carry the counter: there every check reads as a change, which is
//! correct and makes every memory-tier hit of a stored type read the entry's head.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::sys::same_file;

/// The shared change counter of one cache directory (see the module docs).
#[derive(Debug)]
pub(crate) struct Changes {
    path: PathBuf,
    /// The open counter file; `None` where it cannot be opened (a read-only directory
    /// without one: nobody can change the store then).
    file: RwLock<Option<File>>,
    /// The counter as this handle last saw it.
    seen: AtomicU64,
    /// This handle's count of changes made by others, as [`Changes::epoch`] returns it.
    epoch: AtomicU64,
    /// Whether the filesystem kept the last value set to the nanosecond.
    exact: AtomicBool,
    /// Whether this handle may create and set the file.
    writable: bool,
}

/// What one `fstat` of the counter file says.
enum Reading {
    /// The counter.
    Value(u64),
    /// The file has no name any more (removed, or replaced by a rename).
    Removed,
    /// No file, or it cannot be read.
    Unknown,
}

/// The counter a modification time carries: nanoseconds since the epoch (before it,
/// wrapped; equality is all that is asked of it).
fn value_of(time: SystemTime) -> u64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_nanos() as u64,
        Err(before) => (before.duration().as_nanos() as u64).wrapping_neg(),
    }
}

impl Changes {
    /// Opens (creating it if `writable`) the counter file at `path`.
    pub(crate) fn open(path: &Path, writable: bool) -> io::Result<Changes> {
        let file = match open_counter(path, writable) {
            Ok(file) => Some(file),
            Err(_) if !writable => None,
            Err(e) => return Err(e),
        };
        let changes = Changes {
            path: path.to_path_buf(),
            file: RwLock::new(file),
            seen: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            exact: AtomicBool::new(true),
            writable,
        };
        if writable {
            // Also tells whether this filesystem keeps the counter exactly.
            changes.bump()?;
        } else if let Reading::Value(value) = changes.read() {
            changes.seen.store(value, Ordering::Relaxed);
        }
        Ok(changes)
    }

    /// One `fstat` of the counter file; a removed one is replaced by the file that has
    /// its name now, for the next read.
    fn read(&self) -> Reading {
        let reading = {
            let Ok(file) = self.file.read() else {
                return Reading::Unknown;
            };
            match file.as_ref().map(File::metadata) {
                Some(Ok(meta)) if is_removed(&meta) => Reading::Removed,
                Some(Ok(meta)) => meta
                    .modified()
                    .map_or(Reading::Unknown, |t| Reading::Value(value_of(t))),
                _ => Reading::Unknown,
            }
        };
        if matches!(reading, Reading::Removed | Reading::Unknown)
            && let Ok(mut file) = self.file.write()
        {
            *file = open_counter(&self.path, self.writable).ok();
        }
        reading
    }

    /// A number that stays the same for as long as no other handle (in this process or
    /// another) has changed the store, and moves on when one has. One `fstat`.
    pub(crate) fn epoch(&self) -> u64 {
        let seen = self.seen.load(Ordering::Acquire);
        match self.read() {
            Reading::Value(value) if value == seen && self.exact.load(Ordering::Relaxed) => {
                self.epoch.load(Ordering::Acquire)
            }
            reading => {
                if let Reading::Value(value) = reading {
                    self.seen.store(value, Ordering::Release);
                }
                self.epoch.fetch_add(1, Ordering::AcqRel) + 1
            }
        }
    }

    /// Counts one change made by this handle: after a put or a removal completes, before
    /// it returns, so that every later [`Changes::epoch`] elsewhere sees it.
    ///
    /// If the file was replaced or removed under this handle, the new file is used (and
    /// created).
    pub(crate) fn bump(&self) -> io::Result<()> {
        let mut file = self
            .file
            .write()
            .map_err(|_| io::Error::other("a thread panicked holding the change counter"))?;
        loop {
            let Some(current) = file.as_ref() else {
                *file = Some(open_counter(&self.path, true)?);
                continue;
            };
            current.lock()?;
            // Another handle may have replaced the file between our open and our lock:
            // then our lock guards nothing and our change would be seen by nobody.
            if !same_file(current, &self.path) {
                let _ = current.unlock();
                *file = Some(open_counter(&self.path, true)?);
                continue;
            }
            let set = self.set_next(current);
            let _ = current.unlock();
            let (old, new) = set?;
            // Only our own change since we last looked: our epoch need not move.
            if self.seen.swap(new, Ordering::AcqRel) != old {
                self.epoch.fetch_add(1, Ordering::AcqRel);
            }
            return Ok(());
        }
    }

    /// Sets the counter one past its value (under the file's lock); returns both values.
    fn set_next(&self, file: &File) -> io::Result<(u64, u64)> {
        let old = value_of(file.metadata()?.modified()?);
        let mut new = old.wrapping_add(1);
        let time = |value: u64| UNIX_EPOCH.checked_add(Duration::from_nanos(value));
        // A time the filesystem refuses (set far off by someone): start again from now,
        // a value no handle has seen.
        if time(new).is_none_or(|t| file.set_modified(t).is_err()) {
            new = value_of(SystemTime::now());
            file.set_modified(time(new).unwrap_or(UNIX_EPOCH))?;
        }
        let kept = value_of(file.metadata()?.modified()?);
        self.exact.store(kept == new, Ordering::Relaxed);
        Ok((old, kept))
    }
}

/// Whether the file no longer has a name (removed, or replaced by a rename).
fn is_removed(meta: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        meta.nlink() == 0
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        false
    }
}

/// Opens the counter file. A writable handle replaces whatever else stands at its path
/// (a directory, a symlink, a special file: damage) with a new counter file.
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
        false => Err(io::Error::other("the change counter is not a regular file")),
    });
    match file {
        Err(_) if writable && std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_file()) => {
            crate::dir::remove_any(path);
            options.open(path)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_see_each_other_s_changes_and_not_their_own() {
        let dir = std::env::temp_dir().join(format!("stepcache-changes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("changes");
        let (a, b) = (Changes::open(&path, true).unwrap(), Changes::open(&path, true).unwrap());
        let (ea, eb) = (a.epoch(), b.epoch());
        assert_eq!(a.epoch(), ea, "nothing changed");
        a.bump().unwrap();
        assert_eq!(a.epoch(), ea, "a's own change");
        assert_ne!(b.epoch(), eb, "b sees a's change");
        let eb = b.epoch();
        // Touched by someone else: a change, never a step back.
        File::open(&path).unwrap().set_modified(UNIX_EPOCH).unwrap();
        assert_ne!(b.epoch(), eb);
        // Removed and recreated by a new handle: the old handles follow.
        let ea = a.epoch();
        std::fs::remove_file(&path).unwrap();
        let c = Changes::open(&path, true).unwrap();
        c.bump().unwrap();
        assert_ne!(a.epoch(), ea, "a follows the new file");
        let ea = a.epoch();
        c.bump().unwrap();
        assert_ne!(a.epoch(), ea, "and sees its changes");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
