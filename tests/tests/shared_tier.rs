//! The shared tier end to end, on a real SeaweedFS server the tests start: processes as
//! machines sharing one bucket, a bucket that freezes, refuses or is missing, objects
//! damaged or planted in it. The local tiers keep working through every fault.
#![cfg(not(target_family = "wasm"))]
#![allow(clippy::unwrap_used)] // tests report failures by panicking

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use stepcache::{Cache, ErrorKind, Key, ObjectConfig, Retention, SkipReason, Source, TierOutcome, TypePolicy, Value};
use stepcache_core::Store;
use stepcache_core::entry::EntryWriter;
use stepcache_object::ObjectStore;
use stepcache_tests::seaweed::{ACCESS_KEY, BUCKET, SECRET_KEY, Seaweed};
use stepcache_tests::temp::TempDir;

fn bucket(server: &Seaweed, prefix: &str) -> ObjectConfig {
    ObjectConfig::new(BUCKET)
        .endpoint(&server.endpoint)
        .credentials(ACCESS_KEY, SECRET_KEY)
        .prefix(prefix)
        .timeout(Duration::from_secs(1))
        .retries(0)
}

/// A machine: its own directory, the shared tier on `config`, `t1_map` shared.
fn machine(dir: &TempDir, config: ObjectConfig, team_key: Option<&str>) -> Cache {
    let mut builder = Cache::builder()
        .dir(&dir.0)
        .shared(config)
        .policy("t1_map", TypePolicy::new(Retention::Persistent).shared(true));
    if let Some(secret) = team_key {
        builder = builder.team_key(secret);
    }
    builder.open().unwrap()
}

fn key(n: u32) -> Key {
    Key::of("t1_map").arg("n", n).build().unwrap()
}

fn value(n: u32) -> Value {
    Value::array(vec![n as f32; 64 * 64], &[64, 64]).unwrap()
}

/// Four processes with their own directories ask for the same eight keys at once: each
/// key is computed once across them (leases), every other answer is a shared hit, and
/// every value is right (each process checks its own). Asked again, each answers locally.
#[test]
fn machines_sharing_a_bucket_compute_each_key_once() {
    let server = Seaweed::start("machines");
    let prefix = format!("machines-{}", std::process::id());
    let dirs: Vec<TempDir> = (0..4).map(|i| TempDir::new(&format!("machine-{i}"))).collect();
    let run = |dirs: &[TempDir]| -> BTreeMap<String, usize> {
        let children: Vec<_> = dirs
            .iter()
            .map(|dir| {
                Command::new(env!("CARGO_BIN_EXE_machine"))
                    .args([&server.endpoint, &prefix])
                    .arg(&dir.0)
                    .arg("8")
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut sources = BTreeMap::new();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "a machine failed: {:?}", out.status);
            for line in String::from_utf8(out.stdout).unwrap().lines() {
                let source = line.split(' ').nth(1).unwrap().to_owned();
                *sources.entry(source).or_insert(0) += 1;
            }
        }
        sources
    };
    let first = run(&dirs);
    assert_eq!(first.get("Computed"), Some(&8), "each key computed once: {first:?}");
    assert_eq!(first.get("Shared"), Some(&24), "{first:?}");
    let second = run(&dirs);
    assert_eq!(second.get("Store"), Some(&32), "then answered locally: {second:?}");
}

/// A bucket that stops answering: the put that meets it is held up at most by its
/// timeout, the next ones not at all (degraded mode), reads stay local, the stats say
/// so; once the server answers again, `flush_shared` writes what waited.
#[test]
fn a_frozen_bucket_leaves_the_local_tiers_working() {
    let server = Seaweed::start("frozen");
    let dir = TempDir::new("frozen");
    let cache = machine(&dir, bucket(&server, "frozen"), None);
    cache.put(&key(1), value(1)).unwrap();

    server.pause();
    let start = Instant::now();
    let report = cache.put(&key(2), value(2)).unwrap();
    let first = start.elapsed();
    assert_eq!(report.store, TierOutcome::Stored);
    assert!(matches!(report.shared, TierOutcome::Failed(_)), "{report:?}");
    assert!(first < Duration::from_secs(5), "a put held up {first:?}");
    let start = Instant::now();
    let report = cache.put(&key(3), value(3)).unwrap();
    assert_eq!(report.shared, TierOutcome::Skipped(SkipReason::Degraded));
    for n in 1..=3 {
        assert_eq!(cache.get(&key(n)).unwrap().unwrap().value, value(n));
    }
    assert!(cache.get(&key(4)).unwrap().is_none());
    let degraded = start.elapsed();
    assert!(
        degraded < Duration::from_millis(500),
        "degraded calls took {degraded:?}"
    );
    let stats = cache.stats().unwrap();
    assert!(stats.shared.degraded, "{stats}");
    assert_eq!((stats.shared.pending, stats.shared.errors), (2, 1), "{stats}");

    server.resume();
    assert_eq!(cache.flush_shared().unwrap(), 2);
    let other_dir = TempDir::new("frozen-b");
    let other = machine(&other_dir, bucket(&server, "frozen"), None);
    for n in 1..=3 {
        let hit = other.get(&key(n)).unwrap().unwrap();
        assert_eq!((hit.source, hit.value), (Source::Shared, value(n)));
    }
}

