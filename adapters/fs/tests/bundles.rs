//! `Cache::export_bundle` and `Cache::import_bundle`: a cache's entries carried in one
//! bundle into another directory arrive byte for byte; filters choose what goes; a
//! damaged entry is refused while the others arrive; a bundle cut short at any byte never
//! stores a wrong entry; an import never replaces an entry the cache holds.

#![allow(clippy::unwrap_used)] // tests report failures by panicking

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use stepcache::{Cache, EntryRead, ErrorKind, ExportFilter, Fingerprint, ImportReport, Key, Value};
use stepcache_core::bundle::{self, BundleSlices, BundleWriter};

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("stepcache-fs-bundle-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        Scratch(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn key(step: &str, n: u64) -> Key {
    Key::of(step).arg("tr_ms", n).build().unwrap()
}

/// Stores `plan`'s entries (step, argument, f32 count) in `cache`, oldest first, at
/// distinct times; their keys.
fn fill(cache: &Cache, plan: &[(&str, u64, usize)]) -> Vec<Key> {
    plan.iter()
        .map(|&(step, n, len)| {
            let k = key(step, n);
            cache
                .put(&k, Value::array(vec![n as f32; len], &[len]).unwrap())
                .unwrap();
            std::thread::sleep(Duration::from_millis(3));
            k
        })
        .collect()
}

/// Four small entries of two steps and one of 400 KB (memory-mapped when read).
const PLAN: [(&str, u64, usize); 5] = [
    ("t1_map", 1, 100),
    ("t1_map", 2, 100),
    ("r1_map", 3, 100_000),
    ("r1_map", 4, 50),
    ("t1_map", 5, 70),
];

/// Entry `id` of `cache` exactly as stored, verified; `None` if it is not stored.
fn stored(cache: &Cache, id: &Fingerprint) -> Option<Vec<u8>> {
    match cache.read_entry(id).unwrap() {
        EntryRead::Sound(bytes) => Some(bytes.as_ref().to_vec()),
        EntryRead::Missing => None,
        EntryRead::Damaged(why) => panic!("{id} is damaged: {why}"),
    }
}

/// Every stored entry of `cache` by fingerprint, verified.
fn all_stored(cache: &Cache) -> BTreeMap<Fingerprint, Vec<u8>> {
    cache
        .entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.stored)
        .map(|e| (e.fingerprint, stored(cache, &e.fingerprint).unwrap()))
        .collect()
}

fn export(cache: &Cache, filter: &ExportFilter) -> Vec<u8> {
    let mut out = Vec::new();
    cache.export_bundle(&mut out, filter, |_, _| {}).unwrap();
    out
}

fn import(cache: &Cache, bundle: &[u8]) -> stepcache::Result<ImportReport> {
    cache.import_bundle(bundle, Some(bundle.len() as u64), |_, _| {})
}

