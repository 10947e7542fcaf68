//! Stores that fail on purpose, written against the same [`Store`] trait.

#![allow(clippy::unwrap_used)] // a poisoned test mutex is a failed test

use stepcache_core::entry::{EntryWriter, PayloadCheck};
use stepcache_core::{Error, ErrorKind, Fingerprint, Listed, LockGuard, MemoryStore, Result, SharedBytes, Store};

/// A store that refuses writes past `capacity` bytes with [`ErrorKind::StorageFull`],
/// like a full disk or an exhausted browser quota, whatever the cache's own budget says.
pub struct FullStore {
    inner: MemoryStore,
    capacity: std::sync::atomic::AtomicU64,
}

impl FullStore {
    /// An empty store that holds at most `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        FullStore {
            inner: MemoryStore::new(),
            capacity: capacity.into(),
        }
    }

    /// Sets what the store holds at most from now on (someone else filled the disk).
    pub fn set_capacity(&self, capacity: u64) {
        self.capacity.store(capacity, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Store for FullStore {
    type Bytes = SharedBytes;

    async fn get(&self, id: &Fingerprint) -> Result<Option<SharedBytes>> {
        self.inner.get(id).await
    }

    async fn put_entry(&self, id: &Fingerprint, entry: &EntryWriter<'_>) -> Result<PayloadCheck> {
        let others: u64 = self
            .inner
            .list()
            .await?
            .iter()
            .filter(|l| l.id != *id)
            .map(|l| l.len)
            .sum();
        let incoming = entry.len() as u64;
        let capacity = self.capacity.load(std::sync::atomic::Ordering::Relaxed);
        if others + incoming > capacity {
            return Err(Error::new(
                ErrorKind::StorageFull,
                format!(
                    "no space left: {others} of {} bytes used, {incoming} more asked",
                    capacity
                ),
            ));
        }
        self.inner.put_entry(id, entry).await
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

/// Any store, made to misbehave at its `n`th call (counting every call), then work again.
#[derive(Clone)]
pub struct FaultStore<S = MemoryStore> {
    inner: S,
    plan: std::sync::Arc<std::sync::Mutex<Plan>>,
}

impl<S> FaultStore<S> {
    /// `inner`, behaving until [`FaultStore::fail_at`] says otherwise.
    pub fn new(inner: S) -> Self {
        FaultStore {
            inner,
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

/// Every method of the trait is wrapped, so a fault can strike wherever the engine calls
/// the store: each call counts, and the chosen one misbehaves.
impl<S: Store> Store for FaultStore<S> {
    type Bytes = SharedBytes;

    async fn get(&self, id: &Fingerprint) -> Result<Option<SharedBytes>> {
        let fault = self.next();
        if fault == Some(Fault::Fail) {
            return Err(injected());
        }
        let bytes = self.inner.get(id).await?.map(SharedBytes::from_owner);
        match fault {
            Some(Fault::ShortRead) => Ok(bytes.and_then(|b| b.slice(0..b.len() / 2))),
            _ => Ok(bytes),
        }
    }

    async fn get_entry(&self, id: &Fingerprint) -> Result<Option<(SharedBytes, Option<PayloadCheck>)>> {
        let fault = self.next();
        if fault == Some(Fault::Fail) {
            return Err(injected());
        }
        let read = self.inner.get_entry(id).await?;
        let read = read.map(|(bytes, check)| (SharedBytes::from_owner(bytes), check));
        match fault {
            // Half the bytes, and a checksum of the whole: the engine must notice.
            Some(Fault::ShortRead) => Ok(read.and_then(|(b, check)| Some((b.slice(0..b.len() / 2)?, check)))),
            _ => Ok(read),
        }
    }

    async fn put_entry(&self, id: &Fingerprint, entry: &EntryWriter<'_>) -> Result<PayloadCheck> {
        match self.next() {
            Some(Fault::Fail) => Err(injected()),
            Some(Fault::PartialWrite) => {
                let (whole, _) = entry.to_bytes()?;
                let half = EntryWriter::verbatim(&whole[..whole.len() / 2]);
                self.inner.put_entry(id, &half).await?;
                Err(injected())
            }
            _ => self.inner.put_entry(id, entry).await,
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

    async fn head(&self, id: &Fingerprint) -> Result<Option<Listed>> {
        let fault = self.next();
        if fault == Some(Fault::Fail) {
            return Err(injected());
        }
        let listed = self.inner.head(id).await?;
        match fault {
            // The listing of an entry cut in half.
            Some(Fault::ShortRead) => Ok(listed.map(|l| {
                let len = l.len / 2;
                let head = l.head[..l.head.len().min(len as usize)].to_vec();
                Listed { len, head, ..l }
            })),
            _ => Ok(listed),
        }
    }

    fn changes(&self) -> u64 {
        self.inner.changes()
    }

    const TRACKS_CHANGES: bool = S::TRACKS_CHANGES;

    fn footprint(&self, len: u64) -> u64 {
        self.inner.footprint(len)
    }

    async fn lock(&self, id: &Fingerprint) -> Result<Option<LockGuard>> {
        match self.next() {
            Some(Fault::Fail) => Err(injected()),
            _ => self.inner.lock(id).await,
        }
    }
}

/// One storage write not yet known to be on disk.
#[derive(Clone)]
enum Pending {
    Put(Fingerprint, Vec<u8>),
    Delete(Fingerprint),
}

#[derive(Default)]
struct CrashState {
    /// What survives any crash.
    durable: std::collections::HashMap<Fingerprint, Vec<u8>>,
    /// What a running process sees.
    visible: std::collections::HashMap<Fingerprint, Vec<u8>>,
    /// Writes since the last flush, in order.
    pending: Vec<Pending>,
}

/// A store that knows which of its writes are durable and which were only written, and
/// rebuilds what a crash could leave: any subset of the unflushed writes, and unflushed
/// new entries possibly torn (present under their name but truncated, as a rename can
/// reach the disk before the data did). The engine over it must never return damage.
#[derive(Clone, Default)]
pub struct CrashStore {
    state: std::sync::Arc<std::sync::Mutex<CrashState>>,
}

impl CrashStore {
    /// An empty store.
    pub fn new() -> Self {
        CrashStore::default()
    }

    /// Makes every write so far durable (the operating system flushed).
    pub fn flush(&self) {
        let mut st = self.state.lock().unwrap();
        st.durable = st.visible.clone();
        st.pending.clear();
    }

    /// The store a crash now could leave, chosen by `seed`; this store is unchanged.
    pub fn crashed(&self, seed: u64) -> CrashStore {
        let st = self.state.lock().unwrap();
        let mut rng = seed | 1;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut after = st.durable.clone();
        for op in &st.pending {
            match (op, next() % 4) {
                (_, 0) => {} // never reached the disk
                (Pending::Put(id, bytes), 1) => {
                    let cut = (next() as usize) % bytes.len().max(1);
                    after.insert(*id, bytes[..cut].to_vec()); // renamed, data torn
                }
                (Pending::Put(id, bytes), _) => {
                    after.insert(*id, bytes.clone());
                }
                (Pending::Delete(id), _) => {
                    after.remove(id);
                }
            }
        }
        CrashStore {
            state: std::sync::Arc::new(std::sync::Mutex::new(CrashState {
                durable: after.clone(),
                visible: after,
                pending: Vec::new(),
            })),
        }
    }
}

impl Store for CrashStore {
    type Bytes = SharedBytes;

    async fn get(&self, id: &Fingerprint) -> Result<Option<SharedBytes>> {
        Ok(self
            .state
            .lock()
            .unwrap()
            .visible
            .get(id)
            .map(|b| SharedBytes::from(b.clone())))
    }

    async fn put_entry(&self, id: &Fingerprint, entry: &EntryWriter<'_>) -> Result<PayloadCheck> {
        let (bytes, check) = entry.to_bytes()?;
        let mut st = self.state.lock().unwrap();
        st.visible.insert(*id, bytes.clone());
        st.pending.push(Pending::Put(*id, bytes));
        Ok(check)
    }

    async fn delete(&self, id: &Fingerprint) -> Result<()> {
        let mut st = self.state.lock().unwrap();
        st.visible.remove(id);
        st.pending.push(Pending::Delete(*id));
        Ok(())
    }

    async fn list(&self) -> Result<Vec<Listed>> {
        let st = self.state.lock().unwrap();
        Ok(st.visible.iter().map(|(id, b)| Listed::of(*id, b)).collect())
    }
}
