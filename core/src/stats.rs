//! Counters: hits and misses per tier and per result type, sizes, evictions, time saved.

use crate::units::{bytes_text, duration_text};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Counters of one tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TierStats {
    /// Lookups answered by this tier.
    pub hits: u64,
    /// Lookups this tier could not answer.
    pub misses: u64,
    /// Bytes held now.
    pub bytes: u64,
    /// Entries held now.
    pub entries: u64,
    /// The tier's budget in bytes.
    pub budget: u64,
    /// Entries evicted to make room.
    pub evictions: u64,
    /// Entries removed because they were older than their type's maximum age.
    pub expired: u64,
}

/// Counters of the shared tier: what this cache read from it and wrote to it, and how
/// it fared. All zero, and `enabled` false, for a cache without one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedStats {
    /// Whether the cache has a shared tier.
    pub enabled: bool,
    /// Lookups it answered (verified entries, promoted into the local tiers).
    pub hits: u64,
    /// Lookups it could not answer.
    pub misses: u64,
    /// Objects found but not returned: damaged, another key's, or (with a team key)
    /// unsealed or sealed by another key.
    pub rejected: u64,
    /// Entries written to it.
    pub puts: u64,
    /// Bytes read from it in hits.
    pub bytes_read: u64,
    /// Bytes written to it.
    pub bytes_written: u64,
    /// Calls to it that failed (unreachable, too slow, refused).
    pub errors: u64,
    /// Keys whose shared copy is behind this machine's (a write or removal that failed):
    /// they are not read from the shared tier, and are written or removed there again by
    /// `flush_shared` and after later successful calls.
    pub pending: u64,
    /// Whether the tier is being left alone after a failure (degraded mode): lookups go
    /// to the local tiers only and writes wait in `pending`, until the retry time passes.
    pub degraded: bool,
    /// The latest failure, for people.
    pub last_error: Option<String>,
}

/// Counters of one result type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeStats {
    /// The step (result type) name.
    pub step: String,
    /// Lookups that found a result (any tier).
    pub hits: u64,
    /// Lookups that found none.
    pub misses: u64,
    /// Results stored on this machine (in memory or in the store) by `put` or
    /// `get_or_compute`.
    pub puts: u64,
    /// Computations run by `get_or_compute`.
    pub computes: u64,
    /// Time spent computing, microseconds.
    pub compute_us: u64,
    /// Compute time avoided by hits (the recorded cost of every hit), microseconds.
    pub saved_us: u64,
}

/// A snapshot of a cache's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// The memory tier.
    pub memory: TierStats,
    /// The store tier.
    pub store: TierStats,
    /// Per result type, sorted by name.
    pub types: Vec<TypeStats>,
    /// Damaged or unreadable entries found and removed.
    pub corrupt_removed: u64,
    /// Callers that waited for another caller's computation of the same key instead of computing.
    pub waited_computes: u64,
    /// The shared tier.
    pub shared: SharedStats,
    /// Per result type, sorted by name, over every session of this cache's store
    /// (this one included) that saved its counters (see `Cache::save_stats`); this
    /// session's alone for a store that keeps none (IndexedDB). Filled by
    /// `Cache::stats_all_time` (the native `stepcache::Cache::stats` calls it); empty
    /// from `Cache::stats`.
    pub all_time: Vec<TypeStats>,
}

impl Stats {
    /// Hits over lookups, across all types (0 when nothing was looked up).
    pub fn hit_rate(&self) -> f64 {
        let hits: u64 = self.types.iter().map(|t| t.hits).sum();
        let misses: u64 = self.types.iter().map(|t| t.misses).sum();
        if hits + misses == 0 {
            0.0
        } else {
            hits as f64 / (hits + misses) as f64
        }
    }

    /// Compute time avoided by hits, across all types, microseconds.
    pub fn saved_us(&self) -> u64 {
        self.types.iter().map(|t| t.saved_us).sum()
    }

    /// The counters of `step`, if it was seen.
    pub fn of_type(&self, step: &str) -> Option<&TypeStats> {
        self.types.iter().find(|t| t.step == step)
    }
}

