//! Damaged entries, a thousand times each way: flipped bytes, truncations, zeroed ranges,
//! swapped files, appended garbage, emptied files. Every read is a verified hit (the
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
    let writer = Cache::open(&dir).unwrap();
    let reader = Cache::builder().dir(&dir).memory_budget(0).open().unwrap();
    let entries = 16;
    for n in 0..entries {
        writer.put(&key(n), value(n)).unwrap();
    }
    let path = |n: u64| writer.engine().store().entry_path(key(n).fingerprint());
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
