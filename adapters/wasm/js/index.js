// The npm package `stepcache` (types and documentation: index.d.ts).
//
// This file is the public API. It checks arguments and options, converts values, keys and
// results, keeps the BroadcastChannel that tells other tabs and workers about changes, and
// reads navigator.storage. The WebAssembly module (src/lib.rs) does what the cache
// decides: hashing keys, checking values against their shapes, the memory tier, IndexedDB,
// eviction, verification. It is reached through a narrow interface of numbers, strings
// and byte arrays, because converting JavaScript objects inside the module cost more of
// its size than the conversions cost here (src/convert.rs describes each layout).
import init, { RawCache, opfsAvailable, util } from "./stepcache_wasm.js";
import {
  ACCESS, DEFAULT_POLICY, ELEMENT_NAMES, ENTRY_NUMBERS, HIT_NUMBERS, MAX_LIST_DEPTH, OP, OUTCOMES, PARAM, RETENTIONS, SCALAR,
  SHARED_NUMBERS, SOURCES, STATES, STATUS_NUMBERS, TIER_NUMBERS, TOTAL_NUMBERS, TYPE_NUMBERS, UTIL,
} from "./protocol.js";
import { bundleStream, chunksOf, readBundle } from "./bundle.js";

let ready;
/** The largest value's data in bytes (the store's limit on an entry), once the module is loaded. */
let maxBytes = Infinity;
const TOKEN = Symbol("stepcache");
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MAX_SAFE_BIG = BigInt(MAX_SAFE);

/** An Error with a stable name. */
function fail(name, message) {
  const error = new Error(message);
  error.name = name;
  return error;
}

/** The text of a thrown value, for messages. */
function describe(value) {
  if (value instanceof Error) return value.name === "Error" ? value.message : `${value.name}: ${value.message}`;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  try {
    const text = JSON.stringify(value);
    if (text !== undefined) return text;
  } catch {
    return "a value that is not JSON";
  }
  return String(value);
}

/** What a value is, for messages. */
function kindOf(value) {
  if (value === undefined) return "undefined";
  if (value === null) return "null";
  if (typeof value === "function") return "a function";
  if (typeof value === "object") return "an object";
  return describe(value);
}

const isObject = (value) => value !== null && typeof value === "object";

/** The [name, value] pairs of a plain object, or an error naming `what`. */
function entries(value, what, errorName) {
  if (!isObject(value) || Array.isArray(value)) throw fail(errorName, `${what} must be a plain object`);
  return Object.entries(value);
}

function stringList(value, what) {
  const bad = () => fail("InvalidArgument", `${what} must be an array of strings`);
  if (!Array.isArray(value)) throw bad();
  return Array.from(value, (item) => {
    if (typeof item !== "string") throw bad();
    return item;
  });
}

// ----- the module's life -------------------------------------------------------------------
//
// A WebAssembly trap (a RuntimeError: an abort, an allocation that failed) stops the module
// in the middle of whatever it was doing: its state is no longer trustworthy, the promises
// it would have settled never settle, and the Web Locks it holds would stay held until the
// page goes away, blocking that key in every other tab. So the first trap marks the module
// dead: every call in flight, of every cache, rejects with ModuleFailed, later calls
// reject (or throw) the same way, and every Web Lock it holds or waits for is let go.

/** The ModuleFailed error once the module trapped. */
let dead;
/** The reject functions of the calls into the module in flight. */
const inFlight = new Set();
/** Lets go of a Web Lock the module holds or waits for, per lock (see requestLock). */
const lockHolds = new Set();

const isTrap = (e) => typeof WebAssembly !== "undefined" && e instanceof WebAssembly.RuntimeError;

/** Marks the module dead after the trap `error`: rejects every call in flight, lets go of every lock. */
function kill(error) {
  if (dead) return;
  dead = fail(
    "ModuleFailed",
    `the stepcache WebAssembly module stopped (${describe(error)}); reload the page (or restart the worker) to use the cache again`,
  );
  dead.cause = error;
  for (const reject of inFlight) reject(dead);
  inFlight.clear();
  for (const letGo of lockHolds) letGo();
  lockHolds.clear();
}

/** `e`, or ModuleFailed if `e` is a trap (which kills the module). */
function trapped(e) {
  if (!isTrap(e)) return e;
  kill(e);
  return dead;
}

/**
 * Calls into the module: `call()`'s result, or if that is a promise, one that settles with
 * it unless the module dies first. Throws ModuleFailed if the module is dead or traps.
 */
function enter(call) {
  if (dead) throw dead;
  let out;
  try {
    out = call();
  } catch (e) {
    throw trapped(e);
  }
  if (!(out instanceof Promise)) return out;
  return new Promise((resolve, reject) => {
    inFlight.add(reject);
    out.then(resolve, (e) => reject(trapped(e))).finally(() => inFlight.delete(reject));
  });
}

// A trap inside one of the module's asynchronous tasks (wasm-bindgen-futures polls them in
// microtasks) reaches no caller: it surfaces as an uncaught error or unhandled rejection.
// Only while calls are in flight, since only then does the module run tasks.
for (const type of ["error", "unhandledrejection"]) {
  globalThis.addEventListener?.(type, (event) => {
    const error = event.error ?? event.reason;
    if (inFlight.size > 0 && isTrap(error)) kill(error);
  });
}

/**
 * The Web Locks of getOrCompute calls, by lock name (`stepcache:<database>:<fingerprint
 * hex>`, as WebStore::lock names them): how many calls of this module still want the lock,
 * and the requests for it not yet granted, withdrawn once no call wants it.
 */
const lockWants = new Map();

/** The lock record of `name`, created on first use. */
function lockWant(name) {
  let want = lockWants.get(name);
  if (!want) lockWants.set(name, (want = { calls: 0, requests: new Set() }));
  return want;
}

/** One more (+1) or one fewer (-1) call wants the lock `name`; at none, its requests are withdrawn. */
function wantLock(name, delta) {
  const want = lockWant(name);
  want.calls += delta;
  if (want.calls > 0) return;
  for (const withdraw of want.requests) withdraw();
  lockWants.delete(name);
}

/**
 * Requests the exclusive Web Lock `name` for the module (WebStore::set_locking): resolves
 * to the function that releases it once granted, or to undefined where Web Locks are
 * unavailable; rejects if the request fails or is withdrawn (no call wants it any more, or
 * the module died).
 */
function requestLock(name) {
  if (dead) return Promise.reject(dead);
  const locks = globalThis.navigator?.locks;
  if (!locks) return Promise.resolve(undefined);
  if (typeof locks.request !== "function") return Promise.reject(new Error("navigator.locks.request is missing"));
  const want = lockWant(name);
  if (want.calls === 0) {
    lockWants.delete(name);
    return Promise.reject(fail("Aborted", "no call waits for this lock any more"));
  }
  const request = new AbortController();
  let isGranted = false;
  let endHold;
  const held = new Promise((resolve) => (endHold = resolve));
  const release = () => {
    lockHolds.delete(letGo);
    endHold();
  };
  const letGo = () => (isGranted ? release() : request.abort());
  const withdraw = () => isGranted || request.abort();
  lockHolds.add(letGo);
  want.requests.add(withdraw);
  return new Promise((granted, failed) => {
    // A request that fails (the document went away, or it was withdrawn) rejects instead of granting.
    locks
      .request(name, { signal: request.signal }, () => {
        isGranted = true;
        want.requests.delete(withdraw);
        granted(release);
        return held;
      })
      .catch((e) => {
        lockHolds.delete(letGo);
        want.requests.delete(withdraw);
        failed(e);
      });
  });
}

// ----- keys ------------------------------------------------------------------------------

/** `[step, fingerprint text]` of a StepKey, its text form, or `{step, fingerprint}`. */
function keyParts(value) {
  if (typeof value === "string") {
    const at = value.lastIndexOf("@");
    if (at < 0) throw fail("InvalidFingerprint", `"${value}" is not a key: expected "step@b3:<64 hex digits>"`);
    return [value.slice(0, at), value.slice(at + 1)];
  }
  if (isObject(value) && typeof value.step === "string" && typeof value.fingerprint === "string") {
    return [value.step, value.fingerprint];
  }
  throw fail("InvalidArgument", `expected a key made by cache.key(), got ${describe(value)}`);
}

