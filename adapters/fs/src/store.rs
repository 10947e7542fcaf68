//! The filesystem store: one file per entry, written atomically, read into memory or by
//! memory map.
//!
//! # Layout
//!
//! ```text
//! <dir>/                     owner-only (0700)
//!   v2/entries/<64 hex>      one file per entry, named by the key's fingerprint
//!   v2/tmp/<...>.tmp         files being written, locked by their writer
//!   v2/locks/<64 hex>.lock   held (flock) while one process computes that key
//!   v2/changes               the change counter every handle shares (see `shared.rs`)
//!   v2/stats                 the lasting counters, at most `COUNTERS_ROOM` bytes
//! ```
//!
//! # Why every read is the current value or a miss
//!
//! An entry lives in exactly one place, its file, and changes only by two atomic steps:
//! a put writes a new file in `tmp/` (locked by its writer) and renames it over the
//! entry; a removal unlinks it. There is no second copy, index or log whose order against
//! the file could be lost, so:
//! - a process killed at any point leaves each entry as its last completed put, or (for
//!   the put it was in) the one before; a completed removal never comes back;
//! - no superseded version of an entry survives anywhere that damage could reveal;
//! - a reader opens the file once and sees one whole version; a later open sees the same
//!   or a later one, never an earlier one;
//! - an entry file is never modified in place, which is what makes memory maps of it
//!   safe (see `sys.rs` for the one risk: a file truncated by someone else).
//!
//! A writer killed mid-write leaves an unlocked temporary file, removed the next time a
//! cache is opened on the directory (see `dir.rs`). Damage to the directory structure
//! (a directory replaced by a file, removed, or a file where an entry belongs) reads as
//! a miss, and the next write repairs it.
//!
//! File names are always the hex of a blake3 fingerprint, so no step name or argument
//! ever becomes part of a path: nothing a caller passes can traverse out of `<dir>`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use memmap2::Mmap;

use crate::dir::{ensure_dir, owner_only_dir};
use crate::error::io_error;
use crate::shared::Changes;
use stepcache_core::entry::{EntryHasher, EntryWriter, Head, LIST_HEAD_LEN, PayloadCheck, decode_head, listed_len};
use stepcache_core::{AlignedBytes, Error, ErrorKind, Fingerprint, Listed, LockGuard, Result, SharedBytes, Store};

/// The directory of this layout under the cache directory. Older layouts beside it are
/// removed when a writable cache is opened: their entries are simply recomputed.
const LAYOUT: &str = "v2";
/// Directories of older layouts.
const OLD_LAYOUTS: [&str; 1] = ["v1"];

/// Entries at least this large are memory-mapped (unless [`FsOptions::memory_map`] is
/// off); smaller ones are read into memory, which is cheaper than setting up a map.
pub(crate) const MAP_MIN_LEN: u64 = 256 * 1024;

/// The unit budgets count entry files in (see [`Store::footprint`]).
const BLOCK: u64 = 4096;

/// The most bytes the lasting counters' file (`v2/stats`) may hold, and so the room a
/// budget leaves it: every byte on disk counts against the budget, and this file is the
/// one lasting file beside the entries. A fixed room, not the file's size of the moment,
/// because handles in several processes share the file and each must know its most.
/// 16 KiB holds the counters of about 230 step types of 20-character names (50 bytes and
/// the name each); counters that outgrow it are no longer saved (see
/// [`FsOptions::lasting_counters`]).
pub const COUNTERS_ROOM: u64 = 16 << 10;

/// The smallest store budget that leaves [`COUNTERS_ROOM`] to the lasting counters
/// (then 1.6% of it at most); with a smaller one the [`crate::Builder`] keeps no
/// counters, and the entries have the whole budget.
pub const COUNTERS_MIN_BUDGET: u64 = 64 * COUNTERS_ROOM;

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

