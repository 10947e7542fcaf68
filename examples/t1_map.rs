//! Caching an expensive imaging step: a T1 map fitted from a variable-flip-angle scan.
//!
//! The example builds a synthetic 128x128x64 spoiled gradient echo (SPGR) phantom acquired
//! at four flip angles (air, CSF, grey and white matter in nested ellipsoids, a small
//! lesion, a smooth M0 bias field and deterministic Gaussian noise), then fits a T1 map per
//! voxel: the linear DESPOT1 fit gives a start, refined by Levenberg-Marquardt on the SPGR
//! signal equation, and a parametric bootstrap gives each voxel's T1 standard deviation
//! (the cached result holds both maps, shape `[2, 64, 128, 128]`). The fit runs through
//! [`Cache::get_or_compute`] under a key of the step name, its version, TR, the flip
//! angles, the bootstrap size and the input volume (hashed in place):
//!
//! 1. the first session computes the map (or finds it on disk from an earlier run);
//! 2. a second session on the same directory finds it in the store, and then in memory;
//! 3. a derived R1 map is keyed by lineage on the T1 hit (its key and the content identity
//!    of its value), so the chain never re-hashes the map, and a T1 map recomputed to
//!    other values would give the R1 map another key.
//!
//! Run with `cargo run --release -p stepcache-examples --bin t1_map -- [cache-dir]`; the
//! directory defaults to `stepcache-t1-example` in the system temporary directory. Run it
//! twice to see the second process find everything on disk from the start. The example
//! fails (non-zero exit) if the second session misses the store or the fit drifts more
//! than 5% from the true white-matter T1.

use std::error::Error;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use stepcache::{Cache, Hit, Key, Source, Stats, Step, Value};
use stepcache_examples::report::{describe, ms};
use stepcache_examples::spgr::{self, Normal};

/// Volume size, x fastest.
const NX: usize = 128;
const NY: usize = 128;
const NZ: usize = 64;
const NVOX: usize = NX * NY * NZ;
/// Repetition time, ms.
const TR_MS: f64 = 15.0;
/// Flip angles, degrees.
const FLIP_DEG: [f64; 4] = [2.0, 5.0, 10.0, 15.0];
/// Standard deviation of the additive noise (M0 is about 1000).
const NOISE_SIGMA: f64 = 0.5;

/// True tissue T1 values, ms.
const T1_CSF: f32 = 4000.0;
const T1_GM: f32 = 1400.0;
const T1_WM: f32 = 800.0;
const T1_LESION: f32 = 1100.0;

/// Tissue labels of the phantom.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tissue {
    Air,
    Csf,
    Grey,
    White,
    Lesion,
}

impl Tissue {
    /// True T1 (ms) and relative proton density.
    fn t1_pd(self) -> (f32, f64) {
        match self {
            Tissue::Air => (0.0, 0.0),
            Tissue::Csf => (T1_CSF, 1.0),
            Tissue::Grey => (T1_GM, 0.8),
            Tissue::White => (T1_WM, 0.7),
            Tissue::Lesion => (T1_LESION, 0.85),
        }
    }
}

/// A tiny xorshift64* generator: deterministic noise without extra crates.
struct XorShift(u64);