impl fmt::Display for TierStats {
    /// `12 hits, 3 misses; 1.5 MiB of 1.0 GiB in 4 entries; 2 evicted, 0 expired`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} hits, {} misses; {} of {} in {} entries; {} evicted, {} expired",
            self.hits,
            self.misses,
            bytes_text(self.bytes),
            bytes_text(self.budget),
            self.entries,
            self.evictions,
            self.expired
        )
    }
}

impl fmt::Display for SharedStats {
    /// `2 hits, 1 miss, 0 rejected; 3 written; 1.5 MiB read, 6.0 MiB written; 0 errors,
    /// 0 pending`, then `; degraded: <the latest error>` while it is left alone.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} hits, {} misses, {} rejected; {} written; {} read, {} written; {} errors, {} pending",
            self.hits,
            self.misses,
            self.rejected,
            self.puts,
            bytes_text(self.bytes_read),
            bytes_text(self.bytes_written),
            self.errors,
            self.pending
        )?;
        if self.degraded {
            write!(f, "; degraded: {}", self.last_error.as_deref().unwrap_or("unreachable"))?;
        }
        Ok(())
    }
}

impl fmt::Display for TypeStats {
    /// `t1_map: 10 hits, 2 misses, 3 stored; computed 2 times in 1.2 s; 10.0 s saved`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} hits, {} misses, {} stored; computed {} times in {}; {} saved",
            self.step,
            self.hits,
            self.misses,
            self.puts,
            self.computes,
            duration_text(self.compute_us),
            duration_text(self.saved_us)
        )
    }
}

/// A report for people, one line per tier and per result type:
///
/// ```text
/// memory: 12 hits, 3 misses; 1.5 MiB of 1.0 GiB in 4 entries; 0 evicted, 0 expired
/// store: 3 hits, 0 misses; 6.0 MiB of 16.0 GiB in 4 entries; 0 evicted, 0 expired
/// hit rate 83.3%, 10.0 s of computing saved; 0 damaged entries removed, 1 computation waited for
/// t1_map: 10 hits, 2 misses, 3 stored; computed 2 times in 1.2 s; 10.0 s saved
/// ```
impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "memory: {}", self.memory)?;
        writeln!(f, "store: {}", self.store)?;
        write!(
            f,
            "hit rate {:.1}%, {} of computing saved; {} damaged entries removed, {} computations waited for",
            self.hit_rate() * 100.0,
            duration_text(self.saved_us()),
            self.corrupt_removed,
            self.waited_computes
        )?;
        if self.shared.enabled {
            write!(f, "\nshared: {}", self.shared)?;
        }
        let (hits, misses, saved): (u64, u64, u64) = self
            .all_time
            .iter()
            .fold((0, 0, 0), |(h, m, s), t| (h + t.hits, m + t.misses, s + t.saved_us));
        if hits + misses > 0 {
            write!(
                f,
                "\nall time: {hits} hits, {misses} misses, {} of computing saved",
                duration_text(saved)
            )?;
        }
        for t in &self.types {
            write!(f, "\n{t}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_read_as_text() {
        let stats = Stats {
            memory: TierStats {
                hits: 12,
                misses: 3,
                bytes: 1536 << 10,
                entries: 4,
                budget: 1 << 30,
                ..TierStats::default()
            },
            types: alloc::vec![TypeStats {
                step: "t1_map".into(),
                hits: 10,
                misses: 2,
                puts: 3,
                computes: 2,
                compute_us: 1_200_000,
                saved_us: 10_000_000,
            }],
            ..Stats::default()
        };
        let text = alloc::string::ToString::to_string(&stats);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "memory: 12 hits, 3 misses; 1.5 MiB of 1.0 GiB in 4 entries; 0 evicted, 0 expired"
        );
        assert_eq!(
            lines[2],
            "hit rate 83.3%, 10.0 s of computing saved; 0 damaged entries removed, 0 computations waited for"
        );
        assert_eq!(
            lines[3],
            "t1_map: 10 hits, 2 misses, 3 stored; computed 2 times in 1.2 s; 10.0 s saved"
        );
        assert_eq!(bytes_text(512), "512 B");
        assert_eq!(duration_text(850), "850 µs");
        assert_eq!(duration_text(90_000_000), "1.5 min");
    }
}
