//! Keys: a step (result type) name, a step version and named arguments, fingerprinted.
//!
//! # Canonical encoding (key format v1, pinned by golden tests)
//!
//! A key's fingerprint is blake3 in `derive_key` mode with the context
//! `"stepcache 2026-11 key v1"` over:
//!
//! ```text
//! text(step name) | u32 LE step version | u64 LE argument count | argument*
//! argument = text(name) | value            (sorted by name, bytewise)
//! text(s)  = u64 LE byte length | UTF-8 bytes
//! value    = 0x00 bool(u8) | 0x01 integer(i128 LE) | 0x02 float(f64 bits LE)
//!          | 0x03 text | 0x04 bytes(as text) | 0x05 list(u64 LE count, value*)
//!          | 0x06 array digest(32) | 0x07 entry key(32)
//! ```
//!
//! So argument order never changes a key; every integer type gives the same key for the
//! same number (`5u8` = `5i64`), while `5` and `5.0` differ; `-0.0` is `0.0` and every NaN
//! is one NaN. Arrays enter as their digest ([`Fingerprint::of_array`]: element type,
//! shape, bytes), and a stored entry's key can stand in for its data (lineage), so a
//! chain of steps never re-hashes a large map.

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::error::{Error, ErrorKind, Result};
use crate::fingerprint::{Fingerprint, KEY_CONTEXT};
use crate::value::{Element, ElementType, Value, check_layout};

/// The longest step name, in bytes.
pub const MAX_STEP_NAME: usize = 128;
/// The longest argument name, in bytes.
pub const MAX_ARG_NAME: usize = 256;
/// The largest text or bytes argument. Larger inputs belong in an array argument, which
/// is hashed in place instead of being copied into the key.
pub const MAX_INLINE_ARG: usize = 64 * 1024;

/// Checks a step (result type) name: 1 to 128 of `[A-Za-z0-9_.:-]`, starting alphanumeric.
///
/// # Errors
/// [`ErrorKind::InvalidStepName`] with the reason.
pub fn validate_step_name(name: &str) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-');
    let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > MAX_STEP_NAME || !first_ok || !name.chars().all(ok_char) {
        return Err(Error::new(
            ErrorKind::InvalidStepName,
            crate::text!(
                "step name \"",
                truncate(name),
                "\" must be 1 to ",
                MAX_STEP_NAME,
                " characters of A-Z a-z 0-9 _ . : - starting with a letter or digit"
            ),
        ));
    }
    Ok(())
}

fn truncate(s: &str) -> &str {
    // `get`, not `&s[..i]`: the index is a char boundary anyway, and slicing would link
    // str's panic message (char and range Debug, Unicode tables: ~4 KB of the npm .wasm).
    match s.char_indices().nth(40) {
        Some((i, _)) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

/// An argument value, before encoding.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A flag.
    Bool(bool),
    /// Any integer (every Rust integer type maps here, so `5u8` and `5i64` are one key).
    Int(i128),
    /// A float (`-0.0` is encoded as `0.0`, every NaN as one NaN).
    Float(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A list of values (flip angles, echo times, ...).
    List(Vec<Arg>),
    /// An array's digest (see [`Fingerprint::of_array`]).
    Array(Fingerprint),
    /// The key of a stored entry standing in for its data (lineage).
    Entry(Fingerprint),
}

macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl From<$t> for Arg { fn from(v: $t) -> Arg { Arg::Int(v as i128) } }
    )*};
}
int_arg!(u8, i8, u16, i16, u32, i32, u64, i64, usize, isize);

impl From<bool> for Arg {
    fn from(v: bool) -> Arg {
        Arg::Bool(v)
    }
}
impl From<f64> for Arg {
    fn from(v: f64) -> Arg {
        Arg::Float(v)
    }
}
impl From<f32> for Arg {
    fn from(v: f32) -> Arg {
        Arg::Float(f64::from(v))
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Text(v.to_owned())
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(v)
    }
}
impl<T: Into<Arg> + Clone> From<&[T]> for Arg {
    fn from(v: &[T]) -> Arg {
        Arg::List(v.iter().cloned().map(Into::into).collect())
    }
}
impl<T: Into<Arg>> From<Vec<T>> for Arg {
    fn from(v: Vec<T>) -> Arg {
        Arg::List(v.into_iter().map(Into::into).collect())
    }
}
impl<T: Into<Arg> + Clone, const N: usize> From<[T; N]> for Arg {
    fn from(v: [T; N]) -> Arg {
        Arg::List(v.into_iter().map(Into::into).collect())
    }
}
impl From<&Key> for Arg {
    fn from(k: &Key) -> Arg {
        Arg::Entry(k.fingerprint)
    }
}

