//! Certificate login through the real `sshdiag` binary against a real sshd with
//! `TrustedUserCAKeys`: a certificate signed by the trusted CA logs in (with a key the server
//! does not list in `authorized_keys`), the certificate's public facts are an event before
//! connecting, and an expired, not-yet-valid, wrong-principal or untrusted-CA certificate is
//! refused with the hint that names that cause. Host side: a key on an `@revoked` line is
//! refused under every policy, and so is a host certificate whose CA is on one, and a real sshd's `HostCertificate` is trusted through an
//! `@cert-authority` line, or refused as expired, for another name, or from an unknown CA.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sshdiag_tests::certs;
use sshdiag_tests::sshd::{SshdFixture, TEST_USER};

/// `sshdiag -F none` to `sshd` as the test user with strict checking `policy` and `options`,
/// its events to `events`, running `echo WORD`.
fn run(sshd: &SshdFixture, policy: &str, options: &[&OsStr], events: &Path, word: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sshdiag"))
        .args(["-F", "none", "--strict-host-key-checking", policy])
        .args(["-p", &sshd.port().to_string()])
        .args(options)
        .arg("--events-file")
        .arg(events)
        .arg(format!("{TEST_USER}@127.0.0.1"))
        .args(["echo", word])
        .env("HOME", std::env::temp_dir())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// `sshdiag` with this key and certificate and no host key checking.
fn sshdiag(sshd: &SshdFixture, key: &Path, cert: &Path, events: &Path) -> Output {
    let cert = format!("CertificateFile={}", cert.display());
    let options = ["-i".as_ref(), key.as_os_str(), "-o".as_ref(), cert.as_ref()];
    run(sshd, "no", &options, events, "cert-ok")
}

/// The events of a run, parsed.
fn events(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn certificate_login_works_and_each_refusal_names_its_cause() {
    let scene = certs::user_ca_scene();
    let (sshd, (_, ca_fp), (_, other_fp)) = (&scene.sshd, &scene.cas.ca, &scene.cas.other_ca);
    let user = TEST_USER;
    let signed = scene.sign_user_certs(user, 7);
    let (key, ev) = (&signed.key, scene.cas.dir.path().join("events.jsonl"));

    let out = sshdiag(sshd, &key.path, &signed.valid, &ev);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "cert-ok\n",
        "{err}\n{}",
        sshd.log()
    );
    assert_eq!(out.status.code(), Some(0), "{err}");
    let evs = events(&ev);
    let described = evs
        .iter()
        .position(|e| e["code"] == "auth-certificate")
        .expect("the certificate is described");
    let connected = evs
        .iter()
        .position(|e| e["code"] == "connect-established")
        .unwrap();
    assert!(
        described < connected,
        "described before the transport opens"
    );
    let c = &evs[described]["data"]["certificate"];
    assert_eq!(c["key_id"], "valid");
    assert_eq!(c["serial"], 7);
    assert_eq!(c["principals"], serde_json::json!([user]));
    assert_eq!(c["ca_fingerprint"], ca_fp.as_str());
    assert!(
        !std::fs::read_to_string(&ev)
            .unwrap()
            .contains("PRIVATE KEY")
    );

    let cases: Vec<(&str, &PathBuf, String)> = vec![
        (
            "expired",
            &signed.expired,
            "the certificate expired at 2020-01-02".into(),
        ),
        (
            "not-yet-valid",
            &signed.not_yet_valid,
            "the certificate is not valid before".into(),
        ),
        (
            "wrong-principal",
            &signed.wrong_principal,
            format!("the login user {user:?} is not among the principals (someone-else, admin)"),
        ),
        (
            "source-address",
            &signed.source_address,
            "its source-address option (10.9.8.0/24) does not include 127.0.0.1, the address the server sees".into(),
        ),
        (
            "untrusted-ca",
            &signed.untrusted_ca,
            format!(
                "TrustedUserCAKeys (sshd_config) must list the CA key with fingerprint {other_fp}"
            ),
        ),
    ];
    for (name, cert, cause) in &cases {
        let out = sshdiag(sshd, &key.path, cert, &ev);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{name}: {err}");
        let verdict = events(&ev)
            .into_iter()
            .find(|e| e["event_type"] == "VERDICT")
            .unwrap();
        assert_eq!(
            verdict["data"]["error_type"], "AuthFailed",
            "{name}: {verdict}"
        );
        let hints: Vec<String> = serde_json::from_value(verdict["data"]["hints"].clone()).unwrap();
        // The certificate's own evidence comes first.
        assert!(hints[0].contains(cause.as_str()), "{name}: {hints:?}");
        let hints = hints.join("\n");
        assert!(
            err.contains(cause.as_str()),
            "{name}: the summary shows it: {err}"
        );
        // Only the cause of this certificate is named.
        for (other, _, other_cause) in &cases {
            if other != name {
                assert!(!hints.contains(other_cause.as_str()), "{name}: {hints}");
            }
        }
    }
}

/// `sshdiag` with the fixture's authorised key, this `known_hosts` and strict checking `policy`;
/// the run's events.
fn sshdiag_host(
    sshd: &SshdFixture,
    known_hosts: &Path,
    policy: &str,
    ev: &Path,
) -> (Output, Vec<serde_json::Value>) {
    let key = sshd.client_keys().ed25519.path.as_os_str();
    let options = [
        "--known-hosts".as_ref(),
        known_hosts.as_os_str(),
        "-i".as_ref(),
        key,
    ];
    let out = run(sshd, policy, &options, ev, "host-ok");
    (out, events(ev))
}

fn code_of<'a>(evs: &'a [serde_json::Value], event_type: &str) -> &'a serde_json::Value {
    &evs.iter()
        .find(|e| e["event_type"] == event_type)
        .unwrap_or_else(|| panic!("no {event_type}: {evs:?}"))["code"]
}

