//! The cases. Each takes a [`Backend`] and panics (fails) if the store or the engine
//! over it misbehaves.

// A region of one range (the outermost dimension's) is the common one, and a backwards
// range is what an error case is made of.
#![allow(clippy::single_range_in_vec_init, clippy::reversed_empty_ranges)]

use std::cell::Cell;
use std::convert::Infallible;

use stepcache_core::{
    Access, Cache, Config, ElementType, EntryState, Error, ErrorKind, Fingerprint, Force, Hit, Key, ManualClock,
    Retention, SkipReason, Source, Store, TierOutcome, TypePolicy, Value, ValueRef,
};

use crate::backend::Backend;
use crate::faults::{Fault, FaultStore};

/// The clock every case starts at (milliseconds since the epoch).
pub const T0: u64 = 1_750_000_000_000;

type TestCache<B> = Cache<<B as Backend>::Store, ManualClock>;

fn open<S: Store>(store: S, config: Config, now: u64) -> Cache<S, ManualClock> {
    Cache::new(store, ManualClock::new(now), config).expect("a valid config opens")
}

async fn fresh<B: Backend>(backend: &B, config: Config) -> TestCache<B> {
    open(backend.fresh().await, config, T0)
}

/// A second cache (its own memory tier and clock) on the same location as `cache`.
async fn reopen<B: Backend>(backend: &B, cache: &TestCache<B>, config: Config, now: u64) -> TestCache<B> {
    open(backend.reopen(cache.store()).await, config, now)
}

fn key(step: &str, n: i64) -> Key {
    Key::of(step).arg("n", n).build().expect("valid key")
}

/// `len` floats starting at `seed`: 4 * len bytes.
fn floats(len: usize, seed: f32) -> Value {
    Value::array((0..len).map(|i| seed + i as f32 * 0.5).collect(), &[len]).expect("valid value")
}

fn no_memory() -> Config {
    Config::new().memory_budget(0)
}

/// The bytes the store's budget counts for what it holds ([`Store::footprint`]).
async fn stored_sum<S: Store>(store: &S) -> u64 {
    store
        .list()
        .await
        .expect("list")
        .iter()
        .map(|l| store.footprint(l.len))
        .sum()
}

/// A store budget with room for `entries` entries of `floats(1000)` (4000 bytes and a
/// header), in the units the backend's store counts (a filesystem: whole blocks).
async fn room_for_floats<B: Backend>(backend: &B, entries: u64) -> u64 {
    entries * backend.fresh().await.footprint(4400)
}

