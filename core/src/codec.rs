//! Optional payload compression: byte shuffle, then LZ4 (pure Rust, runs in wasm).
//!
//! Float maps barely compress as they are, because their noisy low mantissa bytes sit
//! between the sign/exponent bytes that repeat. Grouping byte 0 of every element, then
//! byte 1, and so on (the HDF5/Blosc "shuffle" filter) puts the repetitive bytes next to
//! each other, which LZ4 then compresses quickly. The bench `compression` measures it on
//! float maps; the engine keeps the compressed form only if it saves at least 1/8.

use alloc::vec::Vec;

/// Groups the bytes of `data` by their position within `elem_size`-byte elements.
pub(crate) fn shuffle(data: &[u8], elem_size: usize) -> Vec<u8> {
    if elem_size <= 1 {
        return data.to_vec();
    }
    let count = data.len() / elem_size;
    let mut out = Vec::with_capacity(data.len());
    for byte in 0..elem_size {
        out.extend(data.chunks_exact(elem_size).map(|e| e[byte]));
    }
    out.extend_from_slice(&data[count * elem_size..]);
    out
}

/// Reverses [`shuffle`].
pub(crate) fn unshuffle(data: &[u8], elem_size: usize) -> Vec<u8> {
    if elem_size <= 1 {
        return data.to_vec();
    }
    let count = data.len() / elem_size;
    if count == 0 {
        return data.to_vec();
    }
    let mut out = alloc::vec![0u8; data.len()];
    for (byte, plane) in data.chunks_exact(count).take(elem_size).enumerate() {
        for (slot, &b) in out.chunks_exact_mut(elem_size).zip(plane) {
            slot[byte] = b;
        }
    }
    out[count * elem_size..].copy_from_slice(&data[count * elem_size..]);
    out
}

/// Shuffles and compresses `data`; `None` if LZ4 could not (it always can, into a buffer
/// of its maximum output size).
pub(crate) fn compress(data: &[u8], elem_size: usize) -> Option<Vec<u8>> {
    use lz4_flex::block::{CompressTable, compress_into_with_table, get_maximum_output_size};
    let shuffled = shuffle(data, elem_size);
    // Zeroed lazily: a large buffer is fresh zero pages, touched only as far as written.
    let mut out = alloc::vec![0u8; get_maximum_output_size(shuffled.len())];
    // The 32-bit table for every size, where lz4_flex's `compress` takes a 16-bit one under
    // 64 KiB: the same output, and one compressor in the npm package's module, not two.
    let len = compress_into_with_table(&shuffled, &mut out, &mut CompressTable::large()).ok()?;
    out.truncate(len);
    Some(out)
}

/// Decompresses and unshuffles a payload back to `raw_len` bytes; `None` if it is damaged.
pub(crate) fn decompress(payload: &[u8], elem_size: usize, raw_len: usize) -> Option<Vec<u8>> {
    let shuffled = lz4_flex::block::decompress(payload, raw_len).ok()?;
    (shuffled.len() == raw_len).then(|| unshuffle(&shuffled, elem_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_round_trips_with_a_remainder() {
        let data: Vec<u8> = (0..103u8).collect();
        for size in [1, 2, 4, 8] {
            assert_eq!(unshuffle(&shuffle(&data, size), size), data);
            let packed = compress(&data, size).expect("LZ4 compresses");
            assert_eq!(decompress(&packed, size, data.len()).unwrap(), data);
        }
    }

    proptest::proptest! {
        /// Any bytes decompress to `None` or to exactly the length asked for, never a panic.
        #[test]
        fn any_bytes_decompress_safely(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
            raw_len in 0usize..20_000,
            elem_size in 1usize..9,
        ) {
            if let Some(out) = decompress(&bytes, elem_size, raw_len) {
                proptest::prop_assert_eq!(out.len(), raw_len);
            }
        }

        /// A compressed payload with bytes changed decompresses safely too.
        #[test]
        fn damaged_payloads_decompress_safely(
            data in proptest::collection::vec(0u8..4, 0..20_000),
            flips in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 1..8),
        ) {
            let mut packed = compress(&data, 4).expect("LZ4 compresses");
            for (at, byte) in flips {
                if !packed.is_empty() {
                    let at = at % packed.len();
                    packed[at] ^= byte | 1;
                }
            }
            if let Some(out) = decompress(&packed, 4, data.len()) {
                proptest::prop_assert_eq!(out.len(), data.len());
            }
        }
    }

    #[test]
    fn damaged_payload_is_none() {
        let data = alloc::vec![7u8; 4096];
        let mut packed = compress(&data, 4).expect("LZ4 compresses");
        packed.truncate(packed.len() / 2);
        assert!(decompress(&packed, 4, data.len()).is_none());
    }
}
