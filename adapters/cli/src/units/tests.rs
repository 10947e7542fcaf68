use super::*;

#[test]
fn sizes_read_and_print() {
    assert_eq!(parse_size("4096"), Ok(4096));
    assert_eq!(parse_size("500M"), Ok(500 << 20));
    assert_eq!(parse_size("2G"), Ok(2 << 30));
    assert_eq!(parse_size("2 GiB"), Ok(2 << 30));
    assert_eq!(parse_size("1.5k"), Ok(1536));
    assert_eq!(parse_size("0"), Ok(0));
    assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
    for bad in ["", "M", "5X", "-1G", "1.2.3M", "99999999999T"] {
        assert!(parse_size(bad).is_err(), "{bad}");
    }
    assert_eq!(bytes_text(512), "512 B");
    assert_eq!(bytes_text(1536), "1.5 KiB");
    assert_eq!(bytes_text(3 << 30), "3.0 GiB");
}

#[test]
fn ages_read_and_print() {
    assert_eq!(parse_age("30m"), Ok(30 * 60_000));
    assert_eq!(parse_age("7d"), Ok(7 * 86_400_000));
    assert_eq!(parse_age("1.5h"), Ok(5_400_000));
    assert_eq!(parse_age("250ms"), Ok(250));
    assert_eq!(parse_age("2w"), Ok(14 * 86_400_000));
    for bad in ["", "30", "0s", "3y", "d"] {
        assert!(parse_age(bad).is_err(), "{bad}");
    }
    assert_eq!(age_text(999), "0 s");
    assert_eq!(age_text(12_500), "12 s");
    assert_eq!(age_text(3 * 60_000 + 59_000), "3 min");
    assert_eq!(age_text(2 * 3_600_000), "2 h");
    assert_eq!(age_text(5 * 86_400_000 + 1), "5 d");
}

#[test]
fn durations_and_dates_print() {
    assert_eq!(cost_text(0), "-");
    assert_eq!(cost_text(850), "850 µs");
    assert_eq!(cost_text(12_500), "12.5 ms");
    assert_eq!(cost_text(3_200_000), "3.2 s");
    assert_eq!(cost_text(90_000_000), "1.5 min");
    assert_eq!(cost_text(5_400_000_000), "1.5 h");
    assert_eq!(date_text(0), "1970-01-01 00:00:00 UTC");
    assert_eq!(date_text(951_782_400_000), "2000-02-29 00:00:00 UTC");
    assert_eq!(date_text(1_796_554_263_000), "2026-12-06 10:51:03 UTC");
}
