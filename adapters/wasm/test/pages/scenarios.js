// Scenarios the node tests run in the browser, in a page (window.scenarios) or in a
// dedicated worker (worker.js answers postMessage requests with the same functions).
// Every function takes and returns structured-clonable, JSON-like values only.

import { open as openCache, StepKey, fingerprintBytes } from "../../pkg/index.js";
import { KINDS, SHAPE, BUFFER_BYTES, makeArray, makeBuffer, makeMeta, valuesOf, hexOf, noise, checksum } from "./fixtures.js";

/** The store the suite runs on ("opfs" or "indexeddb", from the page's `?store=`; the
 * worker gets the same query), or undefined for the package's default. */
const STORE = new URLSearchParams(self.location.search).get("store") ?? undefined;

/** open() on the suite's store, unless the options name one (or are not options). */
export function open(options) {
  const plain = options !== null && typeof options === "object" && !Array.isArray(options);
  if (STORE === undefined || (options !== undefined && !plain) || (plain && "store" in options)) return openCache(options);
  return openCache({ ...options, store: STORE });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Where this code runs. */
export function where() {
  return {
    window: typeof window !== "undefined",
    worker: typeof WorkerGlobalScope !== "undefined" && self instanceof WorkerGlobalScope,
    origin: self.location.origin,
  };
}

/** A hit as plain data (values in full for small arrays, a checksum for big ones). */
export function describe(hit) {
  if (hit === undefined) return null;
  if (hit === null) return { isNull: true };
  const data = hit.data;
  const isBuffer = data instanceof ArrayBuffer;
  const length = isBuffer ? data.byteLength : data.length;
  return {
    ctor: data?.constructor?.name,
    isBuffer,
    isView: ArrayBuffer.isView(data),
    length,
    byteLength: data.byteLength,
    values: length <= 256 ? valuesOf(data) : undefined,
    hex: length <= 256 ? hexOf(data) : undefined,
    checksum: checksum(data),
    shape: hit.shape,
    shapeIsArray: Array.isArray(hit.shape),
    meta: hit.meta,
    metaIsUndefined: hit.meta === undefined,
    source: hit.source,
    createdMs: hit.createdMs,
    costMs: hit.costMs,
  };
}

/** Runs fn (sync or async); what it returned, or what it threw (name, message, Error-ness). */
export async function catchErr(fn) {
  try {
    const value = await fn();
    return { threw: false, value: typeof value === "object" ? safe(value) : String(value) };
  } catch (e) {
    return {
      threw: true,
      isError: e instanceof Error,
      name: e?.name,
      message: String(e?.message ?? e),
    };
  }
}

function safe(v) {
  try {
    return JSON.parse(JSON.stringify(v, (_, x) => (typeof x === "bigint" ? String(x) : x)));
  } catch {
    return String(v);
  }
}

/** A value from a spec: {kind, n, seed, shape, meta} or {noise: bytes, seed, meta}. */
export function valueOf(spec) {
  if (spec.noise !== undefined) {
    return { data: noise(spec.noise, spec.seed ?? 7), shape: spec.shape, meta: spec.meta };
  }
  const data = spec.kind === "ArrayBuffer" ? makeBuffer(spec.n ?? BUFFER_BYTES, spec.seed ?? 1) : makeArray(spec.kind, spec.n ?? 24, spec.seed ?? 1);
  const value = { data };
  if (spec.shape !== undefined) value.shape = spec.shape;
  if (spec.meta !== undefined) value.meta = spec.meta;
  return value;
}

// ---------------------------------------------------------------------------------------
// a. Round trip of every typed array kind and a plain ArrayBuffer.

/**
 * Puts every kind into cache A and reads it back from A's memory tier, then opens cache B
 * on the same database and reads it from IndexedDB; does the same through getOrCompute.
 */
export async function roundTrip({ name }) {
  const kinds = [...KINDS, "ArrayBuffer"];
  const shapeOf = (kind) => (kind === "ArrayBuffer" ? [1, BUFFER_BYTES] : SHAPE);
  const out = { where: where(), reports: {}, memory: {}, store: {}, computed: {}, computedStore: {}, computedMemory: {} };
  const a = await open({ name });
  for (const kind of kinds) {
    const value = valueOf({ kind, shape: shapeOf(kind), meta: makeMeta(kind) });
    const key = a.key("roundtrip", { kind });
    out.reports[kind] = await a.put(key, value);
    out.memory[kind] = describe(await a.get(key));
    const ckey = a.key("roundtrip_computed", { kind });
    let calls = 0;
    out.computed[kind] = describe(
      await a.getOrCompute(ckey, async () => {
        calls++;
        await sleep(2);
        return valueOf({ kind, shape: shapeOf(kind), meta: makeMeta(kind) });
      }),
    );
    out.computed[kind].calls = calls;
    out.computedMemory[kind] = describe(await a.get(ckey));
  }
  // A value with neither shape nor metadata: shape [length], meta undefined.
  out.reports.plain = await a.put(a.key("roundtrip", { kind: "plain" }), { data: makeArray("Float64Array", 5, 3) });
  out.memory.plain = describe(await a.get(a.key("roundtrip", { kind: "plain" })));
  // put() takes the bytes when it is called: the caller may reuse its array at once.
  const reused = makeArray("Float64Array", 5, 3);
  const stored = a.put(a.key("roundtrip", { kind: "reused" }), { data: reused });
  reused.fill(-1);
  await stored;
  out.memory.reused = describe(await a.get(a.key("roundtrip", { kind: "reused" })));

  const b = await open({ name });
  for (const kind of kinds) {
    out.store[kind] = describe(await b.get(b.key("roundtrip", { kind })));
    out.computedStore[kind] = describe(await b.get(b.key("roundtrip_computed", { kind })));
  }
  out.store.plain = describe(await b.get(b.key("roundtrip", { kind: "plain" })));
  // Read twice from B: the second read is from B's memory tier.
  out.storeThenMemory = describe(await b.get(b.key("roundtrip", { kind: "Float64Array" })));
  out.nameA = a.name;
  a.close();
  b.close();
  return out;
}

// ---------------------------------------------------------------------------------------
// b. Persistence across a reload or a browser restart.

/** Computes a Float64 value under ("persisted", {seed}); returns it and the key's text. */
export async function persistPut({ name, seed }) {
  const cache = await open({ name });
  const key = cache.key("persisted", { seed, label: "reload" }, { version: 2 });
  let calls = 0;
  const hit = await cache.getOrCompute(key, async () => {
    calls++;
    await sleep(20);
    return { data: makeArray("Float64Array", 24, seed), shape: [4, 6], meta: { seed, units: "ms" } };
  });
  const again = await cache.get(key);
  cache.close();
  return { keyText: key.toString(), calls, hit: describe(hit), again: describe(again) };
}

/** Opens the database again and reads the value by its key text and by rebuilding the key. */
export async function persistGet({ name, seed, keyText }) {
  const cache = await open({ name });
  const parsed = StepKey.parse(keyText);
  const rebuilt = cache.key("persisted", { label: "reload", seed }, { version: 2 });
  const byText = describe(await cache.get(parsed));
  const byParams = describe(await cache.get(rebuilt));
  const has = await cache.has(rebuilt);
  let calls = 0;
  const goc = describe(
    await cache.getOrCompute(rebuilt, () => {
      calls++;
      return { data: new Float64Array(24) };
    }),
  );
  const stats = await cache.stats();
  cache.close();
  return { byText, byParams, has, goc, calls, rebuiltText: rebuilt.toString(), storeHits: stats.store.hits };
}

// ---------------------------------------------------------------------------------------
// c. One computation across tabs and workers.

/**
 * Waits until `startAt` (ms since the epoch), then runs `parallel` concurrent
 * getOrCompute calls of one key whose compute takes `ms`; reports how many computes ran here.
 */
export async function slowCompute({ name, startAt, ms, tag, parallel = 1, locks }) {
  const cache = await open(locks === undefined ? { name } : { name, locks });
  const key = cache.key("slow_map", { n: 1, tr: 15 });
  let computed = 0;
  const compute = async () => {
    computed++;
    if (typeof localStorage !== "undefined") {
      localStorage.setItem(`computes:${name}:${tag}`, String(computed));
    }
    await sleep(ms);
    return { data: makeArray("Int32Array", 24, 5), shape: SHAPE, meta: { by: tag } };
  };
  const wait = startAt - Date.now();
  if (wait > 0) await sleep(wait);
  const started = Date.now();
  const hits = await Promise.all(Array.from({ length: parallel }, () => cache.getOrCompute(key, compute)));
  const stats = await cache.stats();
  cache.close();
  return {
    tag,
    computed,
    hits: hits.map(describe),
    tookMs: Date.now() - started,
    startedLateMs: started - startAt,
    waitedComputes: stats.waitedComputes,
  };
}

// ---------------------------------------------------------------------------------------
// Handles: caches kept between calls, for scenarios the node side drives step by step.

const caches = new Map();

function cacheOf(h) {
  const c = caches.get(h);
  if (!c) throw new Error(`no cache handle ${h}`);
  return c;
}

export async function hOpen(h, options) {
  caches.get(h)?.close();
  caches.set(h, await open(options));
  return { name: cacheOf(h).name };
}

export async function hPut(h, step, params, spec) {
  const c = cacheOf(h);
  return await c.put(c.key(step, params), valueOf(spec));
}

/** put, catching the error (name and message). */
export async function hTryPut(h, step, params, spec) {
  const c = cacheOf(h);
  const value = valueOf(spec);
  return await catchErr(() => c.put(c.key(step, params), value));
}

/** getOrCompute of `spec`'s value: the hit described. */
export async function hCompute(h, step, params, spec) {
  const c = cacheOf(h);
  return describe(await c.getOrCompute(c.key(step, params), async () => valueOf(spec)));
}

export async function hGet(h, step, params) {
  const c = cacheOf(h);
  return describe(await c.get(c.key(step, params)));
}

export async function hHas(h, step, params) {
  const c = cacheOf(h);
  return await c.has(c.key(step, params));
}

export async function hInvalidate(h, step, params) {
  const c = cacheOf(h);
  await c.invalidate(c.key(step, params));
  return true;
}

export async function hClear(h, step) {
  return await (step === undefined ? cacheOf(h).clear() : cacheOf(h).clear(step));
}

export async function hStats(h) {
  return await cacheOf(h).stats();
}

export async function hStatus(h, keys) {
  const c = cacheOf(h);
  return await c.status(keys.map(([step, params]) => c.key(step, params)));
}

export function hClose(h) {
  caches.get(h)?.close();
  caches.delete(h);
  return true;
}

/** Polls get until it returns undefined (true) or `ms` pass (false). */
export async function hWaitGone(h, step, params, ms = 3000) {
  const c = cacheOf(h);
  const key = c.key(step, params);
  const until = Date.now() + ms;
  for (;;) {
    const hit = await c.get(key);
    if (hit === undefined) return { gone: true };
    if (Date.now() > until) return { gone: false, last: describe(hit) };
    await sleep(25);
  }
}

/** Polls get until its metadata's seed is `seed` or `ms` pass. */
export async function hWaitSeed(h, step, params, seed, ms = 3000) {
  const c = cacheOf(h);
  const key = c.key(step, params);
  const until = Date.now() + ms;
  for (;;) {
    const hit = await c.get(key);
    if (hit?.meta?.seed === seed) return { ok: true, hit: describe(hit) };
    if (Date.now() > until) return { ok: false, last: describe(hit) };
    await sleep(25);
  }
}

/** navigator.storage.estimate() and persisted(). */
export async function storageEstimate() {
  const e = await navigator.storage.estimate();
  return { usage: e.usage, quota: e.quota, persisted: await navigator.storage.persisted?.() };
}

// ---------------------------------------------------------------------------------------
// f. Bad input: the error names and messages, and nothing stored is lost.

export async function badInput({ name }) {
  const out = {};
  const cache = await open({ name, policies: { keep: "persistent", quick: { retention: "memory", maxAgeMs: 60000 } } });
  const keep = cache.key("keep", { id: 1 });
  const kept = { data: makeArray("Float32Array", 24, 9), shape: SHAPE, meta: { seed: 9 } };
  await cache.put(keep, kept);
  const keptText = keep.toString();

  // Options of open().
  out.negativeBudget = await catchErr(() => open({ name, memoryBudget: -1 }));
  out.nanBudget = await catchErr(() => open({ name, memoryBudget: NaN }));
  out.fractionalStoreBudget = await catchErr(() => open({ name, storeBudget: 1.5 }));
  out.unknownPolicy = await catchErr(() => open({ name, policies: { t1_map: "forever" } }));
  out.unknownRetention = await catchErr(() => open({ name, policies: { t1_map: { retention: "sometimes" } } }));
  out.unknownDefaultPolicy = await catchErr(() => open({ name, defaultPolicy: "eternal" }));
  out.badPolicyStepName = await catchErr(() => open({ name, policies: { "../x": "memory" } }));
  out.unknownOption = await catchErr(() => open({ name, memoryBudgte: 1 << 20 }));
  out.badAccess = await catchErr(() => open({ name, access: "rxw" }));
  out.badOptionsType = await catchErr(() => open("not options"));

  // Keys.
  out.stepDotDot = await catchErr(() => cache.key("../x"));
  out.stepEmpty = await catchErr(() => cache.key(""));
  out.stepNotString = await catchErr(() => cache.key(42));
  out.nestedParam = await catchErr(() => cache.key("s", { p: { a: 1 } }));
  out.paramsNotObject = await catchErr(() => cache.key("s", 42));
  out.paramUndefined = await catchErr(() => cache.key("s", { p: undefined }));
  out.paramFunction = await catchErr(() => cache.key("s", { p: () => 1 }));
  out.paramNaN = await catchErr(() => cache.key("s", { p: NaN }));
  out.paramInfinity = await catchErr(() => cache.key("s", { p: -Infinity }));
  out.paramNaNInList = await catchErr(() => cache.key("s", { p: [1, NaN] }));
  const holdsItself = [1];
  holdsItself.push(holdsItself);
  out.paramHoldsItself = await catchErr(() => cache.key("s", { p: holdsItself }));
  const nested = (depth) => (depth === 0 ? 7 : [nested(depth - 1)]);
  out.paramTooDeep = await catchErr(() => cache.key("s", { p: nested(17) }));
  out.paramDeepest = await catchErr(() => cache.key("s", { p: nested(16) }));
  out.paramLoneSurrogate = await catchErr(() => cache.key("s", { p: ["ok", "\ud800"] }));
  out.nameLoneSurrogate = await catchErr(() => cache.key("s", { ["p\udc00"]: 1 }));
  out.paramReplacement = await catchErr(() => cache.key("s", { p: "\ufffd" }));
  out.defaultNaN = await catchErr(() => cache.key("s", {}, { defaults: { p: NaN } }));
  out.paramKey = await catchErr(() => cache.key("s", { p: cache.key("t1_map") }));
  out.parseBad = await catchErr(() => StepKey.parse("t1_map@b3:nothex"));

  // Values.
  const k = cache.key("bad_values", { n: 1 });
  out.shapeMismatch = await catchErr(() => cache.put(k, { data: new Float32Array(10), shape: [3, 4] }));
  out.shapeNegative = await catchErr(() => cache.put(k, { data: new Float32Array(4), shape: [-2, -2] }));
  out.shapeFraction = await catchErr(() => cache.put(k, { data: new Float32Array(4), shape: [1.5, 2] }));
  out.metaBigInt = await catchErr(() => cache.put(k, { data: new Float32Array(4), meta: { n: 10n } }));
  const cyclic = { a: 1 };
  cyclic.self = cyclic;
  out.metaCycle = await catchErr(() => cache.put(k, { data: new Float32Array(4), meta: cyclic }));
  out.metaFunction = await catchErr(() => cache.put(k, { data: new Float32Array(4), meta: { f: () => 1 } }));
  out.valueNumber = await catchErr(() => cache.put(k, 42));
  out.valueNoData = await catchErr(() => cache.put(k, { shape: [1] }));
  out.valuePlainArray = await catchErr(() => cache.put(k, { data: [1, 2, 3] }));
  out.valueDataView = await catchErr(() => cache.put(k, { data: new DataView(new ArrayBuffer(8)) }));
  out.keyNotKey = await catchErr(() => cache.put("bad_values@b3:00", { data: new Float32Array(1) }));
  out.getNotKey = await catchErr(() => cache.get({ step: "x", fingerprint: "b3:00" }));

  // Compute failures.
  const ck = cache.key("compute_fails", { n: 1 });
  out.computeThrows = await catchErr(() =>
    cache.getOrCompute(ck, () => {
      throw new Error("the fit diverged at voxel 17");
    }),
  );
  out.computeRejects = await catchErr(() => cache.getOrCompute(ck, async () => Promise.reject(new RangeError("no convergence"))));
  out.computeBadValue = await catchErr(() => cache.getOrCompute(ck, () => ({ data: new Float32Array(3), shape: [2, 2] })));
  out.computeFailedLeftNothing = await cache.has(ck);
  // After a failing compute, a working one for the same key runs.
  out.computeRecovers = describe(await cache.getOrCompute(ck, () => ({ data: new Uint16Array([1, 2, 3]) })));

  // Nothing stored was lost: memory tier, and IndexedDB through a second cache.
  out.keptMemory = describe(await cache.get(keep));
  const other = await open({ name, memoryBudget: 0 });
  out.keptStore = describe(await other.get(StepKey.parse(keptText)));
  other.close();

  // After close().
  cache.close();
  out.closedGet = await catchErr(() => cache.get(keep));
  out.closedHas = await catchErr(() => cache.has(keep));
  out.closedPut = await catchErr(() => cache.put(keep, { data: new Float32Array(1) }));
  out.closedGetOrCompute = await catchErr(() => cache.getOrCompute(keep, () => ({ data: new Float32Array(1) })));
  out.closedInvalidate = await catchErr(() => cache.invalidate(keep));
  out.closedClear = await catchErr(() => cache.clear());
  out.closedStats = await catchErr(() => cache.stats());
  out.closedStatus = await catchErr(() => cache.status([keep]));
  out.closedKey = await catchErr(() => cache.key("keep", { id: 1 }));
  out.closeTwice = await catchErr(() => cache.close());

  const after = await open({ name, memoryBudget: 0 });
  out.keptAfterClose = describe(await after.get(after.key("keep", { id: 1 })));
  after.close();
  return out;
}

// ---------------------------------------------------------------------------------------
// g. stats().

export async function statsScenario({ name }) {
  const a = await open({ name, policies: { fit: "persistent", preview: "memory" } });
  const key = a.key("fit", { voxel: 3 });
  const computed = describe(
    await a.getOrCompute(key, async () => {
      await sleep(120);
      return { data: makeArray("Float32Array", 24, 2), shape: SHAPE, meta: { units: "ms" } };
    }),
  );
  const memoryHit = describe(await a.get(key));
  const missing = describe(await a.get(a.key("fit", { voxel: 4 })));
  await a.put(a.key("preview", { voxel: 3 }), { data: new Uint8Array(100) });
  const statsA = await a.stats();

  const b = await open({ name, persist: true });
  const storeHit = describe(await b.get(b.key("fit", { voxel: 3 })));
  const statsB = await b.stats();
  a.close();
  b.close();
  return { computed, memoryHit, missing, storeHit, statsA, statsB, estimate: await storageEstimate(), persisted: await navigator.storage.persisted() };
}

// ---------------------------------------------------------------------------------------
// h. status(), setForce(), setAccess().

export async function controlScenario({ name }) {
  const out = {};
  const a = await open({ name, policies: { preview: "memory", short: { retention: "persistent", maxAgeMs: 100 } } });
  const stored = a.key("t1_map", { id: 1 });
  const other = a.key("r1_map", { id: 1 });
  const missing = a.key("t1_map", { id: 2 });
  const preview = a.key("preview", { id: 1 });
  const short = a.key("short", { id: 1 });
  const v = (seed) => ({ data: makeArray("Float32Array", 24, seed), shape: SHAPE, meta: { seed } });
  await a.put(stored, v(1));
  await a.put(other, v(2));
  await a.put(preview, v(3));
  await a.put(short, v(4));
  out.statusA = await a.status([stored, missing, preview]);
  out.keyTexts = [stored.toString(), missing.toString(), preview.toString()];

  const b = await open({ name, policies: { preview: "memory", short: { retention: "persistent", maxAgeMs: 100 } } });
  out.statusB = await b.status([stored, missing, preview]);
  await sleep(150);
  out.statusExpired = await b.status([short]);
  out.getExpired = describe(await b.get(short));

  // Force t1_map: it is recomputed once; r1_map is not.
  let t1Computes = 0;
  let r1Computes = 0;
  const t1 = () => {
    t1Computes++;
    return v(11);
  };
  const r1 = () => {
    r1Computes++;
    return v(12);
  };
  a.setForce(["t1_map"]);
  out.statusForced = await a.status([stored, other]);
  out.forced1 = describe(await a.getOrCompute(stored, t1));
  out.forced2 = describe(await a.getOrCompute(stored, t1));
  out.notForced = describe(await a.getOrCompute(other, r1));
  out.t1ComputesAfterForce = t1Computes;
  out.r1ComputesAfterForce = r1Computes;
  out.statusAfterRecompute = await a.status([stored]);
  out.forceBadName = await catchErr(() => a.setForce(["../x"]));
  a.setForce(false);
  out.afterUnforce = describe(await a.getOrCompute(stored, t1));
  out.t1ComputesFinal = t1Computes;
  // Another cache on the database sees the recomputed value.
  const c = await open({ name, memoryBudget: 0 });
  out.recomputedInStore = describe(await c.get(c.key("t1_map", { id: 1 })));
  c.close();

  // Read only: a hit is served, a miss cannot be computed.
  a.setAccess("r");
  let readOnlyComputes = 0;
  out.readOnlyHit = describe(await a.get(stored));
  out.readOnlyGocHit = describe(
    await a.getOrCompute(stored, () => {
      readOnlyComputes++;
      return v(13);
    }),
  );
  out.readOnlyMiss = await catchErr(() =>
    a.getOrCompute(missing, () => {
      readOnlyComputes++;
      return v(14);
    }),
  );
  out.readOnlyComputes = readOnlyComputes;
  out.readOnlyPut = await catchErr(() => a.put(missing, v(15)));
  // Compute + write, no read: get is refused.
  a.setAccess("cw");
  out.noReadGet = await catchErr(() => a.get(stored));
  out.badAccess = await catchErr(() => a.setAccess("rq"));
  a.setAccess("rcw");
  out.missingStillMissing = describe(await a.get(missing));
  a.close();
  b.close();
  return out;
}

// ---------------------------------------------------------------------------------------
// Keys: canonical, deterministic in a page and a worker, lineage, text form.

/**
 * Keys built through the JavaScript API that have a twin in the core's golden tests
 * (core/tests/golden_keys.rs): index.js encodes arguments for the module, so these pin
 * that JavaScript values still reach the core's canonical encoding unchanged.
 */
export async function goldenKeys({ name }) {
  const cache = await open({ name, memoryBudget: 0, storeBudget: 0 });
  const fp = (...args) => cache.key(...args).fingerprint;
  // The upstream value of the lineage goldens: the 2x2 map with metadata {"units":"ms"}.
  const map = await cache.getOrCompute(cache.key("t1_map"), () => ({
    data: new Float32Array([1, 2, 3, 4]), shape: [2, 2], meta: { units: "ms" },
  }));
  const b1 = { data: new Float32Array([1, 2, 3, 4]), shape: [2, 2] };
  const out = {
    stepOnly: fp("t1_map"),
    version: fp("t1_map", {}, { version: 3 }),
    bool: fp("t1_map", { b1_correction: true }),
    int: fp("t1_map", { n_iter: 5 }),
    bigint: fp("t1_map", { n_iter: 5n }),
    negative: fp("t1_map", { offset: -7 }),
    whole: fp("t1_map", { tr_ms: 15 }),
    wholeFloat: fp("t1_map", { tr_ms: 15.0 }),
    wholeBigint: fp("t1_map", { tr_ms: 15n }),
    float: fp("t1_map", { tr_ms: 1.5 }),
    list: fp("t1_map", { flip_deg: [1.5, 15, 2n] }),
    numbers: fp("numbers", { big: 1e30, huge: 2 ** 127, min: -(2 ** 127), odd: 2n ** 53n + 1n, tenth: Math.fround(0.1) }),
    numbersAsBigints: fp("numbers", {
      big: 1000000000000000019884624838656n, huge: 2 ** 127, min: -(2n ** 127n), odd: 2n ** 53n + 1n, tenth: Math.fround(0.1),
    }),
    text: fp("t1_map", { method: "vfa" }),
    array: fp("t1_map", { b1 }),
    content: map.content,
    lineage: fp("r1_map", { t1: map }),
    lineageText: fp("r1_map", { t1: { key: String(map.key), content: map.content } }),
    mixed: fp("t1_map", { tr_ms: 15.0, flip_deg: [2, 15], method: "vfa", b1_correction: false, b1, input: map }, { version: 2 }),
    bytes: fingerprintBytes(new TextEncoder().encode("stepcache")),
    none: fp("t1_map", { b1: null, flip_deg: [2, null] }),
  };
  cache.close();
  return out;
}

export async function keysScenario({ name }) {
  const cache = await open({ name, memoryBudget: 0, storeBudget: 0 });
  const signal = { data: makeArray("Float32Array", 24, 4), shape: SHAPE };
  const k1 = cache.key("t1_map", { tr: 15, flip: [2, 5, 10, 15], signal, verbose: true }, { version: 1, ignore: ["verbose"] });
  const k2 = cache.key("t1_map", { verbose: false, signal, flip: [2, 5, 10, 15], tr: 15 }, { version: 1, ignore: ["verbose"] });
  const k3 = cache.key("t1_map", { tr: 15, flip: [2, 5, 10, 15], signal }, { version: 2 });
  const kDefault = cache.key("t1_map", { tr: 15, flip: [2, 5, 10, 15], signal, mask: "none" }, { version: 1, defaults: { mask: "none" } });
  const kSignalChanged = cache.key("t1_map", { tr: 15, flip: [2, 5, 10, 15], signal: { data: makeArray("Float32Array", 24, 5), shape: SHAPE } }, { version: 1 });
  const kShapeChanged = cache.key("t1_map", { tr: 15, flip: [2, 5, 10, 15], signal: { data: signal.data, shape: [4, 6] } }, { version: 1 });
  const t1 = await cache.getOrCompute(k1, () => ({ data: makeArray("Float32Array", 24, 6), shape: SHAPE }));
  const lineage = cache.key("r1_map", { t1 });
  const kinds = {};
  for (const kind of ["Float64Array", "Int16Array", "BigInt64Array", "Uint8ClampedArray"]) {
    kinds[kind] = cache.key("arr", { a: makeArray(kind, 24) }).fingerprint;
  }
  kinds.buffer = cache.key("arr", { a: makeBuffer() }).fingerprint;
  const scalars = cache.key("scalars", { b: true, n: 1.5, i: -3, big: 12345678901234567890n, s: "ü", list: [1, "a", false, 2n] });
  const parsed = StepKey.parse(k1.toString());
  const out = {
    k1: { step: k1.step, fingerprint: k1.fingerprint, text: k1.toString() },
    k2: k2.fingerprint,
    k3: k3.fingerprint,
    kDefault: kDefault.fingerprint,
    kSignalChanged: kSignalChanged.fingerprint,
    kShapeChanged: kShapeChanged.fingerprint,
    lineage: { step: lineage.step, fingerprint: lineage.fingerprint, text: String(lineage) },
    kinds,
    scalars: scalars.toString(),
    parsed: { step: parsed.step, fingerprint: parsed.fingerprint, isStepKey: parsed instanceof StepKey },
    keyIsStepKey: k1 instanceof StepKey,
  };
  cache.close();
  return out;
}

/**
 * Lineage binds the upstream value: the downstream key of one upstream value is the same
 * whether its hit was computed, from memory or from IndexedDB (raw or compressed, in a
 * second cache on the same database), and another value gives another key.
 */
export async function lineageScenario({ name }) {
  const out = {};
  for (const compression of [false, true]) {
    const options = { name: `${name}-${compression}`, compression };
    const a = await open(options);
    const up = a.key("t1_map", { tr: 15 });
    const down = (hit) => a.key("r1_map", { t1: hit }).fingerprint;
    const value = { data: new Float32Array(4096).fill(1.5), shape: [64, 64], meta: { units: "ms" } };
    const computed = await a.getOrCompute(up, () => value);
    const memory = await a.get(up);
    const b = await open({ ...options, memoryBudget: 0 });
    const stored = await b.get(up);
    const stats = await b.stats();
    a.setForce(["t1_map"]);
    const changed = await a.getOrCompute(up, () => ({ ...value, data: new Float32Array(4096).fill(2.5) }));
    out[compression ? "compressed" : "raw"] = {
      sources: [computed.source, memory.source, stored.source, changed.source],
      keys: [computed.key.toString(), memory.key.toString(), stored.key.toString()],
      upKey: up.toString(),
      contents: [computed.content, memory.content, stored.content],
      downs: [down(computed), down(memory), down(stored)],
      changed: down(changed),
      storeBytes: stats.store.bytes,
    };
    a.close();
    b.close();
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// e. A store budget: bytes never exceed it.

export async function storeBudgetScenario({ name, budget, entryBytes, count }) {
  const cache = await open({ name, storeBudget: budget, memoryBudget: 0 });
  const steps = [];
  for (let i = 1; i <= count; i++) {
    const report = await cache.put(cache.key("budgeted", { i }), { data: noise(entryBytes, i), meta: { seed: i } });
    const st = await cache.stats();
    steps.push({ i, report, bytes: st.store.bytes, entries: st.store.entries, budget: st.store.budget, evictions: st.store.evictions });
  }
  const tooBig = await cache.put(cache.key("budgeted", { i: "huge" }), { data: noise(budget + 1024, 99) });
  const afterTooBig = await cache.stats();
  // Every entry still stored reads back intact, from IndexedDB (memory budget 0).
  const reader = await open({ name, memoryBudget: 0 });
  const present = [];
  for (let i = 1; i <= count; i++) {
    const hit = await reader.get(reader.key("budgeted", { i }));
    if (hit) present.push({ i, checksum: checksum(hit.data), seed: hit.meta?.seed, source: hit.source, ctor: hit.data.constructor.name });
  }
  const readerStats = await reader.stats();
  cache.close();
  reader.close();
  return { steps, tooBig, afterTooBig: afterTooBig.store, present, readerStore: readerStats.store };
}

// ---------------------------------------------------------------------------------------
// Eviction: pins keep entries, costly results outlive cheap ones.

export async function evictionScenario({ name, budget, entryBytes }) {
  const out = {};
  const c = await open({ name, storeBudget: budget, memoryBudget: budget });
  const reader = await open({ name, memoryBudget: 0 });
  const k = (i) => c.key("evicted", { i });
  const present = async (ids) => {
    const found = {};
    for (const i of ids) {
      const hit = await reader.get(reader.key("evicted", { i }));
      found[i] = hit ? checksum(hit.data) : null;
    }
    return found;
  };
  out.expensivePut = await c.put(k("expensive"), { data: noise(entryBytes, 100), meta: { i: "expensive" } }, { costMs: 30000 });
  out.pinnedPut = await c.put(k("pinned"), { data: noise(entryBytes, 101), meta: { i: "pinned" } });
  c.pin(k("pinned"));
  c.pin(k("never-stored")); // harmless
  for (let i = 1; i <= 6; i++) await c.put(k(i), { data: noise(entryBytes, i), meta: { i } });
  out.whilePinned = await present(["expensive", "pinned", 1, 2, 3, 4, 5, 6]);
  out.statusWhilePinned = (await c.status([k("pinned"), k("expensive"), k(1), k(6)])).map((s) => s.state);
  out.statsWhilePinned = (await c.stats()).store;
  c.unpin(k("pinned"));
  c.unpin(k("never-stored"));
  for (let i = 7; i <= 9; i++) await c.put(k(i), { data: noise(entryBytes, i), meta: { i } });
  out.afterUnpin = await present(["expensive", "pinned", 9]);
  out.expensiveHit = describe(await c.get(k("expensive")));
  c.close();
  reader.close();
  return out;
}

// ---------------------------------------------------------------------------------------
// Policies: retention per type and by default, compression.

export async function policiesScenario({ name }) {
  const out = {};
  const c = await open({
    name,
    defaultPolicy: "memory",
    policies: { keep: "persistent", temp: "transient", packed: { retention: "persistent", compress: true } },
  });
  const v = (seed) => ({ data: makeArray("Float64Array", 24, seed), shape: SHAPE, meta: { seed } });
  out.putDefault = await c.put(c.key("other", { i: 1 }), v(1));
  out.putKeep = await c.put(c.key("keep", { i: 1 }), v(2));
  out.putTemp = await c.put(c.key("temp", { i: 1 }), v(3));
  let tempComputes = 0;
  const temp = () => {
    tempComputes++;
    return v(4);
  };
  out.temp1 = describe(await c.getOrCompute(c.key("temp", { i: 2 }), temp));
  out.temp2 = describe(await c.getOrCompute(c.key("temp", { i: 2 }), temp));
  out.tempComputes = tempComputes;
  out.memoryDefault = describe(await c.get(c.key("other", { i: 1 })));
  out.nullMeta = await c.put(c.key("keep", { i: "null-meta" }), { data: new Int8Array([1, -1]), meta: null });

  // A smooth map compresses; noise does not (and is stored as is).
  const smooth = Float32Array.from({ length: 65536 }, (_, i) => 1000 + Math.round(Math.sin(i / 500) * 100));
  const before = (await c.stats()).store.bytes;
  out.putPacked = await c.put(c.key("packed", { i: 1 }), { data: smooth, shape: [256, 256] });
  const afterPacked = (await c.stats()).store.bytes;
  out.packedBytes = afterPacked - before;
  out.putNoise = await c.put(c.key("packed", { i: 2 }), { data: noise(262144, 3) });
  out.noiseBytes = (await c.stats()).store.bytes - afterPacked;
  out.smoothChecksum = checksum(smooth);

  const reader = await open({ name, memoryBudget: 0 });
  out.readDefault = describe(await reader.get(reader.key("other", { i: 1 })));
  out.readKeep = describe(await reader.get(reader.key("keep", { i: 1 })));
  out.readTemp = describe(await reader.get(reader.key("temp", { i: 2 })));
  out.readNullMeta = describe(await reader.get(reader.key("keep", { i: "null-meta" })));
  const packed = await reader.get(reader.key("packed", { i: 1 }));
  out.readPacked = { ...describe(packed), values: undefined, hex: undefined };
  const noisy = await reader.get(reader.key("packed", { i: 2 }));
  out.readNoise = { ...describe(noisy), values: undefined, hex: undefined };
  out.readerEntries = (await reader.stats()).store.entries;
  c.close();
  reader.close();
  return out;
}

// ---------------------------------------------------------------------------------------
// entries(), and key texts wherever a key is.

export async function entriesScenario({ name }) {
  const out = {};
  const c = await open({ name, policies: { preview: "memory" } });
  const t1 = c.key("t1_map", { id: 1 });
  const preview = c.key("preview", { id: 1 });
  await c.put(t1, { data: makeArray("Float32Array", 24, 1), shape: SHAPE }, { costMs: 1500 });
  // Keyed by lineage on the stored T1 map.
  const r1 = c.key("r1_map", { t1: await c.get(t1) });
  out.texts = { t1: t1.toString(), preview: preview.toString(), r1: r1.toString() };
  await sleep(5);
  await c.put(preview, { data: new Uint8Array(10) });
  await sleep(5);
  await c.getOrCompute(r1, async () => {
    await sleep(30);
    return { data: makeArray("Float64Array", 24, 2) };
  });
  await c.get(t1);
  await c.get(t1);
  out.entries = await c.entries();
  const reader = await open({ name, memoryBudget: 0 });
  out.readerEntries = await reader.entries();
  out.byText = describe(await reader.get(out.texts.t1));
  out.statusByText = (await reader.status([out.texts.t1, out.texts.preview, r1])).map((s) => [s.key, s.state]);
  out.badText = await catchErr(() => reader.get("t1_map@b3:1234"));
  c.close();
  out.closedEntries = await catchErr(() => c.entries());
  reader.close();
  // Provenance: what each kind of argument reads back as, and the bigint past 2^53.
  const rich = await open({ name: `${name}-rich` });
  const params = { tr_ms: 15, flip_deg: [2, 5.5], label: "phantom", mask: new Uint8Array([1, 0, 1, 1]), big: 2n ** 70n, verbose: true };
  const fit = rich.key("fit", params, { version: 3, ignore: ["verbose"] });
  await rich.put(fit, { data: new Float32Array(4) });
  const [entry] = await rich.entries();
  out.rich = { ...entry.provenance, args: { ...entry.provenance.args, big: String(entry.provenance.args.big) } };
  out.richKey = fit.toString();
  rich.close();
  return out;
}

// ---------------------------------------------------------------------------------------
// KeyLike: a StepKey posted to a worker, a {step, fingerprint} object, a key text.

/** In the worker: reads each posted key. */
export async function getKeyLikes({ name, keys }) {
  const cache = await open({ name, memoryBudget: 0 });
  const out = {};
  for (const [label, key] of Object.entries(keys)) {
    out[label] = { received: Object.keys(key ?? {}).sort(), got: await catchErr(async () => describe(await cache.get(key))) };
  }
  cache.close();
  return out;
}

/** In the page: stores a value and posts its key to the worker in three forms. */
export async function postKeyToWorker({ name }) {
  const cache = await open({ name });
  const key = cache.key("posted", { id: 1 });
  await cache.put(key, { data: makeArray("Uint16Array", 24, 6), shape: SHAPE, meta: { seed: 6 } });
  const viaObject = { step: key.step, fingerprint: key.fingerprint };
  const out = await window.inWorker("getKeyLikes", { name, keys: { stepKey: key, object: viaObject, text: key.toString() } });
  // And in this page, the same three forms, and `has`, `invalidate` with a plain object.
  out.pageObject = describe(await cache.get(viaObject));
  out.pageHasText = await cache.has(key.toString());
  await cache.invalidate(viaObject);
  out.pageAfterInvalidate = describe(await cache.get(key.toString()));
  out.badObject = await catchErr(() => cache.get({ step: "posted", fingerprint: "b3:xyz" }));
  out.missingStep = await catchErr(() => cache.get({ fingerprint: key.fingerprint }));
  cache.close();
  return out;
}

// ---------------------------------------------------------------------------------------
// Edges: values over the size limit, what a computed value's storing did, timeouts and
// aborts, and a module that traps.

/** What `promise` settles with as catchErr says, or {hung: true} after `ms`. */
async function within(promise, ms) {
  return await caught(catchErr(() => promise), ms);
}

/** catchErr's result `outcome` (a promise), or {hung: true} after `ms`. */
async function caught(outcome, ms) {
  return await Promise.race([outcome, sleep(ms).then(() => ({ hung: true }))]);
}

/**
 * put() and getOrCompute() of a value over 1 GiB (and over 2 GiB if the page may allocate
 * one) are TooLarge; then the same key is computed and stored normally, and an entry stored
 * before is intact.
 */
export async function tooLargeScenario({ name }) {
  const cache = await open({ name });
  const kept = cache.key("edge_big", { n: 0 });
  await cache.put(kept, { data: new Float32Array([1, 2, 3]), meta: { kept: true } });
  const key = cache.key("edge_big", { n: 1 });
  const out = {};
  {
    const over = new Uint8Array(2 ** 30 + 1);
    out.put = await within(cache.put(key, { data: over }), 10_000);
    out.computeCalls = 0;
    out.computed = await within(
      cache.getOrCompute(key, () => {
        out.computeCalls++;
        return { data: over };
      }),
      10_000,
    );
  }
  // Within 5 s: a lock or flight left behind would make this wait for ever.
  const again = await within(cache.getOrCompute(key, async () => ({ data: new Uint16Array([7, 8, 9]) })), 5000);
  out.again = again.threw === false ? { source: again.value.source, stored: again.value.stored } : again;
  let huge;
  try {
    huge = new Uint8Array(2 ** 31);
  } catch (e) {
    out.hugeAllocation = String(e);
  }
  if (huge) {
    out.hugePut = await within(cache.put(cache.key("edge_big", { n: 2 }), { data: huge }), 10_000);
    out.hugeCompute = await within(cache.getOrCompute(cache.key("edge_big", { n: 3 }), () => ({ data: huge.buffer })), 10_000);
    huge = undefined;
  }
  out.keptMemory = describe(await cache.get(kept));
  const other = await open({ name, memoryBudget: 0 });
  out.keptStore = describe(await other.get(kept));
  out.againStore = describe(await other.get(key));
  out.nothingElse = (await other.entries()).length;
  cache.close();
  other.close();
  return out;
}

/** The `stored` field of getOrCompute hits: computed ones only, with put()'s outcomes. */
export async function storedScenario({ name }) {
  const value = () => ({ data: new Float32Array(1024).fill(2) });
  const normal = await open({ name });
  const computed = await normal.getOrCompute(normal.key("edge_stored", { n: 1 }), value);
  const fromMemory = await normal.getOrCompute(normal.key("edge_stored", { n: 1 }), value);
  // A store budget smaller than the value: the store refuses it, the memory tier keeps it.
  const small = await open({ name: `${name}-small`, storeBudget: 1024 });
  const refused = await small.getOrCompute(small.key("edge_stored", { n: 2 }), value);
  const fromStore = await (await open({ name, memoryBudget: 0 })).getOrCompute(normal.key("edge_stored", { n: 1 }), value);
  const got = await normal.get(normal.key("edge_stored", { n: 1 }));
  return {
    computed: [computed.source, computed.stored],
    fromMemory: [fromMemory.source, "stored" in fromMemory],
    refused: [refused.source, refused.stored],
    fromStore: [fromStore.source, "stored" in fromStore],
    get: [got.source, "stored" in got],
  };
}

/** Calls started by hStart, by id: {promise of catchErr's result with `ms`, controller}. */
const started = new Map();

/**
 * Starts getOrCompute of (step, params) on handle `h` without waiting: its compute never
 * settles (`hang`) or returns `spec`'s value; options: timeoutMs, and `abortable` for a
 * signal hAbort aborts. Returns at once; hWait gives the outcome.
 */
export function hStart(id, h, step, params, { hang = true, spec, timeoutMs, abortable } = {}) {
  const c = cacheOf(h);
  const controller = new AbortController();
  const calls = { computed: 0, abortReason: undefined };
  const options = {};
  if (timeoutMs !== undefined) options.timeoutMs = timeoutMs;
  if (abortable) options.signal = controller.signal;
  const t0 = performance.now();
  const compute = ({ signal }) => {
    calls.computed++;
    signal.addEventListener("abort", () => (calls.abortReason = signal.reason?.name));
    return hang ? new Promise(() => {}) : valueOf(spec);
  };
  const promise = catchErr(async () => describe(await c.getOrCompute(c.key(step, params), compute, options))).then((r) => ({
    ...r,
    ms: performance.now() - t0,
    calls,
  }));
  started.set(id, { promise, controller });
  return true;
}

/** The outcome of the call hStart started as `id` (waits for it). */
export async function hWait(id) {
  return await started.get(id).promise;
}

/** Aborts the signal of the call hStart started as `id`, with `reason`. */
export function hAbort(id, reason) {
  started.get(id).controller.abort(reason);
  return true;
}

/** navigator.locks.query(): the names of held and pending stepcache locks. */
export async function stepcacheLocks() {
  const { held, pending } = await navigator.locks.query();
  const names = (list) => list.map((l) => l.name).filter((n) => n.startsWith("stepcache:"));
  return { held: names(held), pending: names(pending) };
}

/** getOrCompute's options checked strictly, and an aborted signal that never computes. */
export async function computeOptionsScenario({ name }) {
  const cache = await open({ name });
  const key = cache.key("edge_options", { n: 1 });
  let calls = 0;
  const compute = () => {
    calls++;
    return { data: new Uint8Array(1) };
  };
  const out = {};
  out.unknown = await catchErr(() => cache.getOrCompute(key, compute, { timeout: 5 }));
  out.zero = await catchErr(() => cache.getOrCompute(key, compute, { timeoutMs: 0 }));
  out.negative = await catchErr(() => cache.getOrCompute(key, compute, { timeoutMs: -1 }));
  out.text = await catchErr(() => cache.getOrCompute(key, compute, { timeoutMs: "100" }));
  out.nan = await catchErr(() => cache.getOrCompute(key, compute, { timeoutMs: NaN }));
  out.badSignal = await catchErr(() => cache.getOrCompute(key, compute, { signal: {} }));
  out.notObject = await catchErr(() => cache.getOrCompute(key, compute, 5));
  const t0 = performance.now();
  out.preAborted = await catchErr(() => cache.getOrCompute(key, compute, { signal: AbortSignal.abort("user left") }));
  out.preAbortedMs = performance.now() - t0;
  out.callsAfterBad = calls;
  out.fine = await catchErr(async () => describe(await cache.getOrCompute(key, compute, { timeoutMs: 5000, signal: new AbortController().signal })));
  out.calls = calls;
  cache.close();
  return out;
}

/** The WebAssembly memory of the module index.js uses (the same module instance). */
async function moduleMemory() {
  const { default: init } = await import("../../pkg/stepcache_wasm.js");
  const exports = await init();
  return Object.values(exports).find((v) => v instanceof WebAssembly.Memory);
}

/**
 * Grows the module's memory as far as it goes (4 GiB), as if other data had taken it all,
 * without touching it: the module's allocator cannot grow its heap any more, so what it
 * holds free now is all it has. Nothing in the module is changed.
 */
function growToMax(memory) {
  let pages = 65536 - memory.buffer.byteLength / 65536;
  while (pages > 0) {
    try {
      memory.grow(pages);
      pages = 65536 - memory.buffer.byteLength / 65536;
    } catch {
      pages = Math.floor(pages / 2);
    }
  }
  return memory.buffer.byteLength;
}

/** Puts memory-only values of halving sizes into `cache` until each size is refused; the errors seen. */
async function fill(cache, from, to) {
  const errors = {};
  let i = 0;
  for (let size = from; size >= to; size = Math.floor(size / 2)) {
    for (;;) {
      const r = await catchErr(() => cache.put(cache.key("edge_fill", { i: i++ }), { data: new Uint8Array(size) }));
      if (!r.threw) continue;
      errors[r.name] = (errors[r.name] ?? 0) + 1;
      if (r.name === "ModuleFailed") return { errors, puts: i, died: true };
      break;
    }
  }
  return { errors, puts: i, died: false };
}

/**
 * A trap in one of the module's asynchronous tasks: with the module's memory used up, a
 * get reads a 16 MiB entry from IndexedDB and the module cannot allocate it (the store
 * assembles entries with an allocation that aborts). Calls in flight on two caches, one
 * of them holding a key's Web Lock, must reject ModuleFailed and the lock be released.
 */
export async function trapInTask({ name, lockStep }) {
  const store = await open({ name, memoryBudget: 0 });
  const bigKey = store.key("edge_trap", { big: 1 });
  await store.put(bigKey, { data: new Uint8Array(16 << 20).fill(3) });
  const filler = await open({ name: `${name}-fill`, memoryBudget: 2 ** 32, defaultPolicy: "memory" });
  // Calls in flight: a compute that never ends (it holds the key's Web Lock) on each cache.
  let reason;
  const holding = catchErr(() =>
    store.getOrCompute(store.key(lockStep, { n: 1 }), ({ signal }) => {
      signal.addEventListener("abort", () => (reason = signal.reason?.name));
      return new Promise(() => {});
    }),
  );
  const other = catchErr(() => filler.getOrCompute(filler.key("edge_trap", { n: 2 }), () => new Promise(() => {})));
  await sleep(100);
  const locksBefore = await stepcacheLocks();
  const memoryBytes = growToMax(await moduleMemory());
  const filled = await fill(filler, 64 << 20, 1 << 20);
  const get = await within(store.get(bigKey), 10_000);
  return {
    memoryBytes,
    filled,
    get,
    holding: await caught(holding, 5000),
    other: await caught(other, 5000),
    computeSignalReason: reason,
    later: {
      has: await catchErr(() => store.has(bigKey)),
      put: await catchErr(() => filler.put(filler.key("edge_trap", { n: 3 }), { data: new Uint8Array(1) })),
      key: await catchErr(() => filler.key("edge_trap", { n: 4 }).toString()),
      open: await catchErr(() => open({ name })),
      close: await catchErr(() => store.close()),
    },
    locksBefore,
    locksAfter: await stepcacheLocks(),
  };
}

/**
 * A trap inside a call: with the module's memory used up, memory-only puts of halving sizes
 * down to 1 byte are refused (StorageFull: the value's copy fails as an error) until one of
 * the module's own small allocations fails and traps it.
 */
export async function trapInCall({ name, lockStep }) {
  const cache = await open({ name, memoryBudget: 2 ** 32, defaultPolicy: "memory" });
  const holding = catchErr(() => cache.getOrCompute(cache.key(lockStep, { n: 1 }), () => new Promise(() => {})));
  await sleep(100);
  const locksBefore = await stepcacheLocks();
  const memoryBytes = growToMax(await moduleMemory());
  let filled = await fill(cache, 64 << 20, 1);
  for (let round = 0; round < 50 && !filled.died; round++) {
    const more = await fill(cache, 1024, 1);
    filled = { errors: { ...filled.errors, ...more.errors }, puts: filled.puts + more.puts, died: more.died };
  }
  return {
    memoryBytes,
    filled,
    holding: await caught(holding, 5000),
    later: await catchErr(() => cache.get(cache.key("edge_fill", { i: 0 }))),
    locksBefore,
    locksAfter: await stepcacheLocks(),
  };
}

/** A value as large as an entry may be (1 GiB less room for its header) put into a cache
 * and read back from IndexedDB by a cache with no memory tier; a checksum of each. */
export async function atTheLimitScenario({ name }) {
  const bytes = 2 ** 30 - 64 * 1024;
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 4096) data[i] = (i / 4096) % 251;
  const sum = (array) => {
    let s = 0;
    for (let i = 0; i < array.length; i += 4096) s = (s * 31 + array[i]) % 2 ** 31;
    return s;
  };
  const writer = await open({ name, memoryBudget: 0 });
  const key = writer.key("at_limit", { n: 1 });
  const put = await writer.put(key, { data });
  const reader = await open({ name, memoryBudget: 0 });
  const hit = await reader.get(key);
  const out = { put, bytes, sum: sum(data), got: hit && { source: hit.source, length: hit.data.byteLength, sum: sum(new Uint8Array(hit.data)) } };
  writer.close();
  reader.close();
  return out;
}

/** Runs `code` (the docs page's blocks joined, `import` lines left out) with the package's
 * exports in scope, `console.assert` throwing; `{ok}` or the error. */
export async function docsScenario({ code }) {
  const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
  const run = new AsyncFunction("open", "StepKey", "fingerprintBytes", code.replace(/^import .*$/gm, ""));
  const original = console.assert;
  console.assert = (ok, ...what) => {
    if (!ok) throw new Error(`assertion failed: ${what.join(" ")}`);
  };
  try {
    await run(open, StepKey, fingerprintBytes);
    return { ok: true };
  } catch (e) {
    return { ok: false, error: `${e.name}: ${e.message}\n${e.stack}` };
  } finally {
    console.assert = original;
  }
}

/**
 * The shared tier over HTTP (test x): `url` holds the entries `shared_fixture` wrote
 * natively (see tests/src/bin/shared_fixture.rs). `again`: a second visit (after a
 * reload) that must find the first visit's shared hits in IndexedDB.
 */
export async function sharedScenario({ name, url, again = false }) {
  const cache = await open({ name, shared: { url }, policies: { t1_map: { retention: "persistent", shared: true } } });
  const expected = (n, len) => Float32Array.from({ length: len }, (_, i) => n * 1000 + (i % 1000));
  const same = (hit, n, len) => hit !== null && hit.data.length === len && hit.data.every((v, i) => v === n * 1000 + (i % 1000));
  const key = (params, step = "t1_map") => cache.key(step, params);
  const out = {};
  if (again) {
    const hit = await cache.get(key({ n: 1 }));
    out.again = { source: hit?.source, same: same(hit, 1, 4096) };
    out.stats = (await cache.stats()).shared;
    cache.close();
    return out;
  }
  out.status = (await cache.status([key({ n: 1 }), key({ n: 404 })])).map((s) => s.state);
  const first = await cache.get(key({ n: 1 }));
  out.first = { source: first?.source, same: same(first, 1, 4096), shape: first?.shape };
  out.second = (await cache.get(key({ n: 1 })))?.source;
  const sealed = await cache.get(key({ n: 3 }));
  out.sealed = { source: sealed?.source, same: same(sealed, 3, 4096) };
  out.damaged = await cache.get(key({ n: 2 })) ?? null;
  out.missing = await cache.get(key({ n: 404 })) ?? null;
  out.notShared = await cache.get(key({ n: 1 }, "preview")) ?? null;
  let calls = 0;
  const big = await cache.getOrCompute(key({ big: 1 }), () => {
    calls += 1;
    return { data: expected(0, 4) };
  });
  out.big = { source: big.source, calls, length: big.data.length, same: same(big, 7, big.data.length) };
  const record = await cache.get(key({ record: 1 }));
  out.record = {
    source: record?.source,
    isBuffer: record?.data instanceof ArrayBuffer,
    names: Object.keys(record?.parts ?? {}),
    t1: record && Array.from(record.parts.t1),
    t1Type: record?.parts.t1.constructor.name,
    mask: record && Array.from(record.parts.mask),
  };
  out.put = await cache.put(key({ n: 9 }), { data: expected(9, 4) });
  await cache.invalidate(key({ n: 3 }));
  out.invalidated = await cache.get(key({ n: 3 })) ?? null;
  out.stats = (await cache.stats()).shared;
  cache.close();
  return out;
}

/** A shared tier where no server answers (test x): the local tiers keep working. */
export async function sharedDownScenario({ name, url }) {
  const cache = await open({ name, shared: { url }, policies: { t1_map: { retention: "persistent", shared: true } } });
  const key = cache.key("t1_map", { n: 1 });
  const out = {};
  out.miss = await cache.get(key) ?? null;
  const computed = await cache.getOrCompute(key, () => ({ data: new Float32Array([1, 2, 3]) }));
  out.computed = [computed.source, computed.stored];
  out.hit = (await cache.get(key))?.source;
  out.stats = (await cache.stats()).shared;
  cache.close();
  return out;
}

// ---------------------------------------------------------------------------------------
// Bundles: exportBundle and importBundle (docs/bundle-format.md).

/** The bytes of a ReadableStream. */
const streamBytes = async (stream) => new Uint8Array(await new Response(stream).arrayBuffer());

/** A ReadableStream of `bytes` in chunks of `size`. */
function chunked(bytes, size) {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, (at += size)));
    },
  });
}

