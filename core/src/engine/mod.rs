//! The engine: the one place that sequences storage calls.
//!
//! memory tier -> store -> decode -> verify -> promote -> stats, for every store and
//! every platform. Adapters implement only [`Store`] primitives.

mod flight;
mod held;
mod join;
mod lasting;
mod maintain;
mod promote;
mod read;
mod region;
mod report;
mod shared;
mod state;
mod transfer;
mod write;

use alloc::string::ToString;
use alloc::vec::Vec;
use core::fmt::Display;
use core::future::Future;

pub use maintain::{EntryRead, Imported, Incoming};
pub use report::{EntryInfo, EntryState, Hit, PutReport, SkipReason, Source, Status, TierOutcome};
pub use shared::{DEFAULT_RETRY_AFTER_MS, NoShared, SharedTier};
pub use transfer::Transfer;
pub use write::MEMORY_SLOT_OVERHEAD;

/// What a compute function of [`Cache::get_or_compute`] returns: the [`Value`] itself (or
/// a type that makes one, such as a struct deriving `stepcache::Record`), or a `Result` of
/// it whose error, of any type that displays, becomes an [`ErrorKind::Compute`] error
/// with that text.
pub trait Computed {
    /// The value, or the compute error.
    ///
    /// # Errors
    /// [`ErrorKind::Compute`] with the text of the compute function's error.
    fn into_value(self) -> Result<Value>;
}

impl Computed for Value {
    fn into_value(self) -> Result<Value> {
        Ok(self)
    }
}

impl<T: Computed, E: Display> Computed for core::result::Result<T, E> {
    fn into_value(self) -> Result<Value> {
        self.map_err(|e| Error::new(ErrorKind::Compute, e.to_string()))?
            .into_value()
    }
}

use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::key::Key;
use crate::policy::{Access, Config, Force, Retention, TypePolicy};
use crate::stats::Stats;
use crate::store::Store;
use crate::sync::Lock;
use crate::value::{Value, ValueRef};
use flight::{Claim, Landing};
use held::Held;
use read::Lookup;
use state::State;
use write::Writing;

/// The index is rebuilt from the store's listing at least this often, so entries that
/// other processes or tabs add and remove are seen by budgets and stats.
pub const INDEX_REFRESH_MS: u64 = 10_000;

/// A cache of step results over a [`Store`], with time from a [`Clock`], and optionally a
/// shared tier behind it on a second store `R` that other machines use too
/// ([`Cache::with_shared`]; [`NoShared`] when there is none).
///
/// Every method takes `&self`; natively the cache is `Send + Sync` and can be shared
/// between threads (in an `Arc`).
///
/// # Example
/// ```
/// use stepcache_core::{Cache, Config, Key, ManualClock, MemoryStore, Value};
/// # pollster::block_on(async {
/// let cache = Cache::new(MemoryStore::new(), ManualClock::new(0), Config::new()).unwrap();
/// let key = Key::of("t1_map").arg("tr_ms", 15.0).build().unwrap();
/// let hit = cache
///     .get_or_compute(&key, || async { Value::array(vec![1.0f32; 8], &[2, 4]) })
///     .await
///     .unwrap();
/// assert!(!hit.source.is_hit());
/// assert!(cache.get(&key).await.unwrap().is_some());
/// # });
/// ```
pub struct Cache<S, C, R = NoShared> {
    store: S,
    clock: C,
    shared: Option<SharedTier<R>>,
    state: Lock<State>,
}

impl<S: Store, C: Clock> Cache<S, C> {
    /// A cache over `store` with `config`, without a shared tier. Does no IO: the store
    /// is listed on first need.
    ///
    /// # Errors
    /// None today; reserved for configuration checks that need the store.
    pub fn new(store: S, clock: C, config: Config) -> Result<Self> {
        Ok(Cache {
            store,
            clock,
            shared: None,
            state: Lock::new(State::new(config)),
        })
    }
}

impl<S: Store, C: Clock, R: Store> Cache<S, C, R> {
    /// A cache over `store` with a shared tier behind it (see `docs/shared.md`), or
    /// with none if `shared` is `None`: results of the types whose policy is
    /// [`TypePolicy::shared`] are read from it on a local miss and written to it after
    /// the local store. Does no IO.
    ///
    /// # Errors
    /// None today; reserved for configuration checks that need the stores.
    pub fn with_shared(store: S, shared: impl Into<Option<SharedTier<R>>>, clock: C, config: Config) -> Result<Self> {
        let shared = shared.into();
        let mut state = State::new(config);
        state.shared.stats.enabled = shared.is_some();
        Ok(Cache {
            store,
            clock,
            shared,
            state: Lock::new(state),
        })
    }

