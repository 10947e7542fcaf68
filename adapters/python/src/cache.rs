//! `stepcache._native.Cache`: the native cache, with the GIL released while it hashes,
//! reads, writes and verifies.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PySlice, PyString, PyTuple};
use stepcache::{Access, Cache, Durability, Error, ErrorKind, Force, Retention, TypePolicy, Value, ValueRef};

use crate::arrays::array_ref;
use crate::errors::{IntoPy, to_py};
use crate::keys::KeySpec;
use crate::report::{self, PyEntryInfo, PyHit, PyKey, PyStats, PyStatus, key_of};

/// A result with metadata, for `put` and for compute functions to return: `data` is a
/// numpy array or bytes, `meta` bytes or anything `json.dumps` accepts.
#[pyclass(frozen, module = "stepcache", name = "Value")]
pub(crate) struct PyValue {
    /// The data.
    #[pyo3(get)]
    data: Py<PyAny>,
    /// The metadata.
    #[pyo3(get)]
    meta: Py<PyAny>,
}

#[pymethods]
impl PyValue {
    #[new]
    #[pyo3(signature = (data, meta = None))]
    fn new(py: Python<'_>, data: Py<PyAny>, meta: Option<Py<PyAny>>) -> Self {
        PyValue {
            data,
            meta: meta.unwrap_or_else(|| py.None()),
        }
    }
}

/// The bytes of `meta`: bytes as given, anything else as compact JSON (what the npm
/// package stores for its `meta`).
fn meta_bytes(py: Python<'_>, meta: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if meta.is_none() {
        return Ok(Vec::new());
    }
    if let Ok(b) = meta.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    let kwargs = PyDict::new(py);
    kwargs.set_item("separators", (",", ":"))?;
    kwargs.set_item("ensure_ascii", false)?;
    let text = py.import("json")?.call_method("dumps", (meta,), Some(&kwargs))?;
    Ok(text.cast::<PyString>()?.to_cow()?.as_bytes().to_vec())
}

/// `data` (a numpy array or scalar, a Python number, bytes, a dict or tuple of these, or
/// a `Value`) as a value to store, copied; a dict or a tuple is a record (several outputs
/// in one entry).
fn value_of(py: Python<'_>, data: &Bound<'_, PyAny>, meta: Option<&Bound<'_, PyAny>>) -> PyResult<Value> {
    let (data, meta) = unwrapped(data, meta);
    let (data, meta) = (&data, meta.as_ref());
    let value = if let Some(array) = array_ref(data, "the value")? {
        let view = ValueRef::new(array.elem, &array.shape, array.bytes()).py()?;
        // Copied without the GIL, like hashing: the array stays borrowed meanwhile.
        py.detach(|| view.to_value())
    } else if let Ok(b) = data.cast::<PyBytes>() {
        Value::bytes(b.as_bytes().to_vec())
    } else if let Ok(b) = data.cast::<PyByteArray>() {
        Value::bytes(b.to_vec())
    } else if let Ok(parts) = data.cast::<PyDict>() {
        // Several outputs by name: one record, one entry.
        let parts = parts
            .iter()
            .map(|(name, part)| {
                Ok((
                    name.extract::<String>().map_err(|_| record_error())?,
                    value_of(py, &part, None)?,
                ))
            })
            .collect::<PyResult<Vec<_>>>()?;
        Value::record(parts).py()?
    } else if let Ok(parts) = data.cast::<PyTuple>() {
        // Several outputs by position: a record whose parts are named "0", "1", ...
        let parts = parts
            .iter()
            .enumerate()
            .map(|(i, part)| Ok((i.to_string(), value_of(py, &part, None)?)))
            .collect::<PyResult<Vec<_>>>()?;
        Value::record(parts).py()?
    } else if let Some(array) = scalar_as_array(py, data)? {
        return value_of(py, &array, meta);
    } else {
        let ty = data
            .get_type()
            .qualname()
            .map_or_else(|_| "?".to_owned(), |n| n.to_string());
        return Err(PyTypeError::new_err(format!(
            "a value is a numpy array or scalar, an int or float, bytes, a dict or tuple of these \
             (several outputs), or stepcache.Value(data, meta), not a {ty}"
        )));
    };
    match meta {
        Some(meta) => Ok(value.with_meta(meta_bytes(py, meta)?)),
        None => Ok(value),
    }
}

