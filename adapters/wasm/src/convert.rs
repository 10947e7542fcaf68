//! JavaScript values in and out: keys and their parameters, typed arrays, results.

use js_sys::{Array, ArrayBuffer, Function, Promise, Reflect, Uint8Array};
use stepcache_core::{
    Access, Arg, ElementType, EntryInfo, EntryState, Error, ErrorKind, Force, Hit, Key, KeyBuilder, PutReport, Result,
    SharedBytes, SkipReason, Source, Stats, Status, Step, TierOutcome, TierStats, Value,
};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::browser::StorageReport;
use crate::errors::{describe, err};
use crate::options::entries;

/// The largest integer a JavaScript number holds exactly.
const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

fn get(object: &JsValue, name: &str) -> JsValue {
    Reflect::get(object, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

fn set(object: &JsValue, name: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(object, &name.into(), &value.into());
}

// ----- keys -------------------------------------------------------------------------

/// Reads `step@b3:<hex>`.
pub(crate) fn parse_key_text(text: &str) -> Result<Key> {
    let (step, fingerprint) = text.rsplit_once('@').ok_or_else(|| {
        err(
            ErrorKind::InvalidFingerprint,
            format!("\"{text}\" is not a key: expected \"step@b3:<64 hex digits>\""),
        )
    })?;
    Key::from_parts(step, fingerprint.parse()?)
}

/// A key given as a `StepKey`, its text form, or `{step, fingerprint}` (e.g. a key that
/// travelled through `postMessage`).
pub(crate) fn key_of(value: &JsValue) -> Result<Key> {
    if let Some(text) = value.as_string() {
        return parse_key_text(&text);
    }
    if value.is_object() {
        let (step, fingerprint) = (get(value, "step").as_string(), get(value, "fingerprint").as_string());
        if let (Some(step), Some(fingerprint)) = (step, fingerprint) {
            return Key::from_parts(&step, fingerprint.parse()?);
        }
    }
    Err(err(
        ErrorKind::InvalidArgument,
        format!("expected a key made by cache.key(), got {}", describe(value)),
    ))
}

/// An array of keys.
pub(crate) fn keys_of(value: &JsValue) -> Result<Vec<Key>> {
    if !Array::is_array(value) {
        return Err(err(ErrorKind::InvalidArgument, "status() takes an array of keys"));
    }
    Array::from(value).iter().map(|k| key_of(&k)).collect()
}

/// A scalar or list parameter as a key argument.
fn scalar_arg(name: &str, value: &JsValue) -> Result<Arg> {
    if let Some(b) = value.as_bool() {
        return Ok(Arg::Bool(b));
    }
    if let Some(n) = value.as_f64() {
        return Ok(if n.fract() == 0.0 && n.abs() <= MAX_SAFE {
            Arg::Int(n as i128)
        } else {
            Arg::Float(n)
        });
    }
    if let Some(s) = value.as_string() {
        return Ok(Arg::Text(s));
    }
    if value.is_bigint() {
        let text = String::from(js_sys::BigInt::from(value.clone()).to_string(10).unwrap_or_default());
        return text.parse::<i128>().map(Arg::Int).map_err(|_| {
            err(
                ErrorKind::InvalidArgument,
                format!("parameter \"{name}\": {text} does not fit 128 bits"),
            )
        });
    }
    if Array::is_array(value) {
        let items: Result<Vec<Arg>> = Array::from(value).iter().map(|item| scalar_arg(name, &item)).collect();
        return items.map(Arg::List);
    }
    Err(err(
        ErrorKind::InvalidArgument,
        format!(
            "parameter \"{name}\" is {}: use a boolean, number, bigint, string, array of those, typed array, \
             {{data, shape}}, or a key (nested objects: flatten them into names like \"fit.tr\")",
            kind_of(value)
        ),
    ))
}

fn kind_of(value: &JsValue) -> String {
    if value.is_undefined() {
        "undefined".into()
    } else if value.is_null() {
        "null".into()
    } else if value.is_function() {
        "a function".into()
    } else if value.is_object() {
        "an object".into()
    } else {
        describe(value)
    }
}

fn add_param(builder: KeyBuilder, name: &str, value: &JsValue) -> Result<KeyBuilder> {
    if let Some((elem, bytes)) = typed_bytes(value) {
        let count = (bytes.len() / elem.size()) as u64;
        return Ok(builder.raw_array(name, elem, &[count], &bytes));
    }
    if value.is_object() && !Array::is_array(value) {
        if get(value, "fingerprint").is_string() {
            return Ok(builder.lineage(name, &key_of(value)?));
        }
        let data = get(value, "data");
        if let Some((elem, bytes)) = typed_bytes(&data) {
            let shape = shape_of(&get(value, "shape"), (bytes.len() / elem.size()) as u64, name)?;
            return Ok(builder.raw_array(name, elem, &shape, &bytes));
        }
    }
    Ok(builder.arg(name, scalar_arg(name, value)?))
}

/// Builds a key from `cache.key(step, params, {version, ignore, defaults})`.
pub(crate) fn build_key(step: &JsValue, params: &JsValue, options: &JsValue) -> Result<Key> {
    let step = step.as_string().ok_or_else(|| {
        err(
            ErrorKind::InvalidStepName,
            format!("the step name must be a string, got {}", kind_of(step)),
        )
    })?;
    let mut spec = Step::new(&step)?;
    if !options.is_undefined() && !options.is_null() {
        for (field, value) in entries(options, "the key options").map_err(as_argument)? {
            match field.as_str() {
                "version" => {
                    let v = value
                        .as_f64()
                        .filter(|v| v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(v));
                    let v = v.ok_or_else(|| {
                        err(
                            ErrorKind::InvalidArgument,
                            "version must be a whole number from 0 to 2^32-1",
                        )
                    })?;
                    spec = spec.version(v as u32);
                }
                "ignore" => {
                    let names = string_list(&value, "ignore")?;
                    for name in names {
                        spec = spec.ignore(&name);
                    }
                }
                "defaults" => {
                    for (name, v) in entries(&value, "defaults").map_err(as_argument)? {
                        spec = spec.default_arg(&name, scalar_arg(&name, &v)?);
                    }
                }
                other => {
                    return Err(err(
                        ErrorKind::InvalidArgument,
                        format!("unknown key option \"{other}\"; use version, ignore, defaults"),
                    ));
                }
            }
        }
    }
    let mut builder = spec.key();
    if !params.is_undefined() && !params.is_null() {
        for (name, value) in entries(params, "the parameters").map_err(as_argument)? {
            builder = add_param(builder, &name, &value)?;
        }
    }
    builder.build()
}

fn as_argument(e: Error) -> Error {
    err(ErrorKind::InvalidArgument, e.message())
}

fn string_list(value: &JsValue, what: &str) -> Result<Vec<String>> {
    let bad = || {
        err(
            ErrorKind::InvalidArgument,
            format!("{what} must be an array of strings"),
        )
    };
    if !Array::is_array(value) {
        return Err(bad());
    }
    Array::from(value)
        .iter()
        .map(|v| v.as_string().ok_or_else(bad))
        .collect()
}

// ----- values -----------------------------------------------------------------------

/// The element type and a copy of the bytes of a typed array or ArrayBuffer.
///
/// `to_vec` copies into memory it does not zero first (a zeroed buffer would cost a
/// second pass over a large map).
fn typed_bytes(value: &JsValue) -> Option<(ElementType, Vec<u8>)> {
    let elem = if value.is_instance_of::<js_sys::Float32Array>() {
        ElementType::F32
    } else if value.is_instance_of::<js_sys::Float64Array>() {
        ElementType::F64
    } else if value.is_instance_of::<js_sys::Uint8Array>() {
        ElementType::U8
    } else if value.is_instance_of::<js_sys::Uint8ClampedArray>() {
        ElementType::U8Clamped
    } else if value.is_instance_of::<js_sys::Int8Array>() {
        ElementType::I8
    } else if value.is_instance_of::<js_sys::Int16Array>() {
        ElementType::I16
    } else if value.is_instance_of::<js_sys::Uint16Array>() {
        ElementType::U16
    } else if value.is_instance_of::<js_sys::Int32Array>() {
        ElementType::I32
    } else if value.is_instance_of::<js_sys::Uint32Array>() {
        ElementType::U32
    } else if value.is_instance_of::<js_sys::BigInt64Array>() {
        ElementType::I64
    } else if value.is_instance_of::<js_sys::BigUint64Array>() {
        ElementType::U64
    } else if value.is_instance_of::<ArrayBuffer>() {
        return Some((ElementType::Bytes, Uint8Array::new(value).to_vec()));
    } else {
        return None;
    };
    let buffer = get(value, "buffer");
    let offset = get(value, "byteOffset").as_f64()? as u32;
    let length = get(value, "byteLength").as_f64()? as u32;
    let view = Uint8Array::new_with_byte_offset_and_length(&buffer, offset, length);
    Some((elem, view.to_vec()))
}

fn shape_of(value: &JsValue, count: u64, what: &str) -> Result<Vec<u64>> {
    if value.is_undefined() {
        return Ok(vec![count]);
    }
    let bad = || {
        err(
            ErrorKind::InvalidValue,
            format!("{what}: shape must be an array of whole numbers >= 0"),
        )
    };
    if !Array::is_array(value) {
        return Err(bad());
    }
    Array::from(value)
        .iter()
        .map(|d| {
            d.as_f64()
                .filter(|d| d.fract() == 0.0 && *d >= 0.0 && *d <= MAX_SAFE)
                .map(|d| d as u64)
                .ok_or_else(bad)
        })
        .collect()
}

/// A value from `{data, shape?, meta?}`.
pub(crate) fn value_from_js(value: &JsValue) -> Result<Value> {
    if !value.is_object() || Array::is_array(value) {
        return Err(err(
            ErrorKind::InvalidValue,
            format!(
                "a value is {{data, shape?, meta?}} with data a typed array or ArrayBuffer, got {}",
                kind_of(value)
            ),
        ));
    }
    let data = get(value, "data");
    let (elem, bytes) = typed_bytes(&data).ok_or_else(|| {
        err(
            ErrorKind::InvalidValue,
            format!(
                "value.data must be a typed array or ArrayBuffer, got {}",
                kind_of(&data)
            ),
        )
    })?;
    let count = (bytes.len() / elem.size()) as u64;
    let shape = shape_of(&get(value, "shape"), count, "value")?;
    let meta = get(value, "meta");
    let meta = if meta.is_undefined() {
        Vec::new()
    } else {
        let text = js_sys::JSON::stringify(&meta).map_err(|e| {
            err(
                ErrorKind::InvalidValue,
                format!("value.meta must be JSON-compatible: {}", describe(&e)),
            )
        })?;
        String::from(text).into_bytes()
    };
    Ok(Value::new(elem, shape, SharedBytes::from_owner(bytes))?.with_meta(meta))
}

/// A typed array (or ArrayBuffer) of the value's element type holding a copy of its bytes.
fn data_to_js(value: &Value) -> JsValue {
    let bytes: &[u8] = value.data();
    let n = (bytes.len() / value.element_type().size()) as u32;
    let array: JsValue = match value.element_type() {
        ElementType::Bytes => ArrayBuffer::new(bytes.len() as u32).into(),
        ElementType::U8 => js_sys::Uint8Array::new_with_length(n).into(),
        ElementType::U8Clamped => js_sys::Uint8ClampedArray::new_with_length(n).into(),
        ElementType::I8 => js_sys::Int8Array::new_with_length(n).into(),
        ElementType::U16 => js_sys::Uint16Array::new_with_length(n).into(),
        ElementType::I16 => js_sys::Int16Array::new_with_length(n).into(),
        ElementType::U32 => js_sys::Uint32Array::new_with_length(n).into(),
        ElementType::I32 => js_sys::Int32Array::new_with_length(n).into(),
        ElementType::U64 => js_sys::BigUint64Array::new_with_length(n).into(),
        ElementType::I64 => js_sys::BigInt64Array::new_with_length(n).into(),
        ElementType::F32 => js_sys::Float32Array::new_with_length(n).into(),
        ElementType::F64 => js_sys::Float64Array::new_with_length(n).into(),
    };
    let buffer = if array.is_instance_of::<ArrayBuffer>() {
        array.clone()
    } else {
        get(&array, "buffer")
    };
    // The one copy of a hit: from WebAssembly memory into the new array.
    Uint8Array::new(&buffer).copy_from(bytes);
    array
}

fn meta_to_js(meta: &[u8]) -> JsValue {
    if meta.is_empty() {
        return JsValue::UNDEFINED;
    }
    let text = String::from_utf8_lossy(meta);
    js_sys::JSON::parse(&text).unwrap_or_else(|_| JsValue::from(text.as_ref()))
}

fn source_name(source: Source) -> &'static str {
    match source {
        Source::Memory => "memory",
        Source::Store => "store",
        Source::Computed => "computed",
        Source::Shared => "shared",
    }
}

/// `{data, shape, meta, source, createdMs, costMs}`.
pub(crate) fn hit_to_js(hit: &Hit) -> JsValue {
    let out: JsValue = js_sys::Object::new().into();
    set(&out, "data", data_to_js(&hit.value));
    let shape: Array = hit.value.shape().iter().map(|&d| JsValue::from(d as f64)).collect();
    set(&out, "shape", shape);
    set(&out, "meta", meta_to_js(hit.value.meta()));
    set(&out, "source", source_name(hit.source));
    set(&out, "createdMs", hit.created_ms as f64);
    set(&out, "costMs", hit.cost_us as f64 / 1000.0);
    out
}

fn outcome_name(outcome: TierOutcome) -> String {
    match outcome {
        TierOutcome::Stored => "stored".into(),
        TierOutcome::Skipped(reason) => format!(
            "skipped:{}",
            match reason {
                SkipReason::Policy => "policy",
                SkipReason::WriteDisabled => "write-disabled",
                SkipReason::TooLarge => "too-large",
                SkipReason::NoRoom => "no-room",
            }
        ),
        TierOutcome::Failed(kind) => format!("failed:{}", kind.name()),
    }
}

/// `{memory, store}` outcomes.
pub(crate) fn report_to_js(report: &PutReport) -> JsValue {
    let out: JsValue = js_sys::Object::new().into();
    set(&out, "memory", outcome_name(report.memory));
    set(&out, "store", outcome_name(report.store));
    out
}

/// The cost in microseconds from `{costMs}` (default 0).
pub(crate) fn cost_us(options: &JsValue) -> Result<u64> {
    if options.is_undefined() || options.is_null() {
        return Ok(0);
    }
    let cost = get(options, "costMs");
    if cost.is_undefined() {
        return Ok(0);
    }
    match cost.as_f64() {
        Some(ms) if ms.is_finite() && ms >= 0.0 => Ok((ms * 1000.0) as u64),
        _ => Err(err(
            ErrorKind::InvalidArgument,
            "costMs must be a number of milliseconds >= 0",
        )),
    }
}

/// `value` as a function.
pub(crate) fn function(value: &JsValue, what: &str) -> Result<Function> {
    value.dyn_ref::<Function>().cloned().ok_or_else(|| {
        err(
            ErrorKind::InvalidArgument,
            format!("{what} must be a function, got {}", kind_of(value)),
        )
    })
}

/// Calls the caller's compute function and awaits what it returns.
pub(crate) async fn call_compute(compute: Function) -> Result<Value> {
    let failed = |e: JsValue| err(ErrorKind::Compute, describe(&e));
    let returned = compute.call0(&JsValue::UNDEFINED).map_err(failed)?;
    let value = JsFuture::from(Promise::resolve(&returned)).await.map_err(failed)?;
    value_from_js(&value)
}

// ----- reports ----------------------------------------------------------------------

fn tier_to_js(t: &TierStats) -> JsValue {
    let out: JsValue = js_sys::Object::new().into();
    for (name, v) in [
        ("hits", t.hits),
        ("misses", t.misses),
        ("bytes", t.bytes),
        ("entries", t.entries),
        ("budget", t.budget),
        ("evictions", t.evictions),
        ("expired", t.expired),
    ] {
        set(&out, name, v as f64);
    }
    out
}

/// The `Stats` object of the d.ts.
pub(crate) fn stats_to_js(stats: &Stats, storage: &StorageReport) -> JsValue {
    let out: JsValue = js_sys::Object::new().into();
    set(&out, "memory", tier_to_js(&stats.memory));
    set(&out, "store", tier_to_js(&stats.store));
    let types: Array = stats
        .types
        .iter()
        .map(|t| {
            let o: JsValue = js_sys::Object::new().into();
            set(&o, "step", t.step.as_str());
            set(&o, "hits", t.hits as f64);
            set(&o, "misses", t.misses as f64);
            set(&o, "puts", t.puts as f64);
            set(&o, "computes", t.computes as f64);
            set(&o, "computeMs", t.compute_us as f64 / 1000.0);
            set(&o, "savedMs", t.saved_us as f64 / 1000.0);
            o
        })
        .collect();
    set(&out, "types", types);
    set(&out, "hitRate", stats.hit_rate());
    set(&out, "savedMs", stats.saved_us() as f64 / 1000.0);
    set(&out, "corruptRemoved", stats.corrupt_removed as f64);
    set(&out, "sharedComputes", stats.shared_computes as f64);
    let s: JsValue = js_sys::Object::new().into();
    set(&s, "usage", storage.usage.map_or(JsValue::NULL, JsValue::from));
    set(&s, "quota", storage.quota.map_or(JsValue::NULL, JsValue::from));
    set(&s, "persisted", storage.persisted.map_or(JsValue::NULL, JsValue::from));
    set(&out, "storage", s);
    out
}

/// The `EntryInfo[]` of the d.ts.
pub(crate) fn entries_to_js(entries: &[EntryInfo]) -> JsValue {
    entries
        .iter()
        .map(|e| {
            let o: JsValue = js_sys::Object::new().into();
            set(&o, "key", format!("{}@{}", e.step, e.fingerprint));
            set(&o, "step", e.step.as_str());
            set(&o, "bytes", e.bytes as f64);
            set(&o, "createdMs", e.created_ms as f64);
            set(&o, "costMs", e.cost_us as f64 / 1000.0);
            set(&o, "hits", e.hits as f64);
            set(&o, "inMemory", e.in_memory);
            set(&o, "stored", e.stored);
            o
        })
        .collect::<Array>()
        .into()
}

/// The `Status[]` of the d.ts.
pub(crate) fn statuses_to_js(statuses: &[Status]) -> JsValue {
    statuses
        .iter()
        .map(|s| {
            let o: JsValue = js_sys::Object::new().into();
            set(&o, "key", s.key.to_string());
            let state = match s.state {
                EntryState::Memory => "memory",
                EntryState::Stored => "stored",
                EntryState::Expired => "expired",
                EntryState::Forced => "forced",
                EntryState::Missing => "missing",
            };
            set(&o, "state", state);
            set(
                &o,
                "createdMs",
                s.created_ms.map_or(JsValue::NULL, |v| JsValue::from(v as f64)),
            );
            set(
                &o,
                "costMs",
                s.cost_us.map_or(JsValue::NULL, |v| JsValue::from(v as f64 / 1000.0)),
            );
            o
        })
        .collect::<Array>()
        .into()
}

// ----- switches ---------------------------------------------------------------------

/// `true` (all), `false` (none), or step names.
pub(crate) fn force_of(value: &JsValue) -> Result<Force> {
    if let Some(all) = value.as_bool() {
        return Ok(if all { Force::All } else { Force::None });
    }
    if Array::is_array(value) {
        return Ok(Force::Steps(string_list(value, "setForce()")?));
    }
    Err(err(
        ErrorKind::InvalidArgument,
        "setForce() takes true, false, or an array of step names",
    ))
}

/// `"rcw"` letters.
pub(crate) fn access_of(value: &JsValue) -> Result<Access> {
    value
        .as_string()
        .ok_or_else(|| {
            err(
                ErrorKind::InvalidConfig,
                "setAccess() takes a string of the letters r, c, w",
            )
        })?
        .parse()
}

/// An optional step name (`clear()`), checked.
pub(crate) fn optional_step(value: &JsValue) -> Result<Option<String>> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    let step = value.as_string().ok_or_else(|| {
        err(
            ErrorKind::InvalidStepName,
            format!("clear() takes a step name or nothing, got {}", kind_of(value)),
        )
    })?;
    stepcache_core::validate_step_name(&step)?;
    Ok(Some(step))
}
