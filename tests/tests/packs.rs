//! The packed layout of small entries on the real filesystem: several handles on one
//! directory (as several processes would have), last writer wins, removals that outlive
//! compaction, space given back, a lost counters file, and ids that move between a pack
//! and a file of their own.

#![cfg(not(target_family = "wasm"))]
#![allow(clippy::unwrap_used)] // tests report failures by panicking

use std::path::Path;

use stepcache::{Durability, EntryLocation, FsStore};
use stepcache_core::{Fingerprint, Store};
use stepcache_tests::rng::Rng;
use stepcache_tests::temp::TempDir;

fn open(dir: &Path) -> FsStore {
    FsStore::open(dir, Durability::Buffered).unwrap()
}

fn id(n: u64) -> Fingerprint {
    Fingerprint::of_bytes(&n.to_le_bytes())
}

/// Raw bytes standing for an entry (the store does not decode what it keeps).
fn bytes(n: u64, version: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64 ^ n.wrapping_mul(31) ^ version.wrapping_mul(7)) as u8)
        .collect()
}

fn get(store: &FsStore, n: u64) -> Option<Vec<u8>> {
    pollster::block_on(store.get(&id(n)))
        .unwrap()
        .map(|b| b.as_ref().to_vec())
}

fn put(store: &FsStore, n: u64, data: &[u8]) {
    pollster::block_on(store.put(&id(n), &[data])).unwrap();
}

fn delete(store: &FsStore, n: u64) {
    pollster::block_on(store.delete(&id(n))).unwrap();
}

fn packs_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("v1/packs"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[test]
fn handles_see_each_others_puts_and_removals() {
    let dir = TempDir::new("packs-visibility");
    let (a, b) = (open(&dir.0), open(&dir.0));
    put(&a, 1, &bytes(1, 1, 1000));
    assert_eq!(get(&b, 1), Some(bytes(1, 1, 1000)));
    assert!(matches!(
        b.locate(&id(1)).unwrap(),
        Some(EntryLocation::Packed { len: 1000, .. })
    ));
    delete(&b, 1);
    assert_eq!(get(&a, 1), None);
    put(&a, 1, &bytes(1, 2, 10));
    assert_eq!(get(&b, 1), Some(bytes(1, 2, 10)));
    // The last writer wins, whichever handle wrote before.
    put(&b, 1, &bytes(1, 3, 20));
    put(&a, 1, &bytes(1, 4, 30));
    assert_eq!(get(&b, 1), Some(bytes(1, 4, 30)));
    assert_eq!(get(&open(&dir.0), 1), Some(bytes(1, 4, 30)));
    let listed = pollster::block_on(b.list()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].id, listed[0].len), (id(1), 30));
}

/// Random puts and removals through handles that come and go (each one's pack sealed when
/// it goes, then compacted by the next) always read back as a plain map says.
#[test]
fn handles_that_come_and_go_agree_with_a_model() {
    let dir = TempDir::new("packs-model");
    let mut model: std::collections::HashMap<u64, Vec<u8>> = Default::default();
    let mut rng = Rng(0xDEAD_BEEF_1234_5678);
    let mut version = 0;
    for round in 0..40 {
        let handles: Vec<FsStore> = (0..1 + rng.below(3)).map(|_| open(&dir.0)).collect();
        for _ in 0..60 {
            let h = &handles[rng.below(handles.len() as u64) as usize];
            let n = rng.below(24);
            if rng.below(3) == 0 {
                delete(h, n);
                model.remove(&n);
            } else {
                version += 1;
                let data = bytes(n, version, 1 + rng.below(3000) as usize);
                put(h, n, &data);
                model.insert(n, data);
            }
        }
        drop(handles);
        let fresh = open(&dir.0);
        for n in 0..24 {
            assert_eq!(get(&fresh, n), model.get(&n).cloned(), "round {round}, id {n}");
        }
    }
    let files = std::fs::read_dir(dir.0.join("v1/packs")).unwrap().count();
    assert!(files <= 5, "compaction keeps the packs few: {files} files");
}

/// Puts ids `0..n` through `store`, then removes them all through a second handle, which
/// is dropped (its pack sealed).
fn put_then_remove_elsewhere(dir: &Path, store: &FsStore, n: u64) {
    for i in 0..n {
        put(store, i, &bytes(i, 0, 500));
    }
    let other = open(dir);
    for i in 0..n {
        delete(&other, i);
    }
}

#[test]
fn removals_outlive_compaction() {
    let dir = TempDir::new("packs-removals");
    put_then_remove_elsewhere(&dir.0, &open(&dir.0), 50);
    for _ in 0..3 {
        // Each open compacts the sealed packs of the handles before it.
        let c = open(&dir.0);
        for n in 0..50 {
            assert_eq!(get(&c, n), None, "id {n} came back");
        }
    }
}

/// The removals are compacted while the pack with the entries they removed still exists
/// (its writer is alive): they must be kept.
#[test]
fn removals_outlive_compaction_while_older_records_remain() {
    let dir = TempDir::new("packs-removals-live");
    let a = open(&dir.0);
    put_then_remove_elsewhere(&dir.0, &a, 50);
    drop(open(&dir.0)); // compacts b's pack; a's is locked by its writer
    let d = open(&dir.0);
    for n in 0..50 {
        assert_eq!(get(&d, n), None, "id {n} came back");
        assert_eq!(get(&a, n), None, "id {n} came back for its writer");
    }
}

