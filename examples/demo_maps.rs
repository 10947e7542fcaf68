//! The demo viewer's maps, computed natively into a shared bucket.
//!
//! Computes the three steps of the demo viewer (www/) — the simulated phantom, its T1 map
//! with bootstrap SD, the smoothed R1 map — for one TR with the viewer's settings, keyed
//! exactly as the viewer keys them (see `demo/mod.rs`), through `get_or_compute` on a
//! cache whose shared tier is a bucket. A viewer pointed at the bucket
//! (`?shared=<bucket prefix URL>`) then finds all three there and computes nothing.
//!
//! ```text
//! cargo run --release -p stepcache-examples --bin demo_maps -- \
//!     --endpoint http://127.0.0.1:8333 --bucket stepcache --prefix demo/ \
//!     --access-key KEY --secret-key SECRET [--tr-ms 15] [--dir DIR]
//! ```
//!
//! Options not given come from the environment as `ObjectConfig::from_env` reads it
//! (`STEPCACHE_BUCKET`, `STEPCACHE_PREFIX`, `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ...).
//! `--dir` is the local store; without it a new temporary directory is used (and removed),
//! so values come from the bucket or are computed. A run that finds a value in its local
//! store does not write it to the bucket again.
//!
//! Prints each step's source, time and key. Fails (non-zero exit) if a computed value
//! could not be written to the bucket, or if the mean white-matter T1 is more than 5% off
//! the phantom's truth.

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use stepcache::{Cache, Hit, Key, ObjectConfig, Result, TierOutcome, Value};
use stepcache_examples::demo::{self, fit, phantom, smooth};
use stepcache_examples::report::{describe, ms};

const USAGE: &str = "usage: demo_maps [--tr-ms MS] [--dir DIR] [--endpoint URL] [--bucket NAME] \
                     [--prefix PREFIX] [--region REGION] [--access-key KEY] [--secret-key SECRET]";

/// The command line; bucket settings not given come from the environment.
#[derive(Default)]
struct Args {
    tr_ms: Option<f64>,
    dir: Option<PathBuf>,
    endpoint: Option<String>,
    bucket: Option<String>,
    prefix: Option<String>,
    region: Option<String>,
    access_key: Option<String>,
    secret_key: Option<String>,
}

impl Args {
    fn parse() -> std::result::Result<Args, String> {
        let mut args = Args::default();
        let mut given = std::env::args().skip(1);
        while let Some(flag) = given.next() {
            let slot = match flag.as_str() {
                "--tr-ms" => {
                    let value = given.next().ok_or(USAGE)?;
                    let tr_ms: f64 = value.parse().map_err(|_| format!("--tr-ms {value}: not a number"))?;
                    if !(tr_ms > 0.0 && tr_ms.is_finite()) {
                        return Err(format!("--tr-ms must be positive, got {value}"));
                    }
                    args.tr_ms = Some(tr_ms);
                    continue;
                }
                "--dir" => {
                    args.dir = Some(given.next().ok_or(USAGE)?.into());
                    continue;
                }
                "--endpoint" => &mut args.endpoint,
                "--bucket" => &mut args.bucket,
                "--prefix" => &mut args.prefix,
                "--region" => &mut args.region,
                "--access-key" => &mut args.access_key,
                "--secret-key" => &mut args.secret_key,
                _ => return Err(format!("unknown option {flag}\n{USAGE}")),
            };
            *slot = Some(given.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?);
        }
        Ok(args)
    }

    /// The bucket: `ObjectConfig::from_env`, with what the command line gives on top.
    fn bucket(&self) -> ObjectConfig {
        let mut config = ObjectConfig::from_env();
        if let Some(endpoint) = &self.endpoint {
            config = config.endpoint(endpoint);
        }
        if let Some(bucket) = &self.bucket {
            config = config.bucket(bucket);
        }
        if let Some(prefix) = &self.prefix {
            config = config.prefix(prefix);
        }
        if let Some(region) = &self.region {
            config = config.region(region);
        }
        if self.access_key.is_some() || self.secret_key.is_some() {
            let env = |name| std::env::var(name).unwrap_or_default();
            let key = self.access_key.clone().unwrap_or_else(|| env("AWS_ACCESS_KEY_ID"));
            let secret = self.secret_key.clone().unwrap_or_else(|| env("AWS_SECRET_ACCESS_KEY"));
            config = config.credentials(&key, &secret);
        }
        config
    }

    /// Where a browser reads the bucket prefix, path-style: `<endpoint>/<bucket>/<prefix>`
    /// (if the endpoint is known).
    fn read_url(&self, config: &ObjectConfig) -> Option<String> {
        let or_env = |given: &Option<String>, name| given.clone().or_else(|| std::env::var(name).ok());
        let endpoint = or_env(&self.endpoint, "AWS_ENDPOINT_URL")?;
        let bucket = or_env(&self.bucket, "STEPCACHE_BUCKET")?;
        Some(format!(
            "{}/{bucket}/{}",
            endpoint.trim_end_matches('/'),
            config.prefix_text()
        ))
    }
}