#[test]
fn host_certificates_and_revoked_keys_are_decided_in_the_probe() {
    let mut scene = certs::host_ca_scene();
    let (ca, other_ca) = (scene.cas.ca.0.clone(), scene.cas.other_ca.0.clone());
    let host_key = scene.host_key.clone();
    let port = scene.sshd.port();
    let ev = scene.cas.dir.path().join("events.jsonl");

    // A key on an @revoked line is refused under every policy, even with checking off.
    let revoked = format!(
        "@revoked [127.0.0.1]:{port} {}\n",
        host_key.public_key.trim()
    );
    let known_hosts = scene.known_hosts(&revoked);
    for policy in ["yes", "accept-new", "no"] {
        let (out, evs) = sshdiag_host(&scene.sshd, &known_hosts, policy, &ev);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.stdout.is_empty(), "{policy}: {err}");
        assert_eq!(code_of(&evs, "HOSTKEY"), "host-key-revoked", "{policy}");
        let verdict = evs.iter().find(|e| e["event_type"] == "VERDICT").unwrap();
        assert_eq!(verdict["data"]["code"], "host-key-revoked", "{policy}");
        assert!(err.contains("@revoked"), "{policy}: {err}");
    }

    // Host certificates, trusted through an @cert-authority line for this name and port.
    let ca_line = std::fs::read_to_string(format!("{}.pub", ca.display())).unwrap();
    scene.known_hosts(&format!("@cert-authority [127.0.0.1]:{port} {ca_line}"));
    let cases: [(&str, &Path, &[&str], &str); 4] = [
        ("valid", &ca, &["-n", "127.0.0.1", "-V", "-5m:+1h"], ""),
        (
            "expired",
            &ca,
            &["-n", "127.0.0.1", "-V", "20200101:20200102"],
            "the host certificate expired at 2020-01-02",
        ),
        (
            "other-name",
            &ca,
            &["-n", "db.example.com"],
            "the host certificate is for db.example.com, not for \"127.0.0.1\"",
        ),
        (
            "unknown-ca",
            &other_ca,
            &["-n", "127.0.0.1"],
            "which no @cert-authority line in known_hosts trusts",
        ),
    ];
    for (name, signer, extra, reason) in cases {
        scene.serve_host_certificate(signer, name, extra);
        let (out, evs) = sshdiag_host(&scene.sshd, &known_hosts, "yes", &ev);
        let err = String::from_utf8_lossy(&out.stderr);
        if reason.is_empty() {
            assert_eq!(String::from_utf8_lossy(&out.stdout), "host-ok\n", "{err}");
            assert_eq!(code_of(&evs, "HOSTKEY"), "hostkey-trusted");
            continue;
        }
        assert!(out.stdout.is_empty(), "{name}: {err}");
        assert_eq!(
            code_of(&evs, "HOSTKEY"),
            "host-certificate-refused",
            "{name}"
        );
        let verdict = evs.iter().find(|e| e["event_type"] == "VERDICT").unwrap();
        assert_eq!(
            verdict["data"]["code"], "host-certificate-refused",
            "{name}"
        );
        let summary = verdict["data"]["summary"].to_string() + &err;
        assert!(summary.contains(reason), "{name}: {summary}");
    }

    // A host certificate signed by a CA whose key is on an @revoked line is refused under every
    // policy, even beside an @cert-authority line for that CA, and the error names the CA.
    let ca_fp = scene.cas.ca.1.clone();
    scene.serve_host_certificate(&ca, "revoked-ca", &["-n", "127.0.0.1", "-V", "-5m:+1h"]);
    let known_hosts = scene.known_hosts(&format!(
        "@cert-authority [127.0.0.1]:{port} {ca_line}@revoked * {ca_line}"
    ));
    for policy in ["yes", "accept-new", "no"] {
        let (out, evs) = sshdiag_host(&scene.sshd, &known_hosts, policy, &ev);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.stdout.is_empty(), "{policy}: {err}");
        assert_eq!(code_of(&evs, "HOSTKEY"), "host-key-revoked", "{policy}");
        let error = evs.iter().find(|e| e["event_type"] == "ERROR").unwrap();
        let message = error["data"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!(
                "signed by CA {ca_fp}, whose key is marked @revoked"
            )),
            "{policy}: {message}"
        );
        assert!(err.contains(&ca_fp), "{policy}: {err}");
    }
}

