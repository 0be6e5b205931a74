//! Diagnostic depth, as a user of the `sshdiag` binary sees it: real listeners that behave as
//! broken servers do before their banner (reset, close, silence, a drip of lines, an SSH-1
//! banner, OpenSSH's MaxStartups refusal), and a real sshd for partial success and the seed's
//! fields. Each test asserts the error type, code and layer and the words of the hint.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use sshdiag_core::wire::{binary_packet, minimal_kexinit};
use sshdiag_events::{Event, EventData};
use sshdiag_tests::sshd::{SshdFixture, SshdOptions, TEST_USER};

/// Run against `port` with a short connect timeout and return the events.
fn run(port: u16, extra: &[&str]) -> Vec<Event> {
    let flags = [&["--connect-timeout", "3"], extra].concat();
    crate::common::events_of(port, TEST_USER, &flags, &["true"])
}

/// The ERROR event's error type, code, layer, message and hints (joined), and its context.
fn error(events: &[Event]) -> (String, String, String, String, String, serde_json::Value) {
    let e = events
        .iter()
        .find(|e| matches!(e.data, EventData::Error(_)))
        .unwrap_or_else(|| panic!("no ERROR in {events:#?}"));
    let EventData::Error(d) = &e.data else {
        unreachable!()
    };
    let layer = serde_json::to_value(d.layer).unwrap();
    (
        d.error_type.clone(),
        e.code.as_str().to_string(),
        layer.as_str().unwrap_or_default().to_string(),
        d.message.clone(),
        d.hints.join("\n"),
        serde_json::Value::Object(d.context.clone()),
    )
}

fn verdict_summary(events: &[Event]) -> String {
    match events.last().map(|e| &e.data) {
        Some(EventData::Verdict(v)) => v.summary.clone(),
        other => panic!("VERDICT is not last: {other:?}"),
    }
}

/// A loopback listener that treats each connection with `serve`.
fn listener(serve: impl Fn(TcpStream) + Send + 'static) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            serve(s);
        }
    });
    addr
}

/// SO_LINGER with a zero timeout, so that closing the socket resets the connection.
fn zero_linger(s: &TcpStream) {
    sshdiag_tests::ports::reset_on_close(s).expect("setsockopt SO_LINGER");
}

#[test]
fn a_reset_after_the_tcp_handshake_is_named_as_a_reset_never_a_refusal() {
    let addr = listener(|s| {
        // SO_LINGER 0: close sends RST instead of FIN.
        zero_linger(&s);
        std::thread::sleep(Duration::from_millis(100));
        drop(s);
    });
    let ev = run(addr.port(), &["--probe-auth"]);
    let (et, code, layer, msg, hints, ctx) = error(&ev);
    assert_eq!(
        (et.as_str(), code.as_str(), layer.as_str()),
        ("Disconnected", "reset-before-banner", "banner"),
        "{msg}"
    );
    assert_eq!(ctx["ending"], "reset");
    assert!(hints.contains("not a refused connection"), "{hints}");
    assert!(!verdict_summary(&ev).contains("refused"), "{ev:#?}");
}

#[test]
fn an_orderly_close_without_a_word_is_a_close_before_the_banner() {
    let addr = listener(|mut s| {
        // Read the client's identification first: closing with unread data would reset.
        let mut buf = [0u8; 256];
        let _ = std::io::Read::read(&mut s, &mut buf);
        std::thread::sleep(Duration::from_millis(100));
        drop(s);
    });
    let ev = run(addr.port(), &["--probe-auth"]);
    let (et, code, layer, _msg, hints, ctx) = error(&ev);
    assert_eq!(
        (et.as_str(), code.as_str(), layer.as_str()),
        ("Disconnected", "closed-before-banner", "banner")
    );
    assert_eq!(ctx["ending"], "closed");
    assert!(hints.contains("closed in order"), "{hints}");
}

