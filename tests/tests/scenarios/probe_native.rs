//! The probe, natively, against a real OpenSSH `sshd` (and, for faults OpenSSH will not make on
//! demand, real listeners of other kinds). Each test asserts the verdict's `error_type`, its
//! layer, and that a hint names the actual cause.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sshdiag_cli::native::{NativeEnv, TcpConnector, WsRelayConnector};
use sshdiag_core::algorithms::AlgorithmPrefs;
use sshdiag_core::hostkey::{HostKeyInfo, NoTrustStore, TrustStore};
use sshdiag_core::{AuthPlan, Credential, ProbeOptions, ProbeReport, Secret};
use sshdiag_events::codes::Phase;
use sshdiag_events::{ErrorType, Event, EventData, HostKeyPolicy, Layer};
use sshdiag_tests::ports::wait_for_port;
use sshdiag_tests::relay::RelayFixture;
use sshdiag_tests::sshd::{SshdFixture, SshdOptions, TEST_PASSPHRASE, TEST_PASSWORD, TEST_USER};

fn password() -> AuthPlan {
    AuthPlan::Credentials(vec![Credential::Password(Secret::new(TEST_PASSWORD))])
}

fn options(port: u16, auth: AuthPlan, commands: &[&str]) -> ProbeOptions {
    let mut o = ProbeOptions::new("127.0.0.1", port, TEST_USER, auth);
    o.commands = commands.iter().map(|c| c.to_string()).collect();
    o.connect_timeout_ms = 5_000;
    o.timeout_ms = Some(60_000);
    o
}

/// A private key credential, as the CLI and the page build it.
fn key(text: &str, passphrase: Option<&str>) -> Credential {
    Credential::PrivateKey {
        key_text: Secret::new(text.to_string()),
        passphrase: passphrase.map(Secret::new),
        label: None,
        certificate: None,
    }
}

/// A password login to `sshd` that runs `commands`, trusting any host key.
async fn with_password(sshd: &SshdFixture, commands: &[&str]) -> ProbeReport {
    run_direct(
        options(sshd.port(), password(), commands),
        &mut NoTrustStore,
    )
    .await
}

/// A probe-only run (no secret) against a fresh sshd with these extra config lines; it must
/// be green.
async fn probe_only_against(config: &[&str]) -> ProbeReport {
    let sshd = SshdFixture::start(SshdOptions::with_config(config.iter().copied())).unwrap();
    let r = run_direct(
        options(sshd.port(), AuthPlan::Probe, &[]),
        &mut NoTrustStore,
    )
    .await;
    assert!(r.verdict.ok, "{:#?}", r.verdict);
    r
}

async fn run_direct(opts: ProbeOptions, trust: &mut dyn TrustStore) -> ProbeReport {
    let live: Arc<Mutex<Vec<Event>>> = Arc::default();
    let sink = live.clone();
    let report = sshdiag_core::run(
        opts,
        &mut TcpConnector,
        NativeEnv::shared(),
        trust,
        Box::new(move |e| {
            if std::env::var_os("SSHDIAG_TEST_TRACE").is_some() {
                eprintln!("{}", serde_json::to_string(e).unwrap_or_default());
            }
            sink.lock().unwrap().push(e.clone())
        }),
    )
    .await;
    // What the callback saw live is exactly the report's stream.
    assert_eq!(*live.lock().unwrap(), report.events);
    check_stream_invariants(&report);
    report
}

/// Every run: seq 0.. without gaps, one connection id, VERDICT last, exactly one ERROR on
/// failure and none on success.
fn check_stream_invariants(r: &ProbeReport) {
    for (i, e) in r.events.iter().enumerate() {
        assert_eq!(e.seq, i as u64, "seq has a gap at {i}");
        assert_eq!(e.connection_id, r.connection_id);
    }
    assert!(
        matches!(
            r.events.last().map(|e| &e.data),
            Some(EventData::Verdict(_))
        ),
        "VERDICT is not last"
    );
    let errors = r
        .events
        .iter()
        .filter(|e| matches!(e.data, EventData::Error(_)))
        .count();
    assert_eq!(errors, if r.verdict.ok { 0 } else { 1 }, "{:#?}", r.events);
}