/// A value's data and its metadata, if any.
type DataAndMeta<'py> = (Bound<'py, PyAny>, Option<Bound<'py, PyAny>>);

/// `data` and `meta`, or the data and metadata of `data` if it is a `Value(data, meta)`
/// (the innermost one's, for a `Value` of a `Value`).
fn unwrapped<'py>(data: &Bound<'py, PyAny>, meta: Option<&Bound<'py, PyAny>>) -> DataAndMeta<'py> {
    let py = data.py();
    match data.cast::<PyValue>() {
        Ok(v) => unwrapped(v.get().data.bind(py), Some(v.get().meta.bind(py))),
        Err(_) => (data.clone(), meta.cloned()),
    }
}

/// A scalar as the 0-dimensional array it is stored as: a numpy scalar as the array it is
/// a view of, a Python float as a float64 one, an int as an int64 one (a mean T1 beside
/// its map). A bool is left to numpy's bool, which stepcache refuses, naming what to use.
fn scalar_as_array<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
    let numpy = crate::arrays::numpy(py)?;
    let dtype = if data.is_instance(&numpy.getattr("generic")?)? || data.is_instance_of::<PyBool>() {
        None
    } else if data.is_instance_of::<PyFloat>() {
        Some("float64")
    } else if data.is_instance_of::<PyInt>() {
        Some("int64")
    } else {
        return Ok(None);
    };
    numpy.call_method1("asarray", (data, dtype)).map(Some)
}

/// The error of a dict of outputs whose keys are not all text.
fn record_error() -> PyErr {
    PyTypeError::new_err("the outputs of a dict are named by str keys")
}

/// A compute function's result as a value to store: a new array it handed over is taken
/// as it is, without a copy (see `arrays::take_result`); anything else is copied as
/// `put` copies it.
fn computed_value<'py>(py: Python<'py>, result: Bound<'py, PyAny>) -> PyResult<Value> {
    match crate::arrays::take_result(result) {
        Ok(value) => Ok(value),
        Err(result) => value_of(py, &result, None),
    }
}

fn retention(name: &str) -> PyResult<Retention> {
    name.parse().py()
}

/// A maximum age in seconds as milliseconds.
fn age_ms(seconds: f64) -> PyResult<u64> {
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(to_py(Error::new(
            ErrorKind::InvalidConfig,
            "a maximum age is a positive number of seconds; leave it unset for no limit",
        )));
    }
    Ok(((seconds * 1000.0).ceil() as u64).max(1))
}

/// A policy given as a retention name or a dict of `retention`, `max_age`, `compress`.
fn policy(step: &str, given: &Bound<'_, PyAny>, default: TypePolicy) -> PyResult<TypePolicy> {
    if let Ok(name) = given.extract::<String>() {
        return Ok(TypePolicy {
            retention: retention(&name)?,
            ..default
        });
    }
    let Ok(dict) = given.cast::<PyDict>() else {
        return Err(PyTypeError::new_err(format!(
            "the policy of \"{step}\" is a retention name or a dict(retention=, max_age=, compress=, shared=)"
        )));
    };
    let mut p = default;
    for (field, value) in dict.iter() {
        match field.extract::<String>()?.as_str() {
            "retention" => p.retention = retention(&value.extract::<String>()?)?,
            "max_age" => p.max_age_ms = value.extract::<Option<f64>>()?.map(age_ms).transpose()?,
            "compress" => p.compress = value.extract()?,
            "shared" => p.shared = value.extract()?,
            other => {
                return Err(to_py(Error::new(
                    ErrorKind::InvalidConfig,
                    format!(
                        "unknown policy field \"{other}\" for \"{step}\": use retention, max_age, compress, shared"
                    ),
                )));
            }
        }
    }
    Ok(p)
}

