//! The engine's shared tier over in-memory stores: machines that share nothing but one
//! shared store, a shared store that fails on demand, damage and foreign entries in it.

#![allow(clippy::unwrap_used)] // tests report failures by panicking

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pollster::block_on;
use stepcache_core::entry::{EntryWriter, PayloadCheck, TeamKey};
use stepcache_core::{
    Cache, Config, EntryState, Error, ErrorKind, Fingerprint, Force, Key, Listed, ManualClock, MemoryStore, Result,
    Retention, SharedBytes, SharedTier, SkipReason, Source, Store, TierOutcome, TypePolicy, Value,
};

/// A shared store that fails every call while `down`, and counts the calls it answers.
#[derive(Clone, Default)]
struct Flaky {
    inner: MemoryStore,
    down: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
}

impl Flaky {
    fn check(&self) -> Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Storage, "the bucket is unreachable"));
        }
        Ok(())
    }
}

impl Store for Flaky {
    type Bytes = SharedBytes;

    async fn get(&self, id: &Fingerprint) -> Result<Option<SharedBytes>> {
        self.check()?;
        self.inner.get(id).await
    }

    async fn put_entry(&self, id: &Fingerprint, entry: &EntryWriter<'_>) -> Result<PayloadCheck> {
        self.check()?;
        self.inner.put_entry(id, entry).await
    }

    async fn delete(&self, id: &Fingerprint) -> Result<()> {
        self.check()?;
        self.inner.delete(id).await
    }

    async fn list(&self) -> Result<Vec<Listed>> {
        self.check()?;
        self.inner.list().await
    }
}

type Machine = Cache<MemoryStore, ManualClock, Flaky>;

const SHARED: &str = "t1_map";
const LOCAL_ONLY: &str = "preview";

fn config() -> Config {
    Config::new()
        .type_policy(SHARED, TypePolicy::new(Retention::Persistent).shared(true))
        .unwrap()
}

/// A machine: its own local store and clock, the one shared store.
fn machine(bucket: &Flaky, key: Option<&TeamKey>) -> (Machine, MemoryStore) {
    let local = MemoryStore::new();
    let mut tier = SharedTier::new(bucket.clone()).retry_after_ms(1_000);
    if let Some(key) = key {
        tier = tier.team_key(key.clone());
    }
    let cache = Cache::with_shared(local.clone(), tier, ManualClock::new(1_000_000), config()).unwrap();
    (cache, local)
}

fn key(step: &str, n: u64) -> Key {
    Key::of(step).arg("n", n).build().unwrap()
}

fn value(n: u64) -> Value {
    Value::array((0..1000).map(|i| (i + n) as f32).collect::<Vec<f32>>(), &[10, 100]).unwrap()
}

fn team(secret: &str) -> TeamKey {
    TeamKey::from_secret(secret.as_bytes()).unwrap()
}

#[test]
fn a_result_computed_on_one_machine_is_a_verified_shared_hit_on_another() {
    let bucket = Flaky::default();
    let (a, _) = machine(&bucket, None);
    let (b, b_local) = machine(&bucket, None);
    let k = key(SHARED, 1);
    let computed = block_on(a.get_or_compute(&k, || async { value(1) })).unwrap();
    assert_eq!(computed.stored.unwrap().shared, TierOutcome::Stored);
    let hit = block_on(b.get_or_compute(&k, || async { Err::<Value, _>("computed again on machine b") })).unwrap();
    assert_eq!(hit.source, Source::Shared);
    assert_eq!(hit.value, value(1));
    assert_eq!(hit.content, computed.content);
    // Promoted: memory, then b's own store for a fresh handle there.
    assert_eq!(block_on(b.get(&k)).unwrap().unwrap().source, Source::Memory);
    let b_again = Cache::new(b_local, ManualClock::new(1_000_000), config()).unwrap();
    assert_eq!(block_on(b_again.get(&k)).unwrap().unwrap().source, Source::Store);
    let stats = block_on(b.stats()).unwrap();
    assert_eq!((stats.shared.hits, stats.shared.misses, stats.shared.errors), (1, 0, 0));
    assert!(stats.to_string().contains("shared: 1 hits, 0 misses"), "{stats}");
}

