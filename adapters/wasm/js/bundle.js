// Bundles (docs/bundle-format.md) in JavaScript: reading one front to back from chunks of
// any size, and writing one as a stream, one entry at a time.
//
// A second implementation of the container beside core's (core/src/bundle.rs), checked
// against core's golden bundle and by native imports of its bundles (test/pages/scenarios.js,
// bundleScenario; www/test/e2e.test.mjs).
// Why not core's BundleReader and BundleWriter through the bindings: the container is a
// few fixed-size fields, while the module's size is budgeted (docs/performance.md) and
// every export and state machine costs there; here it costs the module one operation,
// the checksum (core's XXH3-128, `bundleChecksum`). Entries are verified where they always
// are, by the module's import.

/** The bundle header, format version 1. */
export const HEADER = Uint8Array.of(0x53, 0x54, 0x45, 0x50, 0x42, 0x4e, 0x44, 0x4c, 1, 0, 0, 0, 0, 0, 0, 0);
const HEAD_LEN = 41;
const END_LEN = 33;
const END_FIELDS = 17;
/** The longest entry a record may hold (2^40 bytes). */
const MAX_ENTRY_LEN = 2 ** 40;

function invalid(message) {
  const error = new Error(message);
  error.name = "InvalidBundle";
  return error;
}

const TRUNCATED = "the bundle is cut short: it ends before its end record";

/** A u64 LE field as a number (exact below 2^53; lengths are checked against 2^40 first). */
const u64 = (bytes, at) => {
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, 8);
  return view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
};

function putU64(bytes, at, n) {
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, 8);
  view.setUint32(0, n % 2 ** 32, true);
  view.setUint32(4, Math.floor(n / 2 ** 32), true);
}

/** Framing bytes gathered for the checksum (header, record heads, end fields). */
class Framing {
  parts = [];
  length = 0;
  add(bytes) {
    this.parts.push(bytes.slice());
    this.length += bytes.length;
  }
  bytes() {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const part of this.parts) out.set(part, (at += part.length) - part.length);
    return out;
  }
}

/** The 17 end fields for `records` records of `total` entry bytes. */
function endFields(records, total) {
  const fields = new Uint8Array(END_FIELDS);
  putU64(fields, 1, records);
  putU64(fields, 9, total);
  return fields;
}

const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Reads the bundle whose chunks (Uint8Arrays) `chunks` yields, in the order the format's
 * checks are listed (docs/bundle-format.md, "What a reader must check"). Each record is
 * handed to `take(fingerprint, entry)` (32 bytes, the entry's bytes) as soon as its last
 * byte is read, and awaited before reading on, so one entry at a time is held. `length`
 * is the bundle's length if known (a Blob's size): then each entry is gathered into one
 * buffer of its length, and a record running past the end is reported at once. Calls
 * `read(bytes)` with the bytes read so far after each chunk. Resolves to the record count
 * once the end record checked out; rejects with an InvalidBundle error at the first
 * failure, after the records already taken.
 */
