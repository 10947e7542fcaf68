//! Typed values: an element type, a shape, the bytes, and the caller's metadata.

use alloc::sync::Arc;
use alloc::vec::Vec;

use bytemuck::Pod;
use serde::{Deserialize, Serialize};

use crate::bytes::SharedBytes;
use crate::error::{Error, ErrorKind, Result};
use crate::sync::{MaybeSend, MaybeSync};

/// The most dimensions a value's shape may have.
pub const MAX_DIMS: usize = 32;

/// The element type of a value, so a typed array comes back as the same type.
///
/// The numeric codes are part of the entry format and of fingerprints: never reorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum ElementType {
    /// Opaque bytes (also: anything serialised by the caller).
    Bytes = 0,
    /// `u8`.
    U8 = 1,
    /// `i8`.
    I8 = 2,
    /// `u16`.
    U16 = 3,
    /// `i16`.
    I16 = 4,
    /// `u32`.
    U32 = 5,
    /// `i32`.
    I32 = 6,
    /// `u64`.
    U64 = 7,
    /// `i64`.
    I64 = 8,
    /// `f32`.
    F32 = 9,
    /// `f64`.
    F64 = 10,
    /// `u8` that JavaScript sees as a `Uint8ClampedArray`.
    U8Clamped = 11,
    /// Several named values in one (a record, see [`Value::record`]): its bytes are a
    /// table of the parts, then each part's data. Entries of records are format version 4.
    Record = 12,
}

impl ElementType {
    /// Every element type, in code order.
    pub const ALL: [ElementType; 13] = [
        ElementType::Bytes,
        ElementType::U8,
        ElementType::I8,
        ElementType::U16,
        ElementType::I16,
        ElementType::U32,
        ElementType::I32,
        ElementType::U64,
        ElementType::I64,
        ElementType::F32,
        ElementType::F64,
        ElementType::U8Clamped,
        ElementType::Record,
    ];

    /// The size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            ElementType::Bytes | ElementType::U8 | ElementType::I8 | ElementType::U8Clamped | ElementType::Record => 1,
            ElementType::U16 | ElementType::I16 => 2,
            ElementType::U32 | ElementType::I32 | ElementType::F32 => 4,
            ElementType::U64 | ElementType::I64 | ElementType::F64 => 8,
        }
    }

    /// The stable numeric code used in fingerprints and the entry format.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The element type of a code, if it is one.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// A lowercase name (`"f32"`, `"u8clamped"`, `"bytes"`).
    pub fn name(self) -> &'static str {
        match self {
            ElementType::Bytes => "bytes",
            ElementType::U8 => "u8",
            ElementType::I8 => "i8",
            ElementType::U16 => "u16",
            ElementType::I16 => "i16",
            ElementType::U32 => "u32",
            ElementType::I32 => "i32",
            ElementType::U64 => "u64",
            ElementType::I64 => "i64",
            ElementType::F32 => "f32",
            ElementType::F64 => "f64",
            ElementType::U8Clamped => "u8clamped",
            ElementType::Record => "record",
        }
    }
}

/// A Rust number type that can be an element of a value.
pub trait Element: Pod + MaybeSend + MaybeSync {
    /// Its element type.
    const TYPE: ElementType;
}

macro_rules! element {
    ($($t:ty => $e:ident),*) => {$(
        impl Element for $t { const TYPE: ElementType = ElementType::$e; }
    )*};
}
element!(u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32,
         u64 => U64, i64 => I64, f32 => F32, f64 => F64);

/// The number of elements of `shape`, or an error if it overflows.
pub(crate) fn element_count(shape: &[u64]) -> Result<u64> {
    if shape.len() > MAX_DIMS {
        return Err(Error::new(
            ErrorKind::InvalidValue,
            crate::text!("a shape has at most ", MAX_DIMS, " dimensions, got ", shape.len()),
        ));
    }
    shape
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d))
        .ok_or_else(|| Error::new(ErrorKind::InvalidValue, "the shape's element count overflows u64"))
}

/// Checks that `shape` of `elem` describes exactly `len` bytes.
pub(crate) fn check_layout(elem: ElementType, shape: &[u64], len: usize) -> Result<()> {
    let bytes = element_count(shape)?.checked_mul(elem.size() as u64);
    if bytes != Some(len as u64) {
        return Err(Error::new(
            ErrorKind::InvalidValue,
            crate::text!(
                "shape [",
                shape_text(shape),
                "] of ",
                elem.name(),
                " needs ",
                bytes.map_or_else(|| alloc::string::String::from("too many"), |b| crate::text!(b)),
                " bytes but the data has ",
                len
            ),
        ));
    }
    Ok(())
}

/// A shape as `2, 3, 4` in messages.
fn shape_text(shape: &[u64]) -> alloc::string::String {
    let mut out = alloc::string::String::new();
    for (i, d) in shape.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        crate::text::Piece::push_to(d, &mut out);
    }
    out
}

