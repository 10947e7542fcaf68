//! The options object of `open()`, checked strictly: an unknown key or a bad value is an
//! `InvalidConfig` error naming the option, never silently ignored.

use js_sys::Object;
use stepcache_core::{Access, Config, ErrorKind, Result, Retention, TypePolicy};
use wasm_bindgen::{JsCast, JsValue};

use crate::errors::err;

/// What `open()` was asked for.
pub(crate) struct Options {
    pub(crate) name: String,
    pub(crate) config: Config,
    pub(crate) persist: bool,
    pub(crate) broadcast: bool,
    pub(crate) locks: bool,
}

const KNOWN: [&str; 11] = [
    "name",
    "memoryBudget",
    "storeBudget",
    "defaultPolicy",
    "policies",
    "maxAgeMs",
    "compression",
    "access",
    "persist",
    "broadcast",
    "locks",
];

fn invalid(message: impl Into<String>) -> stepcache_core::Error {
    err(ErrorKind::InvalidConfig, message)
}

/// The entries of a plain object, or an error naming `what`.
pub(crate) fn entries(value: &JsValue, what: &str) -> Result<Vec<(String, JsValue)>> {
    let object = value
        .dyn_ref::<Object>()
        .filter(|_| !value.is_function() && !js_sys::Array::is_array(value))
        .ok_or_else(|| invalid(format!("{what} must be a plain object")))?;
    Ok(Object::entries(object)
        .iter()
        .map(|pair| {
            let pair: js_sys::Array = pair.unchecked_into();
            (pair.get(0).as_string().unwrap_or_default(), pair.get(1))
        })
        .collect())
}

/// A byte count: a finite, non-negative integer up to 2^53.
fn bytes(value: &JsValue, what: &str) -> Result<u64> {
    match value.as_f64() {
        Some(n) if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_992.0 => Ok(n as u64),
        _ => Err(invalid(format!(
            "{what} must be a non-negative whole number, got {}",
            crate::errors::describe(value)
        ))),
    }
}

/// A positive number of milliseconds.
pub(crate) fn age(value: &JsValue, what: &str) -> Result<u64> {
    match bytes(value, what)? {
        0 => Err(invalid(format!("{what} must be positive (leave it out for no limit)"))),
        n => Ok(n),
    }
}

fn flag(value: &JsValue, what: &str) -> Result<bool> {
    value
        .as_bool()
        .ok_or_else(|| invalid(format!("{what} must be true or false")))
}

fn text(value: &JsValue, what: &str) -> Result<String> {
    value
        .as_string()
        .ok_or_else(|| invalid(format!("{what} must be a string")))
}

/// A policy: a retention name, or `{retention, maxAgeMs?, compress?}`.
fn policy(value: &JsValue, what: &str, base: TypePolicy) -> Result<TypePolicy> {
    if let Some(name) = value.as_string() {
        return Ok(TypePolicy {
            retention: name
                .parse()
                .map_err(|e: stepcache_core::Error| invalid(format!("{what}: {}", e.message())))?,
            ..base
        });
    }
    let mut out = base;
    let mut has_retention = false;
    for (key, v) in entries(value, what)? {
        match key.as_str() {
            "retention" => {
                out.retention = text(&v, &format!("{what}.retention"))?
                    .parse::<Retention>()
                    .map_err(|e| invalid(format!("{what}.retention: {}", e.message())))?;
                has_retention = true;
            }
            "maxAgeMs" => out.max_age_ms = Some(age(&v, &format!("{what}.maxAgeMs"))?),
            "compress" => out.compress = flag(&v, &format!("{what}.compress"))?,
            other => {
                return Err(invalid(format!(
                    "{what} has an unknown field \"{other}\"; use retention, maxAgeMs, compress"
                )));
            }
        }
    }
    if !has_retention {
        return Err(invalid(format!(
            "{what} needs a retention: \"transient\", \"memory\" or \"persistent\""
        )));
    }
    Ok(out)
}

/// Reads the options object (`undefined` means all defaults).
pub(crate) fn parse(value: &JsValue) -> Result<Options> {
    let mut options = Options {
        name: "stepcache".into(),
        config: Config::new(),
        persist: false,
        broadcast: true,
        locks: true,
    };
    if value.is_undefined() || value.is_null() {
        return Ok(options);
    }
    let fields = entries(value, "the options")?;
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .filter(|v| !v.is_undefined())
    };
    for (key, _) in &fields {
        if !KNOWN.contains(&key.as_str()) {
            return Err(invalid(format!(
                "unknown option \"{key}\"; the options are {}",
                KNOWN.join(", ")
            )));
        }
    }
    let mut config = Config::new();
    if let Some(v) = get("name") {
        options.name = text(v, "name")?;
        if options.name.is_empty() {
            return Err(invalid("name must not be empty"));
        }
    }
    if let Some(v) = get("memoryBudget") {
        config = config.memory_budget(bytes(v, "memoryBudget")?);
    }
    if let Some(v) = get("storeBudget") {
        config = config.store_budget(bytes(v, "storeBudget")?);
    }
    let mut default = TypePolicy::new(Retention::Persistent);
    if let Some(v) = get("maxAgeMs") {
        default.max_age_ms = Some(age(v, "maxAgeMs")?);
    }
    if let Some(v) = get("compression") {
        default.compress = flag(v, "compression")?;
    }
    if let Some(v) = get("defaultPolicy") {
        default = policy(v, "defaultPolicy", default)?;
    }
    config = config.default_policy(default);
    if let Some(v) = get("policies") {
        for (step, p) in entries(v, "policies")? {
            let p = policy(&p, &format!("policies[\"{step}\"]"), default)?;
            config = config.type_policy(&step, p)?;
        }
    }
    if let Some(v) = get("access") {
        config = config.access(text(v, "access")?.parse::<Access>()?);
    }
    if let Some(v) = get("persist") {
        options.persist = flag(v, "persist")?;
    }
    if let Some(v) = get("broadcast") {
        options.broadcast = flag(v, "broadcast")?;
    }
    if let Some(v) = get("locks") {
        options.locks = flag(v, "locks")?;
    }
    options.config = config;
    Ok(options)
}
