//! The JSONL stream: nbs-ssh's own examples, the collector, line errors, and nbs-ssh users'
//! `jq` filters run with the real `jq` over our output.

use std::cell::RefCell;
use std::process::Command;
use std::rc::Rc;

use serde_json::Value;
use sshdiag_events::codes::Code;
use sshdiag_events::event::*;
use sshdiag_events::jsonl::{
    EventBuilder, EventCollector, ReadOptions, parse_line, read_jsonl, read_jsonl_with,
    round_timestamp, to_jsonl, to_line,
};

use crate::util::{self, Identity, json_eq};

/// The four one-line events of the nbs-ssh guide, verbatim.
const SEED_LINES: &str = r#"{"event_type": "CONNECT", "timestamp": 1234567890.123, "data": {"status": "initiating", "host": "example.com", "port": 22}}
{"event_type": "AUTH", "timestamp": 1234567890.234, "data": {"status": "success", "method": "private_key", "duration_ms": 45.2}}
{"event_type": "EXEC", "timestamp": 1234567890.345, "data": {"command": "ls", "exit_code": 0, "duration_ms": 12.3}}
{"event_type": "DISCONNECT", "timestamp": 1234567890.456, "data": {"reason": "normal"}}
"#;

/// The guide's multi-line examples, with its `// …` comments taken out so they are JSON.
const SEED_OBJECTS: [&str; 6] = [
    r#"{
"event_type": "CONNECT",
"timestamp": 1234567890.123,
"data": {
"status": "initiating",
"host": "example.com",
"port": 22,
"username": "alice",
"auth_method": "private_key"
}
}"#,
    r#"{
"event_type": "AUTH",
"timestamp": 1234567890.234,
"data": {
"status": "success",
"method": "password",
"username": "alice",
"duration_ms": 45.2,
"error_type": "PermissionDenied",
"error_message": "..."
}
}"#,
    r#"{
"event_type": "EXEC",
"timestamp": 1234567890.345,
"data": {
"command": "ls -la",
"streaming": false,
"duration_ms": 123.4,
"exit_code": 0,
"stdout_len": 1024,
"stderr_len": 0
}
}"#,
    r#"{
"event_type": "ERROR",
"timestamp": 1234567890.456,
"data": {
"error_type": "ConnectionTimeout",
"message": "Connection timed out after 30.0 seconds",
"host": "example.com",
"port": 22
}
}"#,
    r#"{
"event_type": "STATE_CHANGE",
"timestamp": 1234567890.567,
"data": {
"from_state": "connecting",
"to_state": "connected",
"reconnection_count": 0
}
}"#,
    r#"{
"event_type": "FORWARD",
"timestamp": 1234567890.678,
"data": {
"status": "established",
"forward_type": "local",
"local_host": "localhost",
"local_port": 3306,
"remote_host": "db.server",
"remote_port": 3306
}
}"#,
];

/// Every key path of `seed` must be in `ours` with the same value.
fn assert_keeps_seed_fields(seed: &Value, ours: &Value, path: &str) {
    match seed {
        Value::Object(map) => {
            for (key, value) in map {
                let here = format!("{path}.{key}");
                let Some(mine) = ours.get(key) else {
                    panic!("our output lost the seed field {here}: {ours}");
                };
                assert_keeps_seed_fields(value, mine, &here);
            }
        }
        _ => assert!(json_eq(seed, ours), "{path}: seed {seed} vs ours {ours}"),
    }
}

#[test]
fn seed_lines_load_in_nbs_ssh_mode_and_keep_every_field() {
    let read = read_jsonl_with(SEED_LINES, ReadOptions::nbs_ssh());
    assert!(read.is_clean(), "{:?}", read.errors);
    assert_eq!(read.events.len(), 4);
    let seqs: Vec<u64> = read.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [0, 1, 2, 3]);
    let codes: Vec<&str> = read.events.iter().map(|e| e.code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "connect-initiating",
            "auth-success",
            "exec-finished",
            "disconnect-normal"
        ]
    );
    assert!(matches!(
        &read.events[1].data,
        EventData::Auth(AuthData { method: Some(AuthMethod::PrivateKey), duration_ms: Some(d), .. }) if *d == 45.2
    ));
    for (line, event) in SEED_LINES.lines().zip(&read.events) {
        let seed: Value = serde_json::from_str(line).unwrap_or(Value::Null);
        let ours: Value = serde_json::from_str(&to_line(event)).unwrap_or(Value::Null);
        assert_keeps_seed_fields(&seed, &ours, "");
        // Our line also has the whole envelope.
        for key in sshdiag_events::jsonl::ENVELOPE_KEYS {
            assert!(ours.get(key).is_some(), "{key} missing from {ours}");
        }
    }
}

