//! Reading: memory tier, then store, decode, verify, promote; and the store's index.

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::Cache;
use super::held::Held;
use super::report::{EntryState, Hit, Source, Status};
use super::state::{Freshness, Slot, State};
use crate::bytes::SharedBytes;
use crate::clock::Clock;
use crate::entry::{self, Codec, EntryHeader, Head, PayloadCheck};
use crate::error::{Error, ErrorKind, Result};
use crate::fingerprint::Fingerprint;
use crate::key::Key;
use crate::policy::Retention;
use crate::policy::TypePolicy;
use crate::provenance::ProvenanceRecord;
use crate::store::{Listed, Store};
use crate::sync::{BoxFuture, CONCURRENT_READERS, Counter};
use crate::value::Value;

/// What a lookup is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// A `get`: fails if reading is switched off; misses count.
    Get,
    /// A lookup whose misses count (the first of `get_or_compute`).
    Counted,
    /// A second look that must not count a miss twice.
    Quiet,
}

/// One entry read from the store: its header, its value, the value's content identity
/// and its stored length.
type Found = Option<(EntryHeader, Value, Fingerprint, u64)>;

/// A verified entry, decoded.
pub(crate) struct Decoded {
    /// Its header without the shape and metadata, which the value holds
    /// ([`Decoded::whole_header`] puts them back).
    pub(crate) header: EntryHeader,
    pub(crate) value: Value,
    /// The value's content identity.
    pub(crate) content: Fingerprint,
    /// The payload as stored (compressed if the header's codec says so).
    pub(crate) payload: SharedBytes,
}

impl Decoded {
    /// The entry's whole header, to write the entry elsewhere.
    pub(crate) fn whole_header(&self) -> EntryHeader {
        EntryHeader {
            shape: self.value.shape().to_vec(),
            meta: self.value.meta().to_vec(),
            ..self.header.clone()
        }
    }
}

/// Verifies the entry `bytes` of `id` (with the payload checksum the store computed as it
/// read, if it did) and decodes it; `None` if it is damaged, another key's or of an
/// unknown format.
pub(crate) fn decode_entry(bytes: &SharedBytes, id: &Fingerprint, check: Option<PayloadCheck>) -> Option<Decoded> {
    let (mut header, range) = entry::decode_checked(bytes, id, check).ok()?;
    let payload = bytes.slice(range)?;
    let data = match header.codec {
        Codec::Raw => payload.clone(),
        Codec::ShuffleLz4 => SharedBytes::from(crate::codec::decompress(
            &payload,
            header.elem.size(),
            usize::try_from(header.raw_len).ok()?,
        )?),
    };
    // The value owns shape and metadata from here; the header keeps what the bookkeeping
    // needs (step, times, cost).
    let shape = core::mem::take(&mut header.shape);
    let meta = core::mem::take(&mut header.meta);
    let value = Value::from_parts(header.elem, shape, data, meta);
    let content = content_of(&header, &value);
    Some(Decoded {
        header,
        value,
        content,
        payload,
    })
}

impl<S: Store, C: Clock, R: Store> Cache<S, C, R> {
    /// Looks `key` up in both tiers.
    pub(crate) async fn lookup(&self, key: &Key, kind: Lookup) -> Result<Option<Hit>> {
        let now = self.clock.now_ms();
        let epoch = self.store.changes();
        let memory = self.memory_tier(key, kind, now, epoch).await?;
        let count = kind != Lookup::Quiet;
        self.after_memory(key.fingerprint(), key.step(), memory, count, now, epoch)
            .await
    }

