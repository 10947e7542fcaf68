//! Small entries, packed: append-only pack files instead of one file per entry.
//!
//! # Why
//!
//! Creating a file costs about 9 us on this kind of machine and over 100 us for minutes
//! after many files were deleted (ext4 skips recently freed inodes); reading one costs an
//! `open`, a `stat`, a `read` and a `close`. A 1 KiB entry then spends 10-100x longer in
//! the filesystem than in stepcache. Appending to a file that is already open costs one
//! `pwrite`, and reading a known offset one `pread`.
//!
//! # How
//!
//! ```text
//! v1/packs/counters                 one page shared (mapped) by every process
//! v1/packs/<created:016x>-<pid>.pack  records appended by one writer (see record.rs)
//! ```
//!
//! - Each handle that writes small entries appends to a pack of its own, which it keeps
//!   locked (`flock`) while it may append: no two writers ever share a pack, so an append
//!   needs no lock beyond the handle's own mutex.
//! - Every record carries a stamp from a counter shared by all processes; for each id,
//!   the record with the highest stamp wins (last writer wins, across processes). A
//!   removal is a record too.
//! - Each handle keeps an index (id -> pack, offset, length) built by scanning the packs.
//!   A writer bumps a shared "published" counter after each record is complete; a reader
//!   compares it with the value it last scanned at, and scans the packs' new tails only when
//!   it changed. A read is then one lookup and one `pread`, and sees every put and removal
//!   completed before it started, by any process.
//! - A pack whose writer is gone (its lock is free) is sealed. Sealed packs that are
//!   mostly dead (replaced or removed records), or many small ones, are compacted: their
//!   live records are copied, stamps unchanged, into the compacting handle's pack, then
//!   the old pack is removed. Handles that still read from it keep their open file, and
//!   move to the copies at their next scan.
//! - A crash mid-append leaves an incomplete record at the end of a sealed pack; scans
//!   stop before it and compaction drops it. Entries verify themselves on every read, so
//!   a damaged record is a miss, never wrong data.

mod compact;
mod record;

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use stepcache_core::map::HashMap;

use memmap2::Mmap;
use stepcache_core::{Error, ErrorKind, Fingerprint, Listed, Result};

use crate::dir::owner_only_dir;
use crate::map::{COUNTERS_LEN, Counter, SharedCounters};
use crate::store::{Durability, io_error};
use record::{Kind, PACK_HEADER_LEN, RecordHeader};

/// A pack stops taking records at this size and its writer starts a new one: compaction
/// copies whole packs, so they must stay a size that copies quickly.
const PACK_ROLL_LEN: u64 = 64 << 20;

/// The largest entry a pack takes; larger ones get a file of their own.
pub const MAX_PACK_LIMIT: usize = 1 << 20;

/// How much of each pack is mapped: as much as a pack can grow to (its roll length plus
/// one largest record). Address space is plentiful on 64-bit hosts; only pages read
/// are ever loaded.
const PACK_MAP_LEN: u64 = PACK_ROLL_LEN + 2 * MAX_PACK_LIMIT as u64;

/// An entry read from a pack: a view into the pack's memory map, no copy.
pub struct PackedBytes {
    map: Arc<Mmap>,
    start: usize,
    end: usize,
}

impl AsRef<[u8]> for PackedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.map[self.start..self.end]
    }
}

impl std::fmt::Debug for PackedBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackedBytes({} bytes)", self.end - self.start)
    }
}

/// Where one id's latest record is.
#[derive(Debug, Clone, Copy)]
struct Loc {
    /// The pack's creation stamp (its key in [`State::packs`]).
    pack: u64,
    offset: u64,
    len: u32,
    stamp: u64,
    generation: u32,
    kind: Kind,
}

impl Loc {
    /// The order in which records of one id supersede each other: the later stamp; of
    /// copies of one record, the later generation (the copy outlives the original's
    /// pack); of equal copies (a compaction redone after a crash), a fixed choice, so
    /// every handle settles on the same one.
    fn rank(&self) -> (u64, u32, u64, u64) {
        (self.stamp, self.generation, self.pack, self.offset)
    }
}

