#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod config;
mod error;
mod lease;
mod pages;

use std::future::Future;
use std::ops::Range;
use std::sync::OnceLock;

use futures_util::TryStreamExt;
use opendal::Operator;
use stepcache_core::entry::{EntryReader, EntryWriter, LIST_HEAD_LEN, PayloadCheck};
use stepcache_core::{AlignedBytes, Error, ErrorKind, Fingerprint, Listed, LockGuard, Result, SharedBytes, Store};

pub use config::ObjectConfig;

use crate::error::{from_opendal, is_not_found};
use crate::pages::PagesAhead;

/// Upload part size: large entries go up in parts of this many bytes, so at most a few
/// parts are in memory beside the entry itself.
const PART: usize = 8 << 20;
/// Parts uploaded at once.
const PARTS_IN_FLIGHT: usize = 2;
/// Where the entries are, below the prefix: the layout's version, as on the filesystem.
const ENTRIES: &str = "v2/entries/";
/// Where the leases are (see `lease.rs`).
const LEASES: &str = "v2/leases/";

/// A [`Store`] in a bucket of an object store (the S3 API).
///
/// Every call runs on this crate's runtime and is awaited from whatever runs the engine,
/// so the blocking native API and any async runtime can both use it.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    config: ObjectConfig,
    operator: Operator,
    /// `<prefix>v2/entries/`.
    entries: String,
    /// `<prefix>v2/leases/`.
    leases: String,
    /// Lease removals under way, waited for when the last clone goes.
    releases: std::sync::Arc<lease::Releases>,
}

/// Cancels a task of the runtime when dropped (nothing, once it is done).
struct CancelOnDrop(tokio::task::AbortHandle);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A writer of the object at `path` in parts of [`PART`] bytes, [`PARTS_IN_FLIGHT`] of
/// them going up at once.
async fn parts_writer(operator: &Operator, path: &str) -> opendal::Result<opendal::Writer> {
    operator.writer_with(path).chunk(PART).concurrent(PARTS_IN_FLIGHT).await
}

/// The runtime the HTTP client runs on, made on first use and kept for the process.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("stepcache-object")
            .enable_all()
            .build()
            .expect("a tokio runtime for the object store (threads and a timer)")
    })
}

/// `work` run on [`runtime`], awaited from the caller's executor, and cancelled if the
/// caller stops waiting: an upload of a put that was given up must not land after a
/// later put of the same key.
pub(crate) async fn on_runtime<T: Send + 'static>(work: impl Future<Output = Result<T>> + Send + 'static) -> Result<T> {
    let task = runtime().spawn(work);
    let _cancel = CancelOnDrop(task.abort_handle());
    match task.await {
        Ok(out) => out,
        Err(e) => Err(Error::new(ErrorKind::Storage, format!("object store task failed: {e}"))),
    }
}

impl ObjectStore {
    /// Opens the store `config` describes. Nothing is sent to the server yet.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidConfig`] if the configuration is incomplete (no bucket).
    pub fn open(config: &ObjectConfig) -> Result<Self> {
        let operator = config.operator()?;
        Ok(ObjectStore {
            config: config.clone(),
            operator,
            entries: format!("{}{ENTRIES}", config.prefix_text()),
            leases: format!("{}{LEASES}", config.prefix_text()),
            releases: std::sync::Arc::default(),
        })
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &ObjectConfig {
        &self.config
    }

    /// The object key of entry `id`.
    fn path(&self, id: &Fingerprint) -> String {
        format!("{}{}", self.entries, id.to_hex())
    }

    /// The first bytes of the object at `path` (its listing head), or `None` if it is gone.
    async fn lead(operator: Operator, path: String, len: u64) -> Result<Option<Vec<u8>>> {
        let end = len.min(LIST_HEAD_LEN as u64);
        match operator.read_with(&path).range(0..end).await {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(from_opendal("read the head of", &path, e)),
        }
    }

    /// The listing of the object at `path` of entry `id`, or `None` if it is gone.
    async fn listed(operator: Operator, id: Fingerprint, path: String, len: Option<u64>) -> Result<Option<Listed>> {
        let len = match len {
            Some(len) => len,
            None => match operator.stat(&path).await {
                Ok(meta) => meta.content_length(),
                Err(e) if is_not_found(&e) => return Ok(None),
                Err(e) => return Err(from_opendal("look at", &path, e)),
            },
        };
        Ok(Self::lead(operator, path, len)
            .await?
            .map(|head| Listed { id, len, head }))
    }
}

impl Store for ObjectStore {
    type Bytes = AlignedBytes;

