//! Property tests of eviction: the pure planner `evict::plan`, and budgets kept by the
//! engine over random sequences of puts, gets, pins and unpins.

use std::cmp::Ordering;

use pollster::block_on;
use proptest::prelude::*;
use stepcache_core::evict::{Candidate, IDLE_HALF_WORTH_MS, plan};
use stepcache_core::{Cache, Config, Fingerprint, Key, ManualClock, MemoryStore, Retention, Store, TierOutcome, Value};

// ---------------------------------------------------------------------------------------
// The planner.
// ---------------------------------------------------------------------------------------

/// "Now" for the planner; last uses lie up to ~33 minutes before it.
const NOW_MS: u64 = 10_000_000;

/// A distinct id for the `i`-th candidate, in an order unrelated to `i`.
fn id_of(i: usize) -> Fingerprint {
    Fingerprint::of_bytes(&(i as u64).to_le_bytes())
}

/// Random candidates: 0..60 entries, sizes 0..10_000, random last use, hits, cost and pin.
/// Some fields are drawn from tiny sets as well, so equal worths (ties) are common.
fn candidates() -> impl Strategy<Value = Vec<Candidate>> {
    let size = prop_oneof![0u64..10_000, Just(0u64), Just(100u64)];
    let last_use = prop_oneof![NOW_MS - 2_000_000..=NOW_MS + 1000, Just(NOW_MS - 60_000)];
    let hits = prop_oneof![Just(0u64), 0u64..20];
    let cost = prop_oneof![Just(0u64), Just(30_000_000u64), 0u64..60_000_000];
    let pinned = prop::bool::weighted(0.2);
    prop::collection::vec((size, last_use, hits, cost, pinned), 0..60).prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (size, last_use_ms, hits, cost_us, pinned))| Candidate {
                id: id_of(i),
                size,
                last_use_ms,
                hits,
                cost_us,
                pinned,
            })
            .collect()
    })
}

/// Candidates with a budget and an incoming size. The budget is 0, or 25 to 130 % of the
/// candidates' total plus a slack of 0..3 bytes, so "fits", "must evict", "cannot fit" and
/// off-by-one boundaries all occur.
fn planner_input() -> impl Strategy<Value = (Vec<Candidate>, u64, u64)> {
    let pct = prop_oneof![1 => Just(0u64), 9 => 25u64..=130];
    (candidates(), pct, 0u64..3, 0u64..20_000).prop_map(|(entries, pct, slack, incoming)| {
        let total: u64 = entries.iter().map(|c| c.size).sum();
        (entries, total * pct / 100 + slack, incoming)
    })
}

/// The documented worth: `(cost_us + 1 ms) * (1 + hits) / size / (1 + idle / 10 min)`.
fn worth(c: &Candidate, now_ms: u64) -> f64 {
    let idle = now_ms.saturating_sub(c.last_use_ms) as f64;
    let saved = c.cost_us.saturating_add(1000) as f64 * (1.0 + c.hits as f64);
    saved / (c.size.max(1) as f64) / (1.0 + idle / IDLE_HALF_WORTH_MS as f64)
}

