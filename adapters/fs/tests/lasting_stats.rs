//! Lasting counters on the real filesystem: every session's hits, misses and time saved
//! add up in the directory, across handles writing at once, and a damaged counters file
//! starts the count again instead of failing. The counters' file counts against the
//! store budget like the entries.

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

/// Bytes on disk of every file under `dir` (directories aside), each as the larger of
/// its length in whole 4 KiB blocks (what budgets count) and the blocks the filesystem
/// reports allocated for it; with the largest file's path, for messages.
fn files_on_disk(dir: &std::path::Path) -> (u64, Vec<(PathBuf, u64)>) {
    use std::os::unix::fs::MetadataExt;
    let (mut total, mut files) = (0, Vec::new());
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for item in std::fs::read_dir(&d).unwrap().flatten() {
            let meta = std::fs::symlink_metadata(item.path()).unwrap();
            if meta.is_dir() {
                stack.push(item.path());
                continue;
            }
            let bytes = (meta.len().div_ceil(4096) * 4096).max(meta.blocks() * 512);
            total += bytes;
            files.push((item.path(), bytes));
        }
    }
    (total, files)
}

/// A value whose entry file takes exactly 16 blocks (64 KiB), so that 16 of them fill a
/// 1 MiB budget to the byte.
fn block_sized(n: u32) -> Value {
    Value::bytes(vec![n as u8; (64 << 10) - 1024])
}

/// Fills a budget with entries of many types, saves the counters, and measures every
/// file in the directory: the entries and the counters' file together stay within the
/// budget. Without the counters' room the entries alone fill it to the byte.
#[test]
fn the_counters_file_counts_against_the_budget() {
    let dir = TempDir::new("budget");
    let budget = stepcache::COUNTERS_MIN_BUDGET;
    assert_eq!(budget, 1 << 20, "the entries below are sized for a 1 MiB budget");
    let open = || {
        Cache::builder()
            .dir(&dir.0)
            .memory_budget(0)
            .store_budget(budget)
            .open()
            .unwrap()
    };
    for session in 0..2u32 {
        let cache = open();
        for n in 0..24 {
            let key = Key::of(&format!("type_{session}_{n:02}")).arg("n", n).build().unwrap();
            cache.put(&key, block_sized(n)).unwrap();
            assert!(cache.get(&key).unwrap().is_some());
            let file = cache.engine().store().entry_path(key.fingerprint());
            assert_eq!(std::fs::metadata(&file).unwrap().len().div_ceil(4096), 16);
        }
        let stats = cache.stats().unwrap();
        assert_eq!(stats.store.budget, budget, "the budget is reported as given");
        cache.save_stats().unwrap();
        drop(cache);
        let (total, files) = files_on_disk(&dir.0);
        let counters = files.iter().find(|(p, _)| p.ends_with("v2/stats"));
        let counters = counters.unwrap_or_else(|| panic!("no counters file: {files:?}")).1;
        assert!(counters > 0 && counters <= stepcache::COUNTERS_ROOM, "{counters}");
        assert!(
            total <= budget,
            "session {session}: {total} bytes on disk for a budget of {budget}: {files:?}"
        );
        assert!(
            total + stepcache::COUNTERS_ROOM + (64 << 10) > budget,
            "session {session}: the entries did not fill the budget ({total} bytes)"
        );
    }
    assert!(all_time(&dir).step.is_empty(), "t1_map was never counted");
}

/// Below the smallest budget that leaves the counters room, no counters are kept: a
/// counters file another handle left is removed on opening, and none is written.
#[test]
fn a_budget_too_small_for_the_counters_keeps_none() {
    let dir = TempDir::new("small");
    session(&dir, 1);
    let file = dir.0.join("v2").join("stats");
    assert!(file.exists());
    let budget = stepcache::COUNTERS_MIN_BUDGET / 2;
    let cache = Cache::builder()
        .dir(&dir.0)
        .memory_budget(0)
        .store_budget(budget)
        .open()
        .unwrap();
    assert!(
        !file.exists(),
        "its bytes would count against a budget without room for them"
    );
    for n in 0..12 {
        cache.put(&key(n), block_sized(n)).unwrap();
    }
    assert!(cache.get(&key(11)).unwrap().is_some());
    cache.save_stats().unwrap();
    assert_eq!(cache.stats().unwrap().all_time[0].hits, 1, "this session alone");
    drop(cache);
    assert!(!file.exists());
    let (total, files) = files_on_disk(&dir.0);
    assert!(
        total <= budget,
        "{total} bytes on disk for a budget of {budget}: {files:?}"
    );
    assert!(total + (64 << 10) > budget, "the entries filled the budget: {total}");
}

/// Counters that outgrow their room are not saved: the save fails with `StorageFull`
/// and the file keeps what it held.
#[test]
fn counters_beyond_their_room_are_not_saved() {
    let dir = TempDir::new("room");
    session(&dir, 1);
    let file = dir.0.join("v2").join("stats");
    let before = std::fs::read(&file).unwrap();
    let cache = Cache::builder().dir(&dir.0).memory_budget(0).open().unwrap();
    // 50 bytes and the name each: 200 types of 100-character names need 30 KiB.
    for n in 0..200 {
        let step = format!("{:a<100}", format!("type{n}_"));
        assert!(cache.get(&Key::of(&step).build().unwrap()).unwrap().is_none());
    }
    let err = cache.save_stats().unwrap_err();
    assert_eq!(err.kind(), stepcache::ErrorKind::StorageFull, "{err}");
    drop(cache);
    assert_eq!(std::fs::read(&file).unwrap(), before);
    assert_eq!(all_time(&dir).hits, 1);
}
