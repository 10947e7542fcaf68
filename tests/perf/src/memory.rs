//! Section 5: hits in the memory tier, against in-process caches.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use stepcache::{Cache, Config, Key, Retention, Source, SystemClock, TierOutcome, Value};
use stepcache_core::MemoryStore;

use crate::report::{Fig, Table, median};
use crate::{Plan, Scratch, ok};

const STEP: &str = "perf_hit";

struct Fixture {
    keys: Vec<Key>,
    ids: Vec<[u8; 32]>,
    raw: Vec<Vec<u8>>,
    /// Each thread's order of lookups: every key once, shuffled differently per thread.
    orders: [Vec<usize>; 2],
}

impl Fixture {
    fn new(count: usize, len: usize) -> Fixture {
        let mut next = crate::xorshift(0x853c_49e6_748f_ea9bu64);
        let keys: Vec<Key> = (0..count)
            .map(|i| ok(Key::of(STEP).arg("i", i as u64).build(), "build a key"))
            .collect();
        let ids = keys.iter().map(|k| *k.fingerprint().as_bytes()).collect();
        let raw = crate::random_buffers(&mut next, count, len);
        let mut shuffled = || {
            let mut order: Vec<usize> = (0..count).collect();
            for i in (1..count).rev() {
                order.swap(i, (next() % (i as u64 + 1)) as usize);
            }
            order
        };
        let orders = [shuffled(), shuffled()];
        Fixture { keys, ids, raw, orders }
    }
}

/// A lookup that returns the value's length (so nothing is optimised away).
trait MemGet: Sync {
    fn get(&self, f: &Fixture, i: usize) -> usize;
}

type AsyncEngine = stepcache_core::Cache<MemoryStore, SystemClock>;

struct Blocking(Cache);
struct Engine(AsyncEngine);
struct Moka(moka::sync::Cache<[u8; 32], Arc<Vec<u8>>>);
struct Locked(RwLock<HashMap<[u8; 32], Arc<Vec<u8>>>>);
/// No lock at all (the map never changes): the limit of a shared in-memory lookup.
struct Plain(HashMap<[u8; 32], Arc<Vec<u8>>>);

impl MemGet for Blocking {
    fn get(&self, f: &Fixture, i: usize) -> usize {
        ok(self.0.get(&f.keys[i]), "stepcache get")
            .expect("in the memory tier")
            .value
            .data()
            .len()
    }
}

impl MemGet for Engine {
    fn get(&self, f: &Fixture, i: usize) -> usize {
        ok(pollster::block_on(self.0.get(&f.keys[i])), "engine get")
            .expect("in the memory tier")
            .value
            .data()
            .len()
    }
}

impl MemGet for Moka {
    fn get(&self, f: &Fixture, i: usize) -> usize {
        self.0.get(&f.ids[i]).expect("in moka").len()
    }
}

impl MemGet for Plain {
    fn get(&self, f: &Fixture, i: usize) -> usize {
        self.0.get(&f.ids[i]).cloned().expect("in the map").len()
    }
}

impl MemGet for Locked {
    fn get(&self, f: &Fixture, i: usize) -> usize {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.get(&f.ids[i]).cloned().expect("in the map").len()
    }
}

/// One pass over every key in `order`: when it started and when it ended.
fn pass(store: &dyn MemGet, f: &Fixture, order: &[usize]) -> (Instant, Instant) {
    let start = Instant::now();
    let mut total = 0usize;
    for &i in order {
        total += store.get(f, i);
    }
    black_box(total);
    (start, Instant::now())
}

fn batch(store: &dyn MemGet, f: &Fixture, order: &[usize]) -> Duration {
    let (start, end) = pass(store, f, order);
    end - start
}

/// A barrier whose waiters spin instead of sleeping: both threads stay on their cores,
/// so a pass starts on both at once instead of after the wake-up of an idle vCPU (which
/// on this VM can take longer than a whole pass).
struct SpinBarrier {
    arrived: AtomicUsize,
    generation: AtomicUsize,
    parties: usize,
}

impl SpinBarrier {
    fn new(parties: usize) -> SpinBarrier {
        SpinBarrier {
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            parties,
        }
    }

