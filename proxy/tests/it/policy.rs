//! Deny by default, addresses checked after resolution, numeric forms seen through, CIDR rules
//! and `--allow-private` opening internal addresses. Denied targets are refused before any
//! connect, so these tests never send a packet beyond loopback.

use sshdiag_events::relay::{ControlFrame, RelayErrorCode};
use tokio::net::TcpListener;

use crate::util::{
    Got, TestRelay, control, echo_on, echo_server, expect_connected, expect_error, next,
};

/// Asserts that the log `line` is a warning whose message contains `needle`.
fn assert_warns(line: &serde_json::Value, needle: &str) {
    assert_eq!(line["level"], "warn");
    assert!(line["message"].as_str().unwrap_or("").contains(needle));
}

/// Opens a connection to each of `hosts` on port 22 (ids `PREFIX-N`), asserts that each is
/// refused as `denied`, and returns the ids.
async fn expect_all_denied(relay: &TestRelay, hosts: &[&str], prefix: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        let id = format!("{prefix}-{i}");
        let mut ws = relay.open(host, 22, &id, None).await;
        let (code, _) = expect_error(&mut ws).await;
        assert_eq!(code, RelayErrorCode::Denied, "{host}");
        ids.push(id);
    }
    ids
}

#[tokio::test]
async fn internal_addresses_in_every_form_are_refused() {
    let echo = echo_server().await;
    let port = echo.port();
    let relay = TestRelay::start(&["--allow", &format!("*:{port}")]).await;
    let hosts = [
        "169.254.169.254",
        "127.0.0.1",
        "127.1",
        "127.0.1",
        "2130706433",
        "0x7f.1",
        "0x7f000001",
        "0177.0.0.1",
        "127.0.0.1.",
        "[::1]",
        "::1",
        "[::ffff:127.0.0.1]",
        "::ffff:7f00:1",
        "[::127.0.0.1]",
        "[64:ff9b::7f00:1]",
        "0.0.0.0",
        "0",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "fe80::1",
        "[fd00::1]",
        "224.0.0.1",
        "255.255.255.255",
        "localhost",
        "LOCALHOST.",
    ];
    for (i, host) in hosts.iter().enumerate() {
        let id = format!("private-{i}");
        let mut ws = relay.open(host, port, &id, None).await;
        let (code, message) = expect_error(&mut ws).await;
        assert_eq!(
            code,
            RelayErrorCode::DeniedPrivateAddress,
            "{host}: {message}"
        );
        let line = relay.wait_line(&id, "relay-denied").await;
        assert_warns(&line, "denied-private-address");
        assert!(
            relay
                .lines_for(&id)
                .iter()
                .all(|l| l["code"] != "relay-tcp-connected"),
            "{host} must never be connected to"
        );
    }
    let denied = relay.denied_count("denied-private-address").await;
    assert_eq!(denied, hosts.len() as f64);
    relay.relay.shutdown().await;
}

#[tokio::test]
async fn a_numeric_looking_but_invalid_host_is_refused_without_a_lookup() {
    let relay = TestRelay::start(&["--allow", "*:22"]).await;
    let hosts = ["1.2.3.4.5", "4294967296", "0x1ffffffff", "1.2.3.256"];
    for id in expect_all_denied(&relay, &hosts, "bad-numeric").await {
        assert!(
            relay
                .lines_for(&id)
                .iter()
                .all(|l| l["code"] != "relay-resolved")
        );
    }
    relay.relay.shutdown().await;
}

#[tokio::test]
async fn a_port_outside_the_rules_is_denied_before_resolving() {
    let relay = TestRelay::start(&["--allow", "*:22", "--allow", "*.example.com:2222"]).await;
    let mut ws = relay.open("localhost", 2200, "wrong-port", None).await;
    // The very first frame is the error: no `resolved`, no lookup.
    match control(&mut ws).await {
        ControlFrame::Error { code, .. } => assert_eq!(code, RelayErrorCode::Denied),
        other => panic!("expected a denial before resolving, got {other:?}"),
    }
    let mut ws = relay
        .open("www.example.org", 2222, "wrong-name", None)
        .await;
    match control(&mut ws).await {
        ControlFrame::Error { code, .. } => assert_eq!(code, RelayErrorCode::Denied),
        other => panic!("expected a denial before resolving, got {other:?}"),
    }
    relay.wait_line("wrong-name", "relay-denied").await;
    relay.relay.shutdown().await;
}

#[tokio::test]
async fn with_no_rules_everything_is_denied_and_the_relay_says_so() {
    let relay = TestRelay::start(&[]).await;
    let started = relay
        .log
        .json()
        .into_iter()
        .find(|l| l["code"] == "relay-started")
        .expect("a relay-started line");
    assert_warns(&started, "every target is denied");
    let hosts = ["203.0.113.9", "example.com", "127.0.0.1"];
    expect_all_denied(&relay, &hosts, "no-rules").await;
    relay.relay.shutdown().await;
}

