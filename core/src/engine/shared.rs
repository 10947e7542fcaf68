//! The shared tier: a store that other machines read and write (an object store's
//! bucket), behind this machine's memory tier and store.
//!
//! - A lookup that misses locally asks it, verifies what it returns like a local entry
//!   (and, with a team key, checks the seal), and promotes it into the local tiers.
//! - A put writes locally first, then to it; a write that fails never fails the put.
//! - A failure puts the tier in degraded mode for [`SharedTier::retry_after_ms`]: lookups
//!   and puts stay local, at local speed, and the keys whose shared copy is behind wait
//!   in a pending set that is never read from the shared tier and is written again later.
//!
//! Which types it holds is their policy's `shared` flag, decided here and nowhere else.

use alloc::string::String;
use alloc::vec::Vec;

use super::Cache;
use super::promote::Queued;
use super::read::decode_entry;
use super::report::{Hit, Source, TierOutcome};
use super::state::Freshness;
use crate::bytes::SharedBytes;
use crate::clock::Clock;
use crate::entry::{self, EntryHeader, EntryWriter, Head, PayloadCheck, TeamKey};
use crate::error::{Error, Result};
use crate::fingerprint::Fingerprint;
use crate::policy::{Retention, TypePolicy};
use crate::stats::SharedStats;
use crate::store::{Listed, LockGuard, Store};

/// How long a failing shared tier is left alone before it is tried again, by default.
pub const DEFAULT_RETRY_AFTER_MS: u64 = 30_000;
/// Pending keys written again after each successful call to the shared tier: enough to
/// catch up soon after it is back, few enough that no call waits long for others' work.
const CATCH_UP_BATCH: usize = 4;

/// A shared tier for [`Cache::with_shared`]: the store, and how this cache treats it.
#[derive(Debug)]
pub struct SharedTier<R> {
    pub(super) store: R,
    pub(super) team_key: Option<TeamKey>,
    retry_after_ms: u64,
    read_only: bool,
    promote_in_background: bool,
}

impl<R: Store> SharedTier<R> {
    /// A shared tier on `store`, unsealed, tried again 30 s after a failure.
    pub fn new(store: R) -> Self {
        SharedTier {
            store,
            team_key: None,
            retry_after_ms: DEFAULT_RETRY_AFTER_MS,
            read_only: R::READ_ONLY,
            promote_in_background: false,
        }
    }

    /// Returns a shared hit as soon as it is verified, and writes it into the store
    /// afterwards, when the caller runs [`Cache::promote_queued`] (the npm package does,
    /// in the background): the hit then costs the download, not the download and a
    /// local write. Until it is written, the key is read from memory or the shared tier.
    pub fn promote_in_background(mut self) -> Self {
        self.promote_in_background = true;
        self
    }

    /// A tier this cache only reads (a browser's, over HTTP): puts skip it
    /// ([`super::SkipReason::ReadOnly`]), no lease is taken, and an invalidated key is
    /// only never read from it again by this cache.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// Seals every entry written with `key`, and accepts only entries it sealed.
    pub fn team_key(mut self, key: TeamKey) -> Self {
        self.team_key = Some(key);
        self
    }

    /// How long the tier is left alone after a failure (degraded mode) before it is tried
    /// again.
    pub fn retry_after_ms(mut self, ms: u64) -> Self {
        self.retry_after_ms = ms;
        self
    }

    /// Whether this cache only reads the tier: a compile-time constant for a store that
    /// is never written ([`Store::READ_ONLY`]), so the writes are left out of its build.
    pub(super) fn is_read_only(&self) -> bool {
        R::READ_ONLY || self.read_only
    }

    /// The store underneath.
    pub fn store(&self) -> &R {
        &self.store
    }
}

/// The shared tier of a cache that has none: a type no value of which exists, so a
/// [`Cache`] without a shared tier carries none of its code.
#[derive(Debug)]
pub enum NoShared {}

impl Store for NoShared {
    type Bytes = SharedBytes;

    async fn get(&self, _: &Fingerprint) -> Result<Option<SharedBytes>> {
        match *self {}
    }

    async fn put_entry(&self, _: &Fingerprint, _: &EntryWriter<'_>) -> Result<PayloadCheck> {
        match *self {}
    }

    async fn delete(&self, _: &Fingerprint) -> Result<()> {
        match *self {}
    }

    async fn list(&self) -> Result<Vec<Listed>> {
        match *self {}
    }
}

