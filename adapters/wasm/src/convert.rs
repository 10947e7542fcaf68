//! The narrow interface with `js/index.js`: a key described in postcard, values as
//! `[element code, shape, bytes, meta]`, and results as a `Float64Array` of numbers plus
//! the few strings they need. `index.js` checks JavaScript values and builds the objects
//! the public API returns; the layouts here and there must agree (each function says its
//! layout, and `index.js` names the same functions).

use js_sys::{Array, Float64Array, Function, Promise, Uint8Array};
use serde::Deserialize;
use stepcache_core::{
    Arg, ElementType, EntryInfo, EntryState, ErrorKind, Hit, Key, PutReport, Result, SharedBytes, SkipReason, Source,
    Stats, Status, Step, TierOutcome, TierStats, Value,
};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::errors::err;

// ----- keys -------------------------------------------------------------------------

/// What `cache.key(step, params, options)` asked for, as `index.js` encodes it (postcard:
/// varint lengths and enum tags, zigzag varint integers, f64 little-endian). Field and
/// variant order is the wire format: change it together with `encodeKey` in `index.js`.
#[derive(Deserialize)]
struct KeySpec {
    step: String,
    version: u32,
    ignore: Vec<String>,
    defaults: Vec<(String, Scalar)>,
    params: Vec<(String, Param)>,
}

/// A scalar or list argument.
#[derive(Deserialize)]
enum Scalar {
    Bool(bool),
    Int(i128),
    Float(f64),
    Text(String),
    List(Vec<Scalar>),
}

/// One named parameter.
#[derive(Deserialize)]
enum Param {
    Scalar(Scalar),
    /// Element type, shape, and the index of its bytes in the `arrays` passed along.
    Array(ElementType, Vec<u64>, u32),
    /// A key's step and fingerprint text: the stored entry stands in for its data.
    Lineage(String, String),
}

impl From<Scalar> for Arg {
    fn from(scalar: Scalar) -> Arg {
        match scalar {
            Scalar::Bool(b) => Arg::Bool(b),
            Scalar::Int(i) => Arg::Int(i),
            Scalar::Float(f) => Arg::Float(f),
            Scalar::Text(s) => Arg::Text(s),
            Scalar::List(items) => Arg::List(items.into_iter().map(Arg::from).collect()),
        }
    }
}

/// The key `spec` describes; array arguments hash the bytes of `arrays[index]`.
pub(crate) fn build_key(spec: &[u8], arrays: &Array) -> Result<Key> {
    let spec: KeySpec = postcard::from_bytes(spec).map_err(|_| {
        err(
            ErrorKind::InvalidArgument,
            "a key description that index.js did not write",
        )
    })?;
    let mut step = Step::new(&spec.step)?.version(spec.version);
    for name in &spec.ignore {
        step = step.ignore(name);
    }
    for (name, value) in spec.defaults {
        step = step.default_arg(&name, Arg::from(value));
    }
    let mut builder = step.key();
    for (name, param) in spec.params {
        builder = match param {
            Param::Scalar(value) => builder.arg(&name, Arg::from(value)),
            Param::Array(elem, shape, index) => {
                // One copy into WebAssembly memory, hashed in place there.
                let bytes = arrays
                    .get(index)
                    .dyn_into::<Uint8Array>()
                    .map(|a| a.to_vec())
                    .unwrap_or_default();
                builder.raw_array(&name, elem, &shape, &bytes)
            }
            Param::Lineage(step, fingerprint) => builder.lineage(&name, &crate::key(&step, &fingerprint)?),
        };
    }
    builder.build()
}

// ----- values -----------------------------------------------------------------------

/// A value from `[element code, shape (Float64Array), bytes (Uint8Array), meta JSON text
/// or undefined]`; the shape is checked against the bytes here.
pub(crate) fn value_of(parts: &JsValue) -> Result<Value> {
    let parts: &Array = parts.unchecked_ref();
    let elem = ElementType::from_code(parts.get(0).as_f64().unwrap_or(0.0) as u8).unwrap_or(ElementType::Bytes);
    let shape = parts.get(1).unchecked_into::<Float64Array>().to_vec();
    // `to_vec` copies into memory it does not zero first (a zeroed buffer would cost a
    // second pass over a large map).
    let bytes = parts.get(2).unchecked_into::<Uint8Array>().to_vec();
    let meta = parts.get(3).as_string().map_or_else(Vec::new, String::into_bytes);
    Ok(Value::new(
        elem,
        shape.iter().map(|&d| d as u64).collect(),
        SharedBytes::from_owner(bytes),
    )?
    .with_meta(meta))
}

/// Calls the compute wrapper of `index.js` and awaits the value it resolves to. The
/// wrapper rejects with an `Error` named `InvalidValue` (a bad value) or `ComputeFailed`
/// (the caller's function threw; the message says what it threw).
pub(crate) async fn call_compute(compute: Function) -> Result<Value> {
    let failed = |e: JsValue| {
        let e: js_sys::Error = e.unchecked_into();
        let kind = if e.name() == "InvalidValue" {
            ErrorKind::InvalidValue
        } else {
            ErrorKind::Compute
        };
        err(kind, String::from(e.message()))
    };
    let returned = compute.call0(&JsValue::UNDEFINED).map_err(failed)?;
    let value = JsFuture::from(returned.unchecked_into::<Promise>())
        .await
        .map_err(failed)?;
    value_of(&value)
}