#[test]
fn a_type_that_is_not_shared_never_leaves_the_machine() {
    let bucket = Flaky::default();
    let (a, _) = machine(&bucket, None);
    let report = block_on(a.put(&key(LOCAL_ONLY, 1), value(1))).unwrap();
    assert_eq!(report.shared, TierOutcome::Skipped(SkipReason::Policy));
    assert_eq!(report.store, TierOutcome::Stored);
    assert!(block_on(bucket.inner.list()).unwrap().is_empty());
    assert_eq!(bucket.calls.load(Ordering::SeqCst), 0);
    let (b, _) = machine(&bucket, None);
    assert!(block_on(b.get(&key(LOCAL_ONLY, 1))).unwrap().is_none());
    assert_eq!(
        bucket.calls.load(Ordering::SeqCst),
        0,
        "a local-only type never asks the shared tier"
    );
}

#[test]
fn a_damaged_or_foreign_object_is_a_miss_and_never_promoted() {
    let bucket = Flaky::default();
    let (a, _) = machine(&bucket, None);
    let (k1, k2) = (key(SHARED, 1), key(SHARED, 2));
    block_on(a.put(&k1, value(1))).unwrap();
    block_on(a.put(&k2, value(2))).unwrap();
    // One byte of the payload flipped; key 2's entry planted under key 1's name.
    let len = block_on(bucket.inner.get(k1.fingerprint())).unwrap().unwrap().len();
    for damage in 0..len {
        assert!(bucket.inner.tamper(k1.fingerprint(), |b| b[damage] ^= 0x40));
        let (b, b_local) = machine(&bucket, None);
        assert!(block_on(b.get(&k1)).unwrap().is_none(), "byte {damage} flipped");
        assert!(
            block_on(b_local.list()).unwrap().is_empty(),
            "byte {damage} flipped: promoted"
        );
        assert_eq!(block_on(b.stats()).unwrap().shared.rejected, 1);
        assert!(bucket.inner.tamper(k1.fingerprint(), |b| b[damage] ^= 0x40));
    }
    let other = block_on(bucket.inner.get(k2.fingerprint())).unwrap().unwrap();
    assert!(bucket.inner.tamper(k1.fingerprint(), |b| *b = other.to_vec()));
    let (b, b_local) = machine(&bucket, None);
    assert!(block_on(b.get(&k1)).unwrap().is_none());
    assert!(block_on(b_local.list()).unwrap().is_empty());
}

#[test]
fn with_a_team_key_only_entries_it_sealed_are_accepted() {
    let bucket = Flaky::default();
    let ours = team("our lab's shared secret");
    let (writer, _) = machine(&bucket, Some(&ours));
    let (k1, k2) = (key(SHARED, 1), key(SHARED, 2));
    block_on(writer.put(&k1, value(1))).unwrap();
    // Someone who can write the bucket but has no key plants a result.
    let (planter, _) = machine(&bucket, None);
    block_on(planter.put(&k2, value(666))).unwrap();

    let (reader, _) = machine(&bucket, Some(&ours));
    assert_eq!(block_on(reader.get(&k1)).unwrap().unwrap().source, Source::Shared);
    assert!(
        block_on(reader.get(&k2)).unwrap().is_none(),
        "a planted entry was accepted"
    );
    let (stranger, _) = machine(&bucket, Some(&team("another team's secret")));
    assert!(block_on(stranger.get(&k1)).unwrap().is_none());
    assert_eq!(block_on(stranger.stats()).unwrap().shared.rejected, 1);
    // A reader without the key (a browser) reads sealed entries, verified by checksum.
    let (keyless, _) = machine(&bucket, None);
    assert_eq!(block_on(keyless.get(&k1)).unwrap().unwrap().value, value(1));
}

