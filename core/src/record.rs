//! Records: several named values stored as one value ([`Value::record`]), so that a step
//! with several outputs (a T1 map, its uncertainty and a mask) is one key, one atomic
//! write and one verification.
//!
//! A record is a value of element type [`ElementType::Record`] whose bytes are a table of
//! its parts, then each part's data at a 64-byte boundary (a part read from a memory map
//! is viewed in place, as a plain value is). Little endian:
//!
//! ```text
//! offset  size  field
//! 0       8     magic "STEPRECD"
//! 8       4     part count N, u32
//! 12      4     reserved, zero
//! 16            N parts, each:
//!                 2    name length L, u16 (1 to 256)
//!                 L    name, UTF-8, unique in the record
//!                 1    element type code (any but a record's)
//!                 1    dimensions D (at most MAX_DIMS)
//!                 8 D  the shape, u64 each
//!                 8    offset of the part's data from the record's first byte, u64
//!                 8    length of the part's data in bytes, u64
//! then          zero padding to a multiple of 64, and the parts' data in table order,
//!               each at a multiple of 64, zero padding between; nothing after the last
//! ```
//!
//! The table is checked whenever a record's parts are read ([`Value::parts`]), not when a
//! record is made from bytes ([`Value::new`]): the npm package's module, which makes
//! values from bytes on every put, would otherwise carry the check. A stored record's
//! bytes are covered by the entry's payload checksum like any value's.

use alloc::string::String;
use alloc::vec::Vec;

use crate::bytes::SharedBytes;
use crate::error::{Error, ErrorKind, Result};
use crate::key::MAX_ARG_NAME;
use crate::value::{Element, ElementType, MAX_DIMS, Value, check_layout};

/// The magic bytes a record's table starts with.
pub const RECORD_MAGIC: [u8; 8] = *b"STEPRECD";
/// The alignment of each part's data within the record, in bytes.
const ALIGN: usize = 64;

