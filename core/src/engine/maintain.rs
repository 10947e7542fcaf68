//! Maintenance: what tools that check, clean and move a cache need beyond `get` and
//! `put`: reading an entry's verified bytes, adopting an entry made elsewhere, and
//! applying budgets and ages on demand.

use alloc::vec::Vec;

use super::Cache;
use super::read::decode_entry;
use super::report::EntryState;
use super::report::{EntryInfo, PutReport, TierOutcome};
use super::state::Freshness;
use super::write::Writing;
use crate::bytes::SharedBytes;
use crate::clock::Clock;
use crate::entry::{self, Corrupt, Head};
use crate::error::{Error, ErrorKind, Result};
use crate::fingerprint::Fingerprint;
use crate::key::Key;
use crate::store::Store;
use crate::value::Value;

/// An entry's bytes as [`Cache::read_entry`] found them.
#[derive(Debug)]
pub enum EntryRead<B> {
    /// Whole and verified: the entry exactly as stored (header, padding, payload).
    Sound(B),
    /// Damaged, for this reason; the entry has been removed (counted in
    /// [`crate::Stats::corrupt_removed`]) unless the store refused.
    Damaged(Corrupt),
    /// Not in the store.
    Missing,
}

/// What [`Cache::import_entry`] did with an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The entry's key, read from its header.
    pub key: Key,
    /// Its size in bytes.
    pub bytes: u64,
    /// [`TierOutcome::Stored`], or why not: [`SkipReason::Present`] if the store holds the
    /// key already (that entry is kept), or the reasons a put gives (the type's retention,
    /// the budget, writing switched off).
    ///
    /// [`SkipReason::Present`]: super::report::SkipReason::Present
    pub store: TierOutcome,
}

/// What [`Cache::write`] stores.
#[derive(Debug)]
pub enum Incoming {
    /// A value and its compute cost in microseconds, as [`Cache::put_with_cost`] takes them.
    Value(Value, u64),
    /// A whole entry made elsewhere, as [`Cache::import_record`] takes it.
    Entry(SharedBytes),
}

/// The error of bytes that are not a sound entry.
fn invalid(why: Corrupt) -> Error {
    Error::new(ErrorKind::InvalidEntry, crate::text!("not a sound entry: ", why))
}

impl<S: Store, C: Clock, R: Store> Cache<S, C, R> {
    /// Reads entry `id` from the store and verifies all of it (magic, version, header
    /// checksum, key, length, payload checksum) without decoding its value: what
    /// `stepcache verify` checks and what an export copies. A damaged entry is removed.
    ///
    /// # Errors
    /// [`ErrorKind::Closed`] or the store's error.
    pub async fn read_entry(&self, id: &Fingerprint) -> Result<EntryRead<S::Bytes>> {
        self.check_open()?;
        let Some((bytes, check)) = self.store.get_entry(id).await? else {
            return Ok(EntryRead::Missing);
        };
        match entry::decode_checked(bytes.as_ref(), id, check) {
            Ok(_) => Ok(EntryRead::Sound(bytes)),
            Err(why) => {
                drop(bytes);
                self.discard(id).await;
                self.state.with(|st| {
                    st.index.remove(id);
                    st.corrupt_removed += 1;
                });
                Ok(EntryRead::Damaged(why))
            }
        }
    }

    /// Stores `bytes`, a whole entry made elsewhere (another machine's cache, a bundle),
    /// under the key its header names, after verifying all of it. An entry already
    /// stored for that key is kept ([`SkipReason::Present`]): both are results of the
    /// same inputs, and an import never loses what is stored. The type's policy applies
    /// as it does to a put, and the memory tier keeps the imported value as a put's.
    ///
    /// [`SkipReason::Present`]: super::report::SkipReason::Present
    ///
    /// # Errors
    /// [`ErrorKind::InvalidEntry`] if `bytes` are not a sound entry (nothing is stored);
    /// [`ErrorKind::Closed`] or the store's error.
    pub async fn import_entry(&self, bytes: &[u8]) -> Result<Imported> {
        self.check_open()?;
        let id = match entry::decode_head(bytes).map_err(invalid)? {
            Head::Complete(header, _) => header.key,
            Head::NeedBytes(_) => return Err(invalid(Corrupt::Truncated)),
        };
        self.import_record(&id, bytes).await
    }

    /// Stores `bytes`, a whole entry filed under the key fingerprint `id` (a bundle's
    /// record), as [`import_entry`](Cache::import_entry) does, if it is the entry of that
    /// key: one filed under another key's fingerprint is refused, as damage is.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidEntry`] if `bytes` are not a sound entry of the key `id`
    /// (nothing is stored); [`ErrorKind::Closed`] or the store's error.
    pub async fn import_record(&self, id: &Fingerprint, bytes: &[u8]) -> Result<Imported> {
        self.check_open()?;
        // Verified here for the reason of a refusal, which `write`'s own verification does
        // not tell (the npm module, which calls `write` directly, would carry its texts).
        // A second pass of the payload checksum, at memory speed: a small cost on a write.
        let step = entry::decode_checked(bytes, id, None).map_err(invalid)?.0.step;
        let key = Key::from_parts(&step, *id).map_err(|e| {
            Error::new(
                ErrorKind::InvalidEntry,
                crate::text!("not a sound entry: ", e.message()),
            )
        })?;
        let report = self
            .write(&key, Incoming::Entry(SharedBytes::from(bytes.to_vec())))
            .await?;
        Ok(Imported {
            key,
            bytes: bytes.len() as u64,
            store: report.store,
        })
    }

