//! Time: an injectable clock and a small RFC 3339 parser/formatter (the API's ISO-8601 UTC).
//!
//! All instants are Unix milliseconds (`i64`), UTC.

/// Where "now" comes from. Production uses [`SystemClock`]; tests and the scheduler's tests
/// supply their own so time can be moved by hand.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
        }
    }
}

const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Formats as `YYYY-MM-DDTHH:MM:SSZ` (whole seconds, as the API shows times).
pub fn format_rfc3339(ms: i64) -> String {
    let (date, time) = split(ms);
    format!("{date}T{}Z", &time[..8])
}

/// Formats as `YYYY-MM-DDTHH:MM:SS.mmmZ` (for log lines).
pub fn format_rfc3339_millis(ms: i64) -> String {
    let mut out = String::with_capacity(24);
    push_rfc3339_millis(ms, &mut out);
    out
}

/// Appends `YYYY-MM-DDTHH:MM:SS.mmmZ` to `out` without allocating: every log line starts with
/// one, and the formatting machinery used to cost more than the rest of the line.
pub fn push_rfc3339_millis(ms: i64, out: &mut String) {
    let days = ms.div_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let Ok(year @ 0..=9999) = u32::try_from(y) else {
        let (date, time) = split(ms);
        out.push_str(&date);
        out.push('T');
        out.push_str(&time);
        out.push('Z');
        return;
    };
    let rest = ms.rem_euclid(MS_PER_DAY);
    // In range by construction: rest < 86_400_000.
    let rest = u32::try_from(rest).unwrap_or(0);
    push_zero_padded(out, year, 4);
    out.push('-');
    push_zero_padded(out, m, 2);
    out.push('-');
    push_zero_padded(out, d, 2);
    out.push('T');
    push_zero_padded(out, rest / 3_600_000, 2);
    out.push(':');
    push_zero_padded(out, rest / 60_000 % 60, 2);
    out.push(':');
    push_zero_padded(out, rest / 1000 % 60, 2);
    out.push('.');
    push_zero_padded(out, rest % 1000, 3);
    out.push('Z');
}

fn split(ms: i64) -> (String, String) {
    let days = ms.div_euclid(MS_PER_DAY);
    let rest = ms.rem_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, milli) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000,
    );
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{h:02}:{min:02}:{s:02}.{milli:03}"),
    )
}

/// Appends the last `width` decimal digits of `value` (at most 10, all a u32 has), zero-padded.
pub fn push_zero_padded(out: &mut String, value: u32, width: u32) {
    // Right to left by constant divisions: every log line's milliseconds pass through here.
    let mut digits = [b'0'; 10];
    let width = usize::try_from(width).map_or(digits.len(), |w| w.min(digits.len()));
    let mut rest = value;
    for digit in digits[..width].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    for &digit in &digits[..width] {
        out.push(char::from(digit));
    }
}

