//! Reading the store's columns back: versions (`BIGINT UNSIGNED`, at least 1), times
//! (`DATETIME(6)` holding UTC) and keys and values (bytes).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mysql_async::{Row, Value};

use super::error::MysqlError;
use crate::Version;

/// The bytes of column `idx`.
pub(crate) fn bytes_at(row: &Row, idx: usize) -> Result<&[u8], MysqlError> {
    match row.as_ref(idx) {
        Some(Value::Bytes(b)) => Ok(b),
        other => Err(MysqlError::BadRow(format!(
            "column {idx} should hold bytes, found {other:?}"
        ))),
    }
}

/// The key of column `idx`: the bytes of a Rust string.
pub(crate) fn key_at(row: &Row, idx: usize) -> Result<String, MysqlError> {
    let bytes = bytes_at(row, idx)?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| MysqlError::BadRow(format!("key {bytes:?} is not UTF-8")))
}

/// The raw version of column `idx` (0 marks this store's own placeholder rows).
pub(crate) fn raw_version_at(row: &Row, idx: usize) -> Result<u64, MysqlError> {
    match row.as_ref(idx) {
        Some(Value::UInt(n)) => Ok(*n),
        Some(Value::Int(n)) if *n >= 0 => Ok(*n as u64),
        // The text protocol (and RETURNING on some versions) sends numbers as text.
        Some(Value::Bytes(b)) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| MysqlError::BadRow(format!("version {b:?} is not a number"))),
        other => Err(MysqlError::BadRow(format!(
            "column {idx} should hold a version, found {other:?}"
        ))),
    }
}

/// The version of column `idx`.
pub(crate) fn version_at(row: &Row, idx: usize) -> Result<Version, MysqlError> {
    let raw = raw_version_at(row, idx)?;
    Version::new(raw).ok_or_else(|| MysqlError::BadRow(format!("version {raw} (below 1)")))
}

/// The time of column `idx`, a `DATETIME(6)` in UTC.
pub(crate) fn modified_at(row: &Row, idx: usize) -> Result<SystemTime, MysqlError> {
    match row.as_ref(idx) {
        Some(Value::Date(y, mo, d, h, mi, s, us)) => {
            utc(*y, *mo, *d, *h, *mi, *s, *us).ok_or_else(|| {
                MysqlError::BadRow(format!("time {y}-{mo}-{d} {h}:{mi}:{s}.{us} out of range"))
            })
        }
        Some(Value::Bytes(b)) => parse_datetime(b)
            .ok_or_else(|| MysqlError::BadRow(format!("time {b:?} is not a DATETIME"))),
        other => Err(MysqlError::BadRow(format!(
            "column {idx} should hold a time, found {other:?}"
        ))),
    }
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]`, as the text protocol sends a `DATETIME(6)`.
fn parse_datetime(b: &[u8]) -> Option<SystemTime> {
    let s = std::str::from_utf8(b).ok()?;
    let (date, time) = s.split_once(' ')?;
    let mut date = date.splitn(3, '-').map(str::parse::<u32>);
    let (y, mo, d) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut hms = hms.splitn(3, ':').map(str::parse::<u8>);
    let (h, mi, sec) = (hms.next()?.ok()?, hms.next()?.ok()?, hms.next()?.ok()?);
    let us: u32 = format!("{frac:0<6}").get(..6)?.parse().ok()?;
    utc(
        u16::try_from(y).ok()?,
        u8::try_from(mo).ok()?,
        u8::try_from(d).ok()?,
        h,
        mi,
        sec,
        us,
    )
}

/// The UTC time of a calendar date and time of day (proleptic Gregorian; dates before 1970
/// are out of range).
fn utc(y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8, us: u32) -> Option<SystemTime> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    // Days from 1970-01-01 (H. Hinnant's days_from_civil).
    let (y, mo, d) = (i64::from(y), i64::from(mo), i64::from(d));
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s);
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(u64::from(us)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_times_convert_to_unix_times() {
        let at =
            |secs: u64, us: u64| UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(us);
        assert_eq!(utc(1970, 1, 1, 0, 0, 0, 0), Some(at(0, 0)));
        assert_eq!(utc(2000, 2, 29, 12, 0, 0, 5), Some(at(951_825_600, 5)));
        assert_eq!(
            utc(2026, 12, 1, 9, 20, 12, 873_825),
            Some(at(1_796_116_812, 873_825))
        );
        assert_eq!(utc(1969, 12, 31, 23, 59, 59, 0), None);
        assert_eq!(utc(2026, 13, 1, 0, 0, 0, 0), None);
        assert_eq!(
            parse_datetime(b"2026-12-01 09:20:12.873825"),
            Some(at(1_796_116_812, 873_825))
        );
        assert_eq!(
            parse_datetime(b"2026-12-01 09:20:12"),
            Some(at(1_796_116_812, 0))
        );
        assert_eq!(
            parse_datetime(b"2026-12-01 09:20:12.5"),
            Some(at(1_796_116_812, 500_000))
        );
        assert_eq!(parse_datetime(b"yesterday"), None);
    }
}