/// What the engine keeps of the shared tier between calls.
#[derive(Default)]
pub(crate) struct SharedState {
    pub(crate) stats: SharedStats,
    /// Until when (ms) the tier is left alone after a failure.
    down_until_ms: u64,
    /// Keys whose shared copy is behind this machine's.
    pub(super) pending: crate::map::HashSet<Fingerprint>,
}

impl SharedState {
    /// The counters, as of `now`.
    pub(crate) fn snapshot(&self, now: u64) -> SharedStats {
        SharedStats {
            pending: self.pending.len() as u64,
            degraded: now < self.down_until_ms,
            ..self.stats.clone()
        }
    }
}

impl<S: Store, C: Clock, R: Store> Cache<S, C, R> {
    /// The shared tier, if this cache has one and `policy`'s type is shared.
    pub(crate) fn sharing(&self, policy: &TypePolicy) -> Option<&SharedTier<R>> {
        self.shared
            .as_ref()
            .filter(|_| policy.shared && policy.retention != Retention::Transient)
    }

    /// The shared tier for a call about `id` of a type with `policy` now: `None` if the
    /// type is not shared, the tier is left alone after a failure, or the key's shared
    /// copy is behind this machine's.
    fn usable(&self, policy: &TypePolicy, id: &Fingerprint, now: u64) -> Option<&SharedTier<R>> {
        let tier = self.sharing(policy)?;
        self.state
            .with(|st| now >= st.shared.down_until_ms && !st.shared.pending.contains(id))
            .then_some(tier)
    }

    /// Counts a failed call and leaves the tier alone for a while.
    fn shared_failed(&self, tier: &SharedTier<R>, e: &Error, now: u64) {
        self.state.with(|st| {
            st.shared.stats.errors += 1;
            st.shared.stats.last_error = Some(error_text(e));
            st.shared.down_until_ms = now.saturating_add(tier.retry_after_ms);
        });
    }

    /// Looks entry `id` of `step` up in the shared tier after both local tiers missed:
    /// verifies it, promotes it into the store (if the type is persistent) and memory, and
    /// counts it. A failure, a damaged or foreign object, or one that is not fresh is a
    /// miss; nothing here fails the lookup. `seen` is the key's write count from before
    /// the local tiers were read: a write that ended since keeps the hit from being
    /// promoted (see `promote.rs`).
    #[allow(clippy::too_many_arguments)] // one lookup's context, passed down once
    pub(crate) async fn shared_lookup(
        &self,
        id: &Fingerprint,
        step: &str,
        policy: &TypePolicy,
        count: bool,
        now: u64,
        epoch: u64,
        seen: u64,
    ) -> Option<Hit> {
        let tier = self.usable(policy, id, now)?;
        let read = match tier.store.get_entry(id).await {
            Ok(read) => read,
            Err(e) => {
                self.shared_failed(tier, &e, now);
                return None;
            }
        };
        let miss = |rejected: bool| {
            self.state.with(|st| {
                st.shared.stats.rejected += u64::from(rejected);
                st.shared.stats.misses += u64::from(count);
            });
        };
        let Some((bytes, check)) = read else {
            miss(false);
            return None;
        };
        let bytes = SharedBytes::from_owner(bytes);
        let read_len = bytes.len() as u64;
        let decoded = entry::unseal(&bytes, tier.team_key.as_ref())
            .ok()
            .and_then(|end| decode_entry(&bytes.slice(0..end)?, id, check));
        let Some(found) = decoded else {
            miss(true);
            return None;
        };
        // Another machine's result obeys this machine's policy: an entry older than the
        // type's age limit or than a forced recompute is a miss (and left for its owner).
        if self.state.with(|st| st.fresh(id, step, found.header.created_ms, now)) != Freshness::Fresh {
            miss(false);
            return None;
        }
        let mut header = found.whole_header();
        if policy.retention == Retention::Persistent && tier.promote_in_background {
            let queued = Queued {
                id: *id,
                header: header.clone(),
                payload: found.payload.clone(),
                seen,
            };
            self.state.with(|st| st.promotions.queue(queued));
        } else if policy.retention == Retention::Persistent
            && let Some(_lock) = self.promotion_lock(id, seen)
        {
            // A store that cannot take it (full, read-only) still leaves the hit: the
            // value is verified and returned, and read from the shared tier again later.
            let local = EntryWriter::new(&header, &found.payload);
            let _ = self.write_store(&mut header, &local, epoch).await;
        }
        let (value, content) = (found.value, found.content);
        self.state.with(|st| {
            st.shared.stats.hits += 1;
            st.shared.stats.bytes_read += read_len;
            let t = st.type_stats(step);
            t.hits += 1;
            t.saved_us += header.cost_us;
            if st.write_count(id) == seen {
                st.promote(*id, &header, &value, content, now, epoch);
            }
        });
        Some(Hit {
            value,
            fingerprint: *id,
            content,
            source: Source::Shared,
            created_ms: header.created_ms,
            cost_us: header.cost_us,
            stored: None,
        })
    }

