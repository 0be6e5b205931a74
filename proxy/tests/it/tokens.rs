//! `--token-secret-file` (HS256 JWTs minted by the relay's own `mint_token`): valid tokens
//! pass; expired, tampered, other-target and missing ones are refused with the right code;
//! tokens never appear in a log line.

use std::time::{SystemTime, UNIX_EPOCH};

use sshdiag_events::relay::RelayErrorCode;
use sshdiag_proxy::mint_token;

use crate::util::{TestRelay, echo_server, expect_connected, expect_error};

const SECRET: &[u8] = b"0123456789abcdef-test-secret";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[tokio::test]
async fn tokens_are_checked_and_never_logged() {
    let echo = echo_server().await;
    let port = echo.port();
    let dir = tempfile::tempdir().expect("tempdir");
    let secret_file = dir.path().join("secret");
    // A trailing newline, as `echo secret > file` writes, is not part of the secret.
    let mut contents = SECRET.to_vec();
    contents.push(b'\n');
    std::fs::write(&secret_file, contents).expect("write secret");
    let secret_path = secret_file.to_string_lossy().into_owned();
    let relay = TestRelay::start(&[
        "--allow",
        &format!("127.0.0.1/32:{port}"),
        "--token-secret-file",
        &secret_path,
    ])
    .await;

    let valid = mint_token(SECRET, "127.0.0.1", port, now() + 300);
    let mut ws = relay
        .open("127.0.0.1", port, "token-valid", Some(valid.clone()))
        .await;
    assert_eq!(expect_connected(&mut ws).await, echo.to_string());

    let expired = mint_token(SECRET, "127.0.0.1", port, now() - 1);
    let other_target = mint_token(SECRET, "127.0.0.1", port.wrapping_add(1), now() + 300);
    let other_secret = mint_token(b"another secret, not ours", "127.0.0.1", port, now() + 300);
    let parts: Vec<&str> = valid.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts");
    let mut forged = parts[1].as_bytes().to_vec();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        String::from_utf8_lossy(&forged),
        parts[2]
    );
    use RelayErrorCode::{TokenExpired, TokenInvalid};
    let garbage = "not a token".to_string();
    let cases = [
        ("token-expired", Some(&expired), TokenExpired),
        ("token-other-target", Some(&other_target), TokenInvalid),
        ("token-other-secret", Some(&other_secret), TokenInvalid),
        ("token-tampered", Some(&tampered), TokenInvalid),
        ("token-garbage", Some(&garbage), TokenInvalid),
        ("token-missing", None, TokenInvalid),
    ];
    for (id, token, expected) in cases {
        let mut ws = relay.open("127.0.0.1", port, id, token.cloned()).await;
        let (code, message) = expect_error(&mut ws).await;
        assert_eq!(code, expected, "{id}: {message}");
        relay.wait_line(id, "relay-denied").await;
    }
    drop(ws);
    relay.wait_line("token-valid", "relay-closed").await;

    let text = relay.log.lines().join("\n");
    for secret_text in [&valid, &expired, &other_target, &other_secret, &tampered] {
        let parts: Vec<&str> = secret_text.split('.').collect();
        assert!(!text.contains(parts[1]), "a token's claims were logged");
        assert!(!text.contains(parts[2]), "a token's signature was logged");
    }
    assert!(!text.contains("0123456789abcdef-test-secret"));
    assert_eq!(relay.denied_count("token-expired").await, 1.0);
    assert_eq!(relay.denied_count("token-invalid").await, 5.0);
    relay.relay.shutdown().await;
}

#[tokio::test]
async fn a_short_secret_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, b"short\n").expect("write");
    let config = <sshdiag_proxy::Config as clap::Parser>::try_parse_from([
        "sshdiag-proxy",
        "--listen",
        "127.0.0.1:0",
        "--token-secret-file",
        &secret_file.to_string_lossy(),
    ])
    .expect("flags parse");
    let result = sshdiag_proxy::start_with_log_sink(
        config,
        sshdiag_proxy::LogSink::Memory(Default::default()),
    )
    .await;
    assert!(result.is_err(), "a 5-byte secret must be refused");
}
