//! Unix seconds as a UTC calendar date and time, for the places that write a time for people
//! (the relay's log timestamps, a certificate's validity, a bundle's creation time). One
//! conversion, so no two crates disagree about a date.
//!
//! This module only does arithmetic: it never reads the clock and knows no time zone but UTC.

/// Splits Unix seconds into UTC (year, month, day, hour, minute, second) in the proleptic
/// Gregorian calendar: Howard Hinnant's `civil_from_days`.
pub fn civil_from_unix(unix: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (unix / 86_400) as i64;
    let rem = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}
