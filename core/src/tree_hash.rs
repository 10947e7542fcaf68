//! A short prefix and a large array hashed as one blake3 input on every core, split from
//! the root of the input's own tree (blake3's `hazmat` API).
//!
//! Why not `update(prefix)` then `update_rayon(array)`: after the prefix's partial chunk,
//! the streaming hasher may only take subtrees aligned to its chunk counter, so it hashes
//! the array as a run of subtrees of 1, 2, 4, ... 16,384 chunks, each a fork-join of its
//! own whose threads meet at its end before the next starts. On a 40 MiB map on two
//! cores that scaled 1.3-1.7x over one thread, where the same bytes without a prefix
//! scaled 1.8-1.9x (tests/perf section 1). Here every node of the tree that holds the
//! prefix splits into its left half (which holds the prefix: recursively) and its right
//! half (array bytes only, hashed with `update_rayon` from their offset), side by side in
//! one fork-join. The result is the standard hash: tests compare it with one `update`.

use blake3::hazmat::{
    ChainingValue, ContextKey, HasherExt, Mode, hash_derive_key_context, left_subtree_len, merge_subtrees_non_root,
    merge_subtrees_root,
};
use blake3::{CHUNK_LEN, Hasher};

/// Left subtrees at most this long are hashed on the calling thread: below it, handing
/// work to the pool costs more than it saves.
const SEQUENTIAL_LEN: u64 = 64 * CHUNK_LEN as u64;

/// blake3 `derive_key(context)` of `prefix` followed by `data`, on every core of rayon's
/// pool. `prefix` must be shorter than a chunk (1 KiB), or it is hashed as one stream.
pub(crate) fn derive_key_of(context: &str, prefix: &[u8], data: &[u8]) -> [u8; 32] {
    let total = (prefix.len() + data.len()) as u64;
    if prefix.len() >= CHUNK_LEN || total <= SEQUENTIAL_LEN {
        let mut hasher = Hasher::new_derive_key(context);
        hasher.update(prefix);
        hasher.update_rayon(data);
        return *hasher.finalize().as_bytes();
    }
    let key = hash_derive_key_context(context);
    let input = Input {
        key: &key,
        prefix,
        data,
    };
    let left = left_subtree_len(total);
    let (l, r) = rayon_core::join(|| input.spine(left), || input.array_subtree(left, total));
    *merge_subtrees_root(&l, &r, Mode::DeriveKeyMaterial(&key)).as_bytes()
}

/// The input `prefix ++ data`, hashed in derive-key mode with `key`.
struct Input<'a> {
    key: &'a ContextKey,
    prefix: &'a [u8],
    data: &'a [u8],
}

impl Input<'_> {
    /// The chaining value of the first `len` input bytes (a left subtree: a power of two
    /// chunks, holding the prefix).
    fn spine(&self, len: u64) -> ChainingValue {
        if len <= SEQUENTIAL_LEN {
            let mut hasher = Hasher::new_from_context_key(self.key);
            hasher.update(self.prefix);
            hasher.update(&self.data[..self.data_at(len)]);
            return hasher.finalize_non_root();
        }
        let half = len / 2;
        let (l, r) = rayon_core::join(|| self.spine(half), || self.array_subtree(half, len));
        merge_subtrees_non_root(&l, &r, Mode::DeriveKeyMaterial(self.key))
    }

    /// The chaining value of the subtree of input bytes `start..end`, all of them array
    /// bytes (`start` is past the prefix, on a boundary that begins a subtree that long).
    fn array_subtree(&self, start: u64, end: u64) -> ChainingValue {
        let mut hasher = Hasher::new_from_context_key(self.key);
        hasher.set_input_offset(start);
        hasher.update_rayon(&self.data[self.data_at(start)..self.data_at(end)]);
        hasher.finalize_non_root()
    }

    /// Where input offset `at` (past the prefix) falls in `data`.
    fn data_at(&self, at: u64) -> usize {
        at as usize - self.prefix.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tree split gives blake3's own digest at every size around the boundaries it
    /// splits at, for prefixes of several lengths.
    #[test]
    fn matches_one_stream() {
        let data: alloc::vec::Vec<u8> = (0..(3u32 << 20) + 4099)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let chunk = CHUNK_LEN;
        let sizes = [
            0,
            1,
            chunk - 17,
            64 * chunk - 17,
            64 * chunk - 16,
            64 * chunk,
            64 * chunk + 1,
            (1 << 20) - 17,
            (1 << 20) - 16,
            1 << 20,
            (1 << 21) + 5,
            data.len(),
        ];
        for prefix_len in [0usize, 1, 17, 265, 1023, 1024] {
            let prefix: alloc::vec::Vec<u8> = (0..prefix_len).map(|i| i as u8 ^ 0x5a).collect();
            for &n in &sizes {
                let mut one = Hasher::new_derive_key("stepcache test");
                one.update(&prefix);
                one.update(&data[..n]);
                assert_eq!(
                    derive_key_of("stepcache test", &prefix, &data[..n]),
                    *one.finalize().as_bytes(),
                    "prefix {prefix_len}, {n} bytes"
                );
            }
        }
    }
}
