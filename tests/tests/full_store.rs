//! A store that runs out of space below the cache's budget (a full disk, a browser quota).

#![allow(clippy::unwrap_used)] // tests report failures by panicking

use stepcache_core::{Cache, Config, ErrorKind, Key, ManualClock, Store, TierOutcome, Value};
use stepcache_tests::faults::FullStore;

fn key(n: i64) -> Key {
    Key::of("full").arg("n", n).build().unwrap()
}

fn map(seed: f32) -> Value {
    Value::array(vec![seed; 1000], &[1000]).unwrap()
}

fn cache(capacity: u64) -> Cache<FullStore, ManualClock> {
    Cache::new(
        FullStore::new(capacity),
        ManualClock::new(1_750_000_000_000),
        Config::new().memory_budget(0),
    )
    .unwrap()
}

/// When the store is full, the engine evicts by its policy (the cheapest entry) and retries.
#[test]
fn a_full_store_evicts_by_policy_and_retries() {
    pollster::block_on(async {
        let cache = cache(10_000); // two 4 KiB entries fit, three do not
        cache.put_with_cost(&key(1), map(1.0), 30_000_000).await.unwrap();
        cache.put_with_cost(&key(2), map(2.0), 30_000).await.unwrap();
        let report = cache.put(&key(3), map(3.0)).await.unwrap();
        assert_eq!(report.store, TierOutcome::Stored);
        assert_eq!(
            cache.get(&key(1)).await.unwrap().unwrap().value,
            map(1.0),
            "the costly entry stays"
        );
        assert!(cache.get(&key(2)).await.unwrap().is_none(), "the cheap entry made room");
        assert_eq!(cache.get(&key(3)).await.unwrap().unwrap().value, map(3.0));
        let stats = cache.stats().await.unwrap();
        let on_store: u64 = cache.store().list().await.unwrap().iter().map(|l| l.len).sum();
        assert_eq!(stats.store.bytes, on_store);
        assert_eq!(stats.store.evictions, 1);
    });
}

/// A value that cannot fit even after a round of evictions is a clear StorageFull error;
/// what remains stored reads back intact and the next put that fits works.
#[test]
fn a_value_larger_than_the_store_is_a_clear_error() {
    pollster::block_on(async {
        let cache = cache(10_000);
        for n in 0..2 {
            cache.put(&key(n), map(n as f32)).await.unwrap();
        }
        let huge = Value::array(vec![0.5f32; 5000], &[5000]).unwrap();
        let err = cache.put(&key(9), huge).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::StorageFull);
        assert_eq!(
            cache.stats().await.unwrap().store.evictions,
            0,
            "nothing evicted for it"
        );
        for n in 0..2 {
            assert_eq!(cache.get(&key(n)).await.unwrap().unwrap().value, map(n as f32));
        }
        assert!(err.to_string().contains("no space left"), "{err}");
        for n in 0..2 {
            if let Some(hit) = cache.get(&key(n)).await.unwrap() {
                assert_eq!(hit.value, map(n as f32));
            }
        }
        assert!(cache.get(&key(9)).await.unwrap().is_none());
        assert_eq!(cache.put(&key(5), map(5.0)).await.unwrap().store, TierOutcome::Stored);
        let stats = cache.stats().await.unwrap();
        let on_store: u64 = cache.store().list().await.unwrap().iter().map(|l| l.len).sum();
        assert_eq!(
            stats.store.bytes, on_store,
            "accounting matches the store after the failure"
        );
    });
}

/// A computed value the store cannot take is still returned, the report says why it was
/// not stored, and it is kept in memory where the policy allows: the next call is a hit,
/// not a second computation.
#[test]
fn a_computed_value_the_store_refuses_is_kept_in_memory() {
    pollster::block_on(async {
        let cache = Cache::new(
            FullStore::new(2_000), // smaller than the value: nothing evicted can make room
            ManualClock::new(1_750_000_000_000),
            Config::new(),
        )
        .unwrap();
        let hit = cache
            .get_or_compute(&key(7), || async { Ok::<_, String>(map(7.0)) })
            .await
            .unwrap();
        assert_eq!(hit.value, map(7.0), "the computed value is returned");
        let stored = hit.stored.unwrap();
        assert_eq!(stored.store, TierOutcome::Failed(ErrorKind::StorageFull));
        assert_eq!(stored.memory, TierOutcome::Stored, "kept in memory");
        let again = cache
            .get_or_compute(&key(7), || async { Err::<Value, _>("computed twice") })
            .await
            .unwrap();
        assert_eq!(again.source, stepcache_core::Source::Memory);
        assert_eq!(again.value, map(7.0));
        // A plain put still reports the store's failure as its error.
        let err = cache.put(&key(8), map(8.0)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::StorageFull);
    });
}

/// A store filled by someone else so far that the value cannot fit even after evicting:
/// the put evicts at most as many bytes as the value needs (never everything, as trying
/// again with ever more room would), fails with StorageFull, and the rest reads back.
#[test]
fn a_full_store_evicts_at_most_what_the_value_needs() {
    pollster::block_on(async {
        let cache = cache(100_000);
        for n in 0..6 {
            cache.put(&key(n), map(n as f32)).await.unwrap();
        }
        cache.store().set_capacity(9_000);
        let big = Value::array(vec![0.5f32; 2000], &[2000]).unwrap(); // two entries' worth
        let err = cache.put(&key(9), big).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::StorageFull);
        let evicted = cache.stats().await.unwrap().store.evictions;
        assert!(evicted <= 2, "evicted {evicted} entries for a value the size of two");
        let mut kept = 0;
        for n in 0..6 {
            if let Some(hit) = cache.get(&key(n)).await.unwrap() {
                assert_eq!(hit.value, map(n as f32));
                kept += 1;
            }
        }
        assert_eq!(kept, 6 - evicted, "every entry not evicted reads back");
    });
}
