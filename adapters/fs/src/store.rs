//! The filesystem store: small entries appended to pack files, larger ones in a file each,
//! written atomically and read by memory map.
//!
//! # Layout
//!
//! ```text
//! <dir>/                     owner-only (0700)
//!   v1/packs/                entries up to the pack limit (64 KiB), see `pack/mod.rs`
//!   v1/entries/<ab>/<64 hex> larger entries, one file each, named by the key's fingerprint
//!   v1/tmp/<...>.tmp         files being written, locked by their writer
//!   v1/locks/<64 hex>.lock   held (flock) while one process computes that key
//! ```
//!
//! An id's latest pack record wins over its file: a put that goes to a file appends a
//! removal record for the id, and a packed put leaves an older file in place (unlisted,
//! and removed with the id's next removal).
//!
//! File names are always the hex of a blake3 fingerprint, so no step name or argument
//! ever becomes part of a path: nothing a caller passes can traverse out of `<dir>`.
//!
//! A write goes to a new file in `tmp/`, which the writer locks, then is renamed over
//! the entry: a reader sees the old entry or the new one, never a mix, and an entry file
//! is never modified in place (which is what makes memory maps of it safe). A writer
//! killed mid-write leaves an unlocked temporary file, removed the next time a cache is
//! opened on the directory (see `dir.rs`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use memmap2::Mmap;

use crate::dir::owner_only_dir;
use crate::pack::{MAX_PACK_LIMIT, PackedBytes, Packs};
use stepcache_core::entry::{self, EntryHeader, LIST_HEAD_LEN, PayloadCheck, PayloadHasher};
use stepcache_core::{AlignedBytes, Error, ErrorKind, Fingerprint, Listed, LockGuard, Result, Store};

/// Entries at least this large are memory-mapped; smaller ones are read into memory,
/// which is cheaper than setting up a map.
const MAP_MIN_LEN: u64 = 256 * 1024;

/// Entries up to this many bytes go into packs by default. Reading them into memory costs
/// little at this size, and larger ones are better off with a file of their own, which
/// a get memory-maps and whose space a removal gives back at once.
pub const DEFAULT_PACK_LIMIT: usize = 64 * 1024;

/// A payload is written in pieces of this size, laid at multiples of 2 MiB in the file:
/// the page cache then builds large folios, which later memory maps of the entry fault in
/// fast (with 256 KiB pieces at unaligned offsets, a verified get of 256 MiB took 1.7x
/// longer). A payload of one or two pieces is checksummed on the writing thread, each
/// piece just before its write, while it is still in the processor's cache (1.03-1.08x
/// the bare write, where checksumming all of it first cost 1.10-1.20x); larger ones by a
/// second thread beside the writes (see [`checksum_beside_writes`]).
const PIECE: usize = 2 << 20;

/// Whether a write waits for the data to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Leave flushing to the operating system (the default). A process crash loses
    /// nothing; a power cut may lose recent entries, which then read as misses (never as
    /// damaged data: every read is verified).
    #[default]
    Buffered,
    /// `fsync` each entry and its directory before `put` returns.
    Fsync,
}

/// The bytes of an entry read from disk: a memory map, or an aligned buffer.
pub enum FsBytes {
    /// A read-only memory map of the whole file.
    Mapped(Mmap),
    /// The file's bytes, in a buffer aligned for any element type.
    Read(AlignedBytes),
    /// A packed entry, viewed in place in its pack's memory map.
    Packed(PackedBytes),
}

impl AsRef<[u8]> for FsBytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            FsBytes::Mapped(map) => map,
            FsBytes::Read(bytes) => bytes.as_ref(),
            FsBytes::Packed(bytes) => bytes.as_ref(),
        }
    }
}

/// A [`Store`] in a directory of the local filesystem.
#[derive(Debug)]
pub struct FsStore {
    root: PathBuf,
    entries: PathBuf,
    tmp: PathBuf,
    locks: PathBuf,
    durability: Durability,
    counter: AtomicU64,
    packs: Packs,
    pack_limit: usize,
}

/// Where an entry's bytes lie on disk (see [`FsStore::locate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryLocation {
    /// A file of its own.
    File(PathBuf),
    /// `len` bytes at `offset` in a pack file.
    Packed {
        /// The pack file.
        pack: PathBuf,
        /// Where the entry starts in it.
        offset: u64,
        /// The entry's length.
        len: u64,
    },
}

