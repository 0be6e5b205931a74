//! The evidence bundle: what it derives from events, its exact shape, round trips, integrity,
//! and the clear refusals of `from_json`.

use std::collections::BTreeSet;

use serde_json::Value;
use sha2::Digest;
use sshdiag_events::bundle::{
    Bundle, BundleError, DEFAULT_OUTPUT_CAP, IntegrityStatus, MAX_BUNDLE_BYTES, TranscriptEntry,
    canonical_json, json_tree, software_from_banner,
};
use sshdiag_events::codes::{ErrorType, Layer, Phase};
use sshdiag_events::event::*;

use crate::util::{self, Identity};

fn ok_bundle() -> Bundle {
    util::bundle_of(util::ok_session)
}

fn failed_bundle() -> Bundle {
    let id = Identity::default();
    Bundle::from_session(util::session_info(&id), util::failed_session(&id), vec![])
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn from_session_derives_verdict_algorithms_server_timing_from_events() {
    let b = ok_bundle();
    assert_eq!(b.format, "sshdiag-evidence-bundle");
    assert_eq!(b.version, "1.1");
    assert_eq!(b.connection_id, "c7f3a91e2b");
    assert_eq!(b.tool.name, "sshdiag");
    assert!(b.verdict.ok);
    assert_eq!(b.verdict.layer, Some(Layer::Exec));
    assert_eq!(b.verdict.code, "verdict-ok");
    assert_eq!(b.algorithms.kex.as_deref(), Some("curve25519-sha256"));
    assert_eq!(
        b.algorithms.cipher_cs.as_deref(),
        Some("chacha20-poly1305@openssh.com")
    );
    assert_eq!(b.algorithms.mac_cs.as_deref(), Some("implicit"));
    assert_eq!(b.algorithms.strict_kex, Some(true));
    assert!(b.algorithms.client_proposal.is_some() && b.algorithms.server_proposal.is_some());
    assert_eq!(b.algorithms.server_sig_algs.as_ref().map(Vec::len), Some(2));
    assert_eq!(
        b.server.banner.as_deref(),
        Some("SSH-2.0-OpenSSH_9.2p1 Debian-2")
    );
    assert_eq!(b.server.software.as_deref(), Some("OpenSSH_9.2p1"));
    // Where the server saw it come from (the relay's end), and what this client called itself.
    assert_eq!(b.server.source.as_deref(), Some("[2001:db8::5]:40222"));
    assert_eq!(
        b.server.client_version.as_deref(),
        Some("SSH-2.0-sshdiag_0.1.0")
    );
    let host_key = b.server.host_key.clone().unwrap_or_default();
    assert_eq!(host_key.algorithm, "ssh-ed25519");
    assert!(host_key.fingerprint_sha256.starts_with("SHA256:"));
    // connect = relay + dns + tcp + banner + kex + hostkey.
    assert_eq!(b.timing.connect_duration_ms, 74.25);
    assert_eq!(b.timing.auth_duration_ms, 57.7);
    let first = b.events.first().map_or(0.0, |e| e.timestamp);
    let last = b.events.last().map_or(0.0, |e| e.timestamp);
    assert_eq!(
        b.timing.total_duration_ms,
        ((last - first) * 1000.0).round()
    );
    assert_eq!(b.timing.phases.len(), 9);
    assert_eq!(b.timing.phases.get(&Phase::Exec), Some(&15.0));
    assert_eq!(b.disconnect_reason, Some(DisconnectReason::Normal));
    assert_eq!(b.error_context, None);
    assert_eq!(b.audit, None);
    assert_eq!(b.transcript.len(), 1);
    assert!(!b.redaction.applied);
    assert_eq!(b.verify_integrity(), IntegrityStatus::Valid);
}

#[test]
fn a_failed_session_carries_its_error_context_and_disconnect_reason() {
    let b = failed_bundle();
    assert!(!b.verdict.ok);
    assert_eq!(b.verdict.error_type, Some(ErrorType::AuthFailed));
    assert_eq!(b.verdict.layer, Some(Layer::Auth));
    assert_eq!(b.verdict.code, "auth-failed");
    let context = b.error_context.clone().unwrap_or_default();
    assert_eq!(context.error_type, "AuthFailed");
    assert_eq!(context.phase, Some(Phase::Auth));
    assert_eq!(
        context.context.get("methods_available"),
        Some(&serde_json::json!(["publickey"]))
    );
    assert_eq!(b.disconnect_reason, Some(DisconnectReason::AuthFailure));
    assert_eq!(b.timing.auth_duration_ms, 45.2);
    // A session that never ran a command has an empty transcript, not a missing one.
    let doc: Value = serde_json::from_str(&b.to_json(false)).unwrap_or(Value::Null);
    assert_eq!(doc["transcript"], serde_json::json!([]));
}

#[test]
fn a_stream_without_verdict_gets_one_from_its_error_or_says_it_did_not_finish() {
    let id = Identity::default();
    let mut events = util::failed_session(&id);
    events.retain(|e| !matches!(e.data, EventData::Verdict(_)));
    let b = Bundle::from_session(util::session_info(&id), events.clone(), vec![]);
    assert!(!b.verdict.ok);
    assert_eq!(b.verdict.error_type, Some(ErrorType::AuthFailed));
    assert_eq!(b.verdict.layer, Some(Layer::Auth));
    assert_eq!(b.verdict.summary, "Every method was rejected for alice");
    assert!(b.timing.phases.is_empty());

    events.retain(|e| !matches!(e.data, EventData::Error(_)));
    let b = Bundle::from_session(util::session_info(&id), events, vec![]);
    assert!(!b.verdict.ok);
    assert!(b.verdict.summary.contains("did not finish"));

    let empty = Bundle::from_session(util::session_info(&id), vec![], vec![]);
    assert_eq!(empty.timing.total_duration_ms, 0.0);
    assert_eq!(empty.verify_integrity(), IntegrityStatus::Valid);
}

#[test]
fn the_document_has_exactly_the_documented_keys() {
    let doc: Value = serde_json::from_str(&ok_bundle().to_json(false)).unwrap_or(Value::Null);
    assert_eq!(
        keys(&doc),
        set(&[
            "format",
            "version",
            "created_ms",
            "connection_id",
            "tool",
            "host_info",
            "verdict",
            "events",
            "transcript",
            "algorithms",
            "server",
            "timing",
            "disconnect_reason",
            "error_context",
            "redaction",
            "integrity",
        ])
    );
    assert_eq!(
        keys(&doc["tool"]),
        set(&["name", "version", "runtime", "user_agent"])
    );
    assert_eq!(
        keys(&doc["host_info"]),
        set(&["host", "port", "username", "proxy", "redacted"])
    );
    assert_eq!(
        keys(&doc["verdict"]),
        set(&["ok", "layer", "error_type", "code", "summary", "hints"])
    );
    assert_eq!(
        keys(&doc["transcript"][0]),
        set(&[
            "command",
            "exit_code",
            "stdout",
            "stderr",
            "stdout_len",
            "stderr_len",
            "truncated"
        ])
    );
    assert_eq!(
        keys(&doc["algorithms"]),
        set(&[
            "kex",
            "host_key",
            "cipher_cs",
            "cipher_sc",
            "mac_cs",
            "mac_sc",
            "compression_cs",
            "compression_sc",
            "strict_kex",
            "client_proposal",
            "server_proposal",
            "server_sig_algs",
        ])
    );
    assert_eq!(
        keys(&doc["server"]),
        set(&["banner", "software", "host_key", "source", "client_version"])
    );
    assert_eq!(
        keys(&doc["server"]["host_key"]),
        set(&["algorithm", "fingerprint_sha256"])
    );
    assert_eq!(
        keys(&doc["timing"]),
        set(&[
            "connect_duration_ms",
            "auth_duration_ms",
            "total_duration_ms",
            "phases"
        ])
    );
    assert_eq!(
        keys(&doc["timing"]["phases"]),
        set(&[
            "relay", "dns", "tcp", "banner", "kex", "hostkey", "auth", "channel", "exec"
        ])
    );
    assert_eq!(keys(&doc["redaction"]), set(&["applied", "replaced"]));
    assert_eq!(
        keys(&doc["redaction"]["replaced"]),
        set(&["username", "host", "address", "output", "secret"])
    );
    assert_eq!(keys(&doc["integrity"]), set(&["sha256"]));
    // The seed's accessors still work.
    assert!(doc["timing"]["connect_duration_ms"].is_number());
    assert_eq!(doc["algorithms"]["kex"], "curve25519-sha256");
    assert_eq!(doc["disconnect_reason"], "normal");
    assert!(doc["error_context"].is_null());
    // Every event keeps the envelope of events.md.
    for event in doc["events"].as_array().into_iter().flatten() {
        assert_eq!(
            keys(event),
            set(&[
                "event_type",
                "timestamp",
                "connection_id",
                "seq",
                "level",
                "code",
                "data"
            ])
        );
    }
}

#[test]
fn audit_findings_appear_only_when_the_audit_ran() {
    let id = Identity::default();
    let mut events = util::ok_session(&id);
    let mut audit = events[0].clone();
    audit.code = "audit-finding".into();
    audit.data = EventData::Audit(AuditData {
        category: "mac".into(),
        algorithm: "hmac-sha1".into(),
        grade: AuditGrade::Weak,
        reason: "SHA-1 is deprecated".into(),
        fix: Some("MACs -hmac-sha1".into()),
    });
    events.push(audit);
    let b = Bundle::from_session(util::session_info(&id), events, vec![]);
    assert_eq!(b.audit.as_ref().map(Vec::len), Some(1));
    let doc: Value = serde_json::from_str(&b.to_json(false)).unwrap_or(Value::Null);
    assert_eq!(doc["audit"][0]["algorithm"], "hmac-sha1");
    assert_eq!(Bundle::from_json(&b.to_json(false)), Ok(b));
}

#[test]
fn transcript_output_is_capped_per_command_keeping_real_lengths() {
    let id = Identity::default();
    let big = "é".repeat(40 * 1024); // 80 KiB of two-byte characters.
    let entry = TranscriptEntry {
        command: "cat big".into(),
        exit_code: Some(0),
        exit_signal: None,
        stdout: Some(big.clone()),
        stderr: Some("short".into()),
        stdout_len: 200_000,
        stderr_len: 0,
        truncated: false,
        command_redacted: false,
    };
    let b = Bundle::from_session(util::session_info(&id), vec![], vec![entry.clone()]);
    let kept = &b.transcript[0];
    let stdout = kept.stdout.clone().unwrap_or_default();
    assert!(stdout.len() <= DEFAULT_OUTPUT_CAP && stdout.len() >= DEFAULT_OUTPUT_CAP - 1);
    assert!(big.starts_with(&stdout));
    assert!(kept.truncated);
    assert_eq!(kept.stdout_len, 200_000, "the real length is kept");
    assert_eq!(
        kept.stderr_len, 5,
        "a length below what was kept is corrected"
    );

    let small = Bundle::from_session_capped(util::session_info(&id), vec![], vec![entry], 10);
    assert_eq!(small.transcript[0].stdout.as_deref(), Some("ééééé"));
    assert_eq!(small.transcript[0].stderr.as_deref(), Some("short"));

    // As the core records a command: it kept 4 of 10 bytes, and says so.
    let recorded = TranscriptEntry::new(
        "yes",
        None,
        Some("PIPE".into()),
        b"y\ny\n",
        b"",
        10,
        0,
        true,
    );
    assert_eq!(
        (recorded.stdout_len, recorded.stderr_len, recorded.truncated),
        (10, 0, true)
    );
    assert_eq!(recorded.exit_signal.as_deref(), Some("PIPE"));
    let unmarked = TranscriptEntry::new("yes", Some(0), None, b"y\n", b"e", 9, 0, false);
    assert!(unmarked.truncated, "kept less than written");
    assert_eq!(unmarked.stderr_len, 1);

    let fine = TranscriptEntry::from_output("true", Some(0), b"ok\n", b"\xff");
    let b = Bundle::from_session(util::session_info(&id), vec![], vec![fine]);
    assert!(!b.transcript[0].truncated);
    assert_eq!(b.transcript[0].stderr.as_deref(), Some("\u{fffd}"));
    assert_eq!(
        b.transcript[0].stderr_len, 1,
        "the real length, not that of the replacement character"
    );
}

#[test]
fn bundle_to_json_to_bundle_is_identical_and_verifies() {
    for b in [ok_bundle(), failed_bundle()] {
        let json = b.to_json(false);
        let back = Bundle::from_json(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, b);
        assert_eq!(back.verify_integrity(), IntegrityStatus::Valid);
        // Writing it again gives the very same document.
        assert_eq!(back.to_json(false), json);
    }
}

#[test]
fn a_redacted_bundle_also_verifies_and_round_trips() {
    let b = failed_bundle();
    let json = b.to_json(true);
    let back = Bundle::from_json(&json).unwrap_or_else(|e| panic!("{e}"));
    assert!(back.redaction.applied);
    assert!(back.host_info.redacted);
    assert_eq!(back.verify_integrity(), IntegrityStatus::Valid);
    assert_eq!(
        back.to_json(true),
        json,
        "a redacted bundle is written as it is"
    );
    assert_eq!(back.to_json(false), json);
    let redacted = b.redacted();
    assert_eq!(Bundle::from_json(&redacted.to_json(false)), Ok(redacted));
}

#[test]
fn an_edited_bundle_still_loads_but_fails_the_integrity_check() {
    let json = ok_bundle().to_json(false);
    for (from, to) in [
        ("OpenSSH_9.2p1", "OpenSSH_9.3p1"),
        ("\"ok\": true", "\"ok\": false"),
        ("curve25519-sha256\"", "curve25519-sha257\""),
        (
            "\"created_ms\": 1763700001000",
            "\"created_ms\": 1763700001001",
        ),
    ] {
        assert!(json.contains(from), "{from}");
        let edited = json.replacen(from, to, 1);
        let b = Bundle::from_json(&edited).unwrap_or_else(|e| panic!("{from}: {e}"));
        match b.verify_integrity() {
            IntegrityStatus::Mismatch { expected, actual } => assert_ne!(expected, actual),
            other => panic!("{from} → {to} should be a mismatch, got {other:?}"),
        }
    }
    // An added key (as a newer 1.x might write) is part of the hash too.
    let added = json.replacen('{', "{\n  \"extra\": 1,", 1);
    let b = Bundle::from_json(&added).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        b.verify_integrity(),
        IntegrityStatus::Mismatch { .. }
    ));
    // Reformatting is not an edit.
    let compact = serde_json::from_str::<Value>(&json)
        .unwrap_or(Value::Null)
        .to_string();
    let b = Bundle::from_json(&compact).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.verify_integrity(), IntegrityStatus::Valid);
    // Without the key, there is nothing to check.
    let mut doc: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
    if let Some(o) = doc.as_object_mut() {
        o.remove("integrity");
    }
    let b = Bundle::from_json(&doc.to_string()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.verify_integrity(), IntegrityStatus::Missing);
}