/// The first event whose data `pick` accepts; a test fails when there is none.
fn first<T>(r: &ProbeReport, pick: impl Fn(&EventData) -> Option<T>) -> T {
    r.events
        .iter()
        .find_map(|e| pick(&e.data))
        .unwrap_or_else(|| panic!("no such event in {:#?}", r.events))
}

fn error_data(r: &ProbeReport) -> sshdiag_events::ErrorData {
    first(r, |d| match d {
        EventData::Error(e) => Some(e.clone()),
        _ => None,
    })
}

fn types(r: &ProbeReport) -> Vec<String> {
    r.events
        .iter()
        .map(|e| e.event_type_name().to_string())
        .collect()
}

fn hints(r: &ProbeReport) -> String {
    r.verdict.hints.join("\n")
}

/// The verdict's summary names every one of `words`.
fn assert_summary_names(r: &ProbeReport, words: &[&str]) {
    assert!(
        words.iter().all(|w| r.verdict.summary.contains(w)),
        "{}",
        r.verdict.summary
    );
}

fn assert_failed(r: &ProbeReport, et: ErrorType, layer: Layer) {
    assert!(!r.verdict.ok, "expected failure, got {:#?}", r.verdict);
    assert_eq!(r.verdict.error_type, Some(et), "{:#?}", r.verdict);
    assert_eq!(r.verdict.layer, Some(layer), "{:#?}", r.verdict);
}

#[tokio::test]
async fn password_login_runs_echo_and_reports_every_layer() {
    let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    let r = with_password(&sshd, &["echo hello"]).await;
    assert!(r.verdict.ok, "{:#?}", r.events);
    assert_eq!(r.commands[0].stdout.as_deref(), Some("hello\n"));
    assert_eq!(r.commands[0].exit_code, Some(0));
    let t = types(&r);
    let order = [
        "CONNECT",
        "CONNECT",
        "VERSION",
        "KEX",
        "HOSTKEY",
        "KEX",
        "AUTH",
        "CHANNEL",
        "EXEC",
        "DISCONNECT",
        "VERDICT",
    ];
    let mut it = t.iter();
    for want in order {
        assert!(
            it.any(|x| x == want),
            "{want} missing or out of order in {t:?}"
        );
    }
    // The host key the probe saw is the one sshd has.
    let hk = first(&r, |d| match d {
        EventData::Hostkey(h) => Some(h.clone()),
        _ => None,
    });
    assert_eq!(
        Some(hk.fingerprint_sha256.as_str()),
        sshd.host_key_fingerprint("ed25519")
    );
    // Both KEXINIT proposals were read from the wire: the server's is OpenSSH's.
    let proposals = first(&r, |d| match d {
        EventData::Kex(k) if k.server_proposal.is_some() => Some(k.clone()),
        _ => None,
    });
    assert!(
        proposals
            .server_proposal
            .unwrap()
            .kex
            .iter()
            .any(|k| k == "curve25519-sha256")
    );
    let version = first(&r, |d| match d {
        EventData::Version(v) => Some(v.clone()),
        _ => None,
    });
    assert!(
        version.server_version.starts_with("SSH-2.0-OpenSSH_"),
        "{version:?}"
    );
    // Every phase but the relay's: this run connects directly.
    for p in Phase::ALL.into_iter().filter(|p| *p != Phase::Relay) {
        assert!(
            r.verdict.phases.contains_key(&p),
            "phase {p:?} missing: {:?}",
            r.verdict.phases
        );
    }
    // No secret anywhere in the stream.
    let all = serde_json::to_string(&r.events).unwrap();
    assert!(!all.contains(TEST_PASSWORD));
}

#[tokio::test]
async fn ed25519_and_encrypted_rsa_keys_log_in() {
    let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    let keys = sshd.client_keys().clone();
    let ed = AuthPlan::Credentials(vec![key(&keys.ed25519.private_key, None)]);
    let r = run_direct(options(sshd.port(), ed, &["true"]), &mut NoTrustStore).await;
    assert!(r.verdict.ok, "{:#?}", r.events);
    let rsa = AuthPlan::Credentials(vec![key(&keys.rsa_enc.private_key, Some(TEST_PASSPHRASE))]);
    let r = run_direct(options(sshd.port(), rsa, &["true"]), &mut NoTrustStore).await;
    assert!(r.verdict.ok, "{:#?}", r.events);
    let all = serde_json::to_string(&r.events).unwrap();
    assert!(!all.contains(TEST_PASSPHRASE) && !all.contains("PRIVATE KEY"));
}