/** The golden bundle of docs/bundle-format.md's example: two records of entries that are not
 * entries ("abc" and nothing), framed soundly. */
const GOLDEN_BUNDLE =
  "53544550424e444c0100000000000000" +
  "01" + "11".repeat(32) + "0300000000000000" + "616263" +
  "01" + "22".repeat(32) + "0000000000000000" +
  "00" + "0200000000000000" + "0300000000000000" + "7acb7f048ad3c80e96fd4a578bbac779";
const fromHex = (hex) => Uint8Array.from(hex.match(/../g), (h) => parseInt(h, 16));

/** Exports a cache of several values, imports the bundle elsewhere in every form, and checks
 * what an import of the bundle damaged at each byte and cut at each length does. */
export async function bundleScenario({ name }) {
  const out = {};
  const source = await open({ name, policies: { preview: "memory" } });
  const values = {
    small: { data: makeArray("Float32Array", 24, 1), shape: SHAPE, meta: makeMeta(1) },
    ints: { data: makeArray("Int16Array", 24, 2), shape: SHAPE },
    big: { data: noise(2 << 20, 7) }, // 2 MiB
  };
  const keys = {};
  for (const [label, value] of Object.entries(values)) {
    keys[label] = source.key(label === "big" ? "t1_map" : "maps", { label, tr_ms: 15 });
    await source.put(keys[label], value);
    await sleep(2);
  }
  await source.put(source.key("preview", { id: 1 }), { data: new Uint8Array(10) });
  out.keys = Object.fromEntries(Object.entries(keys).map(([l, k]) => [l, k.toString()]));
  out.expected = Object.fromEntries(Object.entries(values).map(([l, v]) => [l, checksum(v.data)]));

  const progress = [];
  const bytes = await streamBytes(source.exportBundle({ onProgress: (p) => progress.push(p) }));
  out.exported = { length: bytes.length, magic: new TextDecoder().decode(bytes.subarray(0, 8)), progress };
  out.byStep = (await streamBytes(source.exportBundle({ step: "maps" }))).length;
  out.since = (await streamBytes(source.exportBundle({ since: new Date(Date.now() + 60_000) }))).length;

  // Into another cache: as a Blob, then again (all present), then from a stream in odd chunks.
  const target = await open({ name: `${name}-target` });
  const importProgress = [];
  out.imported = await target.importBundle(new Blob([bytes]), { onProgress: (p) => importProgress.push(p) });
  out.importProgress = importProgress.at(-1);
  out.again = await target.importBundle(bytes);
  const computed = [];
  out.hits = {};
  for (const [label, key] of Object.entries(out.keys)) {
    const hit = await target.getOrCompute(key, () => computed.push(label));
    out.hits[label] = { checksum: checksum(hit.data), source: hit.source, shape: hit.shape, meta: hit.meta };
  }
  out.computed = computed;
  out.targetEntries = (await target.entries()).map((e) => ({ key: e.key, provenance: e.provenance }));
  const reexport = await streamBytes(target.exportBundle());
  out.reexportSameLength = reexport.length === bytes.length;
  for (const size of [1, 7, 4096, 65537]) {
    const fresh = await open({ name: `${name}-chunks-${size}` });
    const small = size === 1 ? await streamBytes(source.exportBundle({ step: "maps" })) : bytes;
    const report = await fresh.importBundle(chunked(small, size));
    out[`chunks${size}`] = { imported: report.imported, refused: report.refused.length, holds: (await fresh.entries()).length };
    fresh.close();
  }

  // The documented example: sound framing around two entries that are not entries.
  const golden = await open({ name: `${name}-golden` });
  out.golden = await golden.importBundle(fromHex(GOLDEN_BUNDLE));
  out.goldenHolds = (await golden.entries()).length;
  golden.close();

  // Damage: a bundle of one small entry, each byte changed in turn, then cut at each length.
  // Whatever an import does, the cache holds the entry's own bytes under its key or nothing.
  const one = await open({ name: `${name}-one` });
  await one.put(keys.ints, values.ints);
  const victimBytes = await streamBytes(one.exportBundle());
  one.close();
  out.oneLength = victimBytes.length;
  const damaged = await open({ name: `${name}-damaged`, memoryBudget: 0 });
  const tally = { invalidBundle: 0, refused: 0, stored: 0, other: [], wrong: 0 };
  const trial = async (input) => {
    try {
      const report = await damaged.importBundle(input);
      tally.refused += report.refused.length;
      tally.stored += report.imported;
    } catch (e) {
      if (e.name === "InvalidBundle") {
        tally.invalidBundle += 1;
        tally.stored += e.report.imported;
      } else tally.other.push(`${e.name}: ${e.message}`);
    }
    for (const entry of await damaged.entries()) {
      const hit = entry.key === out.keys.ints ? await damaged.get(entry.key) : undefined;
      if (!hit || checksum(hit.data) !== out.expected.ints) tally.wrong += 1;
    }
    await damaged.clear();
  };
  for (let at = 0; at < victimBytes.length; at++) {
    const copy = victimBytes.slice();
    copy[at] ^= 0x55;
    await trial(copy);
  }
  out.flips = { ...tally, other: tally.other.slice(0, 3) };
  Object.assign(tally, { invalidBundle: 0, refused: 0, stored: 0, other: [], wrong: 0 });
  for (let length = 0; length < victimBytes.length; length++) await trial(victimBytes.subarray(0, length));
  out.cuts = { ...tally, other: tally.other.slice(0, 3) };
  out.trailing = await catchErr(() => damaged.importBundle(new Blob([victimBytes, new Uint8Array(1)])));
  await damaged.clear();
  // Cut in its end record, from a stream (of unknown length): the entry before is taken.
  out.damagedReport = await damaged.importBundle(chunked(victimBytes.subarray(0, victimBytes.length - 1), 4096)).catch((e) => ({ name: e.name, message: e.message, report: e.report }));
  damaged.close();

  // Bad input.
  out.bad = {
    number: await catchErr(() => target.importBundle(42)),
    option: await catchErr(() => target.importBundle(bytes, { progress: () => {} })),
    progress: await catchErr(() => target.importBundle(bytes, { onProgress: 1 })),
    step: await catchErr(() => target.exportBundle({ step: 5 })),
    since: await catchErr(() => target.exportBundle({ since: "yesterday" })),
    notBundle: await catchErr(() => target.importBundle(new Uint8Array(100))),
    empty: await catchErr(() => target.importBundle(new Uint8Array(0))),
  };
  source.close();
  out.closedExport = await catchErr(() => source.exportBundle());
  target.close();
  return out;
}

