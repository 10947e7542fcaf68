//! Kill points, enumerated: the script of `stepcache_tests::script` (puts across sizes and
//! over each other, invalidation, eviction, a computed key with its lock, clearing a
//! step, importing a bundle, saving the lasting counters, opening over leftovers) runs in
//! a child process that is killed with SIGKILL at each of its system calls in turn, every
//! one of them, by `strace`'s fault injection.
//!
//! After each kill a fresh handle checks the directory:
//! - every key is a miss, its value after the last completed operation, or (for the
//!   operation that was cut short) its value after that one, byte for byte: never an
//!   older or invalidated version;
//! - the lasting counters are exactly those of the last completed save or (for a save
//!   that was cut short) of that one: never damaged, lost or added twice;
//! - no copy of a superseded or invalidated version is left in any file;
//! - every file, each counted in whole 4 KiB blocks or the blocks the filesystem gives
//!   it if more, fits in the budget together; no lock file is left;
//! - the cache keeps working: every key can be written and read again.
//!
//! Needs `strace` (present on this machine kind; the test fails if it is missing rather
//! than pass without checking anything).

#![cfg(all(target_os = "linux", not(target_family = "wasm")))]
#![allow(clippy::unwrap_used)] // tests report failures by panicking

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use stepcache::Cache;
use stepcache_tests::script::{self, BUDGET, KEYS, Op};
use stepcache_tests::temp::TempDir;

const CHILD: &str = env!("CARGO_BIN_EXE_kill_script");

/// The directory every run starts from: a cache with what earlier crashes and an older
/// layout leave behind (a temporary file of a dead writer, an unheld lock file, a `v1`
/// tree), so that opening it has cleanup to do.
fn make_template(dir: &Path) {
    drop(Cache::open(dir).unwrap());
    let v2 = dir.join("v2");
    std::fs::write(
        v2.join("tmp").join(format!("{}.999999999.0.tmp", "ab".repeat(32))),
        b"partial",
    )
    .unwrap();
    std::fs::write(v2.join("locks").join(format!("{}.lock", "cd".repeat(32))), b"").unwrap();
    std::fs::create_dir_all(dir.join("v1/packs")).unwrap();
    std::fs::write(dir.join("v1/packs/counters"), [0xFFu8; 4096]).unwrap();
}

fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(status.success());
}

/// Every file under `dir`, with its bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for item in std::fs::read_dir(&d).unwrap().flatten() {
            let meta = std::fs::symlink_metadata(item.path()).unwrap();
            if meta.is_dir() {
                stack.push(item.path());
            } else {
                out.push((item.path(), std::fs::read(item.path()).unwrap()));
            }
        }
    }
    out
}

