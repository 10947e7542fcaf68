// The IndexedDB side of stepcache's IndexedDB store (crate stepcache-idb): how entries
// are laid out in the database, and every request made to it.
//
// The Rust side (src/lib.rs) imports this module through wasm-bindgen and implements
// stepcache's Store trait over it; wasm-bindgen emits it beside the WebAssembly module,
// into the npm package's `snippets/`. IndexedDB is a JavaScript API: its requests,
// events and transactions are written here in a few lines each, where in Rust each would
// need bindings and event closures compiled into the module. What an entry's bytes are
// (header, payload, checksums) and every cache decision (what to keep, evict or verify)
// stay in Rust: this module stores and returns bytes, keeps the records of one entry in
// step with each other, and removes records that are not.
//
// The layout (schema version 2):
//
// - Object store `entries`: an entry's bytes in chunks of at most `chunkBytes` (4 MiB),
//   each a record keyed `<key hex>:<generation>:<chunk number, four digits>`.
// - Object store `heads`: each entry's listing record, keyed `<key hex>`: the generation
//   that holds its chunks, its length (u64 little endian each), and its first
//   `leadBytes` bytes, so that listing the cache never reads the (possibly huge)
//   entries themselves. Also the lasting counters' record, keyed `counters`, and a mark
//   for each put of several transactions in progress, keyed
//   `put:<key hex>:<generation>:<owner>` (see `Put`).
//
// Why generations: Chromium refuses a transaction that carries more than a few hundred
// MiB of blobs (measured: entries over about 480 MiB failed), so a large entry is
// written in several transactions. Each put writes its chunks under a generation of its
// own and makes them the entry in its last transaction, which writes chunk 0 and the
// listing record together: until then readers see the previous version whole, and a put
// that dies half-way leaves chunks no listing record names, which listing removes: at
// once if the connection that wrote them is gone (its owner lock, stepcache-idb's
// js/locks.js, is no longer held), else once they are ORPHAN_AGE_MS old.
//
// Why chunks: on a quiet machine, putting a 64 MiB map as 4 MiB records took 0.71-0.82x
// the time of one 64 MiB record and getting it 0.69-0.79x (three runs of
// `adapters/wasm/bench`); Chromium stores large single values as separate blob files.
//
// How answers reach Rust: as Promises, which Rust awaits. A Promise settled in a
// request's `success` handler runs its continuations, Rust's included, in microtasks
// before that event's dispatch ends, while the transaction is still active; so a
// transaction can go on after an answer, here and in Rust.
//
// Failures reach Rust as the values IndexedDB throws or reports (DOMExceptions, copied
// into Rust errors by `describe`), or as one of the strings below for what is not a
// DOMException.

/** Rejection of `open` or `deleteDatabase`: another connection blocks the request. */
const BLOCKED = "blocked";
/** Rejection of `open`: the database exists but lacks stepcache's object stores. */
const FOREIGN = "foreign";
/** Rejection of `open` or `deleteDatabase`: there is no IndexedDB here. */
const UNAVAILABLE = "unavailable";
/** Rejection of `Put.finish`: chunks an earlier transaction of the put wrote are gone. */
const REMOVED = "removed";

/** What `Connection.read` answers for an entry whose records disagree. */
const DAMAGED = "damaged";

/** The object store of the entries' chunks. */
const ENTRIES = "entries";
/** The object store of the listing records and the counters' record. */
const HEADS = "heads";
/**
 * The key of the lasting counters' record in `heads`: not a key's hex, so listings,
 * which read only those, pass over it.
 */
const COUNTERS = "counters";

/** What the keys of the marks of puts in progress in `heads` begin with (see `markKey`). */
const MARK = "put:";

/**
 * The newest schema version the upgrade steps in `open` reach. Rust asks for its
 * SCHEMA_VERSION; a version this module has no steps for is refused, so the two cannot
 * drift apart unnoticed (every test opens a database).
 */
const NEWEST_SCHEMA = 2;

/**
 * The chunks one transaction of a put carries: 64 MiB, well under what Chromium accepts
 * in one (entries of about 480 MiB failed as one transaction) and large enough that
 * committing costs little next to the copies.
 */
const SPAN_CHUNKS = 16;

/**
 * How long chunks without chunk 0 may wait for their put to finish before listing takes
 * them for a put that died, if it cannot tell from the put's owner: 10 minutes, far
 * longer than writing the largest entry takes. A put paused for longer (a suspended tab)
 * then fails with an error; it never completes with chunks missing.
 */
const ORPHAN_AGE_MS = 10 * 60 * 1000;

/** What a record key's hex must be to name an entry: a key's 32 bytes in lowercase hex. */
const KEY_HEX = /^[0-9a-f]{64}$/;