/// Every element type comes back with the same type, shape, bytes and metadata.
pub async fn round_trip_every_element_type<B: Backend>(backend: &B) {
    let a = fresh(backend, Config::new()).await;
    let b = reopen(backend, &a, Config::new(), T0).await;
    for (i, elem) in ElementType::ALL.into_iter().enumerate() {
        let bytes: Vec<u8> = (0..12 * elem.size()).map(|j| (j * 7 + i) as u8).collect();
        let value = Value::new(elem, vec![3, 4], bytes)
            .unwrap()
            .with_meta(br#"{"units":"ms"}"#.to_vec());
        let k = key("typed", i as i64);
        a.put(&k, value.clone()).await.unwrap();
        let hit = a.get(&k).await.unwrap().expect("hit in the same cache");
        assert_eq!(hit.source, Source::Memory);
        assert_eq!(hit.value, value);
        let hit = b.get(&k).await.unwrap().expect("hit in another cache");
        assert_eq!(hit.source, Source::Store, "{elem:?}");
        assert_eq!(hit.value, value, "{elem:?}");
        assert_eq!(hit.value.element_type(), elem);
        assert_eq!(hit.value.meta(), br#"{"units":"ms"}"#);
    }
    let k = key("typed", 100);
    a.put(&k, Value::array(vec![1.5f64, -2.25, 1e300], &[3]).unwrap())
        .await
        .unwrap();
    let got = b.get(&k).await.unwrap().unwrap().value;
    assert_eq!(got.to_vec::<f64>().unwrap(), vec![1.5, -2.25, 1e300]);
    let wrong = got.to_vec::<f32>().unwrap_err();
    assert_eq!(wrong.kind(), ErrorKind::WrongType);
    assert!(
        wrong.message().contains("holds f64 (shape 3), not f32"),
        "the error says what is stored and what was asked: {wrong}"
    );
    assert_eq!(got.as_slice::<u8>().unwrap_err().kind(), ErrorKind::WrongType);
    // Opaque bytes read back through the same accessors, as u8.
    let bytes = key("typed", 101);
    a.put(&bytes, Value::bytes(b"raw bytes".to_vec())).await.unwrap();
    let got = b.get(&bytes).await.unwrap().unwrap().value;
    assert_eq!(got.to_vec::<u8>().unwrap(), b"raw bytes");
    assert_eq!(got.as_slice::<u8>().unwrap(), b"raw bytes");
    assert_eq!(got.to_vec::<i8>().unwrap_err().kind(), ErrorKind::WrongType);
}

/// Zero-length values and zero-dimensional (scalar) values round-trip.
pub async fn empty_and_scalar_values<B: Backend>(backend: &B) {
    let a = fresh(backend, Config::new()).await;
    let b = reopen(backend, &a, Config::new(), T0).await;
    let empty = Value::bytes(Vec::new());
    let scalar = Value::array(vec![42i32], &[]).unwrap();
    let zero_dim = Value::array(Vec::<f32>::new(), &[0, 16]).unwrap();
    for (n, value) in [empty, scalar, zero_dim].into_iter().enumerate() {
        let k = key("edge", n as i64);
        a.put(&k, value.clone()).await.unwrap();
        assert_eq!(b.get(&k).await.unwrap().expect("stored").value, value);
    }
}

/// A multi-megabyte map round-trips and can be viewed as `&[f32]` without a copy.
pub async fn large_value_round_trip<B: Backend>(backend: &B) {
    let a = fresh(backend, Config::new()).await;
    let b = reopen(backend, &a, Config::new(), T0).await;
    let n = 9 << 18; // 9 MiB of f32: three 4 MiB records in IndexedDB
    let value = floats(n, 0.25);
    let k = key("large", 1);
    a.put(&k, value.clone()).await.unwrap();
    let hit = b.get(&k).await.unwrap().expect("stored");
    assert_eq!(hit.source, Source::Store);
    let view = hit
        .value
        .as_slice::<f32>()
        .expect("payloads are aligned for a zero-copy view");
    assert_eq!(view, value.as_slice::<f32>().unwrap());
}

/// A second put of a key replaces the first, in every handle.
pub async fn overwrite_returns_latest<B: Backend>(backend: &B) {
    let a = fresh(backend, Config::new()).await;
    let k = key("over", 1);
    a.put(&k, floats(100, 1.0)).await.unwrap();
    a.put(&k, floats(50, 2.0)).await.unwrap();
    assert_eq!(a.get(&k).await.unwrap().unwrap().value, floats(50, 2.0));
    let b = reopen(backend, &a, Config::new(), T0).await;
    assert_eq!(b.get(&k).await.unwrap().unwrap().value, floats(50, 2.0));
    assert_eq!(b.stats().await.unwrap().store.entries, 1);
}

/// What one cache stored, another cache (a later session) finds, with cost and age.
pub async fn persists_across_reopen<B: Backend>(backend: &B) {
    let a = fresh(backend, Config::new()).await;
    let k = key("t1_map", 7);
    a.put_with_cost(&k, floats(1000, 3.0), 1234).await.unwrap();
    let b = reopen(backend, &a, Config::new(), T0 + 60_000).await;
    let hit = b.get(&k).await.unwrap().expect("persisted");
    assert_eq!(hit.source, Source::Store);
    assert_eq!(hit.cost_us, 1234);
    assert_eq!(hit.created_ms, T0);
    assert_eq!(hit.value, floats(1000, 3.0));
    // Promoted: the next get is a memory hit.
    assert_eq!(b.get(&k).await.unwrap().unwrap().source, Source::Memory);
}

/// A store that keeps lasting counters keeps them across handles, adding each session's
/// once, apart from the entries (never listed, never evicted, never cleared with them); a
/// store that keeps none reports this session as all time.
pub async fn lasting_counters_add_up_across_sessions<B: Backend>(backend: &B) {
    let a = fresh(backend, Config::new()).await;
    let k = key("t1_map", 1);
    a.put(&k, floats(10, 1.0)).await.unwrap();
    for _ in 0..3 {
        a.get(&k).await.unwrap().expect("a hit");
    }
    a.save_stats().await.unwrap();
    a.save_stats().await.unwrap(); // nothing new since: nothing added twice
    let hits = |stats: &stepcache_core::Stats| stats.all_time.iter().find(|t| t.step == "t1_map").map_or(0, |t| t.hits);
    let b = reopen(backend, &a, Config::new(), T0 + 1000).await;
    b.get(&k).await.unwrap().expect("a hit");
    let kept = <B::Store as Store>::KEEPS_COUNTERS;
    assert_eq!(hits(&b.stats_all_time().await.unwrap()), if kept { 4 } else { 1 });
    b.save_stats().await.unwrap();
    // Not an entry: two entries' worth of clearing leaves the counters.
    assert_eq!(b.entries().await.unwrap().len(), 1, "the counters are not listed");
    assert_eq!(b.clear(None).await.unwrap(), 1);
    let c = reopen(backend, &a, Config::new(), T0 + 2000).await;
    assert_eq!(hits(&c.stats_all_time().await.unwrap()), if kept { 4 } else { 0 });
}

/// A value put by reference is stored from the caller's bytes, and replaces what the
/// memory tier held for the key: the next read, here or in another handle, is the new
/// value from the store, never the one it replaced.
pub async fn put_by_reference_replaces_the_memory_copy<B: Backend>(backend: &B) {
    let a = fresh(backend, Config::new()).await;
    let k = key("t1_map", 1);
    a.put(&k, floats(1000, 1.0)).await.unwrap();
    assert_eq!(a.get(&k).await.unwrap().expect("a hit").source, Source::Memory);
    let mut map: Vec<f32> = (0..1000).map(|i| 7.0 + i as f32).collect();
    let shape = [10, 100];
    let view = ValueRef::slice(&map, &shape).unwrap().with_meta(b"tr=15");
    let report = a.put_ref(&k, view).await.unwrap();
    assert_eq!(report.memory, TierOutcome::Skipped(SkipReason::Borrowed));
    assert_eq!(report.store, TierOutcome::Stored);
    let content = view.content();
    // The caller's array changes after the put; the cache keeps what was put.
    let put = map.clone();
    map.iter_mut().for_each(|x| *x = -1.0);
    let hit = a.get(&k).await.unwrap().expect("a hit");
    assert_eq!(hit.source, Source::Store);
    assert_eq!(hit.value.to_vec::<f32>().unwrap(), put);
    assert_eq!(hit.value.shape(), &shape);
    assert_eq!(hit.value.meta(), b"tr=15");
    assert_eq!(hit.content, content, "one identity however the value was put");
    let b = reopen(backend, &a, Config::new(), T0 + 1).await;
    assert_eq!(
        b.get(&k).await.unwrap().expect("a hit").value.to_vec::<f32>().unwrap(),
        put
    );
    assert_eq!(a.stats().await.unwrap().types[0].puts, 2);
    // A bad layout is refused before anything is stored.
    let err = ValueRef::new(ElementType::F32, &[3], &[0u8; 8]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidValue);
}

/// A record (several named values as one) is one entry: stored, read back from memory and
/// from the store part for part, and compressed like any value.
pub async fn records_round_trip_as_one_entry<B: Backend>(backend: &B) {
    let record = || {
        Value::record([
            ("t1", floats(1000, 3.0)),
            ("mask", Value::array(vec![1u8, 0, 1], &[3]).expect("valid value")),
            ("mean", Value::array(vec![1400.0f64], &[]).expect("valid value")),
        ])
        .expect("a valid record")
        .with_meta(*b"{\"units\":\"ms\"}")
    };
    let a = fresh(backend, Config::new()).await;
    let k = key("fit", 1);
    a.put(&k, record()).await.unwrap();
    assert_eq!(a.get(&k).await.unwrap().expect("a hit").value, record());
    let b = reopen(backend, &a, Config::new().compression(true), T0).await;
    let hit = b.get(&k).await.unwrap().expect("stored");
    assert_eq!(hit.source, Source::Store);
    assert_eq!(hit.value, record());
    let parts = hit.value.parts().unwrap();
    assert_eq!(
        parts.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["t1", "mask", "mean"]
    );
    assert_eq!(parts[0].1, floats(1000, 3.0));
    // Compressed when stored by a cache that compresses, and read back the same.
    let k2 = key("fit", 2);
    b.put(&k2, record()).await.unwrap();
    let c = reopen(backend, &a, Config::new(), T0).await;
    assert_eq!(c.get(&k2).await.unwrap().expect("stored").value, record());
}

/// A key never stored is a miss, counted as one.
pub async fn missing_key_is_a_miss<B: Backend>(backend: &B) {
    let a = fresh(backend, Config::new()).await;
    assert!(a.get(&key("nothing", 1)).await.unwrap().is_none());
    let stats = a.stats().await.unwrap();
    assert_eq!(stats.memory.misses, 1);
    assert_eq!(stats.store.misses, 1);
    assert_eq!(stats.of_type("nothing").unwrap().misses, 1);
    assert_eq!(stats.hit_rate(), 0.0);
}

/// `has` follows `put` and `invalidate`, in the cache and in other handles.
pub async fn has_and_invalidate<B: Backend>(backend: &B) {
    let a = fresh(backend, Config::new()).await;
    let b = reopen(backend, &a, no_memory(), T0).await;
    let k = key("mask", 1);
    assert!(!a.has(&k).await.unwrap());
    a.put(&k, floats(10, 0.0)).await.unwrap();
    assert!(a.has(&k).await.unwrap());
    assert!(b.has(&k).await.unwrap());
    a.invalidate(&k).await.unwrap();
    assert!(!a.has(&k).await.unwrap());
    assert!(!b.has(&k).await.unwrap());
    assert!(b.get(&k).await.unwrap().is_none());
    // Invalidating what is not there is fine.
    a.invalidate(&k).await.unwrap();
}

/// `clear` removes one type or everything, counting each key once.
pub async fn clear_all_and_by_type<B: Backend>(backend: &B) {
    let config = Config::new().retention("preview", Retention::Memory).unwrap();
    let a = fresh(backend, config.clone()).await;
    for n in 0..3 {
        a.put(&key("a", n), floats(10, n as f32)).await.unwrap();
    }
    for n in 0..2 {
        a.put(&key("b", n), floats(10, n as f32)).await.unwrap();
    }
    a.put(&key("preview", 0), floats(10, 0.0)).await.unwrap();
    assert_eq!(a.clear(Some("a")).await.unwrap(), 3);
    for n in 0..3 {
        assert!(a.get(&key("a", n)).await.unwrap().is_none());
    }
    assert!(a.get(&key("b", 1)).await.unwrap().is_some());
    assert_eq!(a.clear(None).await.unwrap(), 3);
    assert!(a.get(&key("b", 0)).await.unwrap().is_none());
    assert!(a.get(&key("preview", 0)).await.unwrap().is_none());
    let b = reopen(backend, &a, config, T0).await;
    assert_eq!(b.stats().await.unwrap().store.entries, 0);
    assert_eq!(stored_sum(b.store()).await, 0);
}

/// `get_or_compute` computes on a miss, measures the cost, stores, and then hits.
pub async fn get_or_compute_measures_and_stores<B: Backend>(backend: &B) {
    let a = fresh(backend, Config::new()).await;
    let k = key("t1_map", 1);
    let runs = Cell::new(0);
    let compute = || async {
        runs.set(runs.get() + 1);
        a.clock().advance(30_000); // the fit takes 30 s
        Ok::<_, Infallible>(floats(64, 1.0))
    };
    let first = a.get_or_compute(&k, compute).await.unwrap();
    assert_eq!(first.source, Source::Computed);
    assert_eq!(first.cost_us, 30_000_000);
    let report = first.stored.expect("a computed value reports its storing");
    assert_eq!(report.store, TierOutcome::Stored);
    assert_eq!(report.memory, TierOutcome::Stored);
    let second = a.get_or_compute(&k, compute).await.unwrap();
    assert_eq!(second.source, Source::Memory);
    assert_eq!(second.value, first.value);
    assert_eq!(runs.get(), 1);
    let b = reopen(backend, &a, Config::new(), T0 + 31_000).await;
    let third = b.get_or_compute(&k, compute).await.unwrap();
    assert_eq!(third.source, Source::Store);
    assert_eq!(third.cost_us, 30_000_000);
    assert_eq!(runs.get(), 1);
    let stats = a.stats().await.unwrap();
    let t = stats.of_type("t1_map").unwrap();
    assert_eq!(
        (t.computes, t.compute_us, t.hits, t.saved_us),
        (1, 30_000_000, 1, 30_000_000)
    );
    assert_eq!(b.stats().await.unwrap().saved_us(), 30_000_000);
}

/// A failing computation is a typed error carrying its text; nothing is stored.
pub async fn compute_error_is_typed_and_stores_nothing<B: Backend>(backend: &B) {
    let a = fresh(backend, Config::new()).await;
    let k = key("fit", 1);
    let err = a
        .get_or_compute(&k, || async { Err::<Value, _>("fit diverged at voxel (3, 4, 5)") })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Compute);
    assert!(err.to_string().contains("fit diverged"), "{err}");
    assert!(a.get(&k).await.unwrap().is_none());
    // A stepcache error from the compute step is returned as it is, kind and message.
    let err = a
        .get_or_try_compute(&k, || async {
            Err(Error::new(ErrorKind::InvalidValue, "shape [2, 2] of f32 needs 16"))
        })
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.message()),
        (ErrorKind::InvalidValue, "shape [2, 2] of f32 needs 16")
    );
    assert!(a.get(&k).await.unwrap().is_none());
    let ok = a
        .get_or_compute(&k, || async { Ok::<_, Infallible>(floats(4, 0.0)) })
        .await
        .unwrap();
    assert_eq!(ok.source, Source::Computed);
}

