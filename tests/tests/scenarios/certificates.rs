//! User certificates before the connection: certificates signed by a CA made with the real
//! `ssh-keygen -s` (valid, expired, not yet valid, wrong principal, `source-address`, another
//! CA) are described with their public facts, and the reasons sshdiag names from the
//! certificate alone are checked against what a real sshd with `TrustedUserCAKeys` does with
//! each when OpenSSH's own client offers it.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use sshdiag_cli::identity::{describe_certificates, find_certificates};
use sshdiag_core::certificate::{Clock, Refusal, parse, refusal_hint, refusal_reasons};
use sshdiag_tests::certs::{self, keygen, new_ca};
use sshdiag_tests::openssh;
use sshdiag_tests::sshd::{SshdFixture, TEST_USER};

/// Sign `public_key` as `NAME.pub` (serial 42) and return `NAME-cert.pub`.
fn sign(dir: &Path, ca: &Path, public_key: &str, name: &str, extra: &[&str]) -> PathBuf {
    certs::sign(dir, ca, public_key, name, 42, extra)
}

/// Whether OpenSSH's client logs in with this key and certificate.
fn openssh_login(sshd: &SshdFixture, key: &Path, cert: &Path) -> bool {
    let out = openssh::ssh_batch(key, sshd.port())
        .unwrap()
        .arg("-o")
        .arg(format!("CertificateFile={}", cert.display()))
        .arg(format!("{TEST_USER}@127.0.0.1"))
        .arg("echo cert-ok")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "cert-ok"
}

/// Which refusal a case must produce.
type IsReason = fn(&Refusal) -> bool;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn reasons_from_the_certificate_match_what_a_real_sshd_does() {
    let scene = certs::user_ca_scene();
    let user = TEST_USER;
    let signed = scene.sign_user_certs(user, 42);
    let (sshd, key) = (&scene.sshd, &signed.key);
    let (ca_fp, other_fp) = (&scene.cas.ca.1, &scene.cas.other_ca.1);
    let clock = Clock {
        now: now(),
        skew: 60,
    };
    let here: Option<IpAddr> = Some("127.0.0.1".parse().unwrap());
    let cases: Vec<(&str, &PathBuf, Option<IsReason>)> = vec![
        ("valid", &signed.valid, None),
        (
            "expired",
            &signed.expired,
            Some(|r| matches!(r, Refusal::Expired { .. })),
        ),
        (
            "not-yet-valid",
            &signed.not_yet_valid,
            Some(|r| matches!(r, Refusal::NotYetValid { .. })),
        ),
        (
            "wrong-principal",
            &signed.wrong_principal,
            Some(|r| matches!(r, Refusal::UserNotAPrincipal { .. })),
        ),
        (
            "source-address",
            &signed.source_address,
            Some(|r| matches!(r, Refusal::SourceAddress { .. })),
        ),
        ("untrusted-ca", &signed.untrusted_ca, None),
    ];
    for (name, cert, expected) in &cases {
        let (_, facts) = parse(&std::fs::read_to_string(cert).unwrap()).unwrap();
        let reasons = refusal_reasons(&facts, user, clock, here);
        let server_accepts = openssh_login(sshd, &key.path, cert);
        match expected {
            Some(is_it) => {
                assert_eq!(reasons.len(), 1, "{name}: {reasons:?}");
                assert!(is_it(&reasons[0]), "{name}: {reasons:?}");
                assert!(!server_accepts, "{name}: sshd accepted it\n{}", sshd.log());
            }
            None if *name == "valid" => {
                assert!(reasons.is_empty(), "{name}: {reasons:?}");
                assert!(server_accepts, "{name}: sshd refused it\n{}", sshd.log());
                assert_eq!(&facts.ca_fingerprint, ca_fp);
            }
            None => {
                // Nothing in the certificate explains the refusal: the hint names the CA.
                assert!(reasons.is_empty(), "{name}: {reasons:?}");
                assert!(!server_accepts, "{name}: sshd accepted it");
                let hint = refusal_hint(&facts, user, clock, here);
                assert!(
                    hint.contains("TrustedUserCAKeys") && hint.contains(other_fp.as_str()),
                    "{hint}"
                );
            }
        }
    }
}

