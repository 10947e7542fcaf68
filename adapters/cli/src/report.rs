//! What commands hand back: their output and exit code, or a failure; and the pieces
//! of output several commands share (an entry's fields, tables).

use std::fmt;
use std::process::ExitCode;

use serde::Serialize;
use serde_json::Value as Json;
use stepcache::{ArgValue, EntryInfo, Fingerprint, Provenance};

use crate::units::{age_text, bytes_text, cost_text};

/// A command that ran: what to print on stdout, and the exit code.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Text or one JSON document, ending in a newline.
    pub(crate) stdout: String,
    /// 0, or 1 where the command found what a script must notice (damage).
    pub(crate) code: u8,
}

impl Outcome {
    /// Output with exit code 0.
    pub(crate) fn ok(stdout: String) -> Self {
        Outcome { stdout, code: 0 }
    }
}

/// Why a command did not run to the end: one line on stderr and an exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A value clap could not check (a key, a step name): exit 2.
    Usage(String),
    /// Nothing matched where something must (the key given to `show`): exit 1.
    NotFound(String),
    /// Damage that stopped the command (a damaged bundle): exit 1.
    Damaged(stepcache::Error),
    /// The cache's error (opening, reading, writing): exit 3.
    Cache(stepcache::Error),
}

impl Failure {
    /// The exit code (see the `EXIT_CODES` of `--help`).
    pub(crate) fn code(&self) -> ExitCode {
        ExitCode::from(match self {
            Failure::NotFound(_) | Failure::Damaged(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Cache(_) => 3,
        })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(why) | Failure::NotFound(why) => f.write_str(why),
            // "PermissionDenied: the cache is open read-only: ..."
            Failure::Cache(e) | Failure::Damaged(e) => write!(f, "{e}"),
        }
    }
}

impl From<stepcache::Error> for Failure {
    fn from(e: stepcache::Error) -> Self {
        Failure::Cache(e)
    }
}

/// `value` as one pretty JSON document with a final newline.
pub(crate) fn json(value: &impl Serialize) -> Result<String, Failure> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::Cache(stepcache::Error::new(stepcache::ErrorKind::InvalidValue, e.to_string())))?;
    text.push('\n');
    Ok(text)
}

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// An entry's full key, `step@b3:<64 hex>`, as `Key` writes and reads it.
pub(crate) fn key_text(info: &EntryInfo) -> String {
    format!("{}@{}", info.step, info.fingerprint)
}

/// An entry's key shortened for tables: `step@b3:` and 12 hex digits, as `show` takes it.
pub(crate) fn short_key(info: &EntryInfo) -> String {
    let hex = info.fingerprint.to_hex();
    format!("{}@b3:{}", info.step, &hex[..12])
}

/// The tiers an entry is in, of `memory`, `store` and `shared`.
pub(crate) fn tiers(info: &EntryInfo) -> Vec<&'static str> {
    [
        (info.in_memory, "memory"),
        (info.stored, "store"),
        (info.shared, "shared"),
    ]
    .into_iter()
    .filter_map(|(is, name)| is.then_some(name))
    .collect()
}

/// One entry as `ls --json`, `gc --json` and `show --json` print it.
#[derive(Debug, Serialize)]
pub(crate) struct EntryView {
    /// `step@b3:<64 hex>`.
    pub(crate) key: String,
    /// The step (result type).
    pub(crate) step: String,
    /// `b3:<64 hex>`.
    pub(crate) fingerprint: String,
    /// Bytes it takes on disk (whole 4 KiB blocks), or in memory if only there.
    pub(crate) bytes: u64,
    /// When it was computed, ms since the epoch.
    pub(crate) created_ms: u64,
    /// How long ago it was computed, ms.
    pub(crate) age_ms: u64,
    /// How long it took to compute, µs (0: not measured).
    pub(crate) cost_us: u64,
    /// Hits this process saw (always 0 for a cache this command opened).
    pub(crate) hits: u64,
    /// Of `memory`, `store`, `shared`.
    pub(crate) tiers: Vec<&'static str>,
    /// How it was made.
    pub(crate) provenance: ProvenanceView,
}

impl EntryView {
    /// The view of `info`, its age taken at `now_ms`.
    pub(crate) fn of(info: &EntryInfo, now_ms: u64) -> Self {
        EntryView {
            key: key_text(info),
            step: info.step.clone(),
            fingerprint: info.fingerprint.to_string(),
            bytes: info.bytes,
            created_ms: info.created_ms,
            age_ms: now_ms.saturating_sub(info.created_ms),
            cost_us: info.cost_us,
            hits: info.hits,
            tiers: tiers(info),
            provenance: ProvenanceView::of(&info.provenance.decode()),
        }
    }
}

/// An entry's provenance as JSON: `{made_by, version, args: {name: value}, omitted}`;
/// `version` and `args` are null where the entry records no arguments.
#[derive(Debug, Serialize)]
pub(crate) struct ProvenanceView {
    /// The stepcache that wrote the entry (empty if not recorded).
    made_by: String,
    /// The step's version.
    version: Option<u32>,
    /// The key's arguments by name ([`arg_json`]).
    args: Option<serde_json::Map<String, Json>>,
    /// How many arguments the record left out.
    omitted: u64,
}

impl ProvenanceView {
    /// The view of `provenance`.
    pub(crate) fn of(provenance: &Provenance) -> Self {
        let args = provenance.args.as_ref();
        ProvenanceView {
            made_by: provenance.made_by.clone(),
            version: args.map(|a| a.version),
            args: args.map(|a| {
                a.args
                    .iter()
                    .map(|arg| (arg.name.clone(), arg_json(&arg.value)))
                    .collect()
            }),
            omitted: args.map_or(0, |a| a.omitted),
        }
    }
}