/// Transient results are never kept; memory results never reach the store.
pub async fn transient_and_memory_policies<B: Backend>(backend: &B) {
    let config = Config::new()
        .retention("preview", Retention::Memory)
        .unwrap()
        .retention("scratch", Retention::Transient)
        .unwrap();
    let a = fresh(backend, config.clone()).await;
    let preview = key("preview", 1);
    let report = a.put(&preview, floats(10, 1.0)).await.unwrap();
    assert_eq!(report.memory, TierOutcome::Stored);
    assert_eq!(report.store, TierOutcome::Skipped(SkipReason::Policy));
    assert_eq!(a.get(&preview).await.unwrap().unwrap().source, Source::Memory);
    let b = reopen(backend, &a, config, T0).await;
    assert!(
        b.get(&preview).await.unwrap().is_none(),
        "memory results stay in their process"
    );

    let scratch = key("scratch", 1);
    let report = a.put(&scratch, floats(10, 1.0)).await.unwrap();
    assert_eq!(report.memory, TierOutcome::Skipped(SkipReason::Policy));
    assert_eq!(report.store, TierOutcome::Skipped(SkipReason::Policy));
    assert!(a.get(&scratch).await.unwrap().is_none());
    let runs = Cell::new(0);
    for _ in 0..2 {
        let hit = a
            .get_or_compute(&scratch, || async {
                runs.set(runs.get() + 1);
                Ok::<_, Infallible>(floats(10, 1.0))
            })
            .await
            .unwrap();
        assert_eq!(hit.source, Source::Computed);
    }
    assert_eq!(runs.get(), 2);
    assert_eq!(stored_sum(a.store()).await, 0);
}

/// Entries older than their type's maximum age are misses, and are removed from the store.
pub async fn max_age_expires_entries<B: Backend>(backend: &B) {
    let config = Config::new()
        .type_policy("fresh", TypePolicy::new(Retention::Persistent).max_age_ms(1000))
        .unwrap();
    let a = fresh(backend, config.clone()).await;
    let k = key("fresh", 1);
    let forever = key("kept", 1);
    a.put(&k, floats(10, 1.0)).await.unwrap();
    a.put(&forever, floats(10, 1.0)).await.unwrap();
    a.clock().advance(500);
    assert!(a.get(&k).await.unwrap().is_some());
    a.clock().advance(600);
    assert!(a.get(&k).await.unwrap().is_none(), "expired in memory and store");
    let later = reopen(backend, &a, config.clone(), T0 + 5_000_000).await;
    assert!(later.get(&k).await.unwrap().is_none());
    assert!(
        later.get(&forever).await.unwrap().is_some(),
        "types without an age limit stay"
    );
    let early = reopen(backend, &a, config, T0).await;
    assert!(early.get(&k).await.unwrap().is_none(), "the expired entry was removed");
    assert!(a.stats().await.unwrap().store.expired >= 1);

    // Changing a type's retention keeps its own age limit.
    a.set_retention("fresh", Retention::Memory).unwrap();
    a.set_retention("fresh", Retention::Persistent).unwrap();
    let k2 = key("fresh", 2);
    assert_eq!(a.put(&k2, floats(10, 1.0)).await.unwrap().store, TierOutcome::Stored);
    a.clock().advance(1100);
    assert!(a.get(&k2).await.unwrap().is_none(), "still expires after set_retention");
}

/// The memory tier never holds more than its budget.
pub async fn memory_budget_is_respected<B: Backend>(backend: &B) {
    let budget = 10_000;
    let a = fresh(
        backend,
        Config::new().memory_budget(budget).default_retention(Retention::Memory),
    )
    .await;
    for n in 0..10 {
        a.put(&key("m", n), floats(1000, n as f32)).await.unwrap();
        let stats = a.stats().await.unwrap();
        assert!(stats.memory.bytes <= budget, "{} > {budget}", stats.memory.bytes);
        assert!(stats.memory.entries >= 1);
    }
    assert!(a.get(&key("m", 9)).await.unwrap().is_some(), "the newest entry stays");
    assert!(a.stats().await.unwrap().memory.evictions >= 8);
}

/// The store never holds more than its budget once a put has returned.
pub async fn store_budget_is_respected_at_rest<B: Backend>(backend: &B) {
    let budget = room_for_floats(backend, 10).await;
    let a = fresh(backend, no_memory().store_budget(budget)).await;
    for n in 0..20 {
        let report = a.put(&key("s", n), floats(1000, n as f32)).await.unwrap();
        assert_eq!(report.store, TierOutcome::Stored);
        let on_store = stored_sum(a.store()).await;
        assert!(on_store <= budget, "{on_store} bytes stored > budget {budget}");
        assert_eq!(a.stats().await.unwrap().store.bytes, on_store);
    }
    let stats = a.stats().await.unwrap();
    assert!(stats.store.entries >= 10 && stats.store.evictions >= 8, "{stats:?}");
    assert!(a.get(&key("s", 19)).await.unwrap().is_some());
}

