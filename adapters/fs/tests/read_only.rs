//! `Builder::read_only`: a cache opened read-only on a directory it could write leaves
//! every file as it was, serves hits, and refuses writes with a typed error.

#![allow(clippy::unwrap_used)] // tests report failures by panicking

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use stepcache::{Cache, ErrorKind, Key, TierOutcome, Value};

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("stepcache-fs-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn key(n: u64) -> Key {
    Key::of("t1_map").arg("tr_ms", n).build().unwrap()
}

fn value(n: u64, len: usize) -> Value {
    Value::bytes(vec![n as u8; len])
}

/// Every file and directory under `root` (itself included) with its kind, length,
/// modification time and permission bits.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (bool, u64, i64, i64, u32)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(path) = todo.pop() {
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            todo.extend(fs::read_dir(&path).unwrap().map(|item| item.unwrap().path()));
        }
        let mode = meta.permissions().mode();
        out.insert(
            path.strip_prefix(root).unwrap().to_path_buf(),
            (meta.is_dir(), meta.len(), meta.mtime(), meta.mtime_nsec(), mode),
        );
    }
    out
}

/// A cache directory holding everything a writable open or a write would change: three
/// entries (one large enough to be memory-mapped), a damaged entry, a stray file among
/// the entries, a dead writer's temporary file, an unheld lock file, an older layout, and
/// permissions wider than owner-only.
fn fill(dir: &Path) {
    let cache = Cache::open(dir).unwrap();
    for (n, len) in [(1, 1000), (2, 5000), (3, 400_000)] {
        cache.put(&key(n), value(n, len)).unwrap();
    }
    let store = cache.engine().store();
    fs::write(store.entry_path(key(4).fingerprint()), b"not an entry").unwrap();
    let v2 = dir.join("v2");
    fs::write(v2.join("entries").join("notes.txt"), b"stray").unwrap();
    let hex = key(5).fingerprint().to_hex();
    fs::write(v2.join("tmp").join(format!("{hex}.999999999.0.tmp")), b"half written").unwrap();
    fs::write(v2.join("locks").join(format!("{hex}.lock")), b"").unwrap();
    fs::create_dir(dir.join("v1")).unwrap();
    fs::write(dir.join("v1").join("old"), b"old layout").unwrap();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_read_only_open_changes_no_file() {
    let scratch = Scratch::new("read-only");
    fill(&scratch.0);
    let before = snapshot(&scratch.0);

    let cache = Cache::builder().dir(&scratch.0).read_only(true).open().unwrap();
    assert!(cache.engine().store().is_read_only());
    assert_eq!(cache.entries().unwrap().len(), 3, "the damaged entry is not listed");
    assert_eq!(cache.stats().unwrap().store.entries, 3);
    for (n, len) in [(1, 1000), (2, 5000), (3, 400_000)] {
        let hit = cache.get(&key(n)).unwrap().expect("stored entries are hits");
        assert_eq!(hit.value, value(n, len));
        assert!(cache.has(&key(n)).unwrap());
    }
    assert!(cache.get(&key(4)).unwrap().is_none(), "damage is a miss");
    assert!(cache.status(&[key(1)]).unwrap()[0].created_ms.is_some());

    let err = cache.put(&key(9), value(9, 100)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    assert!(err.to_string().contains("read-only"), "{err}");
    let err = cache.invalidate(&key(1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    let err = cache.clear(Some("t1_map")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    let hit = cache.get_or_compute(&key(10), || value(10, 100)).unwrap();
    assert_eq!(hit.value, value(10, 100), "a computed value is still returned");
    assert_eq!(
        hit.stored.unwrap().store,
        TierOutcome::Failed(ErrorKind::PermissionDenied)
    );
    drop(cache);
    assert_eq!(snapshot(&scratch.0), before, "a read-only open changed the directory");

    // The same directory opened for writing is cleaned and repaired: the comparison
    // above would have seen it.
    let cache = Cache::open(&scratch.0).unwrap();
    assert!(cache.get(&key(4)).unwrap().is_none());
    cache.entries().unwrap();
    drop(cache);
    let after = snapshot(&scratch.0);
    let hex = key(5).fingerprint().to_hex();
    let tmp = format!("v2/tmp/{hex}.999999999.0.tmp");
    let lock = format!("v2/locks/{hex}.lock");
    for gone in ["v1", "v2/entries/notes.txt", &tmp, &lock] {
        assert!(before.contains_key(Path::new(gone)), "{gone}");
        assert!(!after.contains_key(Path::new(gone)), "{gone}");
    }
    assert_ne!(
        after[Path::new("")].4 & 0o777,
        0o755,
        "a writable open makes it owner-only"
    );
}

#[test]
fn a_read_only_open_never_creates_the_directory() {
    let scratch = Scratch::new("read-only-missing");
    let err = Cache::builder().dir(&scratch.0).read_only(true).open().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage, "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!scratch.0.exists());

    // An empty directory is an empty cache, and stays empty.
    fs::create_dir(&scratch.0).unwrap();
    let cache = Cache::builder().dir(&scratch.0).read_only(true).open().unwrap();
    assert!(cache.entries().unwrap().is_empty());
    assert!(cache.get(&key(1)).unwrap().is_none());
    assert_eq!(fs::read_dir(&scratch.0).unwrap().count(), 0);
}
