// The page's side of a NIfTI image: reads the file the user dropped or picked, shows it at
// once, and asks the worker for its derived maps, which come from the cache when the same
// file was opened before (after a reload, or in another tab). Also the T1 form of a
// variable-flip-angle series, and saving a map as a NIfTI file.
//
// The page reads the file, not the worker: nifti-reader-js imports fflate by its bare name,
// which the page's import map resolves (index.html), and a module worker has no import
// map. The worker gets the voxels, and the file's bytes, whose fingerprint keys the maps.

import { NiftiError, readNifti, writeNifti } from "./lib/nifti.js";
import { percentiles } from "./lib/percentiles.js";
import { parseVfa } from "./lib/vfa.js";
import { $, download, fmtMs, progressIdle, setBadge, setStatus, SOURCE_PLACE, SOURCE_TEXT } from "./ui.js";

/** The maps of an image in the viewer's Map menu; `step` computes one, `series` needs a 4D VFA series. */
const MAPS = {
  image: { label: "Image", units: "a.u.", masked: false, digits: 1 },
  smooth: { label: "Smoothed (σ 1 voxel)", step: "nifti_smooth", units: "a.u.", masked: false, digits: 1 },
  gradient: { label: "Gradient magnitude", step: "nifti_gradient", units: "per mm", masked: false, digits: 2 },
  t1: { label: "T1", step: "nifti_t1", channel: 0, series: true, units: "ms", window: [0, 4500], masked: true, digits: 0 },
  t1sd: { label: "T1 SD", step: "nifti_t1", channel: 1, series: true, units: "ms", window: [0, 300], masked: true, digits: 0 },
};

/** For tests and the curious: the open image, and each slice and map that arrived for it. */
const hook = (window.__viewer = { image: null, events: [], error: "" });

let viewer = null; // the viewer's hooks, from initNifti
let image = null; // the open image: what readNifti returned, and its maps
let opened = 0; // images opened so far; messages about an older one are dropped
const requests = new Set(); // ids of the worker requests for the open image

/**
 * Wires the NIfTI panel to the viewer: `send(type, extra, transfer)` posts to the worker
 * and returns the request id, `show()` switches the viewer to the image (or refreshes its
 * menus), `redraw()` draws again, `view()` says what is on show ({ source, map, orient,
 * slice, axial }).
 */
export function initNifti(hooks) {
  viewer = hooks;
  $("nifti-file").addEventListener("change", (e) => {
    const [file] = e.target.files;
    e.target.value = ""; // the same file again is a new choice
    if (file) openNifti(file);
  });
  $("nifti-vfa").addEventListener("submit", (e) => {
    e.preventDefault();
    submitVfa();
  });
  $("nifti-save").addEventListener("click", saveMap);
}

/** The open image ({ name, shape [nt, nz, ny, nx], voxelMm, volume, ... }), or null. */
export const niftiImage = () => image;

/** The Map menu's entries for the open image: { value: label }. */
export function niftiMaps() {
  const series = image.shape[0] > 1;
  return Object.fromEntries(Object.entries(MAPS).filter(([, m]) => series || !m.series).map(([k, m]) => [k, m.label]));
}

/** Whether `map` is one per volume (the Volume menu applies). */
export const perVolume = (map) => !MAPS[map]?.series;

/** The Volume menu's labels: 1, 2, ... with the flip angles once they are known. */
export function volumeLabels() {
  return Array.from({ length: image.shape[0] }, (_, i) => `${i + 1}${image.vfa ? ` · ${image.vfa.flipDeg[i]}°` : ""}`);
}

// ----- opening --------------------------------------------------------------------------

/** Opens a dropped or picked file: a bad one is refused with a message, the viewer unchanged. */
export async function openNifti(file) {
  let bytes, read;
  try {
    bytes = await file.arrayBuffer();
    read = readNifti(bytes);
  } catch (e) {
    const why = e instanceof NiftiError ? e.message : `it could not be read (${e?.message ?? e})`;
    showError(`${file.name}: ${why}`);
    setStatus(`Could not open ${file.name}`, "error");
    return;
  }
  image = { ...read, name: file.name, seq: ++opened, volume: 0, maps: new Map(), windows: [], vfa: null };
  requests.clear();
  showError("");
  hook.image = { name: file.name, shape: read.shape, datatype: read.datatype, fingerprint: null };
  hook.events = [];
  describeImage();
  viewer.show();
  // The bytes go to the worker (the fingerprint); the voxels are copied, the page shows them too.
  const { seq, data, shape, voxelMm } = image;
  track(viewer.send("nifti-open", { image: seq, bytes, data, shape, voxelMm }, [bytes]));
  requestMaps();
  setStatus(`Opened ${file.name} — getting its maps…`, "busy");
}

