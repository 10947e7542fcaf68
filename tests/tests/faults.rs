//! The fault sweep of the conformance suite on the in-memory store, with its figures
//! printed: a failure, a short read or a half-done write at every storage call.

use stepcache_tests::MemoryBackend;

#[test]
fn every_storage_call_can_fail_without_harm() {
    let (injected, calls, errors) = pollster::block_on(stepcache_tests::conformance::fault_sweep(&MemoryBackend));
    println!(
        "faults: {injected} injected at each of {calls} storage calls (3 kinds, 2 configurations), \
         {errors} typed errors returned, state consistent after each"
    );
}
