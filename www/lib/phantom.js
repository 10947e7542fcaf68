// A deterministic multi-flip-angle 3D SPGR (spoiled gradient echo) head phantom.
//
// Nested ellipsoids (scalp, skull, CSF, cortical grey matter with sulci, white matter),
// ventricles, deep grey nuclei and two lesions; partial volume at every boundary; a smooth
// receive-bias field on M0; complex Gaussian noise (the magnitude image, as a scanner
// reconstructs it). Same seed, same bytes, so the cache key of the signal is stable.
//
//   S(a) = M0 sin(a) (1 - E1) / (1 - cos(a) E1),   E1 = exp(-TR / T1)

/** Tissues: proton density (fraction of M0 = 1000) and T1 (ms) at 3 T. */
export const TISSUES = {
  scalp: { pd: 0.85, t1: 380 },
  skull: { pd: 0.04, t1: 300 },
  csf: { pd: 1.0, t1: 4000 },
  gm: { pd: 0.82, t1: 1400 },
  wm: { pd: 0.7, t1: 800 },
  deepGm: { pd: 0.78, t1: 1200 },
  lesion: { pd: 0.86, t1: 1900 },
};

export const DEFAULTS = Object.freeze({
  nx: 128,
  ny: 128,
  nz: 64,
  voxelMm: [1.875, 1.875, 2.5], // x, y, z: a 240 x 240 x 160 mm field of view
  flipDeg: [2, 5, 10, 15],
  trMs: 15,
  m0: 1000,
  noiseSigma: 1.0, // per channel of the complex signal
  seed: 20240917,
});

