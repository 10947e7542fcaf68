//! The engine's bookkeeping: both tiers' slots, counters, pins, flights. No IO.

use alloc::string::String;
use alloc::vec::Vec;

use crate::map::HashMap;

use super::flight::Flights;
use super::held::Held;
use crate::entry::PayloadCheck;
use crate::error::{Error, ErrorKind, Result};
use crate::evict::{self, Candidate};
use crate::fingerprint::Fingerprint;
use crate::policy::{Config, Force, TypePolicy};
use crate::stats::{Stats, TierStats, TypeStats};
use crate::sync::Counter;

/// What a tier knows of one entry.
#[derive(Clone)]
pub(crate) struct Slot<T> {
    pub(crate) step: String,
    pub(crate) size: u64,
    pub(crate) created_ms: u64,
    pub(crate) cost_us: u64,
    pub(crate) last_use_ms: Counter,
    pub(crate) hits: Counter,
    /// The payload checksum of the stored version this slot holds: what tells it from a
    /// version another handle wrote since (a placeholder if it was never stored).
    pub(crate) version: PayloadCheck,
    /// The store's [`crate::Store::changes`] when this slot was last known to hold the
    /// stored version.
    pub(crate) checked: Counter,
    pub(crate) payload: T,
}

/// One tier's slots and counters: the memory tier (holding values) or the store's index.
pub(crate) struct Shelf<T> {
    pub(crate) slots: HashMap<Fingerprint, Slot<T>>,
    pub(crate) stats: TierStats,
    /// Hits and misses counted under the shared (read) lock; [`Shelf::snapshot`] adds them in.
    pub(crate) shared_hits: Counter,
    pub(crate) shared_misses: Counter,
}

impl<T> Shelf<T> {
    pub(crate) fn new(budget: u64) -> Self {
        Shelf {
            slots: HashMap::default(),
            stats: TierStats {
                budget,
                ..TierStats::default()
            },
            shared_hits: Counter::default(),
            shared_misses: Counter::default(),
        }
    }

    /// The tier's counters.
    pub(crate) fn snapshot(&self) -> TierStats {
        TierStats {
            hits: self.stats.hits + self.shared_hits.get(),
            misses: self.stats.misses + self.shared_misses.get(),
            ..self.stats
        }
    }

    pub(crate) fn insert(&mut self, id: Fingerprint, slot: Slot<T>) {
        self.stats.bytes += slot.size;
        self.stats.entries += 1;
        if let Some(old) = self.slots.insert(id, slot) {
            self.stats.bytes -= old.size;
            self.stats.entries -= 1;
        }
    }

    /// The keys of the slots of `step` (of every step if `None`).
    pub(crate) fn ids_of(&self, step: Option<&str>) -> Vec<Fingerprint> {
        self.slots
            .iter()
            .filter(|(_, s)| step.is_none_or(|want| want == s.step))
            .map(|(id, _)| *id)
            .collect()
    }

    pub(crate) fn remove(&mut self, id: &Fingerprint) -> Option<Slot<T>> {
        let old = self.slots.remove(id)?;
        self.stats.bytes -= old.size;
        self.stats.entries -= 1;
        Some(old)
    }

