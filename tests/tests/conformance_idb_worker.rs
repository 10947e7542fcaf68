//! The conformance suite against the IndexedDB store, in a dedicated Web Worker of
//! headless Chromium (where there is no `window`).
#![cfg(target_family = "wasm")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_dedicated_worker);
stepcache_tests::conformance_tests!(stepcache_tests::WebBackend::idb());

/// The suite really runs in a dedicated worker: there is no `window`.
#[cfg(target_family = "wasm")]
#[wasm_bindgen_test::wasm_bindgen_test]
fn runs_where_it_says() {
    let has_window = js_sys::Reflect::has(&js_sys::global(), &"window".into()).unwrap_or(false);
    assert!(!has_window);
}