/// At the same size, an entry that took long to compute outlives a cheap one.
pub async fn costly_entries_outlive_cheap_ones<B: Backend>(backend: &B) {
    // Room for two 4000-byte entries (plus headers) in each tier, not three.
    let room = room_for_floats(backend, 2).await;
    let a = fresh(backend, Config::new().store_budget(room).memory_budget(9000)).await;
    let (slow, fast, new) = (key("fit", 1), key("fit", 2), key("fit", 3));
    a.put_with_cost(&slow, floats(1000, 1.0), 30_000_000).await.unwrap();
    a.put_with_cost(&fast, floats(1000, 2.0), 30_000).await.unwrap();
    a.clock().advance(1000);
    a.put(&new, floats(1000, 3.0)).await.unwrap();
    let b = reopen(backend, &a, no_memory(), T0 + 1000).await;
    assert!(
        b.get(&slow).await.unwrap().is_some(),
        "the 30 s entry is kept on the store"
    );
    assert!(
        b.get(&fast).await.unwrap().is_none(),
        "the 30 ms entry is evicted from the store"
    );
    assert_eq!(
        a.status(std::slice::from_ref(&slow)).await.unwrap()[0].state,
        EntryState::Memory
    );
    assert_ne!(
        a.status(std::slice::from_ref(&fast)).await.unwrap()[0].state,
        EntryState::Memory
    );
}

/// A value read from the memory tier is in use: the store evicts an entry never read
/// before it, though the one read is older.
pub async fn memory_hits_count_when_the_store_evicts<B: Backend>(backend: &B) {
    let room = room_for_floats(backend, 2).await;
    let a = fresh(backend, Config::new().store_budget(room).memory_budget(1 << 20)).await;
    let (read, unread, new) = (key("use", 1), key("use", 2), key("use", 3));
    a.put(&read, floats(1000, 1.0)).await.unwrap();
    a.clock().advance(1000);
    a.put(&unread, floats(1000, 2.0)).await.unwrap();
    a.clock().advance(1000);
    for _ in 0..100 {
        assert_eq!(a.get(&read).await.unwrap().unwrap().source, Source::Memory);
    }
    a.clock().advance(1000);
    a.put(&new, floats(1000, 3.0)).await.unwrap();
    let b = reopen(backend, &a, no_memory(), T0 + 3000).await;
    assert!(
        b.get(&read).await.unwrap().is_some(),
        "the entry read 100 times from memory stays in the store"
    );
    assert!(
        b.get(&unread).await.unwrap().is_none(),
        "the entry never read is evicted"
    );
}

/// Pinned entries stay in both tiers, whatever their worth.
pub async fn pinned_entries_are_never_evicted<B: Backend>(backend: &B) {
    let room = room_for_floats(backend, 2).await;
    let a = fresh(backend, Config::new().store_budget(room).memory_budget(9000)).await;
    let (cheap, costly) = (key("p", 1), key("p", 2));
    a.pin(&cheap);
    a.put(&cheap, floats(1000, 1.0)).await.unwrap();
    a.put_with_cost(&costly, floats(1000, 2.0), 60_000_000).await.unwrap();
    for n in 3..8 {
        a.put(&key("p", n), floats(1000, n as f32)).await.unwrap();
    }
    assert_eq!(a.get(&cheap).await.unwrap().unwrap().source, Source::Memory);
    let b = reopen(backend, &a, no_memory(), T0).await;
    assert!(b.get(&cheap).await.unwrap().is_some());
    // With the pin and one other entry filling the budget, pinned-only room is refused.
    a.pin(&key("p", 7));
    let report = a.put(&key("p", 99), floats(1000, 9.0)).await.unwrap();
    assert_eq!(report.store, TierOutcome::Skipped(SkipReason::NoRoom));
    assert_eq!(report.memory, TierOutcome::Skipped(SkipReason::NoRoom));
    a.unpin(&key("p", 7));
    a.unpin(&cheap);
    let report = a.put(&key("p", 99), floats(1000, 9.0)).await.unwrap();
    assert_eq!(report.store, TierOutcome::Stored);
}

/// A value larger than a tier's budget is not stored there, and nothing else is lost.
pub async fn value_larger_than_budget_is_skipped<B: Backend>(backend: &B) {
    let a = fresh(backend, Config::new().store_budget(10_000).memory_budget(10_000)).await;
    let small = key("big", 1);
    a.put(&small, floats(100, 1.0)).await.unwrap();
    let report = a.put(&key("big", 2), floats(10_000, 2.0)).await.unwrap();
    assert_eq!(report.store, TierOutcome::Skipped(SkipReason::TooLarge));
    assert_eq!(report.memory, TierOutcome::Skipped(SkipReason::TooLarge));
    assert!(a.get(&key("big", 2)).await.unwrap().is_none());
    let b = reopen(backend, &a, no_memory(), T0).await;
    assert_eq!(b.get(&small).await.unwrap().unwrap().value, floats(100, 1.0));
    let hit = a
        .get_or_compute(&key("big", 3), || async { Ok::<_, Infallible>(floats(10_000, 3.0)) })
        .await
        .unwrap();
    assert_eq!(
        hit.value,
        floats(10_000, 3.0),
        "get_or_compute still returns what it computed"
    );
}

/// Zero budgets keep nothing: a documented outcome, not an error.
pub async fn zero_budgets_store_nothing<B: Backend>(backend: &B) {
    let a = fresh(backend, Config::new().store_budget(0).memory_budget(0)).await;
    for value in [floats(10, 1.0), Value::bytes(Vec::new())] {
        let report = a.put(&key("zero", 1), value).await.unwrap();
        assert_eq!(report.store, TierOutcome::Skipped(SkipReason::TooLarge));
        assert_eq!(report.memory, TierOutcome::Skipped(SkipReason::TooLarge));
    }
    assert!(a.get(&key("zero", 1)).await.unwrap().is_none());
    assert_eq!(stored_sum(a.store()).await, 0);
}

/// Forcing recomputes a step's results once (all steps, or a set), then hits again.
pub async fn forced_recompute_all_and_by_step<B: Backend>(backend: &B) {
    let a = fresh(backend, Config::new()).await;
    let runs = Cell::new(0);
    let compute = |seed: f32| {
        let runs = &runs;
        move || async move {
            runs.set(runs.get() + 1);
            Ok::<_, Infallible>(floats(8, seed + runs.get() as f32))
        }
    };
    let (ka, kb) = (key("a", 1), key("b", 1));
    a.get_or_compute(&ka, compute(0.0)).await.unwrap();
    a.get_or_compute(&kb, compute(0.0)).await.unwrap();
    assert_eq!(runs.get(), 2);
    a.set_force(Force::Steps(vec!["a".into()])).unwrap();
    assert!(
        a.get(&ka).await.unwrap().is_none(),
        "a forced step's old result is a miss"
    );
    assert_eq!(
        a.get_or_compute(&ka, compute(0.0)).await.unwrap().source,
        Source::Computed
    );
    assert_eq!(
        a.get_or_compute(&ka, compute(0.0)).await.unwrap().source,
        Source::Memory
    );
    assert_eq!(
        a.get_or_compute(&kb, compute(0.0)).await.unwrap().source,
        Source::Memory
    );
    assert_eq!(runs.get(), 3);
    let b = reopen(backend, &a, Config::new(), T0).await;
    assert_eq!(
        b.get(&ka).await.unwrap().unwrap().value,
        floats(8, 3.0),
        "the recomputed value was stored"
    );
    a.set_force(Force::All).unwrap();
    a.get_or_compute(&ka, compute(0.0)).await.unwrap();
    a.get_or_compute(&kb, compute(0.0)).await.unwrap();
    assert_eq!(runs.get(), 5);
    a.set_force(Force::None).unwrap();
    assert_eq!(
        a.get_or_compute(&kb, compute(0.0)).await.unwrap().source,
        Source::Memory
    );
    assert_eq!(runs.get(), 5);
}

