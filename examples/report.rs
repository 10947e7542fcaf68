//! How the examples print what the cache did.

use std::time::Duration;

use stepcache::Source;

/// A duration in milliseconds, to the microsecond.
pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// Where a hit came from, in words.
pub fn describe(source: Source) -> &'static str {
    match source {
        Source::Computed => "computed",
        Source::Waited => "computed by another caller",
        Source::Memory => "memory hit",
        Source::Store => "store hit",
        Source::Shared => "shared tier hit",
    }
}
