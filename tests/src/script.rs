//! A fixed run of cache operations that crosses every way an entry can change (puts of
//! several sizes over each other, invalidation, eviction by budget, a computed key with
//! its lock, clearing a step, importing a bundle, opening over leftovers) and every way
//! the lasting counters change (saving them), and the model of what the store may hold
//! after each of them. The kill-point test runs it in a child process and kills that
//! process at every system call it makes.

use std::io::Write;
use std::path::Path;

use stepcache::{Cache, ExportFilter, Key, TypeStats, Value};

/// The store budget of the run: small enough that the run evicts.
pub const BUDGET: u64 = 1 << 20;

/// One step of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Open the cache (removing what killed runs left behind).
    Open,
    /// Store version `version` of `key`, `size` bytes.
    Put {
        /// The key's number.
        key: u8,
        /// The version.
        version: u8,
        /// Its size in bytes.
        size: usize,
    },
    /// Compute version `version` of `key` (a miss) through `get_or_compute`.
    Compute {
        /// The key's number.
        key: u8,
        /// The version.
        version: u8,
        /// Its size in bytes.
        size: usize,
    },
    /// Invalidate `key`.
    Invalidate {
        /// The key's number.
        key: u8,
    },
    /// Clear every key of step `step`.
    Clear {
        /// The step's name.
        step: &'static str,
    },
    /// Import the bundle of [`BUNDLED`] ([`write_bundle`]); an entry whose key the cache
    /// holds is kept as it is.
    Import,
    /// Add the session's counters to the lasting ones ([`Cache::save_stats`]).
    SaveStats,
}

/// The entries of the bundle the run imports: `(key, version, size)`. Their keys are
/// never held when the run imports them, and hold these versions when it imports again.
pub const BUNDLED: [(u8, u8, usize); 2] = [(0, 9, 120 << 10), (1, 9, 300 << 10)];

/// The run: across file sizes (1 KiB to 700 KiB: read into memory and memory-mapped),
/// over each other, removed, evicted, cleared and imported, with the counters saved
/// twice (the second save adds to the first).
pub fn script() -> Vec<Op> {
    use Op::*;
    vec![
        Open,
        Put {
            key: 0,
            version: 1,
            size: 400 << 10,
        },
        Put {
            key: 0,
            version: 2,
            size: 6 << 10,
        },
        Invalidate { key: 0 },
        Put {
            key: 1,
            version: 1,
            size: 300 << 10,
        },
        Put {
            key: 0,
            version: 3,
            size: 1 << 10,
        },
        // Over the budget: evicts.
        Put {
            key: 2,
            version: 1,
            size: 700 << 10,
        },
        Compute {
            key: 3,
            version: 1,
            size: 50 << 10,
        },
        SaveStats,
        Put {
            key: 1,
            version: 2,
            size: 2 << 10,
        },
        Clear { step: "s" },
        // Stores both bundled keys; the second import finds them held.
        Import,
        Import,
        Put {
            key: 0,
            version: 4,
            size: 100 << 10,
        },
        Invalidate { key: 2 },
        Put {
            key: 3,
            version: 2,
            size: 260 << 10,
        },
        SaveStats,
    ]
}

/// The keys of the run; keys 0 and 1 are of step `s`, the others of step `t`.
pub const KEYS: u8 = 4;

/// The key numbered `n`.
pub fn key(n: u8) -> Key {
    let step = if n < 2 { "s" } else { "t" };
    Key::of(step).arg("n", n).build().expect("a valid key")
}

/// The 16 bytes every copy of version `version` of key `key` starts with, to find copies
/// of it in any file.
pub fn tag(key: u8, version: u8) -> [u8; 16] {
    let mut tag = *b"stepcache-kill\0\0";
    tag[14] = key;
    tag[15] = version;
    tag
}

