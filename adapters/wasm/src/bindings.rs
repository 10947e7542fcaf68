//! The exports `index.js` calls: `RawCache` and the key helpers.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use js_sys::{Array, Function, Promise, Uint8Array};
use stepcache_core::{
    Access, Cache, Config, EntryRead, ErrorKind, Fingerprint, Force, Incoming, Key, SharedTier, bundle, text,
};
use stepcache_idb::{HttpStore, INDEXED_DB, WebStore};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::convert;
use crate::errors::{JsResult, err, to_js};
use crate::protocol::{self, Operation, Util};

type Engine = Cache<WebStore, JsClock, HttpStore>;

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

/// The key `step` + the fingerprint `id` (its 32 bytes), checked: keyed calls send a key
/// so, not as text (`KEY_IDS` in `index.js` says why).
fn key_of_id(step: &str, id: &[u8]) -> stepcache_core::Result<Key> {
    let id = <[u8; 32]>::try_from(id).map_err(|_| err(ErrorKind::InvalidFingerprint, "a fingerprint is 32 bytes"))?;
    Key::from_parts(step, Fingerprint::from_bytes(id))
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
    /// Opens the engine over the store `name`, in the origin private file system if
    /// `opfs`, else in IndexedDB; resolves to a `RawCache`.
    ///
    /// `index.js` has checked every option. `lock` requests Web Locks (see
    /// `WebStore::set_locking`; `undefined`: no locks). `shared` reads the shared tier (see
    /// `HttpStore`; `undefined`: none). `budgets` is `[memory, store]` in bytes, a negative
    /// number keeping the default; `policies` holds [`protocol::POLICY_LEN`] numbers (see
    /// [`protocol::policy_of`]) for the default policy, then as many for each step of
    /// `steps`.
    // Every checked option of `open()` as its own argument: an options object would need
    // conversions of its own in the module, for a call made once per cache.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        name: String,
        opfs: bool,
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
            let place = if opfs { stepcache_opfs::OPFS } else { INDEXED_DB };
            let mut store = WebStore::open(&name, place).await.map_err(to_js)?;
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

    /// One operation, by `op` (an [`Operation`] code; any other code is an
    /// `InvalidArgument` error): one export for all of them, not one each. Every export is
    /// a shim of its own in the module, with its own copy of the argument conversions and
    /// of the promise glue (one export instead of the seven keyed operations made the
    /// module 1.5 KB smaller gzipped; the others joining them, 0.8 KB more).
    ///
    /// The keyed operations (get to getOrCompute) act on the key `text` (step) +
    /// `fingerprint` (its 32 bytes): `arg` is the value for put (`[elem, shape, bytes,
    /// meta]`, see `convert::value_of`, read before this returns, so the caller may reuse
    /// its arrays at once) or the function for getOrCompute, which resolves to a value as
    /// `put` takes it or rejects (see `convert::call_compute`); `cost_us` is the put's
    /// compute cost; `args` the key's readable arguments as the key operation returned
    /// them (empty if unknown). Pin and unpin return `undefined` and throw a bad key. Get, has,
    /// invalidate and put return their result (or throw) if it is ready at once, as a
    /// memory-tier hit is, and a promise of it otherwise (getRegion too, its `arg` the
    /// region's numbers); getOrCompute always returns a promise.
    ///
    /// The others read `text` and `arg` as each [`Operation`] says, and ignore the rest;
    /// those that settle at once return their result or `undefined` (or throw), the others
    /// a promise. `index.js` awaits either inside async methods, so its callers always get
    /// a promise.
    pub fn call(
        &self,
        op: u8,
        text: Option<String>,
        fingerprint: &[u8],
        arg: JsValue,
        cost_us: f64,
        args: &[u8],
    ) -> JsResult<JsValue> {
        let op = Operation::from_code(op).ok_or_else(|| no_operation(op))?;
        if op.is_keyed() {
            self.keyed(op, text.as_deref().unwrap_or_default(), fingerprint, arg, cost_us, args)
        } else {
            self.unkeyed(op, text, arg)
        }
    }
}

