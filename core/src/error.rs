//! The one error type of stepcache: a kind to match on, and context to read.

use alloc::string::String;
use core::fmt;

/// What went wrong, in a form a caller can match on.
///
/// New kinds may be added in minor releases, so a `match` needs a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A step (result type) name is empty, too long or uses characters outside `[A-Za-z0-9_.:-]`.
    InvalidStepName,
    /// An argument name is empty, too long, or given twice in one key.
    InvalidArgument,
    /// A value's shape, element type and byte length disagree.
    InvalidValue,
    /// A value was read as an element type other than the one it holds.
    WrongType,
    /// A configuration value is out of range (for example a zero age or an unknown policy name).
    InvalidConfig,
    /// A fingerprint's text form is not `b3:` followed by 64 lowercase hex digits.
    InvalidFingerprint,
    /// The value is larger than the limit stepcache puts on one entry.
    TooLarge,
    /// A read was asked of a cache whose access mode has reading switched off.
    ReadDisabled,
    /// A miss happened while computing is switched off (a replay-only cache).
    ComputeDisabled,
    /// The compute function given to `get_or_compute` failed; the message is its error's text.
    Compute,
    /// The storage backend failed (an IO error, a full disk, a refused transaction).
    Storage,
    /// The storage backend ran out of space.
    StorageFull,
    /// The storage backend refused access (permissions, ownership, IndexedDB unavailable).
    PermissionDenied,
    /// The storage is held by someone else (another tab's open database at an older
    /// schema version); retry after it closes.
    Blocked,
    /// The cache was closed.
    Closed,
    /// Bytes given as an entry (an import, a bundle) are not a sound entry: damaged,
    /// truncated, of an unknown format version, or not an entry at all.
    InvalidEntry,
    /// A bundle (a file of exported entries) is cut short, damaged, or not a bundle.
    InvalidBundle,
}

impl ErrorKind {
    /// A short, stable name for the kind (also used as the JavaScript error `name`).
    // Not inlined: each inlined copy carried its own copy of the names.
    #[inline(never)]
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidStepName => "InvalidStepName",
            ErrorKind::InvalidArgument => "InvalidArgument",
            ErrorKind::InvalidValue => "InvalidValue",
            ErrorKind::WrongType => "WrongType",
            ErrorKind::InvalidConfig => "InvalidConfig",
            ErrorKind::InvalidFingerprint => "InvalidFingerprint",
            ErrorKind::TooLarge => "TooLarge",
            ErrorKind::ReadDisabled => "ReadDisabled",
            ErrorKind::ComputeDisabled => "ComputeDisabled",
            ErrorKind::Compute => "ComputeFailed",
            ErrorKind::Storage => "StorageError",
            ErrorKind::StorageFull => "StorageFull",
            ErrorKind::PermissionDenied => "PermissionDenied",
            ErrorKind::Blocked => "StorageBlocked",
            ErrorKind::Closed => "CacheClosed",
            ErrorKind::InvalidEntry => "InvalidEntry",
            ErrorKind::InvalidBundle => "InvalidBundle",
        }
    }
}

/// An error from stepcache: a [`ErrorKind`] plus a message that says what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// Makes an error of `kind` with a message for people.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// The kind, to match on.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `write_str`, not `write!`: see `crate::text`.
        f.write_str(self.kind.name())?;
        f.write_str(": ")?;
        f.write_str(&self.message)
    }
}

impl core::error::Error for Error {}

/// The result type of stepcache.
pub type Result<T, E = Error> = core::result::Result<T, E>;
