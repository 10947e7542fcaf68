// Put and get of one Float32Array through stepcache on each of its browser stores (OPFS,
// IndexedDB) and through their peers (raw IndexedDB, idb-keyval, a raw OPFS file), in the
// context this module is loaded in (a page or a dedicated worker). stores.mjs runs it in
// both and prints the tables.
import { open } from "/pkg/index.js";
import { get as kvGet, set as kvSet, createStore } from "/node_modules/idb-keyval/dist/index.js";
import { done, idb, request } from "./raw-idb.js";

const MIB = 1 << 20;

/** A fresh name: every run works on stores of its own. */
const fresh = (what) => `bench-${what}-${Math.random().toString(36).slice(2)}`;

/** Whether synchronous access handles exist here (a dedicated worker). */
const syncHandles = typeof FileSystemFileHandle === "function" && "createSyncAccessHandle" in FileSystemFileHandle.prototype;

/**
 * The raw OPFS peer: the bytes written to one file and read back whole, the fastest way
 * this context has (a synchronous access handle in a worker; createWritable and getFile
 * in a page), with no replace-safety and no checksum; and `replace`, the least an atomic
 * replace costs: the bytes written whole into a new file, which is then moved over the
 * last one (what a stepcache put does, without its header and checksum).
 */
async function rawOpfs() {
  const root = await navigator.storage.getDirectory();
  const file = await root.getFileHandle(fresh("raw-opfs"), { create: true });
  const replaced = fresh("raw-opfs-replaced");
  if (syncHandles) {
    return {
      put: async (bytes) => {
        const h = await file.createSyncAccessHandle();
        h.truncate(0);
        h.write(bytes, { at: 0 });
        h.close();
      },
      replace: async (bytes) => {
        const next = await root.getFileHandle(fresh("raw-opfs-new"), { create: true });
        const h = await next.createSyncAccessHandle();
        h.truncate(bytes.length);
        h.write(bytes, { at: 0 });
        h.close();
        await next.move(root, replaced);
      },
      get: async () => {
        const h = await file.createSyncAccessHandle({ mode: "read-only" });
        const out = new Uint8Array(h.getSize());
        h.read(out, { at: 0 });
        h.close();
        return out;
      },
    };
  }
  return {
    put: async (bytes) => {
      const w = await file.createWritable();
      await w.write(bytes);
      await w.close();
    },
    replace: async (bytes) => {
      const next = await root.getFileHandle(fresh("raw-opfs-new"), { create: true });
      const w = await next.createWritable();
      await w.write(bytes);
      await w.close();
      await next.move(root, replaced);
    },
    get: async () => new Uint8Array(await (await file.getFile()).arrayBuffer()),
  };
}

/** Every round's time (ms) of every case at each size of `sizesMiB`: `{ [mib]: { [case]: ms[] } }`. */
export async function benchStores(sizesMiB, repeats) {
  const out = {};
  for (const mib of sizesMiB) {
    const floats = new Float32Array((mib * MIB) / 4);
    for (let i = 0; i < floats.length; i++) floats[i] = Math.sin(i * 0.001) * 1000;
    const bytes = new Uint8Array(floats.buffer);
    const check = (arr) => {
      if (arr.length !== floats.length || arr[arr.length - 1] !== floats[floats.length - 1]) throw new Error("wrong data");
    };
    const value = { data: floats, shape: [floats.length] };
    const opfs = await open({ name: fresh("sc-opfs"), store: "opfs", memoryBudget: 0 });
    const indexed = await open({ name: fresh("sc-idb"), store: "indexeddb", memoryBudget: 0 });
    const key = opfs.key("bench", { mib });
    const raw = await idb(fresh("raw-idb"));
    const kv = createStore(fresh("kv"), "s");
    const file = await rawOpfs();
    const cases = {
      scOpfsPut: () => opfs.put(key, value),
      scOpfsGet: async () => check((await opfs.get(key)).data),
      scIdbPut: () => indexed.put(key, value),
      scIdbGet: async () => check((await indexed.get(key)).data),
      rawIdbPut: async () => {
        const tx = raw.transaction("s", "readwrite");
        tx.objectStore("s").put(floats.buffer, "k");
        await done(tx);
      },
      rawIdbGet: async () => check(new Float32Array(await request(raw.transaction("s", "readonly").objectStore("s").get("k")))),
      kvPut: () => kvSet("k", floats, kv),
      kvGet: async () => check(await kvGet("k", kv)),
      rawOpfsPut: () => file.put(bytes),
      rawReplacePut: () => file.replace(bytes),
      rawOpfsGet: async () => check(new Float32Array((await file.get()).buffer)),
    };
    const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
    // One untimed pass in the written order: every put lands before its get, and
    // everything is warm.
    for (const f of Object.values(cases)) await f();
    // Each round runs every case once, in a shuffled order, so that a slow stretch of a
    // shared machine falls on all of them alike and none always follows the same other.
    let seed = 0x9e3779b9 ^ mib;
    const random = () => (seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32;
    for (let r = 0; r < repeats; r++) {
      const order = Object.entries(cases);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      for (const [name, f] of order) {
        const t = performance.now();
        await f();
        times[name].push(performance.now() - t);
      }
    }
    opfs.close();
    indexed.close();
    raw.close();
    out[mib] = times;
  }
  return out;
}
