//! A jump host's own `Host` block beyond its address and user: its key offered with the
//! certificate its `CertificateFile` names (the key alone is not authorised there), its own
//! `UserKnownHostsFile` and `StrictHostKeyChecking`, and its own `KexAlgorithms`, each applied
//! to that hop only, against a real bastion (trusting a user CA) and a real target.

use std::process::{Command, Output};

use sshdiag_events::{AuthMethod, ErrorType, Event, EventData, read_jsonl};
use sshdiag_tests::certs;
use sshdiag_tests::sshd::{SshdFixture, SshdOptions, TEST_PASSWORD, TEST_USER};

use crate::common::write_file;

/// `sshdiag -F CONFIG db echo hop` with `HOME` at `home` and the password for the target.
fn run(config: &std::path::Path, home: &std::path::Path) -> (Output, Vec<Event>) {
    let events = home.join("events.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_sshdiag"))
        .arg("-F")
        .arg(config)
        .args(["--password-env", "SSHDIAG_PW", "--events-file"])
        .arg(&events)
        .args(["db", "echo", "hop"])
        .env("SSHDIAG_PW", TEST_PASSWORD)
        .env("HOME", home)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&events).unwrap_or_default();
    (out, read_jsonl(&text).events)
}

fn at_hop(events: &[Event], index: u32) -> impl Iterator<Item = &Event> {
    events
        .iter()
        .filter(move |e| e.hop.as_ref().is_some_and(|h| h.index == index))
}

#[test]
fn a_jump_hosts_certificate_known_hosts_checking_and_algorithms_are_its_own() {
    let scene = certs::user_ca_scene();
    let bastion = &scene.sshd;
    let user_certs = scene.sign_user_certs(TEST_USER, 31);
    let target = SshdFixture::start(SshdOptions::default()).unwrap();
    let home = tempfile::tempdir().unwrap();
    let bastion_kh = home.path().join("bastion_known_hosts");
    let config_text = |checking: &str| {
        format!(
            "Host bastion\n  HostName 127.0.0.1\n  Port {}\n  User {TEST_USER}\n  IdentityFile {}\n  \
             CertificateFile {}\n  UserKnownHostsFile {}\n  StrictHostKeyChecking {checking}\n  \
             KexAlgorithms diffie-hellman-group14-sha256\n  ConnectTimeout 7\n\
             Host db\n  HostName 127.0.0.1\n  Port {}\n  User {TEST_USER}\n  ProxyJump bastion\n",
            bastion.port(),
            user_certs.key.path.display(),
            user_certs.valid.display(),
            bastion_kh.display(),
            target.port(),
        )
    };

    // Strict checking at the bastion only: its own known_hosts is empty, so it is refused
    // there, although the target's policy (the default, accept-new) would have taken it.
    let config = write_file(home.path(), "config", &config_text("yes"));
    let (out, events) = run(&config, home.path());
    assert_eq!(
        out.status.code(),
        Some(255),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let error = events
        .iter()
        .find_map(|e| match &e.data {
            EventData::Error(d) => Some((e.hop.as_ref().map(|h| h.index), d)),
            _ => None,
        })
        .expect("an ERROR");
    assert_eq!(error.0, Some(0), "{:?}", error.1);
    assert_eq!(
        ErrorType::from_wire(&error.1.error_type),
        Some(ErrorType::HostKeyUnknown),
        "{:?}",
        error.1
    );

    // Accept-new at the bastion: the run gets through.
    let config = write_file(home.path(), "config", &config_text("accept-new"));
    let (out, events) = run(&config, home.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hop\n");

    // The bastion's key went into its own file, the target's into the default one.
    let own = std::fs::read_to_string(&bastion_kh).unwrap_or_default();
    let default = std::fs::read_to_string(home.path().join(".ssh/known_hosts")).unwrap_or_default();
    let (b, t) = (
        format!("[127.0.0.1]:{} ", bastion.port()),
        format!("[127.0.0.1]:{} ", target.port()),
    );
    assert!(own.contains(&b) && !own.contains(&t), "bastion file: {own}");
    assert!(
        default.contains(&t) && !default.contains(&b),
        "default file: {default}"
    );

    // The bastion let the key in with its certificate (alone it is not authorised there).
    let login = at_hop(&events, 0)
        .find(|e| e.code == "auth-success")
        .expect("a login at the bastion");
    assert!(
        matches!(&login.data, EventData::Auth(a) if a.method == Some(AuthMethod::PrivateKey)),
        "{login:?}"
    );
    let described = at_hop(&events, 0).find_map(|e| match &e.data {
        EventData::Auth(a) if e.code == "auth-certificate" => a.certificate.clone(),
        _ => None,
    });
    assert_eq!(
        described.map(|c| c.serial),
        Some(31),
        "the bastion's certificate is described at its hop"
    );
    assert!(
        bastion.log().contains("Accepted publickey for") && bastion.log().contains("CERT"),
        "{}",
        bastion.log()
    );

    // The bastion's KexAlgorithms held for the bastion only.
    let kex_of = |index: u32| {
        at_hop(&events, index).find_map(|e| match &e.data {
            EventData::Kex(k) if k.negotiated.kex.is_some() => k.negotiated.kex.clone(),
            _ => None,
        })
    };
    assert_eq!(kex_of(0).as_deref(), Some("diffie-hellman-group14-sha256"));
    assert_ne!(kex_of(1).as_deref(), Some("diffie-hellman-group14-sha256"));
}
