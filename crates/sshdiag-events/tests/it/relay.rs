//! The relay's control frames: read by hand (for the wasm module's size), they must read
//! exactly what serde's derive for the same internally tagged enum reads.

use serde::Deserialize;
use sshdiag_events::relay::{ClosedBy, ControlFrame, RelayErrorCode, TcpAttempt};

/// What `ControlFrame` was, with serde's derive: the reference.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Derived {
    Resolved {
        addrs: Vec<String>,
        ms: f64,
    },
    Connected {
        peer: String,
        #[serde(default)]
        local: Option<String>,
        ms: f64,
        #[serde(default)]
        attempts: Vec<TcpAttempt>,
    },
    Error {
        code: RelayErrorCode,
        message: String,
        #[serde(default)]
        attempts: Vec<TcpAttempt>,
    },
    Closed {
        by: ClosedBy,
        reason: String,
        bytes_up: u64,
        bytes_down: u64,
    },
    Pong {
        id: u64,
    },
}

fn same(frame: &ControlFrame, reference: &Derived) -> bool {
    match (frame, reference) {
        (ControlFrame::Resolved { addrs, ms }, Derived::Resolved { addrs: a, ms: m }) => {
            addrs == a && ms == m
        }
        (
            ControlFrame::Connected {
                peer,
                local,
                ms,
                attempts,
            },
            Derived::Connected {
                peer: p,
                local: l,
                ms: m,
                attempts: a,
            },
        ) => peer == p && local == l && ms == m && attempts == a,
        (
            ControlFrame::Error {
                code,
                message,
                attempts,
            },
            Derived::Error {
                code: c,
                message: m,
                attempts: a,
            },
        ) => code == c && message == m && attempts == a,
        (
            ControlFrame::Closed {
                by,
                reason,
                bytes_up,
                bytes_down,
            },
            Derived::Closed {
                by: b,
                reason: r,
                bytes_up: u,
                bytes_down: d,
            },
        ) => by == b && reason == r && bytes_up == u && bytes_down == d,
        (ControlFrame::Pong { id }, Derived::Pong { id: i }) => id == i,
        _ => false,
    }
}

#[test]
fn every_frame_reads_as_the_derive_read_it_and_every_bad_one_is_refused_as_it_was() {
    let frames = [
        r#"{"type":"resolved","addrs":["127.0.0.1","::1"],"ms":0.1}"#,
        r#"{"type":"resolved","addrs":[],"ms":3}"#,
        r#"{"type":"connected","peer":"127.0.0.1:22","ms":1.25}"#,
        r#"{"type":"connected","peer":"127.0.0.1:22","local":"127.0.0.1:5000","ms":1.25,"attempts":[{"peer":"[::1]:22","code":"tcp-refused","message":"refused","ms":0.5}],"extra":{"x":[1]}}"#,
        r#"{"type":"connected","peer":"p","local":null,"ms":1}"#,
        r#"{"ms":2,"type":"error","code":"dns-failed","message":"no such host"}"#,
        r#"{"type":"closed","by":"target","reason":"eof","bytes_up":10,"bytes_down":20}"#,
        r#"{"type":"pong","id":18446744073709551615}"#,
        // Refused by both.
        r#"{"type":"pong"}"#,
        r#"{"type":"pong","id":-1}"#,
        r#"{"type":"sideways","id":1}"#,
        r#"{"id":1}"#,
        r#"{"type":5}"#,
        r#"{"type":"closed","by":"nobody","reason":"","bytes_up":0,"bytes_down":0}"#,
        r#"{"type":"connected","peer":"p","ms":"fast"}"#,
        r#"{"type":"connected","peer":"p","ms":1,"attempts":null}"#,
        r#"{"type":"error","code":"tcp-refused","message":"m","attempts":[{"peer":"p"}]}"#,
        r#"["resolved"]"#,
        r#""pong""#,
        "null",
        "{",
        "",
    ];
    for text in frames {
        let ours = serde_json::from_str::<ControlFrame>(text);
        let reference = serde_json::from_str::<Derived>(text);
        match (&ours, &reference) {
            (Ok(frame), Ok(derived)) => assert!(same(frame, derived), "{text}"),
            (Err(_), Err(_)) => {}
            _ => panic!("{text}: {ours:?} against {reference:?}"),
        }
    }
    // Every frame the relay writes reads back whole.
    let written = ControlFrame::Closed {
        by: ClosedBy::Relay,
        reason: "limit".into(),
        bytes_up: 1,
        bytes_down: 2,
    };
    let text = serde_json::to_string(&written).unwrap();
    assert_eq!(
        serde_json::from_str::<ControlFrame>(&text).unwrap(),
        written
    );
    let unknown = serde_json::from_str::<ControlFrame>(r#"{"type":"sideways"}"#).unwrap_err();
    assert!(
        unknown
            .to_string()
            .starts_with("unknown variant `sideways`, expected one of `resolved`"),
        "{unknown}"
    );
}
