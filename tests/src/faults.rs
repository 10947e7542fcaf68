//! Stores that fail on purpose, written against the same [`Store`] trait.

#![allow(clippy::unwrap_used)] // a poisoned test mutex is a failed test

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

/// How a [`FaultStore`] misbehaves at its chosen call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails with a storage error.
    Fail,
    /// A read returns only the first half of the entry.
    ShortRead,
    /// A write stores only the first half of the entry, then fails.
    PartialWrite,
}

#[derive(Default)]
struct Plan {
    calls: u64,
    at: Option<(u64, Fault)>,
    injected: u64,
}

/// A store that misbehaves at its `n`th call (counting every call), then works again.
#[derive(Clone)]
pub struct FaultStore {
    inner: MemoryStore,
    plan: std::sync::Arc<std::sync::Mutex<Plan>>,
}

impl Default for FaultStore {
    fn default() -> Self {
        FaultStore::new()
    }
}

impl FaultStore {
    /// A store that behaves until [`FaultStore::fail_at`] says otherwise.
    pub fn new() -> Self {
        FaultStore {
            inner: MemoryStore::new(),
            plan: std::sync::Arc::default(),
        }
    }

    /// Misbehaves with `fault` at call `n` from now (1 = the next call); `None` disarms.
    pub fn fail_at(&self, at: Option<(u64, Fault)>) {
        let mut plan = self.plan.lock().unwrap();
        plan.calls = 0;
        plan.at = at;
    }

    /// Calls made since the last [`FaultStore::fail_at`].
    pub fn calls(&self) -> u64 {
        self.plan.lock().unwrap().calls
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u64 {
        self.plan.lock().unwrap().injected
    }

    /// The fault to inject at this call, if any.
    fn next(&self) -> Option<Fault> {
        let mut plan = self.plan.lock().unwrap();
        plan.calls += 1;
        let fault = plan.at.filter(|(n, _)| *n == plan.calls).map(|(_, f)| f);
        plan.injected += u64::from(fault.is_some());
        fault
    }
}

fn injected() -> Error {
    Error::new(ErrorKind::Storage, "injected fault")
}

impl Store for FaultStore {
    type Bytes = SharedBytes;

    async fn get(&self, id: &Fingerprint) -> Result<Option<SharedBytes>> {
        match self.next() {
            Some(Fault::Fail) => Err(injected()),
            Some(Fault::ShortRead) => Ok(self.inner.get(id).await?.and_then(|b| b.slice(0..b.len() / 2))),
            _ => self.inner.get(id).await,
        }
    }

    async fn put(&self, id: &Fingerprint, parts: &[&[u8]]) -> Result<()> {
        match self.next() {
            Some(Fault::Fail) => Err(injected()),
            Some(Fault::PartialWrite) => {
                let whole = parts.concat();
                self.inner.put(id, &[&whole[..whole.len() / 2]]).await?;
                Err(injected())
            }
            _ => self.inner.put(id, parts).await,
        }
    }

    async fn delete(&self, id: &Fingerprint) -> Result<()> {
        match self.next() {
            Some(Fault::Fail) => Err(injected()),
            _ => self.inner.delete(id).await,
        }
    }

    async fn list(&self) -> Result<Vec<Listed>> {
        match self.next() {
            Some(Fault::Fail) => Err(injected()),
            _ => self.inner.list().await,
        }
    }
}
