//! Bundles: a cache's entries in one file, to carry them to another cache (another
//! machine, a browser) and import them there. The container is
//! [`stepcache_core::bundle`]'s (`docs/bundle-format.md`); this module streams a cache's
//! entries into one and out of one, one entry at a time.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use stepcache_core::bundle::{self, BundleReader, BundleWriter};

use crate::{Cache, EntryRead, Error, ErrorKind, Fingerprint, Result, SkipReason, TierOutcome};

/// Which stored entries [`Cache::export_bundle`] writes; the default is every one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportFilter {
    /// Only entries of this step.
    pub step: Option<String>,
    /// Only entries created at or after this time, ms since the epoch.
    pub since_ms: Option<u64>,
}

impl ExportFilter {
    /// Whether an entry of `step` created at `created_ms` passes.
    pub fn accepts(&self, step: &str, created_ms: u64) -> bool {
        self.step.as_deref().is_none_or(|s| s == step) && self.since_ms.is_none_or(|t| created_ms >= t)
    }
}

/// What [`Cache::export_bundle`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// Entries written.
    pub entries: u64,
    /// The bundle's length in bytes.
    pub bytes: u64,
    /// Entries left out because they were damaged (each was removed from the cache,
    /// unless it is open read-only).
    pub damaged: u64,
}

/// What [`Cache::import_bundle`] did with a bundle's entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Entries stored.
    pub imported: u64,
    /// Entries whose key the cache holds already (the stored entry is kept).
    pub present: u64,
    /// Entries not stored for another reason their type's policy gives (see
    /// [`Cache::import_entry`]): a retention that keeps nothing on disk, an entry larger
    /// than the store's budget, writing switched off.
    pub skipped: u64,
    /// Entries refused, with the reason: damaged, or filed under another key than their
    /// own. Nothing of them is stored.
    pub refused: Vec<(Fingerprint, String)>,
    /// The bytes of the entries read from the bundle.
    pub bytes: u64,
}

/// How much of a bundle [`Cache::import_bundle`] reads at a time.
const CHUNK: usize = 1 << 20;

fn io_error(what: &str, e: &std::io::Error) -> Error {
    Error::new(ErrorKind::Storage, format!("{what}: {e}"))
}

impl Cache {
    /// Writes the stored entries `filter` accepts to `out` as one bundle
    /// (`docs/bundle-format.md`), newest first, each verified whole as it is read
    /// ([`Cache::read_entry`]); damaged ones are left out, removed and counted.
    ///
    /// Entries are streamed one at a time: a memory-mapped entry goes from its map to
    /// `out` without a copy, so memory use does not grow with the cache. `out` gets a
    /// 41-byte record head before each entry; give a buffered writer for many small
    /// entries. `progress(done, total)` is called after each entry, in bytes of the
    /// entries on disk (whole blocks, as [`crate::EntryInfo::bytes`]).
    ///
    /// # Errors
    /// The cache's error while listing or reading, or `out`'s ([`ErrorKind::Storage`]);
    /// what was written before it is not a whole bundle.
    pub fn export_bundle(
        &self,
        mut out: impl Write,
        filter: &ExportFilter,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<ExportReport> {
        let chosen: Vec<_> = self
            .entries()?
            .into_iter()
            .filter(|e| e.stored && filter.accepts(&e.step, e.created_ms))
            .collect();
        let total = chosen.iter().map(|e| e.bytes).sum();
        let mut report = ExportReport::default();
        let mut write = |bytes: &[u8], report: &mut ExportReport| {
            out.write_all(bytes).map_err(|e| io_error("writing the bundle", &e))?;
            report.bytes += bytes.len() as u64;
            Ok::<(), Error>(())
        };
        write(&bundle::HEADER, &mut report)?;
        let mut writer = BundleWriter::new();
        let mut done = 0;
        for info in &chosen {
            match self.read_entry(&info.fingerprint)? {
                EntryRead::Sound(bytes) => {
                    let bytes = bytes.as_ref();
                    write(&writer.record_head(&info.fingerprint, bytes.len() as u64)?, &mut report)?;
                    write(bytes, &mut report)?;
                    report.entries += 1;
                }
                EntryRead::Damaged(_) => report.damaged += 1,
                // Removed by another process since the listing.
                EntryRead::Missing => {}
            }
            done += info.bytes;
            progress(done, total);
        }
        write(&writer.finish(), &mut report)?;
        out.flush().map_err(|e| io_error("writing the bundle", &e))?;
        Ok(report)
    }

    /// Imports the bundle read from `input` (`len` bytes long, if known: then a length
    /// field running past the end is caught before anything is allocated for it).
    ///
    /// The bundle is streamed: one entry at a time is in memory. Each entry goes through
    /// [`Cache::import_entry`], verified whole, and an entry already stored for its key
    /// is kept. A damaged entry, or one filed under another key than its header's, is
    /// refused (reported in [`ImportReport::refused`]) and the rest go on.
    /// `progress(done, total)` is called after each read of the input, in bytes of the
    /// bundle (`total` is 0 if `len` is unknown).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidBundle`] if the container is damaged or cut short, after the
    /// entries before the damage were imported (each verified on its own; they stay);
    /// `input`'s error or the cache's ([`ErrorKind::Storage`]), likewise.
    pub fn import_bundle(
        &self,
        mut input: impl Read,
        len: Option<u64>,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<ImportReport> {
        let mut reader = len.map_or_else(BundleReader::new, BundleReader::with_len);
        let mut report = ImportReport::default();
        let mut buffer = vec![0u8; CHUNK];
        let mut done = 0u64;
        let taken = |report: &ImportReport| report.imported + report.present + report.skipped;
        loop {
            let n = match input.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error("reading the bundle", &e)),
            };
            let mut chunk = &buffer[..n];
            loop {
                let record = reader.feed(&mut chunk).map_err(|e| after(e.into(), taken(&report)))?;
                let Some((fingerprint, bytes)) = record else { break };
                report.bytes += bytes.len() as u64;
                self.import_one(&fingerprint, &bytes, &mut report)?;
            }
            done += n as u64;
            progress(done, len.unwrap_or(0));
        }
        reader.finish().map_err(|e| after(e.into(), taken(&report)))?;
        Ok(report)
    }

