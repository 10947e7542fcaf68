//! The bundle: one file that carries cache entries anywhere (exported natively, imported
//! in a browser, or the other way round). Entries travel in the unchanged entry format;
//! the bundle is a thin container around them, specified byte for byte in
//! `docs/bundle-format.md`, whose one implementation this module is.
//!
//! ```text
//! header   "STEPBNDL" | u16 LE version 1 | 6 zero bytes                         16 bytes
//! record   u8 1 | 32-byte key fingerprint | u64 LE length | entry bytes    41 + length
//! ...
//! end      u8 0 | u64 LE records | u64 LE entry bytes | XXH3-128 (LE)            33 bytes
//! ```
//!
//! The end record's checksum covers every framing byte before it (the header, each
//! record's 41-byte head and the end record's first 17 bytes), so a bundle cut short or
//! with a damaged, dropped or reordered record head is detected. Entry bytes are not
//! checksummed here: every entry carries its own checksums and is verified on import.
//!
//! Written with [`BundleWriter`] from any byte sink without knowing the record count
//! ahead; read front to back without seeking, from bytes in memory (or a memory map) with
//! [`BundleSlices`], which lends each entry without copying it, or from chunks of any size
//! with [`BundleReader`], which gathers each entry into one buffer of its own.

// The writer and both readers share one header check, one frame decoder and one running
// checksum (`Tally`), so they cannot drift apart; the readers differ only in buffering.

#[cfg(test)]
mod tests;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::checksum::Xxh3;
use crate::error::{Error, ErrorKind};
use crate::fingerprint::Fingerprint;

/// The magic bytes every bundle starts with.
pub const MAGIC: [u8; 8] = *b"STEPBNDL";
/// The bundle format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// The length of the bundle's header.
pub const HEADER_LEN: usize = 16;
/// The bundle's header: [`MAGIC`], [`FORMAT_VERSION`] (u16 LE) and six reserved zero
/// bytes. A bundle starts with exactly these bytes.
pub const HEADER: [u8; HEADER_LEN] = *b"STEPBNDL\x01\x00\x00\x00\x00\x00\x00\x00";
/// The length of a record's head: kind, key fingerprint, entry length.
pub const RECORD_HEAD_LEN: usize = 41;
/// The length of the end record: kind, record count, entry byte total, checksum.
pub const END_LEN: usize = 33;
/// The longest entry a record may hold, 2^40 bytes (1 TiB): a length field above it is
/// damage, reported before anything is allocated for it.
pub const MAX_ENTRY_LEN: u64 = 1 << 40;

/// The kind byte of the end record.
const KIND_END: u8 = 0;
/// The kind byte of a record holding an entry.
const KIND_ENTRY: u8 = 1;

/// Why bytes are not a valid bundle, or could not be read as one.
///
/// Converts into [`Error`] of kind [`ErrorKind::InvalidBundle`] (or
/// [`ErrorKind::StorageFull`] for [`BundleError::OutOfMemory`]).
///
/// # Example
/// ```
/// use stepcache_core::bundle::{BundleError, BundleSlices};
/// use stepcache_core::ErrorKind;
///
/// let err = BundleSlices::new(b"STEPBNDL").next().unwrap().unwrap_err();
/// assert_eq!(err, BundleError::Truncated);
/// assert_eq!(stepcache_core::Error::from(err).kind(), ErrorKind::InvalidBundle);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundleError {
    /// The input ended before the end record: the bundle was cut short.
    Truncated,
    /// The input does not start with [`MAGIC`]: not a bundle.
    BadMagic,
    /// A bundle format version this build cannot read.
    UnknownVersion(u16),
    /// The header's reserved bytes are not zero.
    BadHeader,
    /// A record's kind byte is neither 0 (end) nor 1 (entry).
    BadKind(u8),
    /// A record's length field is over [`MAX_ENTRY_LEN`] (or, for [`BundleWriter`], an
    /// entry that long was offered).
    EntryTooLong(u64),
    /// The end record's record count or entry byte total differs from what was read.
    EndMismatch,
    /// The end record's checksum does not match the framing read before it.
    Checksum,
    /// Bytes follow the end record.
    TrailingBytes,
    /// No memory could be had for an entry of this many bytes.
    OutOfMemory(u64),
}

