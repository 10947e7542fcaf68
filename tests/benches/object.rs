//! The shared tier's store against the object store itself: puts and gets of one map
//! through `ObjectStore` (the entry format, its checksum, parts of 8 MiB, verification by
//! the engine) against opendal's own write and read of the same bytes, on the same
//! SeaweedFS server on this machine. Each round times the two one after the other, the
//! first of each pair taking turns between rounds (the server may still be settling the
//! previous transfer when the next starts); medians, and each ratio the median of the
//! rounds' ratios.
//!
//! Then the same maps through the shared tier of a filesystem cache: a put (directory,
//! then bucket) against opendal's write; a shared hit on a machine whose directory is
//! empty (read and verify; the cache's thread writes it into the directory afterwards)
//! against opendal's read, and how long until it is in the directory; and the next get
//! there (from the directory) against a directory-only cache's get.
//!
//! `cargo bench -p stepcache-tests --bench object [-- MiB,MiB ROUNDS]` (default 1, 40
//! and 256 MiB, 7 rounds).

#![allow(clippy::unwrap_used)] // a bench reports failures by panicking

use std::time::{Duration, Instant};

use opendal::layers::RetryLayer;
use opendal::services::S3;
use opendal::{Buffer, HttpTransporter, OperationContext, Operator};
use opendal_http_transport_reqwest::ReqwestTransport;
use stepcache::SystemClock;
use stepcache_core::{Cache, Config, Key, Value};
use stepcache_object::{ObjectConfig, ObjectStore};
use stepcache_tests::seaweed::{ACCESS_KEY, BUCKET, SECRET_KEY, Seaweed};
use stepcache_tests::temp::TempDir;

