//! The demo's variable-flip-angle T1 fit (www/lib/t1fit.js), voxel by voxel, ported
//! line for line:
//!
//! 1. the linear DESPOT1 fit gives `(M0, E1)` ([`spgr::despot1`]);
//! 2. Levenberg-Marquardt refines it on the SPGR equation itself (the linear fit weights
//!    the noise unevenly across flip angles; the non-linear fit does not);
//! 3. a parametric bootstrap gives T1's uncertainty: `bootstrap` synthetic data sets drawn
//!    around the fitted curve with the measured noise (complex Gaussian, magnitude) are
//!    refitted, and the standard deviation of their T1 is the voxel's T1 SD.
//!
//! Voxels below a signal threshold (a multiple of the noise level measured in the
//! background) or without a physical fit are 0; T1 is clamped to `[0, t1_max_ms]`. One
//! generator draws the bootstrap noise of every voxel in memory order, as in the
//! JavaScript, so the fit runs on one thread.

use crate::demo::rng::{Gaussian, Mulberry32};
use crate::spgr::{self, Normal};

/// The fit's settings. `t1_max_ms`, `snr_min` and `bootstrap` enter the T1 key (the
/// viewer's `FIT`); the others are the JavaScript's defaults, which it does not key.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Largest T1 reported, ms.
    pub t1_max_ms: f64,
    /// Voxels whose largest signal is below this many noise SDs are not fitted.
    pub snr_min: f64,
    /// Levenberg-Marquardt iterations per fit at most.
    pub max_iter: usize,
    /// Bootstrap refits per voxel (1 or less: no SD).
    pub bootstrap: usize,
    /// Seed of the bootstrap noise.
    pub seed: u32,
}

impl Default for Settings {
    /// The viewer's settings: `t1MaxMs` 5000, `snrMin` 8, `bootstrap` 16 (and 12
    /// iterations, seed 1).
    fn default() -> Self {
        Settings {
            t1_max_ms: 5000.0,
            snr_min: 8.0,
            max_iter: 12,
            bootstrap: 16,
            seed: 1,
        }
    }
}

/// Figures about a fit, kept in the T1 value's metadata (the viewer shows some).
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    /// Noise SD per channel, measured in the background.
    pub sigma: f64,
    /// The signal threshold: `snr_min * sigma`.
    pub threshold: f64,
    /// Voxels fitted.
    pub fitted: usize,
    /// Voxels above the threshold without a physical fit.
    pub rejected: usize,
    /// Fitted voxels whose T1 was clamped to `t1_max_ms`.
    pub clamped: usize,
    /// Bootstrap refits per voxel.
    pub bootstrap: usize,
    /// Mean Levenberg-Marquardt iterations of the voxels above the threshold.
    pub mean_iterations: f64,
    /// Mean T1 SD of the fitted voxels, ms.
    pub mean_sd_ms: f64,
}

/// A T1 map and its uncertainty.
#[derive(Debug, Clone)]
pub struct T1Fit {
    /// T1, ms, `[nz, ny, nx]`.
    pub t1: Vec<f32>,
    /// Its bootstrap SD, ms, `[nz, ny, nx]`.
    pub t1_sd: Vec<f32>,
    /// Figures about the fit.
    pub info: Info,
}

/// The noise SD per channel, from the Rayleigh-distributed background in the 8 corners of
/// the first flip angle's volume (`signal` has shape `[nf, nz, ny, nx]`).
pub fn estimate_noise(signal: &[f32], [_, nz, ny, nx]: [usize; 4]) -> f64 {
    let c = (nx >> 3).min(ny >> 3).min(nz >> 3).clamp(1, 8);
    let (mut sum, mut n) = (0.0, 0usize);
    for k0 in [0, nz - c] {
        for j0 in [0, ny - c] {
            for i0 in [0, nx - c] {
                for k in k0..k0 + c {
                    for j in j0..j0 + c {
                        for i in i0..i0 + c {
                            sum += f64::from(signal[(k * ny + j) * nx + i]);
                            n += 1;
                        }
                    }
                }
            }
        }
    }
    // The mean of a Rayleigh variable is sigma * sqrt(pi / 2).
    sum / n as f64 / std::f64::consts::FRAC_PI_2.sqrt()
}