#[test]
fn a_failing_shared_tier_leaves_the_local_tiers_working_and_catches_up() {
    let bucket = Flaky::default();
    let (a, _) = machine(&bucket, None);
    bucket.down.store(true, Ordering::SeqCst);
    let (k1, k2, k3) = (key(SHARED, 1), key(SHARED, 2), key(SHARED, 3));
    let report = block_on(a.put(&k1, value(1))).unwrap();
    assert_eq!(report.store, TierOutcome::Stored);
    assert_eq!(report.shared, TierOutcome::Failed(ErrorKind::Storage));
    let stats = block_on(a.stats()).unwrap();
    assert!(stats.shared.degraded && stats.shared.errors == 1 && stats.shared.pending == 1);
    assert!(
        stats
            .to_string()
            .contains("degraded: StorageError: the bucket is unreachable"),
        "{stats}"
    );
    // Left alone: no more calls until the retry time, and the local tiers answer.
    let calls = bucket.calls.load(Ordering::SeqCst);
    let report = block_on(a.put(&k2, value(2))).unwrap();
    assert_eq!(report.shared, TierOutcome::Skipped(SkipReason::Degraded));
    assert_eq!(block_on(a.get(&k1)).unwrap().unwrap().value, value(1));
    assert!(block_on(a.get(&k3)).unwrap().is_none());
    assert_eq!(bucket.calls.load(Ordering::SeqCst), calls);
    // Back: the next write goes through and takes pending ones along.
    bucket.down.store(false, Ordering::SeqCst);
    a.clock().advance(1_000);
    assert_eq!(block_on(a.put(&k3, value(3))).unwrap().shared, TierOutcome::Stored);
    let stats = block_on(a.stats()).unwrap();
    assert_eq!((stats.shared.pending, stats.shared.degraded), (0, false));
    let (b, _) = machine(&bucket, None);
    for (k, n) in [(&k1, 1), (&k2, 2), (&k3, 3)] {
        assert_eq!(block_on(b.get(k)).unwrap().unwrap().value, value(n));
    }
}

#[test]
fn flush_shared_writes_every_pending_entry_now() {
    let bucket = Flaky::default();
    let (a, _) = machine(&bucket, None);
    bucket.down.store(true, Ordering::SeqCst);
    for n in 0..10 {
        block_on(a.put(&key(SHARED, n), value(n))).unwrap();
    }
    assert_eq!(block_on(a.stats()).unwrap().shared.pending, 10);
    assert_eq!(block_on(a.flush_shared()).unwrap_err().kind(), ErrorKind::Storage);
    bucket.down.store(false, Ordering::SeqCst);
    assert_eq!(block_on(a.flush_shared()).unwrap(), 10);
    assert_eq!(block_on(bucket.inner.list()).unwrap().len(), 10);
}

#[test]
fn a_key_whose_shared_copy_is_behind_is_never_read_from_there() {
    let bucket = Flaky::default();
    let (a, _) = machine(&bucket, None);
    let k = key(SHARED, 1);
    block_on(a.put(&k, value(1))).unwrap();
    bucket.down.store(true, Ordering::SeqCst);
    block_on(a.put(&k, value(2))).unwrap();
    bucket.down.store(false, Ordering::SeqCst);
    a.clock().advance(1_000);
    // The local copy goes (cleared, evicted): the shared tier still holds version 1.
    block_on(a.clear(None)).unwrap();
    assert!(block_on(a.get(&k)).unwrap().is_none(), "an older version came back");
    // Settling removes the stale copy, since this machine no longer has the key.
    assert_eq!(block_on(a.flush_shared()).unwrap(), 1);
    assert!(block_on(bucket.inner.get(k.fingerprint())).unwrap().is_none());
}

#[test]
fn invalidate_removes_the_shared_copy_or_never_reads_it_again() {
    let bucket = Flaky::default();
    let (a, _) = machine(&bucket, None);
    let (k1, k2) = (key(SHARED, 1), key(SHARED, 2));
    block_on(a.put(&k1, value(1))).unwrap();
    block_on(a.put(&k2, value(2))).unwrap();
    block_on(a.invalidate(&k1)).unwrap();
    assert!(block_on(bucket.inner.get(k1.fingerprint())).unwrap().is_none());
    bucket.down.store(true, Ordering::SeqCst);
    block_on(a.invalidate(&k2)).unwrap();
    bucket.down.store(false, Ordering::SeqCst);
    a.clock().advance(1_000);
    assert!(
        block_on(a.get(&k2)).unwrap().is_none(),
        "an invalidated value came back"
    );
    assert_eq!(block_on(a.flush_shared()).unwrap(), 1);
    let (b, _) = machine(&bucket, None);
    assert!(block_on(b.get(&k2)).unwrap().is_none());
}

