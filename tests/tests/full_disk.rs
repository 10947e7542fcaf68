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

fn key(n: u64) -> Key {
    Key::of("full").arg("n", n).build().unwrap()
}

fn value(n: u64, len: usize) -> Value {
    Value::array(vec![n as u8; len], &[len]).unwrap()
}

#[test]
fn a_full_disk_is_a_clear_error_and_keeps_what_was_stored() {
    let dir = std::env::temp_dir().join(format!("stepcache-tmpfs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&dir)
        .output()
        .unwrap();
    if !mounted.status.success() {
        println!(
            "full disk: mounting a tmpfs is impossible here ({}); full_store.rs covers it with a fault store",
            String::from_utf8_lossy(&mounted.stderr).trim()
        );
        let _ = std::fs::remove_dir(&dir);
        return;
    }
    let _mount = Mount(dir.clone());
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