// ---------------------------------------------------------------------------------------
// Step functions: cache.step(name, compute, options).

/** Calls step functions with repeated, changed, defaulted and chained parameters. */
export async function stepScenario({ name }) {
  const out = {};
  const cache = await open({ name });
  const calls = [];
  const signal = makeArray("Float32Array", 24, 3);
  const t1Map = cache.step(
    "t1_map",
    ({ signal, trMs, bootstrap }) => {
      calls.push(`t1 tr=${trMs} b=${bootstrap}`);
      return { data: signal.map((x) => x * trMs + bootstrap), shape: SHAPE };
    },
    { version: 2, ignore: ["verbose"], defaults: { bootstrap: 16 } },
  );
  const r1Map = cache.step("r1_map", ({ t1 }) => {
    calls.push("r1");
    return { data: t1.data.map((x) => 1 / x) };
  });
  const first = await t1Map({ signal, trMs: 15 });
  const again = await t1Map({ signal, trMs: 15, verbose: true });
  const byDefault = await t1Map({ signal, trMs: 15, bootstrap: 16 });
  const other = await t1Map({ signal, trMs: 20 });
  const otherBootstrap = await t1Map({ signal, trMs: 15, bootstrap: 32 });
  const r1 = await r1Map({ t1: first });
  const r1Again = await r1Map({ t1: again });
  out.sources = [first, again, byDefault, other, otherBootstrap, r1, r1Again].map((h) => h.source);
  out.calls = calls;
  out.values = { first: checksum(first.data), byDefault: checksum(byDefault.data), other: checksum(other.data) };
  // The step's key is the key cache.key builds from the same parameters and options.
  const key = cache.key("t1_map", { signal, trMs: 15 }, { version: 2, ignore: ["verbose"], defaults: { bootstrap: 16 } });
  out.sameAsKey = (await cache.status([key]))[0].state;
  out.entries = (await cache.entries()).map((e) => e.provenance.args && Object.keys(e.provenance.args).sort());
  out.bad = {
    name: await catchErr(() => cache.step("no spaces", () => ({ data: new Uint8Array(1) }))),
    fn: await catchErr(() => cache.step("t1_map", 42)),
    option: await catchErr(() => cache.step("t1_map", () => ({ data: new Uint8Array(1) }), { versions: 1 })),
    params: await catchErr(() => t1Map(42)),
    value: await catchErr(() => cache.step("bad", () => 42)({ a: 1 })),
  };
  cache.close();
  return out;
}