#[test]
fn a_round_trip_into_a_fresh_directory_is_byte_identical() {
    let scratch = Scratch::new("round-trip");
    let source = Cache::open(scratch.join("a")).unwrap();
    fill(&source, &PLAN);
    let originals = all_stored(&source);
    assert_eq!(originals.len(), PLAN.len());

    let mut bundle = Vec::new();
    let mut calls = Vec::new();
    let report = source
        .export_bundle(&mut bundle, &ExportFilter::default(), |done, total| {
            calls.push((done, total))
        })
        .unwrap();
    assert_eq!((report.entries, report.damaged), (5, 0));
    assert_eq!(report.bytes, bundle.len() as u64);
    let entry_bytes: usize = originals.values().map(Vec::len).sum();
    assert_eq!(bundle.len(), 16 + 41 * 5 + entry_bytes + 33, "the format's length");
    assert_eq!(calls.len(), 5);
    assert!(calls.windows(2).all(|w| w[0].0 < w[1].0), "{calls:?}");
    assert_eq!(calls[4].0, calls[4].1, "ends at its total");
    // The bundle holds each entry as stored.
    let records: BTreeMap<Fingerprint, Vec<u8>> = BundleSlices::new(&bundle)
        .map(|r| r.map(|(id, bytes)| (id, bytes.to_vec())))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(records, originals);

    // Into a directory that does not exist yet, read in chunks of a few bytes, length
    // unknown.
    let target = Cache::open(scratch.join("b")).unwrap();
    let mut progress = Vec::new();
    let report = target
        .import_bundle(Trickle(&bundle, 7), None, |done, total| progress.push((done, total)))
        .unwrap();
    assert_eq!(
        (report.imported, report.present, report.skipped, report.refused.len()),
        (5, 0, 0, 0)
    );
    assert_eq!(report.bytes, entry_bytes as u64);
    assert_eq!(progress.last(), Some(&(bundle.len() as u64, 0)));
    assert_eq!(all_stored(&target), originals);
    // And the values read back through `get` with their keys.
    let hit = target.get(&key("r1_map", 3)).unwrap().unwrap();
    assert_eq!(hit.value.as_slice::<f32>().unwrap(), &vec![3.0; 100_000][..]);

    // The same bundle again: every key is present, nothing changes.
    let again = import(&target, &bundle).unwrap();
    assert_eq!((again.imported, again.present), (0, 5));
    assert_eq!(all_stored(&target), originals);

    // An empty cache exports an empty bundle, which imports nothing.
    let empty = Cache::open(scratch.join("c")).unwrap();
    let nothing = export(&empty, &ExportFilter::default());
    assert_eq!(nothing.len(), 49);
    assert_eq!(import(&target, &nothing).unwrap(), ImportReport::default());
}

/// A reader handing out at most `.1` bytes at a time.
struct Trickle<'a>(&'a [u8], usize);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.1.min(buf.len()).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn filters_choose_a_step_and_a_time() {
    let scratch = Scratch::new("filters");
    let source = Cache::open(scratch.join("a")).unwrap();
    let keys = fill(&source, &PLAN);
    let ids = |bundle: &[u8]| -> Vec<Fingerprint> {
        let mut ids: Vec<Fingerprint> = BundleSlices::new(bundle).map(|r| r.unwrap().0).collect();
        ids.sort();
        ids
    };
    let expect = |picked: &[usize]| -> Vec<Fingerprint> {
        let mut ids: Vec<Fingerprint> = picked.iter().map(|&i| *keys[i].fingerprint()).collect();
        ids.sort();
        ids
    };

    let t1 = ExportFilter {
        step: Some("t1_map".to_owned()),
        since_ms: None,
    };
    assert_eq!(ids(&export(&source, &t1)), expect(&[0, 1, 4]));
    let created: BTreeMap<Fingerprint, u64> = source
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| (e.fingerprint, e.created_ms))
        .collect();
    let since = ExportFilter {
        step: None,
        since_ms: Some(created[keys[2].fingerprint()]),
    };
    assert_eq!(ids(&export(&source, &since)), expect(&[2, 3, 4]));
    let both = ExportFilter {
        step: Some("t1_map".to_owned()),
        since_ms: since.since_ms,
    };
    assert_eq!(ids(&export(&source, &both)), expect(&[4]));
    let none = ExportFilter {
        step: Some("other".to_owned()),
        since_ms: None,
    };
    assert_eq!(ids(&export(&source, &none)), expect(&[]));

    // A filtered bundle imports just those.
    let target = Cache::open(scratch.join("b")).unwrap();
    assert_eq!(import(&target, &export(&source, &t1)).unwrap().imported, 3);
    let mut held: Vec<Fingerprint> = all_stored(&target).into_keys().collect();
    held.sort();
    assert_eq!(held, expect(&[0, 1, 4]));
}

/// Where each record's entry lies in `bundle`, in order.
fn entry_ranges(bundle: &[u8]) -> Vec<(Fingerprint, std::ops::Range<usize>)> {
    let base = bundle.as_ptr() as usize;
    BundleSlices::new(bundle)
        .map(|r| {
            let (id, bytes) = r.unwrap();
            let at = bytes.as_ptr() as usize - base;
            (id, at..at + bytes.len())
        })
        .collect()
}

