// The file side of stepcache's OPFS store (crate stepcache-opfs): how entries are laid
// out in the origin private file system (OPFS), and every call made to it.
//
// The Rust side is stepcache-idb's WebStore, which drives this module through the same
// connection interface as js/idb-store.js (`read`, `readRange`, `write`, `remove`,
// `list`, `counters`, `saveCounters`; a put's `put`, `finish` and `abandon`): the entry
// bytes, their checksums and every cache decision stay in Rust, as they do for
// IndexedDB. This module stores and returns bytes.
//
// The layout, in the OPFS root:
//
// - `stepcache/<name>/`, the store `name` (percent-encoded, dots too, so that any name
//   is a valid directory name);
// - `entries/<key hex>`: an entry, one file holding its bytes;
// - `counters`: the lasting counters' bytes;
// - `tmp/<key hex>.<ms>.<owner>.<random>`: a put in progress (or a counters update,
//   under `counters.<ms>.<owner>.<random>`), by the connection `owner`.
//
// Atomic replace: a put writes a new file in `tmp/` and moves it over `entries/<hex>`
// once it is whole; a move replaces the file at once, so a reader sees the previous
// version whole or the new one whole, and a put that dies (a worker terminated) leaves
// only a file in `tmp/`. Each connection holds a Web Lock named for it while it is open
// (its owner lock, see stepcache-idb's js/locks.js), which the browser gives back when
// its tab or worker ends: the next listing removes a put's file whose connection holds
// its lock no more, and any once it is `ORPHAN_AGE_MS` old.
//
// Reading and writing: in a dedicated worker, through synchronous access handles (a read
// copies the file straight into WebAssembly memory, where Rust verifies it); in a page,
// where those do not exist, through `getFile()` (the bytes come as ArrayBuffers, which
// Rust copies in) and `createWritable()`.
//
// Several tabs and workers: a synchronous access handle locks its file. Reads take
// read-only handles, which share the file with other readers, for the few milliseconds
// of the read; a move or removal that finds the file locked waits and tries again
// (`whileLocked`). Pages' reads take no lock: a file replaced under one reads as
// NotReadableError, and the read starts again.
//
// Failures reach Rust as the values OPFS throws (DOMExceptions, which Rust reads with
// idb-store.js's `describe`: QuotaExceededError is a full store), or as the strings
// below.

/** Rejection of `open`: there is no OPFS here. */
const UNAVAILABLE = "unavailable";

/** What `Connection.read` answers for an entry file that cannot be an entry. */
const DAMAGED = "damaged";

/** The directory of every store, in the OPFS root. */
const ROOT = "stepcache";
/** A store's directory of entries. */
const ENTRIES = "entries";
/** A store's directory of puts in progress. */
const TMP = "tmp";
/** A store's file of lasting counters. */
const COUNTERS = "counters";

/**
 * How long a file in `tmp/` may wait for its put to finish before listing takes it for
 * a put that died, even if its connection is open (or where there are no Web Locks to
 * tell): 10 minutes, as in the IndexedDB store.
 */
const ORPHAN_AGE_MS = 10 * 60 * 1000;

/**
 * How long a move or removal waits for readers to release a file before it fails: a
 * read holds its file for as long as copying it takes (about 80 ms for 64 MiB here),
 * so 10 s is only reached if something holds the file for good.
 */
const LOCKED_WAIT_MS = 10_000;

/**
 * How long a counters update holds its Web Lock at most: if the Rust side never saves
 * (its future was dropped), the lock is given back after this.
 */
const COUNTERS_LOCK_MS = 10_000;

/**
 * How many entry files' handles a connection keeps for its next reads (see
 * `Connection.remember`): a few kilobytes, and more entries than a viewer reads in turn.
 */
const KNOWN_HANDLES = 1024;

/**
 * How long a read holds back for a writer of its key that waits for readers to let the
 * file go, at most (see `Writers`): a writer tries again every 8 ms at most.
 */
const WRITER_FIRST_MS = 250;

/**
 * How many times a read or a listing of a file replaced under it (NotReadableError) reads
 * it again before it takes the entry for one being replaced: never for damage, which
 * would make the engine remove the version that replaced it.
 */