/// Reading, computing and writing can be switched off one by one.
pub async fn access_modes_switch_off_one_by_one<B: Backend>(backend: &B) {
    let a = fresh(backend, Config::new()).await;
    let stored = key("acc", 1);
    a.put(&stored, floats(8, 1.0)).await.unwrap();
    let runs = Cell::new(0);
    let compute = || async {
        runs.set(runs.get() + 1);
        Ok::<_, Infallible>(floats(8, 2.0))
    };

    a.set_access("cw".parse().unwrap());
    assert_eq!(a.get(&stored).await.unwrap_err().kind(), ErrorKind::ReadDisabled);
    assert_eq!(
        a.get_or_compute(&stored, compute).await.unwrap().source,
        Source::Computed
    );
    assert_eq!(runs.get(), 1);

    a.set_access("rw".parse().unwrap());
    assert!(a.get_or_compute(&stored, compute).await.unwrap().source.is_hit());
    let err = a.get_or_compute(&key("acc", 2), compute).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ComputeDisabled);
    assert_eq!(runs.get(), 1);

    a.set_access("rc".parse().unwrap());
    let dry = key("acc", 3);
    let report = a.put(&dry, floats(8, 3.0)).await.unwrap();
    assert_eq!(report.store, TierOutcome::Skipped(SkipReason::WriteDisabled));
    assert!(a.get(&dry).await.unwrap().is_none());
    a.get_or_compute(&dry, compute).await.unwrap();
    a.get_or_compute(&dry, compute).await.unwrap();
    assert_eq!(runs.get(), 3, "a dry run computes every time and stores nothing");

    a.set_access(Access::ALL);
    assert!(a.get(&dry).await.unwrap().is_none());
}

async fn damage_and_expect_miss<B: Backend>(backend: &B, damage: &mut dyn FnMut(&mut Vec<u8>)) {
    damage_sized_and_expect_miss(backend, 1000, damage).await;
}

/// Stores `len` floats under a key, damages the stored entry, and expects a clean miss.
async fn damage_sized_and_expect_miss<B: Backend>(backend: &B, len: usize, damage: &mut dyn FnMut(&mut Vec<u8>)) {
    let a = fresh(backend, Config::new()).await;
    let k = key("dmg", 1);
    let other = key("dmg", 2);
    a.put(&k, floats(len, 1.0)).await.unwrap();
    a.put(&other, floats(1000, 2.0)).await.unwrap();
    assert!(backend.tamper(a.store(), k.fingerprint(), damage).await);
    let b = reopen(backend, &a, no_memory(), T0).await;
    assert!(b.get(&k).await.unwrap().is_none(), "damaged data is never returned");
    assert_eq!(b.stats().await.unwrap().corrupt_removed, 1);
    assert!(
        !backend.tamper(a.store(), k.fingerprint(), &mut |_| {}).await,
        "the damaged entry was removed"
    );
    assert_eq!(
        b.get(&other).await.unwrap().unwrap().value,
        floats(1000, 2.0),
        "other entries are intact"
    );
}

/// A flipped payload byte is detected: a miss, and the entry is removed.
pub async fn damaged_payload_is_a_miss_and_removed<B: Backend>(backend: &B) {
    damage_and_expect_miss(backend, &mut |bytes| {
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
    })
    .await;
    damage_and_expect_miss(backend, &mut |bytes| bytes[40] ^= 1).await;
}

/// Damage anywhere in a large entry (three 4 MiB records in IndexedDB, checksummed as
/// they are read) is a miss: in the middle record, at the very end, or records cut off.
pub async fn damaged_large_entry_is_a_miss<B: Backend>(backend: &B) {
    let n = 9 << 18; // 9 MiB of f32
    damage_sized_and_expect_miss(backend, n, &mut |bytes| bytes[6 << 20] ^= 0x10).await;
    damage_sized_and_expect_miss(backend, n, &mut |bytes| {
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
    })
    .await;
    damage_sized_and_expect_miss(backend, n, &mut |bytes| bytes.truncate(5 << 20)).await;
    damage_sized_and_expect_miss(backend, n, &mut |bytes| bytes.extend_from_slice(&[0; 100])).await;
}

/// A volume of `[z, 256, 512]` f32 (512 KiB a slice), each voxel its own index.
fn volume(z: usize) -> Value {
    Value::array((0..z * 256 * 512).map(|i| i as f32).collect(), &[z, 256, 512]).expect("valid value")
}

/// The voxels of `volume` within `ranges` (z, y, x), picked one by one.
fn voxels(shape: [usize; 3], ranges: [std::ops::Range<usize>; 3]) -> Vec<f32> {
    let mut out = Vec::new();
    for z in ranges[0].clone() {
        for y in ranges[1].clone() {
            for x in ranges[2].clone() {
                out.push(((z * shape[1] + y) * shape[2] + x) as f32);
            }
        }
    }
    out
}

/// Regions of a stored volume (a slice, a range of slices, a sub-box) come back exactly,
/// from the store and from the memory tier, in the region's shape. Damage in a block a
/// region does not touch does not fail it; a region that touches damage is a miss and
/// the entry is removed. A region that does not fit the value is a typed error that
/// loses nothing; a compressed entry (no per-block checksums) is read whole and cut.
pub async fn regions_read_only_what_they_touch<B: Backend>(backend: &B) {
    let shape = [6, 256, 512];
    let a = fresh(backend, Config::new()).await;
    let k = key("volume", 1);
    a.put(&k, volume(6)).await.unwrap();
    let b = reopen(backend, &a, no_memory(), T0).await;
    let cases: [([std::ops::Range<u64>; 3], usize); 4] = [
        ([2..3, 0..256, 0..512], 1),
        ([1..4, 0..256, 0..512], 1),
        ([3..5, 10..20, 7..9], 3),
        ([0..6, 255..256, 511..512], 3),
    ];
    for (ranges, given) in cases {
        let region = &ranges[..given];
        let want = voxels(shape, ranges.clone().map(|r| r.start as usize..r.end as usize));
        let hit = b.get_region(&k, region).await.unwrap().expect("a region hit");
        assert_eq!(hit.source, Source::Store);
        assert_eq!(hit.value.shape(), ranges.clone().map(|r| r.end - r.start));
        assert_eq!(hit.value.to_vec::<f32>().unwrap(), want, "{ranges:?} from the store");
        assert_eq!(hit.content, hit.value.content());
        let hit = a.get_region(&k, region).await.unwrap().expect("a region hit");
        assert_eq!(hit.source, Source::Memory);
        assert_eq!(hit.value.to_vec::<f32>().unwrap(), want, "{ranges:?} from memory");
    }
    assert_eq!(b.stats().await.unwrap().store.hits, 4, "each region is one store hit");
    // Ranges for the last dimensions: the first is whole.
    let hit = b
        .get_trailing_region(&k, &[10..20, 7..u64::MAX])
        .await
        .unwrap()
        .expect("a hit");
    assert_eq!(hit.value.shape(), [6, 10, 505]);
    assert_eq!(
        hit.value.to_vec::<f32>().unwrap(),
        voxels(shape, [0..6, 10..20, 7..512])
    );
    // A region does not fit: an error, and the entry stays.
    for bad in [&[0..7][..], &[3..2], &[0..1, 0..1, 0..1, 0..1]] {
        let err = b.get_region(&k, bad).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad:?}");
    }
    assert!(b.get(&k).await.unwrap().is_some());
    // Damage in block 2 (slices 4 and 5): slices 0 to 3 still read; slice 4 is a miss.
    let payload_len = 6 * 256 * 512 * 4;
    let damaged = backend
        .tamper(b.store(), k.fingerprint(), &mut |bytes| {
            let at = bytes.len() - payload_len + (2 << 20) + 1000;
            bytes[at] ^= 0x40;
        })
        .await;
    assert!(damaged);
    let c = reopen(backend, &a, no_memory(), T0).await;
    let hit = c.get_region(&k, &[0..4]).await.unwrap().expect("untouched blocks read");
    assert_eq!(
        hit.value.to_vec::<f32>().unwrap(),
        voxels(shape, [0..4, 0..256, 0..512])
    );
    assert!(
        c.get_region(&k, &[4..5]).await.unwrap().is_none(),
        "damage touched: a miss"
    );
    assert!(c.get(&k).await.unwrap().is_none(), "and the entry is removed");
    // Compressed (no per-block checksums): read whole, then cut.
    let d = reopen(backend, &a, no_memory().compression(true), T0).await;
    let packed = key("volume", 2);
    d.put(&packed, volume(6)).await.unwrap();
    let stored = d.store().get(packed.fingerprint()).await.unwrap().expect("stored");
    assert!(stored.as_ref().len() < payload_len, "compressed");
    let hit = d.get_region(&packed, &[5..6, 100..101]).await.unwrap().expect("a hit");
    assert_eq!(
        hit.value.to_vec::<f32>().unwrap(),
        voxels(shape, [5..6, 100..101, 0..512])
    );
}

