//! One module per command: each opens the cache as it needs (read-only where it only
//! reads) and returns its output as text or one JSON document.

pub(crate) mod clear;
pub(crate) mod export;
pub(crate) mod gc;
pub(crate) mod import;
pub(crate) mod ls;
pub(crate) mod show;
pub(crate) mod stats;
pub(crate) mod transfer;
pub(crate) mod verify;