#[test]
fn status_entries_and_force_see_the_shared_tier() {
    let bucket = Flaky::default();
    let (a, _) = machine(&bucket, None);
    let (b, _) = machine(&bucket, None);
    let k = key(SHARED, 1);
    block_on(a.put(&k, value(1))).unwrap();
    assert_eq!(
        block_on(b.status(std::slice::from_ref(&k))).unwrap()[0].state,
        EntryState::Shared
    );
    assert!(block_on(b.has(&k)).unwrap());
    let listed = block_on(b.entries()).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].shared && !listed[0].stored && !listed[0].in_memory);
    // A forced recompute on b: the shared result from before it is a miss there.
    b.clock().advance(10);
    b.set_force(Force::Steps(vec![SHARED.into()])).unwrap();
    assert!(block_on(b.get(&k)).unwrap().is_none());
    assert_eq!(
        block_on(b.status(std::slice::from_ref(&k))).unwrap()[0].state,
        EntryState::Missing
    );
}

#[test]
fn types_kept_only_in_memory_are_shared_through_memory() {
    let bucket = Flaky::default();
    let config = Config::new()
        .type_policy(SHARED, TypePolicy::new(Retention::Memory).shared(true))
        .unwrap();
    let tier = || SharedTier::new(bucket.clone());
    let a = Cache::with_shared(MemoryStore::new(), tier(), ManualClock::new(5), config.clone()).unwrap();
    let b_local = MemoryStore::new();
    let b = Cache::with_shared(b_local.clone(), tier(), ManualClock::new(5), config).unwrap();
    let k = key(SHARED, 1);
    let report = block_on(a.put(&k, value(1))).unwrap();
    assert_eq!(
        (report.store, report.shared),
        (TierOutcome::Skipped(SkipReason::Policy), TierOutcome::Stored)
    );
    assert_eq!(block_on(b.get(&k)).unwrap().unwrap().source, Source::Shared);
    assert_eq!(block_on(b.get(&k)).unwrap().unwrap().source, Source::Memory);
    assert!(block_on(b_local.list()).unwrap().is_empty());
}

#[test]
fn a_read_only_tier_is_read_never_written() {
    let bucket = Flaky::default();
    let (writer, _) = machine(&bucket, None);
    let k = key(SHARED, 1);
    block_on(writer.put(&k, value(1))).unwrap();
    let viewer = Cache::with_shared(
        MemoryStore::new(),
        SharedTier::new(bucket.clone()).read_only(),
        ManualClock::new(1_000_000),
        config(),
    )
    .unwrap();
    assert_eq!(block_on(viewer.get(&k)).unwrap().unwrap().source, Source::Shared);
    let report = block_on(viewer.put(&key(SHARED, 2), value(2))).unwrap();
    assert_eq!(report.shared, TierOutcome::Skipped(SkipReason::ReadOnly));
    // Invalidated here: never read from the shared tier again, which keeps its copy.
    block_on(viewer.invalidate(&k)).unwrap();
    assert!(block_on(viewer.get(&k)).unwrap().is_none());
    assert!(block_on(bucket.inner.get(k.fingerprint())).unwrap().is_some());
    assert_eq!(block_on(bucket.inner.list()).unwrap().len(), 1);
    assert_eq!(block_on(viewer.stats()).unwrap().shared.errors, 0);
}

/// A store whose reads wait, after reading, until the gate opens: the read's value is
/// then older than whatever was written meanwhile.
#[derive(Clone, Default)]
struct Gated {
    inner: MemoryStore,
    open: Arc<AtomicBool>,
}

impl Store for Gated {
    type Bytes = SharedBytes;