function describeImage() {
  const [nt, nz, ny, nx] = image.shape;
  const mm = image.voxelMm.map((d) => Number(d.toPrecision(3))).join(" × ");
  $("nifti-info").textContent = `${image.name} · ${nx}×${ny}×${nz}${nt > 1 ? ` × ${nt} volumes` : ""} · ${image.datatype} · ${mm} mm`;
  $("nifti-vfa").hidden = nt < 2;
  $("step-nifti_t1").hidden = nt < 2;
  for (const step of ["nifti_smooth", "nifti_gradient", "nifti_t1"]) {
    setBadge(step, "none", "–");
    $(`step-${step}`).querySelector(".step-ms").textContent = "–";
  }
  updateSave();
}

function showError(text) {
  $("nifti-error").textContent = text;
  $("nifti-error").hidden = !text;
  hook.error = text;
}

// ----- requests to the worker -----------------------------------------------------------

function track(id) {
  requests.add(id);
  $("nifti-panel").dataset.busy = "1";
}

/** The slice the worker reads first from a cached map: the axial one on show. */
const axialSlice = () => Math.min(viewer.view().axial, image.shape[1] - 1);

/** The key of a map in `image.maps`: its step and what else it depends on. */
function mapKey(step, volume = image.volume, vfa = image.vfa) {
  return step === "nifti_t1" ? `${step}:${vfa?.flipDeg}@${vfa?.trMs}` : `${step}:${volume}`;
}

/** Asks for the smoothed and gradient maps of the volume on show, unless the page has them. */
function requestMaps() {
  if (["nifti_smooth", "nifti_gradient"].every((step) => image.maps.get(mapKey(step))?.whole)) return;
  track(viewer.send("nifti-maps", { image: image.seq, volume: image.volume, z: axialSlice() }));
}

/** Shows volume `index` of a 4D image, its maps as soon as they come. */
export function setNiftiVolume(index) {
  image.volume = index;
  requestMaps();
}

function submitVfa() {
  if (!image) return;
  let vfa;
  try {
    vfa = parseVfa($("nifti-flips").value, $("nifti-tr").value, image.shape[0]);
  } catch (e) {
    showError(`T1 map: ${e.message}`);
    return;
  }
  showError("");
  requestT1(vfa);
}

function requestT1(vfa) {
  image.vfa = vfa;
  $("nifti-flips").value = vfa.flipDeg.join(", ");
  $("nifti-tr").value = String(vfa.trMs);
  track(viewer.send("nifti-t1", { image: image.seq, flipDeg: vfa.flipDeg, trMs: vfa.trMs, z: axialSlice() }));
  viewer.show(); // the Volume menu names the flip angles now
}

// ----- messages from the worker ---------------------------------------------------------

/**
 * Handles a worker message about the open image (and the end or failure of its requests);
 * false for the viewer's own messages.
 */
export function niftiMessage(msg) {
  if (msg.type.startsWith("nifti-")) {
    if (image && msg.image === image.seq) HANDLERS[msg.type](msg);
    return true;
  }
  if (!requests.has(msg.id) || (msg.type !== "done" && msg.type !== "error")) return false;
  requests.delete(msg.id);
  if (msg.type === "error") {
    showError(`${msg.name}: ${msg.message}`);
    setStatus(`${image.name}: ${msg.message}`, "error");
  }
  if (!requests.size) {
    $("nifti-panel").dataset.busy = "0";
    if (document.body.dataset.busy !== "1") progressIdle();
    if (msg.type === "done") setStatus(`Ready — ${image.name}`, "idle");
  }
  return true;
}

const HANDLERS = {
  "nifti-opened": onOpened,
  "nifti-slice": onSlice,
  "nifti-map": onMap,
};

/** The worker has the image: a T1 map cached for this file is shown with its flip angles and TR. */
function onOpened({ fingerprint, t1 }) {
  image.fingerprint = fingerprint;
  hook.image.fingerprint = fingerprint;
  if (t1 && image.shape[0] === t1.flipDeg.length) requestT1(t1);
}

/** One slice of a cached map, read before the whole map: shown at once if it is on show. */
function onSlice({ step, volume, vfa, z, shape, data, source }) {
  const key = mapKey(step, volume, vfa);
  hook.events.push({ type: "slice", step, volume, z, source });
  if (image.maps.get(key)?.whole) return;
  const nvox = voxelCount();
  const plane = shape.at(-1) * shape.at(-2);
  const full = new Float32Array((data.length / plane) * nvox);
  for (let c = 0; c < data.length / plane; c++) full.set(data.subarray(c * plane, (c + 1) * plane), c * nvox + z * plane);
  image.maps.set(key, { data: full, whole: false, z });
  viewer.redraw();
}

