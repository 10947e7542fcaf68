#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod args;
mod cmd;
mod engine;
mod progress;
mod report;
mod units;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use stepcache::{Cache, Error, ErrorKind};

use args::{Cli, Command};
use report::{Failure, Outcome};

/// What every command gets: the directory and the global flags.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// The cache directory.
    pub(crate) dir: PathBuf,
    /// `--json`.
    pub(crate) json: bool,
    /// `--quiet`.
    pub(crate) quiet: bool,
}

/// How a command opens the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Read-only: nothing in the directory changes (see `Builder::read_only`).
    Read,
    /// Writable, where the directory can be written and holds entries (else read-only
    /// all the same: see [`Ctx::open_with`]).
    Write,
}

impl Ctx {
    /// A builder for the cache in [`Ctx::dir`].
    ///
    /// No memory tier: one command reads each entry at most once. No byte budget: the
    /// engine trims a directory over its budget whenever it lists it, and a cache's
    /// budget is its program's to set (`gc --budget` sets one for the collection).
    pub(crate) fn builder(&self) -> stepcache::Builder {
        Cache::builder().dir(&self.dir).memory_budget(0).store_budget(u64::MAX)
    }

    /// Opens the cache in `mode`.
    ///
    /// # Errors
    /// As [`Ctx::open_with`].
    pub(crate) fn open(&self, mode: Mode) -> Result<Cache, Failure> {
        self.open_with(self.builder(), mode)
    }

    /// Opens the cache `builder` (from [`Ctx::builder`]) configures, in `mode`.
    ///
    /// A directory that holds no entries is opened read-only even for writing: there is
    /// nothing to remove, and a writable open would prepare a cache layout in it (and
    /// make it owner-only), which a mistyped `--dir` must not do to a directory that is
    /// not a cache.
    ///
    /// # Errors
    /// A directory that does not exist (no command creates one), or the cache's error.
    pub(crate) fn open_with(&self, builder: stepcache::Builder, mode: Mode) -> Result<Cache, Failure> {
        if !self.dir.exists() {
            return Err(Failure::Cache(Error::new(
                ErrorKind::Storage,
                format!("{} does not exist (no cache there)", self.dir.display()),
            )));
        }
        if mode == Mode::Read {
            return Ok(builder.read_only(true).open()?);
        }
        // The look for entries goes through a cache without `builder`'s budget: a listing
        // trims to the budget, which a read-only cache cannot do.
        let probe = self.builder().read_only(true).open()?;
        if probe.entries()?.is_empty() && probe.stats()?.corrupt_removed == 0 {
            return Ok(builder.read_only(true).open()?);
        }
        drop(probe);
        Ok(builder.open()?)
    }
}

/// The default directory, as the library finds it.
fn default_dir() -> Result<PathBuf, Failure> {
    stepcache::default_dir()
        .ok_or_else(|| Failure::Usage("no cache directory found: give --dir PATH or set STEPCACHE_DIR".to_owned()))
}

fn run(cli: Cli) -> Result<Outcome, Failure> {
    if let Command::Completions(args) = &cli.command {
        let mut script = Vec::new();
        clap_complete::generate(args.shell, &mut Cli::command(), "stepcache", &mut script);
        return Ok(Outcome::ok(String::from_utf8_lossy(&script).into_owned()));
    }
    let ctx = Ctx {
        dir: match cli.dir {
            Some(dir) => dir,
            None => default_dir()?,
        },
        json: cli.json,
        quiet: cli.quiet,
    };
    match &cli.command {
        Command::Ls(args) => cmd::ls::run(&ctx, args),
        Command::Show(args) => cmd::show::run(&ctx, args),
        Command::Stats => cmd::stats::run(&ctx),
        Command::Clear(args) => cmd::clear::run(&ctx, args),
        Command::Verify(args) => cmd::verify::run(&ctx, args),
        Command::Gc(args) => cmd::gc::run(&ctx, args),
        Command::Export(args) => cmd::export::run(&ctx, args),
        Command::Import(args) => cmd::import::run(&ctx, args),
        Command::Push(args) => cmd::transfer::run(&ctx, args, cmd::transfer::Way::Push),
        Command::Pull(args) => cmd::transfer::run(&ctx, args, cmd::transfer::Way::Pull),
        Command::Completions(_) => Ok(Outcome::ok(String::new())),
    }
}

/// Writes `text` to stdout; a reader that went away (`stepcache ls | head`) is not an
/// error.
fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(outcome) => match print(&outcome.stdout) {
            Ok(()) => ExitCode::from(outcome.code),
            Err(e) => {
                eprintln!("error: writing the output: {e}");
                ExitCode::from(3)
            }
        },
        Err(failure) => {
            eprintln!("error: {}", one_line(&failure.to_string()));
            failure.code()
        }
    }
}

/// `text` on one line, for the one-line error message.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
