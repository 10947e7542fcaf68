//! `FsStore::head`: what `has`, `status` and an import's "already present" check read.
//! It reads the first `LIST_HEAD_LEN` bytes of an entry's file, never its payload, and
//! answers exactly as the `Store` trait's default (a whole read cut to the listing) does
//! for every kind of damage, so that reading less changes nothing a caller can see.

#![cfg(unix)]
#![allow(clippy::unwrap_used)] // tests report failures by panicking

use std::fs;
use std::path::{Path, PathBuf};

use stepcache::{Config, EntryState, FsBytes, FsOptions, FsStore, Key, SkipReason, SystemClock, TierOutcome, Value};
use stepcache_core::entry::{EntryWriter, LIST_HEAD_LEN, PayloadCheck};
use stepcache_core::{Fingerprint, Listed, LockGuard, Result, Store};

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("stepcache-head-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// An `FsStore` with the trait's default `head` (the whole entry read, then cut): the
/// reference the override must agree with.
struct WholeRead(FsStore);

impl Store for WholeRead {
    type Bytes = FsBytes;

    async fn get(&self, id: &Fingerprint) -> Result<Option<FsBytes>> {
        self.0.get(id).await
    }

    async fn put_entry(&self, id: &Fingerprint, entry: &EntryWriter<'_>) -> Result<PayloadCheck> {
        self.0.put_entry(id, entry).await
    }

    async fn delete(&self, id: &Fingerprint) -> Result<()> {
        self.0.delete(id).await
    }

    async fn list(&self) -> Result<Vec<Listed>> {
        self.0.list().await
    }

    fn footprint(&self, len: u64) -> u64 {
        self.0.footprint(len)
    }

    async fn lock(&self, id: &Fingerprint) -> Result<Option<LockGuard>> {
        self.0.lock(id).await
    }
}

fn open(dir: &Path, memory_map: bool) -> FsStore {
    FsStore::open_with(
        dir,
        FsOptions {
            memory_map,
            ..FsOptions::default()
        },
    )
    .unwrap()
}

fn engine<S: Store>(store: S) -> stepcache_core::Cache<S, SystemClock> {
    stepcache_core::Cache::new(store, SystemClock::new(), Config::new().memory_budget(0)).unwrap()
}

fn key(n: u64) -> Key {
    Key::of("t1_map").arg("n", n).build().unwrap()
}

/// Entry sizes: read into memory, memory-mapped (at least 256 KiB), and a header longer
/// than the listed bytes (large metadata).
#[derive(Debug, Clone, Copy)]
enum Kind {
    Small,
    Mapped,
    LongHead,
}

fn value(kind: Kind, n: u64) -> Value {
    let words = match kind {
        Kind::Small | Kind::LongHead => 256,
        Kind::Mapped => 300 << 8,
    };
    let data: Vec<u32> = (0..words).map(|i| i ^ (n as u32) << 24).collect();
    let value = Value::array(data, &[words as usize]).unwrap();
    match kind {
        Kind::LongHead => value.with_meta(vec![b'm'; 3 * LIST_HEAD_LEN]),
        _ => value,
    }
}

/// What is done to key 1's entry file.
#[derive(Debug, Clone, Copy)]
enum Damage {
    None,
    Remove,
    Truncate(usize),
    TruncateHalf,
    /// A bit flipped at this offset (inside the header for every kind).
    Flip(usize),
    /// A bit flipped in the last byte (the payload: no header check can see it).
    FlipLast,
    Extend,
    Directory,
    /// Key 2's file where key 1's belongs.
    OtherKeysFile,
}

impl Damage {
    /// Whether `has` still finds the entry: only damage a header check cannot see, since
    /// the header is all that is read (one longer than the listed bytes by range, never
    /// the payload).
    fn leaves_a_hit(self) -> bool {
        matches!(self, Damage::None | Damage::FlipLast)
    }
}

const DAMAGE: [Damage; 12] = [
    Damage::None,
    Damage::Remove,
    Damage::Truncate(0),
    Damage::Truncate(10),
    Damage::TruncateHalf,
    Damage::Flip(0),
    Damage::Flip(20),
    Damage::Flip(100),
    Damage::FlipLast,
    Damage::Extend,
    Damage::Directory,
    Damage::OtherKeysFile,
];

/// A directory holding keys 1 and 2 of `kind`, with `damage` done to key 1's file.
fn damaged_dir(dir: &Path, kind: Kind, damage: Damage) {
    let _ = fs::remove_dir_all(dir);
    let cache = engine(open(dir, true));
    for n in [1, 2] {
        pollster::block_on(cache.put(&key(n), value(kind, n))).unwrap();
    }
    let path = cache.store().entry_path(key(1).fingerprint());
    let bytes = fs::read(&path).unwrap();
    let flip = |at: usize| {
        let mut bad = bytes.clone();
        bad[at] ^= 0x10;
        bad
    };
    match damage {
        Damage::None => {}
        Damage::Remove => fs::remove_file(&path).unwrap(),
        Damage::Truncate(len) => fs::write(&path, &bytes[..len]).unwrap(),
        Damage::TruncateHalf => fs::write(&path, &bytes[..bytes.len() / 2]).unwrap(),
        Damage::Flip(at) => fs::write(&path, flip(at)).unwrap(),
        Damage::FlipLast => fs::write(&path, flip(bytes.len() - 1)).unwrap(),
        Damage::Extend => fs::write(&path, [&bytes[..], &[0u8; 64]].concat()).unwrap(),
        Damage::Directory => {
            fs::remove_file(&path).unwrap();
            fs::create_dir(&path).unwrap();
        }
        Damage::OtherKeysFile => {
            fs::copy(cache.store().entry_path(key(2).fingerprint()), &path).unwrap();
        }
    }
}

/// For every size and damage: the listing the override gives equals the default's, and
/// `has` and `status` answer the same over both (a miss for every damaged head).
#[test]
fn the_head_read_answers_as_the_default_does() {
    let scratch = Scratch::new("same");
    let (ours, reference) = (scratch.0.join("ours"), scratch.0.join("reference"));
    for kind in [Kind::Small, Kind::Mapped, Kind::LongHead] {
        for damage in DAMAGE {
            let what = format!("{kind:?}, {damage:?}");
            damaged_dir(&ours, kind, damage);
            // Byte for byte the same directory (entries hold their creation time).
            let _ = fs::remove_dir_all(&reference);
            let copied = std::process::Command::new("cp")
                .arg("-a")
                .arg(&ours)
                .arg(&reference)
                .status();
            assert!(copied.unwrap().success());
            let (a, b) = (engine(open(&ours, true)), engine(WholeRead(open(&reference, true))));
            let id = *key(1).fingerprint();
            let listed = pollster::block_on(a.store().head(&id)).unwrap();
            let default = pollster::block_on(b.store().head(&id)).unwrap();
            assert!(listed == default, "{what}: the head read differs from the default's");
            if let Some(listed) = &listed {
                assert!(listed.head.len() <= LIST_HEAD_LEN, "{what}: read past the head");
            }
            let has = pollster::block_on(a.has(&key(1))).unwrap();
            assert_eq!(has, pollster::block_on(b.has(&key(1))).unwrap(), "{what}");
            assert_eq!(has, damage.leaves_a_hit(), "{what}");
            let state = |s: Vec<stepcache::Status>| s[0].state;
            let status = state(pollster::block_on(a.status(&[key(1)])).unwrap());
            assert_eq!(
                status,
                state(pollster::block_on(b.status(&[key(1)])).unwrap()),
                "{what}"
            );
            let expected = if damage.leaves_a_hit() {
                EntryState::Stored
            } else {
                EntryState::Missing
            };
            assert_eq!(status, expected, "{what}");
            // Damage is never returned, and the undamaged key is untouched.
            let got = pollster::block_on(a.get(&key(1))).unwrap();
            assert!(
                got.is_none() || matches!(damage, Damage::None),
                "{what}: a damaged entry was returned"
            );
            assert_eq!(
                pollster::block_on(a.get(&key(2))).unwrap().unwrap().value,
                value(kind, 2),
                "{what}"
            );
        }
    }
}

/// Bytes this thread has read through `read`/`pread` so far (`rchar` of
/// `/proc/thread-self/io`): the facade's filesystem calls run on the calling thread, and
/// other tests' threads do not count.
#[cfg(target_os = "linux")]
fn read_by_this_thread() -> u64 {
    let io = fs::read_to_string("/proc/thread-self/io").unwrap();
    let line = io.lines().find(|l| l.starts_with("rchar:")).unwrap();
    line["rchar:".len()..].trim().parse().unwrap()
}

/// `has`, `status` and an import of an entry the cache holds read the head of a 32 MiB
/// entry, not its payload, with memory maps off (where a whole read would copy it all).
/// The same calls over the default `head` read it all, which shows the count sees a
/// whole read.
#[cfg(target_os = "linux")]
#[test]
fn has_status_and_import_read_only_the_head() {
    const LEN: usize = 32 << 20;
    let scratch = Scratch::new("bytes");
    let big = Value::bytes(vec![7u8; LEN]);
    let writer = engine(open(&scratch.0, false));
    pollster::block_on(writer.put(&key(9), big)).unwrap();
    let entry = fs::read(writer.store().entry_path(key(9).fingerprint())).unwrap();
    drop(writer);

    let measured = |f: &dyn Fn()| {
        let before = read_by_this_thread();
        f();
        read_by_this_thread() - before
    };
    let cache = engine(open(&scratch.0, false));
    // The first call lists the directory (the head of each entry); list it beforehand so
    // that only the calls themselves are counted.
    pollster::block_on(cache.entries()).unwrap();
    let read = measured(&|| {
        assert!(pollster::block_on(cache.has(&key(9))).unwrap());
        let status = pollster::block_on(cache.status(&[key(9)])).unwrap();
        assert_eq!(status[0].state, EntryState::Stored);
        let imported = pollster::block_on(cache.import_entry(&entry)).unwrap();
        assert_eq!(imported.store, TierOutcome::Skipped(SkipReason::Present));
    });
    assert!(
        read <= 3 * LIST_HEAD_LEN as u64 + 4096,
        "read {read} bytes of a {LEN}-byte entry"
    );

    let reference = engine(WholeRead(open(&scratch.0, false)));
    pollster::block_on(reference.entries()).unwrap();
    let whole = measured(&|| assert!(pollster::block_on(reference.has(&key(9))).unwrap()));
    assert!(
        whole >= LEN as u64,
        "the default read {whole} bytes: the count misses reads"
    );
}
