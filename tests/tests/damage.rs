//! Damage, enumerated: every kind of file and directory of a cache (entry files of each
//! size class, read into memory or memory-mapped; the shared change counter; the
//! entries, temporary, lock and layout directories; the cache directory itself) meets
//! every kind of damage (removed, truncated, bit flips in head and payload, zeroed,
//! filled with 0xFF, extended, replaced by a directory, by a symlink to another entry,
//! by a file of another key), once each, with handles open and with a fresh one.
//!
//! After each: every call of every handle answers (no error, no panic, no hang); a get
//! is the exact current value or a miss; keys whose files were not damaged are still
//! hits for a fresh handle; another handle's next writes are seen by every handle,
//! including one that held the old values in its memory tier; and every key can be
//! written and read again.

#![cfg(all(unix, not(target_family = "wasm")))]
#![allow(clippy::unwrap_used)] // tests report failures by panicking

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use stepcache::{Cache, Key, Value};
use stepcache_tests::temp::TempDir;

/// Entry sizes: small, mid, memory-mapped, large.
const SIZES: [usize; 4] = [1 << 10, 100 << 10, 300 << 10, 3 << 20];

fn key(n: usize) -> Key {
    Key::of("damage").arg("n", n).build().unwrap()
}

fn value(n: usize, version: u32) -> Value {
    let words = SIZES[n] / 4;
    let data: Vec<u32> = (0..words as u32)
        .map(|i| i.wrapping_mul(2_654_435_761) ^ version ^ (n as u32) << 28)
        .collect();
    Value::array(data, &[words])
        .unwrap()
        .with_meta(format!("{n}:{version}"))
}

/// What is damaged.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// The entry file of key `n`.
    Entry(usize),
    /// The shared change counter.
    Changes,
    /// A directory, relative to the cache directory ("" is the cache directory).
    Dir(&'static str),
}

/// How a file is damaged.
#[derive(Debug, Clone, Copy)]
enum FileDamage {
    Remove,
    TruncateEmpty,
    TruncateOne,
    TruncateHalf,
    FlipHead,
    FlipPayload,
    FlipLast,
    Zero,
    Ones,
    Extend,
    /// Made sparse and far larger than memory (8 TiB): a handle reading entries into
    /// memory must not try to allocate that.
    ExtendFarPastMemory,
    Directory,
    SymlinkToOther,
    OtherKeysFile,
}

const FILE_DAMAGE: [FileDamage; 14] = [
    FileDamage::Remove,
    FileDamage::TruncateEmpty,
    FileDamage::TruncateOne,
    FileDamage::TruncateHalf,
    FileDamage::FlipHead,
    FileDamage::FlipPayload,
    FileDamage::FlipLast,
    FileDamage::Zero,
    FileDamage::Ones,
    FileDamage::Extend,
    FileDamage::ExtendFarPastMemory,
    FileDamage::Directory,
    FileDamage::SymlinkToOther,
    FileDamage::OtherKeysFile,
];

/// How a directory is damaged.
#[derive(Debug, Clone, Copy)]
enum DirDamage {
    Remove,
    ReplaceWithFile,
    Empty,
}

fn damage_file(path: &Path, other: &Path, how: FileDamage) {
    let len = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let open = || OpenOptions::new().read(true).write(true).open(path).unwrap();
    // A file with no bytes to flip (the change counter is empty) gets one instead.
    let flip = |at: u64| {
        let file = open();
        let mut b = [0u8];
        let old = file.read_exact_at(&mut b, at).map_or(0, |()| b[0]);
        file.write_all_at(&[old ^ 0x10], at.min(len)).unwrap();
    };
    match how {
        FileDamage::Remove => fs::remove_file(path).unwrap(),
        FileDamage::TruncateEmpty => open().set_len(0).unwrap(),
        FileDamage::TruncateOne => open().set_len(1).unwrap(),
        FileDamage::TruncateHalf => open().set_len(len / 2).unwrap(),
        FileDamage::FlipHead => flip(len.min(64) / 2),
        FileDamage::FlipPayload => flip((len - len / 3).saturating_sub(1)),
        FileDamage::FlipLast => flip(len.saturating_sub(1)),
        FileDamage::Zero => open().write_all_at(&vec![0u8; len as usize], 0).unwrap(),
        FileDamage::Ones => open().write_all_at(&vec![0xFFu8; len as usize], 0).unwrap(),
        FileDamage::Extend => open().write_all_at(&[7u8; 100], len).unwrap(),
        FileDamage::ExtendFarPastMemory => open().set_len(8 << 40).unwrap(),
        FileDamage::Directory => {
            fs::remove_file(path).unwrap();
            fs::create_dir_all(path.join("inner")).unwrap();
        }
        FileDamage::SymlinkToOther => {
            fs::remove_file(path).unwrap();
            std::os::unix::fs::symlink(other, path).unwrap();
        }
        FileDamage::OtherKeysFile => {
            fs::copy(other, path).unwrap();
        }
    }
}

