// Page helpers shared by the viewer (app.js) and the NIfTI panel (nifti-view.js): elements,
// the status line, the step badges, the progress bar, and how times and sources read.

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, text = "") {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}

export function fmtMs(ms) {
  if (ms == null || !Number.isFinite(ms)) return "–";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${ms.toFixed(0)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

export const SOURCE_TEXT = { computed: "computed", memory: "memory hit", store: "disk hit", waited: "computed by another call", shared: "shared tier hit" };
/** How the cache panel names the store the cache keeps its entries in (`cache.store`). */
export const STORE_NAMES = { opfs: "OPFS", indexeddb: "IndexedDB" };
export const SOURCE_PLACE = { memory: "memory", store: "the browser's storage", waited: "another call", shared: "the shared tier" };

export function setStatus(text, kind) {
  const s = $("status");
  s.textContent = text;
  s.dataset.state = kind;
}

/** The badge of a step's row (`#step-<step>`): where its result came from, or "running". */
export function setBadge(step, source, text) {
  const badge = $(`step-${step}`).querySelector(".badge");
  badge.dataset.source = source;
  badge.textContent = text;
}

export function progressIdle() {
  $("progress").dataset.active = "0";
  $("progress-fill").style.width = "0%";
  $("progress-label").textContent = "Idle";
}

/** Saves `blob` as a download named `name`. */
export function download(blob, name) {
  const a = el("a", { href: URL.createObjectURL(blob), download: name });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}