/** A decimal number as Rust's u64 parser reads one: an optional `+`, then digits. */
const U64 = /^\+?[0-9]+$/;

/**
 * The IndexedDB factory of this global scope (a Window or a worker), or null. Reading
 * `indexedDB` throws in some contexts where storage is denied; that is "none" too.
 * @returns {IDBFactory | null}
 */
function factory() {
  try {
    const found = globalThis.indexedDB;
    if (found instanceof IDBFactory) return found;
  } catch {
    // Fall through: no usable IndexedDB.
  }
  return null;
}

/**
 * Whether `db` has stepcache's object stores.
 * @param {IDBDatabase} db
 */
function holdsStores(db) {
  return db.objectStoreNames.contains(ENTRIES) && db.objectStoreNames.contains(HEADS);
}

/**
 * Opens database `name` at schema `version`, creating or upgrading its object stores.
 * The three sizes are the layout's, defined in Rust (see `Connection`).
 *
 * Rejects with BLOCKED if a connection elsewhere holds the database at an older version,
 * rather than waiting, perhaps forever, for it to close; with FOREIGN if the database
 * is someone else's (it is left as it was); with UNAVAILABLE; with what IndexedDB threw
 * or reported; or with `[reported, thrown]` if an upgrade step threw `thrown`.
 *
 * @param {string} name
 * @param {number} version
 * @param {number} chunkBytes
 * @param {number} maxEntryBytes
 * @param {number} leadBytes
 * @param {Locks} locks the connection's (see js/locks.js)
 * @returns {Promise<Connection>}
 */
export function open(name, version, chunkBytes, maxEntryBytes, leadBytes, locks) {
  return new Promise((resolve, reject) => {
    if (version !== NEWEST_SCHEMA) {
      throw new Error(`idb-store.js has no upgrade steps to schema version ${version}`);
    }
    const indexedDB = factory();
    if (indexedDB === null) {
      reject(UNAVAILABLE);
      return;
    }
    // Throws (and so rejects) where the origin may not use IndexedDB.
    const request = indexedDB.open(name, version);
    let blocked = false;
    let foreign = false;
    let stepFailed = false;
    let stepError;
    request.onupgradeneeded = (event) => {
      const db = request.result;
      try {
        if (event.oldVersion >= 1 && !holdsStores(db)) {
          // Someone else's database of this name: leave it as it was.
          foreign = true;
          request.transaction.abort();
          return;
        }
        if (event.oldVersion === 1) {
          // Version 1 kept one generation per entry under other keys: its entries are
          // dropped (a cache's entries can be computed again), its stores made anew.
          db.deleteObjectStore(ENTRIES);
          db.deleteObjectStore(HEADS);
        }
        if (event.oldVersion < 2) {
          // Out-of-line keys (see the layout above).
          db.createObjectStore(ENTRIES);
          db.createObjectStore(HEADS);
        }
      } catch (error) {
        // A step that fails leaves the database at its old version, not half-upgraded.
        stepFailed = true;
        stepError = error;
        request.transaction.abort();
      }
    };
    request.onblocked = () => {
      blocked = true;
      reject(BLOCKED);
    };
    request.onsuccess = () => {
      const db = request.result;
      if (blocked) {
        // It went through after the caller was told it was blocked: nobody holds this
        // connection, so it must not stay open and block others.
        db.close();
        return;
      }
      if (!holdsStores(db)) {
        db.close();
        reject(FOREIGN);
        return;
      }
      resolve(new Connection(db, locks, chunkBytes, maxEntryBytes, leadBytes));
    };
    request.onerror = () => {
      if (foreign) reject(FOREIGN);
      else if (stepFailed) reject([request.error, stepError]);
      else reject(request.error);
    };
  });
}

/**
 * Deletes database `name`. Rejects as `open` does: BLOCKED while a connection elsewhere
 * is open (IndexedDB still deletes the database once it closes).
 * @param {string} name
 * @returns {Promise<void>}
 */
export function deleteDatabase(name) {
  return new Promise((resolve, reject) => {
    const indexedDB = factory();
    if (indexedDB === null) {
      reject(UNAVAILABLE);
      return;
    }
    const request = indexedDB.deleteDatabase(name);
    request.onblocked = () => reject(BLOCKED);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error);
  });
}

/**
 * The name and message of a thrown or reported value, for an error message in Rust,
 * which never keeps the value itself: a DOMException's name says what failed
 * (QuotaExceededError, VersionError, ...); anything else has an empty name.
 * @param {unknown} thrown
 * @returns {[string, string]}
 */
export function describe(thrown) {
  if (thrown instanceof DOMException) return [thrown.name, thrown.message];
  if (thrown instanceof Error) return ["", thrown.message];
  return ["", typeof thrown === "string" ? thrown : "a thrown value that is not an Error"];
}