/// The documented eviction order: cheapest first, then longer idle, then smaller id.
fn eviction_order(a: &Candidate, b: &Candidate) -> Ordering {
    worth(a, NOW_MS)
        .total_cmp(&worth(b, NOW_MS))
        .then(a.last_use_ms.cmp(&b.last_use_ms))
        .then(a.id.cmp(&b.id))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// (a) a plan fits the budget, (b) never evicts a pinned entry, (c) names distinct,
    /// in-range entries, (e) is `None` exactly when pinned + incoming exceed the budget,
    /// (f) stops as soon as the budget is met, and (g) evicts in the documented order.
    #[test]
    fn plan_properties((entries, budget, incoming) in planner_input()) {
        let total: u64 = entries.iter().map(|c| c.size).sum();
        let pinned: u64 = entries.iter().filter(|c| c.pinned).map(|c| c.size).sum();
        let result = plan(&entries, budget, incoming, NOW_MS);

        // (e) None exactly when even evicting every unpinned entry leaves no room.
        prop_assert_eq!(result.is_none(), pinned + incoming > budget);
        let Some(victims) = result else { return Ok(()) };

        // (c) distinct and in range.
        let mut seen = vec![false; entries.len()];
        for &v in &victims {
            prop_assert!(v < entries.len(), "victim {} out of range", v);
            prop_assert!(!seen[v], "victim {} listed twice", v);
            seen[v] = true;
        }
        // (b) never pinned.
        for &v in &victims {
            prop_assert!(!entries[v].pinned, "pinned entry {} evicted", v);
        }
        // (a) what is left plus the incoming entry fits.
        let freed: u64 = victims.iter().map(|&v| entries[v].size).sum();
        prop_assert!(
            total - freed + incoming <= budget,
            "total {} freed {} incoming {} budget {}", total, freed, incoming, budget
        );
        // Nothing is evicted when everything already fits.
        if total + incoming <= budget {
            prop_assert!(victims.is_empty());
        }
        // (f) without the last victim it would still be over budget: no extra evictions.
        if let Some(&last) = victims.last() {
            prop_assert!(total - (freed - entries[last].size) + incoming > budget);
        }
        // (g) victims come cheapest first, and every victim ranks before every unpinned survivor.
        for pair in victims.windows(2) {
            prop_assert_eq!(eviction_order(&entries[pair[0]], &entries[pair[1]]), Ordering::Less);
        }
        if let Some(&last) = victims.last() {
            for (i, c) in entries.iter().enumerate() {
                if !c.pinned && !seen[i] {
                    prop_assert_eq!(
                        eviction_order(&entries[last], c),
                        Ordering::Less,
                        "survivor {} ranks before victim {}", i, last
                    );
                }
            }
        }
    }

    /// (d) a plan is deterministic and independent of the input order: the same inputs give
    /// the same plan, and a shuffled list evicts the same entries (by id), in the same order.
    #[test]
    fn plan_is_deterministic_and_order_independent(
        ((entries, budget, incoming), shuffled) in planner_input().prop_flat_map(|input| {
            let shuffled = Just(input.0.clone()).prop_shuffle();
            (Just(input), shuffled)
        })
    ) {
        let ids = |list: &[Candidate], plan: Option<Vec<usize>>| {
            plan.map(|v| v.into_iter().map(|i| list[i].id).collect::<Vec<_>>())
        };
        let first = plan(&entries, budget, incoming, NOW_MS);
        prop_assert_eq!(&first, &plan(&entries, budget, incoming, NOW_MS));
        let original = ids(&entries, first);
        let reordered = ids(&shuffled, plan(&shuffled, budget, incoming, NOW_MS));
        prop_assert_eq!(original, reordered);
    }
}

// ---------------------------------------------------------------------------------------
// Through the engine.
// ---------------------------------------------------------------------------------------

/// How many distinct keys the random sequences use.
const KEYS: usize = 12;

/// One step of a random sequence.
#[derive(Debug, Clone)]
enum Op {
    /// Put `size` bytes under key `key` with compute cost `cost_us`.
    Put {
        key: usize,
        size: usize,
        cost_us: u64,
        fill: u8,
    },
    /// Get key `key`.
    Get(usize),
    /// Pin key `key`.
    Pin(usize),
    /// Unpin key `key` (also when it is not pinned: must be harmless).
    Unpin(usize),
    /// Move the clock forward (past the index refresh interval sometimes).
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..KEYS, 0usize..5000, 0u64..10_000_000, any::<u8>())
            .prop_map(|(key, size, cost_us, fill)| Op::Put { key, size, cost_us, fill }),
        3 => (0..KEYS).prop_map(Op::Get),
        1 => (0..KEYS).prop_map(Op::Pin),
        1 => (0..KEYS).prop_map(Op::Unpin),
        1 => prop_oneof![0u64..2000, Just(11_000u64), 0u64..3_600_000].prop_map(Op::Advance),
    ]
}

/// Two keys in three are persistent (memory + store); the rest are memory-only.
fn key_of(i: usize) -> Key {
    let step = if i % 3 == 2 { "memo" } else { "persist" };
    Key::of(step).arg("i", i).build().expect("a valid key")
}

