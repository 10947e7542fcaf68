//! The demo's multi-flip-angle 3D SPGR head phantom (www/lib/phantom.js), ported line
//! for line: the same geometry, tissues, bias field and noise model, in the same order,
//! with the same generators. The bytes may still differ from the JavaScript's in the last
//! bits (`sin`, `exp`, `ln` are not correctly rounded in either language), which the
//! shared tier does not care about: the viewer keys its T1 step by the phantom bytes it
//! reads, whoever computed them.
//!
//! Nested ellipsoids (scalp, skull, CSF, cortical grey matter with sulci, white matter),
//! ventricles, deep grey nuclei and two lesions; partial volume at every boundary; a smooth
//! receive-bias field on M0; complex Gaussian noise (the magnitude image).

use crate::demo::rng::{Gaussian, Mulberry32};
use crate::spgr;

/// The generator's settings: every field enters the `phantom` key, under the names of the
/// JavaScript's `DEFAULTS` (see [`crate::demo::phantom_key`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Voxels along x (left-right).
    pub nx: usize,
    /// Voxels along y (posterior-anterior).
    pub ny: usize,
    /// Voxels along z (inferior-superior).
    pub nz: usize,
    /// Voxel size in mm, x, y, z.
    pub voxel_mm: [f64; 3],
    /// Flip angles, degrees: one volume each.
    pub flip_deg: Vec<f64>,
    /// Repetition time, ms.
    pub tr_ms: f64,
    /// Equilibrium magnetisation of pure water.
    pub m0: f64,
    /// Noise standard deviation per channel of the complex signal.
    pub noise_sigma: f64,
    /// Seed of the noise and of the random texture of the anatomy.
    pub seed: u32,
}

impl Default for Params {
    /// The viewer's defaults: 128 x 128 x 64 voxels of 1.875 x 1.875 x 2.5 mm (a 240 x 240 x
    /// 160 mm field of view), flip angles 2, 5, 10 and 15 degrees, TR 15 ms.
    fn default() -> Self {
        Params {
            nx: 128,
            ny: 128,
            nz: 64,
            voxel_mm: [1.875, 1.875, 2.5],
            flip_deg: vec![2.0, 5.0, 10.0, 15.0],
            tr_ms: 15.0,
            m0: 1000.0,
            noise_sigma: 1.0,
            seed: 20_240_917,
        }
    }
}

impl Params {
    /// Voxels in one volume.
    pub fn voxels(&self) -> usize {
        self.nx * self.ny * self.nz
    }

    /// The signal's shape: `[flip angles, nz, ny, nx]`.
    pub fn shape(&self) -> [usize; 4] {
        [self.flip_deg.len(), self.nz, self.ny, self.nx]
    }
}

/// What the phantom was made of, per voxel (`[nz, ny, nx]`).
#[derive(Debug, Clone)]
pub struct Truth {
    /// The proton-density-weighted mean T1 of the voxel's tissues, ms (0 in air).
    pub t1: Vec<f32>,
    /// Whether the voxel is white matter only (no partial volume with anything else).
    pub white: Vec<bool>,
}

/// A simulated acquisition.
#[derive(Debug, Clone)]
pub struct Phantom {
    /// Magnitude signal, `[flip angles, nz, ny, nx]` (see [`Params::shape`]).
    pub signal: Vec<f32>,
    /// The anatomy it was simulated from.
    pub truth: Truth,
}

/// A tissue: proton density (fraction of M0) and T1 at 3 T (ms).
#[derive(Debug, Clone, Copy)]
struct Tissue {
    pd: f64,
    t1: f64,
}

const SCALP: Tissue = Tissue { pd: 0.85, t1: 380.0 };
const SKULL: Tissue = Tissue { pd: 0.04, t1: 300.0 };
const CSF: Tissue = Tissue { pd: 1.0, t1: 4000.0 };
const GREY: Tissue = Tissue { pd: 0.82, t1: 1400.0 };
const WHITE: Tissue = Tissue { pd: 0.7, t1: 800.0 };
const DEEP_GREY: Tissue = Tissue { pd: 0.78, t1: 1200.0 };
/// A lesion's T1 varies from core to rim (see [`LESIONS`]).
const LESION_PD: f64 = 0.86;

/// Head: semi-axes in mm (x left-right, y posterior-anterior, z inferior-superior) and the
/// centre's height.
const HEAD: [f64; 3] = [78.0, 96.0, 74.0];
const HEAD_ZC: f64 = -8.0;
/// About half a voxel in normalised radius: the partial-volume width.
const PV: f64 = 1.0 / 78.0;

