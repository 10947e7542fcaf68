//! A fixed run of cache operations that crosses every way an entry can change (puts of
//! several sizes over each other, invalidation, eviction by budget, a computed key with
//! its lock, clearing a step, opening over leftovers), and the model of what the store
//! may hold after each of them. The kill-point test runs it in a child process and kills
//! that process at every system call it makes.

use std::io::Write;
use std::path::Path;

use stepcache::{Cache, Key, Value};

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
}

/// The run: across file sizes (1 KiB to 700 KiB: read into memory and memory-mapped),
/// over each other, removed, evicted and cleared.
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
        Put {
            key: 1,
            version: 2,
            size: 2 << 10,
        },
        Clear { step: "s" },
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

/// Runs the script on `dir`, writing `op N` before and `done N` after each step to `out`
/// (flushed), and `begin` first: where the system calls to kill at start.
///
/// # Panics
/// If any operation fails: the run is expected to complete when nothing kills it.
pub fn run(dir: &Path, out: &mut impl Write) {
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
        }
        say(out, format!("done {i}\n"));
    }
    say(out, "end\n".into());
}
