//! The shared tier from Python: which bucket it is on, the filter of the calls that move
//! entries (bundles, push, pull), and what those calls report.

use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use stepcache::{ExportFilter, Fingerprint, ObjectConfig, Step, Transfer};

use crate::errors::IntoPy;

/// The bucket `given` names: `True` for the one the environment names (`STEPCACHE_BUCKET`,
/// `STEPCACHE_PREFIX` and the usual `AWS_*` variables), a bucket name, or a dict of
/// `bucket`, `endpoint`, `prefix`, `region`, `access_key_id`, `secret_access_key`,
/// `session_token`, `timeout` (seconds) and `retries`, each over what the environment says.
pub(crate) fn bucket(given: &Bound<'_, PyAny>) -> PyResult<ObjectConfig> {
    let config = ObjectConfig::from_env();
    if given.is_instance_of::<pyo3::types::PyBool>() {
        return match given.extract::<bool>()? {
            true => Ok(config),
            false => Err(PyTypeError::new_err(
                "shared=False: leave shared unset for no shared tier",
            )),
        };
    }
    if given.is_instance_of::<PyString>() {
        return Ok(config.bucket(&given.extract::<String>()?));
    }
    let Ok(fields) = given.cast::<PyDict>() else {
        return Err(PyTypeError::new_err(
            "shared is True (the environment's bucket), a bucket name, or a dict of bucket, endpoint, \
             prefix, region, access_key_id, secret_access_key, session_token, timeout and retries",
        ));
    };
    let mut config = config;
    let (mut key_id, mut secret) = (None, None);
    for (field, value) in fields.iter() {
        let field: String = field.extract()?;
        config = match field.as_str() {
            "bucket" => config.bucket(&value.extract::<String>()?),
            "endpoint" => config.endpoint(&value.extract::<String>()?),
            "prefix" => config.prefix(&value.extract::<String>()?),
            "region" => config.region(&value.extract::<String>()?),
            "session_token" => config.session_token(&value.extract::<String>()?),
            "timeout" => config.timeout(seconds(value.extract()?, "timeout")?),
            "retries" => config.retries(value.extract()?),
            "access_key_id" => {
                key_id = Some(value.extract::<String>()?);
                config
            }
            "secret_access_key" => {
                secret = Some(value.extract::<String>()?);
                config
            }
            other => {
                return Err(PyTypeError::new_err(format!(
                    "unknown shared field \"{other}\": use bucket, endpoint, prefix, region, access_key_id, \
                     secret_access_key, session_token, timeout, retries"
                )));
            }
        };
    }
    match (key_id, secret) {
        (Some(id), Some(secret)) => Ok(config.credentials(&id, &secret)),
        (None, None) => Ok(config),
        _ => Err(PyTypeError::new_err(
            "shared credentials are access_key_id and secret_access_key together",
        )),
    }
}

/// `value` seconds as a duration, or a `TypeError` naming `what`.
pub(crate) fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| PyTypeError::new_err(format!("{what} is a positive number of seconds, got {value}")))
}

/// A team key's secret: `str` (its UTF-8 bytes) or `bytes`.
pub(crate) fn secret(given: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if given.is_instance_of::<PyString>() {
        return Ok(given.extract::<String>()?.into_bytes());
    }
    if let Ok(bytes) = given.cast::<PyBytes>() {
        return Ok(bytes.as_bytes().to_vec());
    }
    Err(PyTypeError::new_err("team_key is a str or bytes secret"))
}

/// The entries of `step` only (all if `None`), created at or after `since` seconds since
/// the epoch only (all if `None`).
pub(crate) fn filter(step: Option<String>, since: Option<f64>) -> PyResult<ExportFilter> {
    if let Some(step) = &step {
        Step::new(step).py()?;
    }
    Ok(ExportFilter {
        step,
        since_ms: since.map(|s| (s.max(0.0) * 1000.0) as u64),
    })
}

/// `(key fingerprint, reason)` pairs of entries refused.
pub(crate) fn refused(refused: &[(Fingerprint, String)]) -> Vec<(String, String)> {
    refused.iter().map(|(id, why)| (id.to_string(), why.clone())).collect()
}

/// What a push or pull did: `{"copied", "present", "skipped", "refused", "bytes"}`.
pub(crate) fn transfer<'py>(py: Python<'py>, t: &Transfer) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("copied", t.copied)?;
    d.set_item("present", t.present)?;
    d.set_item("skipped", t.skipped)?;
    d.set_item("refused", refused(&t.refused))?;
    d.set_item("bytes", t.bytes)?;
    Ok(d)
}