/// A cache of step results in a directory, with a memory tier in front (see
/// `stepcache.open`).
#[pyclass(subclass, module = "stepcache._native", name = "Cache")]
pub(crate) struct PyCache {
    /// `None` once closed. Each call clones the `Arc` and works without the GIL, so
    /// `close` never waits for a call in another thread.
    inner: Mutex<Option<Arc<Cache>>>,
    dir: PathBuf,
}

impl PyCache {
    fn cache(&self) -> PyResult<Arc<Cache>> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| to_py(Error::new(ErrorKind::Closed, "the cache was closed")))
    }
}

fn key_args<'py>(
    args: Option<&Bound<'py, PyDict>>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Vec<(String, Bound<'py, PyAny>)>> {
    let mut out = Vec::new();
    for dict in [args, kwargs].into_iter().flatten() {
        for (name, value) in dict.iter() {
            let name: String = name
                .extract()
                .map_err(|_| PyTypeError::new_err("argument names are str"))?;
            out.push((name, value));
        }
    }
    Ok(out)
}

/// The key of `step` with `args` (see `Cache.key`).
#[pyfunction]
#[pyo3(signature = (step, args = None, *, version = 0, ignore = Vec::new(), defaults = None, **kwargs))]
pub(crate) fn key(
    step: &str,
    args: Option<&Bound<'_, PyDict>>,
    version: u32,
    ignore: Vec<String>,
    defaults: Option<&Bound<'_, PyDict>>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<PyKey> {
    let spec = KeySpec {
        step,
        version,
        ignore: &ignore,
        defaults,
    };
    let key = crate::keys::build(&spec, &key_args(args, kwargs)?)?;
    Ok(PyKey { key })
}

