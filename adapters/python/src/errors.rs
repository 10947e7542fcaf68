//! One Python exception class per [`ErrorKind`], under `stepcache.StepcacheError`.
//!
//! The classes are made once, when the module is imported, with `type()`, so each can
//! also derive from the builtin exception a Python caller would catch for that kind of
//! failure (`ValueError` for an invalid input, `OSError` for the disk): `except
//! ValueError` keeps working around a call that starts using stepcache.

use pyo3::exceptions::{PyException, PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use stepcache::{Error, ErrorKind};

/// Every kind with its builtin base and the first line of its docstring.
const KINDS: [(ErrorKind, Builtin, &str); 17] = [
    (
        ErrorKind::InvalidStepName,
        Builtin::Value,
        "A step name is empty, too long, or uses characters outside [A-Za-z0-9_.:-].",
    ),
    (
        ErrorKind::InvalidArgument,
        Builtin::Value,
        "An argument is invalid: a key's (a bad or repeated name, NaN, an infinity, over 64 KiB inline), or a region that does not fit the value.",
    ),
    (
        ErrorKind::InvalidValue,
        Builtin::Value,
        "A value's shape, element type and bytes disagree, or its metadata is too large.",
    ),
    (
        ErrorKind::WrongType,
        Builtin::Type,
        "A value was read as an element type other than the one it holds.",
    ),
    (
        ErrorKind::InvalidConfig,
        Builtin::Value,
        "A setting is out of range (an unknown policy or access mode, a zero age).",
    ),
    (
        ErrorKind::InvalidFingerprint,
        Builtin::Value,
        "A key's text form is not step@b3: followed by 64 lowercase hex digits.",
    ),
    (
        ErrorKind::TooLarge,
        Builtin::Value,
        "The value is larger than the limit stepcache puts on one entry.",
    ),
    (
        ErrorKind::ReadDisabled,
        Builtin::Runtime,
        "A read was asked of a cache whose access mode has reading switched off.",
    ),
    (
        ErrorKind::ComputeDisabled,
        Builtin::Runtime,
        "A miss happened while computing is switched off (a replay-only cache).",
    ),
    (
        ErrorKind::Compute,
        Builtin::Runtime,
        "A computation failed in another thread or process this call waited for.",
    ),
    (
        ErrorKind::Storage,
        Builtin::Os,
        "The cache directory failed (an IO error).",
    ),
    (
        ErrorKind::StorageFull,
        Builtin::Os,
        "The disk or quota of the cache directory is full.",
    ),
    (
        ErrorKind::PermissionDenied,
        Builtin::Os,
        "The cache directory refused access (permissions, ownership, opened read-only).",
    ),
    (
        ErrorKind::Blocked,
        Builtin::Os,
        "The storage is held by someone else; retry later.",
    ),
    (ErrorKind::Closed, Builtin::Runtime, "The cache was closed."),
    (
        ErrorKind::InvalidEntry,
        Builtin::Value,
        "Bytes given as an entry are not a sound entry.",
    ),
    (
        ErrorKind::InvalidBundle,
        Builtin::Value,
        "A bundle file is cut short, damaged, or not a bundle.",
    ),
];

/// The builtin exception a kind also derives from.
#[derive(Clone, Copy)]
enum Builtin {
    Value,
    Type,
    Runtime,
    Os,
}

/// The base class and the class of each kind, made at import.
struct Classes {
    base: Py<PyType>,
    kinds: Vec<(ErrorKind, Py<PyType>)>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

/// Makes the exception classes and adds them to `module`.
pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let classes = CLASSES.get_or_try_init(py, || make(py))?;
    module.add("StepcacheError", classes.base.bind(py))?;
    for (kind, class) in &classes.kinds {
        module.add(kind.name(), class.bind(py))?;
    }
    Ok(())
}

fn make(py: Python<'_>) -> PyResult<Classes> {
    let type_ = py.get_type::<PyType>();
    let new_class = |name: &str, bases: Bound<'_, PyTuple>, doc: &str| -> PyResult<Py<PyType>> {
        let dict = PyDict::new(py);
        dict.set_item("__module__", "stepcache")?;
        dict.set_item("__doc__", doc)?;
        Ok(type_.call1((name, bases, dict))?.cast_into::<PyType>()?.unbind())
    };
    let base = new_class(
        "StepcacheError",
        PyTuple::new(py, [py.get_type::<PyException>()])?,
        "The base of every error stepcache raises: each kind of error is a subclass named after it.",
    )?;
    let mut kinds = Vec::with_capacity(KINDS.len());
    for (kind, builtin, doc) in KINDS {
        let builtin = match builtin {
            Builtin::Value => py.get_type::<PyValueError>(),
            Builtin::Type => py.get_type::<PyTypeError>(),
            Builtin::Runtime => py.get_type::<PyRuntimeError>(),
            Builtin::Os => py.get_type::<PyOSError>(),
        };
        let bases = PyTuple::new(py, [base.bind(py).clone(), builtin])?;
        kinds.push((kind, new_class(kind.name(), bases, doc)?));
    }
    Ok(Classes { base, kinds })
}

/// The Python exception of a stepcache error: the class of its kind (the base class
/// for a kind this build does not know), with the message.
pub(crate) fn to_py(e: Error) -> PyErr {
    Python::attach(|py| {
        let Some(classes) = CLASSES.get(py) else {
            return PyRuntimeError::new_err(e.to_string());
        };
        let class = classes
            .kinds
            .iter()
            .find(|(kind, _)| *kind == e.kind())
            .map_or(&classes.base, |(_, class)| class);
        PyErr::from_type(class.bind(py).clone(), e.message().to_owned())
    })
}

/// Converts stepcache results into Python ones.
pub(crate) trait IntoPy<T> {
    /// The value, or the Python exception of the error.
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for stepcache::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
