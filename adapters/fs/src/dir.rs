//! The cache directory: created owner-only, refused if someone else owns it, and cleaned
//! of what interrupted writes left behind.

use std::fs::{self, DirBuilder, File};
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use stepcache_core::{Error, ErrorKind, Result};

use crate::error::io_error;

/// Temporary files younger than this are left alone when their writer may still be alive
/// but not yet holding its lock (between creating the file and locking it).
pub(crate) const TMP_GRACE: Duration = Duration::from_secs(30);

/// Creates `path` and its parents, readable only by the owner (it may hold patient data).
pub(crate) fn owner_only_dir(path: &Path) -> io::Result<()> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Makes `path` a directory of ours: created owner-only if missing; a file or symlink in
/// its place (damage: nothing of ours is ever a file there) is removed first. Its parent
/// must exist.
pub(crate) fn ensure_dir(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => fs::remove_file(path)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    match owner_only_dir(path) {
        // Another handle repaired it at the same moment.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        other => other,
    }
}

/// Refuses a cache directory owned by another user, before writing anything into it:
/// entries there were not written by us and are not trusted silently. A directory we own
/// but others may read is made owner-only (where it can be changed) if `fix_mode`.
#[cfg(unix)]
pub(crate) fn check_owner(root: &Path, fix_mode: bool) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = fs::metadata(root).map_err(|e| io_error("inspect", root, e))?;
    let me = crate::sys::effective_uid();
    if meta.uid() != me {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "cache directory {} belongs to user {} but this process runs as user {me}: stepcache does not \
                 trust entries it did not write; use a directory of your own",
                root.display(),
                meta.uid()
            ),
        ));
    }
    if fix_mode && meta.mode() & 0o077 != 0 {
        // A read-only mount cannot be changed, and is opened for reading all the same.
        let _ = fs::set_permissions(root, fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// Ownership is not checked where Unix permissions do not exist.
#[cfg(not(unix))]
pub(crate) fn check_owner(_root: &Path, _fix_mode: bool) -> Result<()> {
    Ok(())
}

/// Whether the process that wrote temporary file `name` (`<hex>.<pid>.<seq>.tmp`) may be
/// alive. Only Linux can tell cheaply (`/proc`); elsewhere, assume it may be.
fn writer_may_live(name: &str) -> bool {
    let pid = name.split('.').nth(1).and_then(|p| p.parse::<u32>().ok());
    match pid {
        Some(pid) if cfg!(target_os = "linux") => {
            pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
        }
        _ => true,
    }
}

/// Removes temporary files whose writer is gone: unlocked, and either their writer's
/// process has exited or they are older than [`TMP_GRACE`].
pub(crate) fn remove_leftovers(tmp: &Path) -> Result<usize> {
    let mut removed = 0;
    let listing = fs::read_dir(tmp).map_err(|e| io_error("read directory", tmp, e))?;
    for item in listing.flatten() {
        let path = item.path();
        let name = item.file_name().to_string_lossy().into_owned();
        let old = item
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| SystemTime::now().duration_since(t).unwrap_or_default() >= TMP_GRACE);
        if !old && writer_may_live(&name) {
            continue;
        }
        let Ok(file) = File::open(&path) else { continue };
        // A live writer holds the lock until its file is renamed into place.
        if file.try_lock().is_ok() && fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Removes lock files nobody holds (their holder died before removing them). A handle
/// that opened one of them just before and locks it after its removal notices that the
/// path no longer names its file and starts again (see `FsStore::lock`).
pub(crate) fn remove_free_locks(locks: &Path) -> Result<usize> {
    let mut removed = 0;
    let listing = fs::read_dir(locks).map_err(|e| io_error("read directory", locks, e))?;
    for item in listing.flatten() {
        let path = item.path();
        let Ok(file) = File::open(&path) else { continue };
        if file.try_lock().is_ok() && fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Removes a file or a directory tree, as far as it can.
pub(crate) fn remove_any(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            let _ = fs::remove_dir_all(path);
        }
        _ => {
            let _ = fs::remove_file(path);
        }
    }
}
