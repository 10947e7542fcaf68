//! The two engine calls `verify` and `gc` stand on, each in one function, so that what
//! they ask of the engine is in one place.

use stepcache::{Builder, Cache, EntryInfo, EntryRead, Result, Retention, TypePolicy};

/// What reading one stored entry found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Read {
    /// Read in full, and it verified.
    Sound,
    /// Damaged (the reason, for people). Removed where the directory can be written.
    Damaged(String),
    /// Gone since it was listed (another process removed it).
    Missing,
}

/// Reads stored entry `info` in full and verifies it as a `get` does (its key, lengths
/// and checksums) with [`Cache::read_entry`]; a damaged entry is removed where the
/// directory can be written.
///
/// # Errors
/// An IO error other than the entry being gone.
pub(crate) fn read_entry(cache: &Cache, info: &EntryInfo) -> Result<Read> {
    Ok(match cache.read_entry(&info.fingerprint)? {
        EntryRead::Sound(_) => Read::Sound,
        EntryRead::Damaged(why) => Read::Damaged(why.to_string()),
        EntryRead::Missing => Read::Missing,
    })
}

/// What `gc` collects: entries beyond a byte budget, and entries older than a maximum
/// age (for every step, or per step).
#[derive(Debug, Clone, Default)]
pub(crate) struct Limits {
    /// Bytes the directory may keep.
    pub(crate) budget: Option<u64>,
    /// The maximum age of steps without one of their own, ms.
    pub(crate) max_age_ms: Option<u64>,
    /// Maximum ages of single steps, ms.
    pub(crate) step_max_age: Vec<(String, u64)>,
}

/// `builder` with `limits` as the cache's policies: the store budget and maximum ages,
/// which [`Cache::collect`] applies.
pub(crate) fn configure(mut builder: Builder, limits: &Limits) -> Builder {
    if let Some(bytes) = limits.budget {
        builder = builder.store_budget(bytes);
    }
    if let Some(ms) = limits.max_age_ms {
        builder = builder.max_age_ms(ms);
    }
    for (step, ms) in &limits.step_max_age {
        builder = builder.policy(step, TypePolicy::new(Retention::Persistent).max_age_ms(*ms));
    }
    builder
}

/// Removes (or with `dry_run` only finds) the stored entries older than their step's
/// maximum age, then as many more as the budget needs, least worth keeping first (the
/// engine's eviction rule); returns them. `cache` was opened with the limits
/// ([`configure`]).
///
/// # Errors
/// The cache's error while listing or removing (entries removed before it stay removed).
pub(crate) fn collect(cache: &Cache, dry_run: bool) -> Result<Vec<EntryInfo>> {
    cache.collect(dry_run)
}
