//! The two engine calls `verify` and `gc` stand on, each in one function, so that what
//! they ask of the engine is in one place.

use stepcache::{Builder, Cache, EntryInfo, EntryState, Error, ErrorKind, Key, Result, Retention, TypePolicy};
use stepcache_core::evict::{self, Candidate};

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
/// and checksums); a damaged entry is removed where the directory can be written.
///
/// # Errors
/// An IO error other than the entry being gone.
pub(crate) fn read_entry(cache: &Cache, info: &EntryInfo) -> Result<Read> {
    let store = cache.engine().store();
    let path = store.entry_path(&info.fingerprint);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Read::Missing),
        Err(e) => return Err(Error::new(ErrorKind::Storage, format!("read {}: {e}", path.display()))),
    };
    match stepcache_core::entry::decode(&bytes, &info.fingerprint) {
        Ok(_) => Ok(Read::Sound),
        Err(corrupt) => {
            // As the engine's reads do: a removal that fails (a directory that cannot be
            // written) leaves the entry a miss on every read, and is not this read's error.
            if !store.is_read_only() {
                let _ = cache.invalidate(&Key::from_parts(&info.step, info.fingerprint)?);
            }
            Ok(Read::Damaged(corrupt.to_string()))
        }
    }
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

/// `builder` with `limits` as the cache's policies: the maximum ages.
pub(crate) fn configure(mut builder: Builder, limits: &Limits) -> Builder {
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
/// engine's eviction rule, `stepcache_core::evict`); returns them.
///
/// # Errors
/// The cache's error while listing or removing (entries removed before it stay removed).
pub(crate) fn collect(cache: &Cache, limits: &Limits, dry_run: bool, now_ms: u64) -> Result<Vec<EntryInfo>> {
    let stored: Vec<EntryInfo> = cache.entries()?.into_iter().filter(|e| e.stored).collect();
    let keys = stored
        .iter()
        .map(|e| Key::from_parts(&e.step, e.fingerprint))
        .collect::<Result<Vec<Key>>>()?;
    let states = cache.status(&keys)?;
    let (expired, kept): (Vec<_>, Vec<_>) = stored
        .into_iter()
        .zip(states)
        .partition(|(_, status)| status.state == EntryState::Expired);
    let mut doomed: Vec<EntryInfo> = expired.into_iter().map(|(e, _)| e).collect();
    if let Some(budget) = limits.budget {
        let kept: Vec<EntryInfo> = kept.into_iter().map(|(e, _)| e).collect();
        let candidates: Vec<Candidate> = kept
            .iter()
            .map(|e| Candidate {
                id: e.fingerprint,
                size: e.bytes,
                last_use_ms: e.created_ms,
                hits: e.hits,
                cost_us: e.cost_us,
                pinned: false,
            })
            .collect();
        let victims = evict::plan(&candidates, budget, 0, now_ms).unwrap_or_default();
        doomed.extend(victims.into_iter().map(|i| kept[i].clone()));
    }
    if !dry_run {
        for e in &doomed {
            cache.invalidate(&Key::from_parts(&e.step, e.fingerprint)?)?;
        }
    }
    Ok(doomed)
}
