//! `stepcache push` and `stepcache pull`: entries between the cache directory and a
//! shared bucket, verified, each side's entries kept.

use std::time::Duration;

use serde::Serialize;
use stepcache::{Cache, ErrorKind, ExportFilter, ObjectConfig, Transfer};

use crate::args::TransferArgs;
use crate::progress;
use crate::report::{self, Failure, Outcome};
use crate::units::bytes_text;
use crate::{Ctx, Mode};

/// Which way entries go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Way {
    /// From the directory to the bucket.
    Push,
    /// From the bucket to the directory.
    Pull,
}

/// `push --json` and `pull --json`.
#[derive(Serialize)]
struct Transferred {
    /// The cache directory.
    dir: String,
    /// The bucket, and the prefix in it.
    bucket: String,
    /// Entries copied.
    copied: u64,
    /// Entries held on both sides already, skipped by a pull and refused, and the bytes
    /// copied.
    #[serde(flatten)]
    carried: report::Carried,
}

/// A non-empty environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The bucket `args` and the environment describe, and its name for output.
fn bucket(args: &TransferArgs) -> Result<(ObjectConfig, String), Failure> {
    let name = args
        .bucket
        .clone()
        .or_else(|| env("STEPCACHE_BUCKET"))
        .ok_or_else(|| Failure::Usage("no bucket given: give --bucket NAME or set STEPCACHE_BUCKET".to_owned()))?;
    let mut config = ObjectConfig::from_env().bucket(&name);
    if let Some(prefix) = &args.prefix {
        config = config.prefix(prefix);
    }
    if let Some(url) = &args.endpoint {
        config = config.endpoint(url);
    }
    if let Some(region) = &args.region {
        config = config.region(region);
    }
    if let Some(ms) = args.timeout {
        config = config.timeout(Duration::from_millis(ms));
    }
    let shown = format!("{name}/{}", config.prefix_text());
    Ok((config, shown))
}

/// Runs `push` or `pull`: exit code 1 if entries were refused.
pub(crate) fn run(ctx: &Ctx, args: &TransferArgs, way: Way) -> Result<Outcome, Failure> {
    if let Some(step) = &args.step {
        stepcache::Step::new(step).map_err(|e| Failure::Usage(e.message().to_owned()))?;
    }
    let (config, shown) = bucket(args)?;
    let mut builder = ctx.builder().shared(config);
    if let Some(secret) = env("STEPCACHE_TEAM_KEY") {
        builder = builder.team_key(secret);
    }
    let cache: Cache = match way {
        // Push only reads the directory.
        Way::Push => ctx.open_with(builder, Mode::Read)?,
        // Pull creates the directory if needed, as import does.
        Way::Pull => builder.open().map_err(|e| match e.kind() {
            ErrorKind::InvalidConfig => Failure::Usage(e.message().to_owned()),
            _ => Failure::Cache(e),
        })?,
    };
    let filter = ExportFilter {
        step: args.step.clone(),
        since_ms: args.since.map(|age| report::now_ms().saturating_sub(age)),
    };
    let spinner = progress::spinner(
        ctx.quiet,
        match way {
            Way::Push => "pushing",
            Way::Pull => "pulling",
        },
    );
    let done = match way {
        Way::Push => cache.push(&filter),
        Way::Pull => cache.pull(&filter),
    };
    spinner.finish_and_clear();
    let Transfer {
        copied,
        present,
        skipped,
        refused,
        bytes,
    } = done?;
    let doc = Transferred {
        dir: ctx.dir.display().to_string(),
        bucket: shown,
        copied,
        carried: report::Carried::new(present, skipped, refused, bytes),
    };
    let (verb, there) = match way {
        Way::Push => ("pushed", format!("to {}", doc.bucket)),
        Way::Pull => ("pulled", format!("from {}", doc.bucket)),
    };
    let mut summary = format!(
        "{verb} {} ({}) {there}; {present} held on both sides already",
        report::entries_text(copied as usize),
        bytes_text(bytes)
    );
    if skipped > 0 {
        summary.push_str(&format!(", {skipped} skipped by policy"));
    }
    if !doc.carried.refused.is_empty() {
        summary.push_str(&format!(", {} refused", doc.carried.refused.len()));
    }
    summary.push('\n');
    doc.carried.outcome(ctx.json, &doc, summary)
}