/// How a [`FsStore`] reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsOptions {
    /// Whether writes wait for the disk.
    pub durability: Durability,
    /// Whether entries of 256 KiB or more are memory-mapped (zero-copy, the default) or
    /// read into memory. A mapped entry whose file someone else truncates while it is
    /// read ends the process with SIGBUS, as with any memory-mapped file; reading into
    /// memory costs a copy and never faults.
    pub memory_map: bool,
    /// Whether to open the directory read-only even if it can be written (off by
    /// default): nothing in it is created, cleaned, repaired or changed, not even its
    /// permissions, and writes fail with [`ErrorKind::PermissionDenied`] as they do in a
    /// directory that cannot be written. For tools that inspect a cache another program
    /// owns.
    pub read_only: bool,
    /// Whether the store keeps the lasting counters ([`Store::load_counters`]) in
    /// `v2/stats`, a file of at most [`COUNTERS_ROOM`] bytes (on by default). The file
    /// counts against the store budget, so the engine's budget must leave that room:
    /// [`crate::Builder`] gives the engine the budget less [`COUNTERS_ROOM`], and below
    /// [`COUNTERS_MIN_BUDGET`] turns this off. Off, the store reads and saves no
    /// counters ("all time" is the session alone), and a writable open removes the file.
    pub lasting_counters: bool,
}

impl Default for FsOptions {
    fn default() -> Self {
        FsOptions {
            durability: Durability::Buffered,
            memory_map: true,
            read_only: false,
            lasting_counters: true,
        }
    }
}

/// The bytes of an entry read from disk: a memory map, or an aligned buffer.
pub enum FsBytes {
    /// A read-only memory map of the whole file.
    Mapped(Mmap),
    /// The file's bytes, in a buffer aligned for any element type.
    Read(AlignedBytes),
}

impl AsRef<[u8]> for FsBytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            FsBytes::Mapped(map) => map,
            FsBytes::Read(bytes) => bytes.as_ref(),
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
    /// The lasting counters' file (see [`Store::load_counters`]).
    stats: PathBuf,
    options: FsOptions,
    /// Why this store cannot write (a read-only directory or mount), if it cannot.
    read_only: Option<String>,
    counter: AtomicU64,
    changes: Changes,
}

/// The id whose lock file serialises the lasting counters' read-add-write across handles
/// (the same id every build has locked for them).
fn counters_lock_id() -> Fingerprint {
    Fingerprint::of_bytes(b"stepcache lasting counters")
}

/// Whether an error opening an entry means there is no readable entry there: none, a
/// damaged directory on its path, or a file made unreadable. A miss, never an error.
fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::PermissionDenied
    )
}

/// Whether an error says the directory cannot be written (then it is opened read-only).
fn is_read_only(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
    )
}

impl FsStore {
    /// Opens (creating it owner-only if needed) a store in `dir`, and removes what
    /// interrupted writes left behind.
    ///
    /// # Errors
    /// As [`FsStore::open_with`].
    pub fn open(dir: impl AsRef<Path>, durability: Durability) -> Result<Self> {
        Self::open_with(
            dir,
            FsOptions {
                durability,
                ..FsOptions::default()
            },
        )
    }

