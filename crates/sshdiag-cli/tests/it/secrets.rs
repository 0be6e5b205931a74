//! A secret inside a transport's error text never reaches an event or a bundle.
//!
//! The `sshdiag` binary goes through a relay URL carrying credentials to a real WebSocket
//! listener that speaks the relay protocol and refuses the target with an error whose text
//! quotes a URL with its password and a `password=` option — what a relay, or a proxy in front
//! of one, does when it echoes what it was given. The core scrubs such texts where they enter;
//! this test fails if it stops doing so.

use std::process::Command;

use futures::{SinkExt, StreamExt};
use sshdiag_events::relay::SUBPROTOCOL;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

use crate::common::bundle_flags;

const SECRET: &str = "hunter2";

/// Accept one WebSocket as a relay would, read the client's `connect` frame, and refuse it
/// with an error text carrying the secret twice. Returns the frame the client sent.
// tungstenite's handshake callback fixes its (large) error type.
#[allow(clippy::result_large_err)]
async fn refusing_relay(listener: TcpListener) -> String {
    let (tcp, _) = listener.accept().await.expect("accept");
    let with_protocol = |_: &Request, mut response: Response| {
        let value = SUBPROTOCOL.parse().expect("header value");
        response
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", value);
        Ok(response)
    };
    let mut ws = tokio_tungstenite::accept_hdr_async(tcp, with_protocol)
        .await
        .expect("WebSocket handshake");
    let first = match ws.next().await {
        Some(Ok(Message::Text(t))) => t.to_string(),
        other => panic!("expected the connect frame, got {other:?}"),
    };
    let message = format!(
        "upstream ws://probe:{SECRET}@10.9.8.7:8022/ws refused the target (password={SECRET})"
    );
    let frame = serde_json::json!({"type": "error", "code": "tcp-refused", "message": message});
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .expect("send the error frame");
    let _ = ws.close(None).await;
    first
}

#[test]
fn a_secret_in_a_relay_error_text_reaches_no_event_and_no_bundle() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let relay = runtime.spawn(refusing_relay(listener));
    let dir = tempfile::tempdir().expect("temp dir");
    let events = dir.path().join("events.jsonl");
    let bundle = dir.path().join("bundle.json");
    let raw = dir.path().join("bundle-raw.json");
    let url = format!("ws://probe:{SECRET}@127.0.0.1:{port}/ws?password={SECRET}");
    let out = Command::new(env!("CARGO_BIN_EXE_sshdiag"))
        .args(["--probe-auth", "--events", "--proxy", &url, "--events-file"])
        .arg(&events)
        .args(bundle_flags(&bundle, &raw))
        .args(["-p", "22", "someone@target.example"])
        .env("HOME", dir.path())
        .output()
        .expect("run sshdiag");
    let connect_frame = runtime.block_on(relay).expect("the relay task");
    assert!(
        connect_frame.contains("target.example"),
        "the relay was asked for the target: {connect_frame}"
    );
    assert_eq!(out.status.code(), Some(255));
    let events_text = std::fs::read_to_string(&events).expect("events file");
    // The error text did arrive: the run failed on it, as a refused connection.
    assert!(
        events_text.contains("ConnectionRefused") && events_text.contains("refused the target"),
        "{events_text}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    for (what, text) in [
        ("events file", events_text),
        ("stderr (events and summary)", stderr.to_string()),
        ("stdout", String::from_utf8_lossy(&out.stdout).to_string()),
        (
            "redacted bundle",
            std::fs::read_to_string(&bundle).expect("bundle"),
        ),
        (
            "raw bundle",
            std::fs::read_to_string(&raw).expect("raw bundle"),
        ),
    ] {
        assert!(
            !text.contains(SECRET),
            "the secret leaked into the {what}:\n{text}"
        );
    }
}
