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

/// The engine's state lock: a real mutex with `std`, a `RefCell` without it.
///
/// The lock is never held across an `.await`, so the `RefCell` can never be borrowed
/// twice on a single-threaded target.
pub(crate) struct Lock<T> {
    #[cfg(feature = "std")]
    inner: std::sync::Mutex<T>,
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
            let mut guard = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut guard)
        }
        #[cfg(not(feature = "std"))]
        {
            f(&mut self.inner.borrow_mut())
        }
    }
}