    /// Writes `entry` to `upload`, the tier [`Cache::upload_tier`] gave (or why there is
    /// none). A failure is counted and the key left pending, to be written again later;
    /// its local copy is untouched.
    pub(crate) async fn shared_put(
        &self,
        id: &Fingerprint,
        entry: &EntryWriter<'_>,
        upload: core::result::Result<&SharedTier<R>, super::SkipReason>,
        now: u64,
    ) -> TierOutcome {
        let tier = match upload {
            Ok(tier) => tier,
            Err(reason) => {
                if reason == super::SkipReason::Degraded {
                    // Left alone after a failure: written with the others when it is back.
                    self.state.with(|st| st.shared.pending.insert(*id));
                }
                return TierOutcome::Skipped(reason);
            }
        };
        match self.shared_write(tier, id, entry).await {
            Ok(_) => {
                self.state.with(|st| st.shared.pending.remove(id));
                self.catch_up(tier, now).await;
                TierOutcome::Stored
            }
            Err(e) => {
                self.shared_failed(tier, &e, now);
                self.state.with(|st| st.shared.pending.insert(*id));
                TierOutcome::Failed(e.kind())
            }
        }
    }

    /// The shared tier a put of a type with `policy` writes to now, or why none.
    pub(super) fn upload_tier(
        &self,
        policy: &TypePolicy,
        now: u64,
    ) -> core::result::Result<&SharedTier<R>, super::SkipReason> {
        let tier = self.sharing(policy).ok_or(super::SkipReason::Policy)?;
        if tier.is_read_only() {
            return Err(super::SkipReason::ReadOnly);
        }
        if now < self.state.with(|st| st.shared.down_until_ms) {
            return Err(super::SkipReason::Degraded);
        }
        Ok(tier)
    }

    /// One write of `entry` to the shared tier, sealed if the tier has a team key,
    /// counted; the bytes written.
    pub(super) async fn shared_write(
        &self,
        tier: &SharedTier<R>,
        id: &Fingerprint,
        entry: &EntryWriter<'_>,
    ) -> Result<u64> {
        let sealed;
        let writer = match &tier.team_key {
            Some(key) => {
                sealed = entry.clone().sealed(key);
                &sealed
            }
            None => entry,
        };
        tier.store.put_entry(id, writer).await?;
        self.state.with(|st| {
            st.shared.stats.puts += 1;
            st.shared.stats.bytes_written += writer.len() as u64;
        });
        Ok(writer.len() as u64)
    }

    /// Removes `id` from the shared tier if its type is shared: an invalidated result must
    /// not come back from there. If that fails the key is left pending, so this machine
    /// never reads it from the shared tier, and the removal is tried again later.
    pub(crate) async fn shared_remove(&self, id: &Fingerprint, policy: &TypePolicy, now: u64) {
        let Some(tier) = self.sharing(policy) else { return };
        // Pending from here: a lookup meanwhile must not read the copy being removed.
        self.state.with(|st| st.shared.pending.insert(*id));
        if tier.is_read_only() || now < self.state.with(|st| st.shared.down_until_ms) {
            return;
        }
        match tier.store.delete(id).await {
            Ok(()) => {
                self.state.with(|st| st.shared.pending.remove(id));
                self.catch_up(tier, now).await;
            }
            Err(e) => self.shared_failed(tier, &e, now),
        }
    }

