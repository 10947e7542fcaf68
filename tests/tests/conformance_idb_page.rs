//! The conformance suite against the IndexedDB store, in a page of headless Chromium.
#![cfg(target_family = "wasm")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
stepcache_tests::conformance_tests!(stepcache_tests::WebBackend::idb());

/// The suite really runs in a page: there is a `window`.
#[cfg(target_family = "wasm")]
#[wasm_bindgen_test::wasm_bindgen_test]
fn runs_where_it_says() {
    let has_window = js_sys::Reflect::has(&js_sys::global(), &"window".into()).unwrap_or(false);
    assert!(has_window);
}