    /// The memory tier's answer for `key` at `now`, with the store's changes at `epoch`:
    /// a hit, or a miss with the type's policy (a slot another handle may have replaced is
    /// checked against the store first).
    pub(super) async fn memory_tier(&self, key: &Key, kind: Lookup, now: u64, epoch: u64) -> Result<Memory> {
        let count = kind != Lookup::Quiet;
        let id = key.fingerprint();
        let step = key.step();
        // The common cases under the shared lock: a fresh memory-tier hit, or no slot at all.
        // Only where threads can read at once; elsewhere the exclusive path below does the
        // same, and the npm package's module is 0.6 KB smaller gzipped without a second copy.
        let first = if CONCURRENT_READERS {
            self.state
                .read(|st| memory_first::<S>(st, id, step, kind, count, now, epoch))?
        } else {
            First::Undecided
        };
        let memory = match first {
            First::Hit(hit) => return Ok(Memory::Hit(hit)),
            First::NotInMemory(policy) => Memory::Miss(policy),
            First::Undecided => self.memory_locked(id, step, kind, count, now, epoch)?,
        };
        let memory = match memory {
            // Never made where the store's changes cannot move: the check is left out.
            Memory::Recheck(version) if S::TRACKS_CHANGES => {
                self.recheck(id, version, epoch).await?;
                match self.memory_locked(id, step, kind, count, now, epoch)? {
                    // Replaced again meanwhile: go to the store.
                    Memory::Recheck(_) => Memory::Miss(self.state.with(|st| st.policy(step))),
                    settled => settled,
                }
            }
            settled => settled,
        };
        Ok(memory)
    }