/// The DESPOT1 estimate of `(M0, E1)`, or a mid-range start (T1 = 1 s, M0 by least
/// squares) where the line is not physical.
fn linear(s: &[f64], trig: &[(f64, f64)], tr_ms: f64) -> (f64, f64) {
    if let Some((m0, e1)) = spgr::despot1(s, trig).filter(|&(m0, _)| m0 > 0.0) {
        return (m0, e1);
    }
    let e1 = (-tr_ms / 1000.0).exp();
    let (mut num, mut den) = (0.0, 0.0);
    for (&s, &(sin_a, cos_a)) in s.iter().zip(trig) {
        let g = spgr::signal(1.0, e1, sin_a, cos_a);
        num += g * s;
        den += g * g;
    }
    (num / den, e1)
}

/// Levenberg-Marquardt on the SPGR equation from `(m0, e1)`, E1 kept in (0, 1) and M0
/// positive. Returns `(M0, E1, iterations)`.
fn refine(s: &[f64], trig: &[(f64, f64)], mut m0: f64, mut e1: f64, max_iter: usize) -> (f64, f64, usize) {
    let mut sse = spgr::sse(s, trig, m0, e1);
    let mut lambda = 1e-3;
    let mut iterations = 0;
    while iterations < max_iter {
        iterations += 1;
        let normal = Normal::at(s, trig, m0, e1);
        let mut moved = false;
        while lambda < 1e10 {
            let Some((d_m0, d_e1)) = normal.step(lambda) else {
                lambda *= 10.0;
                continue;
            };
            let e1_new = (e1 + d_e1).clamp(1e-9, 1.0 - 1e-12);
            let m0_new = if m0 + d_m0 <= 0.0 { m0 * 0.5 } else { m0 + d_m0 };
            let sse_new = spgr::sse(s, trig, m0_new, e1_new);
            if sse_new <= sse {
                moved = (e1_new - e1).abs() > 1e-9 || (m0_new - m0).abs() > 1e-7 * m0;
                (m0, e1, sse) = (m0_new, e1_new, sse_new);
                lambda = (lambda * 0.1).max(1e-7);
                break;
            }
            lambda *= 10.0;
        }
        if !moved {
            break; // converged, or no step lowers the residual
        }
    }
    (m0, e1, iterations)
}

