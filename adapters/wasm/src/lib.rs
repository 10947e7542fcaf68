//! The JavaScript API of stepcache, built with wasm-bindgen into the npm package
//! `stepcache` (see `js/index.d.ts` for the types JavaScript callers see).
//!
//! Every method converts its JavaScript arguments, calls the one core engine
//! (`stepcache_core::Cache` over `stepcache_idb::IdbStore`), and converts the result
//! back. No cache logic lives here: only conversion, and the browser's cross-tab
//! messaging and storage reports.

// wasm-bindgen exports only exist on wasm; natively this crate is empty.
#![cfg(target_family = "wasm")]

mod browser;
mod convert;
mod errors;
mod options;

use std::rc::Rc;

use js_sys::{Function, Promise};
use stepcache_core::{Cache, Fingerprint, Key};
use stepcache_idb::IdbStore;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::browser::{Channel, JsClock, Notice};
use crate::errors::{JsResult, to_js};

type Engine = Cache<IdbStore, JsClock>;

struct Inner {
    engine: Engine,
    channel: Option<Channel>,
}

impl Inner {
    fn notify(&self, notice: Notice) {
        if let Some(channel) = &self.channel {
            channel.post(&notice);
        }
    }
}

/// A cache of step results in IndexedDB with a memory tier in front.
#[wasm_bindgen]
pub struct StepCache {
    inner: Rc<Inner>,
    name: String,
}

/// A cache key: a step name and a blake3 fingerprint.
#[wasm_bindgen]
pub struct StepKey {
    key: Key,
}

#[wasm_bindgen]
impl StepKey {
    /// The step (result type) name.
    #[wasm_bindgen(getter)]
    pub fn step(&self) -> String {
        self.key.step().to_owned()
    }

    /// The fingerprint, `b3:` and 64 hex digits.
    #[wasm_bindgen(getter)]
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint().to_string()
    }

    /// `step@b3:...`, readable by [`StepKey::parse`].
    #[wasm_bindgen(js_name = toString)]
    pub fn text(&self) -> String {
        self.key.to_string()
    }

    /// The text form, so `JSON.stringify` and `postMessage` carry keys as strings.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> String {
        self.key.to_string()
    }

    /// Reads the text form made by `toString`.
    pub fn parse(text: &str) -> JsResult<JsValue> {
        Ok(StepKey::into_js(convert::parse_key_text(text).map_err(to_js)?))
    }
}

impl StepKey {
    /// The JS object of `key`, with `step` and `fingerprint` also as its own properties so
    /// that a key posted to a worker (structured clone copies own properties only) still
    /// works there.
    fn into_js(key: Key) -> JsValue {
        let (step, fingerprint) = (key.step().to_owned(), key.fingerprint().to_string());
        let object = JsValue::from(StepKey { key });
        for (name, value) in [("step", step), ("fingerprint", fingerprint)] {
            let descriptor = js_sys::Object::new();
            let _ = js_sys::Reflect::set(&descriptor, &"value".into(), &value.into());
            let _ = js_sys::Reflect::set(&descriptor, &"enumerable".into(), &true.into());
            js_sys::Object::define_property(object.unchecked_ref::<js_sys::Object>(), &name.into(), &descriptor);
        }
        object
    }
}

