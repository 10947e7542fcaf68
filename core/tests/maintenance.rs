//! The engine's maintenance calls over in-memory stores: verified entry bytes, entries
//! imported from another cache (and refused when damaged), budgets and ages applied now.

#![allow(clippy::unwrap_used)] // tests report failures by panicking

use pollster::block_on;
use stepcache_core::{
    Cache, Clock, Config, EntryRead, ErrorKind, Key, ManualClock, MemoryStore, Retention, SkipReason, Store,
    TierOutcome, TypePolicy, Value,
};

type Memory = Cache<MemoryStore, ManualClock>;

fn cache(config: Config) -> Memory {
    Cache::new(MemoryStore::new(), ManualClock::new(1_000_000), config).unwrap()
}

fn key(step: &str, n: u32) -> Key {
    Key::of(step).arg("n", n).build().unwrap()
}

fn map(n: u32, len: usize) -> Value {
    Value::array((0..len).map(|i| (i as u32 ^ n) as f32).collect::<Vec<f32>>(), &[len]).unwrap()
}

fn stored_bytes(cache: &Memory, key: &Key) -> Vec<u8> {
    match block_on(cache.read_entry(key.fingerprint())).unwrap() {
        EntryRead::Sound(bytes) => bytes.as_ref().to_vec(),
        other => panic!("{key}: {other:?}"),
    }
}

#[test]
fn read_entry_returns_sound_bytes_and_removes_damaged_ones() {
    let a = cache(Config::new().compression(false));
    let (k, other) = (key("t1_map", 1), key("t1_map", 2));
    block_on(a.put(&k, map(1, 1000))).unwrap();
    let bytes = stored_bytes(&a, &k);
    assert_eq!(
        Some(bytes.clone()),
        block_on(a.store().get(k.fingerprint())).unwrap().map(|b| b.to_vec())
    );
    assert!(matches!(
        block_on(a.read_entry(other.fingerprint())).unwrap(),
        EntryRead::Missing
    ));

    a.store().tamper(k.fingerprint(), |b| *b.last_mut().unwrap() ^= 1);
    assert!(matches!(
        block_on(a.read_entry(k.fingerprint())).unwrap(),
        EntryRead::Damaged(_)
    ));
    assert!(block_on(a.store().get(k.fingerprint())).unwrap().is_none(), "removed");
    assert_eq!(block_on(a.stats()).unwrap().corrupt_removed, 1);
}

#[test]
fn an_imported_entry_is_stored_byte_for_byte_and_read_as_a_hit() {
    for compress in [false, true] {
        let (a, b) = (cache(Config::new().compression(compress)), cache(Config::new()));
        let k = key("t1_map", 7);
        let value = Value::array(vec![0.5f32; 4096], &[64, 64]).unwrap();
        block_on(a.put_with_cost(&k, value.clone(), 1234)).unwrap();
        let bytes = stored_bytes(&a, &k);

        let imported = block_on(b.import_entry(&bytes)).unwrap();
        assert_eq!((imported.key.clone(), imported.store), (k.clone(), TierOutcome::Stored));
        assert_eq!(imported.bytes, bytes.len() as u64);
        assert_eq!(stored_bytes(&b, &k), bytes, "byte-identical");
        let hit = block_on(b.get(&k)).unwrap().unwrap();
        assert_eq!(hit.value, value);
        assert_eq!(hit.cost_us, 1234);

        // Again: what is stored is kept.
        let again = block_on(b.import_entry(&bytes)).unwrap();
        assert_eq!(again.store, TierOutcome::Skipped(SkipReason::Present));
    }
}

#[test]
fn an_import_replaces_neither_a_stored_value_nor_a_remembered_one() {
    let (a, b) = (cache(Config::new()), cache(Config::new()));
    let k = key("t1_map", 3);
    block_on(a.put(&k, map(1, 64))).unwrap();
    block_on(b.put(&k, map(2, 64))).unwrap();
    let from_a = stored_bytes(&a, &k);
    let report = block_on(b.import_entry(&from_a)).unwrap();
    assert_eq!(report.store, TierOutcome::Skipped(SkipReason::Present));
    assert_eq!(block_on(b.get(&k)).unwrap().unwrap().value, map(2, 64));
}

