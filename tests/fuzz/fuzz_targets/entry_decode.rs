//! Any bytes as an entry: decoding never panics, and the engine returns a miss (removing
//! the entry) unless the bytes are a valid entry of that very key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stepcache_core::entry::{self, Head};
use stepcache_core::{Cache, Config, Key, ManualClock, MemoryStore, Store};

fuzz_target!(|data: &[u8]| {
    let key = Key::of("fuzz").build().expect("a valid key");
    let _ = entry::decode_head(data);
    let decoded = entry::decode(data, key.fingerprint());
    if let Ok((header, payload)) = &decoded {
        // Accepted bytes are consistent with themselves.
        assert_eq!(header.key, *key.fingerprint());
        assert_eq!(payload.end, data.len());
        assert!(matches!(entry::decode_head(data), Ok(Head::Complete(..))));
    }
    pollster::block_on(async {
        let store = MemoryStore::new();
        store
            .put_entry(key.fingerprint(), &stepcache_core::entry::EntryWriter::verbatim(data))
            .await
            .expect("memory put");
        let cache = Cache::new(store, ManualClock::new(0), Config::new()).expect("config");
        let got = cache.get(&key).await.expect("a get never fails on bad bytes");
        assert_eq!(got.is_some(), decoded.is_ok(), "hit exactly when the bytes are a valid entry");
        if got.is_none() {
            assert!(cache.store().get(key.fingerprint()).await.expect("get").is_none(), "damage is removed");
        }
        let _ = cache.stats().await.expect("stats after damage");
    });
});