pub(crate) fn io_error(op: &str, path: &Path, e: io::Error) -> Error {
    let kind = match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => ErrorKind::StorageFull,
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => ErrorKind::PermissionDenied,
        _ => ErrorKind::Storage,
    };
    Error::new(kind, format!("{op} {}: {e}", path.display()))
}

impl FsStore {
    /// Opens (creating it owner-only if needed) a store in `dir`, and removes what
    /// interrupted writes left behind.
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`] or [`ErrorKind::Storage`] if the directory cannot
    /// be created or read.
    pub fn open(dir: impl AsRef<Path>, durability: Durability) -> Result<Self> {
        Self::open_with(dir, durability, DEFAULT_PACK_LIMIT)
    }

    /// Opens a store like [`FsStore::open`], packing entries of up to `pack_limit` bytes
    /// (0: every entry gets a file of its own; at most [`MAX_PACK_LIMIT`], 1 MiB).
    ///
    /// # Errors
    /// As [`FsStore::open`].
    pub fn open_with(dir: impl AsRef<Path>, durability: Durability, pack_limit: usize) -> Result<Self> {
        let root = dir.as_ref().to_path_buf();
        let base = root.join("v1");
        let (entries, tmp, locks) = (base.join("entries"), base.join("tmp"), base.join("locks"));
        for path in [&root, &entries, &tmp, &locks] {
            owner_only_dir(path).map_err(|e| io_error("create directory", path, e))?;
        }
        crate::dir::check_owner(&root, &tmp)?;
        crate::dir::remove_leftovers(&tmp)?;
        let packs = Packs::open(&base, &tmp, durability)?;
        Ok(FsStore {
            entries,
            tmp,
            locks,
            root,
            durability,
            counter: AtomicU64::new(0),
            packs,
            pack_limit: pack_limit.min(MAX_PACK_LIMIT),
        })
    }

    /// The directory the store was opened in.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// The path entry `id` has when it has a file of its own (larger than the pack limit).
    pub fn entry_path(&self, id: &Fingerprint) -> PathBuf {
        let hex = id.to_hex();
        self.entries.join(&hex[..2]).join(hex)
    }

    /// Where entry `id` lies on disk, if it is stored (for tests that damage entries on
    /// purpose, and for inspection).
    ///
    /// # Errors
    /// [`ErrorKind::Storage`] if the packs cannot be read.
    pub fn locate(&self, id: &Fingerprint) -> Result<Option<EntryLocation>> {
        if let Some((pack, offset, len)) = self.packs.locate(id)? {
            return Ok(Some(EntryLocation::Packed {
                pack,
                offset,
                len: u64::from(len),
            }));
        }
        let path = self.entry_path(id);
        Ok(path.exists().then_some(EntryLocation::File(path)))
    }

    /// Removes temporary files whose writer is gone (see the module docs).
    ///
    /// # Errors
    /// [`ErrorKind::Storage`] if the temporary directory cannot be read.
    pub fn remove_leftovers(&self) -> Result<usize> {
        crate::dir::remove_leftovers(&self.tmp)
    }

    fn write_tmp(&self, path: &Path, parts: &[&[u8]]) -> io::Result<File> {
        let mut file = create_locked(path)?;
        for part in parts {
            file.write_all(part)?;
        }
        if self.durability == Durability::Fsync {
            file.sync_data()?;
        }
        Ok(file)
    }

    /// Writes an entry whose head carries the payload's checksum: the payload first (after
    /// room for the head), checksummed piece by piece as it is written, then the head.
    fn write_tmp_checksummed(&self, path: &Path, header: &EntryHeader, payload: &[u8]) -> io::Result<File> {
        let mut file = create_locked(path)?;
        // The checksum has a fixed size, so the head's length is known before it.
        let head_len = entry::head_len(header);
        file.seek(io::SeekFrom::Start(head_len as u64))?;
        // The first piece ends where the second 2 MiB of the file begins.
        let (first, rest) = payload.split_at(payload.len().min(PIECE.saturating_sub(head_len)));
        let pieces = || std::iter::once(first).chain(rest.chunks(PIECE));
        let check = if rest.len() < PIECE {
            let mut hasher = PayloadHasher::new();
            for piece in pieces() {
                hasher.update(piece);
                file.write_all(piece)?;
            }
            hasher.finish()
        } else {
            checksum_beside_writes(&mut file, pieces)?
        };
        let mut header = header.clone();
        header.payload_check = check;
        let head = entry::encode_head(&header);
        if head.len() != head_len {
            return Err(io::Error::other("entry head changed length with its checksum"));
        }
        file.seek(io::SeekFrom::Start(0))?;
        file.write_all(&head)?;
        if self.durability == Durability::Fsync {
            file.sync_data()?;
        }
        Ok(file)
    }

    /// Writes a temporary file with `write`, then renames it over entry `id`.
    fn put_blocking(&self, id: &Fingerprint, write: impl FnOnce(&Path) -> io::Result<File>) -> Result<()> {
        let seq = self.counter.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .tmp
            .join(format!("{}.{}.{seq}.tmp", id.to_hex(), std::process::id()));
        let file = match write(&tmp) {
            Ok(file) => file,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(io_error("write", &tmp, e));
            }
        };
        let target = self.entry_path(id);
        let mut renamed = fs::rename(&tmp, &target);
        if renamed.as_ref().is_err_and(|e| e.kind() == io::ErrorKind::NotFound) {
            if let Some(parent) = target.parent() {
                owner_only_dir(parent).map_err(|e| io_error("create directory", parent, e))?;
            }
            renamed = fs::rename(&tmp, &target);
        }
        if let Err(e) = renamed {
            let _ = fs::remove_file(&tmp);
            return Err(io_error("rename into", &target, e));
        }
        drop(file);
        if self.durability == Durability::Fsync
            && let Some(parent) = target.parent()
        {
            File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(|e| io_error("sync", parent, e))?;
        }
        Ok(())
    }

    fn get_blocking(&self, id: &Fingerprint) -> Result<Option<FsBytes>> {
        if let Some(bytes) = self.packs.get(id)? {
            return Ok(Some(FsBytes::Packed(bytes)));
        }
        let path = self.entry_path(id);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("open", &path, e)),
        };
        let len = file.metadata().map_err(|e| io_error("stat", &path, e))?.len();
        if len >= MAP_MIN_LEN {
            let map = crate::map::map_readonly(&file).map_err(|e| io_error("map", &path, e))?;
            return Ok(Some(FsBytes::Mapped(map)));
        }
        let mut bytes = AlignedBytes::zeroed(len as usize);
        // A file that shrank since `stat` is read short; the entry check then rejects it.
        let got = read_up_to(&mut file, bytes.as_mut_slice()).map_err(|e| io_error("read", &path, e))?;
        bytes.truncate(got);
        Ok(Some(FsBytes::Read(bytes)))
    }

    fn delete_blocking(&self, id: &Fingerprint) -> Result<()> {
        self.packs.remove(id)?;
        let path = self.entry_path(id);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error("remove", &path, e)),
            _ => Ok(()),
        }
    }

    fn list_blocking(&self) -> Result<Vec<Listed>> {
        let mut out = self.packs.list()?;
        // A file shadowed by a newer packed entry of its id is not listed.
        let packed: std::collections::HashSet<Fingerprint> = out.iter().map(|l| l.id).collect();
        let fanout = fs::read_dir(&self.entries).map_err(|e| io_error("read directory", &self.entries, e))?;
        for shard in fanout.flatten() {
            let Ok(files) = fs::read_dir(shard.path()) else {
                continue;
            };
            for item in files.flatten() {
                let name = item.file_name();
                let Some(id) = name
                    .to_str()
                    .and_then(|n| format!("b3:{n}").parse::<Fingerprint>().ok())
                else {
                    continue;
                };
                if packed.contains(&id) {
                    continue;
                }
                let path = item.path();
                // An entry removed since the directory was read is simply not listed.
                let Ok(mut file) = File::open(&path) else {
                    continue;
                };
                let Ok(meta) = file.metadata() else { continue };
                let mut head = vec![0u8; (meta.len() as usize).min(LIST_HEAD_LEN)];
                let got = read_up_to(&mut file, &mut head).map_err(|e| io_error("read", &path, e))?;
                head.truncate(got);
                out.push(Listed {
                    id,
                    len: meta.len(),
                    head,
                });
            }
        }
        Ok(out)
    }
}

/// How many pieces the checksum thread may run ahead of the writes: enough that it never
/// holds the writer up, few enough that its pieces are still in the shared L3 cache when
/// the kernel copies them (2 MiB each).
const CHECK_AHEAD: usize = 2;

/// While it is [`CHECK_AHEAD`] pieces ahead, the checksum thread sleeps this long (a piece
/// takes the writer 0.3-0.6 ms here).
const CHECK_PAUSE: std::time::Duration = std::time::Duration::from_micros(100);

/// Writes `pieces()` to `file` in order while another thread checksums them a few pieces
/// ahead ([`CHECK_AHEAD`]), so that the kernel's copy finds each piece in the cache.
///
/// The writer never waits for, nor wakes, the checksum thread: it publishes how many
/// pieces it has written, and the checksum thread, when far enough ahead, sleeps briefly
/// on its own timer. Measured against the bare write (`fs::write` + rename, A/B rounds of
/// 40 and 256 MiB): handing each piece over through a channel cost 1.06-1.15x, because
/// every hand-over woke a sleeping thread, and in this VM a wake-up across cores is an
/// interrupt to the other vCPU (`perf`: 9% of the put in `try_to_wake_up`); a checksum
/// thread running free (no pacing) cost 1.10x at 256 MiB, streaming the whole payload
/// from memory beside the kernel's copy; paced as here, 0.95-1.05x, the same as writing
/// with no checksum at all.
fn checksum_beside_writes<'a, I: Iterator<Item = &'a [u8]>>(
    file: &mut File,
    pieces: impl Fn() -> I + Sync,
) -> io::Result<PayloadCheck> {
    const STOP: usize = usize::MAX;
    let written = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let hasher = scope.spawn(|| {
            let mut hasher = PayloadHasher::new();
            'pieces: for (i, piece) in pieces().enumerate() {
                loop {
                    match written.load(Ordering::Acquire) {
                        // The write failed: its error is returned, this checksum dropped.
                        STOP => break 'pieces,
                        done if i <= done + CHECK_AHEAD => break,
                        _ => std::thread::sleep(CHECK_PAUSE),
                    }
                }
                hasher.update(piece);
            }
            hasher.finish()
        });
        let result = pieces().try_for_each(|piece| {
            file.write_all(piece)?;
            written.fetch_add(1, Ordering::Release);
            Ok(())
        });
        if result.is_err() {
            written.store(STOP, Ordering::Release);
        }
        let check = hasher
            .join()
            .map_err(|_| io::Error::other("checksum thread panicked"))?;
        result.map(|()| check)
    })
}

/// Creates file `path`, locked: the lock tells cleanup in other processes that its
/// writer is alive.
pub(crate) fn create_locked(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    file.lock()?;
    Ok(file)
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Filesystem calls finish before the future is first polled: they block the calling
/// thread, which is what the blocking facade wants and what a local disk costs anyway.
impl Store for FsStore {
    type Bytes = FsBytes;

    async fn get(&self, id: &Fingerprint) -> Result<Option<FsBytes>> {
        self.get_blocking(id)
    }

    async fn put(&self, id: &Fingerprint, parts: &[&[u8]]) -> Result<()> {
        if parts.iter().map(|p| p.len()).sum::<usize>() <= self.pack_limit {
            return self.packs.put(id, parts);
        }
        self.put_blocking(id, |tmp| self.write_tmp(tmp, parts))?;
        self.packs.remove(id)
    }

    async fn put_entry(&self, id: &Fingerprint, header: &EntryHeader, payload: &[u8]) -> Result<()> {
        if entry::head_len(header) + payload.len() > self.pack_limit {
            self.put_blocking(id, |tmp| self.write_tmp_checksummed(tmp, header, payload))?;
            return self.packs.remove(id);
        }
        let mut header = header.clone();
        header.payload_check = PayloadCheck::of(payload);
        let head = entry::encode_head(&header);
        self.packs.put(id, &[&head, payload])
    }

    async fn delete(&self, id: &Fingerprint) -> Result<()> {
        self.delete_blocking(id)
    }

    async fn list(&self) -> Result<Vec<Listed>> {
        self.list_blocking()
    }

    /// An exclusive `flock` on `v1/locks/<hex>.lock`, held by the open file: released when
    /// the guard drops or the process dies, so a crashed computer never blocks the others.
    async fn lock(&self, id: &Fingerprint) -> Result<Option<LockGuard>> {
        let path = self.locks.join(format!("{}.lock", id.to_hex()));
        let mut options = OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).map_err(|e| io_error("open lock", &path, e))?;
        file.lock().map_err(|e| io_error("lock", &path, e))?;
        Ok(Some(LockGuard::new(file)))
    }
}
