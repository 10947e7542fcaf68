//! OPFS (origin private file system) store specifics in a dedicated Web Worker of headless
//! Chromium, checked against the raw files (`stepcache/<dir>/entries/<key hex>`, `tmp/`,
//! `counters`): damaged entry files, a directory where an entry file should be, reads
//! that release their files, kept file handles that see changes made elsewhere, puts and
//! removals that wait for a reader, dead puts, counters updated from two handles at once,
//! and deleting a store.
#![cfg(target_family = "wasm")]
#![allow(clippy::unwrap_used)] // tests report failures by panicking

use std::rc::Rc;

use js_sys::{Array, Promise, Uint8Array};
use stepcache_core::{Cache, Config, Key, ManualClock, Source, Store, Value};
use stepcache_idb::WebStore;
use stepcache_opfs::OPFS;
use stepcache_tests::rng::Rng;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};
use wasm_bindgen_test::wasm_bindgen_test;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[wasm_bindgen(inline_js = r#"
async function storeDir(name) {
  const root = await navigator.storage.getDirectory();
  const stores = await root.getDirectoryHandle("stepcache");
  return stores.getDirectoryHandle("=" + encodeURIComponent(name).replace(/\./g, "%2E"));
}
async function dirOf(name, sub) {
  const dir = await storeDir(name);
  return sub === "" ? dir : dir.getDirectoryHandle(sub);
}
export async function rawList(name, sub) {
  const names = [];
  for await (const [entry, handle] of (await dirOf(name, sub)).entries()) {
    names.push(handle.kind === "directory" ? entry + "/" : entry);
  }
  return names.sort();
}
export async function rawStoreExists(name) {
  try {
    await storeDir(name);
    return true;
  } catch (error) {
    if (error?.name === "NotFoundError") return false;
    throw error;
  }
}
export async function rawRead(name, sub, file) {
  const handle = await (await dirOf(name, sub)).getFileHandle(file);
  return new Uint8Array(await (await handle.getFile()).arrayBuffer());
}
export async function rawWrite(name, sub, file, view) {
  const bytes = view.slice();
  const handle = await (await dirOf(name, sub)).getFileHandle(file, { create: true });
  const sync = await handle.createSyncAccessHandle();
  try {
    sync.truncate(0);
    if (sync.write(bytes, { at: 0 }) !== bytes.length) throw new Error("a short write");
    sync.flush();
  } finally {
    sync.close();
  }
}
export async function rawRemove(name, sub, file) {
  await (await dirOf(name, sub)).removeEntry(file);
}
export async function rawMakeDir(name, sub, dir) {
  const made = await (await dirOf(name, sub)).getDirectoryHandle(dir, { create: true });
  await made.getFileHandle("inside", { create: true });
}
export async function rawDamage(name, file, how) {
  const handle = await (await dirOf(name, "entries")).getFileHandle(file);
  const sync = await handle.createSyncAccessHandle();
  const flip = (at) => {
    const byte = new Uint8Array(1);
    if (sync.read(byte, { at }) !== 1) throw new Error("no byte at " + at);
    byte[0] ^= 0xff;
    sync.write(byte, { at });
  };
  try {
    const size = sync.getSize();
    switch (how) {
      case "empty": sync.truncate(0); break;
      case "half": sync.truncate(Math.floor(size / 2)); break;
      case "payload": flip(size - 1000); break;
      case "header": flip(20); break;
      case "append": sync.write(new Uint8Array(16).fill(0x5a), { at: size }); break;
      default: throw new Error("unknown damage " + how);
    }
    sync.flush();
  } finally {
    sync.close();
  }
}
export async function rawTryWriteHandle(name, file) {
  const handle = await (await dirOf(name, "entries")).getFileHandle(file);
  try {
    const sync = await handle.createSyncAccessHandle();
    sync.close();
    return "ok";
  } catch (error) {
    return String(error?.name);
  }
}
export async function rawHold(name, file, mode, ms) {
  const handle = await (await dirOf(name, "entries")).getFileHandle(file);
  const sync = await handle.createSyncAccessHandle({ mode });
  const released = new Promise((resolve) => setTimeout(() => { sync.close(); resolve(Date.now()); }, ms));
  return [released];
}
"#)]
extern "C" {
    fn rawList(name: &str, sub: &str) -> Promise;
    fn rawStoreExists(name: &str) -> Promise;
    fn rawRead(name: &str, sub: &str, file: &str) -> Promise;
    fn rawWrite(name: &str, sub: &str, file: &str, bytes: &[u8]) -> Promise;
    fn rawRemove(name: &str, sub: &str, file: &str) -> Promise;
    fn rawMakeDir(name: &str, sub: &str, dir: &str) -> Promise;
    fn rawDamage(name: &str, file: &str, how: &str) -> Promise;
    fn rawTryWriteHandle(name: &str, file: &str) -> Promise;
    fn rawHold(name: &str, file: &str, mode: &str, ms: u32) -> Promise;
}

/// A store name no other test (or earlier run) uses.
fn unique() -> String {
    format!("opfs-files-{}", js_sys::Math::random().to_bits())
}

/// Awaits one of the raw helpers, panicking with what it threw.
async fn done(promise: Promise) -> JsValue {
    JsFuture::from(promise).await.unwrap()
}

/// The names in `sub` (`entries`, `tmp`, or `""` for the store's own directory) of store
/// `name`, sorted; a directory's ends in `/`.
async fn raw_list(name: &str, sub: &str) -> Vec<String> {
    Array::from(&done(rawList(name, sub)).await)
        .iter()
        .map(|n| n.as_string().unwrap())
        .collect()
}

/// The one file in `entries/` of store `name`: the file name of the only entry put.
async fn only_entry_file(name: &str) -> String {
    let files = raw_list(name, "entries").await;
    assert_eq!(files.len(), 1, "exactly one entry file: {files:?}");
    assert!(!files[0].ends_with('/'), "{files:?}");
    files.into_iter().next().unwrap()
}

/// The bytes of file `file` in `sub` of store `name`, read behind the store's back.
async fn raw_read(name: &str, sub: &str, file: &str) -> Vec<u8> {
    Uint8Array::new(&done(rawRead(name, sub, file)).await).to_vec()
}

/// Whether a readwrite synchronous access handle on entry file `file` can be had now
/// (`"ok"`), else the name of the DOMException that refused it: it is refused while any
/// other handle holds the file.
async fn try_write_handle(name: &str, file: &str) -> String {
    done(rawTryWriteHandle(name, file)).await.as_string().unwrap()
}

/// A cache over the OPFS store `name` with no memory tier: every read goes to the files.
async fn store_only_cache(name: &str) -> Cache<WebStore, ManualClock> {
    Cache::new(
        WebStore::open(name, OPFS).await.unwrap(),
        ManualClock::new(0),
        Config::new().memory_budget(0),
    )
    .unwrap()
}

/// `n` pseudo-random floats from `seed`, as a 1-dimensional array.
fn floats(n: usize, seed: u64) -> Value {
    let mut rng = Rng(seed);
    Value::array((0..n).map(|_| rng.centered()).collect::<Vec<f32>>(), &[n]).unwrap()
}

/// Asserts that `cache` has `key` in the store and that it reads back as exactly `want`.
async fn assert_reads_back(cache: &Cache<WebStore, ManualClock>, key: &Key, want: &Value, what: &str) {
    let hit = cache
        .get(key)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{what}: a miss"));
    assert_eq!(hit.source, Source::Store, "{what}");
    assert_eq!(hit.value.shape(), want.shape(), "{what}");
    assert!(hit.value.data()[..] == want.data()[..], "{what}: other bytes");
}

/// Every kind of damage to an entry file on disk (emptied, cut in half, a payload or a
/// header byte flipped, bytes appended) makes the entry a miss, not wrong bytes, and the
/// read removes the file, so that a new put of the key works; a large entry damaged in
/// its last 4 MiB piece too.
#[wasm_bindgen_test]
async fn damaged_entry_files_are_a_miss_and_removed() {
    let name = unique();
    let cache = store_only_cache(&name).await;
    let key = Key::of("s").arg("n", 1).build().unwrap();
    let small = floats(16 << 10, 7);
    let large = floats(6 << 18, 11);
    let cases = [
        ("empty", &small),
        ("half", &small),
        ("payload", &small),
        ("header", &small),
        ("append", &small),
        ("payload", &large),
        ("half", &large),
    ];
    for (how, value) in cases {
        let what = format!("{how}, {} bytes", value.data().len());
        cache.put(&key, value.clone()).await.unwrap();
        let file = only_entry_file(&name).await;
        let before = raw_read(&name, "entries", &file).await;
        done(rawDamage(&name, &file, how)).await;
        assert_ne!(raw_read(&name, "entries", &file).await, before, "{what}: damaged");
        let removed = cache.stats().await.unwrap().corrupt_removed;
        assert!(cache.get(&key).await.unwrap().is_none(), "{what}: a miss");
        assert!(
            raw_list(&name, "entries").await.is_empty(),
            "{what}: the file was removed"
        );
        assert!(
            cache.stats().await.unwrap().corrupt_removed > removed,
            "{what}: counted"
        );
        cache.put(&key, value.clone()).await.unwrap();
        assert_reads_back(&cache, &key, value, &what).await;
        assert_eq!(only_entry_file(&name).await, file, "{what}: the same file again");
    }
}

/// A directory (with a file in it) where an entry file should be is a damaged entry: a get
/// is a miss and removes it, an invalidation removes it, and a put replaces it and reads
/// back exactly; other keys are untouched.
#[wasm_bindgen_test]
async fn a_directory_in_place_of_an_entry_file_is_damage_and_goes() {
    let name = unique();
    let cache = store_only_cache(&name).await;
    let key = Key::of("s").arg("n", 1).build().unwrap();
    let other = Key::of("s").arg("n", 2).build().unwrap();
    let value = floats(1000, 3);
    cache.put(&key, value.clone()).await.unwrap();
    let file = only_entry_file(&name).await;
    cache.put(&other, value.clone()).await.unwrap();
    let into_directory = || async {
        if raw_list(&name, "entries").await.contains(&file) {
            done(rawRemove(&name, "entries", &file)).await;
        }
        done(rawMakeDir(&name, "entries", &file)).await;
        assert!(raw_list(&name, "entries").await.contains(&format!("{file}/")));
    };

    into_directory().await;
    assert!(cache.get(&key).await.unwrap().is_none(), "a directory read as an entry");
    assert!(
        !raw_list(&name, "entries").await.contains(&format!("{file}/")),
        "the get removed it"
    );

    into_directory().await;
    cache.invalidate(&key).await.unwrap();
    assert!(
        !raw_list(&name, "entries").await.contains(&format!("{file}/")),
        "the invalidation removed it"
    );

    into_directory().await;
    let again = floats(1000, 4);
    cache.put(&key, again.clone()).await.unwrap();
    assert_reads_back(&cache, &key, &again, "a put over a directory").await;
    assert!(raw_list(&name, "tmp").await.is_empty(), "the put left nothing behind");
    assert_reads_back(&cache, &other, &value, "another key").await;
}

/// A connection keeps the handles of entry files it read, for its next reads; none of
/// them hides what was done to the file since: a new version put through another handle
/// is read, a file removed elsewhere is a miss (not damage), and a directory put in its
/// place is damage and goes.
#[wasm_bindgen_test]
async fn kept_file_handles_see_what_was_done_since() {
    let name = unique();
    let cache = store_only_cache(&name).await;
    let elsewhere = store_only_cache(&name).await;
    let key = Key::of("s").arg("n", 1).build().unwrap();
    let first = floats(1000, 5);
    cache.put(&key, first.clone()).await.unwrap();
    assert_reads_back(&cache, &key, &first, "the first version").await;

    let second = floats(3000, 6);
    elsewhere.put(&key, second.clone()).await.unwrap();
    assert_reads_back(&cache, &key, &second, "a version put elsewhere").await;

    let file = only_entry_file(&name).await;
    done(rawRemove(&name, "entries", &file)).await;
    let removed = cache.stats().await.unwrap().corrupt_removed;
    assert!(cache.get(&key).await.unwrap().is_none(), "a file removed elsewhere");
    assert_eq!(
        cache.stats().await.unwrap().corrupt_removed,
        removed,
        "a removed file is a miss, not damage"
    );

    elsewhere.put(&key, first.clone()).await.unwrap();
    assert_reads_back(&cache, &key, &first, "put again elsewhere").await;
    done(rawRemove(&name, "entries", &file)).await;
    done(rawMakeDir(&name, "entries", &file)).await;
    assert!(cache.get(&key).await.unwrap().is_none(), "a directory read as an entry");
    assert!(
        !raw_list(&name, "entries").await.contains(&format!("{file}/")),
        "the get removed the directory"
    );
    cache.put(&key, second.clone()).await.unwrap();
    assert_reads_back(&cache, &key, &second, "a put after the directory went").await;
}

/// Writes `line` to the console (shown with the test's output).
fn log(line: &str) {
    wasm_bindgen_test::console_log!("{line}");
}

/// A read holds its file only while it copies it: after a get from the store, a region
/// read, and a store read of a damaged file, a readwrite access handle (refused while any
/// other handle is open) can be had at once.
#[wasm_bindgen_test]
async fn reads_release_their_files() {
    let name = unique();
    let cache = store_only_cache(&name).await;
    let key = Key::of("s").arg("n", 1).build().unwrap();
    let value = floats(1 << 20, 5);
    cache.put(&key, value.clone()).await.unwrap();
    let file = only_entry_file(&name).await;
    // The check can fail: a held file refuses the handle.
    let held = done(rawHold(&name, &file, "read-only", 100)).await;
    assert_eq!(try_write_handle(&name, &file).await, "NoModificationAllowedError");
    done(Promise::from(Array::from(&held).get(0))).await;

    assert_reads_back(&cache, &key, &value, "a whole get").await;
    assert_eq!(try_write_handle(&name, &file).await, "ok", "after a get");

    let region = 1000..1010u64;
    let hit = cache
        .get_region(&key, core::slice::from_ref(&region))
        .await
        .unwrap()
        .expect("a region hit");
    assert_eq!(hit.source, Source::Store);
    assert_eq!(
        hit.value.to_vec::<f32>().unwrap(),
        value.to_vec::<f32>().unwrap()[1000..1010]
    );
    assert_eq!(try_write_handle(&name, &file).await, "ok", "after a region read");

    done(rawDamage(&name, &file, "payload")).await;
    let bytes = cache
        .store()
        .get(key.fingerprint())
        .await
        .unwrap()
        .expect("the file is there");
    assert_eq!(bytes.as_ref().len(), raw_read(&name, "entries", &file).await.len());
    assert_eq!(
        try_write_handle(&name, &file).await,
        "ok",
        "after a read of a damaged file"
    );
    // The engine's read of it finds the damage and removes the file: it holds no handle.
    assert!(cache.get(&key).await.unwrap().is_none());
    assert!(raw_list(&name, "entries").await.is_empty());
}

/// A put or a removal that finds a reader holding the entry file waits until it lets go,
/// then goes through: the new value reads back exactly, the removed entry is gone.
#[wasm_bindgen_test]
async fn puts_and_removals_wait_for_a_reader() {
    const HOLD_MS: u32 = 300;
    let name = unique();
    let cache = store_only_cache(&name).await;
    let key = Key::of("s").arg("n", 1).build().unwrap();
    cache.put(&key, floats(4096, 1)).await.unwrap();
    let file = only_entry_file(&name).await;

    let newer = floats(4096, 2);
    let began = js_sys::Date::now();
    let held = done(rawHold(&name, &file, "read-only", HOLD_MS)).await;
    cache.put(&key, newer.clone()).await.unwrap();
    let put_end = js_sys::Date::now();
    let released = done(Promise::from(Array::from(&held).get(0))).await.as_f64().unwrap();
    log(&format!(
        "the put took {} ms behind a {HOLD_MS} ms read",
        put_end - began
    ));
    assert!(put_end >= released, "the put ended after the reader let go");
    assert_reads_back(&cache, &key, &newer, "the put behind a reader").await;
    assert_eq!(only_entry_file(&name).await, file);
    assert!(raw_list(&name, "tmp").await.is_empty(), "the put's file was moved");

    let began = js_sys::Date::now();
    let held = done(rawHold(&name, &file, "read-only", HOLD_MS)).await;
    cache.invalidate(&key).await.unwrap();
    let remove_end = js_sys::Date::now();
    let released = done(Promise::from(Array::from(&held).get(0))).await.as_f64().unwrap();
    log(&format!(
        "the removal took {} ms behind a {HOLD_MS} ms read",
        remove_end - began
    ));
    assert!(remove_end >= released, "the removal ended after the reader let go");
    assert!(raw_list(&name, "entries").await.is_empty(), "the file was removed");
    assert!(cache.get(&key).await.unwrap().is_none());
}

/// A read that finds the entry file locked (a readwrite handle here; a move holds it so for
/// a moment) waits until it is free, then reads the value exactly: never an error.
#[wasm_bindgen_test]
async fn reads_wait_for_a_locked_file() {
    const HOLD_MS: u32 = 300;
    let name = unique();
    let cache = store_only_cache(&name).await;
    let key = Key::of("s").arg("n", 1).build().unwrap();
    let value = floats(4096, 1);
    cache.put(&key, value.clone()).await.unwrap();
    let file = only_entry_file(&name).await;
    let held = done(rawHold(&name, &file, "readwrite", HOLD_MS)).await;
    // The check can fail: the file really is locked to readers now.
    assert_eq!(try_write_handle(&name, &file).await, "NoModificationAllowedError");
    assert_reads_back(&cache, &key, &value, "a read behind a locked file").await;
    let released = done(Promise::from(Array::from(&held).get(0))).await.as_f64().unwrap();
    assert!(
        js_sys::Date::now() >= released,
        "the read ended after the file was let go"
    );
}

/// Files of puts that never finished are never entries: listing removes those over
/// 10 minutes old (dead puts) and keeps younger ones (puts in progress) and files it did
/// not write; a file in `entries/` whose name is not a key's hex is neither listed nor
/// removed.
#[wasm_bindgen_test]
async fn unfinished_puts_are_invisible_and_cleaned_up() {
    let name = unique();
    let cache = store_only_cache(&name).await;
    let (stored, lost) = (
        Key::of("s").arg("n", 1).build().unwrap(),
        Key::of("s").arg("n", 2).build().unwrap(),
    );
    // The whole bytes of an entry for `lost`, then no entry of it.
    cache.put(&lost, floats(5000, 9)).await.unwrap();
    let lost_hex = only_entry_file(&name).await;
    let lost_bytes = raw_read(&name, "entries", &lost_hex).await;
    cache.invalidate(&lost).await.unwrap();
    let value = floats(5000, 8);
    cache.put(&stored, value.clone()).await.unwrap();
    let stored_hex = only_entry_file(&name).await;

    let now = js_sys::Date::now() as u64;
    let dead = format!("{lost_hex}.{}.abc", now - 11 * 60 * 1000);
    let dead_partial = format!("{lost_hex}.{}.def", now - 11 * 60 * 1000);
    let young = format!("{lost_hex}.{now}.abc");
    let foreign = "notes.txt";
    let half = &lost_bytes[..lost_bytes.len() / 2];
    let stray = [
        (dead.as_str(), &lost_bytes[..]),
        (dead_partial.as_str(), half),
        (young.as_str(), half),
        (foreign, half),
    ];
    for (file, bytes) in stray {
        done(rawWrite(&name, "tmp", file, bytes)).await;
    }
    let not_keys = [
        format!("{lost_hex}.bak"),
        lost_hex[..63].to_owned(),
        lost_hex.to_uppercase(),
        "README".to_owned(),
    ];
    for file in &not_keys {
        done(rawWrite(&name, "entries", file, &lost_bytes)).await;
    }

    let fresh = store_only_cache(&name).await;
    assert!(
        fresh.get(&lost).await.unwrap().is_none(),
        "no entry from tmp/ or a foreign name"
    );
    let listed = fresh.entries().await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(&listed[0].fingerprint, stored.fingerprint());
    let store_listed = fresh.store().list().await.unwrap();
    assert_eq!(store_listed.len(), 1);
    assert_eq!(&store_listed[0].id, stored.fingerprint());

    let mut want_tmp = vec![foreign.to_owned(), young];
    want_tmp.sort();
    assert_eq!(
        raw_list(&name, "tmp").await,
        want_tmp,
        "dead puts removed, the rest kept"
    );
    let mut want_entries = not_keys.to_vec();
    want_entries.push(stored_hex);
    want_entries.sort();
    assert_eq!(raw_list(&name, "entries").await, want_entries, "foreign names kept");
    assert!(fresh.get(&lost).await.unwrap().is_none());
    assert_reads_back(&fresh, &stored, &value, "the real entry").await;
}

/// The counters as a number: `None` is 0.
fn count_of(bytes: Option<&[u8]>) -> u64 {
    bytes.map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap()))
}

