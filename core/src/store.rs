//! The storage trait every backend implements, and the in-memory store.
//!
//! The trait is small, coarse and byte-level on purpose:
//! - each call is one atomic unit, so the IndexedDB store can open and finish its
//!   transaction inside one call (awaiting anything else mid-transaction ends it);
//! - the engine hashes and encodes before calling, so stores hold no policy;
//! - a store returns its own byte type, so the filesystem hands back a memory map;
//! - nothing assumes a local disk, so a remote object store can be one more tier.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::Future;

use crate::map::HashMap;

use crate::bytes::{ByteOwner, SharedBytes};
use crate::entry::{EntryWriter, PayloadCheck};
use crate::error::Result;
use crate::fingerprint::Fingerprint;
use crate::sync::{Lock, MaybeSend, MaybeSync};

/// One entry as listed by [`Store::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The entry's id (its key's fingerprint).
    pub id: Fingerprint,
    /// Its total length in bytes.
    pub len: u64,
    /// Its first `min(len, entry::LIST_HEAD_LEN)` bytes, from which the engine reads the header.
    pub head: Vec<u8>,
}

impl Listed {
    /// The listing of entry `id` whose bytes are `bytes`.
    pub fn of(id: Fingerprint, bytes: &[u8]) -> Self {
        Listed {
            id,
            len: bytes.len() as u64,
            head: bytes[..bytes.len().min(crate::entry::LIST_HEAD_LEN)].to_vec(),
        }
    }
}

/// A place that keeps entries: the filesystem, IndexedDB, memory, or a remote store.
///
/// Implementations must make [`Store::put_entry`] atomic (a reader sees the old entry, the
/// new one, or none; never a mix) and may assume that no two entries share an id.
pub trait Store: MaybeSend + MaybeSync {
    /// The bytes a read returns (a `Vec<u8>`, a memory map, a JS buffer).
    type Bytes: ByteOwner;

    /// Reads the whole entry `id`, or `None` if there is none.
    fn get(&self, id: &Fingerprint) -> impl Future<Output = Result<Option<Self::Bytes>>> + MaybeSend;

    /// Reads entry `id` like [`Store::get`], with the checksum of its payload if the store
    /// computed it while reading: over exactly the returned bytes of the payload range that
    /// [`crate::entry::decode_head`] finds, with [`crate::entry::PayloadHasher::like`] the
    /// header's checksum. The engine then compares that checksum with the header's instead
    /// of reading the payload again. The default reads, and leaves checksumming to the
    /// engine.
    fn get_entry(
        &self,
        id: &Fingerprint,
    ) -> impl Future<Output = Result<Option<(Self::Bytes, Option<PayloadCheck>)>>> + MaybeSend {
        async move { Ok(self.get(id).await?.map(|bytes| (bytes, None))) }
    }

    /// Stores `entry` as entry `id`, replacing any old one atomically, and returns the
    /// checksum of its payload (which tells this version of the entry from any other).
    ///
    /// The one write primitive: the engine's values and verbatim entries (a bundle's, or
    /// damage a test plants) all come through here. A store writes the payload pieces of
    /// [`EntryWriter::pieces`], checksumming them as it goes, then
    /// [`EntryWriter::head`] in front and [`EntryWriter::trailer`] (a seal, for the
    /// shared tier) after; or writes [`EntryWriter::to_bytes`] at once.
    fn put_entry(
        &self,
        id: &Fingerprint,
        entry: &EntryWriter<'_>,
    ) -> impl Future<Output = Result<PayloadCheck>> + MaybeSend;

    /// Removes entry `id`; removing a missing entry is not an error.
    fn delete(&self, id: &Fingerprint) -> impl Future<Output = Result<()>> + MaybeSend;

    /// Lists every entry with its length and leading bytes.
    fn list(&self) -> impl Future<Output = Result<Vec<Listed>>> + MaybeSend;

    /// Entry `id` as [`Store::list`] lists it, or `None` if there is none: what `has` and
    /// `status` need. The default reads the whole entry; a store that keeps each entry's
    /// head apart (IndexedDB) reads only that, not a large payload.
    fn head(&self, id: &Fingerprint) -> impl Future<Output = Result<Option<Listed>>> + MaybeSend {
        async move { Ok(self.get(id).await?.map(|bytes| Listed::of(*id, bytes.as_ref()))) }
    }

    /// Bytes `range` of entry `id`, cut short where the entry ends, or `None` if there is
    /// no entry `id`: what a region read needs (the head, then the blocks the region
    /// touches; see [`crate::Cache::get_region`]). The default reads the whole entry and
    /// cuts the range out of it, which costs nothing more where [`Store::get`] maps a
    /// file; a store that reads whole entries into memory reads only the range instead.
    fn get_range(
        &self,
        id: &Fingerprint,
        range: core::ops::Range<usize>,
    ) -> impl Future<Output = Result<Option<SharedBytes>>> + MaybeSend {
        async move {
            // Clamped to the entry, the slice always exists.
            Ok(self.get(id).await?.and_then(|bytes| {
                let bytes = SharedBytes::from_owner(bytes);
                let end = range.end.min(bytes.len());
                bytes.slice(range.start.min(end)..end)
            }))
        }
    }

