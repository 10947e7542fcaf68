//! What the cache hands back to Python: keys, hits, statistics, entries and their
//! provenance, as small immutable classes.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use stepcache::{
    Arg, ArgValue, EntryInfo, Fingerprint, Hit, Key, KeyArgs, SharedStats, Source, Stats, TierStats, TypeStats,
};

use crate::errors::IntoPy;

/// A cache key: a step name and the blake3 fingerprint of its version and arguments.
#[pyclass(frozen, module = "stepcache", name = "Key")]
pub(crate) struct PyKey {
    pub(crate) key: Key,
}

#[pymethods]
impl PyKey {
    /// Reads the text form `str(key)` gives, `step@b3:<64 hex digits>`.
    #[staticmethod]
    fn parse(text: &str) -> PyResult<Self> {
        Ok(PyKey {
            key: text.parse().py()?,
        })
    }

    /// The step (result type) name.
    #[getter]
    fn step(&self) -> &str {
        self.key.step()
    }

    /// The fingerprint, `b3:` and 64 lowercase hex digits.
    #[getter]
    fn fingerprint(&self) -> String {
        self.key.fingerprint().to_string()
    }

    /// The step version the key was built with (`None` for a parsed key).
    #[getter]
    fn version(&self) -> Option<u32> {
        self.key.args().map(|a| a.version)
    }

    /// The arguments the key was built from, in readable form (`None` for a parsed key).
    #[getter]
    fn args<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.key.args().map(|a| args_dict(py, &a)).transpose()
    }

    fn __str__(&self) -> String {
        self.key.to_string()
    }

    fn __repr__(&self) -> String {
        format!("Key('{}')", self.key)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<PyKey>().is_ok_and(|o| o.get().key == self.key)
    }

    fn __hash__(&self) -> u64 {
        let bytes = self.key.fingerprint().as_bytes();
        u64::from_le_bytes([
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
        ])
    }
}

/// The key `key` names: a `Key`, or its text form.
pub(crate) fn key_of(key: &Bound<'_, PyAny>) -> PyResult<Key> {
    if let Ok(k) = key.cast::<PyKey>() {
        return Ok(k.get().key.clone());
    }
    match key.extract::<String>() {
        Ok(text) => text.parse().py(),
        Err(_) => Err(pyo3::exceptions::PyTypeError::new_err(
            "a key is a stepcache.Key (from cache.key()) or its text form",
        )),
    }
}

/// A value found or computed, and where it came from. Pass it (or its `value`) as an
/// argument of the next step's key to key that step by lineage.
#[pyclass(frozen, module = "stepcache", name = "Hit")]
pub(crate) struct PyHit {
    /// The value: a read-only numpy array over the cache's bytes, or `bytes`.
    #[pyo3(get)]
    value: Py<PyAny>,
    /// The key it belongs to.
    #[pyo3(get)]
    key: Py<PyKey>,
    /// Where it came from: "memory", "store", "computed", "waited" or "shared".
    #[pyo3(get)]
    source: &'static str,
    /// When it was computed, ms since the epoch.
    #[pyo3(get)]
    created_ms: u64,
    /// How long it took to compute, microseconds (0 when unknown).
    #[pyo3(get)]
    cost_us: u64,
    meta: Vec<u8>,
    pub(crate) fingerprint: Fingerprint,
    pub(crate) content: Fingerprint,
}

#[pymethods]
impl PyHit {
    /// The value's content identity, what lineage binds besides the key.
    #[getter]
    fn content(&self) -> String {
        self.content.to_string()
    }

    /// The metadata stored with the value as its raw bytes.
    #[getter]
    fn meta_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.meta)
    }

    /// The metadata: `None` if there is none, the decoded JSON if it is JSON (as
    /// `put(..., meta=obj)` and the npm package store it), else the bytes.
    #[getter]
    fn meta<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if self.meta.is_empty() {
            return Ok(py.None().into_bound(py));
        }
        let bytes = PyBytes::new(py, &self.meta);
        match py.import("json")?.call_method1("loads", (&bytes,)) {
            Ok(v) => Ok(v),
            Err(_) => Ok(bytes.into_any()),
        }
    }

    /// Whether the value was found rather than computed by this call.
    #[getter]
    fn is_hit(&self) -> bool {
        matches!(self.source, "memory" | "store" | "shared")
    }

    fn __repr__(&self) -> String {
        format!("Hit(key='{}', source='{}')", self.key.get().key, self.source)
    }
}