/// Runs `work` on the cache's state as a Promise.
fn promise<F>(inner: &Rc<Inner>, work: impl FnOnce(Rc<Inner>) -> F + 'static) -> Promise
where
    F: std::future::Future<Output = stepcache_core::Result<JsValue>> + 'static,
{
    let inner = Rc::clone(inner);
    spawn(Box::pin(async move { work(inner).await.map_err(to_js) }))
}

/// One instance of the promise glue for every method: each method's future is boxed
/// behind one trait object instead of monomorphising `future_to_promise` per method.
fn spawn(future: std::pin::Pin<Box<dyn std::future::Future<Output = JsResult<JsValue>>>>) -> Promise {
    future_to_promise(future)
}

#[wasm_bindgen]
impl StepCache {
    /// Opens a cache in the IndexedDB database `options.name` (default `"stepcache"`).
    pub async fn open(options: JsValue) -> JsResult<StepCache> {
        let options = options::parse(&options).map_err(to_js)?;
        let store = IdbStore::open(&options.name).await.map_err(to_js)?;
        store.set_locking(options.locks);
        if options.persist {
            browser::request_persistence().await;
        }
        let engine = Cache::new(store, JsClock::new(), options.config).map_err(to_js)?;
        let name = options.name.clone();
        let inner = Rc::new_cyclic(|weak: &std::rc::Weak<Inner>| {
            let weak = weak.clone();
            let channel = options.broadcast.then(|| {
                Channel::open(&options.name, move |notice| {
                    if let Some(inner) = weak.upgrade() {
                        match notice {
                            Notice::Changed(id) => inner.engine.forget(&id),
                            Notice::Cleared(step) => inner.engine.forget_step(step.as_deref()),
                        }
                    }
                })
            });
            Inner {
                engine,
                channel: channel.flatten(),
            }
        });
        Ok(StepCache { inner, name })
    }

    /// The IndexedDB database name.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// Builds a key for `step` from named parameters.
    pub fn key(&self, step: JsValue, params: JsValue, options: JsValue) -> JsResult<JsValue> {
        if self.inner.engine.is_closed() {
            return Err(to_js(stepcache_core::Error::new(
                stepcache_core::ErrorKind::Closed,
                "the cache was closed; open it again",
            )));
        }
        Ok(StepKey::into_js(
            convert::build_key(&step, &params, &options).map_err(to_js)?,
        ))
    }

    /// The cached value of `key`, or `undefined`.
    pub fn get(&self, key: JsValue) -> Promise {
        let key = convert::key_of(&key);
        promise(&self.inner, |inner| async move {
            let hit = inner.engine.get(&key?).await?;
            Ok(hit.map_or(JsValue::UNDEFINED, |h| convert::hit_to_js(&h)))
        })
    }

    /// Whether `key` is cached and fresh.
    pub fn has(&self, key: JsValue) -> Promise {
        let key = convert::key_of(&key);
        promise(
            &self.inner,
            |inner| async move { Ok(inner.engine.has(&key?).await?.into()) },
        )
    }

    /// Stores `value` (`{data, shape?, meta?}`) under `key`.
    pub fn put(&self, key: JsValue, value: JsValue, options: JsValue) -> Promise {
        let args =
            convert::key_of(&key).and_then(|k| Ok((k, convert::value_from_js(&value)?, convert::cost_us(&options)?)));
        promise(&self.inner, |inner| async move {
            let (key, value, cost_us) = args?;
            let report = inner.engine.put_with_cost(&key, value, cost_us).await?;
            inner.notify(Notice::Changed(*key.fingerprint()));
            Ok(convert::report_to_js(&report))
        })
    }

    /// The cached value of `key`, or the result of `compute()`, stored and returned.
    #[wasm_bindgen(js_name = getOrCompute)]
    pub fn get_or_compute(&self, key: JsValue, compute: JsValue) -> Promise {
        let args = convert::key_of(&key).and_then(|k| Ok((k, convert::function(&compute, "compute")?)));
        promise(&self.inner, |inner| async move {
            let (key, compute): (Key, Function) = args?;
            let hit = inner
                .engine
                .get_or_compute(&key, || convert::call_compute(compute))
                .await?;
            if hit.stored.is_some() {
                inner.notify(Notice::Changed(*key.fingerprint()));
            }
            Ok(convert::hit_to_js(&hit))
        })
    }

    /// Removes `key` everywhere.
    pub fn invalidate(&self, key: JsValue) -> Promise {
        let key = convert::key_of(&key);
        promise(&self.inner, |inner| async move {
            let key = key?;
            inner.engine.invalidate(&key).await?;
            inner.notify(Notice::Changed(*key.fingerprint()));
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Removes every entry, or every entry of `step`; resolves to how many.
    pub fn clear(&self, step: JsValue) -> Promise {
        let step = convert::optional_step(&step);
        promise(&self.inner, |inner| async move {
            let step = step?;
            let removed = inner.engine.clear(step.as_deref()).await?;
            inner.notify(Notice::Cleared(step));
            Ok((removed as f64).into())
        })
    }

    /// Counters, and the origin's storage usage, quota and persistence.
    pub fn stats(&self) -> Promise {
        promise(&self.inner, |inner| async move {
            let stats = inner.engine.stats().await?;
            let storage = browser::storage_report().await;
            Ok(convert::stats_to_js(&stats, &storage))
        })
    }

    /// Every entry in memory or in IndexedDB, newest first.
    pub fn entries(&self) -> Promise {
        promise(&self.inner, |inner| async move {
            Ok(convert::entries_to_js(&inner.engine.entries().await?))
        })
    }

    /// The state of each key.
    pub fn status(&self, keys: JsValue) -> Promise {
        let keys = convert::keys_of(&keys);
        promise(&self.inner, |inner| async move {
            let statuses = inner.engine.status(&keys?).await?;
            Ok(convert::statuses_to_js(&statuses))
        })
    }

    /// Recompute every step (`true`), some steps (names), or none (`false`).
    #[wasm_bindgen(js_name = setForce)]
    pub fn set_force(&self, force: JsValue) -> JsResult<()> {
        let force = convert::force_of(&force).map_err(to_js)?;
        self.inner.engine.set_force(force).map_err(to_js)
    }

    /// Switches reading, computing and writing on or off (`"rcw"` letters).
    #[wasm_bindgen(js_name = setAccess)]
    pub fn set_access(&self, access: JsValue) -> JsResult<()> {
        let access = convert::access_of(&access).map_err(to_js)?;
        self.inner.engine.set_access(access);
        Ok(())
    }

    /// Sets the retention of one step from now on (`"transient"`, `"memory"`, `"persistent"`).
    #[wasm_bindgen(js_name = setRetention)]
    pub fn set_retention(&self, step: JsValue, retention: JsValue) -> JsResult<()> {
        let step = convert::optional_step(&step)
            .and_then(|s| {
                s.ok_or_else(|| {
                    stepcache_core::Error::new(
                        stepcache_core::ErrorKind::InvalidStepName,
                        "setRetention() needs a step name",
                    )
                })
            })
            .map_err(to_js)?;
        let retention = retention
            .as_string()
            .ok_or_else(|| {
                stepcache_core::Error::new(
                    stepcache_core::ErrorKind::InvalidConfig,
                    "retention must be \"transient\", \"memory\" or \"persistent\"",
                )
            })
            .and_then(|r| r.parse())
            .map_err(to_js)?;
        self.inner.engine.set_retention(&step, retention).map_err(to_js)
    }

    /// Keeps `key` from being evicted from either tier until `unpin`. Pins nest.
    pub fn pin(&self, key: JsValue) -> JsResult<()> {
        self.inner.engine.pin(&convert::key_of(&key).map_err(to_js)?);
        Ok(())
    }

    /// Undoes one `pin`.
    pub fn unpin(&self, key: JsValue) -> JsResult<()> {
        self.inner.engine.unpin(&convert::key_of(&key).map_err(to_js)?);
        Ok(())
    }

    /// Closes the cache; later calls fail with `CacheClosed`.
    pub fn close(&self) {
        self.inner.engine.close();
        self.inner.engine.store().close();
        if let Some(channel) = &self.inner.channel {
            channel.close();
        }
    }
}

/// The fingerprint of raw bytes, `b3:...` (for checks and for content-addressed keys).
#[wasm_bindgen(js_name = fingerprintBytes)]
pub fn fingerprint_bytes(data: &[u8]) -> String {
    Fingerprint::of_bytes(data).to_string()
}
