// Type declarations of the npm package `stepcache`.

/** Where results of one type are kept. */
export type Retention = "transient" | "memory" | "persistent";

/** The policy of one result type. */
export interface TypePolicy {
  retention: Retention;
  /** Results older than this are misses and are removed. */
  maxAgeMs?: number;
  /** Compress stored payloads (byte shuffle + LZ4; kept only if it saves at least 1/8). */
  compress?: boolean;
  /**
   * Read results of this type from the shared tier ({@link CacheOptions.shared}) on a
   * miss (default false). Hits there are verified, then kept in IndexedDB and memory.
   */
  shared?: boolean;
}

/** Options of {@link open}. Every field is optional. */
export interface CacheOptions {
  /** The cache's name: its IndexedDB database, or its directory in OPFS (default "stepcache"). */
  name?: string;
  /** Bytes kept in this page's or worker's memory (default 1 GiB; 0 keeps nothing). */
  memoryBudget?: number;
  /** Bytes kept in the browser's storage (default 16 GiB; 0 stores nothing). */
  storeBudget?: number;
  /** The policy of types without one of their own (default "persistent"). */
  defaultPolicy?: Retention | TypePolicy;
  /** Policies per result type (step name). */
  policies?: Record<string, Retention | TypePolicy>;
  /** Maximum age of types without a policy of their own. */
  maxAgeMs?: number;
  /** Compression for types without a policy of their own (default false). */
  compression?: boolean;
  /** Letters r (read), c (compute), w (write); default "rcw". */
  access?: string;
  /**
   * Ask the browser to keep this origin's storage (navigator.storage.persist()). Browsers
   * only grant it from a page: in a worker this does nothing, so ask from the page.
   */
  persist?: boolean;
  /** Tell other tabs and workers about puts, invalidations and clears (default true). */
  broadcast?: boolean;
  /** Compute each key once across tabs and workers with Web Locks (default true). */
  locks?: boolean;
  /**
   * The shared tier, read over HTTP(S) with `fetch`: `url` is where the entries are,
   * e.g. `https://lab-cache.s3.amazonaws.com/t1-pipeline/` for a bucket prefix that
   * native machines write (objects `<url>v2/entries/<fingerprint>`), served with CORS to
   * this origin, any static file host will do. The browser only reads it, with no
   * credentials; types read from it are those whose policy says `shared: true`.
   * See docs/shared.md.
   */
  shared?: { url: string };
  /**
   * Where entries are kept: "opfs" (the origin private file system: in a worker, large
   * reads go straight from the file into the module, faster than IndexedDB),
   * "indexeddb", or "auto" (the default: OPFS where the browser has it, else IndexedDB).
   * Caches of one name in the two places are separate caches.
   */
  store?: "auto" | "opfs" | "indexeddb";
}

/** Any typed array stepcache keeps (it comes back as the same kind). */
export type TypedArray =
  | Float32Array | Float64Array
  | Int8Array | Int16Array | Int32Array
  | Uint8Array | Uint16Array | Uint32Array | Uint8ClampedArray
  | BigInt64Array | BigUint64Array;

/** JSON-compatible metadata. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * A value to store: bytes or a typed array, with an optional shape and metadata. Its data
 * may hold at most 2^30 bytes (1 GiB, the IndexedDB store's limit on an entry): a larger
 * one is refused with an `Error` named `TooLarge` before it is copied anywhere.
 */
export type ValueInput<T extends TypedArray | ArrayBuffer = TypedArray | ArrayBuffer> = ArrayValue<T> | RecordValue;

/** One typed array (or bytes) with its shape. */
export interface ArrayValue<T extends TypedArray | ArrayBuffer = TypedArray | ArrayBuffer> {
  data: T;
  /** Dimensions, outermost first; their product must be the element count (default [length]). */
  shape?: number[];
  meta?: Json;
}

/**
 * Several outputs of one step stored as one entry (a record: one key, one write, one
 * check): each part a typed array, `{data, shape}`, an ArrayBuffer, or a number (a
 * float64 of shape []). They come back as {@link Hit.parts}.
 */
