//! Property-based checks of what the relay reads from outside (issue 15 item 5, the part that
//! runs in the test suite): connect tokens, target hosts and allow patterns, and whole first
//! frames sent over a real WebSocket to a real relay. Arbitrary input must give a clear
//! refusal, never a panic, never a token in a log line, and must leave the relay serving.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser as _;
use futures::{SinkExt, StreamExt};
use proptest::prelude::*;
use sshdiag_events::relay::{ClosedBy, ControlFrame, SUBPROTOCOL};
use sshdiag_proxy::TokenKeys;
use sshdiag_proxy::policy::{AllowRule, Policy, TargetHost};
use sshdiag_proxy::{Config, LogSink, MemoryLog, mint_token};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SECRET: &[u8] = b"property-secret-0123456789abcdef";

/// The relay's check of a connect token signed with the shared secret (HS256).
fn verify_token(
    secret: &[u8],
    token: Option<&str>,
    host: &str,
    port: u16,
    now: u64,
) -> Result<(), String> {
    TokenKeys::from_secret(secret)
        .verify(token, host, port, now)
        .map(|_| ())
        .map_err(|denial| format!("{denial:?}"))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_arbitrary_token_is_accepted(token in ".{0,300}", host in "[a-z0-9.-]{1,40}", port in 1u16..) {
        let minted = mint_token(SECRET, &host, port, now() + 600);
        prop_assume!(token != minted);
        prop_assert!(verify_token(SECRET, Some(&token), &host, port, now()).is_err());
    }

    #[test]
    fn a_token_changed_in_one_place_is_refused(index in 0usize..200, replacement in "[A-Za-z0-9_.-]") {
        let minted = mint_token(SECRET, "ssh.example.com", 22, now() + 600);
        prop_assert!(verify_token(SECRET, Some(&minted), "ssh.example.com", 22, now()).is_ok());
        let index = index % minted.len();
        let mut changed = minted.clone();
        changed.replace_range(index..index + 1, &replacement);
        prop_assume!(changed != minted);
        prop_assert!(verify_token(SECRET, Some(&changed), "ssh.example.com", 22, now()).is_err());
        // A valid token names one target: no other host or port.
        prop_assert!(verify_token(SECRET, Some(&minted), "ssh.example.org", 22, now()).is_err());
        prop_assert!(verify_token(SECRET, Some(&minted), "ssh.example.com", 2222, now()).is_err());
    }

    #[test]
    fn arbitrary_hosts_and_patterns_parse_or_are_refused_without_panic(host in ".{0,300}", pattern in ".{0,100}", port in any::<u16>()) {
        let _ = AllowRule::parse(&pattern);
        if let Ok(target) = TargetHost::parse(&host) {
            // Deny by default: with no rule, nothing passes.
            prop_assert!(Policy::new(Vec::new(), false).precheck(&target, port).is_err());
        }
    }
}

/// A first frame from an attacker: arbitrary text, or a connect frame with arbitrary fields.
fn first_frame() -> impl Strategy<Value = (String, String)> {
    let token = "tok-[a-z0-9]{16}";
    prop_oneof![
        (".{0,200}", Just(String::new())),
        (
            prop_oneof![".{0,80}", "[a-z0-9.-]{1,30}", Just("127.0.0.1".to_string())],
            prop_oneof![Just(22u32), 0u32..70_000],
            ".{0,80}",
            token,
        )
            .prop_map(|(host, port, id, token)| {
                let frame = serde_json::json!({
                    "type": "connect",
                    "host": host,
                    "port": port,
                    "connection_id": id,
                    "token": token,
                });
                (frame.to_string(), token)
            }),
        ("[a-z]{0,12}", ".{0,40}").prop_map(|(kind, extra)| {
            (
                format!(r#"{{"type":"{kind}","x":{}}}"#, serde_json::json!(extra)),
                String::new(),
            )
        }),
    ]
}

#[test]
fn arbitrary_first_frames_are_refused_clearly_and_the_relay_keeps_serving() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let secret_dir = tempfile::tempdir().expect("tempdir");
    let secret_file = secret_dir.path().join("secret");
    std::fs::write(&secret_file, SECRET).expect("write");
    let log = MemoryLog::new();
    let relay = runtime.block_on(async {
        let config = Config::try_parse_from([
            "sshdiag-proxy",
            "--listen",
            "127.0.0.1:0",
            "--token-secret-file",
            secret_file.to_str().expect("utf-8 path"),
            "--allow",
            "*:22",
        ])
        .expect("flags");
        sshdiag_proxy::start_with_log_sink(config, LogSink::Memory(log.clone()))
            .await
            .expect("relay")
    });
    let addr = relay.local_addr();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    });
    runner
        .run(&first_frame(), |(text, token)| {
            let ended = runtime.block_on(async {
                let mut request = format!("ws://{addr}/ws")
                    .into_client_request()
                    .expect("request");
                request.headers_mut().insert(
                    "Sec-WebSocket-Protocol",
                    SUBPROTOCOL.parse().expect("header"),
                );
                let (mut ws, _) = tokio_tungstenite::connect_async(request)
                    .await
                    .expect("upgrade");
                ws.send(Message::text(text)).await.expect("send");
                let mut closed_by_relay = false;
                let mut refused = false;
                let mut close_frame = false;
                while let Ok(Some(Ok(message))) =
                    tokio::time::timeout(Duration::from_secs(20), ws.next()).await
                {
                    match message {
                        Message::Text(text) => {
                            let frame: ControlFrame =
                                serde_json::from_str(&text).expect("control frames are valid");
                            match frame {
                                ControlFrame::Closed { by, .. } => {
                                    closed_by_relay = by == ClosedBy::Relay;
                                }
                                ControlFrame::Error { .. } => refused = true,
                                _ => {}
                            }
                        }
                        Message::Close(_) => {
                            close_frame = true;
                            break;
                        }
                        _ => {}
                    }
                }
                (closed_by_relay || refused) && close_frame
            });
            prop_assert!(
                ended,
                "the relay must answer with error or closed{{by: relay}}, then a close frame"
            );
            if !token.is_empty() {
                prop_assert!(
                    !log.lines().iter().any(|l| l.contains(&token)),
                    "a token reached the log"
                );
            }
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("{failure}"));
    // Both kinds of refusal were exercised: malformed frames and well-formed connects.
    let codes: Vec<String> = log
        .json()
        .iter()
        .filter_map(|l| l["code"].as_str().map(str::to_string))
        .collect();
    assert!(codes.iter().any(|c| c == "relay-bad-frame"), "{codes:?}");
    assert!(codes.iter().any(|c| c == "relay-denied"), "{codes:?}");
    runtime.block_on(async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        stream
            .write_all(
                format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        relay.shutdown().await;
    });
}
