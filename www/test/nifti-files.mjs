// NIfTI files for the tests, made in Node: the header by nifti-reader-js's own writer
// (a NIFTI1 object and its toArrayBuffer()), the voxels encoded as that header says.

import zlib from "node:zlib";

import { NIFTI1 } from "nifti-reader-js";

import { spgr } from "../lib/phantom.js";

/** Datatype: its NIfTI code, bytes per voxel, and the DataView setter (none: left 0). */
const TYPES = {
  uint8: [NIFTI1.TYPE_UINT8, 1, "setUint8"],
  int16: [NIFTI1.TYPE_INT16, 2, "setInt16"],
  uint16: [NIFTI1.TYPE_UINT16, 2, "setUint16"],
  int32: [NIFTI1.TYPE_INT32, 4, "setInt32"],
  float32: [NIFTI1.TYPE_FLOAT32, 4, "setFloat32"],
  float64: [NIFTI1.TYPE_FLOAT64, 8, "setFloat64"],
  complex64: [NIFTI1.TYPE_COMPLEX64, 8, null],
};

/** A rotation about z by 30° as a quaternion, and its offset: a geometry worth copying. */
const QUATERN = { b: 0, c: 0, d: Math.sin(Math.PI / 12) };
const OFFSET = [-90.5, 20.25, -33];

/**
 * The bytes of a .nii (or .nii.gz) file holding `values` (numbers, x fastest) stored as
 * (value - inter) / slope in `datatype` (as they are if slope is 0). dims: [nx, ny, nz, nt?, ...more]; ndim is their count.
 */
export function niftiFile({
  dims, values, datatype = "float32", littleEndian = true, voxelMm = [1.5, 1.5, 3],
  slope = 1, inter = 0, gzip = false, calWindow = null,
}) {
  const [code, bytes, setter] = TYPES[datatype];
  const header = new NIFTI1();
  header.littleEndian = littleEndian;
  header.dims = [dims.length, ...dims, ...new Array(7 - dims.length).fill(1)];
  header.pixDims = [-1, ...voxelMm, 15, 1, 1, 1];
  header.datatypeCode = code;
  header.numBitsPerVoxel = bytes * 8;
  header.vox_offset = 352;
  header.scl_slope = slope;
  header.scl_inter = inter;
  header.xyzt_units = NIFTI1.UNITS_MM | NIFTI1.UNITS_MSEC;
  if (calWindow) [header.cal_min, header.cal_max] = calWindow;
  header.qform_code = NIFTI1.XFORM_SCANNER_ANAT;
  header.sform_code = NIFTI1.XFORM_SCANNER_ANAT;
  [header.quatern_b, header.quatern_c, header.quatern_d] = [QUATERN.b, QUATERN.c, QUATERN.d];
  [header.qoffset_x, header.qoffset_y, header.qoffset_z] = OFFSET;
  const [cos, sin] = [Math.cos(Math.PI / 6), Math.sin(Math.PI / 6)];
  header.affine = [
    [cos * voxelMm[0], -sin * voxelMm[1], 0, OFFSET[0]],
    [sin * voxelMm[0], cos * voxelMm[1], 0, OFFSET[1]],
    [0, 0, -voxelMm[2], OFFSET[2]],
    [0, 0, 0, 1],
  ];
  header.description = "stepcache test image";
  header.magic = "n+1";
  const head = new Uint8Array(header.toArrayBuffer());
  const file = new Uint8Array(352 + values.length * bytes);
  file.set(head.subarray(0, 352));
  if (setter) {
    const view = new DataView(file.buffer, 352);
    const integer = !setter.startsWith("setFloat");
    const stored = (v) => (slope ? (v - inter) / slope : v); // slope 0: not scaled
    values.forEach((v, i) => view[setter](i * bytes, integer ? Math.round(stored(v)) : stored(v), littleEndian));
  }
  return gzip ? zlib.gzipSync(file) : Buffer.from(file.buffer);
}

/** A 3D float32 image: background 100, a cube of 1000 in the middle of each axis. */
export function cubeImage(nx = 128, ny = 128, nz = 48) {
  const values = new Float32Array(nx * ny * nz).fill(100);
  const inCube = (i, n) => i >= n / 4 && i < (3 * n) / 4;
  for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) {
    if (inCube(i, nx) && inCube(j, ny) && inCube(k, nz)) values[(k * ny + j) * nx + i] = 1000;
  }
  return { dims: [nx, ny, nz], values, file: niftiFile({ dims: [nx, ny, nz], values }) };
}

export const VFA = Object.freeze({ flipDeg: [3, 6, 12, 18], trMs: 15, m0: 1000, t1Left: 800, t1Right: 1400 });

/**
 * A 4D variable-flip-angle series, noiseless SPGR signals of known T1, as big-endian int16
 * scaled by scl_slope 0.05, gzipped: a central block with T1 800 ms in its left half and
 * 1400 ms in its right half, 0 outside. Returns the file and the true T1 ([nz, ny, nx]).
 */
export function vfaSeries(nx = 32, ny = 32, nz = 12) {
  const nvox = nx * ny * nz;
  const t1 = new Float32Array(nvox);
  for (let k = 2; k < nz - 2; k++) for (let j = 8; j < ny - 8; j++) for (let i = 8; i < nx - 8; i++) {
    t1[(k * ny + j) * nx + i] = i < nx / 2 ? VFA.t1Left : VFA.t1Right;
  }
  const values = new Float32Array(VFA.flipDeg.length * nvox);
  VFA.flipDeg.forEach((deg, f) => {
    for (let v = 0; v < nvox; v++) {
      if (t1[v]) values[f * nvox + v] = Math.round(spgr(VFA.m0, t1[v], VFA.trMs, (deg * Math.PI) / 180) / 0.05) * 0.05;
    }
  });
  const dims = [nx, ny, nz, VFA.flipDeg.length];
  const file = niftiFile({ dims, values, datatype: "int16", littleEndian: false, slope: 0.05, voxelMm: [2, 2, 4], gzip: true });
  return { dims, t1, file };
}
