//! Eviction: which entries leave a tier when a new one needs room. Pure code.
//!
//! An entry's worth is what keeping it saves per byte it occupies:
//!
//! ```text
//! worth = (cost_us + 1 ms) * (1 + hits) / size / (1 + idle / 10 min)
//! ```
//!
//! so a map that took 30 s to compute outlives one that took 30 ms at the same size,
//! often-hit entries outlive once-used ones, and entries idle for long lose worth
//! gradually rather than by a strict LRU cliff. The cheapest entries go first; ties go
//! to the longer idle, then to the smaller fingerprint, so a plan depends only on its
//! inputs (same history, same evictions).

use alloc::vec::Vec;
use core::cmp::Ordering;

use crate::fingerprint::Fingerprint;

/// Idle time after which an entry's worth is halved.
pub const IDLE_HALF_WORTH_MS: u64 = 10 * 60 * 1000;
/// Compute cost every entry is credited with, so free-to-compute entries still rank by use.
const BASE_COST_US: u64 = 1000;

/// What eviction needs to know of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its id.
    pub id: Fingerprint,
    /// Bytes it occupies in the tier.
    pub size: u64,
    /// Last use (or creation), ms since the epoch.
    pub last_use_ms: u64,
    /// Hits since it was stored.
    pub hits: u64,
    /// Measured compute cost in microseconds.
    pub cost_us: u64,
    /// Pinned or in use: never evicted.
    pub pinned: bool,
}

fn worth(c: &Candidate, now_ms: u64) -> f64 {
    let idle = now_ms.saturating_sub(c.last_use_ms) as f64;
    let saved = (c.cost_us.saturating_add(BASE_COST_US)) as f64 * (1.0 + c.hits as f64);
    saved / (c.size.max(1) as f64) / (1.0 + idle / IDLE_HALF_WORTH_MS as f64)
}

/// Chooses the entries to evict so that `incoming` more bytes fit in `budget`.
///
/// Returns the indices (into `entries`) to evict, cheapest first, or `None` if even
/// evicting every unpinned entry would not make room (the caller then does not store).
pub fn plan(entries: &[Candidate], budget: u64, incoming: u64, now_ms: u64) -> Option<Vec<usize>> {
    let total: u64 = entries.iter().map(|c| c.size).sum();
    let pinned: u64 = entries.iter().filter(|c| c.pinned).map(|c| c.size).sum();
    if pinned.saturating_add(incoming) > budget {
        return None;
    }
    let mut over = total.saturating_add(incoming).saturating_sub(budget);
    if over == 0 {
        return Some(Vec::new());
    }
    let mut order: Vec<(usize, f64)> = entries
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.pinned)
        .map(|(i, c)| (i, worth(c, now_ms)))
        .collect();
    crate::sort::sort_by(&mut order, |a, b| {
        let (ca, cb) = (&entries[a.0], &entries[b.0]);
        a.1.total_cmp(&b.1)
            .then(ca.last_use_ms.cmp(&cb.last_use_ms))
            .then(ca.id.cmp(&cb.id))
            .then(Ordering::Equal)
    });
    let mut victims = Vec::new();
    for (i, _) in order {
        if over == 0 {
            break;
        }
        victims.push(i);
        over = over.saturating_sub(entries[i].size);
    }
    Some(victims)
}