/// One pack file as this handle knows it.
#[derive(Debug)]
struct Pack {
    path: PathBuf,
    file: Arc<File>,
    map: Arc<Mmap>,
    /// Where the next scan resumes: the end of the last complete record seen.
    scanned: u64,
    /// Bytes of records scanned, and of those the entries that are the latest of their id.
    bytes: u64,
    live: u64,
    /// The lowest stamp of any record scanned (compaction copies keep old stamps).
    min_stamp: u64,
}

impl Pack {
    fn new(path: PathBuf, file: Arc<File>) -> io::Result<Pack> {
        let len = file.metadata()?.len().max(PACK_MAP_LEN);
        let map = Arc::new(crate::map::map_pack(&file, len as usize)?);
        Ok(Pack {
            path,
            file,
            map,
            scanned: PACK_HEADER_LEN,
            bytes: 0,
            live: 0,
            min_stamp: u64::MAX,
        })
    }

    /// The bytes at `range` of the pack, which must have been scanned.
    fn view(&self, start: u64, len: u32) -> Option<PackedBytes> {
        let end = start.checked_add(u64::from(len))?;
        (end <= self.scanned && end <= self.map.len() as u64).then(|| PackedBytes {
            map: Arc::clone(&self.map),
            start: start as usize,
            end: end as usize,
        })
    }
}

/// What this handle knows of the packs.
#[derive(Debug, Default)]
struct State {
    /// The shared counters' values when the packs were last scanned.
    published_seen: u64,
    pack_set_seen: u64,
    packs: HashMap<u64, Pack>,
    index: HashMap<Fingerprint, Loc>,
}

/// This handle's own pack, locked while it appends.
#[derive(Debug)]
struct Writer {
    pack: u64,
    file: Arc<File>,
    end: u64,
}

impl Drop for Writer {
    /// Seals the pack: readers share its file, so closing ours would not release the lock.
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// The packs of one cache directory.
pub(crate) struct Packs {
    dir: PathBuf,
    tmp: PathBuf,
    counters: SharedCounters,
    durability: Durability,
    state: RwLock<State>,
    writer: Mutex<Option<Writer>>,
}

impl std::fmt::Debug for Packs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packs").field("dir", &self.dir).finish_non_exhaustive()
    }
}

fn poisoned() -> Error {
    Error::new(ErrorKind::Storage, "a thread panicked while using the pack index")
}

/// Reads exactly `buf.len()` bytes at `offset`.
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < buf.len() {
            match std::os::windows::fs::FileExt::seek_read(file, &mut buf[done..], offset + done as u64)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => done += n,
            }
        }
        Ok(())
    }
}

/// Writes all of `buf` at `offset`.
fn write_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < buf.len() {
            done += std::os::windows::fs::FileExt::seek_write(file, &buf[done..], offset + done as u64)?;
        }
        Ok(())
    }
}

impl Packs {
    /// Opens the packs of `<base>/packs` (creating the directory and the counters), scans
    /// them, and compacts sealed packs that are worth it.
    pub(crate) fn open(base: &Path, tmp: &Path, durability: Durability) -> Result<Packs> {
        let dir = base.join("packs");
        owner_only_dir(&dir).map_err(|e| io_error("create directory", &dir, e))?;
        let path = dir.join("counters");
        let counters = Self::open_counters(&path).map_err(|e| io_error("open", &path, e))?;
        let packs = Packs {
            dir,
            tmp: tmp.to_path_buf(),
            counters,
            durability,
            state: RwLock::new(State::default()),
            writer: Mutex::new(None),
        };
        packs.refresh(true)?;
        let newest = {
            let state = packs.state.read().map_err(|_| poisoned())?;
            state
                .index
                .values()
                .map(|l| l.stamp)
                .chain(state.packs.keys().copied())
                .max()
        };
        packs.counters.raise(Counter::Stamp, newest.unwrap_or(0));
        packs.compact(true)?;
        Ok(packs)
    }

