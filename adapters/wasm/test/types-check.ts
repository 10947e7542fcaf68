// Compiled (never run) by the test suite with `tsc --noEmit --strict` against the package's
// index.d.ts: typical typed uses of the API must type-check, and wrong ones must not.
import { fingerprintBytes, open, StepKey } from "stepcache";
import type {
  CacheOptions, ComputeContext, ComputeOptions, EntryInfo, Hit, ImportReport, Json, KeyLike, PutReport, Region, Stats, Status, StepCache, StepCacheErrorName, TypedArray, Upstream,
  ValueInput,
} from "stepcache";

export async function typedUse(): Promise<number> {
  const options: CacheOptions = {
    name: "db",
    memoryBudget: 256 << 20,
    storeBudget: 4 * 2 ** 30,
    defaultPolicy: "persistent",
    policies: { preview: "memory", t1_map: { retention: "persistent", maxAgeMs: 86_400_000, compress: true } },
    access: "rcw",
    persist: true,
    broadcast: true,
    locks: true,
    store: "opfs",
  };
  const cache: StepCache = await open(options);
  const name: string = cache.name;
  const place: "opfs" | "indexeddb" = cache.store;
  void [name, place];

  const signal = new Float32Array(4 * 8 * 8);
  const key: StepKey = cache.key("t1_map", { tr: 15, flip: [2, 5, 10, 15], signal: { data: signal, shape: [4, 8, 8] }, verbose: true }, {
    version: 1,
    ignore: ["verbose"],
    defaults: { mask: "none" },
  });

  // getOrCompute keeps the element type of what compute returns.
  const hit: Hit<Float32Array> = await cache.getOrCompute(key, async () => ({
    data: new Float32Array(64),
    shape: [8, 8],
    meta: { units: "ms", fit: { iterations: 12, converged: true, notes: null } },
  }));
  const f32: Float32Array = hit.data;
  const first: number = f32[0] ?? 0;
  const hitKey: StepKey = hit.key;
  const content: string = hit.content;
  const upstream: Upstream = { key: hitKey.toString(), content };
  const lineage = cache.key("r1_map", { t1: hit, big: 12n, raw: new Uint8Array(3), buf: new ArrayBuffer(8) });
  const lineage2: StepKey = cache.key("r1_map", { t1: upstream, tr: 15.0 });
  const text: string = lineage.toString();
  void lineage2;
  const again: StepKey = StepKey.parse(text);
  const fp: string = again.fingerprint + again.step;
  const big = await cache.getOrCompute(lineage, () => ({ data: new BigInt64Array(2) }));
  const b: bigint = big.data[0] ?? 0n;

  // get() takes the array type the caller expects.
  const typedGet: Hit<Float32Array> | undefined = await cache.get<Float32Array>(key);
  const firstFloat: number = typedGet?.data[0] ?? 0;
  const digest: string = fingerprintBytes(new Float32Array(4)) + fingerprintBytes(new ArrayBuffer(2));
  void [firstFloat, digest];
  // @ts-expect-error: fingerprintBytes takes bytes, not text
  fingerprintBytes("text");

  // getRegion(): ranges of the first dimensions, or named axes; the hit as get's.
  const slice: Hit<Float32Array> | undefined = await cache.getRegion<Float32Array>(key, { z: 3, x: [0, 10] });
  const rows: Region = [[0, 2], 5, [1]];
  void [slice?.shape, await cache.getRegion(key, rows)];
  // @ts-expect-error: the axes are x, y, z and t
  await cache.getRegion(key, { w: 1 });
  // @ts-expect-error: a range is [start, end] or one index
  await cache.getRegion(key, [[0, 1, 2]]);

  const maybe: Hit | undefined = await cache.get(key);
  if (maybe) {
    const data: TypedArray | ArrayBuffer = maybe.data;
    const shape: number[] = maybe.shape;
    const meta: Json | undefined = maybe.meta;
    const source: "memory" | "store" | "computed" | "waited" | "shared" = maybe.source;
    void [data, shape, meta, source, maybe.createdMs + maybe.costMs];
  }
  const value: ValueInput = { data: new ArrayBuffer(16), shape: [4, 4] };
  const report: PutReport = await cache.put(key, value, { costMs: 1200 });
  const outcome: string = report.memory + report.store;
  const present: boolean = await cache.has(key);
  await cache.invalidate(key);
  const removed: number = await cache.clear("t1_map");
  const stats: Stats = await cache.stats();
  const usage: number | null = stats.storage.usage;
  const persisted: boolean | null = stats.storage.persisted;
  const perType: number = stats.types.reduce((n, t) => n + t.savedMs + t.computes, stats.memory.hits + stats.store.misses);
  const keyLikes: KeyLike[] = [key, lineage.toString(), { step: key.step, fingerprint: key.fingerprint }];
  const statuses: Status[] = await cache.status(keyLikes);
  const list: EntryInfo[] = await cache.entries();
  const newest: string | undefined = list[0]?.key;
  if (newest !== undefined) {
    const byText: Hit | undefined = await cache.get(newest);
    void byText;
  }
  const inBoth: boolean = list.every((e) => e.inMemory && e.stored && e.bytes >= 0 && e.hits >= 0);
  cache.pin(key);
  cache.unpin(key);
  const state: Status["state"] = statuses[0]?.state ?? "missing";
  cache.setForce(["t1_map"]);
  cache.setForce(true);
  cache.setForce(false);
  cache.setAccess("r");

  try {
    await cache.getOrCompute(key, () => ({ data: new Uint8Array(1) }));
  } catch (e) {
    const errorName = (e as Error).name as StepCacheErrorName;
    if (errorName === "ComputeDisabled") cache.setAccess("rcw");
    const stopped: boolean = errorName === "Timeout" || errorName === "Aborted" || errorName === "ModuleFailed" || errorName === "TooLarge";
    void stopped;
  }

  // A compute that honours its signal, with a timeout and the caller's signal.
  const controller = new AbortController();
  const computeOptions: ComputeOptions = { timeoutMs: 30_000, signal: controller.signal };
  const fitted = await cache.getOrCompute(
    key,
    async ({ signal }: ComputeContext) => {
      signal.throwIfAborted();
      return { data: new Float64Array(4) };
    },
    computeOptions,
  );
  const f64: Float64Array = fitted.data;
  const storedIn: string | undefined = fitted.stored?.store;
  void [f64, storedIn];
  cache.close();
  cache.free();
  void [name, fp, first, b, outcome, present, removed, usage, persisted, state, inBoth];
  return perType;
}

