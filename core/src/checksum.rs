//! XXH3-128, the checksum of entries (see `entry.rs` for why not blake3), from the crate
//! that computes it fastest where stepcache runs. Both compute the same standard function
//! (the golden tests pin its values against the reference C library):
//! - natively, `twox-hash`, which picks AVX2 or SSE2 at run time (43 GB/s here);
//! - in WebAssembly, `xxhash-rust`, which has a SIMD128 path where `twox-hash` has only
//!   scalar code, and the browser build enables SIMD128.

/// XXH3-128 (seed 0) of `bytes`, as a `u128`.
pub(crate) fn xxh3_128(bytes: &[u8]) -> u128 {
    #[cfg(not(target_family = "wasm"))]
    {
        twox_hash::XxHash3_128::oneshot(bytes)
    }
    // Through the streaming hasher: its digest holds the short-input code too, so the
    // crate's one-shot entry point would be a second copy of it in the npm package's
    // .wasm (1 KB gzipped). The inputs here are headers and small payloads.
    #[cfg(target_family = "wasm")]
    {
        let mut hasher = Xxh3::new();
        hasher.update(bytes);
        hasher.finish()
    }
}

/// XXH3-128 (seed 0) over bytes given in pieces.
pub(crate) struct Xxh3 {
    #[cfg(not(target_family = "wasm"))]
    inner: twox_hash::XxHash3_128,
    #[cfg(target_family = "wasm")]
    inner: xxhash_rust::xxh3::Xxh3,
}

impl Xxh3 {
    pub(crate) fn new() -> Self {
        #[cfg(not(target_family = "wasm"))]
        let inner = twox_hash::XxHash3_128::new();
        #[cfg(target_family = "wasm")]
        let inner = xxhash_rust::xxh3::Xxh3::new();
        Xxh3 { inner }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        #[cfg(not(target_family = "wasm"))]
        self.inner.write(bytes);
        #[cfg(target_family = "wasm")]
        self.inner.update(bytes);
    }

    pub(crate) fn finish(&self) -> u128 {
        #[cfg(not(target_family = "wasm"))]
        {
            self.inner.finish_128()
        }
        #[cfg(target_family = "wasm")]
        {
            self.inner.digest128()
        }
    }
}