/// Truncated entries, down to a few bytes, are misses and are removed.
pub async fn truncated_entry_is_a_miss_and_removed<B: Backend>(backend: &B) {
    damage_and_expect_miss(backend, &mut |bytes| bytes.truncate(bytes.len() / 2)).await;
    damage_and_expect_miss(backend, &mut |bytes| bytes.truncate(10)).await;
    damage_and_expect_miss(backend, &mut |bytes| bytes.push(0)).await;
}

/// An entry in a format version this build does not know is a miss.
pub async fn unknown_format_version_is_a_miss<B: Backend>(backend: &B) {
    damage_and_expect_miss(backend, &mut |bytes| bytes[8] = 99).await;
}

/// An entry whose bytes belong to another key (a swapped file) is a miss.
pub async fn entry_of_another_key_is_a_miss<B: Backend>(backend: &B) {
    let a = fresh(backend, Config::new()).await;
    let donor = key("swap", 0);
    a.put(&donor, floats(1000, 5.0)).await.unwrap();
    let donor_bytes = a
        .store()
        .get(donor.fingerprint())
        .await
        .unwrap()
        .unwrap()
        .as_ref()
        .to_vec();
    damage_and_expect_miss(backend, &mut |bytes| *bytes = donor_bytes.clone()).await;
}

/// Hits and misses are counted per tier and per type, with time saved.
pub async fn stats_count_tiers_and_types<B: Backend>(backend: &B) {
    let a = fresh(backend, Config::new()).await;
    let k = key("st", 1);
    assert!(a.get(&k).await.unwrap().is_none());
    a.put_with_cost(&k, floats(1000, 1.0), 5000).await.unwrap();
    assert!(a.get(&k).await.unwrap().is_some());
    let s = a.stats().await.unwrap();
    assert_eq!(
        (s.memory.hits, s.memory.misses, s.store.hits, s.store.misses),
        (1, 1, 0, 1)
    );
    let t = s.of_type("st").unwrap();
    assert_eq!((t.hits, t.misses, t.puts, t.saved_us), (1, 1, 1, 5000));
    assert_eq!(s.hit_rate(), 0.5);
    assert_eq!((s.store.entries, s.memory.entries), (1, 1));
    assert!(s.store.bytes > 4000 && s.memory.bytes > 4000);

    let b = reopen(backend, &a, Config::new(), T0).await;
    assert!(b.get(&k).await.unwrap().is_some());
    let s = b.stats().await.unwrap();
    assert_eq!(
        (s.memory.hits, s.memory.misses, s.store.hits, s.store.misses),
        (0, 1, 1, 0)
    );
    assert_eq!(s.hit_rate(), 1.0);
    assert_eq!(s.saved_us(), 5000);
    assert_eq!(s.memory.entries, 1, "a store hit is promoted to memory");
}

/// `status` tells memory, stored, expired, forced and missing keys apart.
pub async fn status_reports_each_state<B: Backend>(backend: &B) {
    let config = Config::new()
        .type_policy("old", TypePolicy::new(Retention::Persistent).max_age_ms(1000))
        .unwrap();
    let a = fresh(backend, config.clone()).await;
    let (km, ks, kx, kf, ke) = (key("m", 1), key("s", 1), key("x", 1), key("forced", 1), key("old", 1));
    for k in [&ks, &kf, &ke] {
        a.put_with_cost(k, floats(10, 1.0), 77).await.unwrap();
    }
    let b = reopen(backend, &a, config, T0 + 2000).await;
    b.put(&km, floats(10, 1.0)).await.unwrap();
    b.set_force(Force::Steps(vec!["forced".into()])).unwrap();
    let states: Vec<EntryState> = b
        .status(&[km.clone(), ks.clone(), kx, kf, ke])
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.state)
        .collect();
    assert_eq!(
        states,
        [
            EntryState::Memory,
            EntryState::Stored,
            EntryState::Missing,
            EntryState::Forced,
            EntryState::Expired
        ]
    );
    let s = &b.status(std::slice::from_ref(&ks)).await.unwrap()[0];
    assert_eq!((s.created_ms, s.cost_us), (Some(T0), Some(77)));
    // A header longer than the leading bytes a store lists (large metadata) is read whole.
    let big = key("s", 2);
    let meta = vec![b'm'; 3 * stepcache_core::entry::LIST_HEAD_LEN];
    a.put(&big, floats(10, 1.0).with_meta(meta)).await.unwrap();
    let c = reopen(backend, &a, Config::new(), T0 + 2000).await;
    assert_eq!(
        c.status(std::slice::from_ref(&big)).await.unwrap()[0].state,
        EntryState::Stored
    );
    assert!(c.has(&big).await.unwrap());
}

/// Compression round-trips, saves space on smooth maps, and is skipped on noise.
pub async fn compression_round_trips_and_saves<B: Backend>(backend: &B) {
    let a = fresh(backend, no_memory().compression(true)).await;
    // A map that is zero outside a disc, smooth inside: like a masked T1 map.
    let n = 128;
    let map: Vec<f32> = (0..n * n)
        .map(|i| {
            let (x, y) = ((i % n) as f32 - 64.0, (i / n) as f32 - 64.0);
            if x * x + y * y < 40.0 * 40.0 {
                1000.0 + (x * 0.1).sin() * 50.0
            } else {
                0.0
            }
        })
        .collect();
    let smooth = Value::array(map, &[n, n]).unwrap();
    let k = key("comp", 1);
    a.put(&k, smooth.clone()).await.unwrap();
    let stored = stored_sum(a.store()).await;
    assert!(
        stored < (n * n * 4) as u64 * 3 / 4,
        "stored {stored} of {} bytes",
        n * n * 4
    );
    assert_eq!(a.get(&k).await.unwrap().unwrap().value, smooth);

    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..65_536)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let k2 = key("comp", 2);
    a.put(&k2, Value::bytes(noise.clone())).await.unwrap();
    assert!(
        stored_sum(a.store()).await - stored >= 65_536,
        "incompressible data is stored as is"
    );
    assert_eq!(a.get(&k2).await.unwrap().unwrap().value, Value::bytes(noise));
}