    fn open_counters(path: &Path) -> io::Result<SharedCounters> {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path)?;
        // Extending is idempotent, so processes racing to create the file agree.
        if file.metadata()?.len() < COUNTERS_LEN {
            file.set_len(COUNTERS_LEN)?;
        }
        SharedCounters::map(&file)
    }

    /// Scans for records written since the last scan (by anyone), if the shared counters
    /// say there are any, or always if `force`.
    fn refresh(&self, force: bool) -> Result<()> {
        drop(self.current_if(force)?);
        Ok(())
    }

    /// The state, after scanning what was published since the last scan: everything
    /// completed before this call is in it.
    fn current(&self) -> Result<RwLockReadGuard<'_, State>> {
        self.current_if(false)
    }

    fn current_if(&self, force: bool) -> Result<RwLockReadGuard<'_, State>> {
        // Read before scanning: whatever is published later is caught by the next check.
        let published = self.counters.load(Counter::Published);
        let pack_set = self.counters.load(Counter::PackSet);
        {
            let state = self.state.read().map_err(|_| poisoned())?;
            if !force && state.published_seen == published && state.pack_set_seen == pack_set {
                return Ok(state);
            }
        }
        let mut state = self.state.write().map_err(|_| poisoned())?;
        if force || state.pack_set_seen != pack_set {
            self.list_packs(&mut state)?;
        }
        let keys: Vec<u64> = state.packs.keys().copied().collect();
        for pack in keys {
            self.scan_tail(&mut state, pack)?;
        }
        state.published_seen = published;
        state.pack_set_seen = pack_set;
        drop(state);
        self.state.read().map_err(|_| poisoned())
    }

    /// Opens packs that appeared and forgets packs that were removed (compacted).
    fn list_packs(&self, state: &mut State) -> Result<()> {
        let listing = fs::read_dir(&self.dir).map_err(|e| io_error("read directory", &self.dir, e))?;
        let mut present = Vec::new();
        for item in listing.flatten() {
            let name = item.file_name();
            let Some(created) = name.to_str().and_then(pack_stamp) else {
                continue;
            };
            present.push(created);
            if state.packs.contains_key(&created) {
                continue;
            }
            let path = item.path();
            // Removed by a compaction since the listing: its records are in another pack.
            let Ok(file) = File::open(&path) else { continue };
            let mut head = [0u8; PACK_HEADER_LEN as usize];
            if read_at(&file, &mut head, 0).is_err() || !record::is_pack_header(&head) {
                continue; // not a pack this build reads; compaction leaves it alone
            }
            let pack = Pack::new(path.clone(), Arc::new(file)).map_err(|e| io_error("map", &path, e))?;
            state.packs.insert(created, pack);
        }
        let gone: Vec<u64> = state.packs.keys().filter(|k| !present.contains(k)).copied().collect();
        for pack in gone {
            state.forget_pack(pack);
        }
        Ok(())
    }

    /// Reads the records appended to `pack` since it was last scanned.
    fn scan_tail(&self, state: &mut State, pack: u64) -> Result<()> {
        let Some(p) = state.packs.get(&pack) else { return Ok(()) };
        let len = p.file.metadata().map_err(|e| io_error("stat", &p.path, e))?.len();
        if len <= p.scanned {
            return Ok(());
        }
        if len > p.map.len() as u64 {
            // Grown past the map (written with a larger limit than ours): map it again.
            let map = crate::map::map_pack(&p.file, (len + PACK_MAP_LEN) as usize)
                .map_err(|e| io_error("map", &p.path, e))?;
            if let Some(p) = state.packs.get_mut(&pack) {
                p.map = Arc::new(map);
            }
        }
        let Some(p) = state.packs.get(&pack) else { return Ok(()) };
        let mut tail = vec![0u8; (len - p.scanned) as usize];
        read_at(&p.file, &mut tail, p.scanned).map_err(|e| io_error("read", &p.path, e))?;
        let (found, end) = record::scan(&tail, p.scanned);
        for f in found {
            state.apply(pack, f.header, f.offset);
        }
        if let Some(p) = state.packs.get_mut(&pack) {
            p.scanned = end;
        }
        Ok(())
    }

    /// The entry stored under `id` in a pack: `Ok(None)` if the packs hold none (or the
    /// latest record of `id` is a removal).
    pub(crate) fn get(&self, id: &Fingerprint) -> Result<Option<PackedBytes>> {
        let state = self.current()?;
        Ok(state.index.get(id).filter(|l| l.kind == Kind::Entry).and_then(|l| {
            let p = state.packs.get(&l.pack)?;
            p.view(l.offset + record::RECORD_HEADER_LEN as u64, l.len)
        }))
    }

    /// Appends entry `id` (the concatenation of `parts`), replacing any earlier record.
    pub(crate) fn put(&self, id: &Fingerprint, parts: &[&[u8]]) -> Result<()> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let len = u32::try_from(len).map_err(|_| Error::new(ErrorKind::Storage, "entry too large for a pack"))?;
        let mut record = Vec::with_capacity(record::record_len(len) as usize);
        record.extend_from_slice(&[0; record::RECORD_HEADER_LEN]);
        for part in parts {
            record.extend_from_slice(part);
        }
        record.resize(record::record_len(len) as usize, 0);
        self.append(Kind::Entry, id, None, len, &mut record)
    }

    /// Records that `id` was removed, if the packs may hold an entry for it.
    pub(crate) fn remove(&self, id: &Fingerprint) -> Result<()> {
        let held = self.current()?.index.get(id).is_some_and(|l| l.kind == Kind::Entry);
        // Not in the index after a fresh scan: no pack holds a complete entry for `id`. A
        // put that is still being written is concurrent with this removal, and may win.
        if !held {
            return Ok(());
        }
        let mut record = vec![0; record::RECORD_HEADER_LEN];
        self.append(Kind::Removal, id, None, 0, &mut record)?;
        self.compact(false)
    }

    /// Appends one record (`record` holds room for its header, then its body of `len`
    /// bytes and padding) to this handle's pack, with a new stamp, or as a copy of a
    /// record with `copy_of`'s stamp and generation (compaction).
    fn append(&self, kind: Kind, id: &Fingerprint, copy_of: Option<&Loc>, len: u32, record: &mut [u8]) -> Result<()> {
        let mut writer = self.writer.lock().map_err(|_| poisoned())?;
        if writer.as_ref().is_none_or(|w| w.end >= PACK_ROLL_LEN) {
            *writer = None; // unlocks the full pack: it is sealed now
            *writer = Some(self.new_pack()?);
        }
        let Some(w) = writer.as_mut() else {
            return Err(poisoned());
        };
        let header = RecordHeader {
            kind,
            stamp: copy_of.map_or_else(|| self.counters.bump(Counter::Stamp), |l| l.stamp),
            id: *id,
            len,
            generation: copy_of.map_or(0, |l| l.generation.saturating_add(1)),
        };
        record[..record::RECORD_HEADER_LEN].copy_from_slice(&header.encode());
        let offset = w.end;
        let path = || self.dir.join(pack_name(w.pack));
        write_at(&w.file, record, offset).map_err(|e| io_error("append to", &path(), e))?;
        if self.durability == Durability::Fsync {
            w.file.sync_data().map_err(|e| io_error("sync", &path(), e))?;
        }
        w.end += record.len() as u64;
        let mut state = self.state.write().map_err(|_| poisoned())?;
        if let Some(p) = state.packs.get_mut(&w.pack)
            && p.scanned == offset
        {
            p.scanned = w.end;
            state.apply(w.pack, header, offset);
        }
        let published = self.counters.bump(Counter::Published);
        // Nobody else published since our last scan: we know everything there is.
        if published == state.published_seen + 1 {
            state.published_seen = published;
        }
        Ok(())
    }

    /// Creates this handle's next pack: written and locked in `tmp/`, then renamed into
    /// the packs directory, so no reader ever sees a pack without its header.
    fn new_pack(&self) -> Result<Writer> {
        let created = self.counters.bump(Counter::Stamp);
        // The stamp is unique across handles and processes: so is the temporary name.
        let tmp = self.tmp.join(format!("pack.{}.{created:016x}.tmp", std::process::id()));
        let file = crate::store::create_locked(&tmp).map_err(|e| io_error("create", &tmp, e))?;
        let target = self.dir.join(pack_name(created));
        let made = write_at(&file, &record::pack_header(), 0)
            .and_then(|()| {
                if self.durability == Durability::Fsync {
                    file.sync_data()?;
                }
                fs::rename(&tmp, &target)
            })
            .and_then(|()| {
                if self.durability == Durability::Fsync {
                    File::open(&self.dir)?.sync_all()?;
                }
                Ok(())
            });
        if let Err(e) = made {
            let _ = fs::remove_file(&tmp);
            return Err(io_error("create pack", &target, e));
        }
        let file = Arc::new(file);
        let mut state = self.state.write().map_err(|_| poisoned())?;
        let pack = Pack::new(target.clone(), Arc::clone(&file)).map_err(|e| io_error("map", &target, e))?;
        state.packs.insert(created, pack);
        let pack_set = self.counters.bump(Counter::PackSet);
        if pack_set == state.pack_set_seen + 1 {
            state.pack_set_seen = pack_set;
        }
        Ok(Writer {
            pack: created,
            file,
            end: PACK_HEADER_LEN,
        })
    }

    /// Every entry the packs hold, with its leading bytes.
    pub(crate) fn list(&self) -> Result<Vec<Listed>> {
        let state = self.current()?;
        let listed = state
            .index
            .iter()
            .filter(|(_, l)| l.kind == Kind::Entry)
            .filter_map(|(id, l)| {
                let p = state.packs.get(&l.pack)?;
                let bytes = p.view(l.offset + record::RECORD_HEADER_LEN as u64, l.len)?;
                Some(Listed::of(*id, bytes.as_ref()))
            })
            .collect();
        Ok(listed)
    }

    /// Where the entry of `id` lies: its pack file, and the offset and length of the entry
    /// in it (for tests that damage entries on purpose).
    pub(crate) fn locate(&self, id: &Fingerprint) -> Result<Option<(PathBuf, u64, u32)>> {
        let state = self.current()?;
        Ok(state.index.get(id).filter(|l| l.kind == Kind::Entry).and_then(|l| {
            let p = state.packs.get(&l.pack)?;
            Some((p.path.clone(), l.offset + record::RECORD_HEADER_LEN as u64, l.len))
        }))
    }
}