export interface RecordValue {
  parts: Record<string, TypedArray | ArrayBuffer | number | { data: TypedArray | ArrayBuffer; shape?: number[] }>;
  meta?: Json;
}

/**
 * Where a value came from: this cache's memory tier, IndexedDB, computed by this call, or
 * computed by a concurrent call in this same page or worker. (A caller in another tab
 * waits for that tab's computation through a Web Lock and then reads it: "store".)
 */
export type Source = "memory" | "store" | "computed" | "waited" | "shared";

/** A value found or computed. Pass it as a key parameter to key a step computed from it
 * (lineage, see {@link Upstream}). */
export interface Hit<T extends TypedArray | ArrayBuffer = TypedArray | ArrayBuffer> {
  data: T;
  shape: number[];
  meta: Json | undefined;
  source: Source;
  /** When it was computed (ms since the epoch). */
  createdMs: number;
  /** How long computing it took (ms). */
  costMs: number;
  /** The key the value belongs to. */
  key: StepKey;
  /**
   * The value's content identity, "b3:" + 64 hex digits: a digest of its element type,
   * shape, metadata and the XXH3-128 checksum of its bytes. The same for the same value
   * whether computed, from memory or from IndexedDB, in any page, worker or session.
   */
  content: string;
  /**
   * The parts of a record (several named values stored as one entry, as a native step
   * with several outputs writes them), by name: typed arrays viewing the record's bytes
   * (an ArrayBuffer for bytes), a scalar as a one-element array. Only on records, whose
   * `data` is the record's whole ArrayBuffer.
   */
  parts?: Record<string, TypedArray | ArrayBuffer>;
  /**
   * What storing the value did in each tier, as {@link StepCache.put} reports it: only on
   * the hit of the getOrCompute call that computed it (source "computed"); absent on hits
   * from memory or IndexedDB and on "waited" ones. A tier that refused the value (e.g.
   * `store: "skipped:too-large"` under a small storeBudget) did not keep it there.
   */
  stored?: PutReport;
}

/**
 * An upstream result standing in for its data in a key (lineage): a {@link Hit}, or its
 * key and content identity (what a hit posted to a worker carries). The key binds both, so
 * an upstream step recomputed to another value gives another key, and the upstream data
 * is never hashed again.
 */
export interface Upstream {
  key: KeyLike;
  content: string;
}

/** What a tier did with a value: "stored", "skipped:<reason>" or "failed:<ErrorName>". */
export type TierOutcome = string;

/** What {@link StepCache.put} (or a getOrCompute that computed, {@link Hit.stored}) did in each tier. */
export interface PutReport {
  memory: TierOutcome;
  store: TierOutcome;
  /** "skipped:read-only" for shared types (the browser only reads the shared tier),
   * "skipped:policy" for the others. */
  shared: TierOutcome;
}

/** An array argument with its shape. */
export interface ArrayArg {
  data: TypedArray | ArrayBuffer;
  shape: number[];
}

/**
 * A key argument: scalars, lists, arrays (hashed in place), or an upstream hit (lineage).
 * A number is keyed by its value, not its type: 15, 15.0 and 15n are one key (as in every
 * binding); NaN and Infinity are InvalidArgument. `null` is an absent value, keyed as
 * Rust's and Python's `None` are.
 */
export type Param = boolean | number | bigint | string | null | Array<boolean | number | bigint | string | null> | TypedArray | ArrayBuffer | ArrayArg | Upstream;

/** How a step's arguments enter keys. */
export interface KeyOptions {
  /** Bump when the computation changes (default 0). */
  version?: number;
  /** Arguments that never change the result (verbosity, thread counts). */
  ignore?: string[];
  /** Arguments dropped from the key when equal to these values (added parameters keep old keys). */
  defaults?: Record<string, Param>;
}

/**
 * A cache key: a step name and a blake3 fingerprint. Keys are plain JavaScript objects
 * (free() is kept for compatibility and does nothing).
 */
