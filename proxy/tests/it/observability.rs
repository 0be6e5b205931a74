//! Logs, metrics, health, the static page and graceful shutdown.

use futures::SinkExt;
use sshdiag_events::relay::{ClosedBy, ControlFrame};
use tokio_tungstenite::tungstenite::Message;

use crate::util::{Got, TestRelay, echo_relay, echo_server, expect_error, metric, next};

#[tokio::test]
async fn every_connection_line_carries_the_connection_id_and_metrics_count() {
    let echo = echo_server().await;
    let port = echo.port();
    let relay = TestRelay::start(&[
        "--allow",
        &format!("127.0.0.1:{port}"),
        "--allow",
        &format!("*:{port}"),
    ])
    .await;
    let mut ws = relay.connected(port, "c7f3a91e2b").await;
    ws.send(Message::binary(b"hello".to_vec()))
        .await
        .expect("send");
    assert!(matches!(next(&mut ws).await, Got::Data(d) if d == b"hello"));
    ws.close(None).await.expect("close");
    relay.wait_line("c7f3a91e2b", "relay-closed").await;
    let mut denied = relay.open("10.0.0.1", port, "d00d", None).await;
    expect_error(&mut denied).await;
    relay.wait_line("d00d", "relay-denied").await;

    let lines = relay.lines_for("c7f3a91e2b");
    let codes: Vec<&str> = lines.iter().filter_map(|l| l["code"].as_str()).collect();
    assert_eq!(
        codes,
        [
            "relay-connect-request",
            "relay-resolved",
            "relay-tcp-connected",
            "relay-closed"
        ]
    );
    for line in &lines {
        for key in [
            "ts",
            "level",
            "code",
            "connection_id",
            "client_ip",
            "target",
            "message",
        ] {
            assert!(line.get(key).is_some(), "{key} missing in {line}");
        }
        assert_eq!(line["client_ip"], "127.0.0.1");
        assert_eq!(line["target"], format!("127.0.0.1:{port}"));
    }
    let connected = &lines[2];
    assert_eq!(connected["peer"], echo.to_string());
    assert!(connected["ms"].is_number());
    let closed = &lines[3];
    assert_eq!(closed["bytes_up"], 5);
    assert_eq!(closed["bytes_down"], 5);
    // The WebSocket-accepted line comes before the id is known: it has the client IP.
    assert!(
        relay
            .log
            .json()
            .iter()
            .any(|l| l["code"] == "relay-ws-accepted" && l["client_ip"] == "127.0.0.1")
    );

    let metrics = relay.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "sshdiag_proxy_connections_total{result=\"connected\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &metrics,
            "sshdiag_proxy_connections_total{result=\"denied-private-address\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &metrics,
            "sshdiag_proxy_denied_total{reason=\"denied-private-address\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(&metrics, "sshdiag_proxy_bytes_total{direction=\"up\"}"),
        5.0
    );
    assert_eq!(
        metric(&metrics, "sshdiag_proxy_bytes_total{direction=\"down\"}"),
        5.0
    );
    assert_eq!(metric(&metrics, "sshdiag_proxy_connect_seconds_count"), 1.0);
    assert_eq!(
        metric(
            &metrics,
            "sshdiag_proxy_connect_seconds_bucket{le=\"+Inf\"}"
        ),
        1.0
    );
    assert!(metrics.contains("# TYPE sshdiag_proxy_connect_seconds histogram"));
    drop(denied);
    let deadline = std::time::Instant::now() + crate::util::WAIT;
    loop {
        let metrics = relay.metrics().await;
        if metric(&metrics, "sshdiag_proxy_active_connections") == 0.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "active connections never reached 0"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    relay.relay.shutdown().await;
}

#[tokio::test]
async fn a_hostile_connection_id_cannot_forge_log_lines() {
    let relay = TestRelay::start(&["--log-format", "text"]).await;
    let mut ws = relay
        .open(
            "example.com",
            22,
            "x\n2025-01-01 INFO relay-started fake",
            None,
        )
        .await;
    expect_error(&mut ws).await;
    for line in relay.log.lines() {
        assert!(!line.contains('\n'));
        assert!(!line.starts_with('{'), "text format: {line}");
    }
    assert!(
        relay
            .log
            .lines()
            .iter()
            .any(|l| l.contains("relay-denied") && l.contains("x2025-01-01INFOrelay-startedfake"))
    );
    relay.relay.shutdown().await;
}

