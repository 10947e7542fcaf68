//! What the suite needs of a store besides the [`Store`] trait: fresh locations, second
//! handles, and a way to damage an entry's bytes.

use std::future::Future;

use stepcache_core::{Fingerprint, MemoryStore, Store};

/// A kind of store under test.
pub trait Backend {
    /// The store.
    type Store: Store;

    /// A new, empty store at a location no other test uses.
    fn fresh(&self) -> impl Future<Output = Self::Store>;

    /// Another handle on the location of `store`, as another process or tab would open it.
    fn reopen(&self, store: &Self::Store) -> impl Future<Output = Self::Store>;

    /// Rewrites the raw bytes of entry `id` with `damage`; false if there is no such entry.
    fn tamper(
        &self,
        store: &Self::Store,
        id: &Fingerprint,
        damage: &mut dyn FnMut(&mut Vec<u8>),
    ) -> impl Future<Output = bool>;
}

/// Rewrites entry `id` of `store` with `damage` through the store's own read and its one
/// write path (a verbatim entry): for stores whose bytes a test cannot reach otherwise.
async fn tamper_through<S: Store>(store: &S, id: &Fingerprint, damage: &mut dyn FnMut(&mut Vec<u8>)) -> bool {
    let Some(bytes) = store.get(id).await.expect("read the entry") else {
        return false;
    };
    let mut bytes = bytes.as_ref().to_vec();
    damage(&mut bytes);
    store
        .put_entry(id, &stepcache_core::entry::EntryWriter::verbatim(&bytes))
        .await
        .expect("rewrite the entry");
    true
}

/// The in-memory store.
#[derive(Debug, Default)]
pub struct MemoryBackend;

impl Backend for MemoryBackend {
    type Store = MemoryStore;

    async fn fresh(&self) -> MemoryStore {
        MemoryStore::new()
    }

    async fn reopen(&self, store: &MemoryStore) -> MemoryStore {
        store.clone()
    }

    async fn tamper(&self, store: &MemoryStore, id: &Fingerprint, damage: &mut dyn FnMut(&mut Vec<u8>)) -> bool {
        store.tamper(id, damage)
    }
}

/// The filesystem store, each fresh store in a new directory under the system's
/// temporary directory; the directories are removed when the backend is dropped.
#[cfg(not(target_family = "wasm"))]
#[derive(Debug)]
pub struct FsBackend {
    root: std::path::PathBuf,
    made: std::cell::Cell<u32>,
}

#[cfg(not(target_family = "wasm"))]
impl Default for FsBackend {
    fn default() -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let root = std::env::temp_dir().join(format!(
            "stepcache-tests-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        FsBackend {
            root,
            made: std::cell::Cell::new(0),
        }
    }
}

#[cfg(not(target_family = "wasm"))]
impl Drop for FsBackend {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[cfg(not(target_family = "wasm"))]
impl Backend for FsBackend {
    type Store = stepcache::FsStore;

    async fn fresh(&self) -> stepcache::FsStore {
        let n = self.made.get();
        self.made.set(n + 1);
        stepcache::FsStore::open(self.root.join(n.to_string()), stepcache::Durability::Buffered)
            .expect("open a fresh store")
    }

    async fn reopen(&self, store: &stepcache::FsStore) -> stepcache::FsStore {
        stepcache::FsStore::open(store.dir(), stepcache::Durability::Buffered).expect("reopen a store")
    }

    async fn tamper(&self, store: &stepcache::FsStore, id: &Fingerprint, damage: &mut dyn FnMut(&mut Vec<u8>)) -> bool {
        let path = store.entry_path(id);
        let Ok(mut bytes) = std::fs::read(&path) else {
            return false;
        };
        damage(&mut bytes);
        std::fs::write(&path, bytes).expect("rewrite the entry file");
        true
    }
}

/// A browser store in one place (IndexedDB or OPFS), each fresh store a new one named
/// `stepcache-test-<random>`.
#[cfg(target_family = "wasm")]
#[derive(Debug)]
pub struct WebBackend {
    place: stepcache_idb::Place,
}

#[cfg(target_family = "wasm")]
impl WebBackend {
    /// Stores in IndexedDB.
    pub fn idb() -> Self {
        WebBackend {
            place: stepcache_idb::INDEXED_DB,
        }
    }