/// An ellipsoid: centre and semi-axes in mm, and how far its x bends with y squared.
struct Ellipsoid {
    c: [f64; 3],
    s: [f64; 3],
    bend: f64,
}

/// Lateral ventricles: bent outwards at the frontal and occipital horns.
const VENTRICLES: [Ellipsoid; 2] = [
    Ellipsoid {
        c: [-8.0, 2.0, 10.0],
        s: [4.5, 28.0, 12.0],
        bend: -0.01,
    },
    Ellipsoid {
        c: [8.0, 2.0, 10.0],
        s: [4.5, 28.0, 12.0],
        bend: 0.01,
    },
];

/// Deep grey nuclei.
const NUCLEI: [Ellipsoid; 2] = [
    Ellipsoid {
        c: [-19.0, -2.0, -2.0],
        s: [8.0, 13.0, 10.0],
        bend: 0.0,
    },
    Ellipsoid {
        c: [19.0, -2.0, -2.0],
        s: [8.0, 13.0, 10.0],
        bend: 0.0,
    },
];

/// A spherical lesion whose T1 goes from `t1_core` at the centre to `t1_rim` at the edge.
struct Lesion {
    c: [f64; 3],
    r: f64,
    t1_core: f64,
    t1_rim: f64,
}

const LESIONS: [Lesion; 2] = [
    Lesion {
        c: [27.0, 22.0, 22.0],
        r: 8.0,
        t1_core: 2300.0,
        t1_rim: 1500.0,
    },
    Lesion {
        c: [-24.0, -28.0, 14.0],
        r: 4.5,
        t1_core: 1800.0,
        t1_rim: 1400.0,
    },
];

/// 1 inside, 0 outside, linear over `width` (normalised units) around `r0`: partial volume.
fn inside(r: f64, r0: f64, width: f64) -> f64 {
    (0.5 - (r - r0) / width).clamp(0.0, 1.0)
}

fn ellipsoid_fraction(x: f64, y: f64, z: f64, e: &Ellipsoid) -> f64 {
    let dy = y - e.c[1];
    let a = (x - e.c[0] - e.bend * dy * dy) / e.s[0];
    let b = dy / e.s[1];
    let c = (z - e.c[2]) / e.s[2];
    inside((a * a + b * b + c * c).sqrt(), 1.0, 0.12)
}

/// A plane wave `[kx, ky, kz, phase]`.
type Wave = [f64; 4];

/// `n` plane waves of wavelength about `lambda_mm` in random directions: a smooth random
/// field.
fn waves(rand: &mut Mulberry32, n: usize, lambda_mm: f64) -> Vec<Wave> {
    (0..n)
        .map(|_| {
            let u = 2.0 * rand.next_f64() - 1.0;
            let az = std::f64::consts::TAU * rand.next_f64();
            let s = (1.0 - u * u).sqrt();
            let k = (std::f64::consts::TAU / lambda_mm) * (0.8 + 0.4 * rand.next_f64());
            [
                k * s * az.cos(),
                k * s * az.sin(),
                k * u,
                std::f64::consts::TAU * rand.next_f64(),
            ]
        })
        .collect()
}

/// The field of `ws` at `(x, y, z)`, in about [-1, 1].
fn field(ws: &[Wave], x: f64, y: f64, z: f64) -> f64 {
    let sum: f64 = ws
        .iter()
        .map(|[kx, ky, kz, p]| (kx * x + ky * y + kz * z + p).sin())
        .sum();
    sum / (ws.len() as f64 / 2.0).sqrt() / 1.5
}

/// The tissues of one voxel: up to 8 components of (fraction, T1, proton density).
#[derive(Debug, Default)]
struct Mix {
    n: usize,
    fraction: [f64; 8],
    t1: [f64; 8],
    pd: [f64; 8],
    /// The fraction of white matter.
    white: f64,
}

impl Mix {
    fn add(&mut self, fraction: f64, t1: f64, pd: f64) {
        if fraction > 1e-6 {
            self.fraction[self.n] = fraction;
            self.t1[self.n] = t1;
            self.pd[self.n] = pd;
            self.n += 1;
        }
    }

