//! The conformance suite of stepcache: one set of cases every [`Store`] must pass.
//!
//! Each case is an `async fn` generic over a [`Backend`], so the same cases run against
//! the in-memory store and the filesystem store natively, and against IndexedDB in a
//! browser. [`conformance_tests!`] turns them into test functions.
//!
//! [`Store`]: stepcache_core::Store

// The cases are tests: a panic is how they report a failure.
#![allow(clippy::unwrap_used)]

pub mod backend;
pub mod conformance;
pub mod faults;
pub mod rng;

/// The number in environment variable `name` (how long or how often a test runs, raised
/// by hand for longer runs), or `default` when it is unset or not a number.
pub fn env_count<T: core::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
#[cfg(not(target_family = "wasm"))]
pub mod moto;
#[cfg(not(target_family = "wasm"))]
pub mod script;
#[cfg(not(target_family = "wasm"))]
pub mod seaweed;
#[cfg(not(target_family = "wasm"))]
pub mod server;
#[cfg(not(target_family = "wasm"))]
pub mod temp;

#[cfg(target_family = "wasm")]
pub use backend::WebBackend;
pub use backend::{Backend, MemoryBackend};
#[cfg(not(target_family = "wasm"))]
pub use backend::{FsBackend, ObjectBackend};
#[doc(hidden)]
pub use pollster::block_on;
#[cfg(target_family = "wasm")]
#[doc(hidden)]
pub use wasm_bindgen_test;

/// Expands into one test per conformance case, run against `$backend` (an expression
/// making a [`Backend`]): a `#[test]` natively, an async `#[wasm_bindgen_test]` on wasm
/// (configure page or worker in the calling file).
#[macro_export]
macro_rules! conformance_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@cases $backend;
            round_trip_every_element_type,
            empty_and_scalar_values,
            large_value_round_trip,
            overwrite_returns_latest,
            persists_across_reopen,
            lasting_counters_add_up_across_sessions,
            records_round_trip_as_one_entry,
            put_by_reference_replaces_the_memory_copy,
            missing_key_is_a_miss,
            has_and_invalidate,
            clear_all_and_by_type,
            get_or_compute_measures_and_stores,
            compute_error_is_typed_and_stores_nothing,
            transient_and_memory_policies,
            max_age_expires_entries,
            memory_budget_is_respected,
            store_budget_is_respected_at_rest,
            costly_entries_outlive_cheap_ones,
            memory_hits_count_when_the_store_evicts,
            pinned_entries_are_never_evicted,
            value_larger_than_budget_is_skipped,
            zero_budgets_store_nothing,
            forced_recompute_all_and_by_step,
            access_modes_switch_off_one_by_one,
            damaged_payload_is_a_miss_and_removed,
            damaged_large_entry_is_a_miss,
            regions_read_only_what_they_touch,
            truncated_entry_is_a_miss_and_removed,
            unknown_format_version_is_a_miss,
            entry_of_another_key_is_a_miss,
            stats_count_tiers_and_types,
            status_reports_each_state,
            compression_round_trips_and_saves,
            lineage_follows_the_upstream_value,
            bad_input_is_a_typed_error_and_loses_nothing,
            closed_cache_refuses_calls,
            other_handles_see_puts_and_clears,
            entries_list_both_tiers,
            faults_at_every_call_leave_a_working_cache
        );
    };
    (@cases $backend:expr; $($case:ident),* $(,)?) => {
        $(
            #[cfg(not(target_family = "wasm"))]
            #[test]
            fn $case() {
                let backend = $backend;
                $crate::block_on($crate::conformance::$case(&backend));
            }

            #[cfg(target_family = "wasm")]
            #[$crate::wasm_bindgen_test::wasm_bindgen_test]
            async fn $case() {
                let backend = $backend;
                $crate::conformance::$case(&backend).await;
            }
        )*
    };
}

/// The top-level README's Rust example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExample;

/// The Rust tasks page (`docs/rust.md`), every block compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../docs/rust.md")]
struct RustTasksPage;

/// The shared tier's page (`docs/shared.md`), its Rust blocks compiled as doctests (they
/// need a bucket to run; `tests/tests/shared_tier.rs` runs the same calls on one).
#[cfg(doctest)]
#[doc = include_str!("../../docs/shared.md")]
struct SharedTierPage;