#[test]
fn an_import_over_an_expired_entry_stores_the_new_one_and_memory_follows() {
    let config = Config::new().max_age_ms(1000).unwrap();
    let b = cache(config);
    let k = key("t1_map", 4);
    block_on(b.put(&k, map(1, 64))).unwrap();
    b.clock().advance(5000);
    let a = cache(Config::new());
    a.clock().advance(5000);
    block_on(a.put(&k, map(2, 64))).unwrap();
    let report = block_on(b.import_entry(&stored_bytes(&a, &k))).unwrap();
    assert_eq!(report.store, TierOutcome::Stored);
    assert_eq!(block_on(b.get(&k)).unwrap().unwrap().value, map(2, 64));
}

#[test]
fn every_damaged_or_cut_entry_is_refused_and_nothing_is_stored() {
    let a = cache(Config::new().compression(false));
    let k = key("smooth", 1);
    block_on(a.put(&k, map(9, 40))).unwrap();
    let bytes = stored_bytes(&a, &k);
    let b = cache(Config::new());
    let refused = |bad: &[u8], what: &str| {
        let err = block_on(b.import_entry(bad)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidEntry, "{what}: {err}");
        assert!(block_on(b.store().list()).unwrap().is_empty(), "{what}: nothing stored");
    };
    for i in 0..bytes.len() {
        for bit in [0x01, 0x80] {
            let mut bad = bytes.clone();
            bad[i] ^= bit;
            refused(&bad, &format!("byte {i} ^ {bit:#x}"));
        }
    }
    for len in 0..bytes.len() {
        refused(&bytes[..len], &format!("cut at {len}"));
    }
    let mut longer = bytes.clone();
    longer.push(0);
    refused(&longer, "one byte more");
    assert_eq!(block_on(b.import_entry(&bytes)).unwrap().store, TierOutcome::Stored);
}

#[test]
fn an_import_follows_the_policy_and_the_access_mode() {
    let a = cache(Config::new());
    let k = key("scratch", 1);
    block_on(a.put(&k, map(1, 16))).unwrap();
    let bytes = stored_bytes(&a, &k);
    let transient = cache(Config::new().retention("scratch", Retention::Transient).unwrap());
    let report = block_on(transient.import_entry(&bytes)).unwrap();
    assert_eq!(report.store, TierOutcome::Skipped(SkipReason::Policy));
    let read_only = cache(Config::new().access("r".parse().unwrap()));
    let report = block_on(read_only.import_entry(&bytes)).unwrap();
    assert_eq!(report.store, TierOutcome::Skipped(SkipReason::WriteDisabled));
    let tiny = cache(Config::new().store_budget(64));
    let report = block_on(tiny.import_entry(&bytes)).unwrap();
    assert_eq!(report.store, TierOutcome::Skipped(SkipReason::TooLarge));
}