/// Parses an RFC 3339 timestamp such as `2025-10-06T18:30:00Z` or `2025-10-06T21:30:00.5+03:00`
/// into UTC milliseconds. Fractions beyond milliseconds are truncated; a leap second (`:60`) is
/// read as the last millisecond of the minute.
pub fn parse_rfc3339(text: &str) -> Result<i64, &'static str> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Result<u32, &'static str> {
        let part = b.get(range).ok_or("too short")?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return Err("expected digits");
        }
        Ok(part
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
    };
    let expect = |i: usize, allowed: &[u8]| -> Result<(), &'static str> {
        match b.get(i) {
            Some(c) if allowed.contains(c) => Ok(()),
            _ => Err("expected YYYY-MM-DDTHH:MM:SSZ"),
        }
    };
    let year = i64::from(num(0..4)?);
    expect(4, b"-")?;
    let month = num(5..7)?;
    expect(7, b"-")?;
    let day = num(8..10)?;
    expect(10, b"Tt ")?;
    let hour = num(11..13)?;
    expect(13, b":")?;
    let minute = num(14..16)?;
    expect(16, b":")?;
    let second = num(17..19)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err("no such date");
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err("no such time");
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return Err("empty fraction");
        }
        for _ in (i - start)..3 {
            millis *= 10;
        }
    }
    let offset_minutes: i64 = match b.get(i) {
        Some(b'Z' | b'z') => {
            i += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            let sign = if *sign == b'-' { -1 } else { 1 };
            let oh = num(i + 1..i + 3)?;
            expect(i + 3, b":")?;
            let om = num(i + 4..i + 6)?;
            if oh > 23 || om > 59 {
                return Err("bad offset");
            }
            i += 6;
            sign * i64::from(oh * 60 + om)
        }
        _ => return Err("missing time zone (use Z for UTC)"),
    };
    if i != b.len() {
        return Err("unexpected text after the time zone");
    }
    let (second, millis) = if second == 60 {
        (59, 999)
    } else {
        (second, millis)
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    Ok((secs - offset_minutes * 60) * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_padding_keeps_the_last_digits() {
        for width in 1..=10u32 {
            for value in [0, 7, 42, 999, 1000, 123_456, 99_999_999, u32::MAX] {
                let mut out = String::from("x");
                push_zero_padded(&mut out, value, width);
                let last = u64::from(value) % 10u64.pow(width);
                let expected = format!("x{last:0w$}", w = width as usize);
                assert_eq!(out, expected, "{value} in {width}");
            }
        }
        let mut wide = String::new();
        push_zero_padded(&mut wide, 5, 12);
        assert_eq!(wide, "0000000005", "a u32 has ten digits at most");
    }

    #[test]
    fn parses_the_api_example_and_round_trips() {
        let ms = parse_rfc3339("2025-10-06T18:30:00Z").unwrap();
        assert_eq!(ms, 1_759_775_400_000);
        assert_eq!(format_rfc3339(ms), "2025-10-06T18:30:00Z");
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339_millis(1_500), "1970-01-01T00:00:01.500Z");
    }

    #[test]
    fn log_timestamps_match_the_general_formatter_and_parse_back() {
        let mut line = String::new();
        // Year 0 through 9999 take the fast path; before and after, the general one.
        for ms in [
            -62_167_219_200_001,
            -62_167_219_200_000,
            -1,
            0,
            999,
            951_782_400_123,
            1_709_208_000_007,
            1_759_775_400_999,
            253_402_300_799_999,
            253_402_300_800_000,
        ] {
            line.clear();
            push_rfc3339_millis(ms, &mut line);
            let (date, time) = split(ms);
            assert_eq!(line, format!("{date}T{time}Z"), "{ms}");
            if (0..=253_402_300_799_999).contains(&ms) {
                assert_eq!(parse_rfc3339(&line), Ok(ms), "{line}");
            }
        }
    }

    #[test]
    fn fractions_offsets_and_leap_days() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.5Z"), Ok(500));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.123456789Z"), Ok(123));
        assert_eq!(parse_rfc3339("1970-01-01T03:00:00+03:00"), Ok(0));
        assert_eq!(parse_rfc3339("1969-12-31T23:00:00-01:00"), Ok(0));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Ok(-1000));
        let leap = parse_rfc3339("2024-02-29T12:00:00Z").unwrap();
        assert_eq!(format_rfc3339(leap), "2024-02-29T12:00:00Z");
        assert_eq!(
            parse_rfc3339("2016-12-31T23:59:60Z"),
            Ok(parse_rfc3339("2017-01-01T00:00:00Z").unwrap() - 1)
        );
    }

    #[test]
    fn civil_conversion_round_trips_over_centuries() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn rejects_malformed_and_impossible_times() {
        for bad in [
            "",
            "2025-10-06",
            "2025-10-06T18:30:00",
            "2025-10-06T18:30Z",
            "2025-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2025-04-31T00:00:00Z",
            "2025-10-06T24:00:00Z",
            "2025-10-06T18:60:00Z",
            "2025-10-06T18:30:00.Z",
            "2025-10-06T18:30:00Zjunk",
            "2025-10-06T18:30:00+0300",
            "2025-1O-06T18:30:00Z",
            "+2025-10-06T18:30:00Z",
            "2025-10-06T18:30:00+24:00",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "accepted {bad:?}");
        }
    }
}