#[test]
fn seed_objects_parse_with_our_types_and_keep_every_field() {
    let expected_types = [
        "CONNECT",
        "AUTH",
        "EXEC",
        "ERROR",
        "STATE_CHANGE",
        "FORWARD",
    ];
    for (text, event_type) in SEED_OBJECTS.iter().zip(expected_types) {
        let seed: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let compact = seed.to_string();
        let event = parse_line(&compact, ReadOptions::nbs_ssh(), 0)
            .unwrap_or_else(|e| panic!("{event_type}: {e}"));
        assert_eq!(event.event_type_name(), event_type);
        assert!(
            !matches!(event.data, EventData::Other { .. }),
            "{event_type} must load into its typed data"
        );
        let ours: Value = serde_json::from_str(&to_line(&event)).unwrap_or(Value::Null);
        assert_keeps_seed_fields(&seed, &ours, "");
    }
    // The seed's ERROR maps to our code for its type, at level error.
    let error = parse_line(
        &serde_json::from_str::<Value>(SEED_OBJECTS[3])
            .unwrap_or(Value::Null)
            .to_string(),
        ReadOptions::nbs_ssh(),
        0,
    );
    let error = error.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(error.code, "connection-timeout");
    assert_eq!(error.level, Level::Error);
}

#[test]
fn strict_reading_reports_seed_lines_as_lacking_envelope_keys() {
    let read = read_jsonl(SEED_LINES);
    assert!(read.events.is_empty());
    assert_eq!(read.errors.len(), 4);
    assert_eq!(read.errors[0].line, 1);
    assert!(
        read.errors[0]
            .message
            .contains("missing envelope key(s): connection_id, seq, level, code"),
        "{}",
        read.errors[0].message
    );
    assert!(read.errors[0].message.contains("nbs-ssh"));
}

#[test]
fn a_bad_line_is_reported_with_its_number_and_the_rest_still_loads() {
    let events = util::ok_session(&Identity::default());
    let mut lines: Vec<String> = events.iter().map(to_line).collect();
    lines.insert(2, "this is not json\n".into());
    lines.insert(4, "\n".into());
    lines.insert(5, "   \r\n".into());
    lines.insert(7, "[1,2,3]\n".into());
    lines.insert(
        9,
        r#"{"event_type":"AUTH","timestamp":1.0,"connection_id":"x","seq":1,"level":"info","code":"auth-attempt","data":{"status":"bogus"}}"#
            .to_string()
            + "\n",
    );
    lines.insert(
        10,
        r#"{"event_type":"AUTH","timestamp":"soon","connection_id":"x","seq":1,"level":"info","code":"auth-attempt","data":{}}"#
            .to_string()
            + "\n",
    );
    // A torn last line, as a crash mid-write leaves it.
    let mut text: String = lines.concat();
    text.push_str(r#"{"event_type":"EXEC","timest"#);
    let read = read_jsonl(&text);
    assert_eq!(read.events, events, "every good line loads, in order");
    let numbers: Vec<usize> = read.errors.iter().map(|e| e.line).collect();
    assert_eq!(numbers, [3, 8, 10, 11, lines.len() + 1]);
    assert!(
        read.errors[0]
            .message
            .starts_with("not JSON (column 2): expected"),
        "{}",
        read.errors[0]
    );
    assert!(
        read.errors[1]
            .message
            .contains("not a JSON object but an array")
    );
    assert!(
        read.errors[2].message.contains("bad data for AUTH"),
        "{}",
        read.errors[2]
    );
    assert!(
        read.errors[3].message.contains("invalid type"),
        "{}",
        read.errors[3]
    );
    assert_eq!(
        read.errors[0].to_string(),
        format!("line 3: {}", read.errors[0].message)
    );
}

#[test]
fn unknown_event_types_and_unknown_keys_are_kept_or_ignored() {
    let line = r#"{"event_type":"TELEPORT","timestamp":2.5,"connection_id":"x","seq":0,"level":"debug","code":"teleport-ok","data":{"to":"mars"}}"#;
    let read = read_jsonl(line);
    assert!(read.is_clean());
    assert_eq!(read.events[0].event_type_name(), "TELEPORT");
    let back: Value = serde_json::from_str(&to_line(&read.events[0])).unwrap_or(Value::Null);
    assert_eq!(
        back,
        serde_json::from_str::<Value>(line).unwrap_or(Value::Null)
    );

    let line = r#"{"event_type":"KEEPALIVE","timestamp":2.5,"connection_id":"x","seq":0,"level":"debug","code":"keepalive-ok","data":{"rtt_ms":3.0,"missed":0,"future_key":[1]},"future_envelope":1}"#;
    assert!(read_jsonl(line).is_clean());
}

#[test]
fn collector_assigns_seq_without_gaps_and_streams_every_line() {
    let lines: Rc<RefCell<Vec<String>>> = Rc::default();
    let sink_lines = Rc::clone(&lines);
    let mut collector =
        EventCollector::with_sink("c7f3a91e2b", move |event: &Event, line: &str| {
            assert_eq!(line, to_line(event));
            sink_lines.borrow_mut().push(line.to_string());
        });
    for event in util::ok_session(&Identity::default()) {
        collector.push_built(
            EventBuilder::new(
                Code::from_wire(&event.code).unwrap_or(Code::Internal),
                event.data,
            )
            .level(event.level)
            .at(event.timestamp + 0.000_4),
        );
    }
    let events = collector.events();
    assert!(!events.is_empty());
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.seq, i as u64);
        assert_eq!(event.connection_id, "c7f3a91e2b");
        // Millisecond precision: three decimals at most.
        assert_eq!(event.timestamp, round_timestamp(event.timestamp));
        let printed = serde_json::to_string(&event.timestamp).unwrap_or_default();
        let decimals = printed.split('.').nth(1).map_or(0, str::len);
        assert!(decimals <= 3, "{printed}");
    }
    assert_eq!(lines.borrow().concat(), collector.to_jsonl());
    assert!(
        lines
            .borrow()
            .iter()
            .all(|l| l.ends_with('\n') && l.matches('\n').count() == 1)
    );
    assert_eq!(collector.by_type(EventType::Auth).count(), 3);
    assert_eq!(collector.events_since(collector.next_seq() - 2).len(), 2);
    assert_eq!(collector.events_since(u64::MAX).len(), 0);
    let read = read_jsonl(&collector.to_jsonl());
    assert!(read.is_clean());
    assert_eq!(read.events, collector.events());
}

