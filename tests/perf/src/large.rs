//! Sections 1-3: fingerprinting, putting and getting large f32 maps.

use std::fs::{self, File};
use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use memmap2::Mmap;
use stepcache::{Cache, Durability, ElementType, Fingerprint, Key, TierOutcome};
use stepcache_core::entry::PayloadCheck;

use crate::report::{Fig, Table, interleave, time};
use crate::{Map, Plan, Scratch, ok, settle};

/// Section 1: the hash behind keys of array arguments (blake3) and the checksum of every
/// entry (XXH3-128).
pub fn fingerprint(plan: &Plan, maps: &[Map]) -> Vec<Table> {
    let mut table = Table::new("Fingerprinting f32 maps (buffers already in memory)");
    // stepcache's hashing on one core, as on a one-core machine: inside a pool of one
    // thread it hashes with `update` on the calling thread.
    let one_thread = rayon_core::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap_or_else(|e| panic!("a rayon pool of one thread: {e}"));
    for map in maps {
        let bytes = map.bytes();
        let n = bytes.len() as u64;
        let shape = [map.len as u64];
        let t = interleave(
            plan.hash_runs,
            &mut [
                &mut |_| {
                    time(|| {
                        let mut h = blake3::Hasher::new();
                        h.update(bytes);
                        h.finalize()
                    })
                },
                &mut |_| {
                    time(|| {
                        let mut h = blake3::Hasher::new();
                        h.update_rayon(bytes);
                        h.finalize()
                    })
                },
                &mut |_| time(|| Fingerprint::of_array(ElementType::F32, &shape, bytes)),
                &mut |_| time(|| one_thread.install(|| Fingerprint::of_array(ElementType::F32, &shape, bytes))),
                &mut |_| time(|| PayloadCheck::of(bytes)),
                &mut |_| time(|| touch_all(bytes)),
            ],
        );
        let [one, rayon, of_array, of_array_one, check, read] = [0, 1, 2, 3, 4, 5].map(|i| Fig::runs(&t[i], Some(n)));
        let l = &map.label;
        table.row(
            format!("`Fingerprint::of_array` {l}, 1 thread"),
            &of_array_one,
            "blake3 `update`, 1 thread",
            &one,
        );
        table.row(
            format!("`Fingerprint::of_array` {l}"),
            &of_array,
            "blake3 `update`, 1 thread",
            &one,
        );
        table.row(
            format!("`Fingerprint::of_array` {l}"),
            &of_array,
            "blake3 `update_rayon`, 2 threads",
            &rayon,
        );
        table.row(
            format!("`PayloadCheck::of` {l} (entry checksum, XXH3-128)"),
            &check,
            "read every byte once, 1 thread (memory-read limit)",
            &read,
        );
    }
    table.note(format!(
        "{} runs per figure, variants interleaved in a shuffled order.",
        plan.hash_runs
    ));
    table.note(
        "stepcache hashes on every core above 1 MiB (`parallel` feature, on in the `stepcache` crate); \
         its 1-thread row runs the same call in a rayon pool of one thread, as a one-core \
         machine would, and the ratio of the other rows to raw 1-thread tells what `parallel` buys.",
    );
    vec![table]
}

fn open_cache(dir: &Path, durability: Durability) -> Cache {
    ok(
        Cache::builder()
            .dir(dir)
            .memory_budget(0)
            .store_budget(1 << 40)
            .durability(durability)
            .open(),
        "open a stepcache",
    )
}

fn write_file(path: &Path, bytes: &[u8], fsync: bool) {
    let mut f = ok(File::create(path), "create the peer's temporary file");
    ok(f.write_all(bytes), "write the peer's temporary file");
    if fsync {
        ok(f.sync_all(), "sync the peer's temporary file");
    }
}

/// tmp + rename, as an atomic cache write must; with fsync, also the directory, which is
/// what `Durability::Fsync` promises (the entry survives a power cut once put returns).
fn write_atomic(dir: &Path, name: &str, bytes: &[u8], fsync: bool) {
    let tmp = dir.join(format!("{name}.tmp"));
    write_file(&tmp, bytes, fsync);
    ok(fs::rename(&tmp, dir.join(name)), "rename the peer's file into place");
    if fsync {
        ok(File::open(dir).and_then(|d| d.sync_all()), "sync the peer's directory");
    }
}

