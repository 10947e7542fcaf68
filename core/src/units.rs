//! Figures for people, as stepcache prints them (in `Stats`' display, and the command
//! line's tables): sizes in binary units, durations in the largest unit that keeps them
//! readable.

use alloc::string::String;

/// A byte count: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn bytes_text(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        alloc::format!("{bytes} B")
    } else {
        alloc::format!("{value:.1} {}", UNITS[unit])
    }
}

/// A duration in microseconds: `850 µs`, `12.5 ms`, `3.2 s`, `4.0 min`, `1.5 h`.
pub fn duration_text(us: u64) -> String {
    let f = us as f64;
    if us < 1_000 {
        alloc::format!("{us} µs")
    } else if us < 1_000_000 {
        alloc::format!("{:.1} ms", f / 1e3)
    } else if us < 60_000_000 {
        alloc::format!("{:.1} s", f / 1e6)
    } else if us < 3_600_000_000 {
        alloc::format!("{:.1} min", f / 60e6)
    } else {
        alloc::format!("{:.1} h", f / 3600e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(bytes_text(512), "512 B");
        assert_eq!(bytes_text(1536), "1.5 KiB");
        assert_eq!(bytes_text(16 << 30), "16.0 GiB");
        assert_eq!(duration_text(850), "850 µs");
        assert_eq!(duration_text(12_500), "12.5 ms");
        assert_eq!(duration_text(3_200_000), "3.2 s");
        assert_eq!(duration_text(240_000_000), "4.0 min");
        assert_eq!(duration_text(5_400_000_000), "1.5 h");
    }
}
