//! Damaged entries, a thousand times each way. Entry files (every entry its own file):
//! flipped bytes, truncations, zeroed ranges, swapped files, appended garbage, emptied
//! files. Pack files (small entries packed): flips in entries, in record headers and
//! anywhere, zeroed ranges, truncated and extended packs. Every read is a verified hit (the
//! exact value, when the damage happened to change nothing) or a clean miss that removes
//! the damaged entry; never wrong data.
//!
//! `STEPCACHE_CORRUPTION_TRIALS` sets the number of trials (default 1000).

#![cfg(not(target_family = "wasm"))]
#![allow(clippy::unwrap_used)] // tests report failures by panicking

use stepcache::{Cache, Key, Value};
use stepcache_tests::rng::Rng;

fn key(n: u64) -> Key {
    Key::of("damaged").arg("n", n).build().unwrap()
}

/// Entry `n`: small ones are read into memory, the larger ones memory-mapped.
fn value(n: u64) -> Value {
    let len = [100, 4_000, 70_000, 300_000][n as usize % 4] + n as usize;
    Value::array(
        (0..len as u32)
            .map(|i| i.wrapping_mul(2_654_435_761) ^ n as u32)
            .collect(),
        &[len],
    )
    .unwrap()
    .with_meta(format!("{{\"n\":{n}}}"))
}

fn trials() -> u64 {
    stepcache_tests::env_count("STEPCACHE_CORRUPTION_TRIALS", 1000)
}

