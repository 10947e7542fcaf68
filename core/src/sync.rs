//! Thread-safety that follows the platform: `Send + Sync` natively with `std`, nothing on
//! wasm or without `std` (where the engine's state lives in a `RefCell`).
//!
//! Browser values (`JsValue`, IndexedDB handles) are not `Send`, while native users share
//! one cache between threads. These aliases keep that difference out of the engine's
//! logic (the approach of matrix-rust-sdk's `SendOutsideWasm`).

#[cfg(all(feature = "std", not(target_family = "wasm")))]
mod bounds {
    /// `Send` outside wasm, nothing on wasm.
    pub trait MaybeSend: Send {}
    impl<T: Send + ?Sized> MaybeSend for T {}
    /// `Sync` outside wasm, nothing on wasm.
    pub trait MaybeSync: Sync {}
    impl<T: Sync + ?Sized> MaybeSync for T {}
}

#[cfg(not(all(feature = "std", not(target_family = "wasm"))))]
mod bounds {
    /// `Send` outside wasm, nothing on wasm.
    pub trait MaybeSend {}
    impl<T: ?Sized> MaybeSend for T {}
    /// `Sync` outside wasm, nothing on wasm.
    pub trait MaybeSync {}
    impl<T: ?Sized> MaybeSync for T {}
}

pub use bounds::{MaybeSend, MaybeSync};

/// A boxed future, `Send` where [`MaybeSend`] is.
#[cfg(all(feature = "std", not(target_family = "wasm")))]
pub(crate) type BoxFuture<'a, T> = core::pin::Pin<alloc::boxed::Box<dyn Future<Output = T> + Send + 'a>>;
/// A boxed future, `Send` where [`MaybeSend`] is.
#[cfg(not(all(feature = "std", not(target_family = "wasm"))))]
pub(crate) type BoxFuture<'a, T> = core::pin::Pin<alloc::boxed::Box<dyn Future<Output = T> + 'a>>;

/// Whether threads can hold the state's shared lock at once: natively with `std`. Not on
/// wasm, where a `Cache` is never shared between threads (it is not `Sync` there).
pub(crate) const CONCURRENT_READERS: bool = cfg!(all(feature = "std", not(target_family = "wasm")));

/// The engine's state lock: a readers-writer lock with `std`, a `RefCell` without it.
///
/// Readers-writer because memory-tier hits, by far the most frequent call, only read the
/// state (their counters are atomics): threads hitting at once then never wait for each
/// other. The lock is never held across an `.await`, so the `RefCell` can never be
/// borrowed twice on a single-threaded target.
pub(crate) struct Lock<T> {
    #[cfg(feature = "std")]
    inner: std::sync::RwLock<T>,
    #[cfg(not(feature = "std"))]
    inner: core::cell::RefCell<T>,
}

impl<T: Default> Default for Lock<T> {
    fn default() -> Self {
        Lock::new(T::default())
    }
}

impl<T> Lock<T> {
    pub(crate) fn new(value: T) -> Self {
        Lock { inner: value.into() }
    }

    /// Runs `f` with the state locked. Keep `f` short and free of awaits.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        #[cfg(feature = "std")]
        {
            // A panic in user code never runs under this lock, so poisoning only means an
            // engine bug already reported; keep serving rather than panic again.
            let mut guard = self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut guard)
        }
        #[cfg(not(feature = "std"))]
        {
            f(&mut self.inner.borrow_mut())
        }
    }

    /// Runs `f` with the state shared with other readers. Keep `f` short and free of awaits.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        #[cfg(feature = "std")]
        {
            let guard = self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&guard)
        }
        #[cfg(not(feature = "std"))]
        {
            f(&self.inner.borrow())
        }
    }
}

/// A counter that readers of the state may bump: atomic where the target has 64-bit
/// atomics, a `Cell` elsewhere (where the state is not shared between threads anyway).
#[derive(Default)]
pub(crate) struct Counter {
    #[cfg(target_has_atomic = "64")]
    value: core::sync::atomic::AtomicU64,
    #[cfg(not(target_has_atomic = "64"))]
    value: core::cell::Cell<u64>,
}

#[cfg(target_has_atomic = "64")]
impl Counter {
    pub(crate) fn new(value: u64) -> Self {
        Counter { value: value.into() }
    }
    pub(crate) fn get(&self) -> u64 {
        self.value.load(core::sync::atomic::Ordering::Relaxed)
    }
    pub(crate) fn add(&self, n: u64) {
        self.value.fetch_add(n, core::sync::atomic::Ordering::Relaxed);
    }
    pub(crate) fn set(&self, value: u64) {
        self.value.store(value, core::sync::atomic::Ordering::Relaxed);
    }
    /// Raises the counter to `value` if it is lower (a last-use time).
    pub(crate) fn raise(&self, value: u64) {
        // A plain load first: most hits see the same millisecond and need no write.
        if self.get() < value {
            self.value.fetch_max(value, core::sync::atomic::Ordering::Relaxed);
        }
    }
}

#[cfg(not(target_has_atomic = "64"))]
impl Counter {
    pub(crate) fn new(value: u64) -> Self {
        Counter { value: value.into() }
    }
    pub(crate) fn get(&self) -> u64 {
        self.value.get()
    }
    pub(crate) fn add(&self, n: u64) {
        self.value.set(self.value.get() + n);
    }
    pub(crate) fn set(&self, value: u64) {
        self.value.set(value);
    }
    /// Raises the counter to `value` if it is lower (a last-use time).
    pub(crate) fn raise(&self, value: u64) {
        self.value.set(self.value.get().max(value));
    }
}

impl Clone for Counter {
    fn clone(&self) -> Self {
        Counter::new(self.get())
    }
}
