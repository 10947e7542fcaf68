//! A shared tier for the npm package's tests (`adapters/wasm/test/npm.test.mjs`): starts a
//! SeaweedFS server whose bucket anyone may read, writes entries into it with the native
//! cache (as a pipeline on another machine would), prints one JSON line saying where they
//! are, and keeps the server until its standard input closes.
//!
//! Entries, under the prefix `fixture/`: `t1_map {n: 1}` and `{n: 3}` (sealed with a team
//! key), `preview {n: 1}` (a type the tests do not share), `t1_map {n: 2}` with one payload
//! byte flipped in the bucket, and `t1_map {big: 1}` of `MIB` MiB (argument; default 1).
//! Values are `f32` arrays of shape `[len]` whose element `i` is `n * 1000 + i % 1000`.

#[cfg(not(target_family = "wasm"))]
fn main() {
    use std::io::Read;

    use stepcache::{Cache, Key, ObjectConfig, Retention, TypePolicy, Value};
    use stepcache_core::Store;
    use stepcache_core::entry::EntryWriter;
    use stepcache_tests::seaweed::{ACCESS_KEY, BUCKET, SECRET_KEY, Seaweed};
    use stepcache_tests::temp::TempDir;

    let mib: usize = std::env::args()
        .nth(1)
        .map_or(1, |m| m.parse().expect("MIB is a number"));
    let server = Seaweed::start_public("fixture");
    let bucket = ObjectConfig::new(BUCKET)
        .endpoint(&server.endpoint)
        .credentials(ACCESS_KEY, SECRET_KEY)
        .prefix("fixture");
    let open = |dir: &TempDir, secret: Option<&str>| {
        let mut builder = Cache::builder()
            .dir(&dir.0)
            .shared(bucket.clone())
            .policy("t1_map", TypePolicy::new(Retention::Persistent).shared(true))
            .policy("preview", TypePolicy::new(Retention::Persistent).shared(true));
        if let Some(secret) = secret {
            builder = builder.team_key(secret);
        }
        builder.open().expect("open the writer's cache")
    };
    let value = |n: u32, len: usize| {
        let data: Vec<f32> = (0..len).map(|i| (n as usize * 1000 + i % 1000) as f32).collect();
        Value::array(data, &[len]).expect("a value")
    };
    let (plain_dir, sealed_dir) = (TempDir::new("fixture-plain"), TempDir::new("fixture-sealed"));
    let (plain, sealed) = (
        open(&plain_dir, None),
        open(&sealed_dir, Some("the fixture's team secret")),
    );
    let key = |step: &str, name: &str, n: u32| Key::of(step).arg(name, n).build().expect("a key");
    for (cache, k, v) in [
        (&plain, key("t1_map", "n", 1), value(1, 4096)),
        (&plain, key("t1_map", "n", 2), value(2, 4096)),
        (&plain, key("preview", "n", 1), value(5, 4096)),
        (&sealed, key("t1_map", "n", 3), value(3, 4096)),
        (&plain, key("t1_map", "big", 1), value(7, (mib << 20) / 4)),
        // A record: two named parts in one entry (npm test x reads its parts).
        (
            &plain,
            key("t1_map", "record", 1),
            Value::record([
                ("t1", value(4, 8)),
                ("mask", Value::array(vec![1u8, 0, 1], &[3]).expect("a value")),
            ])
            .expect("a record"),
        ),
    ] {
        let report = cache.put(&k, v).expect("put");
        assert_eq!(report.shared, stepcache::TierOutcome::Stored, "{k}");
    }
    // One flipped byte near the end of key 2's object (in its payload).
    let raw = stepcache_object::ObjectStore::open(&bucket).expect("open the bucket");
    let damaged = key("t1_map", "n", 2);
    let got = stepcache_tests::block_on(raw.get(damaged.fingerprint()));
    let mut bytes = got.expect("read").expect("there").as_ref().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    stepcache_tests::block_on(raw.put_entry(damaged.fingerprint(), &EntryWriter::verbatim(&bytes))).expect("damage");
    println!(
        "{{\"endpoint\":\"{}\",\"url\":\"{}/{BUCKET}/fixture/\"}}",
        server.endpoint, server.endpoint
    );
    // Kept until the test closes our standard input (or ends).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(server);
}

#[cfg(target_family = "wasm")]
fn main() {}
