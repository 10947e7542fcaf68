//! The demo's random numbers (`mulberry32` and `gaussian` in www/lib/phantom.js): the
//! same generators, so the same seed gives the same stream of uniforms.

use std::f64::consts::TAU;

/// mulberry32: a small, fast, well-mixed 32-bit generator.
#[derive(Debug, Clone)]
pub struct Mulberry32(u32);

impl Mulberry32 {
    /// A generator from `seed`.
    pub fn new(seed: u32) -> Self {
        Mulberry32(seed)
    }

    /// The next uniform number in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x6d2b_79f5);
        let mut t = self.0;
        t = (t ^ (t >> 15)).wrapping_mul(t | 1);
        t ^= t.wrapping_add((t ^ (t >> 7)).wrapping_mul(t | 61));
        f64::from(t ^ (t >> 14)) / 4_294_967_296.0
    }
}

/// Standard normal numbers from a [`Mulberry32`] (Box-Muller, both of each pair used).
#[derive(Debug, Clone)]
pub struct Gaussian {
    uniform: Mulberry32,
    spare: Option<f64>,
}

impl Gaussian {
    /// Normal numbers from the uniforms of `uniform`.
    pub fn new(uniform: Mulberry32) -> Self {
        Gaussian { uniform, spare: None }
    }

    /// The next standard normal number.
    pub fn next_f64(&mut self) -> f64 {
        if let Some(s) = self.spare.take() {
            return s;
        }
        // ln(0) would be infinite: draw again (as the JavaScript does, below 1e-12 too).
        let mut u = 0.0;
        while u <= 1e-12 {
            u = self.uniform.next_f64();
        }
        let v = self.uniform.next_f64();
        let r = (-2.0 * u.ln()).sqrt();
        self.spare = Some(r * (TAU * v).sin());
        r * (TAU * v).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mulberry32_matches_the_javascript() {
        // mulberry32(1) in www/lib/phantom.js: its first three numbers times 2^32.
        let mut r = Mulberry32::new(1);
        let first: Vec<u64> = (0..3).map(|_| (r.next_f64() * 4_294_967_296.0) as u64).collect();
        assert_eq!(first, [2_693_262_067, 11_749_833, 2_265_367_787]);
    }
}