impl BundleError {
    /// The message for people (built with `text!`, not `core::fmt`: see `crate::text`).
    fn message(self) -> String {
        match self {
            BundleError::Truncated => "the bundle is cut short: it ends before its end record".into(),
            BundleError::BadMagic => "not a stepcache bundle (it does not start with \"STEPBNDL\")".into(),
            BundleError::UnknownVersion(v) => crate::text!("unknown bundle format version ", v),
            BundleError::BadHeader => "the bundle's header is damaged (reserved bytes not zero)".into(),
            BundleError::BadKind(kind) => crate::text!(
                "the bundle is damaged: a record of kind ",
                kind,
                ", neither 0 (end) nor 1 (entry)"
            ),
            BundleError::EntryTooLong(len) => crate::text!(
                "the bundle is damaged: a record says its entry has ",
                len,
                " bytes, over the limit of 2^40"
            ),
            BundleError::EndMismatch => {
                "the bundle is damaged: its end record counts other records than it holds".into()
            }
            BundleError::Checksum => "the bundle is damaged: its checksum does not match its record heads".into(),
            BundleError::TrailingBytes => "the bundle is damaged: bytes follow its end record".into(),
            BundleError::OutOfMemory(len) => {
                crate::text!("no memory for a bundle's entry of ", len, " bytes")
            }
        }
    }
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl core::error::Error for BundleError {}

impl From<BundleError> for Error {
    fn from(error: BundleError) -> Self {
        let kind = match error {
            BundleError::OutOfMemory(_) => ErrorKind::StorageFull,
            _ => ErrorKind::InvalidBundle,
        };
        Error::new(kind, error.message())
    }
}

/// The end record's checksum of a bundle whose framing bytes are `framing`: the header,
/// every record head and the end record's first 17 bytes, in file order (XXH3-128, seed 0,
/// low 64 bits first). For a second reader or writer of the container that has no XXH3 of
/// its own (the npm package's, in JavaScript); [`BundleWriter`] and the readers keep it
/// as they go.
///
/// # Example
/// ```
/// use stepcache_core::bundle::{self, BundleWriter};
///
/// let end = BundleWriter::new().finish();
/// let framing = [&bundle::HEADER[..], &end[..17]].concat();
/// assert_eq!(bundle::checksum(&framing), end[17..]);
/// ```
pub fn checksum(framing: &[u8]) -> [u8; 16] {
    crate::checksum::xxh3_128(framing).to_le_bytes()
}

/// One framing unit after the header, decoded and checked.
enum Frame {
    /// A record's head: its key fingerprint and entry length.
    Record(Fingerprint, u64),
    /// The end record, which matched everything before it.
    End,
}

/// The length of the frame whose first (kind) byte is `kind`.
fn frame_len(kind: u8) -> Result<usize, BundleError> {
    match kind {
        KIND_ENTRY => Ok(RECORD_HEAD_LEN),
        KIND_END => Ok(END_LEN),
        other => Err(BundleError::BadKind(other)),
    }
}

/// Checks a bundle's first [`HEADER_LEN`] bytes.
fn check_header(bytes: &[u8]) -> Result<(), BundleError> {
    if bytes.len() < HEADER_LEN {
        return Err(BundleError::Truncated);
    }
    if bytes[..8] != MAGIC {
        return Err(BundleError::BadMagic);
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != FORMAT_VERSION {
        return Err(BundleError::UnknownVersion(version));
    }
    if bytes[10..HEADER_LEN].iter().any(|&b| b != 0) {
        return Err(BundleError::BadHeader);
    }
    Ok(())
}

/// The u64 LE at `bytes[at..at + 8]` (the caller has checked the length).
fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut field = [0u8; 8];
    field.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(field)
}

/// What the framing read or written so far adds up to: the running checksum, the record
/// count and the entry byte total. The writer and both readers keep one, so all three
/// agree on what the end record says.
struct Tally {
    hasher: Xxh3,
    records: u64,
    entry_bytes: u64,
}

impl Tally {
    /// A tally of the header alone.
    fn new() -> Self {
        let mut hasher = Xxh3::new();
        hasher.update(&HEADER);
        Tally {
            hasher,
            records: 0,
            entry_bytes: 0,
        }
    }

