#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod bundle;
mod clock;
mod default_dir;
mod dir;
mod error;
mod promoter;
mod reentry;
mod remote;
mod shared;
mod store;
mod sys;

use std::path::{Path, PathBuf};

pub use bundle::{ExportFilter, ExportReport, ImportReport};
pub use clock::SystemClock;
pub use default_dir::default_dir;
pub use remote::SharedStore;
pub use stepcache_core::entry::Corrupt;
#[cfg(feature = "shared")]
pub use stepcache_core::entry::TeamKey;
pub use stepcache_core::units;
pub use stepcache_core::{
    Access, Arg, Computed, Config, ElementType, EntryInfo, EntryRead, EntryState, Error, ErrorKind, Fingerprint, Force,
    FromPart, Hit, Imported, IntoPart, Key, KeyBuilder, PutReport, Result, Retention, SharedBytes, SkipReason, Source,
    Stats, Status, Step, StepArg, TierOutcome, TierStats, Transfer, TypePolicy, TypeStats, Value, ValueRef,
};
pub use stepcache_core::{ArgValue, KeyArgs, NamedArg, Provenance, ProvenanceRecord};
pub use stepcache_core::{MAX_ARG_NAME, MAX_INLINE_ARG, MAX_LIST_DEPTH, MAX_STEP_NAME};
pub use stepcache_core::{SharedStats, SharedTier};
#[cfg(feature = "shared")]
pub use stepcache_object::ObjectConfig;
pub use store::{COUNTERS_MIN_BUDGET, COUNTERS_ROOM, Durability, FsBytes, FsOptions, FsStore};

/// Caches a function as a step of a pipeline, keyed on every one of its arguments, so that
/// no argument can be left out of the key by mistake.
///
/// The function keeps its arguments and gains a first one, `cache: &Cache`; it returns
/// [`Result<Hit>`](Hit): the cached result for these arguments, or the function's own
/// result (a [`Value`], or a `Result` of one with a displayable error), computed once and
/// stored as [`Cache::get_or_compute`] does. Each argument enters the key under its name
/// through [`StepArg`]: numbers, `bool`, text and lists of these as values, a [`Value`] as
/// an array (element type, shape and bytes), a [`Hit`] of an earlier step by lineage (the
/// map is not hashed again). An argument of a type without `StepArg` does not compile.
///
/// Settings: `name = "..."` (the step's name; the function's by default), `version = N`
/// (bump it when the computation changes), `ignore(a, b)` (arguments that never change the
/// result, such as verbosity; they are left out of the key). The key is the one
/// [`Step::key`] builds from the same arguments, and the npm package's `cache.step` and
/// the Python package's `@cache.step` build for the same named arguments.
///
/// ```
/// use stepcache::{Cache, Value};
///
/// #[stepcache::step(version = 1, ignore(verbose))]
/// fn r1_map(t1: &Value, scale: f64, verbose: bool) -> stepcache::Result<Value> {
///     let t1: &[f32] = t1.as_slice()?;
///     if verbose {
///         println!("inverting {} voxels", t1.len());
///     }
///     Value::array(t1.iter().map(|&t| (scale / f64::from(t)) as f32).collect(), &[t1.len()])
/// }
///
/// # fn main() -> stepcache::Result<()> {
/// # let dir = std::env::temp_dir().join(format!("stepcache-step-doc-{}", std::process::id()));
/// let cache = Cache::open(&dir)?;
/// let t1 = Value::array(vec![800.0f32, 1400.0], &[2])?;
/// let first = r1_map(&cache, &t1, 1000.0, false)?;
/// let again = r1_map(&cache, &t1, 1000.0, true)?; // verbose is ignored: the same key
/// assert_eq!(again.fingerprint, first.fingerprint);
/// assert_eq!(again.value.as_slice::<f32>()?[0], 1.25);
/// # drop(cache);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok(())
/// # }
/// ```
///
/// An argument that cannot enter a key is a compile error, not a silent omission:
///
/// ```compile_fail
/// struct Settings;
///
/// #[stepcache::step]
/// fn fit(settings: Settings) -> stepcache::Value {
///     unimplemented!()
/// }
/// ```
///
/// and so is an `ignore` of an argument the function does not have:
///
/// ```compile_fail
/// #[stepcache::step(ignore(verbos))]
/// fn fit(verbose: bool) -> stepcache::Value {
///     unimplemented!()
/// }
/// ```
pub use stepcache_macros::step;