impl XorShift {
    /// A generator from any seed (xorshift must not start at 0).
    fn new(seed: u64) -> Self {
        XorShift(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in (0, 1].
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller, one of the pair).
    fn gaussian(&mut self) -> f64 {
        let r = (-2.0 * self.uniform().ln()).sqrt();
        r * (std::f64::consts::TAU * self.uniform()).cos()
    }
}

/// The synthetic acquisition and its ground truth.
struct Phantom {
    /// Signal, shape `[n_flip, NZ, NY, NX]`.
    signal: Vec<f32>,
    /// Tissue label per voxel.
    tissue: Vec<Tissue>,
}

/// Normalised squared radius of `(x, y, z)` in an ellipsoid centred in the volume.
fn ellipsoid(x: f64, y: f64, z: f64, rx: f64, ry: f64, rz: f64) -> f64 {
    (x / rx).powi(2) + (y / ry).powi(2) + (z / rz).powi(2)
}

fn make_phantom() -> Phantom {
    let n_flip = FLIP_DEG.len();
    let mut signal = vec![0.0f32; n_flip * NVOX];
    let mut tissue = vec![Tissue::Air; NVOX];
    let trig = spgr::angles(&FLIP_DEG);
    let mut rng = XorShift::new(0x9E37_79B9_7F4A_7C15);
    for z in 0..NZ {
        for y in 0..NY {
            for x in 0..NX {
                let i = (z * NY + y) * NX + x;
                // Coordinates in voxels from the centre; the head fills most of the field.
                let (cx, cy, cz) = (x as f64 - 63.5, y as f64 - 63.5, z as f64 - 31.5);
                let label = if ellipsoid(cx - 18.0, cy + 10.0, cz - 4.0, 5.0, 5.0, 4.0) <= 1.0 {
                    Tissue::Lesion
                } else if ellipsoid(cx, cy, cz, 40.0, 48.0, 20.0) <= 1.0 {
                    Tissue::White
                } else if ellipsoid(cx, cy, cz, 50.0, 58.0, 25.0) <= 1.0 {
                    Tissue::Grey
                } else if ellipsoid(cx, cy, cz, 56.0, 62.0, 29.0) <= 1.0 {
                    Tissue::Csf
                } else {
                    Tissue::Air
                };
                tissue[i] = label;
                let (t1, pd) = label.t1_pd();
                // A smooth receive-bias field of about +-10%.
                let bias = 1.0 + 0.06 * (cx / 40.0).sin() + 0.04 * (cy / 55.0).cos() * (cz / 30.0).cos();
                let m0 = 1000.0 * pd * bias;
                let e1 = if t1 > 0.0 { (-TR_MS / f64::from(t1)).exp() } else { 0.0 };
                for (k, &(sin_a, cos_a)) in trig.iter().enumerate() {
                    let clean = if t1 > 0.0 {
                        spgr::signal(m0, e1, sin_a, cos_a)
                    } else {
                        0.0
                    };
                    signal[k * NVOX + i] = (clean + NOISE_SIGMA * rng.gaussian()) as f32;
                }
            }
        }
    }
    Phantom { signal, tissue }
}

/// Levenberg-Marquardt iterations per voxel (the linear fit is a good start, so few are needed).
const LM_MAX_ITER: usize = 30;
/// Largest T1 the fit reports, ms; beyond it the data cannot tell T1 apart (TR = 15 ms).
const T1_MAX_MS: f64 = 10_000.0;
/// Parametric bootstrap resamples per voxel for the T1 standard deviation.
const BOOTSTRAP: usize = 32;

/// Levenberg-Marquardt on the SPGR signal equation in `(M0, E1)` from a start point
/// (least squares in the signal, where the noise is Gaussian, rather than in the
/// transformed DESPOT1 coordinates). Returns `(M0, E1, cost)`; E1 stays in (0, 1).
fn refine(s: &[f64], trig: &[(f64, f64)], mut m0: f64, mut e1: f64) -> (f64, f64, f64) {
    let mut c = spgr::sse(s, trig, m0, e1);
    let mut lambda = 1e-3;
    for _ in 0..LM_MAX_ITER {
        let normal = Normal::at(s, trig, m0, e1);
        let mut improved = false;
        while lambda < 1e12 {
            // A step that leaves E1 outside (0, 1) counts as one that does not lower the cost.
            if let Some((d_m0, d_e1)) = normal.step(lambda)
                && e1 + d_e1 > 0.0
                && e1 + d_e1 < 1.0
            {
                let (m0_new, e1_new) = (m0 + d_m0, e1 + d_e1);
                let c_new = spgr::sse(s, trig, m0_new, e1_new);
                if c_new <= c {
                    improved = c - c_new > 1e-12 * c;
                    (m0, e1, c) = (m0_new, e1_new, c_new);
                    lambda = (lambda * 0.1).max(1e-9);
                    break;
                }
            }
            lambda *= 10.0;
        }
        if !improved {
            break;
        }
    }
    (m0, e1, c)
}

/// T1 in ms from E1, if `(M0, E1)` is a usable fit.
fn t1_of(m0: f64, e1: f64) -> Option<f64> {
    let t1 = -TR_MS / e1.ln();
    (m0 > 0.0 && t1.is_finite() && t1 > 0.0 && t1 <= T1_MAX_MS).then_some(t1)
}

/// Fits one voxel: DESPOT1, then Levenberg-Marquardt, then a parametric bootstrap
/// (resampling the fitted signal with the residual noise level) for the standard
/// deviation of T1. Returns `(T1, SD)` in ms, `(0, 0)` where the signal is too low or
/// the fit is invalid.
fn fit_voxel(s: &[f64], trig: &[(f64, f64)], rng: &mut XorShift) -> (f32, f32) {
    let n = s.len();
    if s.iter().sum::<f64>() / (n as f64) < 10.0 * NOISE_SIGMA {
        return (0.0, 0.0);
    }
    let Some((m0, e1)) = spgr::despot1(s, trig) else {
        return (0.0, 0.0);
    };
    let (m0, e1, c) = refine(s, trig, m0, e1);
    let Some(t1) = t1_of(m0, e1) else { return (0.0, 0.0) };

    // Residual noise level with n - 2 degrees of freedom.
    let sigma = (c / (n - 2) as f64).sqrt();
    let model: Vec<f64> = trig
        .iter()
        .map(|&(sin_a, cos_a)| spgr::signal(m0, e1, sin_a, cos_a))
        .collect();
    let mut resampled = vec![0.0; n];
    let (mut sum, mut sum_sq, mut count) = (0.0, 0.0, 0usize);
    for _ in 0..BOOTSTRAP {
        for (r, &m) in resampled.iter_mut().zip(&model) {
            *r = m + sigma * rng.gaussian();
        }
        let (bm0, be1, _) = refine(&resampled, trig, m0, e1);
        if let Some(bt1) = t1_of(bm0, be1) {
            sum += bt1;
            sum_sq += bt1 * bt1;
            count += 1;
        }
    }
    let sd = if count >= 2 {
        let mean = sum / count as f64;
        ((sum_sq - count as f64 * mean * mean) / (count - 1) as f64)
            .max(0.0)
            .sqrt()
    } else {
        0.0
    };
    (t1 as f32, sd as f32)
}

/// Fits the whole volume; `signal` has shape `[n_flip, NZ, NY, NX]`. Returns shape
/// `[2, NZ, NY, NX]`: T1 then its bootstrap standard deviation, both in ms.
fn fit_t1(signal: &[f32], flip_deg: &[f64]) -> Vec<f32> {
    let trig = spgr::angles(flip_deg);
    let mut s = vec![0.0f64; flip_deg.len()];
    let mut out = vec![0.0f32; 2 * NVOX];
    let (t1_map, sd_map) = out.split_at_mut(NVOX);
    for (i, (t1, sd)) in t1_map.iter_mut().zip(sd_map).enumerate() {
        for (k, v) in s.iter_mut().enumerate() {
            *v = f64::from(signal[k * NVOX + i]);
        }
        // A generator per voxel keeps the result independent of the visiting order.
        let mut rng = XorShift::new(0x2545_F491_4F6C_DD1D ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        (*t1, *sd) = fit_voxel(&s, &trig, &mut rng);
    }
    out
}

/// Runs `get_or_compute` and times it.
fn timed(
    label: &str,
    cache: &Cache,
    key: &Key,
    compute: impl FnOnce() -> stepcache::Result<Value>,
) -> stepcache::Result<(Hit, Duration)> {
    let start = Instant::now();
    let hit = cache.get_or_compute(key, compute)?;
    let elapsed = start.elapsed();
    println!("{label:<28} {:<10} in {:>10}", describe(hit.source), ms(elapsed));
    Ok((hit, elapsed))
}

/// Mean of `map` over voxels of tissue `t` (0 if none), and how many were fitted.
fn tissue_mean(map: &[f32], tissue: &[Tissue], t: Tissue) -> (f64, usize, usize) {
    let (mut sum, mut fitted, mut total) = (0.0f64, 0usize, 0usize);
    for (&v, &l) in map.iter().zip(tissue) {
        if l == t {
            total += 1;
            if v > 0.0 {
                sum += f64::from(v);
                fitted += 1;
            }
        }
    }
    (if fitted > 0 { sum / fitted as f64 } else { 0.0 }, fitted, total)
}

fn print_stats(title: &str, stats: &Stats) {
    println!("{title}");
    for (name, tier) in [("memory", &stats.memory), ("store", &stats.store)] {
        println!(
            "  {name:<6} hits {:>2}  misses {:>2}  entries {:>2}  bytes {:>9} ({:.1} MiB)",
            tier.hits,
            tier.misses,
            tier.entries,
            tier.bytes,
            tier.bytes as f64 / f64::from(1u32 << 20)
        );
    }
    for t in &stats.types {
        println!(
            "  type {:<8} hits {:>2}  misses {:>2}  computes {:>2}  compute {:>10}  saved {:>10}",
            t.step,
            t.hits,
            t.misses,
            t.computes,
            ms(Duration::from_micros(t.compute_us)),
            ms(Duration::from_micros(t.saved_us))
        );
    }
    println!(
        "  hit rate {:.0}%, time saved {}",
        stats.hit_rate() * 100.0,
        ms(Duration::from_micros(stats.saved_us()))
    );
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| std::env::temp_dir().join("stepcache-t1-example"), PathBuf::from);
    println!("cache directory: {}", dir.display());

    let start = Instant::now();
    let phantom = make_phantom();
    let n_flip = FLIP_DEG.len();
    println!(
        "phantom: {NX}x{NY}x{NZ} voxels, flip angles {FLIP_DEG:?} deg, TR {TR_MS} ms, built in {}",
        ms(start.elapsed())
    );

    let start = Instant::now();
    let t1_key = Step::new("t1_map")?
        .version(1)
        .key()
        .arg("tr_ms", TR_MS)
        .arg("flip_deg", FLIP_DEG)
        .arg("bootstrap", BOOTSTRAP)
        .array("signal", &phantom.signal, &[n_flip, NZ, NY, NX])
        .build()?;
    println!(
        "t1 key {} (hashing {:.1} MiB in {})",
        t1_key.fingerprint(),
        (phantom.signal.len() * 4) as f64 / f64::from(1u32 << 20),
        ms(start.elapsed())
    );
    // The result holds two maps: T1 and its bootstrap standard deviation.
    let fit = || Value::array(fit_t1(&phantom.signal, &FLIP_DEG), &[2, NZ, NY, NX]);

    // Session 1: computes the map, or finds it on disk from an earlier process.
    let cache1 = Cache::builder().dir(&dir).open()?;
    let (hit1, _) = timed("run 1 (session 1)", &cache1, &t1_key, fit)?;

    // Session 2: a new cache on the same directory, with an empty memory tier.
    let cache2 = Cache::builder().dir(&dir).open()?;
    let (hit2, _) = timed("run 2 (session 2)", &cache2, &t1_key, fit)?;
    let (hit3, _) = timed("run 3 (session 2)", &cache2, &t1_key, fit)?;

    // A derived step keyed by lineage: the T1 hit (its key and its value's content
    // identity, which the engine already has) stands in for the 8 MiB result.
    let start = Instant::now();
    let r1_key = Step::new("r1_map")?.version(1).key().lineage("t1", &hit2).build()?;
    println!(
        "r1 key {} (lineage, keyed in {})",
        r1_key.fingerprint(),
        ms(start.elapsed())
    );
    let maps: &[f32] = hit2.value.as_slice()?;
    let (t1_map, sd_map) = maps.split_at(NVOX);
    let (r1_hit, _) = timed("r1 map (session 2)", &cache2, &r1_key, || {
        let r1: Vec<f32> = t1_map.iter().map(|&t| if t > 0.0 { 1000.0 / t } else { 0.0 }).collect();
        Value::array(r1, &[NZ, NY, NX])
    })?;

    // Sanity figures from the map read back from the store.
    println!("fitted T1 (map from run 2):");
    let truth = [
        ("white matter", Tissue::White, T1_WM),
        ("grey matter", Tissue::Grey, T1_GM),
        ("CSF", Tissue::Csf, T1_CSF),
        ("lesion", Tissue::Lesion, T1_LESION),
    ];
    let mut wm_error = f64::INFINITY;
    for (name, t, true_t1) in truth {
        let (mean, fitted, total) = tissue_mean(t1_map, &phantom.tissue, t);
        let (sd, _, _) = tissue_mean(sd_map, &phantom.tissue, t);
        let error = (mean - f64::from(true_t1)) / f64::from(true_t1);
        println!(
            "  {name:<13} mean {mean:>7.1} ms  true {true_t1:>6.0} ms  error {:>+6.2}%  voxel SD {sd:>6.1} ms  ({fitted}/{total} fitted)",
            error * 100.0
        );
        if t == Tissue::White {
            wm_error = error;
        }
    }
    let (air_mean, air_fitted, air_total) = tissue_mean(t1_map, &phantom.tissue, Tissue::Air);
    println!(
        "  {:<13} {air_fitted}/{air_total} voxels fitted (mean {air_mean:.1} ms)",
        "air"
    );
    let r1_map: &[f32] = r1_hit.value.as_slice()?;
    let (r1_wm, _, _) = tissue_mean(r1_map, &phantom.tissue, Tissue::White);
    println!("  R1 in white matter {r1_wm:.3} /s (true {:.3} /s)", 1000.0 / T1_WM);

    print_stats("stats, session 1:", &cache1.stats()?);
    print_stats("stats, session 2:", &cache2.stats()?);

    // Fail loudly if the cache or the fit regresses.
    if hit2.source != Source::Store {
        return Err(format!("run 2 should be a store hit in a new session, got {:?}", hit2.source).into());
    }
    if hit3.source != Source::Memory {
        return Err(format!("run 3 should be a memory hit, got {:?}", hit3.source).into());
    }
    if hit1.value != hit2.value || hit2.value != hit3.value {
        return Err("the T1 map read back differs from the one computed".into());
    }
    if hit1.content != hit2.content || hit2.content != hit3.content {
        return Err("the T1 map's content identity differs between computed, store and memory hits".into());
    }
    if wm_error.abs() > 0.05 {
        return Err(format!(
            "white-matter T1 is {:+.2}% off the true {T1_WM} ms (more than 5%)",
            wm_error * 100.0
        )
        .into());
    }
    println!("ok: run 2 came from the store and white-matter T1 is within 5% of truth");
    Ok(())
}