/// The exact value of version `version` of key `key`.
pub fn value(key: u8, version: u8, size: usize) -> Value {
    let mut data = vec![0u8; size.max(16)];
    data[..16].copy_from_slice(&tag(key, version));
    for (i, b) in data.iter_mut().enumerate().skip(16) {
        *b = (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ key ^ version.rotate_left(3);
    }
    let len = data.len();
    Value::array(data, &[len]).expect("a valid value")
}

/// What each key holds after the ops before step `done` completed, ignoring evictions
/// (which may turn any of these into a miss): `(version, size)` or `None`.
pub fn model(ops: &[Op], done: usize) -> Vec<Option<(u8, usize)>> {
    let mut held = vec![None; KEYS as usize];
    for op in &ops[..done] {
        match *op {
            Op::Open => {}
            Op::Put { key, version, size } | Op::Compute { key, version, size } => {
                held[key as usize] = Some((version, size));
            }
            Op::Invalidate { key } => held[key as usize] = None,
            Op::Import => {
                for (key, version, size) in BUNDLED {
                    held[key as usize].get_or_insert((version, size));
                }
            }
            Op::SaveStats => {}
            Op::Clear { step } => {
                for n in 0..KEYS {
                    if key(n).step() == step {
                        held[n as usize] = None;
                    }
                }
            }
        }
    }
    held
}

/// Writes the bundle the run imports ([`BUNDLED`]) to `path`, from a cache made beside it
/// and removed after.
///
/// # Panics
/// If the cache or the file cannot be written.
pub fn write_bundle(path: &Path) {
    let source = path.with_extension("source");
    let cache = Cache::builder()
        .dir(&source)
        .memory_budget(0)
        .open()
        .expect("open the bundle's source");
    for (k, version, size) in BUNDLED {
        cache.put(&key(k), value(k, version, size)).expect("put");
    }
    let file = std::fs::File::create(path).expect("create the bundle");
    let report = cache
        .export_bundle(std::io::BufWriter::new(file), &ExportFilter::default(), |_, _| {})
        .expect("export");
    assert_eq!(report.entries, BUNDLED.len() as u64);
    drop(cache);
    std::fs::remove_dir_all(&source).expect("remove the bundle's source");
}

/// Lasting counters as one line of text: `step:hits:misses:puts:computes:compute_us:saved_us`
/// per type, sorted by step, separated by spaces (empty for none).
pub fn counters_text(types: &[TypeStats]) -> String {
    let mut parts: Vec<String> = types
        .iter()
        .map(|t| {
            format!(
                "{}:{}:{}:{}:{}:{}:{}",
                t.step, t.hits, t.misses, t.puts, t.computes, t.compute_us, t.saved_us
            )
        })
        .collect();
    parts.sort();
    parts.join(" ")
}

/// Runs the script on `dir`, importing the bundle at `bundle` ([`write_bundle`]), writing
/// `op N` before and `done N` after each step to `out` (flushed), and `begin` first:
/// where the system calls to kill at start. Before saving the counters it writes
/// `stats TEXT`, the lasting counters the save is to leave ([`counters_text`]).
///
/// # Panics
/// If any operation fails: the run is expected to complete when nothing kills it.
pub fn run(dir: &Path, bundle: &Path, out: &mut impl Write) {
    let say = |out: &mut dyn Write, text: String| {
        out.write_all(text.as_bytes()).expect("write progress");
        out.flush().expect("flush progress");
    };
    say(out, "begin\n".into());
    let mut cache: Option<Cache> = None;
    for (i, op) in script().into_iter().enumerate() {
        say(out, format!("op {i}\n"));
        match op {
            Op::Open => {
                let opened = Cache::builder()
                    .dir(dir)
                    .memory_budget(0)
                    .store_budget(BUDGET)
                    .open()
                    .expect("open");
                cache = Some(opened);
            }
            Op::Put { key: k, version, size } => {
                let cache = cache.as_ref().expect("opened first");
                cache.put(&key(k), value(k, version, size)).expect("put");
            }
            Op::Compute { key: k, version, size } => {
                let cache = cache.as_ref().expect("opened first");
                let hit = cache
                    .get_or_compute(&key(k), || Ok::<_, String>(value(k, version, size)))
                    .expect("compute");
                assert!(!hit.source.is_hit(), "the script computes a key that is missing");
            }
            Op::Invalidate { key: k } => cache
                .as_ref()
                .expect("opened first")
                .invalidate(&key(k))
                .expect("invalidate"),
            Op::Clear { step } => {
                cache.as_ref().expect("opened first").clear(Some(step)).expect("clear");
            }
            Op::Import => {
                let file = std::fs::File::open(bundle).expect("open the bundle");
                let len = file.metadata().expect("the bundle's length").len();
                let report = cache
                    .as_ref()
                    .expect("opened first")
                    .import_bundle(file, Some(len), |_, _| {})
                    .expect("import");
                assert!(report.refused.is_empty(), "the bundle is sound: {report:?}");
            }
            Op::SaveStats => {
                let cache = cache.as_ref().expect("opened first");
                let all_time = cache.stats().expect("stats").all_time;
                say(out, format!("stats {}\n", counters_text(&all_time)));
                cache.save_stats().expect("save the counters");
            }
        }
        say(out, format!("done {i}\n"));
    }
    say(out, "end\n".into());
}