export async function wrongUses(cache: StepCache, key: StepKey): Promise<void> {
  // @ts-expect-error: a nested object is not a key argument
  cache.key("s", { p: { a: 1 } });
  // @ts-expect-error: key params are named (an object), not a number
  cache.key("s", 42);
  // @ts-expect-error: lineage takes the upstream hit (key and content), not its key alone
  cache.key("r1_map", { t1: key });
  // @ts-expect-error: budgets are numbers
  await open({ memoryBudget: "1 GiB" });
  // @ts-expect-error: not a retention
  await open({ policies: { t1_map: "forever" } });
  // @ts-expect-error: put needs a value with data
  await cache.put(key, 42);
  // @ts-expect-error: a plain number array is not a typed array
  await cache.put(key, { data: [1, 2, 3] });
  // @ts-expect-error: metadata is JSON, a function is not
  await cache.put(key, { data: new Uint8Array(1), meta: { f: () => 1 } });
  // @ts-expect-error: get takes a StepKey or its text, not a number
  await cache.get(42);
  // @ts-expect-error: a key object needs its fingerprint
  await cache.put({ step: "t1_map" }, { data: new Uint8Array(1) });
  // Key texts and {step, fingerprint} objects are keys.
  await cache.put({ step: key.step, fingerprint: key.fingerprint }, { data: new Uint8Array(1) });
  await cache.invalidate(key.toString());
  // @ts-expect-error: StepKey has no public constructor
  new StepKey();
  // @ts-expect-error: timeoutMs is a number
  await cache.getOrCompute(key, () => ({ data: new Uint8Array(1) }), { timeoutMs: "1s" });
  // @ts-expect-error: not an option of getOrCompute
  await cache.getOrCompute(key, () => ({ data: new Uint8Array(1) }), { retries: 2 });
  const hit = await cache.getOrCompute(key, () => ({ data: new Int16Array(2) }));
  // @ts-expect-error: an Int16Array result is not a Float32Array
  const f: Float32Array = hit.data;
  void f;
  // Bundles: a File or a fetch body in, a stream out.
  const report: ImportReport = await cache.importBundle(new Blob([]), { onProgress: (p) => void p.totalBytes });
  void report.refused[0]?.reason;
  await cache.importBundle((await fetch("maps.stepcache")).body!);
  const bundle: ReadableStream<Uint8Array> = cache.exportBundle({ step: "t1_map", since: new Date(), onProgress: (p) => void p.entries });
  void bundle;
  // @ts-expect-error: a bundle is bytes, not a path
  await cache.importBundle("maps.stepcache");
  // @ts-expect-error: not an option of exportBundle
  cache.exportBundle({ steps: ["t1_map"] });
  // Step functions: typed parameters in, a typed hit out.
  const smooth = cache.step("smooth", ({ map, sigma }: { map: Float32Array; sigma?: number }) => ({ data: map.map((x) => x * (sigma ?? 1)) }), {
    defaults: { sigma: 1 },
  });
  const smoothed: Hit<Float32Array> = await smooth({ map: new Float32Array(4) }, { timeoutMs: 1000 });
  void smoothed;
  // @ts-expect-error: a parameter of another type
  await smooth({ map: "not an array" });
  // Records: several outputs as one entry.
  await cache.put(key, { parts: { t1: new Float32Array(4), mask: { data: new Uint8Array(4), shape: [2, 2] }, mean: 1400 } });
  const parts = (await cache.get(key))?.parts;
  void parts?.["t1"];
  // @ts-expect-error: a part is not a plain array
  await cache.put(key, { parts: { t1: [1, 2] } });
}