    /// Counts a record head that holds an entry of `len` bytes.
    fn add_record(&mut self, head: &[u8], len: u64) {
        self.hasher.update(head);
        self.records = self.records.wrapping_add(1);
        self.entry_bytes = self.entry_bytes.wrapping_add(len);
    }

    /// The end record's first 17 bytes: kind, record count, entry byte total.
    fn end_fields(&self) -> [u8; 17] {
        let mut fields = [0u8; 17];
        fields[0] = KIND_END;
        fields[1..9].copy_from_slice(&self.records.to_le_bytes());
        fields[9..17].copy_from_slice(&self.entry_bytes.to_le_bytes());
        fields
    }

    /// The end record for everything counted.
    fn end(mut self) -> [u8; END_LEN] {
        let fields = self.end_fields();
        self.hasher.update(&fields);
        let mut end = [0u8; END_LEN];
        end[..17].copy_from_slice(&fields);
        end[17..].copy_from_slice(&self.hasher.finish().to_le_bytes());
        end
    }

    /// Decodes, checks and counts the whole frame `bytes` (a record head or the end record).
    fn read_frame(&mut self, bytes: &[u8]) -> Result<Frame, BundleError> {
        let kind = *bytes.first().ok_or(BundleError::Truncated)?;
        if bytes.len() != frame_len(kind)? {
            return Err(BundleError::Truncated);
        }
        if kind == KIND_ENTRY {
            let mut fingerprint = [0u8; 32];
            fingerprint.copy_from_slice(&bytes[1..33]);
            let len = u64_at(bytes, 33);
            if len > MAX_ENTRY_LEN {
                return Err(BundleError::EntryTooLong(len));
            }
            self.add_record(bytes, len);
            return Ok(Frame::Record(Fingerprint::from_bytes(fingerprint), len));
        }
        // The count and total are compared first only for the clearer message: the
        // checksum covers them too.
        if bytes[..17] != self.end_fields() {
            return Err(BundleError::EndMismatch);
        }
        self.hasher.update(&bytes[..17]);
        if bytes[17..] != self.hasher.finish().to_le_bytes() {
            return Err(BundleError::Checksum);
        }
        Ok(Frame::End)
    }
}

/// Writes a bundle to any byte sink: [`HEADER`], then for each entry its
/// [`record_head`](BundleWriter::record_head) followed by the entry's bytes, which the
/// caller writes itself (so a large or memory-mapped entry is never copied here), then
/// [`finish`](BundleWriter::finish). The record count need not be known ahead.
///
/// The writer trusts the caller to write exactly the length it gave for each entry; a
/// bundle that breaks that is rejected by every reader.
///
/// # Example
/// ```
/// use stepcache_core::Fingerprint;
/// use stepcache_core::bundle::{self, BundleSlices, BundleWriter};
///
/// let entries = [(Fingerprint::from_bytes([7; 32]), b"an entry's bytes".as_slice())];
/// let mut out: Vec<u8> = Vec::new(); // or any `std::io::Write`, or chunks to JavaScript
/// out.extend_from_slice(&bundle::HEADER);
/// let mut writer = BundleWriter::new();
/// for (fingerprint, entry) in &entries {
///     out.extend_from_slice(&writer.record_head(fingerprint, entry.len() as u64)?);
///     out.extend_from_slice(entry);
/// }
/// out.extend_from_slice(&writer.finish());
///
/// let read: Vec<_> = BundleSlices::new(&out).collect::<Result<_, _>>()?;
/// assert_eq!(read, entries);
/// # Ok::<(), bundle::BundleError>(())
/// ```
pub struct BundleWriter {
    tally: Tally,
}

impl BundleWriter {
    /// A writer of a bundle whose [`HEADER`] the caller writes first.
    pub fn new() -> Self {
        BundleWriter { tally: Tally::new() }
    }