#[test]
fn space_of_removed_entries_comes_back() {
    let dir = TempDir::new("packs-space");
    let a = open(&dir.0);
    for n in 0..4000 {
        put(&a, n, &bytes(n, 0, 1024));
    }
    let full = packs_bytes(&dir.0);
    assert!(full > 4000 * 1024, "{full}");
    for n in 0..4000 {
        delete(&a, n);
    }
    drop(a);
    let b = open(&dir.0);
    let after = packs_bytes(&dir.0);
    assert!(
        after < full / 4,
        "packs hold {after} bytes after removing all of {full}"
    );
    assert!(pollster::block_on(b.list()).unwrap().is_empty());
}

#[test]
fn a_lost_counters_file_does_not_reorder_writes() {
    let dir = TempDir::new("packs-counters");
    {
        let a = open(&dir.0);
        for v in 0..100 {
            put(&a, 1, &bytes(1, v, 100));
        }
    }
    std::fs::remove_file(dir.0.join("v1/packs/counters")).unwrap();
    {
        let b = open(&dir.0);
        put(&b, 1, &bytes(1, 1000, 100));
    }
    assert_eq!(get(&open(&dir.0), 1), Some(bytes(1, 1000, 100)));
}

#[test]
fn an_id_moves_between_a_pack_and_a_file() {
    let dir = TempDir::new("packs-moves");
    let a = open(&dir.0);
    let big = bytes(7, 1, 300_000);
    put(&a, 7, &bytes(7, 0, 100));
    put(&a, 7, &big);
    assert_eq!(get(&a, 7), Some(big.clone()));
    assert!(matches!(a.locate(&id(7)).unwrap(), Some(EntryLocation::File(_))));
    put(&a, 7, &bytes(7, 2, 100));
    assert_eq!(get(&a, 7), Some(bytes(7, 2, 100)));
    // The older file is shadowed: listed once, as the packed entry.
    let listed = pollster::block_on(a.list()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].len, 100);
    delete(&a, 7);
    assert_eq!(get(&a, 7), None);
    assert!(!a.entry_path(&id(7)).exists());
    assert_eq!(get(&open(&dir.0), 7), None);
}

#[test]
fn pack_limit_zero_gives_every_entry_a_file() {
    let dir = TempDir::new("packs-limit");
    let a = FsStore::open_with(&dir.0, Durability::Buffered, 0).unwrap();
    put(&a, 3, &bytes(3, 0, 10));
    assert_eq!(
        a.locate(&id(3)).unwrap(),
        Some(EntryLocation::File(a.entry_path(&id(3))))
    );
    assert_eq!(packs_bytes(&dir.0), 0);
}

/// Several handles (as several processes would have) and threads at once: every thread
/// puts, removes and reads back its own ids while the others do the same, so packs fill,
/// roll, get sealed and compacted under everyone's feet. Every read of an own id returns
/// exactly the last version written, or nothing after a removal.
#[test]
fn handles_and_threads_read_their_own_writes_through_compaction() {
    let dir = TempDir::new("packs-stress");
    let secs: u64 = stepcache_tests::env_count("STEPCACHE_PACK_STRESS_SECS", 2);
    let handles: Vec<std::sync::Arc<FsStore>> = (0..4).map(|_| std::sync::Arc::new(open(&dir.0))).collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let store = std::sync::Arc::clone(&handles[t as usize % handles.len()]);
            std::thread::spawn(move || {
                let mut rng = Rng(0xABCD_0000 ^ t);
                let mut last: std::collections::HashMap<u64, Option<u64>> = Default::default();
                let (mut ops, mut version) = (0u64, 0u64);
                while std::time::Instant::now() < deadline {
                    ops += 1;
                    version += 1;
                    let n = t * 1000 + rng.below(16);
                    match rng.below(10) {
                        0..5 => {
                            put(&store, n, &bytes(n, version, 200 + rng.below(8000) as usize));
                            last.insert(n, Some(version));
                        }
                        5..7 => {
                            delete(&store, n);
                            last.insert(n, None);
                        }
                        _ => {}
                    }
                    let want = last.get(&n).copied().flatten();
                    let got = get(&store, n);
                    match want {
                        Some(v) => {
                            let got = got.unwrap_or_else(|| panic!("thread {t}, id {n}: version {v} lost (op {ops})"));
                            assert_eq!(
                                &got[..],
                                &bytes(n, v, got.len())[..],
                                "thread {t}, id {n}: not version {v}"
                            );
                        }
                        None => assert!(got.is_none(), "thread {t}, id {n}: came back after its removal"),
                    }
                }
                (ops, last)
            })
        })
        .collect();
    let mut total = 0;
    let mut finals = Vec::new();
    for thread in threads {
        let (ops, last) = thread.join().unwrap();
        total += ops;
        finals.push(last);
    }
    drop(handles);
    let fresh = open(&dir.0);
    for last in finals {
        for (n, v) in last {
            match v {
                Some(v) => {
                    let got = get(&fresh, n).unwrap_or_else(|| panic!("id {n}: version {v} lost for a fresh handle"));
                    assert_eq!(&got[..], &bytes(n, v, got.len())[..]);
                }
                None => assert_eq!(get(&fresh, n), None, "id {n} came back for a fresh handle"),
            }
        }
    }
    println!("pack stress: {total} operations through 4 handles and 8 threads, every read its own last write");
}