/// The middle of `values` once sorted.
fn middle(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The median time in ms.
fn median(times: &[Duration]) -> f64 {
    middle(times.iter().map(|t| t.as_secs_f64() * 1e3).collect())
}

/// The median over the rounds of `ours / theirs` in the same round: paired, because the
/// server's and this machine's speed drift over spans longer than a round.
fn ratio(ours: &[Duration], theirs: &[Duration]) -> f64 {
    middle(
        ours.iter()
            .zip(theirs)
            .map(|(a, b)| a.as_secs_f64() / b.as_secs_f64())
            .collect(),
    )
}

/// How long `work` took, and what it returned (dropped by the caller, untimed).
fn timed<T>(work: impl FnOnce() -> T) -> (Duration, T) {
    let t = Instant::now();
    let out = work();
    (t.elapsed(), out)
}

/// Times `ours` and `theirs`, `ours` first in even rounds and second in odd ones.
fn pair<A, B>(round: usize, ours: impl FnOnce() -> A, theirs: impl FnOnce() -> B) -> ((Duration, A), (Duration, B)) {
    if round.is_multiple_of(2) {
        let ours = timed(ours);
        (ours, timed(theirs))
    } else {
        let theirs = timed(theirs);
        (timed(ours), theirs)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let sizes: Vec<usize> = args
        .first()
        .map_or(vec![1, 40, 256], |s| s.split(',').map(|n| n.parse().unwrap()).collect());
    let rounds: usize = args.get(1).map_or(7, |n| n.parse().unwrap());
    let server = Seaweed::start("bench");
    let config = ObjectConfig::new(BUCKET)
        .endpoint(&server.endpoint)
        .credentials(ACCESS_KEY, SECRET_KEY)
        .prefix("bench");
    let cache = Cache::new(
        ObjectStore::open(&config).unwrap(),
        SystemClock::new(),
        Config::new().memory_budget(0),
    )
    .unwrap();
    // opendal's own operator on the same bucket, as an application without stepcache uses it.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let raw = Operator::new(
        S3::default()
            .bucket(BUCKET)
            .endpoint(&server.endpoint)
            .region("us-east-1")
            .access_key_id(ACCESS_KEY)
            .secret_access_key(SECRET_KEY),
    )
    .unwrap()
    // ObjectStore::open above installed rustls's ring provider, which this client finds.
    .with_context(OperationContext::new().with_http_transport(HttpTransporter::new(ReqwestTransport::default())))
    // Retried as stepcache's requests are: the server under load answers some with a
    // temporary error.
    .layer(RetryLayer::new().with_jitter());
    println!(
        "| map | stepcache put ms | opendal write ms | ratio | stepcache get ms (verified) | opendal read ms | ratio |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut tiers = Vec::new();
    for mib in sizes {
        let n = (mib << 20) / 4;
        let map: Vec<f32> = (0..n).map(|i| (i % 4093) as f32 * 0.25).collect();
        let value = Value::array(map, &[n]).unwrap();
        // Handed to opendal as an application that has its bytes in hand would: each
        // write gets a reference to them, not a copy.
        let bytes = Buffer::from(value.data().to_vec());
        let key = Key::of("bench").arg("mib", mib as u64).build().unwrap();
        let path = format!("raw/{mib}");
        let (mut put, mut write, mut get, mut read) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for round in 0..=rounds {
            let ((stepcache_put, _), (raw_write, _)) = pair(
                round,
                || stepcache_tests::block_on(cache.put(&key, value.clone())).unwrap(),
                || {
                    runtime
                        .block_on(async { raw.write_with(&path, bytes.clone()).chunk(8 << 20).concurrent(2).await })
                        .unwrap()
                },
            );
            let ((stepcache_get, hit), (raw_read, back)) = pair(
                round,
                || stepcache_tests::block_on(cache.get(&key)).unwrap().unwrap(),
                || runtime.block_on(raw.read(&path)).unwrap(),
            );
            assert_eq!(hit.value.data().len(), bytes.len());
            assert_eq!(back.len(), bytes.len());
            if round > 0 {
                // Round 0 warms the server and the connections.
                put.push(stepcache_put);
                write.push(raw_write);
                get.push(stepcache_get);
                read.push(raw_read);
            }
        }
        println!(
            "| {mib} MiB | {:.1} | {:.1} | {:.2}x | {:.1} | {:.1} | {:.2}x |",
            median(&put),
            median(&write),
            ratio(&put, &write),
            median(&get),
            median(&read),
            ratio(&get, &read)
        );
        tiers.push((mib, value, bytes));
    }
    println!();
    println!(
        "| map | tier put ms | opendal write ms | ratio | shared hit ms | opendal read ms | ratio | then in the directory after ms | next get ms | directory-only get ms | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (mib, value, bytes) in tiers {
        through_the_tier(&config, &raw, &runtime, mib, &value, &bytes, rounds);
    }
}

/// One row of the shared tier's table (see the module's documentation).
fn through_the_tier(
    config: &ObjectConfig,
    raw: &Operator,
    runtime: &tokio::runtime::Runtime,
    mib: usize,
    value: &Value,
    bytes: &Buffer,
    rounds: usize,
) {
    let machine = |dir: &TempDir| {
        stepcache::Cache::builder()
            .dir(&dir.0)
            .memory_budget(0)
            .shared(config.clone().prefix("bench-tier"))
            .sharing(true)
            .open()
            .unwrap()
    };
    let key = Key::of("bench-tier").arg("mib", mib as u64).build().unwrap();
    let path = format!("raw/{mib}");
    let writer_dir = TempDir::new("bench-tier-writer");
    let writer = machine(&writer_dir);
    let local_dir = TempDir::new("bench-tier-local");
    let local_only = stepcache::Cache::builder()
        .dir(&local_dir.0)
        .memory_budget(0)
        .open()
        .unwrap();
    local_only.put(&key, value.clone()).unwrap();
    let mut times: [Vec<Duration>; 7] = Default::default();
    for round in 0..=rounds {
        let ((tier_put, report), (raw_write, _)) = pair(
            round,
            || writer.put(&key, value.clone()).unwrap(),
            || {
                runtime
                    .block_on(async { raw.write_with(&path, bytes.clone()).chunk(8 << 20).concurrent(2).await })
                    .unwrap()
            },
        );
        assert_eq!(report.shared, stepcache::TierOutcome::Stored);
        let reader_dir = TempDir::new("bench-tier-reader");
        let reader = machine(&reader_dir);
        let ((shared_hit, hit), (raw_read, back)) = pair(
            round,
            || reader.get(&key).unwrap().unwrap(),
            || runtime.block_on(raw.read(&path)).unwrap(),
        );
        assert_eq!(hit.source, stepcache::Source::Shared);
        assert_eq!(back.len(), bytes.len());
        // The cache's thread writes the hit into the directory after the get returned.
        let t = Instant::now();
        while reader.status(std::slice::from_ref(&key)).unwrap()[0].state != stepcache::EntryState::Stored {
            std::thread::sleep(Duration::from_millis(1));
        }
        let promoted = t.elapsed();
        let t = Instant::now();
        let next = reader.get(&key).unwrap().unwrap();
        let next_get = t.elapsed();
        assert_eq!(next.source, stepcache::Source::Store);
        let t = Instant::now();
        let local = local_only.get(&key).unwrap().unwrap();
        let local_get = t.elapsed();
        assert_eq!(local.value.data().len(), next.value.data().len());
        if round > 0 {
            let row = [tier_put, raw_write, shared_hit, raw_read, next_get, local_get, promoted];
            for (i, time) in row.into_iter().enumerate() {
                times[i].push(time);
            }
        }
    }
    let [put, write, hit, read, next, local, promoted] = &times;
    println!(
        "| {mib} MiB | {:.1} | {:.1} | {:.2}x | {:.1} | {:.1} | {:.2}x | {:.1} | {:.2} | {:.2} | {:.2}x |",
        median(put),
        median(write),
        ratio(put, write),
        median(hit),
        median(read),
        ratio(hit, read),
        median(promoted),
        median(next),
        median(local),
        ratio(next, local)
    );
}