#[tokio::test]
async fn wrong_passphrase_is_a_key_load_error_before_connecting() {
    let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    let keys = sshd.client_keys().clone();
    let rsa = AuthPlan::Credentials(vec![Credential::PrivateKey {
        key_text: Secret::new(keys.rsa_enc.private_key.clone()),
        passphrase: Some(Secret::new("not-the-passphrase")),
        label: Some("id_rsa_enc".into()),
        certificate: None,
    }]);
    let r = run_direct(options(sshd.port(), rsa, &[]), &mut NoTrustStore).await;
    assert_failed(&r, ErrorType::KeyLoadError, Layer::Client);
    assert!(
        !types(&r).contains(&"VERSION".to_string()),
        "it connected anyway"
    );
    assert!(hints(&r).contains("passphrase"), "{}", hints(&r));
}

#[tokio::test]
async fn keyboard_interactive_logs_in() {
    let sshd = SshdFixture::start(SshdOptions::with_config(["UsePAM yes"])).unwrap();
    let ki = AuthPlan::Credentials(vec![Credential::KeyboardInteractive {
        answers: vec![Secret::new(TEST_PASSWORD)],
    }]);
    let r = run_direct(options(sshd.port(), ki, &["true"]), &mut NoTrustStore).await;
    assert!(r.verdict.ok, "{:#?}", r.events);
    assert_summary_names(&r, &["keyboard_interactive"]);
}

#[tokio::test]
async fn wrong_password_is_auth_failed_with_the_servers_methods() {
    let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    let auth = AuthPlan::Credentials(vec![Credential::Password(Secret::new(
        "wrong-password-canary",
    ))]);
    let r = run_direct(options(sshd.port(), auth, &["true"]), &mut NoTrustStore).await;
    assert_failed(&r, ErrorType::AuthFailed, Layer::Auth);
    assert!(hints(&r).contains("password was rejected"), "{}", hints(&r));
    // … and what the server would take instead (a key may work where the password does not).
    assert!(
        hints(&r).contains("accepts for sshdiag-test: publickey,"),
        "{}",
        hints(&r)
    );
    assert!(
        !serde_json::to_string(&r.events)
            .unwrap()
            .contains("wrong-password-canary")
    );
}

#[tokio::test]
async fn unauthorised_key_is_auth_failed_naming_authorized_keys() {
    let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    let keys = sshd.client_keys().clone();
    let auth = AuthPlan::Credentials(vec![key(&keys.unauthorised_ed25519.private_key, None)]);
    let r = run_direct(options(sshd.port(), auth, &[]), &mut NoTrustStore).await;
    assert_failed(&r, ErrorType::AuthFailed, Layer::Auth);
    assert!(hints(&r).contains("authorized_keys"), "{}", hints(&r));
}

#[tokio::test]
async fn password_disabled_says_which_methods_the_server_accepts() {
    let sshd = SshdFixture::start(SshdOptions::with_config([
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
    ]))
    .unwrap();
    let r = with_password(&sshd, &[]).await;
    assert_failed(&r, ErrorType::AuthFailed, Layer::Auth);
    assert!(
        hints(&r).contains("does not accept passwords for this user; it accepts: publickey"),
        "{}",
        hints(&r)
    );
}

#[tokio::test]
async fn probe_only_lists_methods_without_a_secret() {
    let r = probe_only_against(&[]).await;
    assert_summary_names(&r, &["publickey", "password"]);
}

struct OneKeyStore(Vec<HostKeyInfo>);

impl TrustStore for OneKeyStore {
    fn lookup(&self, _: &str, _: u16) -> Vec<HostKeyInfo> {
        self.0.clone()
    }
    fn remember(&mut self, _: &str, _: u16, k: &HostKeyInfo) -> Result<(), String> {
        self.0.push(k.clone());
        Ok(())
    }
}

