//! `stepcache import`: the entries of a bundle file, or of stdin, into the cache.

use std::fs::File;

use serde::Serialize;
use stepcache::{Cache, ErrorKind, ImportReport};

use crate::Ctx;
use crate::args::ImportArgs;
use crate::cmd::export::is_dash;
use crate::progress;
use crate::report::{self, Failure, Outcome};
use crate::units::bytes_text;

/// `import --json`.
#[derive(Serialize)]
struct Imported {
    /// The cache directory.
    dir: String,
    /// The bundle read, `-` for stdin.
    file: String,
    /// Entries stored.
    imported: u64,
    /// Entries held already, skipped and refused, and the bytes of the entries read.
    #[serde(flatten)]
    carried: report::Carried,
}

/// Runs `import`: exit code 1 if entries were refused or the bundle is damaged.
pub(crate) fn run(ctx: &Ctx, args: &ImportArgs) -> Result<Outcome, Failure> {
    let cannot_read = |why: String| Failure::Usage(format!("cannot read {}: {why}", args.file.display()));
    let (input, len): (Box<dyn std::io::Read>, Option<u64>) = if is_dash(&args.file) {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let file = File::open(&args.file).map_err(|e| cannot_read(e.to_string()))?;
        let meta = file.metadata().map_err(|e| cannot_read(e.to_string()))?;
        if meta.is_dir() {
            return Err(cannot_read("a directory, not a bundle file".to_owned()));
        }
        // A regular file's length lets the reader check each record's against it.
        let len = meta.is_file().then_some(meta.len());
        (Box::new(file), len)
    };
    // The one command that creates a cache directory: a new machine's cache starts here.
    let cache: Cache = ctx.builder().open()?;
    let bar = progress::bytes(len, ctx.quiet, "importing");
    let imported = cache.import_bundle(input, len, |done, _| bar.set_position(done));
    bar.finish_and_clear();
    let report = imported.map_err(|e| match e.kind() {
        ErrorKind::InvalidBundle => Failure::Damaged(e),
        _ => Failure::Cache(e),
    })?;
    let ImportReport {
        imported,
        present,
        skipped,
        refused,
        bytes,
    } = report;
    let doc = Imported {
        dir: ctx.dir.display().to_string(),
        file: args.file.display().to_string(),
        imported,
        carried: report::Carried::new(present, skipped, refused, bytes),
    };
    let refused = doc.carried.refused.len();
    let summary = format!(
        "read {} ({}): {imported} imported, {present} already held, {skipped} skipped by policy, {refused} refused\n",
        report::entries_text((imported + present + skipped) as usize + refused),
        bytes_text(bytes),
    );
    doc.carried.outcome(ctx.json, &doc, summary)
}
