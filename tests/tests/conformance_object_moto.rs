//! The conformance suite against the shared tier's store on a second S3 engine: moto's
//! server, started by the tests (see `stepcache_tests::moto`).
#![cfg(not(target_family = "wasm"))]
stepcache_tests::conformance_tests!(stepcache_tests::ObjectBackend::moto());
