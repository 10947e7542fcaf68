//! The exports `index.js` calls: `RawCache` and the key helpers.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use js_sys::{Array, Function, Promise};
use stepcache_core::{Access, Cache, Config, ErrorKind, Fingerprint, Force, Key, SharedTier, text};
use stepcache_idb::{HttpStore, IdbStore};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::convert;
use crate::errors::{JsResult, err, to_js};
use crate::protocol::{self, Operation};

type Engine = Cache<IdbStore, JsClock, HttpStore>;

/// talc instead of Rust's default dlmalloc: smaller in the module and faster (talc's
/// WebAssembly benchmarks). Single-threaded: the module is built without atomics.
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// `Date.now()` for wall time, `performance.now()` for compute time.
struct JsClock;

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`: throws where there is no `performance` (not in any browser).
    #[wasm_bindgen(catch, js_namespace = performance, js_name = now)]
    fn performance_now() -> Result<f64, JsValue>;
}

impl stepcache_core::Clock for JsClock {
    fn now_ms(&self) -> u64 {
        js_sys::Date::now() as u64
    }

    fn monotonic_us(&self) -> u64 {
        performance_now().map_or_else(|_| self.now_ms() * 1000, |ms| (ms * 1000.0) as u64)
    }
}

/// One opened cache: the engine that `StepCache` in `index.js` drives.
#[wasm_bindgen]
pub struct RawCache {
    engine: Rc<Engine>,
}

/// Runs `work` on the engine as a Promise.
fn promise<F>(engine: &Rc<Engine>, work: impl FnOnce(Rc<Engine>) -> F + 'static) -> Promise
where
    F: Future<Output = stepcache_core::Result<JsValue>> + 'static,
{
    spawn(boxed(engine, work))
}

/// `work` on the engine, boxed: one instance of the promise glue for every method, each
/// method's future behind one trait object instead of `future_to_promise` monomorphised
/// per method.
fn boxed<F>(engine: &Rc<Engine>, work: impl FnOnce(Rc<Engine>) -> F + 'static) -> Work
where
    F: Future<Output = stepcache_core::Result<JsValue>> + 'static,
{
    let engine = Rc::clone(engine);
    Box::pin(async move { work(engine).await.map_err(to_js) })
}

/// An operation's work, as wasm-bindgen's promise glue takes it.
type Work = Pin<Box<dyn Future<Output = JsResult<JsValue>>>>;

fn spawn(future: Work) -> Promise {
    future_to_promise(future)
}

/// What `future` gives if it is done at its first poll (a memory-tier hit is), else a
/// promise of it. A promise's task, closures and microtask hops were most of what a hit
/// cost beyond copying its bytes out.
fn now_or_promise(mut future: Work) -> JsResult<JsValue> {
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        // The promise's task polls it again (in a microtask) with a real waker, which each
        // future it waits on keeps in place of the no-op one; what completed in between,
        // with no one woken, that poll finds done.
        Poll::Pending => Ok(spawn(future).into()),
    }
}

/// Writes the shared hits the engine queued into IndexedDB in a task of their own, after
/// the call that found them has returned its value (see `SharedTier::promote_in_background`).
fn promote_later(engine: &Rc<Engine>) {
    if engine.promotions_queued() {
        let engine = Rc::clone(engine);
        wasm_bindgen_futures::spawn_local(async move {
            // A failure (a full quota) drops them: they are read from the shared tier again.
            let _ = engine.promote_queued().await;
        });
    }
}

/// The strings of an array of strings from `index.js` (a JavaScript array comes in as one
/// value: wasm-bindgen's `Vec<String>` conversion is a generic of its own in the module).
fn strings(array: &Array) -> Vec<String> {
    array.iter().map(|v| v.as_string().unwrap_or_default()).collect()
}

/// The key `step` + `fingerprint` (text form), checked.
fn key(step: &str, fingerprint: &str) -> stepcache_core::Result<Key> {
    Key::from_parts(step, fingerprint.parse()?)
}

/// Access from the bits `index.js` reads from its letters (`protocol::ACCESS`).
fn access(bits: u8) -> Access {
    let set = |letter| protocol::ACCESS.iter().any(|&(l, bit)| l == letter && bits & bit != 0);
    Access {
        read: set('r'),
        compute: set('c'),
        write: set('w'),
    }
}

#[wasm_bindgen]
impl RawCache {
    /// Opens the engine over the IndexedDB database `name`; resolves to a `RawCache`.
    ///
    /// `index.js` has checked every option. `lock` requests Web Locks (see
    /// `IdbStore::set_locking`; `undefined`: no locks). `shared` reads the shared tier (see
    /// `HttpStore`; `undefined`: none). `budgets` is `[memory, store]` in bytes, a negative
    /// number keeping the default; `policies` holds [`protocol::POLICY_LEN`] numbers (see
    /// [`protocol::policy_of`]) for the default policy, then as many for each step of
    /// `steps`.
    pub fn open(
        name: String,
        lock: Option<Function>,
        shared: Option<Function>,
        budgets: &[f64],
        access: Option<u8>,
        steps: &Array,
        policies: &[f64],
    ) -> Promise {
        let mut config = Config::new();
        let budget = |i: usize| budgets.get(i).filter(|b| **b >= 0.0).map(|b| *b as u64);
        if let Some(bytes) = budget(0) {
            config = config.memory_budget(bytes);
        }
        if let Some(bytes) = budget(1) {
            config = config.store_budget(bytes);
        }
        let mut rows = policies.chunks_exact(protocol::POLICY_LEN);
        config = config.default_policy(rows.next().map_or(stepcache_core::DEFAULT_POLICY, protocol::policy_of));
        let configured = strings(steps)
            .iter()
            .zip(rows)
            .try_fold(config, |config, (step, row)| {
                config.type_policy(step, protocol::policy_of(row))
            })
            .map(|config| match access {
                Some(bits) => config.access(self::access(bits)),
                None => config,
            });
        spawn(Box::pin(async move {
            let config = configured.map_err(to_js)?;
            let mut store = IdbStore::open(&name).await.map_err(to_js)?;
            store.set_locking(lock);
            let shared = shared.map(|read| {
                SharedTier::new(HttpStore::new(read))
                    .read_only()
                    .promote_in_background()
            });
            let engine = Cache::with_shared(store, shared, JsClock, config).map_err(to_js)?;
            Ok(RawCache {
                engine: Rc::new(engine),
            }
            .into())
        }))
    }

    /// The fingerprint (32 bytes) then the readable arguments (see `Key::encoded_args`)
    /// of the key described by `spec` (see `convert::Reader`), whose array arguments are
    /// the `Uint8Array`s in `arrays`. The readable arguments go back with every write
    /// under the key, so the entries record them.
    pub fn key(&self, spec: &[u8], arrays: &Array) -> JsResult<Vec<u8>> {
        self.engine.check_open().map_err(to_js)?;
        let key = convert::build_key(spec, arrays).map_err(to_js)?;
        Ok([key.fingerprint().as_bytes(), key.encoded_args().unwrap_or_default()].concat())
    }

    /// One operation on the key `step` + `fingerprint`, by `op` (an [`Operation`] code; any
    /// other code is an `InvalidArgument` error).
    ///
    /// One export for seven operations, not one each: every export is a shim of its own in
    /// the module, with its own copy of the key parsing and of the promise glue (one export
    /// instead of seven made the module 1.5 KB smaller gzipped). `arg` is the value for
    /// put (`[elem, shape, bytes, meta]`, see `convert::value_of`, read before this
    /// returns, so the caller may reuse its arrays at once) or the function for
    /// getOrCompute, which resolves to a value as `put` takes it or rejects (see
    /// `convert::call_compute`); `cost_us` is the put's compute cost; `args` the key's
    /// readable arguments as `key` returned them (empty if unknown).
    ///
    /// Pin and unpin return `undefined` and throw a bad key. Get, has, invalidate and put
    /// return their result (or throw) if it is ready at once, as a memory-tier hit is, and
    /// a promise of it otherwise; getOrCompute always returns a promise. `index.js` awaits
    /// either inside async methods, so its callers always get a promise.
    pub fn keyed(
        &self,
        op: u8,
        step: &str,
        fingerprint: &str,
        arg: JsValue,
        cost_us: f64,
        args: &[u8],
    ) -> JsResult<JsValue> {
        let Some(op) = Operation::from_code(op) else {
            return Err(to_js(err(
                ErrorKind::InvalidArgument,
                text!("no operation has code ", op),
            )));
        };
        let key = key(step, fingerprint).map(|key| match args {
            [] => key,
            args => key.with_encoded_args(args),
        });
        if matches!(op, Operation::Pin | Operation::Unpin) {
            let key = key.map_err(to_js)?;
            if op == Operation::Pin {
                self.engine.pin(&key);
            } else {
                self.engine.unpin(&key);
            }
            return Ok(JsValue::UNDEFINED);
        }
        let value = (op == Operation::Put).then(|| convert::value_of(&arg)).transpose();
        let work = boxed(&self.engine, move |engine| async move {
            let key = key?;
            let out = match (op, value?) {
                (_, Some(value)) => convert::report_to_js(&engine.put_with_cost(&key, value, cost_us as u64).await?),
                (Operation::Get, _) => engine
                    .get(&key)
                    .await?
                    .map_or(JsValue::UNDEFINED, |h| convert::hit_to_js(&h)),
                (Operation::Has, _) => engine.has(&key).await?.into(),
                (Operation::Invalidate, _) => {
                    engine.invalidate(&key).await?;
                    JsValue::UNDEFINED
                }
                _ => {
                    let compute: Function = arg.unchecked_into();
                    let hit = engine
                        .get_or_try_compute(&key, || convert::call_compute(compute))
                        .await?;
                    convert::hit_to_js(&hit)
                }
            };
            promote_later(&engine);
            Ok(out)
        });
        if op == Operation::GetOrCompute {
            // The compute function runs in the promise's task, never inside this call.
            Ok(spawn(work).into())
        } else {
            now_or_promise(work)
        }
    }

    /// Removes every entry, or every entry of `step`; resolves to how many.
    pub fn clear(&self, step: Option<String>) -> Promise {
        let step = step
            .map(|s| stepcache_core::validate_step_name(&s).map(|()| s))
            .transpose();
        promise(&self.engine, |engine| async move {
            Ok((engine.clear(step?.as_deref()).await? as f64).into())
        })
    }

    /// Resolves to the counters (see `convert::stats_to_js`).
    pub fn stats(&self) -> Promise {
        promise(&self.engine, |engine| async move {
            Ok(convert::stats_to_js(&engine.stats().await?))
        })
    }

    /// Resolves to every entry in memory or in IndexedDB, newest first (see
    /// `convert::entries_to_js`).
    pub fn entries(&self) -> Promise {
        promise(&self.engine, |engine| async move {
            Ok(convert::entries_to_js(&engine.entries().await?))
        })
    }

    /// Resolves to the state of each key `steps[i]` + `fingerprints[i]`.
    pub fn status(&self, steps: &Array, fingerprints: &Array) -> Promise {
        let (steps, fingerprints) = (strings(steps), strings(fingerprints));
        let keys: stepcache_core::Result<Vec<Key>> = steps.iter().zip(&fingerprints).map(|(s, f)| key(s, f)).collect();
        promise(&self.engine, |engine| async move {
            Ok(convert::statuses_to_js(&engine.status(&keys?).await?))
        })
    }

    /// Recompute every step (`all`), the steps `steps` if given, or none.
    #[wasm_bindgen(js_name = setForce)]
    pub fn set_force(&self, all: bool, steps: Option<Array>) -> JsResult<()> {
        let force = match (all, steps) {
            (true, _) => Force::All,
            (false, None) => Force::None,
            (false, Some(steps)) => Force::Steps(strings(&steps)),
        };
        self.engine.set_force(force).map_err(to_js)
    }

    /// Switches reading, computing and writing on or off (bits, see [`access`]).
    #[wasm_bindgen(js_name = setAccess)]
    pub fn set_access(&self, bits: u8) {
        self.engine.set_access(access(bits));
    }

    /// Sets the retention (its code, see `protocol::RETENTIONS`) of one step from now on.
    /// A code that is none, for a name `index.js` does not know, only checks the step
    /// name, so that a bad step name is the error reported, as it is for a good retention.
    #[wasm_bindgen(js_name = setRetention)]
    pub fn set_retention(&self, step: &str, code: f64) -> JsResult<()> {
        match protocol::retention(code) {
            Some(retention) => self.engine.set_retention(step, retention),
            None => stepcache_core::validate_step_name(step),
        }
        .map_err(to_js)
    }

    /// Drops the memory-tier entry of `fingerprint` (another tab changed it).
    pub fn forget(&self, fingerprint: &str) {
        if let Ok(id) = fingerprint.parse::<Fingerprint>() {
            self.engine.forget(&id);
        }
    }

    /// Drops every memory-tier entry, or those of `step` (another tab cleared them).
    #[wasm_bindgen(js_name = forgetStep)]
    pub fn forget_step(&self, step: Option<String>) {
        self.engine.forget_step(step.as_deref());
    }

    /// Closes the cache; later calls fail with `CacheClosed`.
    pub fn close(&self) {
        self.engine.close();
        self.engine.store().close();
    }
}

/// The normalised fingerprint text of the key `step` + `fingerprint`, or the error that
/// says why it is not a key (`StepKey.parse` and keys given as objects).
#[wasm_bindgen(js_name = checkKey)]
pub fn check_key(step: &str, fingerprint: &str) -> JsResult<String> {
    key(step, fingerprint).map(|k| text!(k.fingerprint())).map_err(to_js)
}

/// The fingerprint of raw bytes, `b3:...` (for checks and for content-addressed keys).
#[wasm_bindgen(js_name = fingerprintBytes)]
pub fn fingerprint_bytes(data: &[u8]) -> String {
    text!(Fingerprint::of_bytes(data))
}

/// The largest value `index.js` copies into the module, in bytes: the store's limit on an
/// entry ([`stepcache_idb::MAX_ENTRY_BYTES`]). It refuses larger ones before copying them.
#[wasm_bindgen(js_name = maxValueBytes)]
pub fn max_value_bytes() -> f64 {
    stepcache_idb::MAX_ENTRY_BYTES as f64
}
