//! `stepcache verify`: reads every stored entry in full and checks it, on all cores.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::Serialize;
use stepcache::{Cache, EntryInfo};

use crate::args::VerifyArgs;
use crate::engine::{self, Read};
use crate::progress;
use crate::report::{self, Failure, Outcome};
use crate::units::bytes_text;
use crate::{Ctx, Mode};

/// One damaged entry.
#[derive(Serialize)]
struct Damaged {
    /// `step@b3:<64 hex>`.
    key: String,
    /// What is wrong with it.
    reason: String,
    /// Whether its file is gone now (not with `--no-remove`, nor where the directory
    /// cannot be written).
    removed: bool,
}

/// `verify --json`.
#[derive(Serialize)]
struct Verified {
    /// The cache directory.
    dir: String,
    /// Entries read and checked.
    checked: u64,
    /// Their bytes on disk.
    bytes: u64,
    /// Entries that verified.
    sound: u64,
    /// Entries that did not.
    damaged: Vec<Damaged>,
    /// Entries whose head was damaged, found while listing (their keys are unknown).
    damaged_unlisted: u64,
    /// Entries removed by another process while this one ran.
    gone: u64,
    /// Whether the cache was open read-only (`--no-remove`, or a directory that cannot
    /// be written): then nothing was removed.
    read_only: bool,
}

/// Applies `check` to every item of `items` on every core; the results in order, or
/// the first error (the workers then stop taking items).
fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    check: impl Fn(&T) -> stepcache::Result<R> + Sync,
) -> stepcache::Result<Vec<R>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, items.len().max(1));
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    type Done<R> = stepcache::Result<Vec<(usize, R)>>;
    let work = || -> Done<R> {
        let mut done = Vec::new();
        while !failed.load(Ordering::Relaxed) {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            match check(item) {
                Ok(r) => done.push((i, r)),
                Err(e) => {
                    failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(done)
    };
    let per_worker: Vec<std::thread::Result<Done<R>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers).map(|_| scope.spawn(work)).collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    let mut all = Vec::with_capacity(items.len());
    for worker in per_worker {
        let done = worker
            .map_err(|_| stepcache::Error::new(stepcache::ErrorKind::Storage, "a verifying thread panicked"))??;
        all.extend(done);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, r)| r).collect())
}

/// Checks every stored entry of `cache`, a progress bar in bytes on stderr.
fn check_all(cache: &Cache, entries: &[EntryInfo], quiet: bool) -> stepcache::Result<Vec<Read>> {
    let bar = progress::bytes(Some(entries.iter().map(|e| e.bytes).sum()), quiet, "verifying");
    let reads = in_parallel(entries, |info| {
        let read = engine::read_entry(cache, info);
        bar.inc(info.bytes);
        read
    });
    bar.finish_and_clear();
    reads
}

/// Runs `verify`: exit code 1 if any entry is damaged.
pub(crate) fn run(ctx: &Ctx, args: &VerifyArgs) -> Result<Outcome, Failure> {
    let cache = ctx.open(if args.no_remove { Mode::Read } else { Mode::Write })?;
    let entries: Vec<EntryInfo> = cache.entries()?.into_iter().filter(|e| e.stored).collect();
    // A head too damaged to list has no key to read it by: the listing counts it.
    let damaged_unlisted = cache.stats()?.corrupt_removed;
    let reads = check_all(&cache, &entries, ctx.quiet)?;
    let mut verified = Verified {
        dir: ctx.dir.display().to_string(),
        checked: 0,
        bytes: 0,
        sound: 0,
        damaged: Vec::new(),
        damaged_unlisted,
        gone: 0,
        read_only: cache.engine().store().is_read_only(),
    };
    for (info, read) in entries.iter().zip(reads) {
        match read {
            Read::Missing => {
                verified.gone += 1;
                continue;
            }
            Read::Sound => verified.sound += 1,
            Read::Damaged(reason) => verified.damaged.push(Damaged {
                key: report::key_text(info),
                reason,
                removed: !cache.engine().store().entry_path(&info.fingerprint).exists(),
            }),
        }
        verified.checked += 1;
        verified.bytes += info.bytes;
    }
    let code = u8::from(!verified.damaged.is_empty() || verified.damaged_unlisted > 0);
    let stdout = if ctx.json {
        report::json(&verified)?
    } else {
        text(&verified)
    };
    Ok(Outcome { stdout, code })
}

/// `verify`'s text output: one line per damaged entry, then a summary.
fn text(v: &Verified) -> String {
    let fate = |removed: bool| if removed { "removed" } else { "kept" };
    let mut out: String = v
        .damaged
        .iter()
        .map(|d| format!("damaged {}: {} ({})\n", d.key, d.reason, fate(d.removed)))
        .collect();
    out.push_str(&format!(
        "verified {} ({}): {} sound, {} damaged",
        report::entries_text(v.checked as usize),
        bytes_text(v.bytes),
        v.sound,
        v.damaged.len()
    ));
    if v.damaged_unlisted > 0 {
        out.push_str(&format!(
            "; {} more with a damaged head found while listing ({})",
            v.damaged_unlisted,
            fate(!v.read_only)
        ));
    }
    if v.gone > 0 {
        out.push_str(&format!("; {} removed meanwhile by another process", v.gone));
    }
    out.push('\n');
    if v.read_only && (!v.damaged.is_empty() || v.damaged_unlisted > 0) {
        out.push_str("damaged entries were kept: the cache was open read-only ");
        out.push_str("(--no-remove, or a directory that cannot be written)\n");
    }
    out
}
