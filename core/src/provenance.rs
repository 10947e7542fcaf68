//! Provenance: how an entry was made, recorded in its header (see
//! `docs/entry-format.md`): the step's version and the key's arguments in readable form
//! ([`KeyArgs`]), and which stepcache wrote it.
//!
//! A key's arguments are recorded exactly as the key hashes them (`docs/key-format.md`:
//! the name, then the value's canonical encoding), after ignored arguments and defaults
//! were dropped, in name order. So scalars, text, bytes and lists are kept as values,
//! arrays and digests stay hashed, lineage is the upstream key's fingerprint and the
//! upstream value's identity; an array argument adds its element type and shape. The
//! record is bounded by one rule: arguments are kept whole, in name order, while they fit
//! [`MAX_ARGS_BYTES`]; the rest are left out and counted ([`KeyArgs::omitted`]).
//!
//! The writer is the key builder's own encoding, so the engine and the npm package's
//! module carry no code of their own for it; [`ProvenanceRecord::decode`] reads it
//! natively, and `index.js` reads it in JavaScript.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::fingerprint::Fingerprint;
use crate::key::MAX_LIST_DEPTH;
use crate::value::ElementType;

/// The most bytes the arguments of one key take in a record; arguments past it are left
/// out and counted.
pub const MAX_ARGS_BYTES: usize = 2048;

/// What this build records as [`Provenance::made_by`].
pub const MADE_BY: &str = concat!("stepcache ", env!("CARGO_PKG_VERSION"));

/// How an entry was made.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provenance {
    /// The stepcache that wrote the entry, e.g. `"stepcache 0.1.0"`; empty for entries of
    /// format versions before 3, which did not record it.
    pub made_by: String,
    /// The key's step version and arguments; `None` if the entry was stored under a key
    /// given only as a fingerprint ([`crate::Key::from_parts`]), or by a format version
    /// before 3.
    pub args: Option<KeyArgs>,
}

/// A key's step version and arguments in readable form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyArgs {
    /// The step's version.
    pub version: u32,
    /// The arguments, in name order.
    pub args: Vec<NamedArg>,
    /// How many arguments were left out to keep the record within [`MAX_ARGS_BYTES`].
    pub omitted: u64,
}

/// One argument of a key.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedArg {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: ArgValue,
}

/// An argument's value as the key holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgValue {
    /// A flag.
    Bool(bool),
    /// An integer (integral floats are keyed, and recorded, as integers).
    Int(i128),
    /// A float that is not an integer.
    Float(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<ArgValue>),
    /// An array, hashed: its element type, shape and fingerprint.
    Array {
        /// The element type.
        elem: ElementType,
        /// The shape.
        shape: Vec<u64>,
        /// Its fingerprint ([`Fingerprint::of_array`]).
        fingerprint: Fingerprint,
    },
    /// A precomputed digest ([`crate::KeyBuilder::digest`]), or an array inside a list.
    Digest(Fingerprint),
    /// Another step's result (lineage).
    Lineage {
        /// The upstream key's fingerprint.
        key: Fingerprint,
        /// The upstream value's content identity.
        content: Fingerprint,
    },
}

/// An entry's [`Provenance`] as its header holds it (layout in `docs/entry-format.md`),
/// decoded on demand ([`ProvenanceRecord::decode`]): the engine only carries it from keys
/// to headers and from headers to listings.
#[derive(Clone, PartialEq, Eq)]
pub struct ProvenanceRecord(Vec<u8>);

impl Default for ProvenanceRecord {
    /// The record of [`Provenance::default`], which entries of format versions before 3
    /// read as.
    fn default() -> Self {
        // `made_by` empty (a zero u64 length), then 0x00: no arguments.
        ProvenanceRecord(alloc::vec![0; 9])
    }
}

impl ProvenanceRecord {
    /// The record of an entry written now under a key whose readable arguments are
    /// `args` ([`crate::Key::encoded_args`]).
    pub(crate) fn now(args: Option<&[u8]>) -> Self {
        let mut out = Vec::with_capacity(MADE_BY.len() + 9 + args.map_or(0, <[u8]>::len));
        put_text(&mut out, MADE_BY);
        match args {
            Some(args) => {
                out.push(1);
                out.extend_from_slice(args);
            }
            None => out.push(0),
        }
        ProvenanceRecord(out)
    }

    /// The record holding exactly `bytes` (as read from a header).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        ProvenanceRecord(bytes)
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The provenance; empty ([`Provenance::default`]) if the bytes do not decode (a
    /// binding that sent bad arguments).
    pub fn decode(&self) -> Provenance {
        let mut r = Reader(&self.0);
        let decoded = (|| {
            let made_by = r.text()?;
            let args = match r.byte()? {
                0 => None,
                1 => Some(r.key_args()?),
                _ => return None,
            };
            r.0.is_empty().then_some(Provenance { made_by, args })
        })();
        decoded.unwrap_or_default()
    }
}

impl fmt::Debug for ProvenanceRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.decode(), f)
    }
}

impl KeyArgs {
    /// Decodes the readable arguments of a key ([`crate::Key::encoded_args`]); `None`
    /// if the bytes do not decode.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader(bytes);
        let args = r.key_args()?;
        r.0.is_empty().then_some(args)
    }

    /// The value of the argument `name`, if it was recorded.
    pub fn get(&self, name: &str) -> Option<&ArgValue> {
        self.args.iter().find(|a| a.name == name).map(|a| &a.value)
    }
}