    /// The head of the next record, for an entry of `len` bytes under the key
    /// `fingerprint`: write it, then exactly `len` bytes of entry.
    ///
    /// # Errors
    /// [`BundleError::EntryTooLong`] if `len` is over [`MAX_ENTRY_LEN`] (nothing is counted).
    ///
    /// # Example
    /// ```
    /// use stepcache_core::Fingerprint;
    /// use stepcache_core::bundle::{BundleWriter, RECORD_HEAD_LEN};
    ///
    /// let head = BundleWriter::new().record_head(&Fingerprint::from_bytes([1; 32]), 300)?;
    /// assert_eq!((head.len(), head[0], &head[33..]), (RECORD_HEAD_LEN, 1, &300u64.to_le_bytes()[..]));
    /// # Ok::<(), stepcache_core::bundle::BundleError>(())
    /// ```
    pub fn record_head(&mut self, fingerprint: &Fingerprint, len: u64) -> Result<[u8; RECORD_HEAD_LEN], BundleError> {
        if len > MAX_ENTRY_LEN {
            return Err(BundleError::EntryTooLong(len));
        }
        let mut head = [0u8; RECORD_HEAD_LEN];
        head[0] = KIND_ENTRY;
        head[1..33].copy_from_slice(fingerprint.as_bytes());
        head[33..].copy_from_slice(&len.to_le_bytes());
        self.tally.add_record(&head, len);
        Ok(head)
    }

    /// The end record, the bundle's last bytes.
    ///
    /// # Example
    /// ```
    /// use stepcache_core::bundle::{self, BundleSlices, BundleWriter};
    ///
    /// let mut empty = bundle::HEADER.to_vec();
    /// empty.extend_from_slice(&BundleWriter::new().finish());
    /// assert_eq!(BundleSlices::new(&empty).count(), 0);
    /// ```
    pub fn finish(self) -> [u8; END_LEN] {
        self.tally.end()
    }
}

impl Default for BundleWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for BundleWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BundleWriter")
            .field("records", &self.tally.records)
            .field("entry_bytes", &self.tally.entry_bytes)
            .finish()
    }
}

/// Reads a bundle held whole in memory (a buffer, or a memory-mapped file): an iterator
/// of each record's key fingerprint and entry bytes, lent from the input without a copy.
///
/// It yields records in order as their bytes are found complete, then `None` once the
/// end record checked out, or one error and then `None`. A bundle is whole only if no
/// error came: records before an error are complete and framed as written, but their
/// entries must be verified (as every import does) before they are trusted.
///
/// # Example
/// ```
/// use stepcache_core::bundle::{BundleError, BundleSlices};
///
/// # let bytes = {
/// #     use stepcache_core::{Fingerprint, bundle::{self, BundleWriter}};
/// #     let mut w = BundleWriter::new();
/// #     let mut b = bundle::HEADER.to_vec();
/// #     b.extend_from_slice(&w.record_head(&Fingerprint::from_bytes([3; 32]), 2).unwrap());
/// #     b.extend_from_slice(b"hi");
/// #     b.extend_from_slice(&w.finish());
/// #     b
/// # };
/// for record in BundleSlices::new(&bytes) {
///     let (fingerprint, entry) = record?;
///     assert_eq!((fingerprint.as_bytes()[0], entry), (3, &b"hi"[..]));
/// }
/// assert_eq!(BundleSlices::new(&bytes[..bytes.len() - 1]).last(), Some(Err(BundleError::Truncated)));
/// # Ok::<(), BundleError>(())
/// ```
pub struct BundleSlices<'a> {
    bytes: &'a [u8],
    at: usize,
    tally: Tally,
    /// The header was checked.
    started: bool,
    /// The end record or an error was returned: nothing follows.
    done: bool,
}

impl<'a> BundleSlices<'a> {
    /// A reader of the bundle `bytes`, which must be the whole bundle.
    pub fn new(bytes: &'a [u8]) -> Self {
        BundleSlices {
            bytes,
            at: 0,
            tally: Tally::new(),
            started: false,
            done: false,
        }
    }

