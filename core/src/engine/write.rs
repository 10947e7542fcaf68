//! Writing: encode, make room by the eviction plan, store, index, keep in memory.

use alloc::borrow::Cow;
use alloc::vec::Vec;

use super::Cache;
use super::held::Held;
use super::join::join;
use super::read::{content_of, slot_of};
use super::report::{PutReport, SkipReason, TierOutcome};
use super::state::{Slot, State};
use crate::clock::Clock;
use crate::entry::{Codec, EntryHeader, EntryWriter, MAX_META_LEN, PayloadCheck};
use crate::error::{Error, ErrorKind, Result};
use crate::fingerprint::Fingerprint;
use crate::key::Key;
use crate::policy::{Retention, TypePolicy};
use crate::provenance::ProvenanceRecord;
use crate::store::Store;
use crate::sync::Counter;
use crate::value::{Value, ValueRef};

/// Compressed payloads are kept only if they save at least 1/8 of the bytes; less is not
/// worth the decompression on every read and the loss of zero-copy reads.
const MIN_SAVING_DIVISOR: usize = 8;

/// Bytes a memory-tier entry is charged beyond its data and metadata (its bookkeeping),
/// so that empty values still count and a zero budget keeps nothing.
pub const MEMORY_SLOT_OVERHEAD: u64 = 64;

/// One value on its way to the tiers, and how it is to be stored.
pub(crate) struct Writing<'a> {
    /// The value's type, shape, data and metadata.
    pub(crate) value: ValueRef<'a>,
    /// The value itself, which the memory tier may share; `None` for bytes the caller
    /// keeps and may change ([`Cache::put_ref`]), which the memory tier would have to copy.
    pub(crate) owned: Option<&'a Value>,
    /// The entry of the value made elsewhere (its whole header and stored payload), which
    /// an import writes as it is instead of encoding the value again: then an entry the
    /// store holds for the key already is kept ([`SkipReason::Present`]), and the shared
    /// tier is left alone. Imports share this path with puts so that both take the same
    /// lock, policy and tier order (and the npm package's module carries one copy of it).
    pub(crate) made: Option<(EntryHeader, &'a [u8])>,
    /// A computed value, which the caller returns anyway: a failed store is reported, not
    /// returned.
    pub(crate) keep: bool,
    /// The compute cost in microseconds (0 when unknown).
    pub(crate) cost_us: u64,
}

impl<'a> Writing<'a> {
    /// A put or compute of `value`, which the memory tier may share.
    pub(crate) fn of(value: &'a Value, cost_us: u64) -> Self {
        Writing {
            value: value.view(),
            owned: Some(value),
            made: None,
            keep: false,
            cost_us,
        }
    }
}