const REREADS = 3;

/** What an entry file's name must be: a key's 32 bytes in lowercase hex. */
const KEY_HEX = /^[0-9a-f]{64}$/;

/**
 * A file name in `tmp/`: what it is for, when it began (ms), the connection that wrote
 * it (its owner id; absent where it held no owner lock), a random part.
 */
const TMP_NAME = /^([0-9a-f]{64}|counters)\.([0-9]+)\.(?:([0-9a-z]+)\.)?[0-9a-z]+$/;

/**
 * Whether synchronous access handles exist here (a dedicated worker).
 * @returns {boolean}
 */
function syncHandles() {
  return typeof FileSystemFileHandle === "function" && "createSyncAccessHandle" in FileSystemFileHandle.prototype;
}

/**
 * The OPFS root of this origin, or null where there is none (Node, an old browser, a
 * context denied storage).
 * @returns {Promise<FileSystemDirectoryHandle | null>}
 */
async function opfsRoot() {
  if (typeof navigator === "undefined" || typeof navigator.storage?.getDirectory !== "function") return null;
  // Throws (a SecurityError) where the origin may not use storage.
  return navigator.storage.getDirectory();
}

/**
 * The directory name of store `name`: percent-encoded, dots included, so that no name
 * is empty, `.`, `..` or holds a `/`.
 * @param {string} name
 */
function dirName(name) {
  return `=${encodeURIComponent(name).replace(/\./g, "%2E")}`;
}

/**
 * Whether OPFS is usable here.
 * @returns {Promise<boolean>}
 */
export async function available() {
  try {
    return (await opfsRoot()) !== null;
  } catch {
    return false;
  }
}

/**
 * Opens store `name`, creating its directories. The sizes are the layout's, defined in
 * Rust: the piece a read or write is cut into, the largest entry, and how many of an
 * entry's first bytes a listing gives. Rejects with UNAVAILABLE, or what OPFS threw.
 * @param {string} name
 * @param {number} chunkBytes
 * @param {number} maxEntryBytes
 * @param {number} leadBytes
 * @param {Locks} locks the connection's (see stepcache-idb's js/locks.js)
 * @returns {Promise<Connection>}
 */
export async function open(name, chunkBytes, maxEntryBytes, leadBytes, locks) {
  const root = await opfsRoot();
  if (root === null) throw UNAVAILABLE;
  const stores = await root.getDirectoryHandle(ROOT, { create: true });
  const dir = await stores.getDirectoryHandle(dirName(name), { create: true });
  const [entries, tmp] = await Promise.all([
    dir.getDirectoryHandle(ENTRIES, { create: true }),
    dir.getDirectoryHandle(TMP, { create: true }),
  ]);
  return new Connection(dir, entries, tmp, locks, chunkBytes, maxEntryBytes, leadBytes);
}

/**
 * Deletes store `name` and everything in it. Rejects with UNAVAILABLE, or what OPFS threw
 * (NoModificationAllowedError while a file of it is being read or written).
 * @param {string} name
 * @returns {Promise<void>}
 */
export async function deleteStore(name) {
  const root = await opfsRoot();
  if (root === null) throw UNAVAILABLE;
  try {
    const stores = await root.getDirectoryHandle(ROOT);
    await stores.removeEntry(dirName(name), { recursive: true });
  } catch (error) {
    if (error?.name !== "NotFoundError") throw error;
  }
}

/**
 * Waits `ms` milliseconds.
 * @param {number} ms
 */
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `act` (a move, a removal, or opening a file to read) until it does not find its
 * file locked (NoModificationAllowedError: a reader holds it, or a move is under way),
 * waiting a little longer each time, for at most LOCKED_WAIT_MS; resolves to what `act`
 * resolved to, or then, or on any other failure, rejects as `act` did. The first time it
 * finds the file locked it calls `announce` (if given), and at the end what that
 * returned (see `Writers`).
 * @template T
 * @param {() => Promise<T>} act
 * @param {(() => () => void) | undefined} [announce]
 * @returns {Promise<T>}
 */
