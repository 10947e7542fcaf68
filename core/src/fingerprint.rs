//! blake3 fingerprints: 32 bytes, written `b3:<64 hex digits>`.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};
use crate::value::ElementType;

/// Domain-separation contexts (blake3 `derive_key` mode), so a key, an array digest and a
/// content identity of the same bytes never coincide. Changing the key context or the
/// array context changes every key (the key context names the key format version).
pub(crate) const KEY_CONTEXT: &str = "stepcache 2026-11 key v2";
const ARRAY_CONTEXT: &str = "stepcache 2026-11 array v1";
const CONTENT_CONTEXT: &str = "stepcache 2026-11 content v1";

/// Below this many bytes one thread hashes faster than handing work to a pool.
#[cfg(feature = "parallel")]
const PARALLEL_MIN_BYTES: usize = 1 << 20;

/// A 32-byte blake3 digest identifying a key or an array (or a v1 entry's payload).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint with these digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Fingerprint(bytes)
    }

    /// The digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest as 64 lowercase hex digits (no `b3:` prefix), e.g. for file names.
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for b in self.0 {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
        out
    }

    /// The blake3 digest of `data` (parallel above 1 MiB with the `parallel` feature).
    pub fn of_bytes(data: &[u8]) -> Self {
        let mut hasher = blake3::Hasher::new();
        update(&mut hasher, data);
        Fingerprint(*hasher.finalize().as_bytes())
    }

    /// The same digest as [`Fingerprint::of_bytes`], computed on the calling thread only
    /// (for callers that keep the other cores busy themselves, e.g. writing meanwhile).
    pub fn of_bytes_one_thread(data: &[u8]) -> Self {
        Fingerprint(*blake3::hash(data).as_bytes())
    }

    /// The fingerprint of an array: element type, shape and bytes.
    ///
    /// Two arrays with the same bytes but another shape or type get different
    /// fingerprints. The bytes are hashed in place (no copy).
    pub fn of_array(elem: ElementType, shape: &[u64], data: &[u8]) -> Self {
        let prefix = layout_prefix(elem, shape, 0);
        #[cfg(feature = "parallel")]
        if parallel_pays(data) {
            return Fingerprint(crate::tree_hash::derive_key_of(ARRAY_CONTEXT, &prefix, data));
        }
        let mut hasher = blake3::Hasher::new_derive_key(ARRAY_CONTEXT);
        hasher.update(&prefix);
        hasher.update(data);
        Fingerprint(*hasher.finalize().as_bytes())
    }

    /// [`Fingerprint::of_array`] of data that arrives in pieces (a file read a piece at a
    /// time, so that a large input is never held whole): feed every byte of the
    /// `shape`-shaped array to the hasher, in order, then [`ArrayHasher::finish`].
    pub fn array_hasher(elem: ElementType, shape: &[u64]) -> ArrayHasher {
        let mut hasher = blake3::Hasher::new_derive_key(ARRAY_CONTEXT);
        hasher.update(&layout_prefix(elem, shape, 0));
        ArrayHasher(hasher)
    }

    /// The content identity of a value (see [`crate::Value::content`]) whose data has the
    /// XXH3-128 checksum `data_check`: blake3 in `derive_key` mode with the context
    /// `"stepcache 2026-11 content v1"` over
    ///
    /// ```text
    /// u8 element type code | u64 LE rank | u64 LE dimension* | u128 LE data_check
    /// | u64 LE metadata length | metadata
    /// ```
    ///
    /// The data enters as its checksum only, so a large map is never hashed a second time
    /// where its checksum is known (a stored entry's header carries it).
    pub(crate) fn of_content(elem: ElementType, shape: &[u64], data_check: u128, meta: &[u8]) -> Self {
        let mut head = layout_prefix(elem, shape, 24);
        head.extend_from_slice(&data_check.to_le_bytes());
        head.extend_from_slice(&(meta.len() as u64).to_le_bytes());
        let mut hasher = blake3::Hasher::new_derive_key(CONTENT_CONTEXT);
        hasher.update(&head);
        hasher.update(meta);
        Fingerprint(*hasher.finalize().as_bytes())
    }
}

/// An array's fingerprint computed piece by piece ([`Fingerprint::array_hasher`]).
pub struct ArrayHasher(blake3::Hasher);

impl ArrayHasher {
    /// Hashes the next piece of the array's bytes (on every core when it is large).
    pub fn update(&mut self, piece: &[u8]) {
        update(&mut self.0, piece);
    }

    /// The array's fingerprint: [`Fingerprint::of_array`] of all the pieces in order.
    pub fn finish(&self) -> Fingerprint {
        Fingerprint(*self.0.finalize().as_bytes())
    }
}

/// Element type, rank and dimensions (at most 265 bytes), with room for `extra` more: what
/// array digests and content identities hash before the data.
fn layout_prefix(elem: ElementType, shape: &[u64], extra: usize) -> Vec<u8> {
    let mut prefix = Vec::with_capacity(9 + 8 * shape.len() + extra);
    prefix.push(elem.code());
    prefix.extend_from_slice(&(shape.len() as u64).to_le_bytes());
    for dim in shape {
        prefix.extend_from_slice(&dim.to_le_bytes());
    }
    prefix
}

/// Whether hashing `data` on every core pays off: it is large, and the pool has more
/// than one thread (with one, `update_rayon` still walks its tree of halves, which
/// measured 10% slower than `update` on a 40 MiB map: tests/perf section 1, 1 thread).
#[cfg(feature = "parallel")]
fn parallel_pays(data: &[u8]) -> bool {
    data.len() >= PARALLEL_MIN_BYTES && rayon_core::current_num_threads() > 1
}

/// Feeds `data` to `hasher`, on every core when that pays off.
pub(crate) fn update(hasher: &mut blake3::Hasher, data: &[u8]) {
    #[cfg(feature = "parallel")]
    if parallel_pays(data) {
        hasher.update_rayon(data);
        return;
    }
    hasher.update(data);
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `write_str`, not `write!`: see `crate::text`.
        f.write_str(&crate::text!(self))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Fingerprint {
    type Err = Error;

    /// Parses `b3:` followed by exactly 64 lowercase hex digits.
    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = || {
            Error::new(
                ErrorKind::InvalidFingerprint,
                "a fingerprint is written `b3:` followed by 64 lowercase hex digits",
            )
        };
        let hex = text.strip_prefix("b3:").ok_or_else(bad)?.as_bytes();
        if hex.len() != 64 {
            return Err(bad());
        }
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            *byte = digit(pair[0])
                .zip(digit(pair[1]))
                .map(|(h, l)| h << 4 | l)
                .ok_or_else(bad)?;
        }
        Ok(Fingerprint(out))
    }
}
