//! Web Locks: one key computed once across every tab and worker of the origin.
//!
//! `navigator.locks.request(name, callback)` holds the lock until the promise the
//! callback returns settles. The embedder makes that request (the npm package's
//! `requestLock` in `index.js`, given through [`crate::WebStore::set_locking`]) and
//! resolves, once the lock is granted, to the function that releases it: so it can also
//! release every lock it handed out if the module fails, and withdraw requests nobody
//! waits for. The same dance written in Rust (two `Promise::new` closures, a
//! once-closure and a race between "granted" and "the request failed") was 1.6 KB of the
//! npm package's gzipped `.wasm`.

use js_sys::{Function, Promise};
use stepcache_core::{LockGuard, Result};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::JsValue;
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

/// Waits for the exclusive Web Lock `name` through `request`; `None` where Web Locks are
/// unavailable.
pub(crate) async fn acquire(request: &Function, name: &str) -> Result<Option<LockGuard>> {
    let granted = match request.call1(&JsValue::UNDEFINED, &JsValue::from_str(name)) {
        Ok(asked) => JsFuture::from(asked.unchecked_into::<Promise>()).await,
        Err(thrown) => Err(thrown),
    };
    let granted = granted.map_err(|e| from_js("take a Web Lock", &e))?;
    Ok(granted
        .dyn_into::<Function>()
        .ok()
        .map(|release| LockGuard::new(Held { release })))
}
