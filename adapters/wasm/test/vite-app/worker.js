// The app's module worker: reads the page's value from IndexedDB and computes its own.
import { open, StepKey } from "stepcache";

self.onmessage = async ({ data: { name, pageKey } }) => {
  try {
    const cache = await open({ name });
    const pageHit = await cache.get(StepKey.parse(pageKey));
    const key = cache.key("vite_worker_map", { n: 8 }, { version: 1 });
    let computes = 0;
    const hit = await cache.getOrCompute(key, () => {
      computes++;
      return { data: Int16Array.from({ length: 8 }, (_, i) => i * -3), shape: [2, 4], meta: { from: "worker" } };
    });
    cache.close();
    self.postMessage({
      key: key.toString(),
      inWorker: typeof WorkerGlobalScope !== "undefined" && self instanceof WorkerGlobalScope,
      source: hit.source,
      ctor: hit.data.constructor.name,
      values: Array.from(hit.data),
      shape: hit.shape,
      meta: hit.meta,
      computes,
      pageHit: pageHit && { source: pageHit.source, ctor: pageHit.data.constructor.name, values: Array.from(pageHit.data), meta: pageHit.meta },
    });
  } catch (e) {
    self.postMessage({ error: `${e?.name}: ${e?.message}` });
  }
};