    /// Counts a use of `id` at `now_ms`; false if the shelf has no slot for it.
    pub(crate) fn touch(&mut self, id: &Fingerprint, now_ms: u64) -> bool {
        let Some(slot) = self.slots.get(id) else {
            return false;
        };
        slot.hits.add(1);
        slot.last_use_ms.raise(now_ms);
        true
    }

    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.stats.bytes = 0;
        self.stats.entries = 0;
    }

    /// Plans room for `incoming` bytes under `id`, never evicting pinned or in-flight entries.
    /// `None` if it cannot fit. `adjust` fills in what the shelf does not know of each
    /// candidate (see [`Shelf::candidates`]).
    pub(crate) fn plan_room(
        &self,
        id: &Fingerprint,
        incoming: u64,
        now_ms: u64,
        adjust: impl Fn(&mut Candidate),
    ) -> Option<Vec<Fingerprint>> {
        self.plan_room_within(Some(id), incoming, self.stats.budget, now_ms, adjust)
    }

    /// Plans room for `incoming` bytes within `budget` (never evicting `id`).
    pub(crate) fn plan_room_within(
        &self,
        id: Option<&Fingerprint>,
        incoming: u64,
        budget: u64,
        now_ms: u64,
        adjust: impl Fn(&mut Candidate),
    ) -> Option<Vec<Fingerprint>> {
        // Most puts fit: decide that without looking at every entry, so a put costs the
        // same with ten entries held as with a million.
        let replaced = id.and_then(|id| self.slots.get(id)).map_or(0, |s| s.size);
        if self.stats.bytes - replaced + incoming <= budget {
            return Some(Vec::new());
        }
        let candidates = self.candidates(id, adjust);
        let victims = evict::plan(&candidates, budget, incoming, now_ms)?;
        Some(victims.into_iter().map(|i| candidates[i].id).collect())
    }

    /// Every entry but `id`, as eviction candidates, each passed through `adjust`, which
    /// says whether it is pinned and, for the store's index, adds the uses the memory
    /// tier saw (a hit from memory is a use of the stored entry too).
    pub(crate) fn candidates(&self, id: Option<&Fingerprint>, adjust: impl Fn(&mut Candidate)) -> Vec<Candidate> {
        self.slots
            .iter()
            .filter(|(other, _)| Some(*other) != id)
            .map(|(other, slot)| {
                let mut candidate = Candidate {
                    id: *other,
                    size: slot.size,
                    last_use_ms: slot.last_use_ms.get(),
                    hits: slot.hits.get(),
                    cost_us: slot.cost_us,
                    pinned: false,
                };
                adjust(&mut candidate);
                candidate
            })
            .collect()
    }
}

/// One type's counters: those changed under the write lock, and the hits counted by
/// memory-tier hits under the shared lock.
pub(crate) struct TypeCounters {
    pub(crate) stats: TypeStats,
    pub(crate) shared_hits: Counter,
    pub(crate) shared_saved_us: Counter,
}

/// Everything the engine keeps between calls.
pub(crate) struct State {
    pub(crate) config: Config,
    pub(crate) force: Force,
    pub(crate) force_since_ms: u64,
    pub(crate) memory: Shelf<Held>,
    pub(crate) index: Shelf<()>,
    /// When the index was last rebuilt from the store's listing (`None`: never).
    pub(crate) index_listed_ms: Option<u64>,
    /// The store's [`crate::Store::changes`] when it was last listed.
    pub(crate) index_listed_epoch: u64,
    /// Per step. A list searched by name, as `Config`'s policies are: a cache keeps a few
    /// result types, whose names a scan compares as fast as a map would hash one, and a
    /// second string-keyed hash table was 0.5 KB of the npm package's module gzipped.
    pub(crate) types: Vec<TypeCounters>,
    pub(crate) corrupt_removed: u64,
    pub(crate) waited_computes: u64,
    pub(crate) flights: Flights,
    /// Keys of forced steps stored since the force was set: fresh again.
    pub(crate) refreshed: crate::map::HashSet<Fingerprint>,
    pub(crate) pins: HashMap<Fingerprint, u32>,
    pub(crate) shared: super::shared::SharedState,
    pub(crate) promotions: super::promote::Promotions,
    pub(crate) lasting: super::lasting::Lasting,
    /// Local writes (puts, invalidations, clears) that ended, counted per stripe of keys
    /// (see [`State::write_count`]).
    pub(crate) writes: [u64; WRITE_STRIPES],
    pub(crate) closed: bool,
}

/// Stripes of [`State::writes`]: a write of one key makes lookups of the keys of its
/// stripe skip promoting what they read meanwhile (harmless: they are read again).
const WRITE_STRIPES: usize = 64;

impl State {
    /// Fills in what the store's index does not know of an eviction candidate: whether it
    /// is pinned, and the uses the memory tier saw of it.
    pub(crate) fn as_stored_candidate(&self, candidate: &mut Candidate) {
        candidate.pinned = self.is_pinned(&candidate.id);
        if let Some(held) = self.memory.slots.get(&candidate.id) {
            candidate.hits += held.hits.get();
            candidate.last_use_ms = candidate.last_use_ms.max(held.last_use_ms.get());
        }
    }

    pub(crate) fn new(config: Config) -> Self {
        State {
            memory: Shelf::new(config.memory_budget),
            index: Shelf::new(config.store_budget),
            config,
            force: Force::None,
            force_since_ms: 0,
            index_listed_ms: None,
            index_listed_epoch: 0,
            types: Vec::new(),
            corrupt_removed: 0,
            waited_computes: 0,
            flights: Flights::default(),
            refreshed: crate::map::HashSet::default(),
            pins: HashMap::default(),
            shared: super::shared::SharedState::default(),
            promotions: super::promote::Promotions::default(),
            lasting: super::lasting::Lasting::default(),
            writes: [0; WRITE_STRIPES],
            closed: false,
        }
    }

