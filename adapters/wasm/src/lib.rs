//! The WebAssembly half of the npm package `stepcache`.
//!
//! The public JavaScript API (`js/index.js`, typed in `js/index.d.ts`) is written in
//! JavaScript: it checks and converts arguments, options and results, keeps the
//! BroadcastChannel that tells other tabs about changes, and asks `navigator.storage`
//! for its report. This crate exports only a narrow interface of numbers, strings, byte
//! arrays and a compact byte description of each key, over the one core engine
//! (`stepcache_core::Cache` over `stepcache_idb::WebStore`).
//!
//! Why the split: converting JavaScript objects in Rust took a third of the `.wasm`
//! (every `Reflect.get`, type test, message and export shim is code in the module), while
//! the same checks in JavaScript are a few lines each. Nothing the cache decides moves:
//! keys are still hashed and validated, values checked against their shape, and entries
//! stored and verified by the core.

// The bindings exist only on wasm; natively the crate holds the protocol, so that its
// test can check `js/protocol.js`.
#[cfg(target_family = "wasm")]
mod bindings;
#[cfg(target_family = "wasm")]
mod convert;
#[cfg(target_family = "wasm")]
mod errors;
mod protocol;

#[cfg(target_family = "wasm")]
pub use bindings::{RawCache, opfs_available, util};
