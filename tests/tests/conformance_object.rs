//! The conformance suite against the shared tier's store, on a real SeaweedFS server the
//! tests start (see `stepcache_tests::seaweed`).
#![cfg(not(target_family = "wasm"))]
stepcache_tests::conformance_tests!(stepcache_tests::ObjectBackend::default());
