//! When the relay itself dies: the real `sshdiag-proxy` binary killed mid-session under the
//! real `sshdiag` CLI, against a real OpenSSH sshd. The verdict must blame the relay (relay
//! layer, "the relay process or the path to it died"), not sshd or the host. Also the logs on
//! demand (`RUST_LOG`) of both binaries: russh's lines show, secrets never do.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sshdiag_events::Layer;
use sshdiag_tests::jsonl;
use sshdiag_tests::procs::{Killed, spawn_relay_binary, workspace_binary};
use sshdiag_tests::sshd::{SshdFixture, SshdOptions, TEST_PASSWORD, TEST_USER, free_loopback_port};

/// Starts the relay binary on a free loopback port with `args`, stdout to `log`.
fn relay(args: &[&str], log: &std::path::Path, rust_log: Option<&str>) -> (Killed, u16) {
    spawn_relay_binary(|relay| {
        relay
            .args(args)
            .stdout(std::fs::File::create(log).unwrap())
            .stderr(Stdio::null());
        match rust_log {
            Some(filter) => relay.env("RUST_LOG", filter),
            None => relay.env_remove("RUST_LOG"),
        };
    })
    .unwrap()
}

/// The workspace's `sshdiag` through the relay at `relay`, with `password` in `SSHDIAG_PW`
/// (`--password-env`), its known_hosts and `HOME` in `dir`; the caller adds the rest.
fn sshdiag(dir: &Path, password: &str, relay: &str) -> Command {
    let mut cmd = Command::new(workspace_binary("sshdiag"));
    cmd.args(["--proxy", relay])
        .args(["--password-env", "SSHDIAG_PW", "--known-hosts"])
        .arg(dir.join("known_hosts"))
        .env("SSHDIAG_PW", password)
        .env("HOME", dir);
    cmd
}