#[test]
fn collect_removes_expired_entries_then_evicts_to_the_budget() {
    let config = Config::new()
        .compression(false)
        .type_policy("old", TypePolicy::new(Retention::Persistent).max_age_ms(10_000))
        .unwrap();
    let c = cache(config);
    for n in 0..4 {
        block_on(c.put(&key("old", n), map(n, 256))).unwrap();
        block_on(c.put(&key("kept", n), map(n, 256))).unwrap();
    }
    c.clock().advance(20_000);
    let listed = |c: &Cache<MemoryStore, ManualClock>| block_on(c.store().list()).unwrap().len();

    let would = block_on(c.collect(true)).unwrap();
    assert_eq!(would.len(), 4);
    assert!(would.iter().all(|e| e.step == "old"));
    assert_eq!(listed(&c), 8, "a dry run removes nothing");
    let gone = block_on(c.collect(false)).unwrap();
    assert_eq!(gone, would);
    assert_eq!(listed(&c), 4);
    assert!(block_on(c.get(&key("old", 0))).unwrap().is_none());
    assert_eq!(block_on(c.stats()).unwrap().store.expired, 4);
    assert!(block_on(c.collect(false)).unwrap().is_empty(), "nothing left to do");

    // A budget of about two entries: the two least recently used go, pinned ones stay.
    let size = block_on(c.entries()).unwrap()[0].bytes;
    let clock = ManualClock::new(c.clock().now_ms());
    let small = Cache::new(
        c.store().clone(),
        clock,
        Config::new().store_budget(2 * size + size / 2),
    )
    .unwrap();
    small.pin(&key("kept", 0));
    block_on(small.get(&key("kept", 3))).unwrap().unwrap();
    let evicted = block_on(small.collect(false)).unwrap();
    let names: Vec<Key> = evicted
        .iter()
        .map(|e| Key::from_parts(&e.step, e.fingerprint).unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(
        names.contains(&key("kept", 1)) && names.contains(&key("kept", 2)),
        "{names:?}"
    );
    assert!(block_on(small.stats()).unwrap().store.bytes <= 2 * size + size / 2);
}

/// A store that refuses every removal, as a write-protected directory does.
#[derive(Clone, Default)]
struct NoDeletes(MemoryStore);

impl Store for NoDeletes {
    type Bytes = stepcache_core::SharedBytes;

    async fn get(&self, id: &stepcache_core::Fingerprint) -> stepcache_core::Result<Option<Self::Bytes>> {
        self.0.get(id).await
    }

    async fn put_entry(
        &self,
        id: &stepcache_core::Fingerprint,
        entry: &stepcache_core::entry::EntryWriter<'_>,
    ) -> stepcache_core::Result<stepcache_core::entry::PayloadCheck> {
        self.0.put_entry(id, entry).await
    }

    async fn delete(&self, _: &stepcache_core::Fingerprint) -> stepcache_core::Result<()> {
        Err(stepcache_core::Error::new(ErrorKind::PermissionDenied, "read-only"))
    }

    async fn list(&self) -> stepcache_core::Result<Vec<stepcache_core::Listed>> {
        self.0.list().await
    }
}

#[test]
fn listing_a_store_over_budget_that_refuses_removals_still_answers() {
    let full = cache(Config::new());
    for n in 0..4 {
        block_on(full.put(&key("t1_map", n), map(n, 256))).unwrap();
    }
    let store = NoDeletes(full.store().clone());
    let small = Cache::new(store, ManualClock::new(1_000_000), Config::new().store_budget(1000)).unwrap();
    assert_eq!(
        block_on(small.entries()).unwrap().len(),
        4,
        "the trim failed; the listing stands"
    );
    assert_eq!(block_on(small.stats()).unwrap().store.entries, 4);
    assert!(block_on(small.get(&key("t1_map", 1))).unwrap().is_some());
}

#[test]
fn a_record_is_imported_only_under_its_own_key() {
    let (a, b) = (cache(Config::new()), cache(Config::new()));
    let (k, other) = (key("t1_map", 5), key("t1_map", 6));
    block_on(a.put(&k, map(5, 64))).unwrap();
    let bytes = stored_bytes(&a, &k);
    let err = block_on(b.import_record(other.fingerprint(), &bytes)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidEntry, "{err}");
    assert!(block_on(b.store().list()).unwrap().is_empty(), "nothing stored");
    let imported = block_on(b.import_record(k.fingerprint(), &bytes)).unwrap();
    assert_eq!((imported.key, imported.store), (k.clone(), TierOutcome::Stored));
    assert_eq!(block_on(b.get(&k)).unwrap().unwrap().value, map(5, 64));
}

#[test]
fn every_session_s_counters_add_up_in_the_store() {
    let first = cache(Config::new());
    let k = key("t1_map", 1);
    block_on(first.put(&k, map(1, 16))).unwrap();
    for _ in 0..3 {
        block_on(first.get(&k)).unwrap().unwrap();
    }
    assert!(
        block_on(first.stats()).unwrap().all_time.is_empty(),
        "stats() counts this session only"
    );
    let stats = block_on(first.stats_all_time()).unwrap();
    assert_eq!(stats.all_time, stats.types);
    block_on(first.save_stats()).unwrap();
    let second = Cache::new(first.store().clone(), ManualClock::new(2_000_000), Config::new()).unwrap();
    block_on(second.get(&k)).unwrap().unwrap();
    let stats = block_on(second.stats_all_time()).unwrap();
    assert_eq!(stats.types[0].hits, 1, "this session");
    assert_eq!((stats.all_time[0].hits, stats.all_time[0].puts), (4, 1), "all time");
    assert!(stats.to_string().contains("all time: 4 hits, 0 misses"), "{stats}");
    // Saving again adds only what is new.
    block_on(second.save_stats()).unwrap();
    block_on(first.save_stats()).unwrap();
    block_on(second.save_stats()).unwrap();
    let third = Cache::new(first.store().clone(), ManualClock::new(3_000_000), Config::new()).unwrap();
    assert_eq!(block_on(third.stats_all_time()).unwrap().all_time[0].hits, 4);
}
