//! Files as key arguments: keyed by their contents, whose fingerprint is remembered by
//! path, size, modification time and inode, so a warm call does not read a large input
//! file again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use stepcache::{ElementType, Fingerprint};

/// What identifies one version of a file without reading it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified_ns: i128,
    inode: u64,
    device: u64,
}

/// Remembered fingerprints; cleared when it reaches this many files (a pipeline names a
/// few inputs, not thousands).
const MEMO_FILES: usize = 4096;

/// A file modified this recently is hashed but not remembered: another write within the
/// same modification-time tick could keep size and time equal while changing the
/// contents (git's "racy" files).
const RACY: Duration = Duration::from_secs(2);

static MEMO: Mutex<Option<HashMap<PathBuf, (Stamp, Fingerprint)>>> = Mutex::new(None);

fn stamp(meta: &std::fs::Metadata) -> Stamp {
    let modified_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(-1, |d| d.as_nanos() as i128);
    #[cfg(unix)]
    let (inode, device) = {
        use std::os::unix::fs::MetadataExt;
        (meta.ino(), meta.dev())
    };
    #[cfg(not(unix))]
    let (inode, device) = (0, 0);
    Stamp {
        len: meta.len(),
        modified_ns,
        inode,
        device,
    }
}

/// The fingerprint of the file at `path`: the digest of its contents as an array of
/// bytes (the key a Rust caller gets with `raw_array(name, ElementType::Bytes, &[len],
/// &contents)`), read again only when its size, modification time or inode changed.
///
/// # Errors
/// The IO error of reading it (a missing file), or an error for what is not a regular
/// file (a directory, a pipe, a device) and for a file that changed while it was read.
pub(crate) fn fingerprint(path: &Path) -> std::io::Result<Fingerprint> {
    let path = std::fs::canonicalize(path)?;
    let before = std::fs::metadata(&path)?;
    let stamp_before = stamp(&before);
    if let Some((stamp, fp)) = MEMO
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .and_then(|memo| memo.get(&path))
        && *stamp == stamp_before
    {
        return Ok(*fp);
    }
    if !before.is_file() {
        // A pipe or a device could block or never end: only files have contents to key.
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a pipe, a device or a directory has no contents to key by)",
        ));
    }
    let started = SystemTime::now();
    let fp = hash_file(&path, before.len())?;
    // Remembered only if the file did not change while it was read, and was not modified
    // so recently that a change within the same time tick could go unseen.
    let after = stamp(&std::fs::metadata(&path)?);
    let settled = before
        .modified()
        .ok()
        .and_then(|m| started.duration_since(m).ok())
        .is_some_and(|age| age >= RACY);
    if after == stamp_before && settled {
        let mut memo = MEMO.lock().unwrap_or_else(PoisonError::into_inner);
        let memo = memo.get_or_insert_with(HashMap::new);
        if memo.len() >= MEMO_FILES {
            memo.clear();
        }
        memo.insert(path, (after, fp));
    }
    Ok(fp)
}

/// How much of a file is read at a time: large files are hashed without being held whole.
const PIECE: usize = 16 << 20;

/// The array fingerprint of the `len` bytes of the file at `path`, read a piece at a time.
///
/// # Errors
/// Reading's, or an error if the file did not hold `len` bytes when read (it changed).
fn hash_file(path: &Path, len: u64) -> std::io::Result<Fingerprint> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Fingerprint::array_hasher(ElementType::Bytes, &[len]);
    let mut piece = vec![0u8; PIECE.min(usize::try_from(len).unwrap_or(PIECE)).max(1)];
    let mut read = 0u64;
    loop {
        let n = match file.read(&mut piece) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&piece[..n]);
        read += n as u64;
    }
    if read != len {
        return Err(std::io::Error::other(format!(
            "it changed while it was read ({len} bytes, then {read})"
        )));
    }
    Ok(hasher.finish())
}
