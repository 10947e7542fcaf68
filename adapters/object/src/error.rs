//! Object-store failures as stepcache errors.

use stepcache_core::{Error, ErrorKind};

/// Whether `e` says the object (or its bucket's path) is not there: a miss, not an error.
pub(crate) fn is_not_found(e: &opendal::Error) -> bool {
    e.kind() == opendal::ErrorKind::NotFound
}

/// The error of `op` on the object `path` failing with `e`: refused credentials are
/// [`ErrorKind::PermissionDenied`], a configuration the service rejects
/// [`ErrorKind::InvalidConfig`], anything else (the server down, slow, or failing)
/// [`ErrorKind::Storage`]; the message names the operation, the object and the cause.
pub(crate) fn from_opendal(op: &str, path: &str, e: opendal::Error) -> Error {
    let kind = match e.kind() {
        opendal::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        opendal::ErrorKind::ConfigInvalid => ErrorKind::InvalidConfig,
        _ => ErrorKind::Storage,
    };
    Error::new(kind, format!("{op} {path} in the object store: {e}"))
}
