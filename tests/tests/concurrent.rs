//! Several processes, several threads each, on one directory at once, for a bounded time:
//! puts, gets, invalidations, clears, get_or_compute and evictions under a small budget.
//! Zero wrong reads, zero lost completed puts (where no policy evicts), the budget holds
//! at rest, nobody deadlocks, and a key asked for by every process at once is computed
//! once.
//!
//! `STEPCACHE_CONCURRENT_SECS` sets how long each phase runs (default 3 s).

#![cfg(all(unix, not(target_family = "wasm")))]
#![allow(clippy::unwrap_used)] // tests report failures by panicking

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use stepcache::{Cache, Key, Value};
use stepcache_tests::rng::Rng;

const PROCESSES: u32 = 4;
const THREADS: u64 = 3;

fn key(step: &str, n: u64) -> Key {
    Key::of(step).arg("n", n).build().unwrap()
}

/// Version `v` of key `(step, n)`: every word names all three, and the metadata names `v`.
fn value(step: &str, n: u64, v: u64, words: usize) -> Value {
    let tag = step
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let data: Vec<u64> = (0..words as u64).map(|i| tag ^ (n << 48) ^ (v << 20) ^ i).collect();
    Value::array(data, &[words]).unwrap().with_meta(v.to_string())
}

/// Checks a hit is exactly some version of its key; returns that version.
fn check(step: &str, n: u64, hit: &Value) -> u64 {
    let v: u64 = std::str::from_utf8(hit.meta()).unwrap().parse().unwrap();
    let words = hit.shape()[0] as usize;
    assert_eq!(*hit, value(step, n, v, words), "a wrong read of {step}/{n}");
    v
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Child mode: one process of the mixed workload.
#[test]
fn concurrent_child() {
    let Some(dir) = env("STEPCACHE_CONC_DIR") else { return };
    let me: u64 = env("STEPCACHE_CONC_ID").unwrap().parse().unwrap();
    let budget: u64 = env("STEPCACHE_CONC_BUDGET").unwrap().parse().unwrap();
    let secs: u64 = env("STEPCACHE_CONC_SECS").unwrap().parse().unwrap();
    let evicting = budget < (1 << 30);
    let cache = std::sync::Arc::new(
        Cache::builder()
            .dir(&dir)
            .memory_budget(256 << 10)
            .store_budget(budget)
            .open()
            .unwrap(),
    );
    let own = format!("p{me}");
    let deadline = Instant::now() + Duration::from_secs(secs);
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (cache, own) = (cache.clone(), own.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9 ^ (me << 32) ^ (t << 8) ^ 1);
                // Each thread owns the keys n with n % THREADS == t of its process's step.
                let mut last: HashMap<u64, Option<u64>> = HashMap::new();
                let (mut ops, mut reads) = (0u64, 0u64);
                let mut v = 0u64;
                while Instant::now() < deadline {
                    ops += 1;
                    v += 1;
                    let n = rng.below(8) * THREADS + t;
                    let words = if evicting {
                        1_000 + rng.below(12_000) as usize
                    } else {
                        100 + rng.below(2_000) as usize
                    };
                    match rng.below(100) {
                        0..40 => {
                            cache.put(&key(&own, n), value(&own, n, v, words)).unwrap();
                            last.insert(n, Some(v));
                        }
                        40..75 => {
                            let (step, n) = if rng.below(2) == 0 {
                                (own.as_str(), n)
                            } else {
                                ("shared", rng.below(10))
                            };
                            if let Some(hit) = cache.get(&key(step, n)).unwrap() {
                                check(step, n, &hit.value);
                                reads += 1;
                            }
                        }
                        75..80 => {
                            cache.invalidate(&key(&own, n)).unwrap();
                            last.insert(n, None);
                        }
                        80..96 => {
                            let n = rng.below(10);
                            let hit = cache
                                .get_or_compute(&key("shared", n), || {
                                    Ok::<_, std::convert::Infallible>(value("shared", n, 1_000_000 + n, 500))
                                })
                                .unwrap();
                            check("shared", n, &hit.value);
                        }
                        _ => {
                            let n = rng.below(10);
                            cache.put(&key("shared", n), value("shared", n, v, words)).unwrap();
                        }
                    }
                }
                (ops, reads, last)
            })
        })
        .collect();
    let (mut ops, mut reads, mut lost) = (0, 0, 0);
    for handle in threads {
        let (o, r, last) = handle.join().unwrap();
        ops += o;
        reads += r;
        if !evicting {
            // Nothing evicts: every key's last completed put is there, exactly.
            for (n, v) in last {
                match (v, cache.get(&key(&own, n)).unwrap()) {
                    (Some(v), Some(hit)) => {
                        assert_eq!(check(&own, n, &hit.value), v, "{own}/{n} holds an older version")
                    }
                    (Some(v), None) => {
                        eprintln!("{own}/{n}: the completed put of version {v} is lost");
                        lost += 1;
                    }
                    (None, got) => assert!(got.is_none(), "{own}/{n} came back after its invalidation"),
                }
            }
        }
    }
    assert_eq!(lost, 0, "lost completed puts");
    println!("CHILD ops={ops} reads={reads}");
    std::io::stdout().flush().unwrap();
}

/// Bytes on disk under `dir`, every file and directory counted in whole 4 KiB blocks
/// (what `du` counts on common filesystems); files that vanish meanwhile count nothing.
fn disk_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(listing) = std::fs::read_dir(&d) else { continue };
        for item in listing.flatten() {
            let Ok(meta) = std::fs::symlink_metadata(item.path()) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(item.path());
            }
            total += meta.len().div_ceil(4096) * 4096;
        }
    }
    total
}

