//! Origin, subprotocol, handshake deadline, frame size, connection limits, idle and session
//! timeouts, and hostile frames: each refused cleanly with a control frame, a log line and a
//! metric, and the relay keeps serving.

use futures::SinkExt;
use sshdiag_events::relay::{ClosedBy, ControlFrame, RelayErrorCode};
use tokio_tungstenite::tungstenite::Message;

use crate::util::{
    Got, TestRelay, control, echo_relay, expect_error, http_get, metric, next, send_connect,
    ws_connect,
};

/// Reads until the relay's `closed` frame.
async fn expect_closed(ws: &mut crate::util::Ws) -> (ClosedBy, String, u64, u64) {
    loop {
        match next(ws).await {
            Got::Control(ControlFrame::Closed {
                by,
                reason,
                bytes_up,
                bytes_down,
            }) => return (by, reason, bytes_up, bytes_down),
            Got::Control(_) | Got::Data(_) => continue,
            Got::Close(code) => panic!("closed ({code:?}) without a `closed` frame"),
        }
    }
}

#[tokio::test]
async fn a_foreign_origin_is_refused_at_the_upgrade() {
    let relay = TestRelay::start(&[]).await;
    let error = ws_connect(relay.addr(), Some("https://evil.example"))
        .await
        .expect_err("a foreign Origin must not upgrade");
    match error {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            assert_eq!(response.status().as_u16(), 403)
        }
        other => panic!("expected HTTP 403, got {other:?}"),
    }
    assert!(
        relay
            .log
            .json()
            .iter()
            .any(|l| l["code"] == "relay-origin-refused")
    );
    // Same origin and no Origin (non-browser clients) are both fine.
    let same = format!("http://{}", relay.addr());
    ws_connect(relay.addr(), Some(&same))
        .await
        .expect("same origin upgrades");
    ws_connect(relay.addr(), None)
        .await
        .expect("no Origin upgrades");
    assert_eq!(relay.denied_count("origin").await, 1.0);
    relay.relay.shutdown().await;

    let relay = TestRelay::start(&["--origin", "https://portal.example"]).await;
    ws_connect(relay.addr(), Some("https://portal.example"))
        .await
        .expect("a listed Origin upgrades");
    let same = format!("http://{}", relay.addr());
    assert!(
        ws_connect(relay.addr(), Some(&same)).await.is_err(),
        "--origin replaces same-origin"
    );
    relay.relay.shutdown().await;
}

