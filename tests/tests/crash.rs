//! Real crashes: child processes write entries of 1 KiB to 64 MiB and are killed with
//! SIGKILL at random moments, over and over. After every kill, a fresh process checks
//! that the directory holds
//! for each key either nothing (if no put of it ever completed) or a complete value of a
//! version between the last one reported stored and the last one started: never partial
//! or mixed data, never a lost completed put. Leftovers are cleaned up and the size
//! accounting matches the files again.
//!
//! `STEPCACHE_CRASH_KILLS` sets the number of kills (default 200; raise it for a soak).

#![cfg(all(unix, not(target_family = "wasm")))]
#![allow(clippy::unwrap_used)] // tests report failures by panicking

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use stepcache::{Cache, Key, Value};
use stepcache_tests::rng::Rng;

const KEYS: u64 = 12;

fn key(k: u64) -> Key {
    Key::of("crash").arg("k", k).build().unwrap()
}

/// Small mostly, sometimes large: 1 KiB to 1 MiB, and one put in 16 of 8 to 64 MiB.
fn size_of(k: u64, v: u64) -> usize {
    let h = (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ v.wrapping_mul(0xD6E8_FEB8_6659_FD93)) >> 7;
    if h.is_multiple_of(16) {
        (8 << 20) + (h as usize % (56 << 20))
    } else {
        1024 + (h as usize % (1 << 20))
    }
}

/// The exact bytes of version `v` of key `k`: every 8 bytes name both.
fn value_of(k: u64, v: u64) -> Value {
    let words = size_of(k, v) / 8;
    let data: Vec<u64> = (0..words as u64).map(|i| (k << 56) ^ (v << 24) ^ i).collect();
    Value::array(data, &[words]).unwrap().with_meta(format!("{k},{v}"))
}

/// Child mode: put versions from `STEPCACHE_CRASH_BASE` on, reporting each start and end.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("STEPCACHE_CRASH_DIR") else {
        return;
    };
    let base: u64 = std::env::var("STEPCACHE_CRASH_BASE").unwrap().parse().unwrap();
    let cache = Cache::builder().dir(dir).memory_budget(0).open().unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        let (k, v) = ((base + i) % KEYS, base + i);
        let value = value_of(k, v);
        writeln!(out, "start {k} {v}").unwrap();
        out.flush().unwrap();
        cache.put(&key(k), value).unwrap();
        writeln!(out, "done {k} {v}").unwrap();
        out.flush().unwrap();
    }
}

struct History {
    started: HashMap<u64, u64>,
    done: HashMap<u64, u64>,
}

/// Child mode: a fresh process checks the directory against the history in a file
/// (`k started done` lines; `done` is `-` when no put of `k` completed).
#[test]
fn crash_verifier() {
    let Ok(dir) = std::env::var("STEPCACHE_VERIFY_DIR") else {
        return;
    };
    let cycle: usize = std::env::var("STEPCACHE_VERIFY_CYCLE").unwrap().parse().unwrap();
    let text = std::fs::read_to_string(std::env::var("STEPCACHE_VERIFY_HISTORY").unwrap()).unwrap();
    let mut history = History {
        started: HashMap::new(),
        done: HashMap::new(),
    };
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let k: u64 = fields[0].parse().unwrap();
        history.started.insert(k, fields[1].parse().unwrap());
        if let Ok(done) = fields[2].parse() {
            history.done.insert(k, done);
        }
    }
    verify(Path::new(&dir), &history, cycle);
}