#[pymethods]
impl PyCache {
    #[new]
    #[pyo3(signature = (
        dir = None, *, memory_budget = None, store_budget = None, policies = None, retention = None,
        max_age = None, compress = false, access = "rcw", read_only = false, memory_map = true,
        durability = "buffered", shared = None, sharing = false, team_key = None,
        shared_retry_after = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        dir: Option<PathBuf>,
        memory_budget: Option<u64>,
        store_budget: Option<u64>,
        policies: Option<&Bound<'_, PyDict>>,
        retention: Option<&str>,
        max_age: Option<f64>,
        compress: bool,
        access: &str,
        read_only: bool,
        memory_map: bool,
        durability: &str,
        shared: Option<&Bound<'_, PyAny>>,
        sharing: bool,
        team_key: Option<&Bound<'_, PyAny>>,
        shared_retry_after: Option<f64>,
    ) -> PyResult<Self> {
        let mut b = Cache::builder()
            .access(access.parse::<Access>().py()?)
            .read_only(read_only)
            .memory_map(memory_map)
            .compression(compress)
            .durability(match durability {
                "buffered" => Durability::Buffered,
                "fsync" => Durability::Fsync,
                other => {
                    return Err(to_py(Error::new(
                        ErrorKind::InvalidConfig,
                        format!("durability \"{other}\": use \"buffered\" or \"fsync\""),
                    )));
                }
            });
        let mut default = TypePolicy::new(Retention::Persistent).compress(compress);
        if let Some(dir) = dir {
            b = b.dir(dir);
        }
        if let Some(bytes) = memory_budget {
            b = b.memory_budget(bytes);
        }
        if let Some(bytes) = store_budget {
            b = b.store_budget(bytes);
        }
        if let Some(name) = retention {
            default.retention = self::retention(name)?;
            b = b.default_retention(default.retention);
        }
        if let Some(seconds) = max_age {
            default.max_age_ms = Some(age_ms(seconds)?);
            b = b.max_age_ms(age_ms(seconds)?);
        }
        if let Some(given) = shared {
            b = b.shared(crate::shared::bucket(given)?);
        }
        b = b.sharing(sharing);
        if let Some(given) = team_key {
            b = b.team_key(crate::shared::secret(given)?);
        }
        if let Some(seconds) = shared_retry_after {
            b = b.shared_retry_after(crate::shared::seconds(seconds, "shared_retry_after")?);
        }
        if let Some(policies) = policies {
            for (step, given) in policies.iter() {
                let step: String = step.extract()?;
                b = b.policy(&step, policy(&step, &given, default)?);
            }
        }
        let cache = py.detach(move || b.open()).py()?;
        Ok(PyCache {
            dir: cache.dir().to_path_buf(),
            inner: Mutex::new(Some(Arc::new(cache))),
        })
    }

    /// The cache directory.
    #[getter]
    fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).is_none()
    }

    /// The key of `step` with the arguments `args` and `**kwargs`; see `stepcache.key`.
    #[pyo3(signature = (step, args = None, *, version = 0, ignore = Vec::new(), defaults = None, **kwargs))]
    fn key(
        &self,
        step: &str,
        args: Option<&Bound<'_, PyDict>>,
        version: u32,
        ignore: Vec<String>,
        defaults: Option<&Bound<'_, PyDict>>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyKey> {
        self.cache()?;
        key(step, args, version, ignore, defaults, kwargs)
    }

    /// The value of `key` from memory or disk (verified), or `None`.
    fn get(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Option<PyHit>> {
        let (cache, key) = (self.cache()?, key_of(key)?);
        let found = py.detach(|| cache.get(&key)).py()?;
        found.map(|hit| report::hit(py, hit, key)).transpose()
    }

    /// Looks `key` up like `get` and returns only `region` of its array: a slice, an int
    /// or a tuple of them, one per leading dimension (`numpy.s_[10:11]` is slice 10 of a
    /// `[z, y, x]` volume, `numpy.s_[:, 5]` its coronal slice 5); dimensions keep their
    /// place, an int as a range of one. From disk, a large uncompressed array is read and
    /// verified only in the 1 MiB blocks the region touches.
    fn get_region(&self, py: Python<'_>, key: &Bound<'_, PyAny>, region: &Bound<'_, PyAny>) -> PyResult<Option<PyHit>> {
        let (cache, key, region) = (self.cache()?, key_of(key)?, region_of(region)?);
        let found = py.detach(|| cache.get_region(&key, &region)).py()?;
        found.map(|hit| report::hit(py, hit, key)).transpose()
    }

    /// Whether `key` is cached and fresh.
    fn has(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let (cache, key) = (self.cache()?, key_of(key)?);
        py.detach(|| cache.has(&key)).py()
    }

    /// Stores `value` (a numpy array, bytes or a `Value`) under `key` as its step's
    /// policy says; `meta` is bytes or JSON-compatible. Returns what each tier did.
    ///
    /// An array is written to disk straight from its buffer, without a copy, and is not
    /// kept in memory (the caller may change it afterwards): the next `get` maps it from
    /// disk. Do not change it from another thread while `put` runs.
    #[pyo3(signature = (key, value, *, meta = None))]
    fn put<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        value: &Bound<'py, PyAny>,
        meta: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (cache, key) = (self.cache()?, key_of(key)?);
        let (data, meta) = unwrapped(value, meta);
        let data = scalar_as_array(py, &data)?.unwrap_or(data);
        // An array the caller keeps is written straight from its buffer, borrowed
        // meanwhile, without the GIL: no copy, as Rust's `put_ref`.
        if let Some(array) = array_ref(&data, "the value")? {
            let meta = meta.map(|m| meta_bytes(py, &m)).transpose()?.unwrap_or_default();
            let view = ValueRef::new(array.elem, &array.shape, array.bytes())
                .py()?
                .with_meta(&meta);
            let report = py.detach(|| cache.put_ref(&key, view)).py()?;
            return put_report(py, &report);
        }
        let value = value_of(py, &data, meta.as_ref())?;
        let report = py.detach(|| cache.put(&key, value)).py()?;
        put_report(py, &report)
    }

    /// The cached value of `key`, or `compute()`'s result, timed and stored. Threads and
    /// processes asking for one key at once compute it once; an exception `compute`
    /// raises propagates unchanged, and nothing is stored.
    fn get_or_compute(&self, py: Python<'_>, key: &Bound<'_, PyAny>, compute: Py<PyAny>) -> PyResult<PyHit> {
        let (cache, key) = (self.cache()?, key_of(key)?);
        let raised: Mutex<Option<PyErr>> = Mutex::new(None);
        let result = py.detach(|| {
            cache.get_or_compute(&key, || {
                Python::attach(|py| {
                    compute
                        .call0(py)
                        .and_then(|r| computed_value(py, r.into_bound(py)))
                        .map_err(|e| {
                            let text = e.to_string();
                            *raised.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                            text
                        })
                })
            })
        });
        if let Some(e) = raised.into_inner().unwrap_or_else(PoisonError::into_inner) {
            return Err(e);
        }
        report::hit(py, result.py()?, key)
    }

    /// Removes `key` from memory and disk; no handle serves the old value afterwards.
    fn invalidate(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let (cache, key) = (self.cache()?, key_of(key)?);
        py.detach(|| cache.invalidate(&key)).py()
    }

    /// Removes every entry, or every entry of `step`; returns how many.
    #[pyo3(signature = (step = None))]
    fn clear(&self, py: Python<'_>, step: Option<&str>) -> PyResult<u64> {
        let cache = self.cache()?;
        py.detach(|| cache.clear(step)).py()
    }

    /// The state of each key.
    fn status(&self, py: Python<'_>, keys: Vec<Bound<'_, PyAny>>) -> PyResult<Vec<PyStatus>> {
        let cache = self.cache()?;
        let keys = keys.iter().map(key_of).collect::<PyResult<Vec<_>>>()?;
        let states = py.detach(|| cache.status(&keys)).py()?;
        states.into_iter().map(|s| report::status(py, s)).collect()
    }

    /// Hits, misses, sizes, evictions and time saved, this session and for all time.
    fn stats(&self, py: Python<'_>) -> PyResult<PyStats> {
        let cache = self.cache()?;
        let stats = py.detach(|| cache.stats()).py()?;
        Ok(report::stats(&stats))
    }

    /// Adds this session's counters to the directory's lasting ones now (done at close).
    fn save_stats(&self, py: Python<'_>) -> PyResult<()> {
        let cache = self.cache()?;
        py.detach(|| cache.save_stats()).py()
    }

    /// Every entry in memory or on disk, newest first, with how it was made.
    fn entries(&self, py: Python<'_>) -> PyResult<Vec<PyEntryInfo>> {
        let cache = self.cache()?;
        let entries = py.detach(|| cache.entries()).py()?;
        entries.iter().map(|e| report::entry(py, e)).collect()
    }

    /// Keeps `key` from eviction in this cache until `unpin(key)`; pins of one key add up.
    fn pin(&self, key: &Bound<'_, PyAny>) -> PyResult<()> {
        self.cache()?.pin(&key_of(key)?);
        Ok(())
    }

    /// Undoes one `pin(key)`.
    fn unpin(&self, key: &Bound<'_, PyAny>) -> PyResult<()> {
        self.cache()?.unpin(&key_of(key)?);
        Ok(())
    }

    /// Applies the store budget and the steps' maximum ages now, as puts and reads would
    /// over time; returns the entries removed, oldest use first (with `dry_run`, the
    /// ones that would be, removing nothing).
    #[pyo3(signature = (*, dry_run = false))]
    fn collect(&self, py: Python<'_>, dry_run: bool) -> PyResult<Vec<PyEntryInfo>> {
        let cache = self.cache()?;
        let removed = py.detach(|| cache.collect(dry_run)).py()?;
        removed.iter().map(|e| report::entry(py, e)).collect()
    }

    /// Writes the stored entries (of `step` only, created at or after `since` seconds
    /// since the epoch only, if given) to the bundle file `path`, each verified; returns
    /// `{"entries", "bytes", "damaged"}`. A failed export leaves no file at `path`.
    #[pyo3(signature = (path, *, step = None, since = None))]
    fn export_bundle<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        step: Option<String>,
        since: Option<f64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (cache, filter) = (self.cache()?, crate::shared::filter(step, since)?);
        let report = py.detach(|| cache.export_bundle_file(&path, &filter, |_, _| {})).py()?;
        let d = PyDict::new(py);
        d.set_item("entries", report.entries)?;
        d.set_item("bytes", report.bytes)?;
        d.set_item("damaged", report.damaged)?;
        Ok(d)
    }

    /// Imports the bundle file `path`, each entry verified whole; an entry the cache holds
    /// already is kept. Returns `{"imported", "present", "skipped", "refused", "bytes"}`,
    /// `refused` a list of `(key fingerprint, reason)`. A damaged bundle raises
    /// `InvalidBundle` after keeping the entries before the damage.
    fn import_bundle<'py>(&self, py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
        let cache = self.cache()?;
        let report = py.detach(|| cache.import_bundle_file(&path, |_, _| {})).py()?;
        let d = PyDict::new(py);
        d.set_item("imported", report.imported)?;
        d.set_item("present", report.present)?;
        d.set_item("skipped", report.skipped)?;
        d.set_item("refused", crate::shared::refused(&report.refused))?;
        d.set_item("bytes", report.bytes)?;
        Ok(d)
    }

    /// Writes every entry whose shared copy is behind (a shared write or removal that
    /// failed) to the shared tier now; how many it settled.
    fn flush_shared(&self, py: Python<'_>) -> PyResult<u64> {
        let cache = self.cache()?;
        py.detach(|| cache.flush_shared()).py()
    }

    /// Copies the stored entries (of `step`, created at or after `since` seconds since the
    /// epoch, if given) that the shared tier lacks to it, verified and sealed with the team
    /// key, whatever their step's policy says; returns `{"copied", "present", "skipped",
    /// "refused", "bytes"}`. `InvalidConfig` without a shared tier.
    #[pyo3(signature = (*, step = None, since = None))]
    fn push<'py>(&self, py: Python<'py>, step: Option<String>, since: Option<f64>) -> PyResult<Bound<'py, PyDict>> {
        let (cache, filter) = (self.cache()?, crate::shared::filter(step, since)?);
        let moved = py.detach(|| cache.push(&filter)).py()?;
        crate::shared::transfer(py, &moved)
    }

    /// Stores the shared tier's entries (of `step`, created at or after `since`, if given)
    /// that this cache lacks, each verified, as an import does; reports as `push`.
    #[pyo3(signature = (*, step = None, since = None))]
    fn pull<'py>(&self, py: Python<'py>, step: Option<String>, since: Option<f64>) -> PyResult<Bound<'py, PyDict>> {
        let (cache, filter) = (self.cache()?, crate::shared::filter(step, since)?);
        let moved = py.detach(|| cache.pull(&filter)).py()?;
        crate::shared::transfer(py, &moved)
    }

    /// Recompute every step (`True`), none (`False`), or the steps named (a str or an
    /// iterable of str): their results stored before now are misses.
    fn set_force(&self, force: &Bound<'_, PyAny>) -> PyResult<()> {
        let force = if force.is_none() {
            Force::None
        } else if let Ok(all) = force.extract::<bool>() {
            if all { Force::All } else { Force::None }
        } else if let Ok(step) = force.extract::<String>() {
            Force::Steps(vec![step])
        } else {
            let steps = force
                .try_iter()
                .and_then(|it| it.map(|s| s?.extract::<String>()).collect::<PyResult<Vec<_>>>())
                .map_err(|_| PyTypeError::new_err("force is True, False, a step name or an iterable of step names"))?;
            Force::Steps(steps)
        };
        self.cache()?.set_force(force).py()
    }

    /// Switches reading, computing and writing on or off: letters `r`, `c`, `w`
    /// (`"r"` replays only, `"rc"` is a dry run, `"cw"` refreshes).
    fn set_access(&self, access: &str) -> PyResult<()> {
        let access = access.parse::<Access>().py()?;
        self.cache()?.set_access(access);
        Ok(())
    }

    /// Closes the cache: saves this session's counters; every later call raises
    /// `CacheClosed`. Arrays it returned stay valid.
    fn close(&self, py: Python<'_>) {
        let cache = self.inner.lock().unwrap_or_else(PoisonError::into_inner).take();
        // Dropping the last handle saves the counters: disk IO, without the GIL.
        py.detach(move || drop(cache));
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) {
        self.close(py);
    }

    fn __repr__(&self) -> String {
        format!("Cache('{}')", self.dir.display())
    }
}

