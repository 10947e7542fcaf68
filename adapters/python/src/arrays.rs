//! numpy arrays in and out: the bytes of an array argument or value, read in place, and
//! results handed back as read-only arrays over the cache's own bytes (for a large
//! stored entry, its memory map).

use numpy::{
    PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyTuple};
use stepcache::{ElementType, Fingerprint, SharedBytes, Value};

/// An array read in place: its element type, shape and a borrow of its bytes.
pub(crate) struct ArrayRef<'py> {
    pub(crate) elem: ElementType,
    pub(crate) shape: Vec<u64>,
    guard: Guard<'py>,
}

macro_rules! guards {
    ($($t:ty => $e:ident),*) => {
        /// A read-only borrow of a C-contiguous, aligned, native-order array.
        enum Guard<'py> { $($e(PyReadonlyArrayDyn<'py, $t>)),* }

        impl Guard<'_> {
            fn bytes(&self) -> &[u8] {
                // `as_slice` succeeded once when the guard was made, and the borrow keeps
                // the array as it was.
                match self { $(Guard::$e(g) => g.as_slice().map(bytemuck::cast_slice).unwrap_or(&[])),* }
            }
        }

        /// Borrows `array` as `elem`, if it is contiguous and aligned.
        fn borrow<'py>(array: &Bound<'py, PyUntypedArray>, elem: ElementType) -> Option<Guard<'py>> {
            match elem {
                $(ElementType::$e => {
                    let g = array.cast::<PyArrayDyn<$t>>().ok()?.try_readonly().ok()?;
                    g.as_slice().is_ok().then_some(Guard::$e(g))
                })*
                _ => None,
            }
        }

        /// A numpy dtype of `elem`.
        fn descr(py: Python<'_>, elem: ElementType) -> Option<Bound<'_, numpy::PyArrayDescr>> {
            match elem {
                $(ElementType::$e => Some(numpy::dtype::<$t>(py)),)*
                ElementType::U8Clamped => Some(numpy::dtype::<u8>(py)),
                _ => None,
            }
        }
    };
}
guards!(u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, u64 => U64, i64 => I64,
        f32 => F32, f64 => F64);

impl ArrayRef<'_> {
    /// The array's bytes, C order.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.guard.bytes()
    }
}

static NUMPY: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The `numpy` module, imported once.
pub(crate) fn numpy(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    Ok(NUMPY
        .get_or_try_init(py, || PyModule::import(py, "numpy").map(Bound::unbind))?
        .bind(py))
}

/// The element type of a numpy dtype, or a `TypeError` naming `what`.
fn element_type(descr: &Bound<'_, numpy::PyArrayDescr>, what: &str) -> PyResult<ElementType> {
    let elem = match (descr.kind(), descr.itemsize()) {
        (b'u', 1) => ElementType::U8,
        (b'i', 1) => ElementType::I8,
        (b'u', 2) => ElementType::U16,
        (b'i', 2) => ElementType::I16,
        (b'u', 4) => ElementType::U32,
        (b'i', 4) => ElementType::I32,
        (b'u', 8) => ElementType::U64,
        (b'i', 8) => ElementType::I64,
        (b'f', 4) => ElementType::F32,
        (b'f', 8) => ElementType::F64,
        _ => {
            let hint = if descr.kind() == b'b' {
                " (view a bool array as uint8)"
            } else {
                ""
            };
            return Err(PyTypeError::new_err(format!(
                "{what} is a numpy array of dtype {}: stepcache holds (u)int8/16/32/64, float32 and float64{hint}",
                descr.str().map_or_else(|_| "?".into(), |s| s.to_string())
            )));
        }
    };
    Ok(elem)
}