/// A cached result: typed data with its shape and the caller's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    elem: ElementType,
    // Shared, so cloning a value (every memory-tier hit does) allocates nothing.
    shape: Arc<[u64]>,
    data: SharedBytes,
    meta: Arc<[u8]>,
}

impl Value {
    /// A value of `elem` with `shape` over `data`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidValue`] if the shape does not describe exactly `data.len()` bytes.
    pub fn new(elem: ElementType, shape: Vec<u64>, data: impl Into<SharedBytes>) -> Result<Self> {
        let data = data.into();
        check_layout(elem, &shape, data.len())?;
        Ok(Value {
            elem,
            shape: shape.into(),
            data,
            meta: Arc::from([]),
        })
    }

    /// A record: several named values stored as one (one key, one write, one check), such
    /// as a T1 map, its uncertainty and a mask; a scalar is a part of shape `[]`. Each
    /// part's data is copied once into the record. Parts keep their order and carry no
    /// metadata of their own (the record does, [`Value::with_meta`]).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidValue`] for a part name that is empty, over 256 bytes or
    /// repeated, a part that is a record itself, or a part with metadata.
    pub fn record<N: Into<alloc::string::String>>(parts: impl IntoIterator<Item = (N, Value)>) -> Result<Self> {
        crate::record::build(parts.into_iter().map(|(n, v)| (n.into(), v)).collect())
    }

    /// The parts of a record ([`Value::record`]), in order, each a view of the record's
    /// bytes: a record read from a memory map gives parts over the map, not copies.
    ///
    /// # Errors
    /// [`ErrorKind::WrongType`] if this is not a record; [`ErrorKind::InvalidValue`] if its
    /// table is not a record's (a record made from other bytes with [`Value::new`]).
    pub fn parts(&self) -> Result<Vec<(alloc::string::String, Value)>> {
        if self.elem != ElementType::Record {
            return Err(Error::new(
                ErrorKind::WrongType,
                crate::text!("the value holds ", self.elem.name(), ", not a record"),
            ));
        }
        crate::record::parts(&self.data)
    }

    /// The part `name` of a record, or `None` if it has none of that name.
    ///
    /// # Errors
    /// As [`Value::parts`].
    pub fn part(&self, name: &str) -> Result<Option<Value>> {
        Ok(self.parts()?.into_iter().find(|(n, _)| n == name).map(|(_, v)| v))
    }

    /// Opaque bytes (element type [`ElementType::Bytes`], one dimension).
    pub fn bytes(data: impl Into<SharedBytes>) -> Self {
        let data = data.into();
        Value {
            elem: ElementType::Bytes,
            shape: Arc::from([data.len() as u64]),
            data,
            meta: Arc::from([]),
        }
    }

    /// A typed array of `shape` that takes `values` without copying them.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidValue`] if the shape's element count is not `values.len()`.
    ///
    /// # Example
    /// ```
    /// use stepcache_core::Value;
    /// let map = Value::array(vec![0.5f32; 6], &[2, 3]).unwrap();
    /// assert_eq!(map.as_slice::<f32>().unwrap().len(), 6);
    /// ```
    pub fn array<T: Element>(values: Vec<T>, shape: &[usize]) -> Result<Self> {
        let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        Value::new(T::TYPE, shape, SharedBytes::from_pod_vec(values))
    }

    /// The same value with `meta` attached (any bytes: JSON, postcard, text).
    pub fn with_meta(mut self, meta: impl Into<Vec<u8>>) -> Self {
        self.meta = meta.into().into();
        self
    }

    /// The element type.
    pub fn element_type(&self) -> ElementType {
        self.elem
    }

    /// The shape (dimensions, outermost first).
    pub fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// The raw bytes of the data.
    pub fn data(&self) -> &SharedBytes {
        &self.data
    }

    /// The caller's metadata.
    pub fn meta(&self) -> &[u8] {
        &self.meta
    }

    /// The data as `&[T]` without a copy. Opaque bytes ([`Value::bytes`]) read as `u8`.
    ///
    /// # Errors
    /// [`ErrorKind::WrongType`] if `T` is not the value's element type (the message says
    /// which it is), or if the bytes are not aligned for `T` (values read from the
    /// filesystem always are; [`Value::to_vec`] copies instead).
    pub fn as_slice<T: Element>(&self) -> Result<&[T]> {
        self.check_type::<T>()?;
        self.data.try_as_slice().ok_or_else(|| {
            Error::new(
                ErrorKind::WrongType,
                crate::text!(
                    "the data is not aligned for ",
                    T::TYPE.name(),
                    " in memory: copy it with to_vec"
                ),
            )
        })
    }

