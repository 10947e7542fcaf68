// The demo's compute worker: simulates the phantom, and computes the T1 map and the
// smoothed R1 map through the stepcache package (memory tier + the browser's storage, OPFS
// or IndexedDB); and the maps of
// a NIfTI image the page opened (nifti-steps.js).
//
// With `?shared=<url>` on the worker's address (the page passes its own), the cache also
// reads a shared tier at that bucket prefix: results other machines computed (e.g.
// examples/demo_maps.rs) are verified, kept in the browser's storage, and not computed here.
//
// Messages in:  {type: "run", id, trMs, force?} | {type: "clear", id, step?}
//               {type: "invalidate", id, key} | {type: "panel", id}
//               {type: "import", id, file} | {type: "export", id}
//               {type: "nifti-open" | "nifti-maps" | "nifti-t1", id, ...} (nifti-steps.js)
// Messages out: {type: "hello", name, store, ...} | {type: "progress", id, stage, fraction}
//               {type: "phantom", id, ...} | {type: "result", id, step, ...}
//               {type: "panel", id, entries, stats} | {type: "done", id} | {type: "error", id, ...}
//               {type: "imported", id, name, report, trMs} | {type: "exported", id, blob, entries}
//               {type: "nifti-opened" | "nifti-slice" | "nifti-map", id, ...} (nifti-steps.js)

import { open } from "/pkg/index.js";
import { makePhantom, DEFAULTS } from "./lib/phantom.js";
import { fitT1 } from "./lib/t1fit.js";
import { smoothR1 } from "./lib/smooth.js";
import { deriveMaps, imageT1, openImage } from "./nifti-steps.js";

const MiB = 2 ** 20;
const DAY_MS = 86_400_000;
/** Fit settings that enter the T1 key (the code's behaviour is covered by `version`). */
const FIT = Object.freeze({ t1MaxMs: 5000, snrMin: 8, bootstrap: 16 });
const SIGMA_VOX = 1;
/** The shared tier's bucket prefix URL, or null for none. */
const SHARED_URL = new URL(self.location.href).searchParams.get("shared") || null;
/** With a shared tier, every step is read from it (a browser never writes it). */
const sharing = SHARED_URL ? { shared: true } : {};

const cacheReady = open({
  name: "stepcache-demo",
  memoryBudget: 256 * MiB,
  storeBudget: 1024 * MiB,
  policies: {
    t1_map: { retention: "persistent", maxAgeMs: 30 * DAY_MS, ...sharing },
    phantom: { retention: "persistent", maxAgeMs: 30 * DAY_MS, ...sharing },
    // A smooth map: byte shuffle + LZ4 roughly halves it on disk.
    r1_smooth: { retention: "persistent", maxAgeMs: 30 * DAY_MS, compress: true, ...sharing },
    // An opened image's maps, uncompressed: a region read of an uncompressed array reads
    // only the blocks that hold the region.
    nifti_smooth: { retention: "persistent", maxAgeMs: 30 * DAY_MS },
    nifti_gradient: { retention: "persistent", maxAgeMs: 30 * DAY_MS },
    nifti_t1: { retention: "persistent", maxAgeMs: 30 * DAY_MS },
  },
  ...(SHARED_URL ? { shared: { url: SHARED_URL } } : {}),
  persist: true,
});

/** T1 keys by phantom key: each 16 MiB signal is hashed once per worker. */
const t1Keys = new Map();
/** TRs whose signal the page already has. */
const sentToPage = new Set();

const post = (msg, transfer = []) => self.postMessage(msg, transfer);

/** Progress of a stage, at most about 100 messages per stage. */
function progress(id, stage, detail) {
  let last = -1;
  return (fraction) => {
    const pct = Math.floor(fraction * 100);
    if (pct !== last) {
      last = pct;
      post({ type: "progress", id, stage, fraction, detail });
    }
  };
}

/**
 * The phantom of `trMs`: a cached step too (keyed by its generator's settings), so a reload
 * reads 16 MiB from the browser's storage instead of simulating again. The T1 key hashes its signal.
 */