/// `value` read in place if it is a numpy array (`None` if it is not); an array that is
/// not C-contiguous, aligned and in native byte order is first copied into one that is,
/// so an array has one key however it is laid out in memory.
///
/// # Errors
/// A `TypeError` naming `what` for a dtype stepcache does not hold.
pub(crate) fn array_ref<'py>(value: &Bound<'py, PyAny>, what: &str) -> PyResult<Option<ArrayRef<'py>>> {
    let Ok(array) = value.cast::<PyUntypedArray>() else {
        return Ok(None);
    };
    let descr = array.dtype();
    let elem = element_type(&descr, what)?;
    let shape = array.shape().iter().map(|&d| d as u64).collect();
    // `is_c_contiguous` first: numpy's `as_slice` also accepts Fortran order, whose
    // bytes are another order of the elements.
    let in_place = descr.byteorder() != b'>' && array.is_c_contiguous();
    let guard = match in_place.then(|| borrow(array, elem)).flatten() {
        Some(guard) => guard,
        None => {
            let py = value.py();
            let native = descr.call_method1("newbyteorder", ("=",))?;
            let copy = numpy(py)?
                .call_method1("require", (array, native, "CA"))?
                .cast_into::<PyUntypedArray>()?;
            borrow(&copy, elem)
                .ok_or_else(|| PyTypeError::new_err(format!("{what}: numpy could not make a contiguous copy")))?
        }
    };
    Ok(Some(ArrayRef { elem, shape, guard }))
}

/// The result a compute function returned, as a value without a copy, if it is a numpy
/// array nothing else can reach: `result` holds the only reference to it (the function's
/// frame is gone), it is a plain `ndarray` (not a subclass such as `np.memmap`, whose
/// bytes are a file), it owns its C-contiguous, aligned, native-order bytes, and its
/// element type is one stepcache holds. The array is made read-only and kept alive by
/// the value's bytes, exactly as a Rust compute moves its `Vec` into a `Value`. `None`
/// `Err(result)` for anything else, which the caller stores as `put` does (a copy).
///
/// Only a compute's return value qualifies: a reference count of one there means that
/// no variable of any frame holds the array. An argument of a call (as `put`'s value)
/// can have a count of one while a variable still holds it (Python 3.14 lends locals to
/// calls without counting), so it is never taken.
pub(crate) fn take_result(result: Bound<'_, PyAny>) -> Result<Value, Bound<'_, PyAny>> {
    match sole_array(&result) {
        Some(value) => Ok(value),
        None => Err(result),
    }
}

/// See [`take_result`]; `result` is the only reference the count may show.
fn sole_array(result: &Bound<'_, PyAny>) -> Option<Value> {
    if raw::refcount(result) != 1 {
        return None;
    }
    let py = result.py();
    let array = result.cast::<PyUntypedArray>().ok()?;
    if !result
        .get_type()
        .is(<PyUntypedArray as pyo3::PyTypeInfo>::type_object(py))
    {
        return None;
    }
    let descr = array.dtype();
    let elem = element_type(&descr, "").ok()?;
    let behaved = descr.byteorder() != b'>' && array.is_c_contiguous() && raw::owns_aligned_data(array);
    if !behaved || !array.getattr("base").is_ok_and(|b| b.is_none()) {
        return None;
    }
    let shape = array.shape().iter().map(|&d| d as u64).collect();
    Value::new(elem, shape, raw::hand_over(array)).ok()
}

/// What an array returned by stepcache was read from: it keeps the bytes alive (a memory
/// map, or the memory tier's copy) and knows the result they belong to, so the array
/// passed into a later step keys by lineage instead of being hashed.
#[pyclass(frozen, module = "stepcache._native", name = "_Owner")]
pub(crate) struct Owner {
    bytes: SharedBytes,
    elem: ElementType,
    shape: Vec<u64>,
    /// The key and content identity of the result, for lineage; `None` for a part of a
    /// record, whose lineage would name the whole record.
    pub(crate) lineage: Option<(Fingerprint, Fingerprint)>,
}

impl Owner {
    /// Whether `array` is exactly the array made over this owner (not a slice, another
    /// shape or another dtype of it).
    pub(crate) fn is_whole(&self, array: &Bound<'_, PyUntypedArray>) -> bool {
        let descr = array.dtype();
        let same_type = element_type(&descr, "")
            .is_ok_and(|e| e == self.elem || (e == ElementType::U8 && self.elem == ElementType::U8Clamped));
        same_type
            && descr.byteorder() != b'>'
            && array.is_c_contiguous()
            && array.shape().iter().map(|&d| d as u64).eq(self.shape.iter().copied())
            && raw::data(array) == self.bytes.as_ptr()
    }
}

/// The Python form of `value`: a read-only numpy array over its bytes (no copy), `bytes`
/// for opaque bytes (a copy), or a record's parts ([`record_to_python`]). `lineage` is
/// the key and content identity of the hit it came from.
pub(crate) fn to_python<'py>(
    py: Python<'py>,
    value: &Value,
    lineage: Option<(Fingerprint, Fingerprint)>,
) -> PyResult<Bound<'py, PyAny>> {
    if value.element_type() == ElementType::Record {
        return record_to_python(py, value);
    }
    let Some(descr) = descr(py, value.element_type()) else {
        return Ok(PyBytes::new(py, value.data()).into_any());
    };
    let owner = Owner {
        bytes: value.data().clone(),
        elem: value.element_type(),
        shape: value.shape().to_vec(),
        lineage,
    };
    raw::view(py, descr, Bound::new(py, owner)?)
}