/**
 * The fingerprint bytes (32) of each StepKey, which keyed calls send into the module in
 * place of its text: encoding, copying in and parsing the hex text took 0.3 µs of a
 * memory hit (bench.mjs, "1 KiB, 1000 in a row": 1.8 µs, not 1.5). cache.key() and
 * StepKey.parse make keys with their bytes; a StepKey that stepKeyOf makes of a key's
 * text or {step, fingerprint} gets them, checked by the module, at its first call (idOf).
 */
const KEY_IDS = new WeakMap();

/** The readable arguments `RawCache.key` returned for each key cache.key() made, sent
 * back with every write under it so entries record them (a key posted to a worker, or
 * parsed from text, has none: its entries then record no arguments). */
const KEY_ARGS = new WeakMap();
/** No bytes: no readable arguments, or no key in a call that takes none. */
const NO_BYTES = new Uint8Array(0);

/** The StepKey of `step` and the fingerprint bytes `id`. */
function keyOfId(step, id) {
  const key = new StepKey(TOKEN, step, fingerprintText(id));
  KEY_IDS.set(key, id);
  return key;
}

/** `value` (a key, its text form, or `{step, fingerprint}`) as a StepKey: itself if it is
 * one with its bytes (a key is immutable), else a new one of its step and fingerprint
 * text, checked at its first call (idOf). */
function stepKeyOf(value) {
  return KEY_IDS.has(value) ? value : new StepKey(TOKEN, ...keyParts(value));
}

/** The fingerprint bytes of the StepKey `key` (see KEY_IDS); throws InvalidFingerprint or
 * InvalidStepName if it is no key. */
function idOf(key) {
  let id = KEY_IDS.get(key);
  if (id === undefined) {
    id = enter(() => util(UTIL.checkKey, key.step, key.fingerprint));
    KEY_IDS.set(key, id);
  }
  return id;
}

/** A cache key: a step name and a blake3 fingerprint (see index.d.ts). */
export class StepKey {
  constructor(token, step, fingerprint) {
    if (token !== TOKEN) throw new TypeError("keys are made by cache.key() or StepKey.parse()");
    // Own, enumerable properties: a key posted to a worker (structured clone copies own
    // properties only) arrives as {step, fingerprint}, which every method takes.
    Object.defineProperty(this, "step", { value: step, enumerable: true });
    Object.defineProperty(this, "fingerprint", { value: fingerprint, enumerable: true });
  }

  /** `step@b3:...`, readable by StepKey.parse. */
  toString() {
    return `${this.step}@${this.fingerprint}`;
  }

  /** The text form, so JSON.stringify and postMessage carry keys as strings. */
  toJSON() {
    return this.toString();
  }

  /** Reads the text form made by toString. */
  static parse(text) {
    const [step, fingerprint] = keyParts(String(text));
    return keyOfId(step, enter(() => util(UTIL.checkKey, step, fingerprint)));
  }

  /** Nothing to release: a key lives in JavaScript only (kept for compatibility). */
  free() {}
}

// ----- provenance --------------------------------------------------------------------------