#[test]
fn a_certificate_is_described_with_its_public_facts_as_ssh_keygen_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ca, ca_fp) = new_ca(d, "ca");
    let key = d.join("id_ed25519");
    keygen(&["-q", "-t", "ed25519", "-N", "", "-f", key.to_str().unwrap()]);
    let public = std::fs::read_to_string(d.join("id_ed25519.pub")).unwrap();
    let cert = sign(
        d,
        &ca,
        &public,
        "id_ed25519",
        &[
            "-n",
            "alice,bob",
            "-V",
            "20300101:20300201",
            "-O",
            "source-address=10.0.0.0/8",
            "-O",
            "no-pty",
        ],
    );
    let text = std::fs::read_to_string(&cert).unwrap();
    let (_, facts) = parse(&text).unwrap();
    let listing = keygen(&["-L", "-f", cert.to_str().unwrap()]);
    assert!(listing.contains("Serial: 42") && facts.serial == 42);
    assert!(listing.contains("Key ID: \"id_ed25519\"") && facts.key_id == "id_ed25519");
    assert_eq!(facts.principals, ["alice", "bob"]);
    assert_eq!(facts.cert_type, "user");
    assert_eq!(facts.ca_fingerprint, ca_fp);
    assert!(listing.contains(&facts.ca_fingerprint));
    assert!(listing.contains(&facts.key_fingerprint));
    assert_eq!(
        facts.critical_options,
        [("source-address".to_string(), "10.0.0.0/8".to_string())]
    );
    assert!(!facts.extensions.contains(&"permit-pty".to_string()));
    assert!(
        facts
            .extensions
            .contains(&"permit-port-forwarding".to_string())
    );
    // The CLI finds KEY-cert.pub next to -i KEY, as OpenSSH does, and describes it.
    let found = find_certificates(&[], std::slice::from_ref(&key)).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].path, cert);
    let lines = describe_certificates(&found, "carol").join("\n");
    assert!(
        lines.contains("valid: from 2030-01-01T00:00:00Z to 2030-02-01T00:00:00Z"),
        "{lines}"
    );
    assert!(lines.contains("not valid before 2030-01-01"), "{lines}");
    assert!(
        lines.contains("\"carol\" is not among the principals (alice, bob)"),
        "{lines}"
    );
    assert!(!lines.contains("PRIVATE"), "{lines}");
    // An explicit CertificateFile that is not a certificate is one clear error.
    let err = find_certificates(&[d.join("id_ed25519.pub")], &[]).unwrap_err();
    assert!(
        err.starts_with("CertificateFile ") && err.contains("not an OpenSSH certificate"),
        "{err}"
    );
}

/// Whether OpenSSH's client accepts the server's host certificate with this `known_hosts`.
fn openssh_trusts_host(sshd: &SshdFixture, known_hosts: &Path) -> bool {
    let out = openssh::ssh_alone()
        .unwrap()
        .args(["-o", "StrictHostKeyChecking=yes", "-o", "CheckHostIP=no"])
        .args(["-o", "HostKeyAlgorithms=ssh-ed25519-cert-v01@openssh.com"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .arg("-i")
        .arg(&sshd.client_keys().ed25519.path)
        .args(["-p", &sshd.port().to_string()])
        .arg(format!("{TEST_USER}@127.0.0.1"))
        .arg("echo host-ok")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "host-ok"
}

#[test]
fn host_certificates_are_judged_as_openssh_judges_them_through_cert_authority_lines() {
    use sshdiag_core::hostkey::{HostCertCheck, KnownHosts, check_host_certificate};
    let mut scene = certs::host_ca_scene();
    let ((ca, ca_fp), other_ca) = (scene.cas.ca.clone(), scene.cas.other_ca.0.clone());
    let ca_line = std::fs::read_to_string(format!("{}.pub", ca.display())).unwrap();
    // The CA is trusted for this server's name and port only.
    let port = scene.sshd.port();
    let known_hosts = scene.known_hosts(&format!(
        "@cert-authority [127.0.0.1]:{port},!*.invalid {ca_line}"
    ));
    type IsCheck = fn(&HostCertCheck) -> bool;
    let cases: [(&str, &Path, &[&str], IsCheck); 4] = [
        (
            "valid",
            &ca,
            &["-n", "127.0.0.1,localhost", "-V", "-5m:+1h"],
            |c| c.trusted(),
        ),
        (
            "expired",
            &ca,
            &["-n", "127.0.0.1", "-V", "20200101:20200102"],
            |c| matches!(c, HostCertCheck::Expired { .. }),
        ),
        ("other-name", &ca, &["-n", "db.example.com"], |c| {
            matches!(c, HostCertCheck::NameNotAPrincipal { .. })
        }),
        ("unknown-ca", &other_ca, &["-n", "127.0.0.1"], |c| {
            matches!(c, HostCertCheck::UnknownCa { .. })
        }),
    ];
    for (name, signer, extra, expected) in cases {
        let cert = scene.serve_host_certificate(signer, name, extra);
        let sshd = &scene.sshd;
        let (_, facts) = parse(&std::fs::read_to_string(&cert).unwrap()).unwrap();
        assert_eq!(facts.cert_type, "host");
        let cas = KnownHosts::parse(&std::fs::read_to_string(&known_hosts).unwrap())
            .cert_authorities("127.0.0.1", sshd.port());
        assert_eq!(cas.len(), 1);
        assert_eq!(cas[0].fingerprint_sha256, ca_fp);
        let ours = check_host_certificate(&facts, "127.0.0.1", &cas, now());
        assert!(expected(&ours), "{name}: {ours:?}");
        let openssh = openssh_trusts_host(sshd, &known_hosts);
        assert_eq!(
            ours.trusted(),
            openssh,
            "{name}: sshdiag {ours:?}, OpenSSH trusts: {openssh}"
        );
    }
}
