//! Stores that fail on purpose, written against the same [`Store`] trait.

use stepcache_core::{Error, ErrorKind, Fingerprint, Listed, MemoryStore, Result, SharedBytes, Store};

/// A store that refuses writes past `capacity` bytes with [`ErrorKind::StorageFull`],
/// like a full disk or an exhausted browser quota, whatever the cache's own budget says.
#[derive(Clone)]
pub struct FullStore {
    inner: MemoryStore,
    capacity: u64,
}

impl FullStore {
    /// An empty store that holds at most `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        FullStore {
            inner: MemoryStore::new(),
            capacity,
        }
    }
}

impl Store for FullStore {
    type Bytes = SharedBytes;

    async fn get(&self, id: &Fingerprint) -> Result<Option<SharedBytes>> {
        self.inner.get(id).await
    }

    async fn put(&self, id: &Fingerprint, parts: &[&[u8]]) -> Result<()> {
        let others: u64 = self
            .inner
            .list()
            .await?
            .iter()
            .filter(|l| l.id != *id)
            .map(|l| l.len)
            .sum();
        let incoming: u64 = parts.iter().map(|p| p.len() as u64).sum();
        if others + incoming > self.capacity {
            return Err(Error::new(
                ErrorKind::StorageFull,
                format!(
                    "no space left: {others} of {} bytes used, {incoming} more asked",
                    self.capacity
                ),
            ));
        }
        self.inner.put(id, parts).await
    }

    async fn delete(&self, id: &Fingerprint) -> Result<()> {
        self.inner.delete(id).await
    }

    async fn list(&self) -> Result<Vec<Listed>> {
        self.inner.list().await
    }
}
