//! The demo viewer's pipeline (www/worker.js) in Rust: the same three steps, keyed
//! exactly as the viewer keys them, with values of the same layout and metadata, so a
//! native program can fill a shared bucket that the viewer then reads instead of
//! computing.
//!
//! | step | key (as worker.js builds it) | value |
//! |---|---|---|
//! | `phantom` | the generator's settings ([`phantom::Params`]) | f32 `[nf, nz, ny, nx]` |
//! | `t1_map` | `trMs`, `flipDeg`, the fit settings, and the phantom's bytes as `signal` | f32 `[2, nz, ny, nx]`: T1, T1 SD |
//! | `r1_smooth` | lineage on the T1 hit as `t1`, `sigmaVox` | f32 `[nz, ny, nx]` |
//!
//! Each step is version 1. Argument names are the JavaScript's (camelCase), and numbers
//! are keyed by value, so `15.0` here and `15` there are one key. The T1 key hashes the
//! phantom bytes that were read, and the R1 key binds the T1 hit's key and content: a
//! viewer that reads this program's phantom from the bucket builds this program's T1 and
//! R1 keys, although its own phantom code would give slightly different bytes.

pub mod fit;
pub mod phantom;
pub mod rng;
pub mod smooth;

use serde_json::json;
use stepcache::{Hit, Key, Result, Retention, Step, TypePolicy, Value};

use phantom::{Params, Phantom};

/// The steps' version (`{ version: 1 }` in worker.js).
pub const VERSION: u32 = 1;
/// The Gaussian's width for R1, voxels.
pub const SIGMA_VOX: f64 = 1.0;
/// How long the viewer keeps each result: 30 days.
pub const MAX_AGE_MS: u64 = 30 * 86_400_000;

/// The viewer's policies, shared: each type is kept on disk for 30 days, read from and
/// written to the shared tier, and R1 (a smooth map) is stored compressed.
pub fn policies() -> [(&'static str, TypePolicy); 3] {
    let kept = TypePolicy::new(Retention::Persistent)
        .max_age_ms(MAX_AGE_MS)
        .shared(true);
    [("phantom", kept), ("t1_map", kept), ("r1_smooth", kept.compress(true))]
}

/// The key of the phantom of `p`: `cache.key("phantom", {...DEFAULTS, trMs}, {version: 1})`.
///
/// # Errors
/// None in practice: the names and values are valid.
pub fn phantom_key(p: &Params) -> Result<Key> {
    Step::new("phantom")?
        .version(VERSION)
        .key()
        .arg("nx", p.nx)
        .arg("ny", p.ny)
        .arg("nz", p.nz)
        .arg("voxelMm", p.voxel_mm)
        .arg("flipDeg", p.flip_deg.as_slice())
        .arg("trMs", p.tr_ms)
        .arg("m0", p.m0)
        .arg("noiseSigma", p.noise_sigma)
        .arg("seed", p.seed)
        .build()
}

/// The key of the T1 map of the phantom hit `signal`:
/// `cache.key("t1_map", {trMs, flipDeg, signal: {data, shape}, ...FIT}, {version: 1})`.
///
/// # Errors
/// None in practice: the names and values are valid.
pub fn t1_key(p: &Params, fit: &fit::Settings, signal: &Hit) -> Result<Key> {
    Step::new("t1_map")?
        .version(VERSION)
        .key()
        .arg("trMs", p.tr_ms)
        .arg("flipDeg", p.flip_deg.as_slice())
        .value("signal", &signal.value)
        .arg("t1MaxMs", fit.t1_max_ms)
        .arg("snrMin", fit.snr_min)
        .arg("bootstrap", fit.bootstrap)
        .build()
}

/// The key of the smoothed R1 map of the T1 hit `t1`:
/// `cache.key("r1_smooth", {t1, sigmaVox: 1}, {version: 1})`.
///
/// # Errors
/// None in practice: the names and values are valid.
pub fn r1_key(t1: &Hit) -> Result<Key> {
    Step::new("r1_smooth")?
        .version(VERSION)
        .key()
        .lineage("t1", t1)
        .arg("sigmaVox", SIGMA_VOX)
        .build()
}

/// Metadata as the npm package stores it: JSON text.
fn meta(value: &serde_json::Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

/// The phantom's value: its signal, with the metadata worker.js gives it.
///
/// # Errors
/// If the signal's length does not match `p`'s shape.
pub fn phantom_value(p: &Params, phantom: Phantom) -> Result<Value> {
    let value = Value::array(phantom.signal, &p.shape())?;
    Ok(value.with_meta(meta(&json!({
        "units": "a.u.",
        "trMs": p.tr_ms,
        "flipDeg": p.flip_deg,
        "voxelMm": p.voxel_mm,
        "noiseSigma": p.noise_sigma,
        "seed": p.seed,
    }))))
}

/// The T1 value: T1 then T1 SD, `[2, nz, ny, nx]`, with the fit's figures as metadata
/// (the viewer shows `fitted`, `meanIterations` and `bootstrap`). No timings: the
/// metadata is part of the content R1's lineage key binds.
///
/// # Errors
/// If the maps' length does not match `p`'s shape.
pub fn t1_value(p: &Params, fit: fit::T1Fit) -> Result<Value> {
    let fit::T1Fit { mut t1, t1_sd, info } = fit;
    t1.extend_from_slice(&t1_sd);
    let value = Value::array(t1, &[2, p.nz, p.ny, p.nx])?;
    Ok(value.with_meta(meta(&json!({
        "channels": ["T1", "T1 SD"],
        "units": "ms",
        "method": "DESPOT1 linear fit + Levenberg-Marquardt, parametric bootstrap SD",
        "trMs": p.tr_ms,
        "flipDeg": p.flip_deg,
        "voxelMm": p.voxel_mm,
        "sigma": info.sigma,
        "threshold": info.threshold,
        "fitted": info.fitted,
        "rejected": info.rejected,
        "clamped": info.clamped,
        "bootstrap": info.bootstrap,
        "meanIterations": info.mean_iterations,
        "meanSdMs": info.mean_sd_ms,
    }))))
}

/// The smoothed R1 value, `[nz, ny, nx]`, naming the T1 key it came from.
///
/// # Errors
/// If the map's length does not match `p`'s shape.
pub fn r1_value(p: &Params, r1: Vec<f32>, t1_key: &Key) -> Result<Value> {
    let value = Value::array(r1, &[p.nz, p.ny, p.nx])?;
    Ok(value.with_meta(meta(&json!({
        "units": "1/s",
        "sigmaVox": SIGMA_VOX,
        "from": t1_key.to_string(),
    }))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phantom_key_is_the_viewers() {
        // The key www/worker.js builds for TR 15 ms with its DEFAULTS (the end-to-end test
        // checks the viewer's keys against this program's; this pins the one that depends
        // on parameters only). 15.0 and 1.0 here key as the integers 15 and 1 there.
        let key = phantom_key(&Params::default()).expect("a key");
        assert_eq!(
            key.to_string(),
            "phantom@b3:1f05445b36292f427a8c580c67e6f43aa97f6535886afe3bfa40052d595ccaea"
        );
    }
}
