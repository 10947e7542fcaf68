// The npm package `stepcache`: loads the WebAssembly module on first use and opens caches.
import init, { StepCache, StepKey, fingerprintBytes } from "./stepcache_wasm.js";

let ready;

/** Opens a cache (see index.d.ts). */
export async function open(options) {
  ready ??= init();
  await ready;
  return StepCache.open(options);
}

export { StepCache, StepKey, fingerprintBytes };