async function whileLocked(act, announce) {
  const until = Date.now() + LOCKED_WAIT_MS;
  /** @type {(() => void) | undefined} */
  let done;
  try {
    for (let wait = 1; ; wait = Math.min(wait * 2, 8)) {
      try {
        return await act();
      } catch (error) {
        if (error?.name !== "NoModificationAllowedError" || Date.now() > until) throw error;
      }
      done ??= announce?.();
      await sleep(wait);
    }
  } finally {
    done?.();
  }
}

/**
 * Removes `name` from `dir` (see `whileLocked`, which is given `announce`); a file
 * already gone is fine. Where a file should be, a directory (damage) is removed with
 * what it holds.
 * @param {FileSystemDirectoryHandle} dir
 * @param {string} name
 * @param {(() => () => void) | undefined} [announce]
 * @returns {Promise<void>}
 */
function removeFile(dir, name, announce) {
  return whileLocked(async () => {
    try {
      await dir.removeEntry(name, { recursive: true });
    } catch (error) {
      if (error?.name !== "NotFoundError") throw error;
    }
  }, announce);
}

/**
 * Writers of a store's entry files that wait for readers to let a file go, as every
 * connection to the store hears of them, in every tab and worker (a BroadcastChannel).
 * A worker's reads open their files straight from kept handles, one right after the
 * other, so a key read over and over would never leave a moment free for a move or a
 * removal to get in (1 put in 3 s against 16 when each read first looked its file up);
 * a connection that hears of a waiting writer holds its reads of that key back until the
 * writer is done, or for WRITER_FIRST_MS at most (a writer that died says nothing).
 */
class Writers {
  /** @param {Locks} locks the connection's */
  constructor(locks) {
    /** @type {Map<string, {promise: Promise<void>, resolve: () => void}>} */
    this.waiting = new Map();
    this.channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(locks.shared("writers")) : null;
    if (this.channel !== null) this.channel.onmessage = ({ data: [hex, waits] }) => this.heard(hex, waits);
  }

  /**
   * Records that a writer of entry `hex` waits (`waits`) or is done.
   * @param {string} hex
   * @param {boolean} waits
   */
  heard(hex, waits) {
    if (!waits) {
      this.waiting.get(hex)?.resolve();
      return;
    }
    if (this.waiting.has(hex)) return;
    let resolve = () => {};
    const promise = new Promise((r) => (resolve = r));
    const entry = { promise, resolve };
    const timer = setTimeout(resolve, WRITER_FIRST_MS);
    promise.then(() => {
      clearTimeout(timer);
      if (this.waiting.get(hex) === entry) this.waiting.delete(hex);
    });
    this.waiting.set(hex, entry);
  }

  /**
   * Tells every connection (this one too) that a writer of `hex` waits; returns the
   * function that tells them it is done.
   * @param {string} hex
   * @returns {() => void}
   */
  announce(hex) {
    this.heard(hex, true);
    this.channel?.postMessage([hex, true]);
    return () => {
      this.heard(hex, false);
      this.channel?.postMessage([hex, false]);
    };
  }

  /**
   * What a read of `hex` waits for first: a Promise while a writer of it waits, else
   * undefined.
   * @param {string} hex
   */
  ahead(hex) {
    return this.waiting.get(hex)?.promise;
  }

  /** Stops hearing of writers and lets every held-back read go. */
  close() {
    this.channel?.close();
    for (const { resolve } of this.waiting.values()) resolve();
  }
}

/**
 * The file `name` of `dir`, null if there is none, or DAMAGED if a directory is there.
 * @param {FileSystemDirectoryHandle} dir
 * @param {string} name
 * @returns {Promise<FileSystemFileHandle | null | typeof DAMAGED>}
 */
async function fileIn(dir, name) {
  try {
    return await dir.getFileHandle(name);
  } catch (error) {
    if (error?.name === "NotFoundError") return null;
    if (error?.name === "TypeMismatchError") return DAMAGED;
    throw error;
  }
}

/** Eight random base-36 digits (fewer if Math.random gives a short fraction). */
function randomPart() {
  return Math.random().toString(36).slice(2, 10) || "0";
}