    async fn get(&self, id: &Fingerprint) -> Result<Option<SharedBytes>> {
        let read = self.inner.get(id).await;
        std::future::poll_fn(|_| {
            if self.open.load(Ordering::SeqCst) {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
        read
    }

    async fn put_entry(&self, id: &Fingerprint, entry: &EntryWriter<'_>) -> Result<PayloadCheck> {
        self.inner.put_entry(id, entry).await
    }

    async fn delete(&self, id: &Fingerprint) -> Result<()> {
        self.inner.delete(id).await
    }

    async fn list(&self) -> Result<Vec<Listed>> {
        self.inner.list().await
    }
}

/// Polls `future` once, without a real waker (the gated stores are opened by hand).
fn poll_once<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    future.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

#[test]
fn a_shared_hit_read_before_a_put_never_replaces_it() {
    for background in [false, true] {
        let bucket = Gated::default();
        let writer = Cache::new(bucket.inner.clone(), ManualClock::new(1_000_000), config()).unwrap();
        let k = key(SHARED, 1);
        block_on(writer.put(&k, value(1))).unwrap();
        let local = MemoryStore::new();
        let mut tier = SharedTier::new(bucket.clone());
        if background {
            tier = tier.promote_in_background();
        }
        let b = Cache::with_shared(local.clone(), tier, ManualClock::new(1_000_000), config()).unwrap();
        let mut lookup = std::pin::pin!(b.get(&k));
        assert!(
            poll_once(lookup.as_mut()).is_pending(),
            "the lookup waits at the gate with version 1"
        );
        block_on(b.put(&k, value(2))).unwrap();
        bucket.open.store(true, Ordering::SeqCst);
        let std::task::Poll::Ready(hit) = poll_once(lookup.as_mut()) else {
            panic!("the lookup ends")
        };
        assert_eq!(hit.unwrap().unwrap().value, value(1), "read before the put: version 1");
        block_on(b.promote_queued()).unwrap();
        assert_eq!(
            block_on(b.get(&k)).unwrap().unwrap().value,
            value(2),
            "background {background}"
        );
        let fresh = Cache::new(local, ManualClock::new(1_000_000), config()).unwrap();
        assert_eq!(
            block_on(fresh.get(&k)).unwrap().unwrap().value,
            value(2),
            "background {background}"
        );
    }
}

#[test]
fn a_local_read_before_an_invalidate_never_puts_the_value_back() {
    let local = Gated::default();
    let writer = Cache::new(local.inner.clone(), ManualClock::new(1_000_000), config()).unwrap();
    let k = key(SHARED, 1);
    block_on(writer.put(&k, value(1))).unwrap();
    let cache = Cache::new(local.clone(), ManualClock::new(1_000_000), config()).unwrap();
    let mut lookup = std::pin::pin!(cache.get(&k));
    assert!(poll_once(lookup.as_mut()).is_pending());
    block_on(cache.invalidate(&k)).unwrap();
    local.open.store(true, Ordering::SeqCst);
    let std::task::Poll::Ready(hit) = poll_once(lookup.as_mut()) else {
        panic!("the lookup ends")
    };
    assert_eq!(hit.unwrap().unwrap().value, value(1), "read before the invalidate");
    assert!(
        block_on(cache.get(&k)).unwrap().is_none(),
        "the invalidated value came back from memory"
    );
}

#[test]
fn promotion_in_the_background_writes_after_the_hit_unless_the_key_changed() {
    let bucket = Flaky::default();
    let (writer, _) = machine(&bucket, None);
    let (k1, k2, k3) = (key(SHARED, 1), key(SHARED, 2), key(SHARED, 3));
    for (k, n) in [(&k1, 1), (&k2, 2), (&k3, 3)] {
        block_on(writer.put(k, value(n))).unwrap();
    }
    let local = MemoryStore::new();
    let tier = SharedTier::new(bucket.clone()).promote_in_background();
    let b = Cache::with_shared(
        local.clone(),
        tier,
        ManualClock::new(1_000_000),
        config().memory_budget(0),
    )
    .unwrap();
    for k in [&k1, &k2, &k3] {
        assert_eq!(block_on(b.get(k)).unwrap().unwrap().source, Source::Shared);
    }
    assert!(b.promotions_queued());
    assert!(
        block_on(local.list()).unwrap().is_empty(),
        "nothing written before promote_queued"
    );
    block_on(b.put(&k2, value(22))).unwrap();
    block_on(b.invalidate(&k3)).unwrap();
    assert_eq!(block_on(b.promote_queued()).unwrap(), 1, "only key 1 is promoted");
    assert!(!b.promotions_queued());
    let fresh = Cache::new(local, ManualClock::new(1_000_000), config()).unwrap();
    assert_eq!(block_on(fresh.get(&k1)).unwrap().unwrap().source, Source::Store);
    assert_eq!(block_on(fresh.get(&k2)).unwrap().unwrap().value, value(22));
    assert!(block_on(fresh.get(&k3)).unwrap().is_none());
}

/// A store whose writes each wait until the other tier's write has begun: a put completes
/// through two of them only if the engine writes both tiers at once.
#[derive(Clone, Default)]
struct Meeting {
    inner: MemoryStore,
    began: Arc<AtomicBool>,
    other_began: Arc<AtomicBool>,
}

impl Meeting {
    /// The local store and the shared store, each waiting for the other.
    fn pair() -> (Meeting, Meeting) {
        let local = Meeting::default();
        let shared = Meeting {
            inner: MemoryStore::new(),
            began: local.other_began.clone(),
            other_began: local.began.clone(),
        };
        (local, shared)
    }
}

impl Store for Meeting {
    type Bytes = SharedBytes;

    async fn get(&self, id: &Fingerprint) -> Result<Option<SharedBytes>> {
        self.inner.get(id).await
    }

    async fn put_entry(&self, id: &Fingerprint, entry: &EntryWriter<'_>) -> Result<PayloadCheck> {
        self.began.store(true, Ordering::SeqCst);
        std::future::poll_fn(|_| match self.other_began.load(Ordering::SeqCst) {
            true => std::task::Poll::Ready(()),
            false => std::task::Poll::Pending,
        })
        .await;
        self.inner.put_entry(id, entry).await
    }

    async fn delete(&self, id: &Fingerprint) -> Result<()> {
        self.inner.delete(id).await
    }

    async fn list(&self) -> Result<Vec<Listed>> {
        self.inner.list().await
    }
}

/// A cache over `local` with `bucket` as its shared tier.
fn cache_over<S: Store, R: Store>(local: S, bucket: R) -> Cache<S, ManualClock, R> {
    Cache::with_shared(local, SharedTier::new(bucket), ManualClock::new(1_000_000), config()).unwrap()
}

#[test]
fn a_put_writes_the_local_store_while_the_upload_runs() {
    let (local, bucket) = Meeting::pair();
    let cache = cache_over(local.clone(), bucket.clone());
    let k = key(SHARED, 1);
    let mut put = std::pin::pin!(cache.put(&k, value(1)));
    // Written one tier after the other, the first write would wait forever.
    let report = (0..10).find_map(|_| match poll_once(put.as_mut()) {
        std::task::Poll::Ready(report) => Some(report),
        std::task::Poll::Pending => None,
    });
    let report = report
        .expect("the put ends with both writes under way together")
        .unwrap();
    assert_eq!(
        (report.store, report.shared),
        (TierOutcome::Stored, TierOutcome::Stored)
    );
    let fresh = Cache::new(bucket.inner, ManualClock::new(1_000_000), config()).unwrap();
    assert_eq!(block_on(fresh.get(&k)).unwrap().unwrap().value, value(1));
    let fresh = Cache::new(local.inner, ManualClock::new(1_000_000), config()).unwrap();
    assert_eq!(block_on(fresh.get(&k)).unwrap().unwrap().value, value(1));
}

#[test]
fn a_put_that_fails_locally_leaves_the_bucket_without_its_value() {
    let (local, bucket) = (Flaky::default(), Flaky::default());
    let cache = cache_over(local.clone(), bucket.clone());
    let k = key(SHARED, 1);
    block_on(cache.put(&k, value(1))).unwrap();
    local.down.store(true, Ordering::SeqCst);
    let failed = block_on(cache.put(&k, value(2)));
    assert_eq!(failed.unwrap_err().kind(), ErrorKind::Storage);
    let in_bucket = || {
        let reader = Cache::new(bucket.inner.clone(), ManualClock::new(1_000_000), config()).unwrap();
        block_on(reader.get(&k)).unwrap().map(|hit| hit.value)
    };
    assert_eq!(
        in_bucket(),
        None,
        "the bucket never keeps a value the put failed to store"
    );
    // Once the store answers again, the bucket catches up with what it holds.
    local.down.store(false, Ordering::SeqCst);
    assert_eq!(block_on(cache.get(&k)).unwrap().unwrap().value, value(1));
    block_on(cache.flush_shared()).unwrap();
    assert_eq!(in_bucket(), Some(value(1)));
}