/** mulberry32: a small, fast, well-mixed 32-bit PRNG (deterministic across engines). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal pairs from a uniform PRNG (Box-Muller). */
export function gaussian(rand) {
  let spare = null;
  return function next() {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    let u = 0;
    while (u <= 1e-12) u = rand();
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** The SPGR steady-state signal. */
export function spgr(m0, t1, trMs, flipRad) {
  const e1 = Math.exp(-trMs / t1);
  return (m0 * Math.sin(flipRad) * (1 - e1)) / (1 - Math.cos(flipRad) * e1);
}

/** 1 inside, 0 outside, linear over `width` (normalised units) around r0: partial volume. */
function inside(r, r0, width) {
  const f = 0.5 - (r - r0) / width;
  return f <= 0 ? 0 : f >= 1 ? 1 : f;
}

/**
 * Generates the phantom.
 * Returns { signal: Float32Array [nFlip, nz, ny, nx], shape, t1True: Float32Array [nz, ny, nx],
 *           flipDeg, trMs, voxelMm, noiseSigma, seed }.
 * `onProgress(fraction)` is called once per slice.
 */
export function makePhantom(options = {}, onProgress = () => {}) {
  const o = { ...DEFAULTS, ...options };
  const { nx, ny, nz, voxelMm, flipDeg, trMs, m0, noiseSigma, seed } = o;
  const nf = flipDeg.length;
  const nvox = nx * ny * nz;
  const signal = new Float32Array(nf * nvox);
  const t1True = new Float32Array(nvox);
  const sinA = flipDeg.map((d) => Math.sin((d * Math.PI) / 180));
  const cosA = flipDeg.map((d) => Math.cos((d * Math.PI) / 180));
  const gauss = gaussian(mulberry32(seed));
  const texture = mulberry32(seed ^ 0x9e3779b9);
  // Random phases of a smooth T1 texture (a few % within tissue, as in real maps).
  const ph = Array.from({ length: 6 }, () => texture() * 2 * Math.PI);

  // Head: semi-axes in mm (x left-right, y posterior-anterior, z inferior-superior).
  const A = 78, B = 96, C = 74, zc = -8;
  const pv = 1.0 / 78; // about half a voxel in normalised radius: the partial-volume width
  // Lateral ventricles: bent outwards at the frontal and occipital horns.
  const ventricles = [
    { c: [-8, 2, 10], s: [4.5, 28, 12], bend: -0.01 },
    { c: [8, 2, 10], s: [4.5, 28, 12], bend: 0.01 },
  ];
  const nuclei = [
    { c: [-19, -2, -2], s: [8, 13, 10] },
    { c: [19, -2, -2], s: [8, 13, 10] },
  ];
  const lesions = [
    { c: [27, 22, 22], r: 8, t1Core: 2300, t1Rim: 1500 },
    { c: [-24, -28, 14], r: 4.5, t1Core: 1800, t1Rim: 1400 },
  ];
  const foldWaves = waves(texture, 12, 24);
  const sulcWaves = waves(texture, 12, 20);
  const mix = new Float64Array(8); // tissue fractions of one voxel
  const t1s = new Float64Array(8);
  const pds = new Float64Array(8);
  const acc = new Float64Array(nf);

  for (let k = 0; k < nz; k++) {
    const z = (k - nz / 2 + 0.5) * voxelMm[2];
    for (let j = 0; j < ny; j++) {
      const y = (j - ny / 2 + 0.5) * voxelMm[1];
      for (let i = 0; i < nx; i++) {
        const x = (i - nx / 2 + 0.5) * voxelMm[0];
        const v = (k * ny + j) * nx + i;
        const zx = x / A, zy = y / B, zz = (z - zc) / C;
        const r = Math.sqrt(zx * zx + zy * zy + zz * zz);
        let n = 0;
        if (r < 1 + pv) {
          // Cortical folding from two smooth random fields: `fold` moves the grey/white
          // boundary (gyri), and the zero set of `sulc` cuts narrow CSF clefts (sulci) into
          // the cortex, wider towards the surface.
          const fold = field(foldWaves, x, y, z);
          const sulc = field(sulcWaves, x, y, z);
          const rWm = 0.76 + 0.06 * fold; // grey / white matter boundary
          const rCortex = 0.872; // outer surface of the cortex
          const depth = Math.max(0, Math.min(1, (r - rWm - 0.02) / (rCortex - rWm - 0.02)));
          const cleft = depth > 0 ? inside(Math.abs(sulc), 0.04 + 0.14 * depth, 0.1) : 0;
          const fHead = inside(r, 1.0, pv);
          const fSkullIn = inside(r, 0.935, pv);
          const fCsfIn = inside(r, 0.888, pv);
          const fBrain = Math.min(fCsfIn, inside(r, rCortex, pv)) * (1 - cleft);
          const fWm = Math.min(fBrain, inside(r, rWm, pv));
          // Layers: scalp | skull | CSF | GM | WM (fractions of this voxel).
          let wm = fWm;
          let gm = fBrain - fWm;
          let csf = fCsfIn - fBrain;
          const skull = fSkullIn - fCsfIn;
          const scalp = fHead - fSkullIn;
          // Deep structures replace white matter.
          let deep = 0;
          for (const e of nuclei) deep = Math.max(deep, ellipsoidFraction(x, y, z, e));
          deep = Math.min(deep, wm);
          wm -= deep;
          let vent = 0;
          for (const e of ventricles) vent = Math.max(vent, ellipsoidFraction(x, y, z, e));
          vent = Math.min(vent, wm);
          wm -= vent;
          csf += vent;
          let les = 0, lesT1 = 0;
          for (const l of lesions) {
            const dx = x - l.c[0], dy = y - l.c[1], dz = z - l.c[2];
            const d = Math.sqrt(dx * dx + dy * dy + dz * dz);
            const f = Math.min(inside(d, l.r, 1.5), wm);
            if (f > les) {
              les = f;
              const u = Math.min(1, d / l.r);
              lesT1 = l.t1Core + (l.t1Rim - l.t1Core) * u * u;
            }
          }
          wm -= les;
          // A smooth T1 texture, +-3 %.
          const tex = 1 + 0.03 * Math.sin(0.11 * x + ph[4]) * Math.cos(0.09 * y + ph[5]) * Math.sin(0.13 * z + ph[0]);
          const add = (f, t) => {
            if (f > 1e-6) {
              mix[n] = f;
              t1s[n] = t.t1 * tex;
              pds[n] = t.pd;
              n++;
            }
          };
          add(scalp, TISSUES.scalp);
          add(skull, TISSUES.skull);
          add(csf, TISSUES.csf);
          add(gm, TISSUES.gm);
          add(wm, TISSUES.wm);
          add(deep, TISSUES.deepGm);
          if (les > 1e-6) add(les, { pd: TISSUES.lesion.pd, t1: lesT1 });
        }
        // Smooth receive bias (coil sensitivity), about 0.8 .. 1.2.
        const bias = 1 + 0.14 * (x / 120) - 0.1 * (y / 120) * (y / 120) + 0.08 * (z / 80) + 0.05 * (x / 120) * (z / 80);
        acc.fill(0);
        let t1Mix = 0, fSum = 0;
        for (let t = 0; t < n; t++) {
          const e1 = Math.exp(-trMs / t1s[t]);
          const w = mix[t] * pds[t] * m0 * bias;
          for (let f = 0; f < nf; f++) acc[f] += (w * sinA[f] * (1 - e1)) / (1 - cosA[f] * e1);
          t1Mix += mix[t] * pds[t] * t1s[t];
          fSum += mix[t] * pds[t];
        }
        t1True[v] = fSum > 0 ? t1Mix / fSum : 0;
        for (let f = 0; f < nf; f++) {
          // Magnitude of the complex signal with Gaussian noise in each channel.
          const re = acc[f] + noiseSigma * gauss();
          const im = noiseSigma * gauss();
          signal[f * nvox + v] = Math.sqrt(re * re + im * im);
        }
      }
    }
    onProgress((k + 1) / nz);
  }
  return {
    signal,
    shape: [nf, nz, ny, nx],
    t1True,
    flipDeg: [...flipDeg],
    trMs,
    voxelMm: [...voxelMm],
    noiseSigma,
    seed,
  };
}

/** `n` plane waves of wavelength about `lambdaMm` in random directions: a smooth random field. */
function waves(rand, n, lambdaMm) {
  const out = [];
  for (let w = 0; w < n; w++) {
    const u = 2 * rand() - 1;
    const az = 2 * Math.PI * rand();
    const s = Math.sqrt(1 - u * u);
    const k = ((2 * Math.PI) / lambdaMm) * (0.8 + 0.4 * rand());
    out.push([k * s * Math.cos(az), k * s * Math.sin(az), k * u, 2 * Math.PI * rand()]);
  }
  return out;
}

/** The field of `ws` at (x, y, z), in about [-1, 1]. */
function field(ws, x, y, z) {
  let sum = 0;
  for (const [kx, ky, kz, p] of ws) sum += Math.sin(kx * x + ky * y + kz * z + p);
  return sum / Math.sqrt(ws.length / 2) / 1.5;
}

function ellipsoidFraction(x, y, z, e) {
  const dy = y - e.c[1];
  const a = (x - e.c[0] - (e.bend ?? 0) * dy * dy) / e.s[0], b = dy / e.s[1], c = (z - e.c[2]) / e.s[2];
  return inside(Math.sqrt(a * a + b * b + c * c), 1, 0.12);
}