#[test]
fn behind_a_jump_host_a_source_address_certificate_says_the_address_is_not_known() {
    use sshdiag_tests::sshd::{SshdOptions, TEST_PASSWORD};
    let cas = certs::two_cas("ca", "other-ca");
    // The target takes certificates only; the bastion takes the password.
    let target = SshdFixture::start(SshdOptions::with_config([
        format!("TrustedUserCAKeys {}.pub", cas.ca.0.display()),
        "PasswordAuthentication no".into(),
        "KbdInteractiveAuthentication no".into(),
    ]))
    .unwrap();
    let bastion = SshdFixture::start(SshdOptions::default()).unwrap();
    let key = target.client_keys().unauthorised_ed25519.clone();
    let cert = certs::sign(
        cas.dir.path(),
        &cas.ca.0,
        &key.public_key,
        "behind",
        3,
        &["-n", TEST_USER, "-O", "source-address=10.9.9.9/32"],
    );
    let ev = cas.dir.path().join("events.jsonl");
    let jump = format!("{TEST_USER}@127.0.0.1:{}", bastion.port());
    let cert_option = format!("CertificateFile={}", cert.display());
    let options: [&OsStr; 8] = [
        "-J".as_ref(),
        jump.as_ref(),
        "--password-env".as_ref(),
        "SSHDIAG_PW".as_ref(),
        "-i".as_ref(),
        key.path.as_os_str(),
        "-o".as_ref(),
        cert_option.as_ref(),
    ];
    let mut command = Command::new(env!("CARGO_BIN_EXE_sshdiag"));
    let out = command
        .args(["-F", "none", "--strict-host-key-checking", "no"])
        .args(["-p", &target.port().to_string()])
        .args(options)
        .arg("--events-file")
        .arg(&ev)
        .args([&format!("{TEST_USER}@127.0.0.1"), "true"])
        .env("SSHDIAG_PW", TEST_PASSWORD)
        .env("HOME", cas.dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    let evs = events(&ev);
    let verdict = evs.iter().find(|e| e["event_type"] == "VERDICT").unwrap();
    assert_eq!(verdict["data"]["error_type"], "AuthFailed", "{verdict}");
    let hints: Vec<String> = serde_json::from_value(verdict["data"]["hints"].clone()).unwrap();
    assert!(
        hints[0].contains("source-address option (10.9.9.9/32)")
            && hints[0].contains("not known to this run")
            && hints[0].contains("jump host's own address"),
        "{hints:?}"
    );
    // The real sshd refused it for that very reason.
    assert!(target.log().contains("source-address"), "{}", target.log());
}

#[test]
fn through_the_relay_source_address_is_judged_against_the_relays_address() {
    let scene = certs::user_ca_scene();
    let signed = scene.sign_user_certs(TEST_USER, 9);
    let sshd = &scene.sshd;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let relay = runtime
        .block_on(sshdiag_tests::relay::RelayFixture::start(vec![format!(
            "127.0.0.1/32:{}",
            sshd.port()
        )]))
        .unwrap();
    let ev = scene.cas.dir.path().join("events.jsonl");
    let cert = format!("CertificateFile={}", signed.source_address.display());
    let url = relay.ws_url();
    let options: [&OsStr; 6] = [
        "--proxy".as_ref(),
        url.as_ref(),
        "-i".as_ref(),
        signed.key.path.as_os_str(),
        "-o".as_ref(),
        cert.as_ref(),
    ];
    let out = run(sshd, "no", &options, &ev, "cert-ok");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    let evs = events(&ev);
    let verdict = evs.iter().find(|e| e["event_type"] == "VERDICT").unwrap();
    let hints: Vec<String> = serde_json::from_value(verdict["data"]["hints"].clone()).unwrap();
    assert!(
        hints[0].contains("its source-address option (10.9.8.0/24) does not include 127.0.0.1")
            && hints[0].contains("the server sees the relay's address"),
        "{hints:?}"
    );
    runtime.block_on(relay.shutdown());
}
