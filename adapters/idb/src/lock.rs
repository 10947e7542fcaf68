//! Web Locks: one key computed once across every tab and worker of the origin.
//!
//! `navigator.locks.request(name, callback)` holds the lock until the promise the
//! callback returns settles. We hand it a promise that we resolve when the guard drops.

use js_sys::{Function, Promise, Reflect};
use stepcache_core::{Error, LockGuard, Result};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::{Closure, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::error::from_js;

/// Releases the lock (resolves the held promise) when dropped.
struct Held {
    release: Function,
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.release.call0(&JsValue::UNDEFINED);
    }
}

/// `navigator.locks`, in a Window or a Worker, if the browser has it.
fn lock_manager() -> Option<JsValue> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    let locks = Reflect::get(&navigator, &"locks".into()).ok()?;
    (!locks.is_undefined() && !locks.is_null()).then_some(locks)
}

/// Waits for the exclusive Web Lock `name`; `None` where Web Locks are unavailable.
pub(crate) async fn acquire(name: &str) -> Result<Option<LockGuard>> {
    let Some(locks) = lock_manager() else { return Ok(None) };
    let request: Function = Reflect::get(&locks, &"request".into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| Error::new(stepcache_core::ErrorKind::Storage, "navigator.locks.request is missing"))?;
    let mut release = None;
    let held = Promise::new(&mut |resolve, _reject| release = Some(resolve));
    let mut granted_resolve = None;
    let granted = Promise::new(&mut |resolve, _reject| granted_resolve = Some(resolve));
    let (Some(release), Some(granted_resolve)) = (release, granted_resolve) else {
        return Ok(None);
    };
    let callback = Closure::once_into_js(move |_lock: JsValue| -> Promise {
        let _ = granted_resolve.call0(&JsValue::UNDEFINED);
        held
    });
    let requested = request
        .call2(&locks, &name.into(), &callback)
        .map_err(|e| from_js("take a Web Lock", &e))?;
    // A request that fails (e.g. the document went away) rejects instead of granting.
    let failed = JsFuture::from(requested.unchecked_into::<Promise>());
    let granted = JsFuture::from(granted);
    let outcome = first_of(granted, failed).await;
    match outcome {
        Ok(()) => Ok(Some(LockGuard::new(Held { release }))),
        Err(e) => Err(from_js("take a Web Lock", &e)),
    }
}

/// Waits for `granted`, unless `failed` rejects first.
async fn first_of(granted: JsFuture, failed: JsFuture) -> std::result::Result<(), JsValue> {
    let mut granted = std::pin::pin!(granted);
    let mut failed = std::pin::pin!(failed);
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(r) = granted.as_mut().poll(cx) {
            return std::task::Poll::Ready(r.map(|_| ()));
        }
        match failed.as_mut().poll(cx) {
            std::task::Poll::Ready(Err(e)) => std::task::Poll::Ready(Err(e)),
            _ => std::task::Poll::Pending,
        }
    })
    .await
}