#[tokio::test]
async fn changed_host_key_is_a_mismatch_with_both_fingerprints() {
    let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    // First run learns the key (accept-new) …
    let mut store = OneKeyStore(Vec::new());
    let r = run_direct(options(sshd.port(), password(), &[]), &mut store).await;
    assert!(r.verdict.ok);
    let real = sshd.host_key_fingerprint("ed25519").unwrap().to_string();
    assert_eq!(store.0[0].fingerprint_sha256, real);
    // … then the server's key "changes": the store trusts another ed25519 key.
    let other = sshd.client_keys().unauthorised_ed25519.public_key.clone();
    let b64 = other.split_whitespace().nth(1).unwrap();
    let key = russh::keys::parse_public_key_base64(b64).unwrap();
    let mut store = OneKeyStore(vec![HostKeyInfo::from_public_key(&key)]);
    let mut o = options(sshd.port(), password(), &[]);
    o.host_key_policy = HostKeyPolicy::AcceptNew;
    let r = run_direct(o, &mut store).await;
    assert_failed(&r, ErrorType::HostKeyMismatch, Layer::Hostkey);
    let trusted = HostKeyInfo::from_public_key(&key).fingerprint_sha256;
    let h = hints(&r);
    assert!(h.contains(&real) && h.contains(&trusted), "{h}");
    assert!(
        !types(&r).contains(&"AUTH".to_string()),
        "authenticated to a mismatched host"
    );
}

#[tokio::test]
async fn strict_checking_without_a_known_key_is_host_key_unknown() {
    let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    let mut o = options(sshd.port(), password(), &[]);
    o.host_key_policy = HostKeyPolicy::Yes;
    let r = run_direct(o, &mut NoTrustStore).await;
    assert_failed(&r, ErrorType::HostKeyUnknown, Layer::Hostkey);
}

#[tokio::test]
async fn no_common_kex_names_the_category_both_offers_and_the_fix() {
    let sshd = SshdFixture::start(SshdOptions::with_config([
        "KexAlgorithms curve25519-sha256",
    ]))
    .unwrap();
    let mut o = options(sshd.port(), password(), &[]);
    o.algorithms = AlgorithmPrefs {
        kex: Some("diffie-hellman-group14-sha256".into()),
        ..Default::default()
    };
    let r = run_direct(o, &mut NoTrustStore).await;
    assert_failed(&r, ErrorType::NoMutualKex, Layer::Kex);
    let h = hints(&r);
    assert!(h.contains("-oKexAlgorithms=+curve25519-sha256"), "{h}");
    assert!(
        h.contains("KexAlgorithms +diffie-hellman-group14-sha256"),
        "{h}"
    );
    let err = error_data(&r);
    assert_eq!(err.context["category"], "kex");
}

#[tokio::test]
async fn closed_port_is_connection_refused() {
    let port = sshdiag_tests::sshd::free_loopback_port().unwrap();
    let r = run_direct(options(port, password(), &[]), &mut NoTrustStore).await;
    assert_failed(&r, ErrorType::ConnectionRefused, Layer::Tcp);
    assert!(hints(&r).contains(&format!("port {port}")), "{}", hints(&r));
}

#[tokio::test]
async fn http_server_on_the_port_is_not_ssh() {
    // A real HTTP server: Python's, from the machine.
    let port = sshdiag_tests::sshd::free_loopback_port().unwrap();
    let mut child = std::process::Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 is needed for the HTTP listener");
    // Waited for as before: a listener that never comes shows as a wrong verdict below.
    let _ = wait_for_port(port, Duration::from_secs(5));
    let r = run_direct(options(port, password(), &[]), &mut NoTrustStore).await;
    let _ = child.kill();
    let _ = child.wait();
    assert_failed(&r, ErrorType::NotSsh, Layer::Banner);
    assert!(
        r.verdict.hints.join(" ").contains("HTTP server"),
        "{}",
        hints(&r)
    );
    let err = error_data(&r);
    let first = err.context["first_line"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        first.contains("html") || first.starts_with("http/"),
        "the first line is not shown: {err:?}"
    );
}

#[tokio::test]
async fn silent_listener_is_banner_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let mut o = options(port, password(), &[]);
    o.connect_timeout_ms = 1_500;
    let r = run_direct(o, &mut NoTrustStore).await;
    hold.abort();
    assert_failed(&r, ErrorType::BannerTimeout, Layer::Banner);
    assert!(hints(&r).contains("SSH-2.0"), "{}", hints(&r));
}

