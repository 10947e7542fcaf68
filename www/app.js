// The demo viewer's page: talks to the compute worker, draws slices with a colour map,
// and shows what the cache holds. All computation happens in worker.js. It shows the
// phantom's maps, or a NIfTI image the user opened and its maps (nifti-view.js).

import { lut } from "./lib/colormaps.js";
import { percentiles } from "./lib/percentiles.js";
import { initNifti, niftiImage, niftiMaps, niftiMessage, niftiReadout, niftiVolume, openNifti, perVolume, setNiftiVolume, updateSave, volumeLabels } from "./nifti-view.js";
import { $, el, fmtMs, SOURCE_TEXT, SOURCE_PLACE, STORE_NAMES, setStatus, setBadge, progressIdle, download } from "./ui.js";

const CANVAS = 512;

/** The phantom's maps: default windows, units and how to read them. */
const MAPS = {
  t1: { label: "T1", units: "ms", window: [0, 4500], masked: true, digits: 0 },
  t1sd: { label: "T1 SD", units: "ms", window: [0, 300], masked: true, digits: 0 },
  r1: { label: "R1 smoothed", units: "s⁻¹", window: [0, 3], masked: true, digits: 3 },
  signal: { label: "Signal", units: "a.u.", window: null, masked: false, digits: 1 },
};

const state = {
  source: "phantom", // or "nifti": the image opened last
  map: "t1",
  mapOf: { phantom: "t1", nifti: "image" }, // the map last shown of each source
  orient: "axial",
  cmap: "viridis",
  interp: "bilinear",
  flip: 3,
  slice: { axial: 38, coronal: 64, sagittal: 64 }, // of the source on show
  sliceOf: { phantom: null, nifti: null },
  niftiShown: 0, // the NIfTI image (its number) the viewer switched to last
  trMs: 15,
  windows: {}, // per map (and flip angle for the signal)
  phantoms: new Map(), // trMs -> { signal, shape, voxelMm, flipDeg, ... }
  maps: { trMs: null, t1: null, t1sd: null, r1: null }, // the volumes of the shown TR
  dims: null, // [nx, ny, nz] of the source on show
  voxelMm: [1.875, 1.875, 2.5],
  phantomGrid: { dims: null, voxelMm: [1.875, 1.875, 2.5] },
  flipDeg: [2, 5, 10, 15],
  latestRun: 0,
  busy: true,
  entries: [],
  lastPanel: 0,
  shownOnce: false,
  view: null, // geometry of the last drawn slice, for the hover readout
  drawn: null, // the volume drawn last, kept on show while the next one is on its way
};

// ----- formatting -------------------------------------------------------------------

