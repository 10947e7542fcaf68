//! A real full disk: a 4 MiB tmpfs the test mounts. A put that does not fit is a clear
//! StorageFull error (after one round of evictions by policy); entries stored before are
//! intact, no temporary file is left behind, and the accounting matches the disk. Where
//! mounting is impossible (not root), the same behaviour is checked by `full_store.rs`.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // tests report failures by panicking

use std::process::Command;

use stepcache::{Cache, ErrorKind, Key, TierOutcome, Value};

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Held by each test for its whole run. The tests mount and unmount by running `mount`,
/// and a fork for it copies this process's memory maps of entry files into the child
/// until it execs: a file another test evicted in that moment still holds its blocks,
/// and that test's one retry after ENOSPC could meet a disk the eviction had not yet
/// emptied. One test at a time keeps each disk to its own test.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn key(n: u64) -> Key {
    Key::of("full").arg("n", n).build().unwrap()
}

fn value(n: u64, len: usize) -> Value {
    Value::array(vec![n as u8; len], &[len]).unwrap()
}

#[test]
fn a_full_disk_is_a_clear_error_and_keeps_what_was_stored() {
    let _serial = serial();
    // Where mounting is impossible (not root), full_store.rs checks the same with a fault store.
    let Some(mount) = mount_tmpfs("full-disk", "4m") else {
        return;
    };
    let dir = mount.0.clone();
    let cache = Cache::builder().dir(dir.join("cache")).memory_budget(0).open().unwrap();
    // Twelve 300 KB entries fill the 4 MiB disk: the engine meets ENOSPC, evicts by policy
    // (the cheap ones go first) and retries, so every put reports stored. Costs differ by
    // seconds, so being a few milliseconds older never outweighs them.
    let started = std::time::Instant::now();
    for n in 0..40 {
        let report = cache
            .put_with_cost(&key(n), value(n, 300_000), (40 - n) * 10_000_000)
            .unwrap();
        assert_eq!(report.store, TierOutcome::Stored);
    }
    let took = started.elapsed();
    let evicted = cache.stats().unwrap().store.evictions;
    assert!(evicted > 0, "the full disk was met and made room by policy");
    let survivors: Vec<u64> = (0..40).filter(|&n| cache.has(&key(n)).unwrap()).collect();
    assert!(survivors.contains(&0), "the costliest entry survives");
    // A value larger than the disk: one round of evictions cannot make room; a clear error.
    let err = cache.put(&key(100), value(100, 6 << 20)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StorageFull, "{err}");
    assert!(err.to_string().contains("No space left"), "{err}");
    let mut intact = 0;
    for &n in &survivors {
        if let Some(hit) = cache.get(&key(n)).unwrap() {
            assert_eq!(hit.value, value(n, 300_000), "entries stored before are intact");
            intact += 1;
        }
    }
    let tmp: Vec<_> = std::fs::read_dir(dir.join("cache/v2/tmp")).unwrap().flatten().collect();
    assert!(tmp.is_empty(), "the failed write left nothing behind");
    let stats = cache.stats().unwrap();
    let on_disk: u64 = cache.entries().unwrap().iter().map(|e| e.bytes).sum();
    assert_eq!(stats.store.bytes, on_disk, "accounting matches the disk");
    let report = cache.put(&key(99), value(99, 300_000)).unwrap();
    assert_eq!(report.store, TierOutcome::Stored, "the next put that fits works");
    println!(
        "full disk: 40 puts on a 4 MiB tmpfs in {took:?}, {evicted} evictions on ENOSPC, {} entries then; \
         a 6 MiB put failed with StorageFull and {intact} entries stayed intact",
        survivors.len()
    );
}