#[tokio::test]
async fn an_upgrade_without_the_subprotocol_is_refused() {
    let relay = TestRelay::start(&[]).await;
    let (status, body) = http_get(
        relay.addr(),
        "/ws",
        &[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade, close"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("sshdiag.v1"));
    relay.relay.shutdown().await;
}

#[tokio::test]
async fn a_silent_client_is_dropped_at_the_handshake_deadline() {
    let relay = TestRelay::start(&["--handshake-timeout", "300ms"]).await;
    let mut ws = relay.ws().await;
    let started = std::time::Instant::now();
    let (code, _) = expect_error(&mut ws).await;
    assert_eq!(code, RelayErrorCode::Limit);
    assert!(started.elapsed() >= std::time::Duration::from_millis(250));
    let (by, _, _, _) = expect_closed(&mut ws).await;
    assert_eq!(by, ClosedBy::Relay);
    assert!(matches!(next(&mut ws).await, Got::Close(_)));
    assert!(
        relay
            .log
            .json()
            .iter()
            .any(|l| l["code"] == "relay-handshake-timeout")
    );
    assert_eq!(relay.limit_count("handshake-timeout").await, 1.0);
    let metrics = relay.metrics().await;
    assert_eq!(metric(&metrics, "sshdiag_proxy_active_connections"), 0.0);
    relay.relay.shutdown().await;
}

#[tokio::test]
async fn an_oversized_frame_is_refused() {
    let (port, relay) = echo_relay(&["--max-frame-size", "4096"]).await;
    // Just over the limit: read whole, refused with `limit`.
    let mut ws = relay.connected(port, "big-frame").await;
    ws.send(Message::binary(vec![7u8; 4096]))
        .await
        .expect("send");
    match next(&mut ws).await {
        Got::Data(data) => assert_eq!(data.len(), 4096, "a frame at the limit passes"),
        other => panic!("expected the echo, got {other:?}"),
    }
    ws.send(Message::binary(vec![7u8; 4097]))
        .await
        .expect("send");
    let (code, message) = expect_error(&mut ws).await;
    assert_eq!(code, RelayErrorCode::Limit, "{message}");
    let (by, _, up, _) = expect_closed(&mut ws).await;
    assert_eq!(by, ClosedBy::Relay);
    assert_eq!(up, 4096, "the oversized frame was not forwarded");
    relay.wait_line("big-frame", "relay-limit").await;

    // Far over the limit (beyond what the WebSocket layer reads): the session still ends with
    // a limit line and the relay keeps serving.
    let mut ws = relay.connected(port, "huge-frame").await;
    let _ = ws.send(Message::binary(vec![7u8; 1 << 20])).await;
    loop {
        match next(&mut ws).await {
            Got::Close(_) => break,
            Got::Control(ControlFrame::Closed { .. }) => break,
            _ => continue,
        }
    }
    relay.wait_line("huge-frame", "relay-limit").await;
    let (status, _) = relay.get("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(relay.limit_count("frame-size").await, 2.0);
    relay.relay.shutdown().await;
}

#[tokio::test]
async fn connection_n_plus_one_gets_limit() {
    let (port, relay) = echo_relay(&["--max-connections", "2"]).await;
    let mut first = relay.connected(port, "slot-1").await;
    let _second = relay.connected(port, "slot-2").await;
    let mut third = relay.ws().await;
    let (code, message) = expect_error(&mut third).await;
    assert_eq!(code, RelayErrorCode::Limit);
    assert!(message.contains("connection limit"), "{message}");
    assert!(relay.log.json().iter().any(|l| l["code"] == "relay-limit"));
    assert_eq!(relay.limit_count("max-connections").await, 1.0);
    // A freed slot is reusable: the count does not leak.
    first.close(None).await.expect("close");
    relay.wait_line("slot-1", "relay-closed").await;
    let _again = relay.connected(port, "slot-3").await;
    relay.relay.shutdown().await;
}

#[tokio::test]
async fn connections_per_ip_are_limited() {
    let (port, relay) = echo_relay(&["--max-per-ip", "1"]).await;
    let _first = relay.connected(port, "ip-1").await;
    let mut second = relay.ws().await;
    let (code, message) = expect_error(&mut second).await;
    assert_eq!(code, RelayErrorCode::Limit);
    assert!(message.contains("127.0.0.1"), "{message}");
    assert_eq!(relay.limit_count("max-per-ip").await, 1.0);
    relay.relay.shutdown().await;
}

#[tokio::test]
async fn idle_and_session_timeouts_close_with_limit() {
    let (port, relay) = echo_relay(&["--idle-timeout", "300ms"]).await;
    let mut ws = relay.connected(port, "idle").await;
    let (code, message) = expect_error(&mut ws).await;
    assert_eq!(code, RelayErrorCode::Limit);
    assert!(message.contains("no data"), "{message}");
    assert_eq!(expect_closed(&mut ws).await.0, ClosedBy::Relay);
    relay.relay.shutdown().await;

    let relay = TestRelay::start(&[
        "--allow",
        &format!("127.0.0.1:{port}"),
        "--idle-timeout",
        "0",
        "--max-session",
        "400ms",
    ])
    .await;
    let mut ws = relay.connected(port, "long").await;
    // Busy all along: the session limit still applies.
    let busy = async {
        loop {
            if ws.send(Message::binary(vec![1u8; 100])).await.is_err() {
                break;
            }
            match next(&mut ws).await {
                Got::Data(_) => {}
                Got::Control(ControlFrame::Error { code, .. }) => return Some(code),
                _ => return None,
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        None
    };
    assert_eq!(busy.await, Some(RelayErrorCode::Limit));
    relay.wait_line("long", "relay-limit").await;
    assert_eq!(relay.limit_count("max-session").await, 1.0);
    relay.relay.shutdown().await;
}

#[tokio::test]
async fn hostile_frames_end_the_session_cleanly() {
    let (port, relay) = echo_relay(&[]).await;
    let before_connect: Vec<(&str, Message)> = vec![
        ("binary first", Message::binary(vec![0u8; 10])),
        ("not json", Message::text("{{{")),
        (
            "unknown type",
            Message::text(r#"{"type":"shell","cmd":"id"}"#),
        ),
        (
            "missing fields",
            Message::text(r#"{"type":"connect","host":"x"}"#),
        ),
        (
            "wrong types",
            Message::text(r#"{"type":"connect","host":1,"port":"22","connection_id":[]}"#),
        ),
        (
            "port out of range",
            Message::text(r#"{"type":"connect","host":"x","port":70000,"connection_id":"a"}"#),
        ),
        (
            "huge connect",
            Message::text(format!(
                r#"{{"type":"connect","host":"{}","port":22,"connection_id":"a"}}"#,
                "a".repeat(20_000)
            )),
        ),
    ];
    for (what, frame) in before_connect {
        let mut ws = relay.ws().await;
        ws.send(frame).await.expect("send");
        let mut saw_end = false;
        for _ in 0..3 {
            match next(&mut ws).await {
                Got::Control(ControlFrame::Closed { by, reason, .. }) => {
                    assert_eq!(by, ClosedBy::Relay, "{what}");
                    assert!(
                        reason.starts_with("bad-frame") || reason.starts_with("limit"),
                        "{what}: {reason}"
                    );
                    saw_end = true;
                }
                Got::Control(ControlFrame::Error { code, .. }) => {
                    assert_eq!(code, RelayErrorCode::Limit, "{what}")
                }
                Got::Close(_) => break,
                other => panic!("{what}: unexpected {other:?}"),
            }
        }
        assert!(saw_end, "{what}: expected a `closed` frame");
    }
    let bad = relay
        .log
        .json()
        .iter()
        .filter(|l| l["code"] == "relay-bad-frame")
        .count();
    assert_eq!(bad, 6, "one bad-frame line each (the huge one is a limit)");

    // A text frame after connect.
    let mut ws = relay.connected(port, "text-after").await;
    ws.send(Message::text("hello")).await.expect("send");
    let (by, reason, _, _) = expect_closed(&mut ws).await;
    assert_eq!(by, ClosedBy::Relay);
    assert!(reason.contains("text frame"), "{reason}");
    relay.wait_line("text-after", "relay-bad-frame").await;
    assert_eq!(
        metric(&relay.metrics().await, "sshdiag_proxy_bad_frames_total"),
        7.0
    );

    // Still serving, nothing stuck.
    assert_eq!(relay.get("/healthz").await.0, 200);
    let mut ws = relay.connected(port, "after-hostile").await;
    ws.send(Message::binary(b"ping".to_vec()))
        .await
        .expect("send");
    assert!(matches!(next(&mut ws).await, Got::Data(d) if d == b"ping"));
    drop(ws);
    relay.wait_line("after-hostile", "relay-closed").await;
    let deadline = std::time::Instant::now() + crate::util::WAIT;
    while relay.relay.active_connections() > 0 {
        assert!(std::time::Instant::now() < deadline, "sessions left behind");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    relay.relay.shutdown().await;
}

#[tokio::test]
async fn ping_before_connect_is_fine() {
    let (port, relay) = echo_relay(&[]).await;
    let mut ws = relay.ws().await;
    ws.send(Message::Ping(b"x".to_vec().into()))
        .await
        .expect("ping");
    send_connect(&mut ws, "127.0.0.1", port, "pinged", None).await;
    match control(&mut ws).await {
        ControlFrame::Resolved { .. } => {}
        other => panic!("{other:?}"),
    }
    relay.relay.shutdown().await;
}

#[tokio::test]
async fn an_app_ping_after_connect_gets_its_pong_and_data_still_flows() {
    let (port, relay) = echo_relay(&[]).await;
    let mut ws = relay.connected(port, "app-ping").await;
    ws.send(Message::text(r#"{"type":"ping","id":7}"#))
        .await
        .expect("send");
    assert!(matches!(
        next(&mut ws).await,
        Got::Control(ControlFrame::Pong { id: 7 })
    ));
    ws.send(Message::binary(b"after".to_vec()))
        .await
        .expect("send");
    assert!(matches!(next(&mut ws).await, Got::Data(d) if d == b"after"));
    // A ping is no connect frame: as the first frame it is refused.
    let mut ws = relay.ws().await;
    ws.send(Message::text(r#"{"type":"ping","id":1}"#))
        .await
        .expect("send");
    let (by, reason, _, _) = expect_closed(&mut ws).await;
    assert_eq!(by, ClosedBy::Relay);
    assert!(reason.starts_with("bad-frame"), "{reason}");
    relay.relay.shutdown().await;
}