#[test]
fn damaged_entries_are_verified_hits_or_clean_misses() {
    let trials = trials();
    let dir = std::env::temp_dir().join(format!("stepcache-corruption-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Every entry its own file: this test damages files.
    let writer = Cache::builder().dir(&dir).pack_limit(0).open().unwrap();
    let reader = Cache::builder()
        .dir(&dir)
        .memory_budget(0)
        .pack_limit(0)
        .open()
        .unwrap();
    let entries = 16;
    for n in 0..entries {
        writer.put(&key(n), value(n)).unwrap();
    }
    let path = |n: u64| {
        dir.join("v1/entries")
            .join(&key(n).fingerprint().to_hex()[..2])
            .join(key(n).fingerprint().to_hex())
    };
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let (mut misses, mut unchanged_hits) = (0, 0);
    let mut kinds = [0u64; 6];
    for trial in 0..trials {
        let n = rng.below(entries);
        let file = path(n);
        let mut bytes = std::fs::read(&file).unwrap();
        let len = bytes.len() as u64;
        let kind = rng.below(6) as usize;
        kinds[kind] += 1;
        match kind {
            0 => {
                let at = rng.below(len) as usize;
                bytes[at] ^= 1 << rng.below(8);
            }
            1 => bytes.truncate(rng.below(len) as usize),
            2 => {
                let at = rng.below(len) as usize;
                let end = (at + 1 + rng.below(4096) as usize).min(bytes.len());
                bytes[at..end].fill(0);
            }
            3 => bytes = std::fs::read(path((n + 1 + rng.below(entries - 1)) % entries)).unwrap(),
            4 => bytes.extend((0..1 + rng.below(100)).map(|i| i as u8)),
            _ => bytes.clear(),
        }
        std::fs::write(&file, &bytes).unwrap();
        match reader.get(&key(n)).unwrap() {
            None => {
                misses += 1;
                assert!(!file.exists(), "trial {trial}: the damaged entry was removed");
            }
            Some(hit) => {
                assert_eq!(
                    hit.value,
                    value(n),
                    "trial {trial}: damage kind {kind} returned wrong data"
                );
                unchanged_hits += 1;
            }
        }
        writer.put(&key(n), value(n)).unwrap();
    }
    for n in 0..entries {
        assert_eq!(reader.get(&key(n)).unwrap().unwrap().value, value(n));
    }
    let stats = reader.stats().unwrap();
    assert_eq!(stats.corrupt_removed, misses);
    println!(
        "corruption: {trials} trials (flip {}, truncate {}, zero {}, swap {}, append {}, empty {}): \
         {misses} clean misses, {unchanged_hits} verified hits where the damage changed nothing, 0 wrong reads",
        kinds[0], kinds[1], kinds[2], kinds[3], kinds[4], kinds[5]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Packed entry `n`: 400 B to 60 KiB, all under the pack limit.
fn small_value(n: u64) -> Value {
    let len = [100, 1_000, 4_000, 15_000][n as usize % 4] + n as usize;
    Value::array(
        (0..len as u32).map(|i| i.wrapping_mul(40_503) ^ n as u32).collect(),
        &[len],
    )
    .unwrap()
    .with_meta(format!("{{\"packed\":{n}}}"))
}

/// Damage inside pack files. Each trial seals the packs (the writing handle is dropped),
/// damages one, and opens a fresh handle, which scans the packs from scratch: damaged
/// record headers are met by the scan, damaged entries by the read.
#[test]
fn damaged_packs_give_verified_hits_or_clean_misses() {
    use std::os::unix::fs::FileExt;
    let trials = trials();
    let dir = std::env::temp_dir().join(format!("stepcache-pack-corruption-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let entries = 16;
    let open = || Cache::builder().dir(&dir).memory_budget(0).open().unwrap();
    {
        let writer = open();
        for n in 0..entries {
            writer.put(&key(n), small_value(n)).unwrap();
        }
    }
    let mut rng = Rng(0x0F1E_2D3C_4B5A_6978);
    let (mut misses, mut hits) = (0u64, 0u64);
    let mut kinds = [0u64; 6];
    for trial in 0..trials {
        let n = rng.below(entries);
        let cache = open();
        let Some(stepcache::EntryLocation::Packed { pack, offset, len }) =
            cache.engine().store().locate(key(n).fingerprint()).unwrap()
        else {
            panic!("trial {trial}: entry {n} is not packed");
        };
        drop(cache); // seals every pack
        let file = std::fs::OpenOptions::new().read(true).write(true).open(&pack).unwrap();
        let pack_len = file.metadata().unwrap().len();
        let bit = 1u8 << rng.below(8);
        let flip = |at: u64| {
            let mut b = [0u8];
            file.read_exact_at(&mut b, at).unwrap();
            b[0] ^= bit;
            file.write_all_at(&b, at).unwrap();
        };
        let kind = rng.below(6) as usize;
        kinds[kind] += 1;
        match kind {
            0 => flip(offset + rng.below(len)),
            1 => flip(offset - 64 + rng.below(64)), // the record header
            2 => {
                let at = offset + rng.below(len);
                let zeros = vec![0u8; (1 + rng.below(4096)).min(offset + len - at) as usize];
                file.write_all_at(&zeros, at).unwrap();
            }
            3 => file.set_len(offset - 64 + rng.below(len + 64)).unwrap(),
            4 => file
                .write_all_at(&(0..1 + rng.below(200)).map(|i| i as u8).collect::<Vec<_>>(), pack_len)
                .unwrap(),
            _ => flip(rng.below(pack_len)),
        }
        drop(file);
        let reader = open();
        for m in 0..entries {
            match reader.get(&key(m)).unwrap() {
                None => misses += 1,
                Some(hit) => {
                    assert_eq!(
                        hit.value,
                        small_value(m),
                        "trial {trial}: damage kind {kind} to entry {n} returned wrong data for entry {m}"
                    );
                    hits += 1;
                }
            }
        }
        for m in 0..entries {
            if !reader.has(&key(m)).unwrap() {
                reader.put(&key(m), small_value(m)).unwrap();
            }
        }
    }
    let reader = open();
    for n in 0..entries {
        assert_eq!(reader.get(&key(n)).unwrap().unwrap().value, small_value(n));
    }
    assert!(misses > 0, "the damage was never noticed: the test damaged nothing");
    let packs = std::fs::read_dir(dir.join("v1/packs")).unwrap().count();
    println!(
        "pack corruption: {trials} trials (entry flip {}, header flip {}, zero {}, truncate {}, extend {}, \
         flip anywhere {}): {misses} clean misses, {hits} verified hits, 0 wrong reads; {packs} files in packs/",
        kinds[0], kinds[1], kinds[2], kinds[3], kinds[4], kinds[5]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