/**
 * A new name in `tmp/` for a put of `what` (a key's hex, or `counters`) by the
 * connection that holds `locks`: it says when the put began and who makes it, so listing
 * can tell a put in progress from one that died, and a random part, so two puts of one
 * key never share a file.
 * @param {string} what
 * @param {Locks} locks
 */
function tmpName(what, locks) {
  const owner = locks.id === null ? "" : `${locks.id}.`;
  return `${what}.${Date.now()}.${owner}${randomPart()}`;
}

/**
 * The bytes of `file` from `start` to `end` (excluded), or null if the file changed
 * since it was opened (NotReadableError: replaced or removed under the read).
 * @param {File} file
 * @param {number} start
 * @param {number} end
 * @returns {Promise<Uint8Array | null>}
 */
async function sliceOf(file, start, end) {
  try {
    return new Uint8Array(await file.slice(start, end).arrayBuffer());
  } catch (error) {
    if (error?.name === "NotReadableError" || error?.name === "NotFoundError") return null;
    throw error;
  }
}

/**
 * A file read through a read-only synchronous access handle: Rust copies it straight
 * into WebAssembly memory (`readInto`), then closes it. The handle shares the file with
 * other readers and keeps writers from moving a new version over it meanwhile.
 */
class HandleSource {
  /** @param {FileSystemSyncAccessHandle} handle */
  constructor(handle) {
    this.handle = handle;
  }

  /**
   * Reads the file's bytes from `at` into `into` (a view of WebAssembly memory, valid
   * only during this call); returns how many were read.
   * @param {Uint8Array} into
   * @param {number} at
   */
  readInto(into, at) {
    return this.handle.read(into, { at });
  }

  /** Releases the file. */
  close() {
    this.handle.close();
  }
}

/**
 * A store's directories and the layout's sizes (see `open`).
 */
class Connection {
  /**
   * @param {FileSystemDirectoryHandle} dir
   * @param {FileSystemDirectoryHandle} entries
   * @param {FileSystemDirectoryHandle} tmp
   * @param {Locks} locks
   * @param {number} chunkBytes
   * @param {number} maxEntryBytes
   * @param {number} leadBytes
   */
  constructor(dir, entries, tmp, locks, chunkBytes, maxEntryBytes, leadBytes) {
    this.dir = dir;
    this.entries = entries;
    this.tmp = tmp;
    this.locks = locks;
    this.chunkBytes = chunkBytes;
    this.maxEntryBytes = maxEntryBytes;
    this.leadBytes = leadBytes;
    /** Never closed from elsewhere: there is no schema to upgrade. */
    this.closed = false;
    /**
     * Handles of entry files read lately, by key hex, oldest first (see `remember`).
     * @type {Map<string, FileSystemFileHandle>}
     */
    this.known = new Map();
    this.writers = new Writers(locks);
  }

  /**
   * Stops hearing of other writers and gives the owner's lock back: each call opens the
   * files it uses and releases them.
   */
  close() {
    this.writers.close();
    this.locks.close();
  }

  /**
   * Reads entry `hex`: null if there is none, DAMAGED if its file is empty or larger than
   * the largest entry, else `[length, source]`. In a worker, `source` is a HandleSource
   * for Rust to read from; in a page, a Promise of each piece of the file (see
   * `readFile`). The file is opened through the handle kept from an earlier read if there
   * is one (see `remember`); one that opens as no file, or as damage, is looked up again.
   * @param {string} hex
   * @returns {Promise<null | typeof DAMAGED | [number, HandleSource | Promise<Uint8Array | null>[]]>}
   */
  async read(hex) {
    const sync = syncHandles();
    if (sync) await this.writers.ahead(hex);
    const open = (handle) => (sync ? this.openEntry(handle) : this.readFile(handle));
    /** An entry file that is there and sound to open. */
    const sound = (opened) => opened !== null && opened !== DAMAGED;
    const known = this.known.get(hex);
    if (known !== undefined) {
      const opened = await open(known).catch(() => null);
      if (sound(opened)) return opened;
      // Gone, replaced by a directory, or unreadable: the slow way finds out which.
      this.known.delete(hex);
    }
    const handle = await fileIn(this.entries, hex);
    if (handle === null || handle === DAMAGED) return handle;
    const opened = await open(handle);
    if (sound(opened)) this.remember(hex, handle);
    return opened;
  }