// ---------------------------------------------------------------------------------------
// Lasting counters: stats().allTime over every session of a database.

/** The all-time counters of `step` in a cache newly opened on `name` (its session's are 0). */
async function allTimeOf(name, step) {
  const c = await open({ name });
  const stats = await c.stats();
  c.free();
  const t = stats.allTime.find((x) => x.step === step);
  return t ? { hits: t.hits, misses: t.misses, computes: t.computes, sessionTypes: stats.types.length } : null;
}

/** `hits` memory hits of one stored key, then a save: what another tab or worker does. */
export async function hitsAndSave({ name, hits }) {
  const c = await open({ name });
  const key = c.key("fit", { voxel: 1 });
  for (let i = 0; i < hits; i++) await c.get(key);
  await c.saveStats();
  c.close();
  return true;
}

export async function lastingStatsScenario({ name }) {
  const out = {};
  const a = await open({ name });
  for (const voxel of [1, 2]) await a.getOrCompute(a.key("fit", { voxel }), () => ({ data: new Float32Array(4) }));
  for (let i = 0; i < 3; i++) await a.get(a.key("fit", { voxel: 1 }));
  const before = await a.stats();
  out.beforeSave = before.allTime.find((t) => t.step === "fit");
  await a.saveStats();
  await a.saveStats(); // nothing new: nothing added twice
  out.afterSave = await allTimeOf(name, "fit");
  // close() saves what came after the last save, in the background.
  await a.get(a.key("fit", { voxel: 2 }));
  a.close();
  out.afterClose = null;
  for (let i = 0; i < 60 && out.afterClose?.hits !== 4; i++) {
    await sleep(50);
    out.afterClose = await allTimeOf(name, "fit");
  }
  out.closedSave = await catchErr(() => a.saveStats());
  // The counters record is not an entry.
  const c = await open({ name });
  out.entries = (await c.entries()).length;
  c.close();
  return out;
}