/// The system calls the child makes after it prints `begin` and before `end`, each as
/// (name, its number among the child's calls of that name): what `strace` counts.
fn trace(template: &Path, bundle: &Path, scratch: &Path) -> Vec<(String, u32)> {
    let dir = scratch.join("trace");
    copy_tree(template, &dir);
    let log = scratch.join("trace.log");
    let out = Command::new("strace")
        .args(["-qq", "-o"])
        .arg(&log)
        .arg(CHILD)
        .arg(&dir)
        .arg(bundle)
        .output()
        .expect("strace must be installed for this test (apt-get install strace)");
    assert!(out.status.success(), "the script failed untraced: {out:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    let mut counts: HashMap<String, u32> = HashMap::new();
    let mut calls = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let Some(name) = line
            .split('(')
            .next()
            .filter(|n| n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        let n = counts.entry(name.to_owned()).or_insert(0);
        *n += 1;
        if line.starts_with("write(1, \"end\\n\"") {
            break;
        }
        if inside {
            calls.push((name.to_owned(), *n));
        }
        if line.starts_with("write(1, \"begin\\n\"") {
            inside = true;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    calls
}

/// How far the child got.
struct Progress {
    /// The number of operations it completed.
    done: usize,
    /// The one it was in when killed.
    cut: Option<usize>,
    /// The counters each save it began was to leave, by operation.
    saves: Vec<(usize, String)>,
}

fn progress(stdout: &str) -> Progress {
    let mut done = 0;
    let mut started = None;
    let mut saves = Vec::new();
    for line in stdout.lines() {
        if let Some(i) = line.strip_prefix("op ") {
            started = Some(i.parse::<usize>().unwrap());
        } else if let Some(i) = line.strip_prefix("done ") {
            done = i.parse::<usize>().unwrap() + 1;
        } else if let Some(text) = line.strip_prefix("stats ") {
            saves.push((started.unwrap(), text.to_owned()));
        }
    }
    Progress {
        done,
        cut: started.filter(|&i| i >= done),
        saves,
    }
}

#[test]
fn a_kill_at_any_system_call_leaves_the_last_completed_state() {
    let scratch = TempDir::new("kill-points");
    let template = scratch.0.join("template");
    make_template(&template);
    let bundle = scratch.0.join("bundle");
    script::write_bundle(&bundle);
    let calls = trace(&template, &bundle, &scratch.0);
    assert!(calls.len() > 100, "the trace found only {} calls", calls.len());
    let ops = script::script();
    let mut killed = 0;
    let mut per_op = vec![0usize; ops.len()];
    let mut by_call: HashMap<&str, usize> = HashMap::new();
    let mut max_ratio = 0.0f64;
    for (point, (name, when)) in calls.iter().enumerate() {
        let dir = scratch.0.join(format!("run-{point}"));
        copy_tree(&template, &dir);
        let out = Command::new("strace")
            .args(["-qq", "-o", "/dev/null", "-e"])
            .arg(format!("trace={name}"))
            .arg("-e")
            .arg(format!("inject={name}:signal=SIGKILL:when={when}"))
            .arg(CHILD)
            .arg(&dir)
            .arg(&bundle)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        if stdout.contains("end\n") {
            // The run took another path and never reached this call (an eviction
            // order decided by the clock): nothing was killed, nothing to check.
            let _ = std::fs::remove_dir_all(&dir);
            continue;
        }
        assert!(out.status.code().is_none(), "point {point} ({name} #{when}): {out:?}");
        killed += 1;
        *by_call.entry(name).or_default() += 1;
        let run = progress(&stdout);
        if let Some(i) = run.cut {
            per_op[i] += 1;
        }
        let what = format!(
            "point {point} ({name} #{when}), {} ops done, cut in {:?}",
            run.done, run.cut
        );
        max_ratio = max_ratio.max(check(&dir, &ops, &run, &what));
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(
        killed * 10 >= calls.len() * 9,
        "only {killed} of {} kill points were reached",
        calls.len()
    );
    assert!(per_op.iter().all(|&n| n > 0), "an operation was never cut: {per_op:?}");
    let mut by_call: Vec<_> = by_call.into_iter().collect();
    by_call.sort();
    println!(
        "kill points: {killed} of {} system calls killed at (per operation {per_op:?}; {by_call:?}); \
         largest disk/budget after a kill {max_ratio:.3}; 0 stale or wrong reads",
        calls.len()
    );
}

/// Checks a directory after a kill (see the module docs); returns its bytes on disk
/// against the budget.
fn check(dir: &Path, ops: &[Op], run: &Progress, what: &str) -> f64 {
    let cache = Cache::builder()
        .dir(dir)
        .memory_budget(0)
        .store_budget(BUDGET)
        .open()
        .unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
    // Before anything this handle counts: the counters of the last completed save, or of
    // the one cut short.
    let saved = script::counters_text(&cache.stats().unwrap().all_time);
    let last_save = run.saves.iter().rev().find(|(op, _)| *op < run.done);
    let mut allowed_counters = vec![last_save.map_or_else(String::new, |(_, text)| text.clone())];
    allowed_counters.extend(
        run.saves
            .iter()
            .filter(|(op, _)| Some(*op) == run.cut)
            .map(|(_, t)| t.clone()),
    );
    assert!(
        allowed_counters.contains(&saved),
        "{what}: the lasting counters read {saved:?}, expected one of {allowed_counters:?}"
    );
    // Each key holds its value after the completed operations or, for the one cut
    // short, after that one.
    let held = script::model(ops, run.done);
    let after_cut = run.cut.map(|i| script::model(ops, i + 1));
    let mut live_tags = Vec::new();
    for n in 0..KEYS {
        let mut allowed: Vec<(u8, usize)> = held[n as usize].into_iter().collect();
        allowed.extend(after_cut.as_ref().and_then(|after| after[n as usize]));
        live_tags.extend(allowed.iter().map(|&(v, _)| script::tag(n, v)));
        let got = cache
            .get(&script::key(n))
            .unwrap_or_else(|e| panic!("{what}: get of key {n} failed: {e}"));
        if let Some(hit) = got {
            let ok = allowed.iter().any(|&(v, size)| hit.value == script::value(n, v, size));
            assert!(
                ok,
                "{what}: key {n} returned a value other than {allowed:?}: a stale read"
            );
        }
    }
    // No copy of a version that was superseded or invalidated, anywhere.
    let mut total = 0u64;
    for (path, bytes) in files(dir) {
        let blocks = std::os::unix::fs::MetadataExt::blocks(&std::fs::metadata(&path).unwrap());
        total += (bytes.len() as u64).max(blocks * 512).div_ceil(4096) * 4096;
        let prefix = &script::tag(0, 0)[..14];
        for found in bytes.windows(16).filter(|w| &w[..14] == prefix) {
            assert!(
                live_tags.iter().any(|t| t == found),
                "{what}: {} holds a copy of key {} version {}, which is no longer current",
                path.display(),
                found[14],
                found[15]
            );
        }
    }
    let locks = std::fs::read_dir(dir.join("v2/locks")).unwrap().count();
    assert_eq!(locks, 0, "{what}: lock files were left");
    let ratio = total as f64 / BUDGET as f64;
    assert!(
        total <= BUDGET,
        "{what}: {total} bytes on disk for a budget of {BUDGET}"
    );
    // It keeps working.
    for n in 0..KEYS {
        let value = script::value(n, 200, 3000);
        cache.put(&script::key(n), value.clone()).unwrap();
        assert_eq!(cache.get(&script::key(n)).unwrap().unwrap().value, value, "{what}");
    }
    ratio
}
