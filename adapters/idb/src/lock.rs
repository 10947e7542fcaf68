//! Web Locks: one key computed once across every tab and worker of the origin.
//!
//! `navigator.locks.request(name, callback)` holds the lock until the promise the
//! callback returns settles. The request is made in a few lines of JavaScript (below)
//! that resolve, once the lock is granted, to the function that releases it: the same
//! dance written in Rust (two `Promise::new` closures, a once-closure and a race between
//! "granted" and "the request failed") was 1.6 KB of the npm package's gzipped `.wasm`.

use js_sys::{Function, Promise};
use stepcache_core::{LockGuard, Result};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::{JsValue, wasm_bindgen};
use wasm_bindgen_futures::JsFuture;

use crate::error::from_js;

#[wasm_bindgen(inline_js = r#"
export function stepcacheLock(name) {
  const locks = globalThis.navigator && globalThis.navigator.locks;
  if (!locks) return Promise.resolve(undefined);
  if (typeof locks.request !== "function") {
    return Promise.reject(new Error("navigator.locks.request is missing"));
  }
  return new Promise((granted, failed) => {
    // A request that fails (the document went away) rejects instead of granting.
    locks.request(name, () => new Promise((release) => granted(release))).catch(failed);
  });
}
"#)]
extern "C" {
    /// Resolves to the release function once the exclusive lock `name` is granted, to
    /// `undefined` where Web Locks are unavailable; rejects if the request fails.
    #[wasm_bindgen(js_name = stepcacheLock)]
    fn request_lock(name: &str) -> Promise;
}

/// Releases the lock (resolves the held promise) when dropped.
struct Held {
    release: Function,
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.release.call0(&JsValue::UNDEFINED);
    }
}

/// Waits for the exclusive Web Lock `name`; `None` where Web Locks are unavailable.
pub(crate) async fn acquire(name: &str) -> Result<Option<LockGuard>> {
    let granted = JsFuture::from(request_lock(name))
        .await
        .map_err(|e| from_js("take a Web Lock", &e))?;
    Ok(granted
        .dyn_into::<Function>()
        .ok()
        .map(|release| LockGuard::new(Held { release })))
}
