//! The narrow interface with `js/index.js`: a key described in bytes, values as
//! `[element code, shape, bytes, meta]`, and results as a `Float64Array` of numbers plus
//! the few strings they need. `index.js` checks JavaScript values and builds the objects
//! the public API returns; the layouts here and there must agree (each function says its
//! layout, and `index.js` names the same functions).

use std::cell::RefCell;

use js_sys::{Array, Float64Array, Function, Promise, Uint8Array};
use stepcache_core::{
    Arg, ElementType, EntryInfo, EntryState, ErrorKind, Fingerprint, Hit, Key, PutReport, Result, SharedBytes,
    SkipReason, Source, Stats, Status, Step, TierOutcome, TierStats, TypeStats, Value, text,
};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::errors::err;
use crate::protocol::{self, HitSource, Outcome, ParamTag, ScalarTag, State};

// ----- keys -------------------------------------------------------------------------

/// Reads the key description `encodeKey` in `index.js` writes:
///
/// ```text
/// spec   = text(step) | uint(version) | uint(n) text{n}            (ignored names)
///          | uint(n) (text(name) scalar){n}                          (defaults)
///          | uint(n) (text(name) param){n}                           (parameters)
/// param  = scalar-tag scalar | array-tag uint(element code) uint(n) uint{n}(shape)
///          uint(array index) | lineage-tag text(upstream key fingerprint) text(content)
/// scalar = bool-tag byte | int-tag zigzag(i128) | float-tag f64 LE | text-tag text
///          | list-tag uint(n) scalar{n} | none-tag
/// uint   = LEB128 varint; zigzag = varint of (n << 1) ^ (n >> 127); text = uint(len) UTF-8
/// ```
///
/// with the tags of [`ParamTag`] and [`ScalarTag`], each a uint.
///
/// The layout is the one postcard gives the equivalent serde types, but read by hand:
/// serde's derived visitors for these recursive enums cost 3 KB of the module (1.5 KB
/// gzipped), this reader a fraction of that. Anything malformed is `None`, never a panic.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn bytes(&mut self, n: usize) -> Option<&[u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn uint(&mut self) -> Option<u128> {
        let mut n = 0u128;
        for shift in (0..128).step_by(7) {
            let b = self.byte()?;
            n |= u128::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(n);
            }
        }
        None
    }

    fn len(&mut self) -> Option<usize> {
        usize::try_from(self.uint()?).ok()
    }

    fn text(&mut self) -> Option<String> {
        let n = self.len()?;
        String::from_utf8(self.bytes(n)?.to_vec()).ok()
    }

    fn scalar(&mut self) -> Option<Arg> {
        self.nested_scalar(0)
    }

    /// [`Reader::scalar`] inside `lists` enclosing lists; index.js refuses deeper ones.
    fn nested_scalar(&mut self, lists: usize) -> Option<Arg> {
        Some(match ScalarTag::from_code(self.uint()?)? {
            ScalarTag::Bool => Arg::Bool(self.byte()? != 0),
            ScalarTag::Int => {
                let z = self.uint()?;
                Arg::Int(((z >> 1) as i128) ^ -((z & 1) as i128))
            }
            ScalarTag::Float => Arg::Float(f64::from_le_bytes(self.bytes(8)?.try_into().ok()?)),
            ScalarTag::Text => Arg::Text(self.text()?),
            ScalarTag::List if lists < stepcache_core::MAX_LIST_DEPTH => {
                let n = self.len()?;
                let mut items = Vec::new();
                for _ in 0..n {
                    items.push(self.nested_scalar(lists + 1)?);
                }
                Arg::List(items)
            }
            ScalarTag::List => return None,
            ScalarTag::Null => Arg::none(),
        })
    }
}

/// The key `spec` describes; array arguments hash the bytes of `arrays[index]`.
pub(crate) fn build_key(spec: &[u8], arrays: &Array) -> Result<Key> {
    build_key_from(&mut Reader(spec), arrays)?.ok_or_else(|| {
        err(
            ErrorKind::InvalidArgument,
            "a key description that index.js did not write",
        )
    })
}

