//! Keys: a step (result type) name, a step version and named arguments, fingerprinted.
//!
//! The canonical encoding (key format v2), the one encoding of numbers across bindings,
//! lineage and the text form are specified in `docs/key-format.md`, pinned by the golden
//! tests of `core/tests/golden_keys.rs`; this module is their implementation
//! ([`KeyBuilder`], [`Key`]).

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use crate::engine::Hit;
use crate::error::{Error, ErrorKind, Result};
use crate::fingerprint::{Fingerprint, KEY_CONTEXT};
use crate::provenance::{KeyArgs, MAX_ARGS_BYTES};
use crate::value::{Element, ElementType, Value, check_layout};

/// The longest step name, in bytes.
pub const MAX_STEP_NAME: usize = 128;
/// The longest argument name, in bytes.
pub const MAX_ARG_NAME: usize = 256;
/// The largest text or bytes argument. Larger inputs belong in an array argument, which
/// is hashed in place instead of being copied into the key.
pub const MAX_INLINE_ARG: usize = 64 * 1024;
/// How deeply lists nest in an argument: a list of lists of numbers is 2 deep. Deeper
/// (or self-referencing) lists are refused before anything recurses past this.
pub const MAX_LIST_DEPTH: usize = 16;

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
///
/// `Int` and `Float` are two ways to give a number, not two kinds of key: a float that
/// is an integer encodes as that integer (see the module docs), so `Arg::Float(15.0)`
/// and `Arg::Int(15)` are one key although they are different `Arg`s.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A flag.
    Bool(bool),
    /// An integer (every Rust integer type but `u128` maps here).
    Int(i128),
    /// A float: keyed as an integer if it is one, never NaN or infinite.
    Float(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A list of values (flip angles, echo times, ...).
    List(Vec<Arg>),
    /// An array's digest (see [`Fingerprint::of_array`]).
    Array(Fingerprint),
    /// Another step's result standing in for its data (lineage, see the module docs).
    Lineage {
        /// The fingerprint of the upstream key ([`Hit::fingerprint`]).
        key: Fingerprint,
        /// The upstream value's content identity ([`Hit::content`]).
        content: Fingerprint,
    },
}

impl Arg {
    /// An absent value (Rust's `None`, Python's `None`, JavaScript's `null`): the digest
    /// argument of the plain blake3 hash of the bytes `stepcache none`, which no array's
    /// digest equals (those are derived with their own context). Every binding keys an
    /// absent value so, in a list too.
    pub fn none() -> Arg {
        Arg::Array(Fingerprint::of_bytes(b"stepcache none"))
    }

    /// The error of the argument `name` whose lists nest deeper than [`MAX_LIST_DEPTH`].
    /// Bindings converting their own lists refuse such a value with it before they
    /// recurse further, so a list that holds itself is an error, not a stack overflow.
    pub fn nested_too_deep(name: &str) -> Error {
        Error::new(
            ErrorKind::InvalidArgument,
            crate::text!(
                "argument \"",
                truncate(name),
                "\" nests lists more than ",
                MAX_LIST_DEPTH,
                " deep (or holds itself)"
            ),
        )
    }
}

macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl From<$t> for Arg { fn from(v: $t) -> Arg { Arg::Int(v as i128) } }
    )*};
}
int_arg!(u8, i8, u16, i16, u32, i32, u64, i64, usize, isize, i128);

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
/// The lineage argument of an upstream hit (as [`KeyBuilder::lineage`]).
impl From<&Hit> for Arg {
    fn from(hit: &Hit) -> Arg {
        Arg::Lineage {
            key: hit.fingerprint,
            content: hit.content,
        }
    }
}

/// The integer `x` is, if it is one that fits an `i128`; `None` for non-integral floats,
/// integral ones outside [-2^127, 2^127), NaN and the infinities.
///
/// The magnitude is split exactly into 64-bit halves with float arithmetic (scaling by
/// 2^64 and subtracting are exact here) and converted with the native f64-to-u64
/// instruction: `as` casts between f64 and i128, or i128 shifts by a variable amount, are
/// compiler-rt calls that would add to the npm package's module.
pub(crate) fn exact_int(x: f64) -> Option<i128> {
    const TWO_64: f64 = 18_446_744_073_709_551_616.0;
    let magnitude = if x < 0.0 { -x } else { x };
    // Also false for NaN. -2^127 is the one magnitude of 2^127 that fits.
    if !(magnitude < TWO_64 * 9_223_372_036_854_775_808.0 || x == -TWO_64 * 9_223_372_036_854_775_808.0) {
        return None;
    }
    // `as u64` truncates; the quotient is below 2^63 (2^63 for -2^127), so exact.
    let high = (magnitude / TWO_64) as u64;
    // Below 2^64 and a multiple of the magnitude's last place: a float, exactly.
    let rest = magnitude - high as f64 * TWO_64;
    let low = rest as u64;
    if low as f64 != rest {
        return None;
    }
    let value = (u128::from(high) << 64 | u128::from(low)) as i128;
    Some(if x < 0.0 { value.wrapping_neg() } else { value })
}

