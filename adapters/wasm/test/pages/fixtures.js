// Deterministic test values, shared by the browser (pages and workers) and by the node
// side of the tests (which computes what the browser must have read back).
// No imports: this file runs unchanged in node, a page and a worker.

/** Every typed array kind stepcache keeps, by constructor name. */
export const KINDS = [
  "Float32Array",
  "Float64Array",
  "Int8Array",
  "Int16Array",
  "Int32Array",
  "Uint8Array",
  "Uint16Array",
  "Uint32Array",
  "Uint8ClampedArray",
  "BigInt64Array",
  "BigUint64Array",
];

/** The shape every round-trip value has (24 elements). */
export const SHAPE = [2, 3, 4];

/** Length in bytes of the plain ArrayBuffer round-trip value (odd on purpose). */
export const BUFFER_BYTES = 37;

// Per kind, values that probe the edges of the type (extremes, sign, fractions,
// NaN, infinities, negative zero); the rest of the 24 are filled by a formula.
const EDGES = {
  Float32Array: [0, -0, 1.5, -2.25, 3.4028234663852886e38, -3.4028234663852886e38, 1.401298464324817e-45, Infinity, -Infinity, NaN],
  Float64Array: [0, -0, Math.PI, -Math.E, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, Infinity, -Infinity, NaN],
  Int8Array: [0, -1, 127, -128, 1],
  Int16Array: [0, -1, 32767, -32768, 1],
  Int32Array: [0, -1, 2147483647, -2147483648, 1],
  Uint8Array: [0, 1, 255, 128],
  Uint16Array: [0, 1, 65535, 32768],
  Uint32Array: [0, 1, 4294967295, 2147483648],
  Uint8ClampedArray: [0, 1, 255, 128],
  BigInt64Array: [0n, -1n, 9223372036854775807n, -9223372036854775808n, 1n],
  BigUint64Array: [0n, 1n, 18446744073709551615n, 9223372036854775808n],
};

/** A typed array of `kind` with `n` deterministic elements (edges first). */
export function makeArray(kind, n = 24, seed = 1) {
  const Ctor = globalThis[kind];
  const out = new Ctor(n);
  const edges = EDGES[kind];
  const big = kind.startsWith("Big");
  for (let i = 0; i < n; i++) {
    if (i < edges.length && seed === 1) {
      out[i] = edges[i];
    } else {
      const v = (i * 37 + seed * 101) % 251;
      if (big) out[i] = BigInt(v) * (kind === "BigInt64Array" && i % 2 ? -1n : 1n) * 1000003n;
      else if (kind.startsWith("Float")) out[i] = (v - 125) / 8;
      else if (kind.startsWith("Int")) out[i] = i % 2 ? -(v % 100) : v % 100;
      else out[i] = v;
    }
  }
  return out;
}

/** A plain ArrayBuffer of `n` deterministic bytes. */
export function makeBuffer(n = BUFFER_BYTES, seed = 1) {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = (i * 73 + seed * 19 + 5) & 0xff;
  return bytes.buffer;
}

/** JSON metadata naming its value (nested, with unicode, numbers, null, booleans). */
export function makeMeta(kind) {
  return {
    kind,
    units: "ms",
    nested: { list: [1, 2.5, -3e-7, null, true, false, "ü✓ \"quoted\""], empty: {} },
    n: 24,
  };
}

/** Element values as strings (exact for bigints; distinguishes -0 and NaN). */
export function valuesOf(data) {
  if (data instanceof ArrayBuffer) return Array.from(new Uint8Array(data), String);
  return Array.from(data, (v) => (Object.is(v, -0) ? "-0" : String(v)));
}

/** The bytes of a typed array or buffer as hex. */
export function hexOf(data) {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/**
 * Fills `n` bytes with pseudo-random, incompressible data (xorshift32), as a Uint32Array
 * view when n is a multiple of 4, else a Uint8Array.
 */
export function noise(n, seed = 7) {
  const words = new Uint32Array(Math.ceil(n / 4));
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return n % 4 === 0 ? words : new Uint8Array(words.buffer, 0, n);
}

/** A cheap checksum of a typed array's or buffer's bytes (FNV-1a, 32 bits) as hex. */
export function checksum(data) {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}
