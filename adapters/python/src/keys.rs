//! Python values as key arguments, through core's `KeyBuilder`, so a key built here is
//! the key Rust and JavaScript build for the same arguments (`docs/key-format.md`).
//!
//! What Python adds to the key format, in terms of it:
//! - `None` is the digest argument of the blake3 hash of the bytes `stepcache none`
//!   (`Arg::none`, as every binding keys an absent value): no array digest can equal it;
//! - a mapping or a dataclass is one argument per item or field, named `name.item`
//!   (nested ones `name.item.sub`), which is how JavaScript callers flatten objects; an
//!   empty one is an empty list;
//! - a file (`os.PathLike`) is the digest of its contents as an array of bytes;
//! - numpy scalars are the numbers they hold (`float32` widened exactly, as in Rust);
//! - a result stepcache returned (a `Hit`, or the array it holds) is lineage.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use stepcache::{Arg, Error, ErrorKind, Fingerprint, Key, KeyBuilder, MAX_ARG_NAME, MAX_LIST_DEPTH, Step};

use crate::arrays::{ArrayRef, Owner, array_ref};
use crate::errors::IntoPy;
use crate::report::{PyHit, PyKey};

/// One argument after mappings and dataclasses were flattened.
enum Item<'py> {
    Arg(Arg),
    Array(ArrayRef<'py>),
}

/// Types looked up once.
struct Types {
    generic: Py<PyType>,
    path_like: Py<PyType>,
    fields: Py<PyAny>,
}

static TYPES: PyOnceLock<Types> = PyOnceLock::new();

fn types(py: Python<'_>) -> PyResult<&Types> {
    TYPES.get_or_try_init(py, || {
        Ok(Types {
            generic: py.import("numpy")?.getattr("generic")?.cast_into::<PyType>()?.unbind(),
            path_like: py.import("os")?.getattr("PathLike")?.cast_into::<PyType>()?.unbind(),
            fields: py.import("dataclasses")?.getattr("fields")?.unbind(),
        })
    })
}

/// A `TypeError` for the argument `name` holding `value`.
fn unsupported(name: &str, value: &Bound<'_, PyAny>, why: &str) -> PyErr {
    let ty = value
        .get_type()
        .qualname()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string());
    PyTypeError::new_err(format!("argument \"{name}\" has type {ty}: {why}"))
}

const KINDS: &str = "a key holds numpy arrays, int, float, bool, str, bytes, None, lists and tuples of these, \
                     dicts with str keys, dataclasses, pathlib.Path (by contents) and stepcache results";

/// The lineage of a stepcache result: a `Hit`, or exactly the array one holds.
fn lineage_of(value: &Bound<'_, PyAny>) -> Option<(Fingerprint, Fingerprint)> {
    if let Ok(hit) = value.cast::<PyHit>() {
        let hit = hit.get();
        return Some((hit.fingerprint, hit.content));
    }
    let array = value.cast::<numpy::PyUntypedArray>().ok()?;
    let base = array.getattr("base").ok()?;
    let owner = base.cast::<Owner>().ok()?.get();
    owner.lineage.filter(|_| owner.is_whole(array))
}

fn is_dataclass(value: &Bound<'_, PyAny>) -> bool {
    !value.is_instance_of::<PyType>() && value.get_type().hasattr("__dataclass_fields__").unwrap_or(false)
}

/// Appends `value` as the argument `name` (or as one argument per item of a mapping or
/// dataclass) to `out`.
fn flatten<'py>(name: String, value: &Bound<'py, PyAny>, out: &mut Vec<(String, Item<'py>)>) -> PyResult<()> {
    let py = value.py();
    // Each nested mapping lengthens the name, so this also ends a mapping that holds itself.
    if name.len() > MAX_ARG_NAME {
        return Err(crate::errors::to_py(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "argument \"{}...\" is nested so deep that its name is over {MAX_ARG_NAME} bytes (or it holds itself)",
                name.chars().take(64).collect::<String>()
            ),
        )));
    }
    if let Some((key, content)) = lineage_of(value) {
        out.push((name, Item::Arg(Arg::Lineage { key, content })));
    } else if let Some(array) = array_ref(value, &format!("argument \"{name}\""))? {
        out.push((name, Item::Array(array)));
    } else if let Ok(dict) = value.cast::<PyDict>() {
        if dict.is_empty() {
            out.push((name.clone(), Item::Arg(Arg::List(Vec::new()))));
        }
        for (k, v) in dict.iter() {
            let Ok(k) = k.cast::<PyString>() else {
                return Err(unsupported(&name, value, "a dict argument needs str keys"));
            };
            flatten(format!("{name}.{}", k.to_cow()?), &v, out)?;
        }
    } else if is_dataclass(value) {
        let fields = types(py)?.fields.call1(py, (value,))?;
        let fields = fields.bind(py);
        if fields.len()? == 0 {
            out.push((name.clone(), Item::Arg(Arg::List(Vec::new()))));
        }
        for field in fields.try_iter()? {
            let field: String = field?.getattr("name")?.extract()?;
            let v = value.getattr(field.as_str())?;
            flatten(format!("{name}.{field}"), &v, out)?;
        }
    } else {
        out.push((name.clone(), Item::Arg(to_arg(&name, value)?)));
    }
    Ok(())
}

