// A dedicated module worker that runs the scenarios on request: {id, name, args} in,
// {id, ok, result | error} out. Module workers have no import maps: relative imports.
import * as scenarios from "./scenarios.js";

self.onmessage = async ({ data: { id, name, args } }) => {
  try {
    const fn = scenarios[name];
    if (typeof fn !== "function") throw new Error(`no scenario ${name}`);
    const result = await fn(...args);
    self.postMessage({ id, ok: true, result });
  } catch (e) {
    self.postMessage({ id, ok: false, error: { name: e?.name, message: String(e?.message ?? e), stack: String(e?.stack ?? "") } });
  }
};
self.postMessage({ ready: true });