    /// How many local writes of `id`'s stripe have ended. A lookup notes it before it
    /// reads, and promotes what it read (into memory or the store) only if it has not
    /// moved when it promotes: a put or invalidation that ended meanwhile is never undone
    /// by an older value put back.
    pub(crate) fn write_count(&self, id: &Fingerprint) -> u64 {
        self.writes[usize::from(id.as_bytes()[0]) % WRITE_STRIPES]
    }

    /// Counts a local write of `id` that ends now (see [`State::write_count`]).
    pub(crate) fn note_write(&mut self, id: &Fingerprint) {
        self.writes[usize::from(id.as_bytes()[0]) % WRITE_STRIPES] += 1;
    }

    /// Counts a write of every key (a clear).
    pub(crate) fn note_write_all(&mut self) {
        for count in &mut self.writes {
            *count += 1;
        }
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed {
            return Err(Error::new(ErrorKind::Closed, "the cache was closed; open it again"));
        }
        Ok(())
    }

    pub(crate) fn policy(&self, step: &str) -> TypePolicy {
        self.config.policy(step)
    }

    pub(crate) fn type_stats(&mut self, step: &str) -> &mut TypeStats {
        let at = match self.types.iter().position(|t| t.stats.step == step) {
            Some(at) => at,
            None => {
                self.types.push(TypeCounters {
                    stats: TypeStats {
                        step: step.into(),
                        ..TypeStats::default()
                    },
                    shared_hits: Counter::default(),
                    shared_saved_us: Counter::default(),
                });
                self.types.len() - 1
            }
        };
        &mut self.types[at].stats
    }

    pub(crate) fn type_counters(&self, step: &str) -> Option<&TypeCounters> {
        self.types.iter().find(|t| t.stats.step == step)
    }

    /// Whether an entry of `step` created at `created_ms` may be returned at `now_ms`:
    /// not older than the type's maximum age, and not from before a forced recompute.
    pub(crate) fn fresh(&self, id: &Fingerprint, step: &str, created_ms: u64, now_ms: u64) -> Freshness {
        self.freshness(id, step, &self.policy(step), created_ms, now_ms)
    }

    /// [`State::fresh`] with the type's `policy` already looked up: the one place that
    /// decides whether a result is forced, expired or fresh.
    pub(crate) fn freshness(
        &self,
        id: &Fingerprint,
        step: &str,
        policy: &TypePolicy,
        created_ms: u64,
        now_ms: u64,
    ) -> Freshness {
        if self.force.covers(step) && created_ms <= self.force_since_ms && !self.refreshed.contains(id) {
            return Freshness::Forced;
        }
        match policy.max_age_ms {
            Some(max) if now_ms.saturating_sub(created_ms) > max => Freshness::Expired,
            _ => Freshness::Fresh,
        }
    }

    /// Removes the memory-tier entries of `step` (of every step if `None`); their keys.
    pub(crate) fn drop_memory_of(&mut self, step: Option<&str>) -> Vec<Fingerprint> {
        let doomed = self.memory.ids_of(step);
        for id in &doomed {
            self.memory.remove(id);
        }
        doomed
    }

    pub(crate) fn is_pinned(&self, id: &Fingerprint) -> bool {
        self.pins.contains_key(id) || self.flights.contains(id)
    }

    /// The counters at `now` (which says whether the shared tier is left alone).
    pub(crate) fn snapshot(&self, now: u64) -> Stats {
        let mut types: Vec<TypeStats> = self
            .types
            .iter()
            .map(|t| TypeStats {
                hits: t.stats.hits + t.shared_hits.get(),
                saved_us: t.stats.saved_us + t.shared_saved_us.get(),
                ..t.stats.clone()
            })
            .collect();
        crate::sort::sort_by(&mut types, |a, b| a.step.cmp(&b.step));
        Stats {
            memory: self.memory.snapshot(),
            store: self.index.snapshot(),
            types,
            corrupt_removed: self.corrupt_removed,
            waited_computes: self.waited_computes,
            shared: self.shared.snapshot(now),
            all_time: Vec::new(),
        }
    }
}

/// Whether a found entry may be returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    Fresh,
    Expired,
    Forced,
}
