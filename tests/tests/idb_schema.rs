//! IndexedDB specifics in headless Chromium: schema upgrades by others, blocked requests,
//! foreign databases and damaged records.
#![cfg(target_family = "wasm")]
#![allow(clippy::unwrap_used)] // tests report failures by panicking

use stepcache_core::entry::EntryWriter;
use stepcache_core::{Cache, Config, EntryState, ErrorKind, Key, ManualClock, Store, Value};
use stepcache_idb::{INDEXED_DB, SCHEMA_VERSION, WebStore};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(inline_js = r#"
export function rawOpen(name, version, makeStores) {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(name, version);
    request.onupgradeneeded = () => { if (makeStores) { request.result.createObjectStore("entries"); request.result.createObjectStore("heads"); } };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
    request.onblocked = () => reject(new Error("blocked"));
    setTimeout(() => reject(new Error("timed out")), 5000);
  });
}
export function rawPut(db, store, key, value) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction([store], "readwrite");
    tx.objectStore(store).put(value, key);
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
}
export function rawDelete(db, store, key) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction([store], "readwrite");
    tx.objectStore(store).delete(key);
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
}
export function rawKeys(db, store) {
  return new Promise((resolve, reject) => {
    const request = db.transaction([store], "readonly").objectStore(store).getAllKeys();
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}
export function closeDb(db) { db.close(); }
export function holdLock(name) {
  return new Promise((granted) => navigator.locks.request(name, () => new Promise((release) => granted(release))));
}
export function rawCount(db, store) {
  return new Promise((resolve, reject) => {
    const request = db.transaction([store], "readonly").objectStore(store).count();
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}
"#)]
extern "C" {
    fn rawOpen(name: &str, version: u32, make_stores: bool) -> js_sys::Promise;
    fn rawPut(db: &JsValue, store: &str, key: &str, value: &JsValue) -> js_sys::Promise;
    fn rawDelete(db: &JsValue, store: &str, key: &str) -> js_sys::Promise;
    fn rawKeys(db: &JsValue, store: &str) -> js_sys::Promise;
    fn closeDb(db: &JsValue);
    fn holdLock(name: &str) -> js_sys::Promise;
    fn rawCount(db: &JsValue, store: &str) -> js_sys::Promise;
}

/// The database `name` opened raw, at the current schema version.
async fn raw(name: &str) -> JsValue {
    JsFuture::from(rawOpen(name, SCHEMA_VERSION, true)).await.unwrap()
}

/// The record keys of `store` in database `name` that begin with `prefix`.
async fn keys_of(name: &str, store: &str, prefix: &str) -> Vec<String> {
    let db = raw(name).await;
    let keys = js_sys::Array::from(&JsFuture::from(rawKeys(&db, store)).await.unwrap());
    closeDb(&db);
    keys.iter()
        .filter_map(|k| k.as_string())
        .filter(|k| k.starts_with(prefix))
        .collect()
}

/// Puts `value` under `key` in `store` of database `name`, behind the cache's back.
async fn put_raw(name: &str, store: &str, key: &str, value: &JsValue) {
    let db = raw(name).await;
    JsFuture::from(rawPut(&db, store, key, value)).await.unwrap();
    closeDb(&db);
}

/// Deletes `key` from `store` of database `name`, behind the cache's back.
async fn delete_raw(name: &str, store: &str, key: &str) {
    let db = raw(name).await;
    JsFuture::from(rawDelete(&db, store, key)).await.unwrap();
    closeDb(&db);
}

fn unique(prefix: &str) -> String {
    format!("stepcache-{prefix}-{}", js_sys::Math::random().to_bits())
}

/// A cache over the IndexedDB database `name` with no memory tier: every read goes to
/// IndexedDB.
async fn store_only_cache(name: &str) -> Cache<WebStore, ManualClock> {
    Cache::new(
        WebStore::open(name, INDEXED_DB).await.unwrap(),
        ManualClock::new(0),
        Config::new().memory_budget(0),
    )
    .unwrap()
}

/// Our open connection closes itself when another tab upgrades the database, so the
/// upgrade is never blocked; our next call then fails with a clear message.
#[wasm_bindgen_test]
async fn an_upgrade_elsewhere_is_not_blocked_and_is_reported() {
    let name = unique("upgrade");
    let store = WebStore::open(&name, INDEXED_DB).await.unwrap();
    let id = *Key::of("s").build().unwrap().fingerprint();
    store.put_entry(&id, &EntryWriter::verbatim(b"x")).await.unwrap();
    let newer = JsFuture::from(rawOpen(&name, SCHEMA_VERSION + 1, false))
        .await
        .expect("the upgrade went through, not blocked");
    closeDb(&newer);
    let err = store.get(&id).await.unwrap_err();
    assert!(err.message().contains("newer stepcache"), "{err}");
}

/// A delete blocked by someone's open connection is a Blocked error, not a hang.
#[wasm_bindgen_test]
async fn a_blocked_request_is_a_clear_error() {
    let name = unique("blocked");
    WebStore::open(&name, INDEXED_DB).await.unwrap().close();
    let other = JsFuture::from(rawOpen(&name, SCHEMA_VERSION, false)).await.unwrap();
    let err = WebStore::delete(&name, INDEXED_DB).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Blocked, "{err}");
    assert!(err.message().contains("another tab"), "{err}");
    closeDb(&other);
}

/// A database of the same name made by someone else is refused with a clear error.
#[wasm_bindgen_test]
async fn a_foreign_database_is_refused() {
    let name = unique("foreign");
    let db = JsFuture::from(rawOpen(&name, 1, false)).await.unwrap();
    closeDb(&db);
    let err = WebStore::open(&name, INDEXED_DB).await.unwrap_err();
    assert!(err.message().contains("not a stepcache database"), "{err}");
}

/// A record that is not bytes, or bytes that are not an entry, is a clean miss and is removed.
#[wasm_bindgen_test]
async fn a_damaged_record_is_a_clean_miss() {
    let name = unique("damaged");
    let cache = store_only_cache(&name).await;
    let (a, b) = (
        Key::of("s").arg("n", 1).build().unwrap(),
        Key::of("s").arg("n", 2).build().unwrap(),
    );
    let value = Value::array(vec![1.0f32; 64], &[64]).unwrap();
    cache.put(&a, value.clone()).await.unwrap();
    cache.put(&b, value.clone()).await.unwrap();
    let not_bytes = JsValue::from_str("not bytes");
    put_raw(&name, "entries", &chunk_key(&name, &a, 0).await, &not_bytes).await;
    let garbage = js_sys::Uint8Array::from(&[7u8; 300][..]);
    put_raw(&name, "entries", &chunk_key(&name, &b, 0).await, &garbage).await;
    assert!(cache.get(&a).await.unwrap().is_none());
    assert!(cache.get(&b).await.unwrap().is_none());
    assert_eq!(cache.stats().await.unwrap().corrupt_removed, 2);
    assert!(
        cache.store().get(a.fingerprint()).await.unwrap().is_none(),
        "the damaged record was removed"
    );
}

/// How many records the `entries` store of database `name` holds.
async fn entry_records(name: &str) -> f64 {
    let raw = raw(name).await;
    let count = JsFuture::from(rawCount(&raw, "entries")).await.unwrap();
    closeDb(&raw);
    count.as_f64().unwrap()
}

/// Writing an entry again with fewer or more 4 MiB chunks leaves exactly its own chunks:
/// a put removes the previous version's chunks in the transaction that makes its own
/// the entry.
#[wasm_bindgen_test]
async fn a_rewritten_entry_keeps_exactly_its_own_chunks() {
    const MIB: usize = 1 << 20;
    let name = unique("rechunk");
    let cache = store_only_cache(&name).await;
    let key = Key::of("s").arg("n", 1).build().unwrap();
    // Floats of 9, 5, 0.001, 13 and 9 MiB: 3, 2, 1, 4 and 3 records (the first holds the header).
    for (mib, records, fill) in [
        (9.0, 3.0, 1.0f32),
        (5.0, 2.0, 2.0),
        (0.001, 1.0, 3.0),
        (13.0, 4.0, 4.0),
        (9.0, 3.0, 5.0),
    ] {
        let n = ((mib * MIB as f64) as usize / 4).max(1);
        cache
            .put(&key, Value::array(vec![fill; n], &[n]).unwrap())
            .await
            .unwrap();
        assert_eq!(entry_records(&name).await, records, "{mib} MiB");
        let hit = cache.get(&key).await.unwrap().expect("the rewritten entry reads back");
        let floats: &[u8] = hit.value.data();
        assert_eq!(floats.len(), n * 4, "{mib} MiB");
        assert!(
            floats.chunks_exact(4).all(|f| f == fill.to_le_bytes()),
            "{mib} MiB: only the new data"
        );
    }
    // Through the store's own put of raw parts too (entries of one record and of many).
    let id = *Key::of("raw").build().unwrap().fingerprint();
    let store = cache.store();
    // Plus the 3 records of the cache's entry above.
    for (len, records) in [(10 * MIB, 6.0), (100, 4.0), (5 * MIB, 5.0)] {
        let bytes = vec![len as u8; len];
        store.put_entry(&id, &EntryWriter::verbatim(&bytes)).await.unwrap();
        assert_eq!(entry_records(&name).await, records, "{len} bytes");
        assert_eq!(store.get(&id).await.unwrap().unwrap().as_ref(), &bytes[..]);
    }
}

/// `has` and `status` read an entry's listing record and chunk keys only, not its 4 MiB
/// chunks: with a payload chunk damaged behind the cache's back they still see the entry,
/// which only a get (which reads, verifies and removes it) finds damaged.
#[wasm_bindgen_test]
async fn has_and_status_read_only_the_head_record() {
    let name = unique("heads");
    let cache = store_only_cache(&name).await;
    let key = Key::of("s").arg("n", 1).build().unwrap();
    let n = (9 << 20) / 4;
    cache
        .put(&key, Value::array(vec![1.5f32; n], &[n]).unwrap())
        .await
        .unwrap();
    let garbage = js_sys::Uint8Array::from(&[7u8; 300][..]);
    put_raw(&name, "entries", &chunk_key(&name, &key, 1).await, &garbage).await;
    assert!(cache.has(&key).await.unwrap(), "has() read the head only");
    let status = cache.status(core::slice::from_ref(&key)).await.unwrap();
    assert_eq!(status[0].state, EntryState::Stored);
    assert!(cache.get(&key).await.unwrap().is_none(), "a get verifies the payload");
    assert!(!cache.has(&key).await.unwrap(), "the get removed the damaged entry");
    assert_eq!(
        cache.status(core::slice::from_ref(&key)).await.unwrap()[0].state,
        EntryState::Missing
    );
}

/// The generation of the chunks of `key` in database `name` (of the first, if several).
async fn generation_of(name: &str, key: &Key) -> u64 {
    let chunks = keys_of(name, "entries", &key.fingerprint().to_hex()).await;
    chunks[0].split(':').nth(1).unwrap().parse().unwrap()
}

/// The record key of chunk `i` of `key` in database `name`.
async fn chunk_key(name: &str, key: &Key, i: usize) -> String {
    let generation = generation_of(name, key).await;
    format!("{}:{generation}:{i:04}", key.fingerprint().to_hex())
}

/// A cache with one entry of `mib` MiB of bytes `fill` under a fresh key.
async fn one_entry(name: &str, mib: usize, fill: u8) -> (Cache<WebStore, ManualClock>, Key) {
    let cache = store_only_cache(name).await;
    let key = Key::of("s").arg("n", 1).build().unwrap();
    let value = Value::bytes(vec![fill; (mib << 20).max(100)]);
    cache.put(&key, value).await.unwrap();
    (cache, key)
}

/// An entry whose listing record is gone is a miss, not bytes: `has` and `get` agree, and
/// whichever comes first removes its chunks as a whole.
#[wasm_bindgen_test]
async fn chunks_without_their_listing_record_are_a_miss_and_removed() {
    for get_first in [true, false] {
        let name = unique("nohead");
        let (cache, key) = one_entry(&name, 9, 1).await;
        let hex = key.fingerprint().to_hex();
        delete_raw(&name, "heads", &hex).await;
        if get_first {
            assert!(cache.get(&key).await.unwrap().is_none());
            assert_eq!(cache.stats().await.unwrap().corrupt_removed, 1);
        }
        assert!(!cache.has(&key).await.unwrap());
        assert!(cache.get(&key).await.unwrap().is_none());
        assert!(keys_of(&name, "entries", &hex).await.is_empty(), "every chunk went");
    }
}

/// A listing record whose chunks are gone (all, or some) is not listed: `has` is false
/// and the record itself is removed.
#[wasm_bindgen_test]
async fn a_listing_record_without_its_chunks_is_not_listed_and_removed() {
    for lost in [&[0usize][..], &[1], &[0, 1, 2]] {
        let name = unique("nochunks");
        let (cache, key) = one_entry(&name, 9, 1).await;
        let hex = key.fingerprint().to_hex();
        let chunks = keys_of(&name, "entries", &hex).await;
        assert_eq!(chunks.len(), 3);
        for i in lost {
            delete_raw(&name, "entries", &chunks[*i]).await;
        }
        assert!(!cache.has(&key).await.unwrap(), "chunks {lost:?} lost");
        assert!(cache.entries().await.unwrap().is_empty(), "chunks {lost:?} lost");
        assert!(keys_of(&name, "heads", &hex).await.is_empty(), "chunks {lost:?} lost");
        assert!(keys_of(&name, "entries", &hex).await.is_empty(), "chunks {lost:?} lost");
        assert!(cache.get(&key).await.unwrap().is_none());
    }
}

/// Chunks no listing record names are removed when the store is listed: a superseded
/// version's (chunk 0 present) at once, a dead put's (no chunk 0) once it is 10 minutes
/// old; a put in progress (young, no chunk 0) keeps its chunks. The entry stays whole,
/// and reads whole before the listing too.
#[wasm_bindgen_test]
async fn chunks_no_listing_record_names_are_removed() {
    let name = unique("orphans");
    let (cache, key) = one_entry(&name, 5, 1).await;
    let hex = key.fingerprint().to_hex();
    let current = generation_of(&name, &key).await;
    let now = js_sys::Date::now() as u64;
    let garbage = js_sys::Uint8Array::from(&[7u8; 300][..]);
    let superseded = format!("{hex}:{}:0000", current - 1);
    let dead = format!("{hex}:{}:0001", (now - 11 * 60 * 1000) << 20);
    let in_progress = format!("{hex}:{}:0001", now << 20);
    for orphan in [&superseded, &dead, &in_progress] {
        put_raw(&name, "entries", orphan, &garbage).await;
    }
    // Before listing removes them: the superseded version's chunk 0 comes first in key
    // order, and a read takes the entry's own chunk 0, not the first it finds.
    let hit = cache.get(&key).await.unwrap().expect("read past a superseded chunk 0");
    assert!(hit.value.data().iter().all(|b| *b == 1));
    assert_eq!(cache.entries().await.unwrap().len(), 1);
    let left = keys_of(&name, "entries", &hex).await;
    assert!(!left.contains(&superseded) && !left.contains(&dead), "{left:?}");
    assert!(left.contains(&in_progress), "{left:?}");
    assert_eq!(
        left.len(),
        3,
        "the entry's two chunks and the put in progress: {left:?}"
    );
    let hit = cache.get(&key).await.unwrap().expect("the entry is whole");
    assert!(hit.value.data().iter().all(|b| *b == 1));
}

/// A put of several transactions marks its chunks with its connection's owner id: once
/// that connection is gone (its Web Lock let go), listing removes the chunks and the mark
/// at once; while it holds its lock, they stay. A mark whose chunks are gone goes too.
#[wasm_bindgen_test]
async fn a_dead_connections_put_is_removed_at_once() {
    let name = unique("dead-put");
    let (cache, key) = one_entry(&name, 5, 1).await;
    let hex = key.fingerprint().to_hex();
    let now = js_sys::Date::now() as u64;
    let garbage = js_sys::Uint8Array::from(&[7u8; 300][..]);
    let alive = JsFuture::from(holdLock(&format!("stepcache-idb:{name}:owner:alive")))
        .await
        .unwrap();
    let [gone_put, alive_put, lost_put] = [1, 2, 3].map(|n| (now << 20) | n);
    let mark = |generation: u64, owner: &str| format!("put:{hex}:{generation}:{owner}");
    for (generation, owner) in [(gone_put, "gone"), (alive_put, "alive")] {
        put_raw(&name, "entries", &format!("{hex}:{generation}:0001"), &garbage).await;
        put_raw(&name, "heads", &mark(generation, owner), &JsValue::from_str("")).await;
    }
    put_raw(&name, "heads", &mark(lost_put, "alive"), &JsValue::from_str("")).await;
    assert_eq!(cache.entries().await.unwrap().len(), 1);
    let chunks = keys_of(&name, "entries", &hex).await;
    assert!(!chunks.iter().any(|k| k.contains(&gone_put.to_string())), "{chunks:?}");
    assert!(chunks.iter().any(|k| k.contains(&alive_put.to_string())), "{chunks:?}");
    assert_eq!(keys_of(&name, "heads", "put:").await, [mark(alive_put, "alive")]);
    js_sys::Function::from(alive).call0(&JsValue::UNDEFINED).unwrap();
    assert_eq!(cache.entries().await.unwrap().len(), 1);
    assert_eq!(
        keys_of(&name, "entries", &hex).await.len(),
        2,
        "the entry's own chunks only"
    );
    assert!(keys_of(&name, "heads", "put:").await.is_empty());
    let hit = cache.get(&key).await.unwrap().expect("the entry is whole");
    assert!(hit.value.data().iter().all(|b| *b == 1));
}

/// Damage that would make a reader allocate without bound (a listing record claiming a
/// huge length, far more chunk records than the length needs) is a clean, quick miss.
#[wasm_bindgen_test]
async fn a_listing_that_disagrees_with_its_chunks_is_a_clean_miss() {
    let name = unique("records");
    let (cache, key) = one_entry(&name, 1, 1).await;
    let hex = key.fingerprint().to_hex();
    let generation = generation_of(&name, &key).await;
    let piece = js_sys::Uint8Array::from(&[7u8; 16][..]);
    for i in 1..700 {
        put_raw(&name, "entries", &format!("{hex}:{generation}:{i:04}"), &piece).await;
    }
    assert!(cache.get(&key).await.unwrap().is_none());
    assert!(keys_of(&name, "entries", &hex).await.is_empty());
    let (cache, key) = one_entry(&name, 1, 2).await;
    let mut huge = generation.to_le_bytes().to_vec();
    huge.extend_from_slice(&u64::MAX.to_le_bytes());
    put_raw(&name, "heads", &hex, &js_sys::Uint8Array::from(&huge[..])).await;
    assert!(cache.get(&key).await.unwrap().is_none());
    assert!(keys_of(&name, "heads", &hex).await.is_empty());
}

/// An entry larger than Chromium takes in one transaction (about 480 MiB failed) is
/// written in several and reads back whole; the version it replaces leaves nothing.
#[wasm_bindgen_test]
async fn an_entry_larger_than_one_transaction_reads_back() {
    let name = unique("span");
    let (cache, key) = one_entry(&name, 9, 1).await;
    let big = Value::bytes((0..600u32 << 20).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    cache.put(&key, big).await.unwrap();
    let hit = cache.get(&key).await.unwrap().expect("the large entry reads back");
    assert_eq!(hit.value.data().len(), 600 << 20);
    assert!(hit.value.data().iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    assert_eq!(
        entry_records(&name).await,
        151.0,
        "600 MiB and its header in 4 MiB chunks, nothing else"
    );
    assert!(
        keys_of(&name, "heads", "put:").await.is_empty(),
        "the put's mark went in its last transaction"
    );
}

/// The checksums computed in WebAssembly (SIMD128, the crate the browser build uses) are
/// the reference XXH3-128: the v2 fixture written natively decodes, and known vectors of
/// the reference C library match, whole and in pieces.
#[wasm_bindgen_test]
fn checksums_in_wasm_match_the_reference() {
    use stepcache_core::Fingerprint;
    use stepcache_core::entry::{self, PayloadCheck, PayloadHasher};
    let fixture = include_bytes!("../../core/tests/fixtures/entry-v2.bin");
    let key = Fingerprint::from_bytes(core::array::from_fn(|i| i as u8));
    let (header, range) = entry::decode(fixture, &key).expect("the native v2 fixture decodes in wasm");
    assert_eq!(range, 128..144);
    assert_eq!(header.step, "t1_map");
    let data: Vec<u8> = (0..=255u8).cycle().take(1024).collect();
    let want = PayloadCheck::Xxh3(0x83885e853bb6640ca870f92984398d22u128.to_le_bytes());
    assert_eq!(PayloadCheck::of(&data), want);
    let mut pieces = PayloadHasher::new();
    data.chunks(100).for_each(|p| pieces.update(p));
    assert_eq!(pieces.finish(), want);
    let long: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    assert_eq!(
        PayloadCheck::of(&long),
        PayloadCheck::Xxh3(0x70227b16fd5f74ef17a701075a95b432u128.to_le_bytes())
    );
}
