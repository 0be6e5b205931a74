//! The supervisor against real faults: an sshd that is down and comes back, a wrong password
//! (never retried), and a relay process frozen mid-session (keepalives go unanswered).

use std::process::{Command, Stdio};
use std::time::Duration;

use sshdiag_cli::native::{TcpConnector, WsRelayConnector};
use sshdiag_core::options::{KeepaliveConfig, RetryPolicy};
use sshdiag_core::{AuthPlan, Credential, ProbeOptions, ProbeReport, Secret};
use sshdiag_events::{ErrorType, EventData, Layer, StateChangeData};
use sshdiag_tests::ports::wait_for_port;
use sshdiag_tests::procs::{signal_all, spawn_dying_with_this_process};
use sshdiag_tests::sshd::{SshdFixture, SshdOptions, TEST_PASSWORD, TEST_USER};

fn options(port: u16, password: &str) -> ProbeOptions {
    let mut o = ProbeOptions::new(
        "127.0.0.1",
        port,
        TEST_USER,
        AuthPlan::Credentials(vec![Credential::Password(Secret::new(password))]),
    );
    o.connect_timeout_ms = 3_000;
    o.timeout_ms = Some(60_000);
    o
}

fn states(r: &ProbeReport) -> Vec<StateChangeData> {
    r.events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::StateChange(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

fn fast_retries(n: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries: n,
        base_delay_ms: 300,
        max_delay_ms: 1_000,
        jitter: true,
    }
}

#[tokio::test]
async fn a_retry_succeeds_after_sshd_comes_back() {
    let mut sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    let port = sshd.port();
    sshd.kill().unwrap();
    let mut o = options(port, TEST_PASSWORD);
    o.retry = Some(fast_retries(10));
    o.commands = vec!["echo back".into()];
    let mut c = TcpConnector;
    let probe = crate::probe_untrusted(o, &mut c);
    let revive = async {
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        sshd.restart().unwrap();
    };
    let (r, ()) = tokio::join!(probe, revive);
    assert!(r.verdict.ok, "{:#?}", r.events);
    assert_eq!(r.commands[0].stdout.as_deref(), Some("back\n"));
    let s = states(&r);
    assert_eq!(
        (s[0].from_state.as_str(), s[0].to_state.as_str()),
        ("disconnected", "connecting")
    );
    let reconnecting: Vec<_> = s.iter().filter(|x| x.to_state == "reconnecting").collect();
    assert!(!reconnecting.is_empty(), "{s:?}");
    assert!(
        reconnecting[0]
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("ConnectionRefused"),
        "{s:?}"
    );
    // Every retry is `reconnecting → connecting`, and the one that worked `connecting →
    // connected`.
    let retries = s
        .iter()
        .filter(|x| x.from_state == "reconnecting" && x.to_state == "connecting")
        .count();
    assert_eq!(retries, reconnecting.len(), "{s:?}");
    let connected = s.iter().find(|x| x.to_state == "connected").unwrap();
    assert!(
        connected.reconnection_count >= 1 && connected.from_state == "connecting",
        "{s:?}"
    );
    assert_eq!(s.last().unwrap().to_state, "disconnected");
    // Exactly one verdict, and no ERROR for the failed attempts that were retried.
    assert_eq!(
        r.events
            .iter()
            .filter(|e| matches!(e.data, EventData::Error(_)))
            .count(),
        0
    );
}

#[tokio::test]
async fn a_wrong_password_is_never_retried() {
    let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    let mut o = options(sshd.port(), "wrong-password");
    o.retry = Some(fast_retries(3));
    let mut c = TcpConnector;
    let r = crate::probe_untrusted(o, &mut c).await;
    assert_eq!(r.verdict.error_type, Some(ErrorType::AuthFailed));
    let s = states(&r);
    assert!(s.iter().all(|x| x.to_state != "reconnecting"), "{s:?}");
    assert_eq!(s.last().unwrap().to_state, "failed");
    let password_attempts = r
        .events
        .iter()
        .filter(|e| matches!(&e.data, EventData::Auth(a)
            if a.status == Some(sshdiag_events::AuthStatus::Attempt) && a.method == Some(sshdiag_events::AuthMethod::Password)))
        .count();
    assert_eq!(password_attempts, 1);
}

/// The real relay binary, built next to this test by `cargo test --workspace`.
fn relay_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let bin = dir.join("sshdiag-proxy");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p sshdiag-proxy` (cargo xtask test does)",
        bin.display()
    );
    bin
}

/// The relay process; woken (SIGCONT) if frozen, then killed, on drop.
struct Frozen(std::process::Child);

impl Drop for Frozen {
    fn drop(&mut self) {
        signal_all(&[self.0.id()], libc::SIGCONT);
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn keepalives_time_out_when_the_relay_stops_forwarding() {
    let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    let listen = sshdiag_tests::sshd::free_loopback_port().unwrap();
    let mut command = Command::new(relay_binary());
    command
        .args([
            "--listen",
            &format!("127.0.0.1:{listen}"),
            "--allow",
            &format!("127.0.0.1/32:{}", sshd.port()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let relay = Frozen(spawn_dying_with_this_process(command).unwrap());
    wait_for_port(listen, Duration::from_secs(20)).unwrap();
    let mut o = options(sshd.port(), TEST_PASSWORD);
    o.keepalive = Some(KeepaliveConfig {
        interval_ms: 300,
        max_missed: 3,
    });
    o.hold_ms = 20_000;
    // The freeze is timed against the hold's keepalives; the session check would shift them.
    o.session_check = false;
    let mut c = WsRelayConnector {
        url: format!("ws://127.0.0.1:{listen}/ws"),
        token: None,
    };
    let probe = crate::probe_untrusted(o, &mut c);
    let pid = relay.0.id().to_string();
    let freeze = async {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert!(
            Command::new("kill")
                .args(["-STOP", &pid])
                .status()
                .unwrap()
                .success()
        );
    };
    let (r, ()) = tokio::join!(probe, freeze);
    drop(relay);
    assert_eq!(
        r.verdict.error_type,
        Some(ErrorType::KeepaliveTimeout),
        "{:#?}",
        r.verdict
    );
    assert_eq!(r.verdict.layer, Some(Layer::Transport));
    let answered = r
        .events
        .iter()
        .filter(|e| matches!(&e.data, EventData::Keepalive(k) if k.rtt_ms.is_some()))
        .count();
    assert!(
        answered >= 2,
        "keepalives were not answered before the freeze"
    );
    // The relay answered its pings before the freeze, and went quiet with it: the hint says
    // the relay stopped forwarding, not the server.
    let relay_rtts = r
        .events
        .iter()
        .filter(|e| {
            matches!(&e.data, EventData::Keepalive(k)
                if k.path.as_deref() == Some("relay") && k.rtt_ms.is_some())
        })
        .count();
    assert!(relay_rtts >= 1, "no relay round trips were measured");
    let h = r.verdict.hints.join(" ");
    assert!(
        h.contains("The relay stopped answering its pings too"),
        "{h}"
    );
}
