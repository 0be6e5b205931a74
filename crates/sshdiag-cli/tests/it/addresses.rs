//! A name that resolves to several addresses: every address is tried in the resolver's order,
//! and every attempt is recorded in order, directly (the CLI's own DNS and TCP) and through the
//! real relay binary (which reports its attempts in its `connected` and `error` frames).
//!
//! The name is the test's own: `sshdiag-dual.test` maps to `::1` and then `127.0.0.1` in an
//! `/etc/hosts` bound over the machine's in a private mount namespace, for the one process
//! that resolves it. sshd listens on 127.0.0.1 only, so `::1` refuses first.

use std::path::Path;
use std::process::Output;

use sshdiag_events::{Event, EventData, ProxyStatus, read_jsonl};
use sshdiag_tests::procs::{Killed, with_hosts_file, workspace_binary};
use sshdiag_tests::sshd::{SshdFixture, SshdOptions, TEST_PASSWORD, TEST_USER, free_loopback_port};

const NAME: &str = "sshdiag-dual.test";

/// A hosts file in `dir` that maps [`NAME`] to `::1`, then `127.0.0.1`.
fn hosts_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("hosts");
    std::fs::write(&path, format!("::1 {NAME}\n127.0.0.1 {NAME}\n")).unwrap();
    path
}

/// `sshdiag -p PORT [flags] USER@NAME echo dual`, resolving names through `hosts` when given;
/// the output and the events.
fn run(dir: &Path, hosts: Option<&Path>, port: u16, flags: &[&str]) -> (Output, Vec<Event>) {
    let bin = Path::new(env!("CARGO_BIN_EXE_sshdiag"));
    let mut command = match hosts {
        Some(hosts) => with_hosts_file(hosts, bin).unwrap(),
        None => std::process::Command::new(bin),
    };
    let events = dir.join("events.jsonl");
    let _ = std::fs::remove_file(&events);
    let out = command
        .args(["-F", "none", "--strict-host-key-checking", "no"])
        .args(["--password-env", "SSHDIAG_PW", "-p", &port.to_string()])
        .arg("--events-file")
        .arg(&events)
        .args(flags)
        .args([&format!("{TEST_USER}@{NAME}"), "echo", "dual"])
        .env("SSHDIAG_PW", TEST_PASSWORD)
        .env("HOME", dir)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&events).unwrap_or_default();
    assert!(!text.contains(TEST_PASSWORD));
    let read = read_jsonl(&text);
    assert!(read.errors.is_empty(), "{:?}", read.errors);
    (out, read.events)
}

/// The PROXY steps of a run, as `(code, status, address)`: what resolved, every address tried.
fn steps(events: &[Event]) -> Vec<(String, String, String)> {
    events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::Proxy(p) if p.status != Some(ProxyStatus::WsOpen) => Some((
                e.code.clone(),
                serde_json::to_value(p.status)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string(),
                p.addrs
                    .as_ref()
                    .map(|a| a.join(" "))
                    .or_else(|| p.peer.clone())
                    .unwrap_or_default(),
            )),
            _ => None,
        })
        .collect()
}

fn step(code: &str, status: &str, addr: &str) -> (String, String, String) {
    (code.into(), status.into(), addr.into())
}

/// `::1` refused, then `127.0.0.1` connected, on port `p`: the steps in order.
fn v6_refused_then_v4(p: u16) -> [(String, String, String); 3] {
    [
        step("proxy-resolved", "resolved", "::1 127.0.0.1"),
        step("proxy-tcp-attempt-failed", "failed", &format!("[::1]:{p}")),
        step(
            "proxy-tcp-connected",
            "tcp_connected",
            &format!("127.0.0.1:{p}"),
        ),
    ]
}

/// The one ERROR's message.
fn error_message(events: &[Event]) -> String {
    let mut errors = events.iter().filter_map(|e| match &e.data {
        EventData::Error(d) => Some(d.message.clone()),
        _ => None,
    });
    let message = errors.next().expect("an ERROR");
    assert!(errors.next().is_none());
    message
}

