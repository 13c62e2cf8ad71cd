//! Dates for reports: the query's `from` / `to` and `utc_offset` read, interval starts written
//! as RFC 3339 text. Civil dates are computed from day numbers (proleptic Gregorian calendar,
//! H. Hinnant's `days_from_civil` / `civil_from_days`), so no date library and no clock.

/// Milliseconds in an hour and a day.
pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;

/// The largest UTC offset anyone uses (Kiribati, +14:00), in minutes.
pub const MAX_OFFSET_MINUTES: i32 = 14 * 60;

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12); // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day number.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `at_ms` as RFC 3339 text at `offset_minutes` from UTC (`Z` for 0), to the second.
pub fn format_rfc3339(at_ms: i64, offset_minutes: i32) -> String {
    let local = at_ms.div_euclid(1000) + i64::from(offset_minutes) * 60;
    let (days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (secs / 3600, secs / 60 % 60, secs % 60);
    format!(
        "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}{}",
        format_offset(offset_minutes)
    )
}

/// `Z`, or `+HH:MM` / `-HH:MM`.
pub fn format_offset(offset_minutes: i32) -> String {
    if offset_minutes == 0 {
        return "Z".into();
    }
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let abs = offset_minutes.unsigned_abs();
    format!("{sign}{:02}:{:02}", abs / 60, abs % 60)
}

/// A UTC offset: `Z`, `+HH:MM`, `-HH:MM`, `+HHMM` or `+HH`, at most ±14:00. A leading space is
/// read as `+`: a `+` written unescaped in a query string arrives as a space.
pub fn parse_offset(text: &str) -> Result<i32, String> {
    let bad = || format!("{text:?} is not a UTC offset such as Z, +01:00 or -05:30");
    if text == "Z" || text == "z" {
        return Ok(0);
    }
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+' | b' ') => (1, &text[1..]),
        Some(b'-') => (-1, &text[1..]),
        _ => return Err(bad()),
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
        return Err(bad());
    }
    if rest.contains(':') && rest.len() != 5 {
        return Err(bad());
    }
    let hh: i32 = digits[..2].parse().map_err(|_| bad())?;
    let mm: i32 = if digits.len() == 4 {
        digits[2..].parse().map_err(|_| bad())?
    } else {
        0
    };
    if mm >= 60 {
        return Err(bad());
    }
    let minutes = sign * (hh * 60 + mm);
    if minutes.abs() > MAX_OFFSET_MINUTES {
        return Err(format!("{text:?} is beyond ±14:00"));
    }
    Ok(minutes)
}

/// A point in time for `from` / `to`: Unix milliseconds (`1765065600000`), a date
/// (`2026-12-07`: midnight at `offset_minutes`), or a date and time (`2026-12-07T09:30`,
/// seconds optional), at `offset_minutes` unless it ends in `Z` or its own offset.
pub fn parse_time(text: &str, offset_minutes: i32) -> Result<i64, String> {
    let bad = || {
        format!(
            "{text:?} is not a time: give a date (2026-12-07), a date and time \
             (2026-12-07T09:30:00Z) or Unix milliseconds"
        )
    };
    let t = text.trim_end();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse::<i64>().map_err(|_| bad());
    }
    let b = t.as_bytes();
    // `is_char_boundary`: the date is sliced by bytes below, and a multi-byte character there
    // would panic.
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' || !t.is_char_boundary(10) {
        return Err(bad());
    }
    let num = |s: &str| -> Result<i64, String> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<i64>().map_err(|_| bad())
    };
    let (y, m, d) = (num(&t[..4])?, num(&t[5..7])?, num(&t[8..10])?);
    if !(1..=12).contains(&m) || d < 1 || d > i64::from(days_in_month(y, m as u32)) {
        return Err(format!("{text:?} is not a date in the calendar"));
    }
    let day_ms = days_from_civil(y, m as u32, d as u32) * DAY_MS;
    let rest = &t[10..];
    if rest.is_empty() {
        return Ok(day_ms - i64::from(offset_minutes) * 60_000);
    }
    let Some(rest) = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' ')) else {
        return Err(bad());
    };
    // The time, then the zone: Z, ±HH:MM, or nothing (the report's offset).
    let zone_at = rest.find(['Z', 'z', '+', '-', ' ']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let parts: Vec<&str> = clock.split(':').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
        return Err(bad());
    }
    let (hh, mm) = (num(parts[0])?, num(parts[1])?);
    let ss = match parts.get(2) {
        Some(s) => num(s)?,
        None => 0,
    };
    if hh > 23 || mm > 59 || ss > 59 {
        return Err(format!("{text:?} is not a time of day"));
    }
    let offset = if zone.is_empty() {
        offset_minutes
    } else {
        parse_offset(zone)?
    };
    Ok(day_ms + ((hh * 60 + mm) * 60 + ss) * 1000 - i64::from(offset) * 60_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multi_byte_character_where_the_date_is_cut_is_refused_not_a_panic() {
        for text in [
            "2026-12-0\u{e9}",
            "2026-12-\u{e9}7T00:00Z",
            "\u{e9}026-12-07",
        ] {
            assert!(parse_time(text, 0).is_err(), "{text}");
        }
    }

    #[test]
    fn civil_dates_round_trip_across_leap_years_and_before_1970() {
        for (y, m, d) in [
            (1970, 1, 1),
            (2000, 2, 29),
            (2026, 12, 7),
            (1969, 12, 31),
            (2100, 3, 1),
        ] {
            assert_eq!(civil_from_days(days_from_civil(y, m, d)), (y, m, d));
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2026, 12, 7), 20_794);
    }

    #[test]
    fn times_are_read_as_dates_datetimes_or_unix_ms() {
        let midnight = 20_794 * DAY_MS;
        assert_eq!(parse_time("2026-12-07", 0), Ok(midnight));
        assert_eq!(parse_time("2026-12-07", 60), Ok(midnight - HOUR_MS));
        assert_eq!(
            parse_time("2026-12-07T09:30:15Z", 60),
            Ok(midnight + 34_215_000)
        );
        assert_eq!(parse_time("2026-12-07T09:30", 0), Ok(midnight + 34_200_000));
        assert_eq!(
            parse_time("2026-12-07T09:30:00+01:00", 0),
            Ok(midnight + 30_600_000)
        );
        assert_eq!(parse_time("1765065600000", 0), Ok(1_765_065_600_000));
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-02-29",
            "2026-12-07T25:00",
            "2026-12-7",
        ] {
            assert!(parse_time(bad, 0).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn offsets_are_read_and_written() {
        assert_eq!(parse_offset("Z"), Ok(0));
        assert_eq!(parse_offset("+01:00"), Ok(60));
        assert_eq!(parse_offset(" 05:30"), Ok(330));
        assert_eq!(parse_offset("-0330"), Ok(-210));
        assert_eq!(parse_offset("+14"), Ok(840));
        assert!(parse_offset("+15:00").is_err());
        assert!(parse_offset("01:00").is_err());
        assert!(parse_offset("+1:00").is_err());
        assert_eq!(format_offset(-210), "-03:30");
        assert_eq!(
            format_rfc3339(20_794 * DAY_MS + 1_500, 60),
            "2026-12-07T01:00:01+01:00"
        );
        assert_eq!(format_rfc3339(-1000, 0), "1969-12-31T23:59:59Z");
    }
}