  /**
   * Opens the entry file of `handle` for reading with a read-only synchronous access
   * handle: `[length, source]`, null if it was removed, DAMAGED if it is larger than the
   * largest entry or empty.
   *
   * A handle names a path, not a file: it opens whatever file is at its path now (a new
   * version moved over the entry is read). But a handle to a path where there is no file
   * any more, or a directory, opens without an error and says a size of 2^64 - 1 or 0;
   * so such a size is never taken from a remembered handle (`read` looks again).
   * @param {FileSystemFileHandle} handle
   * @returns {Promise<null | typeof DAMAGED | [number, HandleSource]>}
   */
  async openEntry(handle) {
    let sync;
    try {
      sync = await whileLocked(() => handle.createSyncAccessHandle({ mode: "read-only" }));
    } catch (error) {
      // Removed between the lookup and the open.
      if (error?.name === "NotFoundError") return null;
      throw error;
    }
    const length = sync.getSize();
    if (length === 0 || length > this.maxEntryBytes) {
      sync.close();
      return DAMAGED;
    }
    return [length, new HandleSource(sync)];
  }

  /**
   * Keeps the handle of entry file `hex` for the next read: looking a file up by name
   * (`getFileHandle`) took 0.9 ms here, as long as reading 1 MiB from it. The oldest go
   * first beyond KNOWN_HANDLES.
   * @param {string} hex
   * @param {FileSystemFileHandle} handle
   */
  remember(hex, handle) {
    this.known.delete(hex);
    this.known.set(hex, handle);
    if (this.known.size > KNOWN_HANDLES) this.known.delete(this.known.keys().next().value);
  }

  /**
   * Reads the file of `handle` through `getFile()` (a page's way), in `chunkBytes` pieces
   * all asked at once. A file replaced or removed under the read fails to read
   * (NotReadableError): it is read again, up to REREADS times, then is no entry, never
   * damage, which would make the engine remove the version that replaced it.
   * @param {FileSystemFileHandle} handle
   * @returns {Promise<null | typeof DAMAGED | [number, Promise<Uint8Array>[]]>}
   */
  async readFile(handle) {
    for (let attempt = 0; attempt < REREADS; attempt++) {
      let file;
      try {
        file = await handle.getFile();
      } catch (error) {
        if (error?.name === "NotFoundError") return null;
        throw error;
      }
      // Empty: no entry is; or a directory, which a kept handle opens as an empty file.
      if (file.size === 0 || file.size > this.maxEntryBytes) return DAMAGED;
      const asked = [];
      for (let at = 0; at < file.size; at += this.chunkBytes) {
        asked.push(sliceOf(file, at, Math.min(at + this.chunkBytes, file.size)));
      }
      const pieces = await Promise.all(asked);
      if (!pieces.includes(null)) return [file.size, pieces.map((piece) => Promise.resolve(piece))];
    }
    return null;
  }

  /**
   * Bytes `start` to `end` (excluded) of entry `hex`, cut short where it ends, as one
   * piece; null if there is no entry or it changed under the read.
   * @param {string} hex
   * @param {number} start
   * @param {number} end
   * @returns {Promise<Uint8Array[] | null>}
   */
  async readRange(hex, start, end) {
    const handle = await fileIn(this.entries, hex);
    if (handle === null || handle === DAMAGED) return null;
    const file = await handle.getFile();
    end = Math.min(end, file.size);
    start = Math.min(start, end);
    const bytes = await sliceOf(file, start, end);
    return bytes === null ? null : [bytes];
  }

