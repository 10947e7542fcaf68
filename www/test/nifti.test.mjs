// Opening and saving NIfTI images, without a browser: every datatype the viewer reads, in
// both byte orders and gzipped, with scl_slope / scl_inter; the files it refuses and what
// it says (gzip bombs and images too large to hold among them); a saved map read back by
// nifti-reader-js with the source's geometry; and the flip angles and TR typed for a T1 map.
//
//   node --test test/nifti.test.mjs

import { test } from "node:test";
import assert from "node:assert/strict";

import { readHeader, readImage } from "nifti-reader-js";

import { gzipSync } from "node:zlib";

import { NiftiError, inflate, readNifti, writeNifti } from "../lib/nifti.js";
import { parseVfa } from "../lib/vfa.js";
import { cubeImage, niftiFile, vfaSeries } from "./nifti-files.mjs";

/** A Node Buffer's bytes as the ArrayBuffer a browser's File.arrayBuffer() gives. */
const arrayBuffer = (buf) => buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
const ramp = (n, f) => Float32Array.from({ length: n }, (_, i) => f(i));

test("every datatype the viewer reads, little- and big-endian, comes out as float32", () => {
  const dims = [4, 3, 2];
  const cases = {
    uint8: ramp(24, (i) => i * 10),
    int16: ramp(24, (i) => (i - 12) * 1000),
    uint16: ramp(24, (i) => i * 2500),
    int32: ramp(24, (i) => (i - 12) * 100_000),
    float32: ramp(24, (i) => (i - 12) * 0.125),
    float64: ramp(24, (i) => (i - 12) * 1.5e3),
  };
  for (const [datatype, values] of Object.entries(cases)) {
    for (const littleEndian of [true, false]) {
      const image = readNifti(arrayBuffer(niftiFile({ dims, values, datatype, littleEndian })));
      assert.equal(image.datatype, datatype);
      assert.equal(image.header.littleEndian, littleEndian, `${datatype}: the byte order the library reports`);
      assert.deepEqual(image.shape, [1, 2, 3, 4]);
      assert.deepEqual(image.voxelMm, [1.5, 1.5, 3]);
      assert.ok(image.data instanceof Float32Array);
      assert.deepEqual(Array.from(image.data), Array.from(values), `${datatype}, ${littleEndian ? "little" : "big"}-endian`);
    }
  }
});

test("scl_slope and scl_inter scale the voxels when the slope is non-zero; gzip and 4D", () => {
  const values = ramp(2 * 24, (i) => 10 + i * 0.5);
  const scaled = readNifti(arrayBuffer(niftiFile({ dims: [4, 3, 2, 2], values, datatype: "int16", slope: 0.5, inter: 10, gzip: true })));
  assert.deepEqual(scaled.shape, [2, 2, 3, 4]);
  assert.deepEqual(Array.from(scaled.data), Array.from(values));
  // Slope 0 means "not scaled": the stored numbers as they are, the intercept ignored too.
  const raw = ramp(24, (i) => i);
  const unscaled = readNifti(arrayBuffer(niftiFile({ dims: [4, 3, 2], values: raw, datatype: "int16", slope: 0, inter: 0 })));
  assert.deepEqual(Array.from(unscaled.data), Array.from(raw));
  const cal = readNifti(arrayBuffer(niftiFile({ dims: [4, 3, 2], values: raw, calWindow: [2, 20] })));
  assert.deepEqual(cal.calWindow, [2, 20]);
  assert.equal(unscaled.calWindow, null);
});

test("files the viewer cannot show are refused with a message that says why", () => {
  const { file } = cubeImage(16, 16, 8);
  const refused = (bytes, pattern) => assert.throws(() => readNifti(arrayBuffer(Buffer.from(bytes))), (e) => e instanceof NiftiError && pattern.test(e.message));
  refused(Buffer.from("this is a text file, not an image\n".repeat(20)), /not a NIfTI image/);
  refused(Buffer.alloc(0), /empty or too short/);
  refused(file.subarray(0, 200), /not a NIfTI image/);
  refused(file.subarray(0, file.length - 100), /cut short: 8,092 of 8,192 bytes/);
  const gz = niftiFile({ dims: [16, 16, 8], values: new Float32Array(2048), gzip: true });
  refused(gz.subarray(0, gz.length >> 1), /gzip-compressed but does not decompress/);
  refused(niftiFile({ dims: [4, 4, 4], values: new Float32Array(64), datatype: "complex64" }), /^datatype code 32: not supported; the viewer reads uint8, int16, int32, float32, float64, uint16$/);
  refused(niftiFile({ dims: [4, 4, 4, 2, 3], values: new Float32Array(384) }), /5 dimensions; the viewer opens 3D and 4D images/);
});