fn put_text(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

impl Arg {
    fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        match self {
            Arg::Bool(b) => out.extend_from_slice(&[0, u8::from(*b)]),
            Arg::Int(i) => {
                out.push(1);
                out.extend_from_slice(&i.to_le_bytes());
            }
            Arg::Float(f) => {
                let canonical = if f.is_nan() {
                    f64::NAN.to_bits() & !(1 << 63)
                } else if *f == 0.0 {
                    0
                } else {
                    f.to_bits()
                };
                out.push(2);
                out.extend_from_slice(&canonical.to_le_bytes());
            }
            Arg::Text(s) => {
                inline_len(s.len())?;
                out.push(3);
                put_text(out, s.as_bytes());
            }
            Arg::Bytes(b) => {
                inline_len(b.len())?;
                out.push(4);
                put_text(out, b);
            }
            Arg::List(items) => {
                out.push(5);
                out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                for item in items {
                    item.encode(out)?;
                }
                inline_len(out.len())?;
            }
            Arg::Array(fp) => {
                out.push(6);
                out.extend_from_slice(fp.as_bytes());
            }
            Arg::Entry(fp) => {
                out.push(7);
                out.extend_from_slice(fp.as_bytes());
            }
        }
        Ok(())
    }
}

fn inline_len(len: usize) -> Result<()> {
    if len > MAX_INLINE_ARG {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            crate::text!(
                "an inline argument holds at most ",
                MAX_INLINE_ARG,
                " bytes (got ",
                len,
                "); pass large data with .array() so it is hashed in place"
            ),
        ));
    }
    Ok(())
}

fn check_arg_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_ARG_NAME {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            crate::text!(
                "an argument name must be 1 to ",
                MAX_ARG_NAME,
                " bytes, got ",
                name.len()
            ),
        ));
    }
    Ok(())
}

/// A step (result type): its name, its version, and how its arguments enter keys.
///
/// Bump the version when the computation changes, so old results are not reused.
///
/// # Example
/// ```
/// use stepcache_core::Step;
/// let t1 = Step::new("t1_map").unwrap()
///     .version(2)
///     .ignore("verbose")              // never changes the result
///     .default_arg("b1_correction", false); // added later: old entries stay valid
/// let a = t1.key().arg("tr_ms", 15.0).arg("verbose", true).build().unwrap();
/// let b = t1.key().arg("b1_correction", false).arg("tr_ms", 15.0).build().unwrap();
/// assert_eq!(a, b);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    name: String,
    version: u32,
    ignored: Vec<String>,
    defaults: Vec<(String, Vec<u8>)>,
}

impl Step {
    /// A step named `name` at version 0.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidStepName`] (see [`validate_step_name`]).
    pub fn new(name: &str) -> Result<Self> {
        validate_step_name(name)?;
        Ok(Step {
            name: name.to_owned(),
            version: 0,
            ignored: Vec::new(),
            defaults: Vec::new(),
        })
    }

    /// Sets the step version.
    pub fn version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// Never lets the argument `name` into keys (verbosity, thread counts, progress callbacks).
    pub fn ignore(mut self, name: &str) -> Self {
        self.ignored.push(name.to_owned());
        self
    }

    /// Drops the argument `name` from keys when it equals `value`, so adding a parameter
    /// with its old behaviour as default keeps existing entries valid.
    ///
    /// A default that cannot be encoded (text over 64 KiB) is never matched.
    pub fn default_arg(mut self, name: &str, value: impl Into<Arg>) -> Self {
        let mut encoded = Vec::new();
        if value.into().encode(&mut encoded).is_ok() {
            self.defaults.push((name.to_owned(), encoded));
        }
        self
    }

    /// The step name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The step version.
    pub fn step_version(&self) -> u32 {
        self.version
    }

    /// Starts a key of this step.
    pub fn key(&self) -> KeyBuilder {
        KeyBuilder {
            step: Ok(self.clone()),
            args: Vec::new(),
            seen: Vec::new(),
            error: None,
        }
    }
}

/// Builds a [`Key`] argument by argument; errors surface at [`KeyBuilder::build`].
#[derive(Debug, Clone)]
pub struct KeyBuilder {
    step: Result<Step>,
    args: Vec<(String, Vec<u8>)>,
    /// Every name given, including ignored ones and ones dropped as defaults, so a
    /// repeated name is caught whatever its first value was.
    seen: Vec<String>,
    error: Option<Error>,
}

