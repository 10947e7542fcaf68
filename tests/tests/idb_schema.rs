//! IndexedDB specifics in headless Chromium: schema upgrades by others, blocked requests,
//! foreign databases and damaged records.
#![cfg(target_family = "wasm")]
#![allow(clippy::unwrap_used)] // tests report failures by panicking

use stepcache_core::{Cache, Config, EntryState, ErrorKind, Key, ManualClock, Store, Value};
use stepcache_idb::IdbStore;
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
export function closeDb(db) { db.close(); }
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
    fn closeDb(db: &JsValue);
    fn rawCount(db: &JsValue, store: &str) -> js_sys::Promise;
}

fn unique(prefix: &str) -> String {
    format!("stepcache-{prefix}-{}", js_sys::Math::random().to_bits())
}

/// A cache over the IndexedDB database `name` with no memory tier: every read goes to
/// IndexedDB.
async fn store_only_cache(name: &str) -> Cache<IdbStore, ManualClock> {
    Cache::new(
        IdbStore::open(name).await.unwrap(),
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
    let store = IdbStore::open(&name).await.unwrap();
    let id = *Key::of("s").build().unwrap().fingerprint();
    store.put(&id, &[b"x"]).await.unwrap();
    let newer = JsFuture::from(rawOpen(&name, 2, false))
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
    IdbStore::open(&name).await.unwrap().close();
    let other = JsFuture::from(rawOpen(&name, 1, false)).await.unwrap();
    let err = IdbStore::delete_database(&name).await.unwrap_err();
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
    let err = IdbStore::open(&name).await.unwrap_err();
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
    let raw = JsFuture::from(rawOpen(&name, 1, true)).await.unwrap();
    JsFuture::from(rawPut(
        &raw,
        "entries",
        &a.fingerprint().to_hex(),
        &JsValue::from_str("not bytes"),
    ))
    .await
    .unwrap();
    let garbage = js_sys::Uint8Array::from(&[7u8; 300][..]);
    JsFuture::from(rawPut(&raw, "entries", &b.fingerprint().to_hex(), &garbage))
        .await
        .unwrap();
    closeDb(&raw);
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
    let raw = JsFuture::from(rawOpen(name, 1, true)).await.unwrap();
    let count = JsFuture::from(rawCount(&raw, "entries")).await.unwrap();
    closeDb(&raw);
    count.as_f64().unwrap()
}

/// Writing an entry again with fewer or more 4 MiB chunks leaves exactly its own chunks:
/// a put deletes only the chunks beyond its own count, and overwrites the rest.
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
        store.put(&id, &[&bytes]).await.unwrap();
        assert_eq!(entry_records(&name).await, records, "{len} bytes");
        assert_eq!(store.get(&id).await.unwrap().unwrap().as_ref(), &bytes[..]);
    }
}

/// `has` and `status` read an entry's head record only, not its 4 MiB chunks: with a
/// payload chunk damaged behind the cache's back they still see the entry, which only a
/// get (which reads, verifies and removes it) finds damaged.
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
    let raw = JsFuture::from(rawOpen(&name, 1, true)).await.unwrap();
    let garbage = js_sys::Uint8Array::from(&[7u8; 300][..]);
    let second_chunk = format!("{}:0001", key.fingerprint().to_hex());
    JsFuture::from(rawPut(&raw, "entries", &second_chunk, &garbage))
        .await
        .unwrap();
    closeDb(&raw);
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