    /// The store underneath.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Looks `key` up in memory, then in the store.
    ///
    /// A damaged, truncated, expired or unknown-format entry is a miss and is removed.
    ///
    /// # Errors
    /// [`ErrorKind::ReadDisabled`] if reading is switched off, [`ErrorKind::Closed`], or
    /// the store's error.
    pub async fn get(&self, key: &Key) -> Result<Option<Hit>> {
        self.lookup(key, Lookup::Get).await
    }

    /// Whether `key` is cached and fresh (the payload is verified only when read).
    ///
    /// # Errors
    /// [`ErrorKind::Closed`] or the store's error.
    pub async fn has(&self, key: &Key) -> Result<bool> {
        Ok(matches!(
            self.state_of(key).await?.state,
            EntryState::Memory | EntryState::Stored | EntryState::Shared
        ))
    }

    /// Stores `value` under `key` as the key's type policy says (compute cost unknown).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidValue`] for metadata over 1 MiB, [`ErrorKind::Closed`], or the
    /// store's error (then nothing stored before is lost).
    pub async fn put(&self, key: &Key, value: Value) -> Result<PutReport> {
        self.put_with_cost(key, value, 0).await
    }

    /// Stores `value` with its measured compute cost in microseconds (eviction keeps
    /// costly results longer).
    ///
    /// # Errors
    /// As [`Cache::put`].
    pub async fn put_with_cost(&self, key: &Key, value: Value, cost_us: u64) -> Result<PutReport> {
        self.write(key, Incoming::Value(value, cost_us)).await
    }

    /// Stores `value`, which the caller keeps, straight from the caller's memory: no copy
    /// of a large array is made. The memory tier is left without it (it would need a
    /// copy that cannot change under it), so the next get reads it from the store, a
    /// memory map on the filesystem; a type kept only in memory gets that copy instead.
    /// Otherwise as [`Cache::put`].
    ///
    /// # Errors
    /// As [`Cache::put`].
    ///
    /// # Example
    /// ```
    /// # pollster::block_on(async {
    /// use stepcache_core::{Cache, Config, Key, ManualClock, MemoryStore, ValueRef};
    /// let cache = Cache::new(MemoryStore::new(), ManualClock::new(0), Config::new()).unwrap();
    /// let key = Key::of("t1_map").arg("tr", 15.0).build().unwrap();
    /// let map = vec![1.25f32; 64 * 64];
    /// cache.put_ref(&key, ValueRef::slice(&map, &[64, 64]).unwrap()).await.unwrap();
    /// let hit = cache.get(&key).await.unwrap().unwrap();
    /// assert_eq!(hit.value.as_slice::<f32>().unwrap(), &map[..]);
    /// # });
    /// ```
    pub async fn put_ref(&self, key: &Key, value: ValueRef<'_>) -> Result<PutReport> {
        if self.state.with(|st| st.policy(key.step()).retention) == Retention::Memory {
            // The memory tier is the only one that keeps it: a copy, then.
            return self.put(key, value.to_value()).await;
        }
        let writing = Writing {
            value,
            owned: None,
            made: None,
            keep: false,
            cost_us: 0,
        };
        self.store_value(key, writing, &mut None, self.clock.now_ms()).await
    }

    /// Returns the cached value of `key`, or computes it with `compute`, measures how long
    /// that took, and stores it as the type's policy says.
    ///
    /// Concurrent calls for one key in this process compute once; the others wait and
    /// share the value. A forced step is recomputed once. If storing fails, the value is
    /// still returned, kept in memory where the policy allows, and the failure is in
    /// [`Hit::stored`]. A compute that awaits this call for its own key waits for itself:
    /// the engine cannot tell it from another caller (a blocking binding that runs
    /// computes on the caller's thread can, and refuses it).
    ///
    /// `compute` returns the [`Value`], or a `Result` of it whose error is anything
    /// displayable (see [`Computed`]).
    ///
    /// # Errors
    /// [`ErrorKind::Compute`] with the compute function's error text,
    /// [`ErrorKind::ComputeDisabled`] on a miss when computing is switched off,
    /// [`ErrorKind::Closed`], or the store's error while reading.
    ///
    /// # Example
    /// ```
    /// # pollster::block_on(async {
    /// use stepcache_core::{Cache, Config, Key, ManualClock, MemoryStore, Value};
    /// let cache = Cache::new(MemoryStore::new(), ManualClock::new(0), Config::new()).unwrap();
    /// let key = Key::of("smooth").arg("sigma", 1.5).build().unwrap();
    /// // An infallible step returns the value itself.
    /// let hit = cache.get_or_compute(&key, || async { Value::array(vec![0.5f32; 4], &[4]).unwrap() }).await.unwrap();
    /// // A fallible one returns a Result with its own error type.
    /// let again = cache
    ///     .get_or_compute(&key, || async { Value::array(vec![0.5f32; 4], &[4]) })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(hit.value, again.value);
    /// # });
    /// ```
    pub async fn get_or_compute<F, Fut>(&self, key: &Key, compute: F) -> Result<Hit>
    where
        F: FnOnce() -> Fut,
        Fut: Future,
        Fut::Output: Computed,
    {
        self.get_or_try_compute(key, || async { compute().await.into_value() })
            .await
    }