  /**
   * Begins a put of entry `hex` of `length` bytes (see `HandlePut` and `WritablePut`; the
   * pieces after the first are where their numbers say, so their count is not needed).
   * The new file is given its length first: 64 MiB written in 4 MiB pieces into a file
   * that had its size took 239 ms here, into one that grew with each write 320 ms. A
   * quota too small for the entry refuses it there, before any byte is written.
   * @param {string} hex
   * @param {number} _chunks
   * @param {number} length
   * @returns {Promise<HandlePut | WritablePut>}
   */
  async write(hex, _chunks, length) {
    const name = tmpName(hex, this.locks);
    const file = await this.tmp.getFileHandle(name, { create: true });
    /** Lets the file go if the put cannot begin. */
    let release = () => {};
    try {
      if (syncHandles()) {
        const handle = await file.createSyncAccessHandle();
        release = () => handle.close();
        handle.truncate(length);
        return new HandlePut(this, hex, file, handle);
      }
      const writable = await file.createWritable();
      release = () => writable.abort().catch(() => {});
      await writable.truncate(length);
      return new WritablePut(this, hex, file, writable);
    } catch (error) {
      await release();
      await removeFile(this.tmp, name).catch(() => {});
      throw quotaAbort(error);
    }
  }

  /**
   * Makes `file` of `tmp/` the entry `hex` (or the counters), replacing the version
   * before at once.
   * @param {FileSystemFileHandle} file
   * @param {string} target
   * @returns {Promise<void>}
   */
  async commit(file, target) {
    const dir = target === COUNTERS ? this.dir : this.entries;
    const announce = () => this.writers.announce(target);
    try {
      await whileLocked(() => file.move(dir, target), announce);
    } catch (error) {
      // A directory where the file goes (damage): it goes, and the file takes its place.
      if (error?.name !== "InvalidModificationError" && error?.name !== "TypeMismatchError") throw error;
      await removeFile(dir, target, announce);
      await whileLocked(() => file.move(dir, target), announce);
    }
  }

  /**
   * Removes entry `hex`.
   * @param {string} hex
   * @returns {Promise<void>}
   */
  remove(hex) {
    return removeFile(this.entries, hex, () => this.writers.announce(hex));
  }

  /**
   * The listings of every entry, or of entry `only` (none or one), as `[hex, length,
   * lead]` each: the file's size and first `leadBytes` bytes. A file larger than the
   * largest entry, or a directory where the file should be, lists as an empty entry,
   * which the engine's header check rejects (it then removes it). Puts that died long
   * ago are removed on the way.
   * @param {string | undefined} only
   * @returns {Promise<[string, number, Uint8Array][]>}
   */
  async list(only) {
    const names = [];
    if (only !== undefined) {
      names.push(only);
    } else {
      // A directory of an entry's name is listed too, as damage (see `listing`).
      for await (const name of this.entries.keys()) {
        if (KEY_HEX.test(name)) names.push(name);
      }
      await this.removeDeadPuts();
    }
    const listed = await Promise.all(names.map((name) => this.listing(name)));
    return listed.filter((row) => row !== null);
  }

  /**
   * The listing of entry file `hex`, or null if there is none. A file replaced under
   * the listing is listed again, as it is now, up to REREADS times; then it is left out,
   * as an entry being replaced is, never listed as damage.
   * @param {string} hex
   * @returns {Promise<[string, number, Uint8Array] | null>}
   */
  async listing(hex) {
    for (let attempt = 0; attempt < REREADS; attempt++) {
      const handle = await fileIn(this.entries, hex);
      if (handle === null) return null;
      if (handle === DAMAGED) return [hex, 0, new Uint8Array(0)];
      const file = await handle.getFile();
      if (file.size > this.maxEntryBytes) return [hex, 0, new Uint8Array(0)];
      const lead = await sliceOf(file, 0, Math.min(file.size, this.leadBytes));
      if (lead !== null) return [hex, file.size, lead];
    }
    return null;
  }

