//! `stepcache export`: stored entries into one bundle file, or to stdout.

use std::io::{BufWriter, IsTerminal};
use std::path::Path;

use serde::Serialize;
use stepcache::{ExportFilter, ExportReport};

use crate::args::ExportArgs;
use crate::progress;
use crate::report::{self, Failure, Outcome};
use crate::units::bytes_text;
use crate::{Ctx, Mode};

/// How much output is gathered before it is written.
const BUFFER: usize = 1 << 20;

/// `export --json`.
#[derive(Serialize)]
struct Exported {
    /// The cache directory.
    dir: String,
    /// The bundle written, `-` for stdout.
    out: String,
    /// Entries written.
    entries: u64,
    /// The bundle's length in bytes.
    bytes: u64,
    /// Damaged entries left out (kept in the cache, which export opens read-only).
    damaged: u64,
}

/// Whether `path` means stdin or stdout.
pub(crate) fn is_dash(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Runs `export`: exit code 1 if damaged entries were left out.
pub(crate) fn run(ctx: &Ctx, args: &ExportArgs) -> Result<Outcome, Failure> {
    let to_stdout = is_dash(&args.out);
    if to_stdout && std::io::stdout().is_terminal() {
        return Err(Failure::Usage(
            "not writing a bundle to a terminal: give a file, or redirect stdout".to_owned(),
        ));
    }
    if let Some(step) = &args.step {
        stepcache::Step::new(step).map_err(|e| Failure::Usage(e.message().to_owned()))?;
    }
    let cache = ctx.open(Mode::Read)?;
    let filter = ExportFilter {
        step: args.step.clone(),
        since_ms: args.since.map(|age| report::now_ms().saturating_sub(age)),
    };
    let bar = progress::bytes(Some(0), ctx.quiet, "exporting");
    let mut progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let exported = if to_stdout {
        let mut out = BufWriter::with_capacity(BUFFER, std::io::stdout().lock());
        cache
            .export_bundle(&mut out, &filter, &mut progress)
            .map_err(Failure::from)
    } else {
        cache
            .export_bundle_file(&args.out, &filter, &mut progress)
            .map_err(|e| match e.kind() {
                // The file cannot be created there: the argument's fault.
                stepcache::ErrorKind::InvalidArgument => Failure::Usage(e.message().to_owned()),
                _ => Failure::Cache(e),
            })
    };
    bar.finish_and_clear();
    let ExportReport {
        entries,
        bytes,
        damaged,
    } = exported?;
    let exported = Exported {
        dir: ctx.dir.display().to_string(),
        out: args.out.display().to_string(),
        entries,
        bytes,
        damaged,
    };
    let text = if ctx.json {
        report::json(&exported)?
    } else {
        let mut text = format!(
            "exported {} ({}) to {}",
            report::entries_text(entries as usize),
            bytes_text(bytes),
            if to_stdout { "stdout" } else { &exported.out }
        );
        if damaged > 0 {
            text.push_str(&format!(
                "; left out {} damaged (run `stepcache verify` to remove them)",
                report::entries_text(damaged as usize)
            ));
        }
        text.push('\n');
        text
    };
    let code = u8::from(damaged > 0);
    if to_stdout {
        // Stdout holds the bundle: the report goes to stderr.
        eprint!("{text}");
        return Ok(Outcome {
            stdout: String::new(),
            code,
        });
    }
    Ok(Outcome { stdout: text, code })
}
