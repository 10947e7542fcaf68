//! Filesystem-only behaviour: threads and processes sharing a directory, cleanup of
//! interrupted writes, permissions, hostile keys, the default directory.

#![cfg(not(target_family = "wasm"))]
#![allow(clippy::unwrap_used)] // tests report failures by panicking

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime};

use stepcache::{Cache, Key, Source, Value};
use stepcache_tests::temp::TempDir;

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for item in std::fs::read_dir(&d).unwrap().flatten() {
            let path = item.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

fn map(len: usize, seed: u32) -> Value {
    Value::array((0..len as u32).map(|i| (i ^ seed) as f32).collect(), &[len]).unwrap()
}

/// A compute closure returns the value itself, or a `Result` with its own error type: no
/// type annotations either way.
#[test]
fn compute_closures_need_no_type_annotations() {
    let dir = TempDir::new("compute-closures");
    let cache = Cache::open(&dir.0).unwrap();
    let key = |n: i64| Key::of("closures").arg("n", n).build().unwrap();
    let infallible = cache.get_or_compute(&key(1), || Value::bytes(vec![1, 2, 3])).unwrap();
    assert_eq!(infallible.value.to_vec::<u8>().unwrap(), [1, 2, 3]);
    let fallible = cache
        .get_or_compute(&key(2), || Value::array(vec![1.5f32; 4], &[2, 2]))
        .unwrap();
    assert_eq!(fallible.value.shape(), &[2, 2]);
    let failed = cache
        .get_or_compute(&key(3), || Err::<Value, _>("the fit diverged"))
        .unwrap_err();
    assert_eq!(failed.kind(), stepcache::ErrorKind::Compute);
    assert!(failed.message().contains("the fit diverged"), "{failed}");
}

#[test]
fn cache_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Cache>();
    check::<Value>();
}

/// Eight threads asking for one key at once compute it once and all get the value.
#[test]
fn threads_asking_for_one_key_compute_once() {
    let dir = TempDir::new("native-threads");
    let cache = Arc::new(Cache::open(&dir.0).unwrap());
    let key = Key::of("t1_map").arg("subject", "sub-01").build().unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (cache, key, runs, start) = (cache.clone(), key.clone(), runs.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                cache
                    .get_or_compute(&key, || {
                        runs.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(300));
                        Ok::<_, std::convert::Infallible>(map(4096, 7))
                    })
                    .unwrap()
            })
        })
        .collect();
    let hits: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(runs.load(Ordering::SeqCst), 1, "computed exactly once");
    assert!(hits.iter().all(|h| h.value == map(4096, 7)));
    assert_eq!(hits.iter().filter(|h| h.source == Source::Computed).count(), 1);
    let stats = cache.stats().unwrap();
    assert_eq!(stats.of_type("t1_map").unwrap().computes, 1);
}

/// A compute that asks for its own key, directly or through another key's compute, gets an
/// `InvalidArgument` error at once instead of waiting for itself forever; the outer call
/// then stores what its compute returns.
#[test]
fn get_or_compute_inside_its_own_compute_is_an_error_not_a_hang() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let dir = TempDir::new("native-reentry");
        let cache = Cache::open(&dir.0).unwrap();
        let (outer, inner) = (
            Key::of("t1_map").arg("n", 1).build().unwrap(),
            Key::of("t1_map").arg("n", 2).build().unwrap(),
        );
        let mut refusals = Vec::new();
        let hit = cache
            .get_or_compute(&outer, || {
                refusals.push(cache.get_or_compute(&outer, || map(16, 1)).unwrap_err());
                let through_inner = cache.get_or_compute(&inner, || {
                    refusals.push(cache.get_or_compute(&outer, || map(16, 2)).unwrap_err());
                    map(16, 3)
                });
                assert_eq!(through_inner.unwrap().value, map(16, 3));
                map(16, 4)
            })
            .unwrap();
        assert_eq!(hit.value, map(16, 4));
        assert_eq!(cache.get(&outer).unwrap().unwrap().value, map(16, 4));
        // The key is free again once its compute returned.
        assert_eq!(
            cache.get_or_compute(&outer, || map(16, 5)).unwrap().source,
            Source::Memory
        );
        // Another handle on the directory would wait on the key's lock too; a cache in
        // another directory computes its own entry of the key.
        let other_dir = TempDir::new("native-reentry-other");
        let (same_dir, elsewhere) = (Cache::open(&dir.0).unwrap(), Cache::open(&other_dir.0).unwrap());
        let key = Key::of("t1_map").arg("n", 3).build().unwrap();
        let hit = cache
            .get_or_compute(&key, || {
                refusals.push(same_dir.get_or_compute(&key, || map(16, 6)).unwrap_err());
                elsewhere.get_or_compute(&key, || map(16, 7)).unwrap().value
            })
            .unwrap();
        assert_eq!(hit.value, map(16, 7));
        done.send(refusals).unwrap();
    });
    let refusals = finished
        .recv_timeout(Duration::from_secs(60))
        .expect("no call waits for itself");
    assert_eq!(refusals.len(), 3);
    for err in refusals {
        assert_eq!(err.kind(), stepcache::ErrorKind::InvalidArgument);
        assert!(err.message().contains("inside its own compute"), "{err}");
    }
}

