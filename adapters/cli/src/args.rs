//! The command line: global flags, commands and their flags (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::units::{parse_age, parse_size};

/// What `--help` ends with: the exit codes scripts can rely on.
const EXIT_CODES: &str = "\
Exit codes:
  0  done (an `ls` or `clear` that matched nothing is done too)
  1  damage found: damaged entries (verify; export leaves them out), entries
     refused (import, push, pull), a damaged bundle (import); or no entry
     matches the key (show)
  2  bad usage: an unknown flag, a bad value, an ambiguous key prefix, a
     bundle file that cannot be opened or created, no bucket (push, pull)
  3  the cache could not be opened or read or written: the message says why,
     after the kind of error (PermissionDenied, StorageError, ...)";

/// See, check and manage a stepcache directory.
///
/// Reading commands (ls, show, stats, verify --no-remove, gc --dry-run, export) open
/// the cache read-only and change nothing in it, so they also work on a directory that
/// cannot be written. Only import creates a cache directory.
#[derive(Debug, Parser)]
#[command(name = "stepcache", version, after_help = EXIT_CODES)]
pub(crate) struct Cli {
    /// The cache directory [default: $STEPCACHE_DIR, else the user's cache directory
    /// plus `stepcache`, e.g. ~/.cache/stepcache]
    #[arg(long, global = true, value_name = "PATH", help_heading = "Global options")]
    pub(crate) dir: Option<PathBuf>,
    /// Print one JSON document to stdout instead of text
    #[arg(long, global = true, help_heading = "Global options")]
    pub(crate) json: bool,
    /// Hide progress bars (they are hidden anyway when stderr is not a terminal)
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub(crate) quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List entries: key, size on disk, age, compute cost, tiers (newest first)
    Ls(LsArgs),
    /// Show everything known of one entry
    Show(ShowArgs),
    /// Entries, bytes and compute time held, in all and per step
    Stats,
    /// Remove every entry, or every entry of one step; print how many
    Clear(ClearArgs),
    /// Read and check every stored entry in full, on all cores; remove damaged ones
    Verify(VerifyArgs),
    /// Remove entries beyond a byte budget or a maximum age (by the cache's eviction rule)
    Gc(GcArgs),
    /// Write stored entries to one bundle file, to import into another cache
    Export(ExportArgs),
    /// Store the entries of a bundle file (verified; entries already held are kept)
    Import(ImportArgs),
    /// Copy local entries the shared bucket lacks into it (sealed with the team key if set)
    Push(TransferArgs),
    /// Copy bucket entries the cache lacks into it (verified; entries already held are kept)
    Pull(TransferArgs),
    /// Print a shell completion script (e.g. `stepcache completions bash > ~/.local/share/bash-completion/completions/stepcache`)
    Completions(CompletionsArgs),
}

/// Flags of `ls`.
#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// Only entries of this step
    #[arg(long, value_name = "STEP")]
    pub(crate) step: Option<String>,
    /// Only entries older than AGE (e.g. 30m, 12h, 7d)
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub(crate) older_than: Option<u64>,
    /// Only entries newer than AGE
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub(crate) newer_than: Option<u64>,
    /// Only entries larger than SIZE on disk (e.g. 500K, 20M, 2G)
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub(crate) larger_than: Option<u64>,
    /// Only entries in this tier
    #[arg(long, value_enum)]
    pub(crate) tier: Option<Tier>,
    /// Order: age (newest first), size, cost, hits (largest first), step (by name)
    #[arg(long, value_enum, default_value_t = Sort::Age)]
    pub(crate) sort: Sort,
    /// Reverse the order
    #[arg(long)]
    pub(crate) reverse: bool,
    /// Show at most N entries (after sorting)
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<usize>,
    /// Add a column with each entry's key arguments, shortened (`--json` always has them)
    #[arg(long)]
    pub(crate) args: bool,
}

/// A tier an entry can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Tier {
    /// This process's memory tier
    Memory,
    /// The cache directory
    Store,
    /// The shared tier (a bucket)
    Shared,
}

/// An order of `ls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Sort {
    /// Newest first
    Age,
    /// Largest first
    Size,
    /// By step name, then newest first
    Step,
    /// Most hits first
    Hits,
    /// Most expensive to compute first
    Cost,
}

