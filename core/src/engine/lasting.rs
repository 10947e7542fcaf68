//! Lasting counters: the per-type hits, misses and time saved of every session, kept
//! with the store ([`Store::load_counters`]) so that `stats()` reports "all time" beside
//! "this session".
//!
//! Each cache adds what its session counted since it last saved, in one read-add-write of
//! the store ([`Store::update_counters`]), so handles in several processes add up and none
//! overwrites another's.
//! A session that ends without saving (a killed process) loses only its own counts.

use alloc::string::String;
use alloc::vec::Vec;

use super::Cache;
use crate::clock::Clock;
use crate::error::Result;
use crate::stats::TypeStats;
use crate::store::Store;

/// The magic bytes the counters start with.
const MAGIC: [u8; 8] = *b"STEPTALY";
/// The layout version this build writes and reads.
const VERSION: u16 = 1;

/// What the engine keeps of the lasting counters.
#[derive(Default)]
pub(crate) struct Lasting {
    /// The counters as last loaded or saved; `None` until first loaded.
    pub(crate) saved: Option<Vec<TypeStats>>,
    /// This session's counters as they were when last saved (what is already in `saved`).
    pub(crate) session_at_save: Vec<TypeStats>,
}

impl<S: Store, C: Clock, R: Store> Cache<S, C, R> {
    /// Adds what this session counted since it last saved to the counters kept with the
    /// store, so later sessions report them as all time ([`crate::Stats::all_time`]).
    /// The native `Cache` saves when it is dropped; call this to save sooner.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Closed`] or the store's error (the session's counts stay to be
    /// saved by a later call).
    pub async fn save_stats(&self) -> Result<()> {
        self.check_open()?;
        if !S::KEEPS_COUNTERS {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let session = self.state.with(|st| st.snapshot(now).types);
        let unsaved = self.state.with(|st| difference(&session, &st.lasting.session_at_save));
        if unsaved.is_empty() {
            return Ok(());
        }
        let total_of = |kept: Option<&[u8]>| {
            let mut total = decode(kept);
            add(&mut total, &unsaved);
            total
        };
        // As it stays where the store keeps no counters (and so calls no update).
        let mut total = total_of(None);
        self.store
            .update_counters(|kept| {
                total = total_of(kept);
                encode(&total)
            })
            .await?;
        self.state.with(|st| {
            st.lasting.saved = Some(total);
            st.lasting.session_at_save = session;
        });
        Ok(())
    }

    /// [`Cache::stats`] with [`crate::Stats::all_time`] filled in: the counters saved with
    /// the store (read once), and this session's since it last saved. A store that keeps
    /// none gives this session's alone.
    ///
    /// A call of its own, not part of `stats`: an `async` branch on
    /// [`Store::KEEPS_COUNTERS`] would keep this code in the npm package's module, whose
    /// store keeps no counters.
    ///
    /// # Errors
    /// As [`Cache::stats`], or the store's error reading the counters.
    pub async fn stats_all_time(&self) -> Result<crate::Stats> {
        let mut stats = self.stats().await?;
        let session = &stats.types;
        if !S::KEEPS_COUNTERS {
            stats.all_time = session.clone();
            return Ok(stats);
        }
        if self.state.with(|st| st.lasting.saved.is_none()) {
            let saved = decode(self.store.load_counters().await?.as_deref());
            self.state.with(|st| st.lasting.saved.get_or_insert(saved).len());
        }
        stats.all_time = self.state.with(|st| {
            let mut total = st.lasting.saved.clone().unwrap_or_default();
            add(&mut total, &difference(session, &st.lasting.session_at_save));
            total
        });
        Ok(stats)
    }
}

/// A type's six counters, in the order the counters' bytes keep them.
fn counts(t: &TypeStats) -> [u64; 6] {
    [t.hits, t.misses, t.puts, t.computes, t.compute_us, t.saved_us]
}

/// The type `step` with the six counters `n` (as [`counts`] orders them).
fn with_counts(step: String, n: [u64; 6]) -> TypeStats {
    let [hits, misses, puts, computes, compute_us, saved_us] = n;
    TypeStats {
        step,
        hits,
        misses,
        puts,
        computes,
        compute_us,
        saved_us,
    }
}

/// `now - before`, per type, leaving out types with nothing new.
fn difference(now: &[TypeStats], before: &[TypeStats]) -> Vec<TypeStats> {
    now.iter()
        .filter_map(|t| {
            let old = before.iter().find(|b| b.step == t.step).map_or([0; 6], counts);
            let mut n = counts(t);
            for (a, b) in n.iter_mut().zip(old) {
                *a = a.saturating_sub(b);
            }
            (n != [0; 6]).then(|| with_counts(t.step.clone(), n))
        })
        .collect()
}

/// Adds `more` into `total` per type, keeping `total` sorted by step name.
fn add(total: &mut Vec<TypeStats>, more: &[TypeStats]) {
    for m in more {
        let i = total.iter().position(|t| t.step == m.step).unwrap_or_else(|| {
            total.push(with_counts(m.step.clone(), [0; 6]));
            total.len() - 1
        });
        let mut n = counts(&total[i]);
        for (a, b) in n.iter_mut().zip(counts(m)) {
            *a = a.saturating_add(b);
        }
        total[i] = with_counts(m.step.clone(), n);
    }
    crate::sort::sort_by(total, |a, b| a.step.cmp(&b.step));
}

/// The counters as kept with the store: `STEPTALY`, u16 LE version, u16 zero, u32 LE
/// count, then per type a u16 LE name length, the name, and six u64 LE counters (hits,
/// misses, puts, computes, compute µs, saved µs); last the XXH3-128 of all before it.
pub(crate) fn encode(types: &[TypeStats]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + types.len() * 64);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(types.len() as u32).to_le_bytes());
    for t in types {
        out.extend_from_slice(&(t.step.len() as u16).to_le_bytes());
        out.extend_from_slice(t.step.as_bytes());
        for n in counts(t) {
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
    let check = crate::checksum::xxh3_128(&out).to_le_bytes();
    out.extend_from_slice(&check);
    out
}

/// The counters `bytes` hold; none if there are no bytes, or if they are damaged or of
/// another version (counting starts again rather than trusting them).
pub(crate) fn decode(bytes: Option<&[u8]>) -> Vec<TypeStats> {
    bytes.and_then(decode_checked).unwrap_or_default()
}

fn decode_checked(bytes: &[u8]) -> Option<Vec<TypeStats>> {
    let (body, check) = bytes.split_at_checked(bytes.len().checked_sub(16)?)?;
    if crate::checksum::xxh3_128(body).to_le_bytes() != *check {
        return None;
    }
    let (head, mut rest) = body.split_at_checked(16)?;
    if head[..8] != MAGIC || head[8..10] != VERSION.to_le_bytes() {
        return None;
    }
    let count = u32::from_le_bytes(head[12..16].try_into().ok()?);
    let mut take = |n: usize| -> Option<&[u8]> {
        let (a, b) = rest.split_at_checked(n)?;
        rest = b;
        Some(a)
    };
    let mut out = Vec::new();
    for _ in 0..count {
        let len = u16::from_le_bytes(take(2)?.try_into().ok()?);
        let step = String::from(core::str::from_utf8(take(usize::from(len))?).ok()?);
        let mut n = [0u64; 6];
        for slot in &mut n {
            *slot = u64::from_le_bytes(take(8)?.try_into().ok()?);
        }
        out.push(with_counts(step, n));
    }
    rest.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(step: &str, hits: u64, saved_us: u64) -> TypeStats {
        TypeStats {
            step: step.into(),
            hits,
            misses: 1,
            saved_us,
            ..TypeStats::default()
        }
    }

    #[test]
    fn counters_round_trip_and_every_damage_reads_as_none() {
        let types = alloc::vec![t("r1_map", 3, 30), t("t1_map", 10, 1_000_000)];
        let bytes = encode(&types);
        assert_eq!(decode(Some(&bytes)), types);
        assert_eq!(decode(None), Vec::new());
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            assert_eq!(decode(Some(&bad)), Vec::new(), "flip at {i}");
        }
        for len in 0..bytes.len() {
            assert_eq!(decode(Some(&bytes[..len])), Vec::new(), "cut at {len}");
        }
    }

    #[test]
    fn sessions_add_up_by_type() {
        let mut total = alloc::vec![t("t1_map", 10, 100)];
        let before = alloc::vec![t("t1_map", 2, 20)];
        let now = alloc::vec![t("r1_map", 1, 5), t("t1_map", 5, 50)];
        let new = difference(&now, &before);
        assert_eq!(
            new,
            alloc::vec![
                t("r1_map", 1, 5),
                TypeStats {
                    misses: 0,
                    ..t("t1_map", 3, 30)
                }
            ]
        );
        add(&mut total, &new);
        assert_eq!(
            total,
            alloc::vec![
                t("r1_map", 1, 5),
                TypeStats {
                    misses: 1,
                    ..t("t1_map", 13, 130)
                }
            ]
        );
        assert!(difference(&now, &now).is_empty());
    }
}