    fn wait(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.parties {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == generation {
            spins += 1;
            if spins < 100_000 {
                std::hint::spin_loop();
            } else {
                // The other thread lost its core to another process: do not fight it.
                std::thread::yield_now();
            }
        }
    }
}

/// Two threads, each with its own shuffled order, go through `rounds` + 1 rounds (the first
/// one warms up) in which every variant gets an untimed pass, then a timed pass, both
/// threads starting each pass together. A timed pass lasts from the first thread's start
/// to the last one's end (if one thread only got a core after the other finished, that is
/// sequential work and counts as such). Returns each variant's pass times.
fn two_threads(stores: &[&dyn MemGet], f: &Fixture, rounds: usize) -> Vec<Vec<Duration>> {
    let barrier = SpinBarrier::new(2);
    let spans: Vec<Vec<(Instant, Instant)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = f
            .orders
            .iter()
            .map(|order| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let mut out = Vec::with_capacity((rounds + 1) * stores.len());
                    for _ in 0..=rounds {
                        for store in stores {
                            barrier.wait();
                            pass(*store, f, order);
                            barrier.wait();
                            out.push(pass(*store, f, order));
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a lookup thread"))
            .collect()
    });
    let mut out = vec![Vec::with_capacity(rounds); stores.len()];
    for (k, (a, b)) in spans[0].iter().zip(&spans[1]).enumerate() {
        if k >= stores.len() {
            out[k % stores.len()].push(a.1.max(b.1) - a.0.min(b.0));
        }
    }
    out
}

pub fn run(plan: &Plan, scratch: &Scratch) -> Vec<Table> {
    let n = plan.memory_count;
    let f = Fixture::new(n, plan.small_len);
    let big = 1u64 << 30;

    let blocking = ok(
        Cache::builder()
            .dir(scratch.dir("memory-stepcache"))
            .memory_budget(big)
            .retention(STEP, Retention::Memory)
            .open(),
        "open a stepcache",
    );
    let config = ok(
        Config::new().memory_budget(big).retention(STEP, Retention::Memory),
        "config",
    );
    let engine: AsyncEngine = ok(
        stepcache_core::Cache::new(MemoryStore::new(), SystemClock::new(), config),
        "create the engine",
    );
    let moka = moka::sync::Cache::builder().max_capacity(2 * n as u64).build();
    let mut map = HashMap::with_capacity(n);
    for i in 0..n {
        let value = Value::bytes(f.raw[i].clone());
        let a = ok(blocking.put(&f.keys[i], value.clone()), "stepcache put");
        let b = ok(pollster::block_on(engine.put(&f.keys[i], value)), "engine put");
        assert_eq!((a.memory, b.memory), (TierOutcome::Stored, TierOutcome::Stored));
        let shared = Arc::new(f.raw[i].clone());
        moka.insert(f.ids[i], shared.clone());
        map.insert(f.ids[i], shared);
    }
    moka.run_pending_tasks();
    let hit = ok(blocking.get(&f.keys[0]), "stepcache get").expect("a hit");
    assert_eq!(hit.source, Source::Memory);
    let hit = ok(pollster::block_on(engine.get(&f.keys[0])), "engine get").expect("a hit");
    assert_eq!(hit.source, Source::Memory);

    let stores: [&dyn MemGet; 5] = [
        &Blocking(blocking),
        &Engine(engine),
        &Moka(moka),
        &Locked(RwLock::new(map.clone())),
        &Plain(map),
    ];
    let mut one = vec![Vec::new(); stores.len()];
    // Round 0 warms up; afterwards the variants take turns, pass by pass.
    for round in 0..=plan.memory_batches {
        for (s, store) in stores.iter().enumerate() {
            // An untimed pass first: the other variants' passes evicted this one's data
            // from the caches.
            batch(*store, &f, &f.orders[1]);
            let took = batch(*store, &f, &f.orders[0]);
            if round > 0 {
                one[s].push(took);
            }
        }
    }
    let two = two_threads(&stores, &f, plan.memory_batches);
    let fig1: Vec<Fig> = one.iter().map(|t| Fig::batches(t, n)).collect();
    let fig2: Vec<Fig> = two.iter().map(|t| Fig::batches(t, 2 * n)).collect();

    let kib = plan.small_len as f64 / 1024.0;
    let mut table = Table::new(format!("Memory-tier hits, {kib} KiB values, {n} keys"));
    let peers = [
        (2, "`moka::sync::Cache::get` (Arc clone)"),
        (3, "`RwLock<HashMap<[u8; 32], Arc<Vec<u8>>>>` read + clone"),
        (4, "immutable `HashMap` get + `Arc` clone, no lock (limit)"),
    ];
    for (threads, figs) in [(1, &fig1), (2, &fig2)] {
        let suffix = if threads == 1 {
            "1 thread".to_string()
        } else {
            format!("{threads} threads, aggregate")
        };
        for (s, what) in [
            (0, "`stepcache::Cache::get` (blocking)"),
            (
                1,
                "`stepcache_core::Cache::get` over `MemoryStore`, `pollster::block_on`",
            ),
        ] {
            for (p, peer) in peers {
                table.row(format!("{what}, {suffix}"), &figs[s], peer, &figs[p]);
            }
        }
    }
    let spread = |t: &[Duration]| {
        let m = median(t).as_secs_f64();
        let max = t.iter().max().copied().unwrap_or_default().as_secs_f64();
        (max / m - 1.0) * 100.0
    };
    table.note(format!(
        "A batch is one pass over all {n} keys in a shuffled order; figures are the median \
         batch over {} batches per variant, divided into time per lookup. 1 thread: the \
         variants take turns, each turn an untimed pass then a timed one, so caches are warm \
         alike. 2 threads (each its own shuffled order, on the same cache): the same turns, \
         both threads released together by a spinning barrier; a batch lasts from the first \
         thread's start to the last one's end, so ops/s is the aggregate. Slowest stepcache \
         batch, 1 thread: +{:.0}% over the median.",
        plan.memory_batches,
        spread(&one[0]),
    ));
    table.note(
        "The lock-free row is the limit of a shared lookup (hash, probe, one atomic \
         increment); with 2 threads, what every locked variant loses beyond it is the lock's \
         cache line moving between the two cores. How much that costs depends on where the \
         host placed the two vCPUs, which changes between runs: if this row does not about \
         double its 1-thread throughput, the run met the expensive case.",
    );
    table.note(
        "Every lookup returns an owned handle to the bytes (stepcache: a `Hit` holding the \
         `Value`, which shares its buffer); keys are fingerprints computed beforehand.",
    );
    vec![table]
}