fn damage_dir(path: &Path, how: DirDamage) {
    match how {
        DirDamage::Remove => fs::remove_dir_all(path).unwrap(),
        DirDamage::ReplaceWithFile => {
            fs::remove_dir_all(path).unwrap();
            fs::write(path, b"not a directory").unwrap();
        }
        DirDamage::Empty => {
            for item in fs::read_dir(path).unwrap().flatten() {
                let p = item.path();
                if p.is_dir() {
                    fs::remove_dir_all(p).unwrap();
                } else {
                    fs::remove_file(p).unwrap();
                }
            }
        }
    }
}

/// Every call of `cache` answers, and every get is the current value (`versions`) or a
/// miss. Returns which keys hit.
fn reads_are_current_or_missing(cache: &Cache, versions: &[u32], what: &str) -> Vec<bool> {
    let keys: Vec<Key> = (0..SIZES.len()).map(key).collect();
    cache
        .status(&keys)
        .unwrap_or_else(|e| panic!("{what}: status failed: {e}"));
    cache.stats().unwrap_or_else(|e| panic!("{what}: stats failed: {e}"));
    cache
        .entries()
        .unwrap_or_else(|e| panic!("{what}: entries failed: {e}"));
    (0..SIZES.len())
        .map(|n| {
            cache
                .has(&key(n))
                .unwrap_or_else(|e| panic!("{what}: has {n} failed: {e}"));
            match cache
                .get(&key(n))
                .unwrap_or_else(|e| panic!("{what}: get {n} failed: {e}"))
            {
                None => false,
                Some(hit) => {
                    assert!(
                        hit.value == value(n, versions[n]),
                        "{what}: key {n} is not its current value"
                    );
                    true
                }
            }
        })
        .collect()
}

fn trial(root: &Path, target: Target, what: &str, apply: impl FnOnce(&Path, &Path)) {
    let dir = root.join("cache");
    let _ = fs::remove_dir_all(&dir);
    // A handle that keeps what it wrote in memory, and one that reads from disk only.
    let writer = Cache::open(&dir).unwrap();
    let reader = Cache::builder().dir(&dir).memory_budget(0).open().unwrap();
    let unmapped = Cache::builder()
        .dir(&dir)
        .memory_budget(0)
        .memory_map(false)
        .open()
        .unwrap();
    let mut versions = vec![1u32; SIZES.len()];
    for n in 0..SIZES.len() {
        writer.put(&key(n), value(n, 1)).unwrap();
        assert!(reader.get(&key(n)).unwrap().is_some());
    }
    let store = writer.engine().store();
    let path: PathBuf = match target {
        Target::Entry(n) => store.entry_path(key(n).fingerprint()),
        Target::Changes => dir.join("v2/changes"),
        Target::Dir(rel) => dir.join(rel),
    };
    let other = store.entry_path(
        key((match target {
            Target::Entry(n) => n,
            _ => 0,
        } + 1)
            % SIZES.len())
        .fingerprint(),
    );
    apply(&path, &other);

    // The reader without maps first: whichever handle reads the damage first removes it.
    reads_are_current_or_missing(&unmapped, &versions, &format!("{what}, open reader without maps"));
    reads_are_current_or_missing(&reader, &versions, &format!("{what}, open reader"));
    reads_are_current_or_missing(&writer, &versions, &format!("{what}, open writer"));
    let fresh = Cache::builder()
        .dir(&dir)
        .memory_budget(0)
        .open()
        .unwrap_or_else(|e| panic!("{what}: a fresh handle cannot open: {e}"));
    let hits = reads_are_current_or_missing(&fresh, &versions, &format!("{what}, fresh"));
    if let Target::Entry(damaged) = target {
        for (n, hit) in hits.iter().enumerate() {
            assert!(*hit || n == damaged, "{what}: undamaged key {n} was lost");
        }
    }
    // Another handle writes new versions: everyone sees them, the memory tier included.
    for (n, version) in versions.iter_mut().enumerate() {
        *version = 2;
        let report = fresh
            .put(&key(n), value(n, 2))
            .unwrap_or_else(|e| panic!("{what}: put {n} failed: {e}"));
        assert!(
            report.store == stepcache::TierOutcome::Stored,
            "{what}: put {n}: {report:?}"
        );
    }
    for (name, cache) in [
        ("writer", &writer),
        ("reader", &reader),
        ("unmapped", &unmapped),
        ("fresh", &fresh),
    ] {
        let hits = reads_are_current_or_missing(cache, &versions, &format!("{what}, {name} after new puts"));
        assert!(hits.iter().all(|h| *h), "{what}: {name} misses a new put: {hits:?}");
    }
    drop((writer, reader, unmapped, fresh));
    let again = Cache::open(&dir).unwrap();
    assert!(
        reads_are_current_or_missing(&again, &versions, &format!("{what}, reopened"))
            .iter()
            .all(|h| *h)
    );
}