/// `None`: the description is malformed; `Some(Err(_))`: the key is invalid.
fn build_key_from(r: &mut Reader<'_>, arrays: &Array) -> Result<Option<Key>> {
    let Some(name) = r.text() else { return Ok(None) };
    let Some(version) = r.uint().and_then(|v| u32::try_from(v).ok()) else {
        return Ok(None);
    };
    let mut step = Step::new(&name)?.version(version);
    let Some(ignored) = r.len() else { return Ok(None) };
    for _ in 0..ignored {
        let Some(name) = r.text() else { return Ok(None) };
        step = step.ignore(&name);
    }
    let Some(defaults) = r.len() else { return Ok(None) };
    for _ in 0..defaults {
        let (Some(name), Some(value)) = (r.text(), r.scalar()) else {
            return Ok(None);
        };
        step = step.default_arg(&name, value);
    }
    let mut builder = step.key();
    let Some(params) = r.len() else { return Ok(None) };
    for _ in 0..params {
        let (Some(name), Some(tag)) = (r.text(), r.uint().and_then(ParamTag::from_code)) else {
            return Ok(None);
        };
        builder = match tag {
            ParamTag::Scalar => {
                let Some(value) = r.scalar() else { return Ok(None) };
                builder.arg(&name, value)
            }
            ParamTag::Array => {
                let Some(elem) = r.uint().and_then(|c| ElementType::from_code(u8::try_from(c).ok()?)) else {
                    return Ok(None);
                };
                let Some(dims) = r.len() else { return Ok(None) };
                let mut shape = Vec::new();
                for _ in 0..dims {
                    let Some(d) = r.uint().and_then(|d| u64::try_from(d).ok()) else {
                        return Ok(None);
                    };
                    shape.push(d);
                }
                let Some(index) = r.uint().and_then(|i| u32::try_from(i).ok()) else {
                    return Ok(None);
                };
                // One copy into WebAssembly memory, hashed in place there.
                let bytes = match arrays.get(index).dyn_into::<Uint8Array>() {
                    Ok(array) => copy_in(&array)?,
                    Err(_) => Vec::new(),
                };
                builder.raw_array(&name, elem, &shape, &bytes)
            }
            ParamTag::Lineage => {
                let (Some(key), Some(content)) = (r.text(), r.text()) else {
                    return Ok(None);
                };
                builder.lineage_parts(&name, key.parse()?, content.parse()?)
            }
        };
    }
    builder.build().map(Some)
}

// ----- values -----------------------------------------------------------------------

/// A copy of `array` in WebAssembly memory, or [`ErrorKind::StorageFull`] if the memory
/// has no room for it. Fallible because an allocation that fails otherwise aborts, and an
/// abort traps the module: every cache of the page or worker stops, not just this call.
pub(crate) fn copy_in(array: &Uint8Array) -> Result<Vec<u8>> {
    let len = array.length() as usize;
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(len).map_err(|_| {
        err(
            ErrorKind::StorageFull,
            "no room for this value in the WebAssembly memory: lower memoryBudget or keep fewer large values",
        )
    })?;
    // Copied into memory it does not zero first (a zeroed buffer would cost a second
    // pass over a large map).
    let copied = array.copy_to_uninit(&mut bytes.spare_capacity_mut()[..len]).len();
    // SAFETY: `copy_to_uninit` initialised the first `copied` (= `len`) bytes of the
    // reserved capacity.
    #[allow(unsafe_code)]
    unsafe {
        bytes.set_len(copied);
    }
    Ok(bytes)
}