    /// Checks a memory slot holding `version` of entry `id` against the store after
    /// another handle changed the store: marks it checked at `epoch` if the store still
    /// holds that version, drops it otherwise.
    ///
    /// Boxed, so that the callers' futures only hold a pointer to it: a build whose store
    /// never tracks changes ([`Store::TRACKS_CHANGES`], the npm package's) never makes one
    /// and links none of it, where an awaited state of the callers would keep it all.
    fn recheck<'a>(&'a self, id: &'a Fingerprint, version: PayloadCheck, epoch: u64) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.recheck_now(id, version, epoch))
    }

    async fn recheck_now(&self, id: &Fingerprint, version: PayloadCheck, epoch: u64) -> Result<()> {
        let current = match self.store.head(id).await? {
            Some(item) => match listed_header(&item, &item.head) {
                Listing::Header(header) => Some(header.payload_check),
                // A head too long to tell from its first bytes: the store path reads it.
                Listing::NeedBytes(_) | Listing::Damaged => None,
            },
            None => None,
        };
        self.state.with(|st| {
            let Some(slot) = st.memory.slots.get(id).filter(|slot| slot.version == version) else {
                return;
            };
            if current == Some(version) {
                slot.checked.set(epoch);
            } else {
                st.memory.remove(id);
            }
        });
        Ok(())
    }

    /// The memory-tier lookup under the exclusive lock: removes a stale slot.
    fn memory_locked(
        &self,
        id: &Fingerprint,
        step: &str,
        kind: Lookup,
        count: bool,
        now: u64,
        epoch: u64,
    ) -> Result<Memory> {
        self.state.with(|st| {
            check_lookup(st, kind)?;
            let policy = st.policy(step);
            if let Some(slot) = st.memory.slots.get(id) {
                let (created_ms, cost_us) = (slot.created_ms, slot.cost_us);
                let fresh = st.freshness(id, step, &policy, created_ms, now) == Freshness::Fresh;
                if fresh && changed_elsewhere::<S, _>(&policy, slot, epoch) {
                    return Ok(Memory::Recheck(slot.version));
                }
                if fresh {
                    slot.hits.add(1);
                    slot.last_use_ms.raise(now);
                    let held = slot.payload.clone();
                    st.memory.stats.hits += 1;
                    let t = st.type_stats(step);
                    t.hits += 1;
                    t.saved_us += cost_us;
                    return Ok(Memory::Hit(Hit {
                        value: held.value,
                        fingerprint: *id,
                        content: held.content,
                        source: Source::Memory,
                        created_ms,
                        cost_us,
                        stored: None,
                    }));
                }
                st.memory.remove(id);
            }
            if count {
                st.memory.stats.misses += 1;
            }
            Ok(Memory::Miss(policy))
        })
    }

    /// The store tier, after the memory tier missed (or `memory` holds its hit).
    pub(super) async fn after_memory(
        &self,
        id: &Fingerprint,
        step: &str,
        memory: Memory,
        count: bool,
        now: u64,
        epoch: u64,
    ) -> Result<Option<Hit>> {
        let policy = match memory {
            Memory::Miss(policy) => policy,
            Memory::Hit(hit) => return Ok(Some(hit)),
            // Settled by the caller before it gets here.
            Memory::Recheck(_) => self.state.with(|st| st.policy(step)),
        };
        // Before reading: what was read is promoted only if no write of the key ends meanwhile.
        let seen = self.state.with(|st| st.write_count(id));
        let found = if policy.retention == Retention::Persistent {
            self.load_entry(id).await?
        } else {
            None
        };
        // One lock for the freshness check and all the bookkeeping of a hit.
        let outcome = found.map(|(header, value, content, len)| {
            let freshness = self.state.with(|st| {
                let freshness = st.fresh(id, step, header.created_ms, now);
                if freshness == Freshness::Fresh {
                    count_store_hit(st, step, header.cost_us);
                    if st.write_count(id) == seen {
                        if !st.index.touch(id, now) {
                            st.index.insert(*id, slot_of(&header, self.store.footprint(len), ()));
                            st.index.touch(id, now);
                        }
                        st.promote(*id, &header, &value, content, now, epoch);
                    }
                }
                freshness
            });
            (freshness, header, value, content)
        });
        match outcome {
            Some((Freshness::Fresh, header, value, content)) => {
                return Ok(Some(Hit {
                    value,
                    fingerprint: *id,
                    content,
                    source: Source::Store,
                    created_ms: header.created_ms,
                    cost_us: header.cost_us,
                    stored: None,
                }));
            }
            Some((Freshness::Expired, ..)) => {
                self.discard(id).await;
                self.state.with(|st| {
                    st.index.remove(id);
                    st.index.stats.expired += 1;
                });
            }
            Some((Freshness::Forced, ..)) | None => {}
        }
        if count && policy.retention == Retention::Persistent {
            self.state.with(|st| st.index.stats.misses += 1);
        }
        if let Some(hit) = self.shared_lookup(id, step, &policy, count, now, epoch, seen).await {
            return Ok(Some(hit));
        }
        if count {
            self.state.with(|st| st.type_stats(step).misses += 1);
        }
        Ok(None)
    }

    /// Reads, verifies and decodes entry `id`; removes it if it is damaged or of an
    /// unknown format. Whether it is fresh is for the caller to decide.
    async fn load_entry(&self, id: &Fingerprint) -> Result<Found> {
        let Some((bytes, check)) = self.store.get_entry(id).await? else {
            self.state.with(|st| st.index.remove(id));
            return Ok(None);
        };
        let bytes = SharedBytes::from_owner(bytes);
        let len = bytes.len() as u64;
        let decoded = decode_entry(&bytes, id, check).map(|d| (d.header, d.value, d.content));
        let Some((header, value, content)) = decoded else {
            self.discard(id).await;
            self.state.with(|st| {
                st.index.remove(id);
                st.corrupt_removed += 1;
            });
            return Ok(None);
        };
        Ok(Some((header, value, content, len)))
    }

    /// Removes an expired or damaged entry from the store. A failure (a read-only
    /// directory) leaves it where it is, a miss on every read, and is not the caller's
    /// error: the read it came from still answers.
    pub(crate) async fn discard(&self, id: &Fingerprint) {
        let _ = self.store.delete(id).await;
    }

    /// The state of one key, reading only the entry's header from the store.
    pub(crate) async fn state_of(&self, key: &Key) -> Result<Status> {
        let id = key.fingerprint();
        let now = self.clock.now_ms();
        let epoch = self.store.changes();
        // Asked only of a store that tracks changes: no slot is ever unchecked elsewhere.
        if S::TRACKS_CHANGES
            && let Some(version) = self.state.with(|st| {
                let policy = st.policy(key.step());
                let slot = st.memory.slots.get(id)?;
                changed_elsewhere::<S, _>(&policy, slot, epoch).then_some(slot.version)
            })
        {
            self.recheck(id, version, epoch).await?;
        }
        let in_memory = self.state.with(|st| {
            st.check_open()?;
            let policy = st.policy(key.step());
            Ok::<_, Error>(st.memory.slots.get(id).and_then(|slot| {
                // A slot that may have been replaced elsewhere: the store says.
                (st.fresh(id, key.step(), slot.created_ms, now) == Freshness::Fresh
                    && !changed_elsewhere::<S, _>(&policy, slot, epoch))
                .then_some((slot.created_ms, slot.cost_us))
            }))
        })?;
        let status = |state, info: Option<(u64, u64)>| Status {
            key: key.clone(),
            state,
            created_ms: info.map(|i| i.0),
            cost_us: info.map(|i| i.1),
        };
        if let Some(info) = in_memory {
            return Ok(status(EntryState::Memory, Some(info)));
        }
        let header = match self.store.head(id).await? {
            Some(item) => match self.listing_of(&item).await? {
                Some(Listing::Header(header)) => Some(header),
                _ => None,
            },
            None => None,
        };
        let Some(header) = header else {
            // Not on this machine: perhaps in the shared tier, if fresh by this machine's policy.
            let policy = self.state.with(|st| st.policy(key.step()));
            let shared = self
                .shared_has(id, &policy, now)
                .await
                .filter(|h| self.state.with(|st| st.fresh(id, key.step(), h.created_ms, now)) == Freshness::Fresh);
            return Ok(match shared {
                Some(h) => status(EntryState::Shared, Some((h.created_ms, h.cost_us))),
                None => status(EntryState::Missing, None),
            });
        };
        let info = Some((header.created_ms, header.cost_us));
        Ok(
            match self.state.with(|st| st.fresh(id, key.step(), header.created_ms, now)) {
                Freshness::Fresh => status(EntryState::Stored, info),
                Freshness::Expired => status(EntryState::Expired, info),
                Freshness::Forced => status(EntryState::Forced, info),
            },
        )
    }

    /// Rebuilds the store's index from a listing if `force`, never done, or stale.
    ///
    /// Entries whose heads are damaged are removed from the store.
    pub(crate) async fn refresh_index(&self, now: u64, force: bool) -> Result<()> {
        let due = self.state.with(|st| {
            force
                || st
                    .index_listed_ms
                    .is_none_or(|t| now.saturating_sub(t) >= super::INDEX_REFRESH_MS)
        });
        if !due {
            return Ok(());
        }
        self.relist(now, true).await?;
        Ok(())
    }

    /// What listed entry `item` says of itself: its header from the bytes listed with it,
    /// or, where the header is longer than those (a large value's block table, 16 bytes
    /// per MiB, fills them at 256 MiB; large metadata), from the head read again at the
    /// length its prelude asks for: a range read, never the whole entry. `None` if the
    /// entry is gone.
    async fn listing_of(&self, item: &Listed) -> Result<Option<Listing>> {
        match listed_header(item, &item.head) {
            Listing::NeedBytes(want) => Ok(self
                .store
                .get_range(&item.id, 0..want)
                .await?
                .map(|head| listed_header(item, &head))),
            listing => Ok(Some(listing)),
        }
    }

    /// Rebuilds the index from a listing of the store now, removing damaged entries, and
    /// with `trim` evicts what is over the budget; the provenance of each entry listed.
    pub(crate) async fn relist(&self, now: u64, trim: bool) -> Result<Vec<(Fingerprint, ProvenanceRecord)>> {
        // Read before listing: a change by another handle from here on moves it, and the
        // next write lists again.
        let epoch = self.store.changes();
        let listed = self.store.list().await?;
        let mut slots = Vec::with_capacity(listed.len());
        let mut provenances = Vec::with_capacity(listed.len());
        let mut damaged = Vec::new();
        for item in listed {
            let Some(listing) = self.listing_of(&item).await? else {
                continue;
            };
            match listing {
                Listing::Header(h) => {
                    slots.push((item.id, slot_of(&h, self.store.footprint(item.len), ())));
                    provenances.push((item.id, h.provenance));
                }
                // All of the entry's bytes and still no header: damaged too.
                Listing::NeedBytes(_) | Listing::Damaged => damaged.push(item.id),
            }
        }
        for id in &damaged {
            self.discard(id).await;
        }
        self.state.with(|st| {
            let old = core::mem::take(&mut st.index.slots);
            st.index.stats.bytes = 0;
            st.index.stats.entries = 0;
            for (id, mut slot) in slots {
                if let Some(known) = old.get(&id).filter(|k| k.created_ms == slot.created_ms) {
                    slot.hits = known.hits.clone();
                    slot.last_use_ms = known.last_use_ms.clone();
                }
                st.index.insert(id, slot);
            }
            st.corrupt_removed += damaged.len() as u64;
            st.index_listed_ms = Some(now);
            st.index_listed_epoch = epoch;
        });
        // Processes writing at the same moment can overshoot the budget together, each
        // having seen room; whoever lists the store next trims it back by the same policy.
        // A trim that fails (a read-only directory) is not the listing's failure: what was
        // listed stands, and the next write trims again or reports the error.
        let (bytes, budget) = self.state.with(|st| (st.index.stats.bytes, st.index.stats.budget));
        if trim && bytes > budget {
            let _ = self.make_room(None, 0, budget, now).await;
        }
        Ok(provenances)
    }
}

