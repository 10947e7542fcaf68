// The demo's physics, without a browser: the phantom is deterministic, the SPGR model is
// right, the T1 fit recovers known T1 values (and its bootstrap SD matches the real
// scatter), the smoothed R1 map stays inside the mask, an image's smoothing keeps its level
// up to the borders, and the gradient magnitude is right in mm.
//
//   node --test test/physics.test.mjs

import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";

import { makePhantom, spgr, TISSUES } from "../lib/phantom.js";
import { fitT1, estimateNoise } from "../lib/t1fit.js";
import { smoothR1, smoothVolume } from "../lib/smooth.js";
import { gradientMagnitude } from "../lib/gradient.js";

const FLIPS = [2, 5, 10, 15];
const rad = (d) => (d * Math.PI) / 180;
const sha = (a) => createHash("sha256").update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest("hex");

/** A [nf, 1, 1, n] volume of noiseless SPGR signals of `t1s` (M0 = 1000). */
function line(t1s, trMs) {
  const n = t1s.length;
  const signal = new Float32Array(FLIPS.length * n);
  FLIPS.forEach((d, f) => t1s.forEach((t1, i) => (signal[f * n + i] = spgr(1000, t1, trMs, rad(d)))));
  return { signal, shape: [FLIPS.length, 1, 1, n] };
}

test("the SPGR signal has the Ernst angle where theory puts it", () => {
  const tr = 15, t1 = 800;
  const ernst = Math.acos(Math.exp(-tr / t1));
  const at = (a) => spgr(1000, t1, tr, a);
  assert.ok(at(ernst) > at(ernst * 0.9) && at(ernst) > at(ernst * 1.1));
  assert.equal(spgr(1000, t1, tr, 0), 0);
});

test("the phantom is deterministic and tissue-like", () => {
  const small = { nx: 48, ny: 48, nz: 24, voxelMm: [5, 5, 6.67] };
  const a = makePhantom(small);
  const b = makePhantom(small);
  assert.deepEqual(a.shape, [4, 24, 48, 48]);
  assert.equal(sha(a.signal), sha(b.signal), "same seed, same bytes");
  const c = makePhantom({ ...small, seed: 7 });
  assert.notEqual(sha(a.signal), sha(c.signal), "another seed, other noise");
  const t1s = new Set(Array.from(a.t1True, (t) => Math.round(t / 100) * 100));
  for (const t of [800, 1400, 4000]) assert.ok(t1s.has(t), `a tissue with T1 ${t} ms`);
  const sigma = estimateNoise(a.signal, a.shape);
  assert.ok(Math.abs(sigma - a.noiseSigma) < 0.15 * a.noiseSigma, `background noise ${sigma} ~ ${a.noiseSigma}`);
});

test("the fit recovers T1 from noiseless data, for every TR", () => {
  const t1s = [300, 800, 1400, 2500, 4000];
  for (const trMs of [15, 20, 25]) {
    const { signal, shape } = line(t1s, trMs);
    const { t1 } = fitT1(signal, shape, { flipDeg: FLIPS, trMs, noiseSigma: 0.01, bootstrap: 0 });
    t1s.forEach((want, i) => assert.ok(Math.abs(t1[i] - want) < 1e-3 * want, `TR ${trMs}: T1 ${t1[i]} for ${want}`));
  }
});

test("the fit clamps, and leaves low-signal voxels 0", () => {
  const { signal, shape } = line([20000, 800], 15);
  signal[1] = signal[3] = signal[5] = signal[7] = 0.5; // the second voxel: noise level only
  const { t1, info } = fitT1(signal, shape, { flipDeg: FLIPS, trMs: 15, noiseSigma: 1, bootstrap: 0 });
  assert.equal(t1[0], 5000, "clamped to t1MaxMs");
  assert.equal(t1[1], 0, "below the SNR threshold");
  assert.equal(info.clamped, 1);
  assert.throws(() => fitT1(signal, shape, { flipDeg: [2, 5], trMs: 15 }), /flip angles/);
});