/// A value from `[element code, shape (Float64Array), bytes (Uint8Array), meta JSON text
/// or undefined]`; the shape is checked against the bytes here.
pub(crate) fn value_of(parts: &JsValue) -> Result<Value> {
    let parts: &Array = parts.unchecked_ref();
    let elem = ElementType::from_code(parts.get(0).as_f64().unwrap_or(0.0) as u8).unwrap_or(ElementType::Bytes);
    let shape = parts.get(1).unchecked_into::<Float64Array>().to_vec();
    let bytes = copy_in(parts.get(2).unchecked_ref())?;
    let meta = parts.get(3).as_string().map_or_else(Vec::new, String::into_bytes);
    Ok(Value::new(
        elem,
        shape.iter().map(|&d| d as u64).collect(),
        SharedBytes::from_owner(bytes),
    )?
    .with_meta(meta))
}

/// Calls the compute wrapper of `index.js` and awaits the value it resolves to. Any
/// rejection is [`ErrorKind::Compute`] with the rejection's message: it only tells the
/// engine that computing failed (so the key's lock and single flight are released), and
/// `index.js` rejects its caller with the `Error` the wrapper threw, whatever its name.
pub(crate) async fn call_compute(compute: Function) -> Result<Value> {
    let failed = |e: JsValue| {
        let e: js_sys::Error = e.unchecked_into();
        err(ErrorKind::Compute, String::from(e.message()))
    };
    let returned = compute.call0(&JsValue::UNDEFINED).map_err(failed)?;
    let value = JsFuture::from(returned.unchecked_into::<Promise>())
        .await
        .map_err(failed)?;
    value_of(&value)
}

fn source_code(source: Source) -> f64 {
    let source = match source {
        Source::Memory => HitSource::Memory,
        Source::Store => HitSource::Store,
        Source::Computed => HitSource::Computed,
        Source::Waited => HitSource::Waited,
        Source::Shared => HitSource::Shared,
    };
    f64::from(source.code())
}

/// `[bytes (Uint8Array, a copy), numbers, meta UTF-8 (Uint8Array) or undefined, content
/// identity text, put report (see `report_to_js`) of a value this call computed or
/// undefined]` with numbers [`protocol::HIT_NUMBERS`], then the shape.
pub(crate) fn hit_to_js(hit: &Hit) -> JsValue {
    let mut numbers = vec![
        f64::from(hit.value.element_type().code()),
        source_code(hit.source),
        hit.created_ms as f64,
        hit.cost_us as f64,
    ];
    numbers.extend(hit.value.shape().iter().map(|&d| d as f64));
    // Meta as bytes: index.js decodes the UTF-8 (TextDecoder is lossy like
    // `String::from_utf8_lossy`, which would link a UTF-8 repair loop into the module).
    let meta = hit.value.meta();
    let meta = if meta.is_empty() {
        JsValue::UNDEFINED
    } else {
        Uint8Array::from(meta).into()
    };
    let numbers = Float64Array::from(&numbers[..]);
    let content = CONTENT_TEXTS.with_borrow_mut(|texts| texts.text_of(&hit.content));
    // The one copy of a hit, from WebAssembly memory into the new array, last: what runs
    // after a large copy runs with caches it has flushed.
    let stored = hit.stored.as_ref().map_or(JsValue::UNDEFINED, report_to_js);
    let data = Uint8Array::new_from_slice(hit.value.data());
    array5(&data, &numbers, &meta, &content, &stored).into()
}

thread_local! {
    /// The content identity texts of the latest hits (one module, one thread).
    static CONTENT_TEXTS: RefCell<ContentTexts> = RefCell::new(ContentTexts(std::array::from_fn(|_| None)));
}

/// Content identities and their text as JavaScript strings, at most one per value of the
/// identity's first byte (a digest's: evenly spread), so at most 256. Written and handed
/// over as a new string on every hit, a hit's content identity took 0.8 µs of a memory
/// hit (bench.mjs, "1 KiB, 1000 in a row": 2.3 µs, not 1.5); the string made for the
/// value's last hit, handed over again, nearly nothing.
struct ContentTexts([Option<(Fingerprint, JsValue)>; 256]);