/// A value of `size` bytes that compresses somewhat (so compression is exercised too).
fn value_of(size: usize, fill: u8) -> Value {
    Value::bytes((0..size).map(|i| fill.wrapping_add((i / 7) as u8)).collect::<Vec<u8>>())
}

/// Checks the store and memory budgets and that the index matches the store's real contents.
fn check_budgets(
    cache: &Cache<MemoryStore, ManualClock>,
    store_budget: u64,
    memory_budget: u64,
) -> Result<(), TestCaseError> {
    let stats = block_on(cache.stats()).expect("stats");
    prop_assert!(
        stats.store.bytes <= store_budget,
        "store {} > budget {}",
        stats.store.bytes,
        store_budget
    );
    prop_assert!(
        stats.memory.bytes <= memory_budget,
        "memory {} > budget {}",
        stats.memory.bytes,
        memory_budget
    );
    let listed = block_on(cache.store().list()).expect("list");
    let actual: u64 = listed.iter().map(|l| l.len).sum();
    prop_assert_eq!(
        actual,
        stats.store.bytes,
        "store holds {} bytes but stats say {}",
        actual,
        stats.store.bytes
    );
    prop_assert_eq!(listed.len() as u64, stats.store.entries);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// After every put both tiers are within budget and the store's real bytes equal the
    /// engine's count; every hit returns a value put under that key; and a pinned key that
    /// was cached while pinned stays gettable until it is unpinned.
    #[test]
    fn engine_keeps_budgets_and_pins(
        store_budget in prop_oneof![1 => Just(0u64), 9 => 1_000u64..16_000],
        memory_budget in 0u64..12_000,
        compress in any::<bool>(),
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let config = Config::new()
            .store_budget(store_budget)
            .memory_budget(memory_budget)
            .compression(compress)
            .retention("memo", Retention::Memory)
            .unwrap();
        let cache = Cache::new(MemoryStore::new(), ManualClock::new(1_750_000_000_000), config).unwrap();
        let keys: Vec<Key> = (0..KEYS).map(key_of).collect();
        // Every value put under each key (a hit must return one of them).
        let mut put: Vec<Vec<Value>> = vec![Vec::new(); KEYS];
        let mut pins = [0u32; KEYS];
        // Pinned and known to be cached: must stay gettable while pinned.
        let mut protected = [false; KEYS];

        for op in ops {
            match op {
                Op::Put { key, size, cost_us, fill } => {
                    let value = value_of(size, fill);
                    put[key].push(value.clone());
                    let report = block_on(cache.put_with_cost(&keys[key], value, cost_us)).unwrap();
                    let stored = report.memory == TierOutcome::Stored || report.store == TierOutcome::Stored;
                    if report.store == TierOutcome::Stored {
                        let listed = block_on(cache.store().list()).unwrap();
                        let id = keys[key].fingerprint();
                        prop_assert!(listed.iter().any(|l| l.id == *id), "stored key {} not in store", key);
                    }
                    if pins[key] > 0 && stored {
                        protected[key] = true;
                    }
                    check_budgets(&cache, store_budget, memory_budget)?;
                }
                Op::Get(key) => {
                    if let Some(hit) = block_on(cache.get(&keys[key])).unwrap() {
                        prop_assert!(put[key].contains(&hit.value), "key {} returned a value never put", key);
                    }
                }
                Op::Pin(key) => {
                    cache.pin(&keys[key]);
                    pins[key] += 1;
                    if !protected[key] {
                        protected[key] = block_on(cache.get(&keys[key])).unwrap().is_some();
                    }
                }
                Op::Unpin(key) => {
                    cache.unpin(&keys[key]);
                    if pins[key] > 0 {
                        pins[key] -= 1;
                        if pins[key] == 0 {
                            protected[key] = false;
                        }
                    }
                }
                Op::Advance(ms) => cache.clock().advance(ms),
            }
            for (i, key) in keys.iter().enumerate().filter(|(i, _)| protected[*i]) {
                let hit = block_on(cache.get(key)).unwrap();
                prop_assert!(hit.is_some(), "pinned key {} was evicted", i);
                prop_assert!(put[i].contains(&hit.unwrap().value), "pinned key {} returned a value never put", i);
            }
        }
        check_budgets(&cache, store_budget, memory_budget)?;
    }
}
