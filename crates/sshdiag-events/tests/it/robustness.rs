//! Malformed input never panics: arbitrary text and bytes, and mutated valid bundles and
//! streams, go through every reader; arbitrary text goes through the scrubber and redaction.

use proptest::prelude::*;
use sshdiag_events::bundle::{Bundle, IntegrityStatus, TranscriptEntry};
use sshdiag_events::jsonl::{ReadOptions, read_jsonl, read_jsonl_with, to_jsonl};
use sshdiag_events::redact::{find_ip_addresses, scrub_secrets, scrub_secrets_counted};

use crate::util::{self, Identity};

fn good_bundle_json() -> String {
    util::bundle_of(util::failed_session).to_json(false)
}

fn good_jsonl() -> String {
    to_jsonl(&util::ok_session(&Identity::default()))
}

/// One edit to a byte string: delete a range, insert bytes, or overwrite a byte.
#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Overwrite(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..64usize).prop_map(|(at, len)| Mutation::Delete(at, len)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        (
            any::<usize>(),
            prop::sample::select(b"{}[]\":,0123456789-.etnfaulsx\\ \n\xff".to_vec())
        )
            .prop_map(|(at, b)| Mutation::Overwrite(at, b)),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for m in mutations {
        if bytes.is_empty() {
            break;
        }
        match m {
            Mutation::Delete(at, len) => {
                let at = at % bytes.len();
                let end = (at + len).min(bytes.len());
                bytes.drain(at..end);
            }
            Mutation::Insert(at, new) => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, new.iter().copied());
            }
            Mutation::Overwrite(at, b) => {
                let at = at % bytes.len();
                bytes[at] = *b;
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics_any_reader(text in any::<String>()) {
        let read = read_jsonl(&text);
        prop_assert!(read.events.len() + read.errors.len() <= text.split('\n').count());
        let _ = read_jsonl_with(&text, ReadOptions::nbs_ssh());
        let _ = Bundle::from_json(&text);
        let _ = find_ip_addresses(&text);
    }

    #[test]
    fn json_like_text_never_panics_any_reader(text in "[\\[\\]{}\":,0-9a-z_ .eE+-]{0,300}") {
        let _ = read_jsonl(&text);
        let _ = Bundle::from_json(&text);
        let _ = Bundle::from_json(&format!("{{\"format\":\"sshdiag-evidence-bundle\",\"version\":\"1.0\",{text}"));
    }

    #[test]
    fn arbitrary_bytes_never_panic_from_json_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Bundle::from_json_bytes(&bytes);
        let _ = read_jsonl(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_bundles_load_or_fail_cleanly(mutations in prop::collection::vec(mutation(), 1..4)) {
        let bytes = apply(&good_bundle_json(), &mutations);
        if let Ok(bundle) = Bundle::from_json_bytes(&bytes) {
            // Whatever loaded can be checked and written again without panicking.
            let status = bundle.verify_integrity();
            let known = matches!(status, IntegrityStatus::Valid | IntegrityStatus::Mismatch { .. } | IntegrityStatus::Missing);
            prop_assert!(known);
            let again = Bundle::from_json(&bundle.to_json(false));
            prop_assert!(again.is_ok(), "{:?}", again.err());
            let _ = bundle.to_json(true);
        }
    }

    #[test]
    fn mutated_streams_load_every_untouched_line(mutations in prop::collection::vec(mutation(), 1..4)) {
        let original = good_jsonl();
        let text = String::from_utf8_lossy(&apply(&original, &mutations)).into_owned();
        let read = read_jsonl(&text);
        let lines = text.split('\n').filter(|l| !l.trim().is_empty()).count();
        prop_assert_eq!(read.events.len() + read.errors.len(), lines);
        for error in &read.errors {
            prop_assert!(error.line >= 1 && !error.message.is_empty());
        }
    }

    #[test]
    fn scrubbing_arbitrary_text_never_panics_and_is_idempotent(text in any::<String>()) {
        let (once, _) = scrub_secrets_counted(&text);
        prop_assert_eq!(scrub_secrets(&once), once.clone());
    }

    #[test]
    fn scrubbing_secret_shaped_text_is_idempotent(
        text in r#"(password|token|-p|Bearer|Authorization:|https://u:p@h|-----BEGIN RSA PRIVATE KEY-----|-----END RSA PRIVATE KEY-----|[A-Za-z0-9+/]{40}|=|:|'|"| |\n|[a-z]{1,5}){0,30}"#
    ) {
        let (once, _) = scrub_secrets_counted(&text);
        prop_assert_eq!(scrub_secrets(&once), once.clone());
    }

    #[test]
    fn redacting_arbitrary_identities_and_text_never_panics(
        username in any::<String>(),
        host in any::<String>(),
        message in any::<String>(),
        output in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let id = Identity { username, host, ..Identity::default() };
        let mut events = util::failed_session(&id);
        if let Some(sshdiag_events::event::EventData::Error(e)) = events.iter_mut().map(|e| &mut e.data).find(|d| matches!(d, sshdiag_events::event::EventData::Error(_))) {
            e.message = message.clone();
        }
        let transcript = vec![TranscriptEntry::from_output(message, Some(0), &output, &output)];
        let bundle = Bundle::from_session(util::session_info(&id), events, transcript);
        let back = Bundle::from_json(&bundle.to_json(false));
        prop_assert_eq!(back.as_ref().ok(), Some(&bundle));
        let redacted = Bundle::from_json(&bundle.to_json(true));
        prop_assert!(redacted.is_ok(), "{:?}", redacted.err());
        prop_assert_eq!(redacted.map(|b| b.verify_integrity()).ok(), Some(IntegrityStatus::Valid));
    }
}