/// `value` as one argument value (lists hold these too).
fn to_arg(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Arg> {
    to_nested_arg(name, value, 0)
}

/// [`to_arg`] of a value inside `lists` enclosing lists or tuples.
fn to_nested_arg(name: &str, value: &Bound<'_, PyAny>, lists: usize) -> PyResult<Arg> {
    let py = value.py();
    if value.is_none() {
        return Ok(Arg::none());
    }
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(Arg::Bool(b.is_true()));
    }
    if let Ok(i) = value.cast::<PyInt>() {
        return i.extract::<i128>().map(Arg::Int).map_err(|_| {
            crate::errors::to_py(Error::new(
                ErrorKind::InvalidArgument,
                format!("argument \"{name}\" is an integer that does not fit 128 bits"),
            ))
        });
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        return Ok(Arg::Float(f.value()));
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Arg::Text(s.to_cow()?.into_owned()));
    }
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(Arg::Bytes(b.as_bytes().to_vec()));
    }
    if let Ok(b) = value.cast::<PyByteArray>() {
        return Ok(Arg::Bytes(b.to_vec()));
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        if lists == MAX_LIST_DEPTH {
            return Err(crate::errors::to_py(Arg::nested_too_deep(name)));
        }
        let mut items = Vec::new();
        for item in value.try_iter()? {
            items.push(to_nested_arg(name, &item?, lists + 1)?);
        }
        return Ok(Arg::List(items));
    }
    if let Some((key, content)) = lineage_of(value) {
        return Ok(Arg::Lineage { key, content });
    }
    if let Some(array) = array_ref(value, &format!("argument \"{name}\""))? {
        let (elem, shape, bytes) = (array.elem, &array.shape, array.bytes());
        let digest = py.detach(move || Fingerprint::of_array(elem, shape, bytes));
        return Ok(Arg::Array(digest));
    }
    let types = types(py)?;
    if value.is_instance(types.generic.bind(py))? {
        // A numpy scalar: `item()` gives the Python number (float32 widened exactly).
        let item = value.call_method0("item")?;
        if item.is_instance_of::<PyBool>() || item.is_instance_of::<PyInt>() || item.is_instance_of::<PyFloat>() {
            return to_nested_arg(name, &item, lists);
        }
        return Err(unsupported(name, value, KINDS));
    }
    if value.is_instance(types.path_like.bind(py))? {
        let path: std::path::PathBuf = value.extract()?;
        let digest = py
            .detach(|| crate::paths::fingerprint(&path))
            .map_err(|e| PyValueError::new_err(format!("argument \"{name}\": {}: {e}", path.display())))?;
        return Ok(Arg::Array(digest));
    }
    if value.is_instance_of::<PyKey>() {
        return Err(crate::errors::to_py(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "argument \"{name}\" is a key: for lineage pass the result (Hit or array) stepcache returned for it, \
                 so that the key binds the upstream value too"
            ),
        )));
    }
    if value.is_instance_of::<PyDict>() || is_dataclass(value) {
        return Err(unsupported(
            name,
            value,
            "a dict or dataclass is keyed by its items only as a whole argument, not inside a list",
        ));
    }
    Err(unsupported(name, value, KINDS))
}

/// How a key is made: the step, its version, arguments never keyed, and the values at
/// which arguments are left out of the key.
pub(crate) struct KeySpec<'a, 'py> {
    pub(crate) step: &'a str,
    pub(crate) version: u32,
    pub(crate) ignore: &'a [String],
    pub(crate) defaults: Option<&'a Bound<'py, PyDict>>,
}

/// The key of `args` (argument names and values) under `spec`.
pub(crate) fn build<'py>(spec: &KeySpec<'_, 'py>, args: &[(String, Bound<'py, PyAny>)]) -> PyResult<Key> {
    let ignored = |name: &str| spec.ignore.iter().any(|i| i == name);
    let mut step = Step::new(spec.step).py()?.version(spec.version);
    for name in spec.ignore {
        step = step.ignore(name);
    }
    if let Some(defaults) = spec.defaults {
        for (name, value) in defaults.iter() {
            let name: String = name.extract()?;
            // A default that cannot be keyed is never matched: the argument itself then
            // fails with the error that names it, unless it is given another value.
            let mut items = Vec::new();
            if ignored(&name) || flatten(name, &value, &mut items).is_err() {
                continue;
            }
            for (name, item) in items {
                let arg = match item {
                    Item::Arg(arg) => arg,
                    Item::Array(a) => Arg::Array(Fingerprint::of_array(a.elem, &a.shape, a.bytes())),
                };
                step = step.default_arg(&name, arg);
            }
        }
    }
    let py = match args.first() {
        Some((_, v)) => v.py(),
        None => return step.key().build().py(),
    };
    let mut builder: KeyBuilder = step.key();
    for (name, value) in args {
        if ignored(name) {
            continue;
        }
        let mut items = Vec::new();
        flatten(name.clone(), value, &mut items)?;
        for (name, item) in items {
            builder = match item {
                Item::Arg(arg) => builder.arg(&name, arg),
                // Hashed in place without the GIL; the array stays borrowed meanwhile.
                Item::Array(a) => {
                    let (elem, shape, bytes) = (a.elem, &a.shape, a.bytes());
                    py.detach(move || builder.raw_array(&name, elem, shape, bytes))
                }
            };
        }
    }
    builder.build().py()
}
