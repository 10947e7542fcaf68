// Gradient magnitude of a 3D volume, |∇I| in intensity per mm, by central differences
// (one-sided at the volume's faces, so the border voxels get a gradient too). Each axis is
// divided by its own voxel size: anisotropic voxels do not exaggerate edges across slices.

/** The derivative along one axis at voxel `v`, which sits at position `p` of that axis. */
function derivative(vol, v, p, { n, stride, mm }) {
  if (n < 2) return 0;
  const lo = p > 0 ? v - stride : v;
  const hi = p < n - 1 ? v + stride : v;
  return (vol[hi] - vol[lo]) / (((hi - lo) / stride) * mm);
}

/**
 * |∇I| of a [nz, ny, nx] volume with voxel sizes `voxelMm` = [dx, dy, dz] in mm.
 * Returns a Float32Array [nz, ny, nx].
 */
export function gradientMagnitude(vol, shape, voxelMm = [1, 1, 1], onProgress = () => {}) {
  const [nz, ny, nx] = shape;
  const axes = [
    { n: nx, stride: 1, mm: voxelMm[0] },
    { n: ny, stride: nx, mm: voxelMm[1] },
    { n: nz, stride: nx * ny, mm: voxelMm[2] },
  ];
  const out = new Float32Array(nx * ny * nz);
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0, v = (k * ny + j) * nx; i < nx; i++, v++) {
        const gx = derivative(vol, v, i, axes[0]);
        const gy = derivative(vol, v, j, axes[1]);
        const gz = derivative(vol, v, k, axes[2]);
        out[v] = Math.sqrt(gx * gx + gy * gy + gz * gz);
      }
    }
    onProgress((k + 1) / nz);
  }
  return out;
}
