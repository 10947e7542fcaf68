//! Local writes of one key in order, and promotion after the hit.
//!
//! Puts, invalidations and promotions (a shared hit written into the store) of one key
//! take the key's write lock ([`Cache::write_lock`]), so they never interleave. A lookup
//! notes its key's write count ([`super::state::State::write_count`]) before it reads, and
//! promotes what it read only if no write of the key ended meanwhile: a put or an
//! invalidation that returned is never undone by an older value put back.
//!
//! With [`super::SharedTier::promote_in_background`], a shared hit returns as soon as it is
//! verified, and is written into the store afterwards by [`Cache::promote_queued`], which
//! the binding runs in the background (the npm package does after each lookup): writing a
//! 64 MiB map into IndexedDB takes longer than downloading it, and the caller waits for
//! neither. A put or invalidation of the key cancels its queued promotion; `clear`, `close`
//! and `forget` cancel theirs.

use alloc::vec::Vec;

use super::Cache;
use super::flight::{Claim, Flights, Landing};
use crate::bytes::SharedBytes;
use crate::clock::Clock;
use crate::entry::{EntryHeader, EntryWriter};
use crate::error::Result;
use crate::fingerprint::Fingerprint;
use crate::store::Store;

/// Promotions kept waiting at most: a binding that never runs them holds this many entries
/// in memory, no more (the oldest go first; they are read from the shared tier again).
const MAX_QUEUED: usize = 16;

/// One verified entry waiting to be written into the store.
pub(crate) struct Queued {
    pub(crate) id: Fingerprint,
    /// Its whole header.
    pub(crate) header: EntryHeader,
    /// Its payload as stored.
    pub(crate) payload: SharedBytes,
    /// The key's write count before it was read (see the module's documentation).
    pub(crate) seen: u64,
}

/// Promotions waiting, and the keys being written.
#[derive(Default)]
pub(crate) struct Promotions {
    queued: Vec<Queued>,
    /// The write lock of each key being written.
    writing: Flights,
}

impl Promotions {
    /// Queues `entry`, replacing an older promotion of its key.
    pub(crate) fn queue(&mut self, entry: Queued) {
        self.cancel(&entry.id);
        if self.queued.len() == MAX_QUEUED {
            self.queued.remove(0);
        }
        self.queued.push(entry);
    }

    /// Drops the queued promotion of `id`.
    pub(crate) fn cancel(&mut self, id: &Fingerprint) {
        self.queued.retain(|q| q.id != *id);
    }

    /// Drops the queued promotions of `step` (of every step if `None`).
    pub(crate) fn cancel_step(&mut self, step: Option<&str>) {
        self.queued.retain(|q| step.is_some_and(|s| s != q.header.step));
    }
}

impl<S: Store, C: Clock, R: Store> Cache<S, C, R> {
    /// Takes `id`'s write lock, waiting while another write of the key runs; dropping the
    /// guard releases it.
    pub(crate) async fn write_lock(&self, id: &Fingerprint) -> Landing<'_> {
        loop {
            let claim = self.state.with(|st| st.promotions.writing.claim(id));
            match claim {
                Claim::Mine(flight) => return self.writing(id, flight),
                Claim::Wait(flight) => drop(flight.wait().await),
            }
        }
    }

    /// `id`'s write lock if no write of the key runs, and no write of it ended since its
    /// write count was `seen`: then what a lookup read may be promoted.
    pub(crate) fn promotion_lock(&self, id: &Fingerprint, seen: u64) -> Option<Landing<'_>> {
        let claim = self.state.with(|st| {
            if st.write_count(id) != seen {
                return None;
            }
            match st.promotions.writing.claim(id) {
                Claim::Mine(flight) => Some(flight),
                Claim::Wait(_) => None,
            }
        });
        claim.map(|flight| self.writing(id, flight))
    }

    fn writing(&self, id: &Fingerprint, flight: alloc::sync::Arc<super::flight::Flight>) -> Landing<'_> {
        Landing {
            state: &self.state,
            flights: |st| &mut st.promotions.writing,
            id: *id,
            flight,
            value: None,
        }
    }

    /// Writes the shared hits waiting for promotion into the store (see
    /// [`super::SharedTier::promote_in_background`]); returns how many it wrote. A hit
    /// whose key was written since it was read is not.
    ///
    /// # Errors
    /// The store's error (the promotions not yet written are dropped: their entries are
    /// read from the shared tier again).
    pub async fn promote_queued(&self) -> Result<u64> {
        let mut written = 0;
        while let Some(entry) = self.state.with(|st| st.promotions.queued.pop()) {
            let Some(_lock) = self.promotion_lock(&entry.id, entry.seen) else {
                continue;
            };
            let epoch = self.store.changes();
            let mut header = entry.header;
            let local = EntryWriter::new(&header, &entry.payload);
            if let Err(e) = self.write_store(&mut header, &local, epoch).await {
                self.state.with(|st| st.promotions.queued.clear());
                return Err(e);
            }
            written += 1;
        }
        Ok(written)
    }

    /// Whether shared hits wait for [`Cache::promote_queued`].
    pub fn promotions_queued(&self) -> bool {
        self.state.with(|st| !st.promotions.queued.is_empty())
    }

    /// Before a clear of `step` (of everything if `None`): cancels its queued promotions and
    /// waits for every write in progress.
    pub(crate) async fn settle_writes(&self, step: Option<&str>) {
        loop {
            let writing = self.state.with(|st| {
                st.promotions.cancel_step(step);
                st.promotions.writing.any()
            });
            match writing {
                Some(flight) => drop(flight.wait().await),
                None => return,
            }
        }
    }
}