export class StepKey {
  private constructor();
  /** The step (result type) name. */
  readonly step: string;
  /** The fingerprint, "b3:" + 64 hex digits. */
  readonly fingerprint: string;
  /** "step@b3:..." (post this to a worker; every method takes it, or use {@link StepKey.parse}). */
  toString(): string;
  /** Reads the text form made by {@link StepKey.toString}. */
  static parse(text: string): StepKey;
  free(): void;
}

/** A key, its text form, or `{step, fingerprint}` (what a key posted to a worker becomes). */
export type KeyLike = StepKey | string | { step: string; fingerprint: string };

/** Counters of one tier. */
export interface TierStats {
  hits: number;
  misses: number;
  bytes: number;
  entries: number;
  budget: number;
  evictions: number;
  expired: number;
}

/** Counters of one result type. */
export interface TypeStats {
  step: string;
  hits: number;
  misses: number;
  puts: number;
  computes: number;
  computeMs: number;
  savedMs: number;
}

/**
 * A snapshot of a cache's counters and of the origin's storage. Hits, misses, computes and
 * time saved count what this cache object saw since it was opened (`types`), and per type
 * over every session of the database (`allTime`); bytes and entries of the store are the
 * database's, whoever wrote them.
 */
export interface Stats {
  memory: TierStats;
  store: TierStats;
  /** Per type, this session (this cache object since it was opened). */
  types: TypeStats[];
  /**
   * Per type, every session of this database that saved its counters, and this one. A
   * session saves on close(), on saveStats(), and in a page whenever the page is hidden;
   * a worker terminated without close() loses its unsaved counts.
   */
  allTime: TypeStats[];
  hitRate: number;
  savedMs: number;
  corruptRemoved: number;
  waitedComputes: number;
  /** The shared tier, as this cache object saw it since it was opened. */
  shared: SharedStats;
  /** navigator.storage: usage and quota in bytes, and whether storage is persisted. */
  storage: { usage: number | null; quota: number | null; persisted: boolean | null };
}

/** Counters of the shared tier ({@link CacheOptions.shared}). */
export interface SharedStats {
  /** Whether the cache was opened with a shared tier. */
  enabled: boolean;
  /** Lookups it answered (verified, then kept in IndexedDB and memory). */
  hits: number;
  misses: number;
  /** Objects found but not returned: damaged, or another key's. */
  rejected: number;
  bytesRead: number;
  /** Always 0: the browser never writes the shared tier. */
  bytesWritten: number;
  /** Reads that failed (unreachable, refused, HTTP errors). */
  errors: number;
  /** Keys invalidated here: never read from the shared tier again by this cache. */
  pending: number;
  /** Left alone after a failure: lookups stay local until the retry time (30 s) passes. */
  degraded: boolean;
  /** The latest failure, for people. */
  lastError: string | null;
}

/** The state of one key ("shared": not in this browser, but in the shared tier). */
export interface Status {
  key: string;
  state: "memory" | "stored" | "expired" | "forced" | "shared" | "missing";
  createdMs: number | null;
  costMs: number | null;
}

/** One cached entry. */
export interface EntryInfo {
  /** The key's text form ("step@b3:..."), usable wherever a key is. */
  key: string;
  step: string;
  /** Bytes it occupies in IndexedDB (or in memory if it is only there). */
  bytes: number;
  createdMs: number;
  costMs: number;
  hits: number;
  inMemory: boolean;
  stored: boolean;
  /** In the shared tier (never listed by a browser, which cannot list a host: false). */
  shared: boolean;
  /** How it was made, as its entry records it. */
  provenance: Provenance;
}

/**
 * How an entry was made: which stepcache wrote it, and the step version and arguments of
 * its key. `version` and `args` are null for an entry stored under a key given as text
 * (or posted from another worker), for a memory-only entry, and for entries written
 * before provenance was recorded.
 */
export interface Provenance {
  /** e.g. "stepcache 0.1.0"; "" where nothing was recorded. */
  madeBy: string;
  version: number | null;
  /** The arguments that entered the key (ignored ones and defaults left out), by name. */
  args: Record<string, ProvenanceValue> | null;
  /** Arguments left out to keep the record within 2 KiB (kept in name order while they fit). */
  omitted: number;
}