#[test]
fn directly_the_cli_tries_each_address_in_order_and_records_every_attempt() {
    let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hosts = hosts_file(dir.path());
    let p = sshd.port();
    let (out, events) = run(dir.path(), Some(&hosts), p, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "dual\n");
    assert_eq!(steps(&events), v6_refused_then_v4(p));
    let refused = events
        .iter()
        .find(|e| e.code == "proxy-tcp-attempt-failed")
        .unwrap();
    assert!(
        matches!(&refused.data, EventData::Proxy(d) if d.reason.as_deref().is_some_and(|r| r.contains("refused"))),
        "{refused:?}"
    );

    // Nothing listens on either address: both attempts are recorded, and the error names both.
    let closed = free_loopback_port().unwrap();
    let (out, events) = run(dir.path(), Some(&hosts), closed, &[]);
    assert_eq!(out.status.code(), Some(255));
    assert_eq!(
        steps(&events)[1..],
        [
            step(
                "proxy-tcp-attempt-failed",
                "failed",
                &format!("[::1]:{closed}")
            ),
            step(
                "proxy-tcp-attempt-failed",
                "failed",
                &format!("127.0.0.1:{closed}")
            ),
        ]
    );
    let message = error_message(&events);
    let order = [format!("[::1]:{closed}"), format!("127.0.0.1:{closed}")];
    let at = |s: &str| {
        message
            .find(s)
            .unwrap_or_else(|| panic!("{s} not in {message}"))
    };
    assert!(at(&order[0]) < at(&order[1]), "{message}");
}

#[test]
fn through_the_relay_its_attempts_reach_the_events_in_order() {
    let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hosts = hosts_file(dir.path());
    let p = sshd.port();
    let closed = free_loopback_port().unwrap();
    // The relay binary resolves the name through the test's hosts file; the CLI does not.
    let rport = free_loopback_port().unwrap();
    let mut relay = with_hosts_file(&hosts, &workspace_binary("sshdiag-proxy")).unwrap();
    relay.args(["--listen", &format!("127.0.0.1:{rport}")]);
    for port in [p, closed] {
        relay.args(["--allow", &format!("127.0.0.1/32:{port}")]);
        relay.args(["--allow", &format!("[::1/128]:{port}")]);
    }
    relay.stdout(std::process::Stdio::null());
    let _relay = Killed(relay.spawn().unwrap());
    sshdiag_tests::ports::wait_for_port(rport, std::time::Duration::from_secs(20)).unwrap();
    let url = format!("ws://127.0.0.1:{rport}/ws");

    let (out, events) = run(dir.path(), None, p, &["--proxy", &url]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(steps(&events), v6_refused_then_v4(p));

    let (out, events) = run(dir.path(), None, closed, &["--proxy", &url]);
    assert_eq!(out.status.code(), Some(255));
    let tried: Vec<_> = steps(&events)
        .into_iter()
        .filter(|s| s.0 == "proxy-tcp-attempt-failed")
        .map(|s| s.2)
        .collect();
    assert_eq!(
        tried,
        [format!("[::1]:{closed}"), format!("127.0.0.1:{closed}")]
    );
    let message = error_message(&events);
    assert!(
        message.contains("every address failed, in order"),
        "{message}"
    );
}

/// A listener on `127.0.0.1:port` that never answers: its accept queue (backlog 0) is full, so
/// a further connect gets no SYN-ACK and hangs, like a firewall that drops. Kept alive by the
/// returned values.
fn black_hole(port: u16) -> (std::net::TcpListener, std::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    // SAFETY: a valid listening socket's descriptor; listen() again only shrinks its queue.
    let shrunk = unsafe { libc::listen(listener.as_raw_fd(), 0) };
    assert_eq!(shrunk, 0);
    let filler = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    (listener, filler)
}

#[test]
fn an_address_that_does_not_answer_gets_its_own_time_limit_and_the_next_is_tried() {
    // sshd on 127.0.0.2 only; 127.0.0.1, which the resolver puts first (the longer prefix in
    // common with the source address), drops the connection.
    let sshd = SshdFixture::start(SshdOptions {
        listen: Some(std::net::Ipv4Addr::new(127, 0, 0, 2)),
        ..SshdOptions::default()
    })
    .unwrap();
    let p = sshd.port();
    let _hole = black_hole(p);
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, format!("127.0.0.1 {NAME}\n127.0.0.2 {NAME}\n")).unwrap();
    let started = std::time::Instant::now();
    let (out, events) = run(dir.path(), Some(&hosts), p, &["--connect-timeout", "2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        steps(&events),
        [
            step("proxy-resolved", "resolved", "127.0.0.1 127.0.0.2"),
            step(
                "proxy-tcp-attempt-failed",
                "failed",
                &format!("127.0.0.1:{p}")
            ),
            step(
                "proxy-tcp-connected",
                "tcp_connected",
                &format!("127.0.0.2:{p}")
            ),
        ]
    );
    assert!(started.elapsed() >= std::time::Duration::from_secs(2));
    let silent = events
        .iter()
        .find(|e| e.code == "proxy-tcp-attempt-failed")
        .unwrap();
    assert!(
        matches!(&silent.data, EventData::Proxy(d) if d.reason.as_deref().is_some_and(|r| r.contains("no answer within 2 s"))),
        "{silent:?}"
    );
}