/// Runs one step through `get_or_compute`, prints what happened, and fails if a value it
/// computed did not reach the bucket.
fn step(cache: &Cache, key: &Key, compute: impl FnOnce() -> Result<Value>) -> std::result::Result<Hit, Box<dyn Error>> {
    let start = Instant::now();
    let hit = cache.get_or_compute(key, compute)?;
    println!(
        "{:<10} {:<16} {:>12}  {key}",
        key.step(),
        describe(hit.source),
        ms(start.elapsed())
    );
    if let Some(report) = hit.stored
        && report.shared != TierOutcome::Stored
    {
        return Err(format!("{key} was computed but not written to the bucket: {:?}", report.shared).into());
    }
    Ok(hit)
}

/// A temporary directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(args) => args,
        Err(usage) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo_maps: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> std::result::Result<(), Box<dyn Error>> {
    let params = phantom::Params {
        tr_ms: args.tr_ms.unwrap_or(phantom::Params::default().tr_ms),
        ..phantom::Params::default()
    };
    let settings = fit::Settings::default();
    let bucket = args.bucket();
    let (dir, _temporary) = match &args.dir {
        Some(dir) => (dir.clone(), None),
        None => {
            let dir = std::env::temp_dir().join(format!("stepcache-demo-maps-{}", std::process::id()));
            (dir.clone(), Some(TempDir(dir)))
        }
    };
    println!("local store: {}", dir.display());
    if let Some(url) = args.read_url(&bucket) {
        println!("bucket: {url}");
    }

    let mut builder = Cache::builder().dir(&dir).shared(bucket.clone());
    for (step, policy) in demo::policies() {
        builder = builder.policy(step, policy);
    }
    let cache = builder.open()?;
    let start = Instant::now();

    let phantom_hit = step(&cache, &demo::phantom_key(&params)?, || {
        demo::phantom_value(&params, phantom::simulate(&params))
    })?;
    let shape: [usize; 4] = phantom_hit
        .value
        .shape()
        .iter()
        .map(|&d| d as usize)
        .collect::<Vec<_>>()
        .try_into()
        .map_err(|_| "the phantom is not a 4D volume")?;
    let signal: &[f32] = phantom_hit.value.as_slice()?;

    let hashing = Instant::now();
    let t1_key = demo::t1_key(&params, &settings, &phantom_hit)?;
    println!(
        "{:<10} {:<16} {:>12}  ({:.0} MiB of signal hashed)",
        "",
        "t1_map key",
        ms(hashing.elapsed()),
        (signal.len() * 4) as f64 / f64::from(1u32 << 20)
    );
    let t1_hit = step(&cache, &t1_key, || {
        let fit = fit::fit_t1(signal, shape, &params.flip_deg, params.tr_ms, &settings)
            .map_err(|e| stepcache::Error::new(stepcache::ErrorKind::Compute, e))?;
        demo::t1_value(&params, fit)
    })?;
    let maps: &[f32] = t1_hit.value.as_slice()?;
    let (t1_map, _sd_map) = maps.split_at(params.voxels());

    let r1_hit = step(&cache, &demo::r1_key(&t1_hit)?, || {
        let r1 = smooth::smooth_r1(t1_map, [params.nz, params.ny, params.nx], demo::SIGMA_VOX);
        demo::r1_value(&params, r1, &t1_key)
    })?;
    println!("{:<10} {:<16} {:>12}", "all", "", ms(start.elapsed()));
    let r1_map: &[f32] = r1_hit.value.as_slice()?;

    // Check the map against the anatomy it was simulated from, whoever computed it.
    let truth = phantom::truth(&params);
    let white = |map: &[f32]| {
        let (sum, n) = map
            .iter()
            .zip(&truth.white)
            .filter(|&(&v, &white)| white && v > 0.0)
            .fold((0.0, 0usize), |(sum, n), (&v, _)| (sum + f64::from(v), n + 1));
        sum / n.max(1) as f64
    };
    let fitted_wm = white(t1_map);
    let true_wm = white(&truth.t1);
    let error = (fitted_wm - true_wm) / true_wm;
    println!(
        "white matter: T1 {fitted_wm:.1} ms (true {true_wm:.1} ms, error {:+.2}%), smoothed R1 {:.3} /s",
        error * 100.0,
        white(r1_map)
    );
    println!("{}", cache.stats()?);
    if error.is_nan() || error.abs() > 0.05 {
        return Err(format!("white-matter T1 is {:+.2}% off the truth (more than 5%)", error * 100.0).into());
    }
    Ok(())
}
