// Variable-flip-angle T1 mapping (DESPOT1) of SPGR data, voxel by voxel:
//
// 1. The linear fit: with y = S / sin(a) and x = S / tan(a), the SPGR equation is the line
//    y = E1 x + M0 (1 - E1), so the least-squares slope is E1 and T1 = -TR / ln(E1).
// 2. Levenberg-Marquardt refinement of (M0, E1) on the SPGR model itself (the linear fit
//    weights the noise unevenly across flip angles; the non-linear fit does not).
// 3. The uncertainty of T1: a parametric bootstrap. `bootstrap` synthetic data sets are
//    drawn around the fitted curve with the measured noise (complex Gaussian, magnitude),
//    each is refitted, and the standard deviation of their T1 is the voxel's T1 SD.
//
// Voxels below a signal threshold (a multiple of the noise level measured in the
// background) or without a physical fit are 0; T1 is clamped to [0, t1MaxMs].

import { gaussian, mulberry32 } from "./phantom.js";

/** Noise sigma per channel, from the Rayleigh-distributed background in the 8 corners. */
export function estimateNoise(signal, shape) {
  const [, nz, ny, nx] = shape;
  const c = Math.max(1, Math.min(8, nx >> 3, ny >> 3, nz >> 3));
  let sum = 0, n = 0;
  for (const k0 of [0, nz - c]) for (const j0 of [0, ny - c]) for (const i0 of [0, nx - c]) {
    for (let k = k0; k < k0 + c; k++) for (let j = j0; j < j0 + c; j++) for (let i = i0; i < i0 + c; i++) {
      sum += signal[(k * ny + j) * nx + i]; // first flip angle
      n++;
    }
  }
  // The mean of a Rayleigh variable is sigma * sqrt(pi / 2).
  return sum / n / Math.sqrt(Math.PI / 2);
}

/** The result of one voxel's fit: [M0, E1, iterations]. */
const out = new Float64Array(3);

/**
 * Levenberg-Marquardt on S(a) = M sin(a) (1 - E) / (1 - cos(a) E), from (M, E).
 * Writes [M, E, iterations] to `out`.
 */
function refine(S, s, c, nf, M, E, maxIter) {
  let sse = 0;
  for (let f = 0; f < nf; f++) {
    const r = S[f] - (M * s[f] * (1 - E)) / (1 - c[f] * E);
    sse += r * r;
  }
  let lambda = 1e-3;
  let it = 0;
  while (it < maxIter) {
    it++;
    let a11 = 0, a12 = 0, a22 = 0, b1 = 0, b2 = 0;
    for (let f = 0; f < nf; f++) {
      const q = 1 - c[f] * E;
      const g = (s[f] * (1 - E)) / q; // dS/dM
      const h = (M * s[f] * (c[f] - 1)) / (q * q); // dS/dE
      const r = S[f] - M * g;
      a11 += g * g; a12 += g * h; a22 += h * h;
      b1 += g * r; b2 += h * r;
    }
    let moved = false;
    while (lambda < 1e10) {
      const d11 = a11 * (1 + lambda), d22 = a22 * (1 + lambda);
      const det = d11 * d22 - a12 * a12;
      if (!(det > 0)) { lambda *= 10; continue; }
      let Mn = M + (b1 * d22 - b2 * a12) / det;
      let En = E + (d11 * b2 - a12 * b1) / det;
      if (En <= 1e-9) En = 1e-9;
      if (En >= 1 - 1e-12) En = 1 - 1e-12;
      if (Mn <= 0) Mn = M * 0.5;
      let ssen = 0;
      for (let f = 0; f < nf; f++) {
        const r = S[f] - (Mn * s[f] * (1 - En)) / (1 - c[f] * En);
        ssen += r * r;
      }
      if (ssen <= sse) {
        moved = Math.abs(En - E) > 1e-9 || Math.abs(Mn - M) > 1e-7 * M;
        M = Mn; E = En; sse = ssen;
        lambda = Math.max(lambda * 0.1, 1e-7);
        break;
      }
      lambda *= 10;
    }
    if (!moved) break; // converged, or no step lowers the residual
  }
  out[0] = M; out[1] = E; out[2] = it;
}