    /// The next `n` bytes, or [`BundleError::Truncated`] if the input has fewer.
    fn take(&mut self, n: usize) -> Result<&'a [u8], BundleError> {
        let bytes = self.bytes;
        let end = self.at.checked_add(n).ok_or(BundleError::Truncated)?;
        let taken = bytes.get(self.at..end).ok_or(BundleError::Truncated)?;
        self.at = end;
        Ok(taken)
    }

    fn step(&mut self) -> Result<Option<(Fingerprint, &'a [u8])>, BundleError> {
        if !self.started {
            check_header(self.take(HEADER_LEN)?)?;
            self.started = true;
        }
        let kind = *self.bytes.get(self.at).ok_or(BundleError::Truncated)?;
        let frame = self.take(frame_len(kind)?)?;
        match self.tally.read_frame(frame)? {
            Frame::Record(fingerprint, len) => {
                let len = usize::try_from(len).map_err(|_| BundleError::Truncated)?;
                Ok(Some((fingerprint, self.take(len)?)))
            }
            Frame::End if self.at == self.bytes.len() => Ok(None),
            Frame::End => Err(BundleError::TrailingBytes),
        }
    }
}

impl<'a> Iterator for BundleSlices<'a> {
    type Item = Result<(Fingerprint, &'a [u8]), BundleError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let step = self.step();
        self.done = !matches!(step, Ok(Some(_)));
        step.transpose()
    }
}

impl core::iter::FusedIterator for BundleSlices<'_> {}

impl fmt::Debug for BundleSlices<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BundleSlices")
            .field("len", &self.bytes.len())
            .field("at", &self.at)
            .field("records", &self.tally.records)
            .finish()
    }
}

/// Where a [`BundleReader`] is in the bundle.
enum State {
    /// Gathering the header's bytes into `frame`.
    Header,
    /// Gathering a frame's bytes into `frame`: its kind byte, then the rest.
    Frame,
    /// Gathering the entry of the record just read.
    Entry {
        fingerprint: Fingerprint,
        len: usize,
        bytes: Vec<u8>,
    },
    /// The end record checked out.
    Done,
    /// An error was returned; it is returned again on every later call.
    Failed(BundleError),
}

/// Reads a bundle from chunks of any size, as they arrive (a file read piece by piece, a
/// network stream, JavaScript `Uint8Array` chunks): a push parser that hands out each
/// record as soon as its last byte is fed. Each entry is gathered into one buffer of its
/// own, the one copy of it; framing bytes are gathered in a fixed 41-byte buffer.
///
/// Feed every chunk with [`feed`](BundleReader::feed) until it returns `None`, then,
/// at the end of the input, call [`finish`](BundleReader::finish): only it tells a whole
/// bundle from one cut short at a record boundary. After an error every call returns
/// that error again. Records handed out before an error are complete and framed as
/// written, but their entries must be verified (as every import does) before they are
/// trusted.
///
/// An entry's buffer grows as its bytes arrive, to at most twice the bytes received, so
/// a damaged length field cannot make the reader allocate what the input does not hold.
/// A caller that knows the bundle's length (a file's size, a `Blob`'s `size`) should give
/// it to [`with_len`](BundleReader::with_len): then each buffer is allocated once at the
/// entry's exact length, and a length running past the end is reported at once.
///
/// # Example
/// ```
/// use stepcache_core::bundle::BundleReader;
///
/// # let bytes = {
/// #     use stepcache_core::{Fingerprint, bundle::{self, BundleWriter}};
/// #     let mut w = BundleWriter::new();
/// #     let mut b = bundle::HEADER.to_vec();
/// #     b.extend_from_slice(&w.record_head(&Fingerprint::from_bytes([3; 32]), 2).unwrap());
/// #     b.extend_from_slice(b"hi");
/// #     b.extend_from_slice(&w.finish());
/// #     b
/// # };
/// let mut reader = BundleReader::new();
/// let mut entries = Vec::new();
/// for mut chunk in bytes.chunks(5) {
///     while let Some((fingerprint, entry)) = reader.feed(&mut chunk)? {
///         entries.push((fingerprint, entry)); // import it: verify, then store
///     }
/// }
/// assert_eq!(reader.finish()?, 1);
/// assert_eq!(entries[0].1, b"hi");
/// # Ok::<(), stepcache_core::bundle::BundleError>(())
/// ```
pub struct BundleReader {
    state: State,
    tally: Tally,
    /// The bytes of the header or frame being gathered: at most a record head.
    frame: [u8; RECORD_HEAD_LEN],
    /// How many bytes of `frame` are gathered.
    have: usize,
    /// The bundle's length, if the caller gave it.
    len: Option<u64>,
    /// How many bytes were consumed.
    consumed: u64,
}

