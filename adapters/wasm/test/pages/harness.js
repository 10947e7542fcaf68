// The page side of the browser tests: exposes the package, the scenarios and a worker RPC.
import * as stepcache from "stepcache";
import * as byPath from "../../pkg/index.js";
import * as scenarios from "./scenarios.js";
import * as fixtures from "./fixtures.js";

window.stepcache = stepcache;
window.scenarios = scenarios;
window.fixtures = fixtures;
// The import map and the relative path name the same module instance.
window.sameModule = stepcache === byPath;

let worker = null;
let nextId = 1;
const pending = new Map();

function startWorker() {
  let ready;
  const readyPromise = new Promise((resolve, reject) => (ready = { resolve, reject }));
  const w = new Worker(new URL(`./worker.js${location.search}`, import.meta.url), { type: "module", name: "stepcache-test-worker" });
  w.onmessage = ({ data }) => {
    if (data.ready) return ready.resolve();
    const p = pending.get(data.id);
    if (!p) return;
    pending.delete(data.id);
    if (data.ok) p.resolve(data.result);
    else p.reject(Object.assign(new Error(`in worker: ${data.error.message}`), { name: data.error.name }));
  };
  w.onerror = (e) => {
    const err = new Error(`worker error: ${e.message ?? e}`);
    ready.reject(err);
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  return { w, readyPromise };
}

/** Runs scenarios[name](...args) in a dedicated module worker (one per page, started on first use). */
window.inWorker = async (name, ...args) => {
  if (!worker) worker = startWorker();
  await worker.readyPromise;
  const id = nextId++;
  return await new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker.w.postMessage({ id, name, args });
  });
};

/** Runs scenarios[name](...args) in a new dedicated worker of its own; resolves to the worker. */
async function workerRunning(name, args) {
  const w = new Worker(new URL(`./worker.js${location.search}`, import.meta.url), { type: "module" });
  await new Promise((resolve) => (w.onmessage = ({ data }) => data.ready && resolve()));
  w.postMessage({ id: 1, name, args });
  return w;
}

/**
 * Runs scenarios[name](...args) in a new dedicated worker and terminates the worker
 * `afterMs` after the call began, in the middle of it, as a closing tab ends its workers.
 */
window.killWorkerDuring = async (afterMs, name, ...args) => {
  const w = await workerRunning(name, args);
  await new Promise((resolve) => setTimeout(resolve, afterMs));
  w.terminate();
};

/**
 * Runs scenarios[name](...args) in a new dedicated worker and terminates the worker as
 * soon as scenarios[probe](...args) finds it in the middle of what the test wants it
 * killed in, asking over and over for at most 20 s; resolves to whether it found it.
 */
window.killWorkerWhen = async (probe, name, ...args) => {
  const w = await workerRunning(name, args);
  try {
    for (const until = Date.now() + 20000; Date.now() < until; ) {
      if (await scenarios[probe](...args)) return true;
    }
    return false;
  } finally {
    w.terminate();
  }
};

/**
 * Runs scenarios[name](...args) in a new dedicated worker that stops itself dead at a
 * point it chooses and tells the page `{ killAt }` (see scenarios' `opKilledAtCall`);
 * terminates the worker then, or once the call is done. Resolves to `{ killed }` or
 * `{ result }`.
 */
window.killWorkerWhereItSays = async (name, ...args) => {
  const w = await workerRunning(name, args);
  try {
    return await new Promise((resolve, reject) => {
      w.onmessage = ({ data }) => {
        if (data.killAt !== undefined) resolve({ killed: data.killAt });
        else if (data.ok) resolve({ result: data.result });
        else reject(new Error(`in worker: ${data.error.message}`));
      };
    });
  } finally {
    w.terminate();
  }
};

/**
 * Runs scenarios[name](...args) in this page until it stops itself at a point it
 * chooses, calling `window.stoppedAt(point)` (see scenarios' `opKilledAtCall`), or ends;
 * resolves to `{ killed }` or `{ result }`. The test then closes the page.
 */
window.runUntilStopped = (name, ...args) =>
  new Promise((resolve, reject) => {
    window.stoppedAt = (at) => resolve({ killed: at });
    scenarios[name](...args).then((result) => resolve({ result }), reject);
  });

/**
 * Runs each `[name, args]` of `calls` as scenarios[name](args) in a new dedicated worker
 * of its own, all at once; resolves to their results in order, then ends the workers.
 */
window.inNewWorkers = (calls) =>
  Promise.all(
    calls.map(async ([name, args]) => {
      const w = await workerRunning(name, [args]);
      try {
        return await new Promise((resolve, reject) => {
          w.onmessage = ({ data }) => (data.ok ? resolve(data.result) : reject(new Error(`in worker: ${data.error.message}`)));
        });
      } finally {
        w.terminate();
      }
    }),
  );

window.harnessReady = true;