/// Section 2: writing one large map, its compute excluded (the value exists already).
pub fn put(plan: &Plan, maps: &[Map], scratch: &Scratch) -> Vec<Table> {
    let mut table = Table::new("Persistent put of one f32 map (compute excluded)");
    for map in maps {
        let bytes = map.bytes();
        let n = bytes.len() as u64;
        let runs = plan.io_runs_for(bytes.len());
        let buffered = open_cache(&scratch.dir("put-buffered"), Durability::Buffered);
        let fsynced = open_cache(&scratch.dir("put-fsync"), Durability::Fsync);
        let raw = scratch.dir("put-raw");
        let cc = scratch.dir("put-cacache");
        settle();

        // A fresh key each run; the entry is removed (untimed) after each, and dirty
        // pages are written back before the next, so every run starts alike.
        let stepcache_put = |cache: &Cache, run: usize| {
            let key = ok(
                Key::of("perf_put").arg("bytes", n).arg("run", run as u64).build(),
                "build a key",
            );
            let value = map.value.clone(); // shares the buffer: no copy
            let start = Instant::now();
            let report = ok(cache.put(&key, value), "stepcache put");
            let took = start.elapsed();
            assert_eq!(report.store, TierOutcome::Stored, "the entry reached the disk");
            ok(cache.invalidate(&key), "stepcache invalidate");
            settle();
            took
        };
        let raw_put = |run: usize, fsync: bool, hash: bool| {
            let name = format!("{run}.bin");
            let took = time(|| {
                if hash {
                    black_box(PayloadCheck::of(bytes));
                }
                write_atomic(&raw, &name, bytes, fsync);
            });
            ok(fs::remove_file(raw.join(&name)), "remove the peer's file");
            settle();
            took
        };
        let t = interleave(
            runs,
            &mut [
                &mut |run| stepcache_put(&buffered, run),
                &mut |run| stepcache_put(&fsynced, run),
                &mut |run| raw_put(run, false, false),
                &mut |run| raw_put(run, false, true),
                &mut |run| raw_put(run, true, false),
                &mut |run| {
                    let took = time(|| ok(cacache::write_sync(&cc, format!("put-{run}"), bytes), "cacache write"));
                    ok(cacache::clear_sync(&cc), "cacache clear");
                    settle();
                    took
                },
            ],
        );
        let [sc_buf, sc_sync, raw_buf, raw_hash, raw_sync, cacache] =
            [0, 1, 2, 3, 4, 5].map(|i| Fig::runs(&t[i], Some(n)));
        let l = &map.label;
        table.row(
            format!("put {l}, `Buffered`"),
            &sc_buf,
            "`fs::write` tmp + `rename`",
            &raw_buf,
        );
        table.row(
            format!("put {l}, `Buffered`"),
            &sc_buf,
            "XXH3-128 checksum, then `fs::write` tmp + `rename`",
            &raw_hash,
        );
        table.row(
            format!("put {l}, `Buffered`"),
            &sc_buf,
            "`cacache::write_sync` (sha256, no fsync)",
            &cacache,
        );
        table.row(
            format!("put {l}, `Fsync`"),
            &sc_sync,
            "write tmp + `sync_all` + `rename` + directory `sync_all`",
            &raw_sync,
        );
    }
    table.note(format!(
        "{}/{} runs per figure (below/above 100 MiB), variants interleaved in a shuffled order, after one warm-up each.",
        plan.io_runs.0, plan.io_runs.1
    ));
    table.note(
        "Each run puts a fresh key (stepcache) or a fresh file name (peers) into a directory \
         that holds no other entry: the previous run's entry is removed untimed, and `sync` \
         runs untimed between runs so no run pays for another's write-back. stepcache runs \
         with `memory_budget(0)`, so only the disk path is timed; its put includes the \
         payload checksum (XXH3-128 over the whole map, computed piece by piece as it is \
         written) and an `flock` on its temporary file.",
    );
    table.note(
        "The fsync peer syncs the file before the rename and the directory after it, the same \
         guarantee `Durability::Fsync` gives (which syncs file data, then the entry's directory).",
    );
    vec![table]
}

/// Reads every byte: a sum of little-endian u64 words, which the compiler vectorises.
fn touch_all(bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    let mut sum = 0u64;
    for w in &mut words {
        sum = sum.wrapping_add(u64::from_le_bytes(w.try_into().unwrap_or([0; 8])));
    }
    for &b in words.remainder() {
        sum = sum.wrapping_add(u64::from(b));
    }
    sum
}

fn map_file(path: &Path) -> Mmap {
    let file = ok(File::open(path), "open the peer's file");
    // SAFETY: the benchmark owns this file and nothing modifies it while it is mapped.
    #[allow(unsafe_code)]
    let map = unsafe { Mmap::map(&file) };
    ok(map, "map the peer's file")
}

