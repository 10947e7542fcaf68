//! Does compression pay off on real float maps? Measures shuffle + LZ4 (the codec behind
//! `compression(true)`) on maps like the ones stepcache keeps: a masked T1 map with
//! noise, a smooth field, and pure noise. Prints stored size and put/get time through a
//! filesystem cache with compression off and on.
//!
//! `cargo bench -p stepcache-tests --bench compression`

#![allow(clippy::unwrap_used)] // a bench reports failures by panicking

use std::time::Instant;

use stepcache::{Cache, Key, Value};
use stepcache_tests::rng::Rng;

/// 128x128x64 voxels: zero outside an ellipsoid "head", tissue T1 values inside, noise.
fn maps() -> Vec<(&'static str, Vec<f32>)> {
    let (nx, ny, nz) = (128usize, 128, 64);
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut t1 = Vec::with_capacity(nx * ny * nz);
    let mut smooth = Vec::with_capacity(nx * ny * nz);
    let mut noise = Vec::with_capacity(nx * ny * nz);
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let (u, v, w) = (
                    (x as f32 - 64.0) / 56.0,
                    (y as f32 - 64.0) / 60.0,
                    (z as f32 - 32.0) / 30.0,
                );
                let r = (u * u + v * v + w * w).sqrt();
                let tissue = if r > 1.0 {
                    0.0
                } else if r > 0.85 {
                    4000.0
                } else if r > 0.6 {
                    1400.0
                } else {
                    800.0
                };
                t1.push(if tissue == 0.0 {
                    0.0
                } else {
                    tissue * (1.0 + 0.03 * rng.centered())
                });
                smooth.push((x as f32 * 0.05).sin() * (y as f32 * 0.03).cos() * 100.0 + z as f32);
                noise.push(rng.centered() * 1000.0);
            }
        }
    }
    vec![
        ("masked T1 map with 3% noise", t1),
        ("smooth field", smooth),
        ("uniform noise", noise),
    ]
}

fn main() {
    let dir = std::env::temp_dir().join(format!("stepcache-bench-compression-{}", std::process::id()));
    println!("| map (4 MiB f32, 128x128x64) | compression | stored MiB | ratio | put ms | get ms (new session) |");
    println!("|---|---|---|---|---|---|");
    for (name, data) in maps() {
        let raw_mib = (data.len() * 4) as f64 / (1 << 20) as f64;
        for on in [false, true] {
            let _ = std::fs::remove_dir_all(&dir);
            let cache = Cache::builder()
                .dir(&dir)
                .memory_budget(0)
                .compression(on)
                .open()
                .unwrap();
            let key = Key::of("map").arg("name", name).build().unwrap();
            let value = Value::array(data.clone(), &[64, 128, 128]).unwrap();
            let start = Instant::now();
            cache.put(&key, value).unwrap();
            let put = start.elapsed().as_secs_f64() * 1e3;
            let stored = cache.stats().unwrap().store.bytes as f64 / (1 << 20) as f64;
            let reader = Cache::builder().dir(&dir).memory_budget(0).open().unwrap();
            let start = Instant::now();
            let hit = reader.get(&key).unwrap().unwrap();
            let get = start.elapsed().as_secs_f64() * 1e3;
            assert_eq!(hit.value.to_vec::<f32>().unwrap(), data);
            let mode = if on { "shuffle+lz4" } else { "off" };
            println!(
                "| {name} | {mode} | {stored:.2} | {:.2} | {put:.1} | {get:.1} |",
                raw_mib / stored
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