    /// The proton-density-weighted mean T1 (0 for air).
    fn t1_mean(&self) -> f64 {
        let (mut t1, mut weight) = (0.0, 0.0);
        for c in 0..self.n {
            t1 += self.fraction[c] * self.pd[c] * self.t1[c];
            weight += self.fraction[c] * self.pd[c];
        }
        if weight > 0.0 { t1 / weight } else { 0.0 }
    }
}

/// The anatomy: where each tissue is, from the seed's random texture and folding.
struct Anatomy {
    /// Random phases of a smooth T1 texture (a few % within tissue, as in real maps).
    phase: [f64; 6],
    /// Moves the grey/white boundary (gyri).
    fold: Vec<Wave>,
    /// Its zero set cuts narrow CSF clefts (sulci) into the cortex.
    sulci: Vec<Wave>,
}

impl Anatomy {
    fn new(seed: u32) -> Self {
        let mut texture = Mulberry32::new(seed ^ 0x9e37_79b9);
        let phase = std::array::from_fn(|_| texture.next_f64() * std::f64::consts::TAU);
        let fold = waves(&mut texture, 12, 24.0);
        let sulci = waves(&mut texture, 12, 20.0);
        Anatomy { phase, fold, sulci }
    }

    /// The tissue mix at `(x, y, z)` mm from the centre of the field of view.
    fn mix(&self, x: f64, y: f64, z: f64, mix: &mut Mix) {
        *mix = Mix::default();
        let (zx, zy, zz) = (x / HEAD[0], y / HEAD[1], (z - HEAD_ZC) / HEAD[2]);
        let r = (zx * zx + zy * zy + zz * zz).sqrt();
        if r >= 1.0 + PV {
            return;
        }
        // Cortical folding: the sulci are wider towards the surface.
        let fold = field(&self.fold, x, y, z);
        let sulc = field(&self.sulci, x, y, z);
        let r_wm = 0.76 + 0.06 * fold; // grey / white matter boundary
        let r_cortex = 0.872; // outer surface of the cortex
        let depth = ((r - r_wm - 0.02) / (r_cortex - r_wm - 0.02)).clamp(0.0, 1.0);
        let cleft = if depth > 0.0 {
            inside(sulc.abs(), 0.04 + 0.14 * depth, 0.1)
        } else {
            0.0
        };
        let f_head = inside(r, 1.0, PV);
        let f_skull_in = inside(r, 0.935, PV);
        let f_csf_in = inside(r, 0.888, PV);
        let f_brain = f_csf_in.min(inside(r, r_cortex, PV)) * (1.0 - cleft);
        let f_wm = f_brain.min(inside(r, r_wm, PV));
        // Layers: scalp | skull | CSF | GM | WM (fractions of this voxel).
        let mut wm = f_wm;
        let gm = f_brain - f_wm;
        let mut csf = f_csf_in - f_brain;
        let skull = f_skull_in - f_csf_in;
        let scalp = f_head - f_skull_in;
        // Deep structures replace white matter.
        let deep = NUCLEI
            .iter()
            .fold(0.0, |d, e| ellipsoid_fraction(x, y, z, e).max(d))
            .min(wm);
        wm -= deep;
        let vent = VENTRICLES
            .iter()
            .fold(0.0, |d, e| ellipsoid_fraction(x, y, z, e).max(d))
            .min(wm);
        wm -= vent;
        csf += vent;
        let (mut lesion, mut lesion_t1) = (0.0, 0.0);
        for l in &LESIONS {
            let (dx, dy, dz) = (x - l.c[0], y - l.c[1], z - l.c[2]);
            let d = (dx * dx + dy * dy + dz * dz).sqrt();
            let f = inside(d, l.r, 1.5).min(wm);
            if f > lesion {
                lesion = f;
                let u = (d / l.r).min(1.0);
                lesion_t1 = l.t1_core + (l.t1_rim - l.t1_core) * u * u;
            }
        }
        wm -= lesion;
        // A smooth T1 texture, +-3 %.
        let ph = &self.phase;
        let tex = 1.0 + 0.03 * (0.11 * x + ph[4]).sin() * (0.09 * y + ph[5]).cos() * (0.13 * z + ph[0]).sin();
        for (f, t) in [
            (scalp, SCALP),
            (skull, SKULL),
            (csf, CSF),
            (gm, GREY),
            (wm, WHITE),
            (deep, DEEP_GREY),
        ] {
            mix.add(f, t.t1 * tex, t.pd);
        }
        mix.add(lesion, lesion_t1 * tex, LESION_PD);
        mix.white = wm;
    }
}

