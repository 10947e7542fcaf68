// The protocol between index.js and the WebAssembly module, generated from
// adapters/wasm/src/protocol.rs (STEPCACHE_BLESS=1 cargo test -p stepcache-wasm).
// Do not edit: a test fails when this file and protocol.rs disagree.

/** operation codes of RawCache.call */
export const OP = Object.freeze({ "get": 0, "has": 1, "invalidate": 2, "pin": 3, "unpin": 4, "put": 5, "importEntry": 6, "readEntry": 7, "getRegion": 8, "getOrCompute": 9, "key": 10, "clear": 11, "stats": 12, "saveStats": 13, "entries": 14, "status": 15, "setForce": 16, "setAccess": 17, "setRetention": 18, "forget": 19, "forgetStep": 20, "close": 21 });

/** operation codes of util */
export const UTIL = Object.freeze({ "checkKey": 0, "fingerprintBytes": 1, "maxValueBytes": 2, "bundleChecksum": 3 });

/** a tier's put outcome, by code */
export const OUTCOMES = Object.freeze(["stored", "skipped:policy", "skipped:write-disabled", "skipped:too-large", "skipped:no-room", "skipped:read-only", "skipped:degraded", "skipped:present"]);

/** where a hit came from, by code */
export const SOURCES = Object.freeze(["memory", "store", "computed", "waited", "shared"]);

/** status() states, by code */
export const STATES = Object.freeze(["memory", "stored", "expired", "forced", "missing", "shared"]);

/** parameter tags of the key description */
export const PARAM = Object.freeze({ "scalar": 0, "array": 1, "lineage": 2 });

/** scalar tags of the key description */
export const SCALAR = Object.freeze({ "bool": 0, "int": 1, "float": 2, "text": 3, "list": 4, "null": 5 });

/** how deeply lists nest in a key argument */
export const MAX_LIST_DEPTH = 16;

/** retention codes, by name */
export const RETENTIONS = Object.freeze({ "transient": 0, "memory": 1, "cached": 1, "persistent": 2 });

/** access bits, by letter */
export const ACCESS = Object.freeze({ "r": 1, "c": 2, "e": 2, "w": 4 });

/** the default policy's numbers: retention code, maxAgeMs (0: none), compress, shared */
export const DEFAULT_POLICY = Object.freeze([2, 0, 0, 0]);

/** a hit's numbers before its shape */
export const HIT_NUMBERS = Object.freeze(["elem", "source", "createdMs", "costUs"]);

/** stats(): each tier's numbers, memory then store */
export const TIER_NUMBERS = Object.freeze(["hits", "misses", "bytes", "entries", "budget", "evictions", "expired"]);

/** stats(): the numbers after the tiers */
export const TOTAL_NUMBERS = Object.freeze(["hitRate", "savedUs", "corruptRemoved", "waitedComputes"]);

/** stats(): each result type's numbers, after the totals */
export const TYPE_NUMBERS = Object.freeze(["hits", "misses", "puts", "computes", "computeUs", "savedUs"]);

/** stats(): the shared tier's numbers, after the types */
export const SHARED_NUMBERS = Object.freeze(["enabled", "hits", "misses", "rejected", "bytesRead", "errors", "pending", "degraded", "bytesWritten"]);

/** entries(): each entry's numbers */
export const ENTRY_NUMBERS = Object.freeze(["bytes", "createdMs", "costUs", "hits", "inMemory", "stored", "shared", "provenanceBytes"]);

/** status(): each key's numbers */
export const STATUS_NUMBERS = Object.freeze(["state", "createdMs", "costUs"]);

/** element type names by code (provenance records name array arguments' types by code) */
export const ELEMENT_NAMES = Object.freeze(["bytes", "u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64", "f32", "f64", "u8clamped", "record"]);