    /// [`Cache::get_or_compute`] for a `compute` that fails with a stepcache [`Error`],
    /// which is returned as it is (its kind and message kept) instead of becoming
    /// [`ErrorKind::Compute`]: for callers whose compute step already says what went
    /// wrong, such as the npm package, whose wrapper tells a bad value
    /// ([`ErrorKind::InvalidValue`]) from a failed computation.
    ///
    /// # Errors
    /// The error of `compute`, or as [`Cache::get_or_compute`].
    pub async fn get_or_try_compute<F, Fut>(&self, key: &Key, compute: F) -> Result<Hit>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Value>>,
    {
        let id = *key.fingerprint();
        loop {
            let access = self.access()?;
            if access.read
                && let Some(hit) = self.lookup(key, Lookup::Counted).await?
            {
                return Ok(hit);
            }
            let flight = match self.state.with(|st| st.flights.claim(&id)) {
                Claim::Mine(flight) => flight,
                Claim::Wait(flight) => {
                    if let Some(held) = flight.wait().await {
                        let now = self.clock.now_ms();
                        self.state.with(|st| st.waited_computes += 1);
                        return Ok(Hit {
                            value: held.value,
                            fingerprint: id,
                            content: held.content,
                            source: Source::Waited,
                            created_ms: now,
                            cost_us: 0,
                            stored: None,
                        });
                    }
                    continue;
                }
            };
            let mut landing = Landing {
                state: &self.state,
                flights: |st| &mut st.flights,
                id,
                flight,
                value: None,
            };
            // Other processes, tabs or workers computing this key finish before we look again;
            // then other machines, where the type is shared (one lease per machine at most).
            let _exclusive = self.store.lock(&id).await?;
            let policy = self.state.with(|st| st.policy(key.step()));
            let _lease = self.shared_lock(&id, &policy, self.clock.now_ms()).await;
            // Another caller may have stored the value between our lookup and our claim.
            if access.read
                && let Some(hit) = self.lookup(key, Lookup::Quiet).await?
            {
                landing.value = Some(Held {
                    value: hit.value.clone(),
                    content: hit.content,
                });
                return Ok(hit);
            }
            if !access.compute {
                return Err(Error::new(
                    ErrorKind::ComputeDisabled,
                    crate::text!(key, " is not cached and computing is switched off"),
                ));
            }
            let started = self.clock.monotonic_us();
            let value = compute().await?;
            let cost_us = self.clock.monotonic_us().saturating_sub(started);
            let created_ms = self.clock.now_ms();
            // Once: the memory tier, waiting callers and the caller's lineage share it.
            let mut content = None;
            let stored = match self
                .store_value(
                    key,
                    Writing {
                        keep: true,
                        ..Writing::of(&value, cost_us)
                    },
                    &mut content,
                    created_ms,
                )
                .await
            {
                Ok(report) => report,
                Err(e) => PutReport {
                    memory: TierOutcome::Failed(e.kind()),
                    store: TierOutcome::Failed(e.kind()),
                    shared: TierOutcome::Failed(e.kind()),
                },
            };
            let content = content.unwrap_or_else(|| value.content());
            self.state.with(|st| {
                let t = st.type_stats(key.step());
                t.computes += 1;
                t.compute_us += cost_us;
            });
            landing.value = Some(Held {
                value: value.clone(),
                content,
            });
            return Ok(Hit {
                value,
                fingerprint: id,
                content,
                source: Source::Computed,
                created_ms,
                cost_us,
                stored: Some(stored),
            });
        }
    }