/** Runs `work` on the object store `store` of database `name` in a readwrite transaction,
 * behind the module's back, as damage from outside would come. */
async function rawWrite(name, store, work) {
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open(name);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  await new Promise((resolve, reject) => {
    const tx = db.transaction(store, "readwrite");
    work(tx.objectStore(store));
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
  });
  db.close();
}

/** Whether a put to store `name` is under way: a put's file in its OPFS `tmp/` (only
 * names are read: a file being written is locked). */
export async function opfsPutUnderWay({ name }) {
  try {
    const tmp = await (await opfsDir(name)).getDirectoryHandle("tmp");
    for await (const file of tmp.keys()) if (/^[0-9a-f]{64}\./.test(file)) return true;
  } catch {
    // No store yet.
  }
  return false;
}

/** Whether a put of several transactions to database `name` is under way: chunks no
 * listing record names. */
export async function idbPutUnderWay({ name }) {
  const records = await idbRecords({ name }).catch(() => null);
  return records !== null && records.chunks.some((at) => !records.named.includes(at));
}

/** The records of database `name`, as js/idb-store.js of stepcache-idb lays them out:
 * `chunks`, the `hex:generation` of every chunk, one per chunk; `named`, the
 * `hex:generation` each listing record names; `marks`, the keys of the marks of puts in
 * progress. */