impl BundleReader {
    /// A reader of a bundle of unknown length, at its first byte.
    pub fn new() -> Self {
        BundleReader {
            state: State::Header,
            tally: Tally::new(),
            frame: [0; RECORD_HEAD_LEN],
            have: 0,
            len: None,
            consumed: 0,
        }
    }

    /// A reader of a bundle of exactly `len` bytes: each entry's buffer is allocated once,
    /// at its length, and a record whose entry and the end record would not fit in `len`
    /// is reported as [`BundleError::Truncated`] before anything is allocated for it.
    ///
    /// # Example
    /// ```
    /// use stepcache_core::bundle::{BundleError, BundleReader};
    ///
    /// // A header, then a record head saying 1000 bytes of entry follow: cannot fit in 100.
    /// let mut bytes = b"STEPBNDL\x01\0\0\0\0\0\0\0\x01".to_vec();
    /// bytes.extend_from_slice(&[0; 32]);
    /// bytes.extend_from_slice(&1000u64.to_le_bytes());
    /// let mut reader = BundleReader::with_len(100);
    /// assert_eq!(reader.feed(&mut &bytes[..]), Err(BundleError::Truncated));
    /// ```
    pub fn with_len(len: u64) -> Self {
        BundleReader {
            len: Some(len),
            ..Self::new()
        }
    }

    /// Consumes bytes from the front of `input` up to the end of the next complete record,
    /// and returns that record's key fingerprint and entry bytes; or consumes all of
    /// `input` and returns `None` when it holds no further complete record. Call it again
    /// while it returns a record: `while let Some(record) = reader.feed(&mut chunk)? {..}`.
    ///
    /// # Errors
    /// Any [`BundleError`] but [`Truncated`](BundleError::Truncated) as soon as the bytes
    /// show it (`Truncated` too, under [`with_len`](BundleReader::with_len)); then every
    /// later call returns the same error. How much of `input` was consumed is then
    /// unspecified.
    ///
    /// # Example
    /// ```
    /// use stepcache_core::bundle::{BundleError, BundleReader};
    ///
    /// let mut reader = BundleReader::new();
    /// let mut chunk: &[u8] = b"STEPBNDL\x01\0";
    /// assert_eq!(reader.feed(&mut chunk), Ok(None));
    /// assert!(chunk.is_empty());
    /// assert_eq!(reader.feed(&mut &b"\0\0\0\0\0\0\x07"[..]), Err(BundleError::BadKind(7)));
    /// ```
    pub fn feed(&mut self, input: &mut &[u8]) -> Result<Option<(Fingerprint, Vec<u8>)>, BundleError> {
        let result = self.advance(input);
        if let Err(error) = result {
            self.state = State::Failed(error);
        }
        result
    }

    /// The number of records read, once the whole input was fed.
    ///
    /// # Errors
    /// [`BundleError::Truncated`] if the end record has not been read, or the error
    /// [`feed`](BundleReader::feed) returned.
    ///
    /// # Example
    /// ```
    /// use stepcache_core::bundle::{self, BundleError, BundleReader};
    ///
    /// let mut reader = BundleReader::new();
    /// assert_eq!(reader.feed(&mut &bundle::HEADER[..]), Ok(None));
    /// assert_eq!(reader.finish(), Err(BundleError::Truncated));
    /// ```
    pub fn finish(&self) -> Result<u64, BundleError> {
        match &self.state {
            State::Done => Ok(self.tally.records),
            State::Failed(error) => Err(*error),
            _ => Err(BundleError::Truncated),
        }
    }