fn align_up(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

fn invalid(why: &str) -> Error {
    Error::new(ErrorKind::InvalidValue, crate::text!("not a valid record: ", why))
}

/// One part as the table describes it.
struct PartEntry {
    name: String,
    elem: ElementType,
    shape: Vec<u64>,
    offset: usize,
    len: usize,
}

/// The record of `parts`, in order (see [`Value::record`]).
pub(crate) fn build(parts: Vec<(String, Value)>) -> Result<Value> {
    for (i, (name, value)) in parts.iter().enumerate() {
        if name.is_empty() || name.len() > MAX_ARG_NAME {
            return Err(invalid("a part's name is 1 to 256 bytes"));
        }
        if parts[..i].iter().any(|(other, _)| other == name) {
            return Err(Error::new(
                ErrorKind::InvalidValue,
                crate::text!("not a valid record: two parts are named ", name.as_str()),
            ));
        }
        if value.element_type() == ElementType::Record {
            return Err(invalid("a part cannot be a record itself"));
        }
        if !value.meta().is_empty() {
            return Err(invalid("parts carry no metadata: give it to the record"));
        }
    }
    let table_len: usize = 16
        + parts
            .iter()
            .map(|(name, value)| 2 + name.len() + 2 + 8 * value.shape().len() + 16)
            .sum::<usize>();
    let mut offset = align_up(table_len);
    let mut table = Vec::with_capacity(table_len);
    table.extend_from_slice(&RECORD_MAGIC);
    table.extend_from_slice(&(parts.len() as u32).to_le_bytes());
    table.extend_from_slice(&[0; 4]);
    let mut offsets = Vec::with_capacity(parts.len());
    for (name, value) in &parts {
        table.extend_from_slice(&(name.len() as u16).to_le_bytes());
        table.extend_from_slice(name.as_bytes());
        table.push(value.element_type().code());
        table.push(value.shape().len() as u8);
        for d in value.shape() {
            table.extend_from_slice(&d.to_le_bytes());
        }
        table.extend_from_slice(&(offset as u64).to_le_bytes());
        table.extend_from_slice(&(value.data().len() as u64).to_le_bytes());
        offsets.push(offset);
        offset = align_up(offset + value.data().len());
    }
    let end = match (offsets.last(), parts.last()) {
        (Some(last), Some((_, value))) => last + value.data().len(),
        _ => table.len(),
    };
    let mut data = alloc::vec![0u8; end];
    data[..table.len()].copy_from_slice(&table);
    for (at, (_, value)) in offsets.iter().zip(&parts) {
        data[*at..*at + value.data().len()].copy_from_slice(value.data());
    }
    Value::new(ElementType::Record, alloc::vec![end as u64], data)
}

/// The parts `data`'s table describes, checked against `data`.
fn table(data: &[u8]) -> Result<Vec<PartEntry>> {
    let mut rest = data;
    let mut take = |n: usize| -> Result<&[u8]> {
        let (a, b) = rest
            .split_at_checked(n)
            .ok_or_else(|| invalid("its table is cut short"))?;
        rest = b;
        Ok(a)
    };
    if take(8)? != RECORD_MAGIC {
        return Err(invalid("it does not start with \"STEPRECD\""));
    }
    let count = u32::from_le_bytes(take(4)?.try_into().unwrap_or_default());
    if take(4)? != [0; 4] {
        return Err(invalid("reserved bytes are not zero"));
    }
    let u64_at = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().unwrap_or_default());
    let mut parts: Vec<PartEntry> = Vec::new();
    for _ in 0..count {
        let name_len = usize::from(u16::from_le_bytes(take(2)?.try_into().unwrap_or_default()));
        let name = core::str::from_utf8(take(name_len)?).map_err(|_| invalid("a part's name is not UTF-8"))?;
        if name.is_empty() || name.len() > MAX_ARG_NAME || parts.iter().any(|p| p.name == name) {
            return Err(invalid("a part's name is empty, too long or repeated"));
        }
        let kind = take(2)?;
        let elem = ElementType::from_code(kind[0])
            .filter(|e| *e != ElementType::Record)
            .ok_or_else(|| invalid("a part's element type is unknown"))?;
        let dims = usize::from(kind[1]);
        if dims > MAX_DIMS {
            return Err(invalid("a part has too many dimensions"));
        }
        let shape: Vec<u64> = take(8 * dims)?.chunks_exact(8).map(u64_at).collect();
        let place = take(16)?;
        let (offset, len) = (u64_at(&place[..8]), u64_at(&place[8..]));
        let (Ok(offset), Ok(len)) = (usize::try_from(offset), usize::try_from(len)) else {
            return Err(invalid("a part lies outside the record"));
        };
        parts.push(PartEntry {
            name: String::from(name),
            elem,
            shape,
            offset,
            len,
        });
    }
    // Each part after the table and the one before it, at its alignment, inside the data.
    let mut end = data.len() - rest.len();
    for part in &parts {
        check_layout(part.elem, &part.shape, part.len)?;
        if part.offset % ALIGN != 0
            || part.offset < end
            || part.offset.checked_add(part.len).is_none_or(|e| e > data.len())
        {
            return Err(invalid("a part lies outside the record or over another"));
        }
        end = part.offset + part.len;
    }
    if end != data.len() {
        return Err(invalid("bytes follow its last part"));
    }
    Ok(parts)
}

/// The parts of the record `data`, each a view of its bytes.
pub(crate) fn parts(data: &SharedBytes) -> Result<Vec<(String, Value)>> {
    table(data)?
        .into_iter()
        .map(|p| {
            let bytes = data
                .slice(p.offset..p.offset + p.len)
                .ok_or_else(|| invalid("a part lies outside the record"))?;
            Ok((p.name, Value::new(p.elem, p.shape, bytes)?))
        })
        .collect()
}

/// A type a record's part is made from: a [`Value`] as it is, a `Vec` of numbers as a 1-d
/// array, a number as a 0-d array (shape `[]`). The fields of a struct deriving
/// `stepcache::Record` are of such types.
pub trait IntoPart {
    /// The part's value.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidValue`] if it cannot be one (a value that is a record itself is
    /// refused when the record is made).
    fn into_part(self) -> Result<Value>;
}

/// A type a record's part is read back as ([`IntoPart`]'s other way).
pub trait FromPart: Sized {
    /// The part as this type.
    ///
    /// # Errors
    /// [`ErrorKind::WrongType`] if the part holds another element type or shape.
    fn from_part(part: Value) -> Result<Self>;
}

impl IntoPart for Value {
    fn into_part(self) -> Result<Value> {
        Ok(self)
    }
}

impl FromPart for Value {
    fn from_part(part: Value) -> Result<Self> {
        Ok(part)
    }
}

impl<T: Element> IntoPart for Vec<T> {
    fn into_part(self) -> Result<Value> {
        let len = self.len();
        Value::array(self, &[len])
    }
}

impl<T: Element> FromPart for Vec<T> {
    fn from_part(part: Value) -> Result<Self> {
        part.to_vec()
    }
}

