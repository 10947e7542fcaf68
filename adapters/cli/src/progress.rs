//! Progress bars on stderr, for operations that can take more than a second. Hidden
//! with `--quiet` and when stderr is not a terminal, so output to files and pipes stays
//! clean.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

fn shown(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

/// A bar over `total` bytes, labelled `what` ("verifying").
pub(crate) fn bytes(total: u64, quiet: bool, what: &'static str) -> ProgressBar {
    if !shown(quiet) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{msg} [{wide_bar}] {bytes}/{total_bytes}, {eta} left")
        .map_or_else(|_| ProgressStyle::default_bar(), |s| s.progress_chars("=> "));
    bar.set_style(style);
    bar.set_message(what);
    bar
}

/// A spinner for one long call whose progress cannot be counted, labelled `what`.
pub(crate) fn spinner(quiet: bool, what: &'static str) -> ProgressBar {
    if !shown(quiet) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.set_message(what);
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// A count of bytes whose total is unknown (a bundle read from stdin), labelled `what`.
pub(crate) fn bytes_unknown(quiet: bool, what: &'static str) -> ProgressBar {
    if !shown(quiet) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{spinner} {msg} {bytes} ({binary_bytes_per_sec})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.set_message(what);
    bar
}
