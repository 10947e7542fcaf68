//! Region reads racing replacements and invalidations of the same key, on the real
//! filesystem: a region read takes the entry's head and its blocks in separate reads, so
//! a writer may replace the entry in between. Every region must still be exactly one
//! version, and a reader never goes back to an older version than one it has seen.
//!
//! `STEPCACHE_CONCURRENT_SECS` sets how long it runs (default 3 s).

#![cfg(not(target_family = "wasm"))]
#![allow(clippy::unwrap_used)] // tests report failures by panicking
#![allow(clippy::single_range_in_vec_init)] // a region of one range: the outermost dimension's

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use stepcache::{Cache, Key, Value};
use stepcache_tests::env_count;
use stepcache_tests::temp::TempDir;

/// Version `v`: a `[6, 256, 512]` f32 volume (512 KiB a slice, three 1 MiB blocks) whose
/// every voxel is `v` plus its slice number, so a region mixing versions or slices shows.
fn version(v: u64) -> Value {
    // Slice by slice with `vec!`, which fills at memory speed even in a debug build: the
    // writer must replace the entry often for the race to happen.
    let mut data = Vec::with_capacity(6 * 256 * 512);
    for slice in 0..6 {
        data.extend_from_slice(&vec![(v * 10 + slice) as f32; 256 * 512]);
    }
    Value::array(data, &[6, 256, 512]).unwrap()
}

fn open(dir: &std::path::Path) -> Cache {
    Cache::builder().dir(dir).memory_budget(0).open().unwrap()
}

#[test]
fn region_reads_never_mix_versions_nor_go_back() {
    let dir = TempDir::new("region-race");
    let key = Key::of("volume").arg("n", 1).build().unwrap();
    let secs = env_count("STEPCACHE_CONCURRENT_SECS", 3u64);
    let stop = AtomicBool::new(false);
    let published = AtomicU64::new(0);
    let (reads, hits, versions) = std::thread::scope(|scope| {
        scope.spawn(|| {
            let writer = open(&dir.0);
            for v in 1.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                writer.put(&key, version(v)).unwrap();
                published.store(v, Ordering::Release);
                if v % 50 == 0 {
                    writer.invalidate(&key).unwrap();
                }
            }
        });
        let reader = scope.spawn(|| {
            let reader = open(&dir.0);
            let (mut reads, mut hits, mut newest) = (0u64, 0u64, 0u64);
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(secs) {
                // Slices 1 and 2 cross from block 0 into block 1.
                let floor = published.load(Ordering::Acquire);
                reads += 1;
                let Some(hit) = reader.get_region(&key, &[1..3]).unwrap() else {
                    continue;
                };
                hits += 1;
                let voxels = hit.value.to_vec::<f32>().unwrap();
                assert_eq!(voxels.len(), 2 * 256 * 512);
                let v = (voxels[0] as u64 - 1) / 10;
                let expected: Vec<f32> = (0..voxels.len())
                    .map(|i| (v * 10 + 1 + (i / (256 * 512)) as u64) as f32)
                    .collect();
                assert!(voxels == expected, "a region mixing versions or slices (version {v})");
                assert!(v >= newest, "went back from version {newest} to {v}");
                // A put that returned before this read began is the oldest it may see
                // (unless invalidated since, which is a miss, handled above).
                assert!(v >= floor, "read version {v} after version {floor} was put");
                newest = v;
            }
            stop.store(true, Ordering::Relaxed);
            (reads, hits)
        });
        let (reads, hits) = reader.join().unwrap();
        (reads, hits, published.load(Ordering::Acquire))
    });
    eprintln!("{hits} region hits in {reads} reads, while {versions} versions were put");
    assert!(
        hits > 100 && versions > 20,
        "{hits} hits, {versions} versions: the race was not exercised"
    );
}