#[tokio::test]
async fn nonzero_exit_is_a_successful_diagnosis() {
    let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    let r = with_password(&sshd, &["exit 3"]).await;
    assert!(r.verdict.ok, "{:#?}", r.verdict);
    assert_eq!(r.last_exit_code(), Some(3));
    assert_summary_names(&r, &["exited 3"]);
}

#[tokio::test]
async fn server_killed_mid_command_is_disconnected_during_exec() {
    let mut sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    let opts = options(sshd.port(), password(), &["sleep 30"]);
    let mut store = NoTrustStore;
    // run_direct checks the stream's invariants too.
    let probe = run_direct(opts, &mut store);
    let killer = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        sshd.kill().unwrap();
    };
    let (r, ()) = tokio::join!(probe, killer);
    assert_failed(&r, ErrorType::Disconnected, Layer::Transport);
    let err = error_data(&r);
    assert_eq!(err.phase, Some(Phase::Exec), "{err:?}");
}

/// A run through the relay's WebSocket, as the page makes it; the stream's invariants hold.
async fn through_relay(relay: &RelayFixture, opts: ProbeOptions) -> ProbeReport {
    let mut c = WsRelayConnector {
        url: relay.ws_url(),
        token: None,
    };
    let r = crate::probe_untrusted(opts, &mut c).await;
    check_stream_invariants(&r);
    r
}

#[tokio::test]
async fn through_the_relay_the_same_login_works_and_denials_are_the_relays() {
    let (sshd, relay) = crate::sshd_behind_relay().await;
    let r = through_relay(&relay, options(sshd.port(), password(), &["echo hello"])).await;
    assert!(r.verdict.ok, "{:#?}", r.events);
    assert_eq!(r.commands[0].stdout.as_deref(), Some("hello\n"));
    let t = types(&r);
    assert!(t.iter().filter(|x| *x == "PROXY").count() >= 3, "{t:?}");
    for p in [Phase::Relay, Phase::Dns, Phase::Tcp] {
        assert!(r.verdict.phases.contains_key(&p), "{p:?}");
    }
    // A target outside the allow list: the relay's refusal, not "connection refused".
    let r = through_relay(
        &relay,
        options(sshd.port().wrapping_add(1), password(), &[]),
    )
    .await;
    assert_failed(&r, ErrorType::ProxyDenied, Layer::Relay);
}

fn audit_grade(r: &ProbeReport, alg: &str) -> Option<String> {
    r.audit
        .iter()
        .find(|f| f.algorithm == alg)
        .map(|f| f.grade.to_string())
}

/// The audit graded each algorithm as given.
fn assert_grades(r: &ProbeReport, expected: &[(&str, &str)]) {
    for (alg, grade) in expected {
        assert_eq!(audit_grade(r, alg).as_deref(), Some(*grade), "{alg}");
    }
}

#[tokio::test]
async fn audit_grades_what_a_weak_server_offers() {
    let r = probe_only_against(&[
        "KexAlgorithms +diffie-hellman-group1-sha1,diffie-hellman-group14-sha1",
        "Ciphers +aes128-cbc,3des-cbc",
        "MACs +hmac-sha1",
        "HostKeyAlgorithms +ssh-rsa",
    ])
    .await;
    assert_grades(
        &r,
        &[
            ("diffie-hellman-group1-sha1", "broken"),
            ("diffie-hellman-group14-sha1", "weak"),
            ("3des-cbc", "broken"),
            ("aes128-cbc", "weak"),
            ("hmac-sha1", "weak"),
            ("ssh-rsa", "weak"),
        ],
    );
    // The findings are events too, so they reach the bundle and the page.
    let audit_events = r
        .events
        .iter()
        .filter(|e| e.event_type_name() == "AUDIT")
        .count();
    assert_eq!(audit_events, r.audit.len());
}

