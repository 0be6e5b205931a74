//! The relay under attack, as an attacker would try it: the real `sshdiag-proxy` binary in its
//! own process, raw TCP and raw WebSocket frames from this test (issue 15, items 1 and 2).
//! Each test asserts what would be false if the defence were gone: RSS under a ping flood,
//! sockets closed at the header deadline, a capped count of sockets that never upgrade, a
//! relay that keeps serving with few file descriptors, and protocol violations answered with
//! a close frame and a `closed` control frame.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::raw::{Relay, frame, upgrade};
use crate::util::metric;
use futures::StreamExt;
use sshdiag_events::relay::{ClosedBy, ControlFrame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// Reads until the peer closes the socket or `limit` passes; returns when it closed.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

/// `times` copies of `frame`, back to back.
fn repeated(frame: &[u8], times: usize) -> Vec<u8> {
    frame
        .iter()
        .copied()
        .cycle()
        .take(frame.len() * times)
        .collect()
}

/// Writes a masked connect frame for `127.0.0.1:port` as `id`.
async fn write_connect(stream: &mut TcpStream, port: u16, id: &str) {
    let connect =
        format!(r#"{{"type":"connect","host":"127.0.0.1","port":{port},"connection_id":"{id}"}}"#);
    stream
        .write_all(&frame(0x1, connect.as_bytes(), true))
        .await
        .expect("write");
}

#[tokio::test]
async fn a_ping_flood_with_unread_pongs_does_not_grow_the_relay() {
    let relay = Relay::spawn(&["--handshake-timeout", "20s"]).await;
    let before = relay.rss_kib();
    let stream = upgrade(relay.addr, None).await;
    // 1 MiB of masked pings with 125-byte payloads, written again and again; the pongs are
    // never read, so they can only pile up in the relay.
    let one = frame(0x9, &[0x5a; 125], true);
    let burst = repeated(&one, 8_000);
    let started = Instant::now();
    // A writer task writes whole frames only; the pongs are never read.
    let sent = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&sent);
    let (_reader, mut writer) = stream.into_split();
    let flood = tokio::spawn(async move {
        while writer.write_all(&burst).await.is_ok() {
            counted.fetch_add(burst.len(), Ordering::Relaxed);
        }
    });
    let mut peak = before;
    while started.elapsed() < Duration::from_secs(4) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        peak = peak.max(relay.rss_kib());
    }
    flood.abort();
    let sent = sent.load(Ordering::Relaxed);
    let growth = peak.saturating_sub(before);
    eprintln!(
        "ping flood: {} MiB of pings in {:?}; relay RSS {before} KiB before, peak {peak} KiB (+{growth} KiB)",
        sent >> 20,
        started.elapsed()
    );
    assert!(
        sent > 64 << 20,
        "the flood was too small to prove anything: {sent} bytes"
    );
    assert!(
        growth < 16 * 1024,
        "relay RSS grew by {growth} KiB under a ping flood"
    );
    // The relay is still fine for everyone else.
    assert_eq!(relay.get("/healthz", None).await.0, 200);
}