test("a file that inflates past the limit (a gzip bomb) is refused before it is held", () => {
  // 64 MiB of zeros in 64 KiB of gzip, eight times over: one file of 512 MiB inflated.
  const member = gzipSync(Buffer.alloc(64 << 20));
  const bomb = arrayBuffer(Buffer.concat(Array(8).fill(member)));
  assert.ok(bomb.byteLength < 1 << 20);
  assert.throws(() => inflate(bomb, 16 << 20), (e) => e instanceof NiftiError && /inflates to more than 16,777,216 bytes/.test(e.message));
  // The limit is exact: one member inflates to 64 MiB.
  assert.equal(inflate(arrayBuffer(member), 64 << 20).byteLength, 64 << 20);
  assert.throws(() => inflate(arrayBuffer(member), (64 << 20) - 1), /inflates to more than/);
  const huge = niftiFile({ dims: [1024, 1024, 512], values: new Float32Array(8), datatype: "uint8" });
  assert.throws(() => readNifti(arrayBuffer(huge)), (e) => e instanceof NiftiError && /the image has 536,870,912 voxels; the viewer opens images of up to 268,435,456 voxels/.test(e.message));
});

test("a saved map reads back with nifti-reader-js: float32, the source's grid and geometry, the same values", () => {
  const { file } = vfaSeries(12, 10, 6);
  const source = readNifti(arrayBuffer(file)).header;
  const map = ramp(12 * 10 * 6, (i) => Math.sqrt(i) * 3.25);
  const saved = writeNifti(source, map, "T1 (ms) · from stepcache");
  const header = readHeader(saved);
  assert.deepEqual(header.dims.slice(0, 5), [3, 12, 10, 6, 1]);
  assert.deepEqual(header.pixDims.slice(0, 4), source.pixDims.slice(0, 4));
  assert.equal(header.vox_offset, 352);
  assert.equal(header.datatypeCode, 16);
  for (const field of ["qform_code", "sform_code", "quatern_b", "quatern_c", "quatern_d", "qoffset_x", "qoffset_y", "qoffset_z"]) {
    assert.equal(header[field], source[field], field);
  }
  assert.deepEqual(header.affine, source.affine);
  assert.equal(header.description, "T1 (ms) ? from stepcache");
  assert.deepEqual(Array.from(new Float32Array(readImage(header, saved))), Array.from(map));
  const again = readNifti(saved);
  assert.deepEqual(again.shape, [1, 6, 10, 12]);
  assert.deepEqual(Array.from(again.data), Array.from(map));
  assert.throws(() => writeNifti(source, map.subarray(1)), /719 values for 12×10×6 voxels/);
});

test("flip angles and TR as typed: one positive angle per volume, a positive TR", () => {
  assert.deepEqual(parseVfa("3, 6,12 ,18", " 15 ", 4), { flipDeg: [3, 6, 12, 18], trMs: 15 });
  assert.deepEqual(parseVfa("2 5", "7.5", 2), { flipDeg: [2, 5], trMs: 7.5 });
  assert.throws(() => parseVfa("3, 6, 12", "15", 4), /3 flip angles for 4 volumes/);
  assert.throws(() => parseVfa("3, -6, 12, 18", "15", 4), /flip angle "-6" is not a number of degrees/);
  assert.throws(() => parseVfa("3, six, 12, 18", "15", 4), /flip angle "six"/);
  assert.throws(() => parseVfa("", "15", 4), /enter 4 flip angles/);
  assert.throws(() => parseVfa("5, 5", "15", 2), /two different flip angles/);
  assert.throws(() => parseVfa("3, 6, 12, 18", "0", 4), /TR must be a positive number/);
  assert.throws(() => parseVfa("3, 6, 12, 18", "", 4), /TR must be a positive number/);
});