/// Makes a struct the several outputs of a step, stored as one record
/// ([`Value::record`]): one key, one atomic write, one verification.
///
/// Each named field is a part, named as the field: a [`Value`], a `Vec` of numbers (a 1-d
/// array) or a number (shape `[]`), through [`IntoPart`] and [`FromPart`]. The derive
/// implements [`Computed`], so a step function or a `get_or_compute` closure returns the
/// struct, and `TryFrom<&Value>`, which reads it back from a hit (each part a view of the
/// stored bytes when it is a `Value`).
///
/// ```
/// use stepcache::{Cache, Value};
///
/// #[derive(stepcache::Record)]
/// struct T1Fit {
///     t1: Value,
///     t1_sd: Vec<f32>,
///     mean_t1: f64,
/// }
///
/// #[stepcache::step(version = 1)]
/// fn t1_fit(signal: &Value) -> stepcache::Result<T1Fit> {
///     let n = signal.shape()[1] as usize;
///     Ok(T1Fit { t1: Value::array(vec![1000.0f32; n], &[n])?, t1_sd: vec![25.0; n], mean_t1: 1000.0 })
/// }
///
/// # fn main() -> stepcache::Result<()> {
/// # let dir = std::env::temp_dir().join(format!("stepcache-record-doc-{}", std::process::id()));
/// let cache = Cache::open(&dir)?;
/// let signal = Value::array(vec![100.0f32; 4 * 16], &[4, 16])?;
/// let hit = t1_fit(&cache, &signal)?;
/// let fit = T1Fit::try_from(&hit.value)?;
/// assert_eq!((fit.t1.shape(), fit.t1_sd.len(), fit.mean_t1), (&[16u64][..], 16, 1000.0));
/// # drop(cache);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok(())
/// # }
/// ```
pub use stepcache_macros::Record;

/// Drives an engine future on this thread. Filesystem calls finish within their first
/// poll, so most calls are ready at once and skip the parking machinery; a call that
/// waits (for another thread's computation of the same key) parks until woken.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => pollster::block_on(future),
    }
}

/// The async engine over the filesystem (and the shared tier, with the `shared`
/// feature), for callers that run their own executor.
pub type AsyncCache = stepcache_core::Cache<FsStore, SystemClock, SharedStore>;

/// A cache of step results on the local filesystem, with a memory tier in front.
///
/// Every method blocks the calling thread until done. `Cache` is `Send + Sync`: share
/// it between threads in an `Arc`, and several processes may open the same directory.
///
/// # Example
/// ```
/// use stepcache::{Cache, Key, Value};
/// # let dir = std::env::temp_dir().join(format!("stepcache-doc-{}", std::process::id()));
/// let cache = Cache::open(&dir)?;
/// let key = Key::of("smooth").arg("sigma_mm", 2.0).build()?;
/// let hit = cache.get_or_compute(&key, || Value::array(vec![0.25f32; 64 * 64], &[64, 64]))?;
/// assert_eq!(hit.value.as_slice::<f32>().unwrap().len(), 4096);
/// # drop(cache);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), stepcache::Error>(())
/// ```
#[derive(Debug)]
pub struct Cache {
    engine: std::sync::Arc<AsyncCache>,
    promoter: promoter::Promoter,
    /// The part of the store budget left to the lasting counters' file, not given to
    /// the engine (see [`Builder::open`]).
    counters_room: u64,
}

impl Drop for Cache {
    /// Writes the shared hits still waiting into the directory, and adds this session's
    /// counters to the directory's lasting ones, before the cache goes. A directory that
    /// cannot be written keeps its counters as they were.
    fn drop(&mut self) {
        self.promoter.finish();
        let _ = block_on(self.engine.save_stats());
    }
}