test("on the noisy phantom: unbiased T1 per tissue, and a bootstrap SD that matches the scatter", () => {
  const p = makePhantom({ nx: 64, ny: 64, nz: 32, voxelMm: [3.75, 3.75, 5] });
  const { t1, t1Sd, info } = fitT1(p.signal, p.shape, { flipDeg: p.flipDeg, trMs: p.trMs, bootstrap: 16 });
  assert.ok(info.fitted > 10_000, `${info.fitted} voxels fitted`);
  for (const [name, tissue] of Object.entries({ wm: TISSUES.wm, gm: TISSUES.gm, csf: TISSUES.csf })) {
    const got = [], sds = [];
    for (let v = 0; v < t1.length; v++) {
      if (t1[v] > 0 && Math.abs(p.t1True[v] - tissue.t1) < 0.002 * tissue.t1) {
        got.push(t1[v]);
        sds.push(t1Sd[v]);
      }
    }
    assert.ok(got.length > 50, `${name}: ${got.length} pure voxels`);
    got.sort((x, y) => x - y);
    sds.sort((x, y) => x - y);
    const median = got[got.length >> 1];
    // The spread of the estimates against the SD the bootstrap predicts (robust: IQR / 1.349).
    const iqrSd = (got[Math.floor(got.length * 0.75)] - got[Math.floor(got.length * 0.25)]) / 1.349;
    const sd = sds[sds.length >> 1];
    assert.ok(Math.abs(median - tissue.t1) < 0.03 * tissue.t1, `${name}: median T1 ${median.toFixed(0)} vs ${tissue.t1}`);
    assert.ok(sd > 0.6 * iqrSd && sd < 1.6 * iqrSd, `${name}: bootstrap SD ${sd.toFixed(0)} vs scatter ${iqrSd.toFixed(0)}`);
  }
});

test("smoothed R1 is 1000/T1 inside the mask, edges included, and 0 outside", () => {
  const shape = [8, 16, 16];
  const t1 = new Float32Array(8 * 16 * 16);
  for (let k = 0; k < 8; k++) for (let j = 0; j < 16; j++) for (let i = 0; i < 16; i++) {
    if (i >= 4 && i < 12 && j >= 4 && j < 12) t1[(k * 16 + j) * 16 + i] = 800;
  }
  const r1 = smoothR1(t1, shape, 1);
  for (let v = 0; v < t1.length; v++) {
    if (t1[v] > 0) assert.ok(Math.abs(r1[v] - 1.25) < 1e-5, `R1 ${r1[v]} at ${v}`);
    else assert.equal(r1[v], 0);
  }
});

test("a smoothed image keeps a constant level up to its borders and its total inside", () => {
  const shape = [6, 10, 12];
  const flat = new Float32Array(6 * 10 * 12).fill(7);
  for (const v of smoothVolume(flat, shape, 1.5)) assert.ok(Math.abs(v - 7) < 1e-5, `${v}`);
  const spike = new Float32Array(14 ** 3);
  const centre = (7 * 14 + 7) * 14 + 7;
  spike[centre] = 1000;
  const blurred = smoothVolume(spike, [14, 14, 14], 1);
  assert.ok(Math.abs(blurred.reduce((a, v) => a + v, 0) - 1000) < 0.01, "a point away from the borders keeps its total");
  assert.ok(blurred[centre] < 100, "and is spread");
});

test("the gradient magnitude of a linear ramp is its slope in mm, at the borders too; of a step, its jump over two voxels", () => {
  const [nz, ny, nx] = [5, 6, 7];
  const voxelMm = [2, 0.5, 4];
  const ramp = new Float32Array(nx * ny * nz);
  for (let k = 0; k < nz; k++) for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) ramp[(k * ny + j) * nx + i] = 3 * i - 2 * j + 8 * k;
  const want = Math.hypot(3 / 2, -2 / 0.5, 8 / 4);
  for (const g of gradientMagnitude(ramp, [nz, ny, nx], voxelMm)) assert.ok(Math.abs(g - want) < 1e-5, `${g} vs ${want}`);

  const step = new Float32Array(nx * ny * nz);
  for (let v = 0; v < step.length; v++) step[v] = v % nx >= 3 ? 100 : 0; // an edge between x = 2 and x = 3
  const g = gradientMagnitude(step, [nz, ny, nx], voxelMm);
  const at = (i) => g[(2 * ny + 3) * nx + i];
  assert.deepEqual([at(0), at(1), at(2), at(3), at(4), at(6)], [0, 0, 25, 25, 0, 0], "100 over 2 voxels of 2 mm");
  assert.deepEqual(Array.from(gradientMagnitude(new Float32Array(8).fill(5), [2, 2, 2])), new Array(8).fill(0));
});