export async function idbRecords({ name }) {
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open(name);
    // No database yet: never make one, the store's open would take it for another's.
    request.onupgradeneeded = () => request.transaction.abort();
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const tx = db.transaction(["entries", "heads"], "readonly");
  const all = (request) =>
    new Promise((resolve, reject) => {
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  const [chunkKeys, headKeys, heads] = await Promise.all([
    all(tx.objectStore("entries").getAllKeys()),
    all(tx.objectStore("heads").getAllKeys()),
    all(tx.objectStore("heads").getAll()),
  ]);
  db.close();
  const named = [];
  headKeys.forEach((key, i) => {
    if (/^[0-9a-f]{64}$/.test(key)) named.push(`${key}:${new DataView(heads[i].buffer ?? heads[i]).getBigUint64(0, true)}`);
  });
  return {
    chunks: chunkKeys.map((key) => key.split(":").slice(0, 2).join(":")),
    named,
    marks: headKeys.filter((key) => key.startsWith("put:")),
  };
}

/** Flips the last byte of every chunk of the entry `hex` in database `name`. */
async function damageIdbEntry(name, hex) {
  await rawWrite(name, "entries", (entries) => {
    const request = entries.openCursor(IDBKeyRange.bound(`${hex}:`, `${hex};`));
    request.onsuccess = () => {
      const cursor = request.result;
      if (!cursor) return;
      const bytes = new Uint8Array(cursor.value);
      bytes[bytes.length - 1] ^= 1;
      cursor.update(bytes);
      cursor.continue();
    };
  });
}

/** The OPFS directory of the store `name` (as js/opfs-store.js of stepcache-opfs names it). */
async function opfsDir(name) {
  const root = await navigator.storage.getDirectory();
  const stores = await root.getDirectoryHandle("stepcache");
  return stores.getDirectoryHandle(`=${encodeURIComponent(name).replace(/\./g, "%2E")}`);
}

/** Rewrites the file `file` of `dir` with `change(bytes)`, behind the module's back. */
async function rewriteOpfsFile(dir, file, change) {
  const handle = await dir.getFileHandle(file, { create: true });
  const bytes = new Uint8Array(await (await handle.getFile()).arrayBuffer());
  const writable = await handle.createWritable();
  await writable.write(change(bytes));
  await writable.close();
}

/** Which store the cache `name` is kept in, on this suite's store. */
async function storeOf(name) {
  const cache = await open({ name });
  const store = cache.store;
  cache.close();
  return store;
}

/** Damages the entry `hex` of the cache `name`, kept in `store`: the last byte of every
 * IndexedDB chunk, or of the OPFS file. */
async function damageEntry(name, store, hex) {
  if (store === "indexeddb") return damageIdbEntry(name, hex);
  const entries = await (await opfsDir(name)).getDirectoryHandle("entries");
  await rewriteOpfsFile(entries, hex, (bytes) => {
    bytes[bytes.length - 1] ^= 1;
    return bytes;
  });
}

/** An export of three stored entries, one of them damaged in IndexedDB: the last progress
 * report, and what the bundle held. */
export async function exportDamagedScenario({ name }) {
  const cache = await open({ name, memoryBudget: 0 });
  const keys = [1, 2, 3].map((n) => cache.key("maps", { n }));
  for (const [i, key] of keys.entries()) await cache.put(key, { data: new Float32Array(1000).fill(i) });
  await damageEntry(name, cache.store, keys[1].fingerprint.slice(3));
  const progress = [];
  const bytes = await streamBytes(cache.exportBundle({ onProgress: (p) => progress.push(p) }));
  const last = progress.at(-1);
  const into = await open({ name: `${name}-into` });
  const report = await into.importBundle(bytes);
  const out = { last, imported: report.imported, entriesLeft: (await cache.entries()).length };
  cache.close();
  into.close();
  return out;
}

/** Replaces the lasting counters of the cache `name` with `bytes`. */
export async function damageCounters({ name, bytes }) {
  if ((await storeOf(name)) === "indexeddb") {
    await rawWrite(name, "heads", (heads) => heads.put(Uint8Array.from(bytes), "counters"));
  } else {
    await rewriteOpfsFile(await opfsDir(name), "counters", () => Uint8Array.from(bytes));
  }
  return allTimeOf(name, "fit");
}

export { allTimeOf };

// ---------------------------------------------------------------------------------------
// Records: several outputs stored as one entry.

export async function recordScenario({ name }) {
  const out = {};
  const cache = await open({ name });
  const golden = { t1: { data: Float32Array.of(1, 2, 3, 4), shape: [2, 2] }, mask: Uint8Array.of(1, 0, 1, 1) };
  const key = cache.key("t1_fit", { n: 1 });
  out.put = await cache.put(key, { parts: golden, meta: { units: "ms" } });
  const fresh = await open({ name, memoryBudget: 0 });
  for (const [where, c] of [["memory", cache], ["store", fresh]]) {
    const hit = await c.get(key);
    out[where] = {
      source: hit.source,
      hex: hexOf(new Uint8Array(hit.data)),
      names: Object.keys(hit.parts),
      t1: [hit.parts.t1.constructor.name, Array.from(hit.parts.t1)],
      mask: Array.from(hit.parts.mask),
      meta: hit.meta,
    };
  }
  // A step with several outputs, a scalar among them.
  let calls = 0;
  const fit = cache.step("fit", ({ x }) => {
    calls += 1;
    return { parts: { t1: x.map((v) => v * 10), mean: 12.5 } };
  });
  const first = await fit({ x: Float32Array.of(1, 2) });
  const again = await fit({ x: Float32Array.of(1, 2) });
  out.step = { calls, sources: [first.source, again.source], t1: Array.from(again.parts.t1), mean: Array.from(again.parts.mean) };
  out.bad = {
    shape: await catchErr(() => cache.put(key, { parts: { t1: { data: new Float32Array(4), shape: [3] } } })),
    kind: await catchErr(() => cache.put(key, { parts: { t1: [1, 2] } })),
    name: await catchErr(() => cache.put(key, { parts: { "": new Uint8Array(1) } })),
    parts: await catchErr(() => cache.put(key, { parts: 5 })),
  };
  cache.close();
  fresh.close();
  return out;
}

/**
 * Regions of a stored `[6, 256, 512]` f32 volume whose every voxel is its index: from
 * IndexedDB through a second cache with no memory tier (the entry has a block table: only
 * the chunks a region touches are read) and from the memory tier; ranges and named axes;
 * a missing key; bad regions.
 */
export async function regionScenario({ name }) {
  const [Z, Y, X] = [6, 256, 512];
  const volume = new Float32Array(Z * Y * X).map((_, i) => i);
  const cache = await open({ name });
  const key = cache.key("smoothed", { sigma: 1.5 });
  await cache.put(key, { data: volume, shape: [Z, Y, X] });
  const fresh = await open({ name, memoryBudget: 0 });
  /** Whether `data` holds exactly the voxels of the box, in order. */
  const isBox = (data, [z0, z1, y0, y1, x0, x1]) => {
    let i = 0;
    for (let z = z0; z < z1; z++) {
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) if (data[i++] !== (z * Y + y) * X + x) return false;
      }
    }
    return i === data.length;
  };
  const cases = [
    [{ z: 2 }, [2, 3, 0, Y, 0, X]],
    [[[1, 4]], [1, 4, 0, Y, 0, X]],
    [[[3, 5], [10, 20], [7, 9]], [3, 5, 10, 20, 7, 9]],
    [{ y: [255] }, [0, Z, 255, Y, 0, X]],
    [{ x: 511, z: [0, 2] }, [0, 2, 0, Y, 511, X]],
    [[4, [0, Infinity], [500]], [4, 5, 0, Y, 500, X]],
  ];
  const out = { cases: [] };
  for (const [region, box] of cases) {
    for (const c of [fresh, cache]) {
      const hit = await c.getRegion(key, region);
      out.cases.push({ region: JSON.stringify(region), source: hit.source, shape: hit.shape, ctor: hit.data.constructor.name, exact: isBox(hit.data, box) });
    }
  }
  out.missing = String(await fresh.getRegion(cache.key("smoothed", { sigma: 9 }), { z: 0 }));
  out.bad = {
    past: await catchErr(() => fresh.getRegion(key, { z: 6 })),
    tooMany: await catchErr(() => fresh.getRegion(key, [0, 0, 0, 0])),
    axis: await catchErr(() => fresh.getRegion(key, { w: 1 })),
    negative: await catchErr(() => fresh.getRegion(key, [[-1, 2]])),
    fraction: await catchErr(() => fresh.getRegion(key, [[0.5, 2]])),
    notRegion: await catchErr(() => fresh.getRegion(key, 5)),
  };
  const whole = await fresh.get(key);
  out.wholeAfter = whole && isBox(whole.data, [0, Z, 0, Y, 0, X]);
  cache.close();
  fresh.close();
  return out;
}