    /// The bytes [`Store::get_entry`] reads; its checksum is not needed here.
    async fn get(&self, id: &Fingerprint) -> Result<Option<AlignedBytes>> {
        Ok(self.get_entry(id).await?.map(|(bytes, _)| bytes))
    }

    /// Streams the object, in one GET, into an aligned buffer of the length the response
    /// gives, through core's [`EntryReader`], which checksums the payload piece by piece
    /// as the pieces arrive: the copy and the checksum overlap the download, and the
    /// engine does not read the payload again. The buffer's pages are mapped a few MiB
    /// ahead of the copy (`pages.rs`), not one page fault at a time. (Asking for the
    /// length first, one more request, cost 1.5 ms a get here; huge pages for the buffer
    /// made large gets slower, the kernel compacting memory to find them.)
    ///
    /// If the connection breaks, the client asks for the rest of the object, which may by
    /// then be another version of the entry: the bytes then fail their checksum, and the
    /// engine takes the read for a miss, never for the entry.
    async fn get_entry(&self, id: &Fingerprint) -> Result<Option<(AlignedBytes, Option<PayloadCheck>)>> {
        let (operator, path) = (self.operator.clone(), self.path(id));
        on_runtime(async move {
            // Not there is a miss; anything else an error.
            let failed = |e: opendal::Error| {
                if is_not_found(&e) {
                    Ok(None)
                } else {
                    Err(from_opendal("read", &path, e))
                }
            };
            let opened = async {
                let mut stream = operator.reader(&path).await?.into_stream(..).await?;
                let len = stream.metadata().await?.content_length();
                Ok((stream, len))
            };
            let (mut stream, len) = match opened.await {
                Ok(opened) => opened,
                Err(e) => return failed(e),
            };
            // Longer than this process can address or hold: damage, or another machine's
            // entry too large for this one; a miss either way (the engine rejects no
            // bytes and never removes a shared entry), the body left unread.
            let Some(mut entry) = usize::try_from(len).ok().and_then(EntryReader::try_new) else {
                return Ok(Some((AlignedBytes::default(), None)));
            };
            let mut pages = PagesAhead::default();
            let streamed = async {
                // Damaged (longer than it said): read no further.
                while !entry.is_damaged()
                    && let Some(piece) = stream.try_next().await?
                {
                    for bytes in piece {
                        pages.before_push(&mut entry, bytes.len());
                        entry.push(&bytes);
                    }
                }
                Ok(())
            };
            if let Err(e) = streamed.await {
                return failed(e);
            }
            Ok(Some(entry.finish()))
        })
        .await
    }

    /// Only `range` of the object, in one ranged GET (the server cuts it short where the
    /// object ends): a region of a large array, or a header longer than a listing's
    /// first bytes, without downloading the rest. An object replaced between two such
    /// reads is caught by the engine, which checks each block against the head it read.
    async fn get_range(&self, id: &Fingerprint, range: Range<usize>) -> Result<Option<SharedBytes>> {
        let (operator, path) = (self.operator.clone(), self.path(id));
        if range.is_empty() {
            return Ok(self
                .head(id)
                .await?
                .map(|_| SharedBytes::from_owner(AlignedBytes::zeroed(0))));
        }
        on_runtime(async move {
            match operator
                .read_with(&path)
                .range(range.start as u64..range.end as u64)
                .await
            {
                // Aligned, so that a region's values are viewed in place, as a whole entry's are.
                Ok(bytes) => Ok(Some(SharedBytes::from_owner(AlignedBytes::copy_of(&bytes.to_bytes())))),
                Err(e) if is_not_found(&e) => Ok(None),
                // A range that starts at or past the end: the entry is shorter, not gone.
                Err(e) if e.kind() == opendal::ErrorKind::RangeNotSatisfied => {
                    Ok(Some(SharedBytes::from_owner(AlignedBytes::zeroed(0))))
                }
                Err(e) => Err(from_opendal("read part of", &path, e)),
            }
        })
        .await
    }

