//! `stepcache stats`: what the directory holds, in all and per step.
//!
//! What it shows: the store's side of `Stats` (entries, bytes, damaged entries met while
//! listing), a table per step built from the entries, and the hits, misses and time
//! saved of every session that used the directory (`Stats::all_time`; this command's
//! own handle looks nothing up).

use std::collections::BTreeMap;

use serde::Serialize;
use stepcache::EntryInfo;

use crate::report::{self, Align, Failure, Outcome};
use crate::units::{age_text, bytes_text, cost_text};
use crate::{Ctx, Mode};

/// One step's entries.
#[derive(Debug, Default, Serialize)]
struct StepStats {
    /// The step.
    step: String,
    /// Its entries.
    entries: u64,
    /// Their bytes on disk.
    bytes: u64,
    /// Their compute time, µs: what recomputing them all would cost.
    cost_us: u64,
    /// The oldest one's creation, ms since the epoch.
    oldest_ms: u64,
    /// The newest one's creation, ms since the epoch.
    newest_ms: u64,
    /// Lookups of the step that found a result, over every session that saved its counters.
    hits: u64,
    /// Lookups that found none, over every session.
    misses: u64,
    /// Compute time those hits saved, µs, over every session.
    saved_us: u64,
}

/// `stats --json`.
#[derive(Serialize)]
struct Summary {
    /// The cache directory.
    dir: String,
    /// Whether it was open read-only (it always is for `stats`).
    read_only: bool,
    /// Entries stored.
    entries: u64,
    /// Their bytes on disk, counted in whole 4 KiB blocks as budgets count them.
    bytes: u64,
    /// Their compute time, µs.
    cost_us: u64,
    /// Entries found damaged while listing (removed where the directory can be written).
    damaged: u64,
    /// Per step, by name.
    steps: Vec<StepStats>,
}

/// Per-step totals of `entries`, by step name.
fn per_step(entries: &[EntryInfo]) -> Vec<StepStats> {
    let mut steps: BTreeMap<&str, StepStats> = BTreeMap::new();
    for e in entries {
        let s = steps.entry(&e.step).or_insert_with(|| StepStats {
            step: e.step.clone(),
            oldest_ms: u64::MAX,
            ..StepStats::default()
        });
        s.entries += 1;
        s.bytes += e.bytes;
        s.cost_us += e.cost_us;
        s.oldest_ms = s.oldest_ms.min(e.created_ms);
        s.newest_ms = s.newest_ms.max(e.created_ms);
    }
    steps.into_values().collect()
}

/// Runs `stats`.
pub(crate) fn run(ctx: &Ctx) -> Result<Outcome, Failure> {
    let cache = ctx.open(Mode::Read)?;
    let now = report::now_ms();
    let entries: Vec<EntryInfo> = cache.entries()?.into_iter().filter(|e| e.stored).collect();
    // After the listing `entries` made, so both describe the same one.
    let stats = cache.stats()?;
    let mut steps = per_step(&entries);
    for t in &stats.all_time {
        let at = match steps.iter().position(|s| s.step == t.step) {
            Some(at) => at,
            None => {
                steps.push(StepStats {
                    step: t.step.clone(),
                    ..StepStats::default()
                });
                steps.len() - 1
            }
        };
        (steps[at].hits, steps[at].misses, steps[at].saved_us) = (t.hits, t.misses, t.saved_us);
    }
    steps.sort_by(|a, b| a.step.cmp(&b.step));
    let summary = Summary {
        dir: ctx.dir.display().to_string(),
        read_only: cache.engine().store().is_read_only(),
        entries: stats.store.entries,
        bytes: stats.store.bytes,
        cost_us: entries.iter().map(|e| e.cost_us).sum(),
        damaged: stats.corrupt_removed,
        steps,
    };
    if ctx.json {
        return report::json(&summary).map(Outcome::ok);
    }
    let mut out = format!(
        "{}: {}, {} on disk, {} of computing held\n",
        summary.dir,
        report::entries_text(summary.entries as usize),
        bytes_text(summary.bytes),
        cost_text(summary.cost_us),
    );
    if summary.damaged > 0 {
        out.push_str(&format!(
            "{} found damaged while listing (run `stepcache verify` to remove them)\n",
            report::entries_text(summary.damaged as usize)
        ));
    }
    if !summary.steps.is_empty() {
        let columns = [
            ("STEP", Align::Left),
            ("ENTRIES", Align::Right),
            ("SIZE", Align::Right),
            ("COST", Align::Right),
            ("OLDEST", Align::Right),
            ("NEWEST", Align::Right),
            ("HITS", Align::Right),
            ("MISSES", Align::Right),
            ("SAVED", Align::Right),
        ];
        let rows: Vec<Vec<String>> = summary
            .steps
            .iter()
            .map(|s| {
                vec![
                    s.step.clone(),
                    s.entries.to_string(),
                    bytes_text(s.bytes),
                    cost_text(s.cost_us),
                    // A step that has no entries left is here for its counters alone.
                    if s.entries == 0 {
                        "-".into()
                    } else {
                        age_text(now.saturating_sub(s.oldest_ms))
                    },
                    if s.entries == 0 {
                        "-".into()
                    } else {
                        age_text(now.saturating_sub(s.newest_ms))
                    },
                    s.hits.to_string(),
                    s.misses.to_string(),
                    cost_text(s.saved_us),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&report::table(&columns, &rows));
    }
    Ok(Outcome::ok(out))
}
