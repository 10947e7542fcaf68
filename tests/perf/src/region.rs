//! Section 6: one slice of a stored volume (a region read) against the whole volume.

use std::fs::{self, File};
use std::hint::black_box;
use std::os::unix::fs::FileExt;
use std::time::Instant;

use stepcache::{Cache, Durability, ElementType, Key, TierOutcome, Value};
use stepcache_core::entry::PayloadCheck;

use crate::report::{Fig, Table, interleave, time};
use crate::{Map, Plan, Scratch, ok, settle};

/// One axial slice of `[z, 512, 512]` f32 volumes (1 MiB a slice), warm page cache.
pub fn run(plan: &Plan, scratch: &Scratch) -> Vec<Table> {
    let mut table = Table::new("Region read: one axial slice of an f32 volume (warm page cache)");
    const SLICE: usize = 512 * 512 * 4;
    for &bytes in &plan.region_sizes {
        let map = Map::new(bytes);
        let depth = (bytes / SLICE) as u64;
        let shape = [depth, 512, 512];
        let volume = ok(
            Value::new(ElementType::F32, shape.to_vec(), map.value.data().clone()),
            "a volume of the map's bytes",
        );
        let runs = plan.io_runs_for(bytes);
        let dir = scratch.dir("region-stepcache");
        let cache = |budget| {
            ok(
                Cache::builder()
                    .dir(&dir)
                    .memory_budget(budget)
                    .store_budget(1 << 40)
                    .durability(Durability::Buffered)
                    .open(),
                "open a stepcache",
            )
        };
        let writer = cache(0);
        let key = ok(Key::of("perf_region").arg("bytes", bytes as u64).build(), "build a key");
        let report = ok(writer.put(&key, volume), "stepcache put");
        assert_eq!(report.store, TierOutcome::Stored, "the entry reached the disk");
        // No memory tier: every read opens the file, maps it and verifies what it returns.
        let reader = cache(0);
        let raw_dir = scratch.dir("region-raw");
        ok(fs::create_dir_all(&raw_dir), "create the raw directory");
        let raw = raw_dir.join("volume.bin");
        ok(fs::write(&raw, map.bytes()), "write the raw volume");
        settle();

        let mid = depth / 2;
        let at = mid as usize * SLICE;
        let expected = &map.bytes()[at..at + SLICE];
        // The peer: the slice's bytes from the plain file, one open and one `pread`.
        let pread = || {
            let file = ok(File::open(&raw), "open the raw volume");
            let mut buf = vec![0u8; SLICE];
            ok(file.read_exact_at(&mut buf, at as u64), "pread the slice");
            buf
        };
        let t = interleave(
            runs,
            &mut [
                &mut |_| {
                    let start = Instant::now();
                    let hit = ok(reader.get_region(&key, &[mid..mid + 1, 0..512]), "stepcache get_region");
                    let hit = hit.expect("the entry is stored");
                    let slice: &[f32] = hit.value.as_slice().expect("an aligned f32 view");
                    black_box(slice.as_ptr());
                    let took = start.elapsed();
                    assert_eq!(hit.value.data().as_bytes(), expected);
                    took
                },
                &mut |_| {
                    let start = Instant::now();
                    let hit = ok(reader.get(&key), "stepcache get").expect("the entry is stored");
                    let slice: &[f32] = hit.value.as_slice().expect("an aligned f32 view");
                    black_box(slice.as_ptr());
                    let took = start.elapsed();
                    drop(hit); // unmapping is not part of the get
                    took
                },
                &mut |_| time(pread),
                &mut |_| {
                    time(|| {
                        let buf = pread();
                        black_box(PayloadCheck::of(&buf));
                        buf
                    })
                },
            ],
        );
        let n = SLICE as u64;
        let [region, whole, pread, pread_check] = [0, 1, 2, 3].map(|i| Fig::runs(&t[i], Some(n)));
        let whole = Fig {
            bytes: Some(bytes as u64),
            ..whole
        };
        let what = format!("`get_region` of 1 slice of {} → `&[f32]` (verified)", map.label);
        table.row(
            &what,
            &region,
            format!("whole `get` of the {} volume (verified)", map.label),
            &whole,
        );
        table.row(&what, &region, "`pread` of the slice's bytes (unverified)", &pread);
        table.row(
            &what,
            &region,
            "`pread` + XXH3-128 of the slice (verified-read limit)",
            &pread_check,
        );
        drop((writer, reader));
        let _ = fs::remove_dir_all(&dir);
        let _ = fs::remove_dir_all(&raw_dir);
    }
    table.note(format!(
        "Volumes of [z, 512, 512] f32, the middle slice; {}/{} runs per figure (below/above 100 MiB), \
         variants interleaved in a shuffled order, after one warm-up each.",
        plan.io_runs.0, plan.io_runs.1
    ));
    table.note(
        "stepcache reads through a handle with `memory_budget(0)`: each call opens the entry, \
         maps it, checks the header and verifies every 1 MiB block it returns (a slice at any \
         offset touches one or two). The whole `get` verifies the whole payload. Target: the \
         slice in at most 5% of the whole `get`'s time.",
    );
    vec![table]
}