impl ContentTexts {
    /// The text of `content` (`b3:` and 64 hex digits), made now if it is not kept.
    fn text_of(&mut self, content: &Fingerprint) -> JsValue {
        let slot = &mut self.0[usize::from(content.as_bytes()[0])];
        match slot {
            Some((kept, text)) if kept == content => text.clone(),
            _ => slot.insert((*content, JsValue::from(text!(content)))).1.clone(),
        }
    }
}

#[wasm_bindgen(inline_js = "export function array5(a, b, c, d, e) { return [a, b, c, d, e]; }")]
extern "C" {
    /// `[a, b, c, d, e]`: an array literal. js_sys's `Array::of5` calls `Array.of`, which
    /// took 0.4 µs of a memory hit (bench.mjs, "1 KiB, 1000 in a row": 1.9 µs, not 1.5).
    fn array5(a: &JsValue, b: &JsValue, c: &JsValue, d: &JsValue, e: &JsValue) -> Array;
}

/// A tier's outcome: an [`Outcome`] code, or the error name of a failure.
fn outcome(outcome: TierOutcome) -> JsValue {
    let code = match outcome {
        TierOutcome::Stored => Outcome::Stored,
        TierOutcome::Skipped(SkipReason::Policy) => Outcome::Policy,
        TierOutcome::Skipped(SkipReason::WriteDisabled) => Outcome::WriteDisabled,
        TierOutcome::Skipped(SkipReason::TooLarge) => Outcome::TooLarge,
        TierOutcome::Skipped(SkipReason::NoRoom) => Outcome::NoRoom,
        TierOutcome::Skipped(SkipReason::Degraded) => Outcome::Degraded,
        TierOutcome::Skipped(SkipReason::ReadOnly) => Outcome::ReadOnly,
        TierOutcome::Skipped(SkipReason::Present) => Outcome::Present,
        // The module stores only values it owns (there is no `put_ref` in JS).
        TierOutcome::Skipped(SkipReason::Borrowed) => Outcome::Policy,
        TierOutcome::Failed(kind) => return JsValue::from_str(kind.name()),
    };
    code.code().into()
}

/// `[memory outcome, store outcome, shared outcome]` (see `outcome`).
pub(crate) fn report_to_js(report: &PutReport) -> JsValue {
    Array::of3(&outcome(report.memory), &outcome(report.store), &outcome(report.shared)).into()
}

// ----- reports ----------------------------------------------------------------------

/// A tier's numbers, in [`protocol::TIER_NUMBERS`] order.
fn tier(numbers: &mut Vec<f64>, t: &TierStats) {
    numbers.extend([t.hits, t.misses, t.bytes, t.entries, t.budget, t.evictions, t.expired].map(|v| v as f64));
}

fn strings<'a>(items: impl Iterator<Item = &'a str>) -> Array {
    items.map(JsValue::from_str).collect()
}