/// Lineage binds the upstream value: a downstream key built from an upstream hit is the
/// same whether the hit was computed, found in memory, put, or read back from the store by
/// another handle (compressed or not), and it changes when the upstream step is recomputed
/// to another value, so the old downstream result is not returned for it.
pub async fn lineage_follows_the_upstream_value<B: Backend>(backend: &B) {
    for compress in [false, true] {
        let config = Config::new().compression(compress);
        let a = fresh(backend, config.clone()).await;
        let up = key("lineage_up", 1);
        // Smooth, so that it compresses when compression is on.
        let map = Value::array(vec![1.5f32; 4096], &[64, 64])
            .unwrap()
            .with_meta(b"{\"tr\":15}".to_vec());
        let down = |hit: &Hit| Key::of("lineage_down").lineage("up", hit).build().unwrap();
        let computed = a
            .get_or_compute(&up, || async { Ok::<_, Infallible>(map.clone()) })
            .await
            .unwrap();
        assert_eq!(computed.source, Source::Computed);
        assert_eq!(computed.fingerprint, *up.fingerprint());
        assert_eq!(computed.content, map.content());
        let expected = down(&computed);
        let what = if compress { "compressed" } else { "raw" };
        assert_eq!(
            stored_sum(a.store()).await < 4096 * 4,
            compress,
            "{what}: the entry is stored {what}"
        );

        let memory = a.get(&up).await.unwrap().unwrap();
        assert_eq!(memory.source, Source::Memory);
        assert_eq!(down(&memory), expected, "{what}: from the memory tier");
        // Another handle (another process, tab or worker) reads the store.
        let b = reopen(backend, &a, config.clone(), T0).await;
        let stored = b.get(&up).await.unwrap().unwrap();
        assert_eq!(stored.source, Source::Store);
        assert_eq!(down(&stored), expected, "{what}: from the store");
        let promoted = b.get(&up).await.unwrap().unwrap();
        assert_eq!(promoted.source, Source::Memory);
        assert_eq!(down(&promoted), expected, "{what}: from memory after a store read");
        let no_memory = reopen(backend, &a, config.clone().memory_budget(0), T0).await;
        let via_compute = no_memory
            .get_or_compute(&up, || async { Ok::<_, Infallible>(floats(1, 0.0)) })
            .await
            .unwrap();
        assert_eq!(via_compute.source, Source::Store);
        assert_eq!(down(&via_compute), expected, "{what}: getOrCompute's store hit");

        // The downstream result under the key of this upstream value.
        let downstream = || async { Ok::<_, Infallible>(floats(4, 9.0)) };
        a.get_or_compute(&expected, downstream).await.unwrap();
        assert_eq!(
            a.get_or_compute(&expected, downstream).await.unwrap().source,
            Source::Memory
        );

        // The upstream step recomputed to another value: another downstream key, a miss.
        a.set_force(Force::Steps(vec!["lineage_up".into()])).unwrap();
        let other = Value::array(vec![2.5f32; 4096], &[64, 64]).unwrap();
        let changed = a
            .get_or_compute(&up, || async { Ok::<_, Infallible>(other.clone()) })
            .await
            .unwrap();
        assert_eq!(changed.source, Source::Computed);
        let changed_key = down(&changed);
        assert_ne!(
            changed_key, expected,
            "{what}: a new upstream value is a new downstream key"
        );
        assert!(
            a.get(&changed_key).await.unwrap().is_none(),
            "{what}: the old result is not reused"
        );
        // Recomputed to the same value again (forced once more): the same downstream key.
        a.set_force(Force::Steps(vec!["lineage_up".into()])).unwrap();
        let same = a
            .get_or_compute(&up, || async { Ok::<_, Infallible>(other.clone()) })
            .await
            .unwrap();
        assert_eq!(same.source, Source::Computed);
        assert_eq!(
            down(&same),
            changed_key,
            "{what}: the same value, the same downstream key"
        );
        a.set_force(Force::None).unwrap();

        // A put value is the same content as when computed.
        let c = fresh(backend, config).await;
        c.put(&up, map.clone()).await.unwrap();
        assert_eq!(
            down(&c.get(&up).await.unwrap().unwrap()),
            expected,
            "{what}: after a put"
        );
    }
}

/// Invalid names, arguments, values and settings are typed errors; stored data survives.
pub async fn bad_input_is_a_typed_error_and_loses_nothing<B: Backend>(backend: &B) {
    let a = fresh(backend, Config::new()).await;
    let good = key("good", 1);
    a.put(&good, floats(100, 1.0)).await.unwrap();

    let long = "x".repeat(129);
    for name in [
        "",
        "../etc",
        "a/b",
        "a\\b",
        "a\0b",
        ".hidden",
        "sp ace",
        "ü",
        long.as_str(),
    ] {
        let err = Key::of(name).arg("n", 1).build().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidStepName, "{name:?}");
    }
    let kind = |r: stepcache_core::Result<Key>| r.unwrap_err().kind();
    assert_eq!(
        kind(Key::of("s").arg("n", 1).arg("n", 2).build()),
        ErrorKind::InvalidArgument
    );
    assert_eq!(kind(Key::of("s").arg("", 1).build()), ErrorKind::InvalidArgument);
    assert_eq!(
        kind(Key::of("s").arg(&"k".repeat(300), 1).build()),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(Key::of("s").arg("t", "y".repeat(70_000)).build()),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(Key::of("s").raw_array("a", ElementType::F32, &[3], &[0; 8]).build()),
        ErrorKind::InvalidValue
    );

    let value_err = |r: stepcache_core::Result<Value>| r.unwrap_err().kind();
    assert_eq!(
        value_err(Value::new(ElementType::F32, vec![3], vec![0u8; 8])),
        ErrorKind::InvalidValue
    );
    assert_eq!(
        value_err(Value::new(ElementType::F64, vec![u64::MAX, 2], vec![])),
        ErrorKind::InvalidValue
    );
    assert_eq!(
        value_err(Value::new(ElementType::U8, vec![1; 33], vec![0u8])),
        ErrorKind::InvalidValue
    );
    assert_eq!(
        value_err(Value::array(vec![1.0f32; 5], &[2, 2])),
        ErrorKind::InvalidValue
    );

    let huge_meta = floats(10, 0.0).with_meta(vec![b'm'; (1 << 20) + 1]);
    assert_eq!(
        a.put(&key("good", 2), huge_meta).await.unwrap_err().kind(),
        ErrorKind::InvalidValue
    );

    assert_eq!(
        Config::new().max_age_ms(0).unwrap_err().kind(),
        ErrorKind::InvalidConfig
    );
    assert_eq!(
        Config::new()
            .retention("no/slash", Retention::Memory)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidStepName
    );
    assert_eq!(
        "forever".parse::<Retention>().unwrap_err().kind(),
        ErrorKind::InvalidConfig
    );
    assert_eq!("rx".parse::<Access>().unwrap_err().kind(), ErrorKind::InvalidConfig);
    assert_eq!(
        a.set_force(Force::Steps(vec!["bad name".into()])).unwrap_err().kind(),
        ErrorKind::InvalidStepName
    );
    for text in [
        "",
        "b3:",
        "b3:zz",
        "sha256:00",
        &format!("b3:{}", "A".repeat(64)),
        &format!("b3:{}", "0".repeat(65)),
    ] {
        assert_eq!(
            text.parse::<Fingerprint>().unwrap_err().kind(),
            ErrorKind::InvalidFingerprint,
            "{text:?}"
        );
    }

    assert_eq!(a.get(&good).await.unwrap().unwrap().value, floats(100, 1.0));
    let b = reopen(backend, &a, no_memory(), T0).await;
    assert_eq!(b.get(&good).await.unwrap().unwrap().value, floats(100, 1.0));
    assert!(b.get(&key("good", 2)).await.unwrap().is_none());
}

