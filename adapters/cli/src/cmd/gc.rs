//! `stepcache gc`: removes entries beyond a byte budget or a maximum age.

use serde::Serialize;

use crate::args::GcArgs;
use crate::engine::{self, Limits};
use crate::progress;
use crate::report::{self, EntryView, Failure, Outcome};
use crate::units::bytes_text;
use crate::{Ctx, Mode};

/// `gc --json`.
#[derive(Serialize)]
struct Collected {
    /// The cache directory.
    dir: String,
    /// Whether nothing was removed (`--dry-run`): `entries` would be.
    dry_run: bool,
    /// How many entries were (or would be) removed.
    count: u64,
    /// Their bytes on disk.
    bytes: u64,
    /// The entries, expired ones first, then those beyond the budget.
    entries: Vec<EntryView>,
}

/// Runs `gc`.
pub(crate) fn run(ctx: &Ctx, args: &GcArgs) -> Result<Outcome, Failure> {
    let limits = Limits {
        budget: args.budget,
        max_age_ms: args.max_age,
        step_max_age: args.step_max_age.clone(),
    };
    let mode = if args.dry_run { Mode::Read } else { Mode::Write };
    let cache = ctx.open_with(engine::configure(ctx.builder(), &limits), mode)?;
    let now = report::now_ms();
    let spinner = progress::spinner(ctx.quiet, if args.dry_run { "planning" } else { "collecting" });
    let removed = engine::collect(&cache, args.dry_run);
    spinner.finish_and_clear();
    let removed = removed?;
    let collected = Collected {
        dir: ctx.dir.display().to_string(),
        dry_run: args.dry_run,
        count: removed.len() as u64,
        bytes: removed.iter().map(|e| e.bytes).sum(),
        entries: removed.iter().map(|e| EntryView::of(e, now)).collect(),
    };
    if ctx.json {
        return report::json(&collected).map(Outcome::ok);
    }
    let mut out = String::new();
    if !removed.is_empty() {
        let rows: Vec<Vec<String>> = removed.iter().map(|e| report::entry_row(e, now)).collect();
        out.push_str(&report::table(&report::ENTRY_COLUMNS, &rows));
    }
    out.push_str(&format!(
        "{} {}, {}\n",
        if args.dry_run { "would remove" } else { "removed" },
        report::entries_text(removed.len()),
        bytes_text(collected.bytes)
    ));
    Ok(Outcome::ok(out))
}
