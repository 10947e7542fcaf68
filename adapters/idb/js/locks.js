// What a connection to a store of stepcache's browser store (crate stepcache-idb) shares
// with every other tab and worker of the origin, whatever the store's place: the names of
// its Web Locks and channels, and the lock that shows it is alive.
//
// The Rust side (src/open.rs) claims a connection's `Locks` before it opens the place,
// and hands them to the place's `open` (js/idb-store.js here, js/opfs-store.js in
// stepcache-opfs): wasm-bindgen copies each module on its own into the npm package, so
// one cannot import another, but both can be given the same object.
//
// Why an owner lock: a put that spans several steps (an OPFS file written in pieces, an
// IndexedDB put of several transactions) leaves what it wrote so far behind if its tab or
// worker ends in the middle, and no step of the put is left to remove it. A connection
// holds the Web Lock `<base>owner:<id>` from open to close, and the browser gives it back
// when the tab or worker ends, however it ends. What a put in progress leaves carries the
// owner's id, so listing tells a put in progress from a dead one at once (`live`). Where
// there are no Web Locks, it tells them apart by age alone.

/**
 * Claims the locks of a new connection to store `name` of place `place` ("idb",
 * "opfs"); never rejects.
 * @param {string} place
 * @param {string} name
 * @returns {Promise<Locks>}
 */
export async function claim(place, name) {
  const base = `stepcache-${place}:${name}:`;
  const id = Math.random().toString(36).slice(2, 10) || "0";
  const release = await holdLock(`${base}${OWNER}${id}`).catch(() => null);
  // Without its lock, the connection's puts carry no owner: they are told from dead
  // ones by age alone.
  return new Locks(base, release === null ? null : id, release);
}

/** What owner locks' names begin with after the store's base name. */
const OWNER = "owner:";

/**
 * This context's Web Locks (`navigator.locks`), or undefined where there are none.
 * @returns {LockManager | undefined}
 */
function webLocks() {
  return typeof navigator === "undefined" ? undefined : navigator.locks;
}

/**
 * Holds the exclusive Web Lock `name` until the function it resolves to is called, or
 * `maxMs` has passed (if given); resolves to null where there are no Web Locks.
 * @param {string} name
 * @param {number} [maxMs]
 * @returns {Promise<(() => void) | null>}
 */
function holdLock(name, maxMs) {
  const locks = webLocks();
  if (typeof locks?.request !== "function") return Promise.resolve(null);
  return new Promise((granted, failed) => {
    locks
      .request(name, () => {
        return new Promise((release) => {
          const timer = maxMs === undefined ? undefined : setTimeout(release, maxMs);
          granted(() => {
            clearTimeout(timer);
            release();
          });
        });
      })
      .catch(failed);
  });
}

/** One connection's shared names and owner lock (see `claim`). */
class Locks {
  /**
   * @param {string} base
   * @param {string | null} id
   * @param {(() => void) | null} release
   */
  constructor(base, id, release) {
    /** The connection's owner id, which its puts in progress carry; null without its lock. */
    this.id = id;
    this.base = base;
    this.release = release;
  }

  /**
   * The name of `what` of this store that every tab and worker shares: a Web Lock's or a
   * BroadcastChannel's.
   * @param {string} what
   */
  shared(what) {
    return `${this.base}${what}`;
  }

  /**
   * Holds this store's Web Lock `what` until the function it resolves to is called, or
   * `maxMs` has passed; resolves to null where there are no Web Locks.
   * @param {string} what
   * @param {number} maxMs
   * @returns {Promise<(() => void) | null>}
   */
  hold(what, maxMs) {
    return holdLock(this.shared(what), maxMs);
  }

  /**
   * The ids of the connections to this store open now, in every tab and worker (this one
   * included); null where there are no Web Locks to tell. Ask it after listing what puts
   * left: a connection claims its lock before it writes, so a put listed whose owner is
   * not live now is a dead one's (or one that has just ended).
   * @returns {Promise<Set<string> | null>}
   */
  async live() {
    const locks = webLocks();
    if (typeof locks?.query !== "function") return null;
    const prefix = this.shared(OWNER);
    const { held = [] } = await locks.query();
    return new Set(held.filter((lock) => lock.name?.startsWith(prefix)).map((lock) => lock.name.slice(prefix.length)));
  }

  /** Gives the owner lock back: the connection is closed. */
  close() {
    this.release?.();
    this.release = null;
  }
}
