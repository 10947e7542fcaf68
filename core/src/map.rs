//! The hash maps stepcache keeps, with a hasher made for their keys.
//!
//! Every map is keyed by a [`Fingerprint`](crate::Fingerprint) (a blake3 digest: its
//! bytes are already uniformly random, and nobody can choose them without breaking
//! blake3), by a step name the application configures, or by a small counter. None needs
//! a seeded, flooding-resistant hasher, so the maps use a multiply-rotate hasher (the
//! scheme of rustc's FxHash) instead of hashbrown's default, foldhash: its seeding and
//! long-input code were 4.7 KB of the npm package's .wasm (1.9 KB gzipped), and it does
//! more work per 32-byte key than these keys need.

use core::hash::{BuildHasher, Hasher};

/// A hash map with [`BuildKeyHasher`].
pub(crate) type HashMap<K, V> = hashbrown::HashMap<K, V, BuildKeyHasher>;

/// A hash set with [`BuildKeyHasher`].
pub(crate) type HashSet<K> = hashbrown::HashSet<K, BuildKeyHasher>;

/// Builds [`KeyHasher`]s; unseeded, so every map hashes alike.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BuildKeyHasher;

impl BuildHasher for BuildKeyHasher {
    type Hasher = KeyHasher;

    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

/// Folds each word into the state with a rotate, an xor and a multiply by an odd constant.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyHasher(u64);

/// The multiplier of rustc-hash (odd, with bits spread over the whole word).
const MULTIPLIER: u64 = 0xf135_7aea_2e62_a9c5;

impl KeyHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(MULTIPLIER);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            self.add(u64::from_le_bytes(w));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    /// The multiply leaves its best-mixed bits at the top; hashbrown picks buckets with
    /// the low bits, so the top ones are rotated down.
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Fingerprint;

    #[test]
    fn equal_keys_hash_equal_and_distinct_keys_spread() {
        let hash = |f: &Fingerprint| BuildKeyHasher.hash_one(f);
        let a = Fingerprint::of_bytes(b"a");
        assert_eq!(hash(&a), hash(&Fingerprint::of_bytes(b"a")));
        // 4096 fingerprints over 256 buckets by the low bits: no bucket far above the mean.
        let mut buckets = [0u32; 256];
        for i in 0u32..4096 {
            let f = Fingerprint::of_bytes(&i.to_le_bytes());
            buckets[(hash(&f) & 255) as usize] += 1;
        }
        assert!(buckets.iter().all(|&n| n < 40), "{buckets:?}");
        // Step names differing in one late byte land apart.
        let names = ["t1_map_a", "t1_map_b", "t1_map_c", "t1_map_"];
        let mut seen: alloc::vec::Vec<u64> = names.iter().map(|n| BuildKeyHasher.hash_one(n)).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), names.len());
    }

    #[test]
    fn the_maps_work_with_many_keys() {
        let mut map: HashMap<Fingerprint, u32> = HashMap::default();
        for i in 0u32..10_000 {
            map.insert(Fingerprint::of_bytes(&i.to_le_bytes()), i);
        }
        for i in 0u32..10_000 {
            assert_eq!(map.get(&Fingerprint::of_bytes(&i.to_le_bytes())), Some(&i));
        }
    }
}