#[tokio::test]
async fn a_cidr_rule_opens_loopback() {
    let echo = echo_server().await;
    let port = echo.port();
    let relay = TestRelay::start(&["--allow", &format!("127.0.0.0/8:{port}")]).await;
    for (i, host) in ["127.0.0.1", "127.1", "2130706433", "localhost"]
        .iter()
        .enumerate()
    {
        let id = format!("cidr-{i}");
        let mut ws = relay.open(host, port, &id, None).await;
        assert_eq!(expect_connected(&mut ws).await, echo.to_string(), "{host}");
        relay.wait_line(&id, "relay-tcp-connected").await;
    }
    // The rule names one port only.
    let mut ws = relay
        .open("127.0.0.1", port.wrapping_add(1).max(1), "cidr-port", None)
        .await;
    assert_eq!(expect_error(&mut ws).await.0, RelayErrorCode::Denied);
    relay.relay.shutdown().await;
}

#[tokio::test]
async fn allow_private_lets_name_rules_reach_internal_addresses() {
    let echo = echo_server().await;
    let port = echo.port();
    let relay = TestRelay::start(&["--allow", &format!("*:{port}"), "--allow-private"]).await;
    let mut ws = relay.open("localhost", port, "allow-private", None).await;
    let peer = expect_connected(&mut ws).await;
    assert!(peer.ends_with(&format!(":{port}")), "{peer}");
    relay.relay.shutdown().await;
}

#[tokio::test]
async fn demo_allows_the_demo_server_and_nothing_else() {
    let echo = echo_server().await;
    let relay = TestRelay::start(&["--demo", "--demo-listen", "127.0.0.1:0"]).await;
    let demo = relay.relay.demo_addr().expect("demo address");
    let mut ws = relay
        .open("127.0.0.1", demo.port(), "demo-allowed", None)
        .await;
    assert_eq!(expect_connected(&mut ws).await, demo.to_string());
    match next(&mut ws).await {
        Got::Data(banner) => assert!(banner.starts_with(b"SSH-2.0-sshdiag_demo"), "{banner:?}"),
        other => panic!("expected the SSH banner, got {other:?}"),
    }
    let mut ws = relay
        .open("127.0.0.1", echo.port(), "demo-other", None)
        .await;
    assert_eq!(expect_error(&mut ws).await.0, RelayErrorCode::Denied);
    relay.relay.shutdown().await;
}

#[tokio::test]
async fn a_closed_port_is_tcp_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let relay = TestRelay::start(&["--allow", &format!("127.0.0.1:{port}")]).await;
    let mut ws = relay.open("127.0.0.1", port, "refused", None).await;
    assert_eq!(expect_error(&mut ws).await.0, RelayErrorCode::TcpRefused);
    relay.wait_line("refused", "relay-tcp-failed").await;
    relay.relay.shutdown().await;
}

/// IPv6 rules end to end, when this machine has `::1` (skipped loudly without it, never in CI).
#[tokio::test]
async fn an_ipv6_cidr_rule_opens_ipv6_loopback() {
    let listener = match TcpListener::bind("[::1]:0").await {
        Ok(listener) => listener,
        Err(error) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED an_ipv6_cidr_rule_opens_ipv6_loopback: no IPv6 loopback ({error})");
            return;
        }
        Err(error) => panic!("CI needs an IPv6 loopback for this test: {error}"),
    };
    let addr = echo_on(listener);
    let port = addr.port();
    let relay = TestRelay::start(&["--allow", &format!("[::1/128]:{port}")]).await;
    for (i, host) in ["[::1]", "::1", "0:0:0:0:0:0:0:1"].iter().enumerate() {
        let mut ws = relay.open(host, port, &format!("v6-{i}"), None).await;
        assert_eq!(expect_connected(&mut ws).await, addr.to_string(), "{host}");
    }
    // The v6 rule does not open the IPv4-mapped form of 127.0.0.1.
    let mut ws = relay
        .open("::ffff:127.0.0.1", port, "v6-mapped", None)
        .await;
    assert_eq!(expect_error(&mut ws).await.0, RelayErrorCode::Denied);
    relay.relay.shutdown().await;
}

/// A target that never answers the SYN: a loopback listener whose accept queue is full (Linux
/// then drops new SYNs), so the connect times out without leaving the machine.
#[tokio::test]
async fn an_unanswered_connect_is_tcp_timeout() {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let addr = socket.local_addr().expect("addr");
    let _listener = socket.listen(0).expect("listen");
    // Fill the accept queue (never accepted).
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(stream)) = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            fillers.push(stream);
        }
    }
    let relay = TestRelay::start(&[
        "--allow",
        &format!("127.0.0.1:{}", addr.port()),
        "--connect-timeout",
        "500ms",
    ])
    .await;
    let mut ws = relay.open("127.0.0.1", addr.port(), "timeout", None).await;
    let (code, message) = expect_error(&mut ws).await;
    assert_eq!(code, RelayErrorCode::TcpTimeout, "{message}");
    relay.wait_line("timeout", "relay-tcp-failed").await;
    relay.relay.shutdown().await;
}