function fmtBytes(n) {
  if (n == null || !Number.isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return `${u === 0 ? n : n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0)} ${units[u]}`;
}

function fmtAge(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

function fmtValue(v, digits) {
  if (Math.abs(v) >= 1000) return v.toFixed(0);
  return v.toFixed(digits);
}

// ----- the worker -------------------------------------------------------------------

/**
 * `?shared=<url>` on the page: a bucket prefix that other machines fill (see README.md),
 * resolved against the page and handed to the worker on its own address, since the worker
 * opens the cache as it starts.
 */
const sharedParam = new URLSearchParams(location.search).get("shared");
const workerUrl = new URL("./worker.js", import.meta.url);
if (sharedParam) workerUrl.searchParams.set("shared", new URL(sharedParam, location.href).href);
const worker = new Worker(workerUrl, { type: "module", name: "stepcache-demo" });
let nextId = 0;

function send(type, extra = {}, transfer = []) {
  const id = ++nextId;
  worker.postMessage({ type, id, ...extra }, transfer);
  return id;
}

function runPipeline(force = false) {
  state.latestRun = send("run", { trMs: state.trMs, force });
  setBusy(true);
  setStatus(force ? "Recomputing the T1 map (forced)…" : `Getting the maps for TR ${state.trMs} ms…`, "busy");
}

function refreshPanel() {
  state.lastPanel = performance.now();
  send("panel");
}

worker.onmessage = ({ data: msg }) => {
  if (niftiMessage(msg)) return;
  switch (msg.type) {
    case "hello":
      $("db-name").textContent = msg.name;
      $("db-place").textContent = STORE_NAMES[msg.store] ?? msg.store;
      if (msg.shared) {
        $("shared-url").textContent = msg.shared;
        $("shared-tier").hidden = false;
      }
      runPipeline();
      break;
    case "progress":
      onProgress(msg);
      break;
    case "phantom":
      onPhantom(msg);
      break;
    case "result":
      onResult(msg);
      break;
    case "panel":
      renderPanel(msg);
      break;
    case "imported":
      onImported(msg);
      break;
    case "exported":
      onExported(msg);
      break;
    case "cleared":
      setStatus(`Removed ${msg.removed} ${msg.removed === 1 ? "entry" : "entries"}${msg.step ? ` of ${msg.step}` : ""} — press Run to compute again`, "idle");
      break;
    case "done":
      if (msg.id === state.latestRun && state.busy) {
        setBusy(false);
        const t1 = $("last-result").dataset;
        if (t1.seq === String(msg.id)) {
          setStatus(
            t1.source === "computed"
              ? `Ready — T1 map computed in ${fmtMs(Number(t1.ms))}`
              : `Ready — T1 map from ${SOURCE_PLACE[t1.source] ?? t1.source} in ${fmtMs(Number(t1.ms))}`,
            "idle",
          );
        }
      }
      break;
    case "error":
      console.error(`${msg.name}: ${msg.message}`);
      if (msg.id == null || msg.id === state.latestRun) setBusy(false);
      setStatus(`${msg.name}: ${msg.message}`, "error");
      break;
  }
};

worker.onerror = (e) => {
  setBusy(false);
  setStatus(`The worker failed: ${e.message ?? "could not load (is /pkg/ built?)"}`, "error");
};

// ----- pipeline messages ------------------------------------------------------------

const STAGES = {
  phantom: "Simulating the SPGR phantom",
  hash: "Hashing the signal volume",
  t1_map: "Fitting the T1 map",
  r1_smooth: "Smoothing R1",
  import: "Importing",
  nifti_smooth: "Smoothing the image",
  nifti_gradient: "Gradient magnitude of the image",
  nifti_t1: "Fitting T1 to the image",
};

function onProgress({ stage, fraction, detail }) {
  const pct = Math.round(fraction * 100);
  $("progress").dataset.active = "1";
  $("progress-fill").style.width = `${pct}%`;
  $("progress-label").textContent = `${STAGES[stage] ?? stage}${detail ? ` (${detail})` : ""} · ${pct}%`;
  setStatus(`${STAGES[stage] ?? stage}… ${pct}%`, "busy");
  if ($(`step-${stage}`)) setBadge(stage, "running", "running");
  if (stage === "phantom" && !state.shownOnce) $("placeholder").textContent = `Simulating the phantom… ${pct}%`;
  if (stage === "t1_map" && !state.shownOnce) $("placeholder").textContent = `Fitting the T1 map… ${pct}%`;
}

function onPhantom(msg) {
  const known = state.phantoms.get(msg.trMs);
  if (msg.signal) state.phantoms.set(msg.trMs, msg);
  else if (!known) return;
  const [, nz, ny, nx] = msg.shape;
  state.flipDeg = msg.flipDeg;
  setPhantomGrid([nx, ny, nz], msg.voxelMm);
  if (msg.id !== state.latestRun) return;
  const li = $("step-phantom");
  setBadge("phantom", msg.source, SOURCE_TEXT[msg.source] ?? msg.source);
  li.dataset.source = msg.source;
  li.querySelector(".step-ms").textContent = msg.hashMs == null ? fmtMs(msg.ms) : `${fmtMs(msg.ms)} · hash ${fmtMs(msg.hashMs)}`;
  li.title = `${nx}×${ny}×${nz} voxels × ${msg.flipDeg.length} flip angles (16 MiB), seed ${msg.seed}\nkey ${msg.key}\nT1 key ${msg.t1Key}`;
  $("acq").textContent = `3D SPGR phantom · ${nx}×${ny}×${nz} · flip angles ${msg.flipDeg.map((d) => `${d}°`).join(", ")} · noise σ ${msg.noiseSigma}`;
  if (state.map === "signal") render();
}

/** The phantom's grid: the viewer's while the phantom is on show. */
function setPhantomGrid(dims, voxelMm) {
  state.phantomGrid = { dims, voxelMm };
  if (state.source !== "phantom") return;
  Object.assign(state, state.phantomGrid);
  setupSliders();
  fillFlipSelect();
}

function onResult(msg) {
  const li = $(`step-${msg.step}`);
  if (msg.id !== state.latestRun) return; // a superseded run (the parameters changed since)
  setBadge(msg.step, msg.source, SOURCE_TEXT[msg.source] ?? msg.source);
  li.querySelector(".step-ms").textContent = fmtMs(msg.ms);
  li.title = `key ${msg.key}\ncomputed ${new Date(msg.createdMs).toLocaleString()}, cost ${fmtMs(msg.costMs)}`;
  li.dataset.source = msg.source;
  li.dataset.ms = msg.ms.toFixed(2);

  if (state.maps.trMs !== msg.trMs) {
    state.maps = { trMs: msg.trMs, t1: null, t1sd: null, r1: null };
  }
  if (msg.step === "t1_map") {
    const [, nz, ny, nx] = msg.shape;
    const nvox = nx * ny * nz;
    setPhantomGrid([nx, ny, nz], state.phantomGrid.voxelMm);
    state.maps.t1 = msg.data.subarray(0, nvox);
    state.maps.t1sd = msg.data.subarray(nvox, 2 * nvox);
    state.maps.t1Meta = msg.meta;
    state.maps.r1 = null;
    const last = $("last-result");
    Object.assign(last.dataset, {
      source: msg.source,
      ms: msg.ms.toFixed(2),
      costMs: msg.costMs.toFixed(2),
      step: msg.step,
      seq: String(msg.id),
      tr: String(msg.trMs),
    });
    const speedup = msg.source !== "computed" && msg.ms > 0 ? ` — ${Math.round(msg.costMs / msg.ms)}× faster than computing (${fmtMs(msg.costMs)})` : "";
    last.innerHTML = "";
    last.append(
      el("span", { class: "badge", "data-source": msg.source }, SOURCE_TEXT[msg.source] ?? msg.source),
      el("span", {}, ` T1 map (TR ${msg.trMs} ms) in `),
      el("b", {}, fmtMs(msg.ms)),
      el("span", { class: "muted" }, speedup),
    );
    if (msg.meta?.fitted != null) {
      last.append(el("div", { class: "muted small" }, `${msg.meta.fitted.toLocaleString()} voxels fitted, mean ${msg.meta.meanIterations.toFixed(1)} LM iterations, ${msg.meta.bootstrap} bootstrap refits each`));
    }
  } else if (msg.step === "r1_smooth") {
    state.maps.r1 = msg.data;
  }
  setupSliders();
  render();
  if (msg.step === "t1_map" && !state.shownOnce) {
    state.shownOnce = true;
    $("placeholder").hidden = true;
    document.body.dataset.ready = "1";
  }
}

function setBusy(busy) {
  state.busy = busy;
  document.body.dataset.busy = busy ? "1" : "0";
  if (!busy) {
    progressIdle();
  } else {
    $("progress").dataset.active = "1";
    $("progress-fill").style.width = "0%";
    for (const step of ["phantom", "t1_map", "r1_smooth"]) setBadge(step, "waiting", "…");
  }
}

// ----- volumes and slices -----------------------------------------------------------

/**
 * The volume of the map chosen: { data (Float32Array [nz, ny, nx]), spec, windowKey,
 * title, anatomical (the phantom's axes are anatomical, an image's are shown as stored) },
 * or null while it is on its way.
 */
function currentVolume() {
  if (state.source === "nifti") return niftiVolume(state.map);
  const spec = MAPS[state.map];
  const title = (label) => `${label} · TR ${state.trMs} ms`;
  if (state.map === "signal") {
    const ph = state.phantoms.get(state.trMs);
    if (!ph) return null;
    const [, nz, ny, nx] = ph.shape;
    const nvox = nx * ny * nz;
    const f = Math.min(state.flip, ph.flipDeg.length - 1);
    return {
      data: ph.signal.subarray(f * nvox, (f + 1) * nvox),
      spec,
      windowKey: `signal-${state.trMs}-${f}`,
      title: title(`Signal ${ph.flipDeg[f]}°`),
      anatomical: true,
    };
  }
  if (state.maps.trMs !== state.trMs) return null;
  const data = state.maps[state.map];
  return data ? { data, spec, windowKey: state.map, title: title(spec.label), anatomical: true } : null;
}

/** The volume to draw: the one chosen, or while it is on its way the one drawn before (on
 * the same grid), so that the canvas does not go blank while a map is read or computed. */
function volumeToDraw() {
  const vol = currentVolume();
  if (vol) return (state.drawn = vol);
  const [nx, ny, nz] = state.dims ?? [0, 0, 0];
  return state.drawn?.data.length === nx * ny * nz ? state.drawn : null;
}

// ----- the image on show: the phantom, or a NIfTI image -----------------------------

/** Shows `source` ("phantom" or "nifti") with the map and slices it had last, or `fresh` ones. */
function setSource(source, fresh = null) {
  state.mapOf[state.source] = state.map;
  state.sliceOf[state.source] = state.slice;
  if (fresh) {
    state.mapOf[source] = fresh.map;
    state.sliceOf[source] = fresh.slice;
  }
  state.source = source;
  state.map = state.mapOf[source];
  state.slice = state.sliceOf[source] ?? state.slice;
  $("source").value = source;
  const img = niftiImage();
  Object.assign(state, source === "phantom" ? state.phantomGrid : { dims: img.shape.slice(1).reverse(), voxelMm: img.voxelMm });
  fillMapSelect();
  fillFlipSelect();
  setupSliders();
  render();
}

/** Switches to the NIfTI image just opened (from its middle slices and the image itself),
 * or refreshes the menus of the one on show. */
function showNifti() {
  const img = niftiImage();
  let option = $("source").querySelector('option[value="nifti"]');
  if (!option) $("source").append((option = el("option", { value: "nifti" })));
  option.textContent = img.name;
  if (state.niftiShown === img.seq) return setSource("nifti");
  state.niftiShown = img.seq;
  $("placeholder").hidden = true;
  const [, nz, ny, nx] = img.shape;
  setSource("nifti", { map: "image", slice: { axial: nz >> 1, coronal: ny >> 1, sagittal: nx >> 1 } });
}

function fillMapSelect() {
  const maps = state.source === "phantom" ? Object.fromEntries(Object.entries(MAPS).map(([k, m]) => [k, m.label])) : niftiMaps();
  if (!(state.map in maps)) state.map = Object.keys(maps)[0];
  $("map").replaceChildren(...Object.entries(maps).map(([value, label]) => el("option", { value }, label)));
  $("map").value = state.map;
}

/** Axes of each orientation: horizontal, vertical (flipped so anterior / superior is up), slice. */
const ORIENT = {
  axial: { h: 0, v: 1, s: 2, flipH: false, flipV: true, letters: ["A", "P", "R", "L"] },
  coronal: { h: 0, v: 2, s: 1, flipH: false, flipV: true, letters: ["S", "I", "R", "L"] },
  sagittal: { h: 1, v: 2, s: 0, flipH: true, flipV: true, letters: ["S", "I", "A", "P"] },
};

function setupSliders() {
  if (!state.dims) return;
  const o = ORIENT[state.orient];
  const n = state.dims[o.s];
  const slider = $("slice");
  slider.max = String(n - 1);
  const s = Math.min(state.slice[state.orient], n - 1);
  state.slice[state.orient] = s;
  if (slider.value !== String(s)) slider.value = String(s);
  const mm = (s - n / 2 + 0.5) * state.voxelMm[o.s];
  $("slice-label").textContent = `${s + 1} / ${n} · ${"xyz"[o.s]} ${mm >= 0 ? "+" : ""}${mm.toFixed(1)} mm`;
}

/** The Flip menu: the phantom's flip angles (for its signal), or an image's volumes. */
function fillFlipSelect() {
  const phantom = state.source === "phantom";
  const labels = phantom ? state.flipDeg.map((d) => `${d}°`) : volumeLabels();
  const sel = $("flip");
  sel.replaceChildren(...labels.map((text, i) => el("option", { value: String(i) }, text)));
  sel.value = String(Math.min(phantom ? state.flip : niftiImage().volume, labels.length - 1));
  $("flip-text").textContent = phantom ? "Flip" : "Volume";
  $("flip-label").hidden = labels.length < 2;
  enableFlipSelect();
}

function enableFlipSelect() {
  $("flip").disabled = state.source === "phantom" ? state.map !== "signal" : !perVolume(state.map);
}

/** The slice as a w x h Float32Array (row 0 at the top) and its physical size. */
function extractSlice(vol, orient, s) {
  const [nx, ny] = state.dims;
  const o = ORIENT[orient];
  const w = state.dims[o.h];
  const h = state.dims[o.v];
  const strides = [1, nx, nx * ny];
  const out = new Float32Array(w * h);
  const base = s * strides[o.s];
  for (let r = 0; r < h; r++) {
    const vIdx = o.flipV ? h - 1 - r : r;
    for (let c = 0; c < w; c++) {
      const hIdx = o.flipH ? w - 1 - c : c;
      out[r * w + c] = vol[base + vIdx * strides[o.v] + hIdx * strides[o.h]];
    }
  }
  return { w, h, data: out, mmW: w * state.voxelMm[o.h], mmH: h * state.voxelMm[o.v] };
}

function defaultWindow(vol) {
  if (vol.spec.window) return [...vol.spec.window];
  const [, hi] = percentiles(vol.data, 0, 0.995, false);
  return [0, niceCeil(hi)];
}

function niceStep(x) {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

function niceCeil(x) {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

function windowOf(vol) {
  let w = state.windows[vol.windowKey];
  if (!w) w = state.windows[vol.windowKey] = defaultWindow(vol);
  return w;
}

// ----- drawing ----------------------------------------------------------------------

const view = $("view");
const ctx = view.getContext("2d", { willReadFrequently: true });
const image = ctx.createImageData(CANVAS, CANVAS);

function render() {
  const vol = volumeToDraw();
  updateSave();
  if (!vol || !state.dims) {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, CANVAS, CANVAS);
    state.view = null;
    return;
  }
  const [lo, hi] = windowOf(vol);
  $("win-min").value = String(lo);
  $("win-max").value = String(hi);
  const o = ORIENT[state.orient];
  const s = state.slice[state.orient];
  const sl = extractSlice(vol.data, state.orient, s);
  const scale = Math.min(CANVAS / sl.mmW, CANVAS / sl.mmH);
  const dw = sl.mmW * scale;
  const dh = sl.mmH * scale;
  const ox = (CANVAS - dw) / 2;
  const oy = (CANVAS - dh) / 2;
  const table = lut(state.cmap);
  const px = image.data;
  const inv = hi > lo ? 255 / (hi - lo) : 0;
  const masked = vol.spec.masked;
  const bilinear = state.interp === "bilinear";
  const { w, h, data } = sl;
  for (let y = 0; y < CANVAS; y++) {
    const v = ((y + 0.5 - oy) / dh) * h - 0.5;
    for (let x = 0; x < CANVAS; x++) {
      const p = (y * CANVAS + x) * 4;
      const u = ((x + 0.5 - ox) / dw) * w - 0.5;
      let val = NaN;
      if (u >= -0.5 && u < w - 0.5 && v >= -0.5 && v < h - 0.5) {
        if (bilinear) {
          const u0 = Math.max(0, Math.min(w - 1, Math.floor(u)));
          const v0 = Math.max(0, Math.min(h - 1, Math.floor(v)));
          const u1 = Math.min(w - 1, u0 + 1);
          const v1 = Math.min(h - 1, v0 + 1);
          const fu = Math.max(0, Math.min(1, u - u0));
          const fv = Math.max(0, Math.min(1, v - v0));
          const a = data[v0 * w + u0], b = data[v0 * w + u1], c = data[v1 * w + u0], d = data[v1 * w + u1];
          const wa = (1 - fu) * (1 - fv), wb = fu * (1 - fv), wc = (1 - fu) * fv, wd = fu * fv;
          if (masked) {
            // Interpolate inside the mask only, so the edge of the head stays sharp.
            const ma = a !== 0 ? wa : 0, mb = b !== 0 ? wb : 0, mc = c !== 0 ? wc : 0, md = d !== 0 ? wd : 0;
            const m = ma + mb + mc + md;
            if (m >= 0.5) val = (a * ma + b * mb + c * mc + d * md) / m;
          } else {
            val = a * wa + b * wb + c * wc + d * wd;
          }
        } else {
          const val0 = data[Math.round(v) * w + Math.round(u)];
          if (!masked || val0 !== 0) val = val0;
        }
      }
      if (Number.isNaN(val)) {
        px[p] = 0; px[p + 1] = 0; px[p + 2] = 0; px[p + 3] = 255;
      } else {
        let i = Math.round((val - lo) * inv);
        i = i < 0 ? 0 : i > 255 ? 255 : i;
        px[p] = table[i * 3];
        px[p + 1] = table[i * 3 + 1];
        px[p + 2] = table[i * 3 + 2];
        px[p + 3] = 255;
      }
    }
  }
  ctx.putImageData(image, 0, 0);
  state.view = { o, s, ox, oy, dw, dh, w, h };
  drawOverlay(vol, o, s, scale, ox, oy, dw, dh);
  drawColorbar(vol, lo, hi);
}

function drawOverlay(vol, o, s, scale, ox, oy, dw, dh) {
  ctx.save();
  ctx.font = "12px system-ui, -apple-system, 'Segoe UI', sans-serif";
  ctx.textBaseline = "top";
  ctx.fillStyle = "rgba(230, 237, 243, 0.92)";
  ctx.shadowColor = "rgba(0,0,0,0.8)";
  ctx.shadowBlur = 3;
  const n = state.dims[o.s];
  ctx.fillText(vol.title, 10, 10);
  ctx.fillText(`${state.orient} ${s + 1}/${n}`, 10, 26);
  if (vol.anatomical) drawLetters(o, ox, oy, dw, dh);
  // Scale bar: 50 mm.
  const mm = 50;
  const len = mm * scale;
  const x0 = CANVAS - 16 - len;
  const y0 = CANVAS - 18;
  ctx.shadowBlur = 2;
  ctx.strokeStyle = "rgba(230, 237, 243, 0.92)";
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.moveTo(x0, y0 - 4);
  ctx.lineTo(x0, y0);
  ctx.lineTo(x0 + len, y0);
  ctx.lineTo(x0 + len, y0 - 4);
  ctx.stroke();
  ctx.fillStyle = "rgba(230, 237, 243, 0.92)";
  ctx.textAlign = "center";
  ctx.textBaseline = "bottom";
  ctx.fillText(`${mm} mm`, x0 + len / 2, y0 - 4);
  ctx.restore();
}

/** Orientation letters: top, bottom, left, right. */
function drawLetters(o, ox, oy, dw, dh) {
  const [top, bottom, left, right] = o.letters;
  ctx.save();
  ctx.fillStyle = "rgba(230, 237, 243, 0.6)";
  ctx.textAlign = "center";
  ctx.fillText(top, CANVAS / 2, Math.max(6, oy + 6));
  ctx.textBaseline = "bottom";
  ctx.fillText(bottom, CANVAS / 2, Math.min(CANVAS - 6, oy + dh - 6));
  ctx.textBaseline = "middle";
  ctx.textAlign = "left";
  ctx.fillText(left, Math.max(6, ox + 6), CANVAS / 2);
  ctx.textAlign = "right";
  ctx.fillText(right, Math.min(CANVAS - 6, ox + dw - 6), CANVAS / 2);
  ctx.restore();
}

const cbar = $("colorbar");
const cctx = cbar.getContext("2d");

function drawColorbar(vol, lo, hi) {
  const table = lut(state.cmap);
  const img = cctx.createImageData(cbar.width, cbar.height);
  for (let y = 0; y < cbar.height; y++) {
    const i = Math.round(((cbar.height - 1 - y) / (cbar.height - 1)) * 255);
    for (let x = 0; x < cbar.width; x++) {
      const p = (y * cbar.width + x) * 4;
      img.data[p] = table[i * 3];
      img.data[p + 1] = table[i * 3 + 1];
      img.data[p + 2] = table[i * 3 + 2];
      img.data[p + 3] = 255;
    }
  }
  cctx.putImageData(img, 0, 0);
  $("cbar-units").textContent = vol.spec.units;
  const ticks = $("cbar-ticks");
  ticks.innerHTML = "";
  const digits = hi - lo < 10 ? 2 : hi - lo < 100 ? 1 : 0;
  const add = (v, cls) => {
    const t = hi > lo ? (v - lo) / (hi - lo) : 0;
    const tick = el("span", { class: cls }, fmtValue(v, digits));
    tick.style.bottom = `${t * 100}%`;
    ticks.append(tick);
  };
  add(lo, "min");
  const step = niceStep((hi - lo) / 4);
  for (let v = Math.ceil(lo / step) * step; v < hi; v += step) {
    const t = (v - lo) / (hi - lo);
    if (t > 0.1 && t < 0.88) add(Number(v.toPrecision(6)), "");
  }
  add(hi, "max");
  ticks.dataset.min = String(lo);
  ticks.dataset.max = String(hi);
}

// ----- hover readout ----------------------------------------------------------------

view.addEventListener("mousemove", (e) => {
  const v = state.view;
  if (!v) return;
  const rect = view.getBoundingClientRect();
  const x = ((e.clientX - rect.left) / rect.width) * CANVAS;
  const y = ((e.clientY - rect.top) / rect.height) * CANVAS;
  const c = Math.floor(((x - v.ox) / v.dw) * v.w);
  const r = Math.floor(((y - v.oy) / v.dh) * v.h);
  if (c < 0 || c >= v.w || r < 0 || r >= v.h) {
    $("readout").textContent = "Hover the image for values";
    return;
  }
  const ijk = [0, 0, 0];
  ijk[v.o.s] = v.s;
  ijk[v.o.h] = v.o.flipH ? v.w - 1 - c : c;
  ijk[v.o.v] = v.o.flipV ? v.h - 1 - r : r;
  const [nx, ny] = state.dims;
  const idx = (ijk[2] * ny + ijk[1]) * nx + ijk[0];
  const parts = [`(${ijk.join(", ")})`];
  if (state.source === "nifti") {
    $("readout").textContent = [...parts, ...niftiReadout(idx)].join(" · ");
    return;
  }
  const m = state.maps.trMs === state.trMs ? state.maps : {};
  if (m.t1) parts.push(m.t1[idx] ? `T1 ${m.t1[idx].toFixed(0)} ± ${m.t1sd[idx].toFixed(0)} ms` : "T1 –");
  if (m.r1) parts.push(m.r1[idx] ? `R1 ${m.r1[idx].toFixed(3)} s⁻¹` : "R1 –");
  const ph = state.phantoms.get(state.trMs);
  if (ph) {
    const nvox = nx * ny * state.dims[2];
    const f = Math.min(state.flip, ph.flipDeg.length - 1);
    parts.push(`S(${ph.flipDeg[f]}°) ${ph.signal[f * nvox + idx].toFixed(1)}`);
  }
  $("readout").textContent = parts.join(" · ");
});
view.addEventListener("mouseleave", () => ($("readout").textContent = "Hover the image for values"));

// ----- the cache panel --------------------------------------------------------------

function setNum(id, value, text) {
  const e = $(id);
  e.dataset.value = value == null ? "" : String(value);
  e.textContent = text ?? String(value);
}

function renderPanel({ entries, stats }) {
  state.entries = entries;
  const hits = stats.types.reduce((a, t) => a + t.hits, 0);
  const misses = stats.types.reduce((a, t) => a + t.misses, 0);
  const computeMs = stats.types.reduce((a, t) => a + t.computeMs, 0);
  setNum("hits", hits);
  setNum("hits-memory", stats.memory.hits);
  setNum("hits-store", stats.store.hits);
  setNum("hits-waited", stats.waitedComputes);
  setNum("hits-shared", stats.shared.hits);
  setNum("misses", misses);
  setNum("misses-memory", stats.memory.misses);
  setNum("misses-store", stats.store.misses);
  $("hit-rate").textContent = hits + misses ? `${Math.round(stats.hitRate * 100)} %` : "–";
  setNum("saved-ms", stats.savedMs.toFixed(1), fmtMs(stats.savedMs));
  $("compute-ms").textContent = fmtMs(computeMs);
  setNum("computes", stats.types.reduce((a, t) => a + t.computes, 0));
  // Every session of this browser's cache, kept in its store (stats().allTime).
  const savedAll = stats.allTime.reduce((a, t) => a + t.savedMs, 0);
  setNum("saved-all", savedAll.toFixed(1), fmtMs(savedAll));
  setNum("hits-all", stats.allTime.reduce((a, t) => a + t.hits, 0));
  setNum("entries-count", entries.length);
  $("mem-bytes").textContent = fmtBytes(stats.memory.bytes);
  $("store-bytes").textContent = fmtBytes(stats.store.bytes);
  $("mem-budget").textContent = fmtBytes(stats.memory.budget);
  $("store-budget").textContent = fmtBytes(stats.store.budget);
  const { usage, quota, persisted } = stats.storage;
  setNum("storage-usage", usage, fmtBytes(usage));
  setNum("storage-quota", quota, fmtBytes(quota));
  setNum("persisted", persisted, persisted == null ? "unknown" : persisted ? "yes" : "no");
  $("persisted").className = persisted ? "yes" : "no";
  $("storage-fill").style.width = usage != null && quota ? `${Math.max(0.5, Math.min(100, (usage / quota) * 100))}%` : "0";
  renderEntries();
}

/** How the demo's own parameters read in the panel; any other argument reads as `name value`. */
const ARG_LABELS = {
  trMs: (v) => `TR ${v} ms`,
  flipDeg: (v) => `α ${v}°`,
  sigmaVox: (v) => `σ ${v} vox`,
  t1MaxMs: (v) => `T1 ≤ ${v} ms`,
  snrMin: (v) => `SNR ≥ ${v}`,
  bootstrap: (v) => `${v} bootstraps`,
  image: (v) => `file ${v.slice(3, 11)}…`,
  volume: (v) => `volume ${Number(v) + 1}`,
};

/** One recorded argument as text: arrays by type and shape, lineage by the upstream step. */
function argText(name, value) {
  if (Array.isArray(value)) return ARG_LABELS[name] ? ARG_LABELS[name](value.join(", ")) : `${name} ${value.join(", ")}`;
  if (value && typeof value === "object" && !(value instanceof Uint8Array)) {
    if (value.array) return `${name} ${value.array}[${value.shape.join("×")}]`;
    if (value.lineage) {
      const upstream = state.entries.find((e) => e.key.endsWith(value.lineage));
      return `from ${upstream ? upstream.step : `${value.lineage.slice(0, 11)}…`}`;
    }
    return `${name} ${value.digest ?? ""}`.trim();
  }
  return ARG_LABELS[name] ? ARG_LABELS[name](value) : `${name} ${value}`;
}

/** What an entry was made from, from the provenance it records (its key's hash if none). */
function madeFrom(e) {
  const { args, version, omitted } = e.provenance;
  if (!args) return `${e.key.slice(e.key.indexOf("@") + 1, e.key.indexOf("@") + 12)}…`;
  const parts = Object.entries(args).map(([name, value]) => argText(name, value));
  if (omitted) parts.push(`+${omitted} more`);
  return `${parts.join(" · ")}${version ? ` (v${version})` : ""}`;
}

function renderEntries() {
  const body = $("entries");
  body.innerHTML = "";
  if (!state.entries.length) {
    body.append(el("tr", { class: "empty" }));
    body.lastChild.append(el("td", { colspan: "8" }, "No entries — the next Run computes"));
    return;
  }
  const now = Date.now();
  for (const e of state.entries) {
    const tr = el("tr", { "data-key": e.key, "data-step": e.step });
    const fp = e.key.slice(e.key.indexOf("@") + 1);
    tr.append(
      el("td", { class: "step" }, e.step),
      el("td", { class: "key", title: `${e.key}\nmade by ${e.provenance.madeBy || "an older stepcache"}` }, madeFrom(e)),
      el("td", { class: "num" }, fmtBytes(e.bytes)),
      el("td", { class: "num age", "data-created": String(e.createdMs) }, fmtAge(now - e.createdMs)),
      el("td", { class: "num" }, fmtMs(e.costMs)),
      el("td", { class: "num" }, String(e.hits)),
    );
    const where = el("td", { class: "where" });
    if (e.inMemory) where.append(el("span", { class: "tier mem", title: "in this worker's memory tier" }, "MEM"));
    if (e.stored) where.append(el("span", { class: "tier idb", title: "in the browser's storage" }, "disk"));
    tr.append(where);
    const td = el("td", { class: "row-action" });
    const btn = el("button", { class: "icon", title: `Invalidate ${e.key}`, "aria-label": `Invalidate ${e.step}` }, "×");
    btn.addEventListener("click", () => {
      send("invalidate", { key: e.key });
      setStatus(`Invalidated ${e.step} ${fp.slice(0, 11)}…`, "idle");
    });
    td.append(btn);
    tr.append(td);
    body.append(tr);
  }
}

setInterval(() => {
  const now = Date.now();
  for (const td of document.querySelectorAll("#entries td.age")) td.textContent = fmtAge(now - Number(td.dataset.created));
  // Other tabs may have changed the cache: refresh now and then while idle.
  if (!state.busy && document.visibilityState === "visible" && performance.now() - state.lastPanel > 5000) refreshPanel();
}, 1000);

// ----- bundles ----------------------------------------------------------------------

/** Hands a bundle file (picked or dropped) to the worker, which imports it. */
function importBundle(file) {
  state.latestRun = send("import", { file });
  setBusy(true);
  setStatus(`Importing ${file.name}…`, "busy");
}

/** After an import: what it did, then the maps of the TR it brought (or the current one),
 * read from the cache. */
function onImported({ name, report, trMs }) {
  const parts = [`${report.imported} imported`, `${report.present} already here`];
  if (report.skipped) parts.push(`${report.skipped} skipped by policy`);
  if (report.refused.length) parts.push(`${report.refused.length} refused (damaged)`);
  // Beside the buttons, where it stays while the maps load (the status line moves on).
  const result = $("bundle-result");
  result.textContent = `${name}: ${parts.join(", ")}`;
  result.dataset.imported = String(report.imported);
  result.dataset.refused = String(report.refused.length);
  for (const r of report.refused) console.warn(`refused ${r.key}: ${r.reason}`);
  if (trMs !== null) {
    if (![...$("tr").options].some((o) => Number(o.value) === trMs)) $("tr").append(el("option", { value: String(trMs) }, `${trMs} ms`));
    $("tr").value = String(trMs);
    state.trMs = trMs;
  }
  runPipeline();
}

/** Saves an exported bundle as a download. */
function onExported({ blob, entries }) {
  download(blob, "stepcache-demo.stepcache");
  $("bundle-result").textContent = `Exported ${entries} ${entries === 1 ? "entry" : "entries"} (${fmtBytes(blob.size)})`;
}

$("export-bundle").addEventListener("click", () => send("export"));
$("bundle-file").addEventListener("change", (e) => {
  const [file] = e.target.files;
  e.target.value = ""; // the same file again is a new choice
  if (file) importBundle(file);
});
// Drop anywhere: the overlay shows while a file is dragged over the page.
let dragDepth = 0;
const dragsFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes("Files");
document.addEventListener("dragenter", (e) => {
  if (!dragsFiles(e)) return;
  dragDepth += 1;
  $("drop-overlay").hidden = false;
});
document.addEventListener("dragleave", () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (!dragDepth) $("drop-overlay").hidden = true;
});
document.addEventListener("dragover", (e) => {
  if (dragsFiles(e)) e.preventDefault(); // allows the drop
});
document.addEventListener("drop", (e) => {
  const file = e.dataTransfer?.files?.[0];
  if (!file) return;
  e.preventDefault();
  dragDepth = 0;
  $("drop-overlay").hidden = true;
  // A bundle by its name; anything else is opened as an image (which says so if it is not one).
  if (/\.stepcache$/i.test(file.name)) importBundle(file);
  else openNifti(file);
});

// ----- controls ---------------------------------------------------------------------

$("source").addEventListener("change", (e) => setSource(e.target.value));
$("map").addEventListener("change", (e) => {
  state.map = e.target.value;
  enableFlipSelect();
  render();
});
$("flip").addEventListener("change", (e) => {
  if (state.source === "phantom") state.flip = Number(e.target.value);
  else setNiftiVolume(Number(e.target.value));
  render();
});
$("orient").addEventListener("change", (e) => {
  state.orient = e.target.value;
  setupSliders();
  render();
});
$("cmap").addEventListener("change", (e) => {
  state.cmap = e.target.value;
  render();
});
$("interp").addEventListener("change", (e) => {
  state.interp = e.target.value;
  render();
});
$("slice").addEventListener("input", (e) => {
  state.slice[state.orient] = Number(e.target.value);
  setupSliders();
  render();
});
for (const id of ["win-min", "win-max"]) {
  $(id).addEventListener("change", () => {
    const vol = currentVolume();
    if (!vol) return;
    const lo = Number($("win-min").value);
    const hi = Number($("win-max").value);
    if (Number.isFinite(lo) && Number.isFinite(hi) && hi > lo) state.windows[vol.windowKey] = [lo, hi];
    render();
  });
}
$("win-auto").addEventListener("click", () => {
  const vol = currentVolume();
  if (!vol) return;
  const [lo, hi] = percentiles(vol.data, 0.01, 0.995, vol.spec.masked);
  state.windows[vol.windowKey] = [Number(lo.toPrecision(3)), Number(hi.toPrecision(3))];
  render();
});
$("win-reset").addEventListener("click", () => {
  const vol = currentVolume();
  if (!vol) return;
  delete state.windows[vol.windowKey];
  render();
});
$("tr").addEventListener("change", (e) => {
  state.trMs = Number(e.target.value);
  render(); // the signal of this TR, if the page has it
  runPipeline();
});
$("run").addEventListener("click", () => runPipeline());
$("force").addEventListener("click", () => runPipeline(true));
$("clear-type").addEventListener("click", () => send("clear", { step: $("clear-step").value }));
$("clear-all").addEventListener("click", () => send("clear"));

// Keyboard: arrows move through slices when the image has focus.
view.tabIndex = 0;
view.addEventListener("keydown", (e) => {
  const d = e.key === "ArrowUp" || e.key === "ArrowRight" ? 1 : e.key === "ArrowDown" || e.key === "ArrowLeft" ? -1 : 0;
  if (!d) return;
  e.preventDefault();
  const slider = $("slice");
  slider.value = String(Math.max(0, Math.min(Number(slider.max), Number(slider.value) + d)));
  slider.dispatchEvent(new Event("input"));
});

// Ask the browser to keep this origin's storage (only a Window can ask; the worker's
// open({ persist: true }) cannot). The cache panel shows the answer.
navigator.storage?.persist?.().catch(() => {});

initNifti({
  send,
  show: showNifti,
  redraw: render,
  view: () => ({ source: state.source, map: state.map, orient: state.orient, slice: state.slice[state.orient], axial: state.slice.axial }),
});

render();