impl<S: Store, C: Clock, R: Store> Cache<S, C, R> {
    /// Stores `writing` in the tiers its type's policy names, and sets `content` to the
    /// value's content identity where it needed it (left `None` if it stored nothing).
    ///
    /// A store that fails makes this fail, unless [`Writing::keep`]: then the failure is
    /// in the report and the value is still kept in memory where the policy allows.
    pub(crate) async fn store_value(
        &self,
        key: &Key,
        writing: Writing<'_>,
        content: &mut Option<Fingerprint>,
        now: u64,
    ) -> Result<PutReport> {
        let value = writing.value;
        if value.meta().len() > MAX_META_LEN {
            return Err(Error::new(
                ErrorKind::InvalidValue,
                crate::text!(
                    "metadata is limited to ",
                    MAX_META_LEN,
                    " bytes, got ",
                    value.meta().len()
                ),
            ));
        }
        let (policy, access) = self.state.with(|st| {
            st.check_open()?;
            Ok::<_, Error>((st.policy(key.step()), st.config.access))
        })?;
        if !access.write {
            return Ok(PutReport::skipped(SkipReason::WriteDisabled));
        }
        if policy.retention == Retention::Transient {
            return Ok(PutReport::skipped(SkipReason::Policy));
        }
        // One write of the key at a time; a shared hit waiting to be promoted must not land
        // after this value.
        let _lock = self.write_lock(key.fingerprint()).await;
        let persistent = policy.retention == Retention::Persistent;
        if writing.made.is_some() && persistent && self.holds_fresh(key).await? {
            return Ok(PutReport::skipped(SkipReason::Present));
        }
        self.state.with(|st| st.promotions.cancel(key.fingerprint()));
        let imported = writing.made.is_some();
        let mut header = match writing.made {
            Some((header, payload)) => (header, Cow::Borrowed(payload)),
            None => self.header(key, value, writing.cost_us, now, policy),
        };
        // Read before the write: a change by another handle from here on moves it, and
        // the slot is checked against the store before it is served again.
        let epoch = self.store.changes();
        // Whether the value leaves this machine, decided once: an import never does.
        let upload = if imported {
            Err(SkipReason::Policy)
        } else {
            self.upload_tier(&policy, now)
        };
        let mut entry = EntryWriter::new(&header.0, &header.1);
        if let Some(value) = writing.owned {
            // An upload that outlives the poll can share the value's bytes, not copy them
            // (ignored where the payload is not the value's own bytes: compressed).
            entry = entry.owned_by(value.data().clone());
        }
        if upload.is_ok() && persistent {
            // Written to two stores: checksummed once, here, for both.
            entry = entry.prepared()?;
        }
        let local = async {
            if !persistent {
                return Ok(TierOutcome::Skipped(SkipReason::Policy));
            }
            match self.write_store(&mut header.0, &entry, epoch).await {
                Err(e) if writing.keep => Ok(TierOutcome::Failed(e.kind())),
                outcome => outcome,
            }
        };
        let shared = self.shared_put(key.fingerprint(), &entry, upload, now);
        // The upload starts first, so that the local write (which may hold the thread,
        // as a filesystem write does) proceeds while the shared store takes the bytes.
        // Each tier's outcome is its own: the local tiers hold the value whatever the
        // shared tier does.
        let (shared, store) = join(shared, local).await;
        let store = match store {
            Ok(outcome) => outcome,
            Err(e) => {
                // The put failed, so this machine keeps what it had: the bucket must not
                // hold a value its store does not. Left pending, the key's shared copy
                // is brought level with the store once the store answers again.
                if shared == TierOutcome::Stored {
                    self.shared_remove(key.fingerprint(), &policy, now).await;
                    self.state.with(|st| st.shared.pending.insert(*key.fingerprint()));
                }
                return Err(e);
            }
        };
        // Outside the lock: checksumming a large map must not hold up other threads. A
        // stored entry's header has the checksum the store computed as it wrote, which
        // for a raw payload is the data's: then the map is not read once more.
        // (Borrowed bytes, which the memory tier does not keep, need none.)
        let identity = writing.owned.map(|value| match store {
            TierOutcome::Stored => content_of(&header.0, value),
            _ => value.content(),
        });
        *content = identity;
        let memory = self.state.with(|st| {
            if !imported && st.force.covers(key.step()) {
                st.refreshed.insert(*key.fingerprint());
            }
            st.note_write(key.fingerprint());
            let memory = match writing.owned.zip(identity) {
                Some((value, identity)) => st.promote(*key.fingerprint(), &header.0, value, identity, now, epoch),
                None => {
                    // Left to the next read, which maps the value from the store. The older
                    // value the memory tier held must not be served after this one.
                    st.memory.remove(key.fingerprint());
                    TierOutcome::Skipped(SkipReason::Borrowed)
                }
            };
            if !imported && (memory == TierOutcome::Stored || store == TierOutcome::Stored) {
                st.type_stats(key.step()).puts += 1;
            }
            memory
        });
        Ok(PutReport { memory, store, shared })
    }