    /// Moves up to `n` bytes of `input` into `frame`; whether `n` bytes are gathered.
    fn gather(&mut self, input: &mut &[u8], n: usize) -> bool {
        let wanted = n.saturating_sub(self.have).min(input.len());
        let (now, rest) = input.split_at(wanted);
        self.frame[self.have..self.have + wanted].copy_from_slice(now);
        self.have += wanted;
        self.consumed = self.consumed.saturating_add(wanted as u64);
        *input = rest;
        self.have >= n
    }

    fn advance(&mut self, input: &mut &[u8]) -> Result<Option<(Fingerprint, Vec<u8>)>, BundleError> {
        loop {
            match &mut self.state {
                State::Failed(error) => return Err(*error),
                State::Done if input.is_empty() => return Ok(None),
                State::Done => return Err(BundleError::TrailingBytes),
                State::Header => {
                    if !self.gather(input, HEADER_LEN) {
                        return Ok(None);
                    }
                    check_header(&self.frame[..HEADER_LEN])?;
                    self.have = 0;
                    self.state = State::Frame;
                }
                State::Frame => {
                    if !self.gather(input, 1) {
                        return Ok(None);
                    }
                    let frame_len = frame_len(self.frame[0])?;
                    if !self.gather(input, frame_len) {
                        return Ok(None);
                    }
                    self.have = 0;
                    self.state = match self.tally.read_frame(&self.frame[..frame_len])? {
                        Frame::End => State::Done,
                        Frame::Record(fingerprint, len) => {
                            let (len, bytes) = self.entry_buffer(len)?;
                            State::Entry {
                                fingerprint,
                                len,
                                bytes,
                            }
                        }
                    };
                }
                State::Entry { len, bytes, .. } => {
                    let wanted = (*len - bytes.len()).min(input.len());
                    let (now, rest) = input.split_at(wanted);
                    grow(bytes, *len, wanted)?;
                    bytes.extend_from_slice(now);
                    self.consumed = self.consumed.saturating_add(wanted as u64);
                    *input = rest;
                    if bytes.len() < *len {
                        return Ok(None);
                    }
                    if let State::Entry { fingerprint, bytes, .. } = core::mem::replace(&mut self.state, State::Frame) {
                        return Ok(Some((fingerprint, bytes)));
                    }
                }
            }
        }
    }

    /// The length and buffer of an entry of `len` bytes whose record head was just read:
    /// allocated at its length if the bundle's length is known and the entry fits in it,
    /// empty (to grow with its bytes) if the length is unknown.
    fn entry_buffer(&self, len: u64) -> Result<(usize, Vec<u8>), BundleError> {
        let mut bytes = Vec::new();
        if let Some(total) = self.len {
            if len.saturating_add(END_LEN as u64) > total.saturating_sub(self.consumed) {
                return Err(BundleError::Truncated);
            }
            let exact = usize::try_from(len).map_err(|_| BundleError::OutOfMemory(len))?;
            bytes
                .try_reserve_exact(exact)
                .map_err(|_| BundleError::OutOfMemory(len))?;
        }
        let len = usize::try_from(len).map_err(|_| BundleError::OutOfMemory(len))?;
        Ok((len, bytes))
    }
}

impl Default for BundleReader {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for BundleReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BundleReader")
            .field("consumed", &self.consumed)
            .field("len", &self.len)
            .field("records", &self.tally.records)
            .finish()
    }
}

/// Makes room in `bytes`, an entry of `len` bytes being gathered, for `more` of them: at
/// least doubling its capacity, never past `len`. Gathering then costs amortised constant
/// time per byte, and the buffer never holds more than twice the bytes received.
fn grow(bytes: &mut Vec<u8>, len: usize, more: usize) -> Result<(), BundleError> {
    let need = bytes.len() + more;
    if need <= bytes.capacity() {
        return Ok(());
    }
    let target = need.max(bytes.capacity().saturating_mul(2)).min(len);
    bytes
        .try_reserve_exact(target - bytes.len())
        .map_err(|_| BundleError::OutOfMemory(len as u64))
}
