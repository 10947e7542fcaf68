//! One "machine" of the shared-tier test (`tests/tests/shared_tier.rs`): a process with
//! its own cache directory, sharing results with the others only through one bucket.
//!
//! `machine ENDPOINT PREFIX DIR KEYS` asks for `KEYS` keys (computing each in 300 ms, a
//! value that depends only on the key), checks every value it gets, and prints one line
//! per key, `<n> <source>`. It exits 1 on a wrong value.

#[cfg(not(target_family = "wasm"))]
fn main() {
    use stepcache::{Cache, Key, ObjectConfig, Retention, TypePolicy, Value};
    use stepcache_tests::seaweed::{ACCESS_KEY, BUCKET, SECRET_KEY};

    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, prefix, dir, keys] = args.as_slice() else {
        eprintln!("usage: machine ENDPOINT PREFIX DIR KEYS");
        std::process::exit(2);
    };
    let keys: u32 = keys.parse().expect("KEYS is a number");
    let bucket = ObjectConfig::new(BUCKET)
        .endpoint(endpoint)
        .credentials(ACCESS_KEY, SECRET_KEY)
        .prefix(prefix);
    let cache = Cache::builder()
        .dir(dir)
        .shared(bucket)
        .policy("t1_map", TypePolicy::new(Retention::Persistent).shared(true))
        .open()
        .expect("open the cache");
    let expected = |n: u32| (0..4096).map(|i| (n * 10_000 + i) as f32).collect::<Vec<f32>>();
    for n in 0..keys {
        let key = Key::of("t1_map").arg("n", n).build().expect("a key");
        let hit = cache
            .get_or_compute(&key, || {
                std::thread::sleep(std::time::Duration::from_millis(300));
                Value::array(expected(n), &[64, 64])
            })
            .expect("get or compute");
        if hit.value.to_vec::<f32>().ok() != Some(expected(n)) {
            eprintln!("key {n}: a wrong value from {:?}", hit.source);
            std::process::exit(1);
        }
        println!("{n} {:?}", hit.source);
    }
}

#[cfg(target_family = "wasm")]
fn main() {}