fn put_text(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

impl Arg {
    /// Appends the encoding of the argument `name` (named in errors) to `out`.
    fn encode(&self, name: &str, out: &mut Vec<u8>) -> Result<()> {
        self.encode_nested(name, out, 0)
    }

    /// [`Arg::encode`] of a value inside `lists` enclosing lists.
    fn encode_nested(&self, name: &str, out: &mut Vec<u8>, lists: usize) -> Result<()> {
        match self {
            Arg::Bool(b) => out.extend_from_slice(&[0, u8::from(*b)]),
            Arg::Int(i) => put_int(out, *i),
            Arg::Float(f) => match exact_int(*f) {
                Some(i) => put_int(out, i),
                None if f.is_finite() => {
                    out.push(2);
                    out.extend_from_slice(&f.to_bits().to_le_bytes());
                }
                None => {
                    let what = if f.is_nan() { "\" is NaN" } else { "\" is infinite" };
                    return Err(Error::new(
                        ErrorKind::InvalidArgument,
                        crate::text!("argument \"", truncate(name), what, ": a key holds finite numbers only"),
                    ));
                }
            },
            Arg::Text(s) => {
                inline_len(name, s.len())?;
                out.push(3);
                put_text(out, s.as_bytes());
            }
            Arg::Bytes(b) => {
                inline_len(name, b.len())?;
                out.push(4);
                put_text(out, b);
            }
            Arg::List(items) => {
                if lists == MAX_LIST_DEPTH {
                    return Err(Arg::nested_too_deep(name));
                }
                out.push(5);
                out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                for item in items {
                    item.encode_nested(name, out, lists + 1)?;
                }
                inline_len(name, out.len())?;
            }
            Arg::Array(fp) => {
                out.push(6);
                out.extend_from_slice(fp.as_bytes());
            }
            Arg::Lineage { key, content } => {
                out.push(7);
                out.extend_from_slice(key.as_bytes());
                out.extend_from_slice(content.as_bytes());
            }
        }
        Ok(())
    }
}

fn put_int(out: &mut Vec<u8>, i: i128) {
    out.push(1);
    out.extend_from_slice(&i.to_le_bytes());
}

fn inline_len(name: &str, len: usize) -> Result<()> {
    if len > MAX_INLINE_ARG {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            crate::text!(
                "argument \"",
                truncate(name),
                "\" is over the ",
                MAX_INLINE_ARG,
                " bytes an inline argument may hold (got ",
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
    /// A default that cannot be encoded (text over 64 KiB, NaN, an infinity) is never
    /// matched.
    pub fn default_arg(mut self, name: &str, value: impl Into<Arg>) -> Self {
        let mut encoded = Vec::new();
        if value.into().encode(name, &mut encoded).is_ok() {
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
    /// Each argument: its name, its encoding in the key, and for an array digest its
    /// layout (for the provenance of entries stored under the key; see
    /// [`crate::provenance`]).
    args: Vec<(String, Vec<u8>, Vec<u8>)>,
    /// Every name given, including ignored ones and ones dropped as defaults, so a
    /// repeated name is caught whatever its first value was.
    seen: Vec<String>,
    error: Option<Error>,
}

impl KeyBuilder {
    /// Adds `value` as the argument `name`; `array` is the element type and shape of an
    /// array argument, for its readable form.
    fn push(mut self, name: &str, value: Result<Arg>, array: Option<(ElementType, &[u64])>) -> Self {
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
        let result = check_arg_name(name).and_then(|()| value?.encode(name, &mut encoded));
        if let Err(e) = result {
            self.error = Some(e);
        } else if !step.defaults.iter().any(|(n, d)| n == name && *d == encoded) {
            // An array digest (0x06) is recorded with its layout, for the provenance.
            let layout = match encoded.first() {
                Some(6) => crate::provenance::array_layout(array),
                _ => Vec::new(),
            };
            self.args.push((name.to_owned(), encoded, layout));
        }
        self
    }

    /// Adds a named scalar, text or list argument.
    pub fn arg(self, name: &str, value: impl Into<Arg>) -> Self {
        self.push(name, Ok(value.into()), None)
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
        self.push(name, digest, Some((elem, shape)))
    }

    /// Adds a [`Value`] as an array argument.
    pub fn value(self, name: &str, value: &Value) -> Self {
        self.raw_array(name, value.element_type(), value.shape(), value.data())
    }

    /// Adds another step's result in place of its data (lineage): the key of the
    /// upstream step and the content identity of its value, both carried by the `Hit` that
    /// returned it. The next step of a chain is keyed without hashing the large map the
    /// previous step produced, and a recomputed upstream value that differs gives another
    /// key (see the module docs).
    ///
    /// # Example
    /// ```
    /// use stepcache_core::{Cache, Config, Key, ManualClock, MemoryStore, Value};
    /// # pollster::block_on(async {
    /// let cache = Cache::new(MemoryStore::new(), ManualClock::new(0), Config::new()).unwrap();
    /// let t1_key = Key::of("t1_map").arg("tr_ms", 15).build().unwrap();
    /// let t1 = cache
    ///     .get_or_compute(&t1_key, || async { Value::array(vec![1.5f32; 8], &[2, 4]) })
    ///     .await
    ///     .unwrap();
    /// let r1_key = Key::of("r1_map").lineage("t1", &t1).build().unwrap();
    /// # let again = cache.get(&t1_key).await.unwrap().unwrap();
    /// # assert_eq!(r1_key, Key::of("r1_map").lineage("t1", &again).build().unwrap());
    /// # });
    /// ```
    pub fn lineage(self, name: &str, upstream: &Hit) -> Self {
        self.push(name, Ok(Arg::from(upstream)), None)
    }

    /// [`KeyBuilder::lineage`] from the two fingerprints of an upstream hit given
    /// separately ([`Hit::fingerprint`] and [`Hit::content`]), e.g. sent from another
    /// process or a language binding.
    pub fn lineage_parts(self, name: &str, key: Fingerprint, content: Fingerprint) -> Self {
        self.push(name, Ok(Arg::Lineage { key, content }), None)
    }

    /// Adds an absent value as the argument `name` ([`Arg::none`]).
    pub fn none(self, name: &str) -> Self {
        self.arg(name, Arg::none())
    }

    /// Adds a precomputed digest (an array's [`Fingerprint::of_array`], or a key from
    /// another process) as an array argument.
    pub fn digest(self, name: &str, digest: Fingerprint) -> Self {
        self.push(name, Ok(Arg::Array(digest)), None)
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
        for (name, value, _) in &args {
            let mut text = Vec::with_capacity(name.len() + 8);
            put_text(&mut text, name.as_bytes());
            hasher.update(&text);
            hasher.update(value);
        }
        Ok(Key {
            fingerprint: Fingerprint::from_bytes(*hasher.finalize().as_bytes()),
            args: Some(Arc::from(crate::provenance::encode_key_args(
                step.version,
                args.iter()
                    .map(|(name, value, layout)| (name.as_str(), value.as_slice(), layout.as_slice())),
            ))),
            step: step.name,
        })
    }
}

/// A cache key: the step (result type) it belongs to and its fingerprint.
///
/// A key made by a [`KeyBuilder`] also carries its step version and arguments in
/// readable form ([`Key::args`]), which entries stored under it record (see
/// [`crate::provenance`]). Keys are equal, hashed and ordered by step and fingerprint
/// alone.
#[derive(Clone)]
pub struct Key {
    step: String,
    fingerprint: Fingerprint,
    /// The postcard encoding of its [`KeyArgs`].
    args: Option<Arc<[u8]>>,
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint && self.step == other.step
    }
}

impl Eq for Key {}

impl core::hash::Hash for Key {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.step.hash(state);
        self.fingerprint.hash(state);
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        (&self.step, &self.fingerprint).cmp(&(&other.step, &other.fingerprint))
    }
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
            args: None,
        })
    }

    /// This key carrying the readable form [`Key::encoded_args`] gave: for a binding that
    /// builds a key in one call and stores under it in another. Bytes longer than any
    /// record of [`MAX_ARGS_BYTES`] of arguments are ignored; bytes that do not decode
    /// are recorded, and read back as no provenance.
    pub fn with_encoded_args(mut self, bytes: &[u8]) -> Self {
        if bytes.len() <= 2 * MAX_ARGS_BYTES {
            self.args = Some(Arc::from(bytes));
        }
        self
    }

    /// The step version and arguments this key was built from, in readable form; `None`
    /// for a key given as a fingerprint ([`Key::from_parts`], [`Key`]'s text form).
    pub fn args(&self) -> Option<KeyArgs> {
        KeyArgs::decode(self.args.as_deref()?)
    }

    /// [`Key::args`] as the bytes entries record (the postcard encoding of [`KeyArgs`]).
    pub fn encoded_args(&self) -> Option<&[u8]> {
        self.args.as_deref()
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

/// Reads the text form [`Key`]'s `Display` writes, `step@b3:<64 hex digits>` (as
/// `StepKey.parse` does in JavaScript).
///
/// # Example
/// ```
/// use stepcache_core::Key;
/// let key = Key::of("t1_map").arg("tr_ms", 15).build().unwrap();
/// let again: Key = key.to_string().parse().unwrap();
/// assert_eq!(again, key);
/// ```
impl core::str::FromStr for Key {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let Some((step, fingerprint)) = text.rsplit_once('@') else {
            return Err(Error::new(
                ErrorKind::InvalidFingerprint,
                crate::text!("\"", text, "\" is not a key: expected \"step@b3:<64 hex digits>\""),
            ));
        };
        Key::from_parts(step, fingerprint.parse()?)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::{Key, exact_int};
    use crate::ErrorKind;

    #[test]
    fn keys_parse_from_their_text_form() {
        let key = Key::of("t1_map").arg("tr_ms", 15).build().unwrap();
        let text = alloc::string::ToString::to_string(&key);
        assert_eq!(text.parse::<Key>().unwrap(), key);
        for (bad, kind) in [
            ("t1_map", ErrorKind::InvalidFingerprint),
            ("t1_map@b3:00", ErrorKind::InvalidFingerprint),
            ("t1_map@", ErrorKind::InvalidFingerprint),
            (&*text.replacen("t1_map", "bad step", 1), ErrorKind::InvalidStepName),
            (&*text.replacen("t1_map", "", 1), ErrorKind::InvalidStepName),
        ] {
            assert_eq!(bad.parse::<Key>().unwrap_err().kind(), kind, "{bad}");
        }
    }

    /// What `exact_int` reads from the bits, computed with casts (exact natively).
    fn by_casts(x: f64) -> Option<i128> {
        const BOUND: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0; // 2^127
        if !(-BOUND..BOUND).contains(&x) {
            return None;
        }
        let i = x as i128;
        (i as f64 == x).then_some(i)
    }

    #[test]
    fn edges() {
        let two = |e: i32| 2f64.powi(e);
        for (x, want) in [
            (0.0, Some(0)),
            (-0.0, Some(0)),
            (f64::MIN_POSITIVE / 4.0, None),
            (0.5, None),
            (1.0, Some(1)),
            (-1.0, Some(-1)),
            (15.0, Some(15)),
            (1.5, None),
            (two(52) - 0.5, None),
            (two(53), Some(1 << 53)),
            (two(126) * 1.5, Some(3 << 125)),
            (-two(127), Some(i128::MIN)),
            (two(127), None),
            (-two(127) * (1.0 + f64::EPSILON), None),
            (f64::MAX, None),
            (f64::NAN, None),
            (f64::INFINITY, None),
            (f64::NEG_INFINITY, None),
        ] {
            assert_eq!(exact_int(x), want, "{x:e}");
            assert_eq!(by_casts(x), want, "{x:e}");
        }
    }

    proptest::proptest! {
        /// Any f64 bit pattern: the bits agree with exact casts.
        #[test]
        fn bits_agree_with_casts(bits: u64) {
            let x = f64::from_bits(bits);
            proptest::prop_assert_eq!(exact_int(x), by_casts(x));
        }

        /// Floats near the integers that matter (whole, halves, big, around 2^127).
        #[test]
        fn integral_floats_agree_with_casts(n: i64, e in 0i32..140, half: bool) {
            let x = (n as f64) * 2f64.powi(e - 64) + if half { 0.5 } else { 0.0 };
            proptest::prop_assert_eq!(exact_int(x), by_casts(x));
        }
    }
}