/// Mounts a tmpfs of `size` (e.g. "4m") at a new directory named after `name`; `None`
/// where this process may not mount (then the caller says so and checks nothing).
fn mount_tmpfs(name: &str, size: &str) -> Option<Mount> {
    let dir = std::env::temp_dir().join(format!("stepcache-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(&dir)
        .output()
        .unwrap();
    if !mounted.status.success() {
        println!(
            "{name}: mounting a tmpfs is impossible here: {}",
            String::from_utf8_lossy(&mounted.stderr).trim()
        );
        let _ = std::fs::remove_dir(&dir);
        return None;
    }
    Some(Mount(dir))
}

/// Someone else fills the disk: removing entries still works (an invalidate, and the
/// evictions a put makes), and once they free enough, puts work again.
#[test]
fn a_disk_filled_by_someone_else_still_allows_removal_and_eviction() {
    let _serial = serial();
    let Some(mount) = mount_tmpfs("filled-disk", "4m") else {
        return;
    };
    let cache = Cache::builder()
        .dir(mount.0.join("cache"))
        .memory_budget(0)
        .open()
        .unwrap();
    for n in 0..6 {
        cache.put(&key(n), value(n, 300_000)).unwrap();
    }
    // Another program takes every byte left.
    let mut hog = std::fs::File::create(mount.0.join("someone-else")).unwrap();
    let chunk = vec![1u8; 64 << 10];
    while std::io::Write::write_all(&mut hog, &chunk).is_ok() {}
    drop(hog);
    let err = std::fs::write(mount.0.join("probe"), [0u8; 8192]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::StorageFull, "the disk is full");
    cache.invalidate(&key(0)).unwrap();
    assert!(
        cache.get(&key(0)).unwrap().is_none(),
        "the invalidate worked on a full disk"
    );
    // A put larger than the room its invalidation freed evicts the others by policy.
    let report = cache.put(&key(50), value(50, 500_000)).unwrap();
    assert_eq!(report.store, TierOutcome::Stored, "evicting made room on a full disk");
    assert_eq!(cache.get(&key(50)).unwrap().unwrap().value, value(50, 500_000));
    let evicted = cache.stats().unwrap().store.evictions;
    assert!(evicted > 0, "the put evicted to fit");
    println!("filled disk: invalidate and {evicted} evictions on a disk someone else filled, then a 500 KB put stored");
}

/// A cache on a read-only mount opens for reading: hits are served; writes and removals
/// are clear PermissionDenied errors; a computed value is still returned.
#[test]
fn a_read_only_mount_serves_hits() {
    let _serial = serial();
    let Some(mount) = mount_tmpfs("read-only", "8m") else {
        return;
    };
    let dir = mount.0.join("cache");
    {
        let writer = Cache::open(&dir).unwrap();
        for n in 0..4 {
            writer
                .put(&key(n), value(n, [1000, 100_000, 300_000, 2_000_000][n as usize]))
                .unwrap();
        }
    }
    let remounted = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&mount.0)
        .output()
        .unwrap();
    assert!(remounted.status.success(), "{remounted:?}");
    let cache = Cache::open(&dir).expect("a read-only cache opens");
    assert!(cache.engine().store().is_read_only());
    for n in 0..4 {
        let hit = cache.get(&key(n)).unwrap().expect("stored entries are hits");
        assert_eq!(hit.value, value(n, [1000, 100_000, 300_000, 2_000_000][n as usize]));
    }
    let err = cache.put(&key(9), value(9, 1000)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    assert!(err.to_string().contains("read-only"), "{err}");
    let err = cache.invalidate(&key(1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    let hit = cache
        .get_or_compute(&key(10), || Ok::<_, String>(value(10, 5000)))
        .unwrap();
    assert_eq!(hit.value, value(10, 5000));
    let stored = hit.stored.unwrap().store;
    assert_eq!(stored, TierOutcome::Failed(ErrorKind::PermissionDenied));
    assert_eq!(cache.stats().unwrap().store.entries, 4);
    let _ = Command::new("mount").args(["-o", "remount,rw"]).arg(&mount.0).status();
}