/// Counter updates from two handles on one store, all at once, each reading the count
/// and writing it plus one: the Web Lock runs them one at a time, so none is lost.
#[wasm_bindgen_test]
async fn counter_updates_from_two_handles_add_up() {
    let name = unique();
    let handles = [
        Rc::new(WebStore::open(&name, OPFS).await.unwrap()),
        Rc::new(WebStore::open(&name, OPFS).await.unwrap()),
    ];
    let updates = Array::new();
    for _ in 0..20 {
        for handle in &handles {
            let handle = Rc::clone(handle);
            updates.push(&future_to_promise(async move {
                handle
                    .update_counters(|old| (count_of(old) + 1).to_le_bytes().to_vec())
                    .await
                    .map_err(|e| JsValue::from_str(&e.to_string()))?;
                Ok(JsValue::UNDEFINED)
            }));
        }
    }
    JsFuture::from(Promise::all(&updates)).await.unwrap();
    let third = WebStore::open(&name, OPFS).await.unwrap();
    assert_eq!(count_of(third.load_counters().await.unwrap().as_deref()), 40);
    assert_eq!(raw_read(&name, "", "counters").await, 40u64.to_le_bytes());
    assert!(raw_list(&name, "tmp").await.is_empty(), "every update's file was moved");
}

/// OPFS is available in a dedicated worker, and deleting a store removes its directory:
/// opened again, it is empty.
#[wasm_bindgen_test]
async fn delete_removes_the_store_directory() {
    assert!(stepcache_opfs::available().await);
    let name = unique();
    let cache = store_only_cache(&name).await;
    let key = Key::of("s").arg("n", 1).build().unwrap();
    cache.put(&key, floats(1000, 1)).await.unwrap();
    only_entry_file(&name).await;
    WebStore::delete(&name, OPFS).await.unwrap();
    assert!(
        !done(rawStoreExists(&name)).await.as_bool().unwrap(),
        "the directory is gone"
    );
    let reopened = store_only_cache(&name).await;
    assert!(reopened.store().list().await.unwrap().is_empty());
    assert!(reopened.get(&key).await.unwrap().is_none());
    assert!(raw_list(&name, "entries").await.is_empty());
    // Deleting a store that is not there is no error.
    WebStore::delete(&name, OPFS).await.unwrap();
    WebStore::delete(&unique(), OPFS).await.unwrap();
}