    /// Stores a value ([`Cache::put_with_cost`]) or an entry made elsewhere under `key`
    /// ([`Cache::import_record`], refusing an entry of another key): one call for both,
    /// for a binding that routes them through one call (the npm package's module then
    /// carries one copy of the glue around it).
    ///
    /// # Errors
    /// As [`Cache::put`]; [`ErrorKind::InvalidEntry`] if the entry is not a sound entry
    /// of `key` (nothing is stored).
    pub async fn write(&self, key: &Key, incoming: Incoming) -> Result<PutReport> {
        let (value, header, payload, cost_us) = match incoming {
            Incoming::Value(value, cost_us) => (value, None, None, cost_us),
            Incoming::Entry(bytes) => {
                // Verified and decoded as a read does, so that the memory tier holds the
                // imported value as it holds a put's. The reason of a refusal is not told:
                // the npm package's module would carry every reason's text for it.
                let found = decode_entry(&bytes, key.fingerprint(), None)
                    .filter(|found| found.header.step == key.step())
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::InvalidEntry,
                            "not a sound entry of its key: damaged, cut short, or another key's",
                        )
                    })?;
                let header = found.whole_header();
                let cost_us = header.cost_us;
                (found.value, Some(header), Some(found.payload), cost_us)
            }
        };
        let writing = Writing {
            made: header.map(|header| (header, payload.as_deref().unwrap_or_default())),
            ..Writing::of(&value, cost_us)
        };
        self.store_value(key, writing, &mut None, self.clock.now_ms()).await
    }

    /// Whether this cache holds `key` fresh (its type's maximum age and a forced recompute
    /// still allow it), in memory or in the store, as `has` tells it: from the entry's
    /// head, so a 1 GiB bundle imported into a cache that has it all reads no payload
    /// twice. (A damaged payload is a miss and removed when read, after which an import
    /// stores the key again.) The same call as `has`, so that the npm package's module
    /// carries no second copy of it.
    pub(crate) async fn holds_fresh(&self, key: &Key) -> Result<bool> {
        Ok(matches!(
            self.state_of(key).await?.state,
            EntryState::Memory | EntryState::Stored
        ))
    }

    /// Applies the store's budget and the types' maximum ages now, as puts and reads
    /// would over time, and returns the entries removed, oldest use first: expired ones,
    /// then what the eviction plan takes to bring the store within its budget. With
    /// `dry_run`, removes nothing and returns what would go.
    ///
    /// # Errors
    /// [`ErrorKind::Closed`] or the store's error (entries removed before it stay removed).
    pub async fn collect(&self, dry_run: bool) -> Result<Vec<EntryInfo>> {
        self.check_open()?;
        let now = self.clock.now_ms();
        // Listed without the trim to the budget that a refresh does: that is planned here.
        self.relist(now, false).await?;
        let (doomed, expired) = self.state.with(|st| {
            let expired: Vec<Fingerprint> = st
                .index
                .slots
                .iter()
                .filter(|(id, slot)| {
                    let policy = st.policy(&slot.step);
                    !st.is_pinned(id)
                        && st.freshness(id, &slot.step, &policy, slot.created_ms, now) == Freshness::Expired
                })
                .map(|(id, _)| *id)
                .collect();
            let left = expired
                .iter()
                .filter_map(|id| st.index.slots.get(id))
                .fold(st.index.stats.bytes, |bytes, slot| bytes - slot.size);
            let over: Vec<Fingerprint> = if left > st.index.stats.budget {
                let mut candidates = st.index.candidates(None, |c| st.as_stored_candidate(c));
                candidates.retain(|c| !expired.contains(&c.id));
                crate::evict::plan(&candidates, st.index.stats.budget, 0, now)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|i| candidates[i].id)
                    .collect()
            } else {
                Vec::new()
            };
            let count = expired.len();
            let doomed: Vec<EntryInfo> = expired
                .iter()
                .chain(&over)
                .filter_map(|id| {
                    let slot = st.index.slots.get(id)?;
                    let in_memory = st.memory.slots.get(id);
                    let hits = slot.hits.get() + in_memory.map_or(0, |m| m.hits.get());
                    Some(EntryInfo::of(id, slot, hits, in_memory.is_some(), true))
                })
                .collect();
            (doomed, count)
        });
        if dry_run {
            return Ok(doomed);
        }
        for (i, info) in doomed.iter().enumerate() {
            let id = &info.fingerprint;
            let _lock = self.write_lock(id).await;
            self.store.delete(id).await?;
            self.state.with(|st| {
                st.index.remove(id);
                if i < expired {
                    // Memory holds the same expired value; a lookup in flight may not keep it.
                    st.memory.remove(id);
                    st.note_write(id);
                    st.index.stats.expired += 1;
                } else {
                    st.index.stats.evictions += 1;
                }
            });
        }
        Ok(doomed)
    }
}