/** The text form of a fingerprint's 32 bytes: `b3:` and 64 lowercase hex digits. */
function fingerprintText(bytes) {
  return `b3:${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** No provenance: an entry that records none, or a record that does not decode. */
const NO_PROVENANCE = Object.freeze({ madeBy: "", version: null, args: null, omitted: 0 });

/**
 * The provenance record of an entry (docs/entry-format.md, "Provenance") as
 * `{madeBy, version, args, omitted}`: each argument as the key holds it, a number (a
 * bigint past 2^53), boolean, string, `Uint8Array` or array of these, or
 * `{array, shape, fingerprint}`, `{digest}` and `{lineage, content}` for hashed ones.
 */
function readProvenance(bytes) {
  let at = 0;
  const take = (n) => {
    if (n > bytes.length - at) throw new RangeError("the record ends early");
    return bytes.subarray(at, (at += n));
  };
  const view = (n) => new DataView(take(n).slice().buffer);
  const byte = () => take(1)[0];
  const count = () => Number(view(8).getBigUint64(0, true));
  const text = () => decoder.decode(take(count()));
  const fingerprint = () => fingerprintText(take(32));
  const integer = () => {
    const v = view(16);
    const n = (v.getBigInt64(8, true) << 64n) | v.getBigUint64(0, true);
    return n >= -MAX_SAFE_BIG && n <= MAX_SAFE_BIG ? Number(n) : n;
  };
  // A value in the key format's encoding (docs/key-format.md).
  const value = (depth) => {
    switch (byte()) {
      case 0: return byte() !== 0;
      case 1: return integer();
      case 2: return view(8).getFloat64(0, true);
      case 3: return text();
      case 4: return take(count()).slice();
      case 5: {
        if (depth >= 16) throw new RangeError("lists nested too deep");
        return Array.from({ length: count() }, () => value(depth + 1));
      }
      case 6: return { digest: fingerprint() };
      case 7: return { lineage: fingerprint(), content: fingerprint() };
      default: throw new RangeError("not a value");
    }
  };
  try {
    const madeBy = text();
    if (byte() === 0) {
      if (at !== bytes.length) throw new RangeError("bytes after the record");
      return { ...NO_PROVENANCE, madeBy };
    }
    const version = view(4).getUint32(0, true);
    const args = {};
    for (let n = count(); n > 0; n--) {
      const name = text();
      let v = value(0);
      // An array digest is followed by its layout: 1, element type, dimensions, shape.
      if (v.digest !== undefined && byte() === 1) {
        const array = ELEMENT_NAMES[byte()];
        const shape = Array.from({ length: byte() }, count);
        v = { array, shape, fingerprint: v.digest };
      }
      args[name] = v;
    }
    const omitted = count();
    if (at !== bytes.length) throw new RangeError("bytes after the record");
    return { madeBy, version, args, omitted };
  } catch {
    return NO_PROVENANCE;
  }
}

// Element type codes (the core's ElementType) and the arrays that carry them.
const ARRAYS = [
  undefined, Uint8Array, Int8Array, Uint16Array, Int16Array, Uint32Array, Int32Array,
  BigUint64Array, BigInt64Array, Float32Array, Float64Array, Uint8ClampedArray,
];

/** `{elem, count, bytes}` of a typed array or ArrayBuffer (bytes: a view, not a copy). */
function typedBytes(value) {
  if (value instanceof ArrayBuffer) return { elem: 0, count: value.byteLength, bytes: new Uint8Array(value) };
  for (let elem = 1; elem < ARRAYS.length; elem++) {
    if (value instanceof ARRAYS[elem]) {
      return { elem, count: value.length, bytes: new Uint8Array(value.buffer, value.byteOffset, value.byteLength) };
    }
  }
  return undefined;
}

function shapeOf(shape, count, what) {
  if (shape === undefined) return [count];
  const ok = (d) => typeof d === "number" && Number.isInteger(d) && d >= 0 && d <= MAX_SAFE;
  if (!Array.isArray(shape) || !Array.from(shape).every(ok)) {
    throw fail("InvalidValue", `${what}: shape must be an array of whole numbers >= 0`);
  }
  return shape;
}

const I128 = 2n ** 127n;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Writes the key description `Reader` in src/convert.rs reads (postcard's layout). */
class Writer {
  bytes = [];
  /** An unsigned varint (lengths, enum tags, u32, u64 up to 2^53). */
  u(n) {
    for (; n >= 0x80; n = Math.floor(n / 0x80)) this.bytes.push((n % 0x80) | 0x80);
    this.bytes.push(n);
  }
  /** An i128: zigzag, then varint. */
  i(n) {
    for (let z = n < 0n ? (-n << 1n) - 1n : n << 1n; ; z >>= 7n) {
      if (z < 0x80n) return this.bytes.push(Number(z));
      this.bytes.push(Number(z & 0x7fn) | 0x80);
    }
  }
  str(text) {
    // UTF-8 has no lone surrogates: encoding would make "\ud800" and "\ufffd" one key.
    if (!text.isWellFormed()) {
      throw fail("InvalidArgument", `${JSON.stringify(text).slice(0, 80)} holds a lone surrogate (not Unicode text), so it cannot be keyed`);
    }
    const utf8 = encoder.encode(text);
    this.u(utf8.length);
    for (const b of utf8) this.bytes.push(b);
  }
  f64(x) {
    const b = new DataView(new ArrayBuffer(8));
    b.setFloat64(0, x, true);
    for (let k = 0; k < 8; k++) this.bytes.push(b.getUint8(k));
  }
  append(other) {
    for (const b of other.bytes) this.bytes.push(b);
  }
}

/** A scalar or list parameter (`scalar` in src/convert.rs), inside `lists` lists. */
function scalar(w, name, value, lists = 0) {
  if (value === null) {
    // An absent value, keyed as Rust's and Python's None are.
    w.u(SCALAR.null);
  } else if (typeof value === "boolean") {
    w.u(SCALAR.bool);
    w.u(value ? 1 : 0);
  } else if (typeof value === "number") {
    if (!Number.isFinite(value)) {
      throw fail("InvalidArgument", `parameter "${name}" is ${value}: a key holds finite numbers only`);
    }
    // Whole numbers are integers (5, 5.0 and 5n are one key), others floats. The module
    // applies the same rule exactly to the floats it gets, so 2 ** 60 is 2n ** 60n there.
    if (Number.isInteger(value) && Math.abs(value) <= MAX_SAFE) {
      w.u(SCALAR.int);
      w.i(BigInt(value));
    } else {
      w.u(SCALAR.float);
      w.f64(value);
    }
  } else if (typeof value === "string") {
    w.u(SCALAR.text);
    w.str(value);
  } else if (typeof value === "bigint") {
    if (value < -I128 || value >= I128) throw fail("InvalidArgument", `parameter "${name}": ${value} does not fit 128 bits`);
    w.u(SCALAR.int);
    w.i(value);
  } else if (Array.isArray(value)) {
    if (lists === MAX_LIST_DEPTH) {
      throw fail("InvalidArgument", `parameter "${name}" nests lists more than ${MAX_LIST_DEPTH} deep (or holds itself)`);
    }
    w.u(SCALAR.list);
    w.u(value.length);
    for (const item of Array.from(value)) scalar(w, name, item, lists + 1);
  } else {
    throw fail(
      "InvalidArgument",
      `parameter "${name}" is ${kindOf(value)}: use a boolean, number, bigint, string, null, array of those, typed array, ` +
        `{data, shape}, or a key (nested objects: flatten them into names like "fit.tr")`,
    );
  }
}

/** An array argument: element type, shape, index of its bytes in `arrays`. */
function arrayParam(w, arrays, typed, shape) {
  w.u(PARAM.array);
  w.u(typed.elem);
  w.u(shape.length);
  for (const d of shape) w.u(d);
  w.u(arrays.length);
  arrays.push(typed.bytes);
}

/** One named parameter (`param` in src/convert.rs). */
function param(w, arrays, name, value) {
  const typed = typedBytes(value);
  if (typed) return arrayParam(w, arrays, typed, [typed.count]);
  if (isObject(value) && !Array.isArray(value)) {
    // Lineage: a hit (or its {key, content}) stands in for the upstream value, unhashed.
    if (typeof value.content === "string") {
      w.u(PARAM.lineage);
      w.str(keyParts(value.key)[1]);
      return w.str(value.content);
    }
    if (typeof value.fingerprint === "string") {
      throw fail(
        "InvalidArgument",
        `parameter "${name}" is a key: for lineage pass the hit that get() or getOrCompute() returned ` +
          `for it (or its {key, content}), so that the key binds the upstream value too`,
      );
    }
    const data = typedBytes(value.data);
    if (data) return arrayParam(w, arrays, data, shapeOf(value.shape, data.count, name));
  }
  w.u(PARAM.scalar);
  scalar(w, name, value);
}

/** The key description of cache.key(step, params, options) and the arrays it hashes. */
function encodeKey(step, params, options) {
  if (typeof step !== "string") throw fail("InvalidStepName", `the step name must be a string, got ${kindOf(step)}`);
  let version = 0;
  const ignore = [];
  const defaults = new Writer();
  let defaultCount = 0;
  if (options !== undefined && options !== null) {
    for (const [field, value] of entries(options, "the key options", "InvalidArgument")) {
      if (field === "version") {
        if (!(typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 0xffffffff)) {
          throw fail("InvalidArgument", "version must be a whole number from 0 to 2^32-1");
        }
        version = value;
      } else if (field === "ignore") {
        ignore.push(...stringList(value, "ignore"));
      } else if (field === "defaults") {
        for (const [name, v] of entries(value, "defaults", "InvalidArgument")) {
          defaults.str(name);
          scalar(defaults, name, v);
          defaultCount++;
        }
      } else {
        throw fail("InvalidArgument", `unknown key option "${field}"; use version, ignore, defaults`);
      }
    }
  }
  const body = new Writer();
  const arrays = [];
  let count = 0;
  if (params !== undefined && params !== null) {
    for (const [name, value] of entries(params, "the parameters", "InvalidArgument")) {
      body.str(name);
      param(body, arrays, name, value);
      count++;
    }
  }
  const w = new Writer();
  w.str(step);
  w.u(version);
  w.u(ignore.length);
  for (const name of ignore) w.str(name);
  w.u(defaultCount);
  w.append(defaults);
  w.u(count);
  w.append(body);
  return [new Uint8Array(w.bytes), arrays];
}

// ----- values ----------------------------------------------------------------------------

/** `[elem, shape, bytes, meta JSON]` of `{data, shape?, meta?}` (`value_of` in src/convert.rs). */
function valueParts(value) {
  if (!isObject(value) || Array.isArray(value)) {
    throw fail("InvalidValue", `a value is {data, shape?, meta?} with data a typed array or ArrayBuffer, got ${kindOf(value)}`);
  }
  const typed = value.parts !== undefined && value.data === undefined ? recordOf(value.parts) : typedBytes(value.data);
  if (!typed) throw fail("InvalidValue", `value.data must be a typed array or ArrayBuffer, got ${kindOf(value.data)}`);
  // Refused before the copy into the module: a copy that does not fit its 32-bit memory
  // would fail there (and once trapped it).
  if (typed.bytes.byteLength > maxBytes) {
    throw fail(
      "TooLarge",
      `a value of ${typed.bytes.byteLength} bytes is over the limit of ${maxBytes} bytes (${maxBytes / 2 ** 30} GiB) ` +
        "a browser cache keeps: split it into several values",
    );
  }
  const shape = shapeOf(value.shape, typed.count, "value");
  let meta;
  if (value.meta !== undefined) {
    try {
      meta = JSON.stringify(value.meta);
    } catch (e) {
      throw fail("InvalidValue", `value.meta must be JSON-compatible: ${describe(e)}`);
    }
  }
  return [typed.elem, new Float64Array(shape), typed.bytes, meta];
}

/**
 * A record of `parts` (several outputs stored as one entry; layout: core/src/record.rs,
 * docs/entry-format.md) as `{elem, count, bytes}`: each part a typed array (shape its
 * length), `{data, shape}`, an ArrayBuffer (bytes), or a number (a 0-d float64).
 */
function recordOf(parts) {
  if (!isObject(parts) || Array.isArray(parts)) throw fail("InvalidValue", `value.parts must be an object of named parts, got ${kindOf(parts)}`);
  const items = Object.entries(parts).map(([name, part]) => {
    const scalar = typeof part === "number";
    const typed = typedBytes(scalar ? Float64Array.of(part) : isObject(part) && !ArrayBuffer.isView(part) && !(part instanceof ArrayBuffer) ? part.data : part);
    if (!typed) throw fail("InvalidValue", `part "${name}" must be a typed array, {data, shape}, an ArrayBuffer or a number, got ${kindOf(part)}`);
    const shape = scalar ? [] : shapeOf(part?.shape, typed.count, `part "${name}"`);
    // The module checks a value's shape, not the shapes inside a record: checked here.
    if (shape.length > 32 || shape.reduce((n, d) => n * d, 1) !== typed.count) {
      throw fail("InvalidValue", `part "${name}": shape [${shape}] does not hold its ${typed.count} elements`);
    }
    const nameBytes = encoder.encode(name);
    if (nameBytes.length === 0 || nameBytes.length > 256) throw fail("InvalidValue", `a part's name is 1 to 256 bytes, got "${name}"`);
    return { nameBytes, typed, shape };
  });
  const align = (n) => Math.ceil(n / 64) * 64;
  let offset = align(items.reduce((n, p) => n + 4 + p.nameBytes.length + 8 * p.shape.length + 16, 16));
  const placed = items.map((p) => {
    const at = offset;
    offset = align(at + p.typed.bytes.length);
    return at;
  });
  const total = items.length ? placed.at(-1) + items.at(-1).typed.bytes.length : 16;
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  const u64 = (at, n) => {
    view.setUint32(at, n % 2 ** 32, true);
    view.setUint32(at + 4, Math.floor(n / 2 ** 32), true);
  };
  bytes.set(encoder.encode("STEPRECD"));
  view.setUint32(8, items.length, true);
  let at = 16;
  items.forEach(({ nameBytes, typed, shape }, i) => {
    view.setUint16(at, nameBytes.length, true);
    bytes.set(nameBytes, at + 2);
    at += 2 + nameBytes.length;
    bytes[at] = typed.elem;
    bytes[at + 1] = shape.length;
    at += 2;
    for (const d of shape) {
      u64(at, d);
      at += 8;
    }
    u64(at, placed[i]);
    u64(at + 8, typed.bytes.length);
    at += 16;
    bytes.set(typed.bytes, placed[i]);
  });
  return { elem: RECORD, count: total, bytes };
}