/// Flags of `show`.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The key, `step@b3:<64 hex digits>` as `ls --json` prints it, or a unique prefix of
    /// at least 4 hex digits of its fingerprint (`1a2b3c`, `b3:1a2b3c`, `t1_map@1a2b3c`)
    #[arg(value_name = "KEY")]
    pub(crate) key: String,
}

/// Flags of `clear`.
#[derive(Debug, Args)]
pub(crate) struct ClearArgs {
    /// Only entries of this step (default: every entry)
    #[arg(value_name = "STEP")]
    pub(crate) step: Option<String>,
}

/// Flags of `verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Report damaged entries but keep them (opens the cache read-only)
    #[arg(long)]
    pub(crate) no_remove: bool,
}

/// Flags of `gc`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("limits").required(true).multiple(true))]
pub(crate) struct GcArgs {
    /// Keep at most SIZE on disk (e.g. 500M, 8G), removing the entries least worth
    /// keeping first (cheap to recompute, rarely hit, large, long idle)
    #[arg(long, value_name = "SIZE", value_parser = parse_size, group = "limits")]
    pub(crate) budget: Option<u64>,
    /// Remove entries older than AGE (e.g. 30d)
    #[arg(long, value_name = "AGE", value_parser = parse_age, group = "limits")]
    pub(crate) max_age: Option<u64>,
    /// Remove entries of STEP older than AGE (repeatable; overrides --max-age for STEP)
    #[arg(long, value_name = "STEP=AGE", value_parser = parse_step_age, group = "limits")]
    pub(crate) step_max_age: Vec<(String, u64)>,
    /// Print what would be removed, remove nothing (opens the cache read-only)
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// Flags of `export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Only entries of this step
    #[arg(long, value_name = "STEP")]
    pub(crate) step: Option<String>,
    /// Only entries newer than AGE (e.g. 12h, 7d)
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub(crate) since: Option<u64>,
    /// The bundle file to write (replaced if it exists), or `-` for stdout
    #[arg(value_name = "OUT")]
    pub(crate) out: PathBuf,
}

/// Flags of `import`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The bundle file to read, or `-` for stdin
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
}

/// Flags of `push` and `pull`: which entries, and the bucket (as the library's
/// `ObjectConfig::from_env` reads it, each flag overriding its variable). Credentials and
/// the team key come from the environment only, never from flags (which `ps` shows).
#[derive(Debug, Args)]
#[command(after_help = BUCKET_ENV)]
pub(crate) struct TransferArgs {
    /// Only entries of this step
    #[arg(long, value_name = "STEP")]
    pub(crate) step: Option<String>,
    /// Only entries newer than AGE (e.g. 12h, 7d)
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub(crate) since: Option<u64>,
    /// The bucket [default: $STEPCACHE_BUCKET]
    #[arg(long, value_name = "NAME", help_heading = "Bucket")]
    pub(crate) bucket: Option<String>,
    /// The folder in the bucket [default: $STEPCACHE_PREFIX, else none]
    #[arg(long, value_name = "PREFIX", help_heading = "Bucket")]
    pub(crate) prefix: Option<String>,
    /// The S3 service's address, e.g. http://127.0.0.1:8333 [default: $AWS_ENDPOINT_URL, else AWS]
    #[arg(long, value_name = "URL", help_heading = "Bucket")]
    pub(crate) endpoint: Option<String>,
    /// The region [default: $AWS_REGION, else us-east-1]
    #[arg(long, value_name = "REGION", help_heading = "Bucket")]
    pub(crate) region: Option<String>,
    /// How long one request may take before it is retried (e.g. 30s)
    #[arg(long, value_name = "AGE", value_parser = parse_age, help_heading = "Bucket")]
    pub(crate) timeout: Option<u64>,
}

/// What `push --help` and `pull --help` end with.
const BUCKET_ENV: &str = "\
Environment:
  STEPCACHE_BUCKET, STEPCACHE_PREFIX, AWS_ENDPOINT_URL, AWS_REGION   as the flags
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN        credentials
  STEPCACHE_TEAM_KEY   the team's secret: entries pushed are sealed with it, and
                       pull refuses entries it did not seal (see docs/shared.md)";

/// Flags of `completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

/// Reads `STEP=AGE`.
fn parse_step_age(text: &str) -> Result<(String, u64), String> {
    let (step, age) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not STEP=AGE, e.g. t1_map=7d"))?;
    stepcache::Step::new(step).map_err(|e| e.message().to_owned())?;
    Ok((step.to_owned(), parse_age(age)?))
}