#[test]
fn any_damage_to_any_file_or_directory_is_a_miss_and_repaired() {
    let root = TempDir::new("damage");
    let mut trials = 0;
    let file_targets = (0..SIZES.len()).map(Target::Entry).chain([Target::Changes]);
    for target in file_targets {
        for how in FILE_DAMAGE {
            if matches!(target, Target::Changes)
                && matches!(how, FileDamage::SymlinkToOther | FileDamage::OtherKeysFile)
            {
                continue;
            }
            let what = format!("{how:?} of {target:?}");
            trial(&root.0, target, &what, |path, other| damage_file(path, other, how));
            trials += 1;
        }
    }
    for rel in ["v2/entries", "v2/tmp", "v2/locks", "v2", ""] {
        for how in [DirDamage::Remove, DirDamage::ReplaceWithFile, DirDamage::Empty] {
            // The cache directory itself replaced by a file is not a cache any more: a
            // fresh open says so (checked below).
            if rel.is_empty() && matches!(how, DirDamage::ReplaceWithFile) {
                continue;
            }
            let what = format!("{how:?} of the directory {rel:?}");
            trial(&root.0, Target::Dir(rel), &what, |path, _| damage_dir(path, how));
            trials += 1;
        }
    }
    println!(
        "damage: {trials} kinds of damage, each with open handles and a fresh one: 0 errors, 0 stale or wrong reads"
    );
}

#[test]
fn a_cache_directory_that_is_a_file_is_a_clear_error() {
    let root = TempDir::new("damage-file-root");
    fs::create_dir_all(&root.0).unwrap();
    let path = root.0.join("not-a-dir");
    fs::write(&path, b"x").unwrap();
    let err = Cache::open(&path).unwrap_err();
    assert_eq!(err.kind(), stepcache::ErrorKind::InvalidConfig, "{err}");
    assert!(err.to_string().contains("is a file"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), b"x", "the file is left as it was");
}