fn source_name(source: Source) -> &'static str {
    match source {
        Source::Memory => "memory",
        Source::Store => "store",
        Source::Computed => "computed",
        Source::Waited => "waited",
        Source::Shared => "shared",
    }
}

/// The Python form of `hit`, found or computed for `key`.
pub(crate) fn hit(py: Python<'_>, hit: Hit, key: Key) -> PyResult<PyHit> {
    let value = crate::arrays::to_python(py, &hit.value, Some((hit.fingerprint, hit.content)))?.unbind();
    Ok(PyHit {
        value,
        key: Py::new(py, PyKey { key })?,
        source: source_name(hit.source),
        created_ms: hit.created_ms,
        cost_us: hit.cost_us,
        meta: hit.value.meta().to_vec(),
        fingerprint: hit.fingerprint,
        content: hit.content,
    })
}

/// An array argument as a key records it: element type, shape and fingerprint.
#[pyclass(frozen, get_all, module = "stepcache", name = "ArrayArg")]
pub(crate) struct PyArrayArg {
    /// The element type (`"f32"`, `"u8"`, ...).
    dtype: &'static str,
    /// The shape.
    shape: Vec<u64>,
    /// The array's fingerprint.
    fingerprint: String,
}

/// A precomputed digest argument (a file's contents, an array inside a list).
#[pyclass(frozen, get_all, module = "stepcache", name = "DigestArg")]
pub(crate) struct PyDigestArg {
    /// The digest.
    fingerprint: String,
}

/// A lineage argument: the upstream key's fingerprint and its value's content identity.
#[pyclass(frozen, get_all, module = "stepcache", name = "LineageArg")]
pub(crate) struct PyLineageArg {
    /// The upstream key's fingerprint.
    key: String,
    /// The upstream value's content identity.
    content: String,
}

macro_rules! reprs {
    ($($t:ty => $fmt:literal, $($f:ident),*;)*) => {$(
        #[pymethods]
        impl $t {
            fn __repr__(&self) -> String {
                format!($fmt, $(self.$f),*)
            }
        }
    )*};
}
reprs! {
    PyArrayArg => "ArrayArg(dtype='{}', shape={:?}, fingerprint='{}')", dtype, shape, fingerprint;
    PyDigestArg => "DigestArg('{}')", fingerprint;
    PyLineageArg => "LineageArg(key='{}', content='{}')", key, content;
}

fn arg_value<'py>(py: Python<'py>, value: &ArgValue) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        ArgValue::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        ArgValue::Int(i) => i.into_pyobject(py)?.into_any(),
        ArgValue::Float(f) => f.into_pyobject(py)?.into_any(),
        ArgValue::Text(s) => s.into_pyobject(py)?.into_any(),
        ArgValue::Bytes(b) => PyBytes::new(py, b).into_any(),
        ArgValue::List(items) => {
            let items = items.iter().map(|v| arg_value(py, v)).collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        ArgValue::Array {
            elem,
            shape,
            fingerprint,
        } => Bound::new(
            py,
            PyArrayArg {
                dtype: elem.name(),
                shape: shape.clone(),
                fingerprint: fingerprint.to_string(),
            },
        )?
        .into_any(),
        ArgValue::Digest(d) if Arg::Array(*d) == Arg::none() => py.None().into_bound(py),
        ArgValue::Digest(d) => Bound::new(
            py,
            PyDigestArg {
                fingerprint: d.to_string(),
            },
        )?
        .into_any(),
        ArgValue::Lineage { key, content } => Bound::new(
            py,
            PyLineageArg {
                key: key.to_string(),
                content: content.to_string(),
            },
        )?
        .into_any(),
    })
}

/// A key's arguments as a dict, in name order.
fn args_dict<'py>(py: Python<'py>, args: &KeyArgs) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for a in &args.args {
        dict.set_item(&a.name, arg_value(py, &a.value)?)?;
    }
    Ok(dict)
}

/// How an entry was made.
#[pyclass(frozen, get_all, module = "stepcache", name = "Provenance")]
pub(crate) struct PyProvenance {
    /// The stepcache that wrote the entry, e.g. "stepcache 0.1.0" (empty if unknown).
    made_by: String,
    /// The key's step version (`None` if the entry does not record its key's arguments).
    version: Option<u32>,
    /// The key's arguments by name (`None` if not recorded).
    args: Option<Py<PyDict>>,
    /// How many arguments were left out to keep the record within 2 KiB.
    omitted: u64,
}