    /// Removes `key` from every tier, the shared tier included where its type is shared.
    ///
    /// If the shared tier cannot remove it now, this machine never reads it from there
    /// again, and the removal is retried (see [`Cache::flush_shared`]); the failure is
    /// in [`crate::SharedStats`].
    ///
    /// # Errors
    /// [`ErrorKind::Closed`] or the store's error.
    pub async fn invalidate(&self, key: &Key) -> Result<()> {
        let id = key.fingerprint();
        self.check_open()?;
        let _lock = self.write_lock(id).await;
        let policy = self.state.with(|st| {
            st.check_open()?;
            st.promotions.cancel(id);
            st.memory.remove(id);
            Ok::<_, Error>(st.policy(key.step()))
        })?;
        // The index follows the store: an entry the store could not remove is still there.
        self.store.delete(id).await?;
        self.state.with(|st| {
            st.index.remove(id);
            // A lookup that read the entry before the delete does not put it back.
            st.memory.remove(id);
            st.note_write(id);
        });
        self.shared_remove(id, &policy, self.clock.now_ms()).await;
        Ok(())
    }

    /// Removes every entry, or every entry of one step, from this machine (memory and
    /// store; the shared tier keeps its copies, for the other machines); returns how many
    /// were removed.
    ///
    /// # Errors
    /// [`ErrorKind::Closed`] or the store's error (entries removed before it stay removed).
    pub async fn clear(&self, step: Option<&str>) -> Result<u64> {
        let now = self.clock.now_ms();
        self.state.with(|st| st.check_open())?;
        self.settle_writes(step).await;
        self.refresh_index(now, true).await?;
        let (mut removed, doomed) = self.state.with(|st| {
            let in_memory = st.drop_memory_of(step);
            let doomed = st.index.ids_of(step);
            // Count each key once, whether it was in one tier or both.
            let only_in_memory = in_memory.iter().filter(|id| !st.index.slots.contains_key(*id)).count();
            (only_in_memory as u64, doomed)
        });
        for id in doomed {
            self.store.delete(&id).await?;
            self.state.with(|st| st.index.remove(&id));
            removed += 1;
        }
        // Lookups that read an entry before its delete do not put it back.
        self.state.with(|st| {
            st.drop_memory_of(step);
            st.note_write_all();
        });
        Ok(removed)
    }

    /// The counters, with the store's bytes and entries as of the latest listing (at most
    /// [`INDEX_REFRESH_MS`] old).
    ///
    /// # Errors
    /// [`ErrorKind::Closed`] or the store's error while listing.
    pub async fn stats(&self) -> Result<Stats> {
        self.state.with(|st| st.check_open())?;
        let now = self.clock.now_ms();
        self.refresh_index(now, false).await?;
        Ok(self.state.with(|st| st.snapshot(now)))
    }

    /// Every entry in memory, in the store or in the shared tier (as of fresh listings),
    /// newest first. A shared tier that fails to list is counted in
    /// [`crate::SharedStats`] and lists nothing.
    ///
    /// # Errors
    /// [`ErrorKind::Closed`] or the store's error while listing.
    pub async fn entries(&self) -> Result<Vec<EntryInfo>> {
        self.state.with(|st| st.check_open())?;
        let now = self.clock.now_ms();
        let provenances = self.relist(now, true).await?;
        let in_shared = self.shared_listing(now).await;
        let mut out = self.state.with(|st| {
            let stored = st.index.slots.iter().map(|(id, s)| {
                let in_memory = st.memory.slots.get(id);
                let hits = s.hits.get() + in_memory.map_or(0, |m| m.hits.get());
                EntryInfo::of(id, s, hits, in_memory.is_some(), true)
            });
            let only_in_memory = st
                .memory
                .slots
                .iter()
                .filter(|(id, _)| !st.index.slots.contains_key(*id))
                .map(|(id, s)| EntryInfo::of(id, s, s.hits.get(), true, false));
            stored.chain(only_in_memory).collect::<Vec<EntryInfo>>()
        });
        // Sorted by key to find each shared entry's local one (the order is set below).
        crate::sort::sort_by(&mut out, |a, b| a.fingerprint.cmp(&b.fingerprint));
        let local = out.len();
        // Each listed entry's provenance goes to its row (an entry trimmed away since has
        // none to take).
        for (id, provenance) in provenances {
            if let Ok(i) = out[..local].binary_search_by(|e| e.fingerprint.cmp(&id)) {
                out[i].provenance = provenance;
            }
        }
        for (item, header) in in_shared {
            match out[..local].binary_search_by(|e| e.fingerprint.cmp(&item.id)) {
                Ok(i) => out[i].shared = true,
                Err(_) => out.push(EntryInfo {
                    fingerprint: item.id,
                    step: header.step,
                    bytes: item.len,
                    created_ms: header.created_ms,
                    cost_us: header.cost_us,
                    hits: 0,
                    in_memory: false,
                    stored: false,
                    shared: true,
                    provenance: header.provenance,
                }),
            }
        }
        crate::sort::sort_by(&mut out, |a, b| {
            b.created_ms.cmp(&a.created_ms).then(a.fingerprint.cmp(&b.fingerprint))
        });
        Ok(out)
    }