/// The memory tier's answer.
pub(super) enum Memory {
    /// A fresh hit, counted.
    Hit(Hit),
    /// No usable slot (the miss is counted): go to the store with this type policy.
    Miss(TypePolicy),
    /// A slot holding this version of the entry, which another handle may have replaced
    /// or removed since: check it against the store before serving it.
    Recheck(PayloadCheck),
}

/// Whether a slot of a stored type may no longer hold the store's version: another handle
/// changed the store since the slot was last checked. Types kept only in memory are this
/// handle's own and never checked, and neither is anything on a store whose changes never
/// move ([`Store::TRACKS_CHANGES`]).
fn changed_elsewhere<S: Store, T>(policy: &TypePolicy, slot: &Slot<T>, epoch: u64) -> bool {
    S::TRACKS_CHANGES && policy.retention == Retention::Persistent && slot.checked.get() != epoch
}

/// What the leading bytes of a listed entry say.
// Made once per listed entry and matched at once, like `entry::Head`.
#[allow(clippy::large_enum_variant)]
enum Listing {
    /// Its header: of that entry, and ending where its listed length says.
    Header(EntryHeader),
    /// A header longer than the bytes given: this many bytes hold it.
    NeedBytes(usize),
    /// Not an entry of that id and length.
    Damaged,
}

