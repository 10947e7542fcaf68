// The compute worker's steps on a NIfTI image the page opened: a smoothed map and a
// gradient-magnitude map of each volume shown, and for a variable-flip-angle series the T1
// map. Each is keyed by the file's content fingerprint (blake3 of its bytes as dropped) and
// the map's parameters, so the same file opened again, after a reload or in another tab,
// shows its maps from the cache.
//
// A cached map is sent slice first: the axial slice on show is read with getRegion (from
// the store, only the blocks that hold it) and posted before the whole map is read.
//
// Messages in:  {type: "nifti-open", id, image, bytes, data, shape, voxelMm}
//               {type: "nifti-maps", id, image, volume, z}
//               {type: "nifti-t1", id, image, flipDeg, trMs, z}
// Messages out: {type: "nifti-opened", id, image, fingerprint, t1: {flipDeg, trMs} | null}
//               {type: "nifti-slice", id, image, step, volume, vfa, z, shape, data, source}
//               {type: "nifti-map", id, image, step, volume, vfa, key, source, ms, costMs, shape, data}

import { fingerprintBytes } from "/pkg/index.js";
import { gradientMagnitude } from "./lib/gradient.js";
import { smoothVolume } from "./lib/smooth.js";
import { fitT1 } from "./lib/t1fit.js";

/** The image the page opened last: { seq, fingerprint, data, shape [nt, nz, ny, nx], voxelMm }. */
let image = null;

/** Keeps the image the page opened and tells it the file's fingerprint, and the flip angles
 * and TR of a T1 map cached for this file (the latest), for the page to show it. */
export async function openImage({ cache, post }, { id, image: seq, bytes, data, shape, voxelMm }) {
  const fingerprint = fingerprintBytes(bytes);
  image = { seq, fingerprint, data, shape, voxelMm };
  const t1 = (await cache.entries()).find((e) => e.step === "nifti_t1" && e.provenance.args?.image === fingerprint);
  const vfa = t1 && { flipDeg: t1.provenance.args.flipDeg.map(Number), trMs: Number(t1.provenance.args.trMs) };
  post({ type: "nifti-opened", id, image: seq, fingerprint, t1: vfa ?? null });
}

/** The smoothed and gradient-magnitude maps of volume `volume`. */
export async function deriveMaps(context, { id, image: seq, volume, z }) {
  if (image?.seq !== seq) return; // the page has opened another image since
  const { cache, sigmaVox } = context;
  const [, nz, ny, nx] = image.shape;
  const nvox = nz * ny * nx;
  const vol = image.data.subarray(volume * nvox, (volume + 1) * nvox);
  const shape = [nz, ny, nx];
  const { fingerprint, voxelMm } = image;
  const steps = [
    {
      step: "nifti_smooth",
      key: cache.key("nifti_smooth", { image: fingerprint, volume, sigmaVox }, { version: 1 }),
      compute: (onProgress) => ({ data: smoothVolume(vol, shape, sigmaVox, onProgress), shape, meta: { sigmaVox } }),
    },
    {
      step: "nifti_gradient",
      key: cache.key("nifti_gradient", { image: fingerprint, volume }, { version: 1 }),
      compute: (onProgress) => ({ data: gradientMagnitude(vol, shape, voxelMm, onProgress), shape, meta: { units: "per mm", voxelMm } }),
    },
  ];
  await sendMaps(context, steps, { id, seq, z, volume });
}

/** The T1 map (and its bootstrap SD) of a variable-flip-angle series: [2, nz, ny, nx] in ms. */
export async function imageT1(context, { id, image: seq, flipDeg, trMs, z }) {
  if (image?.seq !== seq) return;
  const { cache, fit } = context;
  const [, nz, ny, nx] = image.shape;
  const nvox = nz * ny * nx;
  const { data: signal, shape } = image;
  const step = {
    step: "nifti_t1",
    key: cache.key("nifti_t1", { image: image.fingerprint, flipDeg, trMs, ...fit }, { version: 1 }),
    compute: (onProgress) => {
      const { t1, t1Sd, info } = fitT1(signal, shape, { flipDeg, trMs, ...fit, onProgress });
      const data = new Float32Array(2 * nvox);
      data.set(t1, 0);
      data.set(t1Sd, nvox);
      return { data, shape: [2, nz, ny, nx], meta: { channels: ["T1", "T1 SD"], units: "ms", flipDeg, trMs, ...info } };
    },
  };
  await sendMaps(context, [step], { id, seq, z, vfa: { flipDeg, trMs } });
}

/**
 * Sends each map: first slice `z` of those already cached, then each whole map, read or
 * computed. (`has` first: a getRegion that misses would count a miss in the cache's
 * statistics, and the getOrCompute after it another.)
 */
async function sendMaps({ cache, post, progress }, steps, { id, seq, z, volume = null, vfa = null }) {
  const about = { id, image: seq, volume, vfa };
  for (const { step, key } of steps) {
    const slice = (await cache.has(key)) && (await cache.getRegion(key, { z }));
    if (slice) {
      post({ type: "nifti-slice", ...about, step, z, shape: slice.shape, data: slice.data, source: slice.source }, [slice.data.buffer]);
    }
  }
  for (const { step, key, compute } of steps) {
    const t0 = performance.now();
    const hit = await cache.getOrCompute(key, () => compute(progress(id, step)));
    const ms = performance.now() - t0;
    post(
      { type: "nifti-map", ...about, step, key: String(key), source: hit.source, ms, costMs: hit.costMs, shape: hit.shape, data: hit.data },
      [hit.data.buffer],
    );
  }
}