/// Fits T1 (ms) to every voxel of `signal` (`[nf, nz, ny, nx]`), acquired with `flip_deg`
/// and `tr_ms`. The noise SD is measured in the background ([`estimate_noise`]).
///
/// # Errors
/// A text saying what does not fit together if the flip angles, the shape and the signal's
/// length disagree, or TR is not positive.
pub fn fit_t1(
    signal: &[f32],
    shape: [usize; 4],
    flip_deg: &[f64],
    tr_ms: f64,
    settings: &Settings,
) -> Result<T1Fit, String> {
    let [nf, nz, ny, nx] = shape;
    if flip_deg.len() != nf {
        return Err(format!("fit_t1: {} flip angles for {nf} volumes", flip_deg.len()));
    }
    if tr_ms.is_nan() || tr_ms <= 0.0 {
        return Err(format!("fit_t1: TR must be positive, got {tr_ms}"));
    }
    if signal.len() != nf * nz * ny * nx {
        return Err(format!("fit_t1: {} samples for shape {shape:?}", signal.len()));
    }
    let nvox = nz * ny * nx;
    let Settings {
        t1_max_ms,
        snr_min,
        max_iter,
        bootstrap,
        seed,
    } = *settings;
    let trig = spgr::angles(flip_deg);
    let sigma = estimate_noise(signal, shape);
    let threshold = snr_min * sigma;
    let to_t1 = |e1: f64| {
        if e1 >= 1.0 {
            t1_max_ms
        } else {
            t1_max_ms.min(-tr_ms / e1.ln())
        }
    };
    let mut noise = Gaussian::new(Mulberry32::new(seed));
    let (mut s, mut model, mut resampled) = (vec![0.0; nf], vec![0.0; nf], vec![0.0; nf]);
    let (mut t1, mut t1_sd) = (vec![0.0f32; nvox], vec![0.0f32; nvox]);
    let (mut fitted, mut rejected, mut clamped, mut iterations, mut sd_sum) = (0, 0, 0, 0, 0.0);

    for v in 0..nvox {
        for (f, s) in s.iter_mut().enumerate() {
            *s = f64::from(signal[f * nvox + v]);
        }
        let peak = s.iter().copied().fold(0.0, f64::max);
        if !(peak >= threshold && peak > 0.0) {
            continue; // background / low signal: 0
        }
        let (m0, e1) = linear(&s, &trig, tr_ms);
        let (m0, e1, its) = refine(&s, &trig, m0, e1, max_iter);
        iterations += its;
        let physical = e1 > 0.0 && e1 < 1.0 && m0 > 0.0;
        let Some(fit) = physical.then(|| to_t1(e1)).filter(|&t1| t1 > 0.0) else {
            rejected += 1;
            continue;
        };
        if fit >= t1_max_ms {
            clamped += 1;
        }
        t1[v] = fit as f32;
        fitted += 1;

        // Parametric bootstrap around the fitted curve.
        if bootstrap > 1 {
            for (m, &(sin_a, cos_a)) in model.iter_mut().zip(&trig) {
                *m = spgr::signal(m0, e1, sin_a, cos_a);
            }
            let (mut mean, mut m2) = (0.0, 0.0);
            for b in 0..bootstrap {
                for (r, &m) in resampled.iter_mut().zip(&model) {
                    let re = m + sigma * noise.next_f64();
                    let im = sigma * noise.next_f64();
                    *r = (re * re + im * im).sqrt();
                }
                let (_, e1_b, _) = refine(&resampled, &trig, m0, e1, max_iter);
                let t = if e1_b > 0.0 { to_t1(e1_b) } else { 0.0 };
                // Welford's running mean and sum of squared deviations.
                let d = t - mean;
                mean += d / (b + 1) as f64;
                m2 += d * (t - mean);
            }
            let sd = t1_max_ms.min((m2 / (bootstrap - 1) as f64).sqrt());
            t1_sd[v] = sd as f32;
            sd_sum += sd;
        }
    }
    let tried = fitted + rejected;
    let info = Info {
        sigma,
        threshold,
        fitted,
        rejected,
        clamped,
        bootstrap,
        mean_iterations: if tried > 0 {
            iterations as f64 / tried as f64
        } else {
            0.0
        },
        mean_sd_ms: if fitted > 0 { sd_sum / fitted as f64 } else { 0.0 },
    };
    Ok(T1Fit { t1, t1_sd, info })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noiseless_tissue_gives_its_t1_back() {
        let (shape, flip_deg, tr_ms) = ([4, 8, 8, 8], [2.0, 5.0, 10.0, 15.0], 15.0);
        let nvox = 8 * 8 * 8;
        let trig = spgr::angles(&flip_deg);
        let e1 = (-tr_ms / 1000.0f64).exp();
        let mut signal = vec![0.0f32; 4 * nvox];
        for v in 0..nvox {
            // The corners are background (the noise level is measured there).
            let (i, j, k) = (v % 8, v / 8 % 8, v / 64);
            let corner = [i, j, k].iter().all(|&c| c == 0 || c == 7);
            for (f, &(sin_a, cos_a)) in trig.iter().enumerate() {
                signal[f * nvox + v] = if corner {
                    1.0
                } else {
                    spgr::signal(700.0, e1, sin_a, cos_a) as f32
                };
            }
        }
        let fit = fit_t1(&signal, shape, &flip_deg, tr_ms, &Settings::default()).expect("a fit");
        assert_eq!(fit.info.fitted, nvox - 8);
        assert_eq!(fit.t1[0], 0.0, "background is not fitted");
        let t1 = fit.t1[8 * 8 * 4 + 8 * 4 + 4];
        assert!((t1 - 1000.0).abs() < 1.0, "T1 {t1}");
        assert!(fit.info.mean_sd_ms > 0.0);
    }
}