    /// Stores in the origin private file system.
    pub fn opfs() -> Self {
        WebBackend {
            place: stepcache_opfs::OPFS,
        }
    }
}

#[cfg(target_family = "wasm")]
impl Backend for WebBackend {
    type Store = stepcache_idb::WebStore;

    async fn fresh(&self) -> stepcache_idb::WebStore {
        let name = format!("stepcache-test-{}", js_sys::Math::random().to_bits());
        stepcache_idb::WebStore::open(&name, self.place)
            .await
            .expect("open a fresh store")
    }

    async fn reopen(&self, store: &stepcache_idb::WebStore) -> stepcache_idb::WebStore {
        stepcache_idb::WebStore::open(store.name(), self.place)
            .await
            .expect("reopen a store")
    }

    async fn tamper(
        &self,
        store: &stepcache_idb::WebStore,
        id: &Fingerprint,
        damage: &mut dyn FnMut(&mut Vec<u8>),
    ) -> bool {
        tamper_through(store, id, damage).await
    }
}

/// The shared tier's store on a real S3 server, started once for the test process:
/// SeaweedFS by default (see [`crate::seaweed`]), or moto ([`ObjectBackend::moto`]); each
/// fresh store is a new prefix in its bucket.
#[cfg(not(target_family = "wasm"))]
#[derive(Debug)]
pub struct ObjectBackend {
    endpoint: String,
}

#[cfg(not(target_family = "wasm"))]
impl Default for ObjectBackend {
    fn default() -> Self {
        static SERVER: std::sync::OnceLock<crate::seaweed::Seaweed> = std::sync::OnceLock::new();
        let server = SERVER.get_or_init(|| crate::seaweed::Seaweed::start("conformance"));
        ObjectBackend {
            endpoint: server.endpoint.clone(),
        }
    }
}

#[cfg(not(target_family = "wasm"))]
impl ObjectBackend {
    /// The store on a moto server (see [`crate::moto`]) instead.
    pub fn moto() -> Self {
        static SERVER: std::sync::OnceLock<crate::moto::Moto> = std::sync::OnceLock::new();
        let server = SERVER.get_or_init(|| crate::moto::Moto::start("conformance"));
        ObjectBackend {
            endpoint: server.endpoint.clone(),
        }
    }
}

#[cfg(not(target_family = "wasm"))]
impl ObjectBackend {
    /// The configuration of a store under `prefix` on the test server.
    pub fn config(&self, prefix: &str) -> stepcache_object::ObjectConfig {
        use crate::seaweed::{ACCESS_KEY, BUCKET, SECRET_KEY};
        stepcache_object::ObjectConfig::new(BUCKET)
            .endpoint(&self.endpoint)
            .credentials(ACCESS_KEY, SECRET_KEY)
            .prefix(prefix)
    }
}

#[cfg(not(target_family = "wasm"))]
impl Backend for ObjectBackend {
    type Store = stepcache_object::ObjectStore;

    async fn fresh(&self) -> stepcache_object::ObjectStore {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let prefix = format!("test-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        stepcache_object::ObjectStore::open(&self.config(&prefix)).expect("open a fresh object store")
    }

    async fn reopen(&self, store: &stepcache_object::ObjectStore) -> stepcache_object::ObjectStore {
        stepcache_object::ObjectStore::open(store.config()).expect("reopen an object store")
    }

    async fn tamper(
        &self,
        store: &stepcache_object::ObjectStore,
        id: &Fingerprint,
        damage: &mut dyn FnMut(&mut Vec<u8>),
    ) -> bool {
        tamper_through(store, id, damage).await
    }
}