    fn header<'v>(
        &self,
        key: &Key,
        value: ValueRef<'v>,
        cost_us: u64,
        now: u64,
        policy: TypePolicy,
    ) -> (EntryHeader, Cow<'v, [u8]>) {
        let raw: &'v [u8] = value.data();
        let elem = value.element_type();
        let mut codec = Codec::Raw;
        let mut payload = Cow::Borrowed(raw);
        if policy.compress && policy.retention == Retention::Persistent {
            let packed = crate::codec::compress(raw, elem.size())
                .filter(|packed| packed.len() <= raw.len() - raw.len() / MIN_SAVING_DIVISOR);
            if let Some(packed) = packed {
                codec = Codec::ShuffleLz4;
                payload = Cow::Owned(packed);
            }
        }
        let header = EntryHeader {
            key: *key.fingerprint(),
            step: key.step().into(),
            created_ms: now,
            cost_us,
            elem,
            shape: value.shape().to_vec(),
            codec,
            raw_len: raw.len() as u64,
            payload_len: payload.len() as u64,
            // Filled in by the store as it writes (`Store::put_entry`).
            payload_check: PayloadCheck::placeholder(),
            meta: value.meta().to_vec(),
            provenance: ProvenanceRecord::now(key.encoded_args()),
            // Filled in by `EntryWriter`.
            blocks: crate::entry::BlockTable::default(),
        };
        (header, payload)
    }

    /// Writes `entry`, whose header is `header`, to the store after evicting what its
    /// budget requires, and fills in the header's payload checksum. `epoch` is the store's
    /// [`Store::changes`], read by the caller just before.
    pub(crate) async fn write_store(
        &self,
        header: &mut EntryHeader,
        entry: &EntryWriter<'_>,
        epoch: u64,
    ) -> Result<TierOutcome> {
        // A header no reader would accept (a raw payload's block table, 16 bytes per MiB,
        // beside the largest metadata): never written, as a value over the budget is not.
        if !entry.head_readable() {
            return Ok(TierOutcome::Skipped(SkipReason::TooLarge));
        }
        let size = self.store.footprint(entry.len() as u64);
        let id = header.key;
        let now = header.created_ms;
        let budget = self.state.with(|st| st.index.stats.budget);
        if size > budget {
            return Ok(TierOutcome::Skipped(SkipReason::TooLarge));
        }
        // Decide evictions from a fresh listing whenever the index thinks the store is
        // over budget (other handles may have removed entries since it was built) or
        // another handle changed the store since (it may have added some).
        let over = self.state.with(|st| {
            let old = st.index.slots.get(&id).map_or(0, |s| s.size);
            st.index_listed_ms.is_none() || st.index_listed_epoch != epoch || st.index.stats.bytes - old + size > budget
        });
        self.refresh_index(now, over).await?;
        if !self.make_room(Some(&id), size, budget, now).await? {
            return Ok(TierOutcome::Skipped(SkipReason::NoRoom));
        }
        header.payload_check = match self.store.put_entry(&id, entry).await {
            Ok(check) => check,
            // The store itself is full (a disk, a browser quota) below our budget: evict by
            // policy as if the budget were what is stored now, so exactly as many bytes as
            // the value needs, and try once more. Evicting more could not help a value
            // that fits where that many bytes were; if the entries that may go hold fewer,
            // nothing is evicted for a put that would fail anyway.
            Err(e) if e.kind() == ErrorKind::StorageFull => {
                self.refresh_index(now, true).await?;
                let stored = self.state.with(|st| st.index.stats.bytes);
                if !self.make_room(Some(&id), size, stored, now).await? {
                    return Err(e);
                }
                self.store.put_entry(&id, entry).await?
            }
            Err(e) => return Err(e),
        };
        self.state.with(|st| st.index.insert(id, slot_of(header, size, ())));
        // Handles writing at the same moment each saw room before the others' entries
        // landed: whoever finishes after another handle's change lists again and trims
        // the store back to its budget, so the last writer leaves it within budget.
        let listed_epoch = self.state.with(|st| st.index_listed_epoch);
        if self.store.changes() != listed_epoch {
            self.refresh_index(now, true).await?;
        }
        Ok(TierOutcome::Stored)
    }
}

impl<S: Store, C: Clock, R: Store> Cache<S, C, R> {
    /// Evicts by the eviction plan (never `id`) until `size` more bytes fit in `budget`;
    /// false if pinned and in-flight entries leave no room.
    pub(crate) async fn make_room(&self, id: Option<&Fingerprint>, size: u64, budget: u64, now: u64) -> Result<bool> {
        let victims = self.state.with(|st| {
            st.index
                .plan_room_within(id, size, budget, now, |c| st.as_stored_candidate(c))
        });
        let Some(victims) = victims else { return Ok(false) };
        for victim in &victims {
            self.store.delete(victim).await?;
            self.state.with(|st| {
                if st.index.remove(victim).is_some() {
                    st.index.stats.evictions += 1;
                }
            });
        }
        Ok(true)
    }
}

impl State {
    /// Keeps `value` (of content identity `content`) in the memory tier if the type's
    /// policy and the budget allow, as the version of the entry the store held at `epoch`
    /// (its [`Store::changes`]).
    pub(crate) fn promote(
        &mut self,
        id: Fingerprint,
        header: &EntryHeader,
        value: &Value,
        content: Fingerprint,
        now: u64,
        epoch: u64,
    ) -> TierOutcome {
        if self.policy(&header.step).retention == Retention::Transient {
            return TierOutcome::Skipped(SkipReason::Policy);
        }
        let size = (value.data().len() + value.meta().len()) as u64 + MEMORY_SLOT_OVERHEAD;
        if size > self.memory.stats.budget {
            return TierOutcome::Skipped(SkipReason::TooLarge);
        }
        let Some(victims): Option<Vec<Fingerprint>> = self
            .memory
            .plan_room(&id, size, now, |c| c.pinned = self.is_pinned(&c.id))
        else {
            return TierOutcome::Skipped(SkipReason::NoRoom);
        };
        for victim in victims {
            self.memory.remove(&victim);
            self.memory.stats.evictions += 1;
        }
        let held = Held {
            value: value.clone(),
            content,
        };
        let slot: Slot<Held> = slot_of(header, size, held);
        self.memory.insert(
            id,
            Slot {
                last_use_ms: Counter::new(now),
                checked: Counter::new(epoch),
                ..slot
            },
        );
        TierOutcome::Stored
    }
}