    /// Brings up to `limit` pending keys' shared copies level with this machine's: writes
    /// the store's entry, or removes the shared copy if the store has none. Stops at the
    /// first failure. Returns how many it settled.
    pub(crate) async fn settle_pending(&self, tier: &SharedTier<R>, limit: usize, now: u64) -> Result<u64> {
        if tier.is_read_only() {
            return Ok(0);
        }
        let batch: Vec<Fingerprint> = self
            .state
            .with(|st| st.shared.pending.iter().take(limit).copied().collect());
        let mut settled = 0;
        for id in batch {
            // Verified, not decoded: the stored payload goes up as it is (compressed or not).
            let local = self.store.get_entry(&id).await?.and_then(|(bytes, check)| {
                let bytes = SharedBytes::from_owner(bytes);
                let (header, range) = entry::decode_checked(&bytes, &id, check).ok()?;
                Some((header, bytes.slice(range)?))
            });
            let done = match local {
                Some((header, payload)) => {
                    let entry = EntryWriter::new(&header, &payload);
                    self.shared_write(tier, &id, &entry).await.map(drop)
                }
                None => tier.store.delete(&id).await,
            };
            if let Err(e) = done {
                self.shared_failed(tier, &e, now);
                return Err(e);
            }
            self.state.with(|st| st.shared.pending.remove(&id));
            settled += 1;
        }
        Ok(settled)
    }

    /// After a successful call: a few pending keys settled on the way. Failures are
    /// counted by [`Cache::settle_pending`] and leave them pending.
    async fn catch_up(&self, tier: &SharedTier<R>, now: u64) {
        if self.state.with(|st| !st.shared.pending.is_empty()) {
            let _ = self.settle_pending(tier, CATCH_UP_BATCH, now).await;
        }
    }

    /// A lease on `id` across every machine using the shared tier, if its type is shared
    /// and the tier can lease. A failure is counted and then each machine may compute it
    /// (wasteful, never wrong).
    pub(crate) async fn shared_lock(&self, id: &Fingerprint, policy: &TypePolicy, now: u64) -> Option<LockGuard> {
        let tier = self.usable(policy, id, now).filter(|tier| !tier.is_read_only())?;
        match tier.store.lock(id).await {
            Ok(guard) => guard,
            Err(e) => {
                self.shared_failed(tier, &e, now);
                None
            }
        }
    }

    /// Whether entry `id` is in the shared tier, as far as its head tells (the entry is
    /// verified when read): for `status` and `has`. A failure is counted and is a no.
    pub(crate) async fn shared_has(&self, id: &Fingerprint, policy: &TypePolicy, now: u64) -> Option<EntryHeader> {
        let tier = self.usable(policy, id, now)?;
        match tier.store.head(id).await {
            Ok(Some(item)) => shared_header(&item),
            Ok(None) => None,
            Err(e) => {
                self.shared_failed(tier, &e, now);
                None
            }
        }
    }

    /// Every entry the shared tier lists, with its header, if the cache has a shared tier
    /// that is not left alone; a failure is counted and lists nothing.
    pub(crate) async fn shared_listing(&self, now: u64) -> Vec<(Listed, EntryHeader)> {
        let Some(tier) = self.shared.as_ref() else {
            return Vec::new();
        };
        if now < self.state.with(|st| st.shared.down_until_ms) {
            return Vec::new();
        }
        match tier.store.list().await {
            Ok(items) => items
                .into_iter()
                .filter_map(|item| shared_header(&item).map(|h| (item, h)))
                .collect(),
            Err(e) => {
                self.shared_failed(tier, &e, now);
                Vec::new()
            }
        }
    }

    /// Writes every pending key's entry to the shared tier (or removes its copy there if
    /// this machine removed it), now, even while the tier is left alone after a failure.
    /// Returns how many keys it settled.
    ///
    /// # Errors
    /// The shared tier's error (the keys not yet settled stay pending), or the store's.
    pub async fn flush_shared(&self) -> Result<u64> {
        self.check_open()?;
        let Some(tier) = self.shared.as_ref() else {
            return Ok(0);
        };
        let now = self.clock.now_ms();
        let settled = self.settle_pending(tier, usize::MAX, now).await?;
        self.state.with(|st| st.shared.down_until_ms = 0);
        Ok(settled)
    }

    /// The shared tier, if the cache has one.
    pub fn shared(&self) -> Option<&SharedTier<R>> {
        self.shared.as_ref()
    }
}

/// The header of a listed shared object, checked against its id and its length (with or
/// without a seal); `None` if it is not a whole entry of that id, or its header is
/// longer than the listed bytes (then it is verified when read).
fn shared_header(item: &Listed) -> Option<EntryHeader> {
    match entry::decode_head(&item.head) {
        Ok(Head::Complete(h, range))
            if h.key == item.id
                && (item.len == range.end as u64 || item.len == (range.end + entry::SEAL_LEN) as u64) =>
        {
            Some(h)
        }
        _ => None,
    }
}

/// An error for people, in the stats: its kind and message.
fn error_text(e: &Error) -> String {
    crate::text!(e.kind().name(), ": ", e.message())
}