impl State {
    /// Takes a scanned (or just written) record into the index: it becomes the latest
    /// record of its id unless one that ranks higher is known ([`Loc::rank`]).
    fn apply(&mut self, pack: u64, header: RecordHeader, offset: u64) {
        let loc = Loc {
            pack,
            offset,
            len: header.len,
            stamp: header.stamp,
            generation: header.generation,
            kind: header.kind,
        };
        if let Some(p) = self.packs.get_mut(&pack) {
            p.bytes += header.record_len();
            p.min_stamp = p.min_stamp.min(header.stamp);
        }
        if self.index.get(&header.id).is_some_and(|old| old.rank() >= loc.rank()) {
            return;
        }
        if let Some(old) = self.index.insert(header.id, loc)
            && old.kind == Kind::Entry
            && let Some(p) = self.packs.get_mut(&old.pack)
        {
            p.live -= record_len(&old);
        }
        if loc.kind == Kind::Entry
            && let Some(p) = self.packs.get_mut(&pack)
        {
            p.live += record_len(&loc);
        }
    }

    /// Drops a pack that no longer exists, and every index entry still pointing into it
    /// (their records were dead, or their copies have been scanned already).
    fn forget_pack(&mut self, pack: u64) {
        self.packs.remove(&pack);
        self.index.retain(|_, l| l.pack != pack);
    }
}

fn record_len(loc: &Loc) -> u64 {
    record::record_len(loc.len)
}

/// The file name of the pack created at stamp `created`.
fn pack_name(created: u64) -> String {
    format!("{created:016x}-{}.pack", std::process::id())
}

/// The creation stamp in a pack's file name, or `None` if `name` is not a pack's.
fn pack_stamp(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".pack")?;
    let (stamp, pid) = stem.split_once('-')?;
    if stamp.len() != 16 || pid.parse::<u32>().is_err() {
        return None;
    }
    u64::from_str_radix(stamp, 16).ok()
}