/** Where each of a hit's numbers is (protocol.js HIT_NUMBERS). */
const HIT = Object.fromEntries(HIT_NUMBERS.map((name, i) => [name, i]));

/**
 * The record `names` (protocol.js) reads from the numbers `n` at `at`: fields named in
 * microseconds (`costUs`) become milliseconds (`costMs`), as the API reports them.
 */
function numbered(names, n, at) {
  const out = {};
  names.forEach((name, k) => {
    if (name.endsWith("Us")) out[`${name.slice(0, -2)}Ms`] = n[at + k] / 1000;
    else out[name] = n[at + k];
  });
  return out;
}

/** The Hit of `[bytes, numbers, meta, content, put report]` (`hit_to_js` in
 * src/convert.rs) for the StepKey `key`. */
function hitOf([bytes, n, metaBytes, content, report], key) {
  // `bytes` is a fresh copy that fills its own buffer: the typed array views it in place.
  // By index, not through `numbered`: this runs on every hit, memory-tier hits included.
  // What is made here weighs on every hit (bench.mjs, "1 KiB, 1000 in a row", hit - wasm
  // copy): Array.from of a view of the shape took 0.9 µs of it, a new StepKey in place of
  // the caller's own 0.4.
  const elem = n[HIT.elem];
  const data = elem === 0 || elem === RECORD ? bytes.buffer : new ARRAYS[elem](bytes.buffer);
  const shape = [];
  for (let i = HIT_NUMBERS.length; i < n.length; i++) shape.push(n[i]);
  let meta;
  if (metaBytes !== undefined) {
    const metaText = decoder.decode(metaBytes);
    try {
      meta = JSON.parse(metaText);
    } catch {
      meta = metaText;
    }
  }
  const hit = {
    data, shape, meta, source: SOURCES[n[HIT.source]],
    createdMs: n[HIT.createdMs], costMs: n[HIT.costUs] / 1000, key, content,
  };
  if (report !== undefined) hit.stored = reportOf(report);
  if (elem === RECORD) hit.parts = recordParts(bytes);
  return hit;
}

/** The element type code of a record (several named values stored as one). */
const RECORD = ELEMENT_NAMES.indexOf("record");

/**
 * The parts of a record's bytes by name, each a typed array viewing `bytes` in place (an
 * ArrayBuffer copy for bytes); a part of shape [] is a one-element array. The table's layout
 * is core's (core/src/record.rs); a stored record was verified whole before it got here,
 * and any table that would read outside its bytes is refused all the same.
 */
function recordParts(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = () => fail("InvalidValue", "a record's table is damaged");
  const u64 = (at) => view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;
  if (bytes.length < 16 || decoder.decode(bytes.subarray(0, 8)) !== "STEPRECD") throw bad();
  const count = view.getUint32(8, true);
  const parts = {};
  let at = 16;
  let end = 0;
  for (let i = 0; i < count; i++) {
    if (at + 2 > bytes.length) throw bad();
    const nameLen = view.getUint16(at, true);
    if (at + 4 + nameLen > bytes.length) throw bad();
    const name = decoder.decode(bytes.subarray(at + 2, at + 2 + nameLen));
    const elem = bytes[at + 2 + nameLen];
    const dims = bytes[at + 3 + nameLen];
    at += 4 + nameLen + 8 * dims;
    if (at + 16 > bytes.length || !(elem in ELEMENT_NAMES) || elem === RECORD) throw bad();
    const [offset, length] = [u64(at), u64(at + 8)];
    at += 16;
    if (offset % 64 !== 0 || offset < end || offset + length > bytes.length) throw bad();
    end = offset + length;
    const start = bytes.byteOffset + offset;
    if (elem === 0) {
      parts[name] = bytes.buffer.slice(start, start + length);
    } else {
      const Typed = ARRAYS[elem];
      if (length % Typed.BYTES_PER_ELEMENT !== 0) throw bad();
      // At a multiple of 64 in a buffer of its own: aligned for every element type.
      parts[name] = new Typed(bytes.buffer, start, length / Typed.BYTES_PER_ELEMENT);
    }
  }
  return parts;
}

/** The compute cost in µs from `{costMs}` (default 0). */
function costUs(options) {
  const cost = options?.costMs;
  if (cost === undefined) return 0;
  if (typeof cost === "number" && Number.isFinite(cost) && cost >= 0) return cost * 1000;
  throw fail("InvalidArgument", "costMs must be a number of milliseconds >= 0");
}

// ----- regions -----------------------------------------------------------------------------

/** The axes a region may name, from the last dimension: `x` is the last (fastest), then `y`, `z`, `t`. */
const AXES = ["x", "y", "z", "t"];

/**
 * `region` as getRegion's numbers (protocol.rs, `GetRegion`): `[anchor, start, end, ...]`,
 * anchor 0 for an array of ranges of the first dimensions, 1 for named axes, which are
 * ranges of the last dimensions (an axis not named between two named ones is whole).
 */
function regionNumbers(region) {
  let anchor = 0;
  let ranges = region;
  if (!Array.isArray(region)) {
    if (region === null || typeof region !== "object") {
      throw fail("InvalidArgument", `a region is an array of ranges or an object of axes x, y, z, t, not ${describe(region)}`);
    }
    const names = Object.keys(region);
    const unknown = names.find((name) => !AXES.includes(name));
    if (unknown !== undefined) throw fail("InvalidArgument", `a region names the axes x, y, z and t, not "${unknown}"`);
    const deepest = Math.max(-1, ...names.map((name) => AXES.indexOf(name)));
    anchor = 1;
    ranges = AXES.slice(0, deepest + 1).reverse().map((axis) => region[axis] ?? [0, Infinity]);
  }
  const numbers = [anchor];
  ranges.forEach((range, i) => numbers.push(...rangeNumbers(range, anchor === 1 ? AXES[ranges.length - 1 - i] : `dimension ${i}`)));
  return new Float64Array(numbers);
}

/** One range of a region: `[start, end]` (`end` left out or `Infinity`: to the end) or one index. */
function rangeNumbers(range, what) {
  const [start, end] = typeof range === "number" ? [range, range + 1] : Array.isArray(range) && range.length <= 2 ? [range[0] ?? 0, range[1] ?? Infinity] : [NaN, NaN];
  const index = (n) => Number.isSafeInteger(n) && n >= 0;
  if (!index(start) || !(index(end) || end === Infinity)) {
    throw fail("InvalidArgument", `region ${what}: expected [start, end] of integers >= 0 (end may be left out) or one index, not ${describe(range)}`);
  }
  return [start, end];
}

// ----- getOrCompute options --------------------------------------------------------------

/** The longest timeoutMs setTimeout keeps (about 24.8 days); a longer one would fire at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** `{timeoutMs?, signal?}` of getOrCompute, checked strictly (undefined fields are left out). */
function computeOptions(options) {
  const out = {};
  if (options === undefined || options === null) return out;
  for (const [field, value] of entries(options, "the getOrCompute options", "InvalidArgument")) {
    if (value === undefined) continue;
    if (field === "timeoutMs") {
      if (!(typeof value === "number" && value > 0 && value <= MAX_TIMEOUT_MS)) {
        throw fail("InvalidArgument", `timeoutMs must be a positive number of milliseconds up to ${MAX_TIMEOUT_MS}, got ${describe(value)}`);
      }
      out.timeoutMs = value;
    } else if (field === "signal") {
      if (typeof AbortSignal === "undefined" || !(value instanceof AbortSignal)) {
        throw fail("InvalidArgument", `signal must be an AbortSignal, got ${kindOf(value)}`);
      }
      out.signal = value;
    } else {
      throw fail("InvalidArgument", `unknown getOrCompute option "${field}"; use timeoutMs, signal`);
    }
  }
  return out;
}

