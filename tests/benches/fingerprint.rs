//! Fingerprinting a large float map: stepcache's array key against raw blake3.
//!
//! `cargo bench -p stepcache-tests --bench fingerprint` (set `STEPCACHE_BENCH_MIB` to
//! change the map size; default 256). Prints medians of 7 runs and the ratios.

#![allow(clippy::unwrap_used)] // a bench reports failures by panicking

use std::hint::black_box;
use std::time::Instant;

use stepcache::{ElementType, Fingerprint, Key};

fn median_secs(mut f: impl FnMut()) -> f64 {
    f(); // warm caches and the thread pool
    let mut times: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let mib: usize = std::env::var("STEPCACHE_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let floats: Vec<f32> = (0..mib << 18).map(|i| (i as f32 * 0.37).sin() * 1000.0).collect();
    let bytes: &[u8] = bytemuck::cast_slice(&floats);
    let gbs = |secs: f64| bytes.len() as f64 / secs / 1e9;
    let shape = [floats.len() as u64];

    let raw = median_secs(|| {
        black_box(blake3::Hasher::new().update(black_box(bytes)).finalize());
    });
    let raw_rayon = median_secs(|| {
        black_box(blake3::Hasher::new().update_rayon(black_box(bytes)).finalize());
    });
    let array = median_secs(|| {
        black_box(Fingerprint::of_array(ElementType::F32, &shape, black_box(bytes)));
    });
    let key = median_secs(|| {
        black_box(
            Key::of("t1_map")
                .arg("tr_ms", 15.0)
                .array("signal", black_box(&floats), &[floats.len()])
                .build(),
        )
        .unwrap();
    });
    println!(
        "fingerprinting a {mib} MiB f32 map ({} threads available)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("| what | GB/s | vs raw blake3 1 thread |");
    println!("|---|---|---|");
    for (name, secs) in [
        ("raw blake3 Hasher::update (1 thread)", raw),
        ("raw blake3 Hasher::update_rayon", raw_rayon),
        ("stepcache Fingerprint::of_array", array),
        ("stepcache Key with an array argument", key),
    ] {
        println!("| {name} | {:.2} | {:.2}x |", gbs(secs), raw / secs);
    }
}