/// Configures and opens a [`Cache`].
#[derive(Debug, Clone, Default)]
pub struct Builder {
    dir: Option<PathBuf>,
    config: Config,
    options: FsOptions,
    shared: remote::SharedSettings,
    error: Option<Error>,
}

impl Builder {
    /// The cache directory (default: [`default_dir`]).
    pub fn dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Replaces the whole configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The memory tier's budget in bytes (0 keeps nothing in memory).
    pub fn memory_budget(mut self, bytes: u64) -> Self {
        self.config = self.config.memory_budget(bytes);
        self
    }

    /// The directory's budget in bytes (0 stores nothing on disk): every file the cache
    /// keeps counts, the lasting counters' too (see [`Builder::open`]).
    pub fn store_budget(mut self, bytes: u64) -> Self {
        self.config = self.config.store_budget(bytes);
        self
    }

    /// The retention of types without a policy of their own.
    pub fn default_retention(mut self, retention: Retention) -> Self {
        self.config = self.config.default_retention(retention);
        self
    }

    /// The retention of `step` (an invalid name is reported by [`Builder::open`]).
    pub fn retention(self, step: &str, retention: Retention) -> Self {
        self.try_config(|c| c.retention(step, retention))
    }

    /// The whole policy of `step` (an invalid name is reported by [`Builder::open`]).
    pub fn policy(self, step: &str, policy: TypePolicy) -> Self {
        self.try_config(|c| c.type_policy(step, policy))
    }

    /// A maximum age in milliseconds for types without a policy of their own.
    pub fn max_age_ms(self, ms: u64) -> Self {
        self.try_config(|c| c.max_age_ms(ms))
    }

    /// Compression for types without a policy of their own.
    pub fn compression(mut self, on: bool) -> Self {
        self.config = self.config.compression(on);
        self
    }

    /// The initial access mode.
    pub fn access(mut self, access: Access) -> Self {
        self.config = self.config.access(access);
        self
    }