/// Runs the worker processes on `dir`; returns their operations, verified reads, and the
/// most bytes seen on disk while they ran.
fn run_phase(dir: &Path, budget: u64, secs: u64) -> (u64, u64, u64) {
    let _ = std::fs::remove_dir_all(dir);
    Cache::open(dir).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut children: Vec<_> = (0..PROCESSES)
        .map(|id| {
            Command::new(&exe)
                .args(["--exact", "concurrent_child", "--nocapture", "--test-threads=1"])
                .env("STEPCACHE_CONC_DIR", dir)
                .env("STEPCACHE_CONC_ID", id.to_string())
                .env("STEPCACHE_CONC_BUDGET", budget.to_string())
                .env("STEPCACHE_CONC_SECS", secs.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // No deadlock: every process ends within its time plus a generous margin.
    let give_up = Instant::now() + Duration::from_secs(secs + 60);
    let mut peak = 0;
    while children.iter_mut().any(|c| c.try_wait().unwrap().is_none()) {
        peak = peak.max(disk_bytes(dir));
        if Instant::now() > give_up {
            for c in &mut children {
                let _ = c.kill();
            }
            panic!("a process did not finish: deadlock or livelock");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let (mut ops, mut reads) = (0, 0);
    for child in children {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "a worker process failed:\n{text}");
        let line = text.lines().find_map(|l| l.split("CHILD ").nth(1)).unwrap().to_owned();
        for part in line.split_whitespace() {
            let (name, n) = part.split_once('=').unwrap();
            let n: u64 = n.parse().unwrap();
            if name == "ops" { ops += n } else { reads += n }
        }
    }
    (ops, reads, peak)
}

#[test]
fn processes_and_threads_share_a_directory() {
    let secs: u64 = stepcache_tests::env_count("STEPCACHE_CONCURRENT_SECS", 3);
    let root = std::env::temp_dir().join(format!("stepcache-concurrent-{}", std::process::id()));
    // Phase 1: a 2 MiB budget under entries of 8 to 100 KiB: constant eviction.
    let small = root.join("small");
    let budget = 2 << 20;
    let (ops1, reads1, peak) = run_phase(&small, budget, secs);
    // At rest, every file counted: within 1.10x the budget (the entries within it, plus
    // the directories and the change counter).
    let at_rest = disk_bytes(&small);
    assert!(
        at_rest * 10 <= budget * 11,
        "at rest the directory holds {at_rest} bytes, over 1.10x its budget {budget}"
    );
    // While writing: each of the writers may have one entry on its way (100 KiB at most).
    let writers = u64::from(PROCESSES) * THREADS;
    assert!(
        peak <= budget + writers * (104 << 10) + (32 << 10),
        "while writing the directory held {peak} bytes"
    );
    let cache = Cache::builder().dir(&small).store_budget(budget).open().unwrap();
    let stats = cache.stats().unwrap();
    let listed: u64 = cache.entries().unwrap().iter().map(|e| e.bytes).sum();
    assert!(
        listed <= budget,
        "the entries hold {listed} bytes, over the budget {budget}"
    );
    assert_eq!(stats.store.bytes, listed);
    // Phase 2: a budget nothing reaches: every completed put must survive (checked by each process).
    let (ops2, reads2, _) = run_phase(&root.join("large"), 1 << 40, secs);
    println!(
        "concurrent: {PROCESSES} processes x {THREADS} threads, 2 phases of {secs} s: {} operations, {} verified reads, \
         0 wrong reads, 0 lost puts; directory at rest {at_rest} bytes ({:.3}x the budget of {budget}), \
         at most {peak} while writing ({:.3}x)",
        ops1 + ops2,
        reads1 + reads2,
        at_rest as f64 / budget as f64,
        peak as f64 / budget as f64
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// Child mode: waits for the common start, then asks for the one key.
#[test]
fn compute_once_child() {
    let Some(dir) = env("STEPCACHE_ONCE_DIR") else { return };
    let start: u128 = env("STEPCACHE_ONCE_START").unwrap().parse().unwrap();
    let cache = Cache::open(&dir).unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
    std::thread::sleep(Duration::from_millis(start.saturating_sub(now) as u64));
    let hit = cache
        .get_or_compute(&key("once", 1), || {
            let mut log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(Path::new(&dir).join("computed.log"))
                .unwrap();
            writeln!(log, "{}", std::process::id()).unwrap();
            std::thread::sleep(Duration::from_millis(500));
            Ok::<_, std::convert::Infallible>(value("once", 1, 7, 1000))
        })
        .unwrap();
    check("once", 1, &hit.value);
}

/// Four processes asking for one missing key at the same moment compute it once (the
/// filesystem store takes a per-key lock).
#[test]
fn processes_asking_for_one_key_compute_once() {
    let dir = std::env::temp_dir().join(format!("stepcache-once-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Cache::open(&dir).unwrap();
    let start = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() + 300;
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "compute_once_child", "--nocapture", "--test-threads=1"])
                .env("STEPCACHE_ONCE_DIR", &dir)
                .env("STEPCACHE_ONCE_START", start.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let log = std::fs::read_to_string(dir.join("computed.log")).unwrap();
    assert_eq!(log.lines().count(), 1, "computed by exactly one process: {log:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