impl Drop for PyCache {
    /// A cache dropped without `close()` saves its counters too.
    fn drop(&mut self) {
        let cache = self.inner.get_mut().unwrap_or_else(PoisonError::into_inner).take();
        drop(cache);
    }
}

fn put_report<'py>(py: Python<'py>, r: &stepcache::PutReport) -> PyResult<Bound<'py, PyDict>> {
    let outcome = |o: stepcache::TierOutcome| match o {
        stepcache::TierOutcome::Stored => "stored".to_owned(),
        stepcache::TierOutcome::Skipped(why) => format!("skipped: {why:?}"),
        stepcache::TierOutcome::Failed(kind) => format!("failed: {}", kind.name()),
    };
    let d = PyDict::new(py);
    d.set_item("memory", outcome(r.memory))?;
    d.set_item("store", outcome(r.store))?;
    d.set_item("shared", outcome(r.shared))?;
    Ok(d)
}

/// `region` (see `Cache.get_region`) as one range per leading dimension.
fn region_of(region: &Bound<'_, PyAny>) -> PyResult<Vec<Range<u64>>> {
    let items: Vec<Bound<'_, PyAny>> = match region.cast::<PyTuple>() {
        Ok(tuple) => tuple.iter().collect(),
        Err(_) => vec![region.clone()],
    };
    items
        .iter()
        .enumerate()
        .map(|(dim, item)| range_of(dim, item))
        .collect()
}