#[tokio::test]
async fn audit_finds_nothing_weak_in_a_strong_offer() {
    let r = probe_only_against(&[
        "KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256",
        "Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com",
        "MACs hmac-sha2-512-etm@openssh.com",
        "HostKeyAlgorithms ssh-ed25519",
    ])
    .await;
    let bad: Vec<_> = r.audit.iter().filter(|f| f.grade.needs_fix()).collect();
    assert!(bad.is_empty(), "{bad:#?}");
    assert_grades(
        &r,
        &[
            ("kex-strict-s-v00@openssh.com", "good"),
            ("sntrup761x25519-sha512@openssh.com", "good"),
        ],
    );
}

async fn forward_probe(sshd: &SshdFixture, port: u16) -> ProbeReport {
    let mut o = options(sshd.port(), password(), &[]);
    o.forward_probe = Some(("127.0.0.1".into(), port));
    run_direct(o, &mut NoTrustStore).await
}

#[tokio::test]
async fn forward_probe_tells_reachable_unreachable_and_forbidden_apart() {
    let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let r = forward_probe(&sshd, open).await;
    assert!(r.verdict.ok, "{:#?}", r.events);
    assert!(r.events.iter().any(|e| matches!(&e.data, EventData::Forward(f)
        if f.status == Some(sshdiag_events::ForwardStatus::Established) && f.forward_type == "probe")));

    let closed = sshdiag_tests::sshd::free_loopback_port().unwrap();
    let r = forward_probe(&sshd, closed).await;
    assert_failed(&r, ErrorType::ForwardFailed, Layer::Forward);
    assert!(
        hints(&r).contains("nothing accepts connections"),
        "{}",
        hints(&r)
    );

    let forbidden =
        SshdFixture::start(SshdOptions::with_config(["AllowTcpForwarding no"])).unwrap();
    let r = forward_probe(&forbidden, open).await;
    assert_failed(&r, ErrorType::ForwardFailed, Layer::Forward);
    assert!(
        hints(&r).contains("forbids TCP forwarding"),
        "{}",
        hints(&r)
    );
    drop(listener);
}

#[tokio::test]
async fn a_partial_success_chain_goes_on_to_the_next_method() {
    // The server wants a key AND the password.
    let sshd = SshdFixture::start(SshdOptions::with_config([
        "AuthenticationMethods publickey,password",
    ]))
    .unwrap();
    let ed25519 = key(&sshd.client_keys().ed25519.private_key, None);
    let both = AuthPlan::Credentials(vec![
        ed25519.clone(),
        Credential::Password(Secret::new(TEST_PASSWORD)),
    ]);
    let r = run_direct(options(sshd.port(), both, &["true"]), &mut NoTrustStore).await;
    assert!(r.verdict.ok, "{:#?}", r.events);
    assert!(r.events.iter().any(|e| matches!(&e.data, EventData::Auth(a)
        if a.status == Some(sshdiag_events::AuthStatus::Partial))));
    // The key alone is not enough: the verdict says the server wants another method.
    let r = run_direct(
        options(sshd.port(), AuthPlan::Credentials(vec![ed25519]), &[]),
        &mut NoTrustStore,
    )
    .await;
    assert_failed(&r, ErrorType::AuthFailed, Layer::Auth);
    assert!(hints(&r).contains("wants another as well"), "{}", hints(&r));
}

#[tokio::test]
async fn the_demo_servers_wrong_password_is_named_as_such() {
    let demo = sshdiag_proxy::demo::DemoServer::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let port = demo.local_addr().port();
    let mut o = ProbeOptions::new(
        "127.0.0.1",
        port,
        sshdiag_proxy::demo::USER,
        AuthPlan::Credentials(vec![Credential::Password(Secret::new("not-demo"))]),
    );
    o.timeout_ms = Some(30_000);
    let r = run_direct(o, &mut NoTrustStore).await;
    assert_failed(&r, ErrorType::AuthFailed, Layer::Auth);
    assert!(hints(&r).contains("password was rejected"), "{}", hints(&r));
    let mut o = ProbeOptions::new(
        "127.0.0.1",
        port,
        sshdiag_proxy::demo::USER,
        AuthPlan::Credentials(vec![Credential::Password(Secret::new(
            sshdiag_proxy::demo::PASSWORD,
        ))]),
    );
    o.commands = vec!["uname -a".into()];
    let r = run_direct(o, &mut NoTrustStore).await;
    assert!(r.verdict.ok, "{:#?}", r.verdict);
}
