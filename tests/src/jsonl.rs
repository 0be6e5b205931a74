//! Reading what a run of sshdiag wrote as JSONL events, the same way in every scenario test.
//!
//! It must never hide a missing verdict: a stream without one is a failed test (a panic), since
//! every run ends with exactly one VERDICT.

use sshdiag_events::{EventData, VerdictData, read_jsonl};

/// The VERDICT event's data in a JSONL events text; panics when there is none.
pub fn verdict(text: &str) -> VerdictData {
    read_jsonl(text)
        .events
        .iter()
        .find_map(|e| match &e.data {
            EventData::Verdict(v) => Some(v.clone()),
            _ => None,
        })
        .expect("a verdict")
}