async function phantomFor(cache, trMs, id) {
  const params = { ...DEFAULTS, trMs };
  const key = cache.key("phantom", params, { version: 1 });
  const t0 = performance.now();
  const hit = await cache.getOrCompute(key, () => {
    const p = makePhantom(params, progress(id, "phantom", `TR ${trMs} ms`));
    return {
      data: p.signal,
      shape: p.shape,
      meta: { units: "a.u.", trMs, flipDeg: p.flipDeg, voxelMm: p.voxelMm, noiseSigma: p.noiseSigma, seed: p.seed },
    };
  });
  const ms = performance.now() - t0;
  const keyText = String(key);
  key.free();
  let t1Key = t1Keys.get(keyText);
  let hashMs = null;
  if (!t1Key) {
    post({ type: "progress", id, stage: "hash", fraction: 0, detail: `${(hit.data.byteLength / MiB).toFixed(0)} MiB` });
    const t1 = performance.now();
    t1Key = cache.key(
      "t1_map",
      { trMs, flipDeg: params.flipDeg, signal: { data: hit.data, shape: hit.shape }, ...FIT },
      { version: 1 },
    );
    hashMs = performance.now() - t1;
    t1Keys.set(keyText, t1Key);
  }
  const first = !sentToPage.has(trMs);
  sentToPage.add(trMs);
  post({
    type: "phantom",
    id,
    trMs,
    key: keyText,
    t1Key: String(t1Key),
    source: hit.source,
    ms,
    costMs: hit.costMs,
    hashMs,
    shape: hit.shape,
    voxelMm: params.voxelMm,
    flipDeg: params.flipDeg,
    noiseSigma: params.noiseSigma,
    seed: params.seed,
    signal: first ? hit.data.slice() : undefined, // a copy: the fit below reads the original
  });
  return { signal: hit.data, shape: hit.shape, flipDeg: params.flipDeg, voxelMm: params.voxelMm, t1Key };
}

async function run(cache, { id, trMs, force }) {
  const ph = await phantomFor(cache, trMs, id);
  const [nf, nz, ny, nx] = ph.shape;
  const nvox = nz * ny * nx;

  // 1. The T1 map (and its bootstrap SD), keyed by the signal's hash and the fit settings.
  if (force) cache.setForce(["t1_map"]);
  let t1, t1Ms;
  try {
    const t0 = performance.now();
    t1 = await cache.getOrCompute(ph.t1Key, () => {
      const fit = fitT1(ph.signal, ph.shape, {
        flipDeg: ph.flipDeg,
        trMs,
        ...FIT,
        onProgress: progress(id, "t1_map", `${nx}x${ny}x${nz} voxels, ${nf} flip angles`),
      });
      const data = new Float32Array(2 * nvox);
      data.set(fit.t1, 0);
      data.set(fit.t1Sd, nvox);
      return {
        data,
        shape: [2, nz, ny, nx],
        meta: {
          channels: ["T1", "T1 SD"],
          units: "ms",
          method: "DESPOT1 linear fit + Levenberg-Marquardt, parametric bootstrap SD",
          trMs,
          flipDeg: ph.flipDeg,
          voxelMm: ph.voxelMm,
          // No timings here: the metadata is part of the value R1's lineage key binds, so
          // a field that changes on every fit would make R1 recompute after every forced
          // T1 fit. How long the fit took is in t1.costMs.
          ...fit.info,
        },
      };
    });
    t1Ms = performance.now() - t0;
  } finally {
    if (force) cache.setForce(false);
  }
  post({
    type: "result",
    id,
    trMs,
    step: "t1_map",
    key: String(ph.t1Key),
    source: t1.source,
    ms: t1Ms,
    costMs: t1.costMs,
    createdMs: t1.createdMs,
    shape: t1.shape,
    meta: t1.meta,
    data: t1.data.slice(), // a copy: the R1 step below reads the original
  });

  // 2. R1 = 1/T1, smoothed: keyed by lineage on the T1 hit, its key and content identity
  // (the map is never re-hashed; a T1 map recomputed to other values gives another key).
  const r1Key = cache.key("r1_smooth", { t1, sigmaVox: SIGMA_VOX }, { version: 1 });
  const t2 = performance.now();
  const r1 = await cache.getOrCompute(r1Key, () => ({
    data: smoothR1(t1.data.subarray(0, nvox), [nz, ny, nx], SIGMA_VOX, progress(id, "r1_smooth", `sigma ${SIGMA_VOX} voxel`)),
    shape: [nz, ny, nx],
    meta: { units: "1/s", sigmaVox: SIGMA_VOX, from: String(ph.t1Key) },
  }));
  const r1Ms = performance.now() - t2;
  post(
    {
      type: "result",
      id,
      trMs,
      step: "r1_smooth",
      key: String(r1Key),
      source: r1.source,
      ms: r1Ms,
      costMs: r1.costMs,
      createdMs: r1.createdMs,
      shape: r1.shape,
      meta: r1.meta,
      data: r1.data,
    },
    [r1.data.buffer],
  );
  r1Key.free();
}