/**
 * The AbortSignal of one getOrCompute call (`signal`), which aborts when the caller's
 * signal does or at the timeout, with the Error the call rejects with as its reason
 * (Aborted or Timeout); `abort(reason)` aborts it otherwise, `done()` ends the watching.
 */
function stopper({ timeoutMs, signal: caller }, what) {
  const controller = new AbortController();
  const abort = (reason) => controller.abort(reason);
  const onAbort = () => {
    const error = fail("Aborted", `${what} was aborted: ${describe(caller.reason)}`);
    error.cause = caller.reason;
    abort(error);
  };
  if (caller?.aborted) onAbort();
  else caller?.addEventListener("abort", onAbort);
  const timer =
    timeoutMs === undefined ? undefined : setTimeout(() => abort(fail("Timeout", `${what} took longer than timeoutMs (${timeoutMs} ms)`)), timeoutMs);
  const done = () => {
    clearTimeout(timer);
    caller?.removeEventListener("abort", onAbort);
  };
  return { signal: controller.signal, abort, done };
}

/** What `promise` settles with, or a rejection with `signal`'s reason as soon as it aborts. */
function untilAborted(promise, signal) {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    signal.addEventListener("abort", onAbort);
    Promise.resolve(promise)
      .then(resolve, reject)
      .finally(() => signal.removeEventListener("abort", onAbort));
  });
}

// ----- open() options --------------------------------------------------------------------

const KNOWN = [
  "name", "memoryBudget", "storeBudget", "defaultPolicy", "policies", "maxAgeMs",
  "compression", "access", "persist", "broadcast", "locks", "shared", "store",
];
/** The places a cache may keep its entries in (the `store` option). */
const STORES = ["auto", "opfs", "indexeddb"];
const invalid = (message) => fail("InvalidConfig", message);

/** A byte count: a finite, non-negative integer up to 2^53. */
function bytesOption(value, what) {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 2 ** 53) return value;
  throw invalid(`${what} must be a non-negative whole number, got ${describe(value)}`);
}

/** A positive number of milliseconds. */
function ageOption(value, what) {
  if (bytesOption(value, what) === 0) throw invalid(`${what} must be positive (leave it out for no limit)`);
  return value;
}

function flagOption(value, what) {
  if (typeof value !== "boolean") throw invalid(`${what} must be true or false`);
  return value;
}

function textOption(value, what) {
  if (typeof value !== "string") throw invalid(`${what} must be a string`);
  return value;
}

function retentionCode(name, what) {
  const code = Object.hasOwn(RETENTIONS, name) ? RETENTIONS[name] : undefined;
  if (code === undefined) {
    throw invalid(`${what}: unknown retention "${name}": use "transient", "memory" or "persistent"`);
  }
  return code;
}

/** Access letters as bits for the module (protocol.js ACCESS): r read, c (or e) compute,
 * w write; "" allows nothing. */
function accessCode(letters) {
  let code = 0;
  for (const c of letters) {
    const bit = Object.hasOwn(ACCESS, c) ? ACCESS[c] : undefined;
    if (bit === undefined) throw invalid(`access "${letters}": use the letters r (read), c (compute), w (write)`);
    code |= bit;
  }
  return code;
}

/** A policy as `[retention, maxAgeMs (0: none), compress (0/1), shared (0/1)]`, from a
 * retention name or `{retention, maxAgeMs?, compress?, shared?}`; unset fields come from
 * `base`. */
function policyOption(value, what, base) {
  if (typeof value === "string") return [retentionCode(value, what), ...base.slice(1)];
  const out = [...base];
  let hasRetention = false;
  for (const [field, v] of entries(value, what, "InvalidConfig")) {
    if (field === "retention") {
      out[0] = retentionCode(textOption(v, `${what}.retention`), `${what}.retention`);
      hasRetention = true;
    } else if (field === "maxAgeMs") {
      out[1] = ageOption(v, `${what}.maxAgeMs`);
    } else if (field === "compress") {
      out[2] = flagOption(v, `${what}.compress`) ? 1 : 0;
    } else if (field === "shared") {
      out[3] = flagOption(v, `${what}.shared`) ? 1 : 0;
    } else {
      throw invalid(`${what} has an unknown field "${field}"; use retention, maxAgeMs, compress, shared`);
    }
  }
  if (!hasRetention) throw invalid(`${what} needs a retention: "transient", "memory" or "persistent"`);
  return out;
}

/** The shared tier's base address (ending in "/") from `{ url }`: an http(s) URL. */
function sharedOption(value) {
  let url;
  for (const [field, v] of entries(value, "shared", "InvalidConfig")) {
    if (field !== "url") throw invalid(`shared has an unknown field "${field}"; use url`);
    url = textOption(v, "shared.url");
  }
  let parsed;
  try {
    parsed = new URL(url ?? "", globalThis.location?.href);
  } catch {
    throw invalid(`shared.url must be an http(s) address, got ${describe(url)}`);
  }
  if (url === undefined || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    throw invalid(`shared.url must be an http(s) address, got ${describe(url)}`);
  }
  return parsed.href.endsWith("/") ? parsed.href : `${parsed.href}/`;
}

/** The options of open(), checked strictly: an unknown key or a bad value is an
 * InvalidConfig error naming the option, never silently ignored. */
function parseOptions(value) {
  const o = { name: "stepcache", budgets: [-1, -1], steps: [], policies: [], access: undefined };
  o.persist = false;
  o.store = "auto";
  o.broadcast = true;
  o.locks = true;
  let policy = [...DEFAULT_POLICY];
  if (value !== undefined && value !== null) {
    const fields = entries(value, "the options", "InvalidConfig");
    for (const [key] of fields) {
      if (!KNOWN.includes(key)) throw invalid(`unknown option "${key}"; the options are ${KNOWN.join(", ")}`);
    }
    const get = (name) => fields.find(([key]) => key === name)?.[1];
    let v;
    if ((v = get("name")) !== undefined) {
      o.name = textOption(v, "name");
      if (o.name === "") throw invalid("name must not be empty");
    }
    if ((v = get("memoryBudget")) !== undefined) o.budgets[0] = bytesOption(v, "memoryBudget");
    if ((v = get("storeBudget")) !== undefined) o.budgets[1] = bytesOption(v, "storeBudget");
    if ((v = get("maxAgeMs")) !== undefined) policy[1] = ageOption(v, "maxAgeMs");
    if ((v = get("compression")) !== undefined) policy[2] = flagOption(v, "compression") ? 1 : 0;
    if ((v = get("defaultPolicy")) !== undefined) policy = policyOption(v, "defaultPolicy", policy);
    if ((v = get("policies")) !== undefined) {
      for (const [step, p] of entries(v, "policies", "InvalidConfig")) {
        o.steps.push(step);
        o.policies.push(...policyOption(p, `policies["${step}"]`, policy));
      }
    }
    if ((v = get("access")) !== undefined) o.access = accessCode(textOption(v, "access"));
    if ((v = get("persist")) !== undefined) o.persist = flagOption(v, "persist");
    if ((v = get("broadcast")) !== undefined) o.broadcast = flagOption(v, "broadcast");
    if ((v = get("locks")) !== undefined) o.locks = flagOption(v, "locks");
    if ((v = get("shared")) !== undefined) o.shared = sharedOption(v);
    if ((v = get("store")) !== undefined && !STORES.includes((o.store = v))) {
      const given = typeof v === "string" ? `"${v}"` : describe(v);
      throw invalid(`unknown store ${given}: use ${STORES.map((s) => `"${s}"`).join(", ")}`);
    }
  }
  o.policies.unshift(...policy);
  return o;
}

// ----- the shared tier over HTTP ----------------------------------------------------------------

/** The length of an entry's head that the module reads to check a key's status (its
 * `LIST_HEAD_LEN`). */
const HEAD_BYTES = 4096;
/** How many bytes of a body the module takes at a time (see `sharedReader`). */
const BATCH_BYTES = 1 << 20;

