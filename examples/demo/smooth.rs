//! R1 = 1 / T1 (in 1/s) smoothed with a 3D Gaussian inside the tissue mask
//! (www/lib/smooth.js): a normalised convolution, so the zeros outside the mask neither
//! leak in nor pull the values at its edge down.

/// A normalised Gaussian kernel of `sigma` voxels, `2 * radius + 1` taps, and its radius.
fn kernel(sigma: f64) -> (Vec<f64>, usize) {
    let radius = ((3.0 * sigma).ceil() as usize).max(1);
    let taps: Vec<f64> = (0..=2 * radius)
        .map(|i| {
            let d = i as f64 - radius as f64;
            (-d * d / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let sum: f64 = taps.iter().sum();
    (taps.iter().map(|k| k / sum).collect(), radius)
}

/// Convolves a `[nz, ny, nx]` volume along one axis (0 = x, 1 = y, 2 = z), zero padded.
fn convolve_axis(src: &[f64], dst: &mut [f64], [nz, ny, nx]: [usize; 3], axis: usize, (k, radius): &(Vec<f64>, usize)) {
    let (n, stride) = [(nx, 1), (ny, nx), (nz, nx * ny)][axis];
    let radius = *radius as isize;
    for (v, out) in dst.iter_mut().enumerate() {
        // The voxel's position along the axis.
        let pos = ((v / stride) % n) as isize;
        let lo = (-radius).max(-pos);
        let hi = radius.min(n as isize - 1 - pos);
        *out = (lo..=hi)
            .map(|t| k[(t + radius) as usize] * src[(v as isize + t * stride as isize) as usize])
            .sum();
    }
}

/// Smooths a `[nz, ny, nx]` volume with a separable Gaussian of `sigma` voxels.
fn smooth3d(volume: Vec<f64>, shape: [usize; 3], sigma: f64) -> Vec<f64> {
    let kernel = kernel(sigma);
    let mut a = volume;
    let mut b = vec![0.0; a.len()];
    convolve_axis(&a, &mut b, shape, 0, &kernel);
    convolve_axis(&b, &mut a, shape, 1, &kernel);
    convolve_axis(&a, &mut b, shape, 2, &kernel);
    b
}

/// R1 (1/s) of a T1 map (ms, `[nz, ny, nx]`), smoothed with a Gaussian of `sigma_vox`
/// voxels inside the mask T1 > 0; 0 outside the mask.
pub fn smooth_r1(t1: &[f32], shape: [usize; 3], sigma_vox: f64) -> Vec<f32> {
    let mask: Vec<f64> = t1.iter().map(|&t| if t > 0.0 { 1.0 } else { 0.0 }).collect();
    let r1: Vec<f64> = t1
        .iter()
        .map(|&t| if t > 0.0 { 1000.0 / f64::from(t) } else { 0.0 })
        .collect();
    let num = smooth3d(r1, shape, sigma_vox);
    let den = smooth3d(mask.clone(), shape, sigma_vox);
    mask.iter()
        .zip(num.iter().zip(&den))
        .map(|(&m, (&n, &d))| if m > 0.0 && d > 1e-6 { (n / d) as f32 } else { 0.0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uniform_block_keeps_its_r1_up_to_the_edge() {
        let shape = [6, 6, 6];
        let inside = |v: usize| [v % 6, v / 6 % 6, v / 36].iter().all(|&c| (1..5).contains(&c));
        let t1: Vec<f32> = (0..216).map(|v| if inside(v) { 800.0 } else { 0.0 }).collect();
        let r1 = smooth_r1(&t1, shape, 1.0);
        for (v, &r) in r1.iter().enumerate() {
            let want = if inside(v) { 1.25 } else { 0.0 };
            assert!((r - want).abs() < 1e-6, "voxel {v}: {r}");
        }
    }
}