/// The largest integer every JSON reader holds exactly (2^53, JavaScript's).
const JSON_EXACT_INT: i128 = 1 << 53;

/// An argument's value as JSON: flags, numbers, text and lists as themselves (integers
/// beyond ±2^53 and floats that are not finite as strings), bytes as `{bytes: len}`,
/// arrays as `{array: elem, shape, fingerprint}`, digests as `{digest}`, lineage as
/// `{lineage: key fingerprint, content}`.
pub(crate) fn arg_json(value: &ArgValue) -> Json {
    match value {
        ArgValue::Bool(b) => Json::Bool(*b),
        ArgValue::Int(i) if (-JSON_EXACT_INT..=JSON_EXACT_INT).contains(i) => Json::from(*i as i64),
        ArgValue::Int(i) => Json::String(i.to_string()),
        ArgValue::Float(x) => {
            serde_json::Number::from_f64(*x).map_or_else(|| Json::String(x.to_string()), Json::Number)
        }
        ArgValue::Text(text) => Json::String(text.clone()),
        ArgValue::Bytes(bytes) => serde_json::json!({ "bytes": bytes.len() }),
        ArgValue::List(items) => Json::Array(items.iter().map(arg_json).collect()),
        ArgValue::Array {
            elem,
            shape,
            fingerprint,
        } => serde_json::json!({
            "array": elem.name(),
            "shape": shape,
            "fingerprint": fingerprint.to_string(),
        }),
        ArgValue::Digest(fingerprint) => serde_json::json!({ "digest": fingerprint.to_string() }),
        ArgValue::Lineage { key, content } => serde_json::json!({
            "lineage": key.to_string(),
            "content": content.to_string(),
        }),
    }
}

/// An entry's arguments on one line of at most `width` characters, cut with `…`; `-`
/// where none are recorded.
pub(crate) fn args_short(provenance: &Provenance, width: usize) -> String {
    let Some(args) = &provenance.args else {
        return "-".to_owned();
    };
    let text = args.to_string();
    if text.chars().count() <= width {
        return text;
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Which way a table column is aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// A table: a header row and rows of cells, columns padded to their widest cell.
pub(crate) fn table(columns: &[(&str, Align)], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            rows.iter()
                .map(|row| row[i].chars().count())
                .chain([name.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let header: Vec<String> = columns.iter().map(|(name, _)| (*name).to_owned()).collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(columns)
            .zip(&widths)
            .map(|((cell, (_, align)), &width)| match align {
                Align::Left => format!("{cell:<width$}"),
                Align::Right => format!("{cell:>width$}"),
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The columns of an entry row: key, size, age, compute cost, tiers.
pub(crate) const ENTRY_COLUMNS: [(&str, Align); 5] = [
    ("KEY", Align::Left),
    ("SIZE", Align::Right),
    ("AGE", Align::Right),
    ("COST", Align::Right),
    ("TIER", Align::Left),
];

/// One row of [`ENTRY_COLUMNS`].
pub(crate) fn entry_row(info: &EntryInfo, now_ms: u64) -> Vec<String> {
    vec![
        short_key(info),
        bytes_text(info.bytes),
        age_text(now_ms.saturating_sub(info.created_ms)),
        cost_text(info.cost_us),
        tiers(info).join("+"),
    ]
}

/// `1 entry` or `3 entries`.
pub(crate) fn entries_text(n: usize) -> String {
    match n {
        1 => "1 entry".to_owned(),
        _ => format!("{n} entries"),
    }
}

/// One entry an import or a pull refused, as `--json` prints it.
#[derive(Serialize)]
pub(crate) struct Refused {
    /// `b3:<64 hex>`, as the bundle or bucket files it.
    pub(crate) fingerprint: String,
    /// Why.
    pub(crate) reason: String,
}

/// What an import, a push or a pull did with the entries it did not copy, and the bytes
/// it moved: the fields of their `--json` documents after the command's own count.
#[derive(Serialize)]
pub(crate) struct Carried {
    /// Entries the receiving side held already (left as they are).
    pub(crate) present: u64,
    /// Entries not stored because of their step's policy or the cache's budget.
    pub(crate) skipped: u64,
    /// Entries refused: damaged, not sealed with the team key, or filed under another key.
    pub(crate) refused: Vec<Refused>,
    /// The bytes of the entries read (import) or copied (push, pull).
    pub(crate) bytes: u64,
}

impl Carried {
    /// The counts of a report, with its refused entries as `--json` prints them.
    pub(crate) fn new(present: u64, skipped: u64, refused: Vec<(Fingerprint, String)>, bytes: u64) -> Self {
        let refused = refused
            .into_iter()
            .map(|(id, reason)| Refused {
                fingerprint: id.to_string(),
                reason,
            })
            .collect();
        Carried {
            present,
            skipped,
            refused,
            bytes,
        }
    }

    /// The outcome of the command whose `--json` document `doc` holds these counts: `doc`
    /// with `--json`, else one line per refused entry and then `summary`; exit code 1 if
    /// entries were refused, which a script must notice.
    pub(crate) fn outcome(&self, json: bool, doc: &impl Serialize, summary: String) -> Result<Outcome, Failure> {
        let stdout = if json {
            self::json(doc)?
        } else {
            let refused = self.refused.iter();
            refused
                .map(|r| format!("refused {}: {}\n", r.fingerprint, r.reason))
                .collect::<String>()
                + &summary
        };
        Ok(Outcome {
            stdout,
            code: u8::from(!self.refused.is_empty()),
        })
    }
}