/// Visits every voxel in memory order (x fastest) with its index, position in mm and
/// tissue mix.
fn scan(p: &Params, mut visit: impl FnMut(usize, [f64; 3], &Mix)) {
    let anatomy = Anatomy::new(p.seed);
    let mut mix = Mix::default();
    let centre = |i: usize, n: usize, mm: f64| (i as f64 - n as f64 / 2.0 + 0.5) * mm;
    for k in 0..p.nz {
        let z = centre(k, p.nz, p.voxel_mm[2]);
        for j in 0..p.ny {
            let y = centre(j, p.ny, p.voxel_mm[1]);
            for i in 0..p.nx {
                let x = centre(i, p.nx, p.voxel_mm[0]);
                anatomy.mix(x, y, z, &mut mix);
                visit((k * p.ny + j) * p.nx + i, [x, y, z], &mix);
            }
        }
    }
}

/// A white-matter-only voxel: partial volume below this is ignored.
const PURE: f64 = 0.999;

impl Truth {
    fn new(voxels: usize) -> Self {
        Truth {
            t1: vec![0.0; voxels],
            white: vec![false; voxels],
        }
    }

    fn set(&mut self, v: usize, mix: &Mix) {
        self.t1[v] = mix.t1_mean() as f32;
        self.white[v] = mix.white >= PURE;
    }
}

/// The anatomy of the phantom of `p` without simulating the scan (for checking a fit
/// whose input came from a cache).
pub fn truth(p: &Params) -> Truth {
    let mut truth = Truth::new(p.voxels());
    scan(p, |v, _, mix| truth.set(v, mix));
    truth
}

/// Simulates the phantom of `p`.
pub fn simulate(p: &Params) -> Phantom {
    let nvox = p.voxels();
    let nf = p.flip_deg.len();
    let trig = spgr::angles(&p.flip_deg);
    let mut signal = vec![0.0f32; nf * nvox];
    let mut truth = Truth::new(nvox);
    let mut noise = Gaussian::new(Mulberry32::new(p.seed));
    let mut clean = vec![0.0f64; nf];
    scan(p, |v, [x, y, z], mix| {
        truth.set(v, mix);
        // Smooth receive bias (coil sensitivity), about 0.8 .. 1.2.
        let bias = 1.0 + 0.14 * (x / 120.0) - 0.1 * (y / 120.0) * (y / 120.0)
            + 0.08 * (z / 80.0)
            + 0.05 * (x / 120.0) * (z / 80.0);
        clean.fill(0.0);
        for c in 0..mix.n {
            let e1 = (-p.tr_ms / mix.t1[c]).exp();
            let m0 = mix.fraction[c] * mix.pd[c] * p.m0 * bias;
            for (s, &(sin_a, cos_a)) in clean.iter_mut().zip(&trig) {
                *s += spgr::signal(m0, e1, sin_a, cos_a);
            }
        }
        for (f, &s) in clean.iter().enumerate() {
            // Magnitude of the complex signal with Gaussian noise in each channel.
            let re = s + p.noise_sigma * noise.next_f64();
            let im = p.noise_sigma * noise.next_f64();
            signal[f * nvox + v] = (re * re + im * im).sqrt() as f32;
        }
    });
    Phantom { signal, truth }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_texture_stream_is_the_javascripts() {
        // mulberry32(20240917 ^ 0x9e3779b9)() in www/lib/phantom.js: the first random phase.
        let anatomy = Anatomy::new(Params::default().seed);
        assert_eq!(anatomy.phase[0], 0.3242278415709734 * std::f64::consts::TAU);
    }

    #[test]
    fn a_small_phantom_is_a_head_in_air() {
        let p = Params {
            nx: 32,
            ny: 32,
            nz: 16,
            voxel_mm: [7.5, 7.5, 10.0],
            ..Params::default()
        };
        let phantom = simulate(&p);
        assert_eq!(phantom.signal.len(), 4 * p.voxels());
        // The corners are air (noise only), the centre is brain with white matter.
        let corner = phantom.signal[0];
        let centre = (p.nz / 2 * p.ny + p.ny / 2) * p.nx + p.nx / 2;
        assert!(corner < 5.0, "corner {corner}");
        assert_eq!(phantom.truth.t1[0], 0.0);
        assert!(phantom.signal[3 * p.voxels() + centre] > 50.0);
        assert!(phantom.truth.white.iter().any(|&w| w));
        assert_eq!(truth(&p).t1, phantom.truth.t1);
    }
}
