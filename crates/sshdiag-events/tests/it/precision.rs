//! The one rounding of times and durations every crate uses.

use sshdiag_events::jsonl::round_timestamp;
use sshdiag_events::round_thousandths;

#[test]
fn durations_keep_microseconds_and_timestamps_milliseconds() {
    assert_eq!(round_thousandths(0.1 + 0.2), 0.3, "float noise is hidden");
    assert_eq!(round_thousandths(12.345_678), 12.346);
    assert_eq!(round_thousandths(1_763_700_000.123_456), 1_763_700_000.123);
    assert_eq!(round_timestamp(1_763_700_000.123_456), 1_763_700_000.123);
    assert_eq!(
        sshdiag_events::timestamp_from_unix_ms(1_763_700_000_123.4),
        1_763_700_000.123
    );
    for broken in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(round_thousandths(broken), 0.0, "{broken} would not be JSON");
    }
}