/// Threads putting and getting overlapping keys never see wrong data.
#[test]
fn threads_share_a_cache_without_wrong_reads() {
    let dir = TempDir::new("native-threads-mixed");
    let cache = Arc::new(Cache::builder().dir(&dir.0).memory_budget(64 << 10).open().unwrap());
    let handles: Vec<_> = (0..4u32)
        .map(|t| {
            let cache = cache.clone();
            std::thread::spawn(move || {
                for i in 0..200u32 {
                    let n = (i * 7 + t) % 40;
                    let key = Key::of("mix").arg("n", n).build().unwrap();
                    if i % 3 == 0 {
                        cache.put(&key, map(1000 + n as usize, n)).unwrap();
                    } else if let Some(hit) = cache.get(&key).unwrap() {
                        assert_eq!(hit.value, map(1000 + n as usize, n), "key {n} read wrong data");
                    }
                    if i % 50 == 0 {
                        cache.invalidate(&key).unwrap();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// Child mode: when STEPCACHE_CHILD_DIR is set, this test is a worker process.
#[test]
fn child_worker() {
    let Ok(dir) = std::env::var("STEPCACHE_CHILD_DIR") else {
        return;
    };
    let me: u32 = std::env::var("STEPCACHE_CHILD_ID").unwrap().parse().unwrap();
    let cache = Cache::builder().dir(dir).memory_budget(0).open().unwrap();
    for i in 0..60u32 {
        // Keys 0..20 are shared by every process; the rest are this process's own.
        let n = if i % 3 == 0 { i % 20 } else { 1000 * (me + 1) + i };
        let key = Key::of("proc").arg("n", n).build().unwrap();
        cache.put(&key, map(2000 + n as usize % 500, n)).unwrap();
        for probe in [n, i % 20] {
            let key = Key::of("proc").arg("n", probe).build().unwrap();
            if let Some(hit) = cache.get(&key).unwrap() {
                assert_eq!(
                    hit.value,
                    map(2000 + probe as usize % 500, probe),
                    "wrong data for {probe}"
                );
            }
        }
    }
}

/// Four processes write and read one directory at once: no wrong reads, no lost entries.
#[test]
fn processes_share_a_directory() {
    let dir = TempDir::new("native-procs");
    Cache::open(&dir.0).unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|id| {
            Command::new(&exe)
                .args(["--exact", "child_worker", "--nocapture", "--test-threads=1"])
                .env("STEPCACHE_CHILD_DIR", &dir.0)
                .env("STEPCACHE_CHILD_ID", id.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "a worker process failed:\n{text}");
    }
    let cache = Cache::open(&dir.0).unwrap();
    for me in 0..4u32 {
        for i in (0..60u32).filter(|i| i % 3 != 0) {
            let n = 1000 * (me + 1) + i;
            let key = Key::of("proc").arg("n", n).build().unwrap();
            let hit = cache.get(&key).unwrap().unwrap_or_else(|| panic!("entry {n} was lost"));
            assert_eq!(hit.value, map(2000 + n as usize % 500, n));
        }
    }
    for n in 0..20u32 {
        let key = Key::of("proc").arg("n", n).build().unwrap();
        assert_eq!(cache.get(&key).unwrap().unwrap().value, map(2000 + n as usize % 500, n));
    }
    assert_eq!(cache.stats().unwrap().corrupt_removed, 0);
    assert!(files_under(&dir.0.join("v2/tmp")).is_empty(), "no temporary files left");
}

/// Unlocked, old temporary files (a killed writer's) are removed on open; a file a live
/// writer holds locked, or one just created, is left alone.
#[test]
fn leftovers_of_interrupted_writes_are_removed_on_open() {
    let dir = TempDir::new("native-leftovers");
    let cache = Cache::open(&dir.0).unwrap();
    let key = Key::of("kept").build().unwrap();
    cache.put(&key, map(100, 1)).unwrap();
    let tmp = dir.0.join("v2/tmp");
    let old = SystemTime::now() - Duration::from_secs(3600);
    let dead = tmp.join("dead.1.0.tmp");
    std::fs::write(&dead, b"half an entry").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&dead)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let live = tmp.join("live.2.0.tmp");
    std::fs::write(&live, b"being written").unwrap();
    let live_file = std::fs::File::options().write(true).open(&live).unwrap();
    live_file.set_modified(old).unwrap();
    live_file.lock().unwrap();
    let young = tmp.join(format!("young.{}.0.tmp", std::process::id()));
    std::fs::write(&young, b"just created").unwrap();
    // A writer that was killed a moment ago: its process no longer exists.
    let mut gone = Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    let killed = tmp.join(format!("killed.{gone_pid}.0.tmp"));
    std::fs::write(&killed, b"half").unwrap();

    let reopened = Cache::open(&dir.0).unwrap();
    assert!(!dead.exists(), "an old, unlocked file is removed");
    assert!(
        !killed.exists(),
        "a file whose writer's process is gone is removed at once"
    );
    assert!(live.exists(), "a live writer's file is kept");
    assert!(young.exists(), "a young file of a live process is kept");
    assert_eq!(reopened.get(&key).unwrap().unwrap().value, map(100, 1));
    drop(live_file);
}

/// The cache directory and everything in it are private to the owner.
#[cfg(unix)]
#[test]
fn directory_and_entries_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("native-perms");
    let cache = Cache::open(dir.0.join("nested/cache")).unwrap();
    cache.put(&Key::of("private").build().unwrap(), map(10, 1)).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for sub in [
        "nested/cache",
        "nested/cache/v2",
        "nested/cache/v2/entries",
        "nested/cache/v2/tmp",
        "nested/cache/v2/locks",
    ] {
        assert_eq!(mode(&dir.0.join(sub)), 0o700, "{sub}");
    }
    for file in files_under(&dir.0) {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
        assert_eq!(mode(file.parent().unwrap()), 0o700);
    }
}

/// Nothing a caller passes in a key reaches a path: every file is named by a fingerprint
/// inside the cache directory, and nothing appears beside it.
#[test]
fn hostile_keys_never_become_paths() {
    let dir = TempDir::new("native-hostile");
    let cache_dir = dir.0.join("cache");
    let cache = Cache::open(&cache_dir).unwrap();
    let hostile = [
        "../../etc/passwd",
        "/absolute",
        "a/../../b",
        "nul\0byte",
        "..",
        "C:\\windows",
        &"long".repeat(4000),
    ];
    for (i, text) in hostile.iter().enumerate() {
        let key = Key::of("s")
            .arg(text, *text)
            .arg("bytes", stepcache::Arg::Bytes(text.as_bytes().to_vec()))
            .build();
        let key = key.unwrap_or_else(|_| Key::of("s").arg("i", i).build().unwrap());
        cache.put(&key, map(10, i as u32)).unwrap();
        assert_eq!(cache.get(&key).unwrap().unwrap().value, map(10, i as u32));
    }
    let names: BTreeSet<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        names.len(),
        1,
        "nothing was created beside the cache directory: {names:?}"
    );
    for file in files_under(&cache_dir) {
        let rel = file.strip_prefix(&cache_dir).unwrap();
        let parts: Vec<_> = rel.iter().map(|p| p.to_str().unwrap().to_owned()).collect();
        // The shared change counter; nothing in any name comes from a key.
        if parts == ["v2", "changes"] {
            continue;
        }
        assert_eq!(parts.len(), 3, "{rel:?}");
        assert_eq!(&parts[..2], ["v2", "entries"]);
        assert!(parts[2].len() == 64 && parts[2].bytes().all(|b| b.is_ascii_hexdigit()));
    }
}

/// Child mode for the default-directory test: prints what `default_dir` says.
#[test]
fn child_print_default_dir() {
    if std::env::var_os("STEPCACHE_PRINT_DEFAULT").is_some() {
        println!("DEFAULT={}", stepcache::default_dir().unwrap().display());
    }
}

fn default_dir_with(env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_print_default_dir", "--nocapture", "--test-threads=1"])
        .env_remove("STEPCACHE_DIR")
        .env_remove("XDG_CACHE_HOME")
        .env("STEPCACHE_PRINT_DEFAULT", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
    out.lines().find_map(|l| l.split("DEFAULT=").nth(1)).unwrap().to_owned()
}

/// `STEPCACHE_DIR` wins, then the platform convention (`XDG_CACHE_HOME`, then `~/.cache`).
#[cfg(all(unix, not(target_os = "macos")))]
#[test]
fn default_dir_follows_platform_convention() {
    assert_eq!(default_dir_with(&[("HOME", "/home/ana")]), "/home/ana/.cache/stepcache");
    assert_eq!(
        default_dir_with(&[("HOME", "/home/ana"), ("XDG_CACHE_HOME", "/xdg")]),
        "/xdg/stepcache"
    );
    assert_eq!(
        default_dir_with(&[("HOME", "/home/ana"), ("XDG_CACHE_HOME", "relative")]),
        "/home/ana/.cache/stepcache"
    );
    assert_eq!(
        default_dir_with(&[("HOME", "/home/ana"), ("STEPCACHE_DIR", "/data/sc")]),
        "/data/sc"
    );
}

/// A large value read from disk is a view into a memory map of its entry file, not a copy.
#[cfg(target_os = "linux")]
#[test]
fn large_values_are_memory_mapped_not_copied() {
    let dir = TempDir::new("native-zero-copy");
    let key = Key::of("big").build().unwrap();
    Cache::open(&dir.0).unwrap().put(&key, map(1 << 20, 3)).unwrap();
    let reader = Cache::open(&dir.0).unwrap();
    let hit = reader.get(&key).unwrap().unwrap();
    let view: &[f32] = hit.value.as_slice().unwrap();
    let addr = view.as_ptr() as usize;
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mapping = maps
        .lines()
        .find(|line| {
            let range = line.split_whitespace().next().unwrap();
            let (lo, hi) = range.split_once('-').unwrap();
            let (lo, hi) = (
                usize::from_str_radix(lo, 16).unwrap(),
                usize::from_str_radix(hi, 16).unwrap(),
            );
            (lo..hi).contains(&addr)
        })
        .expect("the view's address is mapped");
    assert!(
        mapping.ends_with(&key.fingerprint().to_hex()),
        "the view lies in a map of the entry file: {mapping}"
    );
    assert_eq!(view, map(1 << 20, 3).as_slice::<f32>().unwrap());
}

/// A cache directory that belongs to another user is refused, not trusted silently; one
/// we own but others could read is made owner-only.
#[cfg(unix)]
#[test]
fn a_directory_owned_by_someone_else_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("native-owner");
    Cache::open(&dir.0)
        .unwrap()
        .put(&Key::of("s").build().unwrap(), map(10, 1))
        .unwrap();
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    Cache::open(&dir.0).unwrap();
    let mode = std::fs::metadata(&dir.0).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "tightened to owner-only");

    let status = Command::new("chown")
        .arg("-R")
        .arg("12345:12345")
        .arg(&dir.0)
        .status()
        .unwrap();
    assert!(status.success(), "this test needs to chown (run as root, as CI does)");
    let err = Cache::open(&dir.0).unwrap_err();
    assert_eq!(err.kind(), stepcache::ErrorKind::PermissionDenied);
    assert!(err.to_string().contains("belongs to user 12345"), "{err}");
}

/// An empty path (an unset variable, say) is refused, not taken as the working directory.
#[test]
fn an_empty_path_is_refused() {
    let err = Cache::open("").unwrap_err();
    assert_eq!(err.kind(), stepcache::ErrorKind::InvalidConfig);
    assert!(err.message().contains("empty path"), "{err}");
    assert!(!Path::new("v2").exists(), "nothing was made in the working directory");
}

/// A directory owned by someone else is refused before anything is written into it, even
/// by a process that could write there.
#[cfg(unix)]
#[test]
fn a_foreign_directory_is_refused_and_left_untouched() {
    use std::os::unix::fs::MetadataExt;
    let dir = TempDir::new("native-foreign");
    let foreign = dir.0.join("theirs");
    std::fs::create_dir_all(foreign.join("notes")).unwrap();
    std::fs::write(foreign.join("notes/a.txt"), b"theirs").unwrap();
    let me = std::fs::metadata(&dir.0).unwrap().uid();
    // Someone else's: another uid (possible when the tests run as root, as in CI here).
    let other = if me == 0 { 65534 } else { 0 };
    let chowned = std::process::Command::new("chown")
        .arg("-R")
        .arg(other.to_string())
        .arg(&foreign)
        .status()
        .unwrap();
    if !chowned.success() {
        println!("foreign directory: cannot give a directory to another user here; not checked");
        return;
    }
    let before = files_under(&foreign);
    let err = Cache::open(&foreign).unwrap_err();
    assert_eq!(err.kind(), stepcache::ErrorKind::PermissionDenied, "{err}");
    assert!(err.to_string().contains("belongs to user"), "{err}");
    assert_eq!(files_under(&foreign), before, "nothing was created or removed");
    let entries: Vec<_> = std::fs::read_dir(&foreign)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        entries,
        vec![std::ffi::OsString::from("notes")],
        "no cache directories were made"
    );
}
