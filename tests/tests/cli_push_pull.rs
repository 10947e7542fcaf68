//! `Cache::push` and `Cache::pull` (what `stepcache push` and `stepcache pull` run) on a
//! real SeaweedFS server: entries go up and come down byte for byte, whatever their
//! types' sharing policy; what the other side holds is left alone; a team key refuses
//! planted entries; damaged objects are refused while the rest arrive. One test runs the
//! built `stepcache` command against the server.
#![cfg(not(target_family = "wasm"))]
#![allow(clippy::unwrap_used)] // tests report failures by panicking

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use stepcache::{Cache, EntryRead, ErrorKind, ExportFilter, Fingerprint, Key, ObjectConfig, Value};
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
        .timeout(Duration::from_secs(5))
        .retries(0)
}

/// A machine: its own directory and the bucket, no type shared by policy.
fn machine(dir: &TempDir, config: ObjectConfig, team_key: Option<&str>) -> Cache {
    let mut builder = Cache::builder().dir(&dir.0).shared(config);
    if let Some(secret) = team_key {
        builder = builder.team_key(secret);
    }
    builder.open().unwrap()
}

fn key(step: &str, n: u32) -> Key {
    Key::of(step).arg("n", n).build().unwrap()
}

/// Stores entries of `t1_map` (small) and `r1_map` (400 KB, memory-mapped when read).
fn fill(cache: &Cache, ns: &[u32]) -> Vec<Key> {
    ns.iter()
        .map(|&n| {
            let (step, len) = if n % 2 == 0 {
                ("r1_map", 100_000)
            } else {
                ("t1_map", 64)
            };
            let k = key(step, n);
            cache
                .put(&k, Value::array(vec![n as f32; len], &[len]).unwrap())
                .unwrap();
            k
        })
        .collect()
}

/// Every stored entry of `cache`, verified, by fingerprint.
fn stored(cache: &Cache) -> BTreeMap<Fingerprint, Vec<u8>> {
    cache
        .entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.stored)
        .map(|e| match cache.read_entry(&e.fingerprint).unwrap() {
            EntryRead::Sound(bytes) => (e.fingerprint, bytes.as_ref().to_vec()),
            EntryRead::Damaged(why) => panic!("{} is damaged: {why}", e.fingerprint),
            EntryRead::Missing => panic!("{} is gone", e.fingerprint),
        })
        .collect()
}

fn all() -> ExportFilter {
    ExportFilter::default()
}

#[test]
fn push_and_pull_carry_entries_through_the_bucket() {
    let server = Seaweed::start("push-pull");
    let config = bucket(&server, "push-pull");
    let a_dir = TempDir::new("push-a");
    let a = machine(&a_dir, config.clone(), None);
    let keys = fill(&a, &[1, 2, 3, 4, 5]);
    let originals = stored(&a);

    let pushed = a.push(&all()).unwrap();
    assert_eq!((pushed.copied, pushed.present, pushed.refused.len()), (5, 0, 0));
    assert!(pushed.bytes > 2 * 400_000, "{pushed:?}");
    let again = a.push(&all()).unwrap();
    assert_eq!((again.copied, again.present), (0, 5), "the bucket holds them");

    let b_dir = TempDir::new("push-b");
    let b = machine(&b_dir, config.clone(), None);
    let pulled = b.pull(&all()).unwrap();
    assert_eq!((pulled.copied, pulled.present, pulled.skipped), (5, 0, 0));
    assert_eq!(pulled.bytes, pushed.bytes);
    assert_eq!(stored(&b), originals, "byte for byte");
    assert_eq!(b.pull(&all()).unwrap().present, 5);

    // Filters: one step.
    let c_dir = TempDir::new("push-c");
    let c = machine(&c_dir, config.clone(), None);
    let t1 = ExportFilter {
        step: Some("t1_map".to_owned()),
        since_ms: None,
    };
    assert_eq!(c.pull(&t1).unwrap().copied, 3);
    let held = stored(&c);
    assert_eq!(held.len(), 3);
    assert!(held.contains_key(keys[0].fingerprint()) && !held.contains_key(keys[1].fingerprint()));

    // A machine holding a key with another value keeps it, and pushes nothing over the
    // bucket's copy.
    let d_dir = TempDir::new("push-d");
    let d = machine(&d_dir, config.clone(), None);
    d.put(&keys[0], Value::array(vec![-1.0f32; 3], &[3]).unwrap()).unwrap();
    let mine = stored(&d);
    let report = d.pull(&all()).unwrap();
    assert_eq!((report.copied, report.present), (4, 1));
    assert_eq!(stored(&d)[keys[0].fingerprint()], mine[keys[0].fingerprint()]);
    assert_eq!(d.push(&all()).unwrap().present, 5);
    assert_eq!(stored(&b)[keys[0].fingerprint()], originals[keys[0].fingerprint()]);

    // Without a shared tier, both say so.
    let local = Cache::open(TempDir::new("push-local").0.clone()).unwrap();
    assert_eq!(local.push(&all()).unwrap_err().kind(), ErrorKind::InvalidConfig);
    assert_eq!(local.pull(&all()).unwrap_err().kind(), ErrorKind::InvalidConfig);
}