function onMap({ step, volume, vfa, data, source, ms, costMs }) {
  image.maps.set(mapKey(step, volume, vfa), { data, whole: true });
  hook.events.push({ type: "map", step, volume, source, ms });
  setBadge(step, source, SOURCE_TEXT[source] ?? source);
  const li = $(`step-${step}`);
  li.dataset.source = source;
  li.querySelector(".step-ms").textContent = source === "computed" ? fmtMs(ms) : `${fmtMs(ms)} · saved ${fmtMs(costMs)}`;
  const label = Object.values(MAPS).find((m) => m.step === step).label;
  setStatus(`${label} of ${image.name}: ${source === "computed" ? "computed" : `from ${SOURCE_PLACE[source] ?? source}`} in ${fmtMs(ms)}`, "busy");
  viewer.redraw();
  updateSave();
}

// ----- what the viewer draws ------------------------------------------------------------

const voxelCount = () => image.shape[1] * image.shape[2] * image.shape[3];

/** The intensity window of volume `v`: the header's cal_min / cal_max, else 0.5–99.5 %. */
function imageWindow(v) {
  if (!image.windows[v]) {
    const n = voxelCount();
    const range = image.calWindow ?? percentiles(image.data.subarray(v * n, (v + 1) * n), 0.005, 0.995, false);
    image.windows[v] = range.map((x) => Number(x.toPrecision(4)));
  }
  return image.windows[v];
}

/** Whether the viewer draws axial slice `z` now (all a map read so far shows). */
function showsSlice(z) {
  const { orient, slice } = viewer.view();
  return orient === "axial" && slice === z;
}

/**
 * The volume of `map` for the viewer ({ data, spec, windowKey, title }), or null while it
 * is on its way (the viewer keeps the previous one on show).
 */
export function niftiVolume(map) {
  const spec = MAPS[map];
  if (!image || !spec) return null;
  const nvox = voxelCount();
  const v = image.volume;
  const title = `${spec.label} · ${image.name}${image.shape[0] > 1 && !spec.series ? ` · volume ${v + 1}` : ""}`;
  if (!spec.step) {
    const data = image.data.subarray(v * nvox, (v + 1) * nvox);
    return { data, spec: { ...spec, window: imageWindow(v) }, windowKey: `nifti${image.seq}:image:${v}`, title };
  }
  const key = mapKey(spec.step);
  const found = image.maps.get(key);
  if (!found || (!found.whole && !showsSlice(found.z))) return null;
  const c = spec.channel ?? 0;
  const data = found.data.subarray(c * nvox, (c + 1) * nvox);
  // A map's window comes from the map itself; while only one slice is here, from that slice.
  const plane = image.shape[2] * image.shape[3];
  const part = found.whole ? data : data.subarray(found.z * plane, (found.z + 1) * plane);
  const window = spec.window ?? (map === "smooth" ? imageWindow(v) : [0, percentiles(part, 0, 0.995, false)[1] || 1]);
  return { data, spec: { ...spec, window }, windowKey: `nifti${image.seq}:${map}:${key}${found.whole ? "" : ":slice"}`, title };
}

/** The hover readout's values at voxel index `idx` of the volume on show. */
export function niftiReadout(idx) {
  const nvox = voxelCount();
  const parts = [`${image.name} ${image.data[image.volume * nvox + idx].toFixed(1)}`];
  for (const spec of Object.values(MAPS)) {
    const found = spec.step && image.maps.get(mapKey(spec.step));
    if (found?.whole) parts.push(`${spec.label} ${found.data[(spec.channel ?? 0) * nvox + idx].toFixed(spec.digits)}${spec.units === "ms" ? " ms" : ""}`);
  }
  return parts;
}

// ----- saving ---------------------------------------------------------------------------

/** The derived map on show, whole, or null (the image itself, or a map still on its way). */
function savableMap() {
  const { source, map } = viewer.view();
  const spec = MAPS[map];
  if (source !== "nifti" || !spec?.step || !image.maps.get(mapKey(spec.step))?.whole) return null;
  return { map, spec, data: niftiVolume(map).data };
}

/** Enables "Save map as NIfTI" when a whole derived map is on show. */
export function updateSave() {
  const saving = savableMap();
  $("nifti-save").disabled = !saving;
  $("nifti-save").title = saving ? `${saving.spec.label}, float32, on the grid of ${image.name}` : "Show a derived map (smoothed, gradient, T1) of an opened image to save it";
}

/** Downloads the map on show as a float32 .nii on the grid of the source image. */
function saveMap() {
  const saving = savableMap();
  if (!saving) return;
  const base = image.name.replace(/\.nii(\.gz)?$/i, "");
  const bytes = writeNifti(image.header, saving.data, `${saving.spec.label} (${saving.spec.units}), stepcache demo`);
  download(new Blob([bytes], { type: "application/octet-stream" }), `${base}_${saving.map}.nii`);
}