/**
 * The answer to `request`: its result, or its error. Handlers are attached as the
 * request is made, so no answer is missed however late it is awaited.
 * @param {IDBRequest} request
 * @returns {Promise<any>}
 */
function answer(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/**
 * Commits `tx` and settles once it has ended: resolves when it completes, rejects with
 * the first failure. That is the transaction's error, asked first because a quota
 * overrun is reported only there (QuotaExceededError), not as a request's; else the
 * error of a failed request, whose `error` event reaches the transaction before the
 * transaction aborts with an error of its own; else null (aborted, no reason given).
 * @param {IDBTransaction} tx
 * @returns {Promise<void>}
 */
function commit(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error);
    tx.onerror = (event) => reject(tx.error ?? event.target?.error ?? null);
    // Where commit() is missing, the transaction commits by itself once its requests
    // are done. Throws (and so rejects) if the transaction is no longer active.
    if (typeof tx.commit === "function") tx.commit();
  });
}

/**
 * Aborts `tx`, so that IndexedDB never commits what a failed put wrote so far. A
 * transaction that has already ended has nothing left to abort.
 * @param {IDBTransaction} tx
 */
function abort(tx) {
  try {
    tx.abort();
  } catch {
    // Already committed or aborted.
  }
}

/**
 * A record as bytes: the record itself if it is a Uint8Array (`new Uint8Array(record)`
 * would copy it: 52 ms of a 64 MiB get), a view if it is an ArrayBuffer, else null.
 * @param {unknown} record
 * @returns {Uint8Array | null}
 */
function bytesOf(record) {
  if (record instanceof Uint8Array) return record;
  if (record instanceof ArrayBuffer) return new Uint8Array(record);
  return null;
}

/**
 * A new generation: the time in ms (so listing can tell a put in progress from one that
 * died long ago, see `ageMs`) and 20 random bits (so two tabs putting the same key in
 * the same millisecond never share chunks). A BigInt: it needs all 64 bits.
 * @returns {bigint}
 */
function newGeneration() {
  const random = BigInt(Math.floor(Math.random() * 2 ** 20) & 0xfffff);
  return (BigInt(Date.now()) << 20n) | random;
}

/**
 * How long ago `generation` began, in ms (0 if the clock went back).
 * @param {bigint} generation
 * @param {number} now
 */
function ageMs(generation, now) {
  return Math.max(0, now - Number(generation >> 20n));
}

/**
 * The record key of chunk `i` of generation `generation` of entry `hex`. Chunk numbers
 * have four digits, so keys sort by chunk number: an entry has at most 1 GiB / 4 MiB =
 * 256 chunks.
 * @param {string} hex
 * @param {bigint} generation
 * @param {number} i
 */
function chunkKey(hex, generation, i) {
  return `${hex}:${generation}:${String(i).padStart(4, "0")}`;
}

/**
 * A u64 written in decimal, or null.
 * @param {string} text
 * @returns {bigint | null}
 */
function parseU64(text) {
  if (!U64.test(text)) return null;
  const n = BigInt(text);
  return n < 2n ** 64n ? n : null;
}

/**
 * The hex, generation and chunk number of a record key `hex:generation:number`, or null.
 * @param {string} key
 */
function parseChunkKey(key) {
  const parts = key.split(":");
  if (parts.length !== 3) return null;
  const generation = parseU64(parts[1]);
  const number = parseU64(parts[2]);
  if (generation === null || number === null) return null;
  return { hex: parts[0], generation, number };
}

/**
 * The record keys of generation `generation` of entry `hex` from chunk `first` on (`:`
 * sorts after digits and `;` right after `:`, and no generation holds either).
 * @param {string} hex
 * @param {bigint} generation
 * @param {number} first
 */
function generationRange(hex, generation, first) {
  return IDBKeyRange.bound(chunkKey(hex, generation, first), `${hex}:${generation};`, false, true);
}

/**
 * Every record key of entry `hex`, of every generation (keys' hex has a fixed length, so
 * no other entry's keys fall in between).
 * @param {string} hex
 */
function entryRange(hex) {
  return IDBKeyRange.bound(`${hex}:`, `${hex};`, false, true);
}

/**
 * The key of the mark of a put in progress of generation `generation` of entry `hex` by
 * the connection whose owner id is `owner`.
 * @param {string} hex
 * @param {bigint} generation
 * @param {string} owner
 */
function markKey(hex, generation, owner) {
  return `${MARK}${hex}:${generation}:${owner}`;
}

/**
 * The keys of the marks of puts in progress: of generation `generation` of entry `hex`,
 * of every generation of entry `hex`, or of every entry.
 * @param {string} [hex]
 * @param {bigint} [generation]
 */