/// Runs [`crash_verifier`] in a new process; panics with its output if it fails.
fn verify_in_fresh_process(exe: &Path, dir: &Path, history: &History, cycle: usize) {
    let file = dir.with_extension("history");
    let lines: String = history
        .started
        .iter()
        .map(|(k, s)| {
            format!(
                "{k} {s} {}\n",
                history.done.get(k).map_or("-".into(), |d| d.to_string())
            )
        })
        .collect();
    std::fs::write(&file, lines).unwrap();
    let out = Command::new(exe)
        .args(["--exact", "crash_verifier", "--nocapture", "--test-threads=1"])
        .env("STEPCACHE_VERIFY_DIR", dir)
        .env("STEPCACHE_VERIFY_CYCLE", cycle.to_string())
        .env("STEPCACHE_VERIFY_HISTORY", &file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "verification after kill {cycle} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn verify(dir: &Path, history: &History, cycle: usize) {
    let cache = Cache::builder().dir(dir).memory_budget(0).open().unwrap();
    for k in 0..KEYS {
        let got = cache.get(&key(k)).unwrap();
        let Some(hit) = got else {
            assert!(
                !history.done.contains_key(&k),
                "cycle {cycle}: key {k} lost its completed put {:?}",
                history.done.get(&k)
            );
            continue;
        };
        let meta = String::from_utf8(hit.value.meta().to_vec()).unwrap();
        let v: u64 = meta.split(',').nth(1).unwrap().parse().unwrap();
        let (lo, hi) = (history.done.get(&k).copied().unwrap_or(0), history.started[&k]);
        assert!(
            (lo..=hi).contains(&v),
            "cycle {cycle}: key {k} holds version {v}, expected {lo}..={hi}"
        );
        assert_eq!(
            hit.value,
            value_of(k, v),
            "cycle {cycle}: key {k} version {v} is not the exact bytes"
        );
    }
    // Every stored entry, measured on disk in the whole 4 KiB blocks budgets count.
    let on_disk: u64 = (0..KEYS)
        .filter_map(|k| std::fs::metadata(cache.engine().store().entry_path(key(k).fingerprint())).ok())
        .map(|meta| meta.len().div_ceil(4096) * 4096)
        .sum();
    let stats = cache.stats().unwrap();
    assert_eq!(stats.store.bytes, on_disk, "cycle {cycle}: accounting matches the disk");
    assert_eq!(stats.corrupt_removed, 0, "cycle {cycle}: no entry was ever damaged");
    assert!(
        walk(&dir.join("v2/tmp")).is_empty(),
        "cycle {cycle}: the killed writer's leftovers were removed"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for item in std::fs::read_dir(dir).unwrap().flatten() {
        let path = item.path();
        if path.is_dir() {
            out.extend(walk(&path))
        } else {
            out.push(path)
        }
    }
    out
}

#[test]
fn killed_writers_never_leave_damaged_or_lost_entries() {
    let kills: usize = stepcache_tests::env_count("STEPCACHE_CRASH_KILLS", 200);
    let dir = std::env::temp_dir().join(format!("stepcache-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Cache::open(&dir).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut history = History {
        started: HashMap::new(),
        done: HashMap::new(),
    };
    let mut rng = Rng(0x243F_6A88_85A3_08D3);
    let mut base = 0;
    let (mut puts_done, mut big_done, started_at) = (0u64, 0u64, Instant::now());
    for cycle in 0..kills {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("STEPCACHE_CRASH_DIR", &dir)
            .env("STEPCACHE_CRASH_BASE", base.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        std::thread::sleep(Duration::from_millis(5 + rng.below(120)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        for line in rx.try_iter() {
            // The first line follows the test harness's "test crash_child ... ".
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(at) = words.iter().position(|w| *w == "start" || *w == "done") else {
                continue;
            };
            let (Some(what), Some(k), Some(v)) = (words.get(at), words.get(at + 1), words.get(at + 2)) else {
                continue;
            };
            let (Ok(k), Ok(v)) = (k.parse::<u64>(), v.parse::<u64>()) else {
                continue;
            };
            match *what {
                "start" => {
                    history.started.insert(k, v);
                    base = base.max(v + 1);
                }
                "done" => {
                    history.done.insert(k, v);
                    puts_done += 1;
                    big_done += u64::from(size_of(k, v) >= 8 << 20);
                }
                _ => {}
            }
        }
        verify_in_fresh_process(&exe, &dir, &history, cycle);
    }
    println!(
        "crash test: {kills} SIGKILLs, {puts_done} completed puts ({big_done} of 8-64 MiB), every key verified by a fresh process after every kill, in {:.1} s",
        started_at.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(dir.with_extension("history"));
}