    /// Checksums the payload first (its checksum and its blocks' in one pass, many times
    /// faster than the network), so the head can go first and the object is written in
    /// one pass: in parts of 8 MiB, then the seal if the entry has one. A payload whose
    /// owner the entry names is uploaded from it as it is; one only borrowed is copied
    /// into the upload's buffers a part at a time.
    async fn put_entry(&self, id: &Fingerprint, entry: &EntryWriter<'_>) -> Result<PayloadCheck> {
        let (head, check) = entry.head_first()?;
        let trailer = entry.trailer(&head);
        let (operator, path) = (self.operator.clone(), self.path(id));
        if entry.len() <= PART {
            // One request: most entries are small, and a multipart upload is four.
            let mut bytes = Vec::with_capacity(entry.len());
            bytes.extend_from_slice(&head);
            bytes.extend_from_slice(entry.payload());
            bytes.extend_from_slice(&trailer);
            return on_runtime(async move {
                operator
                    .write(&path, bytes)
                    .await
                    .map(|_| check)
                    .map_err(|e| from_opendal("write", &path, e))
            })
            .await;
        }
        if let Some(owner) = entry.payload_owner() {
            // Shared, so the whole upload runs on the runtime while the caller goes on
            // (the engine writes the local copy meanwhile), without a copy of the payload.
            let payload = bytes::Bytes::from_owner(owner.clone());
            let parts = (0..payload.len())
                .step_by(PART)
                .map(|at| payload.slice(at..payload.len().min(at + PART)));
            let pieces: Vec<bytes::Bytes> = std::iter::once(head.into())
                .chain(parts)
                .chain(Some(trailer.into()).filter(|t: &bytes::Bytes| !t.is_empty()))
                .collect();
            return on_runtime(async move {
                let written = async {
                    let mut writer = parts_writer(&operator, &path).await?;
                    for piece in pieces {
                        writer.write(piece).await?;
                    }
                    writer.close().await
                };
                written
                    .await
                    .map(|_| check)
                    .map_err(|e| from_opendal("write", &path, e))
            })
            .await;
        }
        let open_path = path.clone();
        let mut writer = on_runtime(async move {
            parts_writer(&operator, &open_path)
                .await
                .map_err(|e| from_opendal("write", &open_path, e))
        })
        .await?;
        let pieces = std::iter::once(head)
            .chain(entry.payload().chunks(PART).map(<[u8]>::to_vec))
            .chain(Some(trailer).filter(|t| !t.is_empty()));
        for piece in pieces {
            let piece_path = path.clone();
            writer = on_runtime(async move {
                writer
                    .write(piece)
                    .await
                    .map_err(|e| from_opendal("write", &piece_path, e))?;
                Ok(writer)
            })
            .await?;
        }
        on_runtime(async move {
            writer
                .close()
                .await
                .map(drop)
                .map_err(|e| from_opendal("write", &path, e))
        })
        .await?;
        Ok(check)
    }

    async fn delete(&self, id: &Fingerprint) -> Result<()> {
        let (operator, path) = (self.operator.clone(), self.path(id));
        on_runtime(async move {
            match operator.delete(&path).await {
                Ok(()) => Ok(()),
                Err(e) if is_not_found(&e) => Ok(()),
                Err(e) => Err(from_opendal("remove", &path, e)),
            }
        })
        .await
    }

    /// Lists the entries' objects, then reads each one's first bytes, all at once.
    async fn list(&self) -> Result<Vec<Listed>> {
        let (operator, dir) = (self.operator.clone(), self.entries.clone());
        on_runtime(async move {
            let objects = match operator.list(&dir).await {
                Ok(objects) => objects,
                Err(e) if is_not_found(&e) => Vec::new(),
                Err(e) => return Err(from_opendal("list", &dir, e)),
            };
            let mut reads = Vec::with_capacity(objects.len());
            for object in objects {
                let Some(id) = object
                    .name()
                    .strip_suffix('/')
                    .map_or(Some(object.name()), |_| None)
                    .and_then(|hex| format!("b3:{hex}").parse::<Fingerprint>().ok())
                else {
                    continue;
                };
                let len = object.metadata().content_length();
                let path = object.path().to_owned();
                reads.push(tokio::spawn(Self::listed(operator.clone(), id, path, Some(len))));
            }
            let mut out = Vec::with_capacity(reads.len());
            for read in reads {
                let listed = read
                    .await
                    .map_err(|e| Error::new(ErrorKind::Storage, format!("object store task failed: {e}")))??;
                out.extend(listed);
            }
            Ok(out)
        })
        .await
    }

    /// A lease on the key across every machine (see `lease.rs`), where the object store
    /// has conditional writes; `None` (each may compute) where it has not.
    async fn lock(&self, id: &Fingerprint) -> Result<Option<LockGuard>> {
        let path = format!("{}{}", self.leases, id.to_hex());
        Ok(lease::take(self.operator.clone(), path, &self.releases)
            .await?
            .map(LockGuard::new))
    }

    async fn head(&self, id: &Fingerprint) -> Result<Option<Listed>> {
        let (operator, path, id) = (self.operator.clone(), self.path(id), *id);
        on_runtime(Self::listed(operator, id, path, None)).await
    }
}