function markRange(hex, generation) {
  const from = [hex, generation].reduce((prefix, part) => (part === undefined ? prefix : `${prefix}${part}:`), MARK);
  // From `...:` to `...;`, as in `generationRange`.
  return IDBKeyRange.bound(from, `${from.slice(0, -1)};`, false, true);
}

/**
 * Which put `of` is of: its entry's hex and generation, as one string.
 * @param {{hex: string, generation: bigint}} of
 */
function putOf(of) {
  return `${of.hex}:${of.generation}`;
}

/**
 * The entry, generation and owner of the mark keyed `key`, or null.
 * @param {string} key
 */
function parseMark(key) {
  const parts = key.slice(MARK.length).split(":");
  const generation = parts.length === 3 ? parseU64(parts[1]) : null;
  if (!key.startsWith(MARK) || generation === null) return null;
  return { hex: parts[0], generation, owner: parts[2] };
}

/**
 * @typedef {object} Run The chunks of one generation of one entry, as keys show them.
 * @property {string} hex
 * @property {bigint} generation
 * @property {number} count how many chunks
 * @property {boolean} hasFirst whether chunk 0 is among them: it is written last, with
 *   the listing record, so chunks without it belong to a put that has not finished (or
 *   never will)
 */

/**
 * The runs of chunks of each entry and generation among record keys `keys`, in key
 * order; keys that are not chunk keys are left out. IndexedDB returns keys sorted, and
 * keys' hex has a fixed length, so the keys of one generation are consecutive and the
 * runs are sorted by entry.
 * @param {unknown[]} keys
 * @returns {Run[]}
 */
function runsOf(keys) {
  const runs = [];
  for (const key of keys) {
    if (typeof key !== "string") continue;
    const parsed = parseChunkKey(key);
    if (parsed === null) continue;
    const last = runs[runs.length - 1];
    if (last !== undefined && last.hex === parsed.hex && last.generation === parsed.generation) {
      last.count += 1;
      last.hasFirst ||= parsed.number === 0n;
    } else {
      runs.push({ hex: parsed.hex, generation: parsed.generation, count: 1, hasFirst: parsed.number === 0n });
    }
  }
  return runs;
}

/**
 * @typedef {object} Head An entry's listing record.
 * @property {bigint} generation the generation that holds its chunks
 * @property {number} length its length in bytes
 * @property {Uint8Array} lead its first bytes
 */

/**
 * Writes and reads listing records, and answers for the records of entries, in one
 * database: the connection, and the layout's sizes, which Rust defines (the chunk size
 * is where Rust cuts an entry's bytes, the largest entry what a 32-bit module can hold,
 * and the lead what Rust reads an entry's header from).
 *
 * The connection closes itself when another tab or worker needs to upgrade or delete the
 * database, so it never blocks them; `closed` then tells Rust to open it again (and so
 * upgrade, or fail clearly) on its next call.
 */
class Connection {
  /**
   * @param {IDBDatabase} db
   * @param {Locks} locks the connection's (see js/locks.js)
   * @param {number} chunkBytes the largest chunk
   * @param {number} maxEntryBytes the largest entry
   * @param {number} leadBytes how many of an entry's first bytes a listing record keeps
   */
  constructor(db, locks, chunkBytes, maxEntryBytes, leadBytes) {
    this.db = db;
    this.locks = locks;
    this.chunkBytes = chunkBytes;
    this.maxEntryBytes = maxEntryBytes;
    this.leadBytes = leadBytes;
    /** Whether the connection closed itself for another tab or worker. */
    this.closed = false;
    db.onversionchange = () => {
      this.closed = true;
      this.close();
    };
  }

  /** Closes the connection, and gives its owner lock back. */
  close() {
    this.db.close();
    this.locks.close();
  }

  /**
   * How many chunks an entry of `length` bytes has (an empty entry still has chunk 0).
   * @param {number} length
   */
  chunkCount(length) {
    return Math.max(1, Math.ceil(length / this.chunkBytes));
  }

  /**
   * A listing record read back, or null if it is damaged (not bytes, too short, or an
   * entry longer than the largest, or a lead longer than listing records keep).
   * @param {unknown} record
   * @returns {Head | null}
   */
  decodeHead(record) {
    const bytes = bytesOf(record);
    if (bytes === null || bytes.length < 16) return null;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const generation = view.getBigUint64(0, true);
    const length = view.getBigUint64(8, true);
    const lead = bytes.subarray(16);
    if (length > BigInt(this.maxEntryBytes) || lead.length > this.leadBytes) return null;
    return { generation, length: Number(length), lead };
  }

  /**
   * Whether `runs` hold every chunk of entry `hex` of `length` bytes in `generation`.
   * @param {Run[]} runs
   * @param {string} hex
   * @param {bigint} generation
   * @param {number} length
   */
  whole(runs, hex, generation, length) {
    const count = this.chunkCount(length);
    return runs.some((r) => r.hex === hex && r.generation === generation && r.hasFirst && r.count === count);
  }