/// A record's parts: a tuple if they are named by position ("0", "1", ...), as a step that
/// returned a tuple stored them, else a dict by name. Each part is a view like any array
/// but keys a later step by its contents, not by lineage, which names the whole record.
fn record_to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    let parts = value.parts().map_err(crate::errors::to_py)?;
    let positional = !parts.is_empty() && parts.iter().enumerate().all(|(i, (name, _))| *name == i.to_string());
    if positional {
        let items = parts
            .iter()
            .map(|(_, part)| to_python(py, part, None))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(PyTuple::new(py, items)?.into_any());
    }
    let dict = PyDict::new(py);
    for (name, part) in &parts {
        dict.set_item(name, to_python(py, part, None)?)?;
    }
    Ok(dict.into_any())
}

/// The one place that builds numpy arrays from raw parts.
#[allow(unsafe_code)]
mod raw {
    use numpy::npyffi::{
        NPY_ARRAY_ALIGNED, NPY_ARRAY_C_CONTIGUOUS, NPY_ARRAY_OWNDATA, NPY_ARRAY_WRITEABLE, NpyTypes, PY_ARRAY_API,
        get_type_object, npy_intp,
    };
    use numpy::{PyArrayDescr, PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
    use pyo3::exceptions::PyValueError;
    use pyo3::prelude::*;

    use super::Owner;

    /// The reference count of `object`.
    pub(super) fn refcount(object: &Bound<'_, PyAny>) -> isize {
        // SAFETY: `object` is a live object while it is held.
        unsafe { pyo3::ffi::Py_REFCNT(object.as_ptr()) }
    }

    /// Whether `array` owns its bytes (no base, `OWNDATA`) and they are aligned.
    pub(super) fn owns_aligned_data(array: &Bound<'_, PyUntypedArray>) -> bool {
        // SAFETY: as in `data`, reading a field of the live array object.
        let flags = unsafe { (*array.as_array_ptr()).fields.flags };
        flags & NPY_ARRAY_OWNDATA != 0 && flags & NPY_ARRAY_ALIGNED != 0
    }

    /// The bytes of an array handed over to stepcache, kept alive by the array itself.
    struct HandedOver {
        /// Dropped without the GIL, its reference goes to pyo3's pool and is released the
        /// next time a thread attaches.
        _array: Py<PyAny>,
        data: *const u8,
        len: usize,
    }

    // SAFETY: the bytes are only ever read (the array was made read-only, and nothing
    // else holds it), so sharing them between threads is as safe as sharing a `&[u8]`;
    // `Py` itself is `Send` and `Sync`.
    unsafe impl Send for HandedOver {}
    // SAFETY: see `Send`.
    unsafe impl Sync for HandedOver {}

    impl AsRef<[u8]> for HandedOver {
        fn as_ref(&self) -> &[u8] {
            if self.len == 0 {
                return &[];
            }
            // SAFETY: `data` points to `len` bytes that the array owns and keeps while
            // `_array` holds it; nothing writes to them (see `hand_over`).
            unsafe { std::slice::from_raw_parts(self.data, self.len) }
        }
    }

    /// The bytes of `array`, which the caller checked is a plain, C-contiguous array owning
    /// aligned bytes that nothing else refers to. It is made read-only too, so that even a
    /// reference dug out of the garbage collector cannot write to it by accident.
    pub(super) fn hand_over(array: &Bound<'_, PyUntypedArray>) -> stepcache::SharedBytes {
        // SAFETY: as in `data`; clearing `WRITEABLE` is what numpy's `PyArray_CLEARFLAGS`
        // does, and always allowed.
        let data = unsafe {
            let object = array.as_array_ptr();
            (*object).fields.flags &= !NPY_ARRAY_WRITEABLE;
            (*object).fields.data.cast_const().cast::<u8>()
        };
        let len = array.len() * array.dtype().itemsize();
        stepcache::SharedBytes::from_owner(HandedOver {
            _array: array.clone().into_any().unbind(),
            data,
            len,
        })
    }

    /// The address of the first element of `array`.
    pub(super) fn data(array: &Bound<'_, PyUntypedArray>) -> *const u8 {
        // SAFETY: `as_array_ptr` points to a live PyArrayObject while `array` is held;
        // reading its `data` field is what numpy's own accessor macros do.
        unsafe { (*array.as_array_ptr()).fields.data.cast_const().cast() }
    }

    /// A read-only, C-ordered array of `descr` and the owner's shape over the owner's
    /// bytes, with the owner as its base.
    ///
    /// Read-only for good: the array is made without `NPY_ARRAY_WRITEABLE`, and numpy
    /// refuses to set that flag later because the base is neither an array nor a
    /// writable buffer. That matters: the bytes may be a read-only memory map, which a
    /// write would fault on, and they are shared by every hit of the key.
    pub(super) fn view<'py>(
        py: Python<'py>,
        descr: Bound<'py, PyArrayDescr>,
        owner: Bound<'py, Owner>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let o = owner.get();
        let mut dims: Vec<npy_intp> = Vec::with_capacity(o.shape.len());
        for &d in &o.shape {
            dims.push(npy_intp::try_from(d).map_err(|_| PyValueError::new_err("a dimension does not fit numpy"))?);
        }
        let ptr = o.bytes.as_ptr();
        let mut flags = NPY_ARRAY_C_CONTIGUOUS;
        if (ptr as usize).is_multiple_of(descr.alignment().max(1)) {
            flags |= NPY_ARRAY_ALIGNED;
        }
        // SAFETY: the dims describe exactly `o.bytes.len()` bytes of `descr` (a value's
        // shape and length were checked when it was made); the data stays alive and
        // unchanged as long as the array's base, the owner, holds its `SharedBytes`; numpy
        // is never handed a writable flag, so it never writes through the pointer.
        // `PyArray_NewFromDescr` steals the descriptor reference and `SetBaseObject` the
        // owner's; on failure each returns NULL or -1 with a Python exception set.
        unsafe {
            let subtype = get_type_object(py, NpyTypes::PyArray_Type);
            let array = PY_ARRAY_API.PyArray_NewFromDescr(
                py,
                subtype,
                descr.into_dtype_ptr(),
                dims.len() as std::ffi::c_int,
                dims.as_mut_ptr(),
                std::ptr::null_mut(),
                ptr.cast_mut().cast(),
                flags,
                std::ptr::null_mut(),
            );
            let array = Bound::from_owned_ptr_or_err(py, array)?;
            if PY_ARRAY_API.PyArray_SetBaseObject(py, array.as_ptr().cast(), owner.into_ptr()) < 0 {
                return Err(PyErr::fetch(py));
            }
            Ok(array)
        }
    }
}