// ---------------------------------------------------------------------------------------
// Puts cut short, and the store option.

/** The value of big put `i` of `round`: 16 MiB of one float, `old` for the version it replaces. */
function bigValue(round, i, old = false) {
  const data = new Float32Array(4 * 1048576).fill(round * 10 + i + (old ? 0.25 : 0.5));
  return { data, shape: [data.length] };
}

/** Stores the old version of big put 0 of `round`, then the four big puts one after another
 * (the test kills the worker in the middle). */
export async function bigPuts({ name, round, old }) {
  const cache = await open({ name, memoryBudget: 0 });
  if (old) {
    await cache.put(cache.key("big", { round, i: 0 }), bigValue(round, 0, true));
    return null;
  }
  for (let i = 0; i < 4; i++) await cache.put(cache.key("big", { round, i }), bigValue(round, i));
  return null;
}

/** What a fresh cache reads of `round`'s big puts: "complete", "old" (put 0's version
 * before), "none" or "WRONG" each, then the damaged entries it removed. */
export async function readBig({ name, round }) {
  const cache = await open({ name, memoryBudget: 0 });
  const out = [];
  for (let i = 0; i < 4; i++) {
    const hit = await cache.get(cache.key("big", { round, i }));
    if (!hit) {
      out.push("none");
      continue;
    }
    const is = (want) => hit.data.length === 4 * 1048576 && hit.data.every((x) => x === want.data[0]);
    out.push(is(bigValue(round, i)) ? "complete" : i === 0 && is(bigValue(round, 0, true)) ? "old" : "WRONG");
  }
  out.push(`corrupt:${(await cache.stats()).corruptRemoved}`);
  cache.close();
  return out;
}