fn source_code(source: Source) -> f64 {
    match source {
        Source::Memory => 0.0,
        Source::Store => 1.0,
        Source::Computed => 2.0,
        Source::Shared => 3.0,
    }
}

/// `[bytes (Uint8Array, a copy), numbers, meta UTF-8 (Uint8Array) or undefined]` with numbers
/// `[element code, source code, createdMs, cost µs, stored (0/1), ...shape]`.
pub(crate) fn hit_to_js(hit: &Hit) -> JsValue {
    let bytes: &[u8] = hit.value.data();
    let data = Uint8Array::new_with_length(bytes.len() as u32);
    // The one copy of a hit: from WebAssembly memory into the new array.
    data.copy_from(bytes);
    let mut numbers = vec![
        f64::from(hit.value.element_type().code()),
        source_code(hit.source),
        hit.created_ms as f64,
        hit.cost_us as f64,
        f64::from(u8::from(hit.stored.is_some())),
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
    Array::of3(&data, &Float64Array::from(&numbers[..]), &meta).into()
}

fn outcome(outcome: TierOutcome) -> JsValue {
    let text = match outcome {
        TierOutcome::Stored => "stored",
        TierOutcome::Skipped(SkipReason::Policy) => "skipped:policy",
        TierOutcome::Skipped(SkipReason::WriteDisabled) => "skipped:write-disabled",
        TierOutcome::Skipped(SkipReason::TooLarge) => "skipped:too-large",
        TierOutcome::Skipped(SkipReason::NoRoom) => "skipped:no-room",
        TierOutcome::Failed(kind) => return JsValue::from_str(&["failed:", kind.name()].concat()),
    };
    JsValue::from_str(text)
}

/// `[memory outcome, store outcome]`.
pub(crate) fn report_to_js(report: &PutReport) -> JsValue {
    Array::of2(&outcome(report.memory), &outcome(report.store)).into()
}

// ----- reports ----------------------------------------------------------------------

fn tier(numbers: &mut Vec<f64>, t: &TierStats) {
    numbers.extend([t.hits, t.misses, t.bytes, t.entries, t.budget, t.evictions, t.expired].map(|v| v as f64));
}

fn strings<'a>(items: impl Iterator<Item = &'a str>) -> Array {
    items.map(JsValue::from_str).collect()
}

/// `[numbers, step names]` with numbers: the memory tier's and the store tier's
/// `[hits, misses, bytes, entries, budget, evictions, expired]`, then `[hitRate, saved µs,
/// corruptRemoved, sharedComputes]`, then per type `[hits, misses, puts, computes,
/// compute µs, saved µs]`.
pub(crate) fn stats_to_js(stats: &Stats) -> JsValue {
    let mut numbers = Vec::with_capacity(18 + 6 * stats.types.len());
    tier(&mut numbers, &stats.memory);
    tier(&mut numbers, &stats.store);
    numbers.extend([
        stats.hit_rate(),
        stats.saved_us() as f64,
        stats.corrupt_removed as f64,
        stats.shared_computes as f64,
    ]);
    for t in &stats.types {
        numbers.extend([t.hits, t.misses, t.puts, t.computes, t.compute_us, t.saved_us].map(|v| v as f64));
    }
    let steps = strings(stats.types.iter().map(|t| t.step.as_str()));
    Array::of2(&Float64Array::from(&numbers[..]), &steps).into()
}

/// `[numbers, steps, fingerprints]` with numbers per entry `[bytes, createdMs, cost µs,
/// hits, inMemory (0/1), stored (0/1)]`.
pub(crate) fn entries_to_js(entries: &[EntryInfo]) -> JsValue {
    let mut numbers = Vec::with_capacity(6 * entries.len());
    for e in entries {
        numbers.extend([
            e.bytes as f64,
            e.created_ms as f64,
            e.cost_us as f64,
            e.hits as f64,
            f64::from(u8::from(e.in_memory)),
            f64::from(u8::from(e.stored)),
        ]);
    }
    let steps = strings(entries.iter().map(|e| e.step.as_str()));
    let fingerprints: Array = entries
        .iter()
        .map(|e| JsValue::from(e.fingerprint.to_string()))
        .collect();
    Array::of3(&Float64Array::from(&numbers[..]), &steps, &fingerprints).into()
}

/// `[numbers, steps, fingerprints]` with numbers per key `[state code, createdMs or NaN,
/// cost µs or NaN]`; states 0 memory, 1 stored, 2 expired, 3 forced, 4 missing.
pub(crate) fn statuses_to_js(statuses: &[Status]) -> JsValue {
    let mut numbers = Vec::with_capacity(3 * statuses.len());
    for s in statuses {
        let state = match s.state {
            EntryState::Memory => 0.0,
            EntryState::Stored => 1.0,
            EntryState::Expired => 2.0,
            EntryState::Forced => 3.0,
            EntryState::Missing => 4.0,
        };
        numbers.extend([
            state,
            s.created_ms.map_or(f64::NAN, |v| v as f64),
            s.cost_us.map_or(f64::NAN, |v| v as f64),
        ]);
    }
    let steps = strings(statuses.iter().map(|s| s.key.step()));
    let fingerprints: Array = statuses
        .iter()
        .map(|s| JsValue::from(s.key.fingerprint().to_string()))
        .collect();
    Array::of3(&Float64Array::from(&numbers[..]), &steps, &fingerprints).into()
}
