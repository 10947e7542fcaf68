//! `stepcache show KEY`: everything known of one entry.

use serde::Serialize;
use stepcache::{EntryInfo, EntryState, Key, Provenance};

use crate::args::ShowArgs;
use crate::report::{self, EntryView, Failure, Outcome};
use crate::units::{age_text, bytes_text, cost_text, date_text};
use crate::{Ctx, Mode};

/// `show --json`: the entry as `ls --json` prints it, and more.
#[derive(Serialize)]
struct Shown {
    #[serde(flatten)]
    entry: EntryView,
    /// `memory`, `stored`, `expired`, `forced`, `shared` or `missing` (as
    /// `Cache::status` says, under the default policy).
    state: &'static str,
    /// The entry's file, if it is stored.
    file: Option<String>,
    /// The file's length in bytes (what `bytes` rounds up to whole blocks).
    file_bytes: Option<u64>,
}

/// The entry of `entries` that `text` names: a full key, or a unique prefix of a
/// fingerprint's hex digits (optionally after `b3:` and `step@`).
fn find<'a>(entries: &'a [EntryInfo], text: &str, ctx: &Ctx) -> Result<&'a EntryInfo, Failure> {
    let (step, rest) = match text.rsplit_once('@') {
        Some((step, rest)) => (Some(step), rest),
        None => (None, text),
    };
    let hex = rest.strip_prefix("b3:").unwrap_or(rest).to_ascii_lowercase();
    if !(4..=64).contains(&hex.len()) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Failure::Usage(format!(
            "{text:?} is not a key: give step@b3:<64 hex digits>, or at least 4 hex digits of its fingerprint"
        )));
    }
    let found: Vec<&EntryInfo> = entries
        .iter()
        .filter(|e| step.is_none_or(|s| s == e.step) && e.fingerprint.to_hex().starts_with(&hex))
        .collect();
    match found[..] {
        [one] => Ok(one),
        [] => Err(Failure::NotFound(format!(
            "no entry matches {text:?} in {}",
            ctx.dir.display()
        ))),
        ref many => Err(Failure::Usage(format!(
            "{text:?} is ambiguous: it matches {} entries ({}{}); give more digits",
            many.len(),
            many.iter()
                .take(3)
                .map(|e| report::short_key(e))
                .collect::<Vec<_>>()
                .join(", "),
            if many.len() > 3 { ", ..." } else { "" }
        ))),
    }
}

/// The lines of `show`'s text output: a label and a value each (an empty label
/// continues the line above).
fn fields(shown: &Shown, provenance: &Provenance) -> Vec<(&'static str, String)> {
    let e = &shown.entry;
    let mut size = bytes_text(e.bytes);
    if let Some(len) = shown.file_bytes {
        size.push_str(&format!(" on disk ({len} bytes in its file)"));
    }
    let mut fields = vec![
        ("key", e.key.clone()),
        ("step", e.step.clone()),
        ("fingerprint", e.fingerprint.clone()),
        ("state", shown.state.to_owned()),
        ("size", size),
        (
            "created",
            format!("{} ({} ago)", date_text(e.created_ms), age_text(e.age_ms)),
        ),
        ("compute cost", cost_text(e.cost_us)),
        ("hits", e.hits.to_string()),
        ("tiers", e.tiers.join(", ")),
    ];
    if let Some(file) = &shown.file {
        fields.push(("file", file.clone()));
    }
    fields.push((
        "made by",
        if provenance.made_by.is_empty() {
            "not recorded".to_owned()
        } else {
            provenance.made_by.clone()
        },
    ));
    match &provenance.args {
        Some(args) => {
            fields.push(("step version", args.version.to_string()));
            let mut lines: Vec<String> = args.args.iter().map(|a| format!("{} = {}", a.name, a.value)).collect();
            if args.omitted > 0 {
                lines.push(format!("(+{} more, left out of the record)", args.omitted));
            }
            if lines.is_empty() {
                lines.push("none".to_owned());
            }
            for (i, line) in lines.into_iter().enumerate() {
                fields.push((if i == 0 { "arguments" } else { "" }, line));
            }
        }
        None => fields.push(("arguments", "not recorded (a key given as a fingerprint)".to_owned())),
    }
    fields
}

/// Runs `show`.
pub(crate) fn run(ctx: &Ctx, args: &ShowArgs) -> Result<Outcome, Failure> {
    let cache = ctx.open(Mode::Read)?;
    let now = report::now_ms();
    let entries = cache.entries()?;
    let info = find(&entries, &args.key, ctx)?;
    let key = Key::from_parts(&info.step, info.fingerprint)?;
    let state = cache
        .status(std::slice::from_ref(&key))?
        .first()
        .map_or(EntryState::Missing, |s| s.state);
    let file = info
        .stored
        .then(|| cache.engine().store().entry_path(&info.fingerprint));
    let shown = Shown {
        entry: EntryView::of(info, now),
        state: state.name(),
        file_bytes: file.as_ref().and_then(|f| std::fs::metadata(f).ok()).map(|m| m.len()),
        file: file.map(|f| f.display().to_string()),
    };
    if ctx.json {
        return report::json(&shown).map(Outcome::ok);
    }
    let fields = fields(&shown, &info.provenance.decode());
    let width = fields.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    let text: String = fields
        .iter()
        .map(|(label, value)| format!("{label:<width$}  {value}\n"))
        .collect();
    Ok(Outcome::ok(text))
}