/// Section 3: reading one large map back with a warm page cache, verified.
pub fn get(plan: &Plan, maps: &[Map], scratch: &Scratch) -> Vec<Table> {
    let mut table = Table::new("Persistent get of one f32 map (warm page cache)");
    for map in maps {
        let bytes = map.bytes();
        let n = bytes.len() as u64;
        let runs = plan.io_runs_for(bytes.len());
        let dir = scratch.dir("get-stepcache");
        let writer = open_cache(&dir, Durability::Buffered);
        let key = ok(Key::of("perf_get").arg("bytes", n).build(), "build a key");
        let report = ok(writer.put(&key, map.value.clone()), "stepcache put");
        assert_eq!(report.store, TierOutcome::Stored, "the entry reached the disk");
        // A second handle with no memory tier: every get reads the file and verifies it.
        let reader = open_cache(&dir, Durability::Buffered);
        let raw_dir = scratch.dir("get-raw");
        write_atomic(&raw_dir, "map.bin", bytes, false);
        let raw = raw_dir.join("map.bin");
        let cc = scratch.dir("get-cacache");
        ok(cacache::write_sync(&cc, "map", bytes), "cacache write");
        settle();

        let expect_first = map.value.as_slice::<f32>().ok().and_then(|s| s.first().copied());
        let stepcache_get = |read_all: bool| {
            let start = Instant::now();
            let hit = ok(reader.get(&key), "stepcache get").expect("the entry is stored");
            let slice: &[f32] = hit.value.as_slice().expect("an aligned f32 view");
            black_box(slice.as_ptr());
            if read_all {
                black_box(touch_all(hit.value.data()));
            }
            let took = start.elapsed();
            assert_eq!(slice.len(), map.len);
            assert_eq!(slice.first().copied(), expect_first);
            drop(hit); // unmapping is not part of the get
            took
        };
        let t = interleave(
            runs,
            &mut [
                &mut |_| stepcache_get(false),
                &mut |_| stepcache_get(true),
                &mut |_| time(|| ok(fs::read(&raw), "fs::read")),
                &mut |_| {
                    time(|| {
                        let v = ok(fs::read(&raw), "fs::read");
                        black_box(touch_all(&v));
                        v
                    })
                },
                &mut |_| {
                    time(|| {
                        let m = map_file(&raw);
                        black_box(touch_all(&m));
                        m
                    })
                },
                &mut |_| {
                    time(|| {
                        let m = map_file(&raw);
                        black_box(PayloadCheck::of(&m));
                        m
                    })
                },
                &mut |_| {
                    time(|| {
                        let m = map_file(&raw);
                        black_box(m.as_ptr());
                        m
                    })
                },
                &mut |_| {
                    let start = Instant::now();
                    let v = ok(cacache::read_sync(&cc, "map"), "cacache read");
                    let took = start.elapsed();
                    assert_eq!(v.len(), bytes.len());
                    took
                },
            ],
        );
        let [sc_view, sc_all, read, read_all, mmap_all, mmap_hash, mmap_bare, cacache] =
            [0, 1, 2, 3, 4, 5, 6, 7].map(|i| Fig::runs(&t[i], Some(n)));
        let l = &map.label;
        let what = format!("`get` {l} → `&[f32]` (verified, zero-copy)");
        table.row(&what, &sc_view, "`fs::read` into a new Vec (unverified)", &read);
        table.row(&what, &sc_view, "mmap + read every byte (unverified)", &mmap_all);
        table.row(
            &what,
            &sc_view,
            "mmap + XXH3-128 of every byte (verified-read limit)",
            &mmap_hash,
        );
        table.row(&what, &sc_view, "`cacache::read_sync` (sha256-verified Vec)", &cacache);
        table.row(
            &what,
            &sc_view,
            "bare `memmap2::Mmap` open, nothing read",
            &mmap_bare.time_only(),
        );
        table.row(
            format!("`get` {l} → `&[f32]`, then read every byte"),
            &sc_all,
            "`fs::read`, then read every byte",
            &read_all,
        );
        drop((writer, reader));
        let _ = fs::remove_dir_all(&dir);
        let _ = fs::remove_dir_all(&raw_dir);
        let _ = fs::remove_dir_all(&cc);
    }
    table.note(format!(
        "{}/{} runs per figure (below/above 100 MiB), variants interleaved in a shuffled order, after one warm-up each \
         (which also warms the page cache).",
        plan.io_runs.0, plan.io_runs.1
    ));
    table.note(
        "stepcache reads through a second `Cache` handle with `memory_budget(0)`, so every `get` \
         opens the file, maps it (`MAP_POPULATE`), checks the header and verifies the payload's \
         XXH3-128 checksum before returning; its GB/s is therefore verified bytes per second. The clock stops \
         once `&[f32]` is in hand; unmapping or freeing afterwards is not timed, for any variant.",
    );
    vec![table]
}