    /// A number that moves on whenever another handle (another process, tab or worker)
    /// may have changed the store since this handle last asked, and stays put while only
    /// this handle writes. Before a memory-tier hit of a stored entry the engine compares
    /// it with the number it saw when it last read or wrote that entry, and checks the
    /// entry's head in the store once if it moved, so a value replaced or removed
    /// elsewhere is never served from memory after that change returned.
    ///
    /// Asked on every memory-tier hit: it must be cheap. The default never moves, for
    /// stores that no other handle changes, or whose handles tell each other by other
    /// means (the npm package's tabs call [`crate::Cache::forget`] on a broadcast).
    fn changes(&self) -> u64 {
        0
    }

    /// Whether [`Store::changes`] can move: a store that overrides it sets this to `true`,
    /// and only then are memory-tier hits checked against the store. Where it is `false`
    /// (the default) that check is left out of the build: the npm package's module, over
    /// IndexedDB, is 0.9 KB smaller gzipped without it.
    const TRACKS_CHANGES: bool = false;

    /// Whether the store can never be written (a static host the browser reads the
    /// shared tier from): as a shared tier, the engine then leaves out every write to it
    /// from the build, as with [`crate::SharedTier::read_only`] at run time. `false` by
    /// default.
    const READ_ONLY: bool = false;

    /// Whether the store keeps the cache's lasting counters ([`Store::load_counters`]);
    /// where it is `false` (the default) "all time" is this session alone, and the
    /// engine's code for them is left out of the build.
    const KEEPS_COUNTERS: bool = false;

    /// The lasting counters' bytes as [`Store::update_counters`] last left them, or
    /// `None` if there are none. The default has none.
    fn load_counters(&self) -> impl Future<Output = Result<Option<Vec<u8>>>> + MaybeSend {
        async { Ok(None) }
    }

    /// Replaces the lasting counters' bytes with what `update` makes of the bytes kept
    /// now (`None` if none), in one step: no other handle's update, in this process or
    /// another, lands between the read and the write, and a reader sees the old bytes or
    /// the new. The default keeps nothing and does not call `update`.
    fn update_counters<F>(&self, update: F) -> impl Future<Output = Result<()>> + MaybeSend
    where
        F: FnOnce(Option<&[u8]>) -> Vec<u8> + MaybeSend,
    {
        let _ = update;
        async { Ok(()) }
    }

    /// The bytes an entry of `len` bytes occupies in the store, which is what budgets
    /// count: its length (the default), or a filesystem's whole blocks.
    fn footprint(&self, len: u64) -> u64 {
        len
    }

    /// Holds `id` exclusively across every handle on this store (other processes, tabs,
    /// workers) until the guard is dropped, so `get_or_compute` computes a key once
    /// everywhere. `None` (the default) where the store cannot lock: then each handle may
    /// compute the key, which is wasteful but never wrong.
    fn lock(&self, id: &Fingerprint) -> impl Future<Output = Result<Option<LockGuard>>> + MaybeSend {
        let _ = id;
        async { Ok(None) }
    }
}

/// Something whose drop releases a lock.
pub trait Release: MaybeSend {}
impl<T: MaybeSend> Release for T {}

/// A held [`Store::lock`]; dropping it releases the lock.
pub struct LockGuard {
    _held: alloc::boxed::Box<dyn Release>,
}

impl LockGuard {
    /// A guard that releases by dropping `inner`.
    pub fn new(inner: impl Release + 'static) -> Self {
        LockGuard {
            _held: alloc::boxed::Box::new(inner),
        }
    }
}

impl core::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("LockGuard")
    }
}

/// A store that keeps entries in process memory: for tests and as a reference.
///
/// Clones share their entries, like two handles on one directory or database.
#[derive(Default, Clone)]
pub struct MemoryStore {
    entries: Arc<Lock<HashMap<Fingerprint, SharedBytes>>>,
    counters: Arc<Lock<Option<Vec<u8>>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore {
            entries: Arc::new(Lock::new(HashMap::default())),
            counters: Arc::new(Lock::new(None)),
        }
    }

    /// Runs `f` on the raw entry bytes of `id`, e.g. to damage them in a test.
    pub fn tamper(&self, id: &Fingerprint, f: impl FnOnce(&mut Vec<u8>)) -> bool {
        self.entries.with(|map| match map.get_mut(id) {
            Some(bytes) => {
                let mut raw = bytes.as_bytes().to_vec();
                f(&mut raw);
                *bytes = SharedBytes::from(raw);
                true
            }
            None => false,
        })
    }
}

impl Store for MemoryStore {
    type Bytes = SharedBytes;

    async fn get(&self, id: &Fingerprint) -> Result<Option<SharedBytes>> {
        Ok(self.entries.with(|map| map.get(id).cloned()))
    }

    async fn put_entry(&self, id: &Fingerprint, entry: &EntryWriter<'_>) -> Result<PayloadCheck> {
        let (bytes, check) = entry.to_bytes()?;
        self.entries.with(|map| map.insert(*id, SharedBytes::from(bytes)));
        Ok(check)
    }

    async fn delete(&self, id: &Fingerprint) -> Result<()> {
        self.entries.with(|map| map.remove(id));
        Ok(())
    }

    async fn list(&self) -> Result<Vec<Listed>> {
        Ok(self
            .entries
            .with(|map| map.iter().map(|(id, bytes)| Listed::of(*id, bytes)).collect()))
    }

    const KEEPS_COUNTERS: bool = true;

    async fn load_counters(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.counters.with(|c| c.clone()))
    }

    async fn update_counters<F>(&self, update: F) -> Result<()>
    where
        F: FnOnce(Option<&[u8]>) -> Vec<u8> + MaybeSend,
    {
        self.counters.with(|c| *c = Some(update(c.as_deref())));
        Ok(())
    }
}