/** An argument as the key holds it: arrays and digests hashed, lineage as the upstream key. */
export type ProvenanceValue =
  | number | bigint | boolean | string | Uint8Array | ProvenanceValue[]
  | { array: string; shape: number[]; fingerprint: string }
  | { digest: string }
  | { lineage: string; content: string };

/**
 * Errors thrown by stepcache: `name` is stable, `message` says what to fix.
 *
 * - `TooLarge`: a value's data is over 2^30 bytes, 1 GiB (the message names the limit).
 * - `StorageFull`: the origin's storage quota, or the WebAssembly module's memory, has no room.
 * - `InvalidBundle`: a bundle of exported entries is cut short, damaged, or not a bundle.
 * - `Timeout`, `Aborted`: a getOrCompute call passed its `timeoutMs`, or its `signal`
 *   aborted (the message includes the signal's reason, also the error's `cause`).
 * - `ModuleFailed`: the WebAssembly module trapped (an internal failure, such as memory
 *   that ran out where it could not be handled). Every call in flight of every cache of the
 *   page or worker rejects with it, every Web Lock the module held is released (other tabs
 *   compute those keys), and every later call fails with it: reload the page, or restart
 *   the worker, to use stepcache again.
 */
export type StepCacheErrorName =
  | "InvalidStepName" | "InvalidArgument" | "InvalidValue" | "InvalidConfig" | "InvalidFingerprint"
  | "TooLarge" | "ReadDisabled" | "ComputeDisabled" | "ComputeFailed" | "StorageError" | "StorageFull"
  | "PermissionDenied" | "StorageBlocked" | "CacheClosed" | "InvalidEntry" | "InvalidBundle" | "Timeout"
  | "Aborted" | "ModuleFailed";

/** What {@link StepCache.importBundle} did with a bundle's entries. */
export interface ImportReport {
  /** Entries stored. */
  imported: number;
  /** Entries whose key this cache holds already (its entry is kept). */
  present: number;
  /** Entries their type's policy keeps out of IndexedDB (retention, budget, access). */
  skipped: number;
  /** Entries refused, nothing of them stored: `key` as "step@b3:…", `reason` in words. */
  refused: { key: string; reason: string }[];
  /** The bytes of the entries read from the bundle. */
  bytes: number;
}

/** {@link StepCache.importBundle}'s progress, after each chunk read. */
export interface ImportProgress {
  /** Bytes of the bundle read so far. */
  bytes: number;
  /** The bundle's length, if known (a Blob's size), else null. */
  totalBytes: number | null;
  /** Entries handled so far. */
  entries: number;
}

/** {@link StepCache.exportBundle}'s progress, after each entry and at the end. */
export interface ExportProgress {
  /** Entries written so far. */
  entries: number;
  /** Entries chosen for the bundle (written, damaged, or gone since they were listed). */
  totalEntries: number;
  /** Entries left out because they were damaged (each was removed). */
  damaged: number;
  /** Bytes of the bundle so far. */
  bytes: number;
}

/** Options of {@link StepCache.getOrCompute}. Every field is optional; others are `InvalidArgument`. */
export interface ComputeOptions {
  /**
   * The longest the call may take, waiting for another caller's computation included, in
   * milliseconds (a positive number up to 2^31 - 1). Past it, the compute's signal aborts
   * and the call rejects with an `Error` named `Timeout`.
   */
  timeoutMs?: number;
  /**
   * Aborts the call: the compute's signal aborts and the call rejects with an `Error`
   * named `Aborted`, at once, whether it was computing or waiting for another caller. A
   * signal aborted already rejects the call without computing.
   */
  signal?: AbortSignal;
}

/** What {@link StepCache.getOrCompute} passes its compute function. */
export interface ComputeContext {
  /**
   * Aborts when the call is given up (its timeout passes, the caller's signal aborts, or
   * the module fails), with the call's `Error` as its reason: stop working then. The key's
   * Web Lock and single flight are released at that moment, whether or not compute stops,
   * so another caller (in this tab or another) computes the key; what compute returns
   * after that is dropped.
   */
  signal: AbortSignal;
}