    /// Opens a store like [`FsStore::open`] with `options`.
    ///
    /// A directory that cannot be written (a read-only mount, or no write permission)
    /// but holds a cache is opened read-only: it serves hits, and writes fail with
    /// [`ErrorKind::PermissionDenied`]. So is any directory with
    /// [`FsOptions::read_only`], which leaves it exactly as it was.
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`] if the directory belongs to another user (nothing
    /// is written into it then) or cannot be created; [`ErrorKind::InvalidConfig`] if
    /// `dir` is not a directory or is empty; [`ErrorKind::Storage`] for other IO errors, and for a
    /// directory that does not exist when opened with [`FsOptions::read_only`].
    pub fn open_with(dir: impl AsRef<Path>, options: FsOptions) -> Result<Self> {
        let root = dir.as_ref().to_path_buf();
        if root.as_os_str().is_empty() {
            // Often an unset variable: never a cache in whatever the working directory is.
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "the cache directory is an empty path: give a directory for the cache",
            ));
        }
        match fs::metadata(&root) {
            Ok(meta) if meta.is_dir() => crate::dir::check_owner(&root, !options.read_only)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound && options.read_only => {
                return Err(Error::new(
                    ErrorKind::Storage,
                    format!(
                        "{} does not exist (a cache opened read-only is never created)",
                        root.display()
                    ),
                ));
            }
            Ok(_) => {
                return Err(Error::new(
                    ErrorKind::InvalidConfig,
                    format!(
                        "{} is a file, not a directory: give a directory for the cache",
                        root.display()
                    ),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                owner_only_dir(&root).map_err(|e| io_error("create directory", &root, e))?;
            }
            Err(e) => return Err(io_error("inspect", &root, e)),
        }
        let base = root.join(LAYOUT);
        let (entries, tmp, locks) = (base.join("entries"), base.join("tmp"), base.join("locks"));
        let changes_path = base.join("changes");
        // Read-only as asked, or because the directory cannot be written: nothing is
        // created or cleaned, and the change counter is only read.
        let open_read_only = |why: String| {
            let changes = Changes::open(&changes_path, false).map_err(|e| io_error("open", &changes_path, e))?;
            Ok::<_, Error>((changes, Some(why)))
        };
        let (changes, read_only) = if options.read_only {
            open_read_only(format!("{} was opened read-only as asked", root.display()))?
        } else {
            let prepared = [&base, &entries, &tmp, &locks]
                .into_iter()
                .try_for_each(|path| ensure_dir(path))
                .and_then(|()| Changes::open(&changes_path, true));
            match prepared {
                Ok(changes) => (changes, None),
                Err(e) if is_read_only(&e) && entries.is_dir() => {
                    open_read_only(format!("{} cannot be written ({e})", root.display()))?
                }
                Err(e) => return Err(io_error("prepare", &base, e)),
            }
        };
        if read_only.is_none() {
            for old in OLD_LAYOUTS {
                let _ = fs::remove_dir_all(root.join(old));
            }
            crate::dir::remove_leftovers(&tmp)?;
            crate::dir::remove_free_locks(&locks)?;
            if !options.lasting_counters {
                // Its bytes would count against a budget that leaves them no room.
                let _ = fs::remove_file(base.join("stats"));
            }
        }
        Ok(FsStore {
            root,
            entries,
            tmp,
            locks,
            stats: base.join("stats"),
            options,
            read_only,
            counter: AtomicU64::new(0),
            changes,
        })
    }

    /// The directory the store was opened in.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// Whether the store was opened read-only (see [`FsStore::open_with`]).
    pub fn is_read_only(&self) -> bool {
        self.read_only.is_some()
    }

    /// The path of entry `id`'s file (for tests that damage entries on purpose, and for
    /// inspection).
    pub fn entry_path(&self, id: &Fingerprint) -> PathBuf {
        self.entries.join(id.to_hex())
    }

    /// Removes temporary files whose writer is gone (see the module docs).
    ///
    /// # Errors
    /// [`ErrorKind::Storage`] if the temporary directory cannot be read.
    pub fn remove_leftovers(&self) -> Result<usize> {
        crate::dir::remove_leftovers(&self.tmp)
    }

    fn check_writable(&self) -> Result<()> {
        match &self.read_only {
            None => Ok(()),
            Some(why) => Err(Error::new(
                ErrorKind::PermissionDenied,
                format!("the cache is open read-only: {why}"),
            )),
        }
    }

    /// Tells every other handle that the store changed (see `shared.rs`).
    fn changed(&self) -> Result<()> {
        self.changes
            .bump()
            .map_err(|e| io_error("count a change in", &self.root, e))
    }

    /// Writes `entry` to a new file at `path`: the payload first (after room for the head),
    /// checksummed piece by piece as it is written, then the head.
    fn write_tmp(&self, path: &Path, entry: &EntryWriter<'_>) -> io::Result<(File, PayloadCheck)> {
        let mut file = create_locked(path)?;
        file.seek(io::SeekFrom::Start(entry.head_len() as u64))?;
        // The first piece ends where the second 2 MiB of the file begins.
        let pieces = || entry.pieces(PIECE);
        // (A prepared entry's hasher does nothing: no thread for it.)
        let hasher = if entry.len() < 2 * PIECE || entry.is_prepared() {
            let mut hasher = entry.hasher();
            for piece in pieces() {
                hasher.update(piece);
                file.write_all(piece)?;
            }
            hasher
        } else {
            checksum_beside_writes(&mut file, entry.hasher(), pieces)?
        };
        let (head, check) = entry
            .head_from(hasher)
            .map_err(|e| io::Error::other(e.message().to_owned()))?;
        let trailer = entry.trailer(&head);
        if !trailer.is_empty() {
            file.seek(io::SeekFrom::Start((head.len() + entry.payload().len()) as u64))?;
            file.write_all(&trailer)?;
        }
        file.seek(io::SeekFrom::Start(0))?;
        file.write_all(&head)?;
        if self.options.durability == Durability::Fsync {
            file.sync_data()?;
        }
        Ok((file, check))
    }

    /// Writes a temporary file with `write`, then renames it over entry `id`. Damage in
    /// the way (a temporary or entries directory removed or replaced by a file, a
    /// directory where the entry belongs) is repaired and the step tried once more.
    fn put_blocking<T>(&self, id: &Fingerprint, write: impl Fn(&Path) -> io::Result<(File, T)>) -> Result<T> {
        self.check_writable()?;
        let seq = self.counter.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .tmp
            .join(format!("{}.{}.{seq}.tmp", id.to_hex(), std::process::id()));
        let written = match write(&tmp) {
            Err(e) if is_dir_damage(&e) => {
                ensure_dir(&self.tmp).map_err(|e| io_error("create directory", &self.tmp, e))?;
                write(&tmp)
            }
            other => other,
        };
        let (file, made) = match written {
            Ok(written) => written,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(io_error("write", &tmp, e));
            }
        };
        let target = self.entry_path(id);
        let renamed = fs::rename(&tmp, &target).or_else(|e| {
            match e.kind() {
                io::ErrorKind::IsADirectory | io::ErrorKind::DirectoryNotEmpty => fs::remove_dir_all(&target)?,
                _ if is_dir_damage(&e) => ensure_dir(&self.entries)?,
                _ => return Err(e),
            }
            fs::rename(&tmp, &target)
        });
        if let Err(e) = renamed {
            let _ = fs::remove_file(&tmp);
            return Err(io_error("rename into", &target, e));
        }
        drop(file);
        if self.options.durability == Durability::Fsync {
            File::open(&self.entries)
                .and_then(|d| d.sync_all())
                .map_err(|e| io_error("sync", &self.entries, e))?;
        }
        self.changed()?;
        Ok(made)
    }

    /// Writes the lasting counters to a locked temporary file, then renames it over the
    /// counters' file, as a put does an entry's (the caller, `update_counters`, checked
    /// that the store keeps them and may write).
    ///
    /// # Errors
    /// [`ErrorKind::StorageFull`] for counters longer than [`COUNTERS_ROOM`] (the file
    /// stays as it was), or the IO error.
    fn write_counters(&self, bytes: &[u8]) -> Result<()> {
        if bytes.len() as u64 > COUNTERS_ROOM {
            return Err(Error::new(
                ErrorKind::StorageFull,
                format!(
                    "the lasting counters take {} bytes, more than the {COUNTERS_ROOM} the budget leaves them \
                     in {}; they stay as they were",
                    bytes.len(),
                    self.stats.display()
                ),
            ));
        }
        let seq = self.counter.fetch_add(1, Ordering::Relaxed);
        let tmp = self.tmp.join(format!("stats.{}.{seq}.tmp", std::process::id()));
        let written = File::create(&tmp).and_then(|mut file| {
            file.lock()?;
            file.write_all(bytes)?;
            if self.options.durability == Durability::Fsync {
                file.sync_data()?;
            }
            fs::rename(&tmp, &self.stats)
        });
        written.map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_error("write", &self.stats, e)
        })
    }

    fn get_blocking(&self, id: &Fingerprint) -> Result<Option<FsBytes>> {
        let path = self.entry_path(id);
        let Some((mut file, len)) = open_entry(&path)? else {
            return Ok(None);
        };
        if self.options.memory_map && len >= MAP_MIN_LEN {
            let map = crate::sys::map_readonly(&file).map_err(|e| io_error("map", &path, e))?;
            return Ok(Some(FsBytes::Mapped(map)));
        }
        // A large file is read only as far as its head lists, and one byte further, so that
        // the entry check still sees a file longer than its entry: damage that grew a file
        // far past its entry costs neither the memory nor the reading of the rest.
        let listed = if len >= MAP_MIN_LEN {
            read_listed_len(&path, &mut file)?
        } else {
            len
        };
        let want = listed.saturating_add(1).min(len);
        let Some(mut bytes) = usize::try_from(want).ok().and_then(AlignedBytes::try_zeroed) else {
            return too_large_to_read(&path, listed, len);
        };
        file.seek(io::SeekFrom::Start(0))
            .map_err(|e| io_error("read", &path, e))?;
        // A file that shrank since `stat` is read short; the entry check then rejects it.
        let got = read_up_to(&mut file, bytes.as_mut_slice()).map_err(|e| io_error("read", &path, e))?;
        bytes.truncate(got);
        Ok(Some(FsBytes::Read(bytes)))
    }

    fn delete_blocking(&self, id: &Fingerprint) -> Result<()> {
        self.check_writable()?;
        let path = self.entry_path(id);
        let removed = match fs::remove_file(&path) {
            Ok(()) => true,
            Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => false,
            // A directory where the entry belongs: damage, removed like an entry.
            Err(e) if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) => {
                fs::remove_dir_all(&path).map_err(|_| io_error("remove", &path, e))?;
                true
            }
            Err(e) => return Err(io_error("remove", &path, e)),
        };
        if removed { self.changed() } else { Ok(()) }
    }

    /// Bytes `range` of entry `id`'s file, cut short where it ends, or `None` if there is
    /// no entry: read with one seek and read, never mapping the file (a map of a large
    /// file is populated whole, which would cost a region read more than its bytes).
    fn range_blocking(&self, id: &Fingerprint, range: std::ops::Range<usize>) -> Result<Option<SharedBytes>> {
        let path = self.entry_path(id);
        let Some((mut file, len)) = open_entry(&path)? else {
            return Ok(None);
        };
        let end = range.end.min(usize::try_from(len).unwrap_or(usize::MAX));
        let start = range.start.min(end);
        let mut bytes = AlignedBytes::zeroed(end - start);
        let got = file
            .seek(io::SeekFrom::Start(start as u64))
            .and_then(|_| read_up_to(&mut file, bytes.as_mut_slice()))
            .map_err(|e| io_error("read", &path, e))?;
        // A file that shrank since `stat` is read short; the block checks then reject it.
        bytes.truncate(got);
        Ok(Some(SharedBytes::from_owner(bytes)))
    }

    /// Entry `id` as listed: its length and leading bytes, or `None` if there is none.
    fn listed(&self, id: Fingerprint) -> Result<Option<Listed>> {
        let path = self.entry_path(&id);
        let Some((mut file, len)) = open_entry(&path)? else {
            return Ok(None);
        };
        let head = read_prefix(&path, &mut file, (len as usize).min(LIST_HEAD_LEN))?;
        Ok(Some(Listed { id, len, head }))
    }

    fn list_blocking(&self) -> Result<Vec<Listed>> {
        let listing = match fs::read_dir(&self.entries) {
            Ok(listing) => listing,
            // The directory is gone or damaged: nothing is stored (a put repairs it).
            Err(e) if is_dir_damage(&e) => return Ok(Vec::new()),
            Err(e) => return Err(io_error("read directory", &self.entries, e)),
        };
        let mut out = Vec::new();
        for item in listing.flatten() {
            let name = item.file_name();
            let id = name
                .to_str()
                .and_then(|n| format!("b3:{n}").parse::<Fingerprint>().ok())
                .filter(|id| id.to_hex() == name.to_string_lossy());
            match id {
                Some(id) => out.extend(self.listed(id)?),
                // Nothing else of ours is ever here: whatever it is takes space the
                // budget cannot see, so it goes.
                None if self.read_only.is_none() => crate::dir::remove_any(&item.path()),
                None => {}
            }
        }
        Ok(out)
    }
}

/// Opens entry file `path` with its length: `None` if there is no readable file there.
fn open_entry(path: &Path) -> Result<Option<(File, u64)>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if is_absent(&e) => return Ok(None),
        Err(e) => return Err(io_error("open", path, e)),
    };
    match file.metadata() {
        Ok(meta) if meta.is_file() => Ok(Some((file, meta.len()))),
        // A directory or a device where an entry belongs is damage: a miss, removed by
        // the engine like any damaged entry.
        _ => Ok(None),
    }
}

/// An entry file of `len` bytes, whose head lists `listed`, longer than this process can
/// hold in memory. If the head lists the file's length, it is a real entry: an error, and
/// the entry stays (memory maps, or more memory, read it). Otherwise it is damage: no
/// bytes, which the entry check rejects.
fn too_large_to_read(path: &Path, listed: u64, len: u64) -> Result<Option<FsBytes>> {
    if listed != len {
        return Ok(Some(FsBytes::Read(AlignedBytes::default())));
    }
    Err(Error::new(
        ErrorKind::TooLarge,
        format!(
            "the entry {} is {len} bytes, more than this process can hold in memory; \
             a cache opened with memory maps (the default) reads it without a copy",
            path.display()
        ),
    ))
}

/// The length the head of the entry in `file` lists (see [`listed_len`]), read from its
/// first bytes: a header with a long block table (16 bytes per MiB of payload) is read
/// whole, its length bounded by `decode_head`, which refuses any over `MAX_HEADER_LEN`.
fn read_listed_len(path: &Path, file: &mut File) -> Result<u64> {
    let mut head = read_prefix(path, file, LIST_HEAD_LEN)?;
    if let Ok(Head::NeedBytes(n)) = decode_head(&head) {
        head = read_prefix(path, file, n)?;
    }
    Ok(listed_len(&head))
}

/// The first `n` bytes of `file` (fewer if it is shorter), read from its start.
fn read_prefix(path: &Path, file: &mut File, n: usize) -> Result<Vec<u8>> {
    let mut head = vec![0u8; n];
    let got = file
        .seek(io::SeekFrom::Start(0))
        .and_then(|_| read_up_to(file, &mut head))
        .map_err(|e| io_error("read", path, e))?;
    head.truncate(got);
    Ok(head)
}

/// Whether an error says a directory on the path is missing or is not a directory.
fn is_dir_damage(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
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
    mut hasher: EntryHasher,
    pieces: impl Fn() -> I + Sync,
) -> io::Result<EntryHasher> {
    const STOP: usize = usize::MAX;
    let written = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let pieces = &pieces;
        let written = &written;
        let hasher = scope.spawn(move || {
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
            hasher
        });
        let result = pieces().try_for_each(|piece| {
            file.write_all(piece)?;
            written.fetch_add(1, Ordering::Release);
            Ok(())
        });
        if result.is_err() {
            written.store(STOP, Ordering::Release);
        }
        let hasher = hasher
            .join()
            .map_err(|_| io::Error::other("checksum thread panicked"))?;
        result.map(|()| hasher)
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

/// A held per-key lock: its file is removed before the lock is let go, so lock files do
/// not pile up (see [`FsStore::lock`] for why that is safe).
struct KeyLock {
    path: PathBuf,
    _file: File,
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
        // `_file` closes after this, which releases the lock.
    }
}

/// Filesystem calls finish before the future is first polled: they block the calling
/// thread, which is what the blocking facade wants and what a local disk costs anyway.
impl Store for FsStore {
    type Bytes = FsBytes;

    async fn get(&self, id: &Fingerprint) -> Result<Option<FsBytes>> {
        self.get_blocking(id)
    }

    async fn put_entry(&self, id: &Fingerprint, entry: &EntryWriter<'_>) -> Result<PayloadCheck> {
        self.put_blocking(id, |tmp| self.write_tmp(tmp, entry))
    }

    async fn delete(&self, id: &Fingerprint) -> Result<()> {
        self.delete_blocking(id)
    }

    async fn get_range(&self, id: &Fingerprint, range: std::ops::Range<usize>) -> Result<Option<SharedBytes>> {
        self.range_blocking(id, range)
    }

    async fn list(&self) -> Result<Vec<Listed>> {
        self.list_blocking()
    }

    /// Whole 4 KiB blocks: what a file of `len` bytes takes on common filesystems, so the
    /// budget holds for the disk and not only for the bytes written.
    fn footprint(&self, len: u64) -> u64 {
        len.div_ceil(BLOCK) * BLOCK
    }

    /// Other processes change the directory: memory-tier hits are checked against it.
    const TRACKS_CHANGES: bool = true;

    /// A `pread` and an `fstat` of the change counter every handle on the directory
    /// shares (see `shared.rs`).
    fn changes(&self) -> u64 {
        self.changes.epoch()
    }

    /// Reads only the first [`LIST_HEAD_LEN`] bytes of the entry's file, never a large
    /// payload, and answers as the default (a whole read, cut) would: the file's length
    /// and leading bytes, or `None` where no regular file can be opened. Verifying them is
    /// the engine's, as it is for the default (`tests/head.rs` checks both agree under
    /// every kind of damage).
    async fn head(&self, id: &Fingerprint) -> Result<Option<Listed>> {
        self.listed(*id)
    }

    /// An exclusive `flock` on `v2/locks/<hex>.lock`, held by the open file: released when
    /// the guard drops or the process dies, so a crashed computer never blocks the others.
    ///
    /// The holder removes the file as it lets go. A waiter that then gets the lock of the
    /// removed file sees that the path no longer names it and starts again on the
    /// current file, so two handles never both believe they hold the key. A read-only
    /// cache cannot lock (each handle may compute; nothing is stored anyway), and
    /// neither can one whose lock directory cannot be repaired.
    async fn lock(&self, id: &Fingerprint) -> Result<Option<LockGuard>> {
        if self.read_only.is_some() {
            return Ok(None);
        }
        let path = self.locks.join(format!("{}.lock", id.to_hex()));
        let mut options = OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut repaired = false;
        loop {
            let file = match options.open(&path) {
                Ok(file) => file,
                Err(e) if is_dir_damage(&e) && !repaired => {
                    repaired = true;
                    if ensure_dir(&self.locks).is_ok() {
                        continue;
                    }
                    return Ok(None);
                }
                Err(_) => return Ok(None),
            };
            file.lock().map_err(|e| io_error("lock", &path, e))?;
            if crate::sys::same_file(&file, &path) {
                return Ok(Some(LockGuard::new(KeyLock { path, _file: file })));
            }
        }
    }

    const KEEPS_COUNTERS: bool = true;

    async fn load_counters(&self) -> Result<Option<Vec<u8>>> {
        if !self.options.lasting_counters {
            return Ok(None);
        }
        match fs::read(&self.stats) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(io_error("read", &self.stats, e)),
        }
    }

    async fn update_counters<F>(&self, update: F) -> Result<()>
    where
        F: FnOnce(Option<&[u8]>) -> Vec<u8> + Send,
    {
        self.check_writable()?;
        if !self.options.lasting_counters {
            return Ok(());
        }
        // Every handle's read-add-write under one lock file, so none is lost.
        let _guard = self.lock(&counters_lock_id()).await?;
        let kept = self.load_counters().await?;
        self.write_counters(&update(kept.as_deref()))
    }
}