  /**
   * Reads the listing record of entry `hex` and its chunk keys in one transaction of
   * both stores, both asked at once: one round trip, as for a get of the chunks alone.
   * Resolves to the transaction (`tx`) and what the entry's records say (`head`): null
   * if there is no entry; DAMAGED if its records disagree (chunks without a listing
   * record, a listing record that is damaged or whose chunks are missing or too many),
   * so that the engine removes the entry as a whole; else its listing record. If
   * `withFirst`, the first chunk record in key order is asked in the same round trip:
   * its key is `firstKey` and its record `first` (see `read`).
   * @param {string} hex
   * @param {boolean} [withFirst]
   * @returns {Promise<{tx: IDBTransaction, head: Head | null | typeof DAMAGED, firstKey?: unknown, first?: unknown}>}
   */
  async lookUp(hex, withFirst = false) {
    const tx = this.db.transaction([ENTRIES, HEADS], "readonly");
    const entries = tx.objectStore(ENTRIES);
    const [record, keys, first] = await Promise.all([
      answer(tx.objectStore(HEADS).get(hex)),
      answer(entries.getAllKeys(entryRange(hex))),
      withFirst ? answer(entries.getAll(entryRange(hex), 1)) : undefined,
    ]);
    const runs = runsOf(keys);
    if (record === undefined || record === null) {
      // Chunk 0 is written with the listing record: one without it is damage; chunks
      // without chunk 0 belong to a put in progress.
      return { tx, head: runs.some((r) => r.hasFirst) ? DAMAGED : null };
    }
    const head = this.decodeHead(record);
    if (head === null || !this.whole(runs, hex, head.generation, head.length)) return { tx, head: DAMAGED };
    return { tx, head, firstKey: keys[0], first: first?.[0] };
  }

  /**
   * Asks, in `tx`, for chunks `from` to `to` (excluded) of entry `hex` in `generation`,
   * all at once, and gives a Promise of each: the chunk's bytes, or null if the record
   * is not bytes or longer than a chunk (damage). All asked before the first answer:
   * while IndexedDB delivers the later ones, Rust copies the earlier ones into
   * WebAssembly memory and checksums them.
   * @param {IDBTransaction} tx
   * @param {string} hex
   * @param {bigint} generation
   * @param {number} from
   * @param {number} to
   * @returns {Promise<Uint8Array | null>[]}
   */
  chunks(tx, hex, generation, from, to) {
    const entries = tx.objectStore(ENTRIES);
    const asked = [];
    for (let i = from; i < to; i++) {
      asked.push(answer(entries.get(chunkKey(hex, generation, i))).then((record) => this.chunkOf(record)));
    }
    return asked;
  }

  /**
   * A chunk record's bytes, or null if it is not bytes or longer than a chunk (damage).
   * @param {unknown} record
   * @returns {Uint8Array | null}
   */
  chunkOf(record) {
    const bytes = bytesOf(record);
    return bytes !== null && bytes.length <= this.chunkBytes ? bytes : null;
  }

  /**
   * Reads entry `hex`: null if there is none, DAMAGED if its records disagree (see
   * `lookUp`), else `[length, chunks]`: its length, and a Promise of each chunk in order
   * (see `chunks`).
   * @param {string} hex
   * @returns {Promise<null | typeof DAMAGED | [number, Promise<Uint8Array | null>[]]>}
   */
  async read(hex) {
    const { tx, head, firstKey, first } = await this.lookUp(hex, true);
    if (head === null || head === DAMAGED) return head;
    const count = this.chunkCount(head.length);
    // The first chunk record in key order, asked with the listing, is the entry's chunk
    // 0 unless chunks of another generation sort before it (a put under way, or one cut
    // short): then chunk 0 is asked for now, as the others are. An entry of one chunk
    // (4 MiB or less) is so read in one round trip, not two.
    if (firstKey !== chunkKey(hex, head.generation, 0)) return [head.length, this.chunks(tx, hex, head.generation, 0, count)];
    return [head.length, [Promise.resolve(this.chunkOf(first)), ...this.chunks(tx, hex, head.generation, 1, count)]];
  }

