//! Maintenance: what tools that check, clean and move a cache need beyond `get` and
//! `put`: reading an entry's verified bytes, adopting an entry made elsewhere, and
//! applying budgets and ages on demand.

use alloc::borrow::Cow;
use alloc::vec::Vec;

use super::Cache;
use super::report::{EntryInfo, SkipReason, TierOutcome};
use super::state::Freshness;
use crate::clock::Clock;
use crate::entry::{self, Corrupt, Head};
use crate::error::{Error, ErrorKind, Result};
use crate::fingerprint::Fingerprint;
use crate::key::Key;
use crate::policy::Retention;
use crate::store::Store;

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
    /// [`TierOutcome::Stored`], or why not: [`SkipReason::Present`] if the store holds
    /// the key already (that entry is kept), or the reasons a put gives (the type's
    /// retention, the budget, writing switched off).
    pub store: TierOutcome,
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
    /// as it does to a put.
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
        let id = *id;
        let (header, payload) = entry::decode_checked(bytes, &id, None).map_err(invalid)?;
        let key = Key::from_parts(&header.step, id).map_err(|e| {
            Error::new(
                ErrorKind::InvalidEntry,
                crate::text!("not a sound entry: ", e.message()),
            )
        })?;
        let imported = |store| Imported {
            key: key.clone(),
            bytes: bytes.len() as u64,
            store,
        };
        let (policy, access) = self.state.with(|st| (st.policy(key.step()), st.config.access));
        if !access.write {
            return Ok(imported(TierOutcome::Skipped(SkipReason::WriteDisabled)));
        }
        if policy.retention != Retention::Persistent {
            return Ok(imported(TierOutcome::Skipped(SkipReason::Policy)));
        }
        let _lock = self.write_lock(&id).await;
        if self.holds_fresh(&key).await? {
            return Ok(imported(TierOutcome::Skipped(SkipReason::Present)));
        }
        self.state.with(|st| st.promotions.cancel(&id));
        let epoch = self.store.changes();
        // Written through the put path, which re-encodes the head from the verified header:
        // the same bytes for an entry of this format version.
        let outcome = self
            .write_store(&mut (header, Cow::Borrowed(&bytes[payload])), epoch)
            .await?;
        self.state.with(|st| {
            // Whatever memory held for the key is not what the store holds now.
            st.memory.remove(&id);
            st.note_write(&id);
        });
        Ok(imported(outcome))
    }

    /// Whether the store holds an entry for `key` that its type's maximum age and a
    /// forced recompute still allow. Only its head is read: a 1 GiB bundle imported into
    /// a cache that has it all reads no payload twice. (A damaged payload is a miss and
    /// removed when read, after which an import stores the key again.)
    async fn holds_fresh(&self, key: &Key) -> Result<bool> {
        let id = key.fingerprint();
        let Some(listed) = self.store.head(id).await? else {
            return Ok(false);
        };
        let created_ms = match entry::decode_head(&listed.head) {
            Ok(Head::Complete(header, _)) if header.key == *id => header.created_ms,
            // A header longer than the listed head: the entry is there, keep it.
            Ok(Head::NeedBytes(_)) => return Ok(true),
            _ => return Ok(false),
        };
        let now = self.clock.now_ms();
        Ok(self.state.with(|st| st.fresh(id, key.step(), created_ms, now)) == Freshness::Fresh)
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
