//! The conformance suite against the filesystem store, on the real filesystem.
stepcache_tests::conformance_tests!(stepcache_tests::FsBackend::default());
