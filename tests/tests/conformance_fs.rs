//! The conformance suite against the filesystem store, on the real filesystem.
#![cfg(not(target_family = "wasm"))]
stepcache_tests::conformance_tests!(stepcache_tests::FsBackend::default());
