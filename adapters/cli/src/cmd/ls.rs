//! `stepcache ls`: entries, filtered, sorted and limited.

use std::cmp::Reverse;

use serde::Serialize;
use stepcache::EntryInfo;

use crate::args::{LsArgs, Sort, Tier};
use crate::report::{self, Align, EntryView, Failure, Outcome};
use crate::units::bytes_text;
use crate::{Ctx, Mode};

/// The most characters of arguments `ls --args` shows per entry.
const ARGS_WIDTH: usize = 60;

/// `ls --json`.
#[derive(Serialize)]
struct Listing {
    /// The cache directory.
    dir: String,
    /// The entries shown, in the order asked for.
    entries: Vec<EntryView>,
}

/// Whether `info` passes the filters of `args` at `now_ms`.
fn matches(info: &EntryInfo, args: &LsArgs, now_ms: u64) -> bool {
    let age = now_ms.saturating_sub(info.created_ms);
    args.step.as_ref().is_none_or(|s| *s == info.step)
        && args.older_than.is_none_or(|a| age > a)
        && args.newer_than.is_none_or(|a| age < a)
        && args.larger_than.is_none_or(|b| info.bytes > b)
        && args.tier.is_none_or(|t| match t {
            Tier::Memory => info.in_memory,
            Tier::Store => info.stored,
            Tier::Shared => info.shared,
        })
}

/// Sorts `entries` (listed newest first) as `sort` says, ties newest first.
fn sort(entries: &mut [EntryInfo], sort: Sort) {
    // Stable sorts over the listing's order keep ties newest first.
    match sort {
        Sort::Age => {}
        Sort::Size => entries.sort_by_key(|e| Reverse(e.bytes)),
        Sort::Step => entries.sort_by(|a, b| a.step.cmp(&b.step)),
        Sort::Hits => entries.sort_by_key(|e| Reverse(e.hits)),
        Sort::Cost => entries.sort_by_key(|e| Reverse(e.cost_us)),
    }
}

/// Runs `ls`.
pub(crate) fn run(ctx: &Ctx, args: &LsArgs) -> Result<Outcome, Failure> {
    let cache = ctx.open(Mode::Read)?;
    let now = report::now_ms();
    let mut entries: Vec<EntryInfo> = cache.entries()?.into_iter().filter(|e| matches(e, args, now)).collect();
    sort(&mut entries, args.sort);
    if args.reverse {
        entries.reverse();
    }
    entries.truncate(args.limit.unwrap_or(usize::MAX));
    if ctx.json {
        return report::json(&Listing {
            dir: ctx.dir.display().to_string(),
            entries: entries.iter().map(|e| EntryView::of(e, now)).collect(),
        })
        .map(Outcome::ok);
    }
    if entries.is_empty() {
        return Ok(Outcome::ok("0 entries\n".to_owned()));
    }
    let mut columns = report::ENTRY_COLUMNS.to_vec();
    if args.args {
        columns.push(("ARGS", Align::Left));
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let mut row = report::entry_row(e, now);
            if args.args {
                row.push(report::args_short(&e.provenance.decode(), ARGS_WIDTH));
            }
            row
        })
        .collect();
    let mut out = report::table(&columns, &rows);
    let bytes: u64 = entries.iter().map(|e| e.bytes).sum();
    out.push_str(&format!(
        "{}, {}\n",
        report::entries_text(entries.len()),
        bytes_text(bytes)
    ));
    Ok(Outcome::ok(out))
}
