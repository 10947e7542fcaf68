//! Entries whose header is longer than the leading bytes a store lists with them (large
//! metadata here; a large array's block table, 16 bytes per MiB, does the same from
//! 256 MiB): `has`, `status` and listing the entries read their heads by range, never the
//! whole entry, which for a volume of gigabytes would be read in full each time.

#![allow(clippy::unwrap_used)] // tests report failures by panicking

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use pollster::block_on;
use stepcache_core::entry::{EntryWriter, LIST_HEAD_LEN, PayloadCheck};
use stepcache_core::{
    Cache, Config, EntryState, Fingerprint, Key, Listed, ManualClock, MemoryStore, Result, SharedBytes, Store, Value,
};

/// A memory store that counts whole reads of entries and range reads.
struct Counting {
    inner: MemoryStore,
    whole: Arc<AtomicUsize>,
    ranges: Arc<AtomicUsize>,
}

impl Store for Counting {
    type Bytes = SharedBytes;

    async fn get(&self, id: &Fingerprint) -> Result<Option<SharedBytes>> {
        self.whole.fetch_add(1, Ordering::Relaxed);
        self.inner.get(id).await
    }

    async fn get_range(&self, id: &Fingerprint, range: Range<usize>) -> Result<Option<SharedBytes>> {
        self.ranges.fetch_add(1, Ordering::Relaxed);
        self.inner.get_range(id, range).await
    }

    async fn put_entry(&self, id: &Fingerprint, entry: &EntryWriter<'_>) -> Result<PayloadCheck> {
        self.inner.put_entry(id, entry).await
    }

    async fn delete(&self, id: &Fingerprint) -> Result<()> {
        self.inner.delete(id).await
    }

    async fn list(&self) -> Result<Vec<Listed>> {
        self.inner.list().await
    }

    /// As the stores that keep an entry's leading bytes apart answer (files, IndexedDB,
    /// OPFS): without reading the entry.
    async fn head(&self, id: &Fingerprint) -> Result<Option<Listed>> {
        Ok(self.inner.list().await?.into_iter().find(|item| item.id == *id))
    }
}

#[test]
fn long_heads_are_read_by_range_not_whole() {
    let key = Key::of("t1_map").arg("n", 1).build().unwrap();
    // Metadata of twice the listed bytes: the header cannot be read from them.
    let meta = vec![b'm'; 2 * LIST_HEAD_LEN];
    let value = Value::array(vec![1.5f32; 4096], &[4096])
        .unwrap()
        .with_meta(meta.clone());
    let shared = MemoryStore::new();
    let writer = Cache::new(shared.clone(), ManualClock::new(1_000_000), Config::new()).unwrap();
    block_on(writer.put(&key, value)).unwrap();
    let (whole, ranges) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let store = Counting {
        inner: shared,
        whole: whole.clone(),
        ranges: ranges.clone(),
    };
    let cache = Cache::new(store, ManualClock::new(1_000_000), Config::new().memory_budget(0)).unwrap();

    let entries = block_on(cache.entries()).unwrap();
    assert_eq!(entries.len(), 1, "the entry is listed");
    assert!(block_on(cache.has(&key)).unwrap(), "has() finds it");
    let status = block_on(cache.status(std::slice::from_ref(&key))).unwrap();
    assert_eq!(status[0].state, EntryState::Stored, "{status:?}");
    assert_eq!(
        whole.load(Ordering::Relaxed),
        0,
        "no whole read for a listing, has or status"
    );
    assert!(ranges.load(Ordering::Relaxed) >= 2, "the heads were read by range");

    // A get reads the entry whole, and it is the value stored.
    let hit = block_on(cache.get(&key)).unwrap().unwrap();
    assert_eq!(hit.value.meta(), &meta[..]);
    assert!(whole.load(Ordering::Relaxed) >= 1);
}
