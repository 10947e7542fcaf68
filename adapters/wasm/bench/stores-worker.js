// Runs benchStores in a dedicated worker: [sizes, repeats] in, the times out.
import { benchStores } from "./stores.js";

self.onmessage = async ({ data: [sizes, repeats] }) => {
  try {
    self.postMessage({ ok: true, times: await benchStores(sizes, repeats) });
  } catch (e) {
    self.postMessage({ ok: false, error: String(e?.stack ?? e) });
  }
};