/// Files truncated and rewritten while other threads read them: with entries read into
/// memory (`memory_map(false)`) nothing stepcache reads is mapped, so no truncation can
/// fault the process (SIGBUS would end this test's process); every read is the current
/// value or a miss.
#[test]
fn truncation_under_concurrent_reads_never_faults_without_maps() {
    let root = TempDir::new("damage-concurrent");
    let dir = root.0.join("cache");
    let writer = Cache::open(&dir).unwrap();
    for n in 0..SIZES.len() {
        writer.put(&key(n), value(n, 1)).unwrap();
    }
    let paths: Vec<PathBuf> = (0..SIZES.len())
        .map(|n| writer.engine().store().entry_path(key(n).fingerprint()))
        .collect();
    let originals: Vec<Vec<u8>> = paths.iter().map(|p| fs::read(p).unwrap()).collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (mut reads, mut hits) = (0u64, 0u64);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut round = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (path, original) in paths.iter().zip(&originals) {
                    let file = OpenOptions::new().write(true).open(path);
                    if let Ok(file) = file {
                        let _ = file.set_len([0, 1, original.len() as u64 / 2][round % 3]);
                    }
                    // Put the bytes back, so that later reads can hit again.
                    let _ = fs::write(path, original);
                }
                round += 1;
            }
        });
        let reader = Cache::builder()
            .dir(&dir)
            .memory_budget(0)
            .memory_map(false)
            .open()
            .unwrap();
        let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while std::time::Instant::now() < until {
            for n in 0..SIZES.len() {
                reads += 1;
                if let Some(hit) = reader.get(&key(n)).unwrap() {
                    assert!(hit.value == value(n, 1), "key {n}: not its value");
                    hits += 1;
                }
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    println!("concurrent truncation: {reads} reads without maps, {hits} verified hits, the rest misses, no fault");
}

/// An entry file made far larger than memory (sparse): a handle that reads entries into
/// memory (`memory_map(false)`) finds a miss, never asks for that much memory (which
/// would abort the process), and the key can be stored again.
#[test]
fn an_entry_file_far_larger_than_memory_is_a_miss_without_maps() {
    let root = TempDir::new("damage-huge");
    let dir = root.0.join("cache");
    let cache = Cache::builder()
        .dir(&dir)
        .memory_budget(0)
        .memory_map(false)
        .open()
        .unwrap();
    let n = SIZES.len() - 1;
    cache.put(&key(n), value(n, 1)).unwrap();
    let path = cache.engine().store().entry_path(key(n).fingerprint());
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(8 << 40)
        .unwrap();
    assert!(cache.get(&key(n)).unwrap().is_none());
    cache.put(&key(n), value(n, 2)).unwrap();
    assert!(cache.get(&key(n)).unwrap().unwrap().value == value(n, 2));
}

/// Where the child process of the next test finds the cache it reads.
const HUGE_ENTRY_DIR: &str = "STEPCACHE_TEST_HUGE_ENTRY_DIR";

/// A real entry longer than this process can hold in memory, read by a handle without
/// memory maps: a `TooLarge` error naming the way to read it, and the entry stays (its
/// header says that length, so it is no damage). A sparse file under a valid header of a
/// 32 GiB f32 map stands in for it, read by this test's binary run again under an 8 GiB
/// address-space limit (`prlimit`), so the allocation fails on any machine.
#[test]
fn an_entry_longer_than_memory_is_too_large_and_kept_without_maps() {
    let open = |dir: &Path| {
        Cache::builder()
            .dir(dir)
            .memory_budget(0)
            .memory_map(false)
            .open()
            .unwrap()
    };
    if let Some(dir) = std::env::var_os(HUGE_ENTRY_DIR) {
        let err = open(Path::new(&dir)).get(&key(0)).unwrap_err();
        assert_eq!(err.kind(), stepcache::ErrorKind::TooLarge, "{err}");
        assert!(err.to_string().contains("memory maps"), "{err}");
        return;
    }
    use stepcache_core::entry::{BlockTable, Codec, EntryHeader, PayloadCheck, block_count, encode_head};
    let root = TempDir::new("damage-huge-real");
    let dir = root.0.join("cache");
    let cache = open(&dir);
    let key = key(0);
    cache.put(&key, value(0, 1)).unwrap();
    let payload_len: u64 = 32 << 30;
    let mut header = EntryHeader {
        key: *key.fingerprint(),
        step: key.step().into(),
        created_ms: 1,
        cost_us: 1,
        elem: stepcache::ElementType::F32,
        shape: vec![payload_len / 4],
        codec: Codec::Raw,
        raw_len: payload_len,
        payload_len,
        payload_check: PayloadCheck::placeholder(),
        meta: Vec::new(),
        provenance: Default::default(),
        blocks: BlockTable::default(),
    };
    header.blocks = BlockTable::placeholder(block_count(&header) as usize);
    let head = encode_head(&header);
    let path = cache.engine().store().entry_path(key.fingerprint());
    fs::write(&path, &head).unwrap();
    let len = head.len() as u64 + payload_len;
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len)
        .unwrap();
    drop(cache);
    let child = std::process::Command::new("prlimit")
        .arg(format!("--as={}", 8u64 << 30))
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "an_entry_longer_than_memory_is_too_large_and_kept_without_maps",
            "--nocapture",
        ])
        .env(HUGE_ENTRY_DIR, &dir)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&child.stdout).into_owned() + &String::from_utf8_lossy(&child.stderr);
    assert!(
        child.status.success() && report.contains("1 passed"),
        "the reading process: {report}"
    );
    assert_eq!(fs::metadata(&path).unwrap().len(), len, "the entry is kept");
}