/// Numbers: 0-d parts (scalars).
macro_rules! scalar_part {
    ($($t:ty),*) => {$(
        impl IntoPart for $t {
            fn into_part(self) -> Result<Value> {
                Value::array(alloc::vec![self], &[])
            }
        }

        impl FromPart for $t {
            fn from_part(part: Value) -> Result<Self> {
                match (part.shape(), part.to_vec::<$t>()?.as_slice()) {
                    ([], [x]) => Ok(*x),
                    _ => Err(Error::new(
                        ErrorKind::WrongType,
                        crate::text!("the part is not one number: it has ", part.shape().len(), " dimensions"),
                    )),
                }
            }
        }
    )*};
}
scalar_part!(u8, i8, u16, i16, u32, i32, u64, i64, f32, f64);

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        Value::record([
            ("t1", Value::array(alloc::vec![800.0f32, 1400.0, 4000.0], &[3]).unwrap()),
            ("sd", Value::array(alloc::vec![12.5f64; 6], &[2, 3]).unwrap()),
            ("mask", Value::array(alloc::vec![1u8, 0, 1], &[3]).unwrap()),
            ("mean", Value::array(alloc::vec![1400.0f64], &[]).unwrap()),
        ])
        .unwrap()
    }

    #[test]
    fn parts_come_back_in_order_as_views() {
        let record = sample();
        assert_eq!(record.element_type(), ElementType::Record);
        let parts = record.parts().unwrap();
        let names: Vec<&str> = parts.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["t1", "sd", "mask", "mean"]);
        assert_eq!(parts[0].1.as_slice::<f32>().unwrap(), &[800.0, 1400.0, 4000.0]);
        assert_eq!(parts[1].1.shape(), &[2, 3]);
        assert_eq!(parts[3].1.shape(), &[] as &[u64], "a scalar is a 0-d part");
        for (_, part) in &parts {
            let at = part.data().as_ptr() as usize - record.data().as_ptr() as usize;
            assert_eq!(
                at % ALIGN,
                0,
                "each part at a 64-byte boundary, within the record's bytes"
            );
        }
        assert_eq!(record.part("mask").unwrap().unwrap().to_vec::<u8>().unwrap(), [1, 0, 1]);
        assert!(record.part("missing").unwrap().is_none());
        // The same bytes make the same record.
        let again = Value::new(ElementType::Record, record.shape().to_vec(), record.data().to_vec()).unwrap();
        assert_eq!(again, record);
        assert_eq!(again.parts().unwrap().len(), 4);
    }

    #[test]
    fn bad_parts_are_refused() {
        let v = || Value::array(alloc::vec![1u8], &[1]).unwrap();
        for parts in [
            alloc::vec![("a", v()), ("a", v())],
            alloc::vec![("", v())],
            alloc::vec![("nested", sample())],
            alloc::vec![("meta", v().with_meta(*b"{}"))],
        ] {
            let e = Value::record(parts).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidValue, "{}", e.message());
        }
        assert!(
            Value::record(Vec::<(&str, Value)>::new())
                .unwrap()
                .parts()
                .unwrap()
                .is_empty()
        );
        assert!(
            Value::array(alloc::vec![1u8], &[1]).unwrap().parts().is_err(),
            "not a record"
        );
    }

    /// The table has no checksum of its own (a stored record is covered by its entry's):
    /// damage may relabel a part, but a part never reads outside the record or over
    /// another, whatever the bytes.
    #[test]
    fn damaged_tables_never_read_outside_their_bytes() {
        let record = sample();
        let bytes = record.data().to_vec();
        let table_end = record.parts().unwrap()[0].1.data().as_ptr() as usize - record.data().as_ptr() as usize;
        for at in 0..table_end {
            for bit in 0..8 {
                let mut bad = bytes.clone();
                bad[at] ^= 1 << bit;
                let damaged = Value::new(ElementType::Record, record.shape().to_vec(), bad).unwrap();
                let Ok(parts) = damaged.parts() else { continue };
                let base = damaged.data().as_ptr() as usize;
                let mut end = 0;
                for (_, part) in parts {
                    let start = part.data().as_ptr() as usize - base;
                    assert!(
                        start >= end && start + part.data().len() <= bytes.len(),
                        "flip of bit {bit} at {at}"
                    );
                    end = start + part.data().len();
                }
            }
        }
        for len in 0..bytes.len() {
            let cut = Value::new(ElementType::Record, alloc::vec![len as u64], bytes[..len].to_vec()).unwrap();
            assert!(cut.parts().is_err(), "cut at {len}");
        }
    }
}