  /**
   * Removes the files of puts whose connection is gone (see `tmpName`), and of any that
   * began over ORPHAN_AGE_MS ago; never rejects.
   */
  async removeDeadPuts() {
    try {
      const names = [];
      for await (const name of this.tmp.keys()) names.push(name);
      // Asked after the files were listed (see `Locks.live`).
      const live = await this.locks.live();
      const now = Date.now();
      for (const name of names) {
        const parsed = TMP_NAME.exec(name);
        // Not a put's: nothing this module wrote, so nothing it removes.
        if (parsed === null) continue;
        const [, , began, owner] = parsed;
        const ownerGone = owner !== undefined && live !== null && !live.has(owner);
        if (ownerGone || now - Number(began) > ORPHAN_AGE_MS) await removeFile(this.tmp, name).catch(() => {});
      }
    } catch {
      // Housekeeping: the next listing tries again.
    }
  }

  /**
   * The lasting counters' bytes (null if there are none), and a token for
   * `saveCounters`. If `write`, the Web Lock of this store's counters is held until
   * `saveCounters`, so that every tab's and worker's counts add up (where there are no
   * Web Locks, updates at the same moment may lose counts, never values).
   * @param {boolean} write
   * @returns {Promise<[(() => void) | null, Uint8Array | null]>}
   */
  async counters(write) {
    const release = write ? await this.locks.hold(COUNTERS, COUNTERS_LOCK_MS) : null;
    try {
      const handle = await fileIn(this.dir, COUNTERS);
      // No counters, or damaged ones: counting starts over.
      const bytes = handle === null || handle === DAMAGED ? null : await sliceOf(await handle.getFile(), 0, Infinity);
      return [release, bytes];
    } catch (error) {
      release?.();
      throw error;
    }
  }

  /**
   * Replaces the lasting counters with `bytes` (a view of WebAssembly memory, copied at
   * once) and gives back the lock `release` from `counters(true)`.
   * @param {(() => void) | null} release
   * @param {Uint8Array} bytes
   * @returns {Promise<void>}
   */
  async saveCounters(release, bytes) {
    const copy = bytes.slice();
    const name = tmpName(COUNTERS, this.locks);
    try {
      const file = await this.tmp.getFileHandle(name, { create: true });
      const writable = await file.createWritable();
      await writable.write(copy);
      await writable.close();
      await this.commit(file, COUNTERS);
    } catch (error) {
      await removeFile(this.tmp, name).catch(() => {});
      throw error;
    } finally {
      release?.();
    }
  }
}

/**
 * One put of an entry through a synchronous access handle on a new file in `tmp/`: Rust
 * hands over every piece after the first in order (`put`), each written at its place at
 * once, straight from WebAssembly memory; then the header and the first piece
 * (`finish`), which moves the file over the entry. If anything fails, Rust calls
 * `abandon`.
 */
class HandlePut {
  /**
   * @param {Connection} connection
   * @param {string} hex
   * @param {FileSystemFileHandle} file the new file in `tmp/`
   * @param {FileSystemSyncAccessHandle} handle
   */
  constructor(connection, hex, file, handle) {
    this.connection = connection;
    this.hex = hex;
    this.file = file;
    this.handle = handle;
    /** The number of the next piece `put` writes. */
    this.next = 1;
  }

  /**
   * Writes the next piece; throws what the handle throws (QuotaExceededError).
   * @param {Uint8Array} bytes
   * @returns {undefined}
   */
  put(bytes) {
    this.writeAt(bytes, this.next * this.connection.chunkBytes);
    this.next += 1;
    return undefined;
  }

  /**
   * Writes all of `bytes` at `at`.
   * @param {Uint8Array} bytes
   * @param {number} at
   */
  writeAt(bytes, at) {
    const written = this.handle.write(bytes, { at });
    if (written !== bytes.length) throw new DOMException("a short write", "QuotaExceededError");
  }

  /**
   * Writes the first piece (the header, then the payload's `first` bytes), releases the
   * file and moves it over the entry. `length` is the entry's: the pieces written
   * already end there.
   * @param {Uint8Array} head
   * @param {Uint8Array} first
   * @param {number} length
   * @returns {Promise<void>}
   */
  async finish(head, first, length) {
    this.writeAt(firstPiece(head, first), 0);
    if (this.handle.getSize() !== length) throw new Error(`the put wrote ${this.handle.getSize()} bytes of ${length}`);
    this.handle.close();
    this.handle = null;
    await this.connection.commit(this.file, this.hex);
  }