/// The header that `bytes` (the leading bytes of listed entry `item`, or all of them)
/// hold, checked against the item's id and length.
fn listed_header(item: &Listed, bytes: &[u8]) -> Listing {
    match entry::decode_head(bytes) {
        Ok(Head::Complete(h, range)) if h.key == item.id && range.end as u64 == item.len => Listing::Header(h),
        Ok(Head::NeedBytes(want)) => Listing::NeedBytes(want),
        _ => Listing::Damaged,
    }
}

/// What the shared-lock look at the memory tier found.
enum First {
    /// A fresh hit, counted.
    Hit(Hit),
    /// No slot for the key (the miss is counted): go to the store with this policy.
    NotInMemory(TypePolicy),
    /// A slot that may be stale, or counters to create: take the exclusive lock.
    Undecided,
}

/// Counts a hit in the store tier of `step`, which saved `cost_us` of computing.
pub(super) fn count_store_hit(st: &mut State, step: &str, cost_us: u64) {
    st.index.stats.hits += 1;
    let t = st.type_stats(step);
    t.hits += 1;
    t.saved_us += cost_us;
}

/// Whether a lookup of `kind` may run: the cache is open and, for a get, reading is on.
fn check_lookup(st: &State, kind: Lookup) -> Result<()> {
    st.check_open()?;
    if kind == Lookup::Get && !st.config.access.read {
        return Err(Error::new(
            ErrorKind::ReadDisabled,
            "reading is switched off in this cache's access mode",
        ));
    }
    Ok(())
}