    /// The state of each key: in memory, stored, expired, forced, or missing.
    ///
    /// # Errors
    /// [`ErrorKind::Closed`] or the store's error.
    pub async fn status(&self, keys: &[Key]) -> Result<Vec<Status>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.state_of(key).await?);
        }
        Ok(out)
    }

    /// Sets which steps are recomputed: results of those steps stored before now are misses.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidStepName`] for a bad name in [`Force::Steps`].
    pub fn set_force(&self, force: Force) -> Result<()> {
        if let Force::Steps(steps) = &force {
            for step in steps {
                crate::key::validate_step_name(step)?;
            }
        }
        let now = self.clock.now_ms();
        self.state.with(|st| {
            st.force = force;
            st.force_since_ms = now;
            st.refreshed.clear();
        });
        Ok(())
    }

    /// Switches reading, computing and writing on or off.
    pub fn set_access(&self, access: Access) {
        self.state.with(|st| st.config.access = access);
    }

    /// Sets the retention of one step from now on; its age limit and compression stay.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidStepName`].
    pub fn set_retention(&self, step: &str, retention: Retention) -> Result<()> {
        self.state.with(|st| {
            let policy = TypePolicy {
                retention,
                ..st.config.policy(step)
            };
            st.config.set_type_policy(step, policy)
        })
    }

    /// Keeps `key` from being evicted from either tier until [`Cache::unpin`]. Pins nest.
    pub fn pin(&self, key: &Key) {
        self.state
            .with(|st| *st.pins.entry(*key.fingerprint()).or_insert(0) += 1);
    }

    /// Undoes one [`Cache::pin`].
    pub fn unpin(&self, key: &Key) {
        self.state.with(|st| {
            if let Some(n) = st.pins.get_mut(key.fingerprint()) {
                *n -= 1;
                if *n == 0 {
                    st.pins.remove(key.fingerprint());
                }
            }
        });
    }

    /// Drops `key`'s entry from this cache's memory tier only: another tab, worker or
    /// process changed or removed it in the shared store.
    pub fn forget(&self, id: &crate::Fingerprint) {
        self.state.with(|st| {
            st.memory.remove(id);
            st.index.remove(id);
            st.promotions.cancel(id);
        });
    }

    /// Drops every entry of `step` (or every entry) from this cache's memory tier only,
    /// after another tab, worker or process cleared them in the shared store.
    pub fn forget_step(&self, step: Option<&str>) {
        self.state.with(|st| {
            st.drop_memory_of(step);
            st.promotions.cancel_step(step);
            // The store's index is rebuilt from a fresh listing on its next use.
            st.index_listed_ms = None;
        });
    }

    /// Closes the cache: drops the memory tier; every later call fails with [`ErrorKind::Closed`].
    pub fn close(&self) {
        self.state.with(|st| {
            st.closed = true;
            st.memory.clear();
            st.promotions.cancel_step(None);
        });
    }

    /// Whether [`Cache::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.state.with(|st| st.closed)
    }

    /// Ok while the cache is open: for bindings whose own calls (such as building a key)
    /// must fail like the cache's once it is closed.
    ///
    /// # Errors
    /// [`ErrorKind::Closed`] once [`Cache::close`] was called.
    pub fn check_open(&self) -> Result<()> {
        self.state.with(|st| st.check_open())
    }

    fn access(&self) -> Result<Access> {
        self.state.with(|st| {
            st.check_open()?;
            Ok(st.config.access)
        })
    }
}

impl<S, C, R> core::fmt::Debug for Cache<S, C, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let stats = self.state.with(|st| st.snapshot(0));
        f.debug_struct("Cache")
            .field("memory", &stats.memory)
            .field("store", &stats.store)
            .finish_non_exhaustive()
    }
}