impl KeyBuilder {
    fn push(mut self, name: &str, value: Result<Arg>) -> Self {
        if self.error.is_some() {
            return self;
        }
        let Ok(step) = &self.step else { return self };
        if self.seen.iter().any(|n| n == name) {
            self.error = Some(Error::new(
                ErrorKind::InvalidArgument,
                crate::text!("argument \"", truncate(name), "\" is given twice"),
            ));
            return self;
        }
        self.seen.push(name.to_owned());
        if step.ignored.iter().any(|n| n == name) {
            return self;
        }
        let mut encoded = Vec::new();
        let result = check_arg_name(name).and_then(|()| value?.encode(&mut encoded));
        if let Err(e) = result {
            self.error = Some(e);
        } else if !step.defaults.iter().any(|(n, d)| n == name && *d == encoded) {
            self.args.push((name.to_owned(), encoded));
        }
        self
    }

    /// Adds a named scalar, text or list argument.
    pub fn arg(self, name: &str, value: impl Into<Arg>) -> Self {
        self.push(name, Ok(value.into()))
    }

    /// Adds a typed array argument (hashed as element type + shape + bytes, in place).
    pub fn array<T: Element>(self, name: &str, values: &[T], shape: &[usize]) -> Self {
        let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        self.raw_array(name, T::TYPE, &shape, bytemuck::cast_slice(values))
    }

    /// Adds an array argument given as raw bytes with its element type and shape.
    pub fn raw_array(self, name: &str, elem: ElementType, shape: &[u64], bytes: &[u8]) -> Self {
        let digest =
            check_layout(elem, shape, bytes.len()).map(|()| Arg::Array(Fingerprint::of_array(elem, shape, bytes)));
        self.push(name, digest)
    }

    /// Adds a [`Value`] as an array argument.
    pub fn value(self, name: &str, value: &Value) -> Self {
        self.raw_array(name, value.element_type(), value.shape(), value.data())
    }

    /// Adds the key of a stored entry in place of its data (lineage): the next step of a
    /// chain is keyed without re-hashing the large map the previous step produced.
    pub fn lineage(self, name: &str, input: &Key) -> Self {
        self.push(name, Ok(Arg::Entry(input.fingerprint)))
    }

    /// Adds a precomputed digest (an array's [`Fingerprint::of_array`], or a key from
    /// another process) as an array argument.
    pub fn digest(self, name: &str, digest: Fingerprint) -> Self {
        self.push(name, Ok(Arg::Array(digest)))
    }

    /// Finishes the key.
    ///
    /// # Errors
    /// The first invalid step name or argument given to the builder.
    pub fn build(self) -> Result<Key> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let step = self.step?;
        let mut args = self.args;
        crate::sort::sort_by(&mut args, |a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut hasher = blake3::Hasher::new_derive_key(KEY_CONTEXT);
        let mut head = Vec::with_capacity(step.name.len() + 20);
        put_text(&mut head, step.name.as_bytes());
        head.extend_from_slice(&step.version.to_le_bytes());
        head.extend_from_slice(&(args.len() as u64).to_le_bytes());
        hasher.update(&head);
        for (name, value) in &args {
            let mut text = Vec::with_capacity(name.len() + 8);
            put_text(&mut text, name.as_bytes());
            hasher.update(&text);
            hasher.update(value);
        }
        Ok(Key {
            step: step.name,
            fingerprint: Fingerprint::from_bytes(*hasher.finalize().as_bytes()),
        })
    }
}

/// A cache key: the step (result type) it belongs to and its fingerprint.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    step: String,
    fingerprint: Fingerprint,
}

impl Key {
    /// Starts a key for the step `name` at version 0 with no ignored arguments or defaults.
    ///
    /// An invalid name is reported by [`KeyBuilder::build`].
    pub fn of(name: &str) -> KeyBuilder {
        KeyBuilder {
            step: Step::new(name),
            args: Vec::new(),
            seen: Vec::new(),
            error: None,
        }
    }

    /// A key from a step name and a fingerprint computed elsewhere (e.g. a key's text form
    /// sent from another process).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidStepName`].
    pub fn from_parts(step: &str, fingerprint: Fingerprint) -> Result<Self> {
        validate_step_name(step)?;
        Ok(Key {
            step: step.to_owned(),
            fingerprint,
        })
    }

    /// The step (result type) name.
    pub fn step(&self) -> &str {
        &self.step
    }

    /// The fingerprint.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `write_str`, not `write!`: see `crate::text`.
        f.write_str(&crate::text!(self))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