/// The memory-tier lookup under the shared lock, which threads hold together: it decides
/// the common cases (a fresh hit, no slot) and leaves the rest to [`Cache::memory_locked`].
fn memory_first<S: Store>(
    st: &State,
    id: &Fingerprint,
    step: &str,
    kind: Lookup,
    count: bool,
    now: u64,
    epoch: u64,
) -> Result<First> {
    check_lookup(st, kind)?;
    let Some(slot) = st.memory.slots.get(id) else {
        if count {
            st.memory.shared_misses.add(1);
        }
        return Ok(First::NotInMemory(st.policy(step)));
    };
    Ok(memory_hit::<S>(st, slot, id, step, now, epoch).map_or(First::Undecided, First::Hit))
}

/// The content identity of `value`, read from the verified entry `header`: an
/// uncompressed payload is the value's data, so its XXH3-128 checksum, just verified, is
/// the data's; a compressed payload's checksum covers the compressed bytes, and an entry
/// of format 1 carries a blake3 digest, so those data are checksummed here.
pub(crate) fn content_of(header: &EntryHeader, value: &Value) -> Fingerprint {
    match (header.codec, header.payload_check) {
        (Codec::Raw, PayloadCheck::Xxh3(check)) => value.content_with(u128::from_le_bytes(check)),
        _ => value.content(),
    }
}

/// A fresh memory-tier hit of `slot`, counted; `None` if the slot is stale, must be checked
/// against the store, or the type's counters do not exist yet.
fn memory_hit<S: Store>(
    st: &State,
    slot: &Slot<Held>,
    id: &Fingerprint,
    step: &str,
    now: u64,
    epoch: u64,
) -> Option<Hit> {
    let policy = st.policy(step);
    let fresh = st.freshness(id, step, &policy, slot.created_ms, now) == Freshness::Fresh;
    let counters = st.type_counters(step)?;
    if !fresh || changed_elsewhere::<S, _>(&policy, slot, epoch) {
        return None;
    }
    slot.hits.add(1);
    slot.last_use_ms.raise(now);
    st.memory.shared_hits.add(1);
    counters.shared_hits.add(1);
    counters.shared_saved_us.add(slot.cost_us);
    Some(Hit {
        value: slot.payload.value.clone(),
        fingerprint: *id,
        content: slot.payload.content,
        source: Source::Memory,
        created_ms: slot.created_ms,
        cost_us: slot.cost_us,
        stored: None,
    })
}

/// A slot describing an entry with `header` occupying `size` bytes.
pub(crate) fn slot_of<T>(header: &EntryHeader, size: u64, payload: T) -> Slot<T> {
    Slot {
        step: header.step.clone(),
        size,
        created_ms: header.created_ms,
        cost_us: header.cost_us,
        last_use_ms: Counter::new(header.created_ms),
        hits: Counter::default(),
        version: header.payload_check,
        checked: Counter::default(),
        payload,
    }
}