/** The linear DESPOT1 estimate of (M0, E1), or a mid-range start if the line is not physical. */
function linear(S, s, c, nf, trMs) {
  let sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (let f = 0; f < nf; f++) {
    const y = S[f] / s[f];
    const x = (S[f] * c[f]) / s[f];
    sx += x; sy += y; sxx += x * x; sxy += x * y;
  }
  const den = nf * sxx - sx * sx;
  let E = den !== 0 ? (nf * sxy - sx * sy) / den : NaN;
  let M = E < 1 ? (sy - E * sx) / nf / (1 - E) : NaN;
  if (!(E > 0 && E < 1 && M > 0)) {
    E = Math.exp(-trMs / 1000);
    let num = 0, dd = 0;
    for (let f = 0; f < nf; f++) {
      const g = (s[f] * (1 - E)) / (1 - c[f] * E);
      num += g * S[f]; dd += g * g;
    }
    M = num / dd;
  }
  out[0] = M; out[1] = E;
}

/**
 * Fits T1 (ms) to every voxel of `signal` ([nFlip, nz, ny, nx]).
 * Options: flipDeg, trMs, t1MaxMs (5000), snrMin (8), maxIter (12), bootstrap (16),
 * seed, noiseSigma (default: measured in the background), onProgress(fraction).
 * Returns { t1: Float32Array [nz, ny, nx], t1Sd: Float32Array [nz, ny, nx], info }.
 */
export function fitT1(signal, shape, options) {
  const {
    flipDeg, trMs, t1MaxMs = 5000, snrMin = 8, maxIter = 12, bootstrap = 16, seed = 1, noiseSigma,
    onProgress = () => {},
  } = options;
  const [nf, nz, ny, nx] = shape;
  if (flipDeg.length !== nf) throw new Error(`fitT1: ${flipDeg.length} flip angles for ${nf} volumes`);
  if (!(trMs > 0)) throw new Error(`fitT1: TR must be positive, got ${trMs}`);
  if (signal.length !== nf * nz * ny * nx) throw new Error(`fitT1: ${signal.length} samples for shape [${shape}]`);
  const nvox = nz * ny * nx;
  const slice = ny * nx;
  const t1 = new Float32Array(nvox);
  const t1Sd = new Float32Array(nvox);
  const s = Float64Array.from(flipDeg, (d) => Math.sin((d * Math.PI) / 180));
  const c = Float64Array.from(flipDeg, (d) => Math.cos((d * Math.PI) / 180));
  const sigma = noiseSigma ?? estimateNoise(signal, shape);
  const threshold = snrMin * sigma;
  const S = new Float64Array(nf);
  const model = new Float64Array(nf);
  const Sb = new Float64Array(nf);
  const gauss = gaussian(mulberry32(seed));
  const toT1 = (E) => (E >= 1 ? t1MaxMs : Math.min(t1MaxMs, -trMs / Math.log(E)));
  let fitted = 0, iterations = 0, clamped = 0, rejected = 0, sdSum = 0;

  for (let k = 0; k < nz; k++) {
    for (let v = k * slice, end = v + slice; v < end; v++) {
      let smax = 0;
      for (let f = 0; f < nf; f++) {
        S[f] = signal[f * nvox + v];
        if (S[f] > smax) smax = S[f];
      }
      if (!(smax >= threshold && smax > 0)) continue; // background / low signal: 0

      linear(S, s, c, nf, trMs);
      refine(S, s, c, nf, out[0], out[1], maxIter);
      const M = out[0], E = out[1];
      iterations += out[2];
      if (!(E > 0 && E < 1) || !(M > 0)) { rejected++; continue; }
      const T1 = toT1(E);
      if (!(T1 > 0)) { rejected++; continue; }
      if (T1 >= t1MaxMs) clamped++;
      t1[v] = T1;
      fitted++;

      // Parametric bootstrap around the fitted curve.
      if (bootstrap > 1) {
        for (let f = 0; f < nf; f++) model[f] = (M * s[f] * (1 - E)) / (1 - c[f] * E);
        let mean = 0, m2 = 0;
        for (let b = 0; b < bootstrap; b++) {
          for (let f = 0; f < nf; f++) {
            const re = model[f] + sigma * gauss();
            const im = sigma * gauss();
            Sb[f] = Math.sqrt(re * re + im * im);
          }
          refine(Sb, s, c, nf, M, E, maxIter);
          const t = out[1] > 0 ? toT1(out[1]) : 0;
          const d = t - mean; // Welford
          mean += d / (b + 1);
          m2 += d * (t - mean);
        }
        const sd = Math.min(t1MaxMs, Math.sqrt(m2 / (bootstrap - 1)));
        t1Sd[v] = sd;
        sdSum += sd;
      }
    }
    onProgress((k + 1) / nz);
  }
  return {
    t1,
    t1Sd,
    info: {
      sigma,
      threshold,
      fitted,
      rejected,
      clamped,
      bootstrap,
      meanIterations: fitted + rejected ? iterations / (fitted + rejected) : 0,
      meanSdMs: fitted ? sdSum / fitted : 0,
    },
  };
}