export async function readBundle(chunks, length, checksum, take, read) {
  const framing = new Framing();
  let records = 0;
  let total = 0;
  let consumed = 0;
  // What is being gathered: a frame (into `frame`) or an entry (into `entry`).
  const frame = new Uint8Array(HEAD_LEN);
  let have = 0;
  let want = HEADER.length;
  let state = "header";
  let entry;
  let entryLen = 0;
  let fingerprint;
  let done = false;

  // Handles the gathered frame; returns what to gather next: [state, length, bytes of it
  // already gathered] (a record's kind byte stays the first byte of its frame).
  const onFrame = () => {
    const bytes = frame.subarray(0, want);
    if (state === "header") {
      if (!equal(bytes.subarray(0, 8), HEADER.subarray(0, 8))) throw invalid('not a stepcache bundle (it does not start with "STEPBNDL")');
      const version = bytes[8] | (bytes[9] << 8);
      if (version !== 1) throw invalid(`unknown bundle format version ${version}`);
      if (bytes.subarray(10).some((b) => b !== 0)) throw invalid("the bundle's header is damaged (reserved bytes not zero)");
      framing.add(bytes);
      return ["kind", 1, 0];
    }
    if (state === "kind") {
      if (bytes[0] === 1) return ["head", HEAD_LEN, 1];
      if (bytes[0] === 0) return ["end", END_LEN, 1];
      throw invalid(`the bundle is damaged: a record of kind ${bytes[0]}, neither 0 (end) nor 1 (entry)`);
    }
    if (state === "head") {
      const len = u64(bytes, 33);
      if (len > MAX_ENTRY_LEN) throw invalid(`the bundle is damaged: a record says its entry has ${len} bytes, over the limit of 2^40`);
      if (length !== undefined && len + END_LEN > length - consumed) throw invalid(TRUNCATED);
      framing.add(bytes);
      records += 1;
      total += len;
      fingerprint = bytes.slice(1, 33);
      entryLen = len;
      // Known length: the exact buffer at once; unknown: grown as bytes arrive, so a
      // damaged length cannot make this allocate what the input does not hold.
      entry = new Uint8Array(length !== undefined ? len : Math.min(len, 1 << 16));
      return ["entry", len, 0];
    }
    // The end record: count and total first (for the clearer message), then the checksum.
    if (!equal(bytes.subarray(0, END_FIELDS), endFields(records, total))) {
      throw invalid("the bundle is damaged: its end record counts other records than it holds");
    }
    framing.add(bytes.subarray(0, END_FIELDS));
    if (!equal(bytes.subarray(END_FIELDS), checksum(framing.bytes()))) {
      throw invalid("the bundle is damaged: its checksum does not match its record heads");
    }
    done = true;
    return ["done", 0, 0];
  };

  for await (const chunk of chunks) {
    let at = 0;
    while (at < chunk.length) {
      if (done) throw invalid("the bundle is damaged: bytes follow its end record");
      const n = Math.min(want - have, chunk.length - at);
      if (state === "entry") {
        if (have + n > entry.length) {
          const grown = new Uint8Array(Math.min(entryLen, Math.max(have + n, entry.length * 2)));
          grown.set(entry.subarray(0, have));
          entry = grown;
        }
        entry.set(chunk.subarray(at, at + n), have);
      } else {
        frame.set(chunk.subarray(at, at + n), have);
      }
      have += n;
      at += n;
      consumed += n;
      if (have < want) continue;
      if (state === "entry") {
        const bytes = entry;
        entry = undefined;
        [state, want, have] = ["kind", 1, 0];
        await take(fingerprint, bytes);
        continue;
      }
      [state, want, have] = onFrame();
      if (state === "entry" && want === 0) {
        [state, want] = ["kind", 1];
        await take(fingerprint, new Uint8Array(0));
      }
    }
    read(consumed);
  }
  if (!done) throw invalid(TRUNCATED);
  return records;
}

/**
 * A ReadableStream of the bundle of the records `next()` resolves to, one at a time as the
 * stream is read: `[fingerprint (32 bytes), entry bytes]`, then `null` at the end. Nothing
 * is read ahead: each entry is asked for when the reader wants more bytes. Calls
 * `wrote(bytes, records)` after each record and after the end record.
 */
export function bundleStream(next, checksum, wrote) {
  const framing = new Framing();
  let records = 0;
  let total = 0;
  let bytes = 0;
  let started = false;
  const push = (controller, chunk) => {
    controller.enqueue(chunk);
    bytes += chunk.length;
  };
  return new ReadableStream(
    {
      async pull(controller) {
        if (!started) {
          started = true;
          framing.add(HEADER);
          push(controller, HEADER.slice());
        }
        const record = await next();
        if (record === null) {
          const end = new Uint8Array(END_LEN);
          end.set(endFields(records, total));
          framing.add(end.subarray(0, END_FIELDS));
          end.set(checksum(framing.bytes()), END_FIELDS);
          push(controller, end);
          wrote(bytes, records);
          controller.close();
          return;
        }
        const [fingerprint, entry] = record;
        const head = new Uint8Array(HEAD_LEN);
        head[0] = 1;
        head.set(fingerprint, 1);
        putU64(head, 33, entry.length);
        framing.add(head);
        records += 1;
        total += entry.length;
        push(controller, head);
        push(controller, entry);
        wrote(bytes, records);
      },
    },
    { highWaterMark: 0 },
  );
}

/** `[chunks (an async iterable of Uint8Array), length or undefined]` of a bundle source:
 * a Blob (a File), a ReadableStream of Uint8Array, an ArrayBuffer or a typed array. */
export function chunksOf(source) {
  if (typeof Blob !== "undefined" && source instanceof Blob) return [streamChunks(source.stream()), source.size];
  if (typeof ReadableStream !== "undefined" && source instanceof ReadableStream) return [streamChunks(source), undefined];
  if (source instanceof ArrayBuffer) return [[new Uint8Array(source)], source.byteLength];
  if (ArrayBuffer.isView(source)) {
    return [[new Uint8Array(source.buffer, source.byteOffset, source.byteLength)], source.byteLength];
  }
  return undefined;
}

/** The chunks of a ReadableStream, each checked to be bytes; the stream is cancelled if
 * reading stops early. */
async function* streamChunks(stream) {
  const reader = stream.getReader();
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        finished = true;
        return;
      }
      if (!(value instanceof Uint8Array)) throw invalid("a bundle stream must give Uint8Array chunks");
      yield value;
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
