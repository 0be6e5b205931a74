//! The precision sshdiag writes times and durations in: three decimals, so milliseconds keep
//! whole microseconds and Unix seconds keep whole milliseconds. One helper, used by every crate
//! that rounds a time, so no two places round differently.
//!
//! This module only does arithmetic.

/// Rounds to three decimals: a duration in milliseconds to whole microseconds, a Unix time in
/// seconds to whole milliseconds. It also hides float noise such as `0.30000000000000004`. A
/// value that is not a finite number becomes `0.0`, so a broken clock cannot produce a line
/// that fails to load again (JSON has no `NaN`).
pub fn round_thousandths(value: f64) -> f64 {
    if !value.is_finite() {
        return 0.0;
    }
    (value * 1000.0).round() / 1000.0
}