#[test]
fn collector_push_fills_the_envelope() {
    let mut c = EventCollector::new("abc");
    let first = c
        .push(
            Level::Warn,
            Code::KeepaliveMissed,
            EventData::Keepalive(KeepaliveData {
                rtt_ms: None,
                missed: 1,
                path: None,
            }),
            1_763_700_000.123_456_7,
        )
        .clone();
    assert_eq!(first.seq, 0);
    assert_eq!(first.code, "keepalive-missed");
    assert_eq!(first.timestamp, 1_763_700_000.123);
    assert_eq!(
        to_line(&first),
        "{\"event_type\":\"KEEPALIVE\",\"timestamp\":1763700000.123,\"connection_id\":\"abc\",\"seq\":0,\"level\":\"warn\",\"code\":\"keepalive-missed\",\"data\":{\"missed\":1}}\n"
    );
    let second = c.push(
        Level::Info,
        Code::KeepaliveOk,
        EventData::Keepalive(KeepaliveData::default()),
        f64::NAN,
    );
    assert_eq!(second.seq, 1);
    assert_eq!(
        second.timestamp, 0.0,
        "a broken clock still makes a loadable line"
    );
}

/// Runs the real `jq -c FILTER` (from the tools table) on `input`; its output lines.
fn jq(filter: &str, input: &str) -> Vec<String> {
    let jq = sshdiag_testkit::tools::JQ
        .require()
        .unwrap_or_else(|e| panic!("these tests run users' jq filters with the real jq: {e}"));
    let mut command = Command::new(jq);
    command.args(["-c", filter]);
    let what = format!("jq {filter:?}");
    sshdiag_testkit::procs::stdout_of_fed(&mut command, input.as_bytes(), &what)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn nbs_ssh_jq_filters_work_on_our_output() {
    let id = Identity::default();
    let events = util::failed_session(&id);
    let jsonl = to_jsonl(&events);

    // Filter by event type.
    let errors = jq(r#"select(.event_type == "ERROR")"#, &jsonl);
    let expected: Vec<&Event> = events
        .iter()
        .filter(|e| e.event_type_name() == "ERROR")
        .collect();
    assert_eq!(errors.len(), 1);
    for (line, event) in errors.iter().zip(expected) {
        let got: Value = serde_json::from_str(line).unwrap_or(Value::Null);
        let want: Value = serde_json::from_str(&to_line(event)).unwrap_or(Value::Null);
        assert!(json_eq(&got, &want), "{got} vs {want}");
        assert_eq!(got["data"]["error_type"], "AuthFailed");
        assert_eq!(
            got["data"]["message"],
            "Every method was rejected for alice"
        );
    }

    // Extract connection timing.
    let durations = jq(
        r#"select(.event_type == "AUTH") | .data.duration_ms"#,
        &jsonl,
    );
    // The attempt has no duration yet (jq prints null, as it would for nbs-ssh's lines).
    assert_eq!(durations, ["null", "45.2"]);

    // Find failed operations.
    let failed = jq(r#"select(.data.status == "failed")"#, &jsonl);
    assert_eq!(failed.len(), 1);
    let got: Value = serde_json::from_str(&failed[0]).unwrap_or(Value::Null);
    assert_eq!(got["event_type"], "AUTH");
    assert_eq!(got["code"], "auth-rejected");
    assert_eq!(got["data"]["method"], "password");
}
