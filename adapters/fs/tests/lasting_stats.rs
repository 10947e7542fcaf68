//! Lasting counters on the real filesystem: every session's hits, misses and time saved
//! add up in the directory, across handles writing at once, and a damaged counters file
//! starts the count again instead of failing.

#![allow(clippy::unwrap_used)] // tests report failures by panicking

use std::path::PathBuf;

use stepcache::{Cache, Key, TypeStats, Value};

/// A fresh directory under the system's temporary one, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        TempDir(std::env::temp_dir().join(format!("stepcache-lasting-{tag}-{}-{nanos}", std::process::id())))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn key(n: u32) -> Key {
    Key::of("t1_map").arg("n", n).build().unwrap()
}

/// One session: computes `key(0)` if it is missing (cost 5 ms), then reads it `hits` times.
fn session(dir: &TempDir, hits: u32) {
    let cache = Cache::builder().dir(&dir.0).memory_budget(0).open().unwrap();
    cache
        .get_or_compute(&key(0), || {
            std::thread::sleep(std::time::Duration::from_millis(5));
            Value::array(vec![1.0f32; 64], &[64]).unwrap()
        })
        .unwrap();
    for _ in 0..hits {
        assert!(cache.get(&key(0)).unwrap().is_some());
    }
    assert!(cache.get(&key(1)).unwrap().is_none());
}

fn all_time(dir: &TempDir) -> TypeStats {
    let cache = Cache::open(&dir.0).unwrap();
    let stats = cache.stats().unwrap();
    assert!(
        stats.types.is_empty(),
        "a fresh session has counted nothing: {:?}",
        stats.types
    );
    stats
        .all_time
        .into_iter()
        .find(|t| t.step == "t1_map")
        .unwrap_or_default()
}

#[test]
fn sessions_add_up_in_the_directory() {
    let dir = TempDir::new("sessions");
    session(&dir, 3);
    let first = all_time(&dir);
    assert_eq!((first.hits, first.misses, first.computes, first.puts), (3, 2, 1, 1));
    session(&dir, 4);
    let both = all_time(&dir);
    assert_eq!(
        (both.hits, both.misses, both.computes),
        (3 + 5, 2 + 1, 1),
        "the second session hit key 0"
    );
    assert!(
        both.saved_us >= 4 * 5_000,
        "4 hits of a 5 ms computation saved: {}",
        both.saved_us
    );

    // This session's counts show in all time before they are saved, once, not twice.
    let cache = Cache::open(&dir.0).unwrap();
    cache.get(&key(0)).unwrap().unwrap();
    let stats = cache.stats().unwrap();
    assert_eq!(stats.types[0].hits, 1);
    assert_eq!(stats.all_time[0].hits, both.hits + 1);
    cache.save_stats().unwrap();
    cache.save_stats().unwrap();
    assert_eq!(cache.stats().unwrap().all_time[0].hits, both.hits + 1);
    drop(cache);
    assert_eq!(all_time(&dir).hits, both.hits + 1);
}

#[test]
fn handles_saving_at_once_lose_nothing() {
    let dir = TempDir::new("threads");
    session(&dir, 0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| session(&dir, 10));
        }
    });
    let total = all_time(&dir);
    assert_eq!(total.hits, 8 * 11, "every session's hits: {total:?}");
    assert_eq!(total.misses, 1 + 1 + 8);
}

#[test]
fn a_damaged_counters_file_starts_the_count_again() {
    let dir = TempDir::new("damaged");
    session(&dir, 2);
    let file = dir.0.join("v2").join("stats");
    let mut bytes = std::fs::read(&file).unwrap();
    for damage in [0usize, bytes.len() / 2, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[damage] ^= 0x40;
        std::fs::write(&file, &bad).unwrap();
        assert_eq!(all_time(&dir), TypeStats::default(), "flip at {damage}");
    }
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&file, &bytes).unwrap();
    assert_eq!(all_time(&dir), TypeStats::default());
    session(&dir, 1);
    assert_eq!(
        all_time(&dir).hits,
        2,
        "counted again from zero: this session's two hits"
    );
}