    /// Whether writes wait for the disk.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.options.durability = durability;
        self
    }

    /// Whether entries of 256 KiB or more are memory-mapped, zero-copy (the default), or
    /// read into memory (see [`FsOptions::memory_map`]).
    pub fn memory_map(mut self, on: bool) -> Self {
        self.options.memory_map = on;
        self
    }

    /// Opens the directory read-only even if it can be written (see
    /// [`FsOptions::read_only`]): it must exist, nothing in it changes, hits are served,
    /// and `put`, `invalidate` and `clear` fail with [`ErrorKind::PermissionDenied`].
    pub fn read_only(mut self, on: bool) -> Self {
        self.options.read_only = on;
        self
    }

    /// A shared tier on the bucket `bucket` describes (see `docs/shared.md`): results of
    /// the types whose policy is shared ([`TypePolicy::shared`], or
    /// [`Builder::sharing`] for every type) are read from it on a local miss and written
    /// to it after the directory.
    #[cfg(feature = "shared")]
    pub fn shared(mut self, bucket: ObjectConfig) -> Self {
        self.shared.bucket = Some(bucket);
        self
    }

    /// Shares every type without a policy of its own (off by default: nothing leaves the
    /// machine unless asked to).
    #[cfg(feature = "shared")]
    pub fn sharing(mut self, on: bool) -> Self {
        self.config = self.config.sharing(on);
        self
    }

    /// Seals shared entries with the key derived from `secret`, and accepts only shared
    /// entries it sealed (a secret that is too short is reported by [`Builder::open`]).
    #[cfg(feature = "shared")]
    pub fn team_key(mut self, secret: impl AsRef<[u8]>) -> Self {
        match TeamKey::from_secret(secret.as_ref()) {
            Ok(key) => self.shared.team_key = Some(key),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// How long a failing shared tier is left alone before it is tried again (default
    /// 30 s).
    #[cfg(feature = "shared")]
    pub fn shared_retry_after(mut self, after: std::time::Duration) -> Self {
        self.shared.retry_after_ms = Some(u64::try_from(after.as_millis()).unwrap_or(u64::MAX));
        self
    }

    fn try_config(mut self, f: impl FnOnce(Config) -> Result<Config>) -> Self {
        match f(self.config.clone()) {
            Ok(config) => self.config = config,
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// Opens the cache, creating its directory owner-only if needed (never with
    /// [`Builder::read_only`]).
    ///
    /// The store budget counts every byte the cache keeps on disk. The lasting counters'
    /// file takes up to [`COUNTERS_ROOM`] of it, so the entries are kept within the
    /// budget less that room; a budget below [`COUNTERS_MIN_BUDGET`] leaves it all to the
    /// entries, and then no lasting counters are kept (see
    /// [`FsOptions::lasting_counters`]).
    ///
    /// # Errors
    /// The first invalid setting given to the builder; [`ErrorKind::InvalidConfig`] if no
    /// directory was given and the platform has none; or the directory's IO error.
    pub fn open(self) -> Result<Cache> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let dir = match self.dir.or_else(default_dir) {
            Some(dir) => dir,
            None => {
                return Err(Error::new(
                    ErrorKind::InvalidConfig,
                    "no cache directory given and none found (set STEPCACHE_DIR or HOME)",
                ));
            }
        };
        let budget = self.config.store_budget_bytes();
        let counters_room = if self.options.lasting_counters && budget >= COUNTERS_MIN_BUDGET {
            COUNTERS_ROOM
        } else {
            0
        };
        let options = FsOptions {
            lasting_counters: counters_room > 0,
            ..self.options
        };
        let store = FsStore::open_with(dir, options)?;
        let shared = self.shared.tier()?;
        let config = self.config.store_budget(budget - counters_room);
        let engine = stepcache_core::Cache::with_shared(store, shared, SystemClock::new(), config)?;
        Ok(Cache {
            engine: std::sync::Arc::new(engine),
            promoter: promoter::Promoter::default(),
            counters_room,
        })
    }
}

impl Cache {
    /// Opens a cache in `dir` with the default configuration.
    ///
    /// # Errors
    /// As [`Builder::open`].
    pub fn open(dir: impl AsRef<Path>) -> Result<Cache> {
        Cache::builder().dir(dir).open()
    }

    /// Starts configuring a cache.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The async engine underneath, for use from an async runtime. Shared hits found
    /// through it wait in memory until [`stepcache_core::Cache::promote_queued`] writes
    /// them into the directory: call it after them (this `Cache` does after its own calls).
    pub fn engine(&self) -> &AsyncCache {
        &self.engine
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        self.engine.store().dir()
    }

    /// Looks `key` up in memory, then on disk (verified). See [`stepcache_core::Cache::get`].
    ///
    /// # Errors
    /// [`ErrorKind::ReadDisabled`], or an IO error.
    pub fn get(&self, key: &Key) -> Result<Option<Hit>> {
        let hit = block_on(self.engine.get(key));
        self.promoter.kick(&self.engine);
        hit
    }

    /// Looks `key` up like [`Cache::get`] and returns only `region` of its value: one
    /// range per leading dimension, outermost first, the rest taken whole. From disk, a
    /// large uncompressed array is read (through its memory map) and verified only in the
    /// 1 MiB blocks the region touches. See [`stepcache_core::Cache::get_region`].
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] if the value is found and the region does not fit
    /// its shape; otherwise as [`Cache::get`].
    ///
    /// # Example
    /// ```
    /// use stepcache::{Cache, Key, Value};
    /// # let dir = std::env::temp_dir().join(format!("stepcache-doc-region-{}", std::process::id()));
    /// let cache = Cache::open(&dir)?;
    /// let key = Key::of("smoothed").arg("sigma", 1.5).build()?;
    /// // A [z, y, x] volume: 64 slices of 128 x 128.
    /// let volume: Vec<f32> = (0..64 * 128 * 128).map(|i| i as f32).collect();
    /// cache.put(&key, Value::array(volume, &[64, 128, 128])?)?;
    /// let slice = cache.get_region(&key, &[10..11, 0..128])?.expect("a hit");
    /// assert_eq!(slice.value.shape(), &[1, 128, 128]);
    /// assert_eq!(slice.value.as_slice::<f32>()?[0], (10 * 128 * 128) as f32);
    /// # drop(cache);
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), stepcache::Error>(())
    /// ```
    pub fn get_region(&self, key: &Key, region: &[std::ops::Range<u64>]) -> Result<Option<Hit>> {
        block_on(self.engine.get_region(key, region))
    }

    /// Whether `key` is cached and fresh.
    ///
    /// # Errors
    /// An IO error.
    pub fn has(&self, key: &Key) -> Result<bool> {
        block_on(self.engine.has(key))
    }

    /// Stores `value` under `key` as its type's policy says.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidValue`] for oversized metadata, [`ErrorKind::PermissionDenied`]
    /// if the cache was opened read-only, or an IO error (nothing stored before is lost).
    pub fn put(&self, key: &Key, value: Value) -> Result<PutReport> {
        block_on(self.engine.put(key, value))
    }

    /// Stores `value`, which the caller keeps, straight from the caller's memory: a large
    /// array is written to disk without a copy. The memory tier is left without it, so the
    /// next get reads it from disk (a memory map). See
    /// [`stepcache_core::Cache::put_ref`].
    ///
    /// # Errors
    /// As [`Cache::put`].
    ///
    /// # Example
    /// ```
    /// use stepcache::{Cache, Key, ValueRef};
    /// # let dir = std::env::temp_dir().join(format!("stepcache-doc-ref-{}", std::process::id()));
    /// let cache = Cache::open(&dir)?;
    /// let key = Key::of("t1_map").arg("tr", 15.0).build()?;
    /// let map = vec![1.25f32; 256 * 256];
    /// cache.put_ref(&key, ValueRef::slice(&map, &[256, 256])?)?;
    /// assert_eq!(cache.get(&key)?.unwrap().value.as_slice::<f32>()?, &map[..]);
    /// # drop(cache);
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), stepcache::Error>(())
    /// ```
    pub fn put_ref(&self, key: &Key, value: ValueRef<'_>) -> Result<PutReport> {
        block_on(self.engine.put_ref(key, value))
    }

    /// Stores `value` with its compute cost in microseconds.
    ///
    /// # Errors
    /// As [`Cache::put`].
    pub fn put_with_cost(&self, key: &Key, value: Value, cost_us: u64) -> Result<PutReport> {
        block_on(self.engine.put_with_cost(key, value, cost_us))
    }

    /// Returns the cached value of `key` or computes, times and stores it. Threads asking
    /// for one key at once compute it once. `compute` returns the [`Value`], or a
    /// `Result` of it with any displayable error (see [`Computed`]). See
    /// [`stepcache_core::Cache::get_or_compute`].
    ///
    /// # Errors
    /// [`ErrorKind::Compute`] with `compute`'s error text, [`ErrorKind::ComputeDisabled`],
    /// [`ErrorKind::InvalidArgument`] when called for a key inside that key's own compute
    /// on the same thread (which would wait for itself), or an IO error while reading.
    pub fn get_or_compute<R: Computed>(&self, key: &Key, compute: impl FnOnce() -> R) -> Result<Hit> {
        let _computing = reentry::Computing::enter(self.dir(), key)?;
        let hit = block_on(self.engine.get_or_compute(key, || async move { compute() }));
        self.promoter.kick(&self.engine);
        hit
    }

    /// Removes `key` from memory and disk. Once this returns, no handle in this or another
    /// process serves the removed value.
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`] if the cache was opened read-only, or an IO error.
    pub fn invalidate(&self, key: &Key) -> Result<()> {
        block_on(self.engine.invalidate(key))
    }

    /// Removes every entry, or every entry of `step`; returns how many.
    ///
    /// # Errors
    /// An IO error.
    pub fn clear(&self, step: Option<&str>) -> Result<u64> {
        block_on(self.engine.clear(step))
    }

    /// Hits, misses, sizes, evictions and time saved, per tier and per type, for this
    /// session, and per type over every session of the directory ([`Stats::all_time`]).
    /// The store's budget is the one given to the builder; its bytes are the entries',
    /// kept within it less the lasting counters' room (see [`Builder::open`]).
    ///
    /// # Errors
    /// An IO error while listing the directory.
    pub fn stats(&self) -> Result<Stats> {
        let mut stats = block_on(self.engine.stats_all_time())?;
        stats.store.budget = stats.store.budget.saturating_add(self.counters_room);
        Ok(stats)
    }

    /// Adds this session's counters to the ones the directory keeps for all time (done
    /// when the cache is dropped; call it to do so sooner, e.g. in a long-running
    /// service).
    ///
    /// # Errors
    /// An IO error (the counts stay to be saved later).
    pub fn save_stats(&self) -> Result<()> {
        block_on(self.engine.save_stats())
    }

    /// Writes every entry whose shared copy is behind (a shared write or removal that
    /// failed) to the shared tier now; how many it settled. See
    /// [`stepcache_core::Cache::flush_shared`].
    ///
    /// # Errors
    /// The shared tier's error (the rest stay pending), or an IO error.
    pub fn flush_shared(&self) -> Result<u64> {
        block_on(self.engine.flush_shared())
    }

    /// Writes every stored entry `filter` accepts whose key the shared tier lacks to the
    /// shared tier, verified, sealed with the team key if one is set, whatever its type's
    /// policy says (see [`stepcache_core::Cache::push`]).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidConfig`] without a shared tier (`Builder::shared`); the
    /// shared tier's error or an IO error (entries written before it stay written).
    pub fn push(&self, filter: &ExportFilter) -> Result<Transfer> {
        block_on(self.engine.push(|step, created_ms| filter.accepts(step, created_ms)))
    }

    /// Stores every entry of the shared tier `filter` accepts whose key the directory
    /// lacks, unsealed and verified, as an import does (see
    /// [`stepcache_core::Cache::pull`]).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidConfig`] without a shared tier (`Builder::shared`); the
    /// shared tier's error or an IO error (entries stored before it stay stored).
    pub fn pull(&self, filter: &ExportFilter) -> Result<Transfer> {
        block_on(self.engine.pull(|step, created_ms| filter.accepts(step, created_ms)))
    }

    /// Every entry in memory or on disk, newest first.
    ///
    /// # Errors
    /// An IO error while listing the directory.
    pub fn entries(&self) -> Result<Vec<EntryInfo>> {
        block_on(self.engine.entries())
    }

    /// Entry `id` exactly as stored, verified whole; a damaged one is removed. What
    /// `stepcache verify` checks and an export copies (see
    /// [`stepcache_core::Cache::read_entry`]).
    ///
    /// # Errors
    /// An IO error.
    pub fn read_entry(&self, id: &Fingerprint) -> Result<EntryRead<FsBytes>> {
        block_on(self.engine.read_entry(id))
    }

    /// Stores a whole entry made elsewhere (another cache, a bundle) under the key its
    /// header names, after verifying it; an entry already stored for the key is kept
    /// (see [`stepcache_core::Cache::import_entry`]).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidEntry`] for bytes that are not a sound entry (nothing is
    /// stored), or an IO error.
    pub fn import_entry(&self, bytes: &[u8]) -> Result<Imported> {
        block_on(self.engine.import_entry(bytes))
    }

    /// Applies the store budget and the types' maximum ages now; the entries removed, or
    /// with `dry_run` the ones that would be (see [`stepcache_core::Cache::collect`]).
    ///
    /// # Errors
    /// An IO error (entries removed before it stay removed).
    pub fn collect(&self, dry_run: bool) -> Result<Vec<EntryInfo>> {
        block_on(self.engine.collect(dry_run))
    }

    /// The state of each key (kwneuro's `status`).
    ///
    /// # Errors
    /// An IO error.
    pub fn status(&self, keys: &[Key]) -> Result<Vec<Status>> {
        block_on(self.engine.status(keys))
    }

    /// Forces recomputation of every step or of some steps (see [`Force`]).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidStepName`].
    pub fn set_force(&self, force: Force) -> Result<()> {
        self.engine.set_force(force)
    }

    /// Switches reading, computing and writing on or off.
    pub fn set_access(&self, access: Access) {
        self.engine.set_access(access);
    }

    /// Keeps `key` from eviction until [`Cache::unpin`].
    pub fn pin(&self, key: &Key) {
        self.engine.pin(key);
    }

    /// Undoes one [`Cache::pin`].
    pub fn unpin(&self, key: &Key) {
        self.engine.unpin(key);
    }
}