#[test]
fn silence_is_a_banner_timeout_with_the_nc_check() {
    let addr = listener(|s| {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(10));
            drop(s);
        });
    });
    let ev = run(addr.port(), &["--probe-auth"]);
    let (et, code, layer, _msg, hints, ctx) = error(&ev);
    assert_eq!(
        (et.as_str(), code.as_str(), layer.as_str()),
        ("BannerTimeout", "banner-timeout", "banner")
    );
    assert_eq!(ctx["ending"], "silent");
    assert!(hints.contains("sent nothing"), "{hints}");
}

#[test]
fn a_server_that_drips_lines_is_named_a_tarpit_and_its_lines_are_shown() {
    let addr = listener(|mut s| {
        std::thread::spawn(move || {
            for i in 0..20 {
                if writeln!(s, "drip line {i}\r").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        });
    });
    let ev = run(addr.port(), &["--probe-auth"]);
    let (et, code, layer, msg, hints, ctx) = error(&ev);
    assert_eq!(
        (et.as_str(), code.as_str(), layer.as_str()),
        ("BannerTimeout", "banner-tarpit", "banner")
    );
    assert!(msg.contains("\"drip line 0\""), "{msg}");
    assert_eq!(ctx["pre_banner_lines"][0], "drip line 0");
    assert!(hints.contains("tarpit"), "{hints}");
}

#[test]
fn an_ssh_1_banner_is_named_as_that_protocol_version_at_the_banner_layer() {
    let addr = listener(|mut s| {
        let _ = s.write_all(b"SSH-1.5-OpenSSH_2.9\n");
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(5));
            drop(s);
        });
    });
    let ev = run(addr.port(), &["--probe-auth"]);
    let (et, code, layer, msg, hints, _) = error(&ev);
    assert_eq!(
        (et.as_str(), code.as_str(), layer.as_str()),
        ("NotSsh", "protocol-version-unsupported", "banner")
    );
    assert!(msg.contains("SSH protocol 1.5"), "{msg}");
    assert!(hints.contains("SSH-1"), "{hints}");
    assert!(verdict_summary(&ev).contains("SSH-1"));
}

#[test]
fn openssh_maxstartups_and_penalty_lines_are_quoted_and_interpreted() {
    for (text, refusal, words) in [
        ("Exceeded MaxStartups", "max_startups", "MaxStartups"),
        (
            "Not allowed at this time",
            "per_source_penalties",
            "PerSourcePenalties",
        ),
    ] {
        let line = format!("{text}\r\n");
        let addr = listener(move |mut s| {
            let _ = s.write_all(line.as_bytes());
            drop(s);
        });
        let ev = run(addr.port(), &["--probe-auth"]);
        let (et, code, layer, msg, hints, ctx) = error(&ev);
        assert_eq!(
            (et.as_str(), code.as_str(), layer.as_str()),
            ("Disconnected", "refused-before-banner", "banner")
        );
        assert!(msg.contains(&format!("{text:?}")), "{msg}");
        assert_eq!(ctx["refusal"], refusal);
        assert!(hints.contains(words), "{hints}");
        assert!(hints.contains("journalctl"), "{hints}");
    }
}

#[test]
fn partial_success_says_the_first_step_was_accepted_and_what_the_server_wants() {
    let sshd = SshdFixture::start(SshdOptions::with_config([
        "AuthenticationMethods publickey,password",
    ]))
    .unwrap();
    let key = sshd.client_keys().ed25519.path.clone();
    let ev = run(sshd.port(), &["-i", key.to_str().unwrap()]);
    let (et, code, layer, msg, hints, ctx) = error(&ev);
    assert_eq!(
        (et.as_str(), code.as_str(), layer.as_str()),
        ("AuthFailed", "auth-incomplete", "auth")
    );
    assert!(
        msg.contains("first step (private_key) was accepted"),
        "{msg}"
    );
    assert!(hints.contains("now wants password"), "{hints}");
    assert!(!msg.contains("every method"), "{msg}");
    assert_eq!(ctx["methods_accepted"][0], "private_key");
    // The seed's field sits on the ERROR data itself.
    let EventData::Error(d) = &ev
        .iter()
        .find(|e| matches!(e.data, EventData::Error(_)))
        .unwrap()
        .data
    else {
        unreachable!()
    };
    assert_eq!(d.methods_tried, vec!["private_key".to_string()]);
}

