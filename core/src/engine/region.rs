//! Region reads: part of a stored array without reading (or verifying) the rest.

use alloc::vec::Vec;
use core::ops::Range;

use super::Cache;
use super::read::{Lookup, Memory, count_store_hit};
use super::report::{Hit, Source};
use super::state::Freshness;
use crate::bytes::SharedBytes;
use crate::clock::Clock;
use crate::entry::{self, BLOCK_LEN, EntryHeader, Head, LIST_HEAD_LEN};
use crate::error::{Error, ErrorKind, Result};
use crate::fingerprint::Fingerprint;
use crate::key::Key;
use crate::policy::Retention;
use crate::region::{Anchor, RegionPlan};
use crate::store::Store;
use crate::value::Value;

impl<S: Store, C: Clock, R: Store> Cache<S, C, R> {
    /// Looks `key` up like [`Cache::get`] and returns only `region` of its value: one
    /// range per leading dimension, outermost first, the dimensions after the last range
    /// taken whole, and a range ending at `u64::MAX` running to its dimension's end (for a
    /// `[z, y, x]` volume, `&[10..11]` is the axial slice 10 and `&[0..u64::MAX, 5..6]` the
    /// coronal slice 5). The hit's value has the region's shape (as many dimensions as the
    /// value), and its content identity is the region's.
    ///
    /// From the store, an entry with per-block checksums (an uncompressed array of more
    /// than [`entry::BLOCK_LEN`] bytes) is read only in the blocks the region touches,
    /// and only those are verified: damage elsewhere does not fail the region. Any other
    /// entry, or one that does not read back as its header says (damaged, or replaced
    /// meanwhile), is read whole as `get` reads it, and then cut. A region read does not
    /// bring the whole value into the memory tier; a value already there is cut from it.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidArgument`] if the value is found and `region` does not fit
    /// its shape (more ranges than dimensions, a range past its dimension's end or
    /// backwards) or the value is a record; otherwise as [`Cache::get`].
    pub async fn get_region(&self, key: &Key, region: &[Range<u64>]) -> Result<Option<Hit>> {
        self.region_at(key, region, Anchor::First).await
    }

    /// [`Cache::get_region`] with the ranges given for the last dimensions instead, the
    /// dimensions before them taken whole: for a `[z, y, x]` or a `[t, z, y, x]` array
    /// alike, `&[5..6, 0..u64::MAX, 0..u64::MAX]` is the z slice 5 (as the npm package's
    /// named axes `{ z: [5, 6] }` are).
    ///
    /// # Errors
    /// As [`Cache::get_region`].
    pub async fn get_trailing_region(&self, key: &Key, region: &[Range<u64>]) -> Result<Option<Hit>> {
        self.region_at(key, region, Anchor::Last).await
    }

    async fn region_at(&self, key: &Key, region: &[Range<u64>], anchor: Anchor) -> Result<Option<Hit>> {
        let now = self.clock.now_ms();
        let epoch = self.store.changes();
        let (id, step) = (key.fingerprint(), key.step());
        let memory = match self.memory_tier(key, Lookup::Get, now, epoch).await? {
            Memory::Hit(hit) => return cut(hit, region, anchor).map(Some),
            Memory::Miss(policy) if policy.retention == Retention::Persistent => {
                match self.store_region(id, step, region, anchor, now).await? {
                    Found::Region(hit) => return Ok(Some(hit)),
                    Found::Whole => Memory::Miss(policy),
                }
            }
            other => other,
        };
        match self.after_memory(id, step, memory, true, now, epoch).await? {
            Some(hit) => cut(hit, region, anchor).map(Some),
            None => Ok(None),
        }
    }

    /// Reads `region` of entry `id` from the store block by block, if the entry has
    /// per-block checksums, is `id`'s, is fresh and its blocks check out; anything else
    /// is left to a whole read.
    async fn store_region(
        &self,
        id: &Fingerprint,
        step: &str,
        region: &[Range<u64>],
        anchor: Anchor,
        now: u64,
    ) -> Result<Found> {
        let Some((header, payload)) = self.store_head(id).await? else {
            return Ok(Found::Whole);
        };
        if header.key != *id || header.blocks.is_empty() {
            return Ok(Found::Whole);
        }
        let plan = RegionPlan::new(header.elem, &header.shape, region, anchor)?;
        let mut pieces: Vec<(u64, SharedBytes)> = Vec::new();
        for blocks in plan.blocks() {
            let start = blocks.start as usize * BLOCK_LEN;
            let end = (blocks.end as usize * BLOCK_LEN).min(payload.len());
            let Some(bytes) = self
                .store
                .get_range(id, payload.start + start..payload.start + end)
                .await?
            else {
                return Ok(Found::Whole);
            };
            let sound = bytes.len() == end - start
                && bytes
                    .chunks(BLOCK_LEN)
                    .zip(blocks.start as usize..)
                    .all(|(block, index)| header.blocks.matches(index, block));
            if !sound {
                return Ok(Found::Whole);
            }
            pieces.push((start as u64, bytes));
        }
        let fresh = self.state.with(|st| {
            let fresh = st.fresh(id, step, header.created_ms, now) == Freshness::Fresh;
            if fresh {
                count_store_hit(st, step, header.cost_us);
                st.index.touch(id, now);
            }
            fresh
        });
        if !fresh {
            return Ok(Found::Whole);
        }
        let Some(data) = plan.gather(&pieces) else {
            return Ok(Found::Whole);
        };
        let value = Value::from_parts(header.elem, plan.extents, data, header.meta);
        Ok(Found::Region(Hit {
            content: value.content(),
            value,
            fingerprint: *id,
            source: Source::Store,
            created_ms: header.created_ms,
            cost_us: header.cost_us,
            stored: None,
        }))
    }

    /// The verified header of entry `id` and its payload's range, read from the store's
    /// first bytes of it (more if the header is longer); `None` if there is no entry or
    /// its head is damaged (a whole read then finds out which).
    async fn store_head(&self, id: &Fingerprint) -> Result<Option<(EntryHeader, Range<usize>)>> {
        let mut want = LIST_HEAD_LEN;
        loop {
            let Some(bytes) = self.store.get_range(id, 0..want).await? else {
                return Ok(None);
            };
            match entry::decode_head(&bytes) {
                Ok(Head::Complete(header, payload)) => return Ok(Some((header, payload))),
                // Read once more with the length the prelude asks for: a longer answer
                // is an entry replaced meanwhile, left to the whole read.
                Ok(Head::NeedBytes(len)) if len > want && bytes.len() == want => want = len,
                _ => return Ok(None),
            }
        }
    }
}

/// What the store gave for a region.
enum Found {
    /// The region, read and verified block by block.
    Region(Hit),
    /// Nothing that can be cut block by block: read the entry whole.
    Whole,
}

/// `hit` cut to `region`: its value replaced by the region's.
fn cut(mut hit: Hit, region: &[Range<u64>], anchor: Anchor) -> Result<Hit> {
    let value = &hit.value;
    let plan = RegionPlan::new(value.element_type(), value.shape(), region, anchor)?;
    // The whole value is one piece that covers every run: this never fails.
    let data = plan
        .gather(&[(0, value.data().clone())])
        .ok_or_else(|| Error::new(ErrorKind::InvalidValue, "the region is not within the value"))?;
    hit.value = Value::from_parts(value.element_type(), plan.extents, data, value.meta().to_vec());
    hit.content = hit.value.content();
    Ok(hit)
}