#[test]
fn the_tree_read_back_from_the_text_is_the_tree_serde_makes() {
    // The digest and the redaction's comparison read a bundle's tree back from its text; it
    // must be exactly `to_value`'s, down to every float's last bit.
    let mut odd = ok_bundle();
    odd.timing.connect_duration_ms = 0.1 + 0.2;
    odd.timing.auth_duration_ms = 1e-7;
    odd.timing.total_duration_ms = 123_456_789.012_345_67;
    for bundle in [ok_bundle(), failed_bundle(), odd.redacted()] {
        let made = serde_json::to_value(&bundle).unwrap_or(Value::Null);
        assert!(made.is_object());
        assert_eq!(json_tree(&bundle).ok(), Some(made));
    }
}

#[test]
fn integrity_is_sha256_of_the_canonical_form_without_the_integrity_key() {
    let json = ok_bundle().to_json(false);
    let mut doc: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
    let stated = doc["integrity"]["sha256"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if let Some(o) = doc.as_object_mut() {
        o.remove("integrity");
    }
    let canonical = canonical_json(&doc);
    assert!(!canonical.contains('\n') && !canonical.contains(": "));
    assert!(
        canonical.starts_with("{\"algorithms\":{"),
        "keys sorted: {}",
        &canonical[..40]
    );
    let digest = hex::encode(sha2::Sha256::digest(canonical.as_bytes()));
    assert_eq!(digest, stated);
    assert_eq!(
        canonical_json(&serde_json::json!({"b": [1, {"d": 2.5, "c": "x\n"}], "a": null})),
        r#"{"a":null,"b":[1,{"c":"x\n","d":2.5}]}"#
    );
}

fn err(input: &str) -> BundleError {
    match Bundle::from_json(input) {
        Ok(_) => panic!("{input:.60} should be refused"),
        Err(e) => e,
    }
}

#[test]
fn from_json_refuses_bad_input_with_clear_messages() {
    let good = ok_bundle().to_json(false);

    let e = err("{\n  \"format\": \"sshdiag-evidence-bundle\",\n  \"version\": \"1.0\" oops }");
    assert!(matches!(e, BundleError::NotJson { line: 3, .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("this file is not JSON (line 3, column"),
        "{e}"
    );

    let e = err("");
    assert!(
        e.to_string()
            .starts_with("this file is not JSON (line 1, column 0: EOF"),
        "{e}"
    );

    let e = err(r#"{"format": "something-else", "version": "1.0"}"#);
    assert_eq!(
        e.to_string(),
        "this is not an sshdiag evidence bundle: its `format` is \"something-else\", expected \"sshdiag-evidence-bundle\""
    );
    let e = err(r#"{"version": "1.0"}"#);
    assert!(e.to_string().contains("its `format` is missing"), "{e}");
    let e = err("[1, 2]");
    assert_eq!(
        e.to_string(),
        "this is not an sshdiag evidence bundle: the file holds an array, not a JSON object"
    );

    let newer = good.replacen("\"version\": \"1.1\"", "\"version\": \"2.3\"", 1);
    let e = err(&newer);
    assert_eq!(
        e.to_string(),
        "this bundle was made by a newer sshdiag (2.x); this viewer reads 1.x"
    );
    assert!(matches!(e, BundleError::NewerVersion { major: 2, .. }));
    // A newer minor version still opens.
    let minor = good.replacen("\"version\": \"1.1\"", "\"version\": \"1.7\"", 1);
    assert!(Bundle::from_json(&minor).is_ok());
    let e = err(&good.replacen("\"version\": \"1.1\"", "\"version\": \"zero\"", 1));
    assert!(e.to_string().contains("version \"zero\""), "{e}");
    let e = err(&good.replacen("\"version\": \"1.1\"", "\"version\": 1", 1));
    assert!(e.to_string().contains("cannot read"), "{e}");

    let huge = format!("{}{}", good, " ".repeat(MAX_BUNDLE_BYTES));
    let e = err(&huge);
    assert!(matches!(e, BundleError::TooLarge { .. }));
    assert!(
        e.to_string()
            .contains("over the 20971520-byte (20 MiB) limit"),
        "{e}"
    );
    assert!(matches!(
        Bundle::from_json_bytes(huge.as_bytes()),
        Err(BundleError::TooLarge { .. })
    ));

    // The eighth event made unreadable: named by its index.
    let mut doc: Value = serde_json::from_str(&good).unwrap_or(Value::Null);
    doc["events"][7]["data"]["status"] = Value::from("sideways");
    let e = err(&doc.to_string());
    assert!(matches!(e, BundleError::BadEvent { index: 7, .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("events[7]: bad data for KEX: unknown variant `sideways`"),
        "{e}"
    );
    doc["events"][7] = serde_json::json!({"event_type": "KEX"});
    assert!(
        err(&doc.to_string())
            .to_string()
            .starts_with("events[7]: missing field")
    );
    doc["events"] = Value::from("none");
    assert_eq!(
        err(&doc.to_string()).to_string(),
        "events: expected a list of events, found a string"
    );
    if let Some(o) = doc.as_object_mut() {
        o.remove("events");
    }
    assert_eq!(
        err(&doc.to_string()).to_string(),
        "events: missing; every bundle has it"
    );

    let mut doc: Value = serde_json::from_str(&good).unwrap_or(Value::Null);
    doc["timing"]["connect_duration_ms"] = Value::from("fast");
    let e = err(&doc.to_string());
    assert!(
        e.to_string()
            .starts_with("timing: invalid type: string \"fast\""),
        "{e}"
    );

    let e = Bundle::from_json_bytes(b"{\"format\": \"sshdiag-evidence-bundle\xff\"}");
    assert_eq!(
        e.err().map(|e| e.to_string()),
        Some("this file is not text (invalid UTF-8 at byte 35), so it is not a bundle".into())
    );

    let jsonl = sshdiag_events::jsonl::to_jsonl(&util::ok_session(&Identity::default()));
    assert_eq!(err(&jsonl), BundleError::LooksLikeJsonl);
    assert!(err(&jsonl).to_string().contains("event log"));

    assert_eq!(
        err("nope").code(),
        sshdiag_events::codes::Code::InvalidInput
    );
}

#[test]
fn software_is_read_from_the_banner_when_not_given() {
    assert_eq!(
        software_from_banner("SSH-2.0-OpenSSH_9.2p1 Debian-2").as_deref(),
        Some("OpenSSH_9.2p1")
    );
    assert_eq!(
        software_from_banner("SSH-2.0-dropbear").as_deref(),
        Some("dropbear")
    );
    assert_eq!(software_from_banner("HTTP/1.1 400 Bad Request"), None);
}

#[test]
fn to_json_lays_out_the_bundle_exactly_as_serde_json_pretty_prints_it() {
    // The file is compact text laid out by hand: strings holding what a layout could trip on
    // (quotes, backslashes, control characters, brackets, braces, commas and colons,
    // non-ASCII), empty lists and objects, and floats must come out as serde_json's own
    // pretty printer writes the same bundle.
    let id = Identity::default();
    let mut tricky = util::transcript();
    tricky.push(TranscriptEntry::from_output(
        r#"printf '{"a": [1, 2], "b": {}}\\n' ,:[]{}"#,
        None,
        "tab\there \"quoted\" back\\slash \u{1} é 😀 [] {} , :".as_bytes(),
        b"",
    ));
    for bundle in [
        util::bundle_of(util::ok_session),
        util::bundle_of(util::failed_session),
        Bundle::from_session(util::session_info(&id), util::ok_session(&id), tricky),
        Bundle::from_session(util::session_info(&id), vec![], vec![]),
    ] {
        for redact in [false, true] {
            let text = bundle.to_json(redact);
            let read = Bundle::from_json(&text).unwrap();
            assert_eq!(
                text,
                serde_json::to_string_pretty(&read).unwrap(),
                "redact: {redact}"
            );
        }
    }
}
