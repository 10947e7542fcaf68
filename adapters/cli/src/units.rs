//! Sizes, ages and dates: read from flags, written for people (sizes and durations as the
//! core writes them, [`stepcache::units`]).
//!
//! Sizes are binary (`1K` = 1024 bytes, `1M` = 1024 KiB), as the cache's budgets and
//! block counts are. Ages count from an entry's creation.

pub(crate) use stepcache::units::{bytes_text, duration_text};

/// An age for people, rounded down to its largest unit: `12 s`, `3 min`, `2 h`, `5 d`.
pub(crate) fn age_text(ms: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(86_400_000, "d"), (3_600_000, "h"), (60_000, "min"), (1000, "s")];
    UNITS
        .iter()
        .find(|(unit, _)| ms >= *unit)
        .map_or_else(|| "0 s".to_owned(), |(unit, name)| format!("{} {name}", ms / unit))
}

/// A compute time for people ([`duration_text`]); `-` for 0 (not measured).
pub(crate) fn cost_text(us: u64) -> String {
    match us {
        0 => "-".to_owned(),
        _ => duration_text(us),
    }
}

/// A time in ms since the epoch as a UTC date and time: `2026-12-06 10:51:03 UTC`.
pub(crate) fn date_text(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, of_day) = (secs / 86_400, secs % 86_400);
    // Days to a civil date (Howard Hinnant's `civil_from_days`), for days since 1970.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Splits `text` into its number and its unit (letters after the number).
fn split_number(text: &str) -> (&str, &str) {
    let text = text.trim();
    let at = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    (&text[..at], text[at..].trim())
}

/// `number * unit` as a whole count, or `None` if it is not a number or does not fit.
fn scaled(number: &str, unit: u64) -> Option<u64> {
    if let Ok(whole) = number.parse::<u64>() {
        return whole.checked_mul(unit);
    }
    let value = number.parse::<f64>().ok().filter(|v| v.is_finite())? * unit as f64;
    (value < u64::MAX as f64).then_some(value.round() as u64)
}

/// Reads a size flag: a number with an optional binary unit, `B`, `K`, `M`, `G` or `T`
/// (also written `KiB`, `KB`, ...): `500M`, `2G`, `1.5GiB`, `4096`.
///
/// # Errors
/// What is wrong with `text`, for clap to show.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let (number, unit) = split_number(text);
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "{text:?} is not a size: use a number and K, M, G or T, e.g. 500M or 2G"
            ));
        }
    };
    scaled(number, 1 << shift).ok_or_else(|| format!("{text:?} is not a size: use a number and a unit, e.g. 500M"))
}

/// Reads an age flag in milliseconds: a number and a unit, `ms`, `s`, `m` (or `min`),
/// `h`, `d` or `w`: `30m`, `12h`, `7d`. An age is never zero.
///
/// # Errors
/// What is wrong with `text`, for clap to show.
pub(crate) fn parse_age(text: &str) -> Result<u64, String> {
    let (number, unit) = split_number(text);
    let unit_ms = match unit.to_ascii_lowercase().as_str() {
        "ms" => 1,
        "s" | "sec" => 1000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => {
            return Err(format!(
                "{text:?} is not an age: use a number and s, m, h, d or w, e.g. 30m or 7d"
            ));
        }
    };
    match scaled(number, unit_ms) {
        Some(0) => Err(format!("{text:?} is not an age: an age is more than zero")),
        Some(ms) => Ok(ms),
        None => Err(format!("{text:?} is not an age: use a number and a unit, e.g. 7d")),
    }
}

#[cfg(test)]
mod tests;