#[pymethods]
impl PyProvenance {
    fn __repr__(&self, py: Python<'_>) -> String {
        let args = self
            .args
            .as_ref()
            .map_or_else(|| "None".to_owned(), |a| a.bind(py).to_string());
        format!(
            "Provenance(made_by='{}', version={:?}, args={args})",
            self.made_by, self.version
        )
    }
}

/// One cached entry, as `Cache.entries()` lists it.
#[pyclass(frozen, get_all, module = "stepcache", name = "EntryInfo")]
pub(crate) struct PyEntryInfo {
    /// The key (step and fingerprint).
    key: Py<PyKey>,
    /// The step (result type) name.
    step: String,
    /// Bytes it occupies on disk (or in memory if it is only there).
    bytes: u64,
    /// When it was computed, ms since the epoch.
    created_ms: u64,
    /// How long it took to compute, microseconds.
    cost_us: u64,
    /// Hits since this cache saw it stored.
    hits: u64,
    /// Whether it is in this cache's memory tier.
    in_memory: bool,
    /// Whether it is stored in the directory.
    stored: bool,
    /// How it was made.
    provenance: Py<PyProvenance>,
}

#[pymethods]
impl PyEntryInfo {
    fn __repr__(&self) -> String {
        format!("EntryInfo(key='{}', bytes={})", self.key.get().key, self.bytes)
    }
}

/// The Python form of one entry.
pub(crate) fn entry(py: Python<'_>, e: &EntryInfo) -> PyResult<PyEntryInfo> {
    let made = e.provenance.decode();
    let provenance = PyProvenance {
        made_by: made.made_by,
        version: made.args.as_ref().map(|a| a.version),
        omitted: made.args.as_ref().map_or(0, |a| a.omitted),
        args: made
            .args
            .as_ref()
            .map(|a| args_dict(py, a).map(Bound::unbind))
            .transpose()?,
    };
    Ok(PyEntryInfo {
        key: Py::new(
            py,
            PyKey {
                key: Key::from_parts(&e.step, e.fingerprint).py()?,
            },
        )?,
        step: e.step.clone(),
        bytes: e.bytes,
        created_ms: e.created_ms,
        cost_us: e.cost_us,
        hits: e.hits,
        in_memory: e.in_memory,
        stored: e.stored,
        provenance: Py::new(py, provenance)?,
    })
}

/// The state of one key, as `Cache.status()` reports it.
#[pyclass(frozen, get_all, module = "stepcache", name = "Status")]
pub(crate) struct PyStatus {
    /// The key.
    key: Py<PyKey>,
    /// "memory", "stored", "expired", "forced", "shared" or "missing".
    state: &'static str,
    /// When it was computed, if cached.
    created_ms: Option<u64>,
    /// Its compute cost in microseconds, if cached.
    cost_us: Option<u64>,
}

#[pymethods]
impl PyStatus {
    fn __repr__(&self) -> String {
        format!("Status(key='{}', state='{}')", self.key.get().key, self.state)
    }
}

/// The Python form of one key's status.
pub(crate) fn status(py: Python<'_>, s: stepcache::Status) -> PyResult<PyStatus> {
    let state = s.state.name();
    Ok(PyStatus {
        key: Py::new(py, PyKey { key: s.key })?,
        state,
        created_ms: s.created_ms,
        cost_us: s.cost_us,
    })
}

/// Counters of one tier.
#[pyclass(frozen, get_all, module = "stepcache", name = "TierStats")]
#[derive(Clone)]
pub(crate) struct PyTierStats {
    /// Lookups this tier answered.
    hits: u64,
    /// Lookups it could not answer.
    misses: u64,
    /// Bytes held now.
    bytes: u64,
    /// Entries held now.
    entries: u64,
    /// Its budget in bytes.
    budget: u64,
    /// Entries evicted to make room.
    evictions: u64,
    /// Entries removed for being older than their type's maximum age.
    expired: u64,
}

impl From<&TierStats> for PyTierStats {
    fn from(t: &TierStats) -> Self {
        PyTierStats {
            hits: t.hits,
            misses: t.misses,
            bytes: t.bytes,
            entries: t.entries,
            budget: t.budget,
            evictions: t.evictions,
            expired: t.expired,
        }
    }
}

/// Counters of one result type (step).
#[pyclass(frozen, get_all, module = "stepcache", name = "TypeStats")]
#[derive(Clone)]
pub(crate) struct PyTypeStats {
    /// The step name.
    step: String,
    /// Lookups that found a result.
    hits: u64,
    /// Lookups that found none.
    misses: u64,
    /// Results stored.
    puts: u64,
    /// Computations run by `get_or_compute`.
    computes: u64,
    /// Time spent computing, microseconds.
    compute_us: u64,
    /// Compute time hits avoided, microseconds.
    saved_us: u64,
}