#[test]
fn a_damaged_entry_is_refused_and_the_others_arrive() {
    let scratch = Scratch::new("damaged");
    let source = Cache::open(scratch.join("a")).unwrap();
    let keys = fill(&source, &PLAN);
    let originals = all_stored(&source);
    let mut bundle = export(&source, &ExportFilter::default());
    let ranges = entry_ranges(&bundle);
    // Damage the payload of the large entry, and the header of a small one.
    let (large, range) = ranges
        .iter()
        .find(|(id, _)| id == keys[2].fingerprint())
        .unwrap()
        .clone();
    bundle[range.end - 10] ^= 0x40;
    let (small, range) = ranges
        .iter()
        .find(|(id, _)| id == keys[0].fingerprint())
        .unwrap()
        .clone();
    bundle[range.start + 20] ^= 0x01;

    // The target holds an entry of its own, which nothing may lose.
    let target = Cache::open(scratch.join("b")).unwrap();
    let own = fill(&target, &[("own", 9, 10)]);
    let before = all_stored(&target);
    let report = import(&target, &bundle).unwrap();
    assert_eq!(report.imported, 3);
    let mut refused: Vec<Fingerprint> = report.refused.iter().map(|(id, _)| *id).collect();
    refused.sort();
    let mut expected = vec![large, small];
    expected.sort();
    assert_eq!(refused, expected);
    assert!(
        report
            .refused
            .iter()
            .all(|(_, why)| why.starts_with("not a sound entry")),
        "{:?}",
        report.refused
    );
    let held = all_stored(&target);
    assert_eq!(held.len(), 4);
    assert_eq!(held[own[0].fingerprint()], before[own[0].fingerprint()]);
    for (id, bytes) in &held {
        if id != own[0].fingerprint() {
            assert_eq!(bytes, &originals[id]);
        }
    }
    assert!(!held.contains_key(&large) && !held.contains_key(&small));

    // An entry filed under another key than its own is refused too.
    let (id, range) = &ranges[1];
    let mut writer = BundleWriter::new();
    let mut misfiled = bundle::HEADER.to_vec();
    let other = Fingerprint::of_bytes(b"another key");
    misfiled.extend_from_slice(&writer.record_head(&other, range.len() as u64).unwrap());
    misfiled.extend_from_slice(&originals[id]);
    misfiled.extend_from_slice(&writer.finish());
    let fresh = Cache::open(scratch.join("c")).unwrap();
    let report = import(&fresh, &misfiled).unwrap();
    assert_eq!((report.imported, report.refused.len()), (0, 1));
    assert_eq!(report.refused[0].0, other);
    assert!(all_stored(&fresh).is_empty());

    // A damaged entry in the cache is left out of an export, and counted.
    let file = source.engine().store().entry_path(keys[1].fingerprint());
    let mut bytes = fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&file, bytes).unwrap();
    let mut out = Vec::new();
    let report = source
        .export_bundle(&mut out, &ExportFilter::default(), |_, _| {})
        .unwrap();
    assert_eq!((report.entries, report.damaged), (4, 1));
    assert_eq!(BundleSlices::new(&out).count(), 4);
}