#[test]
fn the_connected_event_carries_the_auth_method_that_worked() {
    let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    let ev = run(sshd.port(), &["--password-env", "SSHDIAG_PW"]);
    let methods: Vec<String> = ev
        .iter()
        .filter_map(|e| match &e.data {
            EventData::Connect(c) => c.auth_method.map(|m| m.as_str().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(methods, vec!["password".to_string()], "{ev:#?}");
}

#[test]
fn a_server_that_ends_the_login_after_too_many_keys_is_reported_in_its_own_words() {
    let sshd = SshdFixture::start(SshdOptions::with_config(["MaxAuthTries 2"])).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut args = Vec::new();
    for path in crate::common::stray_keys(dir.path(), 3) {
        args.push("-i".to_string());
        args.push(path.to_str().unwrap().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ev = run(sshd.port(), &args);
    let (et, code, layer, msg, hints, ctx) = error(&ev);
    assert_eq!(
        (et.as_str(), code.as_str(), layer.as_str()),
        ("Disconnected", "auth-disconnected", "auth"),
        "{msg}"
    );
    assert!(msg.contains("Too many authentication failures"), "{msg}");
    assert!(hints.contains("MaxAuthTries"), "{hints}");
    assert!(hints.contains("IdentitiesOnly"), "{hints}");
    assert!(ctx["keys_offered"].as_array().unwrap().len() >= 2, "{ctx}");
    assert!(!hints.contains("client-side error") || hints.contains("not a client-side error"));
}

/// A server KEXINIT packet (unencrypted binary packet) offering what russh speaks.
fn kexinit_packet() -> Vec<u8> {
    binary_packet(&minimal_kexinit("curve25519-sha256", "hmac-sha2-256"))
}

#[test]
fn a_stall_after_the_clients_kex_init_names_the_messages_and_the_path_mtu_symptom() {
    let addr = listener(|mut s| {
        let _ = s.write_all(b"SSH-2.0-Stall_1.0\r\n");
        let _ = s.write_all(&kexinit_packet());
        std::thread::spawn(move || {
            // Read whatever comes and never answer: the reply is "lost on the path".
            let mut buf = [0u8; 4096];
            while matches!(std::io::Read::read(&mut s, &mut buf), Ok(n) if n > 0) {}
        });
    });
    let ev = run(addr.port(), &["--probe-auth", "--timeout", "3"]);
    let (et, code, _layer, msg, hints, ctx) = error(&ev);
    assert_eq!(
        (et.as_str(), code.as_str()),
        ("Timeout", "timeout"),
        "{msg}"
    );
    assert!(msg.contains("KEX_ECDH_INIT"), "{msg}");
    assert!(
        ctx["awaited"].as_str().unwrap().contains("KEX_ECDH_REPLY"),
        "{ctx}"
    );
    assert!(hints.contains("path-MTU"), "{hints}");
}

#[test]
fn a_fast_flood_of_lines_without_a_banner_is_a_tarpit_too() {
    let addr = listener(|mut s| {
        let text: String = (0..40).map(|i| format!("line {i} of noise\r\n")).collect();
        let _ = s.write_all(text.as_bytes());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(5));
            drop(s);
        });
    });
    let ev = run(addr.port(), &["--probe-auth"]);
    let (et, code, layer, msg, hints, ctx) = error(&ev);
    assert_eq!(
        (et.as_str(), code.as_str(), layer.as_str()),
        ("NotSsh", "banner-tarpit", "banner"),
        "{msg}"
    );
    assert_eq!(ctx["ending"], "drip");
    assert!(msg.contains("\"line 0 of noise\""), "{msg}");
    assert!(hints.contains("tarpit"), "{hints}");
}
