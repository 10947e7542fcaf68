//! The shared tier's store beyond the conformance suite, on a real SeaweedFS server the
//! test starts: several handles (as several machines would) computing one key once
//! through leases.
#![cfg(not(target_family = "wasm"))]
#![allow(clippy::unwrap_used)] // tests report failures by panicking

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use stepcache::SystemClock;
use stepcache_core::{Cache, Config, Key, Source, Value};
use stepcache_object::ObjectStore;
use stepcache_tests::ObjectBackend;

/// Handles on one bucket prefix that share no memory, as machines would not: each asks
/// for the same key at once, and the key is computed once; every handle gets its value.
#[test]
fn handles_on_one_bucket_compute_a_key_once() {
    compute_once_through_leases(&ObjectBackend::default());
}

/// The same on moto's S3 server: leases need only conditional writes.
#[test]
fn handles_on_one_bucket_compute_a_key_once_on_moto() {
    compute_once_through_leases(&ObjectBackend::moto());
}

fn compute_once_through_leases(backend: &ObjectBackend) {
    let config = backend.config(&format!("leases-{}", std::process::id()));
    let handles = 4;
    let computes = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(handles));
    let threads: Vec<_> = (0..handles)
        .map(|_| {
            let (config, computes, barrier) = (config.clone(), Arc::clone(&computes), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let store = ObjectStore::open(&config).unwrap();
                let cache = Cache::new(store, SystemClock::new(), Config::new().memory_budget(0)).unwrap();
                let key = Key::of("t1_map").arg("subject", "sub-01").build().unwrap();
                barrier.wait();
                let hit = stepcache_tests::block_on(cache.get_or_compute(&key, || async {
                    computes.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(500));
                    Value::array(vec![1000.0f32; 4096], &[64, 64])
                }))
                .unwrap();
                assert_eq!(hit.value.to_vec::<f32>().unwrap(), vec![1000.0f32; 4096]);
                hit.source
            })
        })
        .collect();
    let sources: Vec<Source> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        computes.load(Ordering::SeqCst),
        1,
        "computed once across the handles: {sources:?}"
    );
    assert_eq!(
        sources.iter().filter(|s| **s == Source::Computed).count(),
        1,
        "{sources:?}"
    );
    assert_eq!(
        sources.iter().filter(|s| **s == Source::Store).count(),
        handles - 1,
        "{sources:?}"
    );
}

/// A store on `server` (under a prefix of this process) that gives up quickly.
fn impatient(server: &stepcache_tests::seaweed::Seaweed, name: &str) -> ObjectStore {
    use stepcache_tests::seaweed::{ACCESS_KEY, BUCKET, SECRET_KEY};
    let config = stepcache_object::ObjectConfig::new(BUCKET)
        .endpoint(&server.endpoint)
        .credentials(ACCESS_KEY, SECRET_KEY)
        .prefix(name)
        .timeout(Duration::from_secs(1))
        .retries(1);
    ObjectStore::open(&config).unwrap()
}

/// Refused credentials, a server that hangs and a server that is gone are typed errors
/// within the timeout, never a hang or a wrong value; the store works again once the
/// server does.
#[test]
fn a_failing_server_is_a_typed_error_within_the_timeout() {
    let server = stepcache_tests::seaweed::Seaweed::start("faults");
    let store = impatient(&server, "faults");
    let cache = Cache::new(store, SystemClock::new(), Config::new().memory_budget(0)).unwrap();
    let key = Key::of("t1_map").arg("n", 1).build().unwrap();
    let value = Value::array(vec![1.5f32; 1 << 16], &[1 << 16]).unwrap();
    stepcache_tests::block_on(cache.put(&key, value.clone())).unwrap();

    // Wrong credentials: PermissionDenied, for reads and writes.
    let wrong = stepcache_object::ObjectConfig::new(stepcache_tests::seaweed::BUCKET)
        .endpoint(&server.endpoint)
        .credentials(stepcache_tests::seaweed::ACCESS_KEY, "not the secret")
        .prefix("faults")
        .retries(0);
    let intruder = Cache::new(ObjectStore::open(&wrong).unwrap(), SystemClock::new(), Config::new()).unwrap();
    let err = stepcache_tests::block_on(intruder.get(&key)).unwrap_err();
    assert_eq!(err.kind(), stepcache_core::ErrorKind::PermissionDenied, "{err}");

    // A server that hangs: a Storage error after the timeout and its retry, not a hang.
    server.pause();
    let start = std::time::Instant::now();
    let err = stepcache_tests::block_on(cache.get(&key)).unwrap_err();
    let waited = start.elapsed();
    server.resume();
    assert_eq!(err.kind(), stepcache_core::ErrorKind::Storage, "{err}");
    assert!(waited < Duration::from_secs(10), "gave up after {waited:?}");
    let hit = stepcache_tests::block_on(cache.get(&key))
        .unwrap()
        .expect("the entry, once the server answers");
    assert_eq!(hit.value, value);

    // A server that is gone: Storage errors, no panic; nothing wrong is ever returned.
    drop(server);
    let err = stepcache_tests::block_on(cache.get(&key)).unwrap_err();
    assert_eq!(err.kind(), stepcache_core::ErrorKind::Storage, "{err}");
    let err = stepcache_tests::block_on(cache.put(&key, value)).unwrap_err();
    assert_eq!(err.kind(), stepcache_core::ErrorKind::Storage, "{err}");
}