  /**
   * Bytes `start` to `end` (excluded) of entry `hex`, cut short where the entry ends, as
   * the pieces of the chunks that hold them, in order; read in one transaction, and
   * only those chunks (none for bytes its listing record keeps). Null if there is no
   * whole entry, or a chunk is damaged: the engine then reads the entry whole, and finds
   * out which.
   * @param {string} hex
   * @param {number} start
   * @param {number} end
   * @returns {Promise<Uint8Array[] | null>}
   */
  async readRange(hex, start, end) {
    const { tx, head } = await this.lookUp(hex);
    if (head === null || head === DAMAGED) return null;
    end = Math.min(end, head.length);
    start = Math.min(start, end);
    // The listing record keeps the entry's first bytes (a region read's head): no chunk.
    if (end <= head.lead.length) return [head.lead.subarray(start, end)];
    const first = Math.floor(start / this.chunkBytes);
    const last = Math.ceil(end / this.chunkBytes);
    const chunks = await Promise.all(this.chunks(tx, hex, head.generation, first, last));
    if (chunks.includes(null)) return null;
    return chunks.map((bytes, i) => {
      const at = (first + i) * this.chunkBytes;
      return bytes.subarray(Math.max(start - at, 0), Math.max(end - at, 0));
    });
  }

  /**
   * Begins a put of entry `hex`, whose bytes after chunk 0 are `chunks` chunks (see
   * `Put`). A Promise, and the entry's length as a third argument, as the connection
   * interface has them (see js/opfs-store.js of stepcache-opfs, whose puts open a file
   * of that length first); the chunks say all IndexedDB needs.
   * @param {string} hex
   * @param {number} chunks
   * @returns {Promise<Put>}
   */
  async write(hex, chunks) {
    return new Put(this, hex, chunks);
  }

  /**
   * Removes entry `hex`: its listing record and every chunk of every generation, in one
   * transaction.
   * @param {string} hex
   * @returns {Promise<void>}
   */
  remove(hex) {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction([ENTRIES, HEADS], "readwrite");
      tx.objectStore(ENTRIES).delete(entryRange(hex));
      tx.objectStore(HEADS).delete(hex);
      tx.objectStore(HEADS).delete(markRange(hex));
      commit(tx).then(resolve, reject);
    });
  }

  /**
   * Removes the chunks and the put's mark of each `[hex, generation]` of `generations`
   * that no listing record names, in one transaction (chunks that listing found no
   * listing record names, or a failed put's). Checked again in that transaction: a put
   * may have finished since listing looked (one whose connection closed as it finished).
   * @param {[string, bigint][]} generations
   * @returns {Promise<void>}
   */
  removeGenerations(generations) {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction([ENTRIES, HEADS], "readwrite");
      const [entries, heads] = [tx.objectStore(ENTRIES), tx.objectStore(HEADS)];
      const checked = generations.map(([hex, generation]) =>
        answer(heads.get(hex)).then((record) => {
          if (this.decodeHead(record)?.generation === generation) return;
          entries.delete(generationRange(hex, generation, 0));
          heads.delete(markRange(hex, generation));
        }),
      );
      // Committed once every removal is asked: a committing transaction takes no more.
      Promise.all(checked).then(() => commit(tx).then(resolve, reject), (error) => {
        abort(tx);
        reject(error);
      });
    });
  }

  /**
   * The listings of every entry, or of entry `only` (none or one), as `[hex, length,
   * lead]` each; what is out of step is removed on the way, as a whole, never in part.
   *
   * A listing record that is damaged, or whose chunks are not all there, lists as an
   * empty entry (length 0), which the engine's header check rejects: it removes the
   * entry (listing record and every chunk) as a whole. Chunks no listing record names
   * (a superseded version damage left behind, or a put that died) are removed here: at
   * once if they hold a chunk 0 or their put's connection is gone, else once they are
   * `ORPHAN_AGE_MS` old.
   * @param {string | undefined} only
   * @returns {Promise<[string, number, Uint8Array][]>}
   */
  async list(only) {
    const tx = this.db.transaction([ENTRIES, HEADS], "readonly");
    const heads = tx.objectStore(HEADS);
    // Every request asked before the first answer: one round trip.
    const [keys, records, chunkKeys, markKeys] = await Promise.all([
      answer(heads.getAllKeys(only)),
      answer(heads.getAll(only)),
      answer(tx.objectStore(ENTRIES).getAllKeys(only === undefined ? undefined : entryRange(only))),
      answer(heads.getAllKeys(markRange(only))),
    ]);
    const runs = runsOf(chunkKeys);
    const listed = [];
    // The generation each listing record names, by entry.
    const named = new Map();
    keys.forEach((key, i) => {
      if (typeof key !== "string" || !KEY_HEX.test(key)) return;
      const head = this.decodeHead(records[i]);
      if (head !== null && this.whole(runs, key, head.generation, head.length)) {
        listed.push([key, head.length, head.lead]);
      } else {
        listed.push([key, 0, new Uint8Array(0)]);
      }
      if (head !== null) named.set(key, head.generation);
    });
    const orphans = await this.orphans(runs, named, markKeys);
    if (orphans.length > 0) {
      try {
        await this.removeGenerations(orphans);
      } catch {
        // Housekeeping: if it fails, the next listing tries again.
      }
    }
    return listed;
  }

  /**
   * The `[hex, generation]` of each of `runs` that no listing record names (`named`)
   * and that is not a put in progress: it holds a chunk 0, or its put's connection (as
   * marks keyed `markKeys` name it) is gone, or it is ORPHAN_AGE_MS old; and of each
   * mark whose chunks are gone.
   * @param {Run[]} runs
   * @param {Map<string, bigint>} named
   * @param {string[]} markKeys
   * @returns {Promise<[string, bigint][]>}
   */
  async orphans(runs, named, markKeys) {
    const marks = markKeys.map(parseMark).filter((mark) => mark !== null);
    const owners = new Map(marks.map((mark) => [putOf(mark), mark.owner]));
    const now = Date.now();
    const unnamed = runs.filter((r) => named.get(r.hex) !== r.generation);
    // What may be a put in progress: no chunk 0 yet, and younger than ORPHAN_AGE_MS.
    const young = (r) => !r.hasFirst && ageMs(r.generation, now) <= ORPHAN_AGE_MS;
    // Asked only if the answer matters, and after listing (see `Locks.live`).
    const live = unnamed.some((r) => young(r) && owners.has(putOf(r))) ? await this.locks.live() : null;
    const ownerGone = (r) => live !== null && owners.has(putOf(r)) && !live.has(owners.get(putOf(r)));
    const orphans = unnamed.filter((r) => !young(r) || ownerGone(r)).map((r) => [r.hex, r.generation]);
    // Marks whose chunks are gone (damage, or a put given up whose mark stayed).
    const written = new Set(runs.map(putOf));
    for (const mark of marks) if (!written.has(putOf(mark))) orphans.push([mark.hex, mark.generation]);
    return orphans;
  }

  /**
   * The lasting counters' record, read in a new transaction of the heads (readwrite if
   * `write`, for `saveCounters` to finish): resolves to the transaction and the record's
   * bytes, null if there is none or it is not bytes.
   * @param {boolean} write
   * @returns {Promise<[IDBTransaction, Uint8Array | null]>}
   */
  async counters(write) {
    const tx = this.db.transaction([HEADS], write ? "readwrite" : "readonly");
    const record = await answer(tx.objectStore(HEADS).get(COUNTERS));
    return [tx, bytesOf(record)];
  }

  /**
   * Replaces the lasting counters' record with `bytes` in `tx` (from `counters(true)`)
   * and commits it. IndexedDB runs that transaction alone against any other that writes
   * the record, so every tab's and worker's counts add up.
   *
   * `bytes` is a view of WebAssembly memory: copied before anything else (see `Put`).
   * @param {IDBTransaction} tx
   * @param {Uint8Array} bytes
   * @returns {Promise<void>}
   */
  saveCounters(tx, bytes) {
    const record = bytes.slice();
    return new Promise((resolve, reject) => {
      tx.objectStore(HEADS).put(record, COUNTERS);
      commit(tx).then(resolve, reject);
    });
  }
}