#[tokio::test]
async fn a_trickling_upgrade_and_a_silent_socket_are_closed_at_the_header_deadline() {
    let relay = Relay::spawn(&["--header-timeout", "1s"]).await;
    let mut silent = TcpStream::connect(relay.addr).await.expect("connect");
    let mut trickle = TcpStream::connect(relay.addr).await.expect("connect");
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
        relay.addr
    );
    let writer = tokio::spawn(async move {
        for byte in request.bytes() {
            if trickle.write_all(&[byte]).await.is_err() {
                return (trickle, true);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (trickle, false)
    });
    let silent_closed = closed_within(&mut silent, Duration::from_secs(10))
        .await
        .expect("the silent socket is closed");
    let (mut trickle, cut_off) = writer.await.expect("writer");
    let trickle_closed = if cut_off {
        Some(Duration::ZERO)
    } else {
        closed_within(&mut trickle, Duration::from_secs(10)).await
    };
    eprintln!(
        "header deadline 1s: silent socket closed after {silent_closed:?}, trickling upgrade cut off: {cut_off}"
    );
    assert!(
        silent_closed >= Duration::from_millis(900) && silent_closed < Duration::from_secs(3),
        "{silent_closed:?}"
    );
    assert!(
        cut_off || trickle_closed.is_some(),
        "the trickling upgrade was never cut off"
    );
    // An idle keep-alive connection is closed at the same deadline, but that is no limit hit.
    let mut keep_alive = TcpStream::connect(relay.addr).await.expect("connect");
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", relay.addr);
    keep_alive
        .write_all(request.as_bytes())
        .await
        .expect("write");
    let idle_closed = closed_within(&mut keep_alive, Duration::from_secs(10)).await;
    assert!(idle_closed.is_some(), "an idle keep-alive socket is held");
    let metrics = relay.get("/metrics", None).await.1;
    assert_eq!(
        metric(
            &metrics,
            "sshdiag_proxy_limit_total{limit=\"header-timeout\"}"
        ),
        2.0,
        "{metrics}"
    );
}

#[tokio::test]
async fn sockets_that_never_upgrade_are_capped_per_ip_and_others_are_still_served() {
    let relay = Relay::spawn(&["--max-pending-per-ip", "4", "--header-timeout", "30s"]).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(relay.addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fifth = TcpStream::connect(relay.addr).await.expect("connect");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), fifth.read_to_string(&mut answer))
        .await
        .expect("refused at once")
        .expect("read");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    // Another client IP is not affected; the metrics count the refusal and show the pending.
    let (status, metrics) = relay.get("/metrics", Some("127.0.0.2")).await;
    assert_eq!(status, 200);
    assert_eq!(
        metric(
            &metrics,
            "sshdiag_proxy_limit_total{limit=\"max-pending-per-ip\"}"
        ),
        1.0
    );
    assert!(
        metric(&metrics, "sshdiag_proxy_pending_connections") >= 4.0,
        "{metrics}"
    );
    assert!(
        relay
            .wait_log(|l| l["code"] == "relay-limit"
                && l["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("max-pending-per-ip")))
            .await
    );
    drop(held);
}

#[tokio::test]
async fn with_few_file_descriptors_the_relay_backs_off_and_serves_again() {
    let relay = Relay::spawn_with_nofile(
        64,
        &[
            "--max-pending",
            "10000",
            "--max-pending-per-ip",
            "10000",
            "--header-timeout",
            "2s",
        ],
    )
    .await;
    let started = relay.wait_log(|l| l["code"] == "relay-started").await;
    assert!(started, "no start line");
    assert!(
        relay.log().iter().any(|l| l["code"] == "relay-started"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.contains("open files limit 64"))),
        "{:?}",
        relay.log()
    );
    let cpu_before = relay.cpu_ticks();
    let mut flood = Vec::new();
    for _ in 0..120 {
        if let Ok(stream) = TcpStream::connect(relay.addr).await {
            flood.push(stream);
        }
    }
    let asked = Instant::now();
    let (status, body) = relay.get("/healthz", Some("127.0.0.2")).await;
    let served_after = asked.elapsed();
    let cpu = relay.cpu_ticks() - cpu_before;
    eprintln!(
        "nofile 64, {} idle sockets: /healthz answered {status} after {served_after:?}; relay used {cpu} CPU ticks meanwhile",
        flood.len()
    );
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    // Backing off, not spinning: far less than one core for the whole wait (100 ticks/s).
    assert!(
        (cpu as f64) < served_after.as_secs_f64() * 50.0,
        "{cpu} ticks in {served_after:?}"
    );
    assert!(
        relay
            .wait_log(|l| l["message"]
                .as_str()
                .is_some_and(|m| m.contains("accepting a connection failed")))
            .await
    );
}

/// Sends `bad` as a raw frame (after a valid connect frame when `connected`), and expects
/// `closed{by: relay, reason: bad-frame: …}` then a close frame with code 1002.
async fn violation_is_answered(relay: &Relay, bad: Vec<u8>, connected: bool) -> String {
    let echo_addr = crate::util::echo_server().await;
    let mut stream = upgrade(relay.addr, None).await;
    if connected {
        write_connect(&mut stream, echo_addr.port(), "bad-frame-test").await;
    }
    let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        stream,
        tokio_tungstenite::tungstenite::protocol::Role::Client,
        None,
    )
    .await;
    if connected {
        for _ in 0..2 {
            let Some(Ok(Message::Text(_))) = ws.next().await else {
                panic!("expected resolved and connected");
            };
        }
    }
    ws.get_mut()
        .write_all(&bad)
        .await
        .expect("write the bad frame");
    let mut closed_reason = None;
    let mut close_code = None;
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        match message {
            Ok(Message::Text(text)) => {
                if let Ok(ControlFrame::Closed { by, reason, .. }) = serde_json::from_str(&text) {
                    assert_eq!(by, ClosedBy::Relay);
                    closed_reason = Some(reason);
                }
            }
            Ok(Message::Close(frame)) => {
                close_code = frame.map(|f| u16::from(f.code));
                break;
            }
            Ok(_) => {}
            Err(error) => panic!("the relay dropped the socket without a close frame: {error}"),
        }
    }
    let reason = closed_reason.expect("a closed control frame");
    assert!(reason.starts_with("bad-frame: "), "{reason}");
    assert_eq!(close_code, Some(1002));
    reason
}

