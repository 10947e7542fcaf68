//! The conformance suite against the in-memory store.
stepcache_tests::conformance_tests!(stepcache_tests::MemoryBackend);