/**
 * One put of an entry: its chunks under a new generation, in transactions of at most
 * SPAN_CHUNKS chunks, then chunk 0 and the listing record together in the last one,
 * which also removes the version the put replaces. The previous version stays readable
 * until that transaction commits. A put of several transactions writes a mark with its
 * connection's owner id in its first, and removes it in its last: if its tab or worker
 * ends in between, listing sees at once that the chunks are a dead put's.
 *
 * Rust hands over every chunk after chunk 0 in order (`put`), checksumming each while
 * IndexedDB writes it in the background, then chunk 0 with the header, which holds the
 * finished checksum (`finish`); if anything fails, Rust calls `abandon`.
 *
 * Bytes come as views of WebAssembly memory, valid only until Rust runs again: each is
 * copied into a new array of its own before anything else. Never stored as they are:
 * structured clone stores a view's whole underlying ArrayBuffer, i.e. all of WebAssembly
 * memory for every chunk, which Chromium refuses (measured: the transaction aborts).
 */
class Put {
  /**
   * @param {Connection} connection
   * @param {string} hex
   * @param {number} chunks how many chunks follow chunk 0
   */
  constructor(connection, hex, chunks) {
    this.connection = connection;
    this.hex = hex;
    this.generation = newGeneration();
    /** How many transactions: a span of chunks each, the last (perhaps empty) with chunk 0. */
    this.spans = Math.max(1, Math.ceil(chunks / SPAN_CHUNKS));
    /** The number of the next chunk `put` writes. */
    this.next = 1;
    /** The transaction open now, if any. */
    this.tx = null;
    /** Whether `tx` is the last one. */
    this.last = false;
    /** How many chunks the transactions before the last wrote. */
    this.staged = 0;
    /** In the last transaction: the listing record and the put's chunk keys before it. */
    this.before = null;
    /** The key of the put's mark, if it writes one. */
    this.mark = this.spans > 1 && connection.locks.id !== null ? markKey(hex, this.generation, connection.locks.id) : null;
  }