/**
 * Imports the bundle `file` (read as a stream, one entry at a time) and tells the page what
 * it held: the report, and the TR of a phantom it added (its provenance records the TR),
 * whose maps the page then shows.
 */
async function importBundle(cache, { id, file }) {
  const before = new Set((await cache.entries()).map((e) => e.key));
  const onProgress = ({ bytes, totalBytes }) =>
    post({ type: "progress", id, stage: "import", fraction: totalBytes ? bytes / totalBytes : 0, detail: file.name });
  const report = await cache.importBundle(file, { onProgress });
  const added = (await cache.entries()).filter((e) => !before.has(e.key));
  const phantom = added.find((e) => e.step === "phantom" && typeof e.provenance.args?.trMs === "number");
  post({ type: "imported", id, name: file.name, report, trMs: phantom?.provenance.args.trMs ?? null });
}

/** Every stored map as one bundle, for the page to save. */
async function exportBundle(cache, { id }) {
  let entries = 0;
  const stream = cache.exportBundle({ onProgress: (p) => (entries = p.entries) });
  const blob = await new Response(stream).blob();
  post({ type: "exported", id, blob, entries });
}

async function panel(cache, id) {
  // A worker gets no notice before its page closes: its counters are kept after each
  // message instead (all time, in the panel).
  await cache.saveStats();
  const [entries, stats] = await Promise.all([cache.entries(), cache.stats()]);
  post({ type: "panel", id, entries, stats });
}

async function handle(msg) {
  const cache = await cacheReady;
  const nifti = { cache, post, progress, fit: FIT, sigmaVox: SIGMA_VOX };
  switch (msg.type) {
    case "run":
      await run(cache, msg);
      break;
    case "clear":
      post({ type: "cleared", id: msg.id, step: msg.step ?? null, removed: await cache.clear(msg.step ?? undefined) });
      break;
    case "invalidate":
      await cache.invalidate(msg.key); // the key's text form, as entries() gives it
      break;
    case "panel":
      break;
    case "import":
      await importBundle(cache, msg);
      break;
    case "export":
      await exportBundle(cache, msg);
      break;
    case "nifti-open":
      await openImage(nifti, msg);
      break;
    case "nifti-maps":
      await deriveMaps(nifti, msg);
      break;
    case "nifti-t1":
      await imageT1(nifti, msg);
      break;
    default:
      throw new Error(`unknown message ${msg.type}`);
  }
  await panel(cache, msg.id);
  post({ type: "done", id: msg.id });
}

let queue = Promise.resolve();
self.onmessage = ({ data }) => {
  queue = queue.then(() =>
    handle(data).catch((e) => {
      console.error(e);
      post({ type: "error", id: data.id, name: e?.name ?? "Error", message: String(e?.message ?? e) });
    }),
  );
};

cacheReady.then(
  (cache) => post({ type: "hello", name: cache.name, store: cache.store, shared: SHARED_URL, defaults: { ...DEFAULTS }, fit: FIT, sigmaVox: SIGMA_VOX }),
  (e) => post({ type: "error", id: null, name: e?.name ?? "Error", message: `could not open the cache: ${e?.message ?? e}` }),
);