#[tokio::test]
async fn protocol_violations_get_a_close_frame_and_a_closed_frame() {
    let relay = Relay::spawn(&["--allow", "127.0.0.1/32:1-65535"]).await;
    let invalid_utf8 = frame(0x1, &[0x7b, 0xff, 0xfe, 0x7d], true);
    let reason = violation_is_answered(&relay, invalid_utf8.clone(), false).await;
    assert!(reason.to_lowercase().contains("utf-8"), "{reason}");
    violation_is_answered(&relay, invalid_utf8, true).await;
    // Opcode 0x3 is reserved for future data frames.
    let reason = violation_is_answered(&relay, frame(0x3, b"x", true), true).await;
    eprintln!("reserved opcode: {reason}");
    // A client must mask its frames.
    let reason = violation_is_answered(&relay, frame(0x2, b"unmasked", false), true).await;
    eprintln!("unmasked frame: {reason}");
    let metrics = relay.get("/metrics", None).await.1;
    assert_eq!(
        metric(&metrics, "sshdiag_proxy_bad_frames_total"),
        4.0,
        "{metrics}"
    );
    assert!(
        relay
            .wait_log(|l| l["code"] == "relay-bad-frame" && l["connection_id"] == "bad-frame-test")
            .await
    );
    assert!(
        !relay.log().iter().any(|l| l["code"] == "relay-closed"
            && l["connection_id"] == "bad-frame-test"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.contains("by client"))),
        "a protocol violation is not counted as the client going away"
    );
}

#[tokio::test]
async fn app_pings_with_unread_pongs_end_the_session_with_a_limit_not_a_queue() {
    let echo = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let echo_port = echo.local_addr().expect("addr").port();
    tokio::spawn(async move {
        // Accept and hold: the target says nothing.
        let mut held = Vec::new();
        while let Ok((s, _)) = echo.accept().await {
            held.push(s);
        }
    });
    let relay = Relay::spawn(&["--allow", &format!("127.0.0.1/32:{echo_port}")]).await;
    let mut stream = upgrade(relay.addr, None).await;
    write_connect(&mut stream, echo_port, "pong-flood").await;
    let before = relay.rss_kib();
    let ping = frame(0x1, br#"{"type":"ping","id":1}"#, true);
    let burst = repeated(&ping, 4_000);
    let started = Instant::now();
    let mut peak = before;
    // Write whole pings and never read (a writer task, so no frame is ever cut in half),
    // until the relay stops reading them (it is blocked on a pong the client does not take)
    // and ends the session.
    let (_reader, mut writer) = stream.into_split();
    let flood = tokio::spawn(async move { while writer.write_all(&burst).await.is_ok() {} });
    while started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(relay.rss_kib());
        if relay
            .log()
            .iter()
            .any(|l| l["code"] == "relay-limit" && l["connection_id"] == "pong-flood")
        {
            break;
        }
    }
    flood.abort();
    let ended_after = started.elapsed();
    let growth = peak.saturating_sub(before);
    eprintln!(
        "app-level ping flood: session ended by a limit after {ended_after:?}; relay RSS +{growth} KiB"
    );
    assert!(
        relay
            .wait_log(|l| l["code"] == "relay-limit"
                && l["connection_id"] == "pong-flood"
                && l["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("write-buffer")))
            .await,
        "{:?}",
        relay.raw_log()
    );
    assert!(growth < 16 * 1024, "relay RSS grew by {growth} KiB");
}