impl RawCache {
    /// A keyed operation (see [`RawCache::call`]).
    fn keyed(
        &self,
        op: Operation,
        step: &str,
        fingerprint: &[u8],
        arg: JsValue,
        cost_us: f64,
        args: &[u8],
    ) -> JsResult<JsValue> {
        let key = key_of_id(step, fingerprint).map(|key| match args {
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
        // A put and an import share one call (`Cache::write`): one copy of its glue.
        let incoming = match op {
            Operation::Put => convert::value_of(&arg).map(|value| Some(Incoming::Value(value, cost_us as u64))),
            Operation::ImportEntry => {
                convert::copy_in(arg.unchecked_ref()).map(|bytes| Some(Incoming::Entry(bytes.into())))
            }
            _ => Ok(None),
        };
        let region = (op == Operation::GetRegion).then(|| convert::region_of(&arg));
        let work = boxed(&self.engine, move |engine| async move {
            let key = key?;
            let out = match (op, incoming?) {
                (_, Some(incoming)) => convert::report_to_js(&engine.write(&key, incoming).await?),
                (Operation::Get, _) => engine
                    .get(&key)
                    .await?
                    .map_or(JsValue::UNDEFINED, |h| convert::hit_to_js(&h)),
                (Operation::Has, _) => engine.has(&key).await?.into(),
                (Operation::GetRegion, _) => {
                    let (last, ranges) = region.unwrap_or_default();
                    let hit = if last {
                        engine.get_trailing_region(&key, &ranges).await?
                    } else {
                        engine.get_region(&key, &ranges).await?
                    };
                    hit.map_or(JsValue::UNDEFINED, |h| convert::hit_to_js(&h))
                }
                (Operation::ReadEntry, _) => match engine.read_entry(key.fingerprint()).await? {
                    EntryRead::Sound(bytes) => Uint8Array::from(bytes.as_ref()).into(),
                    // Damaged (and removed): `null`; gone since it was listed: `undefined`.
                    EntryRead::Missing => JsValue::UNDEFINED,
                    EntryRead::Damaged(_) => JsValue::NULL,
                },
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

    /// An operation that takes no key, or several (see [`RawCache::call`]).
    fn unkeyed(&self, op: Operation, text: Option<String>, arg: JsValue) -> JsResult<JsValue> {
        let engine = &self.engine;
        let done = |result: stepcache_core::Result<()>| result.map(|()| JsValue::UNDEFINED).map_err(to_js);
        match op {
            Operation::Key => {
                engine.check_open().map_err(to_js)?;
                let parts: &Array = arg.unchecked_ref();
                let spec = convert::copy_in(parts.get(0).unchecked_ref()).map_err(to_js)?;
                let key = convert::build_key(&spec, parts.get(1).unchecked_ref()).map_err(to_js)?;
                let bytes = [key.fingerprint().as_bytes(), key.encoded_args().unwrap_or_default()].concat();
                return Ok(Uint8Array::from(&bytes[..]).into());
            }
            Operation::SetForce => {
                let force = match arg.as_bool() {
                    Some(true) => Force::All,
                    Some(false) => Force::None,
                    None => Force::Steps(strings(arg.unchecked_ref())),
                };
                return done(engine.set_force(force));
            }
            Operation::SetAccess => {
                engine.set_access(access(arg.as_f64().unwrap_or(0.0) as u8));
                return done(Ok(()));
            }
            Operation::SetRetention => {
                // A code that is none, for a name `index.js` does not know, only checks the
                // step name, so that a bad step name is the error reported, as it is for a
                // good retention.
                let step = text.unwrap_or_default();
                return done(match protocol::retention(arg.as_f64().unwrap_or(-1.0)) {
                    Some(retention) => engine.set_retention(&step, retention),
                    None => stepcache_core::validate_step_name(&step),
                });
            }
            Operation::Forget => {
                if let Some(Ok(id)) = text.map(|f| f.parse::<Fingerprint>()) {
                    engine.forget(&id);
                }
                return done(Ok(()));
            }
            Operation::ForgetStep => {
                engine.forget_step(text.as_deref());
                return done(Ok(()));
            }
            Operation::Close => {
                engine.close();
                engine.store().close();
                return done(Ok(()));
            }
            _ => {}
        }
        // The rest settle later: one future for all of them (one instance of the promise
        // glue), whose arguments are read and checked before this returns.
        let step = text
            .map(|s| stepcache_core::validate_step_name(&s).map(|()| s))
            .transpose();
        let keys: stepcache_core::Result<Vec<Key>> = match op {
            Operation::Status => strings(arg.unchecked_ref())
                .chunks_exact(2)
                .map(|p| key(&p[0], &p[1]))
                .collect(),
            _ => Ok(Vec::new()),
        };
        Ok(promise(engine, move |engine| async move {
            Ok(match op {
                Operation::Clear => (engine.clear(step?.as_deref()).await? as f64).into(),
                Operation::Stats => convert::stats_to_js(&engine.stats_all_time().await?),
                Operation::SaveStats => {
                    engine.save_stats().await?;
                    JsValue::UNDEFINED
                }
                Operation::Entries => convert::entries_to_js(&engine.entries().await?),
                _ => convert::statuses_to_js(&engine.status(&keys?).await?),
            })
        })
        .into())
    }
}

/// Whether the origin private file system can be used here (see
/// [`stepcache_opfs::available`]); resolves to a boolean, never rejects.
#[wasm_bindgen(js_name = opfsAvailable)]
pub fn opfs_available() -> Promise {
    future_to_promise(async { Ok(stepcache_opfs::available().await.into()) })
}

/// The error of an operation code that is none.
fn no_operation(op: u8) -> JsValue {
    to_js(err(ErrorKind::InvalidArgument, text!("no operation has code ", op)))
}

/// One operation that needs no cache, by `op` (a [`Util`] code, which says what `text`
/// and `arg` hold): one export for all of them, as [`RawCache::call`] is for the cache's.
#[wasm_bindgen]
pub fn util(op: u8, text: Option<String>, arg: JsValue) -> JsResult<JsValue> {
    let bytes = || convert::copy_in(arg.unchecked_ref()).map_err(to_js);
    Ok(match Util::from_code(op).ok_or_else(|| no_operation(op))? {
        Util::CheckKey => {
            let fingerprint = arg.as_string().unwrap_or_default();
            let key = key(text.as_deref().unwrap_or_default(), &fingerprint).map_err(to_js)?;
            Uint8Array::from(&key.fingerprint().as_bytes()[..]).into()
        }
        Util::FingerprintBytes => text!(Fingerprint::of_bytes(&bytes()?)).into(),
        Util::MaxValueBytes => (stepcache_idb::MAX_ENTRY_BYTES as f64).into(),
        Util::BundleChecksum => Uint8Array::from(&bundle::checksum(&bytes()?)[..]).into(),
    })
}
