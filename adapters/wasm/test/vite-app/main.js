// A tiny app as a user would write it: `import ... from "stepcache"`, one value computed in
// the page, one in a module Web Worker, each read back by the other side from IndexedDB.
// When done it sets document.title to "done" (or "error") and data-result on <body>.
import { open, StepKey } from "stepcache";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const name = new URLSearchParams(location.search).get("db") ?? "stepcache-vite-app";
  const cache = await open({ name, policies: { vite_page_map: "persistent", vite_worker_map: "persistent" } });

  const pageKey = cache.key("vite_page_map", { n: 16, scale: 0.5 }, { version: 1 });
  let pageComputes = 0;
  const page = await cache.getOrCompute(pageKey, async () => {
    pageComputes++;
    await sleep(30);
    return { data: Float32Array.from({ length: 16 }, (_, i) => i * 0.5), shape: [4, 4], meta: { from: "page" } };
  });

  const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  const fromWorker = await new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => (data.error ? reject(new Error(data.error)) : resolve(data));
    worker.onerror = (e) => reject(new Error(`worker failed to load: ${e.message}`));
    worker.postMessage({ name, pageKey: pageKey.toString() });
  });
  worker.terminate();

  // The worker's value, read here from IndexedDB.
  const workerHit = await cache.get(StepKey.parse(fromWorker.key));
  const stats = await cache.stats();
  cache.close();
  return {
    page: { source: page.source, ctor: page.data.constructor.name, values: Array.from(page.data), shape: page.shape, meta: page.meta, computes: pageComputes },
    worker: fromWorker,
    workerHitInPage: workerHit && {
      source: workerHit.source,
      ctor: workerHit.data.constructor.name,
      values: Array.from(workerHit.data),
      shape: workerHit.shape,
      meta: workerHit.meta,
    },
    storeEntries: stats.store.entries,
  };
}

main().then(
  (result) => {
    document.body.dataset.result = JSON.stringify(result);
    document.getElementById("status").textContent = "done";
    document.title = "done";
  },
  (e) => {
    document.body.dataset.error = `${e?.name}: ${e?.message}`;
    document.getElementById("status").textContent = `error: ${e?.name}: ${e?.message}`;
    document.title = "error";
  },
);