/**
 * The browser storage calls a store makes, as `[interface, method names]`: every
 * IndexedDB and OPFS call of js/idb-store.js and js/opfs-store.js goes through one of
 * them. In a page, only OPFS's, which answer with Promises (see `opKilledAtCall`).
 */
function storageCalls() {
  if (!inWorker()) {
    return [
      [globalThis.FileSystemDirectoryHandle, ["getFileHandle", "getDirectoryHandle", "removeEntry"]],
      [globalThis.FileSystemFileHandle, ["createWritable", "getFile", "move"]],
      [globalThis.FileSystemWritableFileStream, ["write", "close", "abort", "truncate"]],
    ];
  }
  const all = [
    [globalThis.IDBDatabase, ["transaction"]],
    [globalThis.IDBObjectStore, ["put", "delete", "get", "getAll", "getAllKeys", "count", "openCursor"]],
    [globalThis.IDBTransaction, ["commit", "abort", "objectStore"]],
    [globalThis.FileSystemDirectoryHandle, ["getFileHandle", "getDirectoryHandle", "removeEntry", "keys", "entries"]],
    [globalThis.FileSystemFileHandle, ["createSyncAccessHandle", "createWritable", "getFile", "move"]],
    [globalThis.FileSystemSyncAccessHandle, ["read", "write", "truncate", "flush", "close", "getSize"]],
    [globalThis.FileSystemWritableFileStream, ["write", "close", "abort", "truncate"]],
  ];
  return all.filter(([type]) => type !== undefined);
}

/** Version `v` of the value the kill-at-every-call scenarios write: 6 MiB of `v`, two of
 * the stores' 4 MiB pieces. */
function killedValue(v) {
  const data = new Float32Array(1.5 * 1048576).fill(v);
  return { data, shape: [data.length] };
}

/**
 * Blocks this worker's thread for good: nothing after the call runs, no task ends (so no
 * IndexedDB transaction commits), until the page terminates the worker. A synchronous
 * request that the test server never answers, rather than a loop, so that several
 * stopped workers waiting for Chromium to end them take no processor time.
 */
function stopDead() {
  const request = new XMLHttpRequest();
  request.open("GET", "/hang", false);
  request.send();
  throw new Error("the test server answered /hang");
}

/** Whether this runs in a worker. */
const inWorker = () => typeof WorkerGlobalScope !== "undefined";

/**
 * Leaves in store `name` (kept in `store`) what a put of entry `hex` by a connection that
 * is gone leaves behind: an OPFS file in `tmp/`, or IndexedDB chunks without their chunk
 * 0, with their put's mark.
 */
async function deadPutOf(name, store, hex) {
  const owner = "gone0000";
  if (store === "opfs") {
    const tmp = await (await opfsDir(name)).getDirectoryHandle("tmp");
    await rewriteOpfsFile(tmp, `${hex}.${Date.now()}.${owner}.dead0000`, () => new Uint8Array(4096).fill(7));
    return;
  }
  const generation = (BigInt(Date.now()) << 20n) | 1n;
  await rawWrite(name, "entries", (entries) => entries.put(new Uint8Array(4096).fill(7), `${hex}:${generation}:0001`));
  await rawWrite(name, "heads", (heads) => heads.put("", `put:${hex}:${generation}:${owner}`));
}

/**
 * Stores version 1 of the key "killed" of store `name`, then runs `op` ("put": version 2
 * over it; "invalidate" it; "saveStats": the lasting counters; "open": the store opened
 * again over what a dead connection's put left, and listed) and stops dead at its
 * storage call number `at` (see `storageCalls`). A worker tells the page `{ killAt }`
 * and blocks until the page terminates it (`stopDead`); a page, which the test then closes, calls
 * `stoppedAt(at)` and lets that call never answer, so that nothing after it happens.
 * Resolves to the number of calls if `op` made fewer than `at`.
 */
export async function opKilledAtCall({ name, op, at }) {
  const cache = await open({ name, memoryBudget: 0 });
  const key = cache.key("killed", {});
  await cache.put(key, killedValue(1));
  if (op === "open") await deadPutOf(name, cache.store, key.fingerprint.slice(3));
  let calls = 0;
  for (const [type, methods] of storageCalls()) {
    for (const method of methods) {
      const call = type.prototype[method];
      if (typeof call !== "function") continue;
      type.prototype[method] = function (...args) {
        calls += 1;
        if (calls === at) {
          if (!inWorker()) {
            globalThis.stoppedAt(at);
            return new Promise(() => {});
          }
          postMessage({ killAt: at });
          stopDead();
        }
        return call.apply(this, args);
      };
    }
  }
  if (op === "put") await cache.put(key, killedValue(2));
  else if (op === "invalidate") await cache.invalidate(key);
  else if (op === "saveStats") await cache.saveStats();
  else await (await open({ name, memoryBudget: 0 })).stats();
  return calls;
}

/** What a fresh cache of `name` reads of the key "killed": 1 or 2 (the version, whole),
 * "none", or "WRONG"; and the damaged entries it removed on the way. */
export async function readKilled({ name }) {
  const cache = await open({ name, memoryBudget: 0 });
  const hit = await cache.get(cache.key("killed", {}));
  const whole = (v) => hit.data.length === killedValue(v).data.length && hit.data.every((x) => x === v);
  const seen = !hit ? "none" : [1, 2].find(whole) ?? "WRONG";
  const corrupt = (await cache.stats()).corruptRemoved;
  cache.close();
  return { seen, corrupt };
}

/** Puts 16 MiB values under new keys one after another, for ever, in a cache of at most
 * `budget` bytes (the test kills the worker in the middle). */
export async function putsUnderBudget({ name, budget, mib = 16 }) {
  const cache = await open({ name, memoryBudget: 0, storeBudget: budget });
  for (let i = 0; ; i++) {
    const data = new Float32Array(mib * 262144).fill(i + 0.5);
    await cache.put(cache.key("big", { i }), { data, shape: [data.length] });
  }
}

/** What a cache of `name` opened now lists: its stored bytes and entries. */
export async function storedNow({ name, budget }) {
  const cache = await open({ name, memoryBudget: 0, storeBudget: budget });
  const { bytes, entries } = (await cache.stats()).store;
  cache.close();
  return { bytes, entries };
}

/** Every file under the OPFS directory of store `name`, as `[path, bytes]` (a directory
 * where none belongs as `[path, -1]`). */
export async function opfsFiles({ name }) {
  const out = [];
  const walk = async (dir, at) => {
    for await (const [child, handle] of dir.entries()) {
      const path = `${at}${child}`;
      if (handle.kind === "file") out.push([path, (await handle.getFile()).size]);
      else if (path === "entries" || path === "tmp") await walk(handle, `${path}/`);
      else out.push([path, -1]);
    }
  };
  await walk(await opfsDir(name), "");
  return out;
}

/** The store option: where "auto" keeps entries, and that each store is its own cache. */
export async function storeScenario({ name }) {
  const auto = await openCache({ name });
  const key = auto.key("maps", { n: 1 });
  await auto.put(key, { data: Float32Array.of(1, 2, 3) });
  const out = { auto: auto.store };
  for (const store of ["opfs", "indexeddb"]) {
    const c = await openCache({ name, store, memoryBudget: 0 });
    out[store] = { store: c.store, hit: (await c.get(key))?.data?.[2] ?? null };
    c.close();
  }
  auto.close();
  out.bad = await catchErr(() => openCache({ name, store: "disk" }));
  return out;
}

/** The key the scenarios of a value replaced while read use. */
const busyKey = (cache) => cache.key("busy", { n: 1 });

/** Put `n` of writer `writer` of the busy key: 8 MiB of `writer * 1e6 + n`. */
function busyVersion(writer, n) {
  const data = new Float32Array(2 * 1048576).fill(writer * 1e6 + n);
  return { data, shape: [data.length] };
}

/** Reads the busy key through `reader` over and over for `ms`: what it saw (every hit must
 * be one whole version, never older than one of the same writer it saw before), its
 * errors, and the damaged entries it removed. */
async function readOverAndOver(reader, ms) {
  const seen = { hits: 0, misses: 0, wrong: 0, older: 0, errors: [] };
  const newest = new Map();
  for (const until = Date.now() + ms; Date.now() < until; ) {
    try {
      const hit = await reader.get(busyKey(reader));
      if (!hit) {
        seen.misses++;
        continue;
      }
      const v = hit.data[0];
      if (!hit.data.every((x) => x === v)) seen.wrong++;
      const writer = Math.floor(v / 1e6);
      if (v < (newest.get(writer) ?? 0)) seen.older++;
      newest.set(writer, Math.max(v, newest.get(writer) ?? 0));
      seen.hits++;
    } catch (e) {
      seen.errors.push(`${e.name}: ${e.message}`);
    }
  }
  seen.corrupt = (await reader.stats()).corruptRemoved;
  return seen;
}

/** Reads the busy key of store `name` over and over for `ms` (see `readOverAndOver`). */
export async function keepReading({ name, ms }) {
  const reader = await open({ name, memoryBudget: 0, broadcast: false });
  const seen = await readOverAndOver(reader, ms);
  reader.close();
  return seen;
}

/** Puts the busy key of store `name` once, then over and over for `ms`, as writer
 * `writer`; counts the puts, the failures and the slowest put (ms). */
export async function keepPutting({ name, ms, writer }) {
  const cache = await open({ name, memoryBudget: 0, broadcast: false });
  const out = { puts: 0, errors: [], slowest: 0 };
  for (const until = Date.now() + ms; out.puts + out.errors.length === 0 || Date.now() < until; ) {
    const began = Date.now();
    try {
      await cache.put(busyKey(cache), busyVersion(writer, out.puts));
      out.puts++;
    } catch (e) {
      out.errors.push(`${e.name}: ${e.message}`);
    }
    out.slowest = Math.max(out.slowest, Date.now() - began);
  }
  cache.close();
  return out;
}

/** One handle replaces the busy key over and over while another reads it from the store
 * for `ms` (see `readOverAndOver`); also how many puts there were. */
export async function replaceWhileReading({ name, ms }) {
  const writer = await open({ name, memoryBudget: 0 });
  const reader = await open({ name, memoryBudget: 0, broadcast: false });
  let puts = 0;
  await writer.put(busyKey(writer), busyVersion(0, puts));
  let stop = false;
  const writing = (async () => {
    while (!stop) await writer.put(busyKey(writer), busyVersion(0, ++puts));
  })();
  const seen = await readOverAndOver(reader, ms);
  stop = true;
  await writing;
  seen.puts = puts;
  writer.close();
  reader.close();
  return seen;
}
