//! Bytes arrive intact and complete: 64 MiB each way through the relay, and everything a
//! target sent before closing arrives before `closed`.

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use sha2::{Digest, Sha256};
use sshdiag_events::relay::{ClosedBy, ControlFrame};
use tokio_tungstenite::tungstenite::Message;

use crate::util::{Got, TestRelay, echo_relay, metric, next, send_and_close_server};

const BULK: usize = 64 << 20;

/// Deterministic, non-repeating-looking bytes (so a dropped or reordered chunk changes the
/// hash).
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_mib_each_way_through_an_echo() {
    let (port, relay) = echo_relay(&[]).await;
    let ws = relay.connected(port, "bulk-echo").await;
    let data = pattern(BULK, 0x5eed);
    let sent_hash = Sha256::digest(&data);
    let (mut tx, mut rx) = ws.split();
    let sender = tokio::spawn(async move {
        // Uneven frame sizes, to exercise reframing.
        let mut offset = 0;
        let mut size = 1000;
        while offset < data.len() {
            let end = (offset + size).min(data.len());
            tx.send(Message::binary(data[offset..end].to_vec()))
                .await
                .expect("send");
            offset = end;
            size = if size > 60_000 { 1000 } else { size * 3 };
        }
        tx
    });
    let mut hasher = Sha256::new();
    let mut received = 0usize;
    while received < BULK {
        let message = tokio::time::timeout(crate::util::WAIT, rx.next())
            .await
            .expect("data keeps flowing")
            .expect("stream open")
            .expect("no error");
        match message {
            Message::Binary(chunk) => {
                received += chunk.len();
                hasher.update(&chunk);
            }
            other => panic!("unexpected {other:?} after {received} bytes"),
        }
    }
    assert_eq!(received, BULK);
    assert_eq!(
        hasher.finalize(),
        sent_hash,
        "SHA-256 of what came back equals what went up"
    );
    let mut tx = sender.await.expect("sender");
    tx.close().await.expect("close");
    let line = relay.wait_line("bulk-echo", "relay-closed").await;
    assert_eq!(line["bytes_up"], BULK as u64);
    assert_eq!(line["bytes_down"], BULK as u64);
    let metrics = relay.metrics().await;
    assert_eq!(
        metric(&metrics, "sshdiag_proxy_bytes_total{direction=\"up\"}"),
        BULK as f64
    );
    assert_eq!(
        metric(&metrics, "sshdiag_proxy_bytes_total{direction=\"down\"}"),
        BULK as f64
    );
    relay.relay.shutdown().await;
}

/// The target sends and closes at once: every byte arrives, then `closed` by `target` with the
/// exact count.
async fn target_sends_then_closes(len: usize, id: &str) {
    let payload = Arc::new(pattern(len, len as u64));
    let expected = Sha256::digest(payload.as_slice());
    let target = send_and_close_server(Arc::clone(&payload)).await;
    let relay = TestRelay::start(&["--allow", &format!("127.0.0.1:{}", target.port())]).await;
    let mut ws = relay.connected(target.port(), id).await;
    let mut hasher = Sha256::new();
    let mut received = 0usize;
    loop {
        match next(&mut ws).await {
            Got::Data(chunk) => {
                received += chunk.len();
                hasher.update(&chunk);
            }
            Got::Control(ControlFrame::Closed {
                by,
                bytes_down,
                bytes_up,
                ..
            }) => {
                assert_eq!(by, ClosedBy::Target);
                assert_eq!(bytes_down, len as u64);
                assert_eq!(bytes_up, 0);
                break;
            }
            other => panic!("unexpected {other:?} after {received} bytes"),
        }
    }
    assert_eq!(received, len, "every byte arrived before `closed`");
    assert_eq!(hasher.finalize(), expected);
    assert!(matches!(next(&mut ws).await, Got::Close(Some(1000))));
    relay.relay.shutdown().await;
}

#[tokio::test]
async fn a_short_reply_then_close_arrives_whole_before_closed() {
    target_sends_then_closes(3, "short-close").await;
    target_sends_then_closes(100_000, "medium-close").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_mib_then_close_arrives_whole_before_closed() {
    target_sends_then_closes(BULK, "bulk-close").await;
}