/// A closed cache refuses every call with a typed error; what it stored stays.
pub async fn closed_cache_refuses_calls<B: Backend>(backend: &B) {
    let a = fresh(backend, Config::new()).await;
    let k = key("closed", 1);
    a.put(&k, floats(10, 1.0)).await.unwrap();
    a.close();
    assert_eq!(a.get(&k).await.unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(a.put(&k, floats(10, 2.0)).await.unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(a.has(&k).await.unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(a.stats().await.unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(a.clear(None).await.unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(a.invalidate(&k).await.unwrap_err().kind(), ErrorKind::Closed);
    let err = a
        .get_or_compute(&k, || async { Ok::<_, Infallible>(floats(10, 3.0)) })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed);
    let b = reopen(backend, &a, Config::new(), T0).await;
    assert_eq!(b.get(&k).await.unwrap().unwrap().value, floats(10, 1.0));
}

/// Handles on one location see each other's puts, invalidations and clears in the store.
pub async fn other_handles_see_puts_and_clears<B: Backend>(backend: &B) {
    let a = fresh(backend, no_memory()).await;
    let b = reopen(backend, &a, no_memory(), T0).await;
    let k = key("shared", 1);
    a.put(&k, floats(10, 1.0)).await.unwrap();
    assert_eq!(b.get(&k).await.unwrap().unwrap().source, Source::Store);
    assert_eq!(b.clear(None).await.unwrap(), 1);
    assert!(a.get(&k).await.unwrap().is_none());
    a.clock().advance(stepcache_core::INDEX_REFRESH_MS);
    let s = a.stats().await.unwrap();
    assert_eq!((s.store.entries, s.store.bytes), (0, 0));
}

/// `entries` lists what each tier holds, with step, size, age and cost.
pub async fn entries_list_both_tiers<B: Backend>(backend: &B) {
    let config = Config::new().retention("preview", Retention::Memory).unwrap();
    let a = fresh(backend, config.clone()).await;
    let (stored, preview) = (key("t1_map", 1), key("preview", 1));
    a.put_with_cost(&stored, floats(1000, 1.0), 5000).await.unwrap();
    a.clock().advance(10);
    a.put(&preview, floats(10, 1.0)).await.unwrap();
    let entries = a.entries().await.unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].fingerprint, *preview.fingerprint(), "newest first");
    assert!(entries[0].in_memory && !entries[0].stored);
    let t1 = &entries[1];
    assert_eq!((t1.step.as_str(), t1.cost_us, t1.created_ms), ("t1_map", 5000, T0));
    assert!(t1.in_memory && t1.stored && t1.bytes > 4000);
    let b = reopen(backend, &a, config, T0).await;
    let seen = b.entries().await.unwrap();
    assert_eq!(seen.len(), 1, "another cache sees only what is stored");
    assert!(seen[0].stored && !seen[0].in_memory);
}

// ----- faults ---------------------------------------------------------------------------

fn fault_key(step: &str, n: u64) -> Key {
    Key::of(step).arg("n", n).build().unwrap()
}

/// The only value ever stored under `fault_key(step, n)`.
fn fault_value(n: u64) -> Value {
    Value::array(vec![n as f32 + 0.5; 200 + n as usize * 100], &[200 + n as usize * 100]).unwrap()
}

/// Runs a fixed workload; returns every call's outcome as Ok or the error kind.
async fn workload<S: Store>(cache: &Cache<FaultStore<S>, ManualClock>) -> Vec<Result<(), ErrorKind>> {
    let mut out = Vec::new();
    let mut record = |r: Result<(), ErrorKind>| out.push(r);
    for n in 0..4 {
        record(
            cache
                .put(&fault_key("a", n), fault_value(n))
                .await
                .map(drop)
                .map_err(|e| e.kind()),
        );
    }
    for n in 0..5 {
        match cache.get(&fault_key("a", n)).await {
            Ok(Some(hit)) => assert_eq!(hit.value, fault_value(n), "never wrong data"),
            Ok(None) => {}
            Err(e) => record(Err(e.kind())),
        }
    }
    let computed = cache
        .get_or_compute(&fault_key("b", 7), || async { Ok::<_, Infallible>(fault_value(7)) })
        .await;
    if let Ok(hit) = &computed {
        assert_eq!(hit.value, fault_value(7));
    }
    record(computed.map(drop).map_err(|e| e.kind()));
    record(cache.invalidate(&fault_key("a", 1)).await.map_err(|e| e.kind()));
    cache.clock().advance(stepcache_core::INDEX_REFRESH_MS);
    record(cache.stats().await.map(drop).map_err(|e| e.kind()));
    record(cache.clear(Some("a")).await.map(drop).map_err(|e| e.kind()));
    record(
        cache
            .put(&fault_key("c", 3), fault_value(3))
            .await
            .map(drop)
            .map_err(|e| e.kind()),
    );
    out
}

/// After the faults: consistent state, and the cache works again.
async fn check_recovered<S: Store>(cache: &Cache<FaultStore<S>, ManualClock>, case: &str) {
    cache.store().fail_at(None);
    for (step, n) in [("a", 0), ("a", 1), ("a", 2), ("a", 3), ("b", 7), ("c", 3)] {
        if let Some(hit) = cache.get(&fault_key(step, n)).await.unwrap() {
            assert_eq!(hit.value, fault_value(n), "{case}: {step}{n} is never wrong");
        }
    }
    cache.clock().advance(stepcache_core::INDEX_REFRESH_MS);
    let stats = cache.stats().await.unwrap();
    let store = cache.store();
    let listed: u64 = store.list().await.unwrap().iter().map(|l| store.footprint(l.len)).sum();
    assert_eq!(stats.store.bytes, listed, "{case}: store accounting matches the store");
    let in_memory = cache.entries().await.unwrap().iter().filter(|e| e.in_memory).count() as u64;
    assert_eq!(
        stats.memory.entries, in_memory,
        "{case}: memory accounting matches the memory tier"
    );
    assert!(stats.memory.bytes <= stats.memory.budget && stats.store.bytes <= stats.store.budget);
    cache.put(&fault_key("d", 9), fault_value(9)).await.unwrap();
    assert_eq!(
        cache.get(&fault_key("d", 9)).await.unwrap().unwrap().value,
        fault_value(9),
        "{case}: the next good call works"
    );
}

/// What [`faults_at_every_call_leave_a_working_cache`] did: faults injected, storage calls
/// of a clean run, typed errors returned.
pub async fn fault_sweep<B: Backend>(backend: &B) -> (u64, u64, u64) {
    let (mut injected, mut errors, mut total_calls) = (0, 0, 0);
    // With a memory tier, and without one (every read goes to the store).
    for memory in [8_000, 0] {
        let config = || Config::new().memory_budget(memory).store_budget(12_000);
        let clean = open(FaultStore::new(backend.fresh().await), config(), T0);
        let outcomes = workload(&clean).await;
        assert!(outcomes.iter().all(Result::is_ok), "a clean run succeeds: {outcomes:?}");
        let calls = clean.store().calls();
        total_calls += calls;
        for fault in [Fault::Fail, Fault::ShortRead, Fault::PartialWrite] {
            for n in 1..=calls + 2 {
                let store = FaultStore::new(backend.fresh().await);
                store.fail_at(Some((n, fault)));
                let cache = open(store, config(), T0);
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
    assert!(injected >= total_calls, "faults were really injected");
    (injected, total_calls, errors)
}

/// A failure, a short read or a half-done write at any storage call of a workload: typed
/// errors, never wrong data, consistent memory tier and accounting, and the next call works.
pub async fn faults_at_every_call_leave_a_working_cache<B: Backend>(backend: &B) {
    fault_sweep(backend).await;
}