/**
 * The function the module reads the shared tier through (`HttpStore` in the Rust crate
 * stepcache-idb): for an entry's hex id, `null` if the host has no such object (404), else
 * `[length or -1, next]` where `next()` resolves to each batch of the body's pieces (an
 * array of Uint8Arrays), then to `null`.
 * With `head`, only the first bytes are asked for (a Range request). A refusal (401/403)
 * throws a NotAllowedError, any other failure an Error: the module counts them and leaves
 * the shared tier alone for a while.
 */
function sharedReader(base) {
  return async (hex, head) => {
    const init = head ? { headers: { Range: `bytes=0-${HEAD_BYTES - 1}` } } : {};
    const response = await fetch(`${base}v2/entries/${hex}`, { ...init, cache: "no-store" });
    if (response.status === 404) return null;
    if (response.status === 401 || response.status === 403) {
      throw new DOMException(`the shared tier refused to read (HTTP ${response.status})`, "NotAllowedError");
    }
    if (!response.ok) throw new Error(`the shared tier answered HTTP ${response.status}`);
    const whole = Number(response.headers.get("Content-Range")?.split("/")[1]);
    const given = Number(response.headers.get("Content-Length"));
    const identity = !response.headers.get("Content-Encoding");
    const length = response.status === 206 ? (Number.isFinite(whole) ? whole : -1) : identity && given >= 0 ? given : -1;
    if (!response.body) {
      let rest = [new Uint8Array(await response.arrayBuffer())];
      return [
        length,
        async () => {
          const batch = rest;
          rest = null;
          return batch;
        },
      ];
    }
    const reader = response.body.getReader();
    // Pieces in batches of about 1 MiB: one call into the module per batch, not one per
    // network read (a 64 MiB body comes in about a thousand).
    const next = async () => {
      const batch = [];
      for (let bytes = 0; bytes < BATCH_BYTES; ) {
        const { value, done } = await reader.read();
        if (done) break;
        batch.push(value);
        bytes += value.length;
      }
      return batch.length > 0 ? batch : null;
    };
    return [length, next];
  };
}

// ----- the browser around the cache --------------------------------------------------------

/** Calls `navigator.storage.<method>()` and awaits it; undefined where it does not exist. */
async function callStorage(method) {
  try {
    const storage = globalThis.navigator?.storage;
    return typeof storage?.[method] === "function" ? await storage[method]() : undefined;
  } catch {
    return undefined;
  }
}

/** navigator.storage.estimate() and persisted(), where the browser has them. */
async function storageReport() {
  const estimate = await callStorage("estimate");
  const number = (x) => (typeof x === "number" ? x : null);
  const persisted = await callStorage("persisted");
  return {
    usage: number(estimate?.usage),
    quota: number(estimate?.quota),
    persisted: typeof persisted === "boolean" ? persisted : null,
  };
}

/** Closes the channel of a cache that was collected without close(). */
const channels = new FinalizationRegistry((channel) => channel.close());

/**
 * A BroadcastChannel named after the database: other tabs, workers and caches of the same
 * database hear about puts, invalidations and clears and drop those entries from their
 * memory tier. It holds the cache only weakly, so an unclosed cache can still be collected.
 */
function openChannel(name, raw) {
  let channel;
  try {
    channel = new BroadcastChannel(`stepcache:${name}`);
  } catch {
    return undefined; // No BroadcastChannel here: each cache only sees its own changes.
  }
  const weak = new WeakRef(raw);
  channel.onmessage = ({ data }) => {
    try {
      const target = dead ? undefined : weak.deref();
      if (data?.stepcache === "changed" && typeof data.detail === "string") target?.call(OP.forget, data.detail, NO_BYTES, undefined, 0, NO_BYTES);
      if (data?.stepcache === "cleared") target?.call(OP.forgetStep, typeof data.detail === "string" ? data.detail : undefined, NO_BYTES, undefined, 0, NO_BYTES);
    } catch (e) {
      // The cache was freed: nothing to forget (or the module trapped: it is dead now).
      trapped(e);
    }
  };
  return channel;
}

// ----- bundles (docs/bundle-format.md; the container is read and written in bundle.js) ------

/** The errors of an entry the module refused to import: it stored nothing of it. */
const REFUSALS = new Set(["InvalidEntry", "InvalidStepName", "InvalidFingerprint"]);

/** A bundle's checksum of its framing bytes (core's XXH3-128). */
const bundleChecksum = (framing) => enter(() => util(UTIL.bundleChecksum, undefined, framing));

/**
 * The step an entry's header names, read to file the entry under its key: the module's
 * import checks the whole entry against that key, so a step misread here refuses the
 * entry and never stores it under another. docs/entry-format.md: the header is at byte
 * 32; its first field is the key, 32 bytes in format version 1 and a byte string (length
 * 32, one byte, then the bytes) since, and its second the step, a length (LEB128) and
 * UTF-8.
 */
function entryStep(entry) {
  if (entry.length < 34) return "";
  let at = 32 + (entry[8] === 1 && entry[9] === 0 ? 32 : 33);
  let length = 0;
  for (let shift = 0; shift < 28 && at < entry.length; shift += 7) {
    const byte = entry[at++];
    length |= (byte & 0x7f) << shift;
    if (byte < 0x80) break;
  }
  return decoder.decode(entry.subarray(at, Math.min(at + length, entry.length)));
}

/** The options object of `what`, checked: only the names `allowed`, and `onProgress`, if
 * given, a function. */
function bundleOptions(options, what, allowed) {
  if (options === undefined || options === null) return {};
  if (!isObject(options)) throw fail("InvalidArgument", `${what} takes an options object, got ${kindOf(options)}`);
  const unknown = Object.keys(options).filter((k) => !allowed.includes(k));
  if (unknown.length) throw fail("InvalidArgument", `${what}: unknown option "${unknown[0]}" (known: ${allowed.join(", ")})`);
  if (options.onProgress !== undefined && typeof options.onProgress !== "function") {
    throw fail("InvalidArgument", `${what}: onProgress must be a function, got ${kindOf(options.onProgress)}`);
  }
  return options;
}

/** exportBundle's options, checked: `step` (a name), `since` (ms since the epoch, or a Date). */
function exportOptions(options) {
  const { onProgress, step } = bundleOptions(options, "exportBundle()", ["step", "since", "onProgress"]);
  if (step !== undefined && typeof step !== "string") throw fail("InvalidStepName", `exportBundle(): step must be a step name, got ${kindOf(step)}`);
  let since = options?.since ?? 0;
  if (since instanceof Date) since = since.getTime();
  if (typeof since !== "number" || !Number.isFinite(since)) {
    throw fail("InvalidArgument", `exportBundle(): since must be a time in ms since the epoch or a Date, got ${kindOf(since)}`);
  }
  return { onProgress, step, since };
}

// ----- the cache -----------------------------------------------------------------------------

/** A tier's outcome of a put from its code (src/convert.rs `outcome`), or from the name of
 * the error that failed it. */
const outcomeOf = (code) => (typeof code === "number" ? OUTCOMES[code] : `failed:${code}`);
/** The PutReport of `[memory outcome, store outcome]` (src/convert.rs `report_to_js`). */
const reportOf = ([memory, store, shared]) => ({
  memory: outcomeOf(memory),
  store: outcomeOf(store),
  shared: outcomeOf(shared),
});


/**
 * In a page, saves `cache`'s counters whenever the page is hidden: the last moment a page
 * is sure to run before it is closed or discarded (a worker has no such moment: it saves
 * on close() and saveStats()). The listener holds the cache weakly, so a cache dropped
 * without close() is still collected. Returns the function that removes the listener.
 */
function saveWhenHidden(cache) {
  if (typeof document === "undefined") return undefined;
  const ref = new WeakRef(cache);
  const onHidden = () => {
    if (document.visibilityState === "hidden") ref.deref()?.saveStats().catch(() => {});
  };
  document.addEventListener("visibilitychange", onHidden);
  return () => document.removeEventListener("visibilitychange", onHidden);
}

/** A cache of step results in IndexedDB with a memory tier in front (see index.d.ts). */
export class StepCache {
  #raw;
  #name;
  #store;
  #channel;
  #closed = false;
  /** The save and close that close() started. */
  #closing;
  /** Stops saving the counters when the page is hidden. */
  #unwatch;

  constructor(token, raw, name, store, channel) {
    if (token !== TOKEN) throw new TypeError("open a cache with open()");
    this.#raw = raw;
    this.#name = name;
    this.#store = store;
    this.#channel = channel;
    if (channel) channels.register(this, channel, channel);
    this.#unwatch = saveWhenHidden(this);
  }