#[tokio::test]
async fn health_metrics_and_the_page_are_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("index.html"), "<h1>sshdiag</h1>").expect("write");
    let root = dir.path().to_string_lossy().into_owned();
    let relay = TestRelay::start(&["--web-root", &root]).await;
    assert_eq!(relay.get("/healthz").await, (200, "ok\n".to_string()));
    let (status, page) = relay.get("/").await;
    assert_eq!(status, 200);
    assert!(page.contains("<h1>sshdiag</h1>"));
    assert_eq!(relay.get("/nope.js").await.0, 404);
    let (status, metrics) = relay.get("/metrics").await;
    assert_eq!(status, 200);
    for name in [
        "sshdiag_proxy_connections_total",
        "sshdiag_proxy_active_connections",
        "sshdiag_proxy_bytes_total",
        "sshdiag_proxy_connect_seconds",
        "sshdiag_proxy_denied_total",
    ] {
        assert!(metrics.contains(&format!("# TYPE {name} ")), "{name}");
    }
    relay.relay.shutdown().await;
}

#[tokio::test]
async fn shutdown_drains_then_closes_sessions() {
    let (port, relay) = echo_relay(&["--drain-timeout", "300ms"]).await;
    let addr = relay.addr();
    let mut ws = relay.connected(port, "draining").await;
    let log = relay.log.clone();
    let started = std::time::Instant::now();
    let shutdown = tokio::spawn(relay.relay.shutdown());
    // The session keeps working during the drain…
    ws.send(Message::binary(b"still here".to_vec()))
        .await
        .expect("send");
    assert!(matches!(next(&mut ws).await, Got::Data(d) if d == b"still here"));
    // …then is closed by the relay.
    loop {
        match next(&mut ws).await {
            Got::Control(ControlFrame::Closed { by, reason, .. }) => {
                assert_eq!(by, ClosedBy::Relay);
                assert!(reason.contains("shutting down"), "{reason}");
                break;
            }
            Got::Data(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
    tokio::time::timeout(crate::util::WAIT, shutdown)
        .await
        .expect("shutdown finishes")
        .expect("no panic");
    assert!(started.elapsed() >= std::time::Duration::from_millis(250));
    assert!(log.json().iter().any(|l| l["code"] == "relay-shutdown"));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn relay_json_tells_the_page_about_the_demo_and_tokens() {
    let relay = TestRelay::start(&["--demo", "--demo-listen", "127.0.0.1:0"]).await;
    let demo = relay.relay.demo().expect("demo");
    let (status, body) = relay.get("/relay.json").await;
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(info["subprotocol"], "sshdiag.v1");
    assert_eq!(info["token_required"], false);
    assert_eq!(info["demo"]["host"], "127.0.0.1");
    assert_eq!(info["demo"]["port"], demo.local_addr().port());
    assert_eq!(info["demo"]["username"], "demo");
    assert_eq!(info["demo"]["password"], "demo");
    assert_eq!(
        info["demo"]["host_key_fingerprint"],
        demo.host_key_fingerprint()
    );
    relay.relay.shutdown().await;

    let relay = TestRelay::start(&[]).await;
    let info: serde_json::Value =
        serde_json::from_str(&relay.get("/relay.json").await.1).expect("json");
    assert!(info["demo"].is_null());
    relay.relay.shutdown().await;
}

/// The `connected` frame's `local` is exactly the source address and port the target saw
/// accept the connection, and the relay's `relay-tcp-connected` line names it beside the
/// connection id: the target's log and the relay's meet on it.
#[tokio::test]
async fn connected_names_the_source_the_target_saw_and_the_log_line_does_too() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = tokio::spawn(async move { listener.accept().await.map(|(_, from)| from) });
    let relay = TestRelay::start(&["--allow", &format!("127.0.0.1:{port}")]).await;
    let mut ws = relay.open("127.0.0.1", port, "5eeb0a11", None).await;
    let local = loop {
        match crate::util::control(&mut ws).await {
            ControlFrame::Resolved { .. } => continue,
            ControlFrame::Connected { local, .. } => break local,
            other => panic!("expected connected, got {other:?}"),
        }
    };
    let seen = seen.await.unwrap().unwrap();
    assert_eq!(local, Some(seen.to_string()));
    let line = relay.wait_line("5eeb0a11", "relay-tcp-connected").await;
    assert_eq!(
        line["message"],
        format!("connected to the target from {seen}"),
        "{line}"
    );
}
