// 3D Gaussian smoothing by normalised convolution: the volume and its mask are smoothed
// alike and divided, so zeros outside the mask (or outside the volume) neither leak in nor
// pull the edge values down. R1 = 1 / T1 (in 1/s) is smoothed inside the tissue mask; an
// image is smoothed whole.

function kernel(sigma) {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += k[i + radius] = Math.exp((-i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  return { k, radius };
}

/** Separable convolution of a [nz, ny, nx] volume along one axis (0 = x, 1 = y, 2 = z), zero padded. */
function convolveAxis(src, dst, shape, axis, { k, radius }) {
  const [nz, ny, nx] = shape;
  const n = axis === 0 ? nx : axis === 1 ? ny : nz;
  const stride = axis === 0 ? 1 : axis === 1 ? nx : nx * ny;
  for (let kz = 0; kz < nz; kz++) {
    for (let jy = 0; jy < ny; jy++) {
      const row = (kz * ny + jy) * nx;
      for (let ix = 0; ix < nx; ix++) {
        const pos = axis === 0 ? ix : axis === 1 ? jy : kz;
        const v = row + ix;
        const lo = Math.max(-radius, -pos);
        const hi = Math.min(radius, n - 1 - pos);
        let acc = 0;
        for (let t = lo; t <= hi; t++) acc += k[t + radius] * src[v + t * stride];
        dst[v] = acc;
      }
    }
  }
}

function smooth3d(vol, shape, sigma) {
  const kern = kernel(sigma);
  const a = Float64Array.from(vol);
  const b = new Float64Array(vol.length);
  convolveAxis(a, b, shape, 0, kern);
  convolveAxis(b, a, shape, 1, kern);
  convolveAxis(a, b, shape, 2, kern);
  return b;
}

/**
 * R1 (1/s) from a T1 map (ms), smoothed with a Gaussian of `sigmaVox` voxels inside the mask
 * T1 > 0. Returns a Float32Array [nz, ny, nx]; 0 outside the mask.
 */
export function smoothR1(t1, shape, sigmaVox, onProgress = () => {}) {
  const n = t1.length;
  const r1 = new Float64Array(n);
  const mask = new Float64Array(n);
  for (let v = 0; v < n; v++) {
    if (t1[v] > 0) {
      r1[v] = 1000 / t1[v];
      mask[v] = 1;
    }
  }
  onProgress(0.1);
  const num = smooth3d(r1, shape, sigmaVox);
  onProgress(0.55);
  const den = smooth3d(mask, shape, sigmaVox);
  onProgress(0.95);
  const out = new Float32Array(n);
  for (let v = 0; v < n; v++) if (mask[v] > 0 && den[v] > 1e-6) out[v] = num[v] / den[v];
  onProgress(1);
  return out;
}

/**
 * A [nz, ny, nx] volume smoothed with a Gaussian of `sigmaVox` voxels, its border voxels
 * averaged over the part of the kernel inside the volume. Returns a Float32Array.
 */
export function smoothVolume(vol, shape, sigmaVox, onProgress = () => {}) {
  const num = smooth3d(vol, shape, sigmaVox);
  onProgress(0.5);
  const den = smooth3d(new Float64Array(vol.length).fill(1), shape, sigmaVox);
  const out = new Float32Array(vol.length);
  for (let v = 0; v < vol.length; v++) out[v] = num[v] / den[v];
  onProgress(1);
  return out;
}