  /** Tells the others; a failure to post only costs them a stale memory entry until
   * their next check, so it is not an error. */
  #post(kind, detail) {
    try {
      this.#channel?.postMessage({ stepcache: kind, detail });
    } catch {
      // Closed channel or nobody listening.
    }
  }

  /** `RawCache.call` with the keyed operation `op` on `key` (and `arg`, `cost` µs), through `enter`. */
  #keyed(op, key, arg, cost = 0) {
    this.#refuseClosed();
    const stepKey = stepKeyOf(key);
    const id = idOf(stepKey);
    // Only writes record a key's arguments.
    const args = (op === OP.put || op === OP.getOrCompute ? KEY_ARGS.get(stepKey) : undefined) ?? NO_BYTES;
    return enter(() => this.#raw.call(op, stepKey.step, id, arg, cost, args));
  }

  /** `RawCache.call` with the operation `op` that takes no key (`text`: a step or a
   * fingerprint, `arg` as `op` takes it), through `enter`. */
  #call(op, text, arg) {
    this.#refuseClosed();
    return enter(() => this.#raw.call(op, text, NO_BYTES, arg, 0, NO_BYTES));
  }

  /** Refuses a call after close(), here: the module's cache stays open until this
   * session's counters are saved. */
  #refuseClosed() {
    if (this.#closed) throw fail("CacheClosed", "the cache was closed; open it again");
  }

  /** The IndexedDB database name. */
  get name() {
    return this.#name;
  }

  /** Where the entries are kept: "opfs" or "indexeddb". */
  get store() {
    return this.#store;
  }

  /** Builds a key for `step` from named parameters. */
  key(step, params, options) {
    this.#refuseClosed();
    const [spec, arrays] = encodeKey(step, params, options);
    const bytes = this.#call(OP.key, undefined, [spec, arrays]);
    const key = keyOfId(step, bytes.subarray(0, 32));
    KEY_ARGS.set(key, bytes.subarray(32));
    return key;
  }

  /** The cached value of `key`, or undefined. */
  async get(key) {
    const stepKey = stepKeyOf(key);
    const hit = await this.#keyed(OP.get, stepKey);
    return hit === undefined ? undefined : hitOf(hit, stepKey);
  }

  /** A region of the array cached under `key` (see index.d.ts), or undefined. */
  async getRegion(key, region) {
    const stepKey = stepKeyOf(key);
    const hit = await this.#keyed(OP.getRegion, stepKey, regionNumbers(region));
    return hit === undefined ? undefined : hitOf(hit, stepKey);
  }

  /** Whether `key` is cached and fresh. */
  async has(key) {
    return this.#keyed(OP.has, key);
  }

  /** Stores `{data, shape?, meta?}` under `key`. */
  async put(key, value, options) {
    const stepKey = stepKeyOf(key);
    const report = await this.#keyed(OP.put, stepKey, valueParts(value), costUs(options));
    this.#post("changed", stepKey.fingerprint);
    return reportOf(report);
  }

  /** The cached value of `key`, or the result of `compute({signal})`, stored and returned. */
  async getOrCompute(key, compute, options) {
    const stepKey = stepKeyOf(key);
    const { step, fingerprint } = stepKey;
    if (typeof compute !== "function") throw fail("InvalidArgument", `compute must be a function, got ${kindOf(compute)}`);
    const stop = stopper(computeOptions(options), `getOrCompute of ${step}@${fingerprint}`);
    const { signal } = stop;
    if (signal.aborted) {
      stop.done();
      throw signal.reason;
    }
    // What the compute wrapper threw: the call rejects with it as it is (the module only
    // learns that computing failed, so that it lets go of the key's lock and flight).
    let thrown;
    const run = async () => {
      try {
        // The engine may get here after the call was aborted (its lock came late).
        if (signal.aborted) throw signal.reason;
        let value;
        try {
          value = await untilAborted(compute({ signal }), signal);
        } catch (e) {
          throw e === signal.reason ? e : fail("ComputeFailed", describe(e));
        }
        return valueParts(value);
      } catch (e) {
        throw (thrown = e);
      }
    };
    // An aborted call stops wanting the key's Web Lock at once: a request it was waiting
    // in is withdrawn unless another call of this module waits for the same lock.
    const lockName = `stepcache:${this.#name}:${fingerprint.slice(3)}`;
    let wanted = true;
    const unwant = () => {
      if (!wanted) return;
      wanted = false;
      wantLock(lockName, -1);
    };
    wantLock(lockName, 1);
    signal.addEventListener("abort", unwant);
    try {
      const hit = await untilAborted(this.#keyed(OP.getOrCompute, stepKey, run), signal);
      if (hit[4] !== undefined) this.#post("changed", fingerprint);
      return hitOf(hit, stepKey);
    } catch (e) {
      if (e === dead) stop.abort(dead);
      throw thrown && e !== dead && e !== signal.reason ? thrown : e;
    } finally {
      unwant();
      stop.done();
    }
  }

  /** A step function: `compute` run once per distinct parameters (see index.d.ts). */
  step(name, compute, options) {
    if (typeof compute !== "function") throw fail("InvalidArgument", `step() takes the step's function, got ${kindOf(compute)}`);
    // Checks the name and the options now rather than at the first call.
    this.key(name, undefined, options);
    const defaults = options?.defaults ?? {};
    return async (params, callOptions) => {
      // Every parameter enters the key; those equal to their defaults are dropped from it.
      const key = this.key(name, params, options);
      const all = { ...defaults, ...params };
      return this.getOrCompute(key, (context) => compute(all, context), callOptions);
    };
  }

  /** Removes `key` everywhere. */
  async invalidate(key) {
    const stepKey = stepKeyOf(key);
    await this.#keyed(OP.invalidate, stepKey);
    this.#post("changed", stepKey.fingerprint);
  }

  /** Removes every entry, or every entry of `step`; resolves to how many. */
  async clear(step) {
    if (step !== undefined && step !== null && typeof step !== "string") {
      throw fail("InvalidStepName", `clear() takes a step name or nothing, got ${kindOf(step)}`);
    }
    const removed = await this.#call(OP.clear, step ?? undefined);
    this.#post("cleared", step ?? null);
    return removed;
  }

  /** Counters, and the origin's storage usage, quota and persistence. */
  async stats() {
    const [n, steps, lastError, allTimeSteps] = await this.#call(OP.stats);
    const storage = await storageReport();
    const tiers = 2 * TIER_NUMBERS.length;
    const first = tiers + TOTAL_NUMBERS.length;
    const typesAt = (names, at) => names.map((step, j) => ({ step, ...numbered(TYPE_NUMBERS, n, at + TYPE_NUMBERS.length * j) }));
    const shared = first + TYPE_NUMBERS.length * steps.length;
    const s = numbered(SHARED_NUMBERS, n, shared);
    return {
      memory: numbered(TIER_NUMBERS, n, 0),
      store: numbered(TIER_NUMBERS, n, TIER_NUMBERS.length),
      types: typesAt(steps, first),
      allTime: typesAt(allTimeSteps, shared + SHARED_NUMBERS.length),
      ...numbered(TOTAL_NUMBERS, n, tiers),
      shared: { ...s, enabled: s.enabled === 1, degraded: s.degraded === 1, lastError: lastError ?? null },
      storage,
    };
  }

  /** Every entry in memory or in IndexedDB, newest first. */
  async entries() {
    const [n, steps, bytes] = await this.#call(OP.entries);
    let at = 0;
    return steps.map((step, j) => {
      const { provenanceBytes, ...e } = numbered(ENTRY_NUMBERS, n, ENTRY_NUMBERS.length * j);
      const flags = { inMemory: e.inMemory === 1, stored: e.stored === 1, shared: e.shared === 1 };
      const fingerprint = fingerprintText(bytes.subarray(at, (at += 32)));
      const provenance = readProvenance(bytes.subarray(at, (at += provenanceBytes)));
      return { key: `${step}@${fingerprint}`, step, ...e, ...flags, provenance };
    });
  }

  /** The state of each key. */
  async status(keys) {
    if (!Array.isArray(keys)) throw fail("InvalidArgument", "status() takes an array of keys");
    const parts = Array.from(keys, keyParts);
    const n = await this.#call(OP.status, undefined, parts.flat());
    return parts.map(([step, fingerprint], j) => {
      const s = numbered(STATUS_NUMBERS, n, STATUS_NUMBERS.length * j);
      const known = (x) => (Number.isNaN(x) ? null : x);
      return { key: `${step}@${fingerprint}`, state: STATES[s.state], createdMs: known(s.createdMs), costMs: known(s.costMs) };
    });
  }

  /** Imports the entries of a bundle (see index.d.ts). */
  async importBundle(source, options) {
    const chunks = chunksOf(source);
    if (!chunks) throw fail("InvalidArgument", `importBundle() takes a Blob, a ReadableStream, an ArrayBuffer or a typed array, got ${kindOf(source)}`);
    const { onProgress } = bundleOptions(options, "importBundle()", ["onProgress"]);
    const [input, length] = chunks;
    const report = { imported: 0, present: 0, skipped: 0, refused: [], bytes: 0 };
    const take = async (fingerprintBytes, entry) => {
      const fingerprint = fingerprintText(fingerprintBytes);
      const step = entryStep(entry);
      report.bytes += entry.length;
      try {
        const [, store] = await enter(() => this.#raw.call(OP.importEntry, step, fingerprintBytes, entry, 0, NO_BYTES));
        const outcome = outcomeOf(store);
        if (outcome === "stored") report.imported += 1;
        else if (outcome === "skipped:present") report.present += 1;
        else report.skipped += 1;
      } catch (e) {
        // Not a sound entry of the record's key (damaged, or filed under another key):
        // refused, nothing of it stored, and the rest go on.
        if (!REFUSALS.has(e?.name)) throw e;
        report.refused.push({ key: `${step}@${fingerprint}`, reason: e.message });
      }
    };
    const read = (bytes) => onProgress?.({ bytes, totalBytes: length ?? null, entries: report.imported + report.present + report.skipped + report.refused.length });
    try {
      await readBundle(input, length, bundleChecksum, take, read);
    } catch (e) {
      if (e?.name === "InvalidBundle") {
        const taken = report.imported + report.present + report.skipped;
        e.message += ` (${taken === 1 ? "1 entry before it was taken and stays" : `${taken} entries before it were taken and stay`})`;
        e.report = report;
      }
      throw e;
    }
    // Nothing to tell other tabs: an import never replaces a value they may hold.
    return report;
  }

  /** A bundle of the stored entries, as a stream (see index.d.ts). */
  exportBundle(options) {
    this.#refuseClosed();
    const { onProgress, step, since } = exportOptions(options);
    const report = { entries: 0, bytes: 0, damaged: 0 };
    let chosen;
    let next = 0;
    const nextRecord = async () => {
      chosen ??= (await this.entries()).filter((e) => e.stored && (step === undefined || e.step === step) && e.createdMs >= since);
      while (next < chosen.length) {
        const key = stepKeyOf(chosen[next++].key);
        const entry = await this.#keyed(OP.readEntry, key);
        // Damaged (null: the module removed it) or gone since the listing (undefined, as
        // the native export does not count those either): left out.
        if (entry === null) report.damaged += 1;
        if (entry == null) continue;
        report.entries += 1;
        return [idOf(key), entry];
      }
      return null;
    };
    const wrote = (bytes) => {
      report.bytes = bytes;
      onProgress?.({ ...report, totalEntries: chosen?.length ?? 0 });
    };
    return bundleStream(nextRecord, bundleChecksum, wrote);
  }

  /** Recompute every step (true), some steps (names), or none (false). */
  setForce(force) {
    if (typeof force === "boolean") return void this.#call(OP.setForce, undefined, force);
    if (Array.isArray(force)) {
      const steps = stringList(force, "setForce()");
      return void this.#call(OP.setForce, undefined, steps);
    }
    throw fail("InvalidArgument", "setForce() takes true, false, or an array of step names");
  }

  /** Switches reading, computing and writing on or off ("rcw" letters). */
  setAccess(access) {
    if (typeof access !== "string") throw invalid("setAccess() takes a string of the letters r, c, w");
    const code = accessCode(access);
    this.#call(OP.setAccess, undefined, code);
  }

  /** Sets the retention of one step from now on ("transient", "memory", "persistent"). */
  setRetention(step, retention) {
    if (step === undefined || step === null) throw fail("InvalidStepName", "setRetention() needs a step name");
    if (typeof step !== "string") throw fail("InvalidStepName", `setRetention() takes a step name, got ${kindOf(step)}`);
    if (typeof retention !== "string") throw invalid('retention must be "transient", "memory" or "persistent"');
    const known = Object.hasOwn(RETENTIONS, retention);
    // The step name is checked first (an unknown retention only checks it): its error wins.
    this.#call(OP.setRetention, step, known ? RETENTIONS[retention] : -1);
    if (!known) throw invalid(`unknown retention "${retention}": use "transient", "memory" or "persistent"`);
  }

  /** Keeps `key` from being evicted from either tier until unpin. Pins nest. */
  pin(key) {
    this.#keyed(OP.pin, key);
  }

  /** Undoes one pin. */
  unpin(key) {
    this.#keyed(OP.unpin, key);
  }

  /** Adds this session's counters since the last save to those IndexedDB keeps. */
  async saveStats() {
    this.#refuseClosed();
    await this.#call(OP.saveStats);
  }

  /** Closes the cache; later calls fail with CacheClosed (ModuleFailed once the module died).
   * This session's counters are saved first, then the module's cache closes. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#unwatch?.();
    const raw = this.#raw;
    const call = (op) => enter(() => raw.call(op, undefined, NO_BYTES, undefined, 0, NO_BYTES));
    // A dead module is left alone: closing must work whatever state it stopped in. A save
    // that fails (a full quota) loses this session's counts, not the close.
    this.#closing = dead
      ? Promise.resolve()
      : Promise.resolve()
          .then(() => call(OP.saveStats))
          .catch(() => {})
          .then(() => dead || call(OP.close));
    if (this.#channel) {
      this.#channel.onmessage = null;
      this.#channel.close();
      channels.unregister(this.#channel);
    }
  }

  /** Releases the WebAssembly memory of this cache once it is closed (the garbage collector
   * does it otherwise); the cache must not be used afterwards. */
  free() {
    this.close();
    const raw = this.#raw;
    this.#closing.finally(() => dead || enter(() => raw.free()));
  }
}

/** Opens a cache (see index.d.ts). */
export async function open(options) {
  if (dead) throw dead;
  if (typeof globalThis.indexedDB === "undefined" && typeof globalThis.navigator?.storage?.getDirectory !== "function") {
    // Node, Deno and Bun have neither: say so before loading the module (whose fetch of
    // its .wasm would fail with an unhelpful "fetch failed" there).
    throw fail(
      "PermissionDenied",
      "stepcache's npm package keeps its cache in the browser's storage (OPFS or IndexedDB), which this JavaScript " +
        "runtime does not have: use it in a browser page or worker; for a cache on disk use the Rust crate " +
        "stepcache or the Python package",
    );
  }
  ready ??= init().then(() => {
    maxBytes = util(UTIL.maxValueBytes);
  });
  await ready;
  const o = parseOptions(options);
  const lock = o.locks ? requestLock : undefined;
  const budgets = new Float64Array(o.budgets);
  const shared = o.shared ? sharedReader(o.shared) : undefined;
  const policies = new Float64Array(o.policies);
  // `store: "auto"` keeps entries in the origin private file system where it can be used,
  // where reads are faster than IndexedDB's (see docs/performance.md), and in IndexedDB
  // elsewhere. Pages and workers decide alike, so that they share one store.
  const store = o.store === "auto" ? ((await opfsAvailable()) ? "opfs" : "indexeddb") : o.store;
  const opfs = store === "opfs";
  const raw = await enter(() => RawCache.open(o.name, opfs, lock, shared, budgets, o.access, o.steps, policies));
  if (o.persist) await callStorage("persist");
  return new StepCache(TOKEN, raw, o.name, store, o.broadcast ? openChannel(o.name, raw) : undefined);
}

/** The fingerprint of raw bytes, "b3:" + 64 hex digits (see index.d.ts). */
export function fingerprintBytes(data) {
  const typed = typedBytes(data);
  if (!typed) throw fail("InvalidArgument", `fingerprintBytes() takes a typed array or an ArrayBuffer, got ${kindOf(data)}`);
  return enter(() => util(UTIL.fingerprintBytes, undefined, typed.bytes));
}