    /// [`Cache::export_bundle`] into the file `path`, written beside it under a temporary
    /// name, flushed to disk and renamed when whole, so that a failed export leaves no
    /// partial bundle at `path` (and an existing file there is replaced only by a whole
    /// bundle). A `path` that is a pipe, a terminal or a device (`/dev/stdout`, a FIFO,
    /// `>(gzip > maps.gz)`) is written in place: there is no file to replace.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] if `path` is a directory or the file cannot be
    /// created there (no such directory, no permission); otherwise as
    /// [`Cache::export_bundle`].
    pub fn export_bundle_file(
        &self,
        path: &Path,
        filter: &ExportFilter,
        progress: impl FnMut(u64, u64),
    ) -> Result<ExportReport> {
        let cannot = |why: &dyn std::fmt::Display| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("cannot write {}: {why}", path.display()),
            )
        };
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => return Err(cannot(&"a directory: give a file name for the bundle")),
            Ok(meta) if !meta.is_file() => {
                let stream = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| cannot(&e))?;
                return self.export_bundle(BufWriter::with_capacity(CHUNK, stream), filter, progress);
            }
            _ => {}
        }
        let name = path
            .file_name()
            .map_or_else(|| "bundle".into(), |n| n.to_string_lossy().into_owned());
        let partial = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        let file = File::create(&partial).map_err(|e| cannot(&e))?;
        let mut out = BufWriter::with_capacity(CHUNK, file);
        let written = self.export_bundle(&mut out, filter, progress).and_then(|report| {
            let file = out
                .into_inner()
                .map_err(|e| io_error("writing the bundle", e.error()))?;
            file.sync_all().map_err(|e| io_error("writing the bundle", &e))?;
            std::fs::rename(&partial, path).map_err(|e| io_error(&format!("rename {}", partial.display()), &e))?;
            Ok(report)
        });
        if written.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        written
    }

    /// [`Cache::import_bundle`] of the file `path` (its length known, so a record running
    /// past the end is caught before anything is allocated for it).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] if `path` cannot be opened or is a directory;
    /// otherwise as [`Cache::import_bundle`].
    pub fn import_bundle_file(&self, path: &Path, progress: impl FnMut(u64, u64)) -> Result<ImportReport> {
        let cannot = |why: String| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("cannot read {}: {why}", path.display()),
            )
        };
        let file = File::open(path).map_err(|e| cannot(e.to_string()))?;
        let meta = file.metadata().map_err(|e| cannot(e.to_string()))?;
        if meta.is_dir() {
            return Err(cannot("a directory, not a bundle file".to_owned()));
        }
        // A regular file's length lets the reader check each record's against it.
        self.import_bundle(file, meta.is_file().then_some(meta.len()), progress)
    }

    /// Imports one record's entry into `report`.
    fn import_one(&self, fingerprint: &Fingerprint, bytes: &[u8], report: &mut ImportReport) -> Result<()> {
        // Under the record's key only: an entry whose header names another is refused.
        match crate::block_on(self.engine().import_record(fingerprint, bytes)) {
            Ok(imported) => match imported.store {
                TierOutcome::Stored => report.imported += 1,
                TierOutcome::Skipped(SkipReason::Present) => report.present += 1,
                TierOutcome::Skipped(_) | TierOutcome::Failed(_) => report.skipped += 1,
            },
            Err(e) if e.kind() == ErrorKind::InvalidEntry => {
                report.refused.push((*fingerprint, e.message().to_owned()));
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// `error`, saying that `taken` entries before it were imported.
fn after(error: Error, taken: u64) -> Error {
    let taken = match taken {
        1 => "1 entry before it was taken and stays".to_owned(),
        n => format!("{n} entries before it were taken and stay"),
    };
    Error::new(error.kind(), format!("{} ({taken})", error.message()))
}