    /// The data copied into a `Vec<T>`. Opaque bytes read as `u8`.
    ///
    /// # Errors
    /// [`ErrorKind::WrongType`] if `T` is not the value's element type (the message says
    /// which it is).
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        self.check_type::<T>()?;
        // The element type matches, and a value's length is always a multiple of its size.
        Ok(self.data.to_vec_of().unwrap_or_default())
    }

    /// Ok if the data can be read as `T`.
    fn check_type<T: Element>(&self) -> Result<()> {
        let bytes_as_u8 = self.elem == ElementType::Bytes && T::TYPE == ElementType::U8;
        if T::TYPE == self.elem || bytes_as_u8 {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::WrongType,
            crate::text!(
                "the value holds ",
                self.elem.name(),
                " (shape ",
                shape_text(&self.shape),
                "), not ",
                T::TYPE.name()
            ),
        ))
    }

    /// A view of this value's type, shape, data and metadata.
    pub fn view(&self) -> ValueRef<'_> {
        ValueRef {
            elem: self.elem,
            shape: &self.shape,
            data: &self.data,
            meta: &self.meta,
        }
    }

    /// The value's content identity: what lineage binds into the key of a step computed
    /// from this value (see [`crate::KeyBuilder::lineage`]).
    ///
    /// A function of the value alone (element type, shape, data bytes, metadata), so one
    /// value has one identity however it was obtained: computed, from the memory tier, or
    /// read back from a store in another process, compressed or not. The data enters as
    /// its XXH3-128 checksum, the one a stored uncompressed entry carries in its header;
    /// [`crate::Hit::content`] holds it already computed, so prefer that to this call,
    /// which checksums the data (XXH3, many times faster than the blake3 digest an array
    /// argument costs).
    pub fn content(&self) -> crate::Fingerprint {
        self.content_with(crate::checksum::xxh3_128(&self.data))
    }

    /// [`Value::content`] with the XXH3-128 checksum of the data already known.
    pub(crate) fn content_with(&self, data_check: u128) -> crate::Fingerprint {
        crate::Fingerprint::of_content(self.elem, &self.shape, data_check, &self.meta)
    }

    /// Reassembles a value whose layout the caller already checked.
    pub(crate) fn from_parts(elem: ElementType, shape: Vec<u64>, data: SharedBytes, meta: Vec<u8>) -> Self {
        let (shape, meta) = (shape.into(), meta.into());
        Value {
            elem,
            shape,
            data,
            meta,
        }
    }
}

/// A value borrowed from its caller: a typed array, its shape and metadata, none of them
/// copied. [`crate::Cache::put_ref`] stores one straight from the caller's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueRef<'a> {
    elem: ElementType,
    shape: &'a [u64],
    data: &'a [u8],
    meta: &'a [u8],
}

impl<'a> ValueRef<'a> {
    /// A view of `data`, `elem` elements of `shape`, without metadata.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidValue`] if the shape does not describe exactly `data.len()` bytes.
    pub fn new(elem: ElementType, shape: &'a [u64], data: &'a [u8]) -> Result<Self> {
        check_layout(elem, shape, data.len())?;
        Ok(ValueRef {
            elem,
            shape,
            data,
            meta: &[],
        })
    }

    /// A view of the typed array `values` of `shape`.
    ///
    /// # Errors
    /// As [`ValueRef::new`].
    ///
    /// # Example
    /// ```
    /// use stepcache_core::ValueRef;
    /// let map = vec![0.5f32; 6];
    /// let view = ValueRef::slice(&map, &[2, 3]).unwrap();
    /// assert_eq!(view.data().len(), 24);
    /// ```
    pub fn slice<T: Element>(values: &'a [T], shape: &'a [u64]) -> Result<Self> {
        Self::new(T::TYPE, shape, bytemuck::cast_slice(values))
    }

    /// The same view with `meta` attached.
    pub fn with_meta(self, meta: &'a [u8]) -> Self {
        ValueRef { meta, ..self }
    }

    /// The element type.
    pub fn element_type(&self) -> ElementType {
        self.elem
    }

    /// The shape (dimensions, outermost first).
    pub fn shape(&self) -> &'a [u64] {
        self.shape
    }

    /// The raw bytes of the data.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The caller's metadata.
    pub fn meta(&self) -> &'a [u8] {
        self.meta
    }

    /// A value of its own: the data copied into memory aligned for any element type, as
    /// aligned as a value read from disk.
    pub fn to_value(&self) -> Value {
        Value {
            elem: self.elem,
            shape: self.shape.into(),
            data: SharedBytes::from_owner(crate::bytes::AlignedBytes::copy_of(self.data)),
            meta: self.meta.into(),
        }
    }

    /// The content identity of the value viewed ([`Value::content`]).
    pub fn content(&self) -> crate::Fingerprint {
        crate::Fingerprint::of_content(self.elem, self.shape, crate::checksum::xxh3_128(self.data), self.meta)
    }
}