#[test]
fn pull_refuses_planted_and_damaged_objects() {
    let server = Seaweed::start("pull-refuses");
    let config = bucket(&server, "refuses");
    let secret = "a secret only the lab's machines hold";
    let team_dir = TempDir::new("refuse-a");
    let team = machine(&team_dir, config.clone(), Some(secret));
    let keys = fill(&team, &[1, 2, 3]);
    assert_eq!(team.push(&all()).unwrap().copied, 3);
    // Someone without the key plants an entry.
    let intruder_dir = TempDir::new("refuse-b");
    let intruder = machine(&intruder_dir, config.clone(), None);
    let planted = fill(&intruder, &[7]);
    assert_eq!(intruder.push(&all()).unwrap().copied, 1);
    // And one object is damaged in the bucket.
    let raw = ObjectStore::open(&config).unwrap();
    let id = *keys[1].fingerprint();
    let mut bytes = stepcache_tests::block_on(raw.get(&id))
        .unwrap()
        .unwrap()
        .as_ref()
        .to_vec();
    bytes[200] ^= 1;
    let _ = stepcache_tests::block_on(raw.put_entry(&id, &EntryWriter::verbatim(&bytes))).unwrap();

    let reader_dir = TempDir::new("refuse-c");
    let reader = machine(&reader_dir, config.clone(), Some(secret));
    let pulled = reader.pull(&all()).unwrap();
    assert_eq!(pulled.copied, 2, "{pulled:?}");
    let mut refused: Vec<Fingerprint> = pulled.refused.iter().map(|(id, _)| *id).collect();
    refused.sort();
    let mut expected = vec![id, *planted[0].fingerprint()];
    expected.sort();
    assert_eq!(refused, expected, "{:?}", pulled.refused);
    let held = stored(&reader);
    assert_eq!(held.len(), 2);
    assert!(!held.contains_key(&id) && !held.contains_key(planted[0].fingerprint()));
    assert_eq!(held, {
        let mut theirs = stored(&team);
        theirs.remove(&id);
        theirs
    });
}

/// The `stepcache` command built next to this test (`cargo test --workspace` builds it;
/// alone: `cargo build -p stepcache-cli`).
fn stepcache_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("stepcache");
    assert!(
        bin.exists(),
        "{} is missing: build it with cargo build -p stepcache-cli",
        bin.display()
    );
    bin
}

#[test]
fn the_command_pushes_and_pulls() {
    let server = Seaweed::start("cli-push-pull");
    let a = TempDir::new("cli-push-a");
    let keys = fill(&Cache::open(&a.0).unwrap(), &[1, 2]);
    let b = TempDir::new("cli-push-b");
    let run = |dir: &TempDir, what: &str| {
        let out = std::process::Command::new(stepcache_bin())
            .args(["--dir", dir.0.to_str().unwrap(), what])
            .args(["--bucket", BUCKET, "--prefix", "cli", "--endpoint", &server.endpoint])
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env_remove("STEPCACHE_TEAM_KEY")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{what}: {stderr}");
        String::from_utf8(out.stdout).unwrap()
    };
    let pushed = run(&a, "push");
    assert!(pushed.starts_with("pushed 2 entries ("), "{pushed}");
    assert!(
        pushed.ends_with(") to stepcache/cli/; 0 held on both sides already\n"),
        "{pushed}"
    );
    let pulled = run(&b, "pull");
    assert!(pulled.starts_with("pulled 2 entries ("), "{pulled}");
    assert_eq!(
        run(&b, "push"),
        "pushed 0 entries (0 B) to stepcache/cli/; 2 held on both sides already\n"
    );
    let held = stored(&Cache::open(&b.0).unwrap());
    assert!(keys.iter().all(|k| held.contains_key(k.fingerprint())));
}
