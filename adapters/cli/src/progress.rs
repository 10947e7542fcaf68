//! Progress bars on stderr, for operations that can take more than a second. Hidden
//! with `--quiet` and when stderr is not a terminal, so output to files and pipes stays
//! clean.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `total` (a count with no end if `None`) drawn with `template` and labelled
/// `what`, or a hidden one (see the module docs): what every bar here shares.
fn bar(total: Option<u64>, template: &str, quiet: bool, what: &'static str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
    let fallback = match total {
        Some(_) => ProgressStyle::default_bar(),
        None => ProgressStyle::default_spinner(),
    };
    let style = ProgressStyle::with_template(template).map_or(fallback, |s| s.progress_chars("=> "));
    bar.set_style(style);
    bar.set_message(what);
    bar
}

/// Bytes done, labelled `what` ("verifying"): a bar if the `total` is known, else a count
/// with its rate (a bundle read from stdin).
pub(crate) fn bytes(total: Option<u64>, quiet: bool, what: &'static str) -> ProgressBar {
    let template = match total {
        Some(_) => "{msg} [{wide_bar}] {bytes}/{total_bytes}, {eta} left",
        None => "{spinner} {msg} {bytes} ({binary_bytes_per_sec})",
    };
    bar(total, template, quiet, what)
}

/// A spinner for one long call whose progress cannot be counted, labelled `what`. It
/// turns on its own, as nothing reports progress to it.
pub(crate) fn spinner(quiet: bool, what: &'static str) -> ProgressBar {
    let bar = bar(None, "{spinner} {msg} ({elapsed})", quiet, what);
    if !bar.is_hidden() {
        bar.enable_steady_tick(Duration::from_millis(100));
    }
    bar
}
