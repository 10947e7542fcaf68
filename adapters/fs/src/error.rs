//! IO errors as stepcache errors.

use std::io;
use std::path::Path;

use stepcache_core::{Error, ErrorKind};

/// The error of `op` on `path` failing with `e`: a full disk or quota is
/// [`ErrorKind::StorageFull`], a refusal [`ErrorKind::PermissionDenied`], the rest
/// [`ErrorKind::Storage`]; the message names the operation and the path.
pub(crate) fn io_error(op: &str, path: &Path, e: io::Error) -> Error {
    let kind = match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => ErrorKind::StorageFull,
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => ErrorKind::PermissionDenied,
        _ => ErrorKind::Storage,
    };
    Error::new(kind, format!("{op} {}: {e}", path.display()))
}