#[test]
fn a_bundle_cut_short_anywhere_is_an_error_after_sound_entries() {
    let scratch = Scratch::new("cut");
    let source = Cache::open(scratch.join("a")).unwrap();
    fill(&source, &[("t1_map", 1, 20), ("t1_map", 2, 10), ("r1_map", 3, 5)]);
    let originals = all_stored(&source);
    let bundle = export(&source, &ExportFilter::default());
    let ends: Vec<usize> = entry_ranges(&bundle).iter().map(|(_, r)| r.end).collect();
    assert!(bundle.len() < 2000, "{}", bundle.len());

    let target = Cache::open(scratch.join("b")).unwrap();
    for cut in 0..bundle.len() {
        let part = &bundle[..cut];
        // Told the cut length, told nothing, and read a few bytes at a time.
        let results = [
            import(&target, part),
            target.import_bundle(part, None, |_, _| {}),
            target.import_bundle(Trickle(part, 13), None, |_, _| {}),
        ];
        for (how, result) in results.into_iter().enumerate() {
            let err = result.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidBundle, "cut at {cut}, way {how}: {err}");
        }
        // What arrived is exactly the entries wholly before the cut, as they were.
        let held = all_stored(&target);
        assert_eq!(
            held.len(),
            ends.iter().filter(|&&end| end <= cut).count(),
            "cut at {cut}"
        );
        for (id, bytes) in &held {
            assert_eq!(bytes, &originals[id], "cut at {cut}");
        }
        target.clear(None).unwrap();
    }
    // Whole, it imports all.
    assert_eq!(import(&target, &bundle).unwrap().imported, 3);
    // Bytes after the end record, or a bundle that is not one, are errors too.
    let mut longer = bundle.clone();
    longer.push(0);
    assert_eq!(import(&target, &longer).unwrap_err().kind(), ErrorKind::InvalidBundle);
    let err = import(&target, b"not a bundle at all, but long enough").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidBundle);
    assert!(err.message().contains("not a stepcache bundle"), "{err}");
}

#[test]
fn an_import_keeps_an_entry_the_cache_holds() {
    let scratch = Scratch::new("present");
    let source = Cache::open(scratch.join("a")).unwrap();
    fill(&source, &[("t1_map", 1, 100), ("t1_map", 2, 100)]);
    let bundle = export(&source, &ExportFilter::default());

    // The target holds key 1 with another value (another machine's result).
    let target = Cache::open(scratch.join("b")).unwrap();
    let mine = key("t1_map", 1);
    target
        .put(&mine, Value::array(vec![-1.0f32; 7], &[7]).unwrap())
        .unwrap();
    let before = stored(&target, mine.fingerprint()).unwrap();
    let report = import(&target, &bundle).unwrap();
    assert_eq!((report.imported, report.present), (1, 1));
    assert_eq!(stored(&target, mine.fingerprint()).unwrap(), before);
    let hit = target.get(&mine).unwrap().unwrap();
    assert_eq!(hit.value.as_slice::<f32>().unwrap(), &[-1.0; 7]);
}

/// A bundle written to a pipe goes into the pipe, which stays a pipe (`/dev/stdout`, a
/// FIFO and `>(gzip > x)` are such paths); a pipe closed early is an error, never a
/// success; a directory is refused.
#[cfg(unix)]
#[test]
fn an_export_to_a_pipe_writes_into_it_and_a_directory_is_refused() {
    use std::os::unix::fs::FileTypeExt;
    let scratch = Scratch::new("pipe");
    let source = Cache::open(scratch.join("a")).unwrap();
    fill(&source, &PLAN);
    let fifo = scratch.join("pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());

    let reader = std::thread::spawn({
        let fifo = fifo.clone();
        move || fs::read(fifo).unwrap()
    });
    let report = source
        .export_bundle_file(&fifo, &ExportFilter::default(), |_, _| {})
        .unwrap();
    let bundle = reader.join().unwrap();
    assert_eq!(report.bytes, bundle.len() as u64);
    assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo(), "still a pipe");
    let target = Cache::open(scratch.join("b")).unwrap();
    assert_eq!(import(&target, &bundle).unwrap().imported, PLAN.len() as u64);

    let early = std::thread::spawn({
        let fifo = fifo.clone();
        move || {
            let mut head = [0u8; 8];
            fs::File::open(fifo).unwrap().read_exact(&mut head).unwrap();
        }
    });
    let err = source
        .export_bundle_file(&fifo, &ExportFilter::default(), |_, _| {})
        .unwrap_err();
    early.join().unwrap();
    assert_eq!(err.kind(), ErrorKind::Storage, "{err}");

    let err = source
        .export_bundle_file(&scratch.0, &ExportFilter::default(), |_, _| {})
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("a directory"), "{err}");
}
