//! The engine's own sequence of storage calls under simulated crashes: a store that keeps
//! what was durable apart from what was only written, and rebuilds what a crash leaves
//! (lost writes, lost deletes, torn new entries). After every crash, every key reads as a
//! complete value that was put for it, or as a miss; the damage is removed and the
//! accounting matches the store.
//!
//! `STEPCACHE_CRASH_SIM_TRIALS` sets the number of crashes (default 2000).

#![allow(clippy::unwrap_used)] // tests report failures by panicking

use stepcache_core::{Cache, Config, INDEX_REFRESH_MS, Key, ManualClock, Store, Value};
use stepcache_tests::faults::CrashStore;
use stepcache_tests::rng::Rng;

fn key(n: u64) -> Key {
    Key::of("sim").arg("n", n).build().unwrap()
}

fn value(n: u64, v: u64) -> Value {
    let len = 50 + ((n * 7 + v * 13) % 400) as usize;
    Value::array((0..len as u64).map(|i| (n << 40) ^ (v << 16) ^ i).collect(), &[len])
        .unwrap()
        .with_meta(v.to_string())
}

#[test]
fn crashes_never_leave_wrong_data() {
    let trials: u64 = stepcache_tests::env_count("STEPCACHE_CRASH_SIM_TRIALS", 2000);
    pollster::block_on(async {
        let (mut torn_or_lost, mut hits) = (0u64, 0u64);
        for trial in 0..trials {
            let store = CrashStore::new();
            // A small budget, so evictions (deletes) interleave with puts.
            let config = Config::new().memory_budget(0).store_budget(20_000);
            let cache = Cache::new(store.clone(), ManualClock::new(1_750_000_000_000), config.clone()).unwrap();
            let mut rng = Rng(trial.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let mut next = || rng.next_u64();
            for v in 0..30 {
                let n = next() % 8;
                match next() % 10 {
                    0 => cache.invalidate(&key(n)).await.unwrap(),
                    1 => store.flush(),
                    2 => {
                        cache.clear(Some("sim")).await.unwrap();
                    }
                    _ => {
                        cache
                            .put_with_cost(&key(n), value(n, v), next() % 1_000_000)
                            .await
                            .unwrap();
                    }
                }
            }
            let crashed = store.crashed(next());
            let after = Cache::new(crashed.clone(), ManualClock::new(1_750_000_000_000), config).unwrap();
            for n in 0..8 {
                match after.get(&key(n)).await.unwrap() {
                    Some(hit) => {
                        let v: u64 = std::str::from_utf8(hit.value.meta()).unwrap().parse().unwrap();
                        assert_eq!(hit.value, value(n, v), "trial {trial}: key {n} returned wrong data");
                        hits += 1;
                    }
                    None => torn_or_lost += 1,
                }
            }
            after.clock().advance(INDEX_REFRESH_MS);
            let stats = after.stats().await.unwrap();
            let listed: u64 = crashed.list().await.unwrap().iter().map(|l| l.len).sum();
            assert_eq!(stats.store.bytes, listed, "trial {trial}: accounting matches the store");
            for listed in crashed.list().await.unwrap() {
                let bytes = crashed.get(&listed.id).await.unwrap().unwrap();
                assert!(
                    stepcache_core::entry::decode(&bytes, &listed.id).is_ok(),
                    "trial {trial}: damage left behind"
                );
            }
        }
        println!(
            "crash simulation: {trials} crashes, {hits} verified hits, {torn_or_lost} misses (lost or torn), 0 wrong reads"
        );
    });
}