  /**
   * Gives the put up and removes its file (if that fails too, listing removes it
   * later). Never rejects.
   * @returns {Promise<void>}
   */
  async abandon() {
    try {
      this.handle?.close();
    } catch {
      // Closed already.
    }
    this.handle = null;
    await removeFile(this.connection.tmp, this.file.name).catch(() => {});
  }
}

/**
 * An entry's first piece: `head`, then the payload's `first` bytes, in one new array.
 * Written with one call: the payload bytes written on their own, after the header, at
 * an offset that is not a multiple of the page size, took 1.4 ms longer per MiB here
 * than the copy and one write.
 * @param {Uint8Array} head
 * @param {Uint8Array} first
 */
function firstPiece(head, first) {
  const piece = new Uint8Array(head.length + first.length);
  piece.set(head);
  piece.set(first, head.length);
  return piece;
}

/**
 * One put of an entry through a writable stream on a new file in `tmp/`, where there are
 * no synchronous access handles (a page): as HandlePut, but each piece is copied out of
 * WebAssembly memory at once (the stream writes it later), and the writes are waited for
 * every SPAN pieces, so that no more than that many copies wait at a time.
 */
class WritablePut {
  /**
   * @param {Connection} connection
   * @param {string} hex
   * @param {FileSystemFileHandle} file the new file in `tmp/`
   * @param {FileSystemWritableFileStream} writable
   */
  constructor(connection, hex, file, writable) {
    this.connection = connection;
    this.hex = hex;
    this.file = file;
    this.writable = writable;
    this.next = 1;
    /** The writes asked so far, in order. */
    this.written = Promise.resolve();
  }

  /**
   * Asks for a write of `data` (an array of its own) at `at`.
   * @param {Uint8Array} data
   * @param {number} at
   */
  writeAt(data, at) {
    this.written = this.written.then(() => this.writable.write({ type: "write", position: at, data }).catch((error) => {
      throw quotaAbort(error);
    }));
    // Awaited by `put` or `finish`; a failure left for them, never unhandled.
    this.written.catch(() => {});
  }

  /**
   * Copies the next piece and asks for its write. Every WritablePut.SPAN pieces,
   * returns the Promise of the writes so far, which Rust waits for.
   * @param {Uint8Array} bytes
   * @returns {Promise<void> | undefined}
   */
  put(bytes) {
    this.writeAt(bytes.slice(), this.next * this.connection.chunkBytes);
    this.next += 1;
    return (this.next - 1) % WritablePut.SPAN === 0 ? this.written : undefined;
  }

  /**
   * As HandlePut's: the writes end, and the stream closes, which makes them the file's,
   * then the file moves over the entry. The pieces end at the entry's `length`: a stream
   * has no size to check it against before it closes.
   * @param {Uint8Array} head
   * @param {Uint8Array} first
   * @param {number} _length
   * @returns {Promise<void>}
   */
  async finish(head, first, _length) {
    this.writeAt(firstPiece(head, first), 0);
    await this.written;
    await this.writable.close();
    this.writable = null;
    await this.connection.commit(this.file, this.hex);
  }

  /**
   * As HandlePut's.
   * @returns {Promise<void>}
   */
  async abandon() {
    try {
      await this.writable?.abort();
    } catch {
      // Ended already.
    }
    this.writable = null;
    await removeFile(this.connection.tmp, this.file.name).catch(() => {});
  }
}

/**
 * `error`, thrown by a writable stream, as the error it stands for: Chromium
 * reports a write of data that would overrun the origin's quota as "AbortError: Failed
 * to write data to data pipe" (a write of one byte past it says QuotaExceededError), and
 * the browser closes the pipe on a write it refuses: that is the quota's
 * QuotaExceededError, so that the engine evicts and tries again.
 * @param {unknown} error
 */
function quotaAbort(error) {
  if (error?.name === "AbortError" && /data pipe/.test(error.message)) {
    return new DOMException(`the write was refused (${error.message}): the origin's storage quota`, "QuotaExceededError");
  }
  return error;
}

/** How many pieces a WritablePut copies before it waits for their writes: 64 MiB. */
WritablePut.SPAN = 16;
