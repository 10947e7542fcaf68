//! `stepcache clear [STEP]`: removes every entry, or every entry of one step.

use serde::Serialize;

use crate::args::ClearArgs;
use crate::report::{self, Failure, Outcome};
use crate::{Ctx, Mode};

/// `clear --json`.
#[derive(Serialize)]
struct Cleared<'a> {
    /// The step cleared, or `null` for every entry.
    step: Option<&'a str>,
    /// Entries removed.
    removed: u64,
}

/// Runs `clear`: asks nothing, so scripts can run it.
pub(crate) fn run(ctx: &Ctx, args: &ClearArgs) -> Result<Outcome, Failure> {
    let step = args.step.as_deref();
    if let Some(step) = step {
        stepcache::Step::new(step).map_err(|e| Failure::Usage(e.message().to_owned()))?;
    }
    let cache = ctx.open(Mode::Write)?;
    let removed = cache.clear(step)?;
    if ctx.json {
        return report::json(&Cleared { step, removed }).map(Outcome::ok);
    }
    let what = step.map_or_else(String::new, |s| format!(" of {s}"));
    Ok(Outcome::ok(format!(
        "removed {}{what}\n",
        report::entries_text(removed as usize)
    )))
}