/// Refused credentials and an endpoint where no server listens: typed errors in the
/// stats, the local tiers intact, values still computed and stored.
#[test]
fn a_refusing_or_missing_bucket_is_counted_and_the_machine_works_on() {
    let server = Seaweed::start("refusing");
    let wrong_secret = ObjectConfig::new(BUCKET)
        .endpoint(&server.endpoint)
        .credentials(ACCESS_KEY, "not the secret")
        .retries(0);
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let no_server = ObjectConfig::new(BUCKET)
        .endpoint(&format!("http://127.0.0.1:{closed_port}"))
        .credentials(ACCESS_KEY, SECRET_KEY)
        .retries(0);
    for (what, config, kind) in [
        ("wrong secret", wrong_secret, ErrorKind::PermissionDenied),
        ("no server", no_server, ErrorKind::Storage),
    ] {
        let dir = TempDir::new("refusing");
        let cache = machine(&dir, config, None);
        let hit = cache.get_or_compute(&key(1), || value(1)).unwrap();
        assert_eq!(hit.source, Source::Computed, "{what}");
        let stored = hit.stored.unwrap();
        assert_eq!(stored.store, TierOutcome::Stored, "{what}");
        assert!(
            matches!(
                stored.shared,
                TierOutcome::Failed(_) | TierOutcome::Skipped(SkipReason::Degraded)
            ),
            "{what}: {stored:?}"
        );
        assert_eq!(cache.get(&key(1)).unwrap().unwrap().value, value(1), "{what}");
        let stats = cache.stats().unwrap();
        let error = stats.shared.last_error.clone().unwrap_or_default();
        assert!(error.starts_with(kind.name()), "{what}: {error}");
        assert!(stats.shared.degraded && stats.shared.errors >= 1, "{what}: {stats}");
    }
}

/// An object damaged in the bucket, another key's entry under its name, or the object
/// gone: a miss on the machine reading it, never promoted into its directory (damage is
/// counted as rejected); the machine then computes the value itself.
#[test]
fn a_damaged_object_in_the_bucket_is_a_miss_and_never_promoted() {
    let server = Seaweed::start("damaged");
    let config = bucket(&server, "damaged");
    let writer_dir = TempDir::new("damaged-a");
    let writer = machine(&writer_dir, config.clone(), None);
    writer.put(&key(1), value(1)).unwrap();
    writer.put(&key(2), value(2)).unwrap();
    let raw = ObjectStore::open(&config).unwrap();
    let bytes = stepcache_tests::block_on(raw.get(key(1).fingerprint()))
        .unwrap()
        .unwrap();
    let other = stepcache_tests::block_on(raw.get(key(2).fingerprint()))
        .unwrap()
        .unwrap();
    let mut flipped = bytes.as_ref().to_vec();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    for (what, planted) in [
        ("a flipped byte", Some(flipped)),
        ("key 2's entry", Some(other.as_ref().to_vec())),
        ("no object", None),
    ] {
        let id = key(1).fingerprint().to_owned();
        match &planted {
            Some(bytes) => drop(stepcache_tests::block_on(raw.put_entry(&id, &EntryWriter::verbatim(bytes))).unwrap()),
            None => stepcache_tests::block_on(raw.delete(&id)).unwrap(),
        }
        let dir = TempDir::new("damaged-b");
        let reader = machine(&dir, config.clone(), None);
        assert!(reader.get(&key(1)).unwrap().is_none(), "{what} was returned");
        assert!(
            reader.entries().unwrap().iter().all(|e| !e.stored),
            "{what} was promoted"
        );
        let rejected = u64::from(planted.is_some());
        assert_eq!(reader.stats().unwrap().shared.rejected, rejected, "{what}");
        let hit = reader.get_or_compute(&key(1), || value(1)).unwrap();
        assert_eq!((hit.source, hit.value), (Source::Computed, value(1)), "{what}");
    }
}

/// With a team key, an entry planted by whoever can write the bucket without the key is
/// refused; the team's own entries are shared hits.
#[test]
fn a_team_key_refuses_planted_results() {
    let server = Seaweed::start("sealed");
    let config = bucket(&server, "sealed");
    let secret = "a secret only the lab's machines hold";
    let team_dir = TempDir::new("sealed-a");
    let team = machine(&team_dir, config.clone(), Some(secret));
    team.put(&key(1), value(1)).unwrap();
    let intruder_dir = TempDir::new("sealed-b");
    let intruder = machine(&intruder_dir, config.clone(), None);
    intruder.put(&key(2), value(666)).unwrap();
    let reader_dir = TempDir::new("sealed-c");
    let reader = machine(&reader_dir, config, Some(secret));
    assert_eq!(reader.get(&key(1)).unwrap().unwrap().source, Source::Shared);
    assert!(reader.get(&key(2)).unwrap().is_none(), "a planted result was accepted");
    assert_eq!(reader.stats().unwrap().shared.rejected, 1);
}