/// `[numbers, step names, the shared tier's latest error or undefined, all time's step
/// names]` with numbers: the memory tier's and the store tier's [`protocol::TIER_NUMBERS`],
/// then [`protocol::TOTAL_NUMBERS`], then per type of this session
/// [`protocol::TYPE_NUMBERS`], then [`protocol::SHARED_NUMBERS`], then per type of all
/// time (every session the database kept, and this one) [`protocol::TYPE_NUMBERS`].
pub(crate) fn stats_to_js(stats: &Stats) -> JsValue {
    let fixed = 2 * protocol::TIER_NUMBERS.len() + protocol::TOTAL_NUMBERS.len();
    let mut numbers = Vec::with_capacity(fixed + protocol::TYPE_NUMBERS.len() * stats.types.len());
    tier(&mut numbers, &stats.memory);
    tier(&mut numbers, &stats.store);
    numbers.extend([
        stats.hit_rate(),
        stats.saved_us() as f64,
        stats.corrupt_removed as f64,
        stats.waited_computes as f64,
    ]);
    let type_numbers = |numbers: &mut Vec<f64>, types: &[TypeStats]| {
        for t in types {
            numbers.extend([t.hits, t.misses, t.puts, t.computes, t.compute_us, t.saved_us].map(|v| v as f64));
        }
    };
    type_numbers(&mut numbers, &stats.types);
    let s = &stats.shared;
    numbers.extend(
        [
            u64::from(s.enabled),
            s.hits,
            s.misses,
            s.rejected,
            s.bytes_read,
            s.errors,
            s.pending,
            u64::from(s.degraded),
            s.bytes_written,
        ]
        .map(|v| v as f64),
    );
    // All time's per-type numbers last, after the shared tier's.
    type_numbers(&mut numbers, &stats.all_time);
    let steps = strings(stats.types.iter().map(|t| t.step.as_str()));
    let all_time_steps = strings(stats.all_time.iter().map(|t| t.step.as_str()));
    let error = s.last_error.as_deref().map_or(JsValue::UNDEFINED, JsValue::from_str);
    Array::of4(&Float64Array::from(&numbers[..]), &steps, &error, &all_time_steps).into()
}

/// `[numbers, steps, fingerprints]` with numbers per entry [`protocol::ENTRY_NUMBERS`].
pub(crate) fn entries_to_js(entries: &[EntryInfo]) -> JsValue {
    let mut numbers = Vec::with_capacity(protocol::ENTRY_NUMBERS.len() * entries.len());
    let mut bytes = Vec::new();
    for e in entries {
        bytes.extend_from_slice(e.fingerprint.as_bytes());
        bytes.extend_from_slice(e.provenance.as_bytes());
        numbers.extend([
            e.bytes as f64,
            e.created_ms as f64,
            e.cost_us as f64,
            e.hits as f64,
            f64::from(u8::from(e.in_memory)),
            f64::from(u8::from(e.stored)),
            f64::from(u8::from(e.shared)),
            e.provenance.as_bytes().len() as f64,
        ]);
    }
    let steps = strings(entries.iter().map(|e| e.step.as_str()));
    Array::of3(&Float64Array::from(&numbers[..]), &steps, &Uint8Array::from(&bytes[..])).into()
}

/// Per key, in the order asked, [`protocol::STATUS_NUMBERS`] (a [`State`] code, then
/// times that are NaN when unknown). The keys themselves are not returned: `index.js`
/// passed them in.
pub(crate) fn statuses_to_js(statuses: &[Status]) -> JsValue {
    let mut numbers = Vec::with_capacity(protocol::STATUS_NUMBERS.len() * statuses.len());
    for s in statuses {
        let state = match s.state {
            EntryState::Memory => State::Memory,
            EntryState::Stored => State::Stored,
            EntryState::Expired => State::Expired,
            EntryState::Forced => State::Forced,
            EntryState::Missing => State::Missing,
            EntryState::Shared => State::Shared,
        };
        numbers.extend([
            f64::from(state.code()),
            s.created_ms.map_or(f64::NAN, |v| v as f64),
            s.cost_us.map_or(f64::NAN, |v| v as f64),
        ]);
    }
    Float64Array::from(&numbers[..]).into()
}

/// The region of getRegion's numbers (see `protocol::Operation::GetRegion`): whether its
/// ranges are for the last dimensions, and the ranges (an end of `Infinity` saturates to
/// `u64::MAX`, which the core reads as the dimension's end).
pub(crate) fn region_of(arg: &JsValue) -> (bool, Vec<std::ops::Range<u64>>) {
    let numbers = arg.unchecked_ref::<Float64Array>().to_vec();
    let last = numbers.first().is_some_and(|&anchor| anchor == 1.0);
    let ranges = numbers
        .get(1..)
        .unwrap_or_default()
        .chunks_exact(2)
        .map(|pair| pair[0] as u64..pair[1] as u64)
        .collect();
    (last, ranges)
}