#[test]
fn a_relay_killed_mid_session_is_a_relay_layer_verdict_in_the_cli() {
    let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let relay_log = dir.path().join("relay.jsonl");
    let (relay, port) = relay(
        &["--allow", &format!("127.0.0.1/32:{}", sshd.port())],
        &relay_log,
        None,
    );
    let events = dir.path().join("events.jsonl");
    let cli = sshdiag(
        dir.path(),
        TEST_PASSWORD,
        &format!("ws://127.0.0.1:{port}/ws"),
    )
    .args([
        "-p",
        &sshd.port().to_string(),
        "--events-file",
        events.to_str().unwrap(),
        &format!("{TEST_USER}@127.0.0.1"),
        "sleep",
        "30",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut cli = Killed(cli);
    // Kill the relay once the command runs.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&events)
        .unwrap_or_default()
        .contains("\"auth-success\"")
    {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The command is running (it sleeps 30 s) when the relay dies.
    std::thread::sleep(Duration::from_millis(800));
    let killed_at = Instant::now();
    let mut relay = relay;
    relay.0.kill().unwrap();
    let _ = relay.0.wait();
    let status = loop {
        if let Some(status) = cli.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(20),
            "the CLI never ended"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let verdict_after = killed_at.elapsed();
    let mut stderr = String::new();
    if let Some(mut pipe) = cli.0.stderr.take() {
        use std::io::Read as _;
        let _ = pipe.read_to_string(&mut stderr);
    }
    eprintln!("relay killed: the CLI gave its verdict {verdict_after:?} later");
    assert_eq!(status.code(), Some(255), "{stderr}");
    let text = std::fs::read_to_string(&events).unwrap();
    let verdict = jsonl::verdict(&text);
    assert!(!verdict.ok);
    assert_eq!(verdict.layer, Some(Layer::Relay), "{verdict:#?}");
    assert!(
        verdict.hints.iter().any(|h| h.contains("relay process")),
        "{:?}",
        verdict.hints
    );
    assert!(
        !verdict.hints.iter().any(|h| h.contains("sshd or the host")),
        "{:?}",
        verdict.hints
    );
    assert!(
        text.contains("relay-vanished"),
        "the PROXY closed event says so"
    );
    // The human summary names the relay too.
    assert!(stderr.contains("relay"), "{stderr}");
    assert!(verdict_after < Duration::from_secs(5), "{verdict_after:?}");
}

#[test]
fn logs_on_demand_show_russh_and_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef").unwrap();
    let relay_log = dir.path().join("relay.jsonl");
    let demo_port = free_loopback_port().unwrap();
    let (_relay, port) = relay(
        &[
            "--demo",
            "--demo-listen",
            &format!("127.0.0.1:{demo_port}"),
            "--demo-host-key",
            dir.path().join("demo-key").to_str().unwrap(),
            "--token-secret-file",
            secret.to_str().unwrap(),
        ],
        &relay_log,
        Some("trace"),
    );
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let token = sshdiag_proxy::mint_token(
        b"0123456789abcdef0123456789abcdef",
        "127.0.0.1",
        demo_port,
        expires,
    );
    let canary_password = "demo";
    let out = sshdiag(
        dir.path(),
        canary_password,
        &format!("ws://127.0.0.1:{port}/ws"),
    )
    .args([
        "--token-env",
        "SSHDIAG_TOKEN",
        "-p",
        &demo_port.to_string(),
        "demo@127.0.0.1",
        "whoami",
    ])
    .env("SSHDIAG_TOKEN", &token)
    .env("RUST_LOG", "trace")
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // The CLI's log: russh's own lines, the connection's span with its id, no token.
    assert!(stderr.contains("russh"), "no russh line in {stderr}");
    assert!(
        stderr.contains("connection_id"),
        "no connection span in {stderr}"
    );
    assert!(
        !stderr.contains(&token),
        "the token leaked into the CLI log"
    );
    let (token_payload, token_tag) = token.split_once('.').unwrap();
    assert!(!stderr.contains(token_tag) && !stderr.contains(token_payload));
    // The relay's log: its lines keep their keys; russh's (the demo server) show as library
    // lines; the token never appears, whole or in part.
    std::thread::sleep(Duration::from_millis(300));
    let log = std::fs::read_to_string(&relay_log).unwrap();
    assert!(!log.contains(&token) && !log.contains(token_tag) && !log.contains(token_payload));
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["code"] == "library"
            && l["module"].as_str().is_some_and(|m| m.starts_with("russh"))),
        "no russh line in the relay log"
    );
    let closed = lines
        .iter()
        .find(|l| l["code"] == "relay-closed")
        .expect("a relay-closed line");
    for key in [
        "ts",
        "level",
        "connection_id",
        "client_ip",
        "target",
        "peer",
        "ms",
        "bytes_up",
        "bytes_down",
        "message",
    ] {
        assert!(closed.get(key).is_some(), "{key} missing in {closed}");
    }
    assert!(
        lines.iter().all(|l| l["level"] != "trace"),
        "library trace lines are capped at debug"
    );
}

#[test]
fn a_secret_in_the_relay_url_reaches_no_event_and_no_log() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let bundle = dir.path().join("bundle.json");
    let bundle_raw = dir.path().join("bundle-raw.json");
    // Nothing listens on this port: the WebSocket library's error names the URL it tried.
    let port = free_loopback_port().unwrap();
    let canary = "hunter2-canary-secret";
    let url = format!("ws://admin:{canary}@127.0.0.1:{port}/ws?password={canary}&token={canary}");
    let out = sshdiag(dir.path(), canary, &url)
        .args([
            "--events-file",
            events.to_str().unwrap(),
            "--bundle",
            bundle.to_str().unwrap(),
            "--bundle-raw",
            bundle_raw.to_str().unwrap(),
            "--events",
            "demo@127.0.0.1",
        ])
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for (what, text) in [
        ("stderr (events, log, summary)", stderr.to_string()),
        ("stdout", stdout.to_string()),
        ("events file", std::fs::read_to_string(&events).unwrap()),
        ("redacted bundle", std::fs::read_to_string(&bundle).unwrap()),
        ("raw bundle", std::fs::read_to_string(&bundle_raw).unwrap()),
    ] {
        assert!(
            !text.contains(canary),
            "the secret reached the {what}: {text}"
        );
    }
    let verdict = jsonl::verdict(&std::fs::read_to_string(&events).unwrap());
    assert_eq!(verdict.layer, Some(Layer::Relay), "{verdict:#?}");
}
