//! Compaction: copying the live records of sealed packs into this handle's pack, so the
//! space of replaced and removed entries comes back.
//!
//! One process compacts at a time (an `flock` on `packs/compact.lock`), and a pack is
//! compacted only while its lock is free (its writer is gone), taken by the compactor.
//! Copies keep their stamps, so they win or lose against other records exactly as the
//! originals did.
//!
//! A removal record must outlive every older record of its id, or that record would come
//! back. It is dropped only when no other pack holds a record older than it: normal
//! appends always take fresh (newer) stamps, and old stamps are copied only by the one
//! compactor, which is us.

use std::fs::{self, File, OpenOptions};
use std::sync::Arc;

use stepcache_core::{Fingerprint, Result};

use super::record::{Kind, RECORD_HEADER_LEN, record_len};
use super::{Loc, Packs, poisoned, read_at};
use crate::map::Counter;
use crate::store::io_error;

/// A pack is compacted once at least this share of its bytes is dead (1/DEAD_DIVISOR).
const DEAD_DIVISOR: u64 = 2;
/// A handle seals its own pack for compaction only once this much of it is dead: small
/// waste is not worth a copy.
const OWN_DEAD_MIN: u64 = 1 << 20;
/// Sealed packs smaller than this are merged when a cache is opened, so the number of
/// packs (one per process that wrote) stays small.
const SMALL_PACK: u64 = 8 << 20;

impl Packs {
    /// Compacts the sealed packs worth it; with `at_open`, also merges small sealed packs.
    /// Does nothing if another process is compacting.
    pub(super) fn compact(&self, at_open: bool) -> Result<()> {
        let own = self.writer.lock().map_err(|_| poisoned())?.as_ref().map(|w| w.pack);
        let worth = |bytes: u64, live: u64| bytes > 0 && (bytes - live) * DEAD_DIVISOR >= bytes;
        let (mut candidates, seal_own) = {
            let state = self.state.read().map_err(|_| poisoned())?;
            let sealed: Vec<(u64, u64, u64)> = state
                .packs
                .iter()
                .filter(|(k, _)| Some(**k) != own)
                .map(|(k, p)| (*k, p.bytes, p.live))
                .collect();
            let merge_small = at_open && sealed.len() > 1;
            let candidates: Vec<u64> = sealed
                .iter()
                .filter(|(_, bytes, live)| worth(*bytes, *live) || (merge_small && *bytes < SMALL_PACK))
                .map(|(k, ..)| *k)
                .collect();
            let seal_own = own
                .and_then(|k| state.packs.get(&k))
                .is_some_and(|p| p.bytes - p.live >= OWN_DEAD_MIN && worth(p.bytes, p.live));
            (candidates, seal_own)
        };
        if seal_own && let Some(own) = own {
            // Dropping the writer unlocks its pack; the next append starts a new one.
            *self.writer.lock().map_err(|_| poisoned())? = None;
            candidates.push(own);
        }
        if candidates.is_empty() {
            return Ok(());
        }
        let lock_path = self.dir.join("compact.lock");
        let mut options = OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let lock = options.open(&lock_path).map_err(|e| io_error("open", &lock_path, e))?;
        if lock.try_lock().is_err() {
            return Ok(()); // another process is compacting
        }
        self.refresh(false)?;
        for pack in candidates {
            self.compact_one(pack)?;
        }
        Ok(())
    }

    /// Copies the live records of sealed `pack` into this handle's pack and removes it.
    fn compact_one(&self, pack: u64) -> Result<()> {
        let Some(path) = self
            .state
            .read()
            .map_err(|_| poisoned())?
            .packs
            .get(&pack)
            .map(|p| p.path.clone())
        else {
            return Ok(());
        };
        let Ok(file) = File::open(&path) else {
            return Ok(()); // removed by an earlier compaction
        };
        if file.try_lock().is_err() {
            return Ok(()); // its writer is alive
        }
        // The name may have been reused by nothing else, but the file may have been removed
        // and the handle opened on a stale listing: make sure it is still the pack there.
        if !same_file(&file, &path) {
            return Ok(());
        }
        self.refresh(false)?;
        let keep = {
            let state = self.state.read().map_err(|_| poisoned())?;
            let oldest_elsewhere = state
                .packs
                .iter()
                .filter(|(k, _)| **k != pack)
                .map(|(_, p)| p.min_stamp)
                .min()
                .unwrap_or(u64::MAX);
            // Latest records only; a removal only while an older record may exist elsewhere.
            let keep: Vec<(Fingerprint, Loc)> = state
                .index
                .iter()
                .filter(|(_, l)| l.pack == pack && (l.kind == Kind::Entry || oldest_elsewhere < l.stamp))
                .map(|(id, l)| (*id, *l))
                .collect();
            keep
        };
        let source = Arc::new(file);
        for (id, loc) in keep {
            let mut record = vec![0u8; record_len(loc.len) as usize];
            let body = RECORD_HEADER_LEN..RECORD_HEADER_LEN + loc.len as usize;
            read_at(&source, &mut record[body], loc.offset + RECORD_HEADER_LEN as u64)
                .map_err(|e| io_error("read", &path, e))?;
            self.append(loc.kind, &id, Some(&loc), loc.len, &mut record)?;
        }
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_error("remove", &path, e)),
            _ => {}
        }
        self.counters.bump(Counter::PackSet);
        // What still points into the pack is what was not copied: dropped removals.
        self.state.write().map_err(|_| poisoned())?.forget_pack(pack);
        Ok(())
    }
}

#[cfg(unix)]
fn same_file(file: &File, path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &std::path::Path) -> bool {
    path.exists()
}
