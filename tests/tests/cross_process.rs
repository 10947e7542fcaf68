//! What one process's memory tier serves after another process changed the store:
//! - after a put, an invalidate or a clear returns in one process, another process's next
//!   get, has and status do not see the older value from its memory tier;
//! - a handle never returns an older version of a key than one it already returned,
//!   while another process moves the key between sizes (read into memory, memory-mapped)
//!   and removes it, as fast as it can.

#![cfg(all(unix, not(target_family = "wasm")))]
#![allow(clippy::unwrap_used)] // tests report failures by panicking

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stepcache::{Cache, EntryState, Key, Value};
use stepcache_tests::temp::TempDir;

fn key() -> Key {
    Key::of("shared").arg("n", 1).build().unwrap()
}

/// Version `v`: 1 KiB, 6 KiB or 300 KiB (memory-mapped when read), tagged with `v`.
fn value(v: u64) -> Value {
    let words = [128, 768, 38_400][v as usize % 3];
    let data: Vec<u64> = (0..words as u64).map(|i| (v << 32) ^ i).collect();
    Value::array(data, &[words]).unwrap().with_meta(v.to_string())
}

fn version_of(hit: &Value) -> u64 {
    let v: u64 = std::str::from_utf8(hit.meta()).unwrap().parse().unwrap();
    assert_eq!(*hit, value(v), "version {v} is not its exact bytes");
    v
}

/// Child mode: reads commands from stdin (`put V`, `invalidate`, `clear`, `cycle N`) and
/// answers `DONE` when each has returned.
#[test]
fn cross_process_child() {
    let Ok(dir) = std::env::var("STEPCACHE_XP_DIR") else {
        return;
    };
    let cache = Cache::open(dir).unwrap();
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let mut words = line.split_whitespace();
        match (words.next(), words.next().map(|w| w.parse::<u64>().unwrap())) {
            (Some("put"), Some(v)) => drop(cache.put(&key(), value(v)).unwrap()),
            (Some("invalidate"), _) => cache.invalidate(&key()).unwrap(),
            (Some("clear"), _) => drop(cache.clear(Some("shared")).unwrap()),
            // Versions 1..=n, one after another, removing the key after every fifth.
            (Some("cycle"), Some(n)) => {
                for v in 1..=n {
                    cache.put(&key(), value(v)).unwrap();
                    if v % 5 == 0 {
                        cache.invalidate(&key()).unwrap();
                    }
                }
            }
            _ => panic!("unknown command {line}"),
        }
        writeln!(out, "DONE").unwrap();
        out.flush().unwrap();
    }
}

struct Child {
    process: std::process::Child,
    answers: BufReader<std::process::ChildStdout>,
}

impl Child {
    fn start(dir: &Path) -> Child {
        let mut process = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "cross_process_child", "--nocapture", "--test-threads=1"])
            .env("STEPCACHE_XP_DIR", dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let answers = BufReader::new(process.stdout.take().unwrap());
        Child { process, answers }
    }

    /// Sends `command` and waits until the child says it has returned.
    fn run(&mut self, command: &str) {
        let stdin = self.process.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            assert!(self.answers.read_line(&mut line).unwrap() > 0, "the child died");
            // The test harness may have begun the line ("test ... ") without ending it.
            if line.trim_end().ends_with("DONE") {
                return;
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        drop(self.process.stdin.take());
        let _ = self.process.wait();
    }
}

#[test]
fn another_process_s_put_invalidate_and_clear_are_seen_at_once() {
    let dir = TempDir::new("cross-process");
    let cache = Cache::open(&dir.0).unwrap();
    let mut child = Child::start(&dir.0);
    let state = |cache: &Cache| cache.status(&[key()]).unwrap()[0].state;
    for round in 0..20u64 {
        let mine = 100 + round * 10;
        cache.put(&key(), value(mine)).unwrap();
        assert_eq!(version_of(&cache.get(&key()).unwrap().unwrap().value), mine);
        assert_eq!(state(&cache), EntryState::Memory);
        child.run(&format!("put {}", mine + 1));
        assert_eq!(
            version_of(&cache.get(&key()).unwrap().unwrap().value),
            mine + 1,
            "round {round}: the other process's put is seen"
        );
        child.run("invalidate");
        assert!(
            cache.get(&key()).unwrap().is_none(),
            "round {round}: the invalidate is seen"
        );
        assert!(!cache.has(&key()).unwrap());
        cache.put(&key(), value(mine + 2)).unwrap();
        assert!(cache.has(&key()).unwrap());
        child.run("clear");
        assert_eq!(
            state(&cache),
            EntryState::Missing,
            "round {round}: the clear is seen by status"
        );
        assert!(!cache.has(&key()).unwrap(), "round {round}: the clear is seen by has");
        assert!(
            cache.get(&key()).unwrap().is_none(),
            "round {round}: the clear is seen by get"
        );
    }
}

#[test]
fn a_handle_never_goes_back_to_an_older_version() {
    let dir = TempDir::new("cross-process-monotonic");
    // One reader with a memory tier, one without.
    let readers = [
        Cache::open(&dir.0).unwrap(),
        Cache::builder().dir(&dir.0).memory_budget(0).open().unwrap(),
    ];
    let mut child = Child::start(&dir.0);
    let cycles = 3000;
    let writer = std::thread::spawn(move || child.run(&format!("cycle {cycles}")));
    let mut newest = [0u64; 2];
    let (mut reads, mut hits) = (0u64, 0u64);
    let give_up = Instant::now() + Duration::from_secs(120);
    while !writer.is_finished() {
        assert!(Instant::now() < give_up, "the writer did not finish");
        for (i, reader) in readers.iter().enumerate() {
            reads += 1;
            if let Some(hit) = reader.get(&key()).unwrap() {
                hits += 1;
                let v = version_of(&hit.value);
                assert!(v >= newest[i], "reader {i} returned version {v} after {}", newest[i]);
                newest[i] = v;
            }
        }
    }
    writer.join().unwrap();
    assert!(hits > 100, "the readers saw too few versions to test anything: {hits}");
    println!(
        "monotonic reads: {reads} reads, {hits} hits while another process wrote {cycles} versions: none older than one seen"
    );
}
