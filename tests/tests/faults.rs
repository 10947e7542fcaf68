//! Faults at every storage call of a workload: a failing call, a short read, a write that
//! stores half an entry and then fails. The engine returns typed errors (never panics,
//! never wrong data), keeps its memory tier and accounting consistent, and the next good
//! call works.

#![allow(clippy::unwrap_used)] // tests report failures by panicking

use std::convert::Infallible;

use stepcache_core::{Cache, Config, ErrorKind, INDEX_REFRESH_MS, Key, ManualClock, Retention, Store, Value};
use stepcache_tests::faults::{Fault, FaultStore};

fn key(step: &str, n: u64) -> Key {
    Key::of(step).arg("n", n).build().unwrap()
}

/// The only value ever stored under `key(step, n)`.
fn value(n: u64) -> Value {
    Value::array(vec![n as f32 + 0.5; 200 + n as usize * 100], &[200 + n as usize * 100]).unwrap()
}

/// Runs a fixed workload; returns every call's outcome as Ok or the error kind.
async fn workload(cache: &Cache<FaultStore, ManualClock>) -> Vec<Result<(), ErrorKind>> {
    let mut out = Vec::new();
    let mut record = |r: Result<(), ErrorKind>| out.push(r);
    for n in 0..4 {
        record(cache.put(&key("a", n), value(n)).await.map(drop).map_err(|e| e.kind()));
    }
    for n in 0..5 {
        match cache.get(&key("a", n)).await {
            Ok(Some(hit)) => assert_eq!(hit.value, value(n), "never wrong data"),
            Ok(None) => {}
            Err(e) => record(Err(e.kind())),
        }
    }
    let computed = cache
        .get_or_compute(&key("b", 7), || async { Ok::<_, Infallible>(value(7)) })
        .await;
    if let Ok(hit) = &computed {
        assert_eq!(hit.value, value(7));
    }
    record(computed.map(drop).map_err(|e| e.kind()));
    record(cache.invalidate(&key("a", 1)).await.map_err(|e| e.kind()));
    cache.clock().advance(INDEX_REFRESH_MS);
    record(cache.stats().await.map(drop).map_err(|e| e.kind()));
    record(cache.clear(Some("a")).await.map(drop).map_err(|e| e.kind()));
    record(cache.put(&key("c", 3), value(3)).await.map(drop).map_err(|e| e.kind()));
    out
}

/// After the faults: consistent state, and the cache works again.
async fn check_recovered(cache: &Cache<FaultStore, ManualClock>, case: &str) {
    cache.store().fail_at(None);
    for (step, n) in [("a", 0), ("a", 1), ("a", 2), ("a", 3), ("b", 7), ("c", 3)] {
        if let Some(hit) = cache.get(&key(step, n)).await.unwrap() {
            assert_eq!(hit.value, value(n), "{case}: {step}{n} is never wrong");
        }
    }
    cache.clock().advance(INDEX_REFRESH_MS);
    let stats = cache.stats().await.unwrap();
    let listed: u64 = cache.store().list().await.unwrap().iter().map(|l| l.len).sum();
    assert_eq!(stats.store.bytes, listed, "{case}: store accounting matches the store");
    let in_memory = cache.entries().await.unwrap().iter().filter(|e| e.in_memory).count() as u64;
    assert_eq!(
        stats.memory.entries, in_memory,
        "{case}: memory accounting matches the memory tier"
    );
    assert!(stats.memory.bytes <= stats.memory.budget && stats.store.bytes <= stats.store.budget);
    cache.put(&key("d", 9), value(9)).await.unwrap();
    assert_eq!(
        cache.get(&key("d", 9)).await.unwrap().unwrap().value,
        value(9),
        "{case}: the next good call works"
    );
}

#[test]
fn every_storage_call_can_fail_without_harm() {
    pollster::block_on(async {
        let (mut injected, mut errors, mut total_calls) = (0, 0, 0);
        // With a memory tier, and without one (every read goes to the store).
        for memory in [8_000, 0] {
            let config = || {
                Config::new()
                    .memory_budget(memory)
                    .store_budget(12_000)
                    .retention("b", Retention::Persistent)
                    .unwrap()
            };
            // Count the calls of a clean run.
            let clean = Cache::new(FaultStore::new(), ManualClock::new(1_750_000_000_000), config()).unwrap();
            let outcomes = workload(&clean).await;
            assert!(outcomes.iter().all(Result::is_ok), "a clean run succeeds: {outcomes:?}");
            let calls = clean.store().calls();
            total_calls += calls;
            for fault in [Fault::Fail, Fault::ShortRead, Fault::PartialWrite] {
                for n in 1..=calls + 2 {
                    let store = FaultStore::new();
                    store.fail_at(Some((n, fault)));
                    let cache = Cache::new(store, ManualClock::new(1_750_000_000_000), config()).unwrap();
                    for outcome in workload(&cache).await {
                        if let Err(kind) = outcome {
                            assert_eq!(kind, ErrorKind::Storage, "{fault:?} at call {n}: a typed storage error");
                            errors += 1;
                        }
                    }
                    injected += cache.store().injected();
                    check_recovered(&cache, &format!("{fault:?} at call {n}, memory {memory}")).await;
                }
            }
        }
        println!(
            "faults: {injected} injected at each of {total_calls} storage calls (3 kinds, 2 configurations), {errors} typed errors returned, state consistent after each"
        );
        assert!(injected >= total_calls, "faults were really injected");
    });
}