/// One dimension's part of a region: a slice of step 1 (from 0 and to the dimension's end
/// where it does not say) or one index.
fn range_of(dim: usize, item: &Bound<'_, PyAny>) -> PyResult<Range<u64>> {
    let bad = |what: &str| {
        to_py(Error::new(
            ErrorKind::InvalidArgument,
            format!("region dimension {dim}: {what}"),
        ))
    };
    let index = |value: Bound<'_, PyAny>, none: u64| -> PyResult<u64> {
        if value.is_none() {
            return Ok(none);
        }
        // Python ints and numpy integers (`__index__`); past u64, to the end, as numpy clips.
        let i: i128 = value.extract().map_err(|_| bad("an index is not an integer"))?;
        if i < 0 {
            return Err(bad("negative indices are not supported"));
        }
        Ok(u64::try_from(i).unwrap_or(u64::MAX))
    };
    if let Ok(slice) = item.cast::<PySlice>() {
        let step = slice.getattr("step")?;
        if !step.is_none() && step.extract::<i64>().ok() != Some(1) {
            return Err(bad("only slices of step 1 are supported"));
        }
        let start = index(slice.getattr("start")?, 0)?;
        let stop = index(slice.getattr("stop")?, u64::MAX)?;
        return Ok(start..stop);
    }
    // An int or a numpy integer (what `__index__` gives); a bool is no index here.
    if item.is_instance_of::<PyBool>() || !item.hasattr("__index__")? {
        return Err(bad(&format!(
            "expected a slice or an int, got {}",
            item.get_type().name()?
        )));
    }
    let at = index(item.clone(), 0)?;
    Ok(at..at.saturating_add(1))
}
