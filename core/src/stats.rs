//! Counters: hits and misses per tier and per result type, sizes, evictions, time saved.

use alloc::string::String;
use alloc::vec::Vec;

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

/// Counters of one result type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeStats {
    /// The step (result type) name.
    pub step: String,
    /// Lookups that found a result (any tier).
    pub hits: u64,
    /// Lookups that found none.
    pub misses: u64,
    /// Results stored by `put` or `get_or_compute`.
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
    pub shared_computes: u64,
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