  /** Begins the transaction of the span that chunk `next` is in. */
  begin() {
    const span = Math.min(Math.floor((this.next - 1) / SPAN_CHUNKS), this.spans - 1);
    this.last = span === this.spans - 1;
    const marks = span === 0 && this.mark !== null;
    if (!this.last) {
      this.tx = this.connection.db.transaction(marks ? [ENTRIES, HEADS] : [ENTRIES], "readwrite");
      if (marks) this.tx.objectStore(HEADS).put("", this.mark);
      return;
    }
    this.tx = this.connection.db.transaction([ENTRIES, HEADS], "readwrite");
    this.staged = this.next - 1;
    // Asked before any put of this transaction, so they answer for the state before it:
    // the version the put replaces, and whether the chunks the earlier transactions
    // wrote are all still there (listing may have taken a put paused for long for a
    // dead one).
    this.before = Promise.all([
      answer(this.tx.objectStore(HEADS).get(this.hex)),
      answer(this.tx.objectStore(ENTRIES).getAllKeys(generationRange(this.hex, this.generation, 1))),
    ]);
    // Awaited by `finish`, unless the put fails before it: no unhandled rejection then.
    this.before.catch(() => {});
  }

  /**
   * Puts the next chunk. Resolves to a Promise of the commit if this chunk ends a span
   * (Rust checksums the chunk, then waits for it), else to undefined. Throws if
   * IndexedDB refuses the request.
   * @param {Uint8Array} bytes
   * @returns {Promise<void> | undefined}
   */
  put(bytes) {
    const record = bytes.slice();
    if (this.tx === null) this.begin();
    this.tx.objectStore(ENTRIES).put(record, chunkKey(this.hex, this.generation, this.next));
    this.next += 1;
    if (this.last || (this.next - 1) % SPAN_CHUNKS !== 0) return undefined;
    const committed = commit(this.tx);
    this.tx = null;
    return committed;
  }

  /**
   * Ends the put in its last transaction: checks that the chunks earlier transactions
   * wrote are all still there, puts chunk 0 (`head`, then the payload's `first` bytes)
   * and the listing record of the entry's `length` bytes, removes the version it
   * replaces, and commits. Rejects with REMOVED if chunks are missing (a clear, or
   * listing took them for left behind); then nothing of this transaction is committed.
   * @param {Uint8Array} head
   * @param {Uint8Array} first
   * @param {number} length
   * @returns {Promise<void>}
   */
  async finish(head, first, length) {
    const chunk0 = new Uint8Array(head.length + first.length);
    chunk0.set(head);
    chunk0.set(first, head.length);
    if (this.tx === null) this.begin();
    const tx = this.tx;
    try {
      const [previousRecord, found] = await this.before;
      if (found.length !== this.staged) throw REMOVED;
      const previous = previousRecord === undefined || previousRecord === null ? null : this.connection.decodeHead(previousRecord);
      const entries = tx.objectStore(ENTRIES);
      entries.put(chunk0, chunkKey(this.hex, this.generation, 0));
      tx.objectStore(HEADS).put(this.listingRecord(length, chunk0), this.hex);
      if (this.mark !== null) tx.objectStore(HEADS).delete(this.mark);
      if (previous !== null && previous.generation !== this.generation) {
        entries.delete(generationRange(this.hex, previous.generation, 0));
      }
    } catch (error) {
      // Never let IndexedDB commit by itself the chunks already put.
      abort(tx);
      throw error;
    }
    this.tx = null;
    return commit(tx);
  }

  /**
   * The listing record of this put's entry of `length` bytes whose chunk 0 is `chunk0`:
   * generation and length (u64 little endian each), then the entry's first bytes.
   * @param {number} length
   * @param {Uint8Array} chunk0
   */
  listingRecord(length, chunk0) {
    const lead = chunk0.subarray(0, Math.min(chunk0.length, this.connection.leadBytes));
    const record = new Uint8Array(16 + lead.length);
    const view = new DataView(record.buffer);
    view.setBigUint64(0, this.generation, true);
    view.setBigUint64(8, BigInt(length), true);
    record.set(lead, 16);
    return record;
  }

  /**
   * Gives the put up: aborts its open transaction and removes what it wrote (if that
   * fails too, listing removes it later). Never rejects.
   * @returns {Promise<void>}
   */
  async abandon() {
    if (this.tx !== null) abort(this.tx);
    this.tx = null;
    try {
      await this.connection.removeGenerations([[this.hex, this.generation]]);
    } catch {
      // Left to listing.
    }
  }
}