impl From<&TypeStats> for PyTypeStats {
    fn from(t: &TypeStats) -> Self {
        PyTypeStats {
            step: t.step.clone(),
            hits: t.hits,
            misses: t.misses,
            puts: t.puts,
            computes: t.computes,
            compute_us: t.compute_us,
            saved_us: t.saved_us,
        }
    }
}

macro_rules! stat_reprs {
    ($($t:ty => $name:literal: $($f:ident),*;)*) => {$(
        #[pymethods]
        impl $t {
            fn __repr__(&self) -> String {
                let fields: Vec<String> = vec![$(format!("{}={:?}", stringify!($f), self.$f)),*];
                format!("{}({})", $name, fields.join(", "))
            }
        }
    )*};
}
stat_reprs! {
    PyTierStats => "TierStats": hits, misses, bytes, entries, budget, evictions, expired;
    PyTypeStats => "TypeStats": step, hits, misses, puts, computes, compute_us, saved_us;
}

/// Counters of the shared tier (all zero, `enabled` false, for a cache without one).
#[pyclass(frozen, get_all, module = "stepcache", name = "SharedStats")]
#[derive(Clone)]
pub(crate) struct PySharedStats {
    /// Whether the cache has a shared tier.
    enabled: bool,
    /// Lookups it answered (verified entries, kept in the local tiers).
    hits: u64,
    /// Lookups it could not answer.
    misses: u64,
    /// Objects found but not returned: damaged, another key's, or not sealed by the team key.
    rejected: u64,
    /// Entries written to it.
    puts: u64,
    /// Bytes read from it in hits.
    bytes_read: u64,
    /// Bytes written to it.
    bytes_written: u64,
    /// Calls to it that failed (unreachable, too slow, refused).
    errors: u64,
    /// Keys whose shared copy is behind this machine's, written there again later.
    pending: u64,
    /// Whether it is left alone after a failure until its retry time (degraded mode).
    degraded: bool,
    /// The latest failure, for people.
    last_error: Option<String>,
}

impl From<&SharedStats> for PySharedStats {
    fn from(t: &SharedStats) -> Self {
        PySharedStats {
            enabled: t.enabled,
            hits: t.hits,
            misses: t.misses,
            rejected: t.rejected,
            puts: t.puts,
            bytes_read: t.bytes_read,
            bytes_written: t.bytes_written,
            errors: t.errors,
            pending: t.pending,
            degraded: t.degraded,
            last_error: t.last_error.clone(),
        }
    }
}

/// A snapshot of a cache's counters: this session's, and per step over every session
/// of the directory (`all_time`).
#[pyclass(frozen, get_all, module = "stepcache", name = "Stats")]
pub(crate) struct PyStats {
    /// The memory tier.
    memory: PyTierStats,
    /// The directory.
    store: PyTierStats,
    /// The shared tier.
    shared: PySharedStats,
    /// Per step, this session, sorted by name.
    types: Vec<PyTypeStats>,
    /// Per step over every session that saved its counters (this one included).
    all_time: Vec<PyTypeStats>,
    /// Damaged or unreadable entries found and removed.
    corrupt_removed: u64,
    /// Callers that waited for another caller's computation of the same key.
    waited_computes: u64,
    /// Hits over lookups this session (0 when nothing was looked up).
    hit_rate: f64,
    /// Compute time hits avoided this session, microseconds.
    saved_us: u64,
    text: String,
}

#[pymethods]
impl PyStats {
    /// The counters of `step` this session, if it was seen.
    fn of_type(&self, step: &str) -> Option<PyTypeStats> {
        self.types.iter().find(|t| t.step == step).cloned()
    }

    fn __str__(&self) -> &str {
        &self.text
    }

    fn __repr__(&self) -> String {
        format!(
            "Stats(hit_rate={:.3}, memory={}, store={})",
            self.hit_rate, self.memory.entries, self.store.entries
        )
    }
}

/// The Python form of `stats`.
pub(crate) fn stats(s: &Stats) -> PyStats {
    PyStats {
        memory: (&s.memory).into(),
        store: (&s.store).into(),
        shared: (&s.shared).into(),
        types: s.types.iter().map(Into::into).collect(),
        all_time: s.all_time.iter().map(Into::into).collect(),
        corrupt_removed: s.corrupt_removed,
        waited_computes: s.waited_computes,
        hit_rate: s.hit_rate(),
        saved_us: s.saved_us(),
        text: s.to_string(),
    }
}
