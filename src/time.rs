//! Calendar arithmetic and the two date forms retrace reads and writes: RFC 1123
//! (`Wed, 30 Jan 2019 22:19:52 GMT`, the documents' `Last Modified`) and RFC 3339
//! (`2019-01-30T22:19:52Z`, image configs and reports). Times are whole seconds since the epoch, UTC.

/// Why a date did not parse; each variant quotes the text at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("expected a date like `Wed, 30 Jan 2019 22:19:52 GMT`, found `{text}`")]
    Shape { text: String },
    #[error("expected the time zone GMT, found `{zone}`")]
    Zone { zone: String },
    #[error("invalid {what} `{value}` in date `{text}`")]
    Number {
        what: &'static str,
        value: String,
        text: String,
    },
    #[error("unknown month `{month}` in date `{text}`")]
    Month { month: String, text: String },
    #[error("year {year} out of range in date `{text}`")]
    Year { year: i64, text: String },
    #[error("expected a time like 22:19:52 in date `{text}`")]
    Time { text: String },
    #[error("date `{text}` does not exist")]
    NoSuchDate { text: String },
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Parses the RFC 1123 form the documents use: `Wed, 30 Jan 2019 22:19:52 GMT` (the weekday is
/// optional and not cross-checked; only the GMT/UTC zone is accepted because it is the only one
/// the documents write), to seconds since the epoch.
pub fn parse_rfc1123(text: &str) -> Result<i64, DateError> {
    let t = text.trim();
    let t = match t.find(',') {
        Some(i) => t[i + 1..].trim_start(),
        None => t,
    };
    let parts: Vec<&str> = t.split_ascii_whitespace().collect();
    let [day, month, year, time, zone] = parts[..] else {
        return Err(DateError::Shape { text: text.to_string() });
    };
    if !(zone.eq_ignore_ascii_case("GMT") || zone.eq_ignore_ascii_case("UTC") || zone == "Z") {
        return Err(DateError::Zone { zone: zone.to_string() });
    }
    let num = |s: &str, what: &'static str| {
        s.parse::<i64>().map_err(|_| DateError::Number {
            what,
            value: s.to_string(),
            text: text.to_string(),
        })
    };
    let day = num(day, "day")?;
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(month))
        .ok_or_else(|| DateError::Month {
            month: month.to_string(),
            text: text.to_string(),
        })? as i64
        + 1;
    let year = num(year, "year")?;
    // RFC 1123 writes four-digit years; bounding them also keeps the arithmetic below in range.
    if !(0..=9999).contains(&year) {
        return Err(DateError::Year {
            year,
            text: text.to_string(),
        });
    }
    let hms: Vec<&str> = time.split(':').collect();
    let [h, m, s] = hms[..] else {
        return Err(DateError::Time { text: text.to_string() });
    };
    let (h, m, s) = (num(h, "hour")?, num(m, "minute")?, num(s, "second")?);
    if !(1..=days_in_month(year, month)).contains(&day) || h > 23 || m > 59 || s > 60 {
        return Err(DateError::NoSuchDate { text: text.to_string() });
    }
    Ok(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s)
}

/// Parses an RFC 3339 timestamp (`2019-01-30T22:19:52.123456789Z`, offsets allowed) to whole epoch
/// seconds, truncating fractions like repo-info does.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, s) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if b.len() == i + 6 && b[i + 3] == b':' => {
            let v = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if *sign == b'+' {
                v
            } else {
                -v
            }
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset)
}

/// Seconds since the epoch as RFC 3339 UTC (`2019-02-05T20:24:16Z`).
pub fn format_rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of `days_from_civil`.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1123_reads_the_documents_dates() {
        let t = parse_rfc1123("Wed, 30 Jan 2019 22:19:52 GMT").unwrap();
        assert_eq!(t, 1_548_886_792);
        assert_eq!(format_rfc3339(t), "2019-01-30T22:19:52Z");
        let zero = parse_rfc1123("Mon, 01 Jan 0001 00:00:00 GMT").unwrap();
        assert_eq!(format_rfc3339(zero), "0001-01-01T00:00:00Z");
        let leap = parse_rfc1123("Thu, 29 Feb 2024 23:59:59 GMT").unwrap();
        assert_eq!(format_rfc3339(leap), "2024-02-29T23:59:59Z");
        for bad in [
            "Thu, 30 Feb 2024 23:59:59 GMT",
            "Thu, 01 Foo 2024 23:59:59 GMT",
            "Thu, 01 Jan 2024 23:59:59 CET",
            // Found by the fuzzer: a huge year overflowed the day arithmetic.
            "Tue, 24 Dec 9999999999999999 01:46:04 GMT",
            "Tue, 24 Dec -5 01:46:04 GMT",
        ] {
            assert!(parse_rfc1123(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rfc3339_both_ways() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_549_398_256), "2019-02-05T20:24:16Z");
        let t = parse_rfc3339("2019-01-30T22:19:52.123456789Z").unwrap();
        assert_eq!(t, 1_548_886_792);
        assert_eq!(parse_rfc3339("2019-01-30T23:19:52+01:00"), Some(t));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2019-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(-1, 3, 1)), (-1, 3, 1));
    }
}