/// The readable arguments of a key of step version `version` whose arguments, in name
/// order, are `args` (name, value as the key encodes it, and for an array digest its
/// layout, see [`array_layout`]), each written as the key hashes it (`text(name) |
/// value`) then its layout. Kept within [`MAX_ARGS_BYTES`] by leaving out the arguments
/// past it.
pub(crate) fn encode_key_args<'a>(
    version: u32,
    args: impl ExactSizeIterator<Item = (&'a str, &'a [u8], &'a [u8])>,
) -> Vec<u8> {
    let total = args.len() as u64;
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&[0; 8]); // the count of arguments kept, once known
    let start = out.len();
    let mut kept = 0u64;
    for (name, value, layout) in args {
        if out.len() - start + 8 + name.len() + value.len() + layout.len() > MAX_ARGS_BYTES {
            break;
        }
        put_text(&mut out, name);
        out.extend_from_slice(value);
        out.extend_from_slice(layout);
        kept += 1;
    }
    out[4..12].copy_from_slice(&kept.to_le_bytes());
    out.extend_from_slice(&(total - kept).to_le_bytes());
    out
}

/// What follows an array-digest value (0x06) in a record: 1, the element type's code,
/// the number of dimensions and each as u64 LE; or 0 for a digest given as one.
pub(crate) fn array_layout(layout: Option<(ElementType, &[u64])>) -> Vec<u8> {
    match layout {
        Some((elem, shape)) => {
            let mut out = Vec::with_capacity(3 + 8 * shape.len());
            out.extend_from_slice(&[1, elem as u8, shape.len() as u8]);
            for dim in shape {
                out.extend_from_slice(&dim.to_le_bytes());
            }
            out
        }
        None => alloc::vec![0],
    }
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// Reads a record front to back; every read is `None` past its end.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }

    /// A length or count, bounded by the bytes left (each item takes at least one).
    fn len(&mut self) -> Option<usize> {
        usize::try_from(self.u64()?).ok().filter(|&n| n <= self.0.len())
    }

    fn text(&mut self) -> Option<String> {
        let n = self.len()?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }

    fn fingerprint(&mut self) -> Option<Fingerprint> {
        Some(Fingerprint::from_bytes(self.array()?))
    }

    fn key_args(&mut self) -> Option<KeyArgs> {
        let version = u32::from_le_bytes(self.array()?);
        let count = self.len()?;
        let mut args = Vec::with_capacity(count);
        for _ in 0..count {
            let name = self.text()?;
            let value = match self.value(0)? {
                ArgValue::Digest(fingerprint) => self.layout(fingerprint)?,
                value => value,
            };
            args.push(NamedArg { name, value });
        }
        let omitted = self.u64()?;
        Some(KeyArgs { version, args, omitted })
    }

    /// A value in the key format's encoding, lists at most [`MAX_LIST_DEPTH`] deep.
    fn value(&mut self, depth: usize) -> Option<ArgValue> {
        Some(match self.byte()? {
            0 => ArgValue::Bool(self.byte()? != 0),
            1 => ArgValue::Int(i128::from_le_bytes(self.array()?)),
            2 => ArgValue::Float(f64::from_le_bytes(self.array()?)),
            3 => ArgValue::Text(self.text()?),
            4 => {
                let n = self.len()?;
                ArgValue::Bytes(self.take(n)?.to_vec())
            }
            5 if depth < MAX_LIST_DEPTH => {
                let n = self.len()?;
                let items = (0..n).map(|_| self.value(depth + 1)).collect::<Option<Vec<_>>>()?;
                ArgValue::List(items)
            }
            6 => ArgValue::Digest(self.fingerprint()?),
            7 => ArgValue::Lineage {
                key: self.fingerprint()?,
                content: self.fingerprint()?,
            },
            _ => return None,
        })
    }

    /// The layout after an argument's array digest (see [`array_layout`]).
    fn layout(&mut self, fingerprint: Fingerprint) -> Option<ArgValue> {
        Some(match self.byte()? {
            0 => ArgValue::Digest(fingerprint),
            1 => {
                let elem = *ElementType::ALL.get(usize::from(self.byte()?))?;
                let dims = self.byte()?;
                let shape = (0..dims).map(|_| self.u64()).collect::<Option<Vec<_>>>()?;
                ArgValue::Array {
                    elem,
                    shape,
                    fingerprint,
                }
            }
            _ => return None,
        })
    }
}

/// `15`, `1.5`, `"text"`, `<3 bytes>`, `[2, 5, 10]`, `f32[64x64] b3:…`, `lineage b3:…`.
impl fmt::Display for ArgValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgValue::Bool(b) => write!(f, "{b}"),
            ArgValue::Int(i) => write!(f, "{i}"),
            ArgValue::Float(x) => write!(f, "{x}"),
            ArgValue::Text(text) => write!(f, "{text:?}"),
            ArgValue::Bytes(bytes) => write!(f, "<{} bytes>", bytes.len()),
            ArgValue::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            ArgValue::Array {
                elem,
                shape,
                fingerprint,
            } => {
                write!(f, "{}[", elem.name())?;
                for (i, d) in shape.iter().enumerate() {
                    if i > 0 {
                        f.write_str("x")?;
                    }
                    write!(f, "{d}")?;
                }
                write!(f, "] {fingerprint}")
            }
            ArgValue::Digest(fingerprint) => write!(f, "{fingerprint}"),
            ArgValue::Lineage { key, .. } => write!(f, "lineage {key}"),
        }
    }
}

/// `tr_ms=15, flip_deg=[2, 5, 10]`, and `(+N more)` for arguments left out.
impl fmt::Display for KeyArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={}", arg.name, arg.value)?;
        }
        if self.omitted > 0 {
            write!(f, " (+{} more)", self.omitted)?;
        }
        Ok(())
    }
}