/**
 * One dimension's part of a region: `[start, end]` with `end` excluded (left out or
 * `Infinity`: to the dimension's end), or one index (its dimension kept, of length 1).
 */
export type RegionRange = number | [number, number?];

/**
 * A region of an array: ranges of its first dimensions in order (the others whole), or
 * axes named from its last dimension: `x` the last (fastest), `y`, `z`, `t` before it.
 */
export type Region = RegionRange[] | { x?: RegionRange; y?: RegionRange; z?: RegionRange; t?: RegionRange };

/** A cache of step results in the browser's storage with a memory tier in front. */
export class StepCache {
  private constructor();
  /** The cache's name (see {@link CacheOptions.name}). */
  readonly name: string;
  /** Where its entries are kept. */
  readonly store: "opfs" | "indexeddb";
  /** Builds a key for `step` from named parameters (order never matters). */
  key(step: string, params?: Record<string, Param>, options?: KeyOptions): StepKey;
  /**
   * The cached value of `key`, or undefined. `T` is the array type the caller expects
   * (unchecked: the hit's `data` is whatever was stored).
   */
  get<T extends TypedArray | ArrayBuffer = TypedArray | ArrayBuffer>(key: KeyLike): Promise<Hit<T> | undefined>;
  /**
   * A region of the array cached under `key` (one slice, a range of slices, a sub-box), or
   * undefined: `[[10, 11]]` ranges the first dimension, `{ z: 10 }` names axes from the
   * last dimension (`x` the last, then `y`, `z`, `t`: slice 10 of a `[z, y, x]` volume).
   * The hit's `shape` keeps every dimension. An uncompressed array over 1 MiB is read and
   * verified only in the 1 MiB blocks the region touches; anything else is read whole and
   * cut. Rejects `InvalidArgument` if the region does not fit the array.
   */
  getRegion<T extends TypedArray | ArrayBuffer = TypedArray | ArrayBuffer>(key: KeyLike, region: Region): Promise<Hit<T> | undefined>;
  /** Whether `key` is cached and fresh. */
  has(key: KeyLike): Promise<boolean>;
  /** Stores a value under `key` as its type's policy says (`TooLarge` if its data is over 1 GiB). */
  put(key: KeyLike, value: ValueInput, options?: { costMs?: number }): Promise<PutReport>;
  /**
   * The cached value, or computes, times and stores it; callers in every tab compute each key once.
   * The hit of the call that computed has {@link Hit.stored}.
   * Rejects with an `Error` named `ComputeFailed` if `compute` throws or rejects (the
   * message says what it threw), `InvalidValue` if it returns something that is not a value,
   * `TooLarge` if its data is over 1 GiB, `Timeout` or `Aborted` as
   * `options` say ({@link ComputeOptions}). A call that fails lets go of the key at once:
   * another caller computes it.
   */
  getOrCompute<T extends TypedArray | ArrayBuffer>(
    key: KeyLike,
    compute: (context: ComputeContext) => ValueInput<T> | Promise<ValueInput<T>>,
    options?: ComputeOptions,
  ): Promise<Hit<T>>;
  /**
   * A step function: calling it with named parameters returns the cached result for them,
   * or runs `compute(params, context)` once (in every tab) and stores its result, as
   * {@link StepCache.getOrCompute} does. Every parameter enters the key, so none can be
   * forgotten: typed arrays by type, shape and bytes, a {@link Hit} of an earlier step by
   * lineage. `options.defaults` are passed to `compute` for parameters not given, and a
   * parameter equal to its default is left out of the key: a parameter added later with a
   * default keeps the results stored before valid. `options.version` and `ignore` as for
   * {@link StepCache.key}. Throws `InvalidStepName` or `InvalidArgument` at once for a bad
   * name, function or options; a call rejects as `getOrCompute` does, and with
   * `InvalidArgument` if `params` is not an object of parameters.
   */
  step<P extends Record<string, Param>, T extends TypedArray | ArrayBuffer>(
    name: string,
    compute: (params: P, context: ComputeContext) => ValueInput<T> | Promise<ValueInput<T>>,
    options?: KeyOptions,
  ): (params: P, options?: ComputeOptions) => Promise<Hit<T>>;
  /** Removes `key` everywhere (other tabs drop it from memory too). */
  invalidate(key: KeyLike): Promise<void>;
  /** Removes every entry, or every entry of `step`; resolves to how many. */
  clear(step?: string): Promise<number>;
  /** Counters, plus the origin's storage usage, quota and persistence. */
  stats(): Promise<Stats>;
  /** Every entry in memory or in IndexedDB, newest first. */
  entries(): Promise<EntryInfo[]>;
  /** The state of each key. */
  status(keys: KeyLike[]): Promise<Status[]>;
  /**
   * Imports the entries of a bundle (a `.stepcache` file, docs/bundle-format.md), such as
   * one the `stepcache export` command wrote or {@link StepCache.exportBundle} made. The
   * bundle is streamed, one entry in memory at a time: pass a `File`/`Blob` (from a file
   * picker or a drop), a `ReadableStream` (a `fetch` response's `body`), or bytes.
   *
   * Every entry is verified whole before it is stored, under the key it was filed under.
   * A key this cache holds already keeps its entry (`present`); an entry its type's policy
   * keeps out of IndexedDB is `skipped`; a damaged entry, or one filed under another key,
   * is `refused` and nothing of it stored, and the rest go on.
   *
   * Rejects with `InvalidArgument` for another source or bad options, and `InvalidBundle`
   * if the bundle itself is damaged or cut short: the entries before the damage were
   * imported and stay (the error's `report` counts them).
   */
  importBundle(
    source: Blob | ReadableStream<Uint8Array> | ArrayBuffer | ArrayBufferView,
    options?: { onProgress?: (progress: ImportProgress) => void },
  ): Promise<ImportReport>;
  /**
   * The entries this cache keeps in IndexedDB (optionally of one `step`, or created at or
   * after `since`) as a bundle that `importBundle` here or elsewhere and the native
   * `stepcache import` read. The stream reads one entry at a time, each verified whole, as
   * it is consumed: `await new Response(cache.exportBundle()).blob()` for a download, or
   * `pipeTo` a file's writable stream. A damaged entry is left out (and removed).
   * Throws `InvalidArgument` or `InvalidStepName` for bad options.
   */
  exportBundle(options?: {
    step?: string;
    since?: number | Date;
    onProgress?: (progress: ExportProgress) => void;
  }): ReadableStream<Uint8Array>;
  /**
   * Recompute every step (true), some steps (names), or none (false): results stored before
   * this call are misses, so each key is recomputed once; results computed after it hit.
   */
  setForce(force: boolean | string[]): void;
  /** Switch reading, computing and writing on or off ("rcw" letters). */
  setAccess(access: string): void;
  /** Sets the retention of one step from now on; its maxAgeMs and compress stay. */
  setRetention(step: string, retention: Retention): void;
  /** Keeps `key` from eviction in either tier until {@link StepCache.unpin} (pins nest). */
  pin(key: KeyLike): void;
  /** Undoes one {@link StepCache.pin}. */
  unpin(key: KeyLike): void;
  /**
   * Adds this session's counters since its last save to those kept in IndexedDB
   * ({@link Stats.allTime}). Tabs and workers on one database add up; none overwrites
   * another's.
   */
  saveStats(): Promise<void>;
  /**
   * Closes the cache; later calls throw CacheClosed (ModuleFailed once the module failed).
   * This session's counters are saved first, in the background.
   */
  close(): void;
  /** Closes the cache and releases its WebAssembly memory once the counters are saved. */
  free(): void;
}

/**
 * Opens a cache (loading the WebAssembly module on first use). Rejects with
 * `PermissionDenied` where there is no IndexedDB (Node, for instance).
 */
export function open(options?: CacheOptions): Promise<StepCache>;

/**
 * The blake3 fingerprint of raw bytes (a typed array's bytes, or an ArrayBuffer), as
 * `"b3:"` and 64 hex digits: for content-addressed keys and checks. Throws
 * `InvalidArgument` for anything else.
 */
export function fingerprintBytes(data: TypedArray | ArrayBuffer): string;
