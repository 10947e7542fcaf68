//! [`Held`]: a value as the memory tier and a computation shared between callers hold it.

use crate::fingerprint::Fingerprint;
use crate::value::Value;

/// A value and its content identity, computed once when the value was produced or read
/// (a hit never checksums the value again).
#[derive(Clone)]
pub(crate) struct Held {
    pub(crate) value: Value,
    pub(crate) content: Fingerprint,
}
