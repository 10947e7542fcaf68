//! The spoiled gradient echo (SPGR) steady-state signal, and the pieces of a
//! least-squares fit of `(M0, E1)` to it that the examples' T1 fits share:
//!
//! ```text
//! S(a) = M0 sin(a) (1 - E1) / (1 - cos(a) E1),   E1 = exp(-TR / T1)
//! ```
//!
//! Flip angles are passed as `(sin a, cos a)` pairs ([`angles`]), computed once per fit.

/// `(sin a, cos a)` of each flip angle, given in degrees.
pub fn angles(flip_deg: &[f64]) -> Vec<(f64, f64)> {
    flip_deg
        .iter()
        .map(|d| (d.to_radians().sin(), d.to_radians().cos()))
        .collect()
}

/// The SPGR signal of `(m0, e1)` at one flip angle.
pub fn signal(m0: f64, e1: f64, sin_a: f64, cos_a: f64) -> f64 {
    m0 * sin_a * (1.0 - e1) / (1.0 - cos_a * e1)
}

/// Sum of squared residuals of the model with `(m0, e1)` against the measured `s`.
pub fn sse(s: &[f64], trig: &[(f64, f64)], m0: f64, e1: f64) -> f64 {
    s.iter()
        .zip(trig)
        .map(|(&s, &(sin_a, cos_a))| (s - signal(m0, e1, sin_a, cos_a)).powi(2))
        .sum()
}

/// DESPOT1, the linear fit: `S/sin(a) = E1 * S/tan(a) + M0 (1 - E1)` is a straight line
/// in `x = S/tan(a)`, so the least-squares slope is E1. Returns `(M0, E1)`, or `None` if
/// the line is degenerate or its slope is not a valid E1 (in (0, 1)).
pub fn despot1(s: &[f64], trig: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = s.len() as f64;
    let (mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0);
    for (&s, &(sin_a, cos_a)) in s.iter().zip(trig) {
        let x = s * cos_a / sin_a;
        let y = s / sin_a;
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
    }
    let denom = n * sxx - sx * sx;
    if denom.abs() <= f64::EPSILON * n * sxx {
        return None;
    }
    let slope = (n * sxy - sx * sy) / denom;
    if !(slope > 0.0 && slope < 1.0) {
        return None;
    }
    let intercept = (sy - slope * sx) / n;
    Some((intercept / (1.0 - slope), slope))
}

/// The Gauss-Newton normal equations at `(M0, E1)`: `JᵀJ` (`a11`, `a12`, `a22`) and
/// `Jᵀr` (`g1`, `g2`) for the residuals `r = S - model`, with `J` the model's derivatives
/// in M0 and E1.
#[derive(Debug, Clone, Copy)]
pub struct Normal {
    a11: f64,
    a12: f64,
    a22: f64,
    g1: f64,
    g2: f64,
}

impl Normal {
    /// The normal equations of the measured `s` at `(m0, e1)`.
    pub fn at(s: &[f64], trig: &[(f64, f64)], m0: f64, e1: f64) -> Self {
        let (mut a11, mut a12, mut a22, mut g1, mut g2) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&s, &(sin_a, cos_a)) in s.iter().zip(trig) {
            let q = 1.0 - cos_a * e1;
            let d_m0 = sin_a * (1.0 - e1) / q;
            let d_e1 = m0 * sin_a * (cos_a - 1.0) / (q * q);
            let r = s - m0 * d_m0;
            a11 += d_m0 * d_m0;
            a12 += d_m0 * d_e1;
            a22 += d_e1 * d_e1;
            g1 += d_m0 * r;
            g2 += d_e1 * r;
        }
        Normal { a11, a12, a22, g1, g2 }
    }

    /// The Levenberg-Marquardt step `(ΔM0, ΔE1)` with damping `lambda` (the diagonal of
    /// `JᵀJ` scaled by `1 + lambda`), or `None` where the damped matrix is not positive
    /// definite (the caller raises `lambda` and tries again).
    pub fn step(&self, lambda: f64) -> Option<(f64, f64)> {
        let (b11, b22) = (self.a11 * (1.0 + lambda), self.a22 * (1.0 + lambda));
        let det = b11 * b22 - self.a12 * self.a12;
        if det.is_nan() || det <= 0.0 {
            return None;
        }
        Some((
            (b22 * self.g1 - self.a12 * self.g2) / det,
            (b11 * self.g2 - self.a12 * self.g1) / det,
        ))
    }
}