/// A server killed in the middle of an upload or a download: the call ends with a typed
/// error within the timeout (no hang, no panic, nothing returned).
#[test]
fn a_server_killed_mid_transfer_is_a_typed_error() {
    let server = stepcache_tests::seaweed::Seaweed::start("killed");
    let stored = Key::of("t1_map").arg("n", 1).build().unwrap();
    let big = Value::array(vec![0.25f32; 48 << 20], &[48 << 20]).unwrap(); // 192 MiB
    {
        // Stored with the default timeouts: a server this new may take longer than the
        // impatient second below to answer its first parts, which is not under test.
        let config = stepcache_object::ObjectConfig::new(stepcache_tests::seaweed::BUCKET)
            .endpoint(&server.endpoint)
            .credentials(
                stepcache_tests::seaweed::ACCESS_KEY,
                stepcache_tests::seaweed::SECRET_KEY,
            )
            .prefix("killed");
        let setup = Cache::new(ObjectStore::open(&config).unwrap(), SystemClock::new(), Config::new()).unwrap();
        stepcache_tests::block_on(setup.put(&stored, big.clone())).unwrap();
    }
    let store = impatient(&server, "killed");
    let cache = Arc::new(Cache::new(store, SystemClock::new(), Config::new().memory_budget(0)).unwrap());

    let reader = {
        let (cache, key) = (Arc::clone(&cache), stored.clone());
        std::thread::spawn(move || stepcache_tests::block_on(cache.get(&key)))
    };
    let writer = {
        let (cache, key) = (Arc::clone(&cache), Key::of("t1_map").arg("n", 2).build().unwrap());
        std::thread::spawn(move || stepcache_tests::block_on(cache.put(&key, big)))
    };
    std::thread::sleep(Duration::from_millis(150));
    let start = std::time::Instant::now();
    drop(server);
    for (what, outcome) in [
        ("download", reader.join().unwrap().map(|hit| hit.is_some())),
        ("upload", writer.join().unwrap().map(|_| true)),
    ] {
        match outcome {
            // The transfer may have finished before the kill: then it is whole.
            Ok(done) => assert!(done, "{what}: a miss, not the stored entry"),
            Err(e) => assert_eq!(e.kind(), stepcache_core::ErrorKind::Storage, "{what}: {e}"),
        }
    }
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "ended after {:?}",
        start.elapsed()
    );
}

/// A server (or anything in between) that says an object is far larger than this
/// machine's memory: a get is a miss, at once, without asking for that much memory
/// (which would abort the process) or reading the body on.
#[test]
fn an_object_said_to_be_larger_than_memory_is_a_miss() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let answered = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&answered);
    std::thread::spawn(move || {
        for mut connection in listener.incoming().flatten() {
            let mut request = [0u8; 4096];
            let _ = connection.read(&mut request);
            counter.fetch_add(1, Ordering::SeqCst);
            // 8 PiB said, a few bytes sent; then the connection closes.
            let _ = connection.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 9007199254740992\r\n\r\nnot an entry");
        }
    });
    let config = stepcache_object::ObjectConfig::new("bucket")
        .endpoint(&endpoint)
        .credentials("key", "secret")
        .timeout(Duration::from_secs(5))
        .retries(0);
    let cache = Cache::new(ObjectStore::open(&config).unwrap(), SystemClock::new(), Config::new()).unwrap();
    let key = Key::of("t1_map").arg("n", 1).build().unwrap();
    let found = stepcache_tests::block_on(cache.get(&key));
    assert!(matches!(found, Ok(None)), "{found:?}");
    assert!(answered.load(Ordering::SeqCst) >= 1, "the request reached the server");
}

/// A put given up in the middle of its upload (its future dropped, as a timeout around an
/// async call does) never lands afterwards: the key keeps the value of the put after it.
#[test]
fn a_put_given_up_mid_upload_never_lands_after_a_later_put() {
    use std::future::Future;
    use stepcache_tests::seaweed::{ACCESS_KEY, BUCKET, SECRET_KEY};
    let server = stepcache_tests::seaweed::Seaweed::start("given-up");
    let config = stepcache_object::ObjectConfig::new(BUCKET)
        .endpoint(&server.endpoint)
        .credentials(ACCESS_KEY, SECRET_KEY)
        .prefix("given-up");
    let open = || {
        Cache::new(
            ObjectStore::open(&config).unwrap(),
            SystemClock::new(),
            Config::new().memory_budget(0),
        )
        .unwrap()
    };
    let cache = open();
    let key = Key::of("t1_map").arg("n", 1).build().unwrap();
    let big = Value::array(vec![0.5f32; 48 << 20], &[48 << 20]).unwrap(); // 192 MiB
    let small = Value::array(vec![2.0f32; 16], &[16]).unwrap();
    {
        let mut put = std::pin::pin!(cache.put(&key, big));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(put.as_mut().poll(&mut cx).is_pending());
        std::thread::sleep(Duration::from_millis(300));
        assert!(put.as_mut().poll(&mut cx).is_pending(), "the upload is still under way");
    }
    stepcache_tests::block_on(cache.put(&key, small.clone())).unwrap();
    // Longer than the given-up upload would have taken to finish.
    std::thread::sleep(Duration::from_secs(6));
    let hit = stepcache_tests::block_on(open().get(&key)).unwrap().expect("stored");
    assert_eq!(hit.value, small, "the later put's value");
}
