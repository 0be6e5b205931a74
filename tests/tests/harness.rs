//! Smoke test of the harness itself: the sshd fixture really serves OpenSSH on loopback, its
//! keys and fingerprints are what it says, and dropping it really stops it.

use std::net::TcpStream;
use std::time::Duration;

use sshdiag_tests::sshd::read_banner;
use sshdiag_tests::{SshdFixture, SshdOptions, TEST_PASSPHRASE};

#[test]
fn sshd_fixture_serves_openssh_and_stops_on_drop() -> anyhow::Result<()> {
    let sshd = SshdFixture::start(SshdOptions::default())?;
    let addr = sshd.addr();
    assert!(addr.ip().is_loopback());

    let banner = read_banner(addr).expect("the fixture answers with a banner");
    assert!(banner.starts_with("SSH-2.0-OpenSSH"), "banner {banner:?}");

    let keys = sshd.client_keys();
    assert!(keys.ed25519.private_key.contains("OPENSSH PRIVATE KEY"));
    assert_eq!(keys.rsa_enc.passphrase, Some(TEST_PASSPHRASE));
    let authorized = std::fs::read_to_string(sshd.dir().join("authorized_keys"))?;
    assert!(authorized.contains(keys.ed25519.public_key.trim()));
    assert!(!authorized.contains(keys.unauthorised_ed25519.public_key.trim()));
    for kind in ["ed25519", "ecdsa", "rsa"] {
        let fingerprint = sshd.host_key_fingerprint(kind).expect("host key");
        assert!(fingerprint.starts_with("SHA256:"), "{kind}: {fingerprint}");
    }

    drop(sshd);
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "port {addr} still accepts after drop"
    );
    Ok(())
}

#[test]
fn sshd_fixture_restarts_on_the_same_port_and_takes_extra_config_first() -> anyhow::Result<()> {
    let mut sshd = SshdFixture::start(SshdOptions::with_config(["PasswordAuthentication no"]))?;
    let config = std::fs::read_to_string(sshd.config_path())?;
    let extra = config
        .find("PasswordAuthentication no")
        .expect("extra line");
    let default = config
        .find("PasswordAuthentication yes")
        .expect("default line");
    assert!(extra < default, "extra lines must come before the defaults");

    let addr = sshd.addr();
    sshd.kill()?;
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
    sshd.restart()?;
    assert_eq!(sshd.addr(), addr);
    let banner = read_banner(addr).expect("banner after restart");
    assert!(banner.starts_with("SSH-2.0-OpenSSH"), "banner {banner:?}");
    Ok(())
}

#[test]
fn sshd_fixture_lets_the_authorised_key_in_and_keeps_the_other_out() -> anyhow::Result<()> {
    let sshd = SshdFixture::start(SshdOptions::default())?;
    let ssh = sshdiag_tests::tools::SSH.require()?;
    let login = |key: &std::path::Path| -> anyhow::Result<std::process::Output> {
        Ok(std::process::Command::new(&ssh)
            .args([
                "-F",
                "/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
            ])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
            ])
            .arg("-i")
            .arg(key)
            .arg("-p")
            .arg(sshd.port().to_string())
            .arg(format!("{}@{}", sshd.user(), sshd.host()))
            .arg("echo sshdiag-harness-ok")
            .stdin(std::process::Stdio::null())
            .output()?)
    };
    let keys = sshd.client_keys();
    let good = login(&keys.ed25519.path)?;
    assert_eq!(
        String::from_utf8_lossy(&good.stdout).trim(),
        "sshdiag-harness-ok",
        "stderr: {}\nsshd log:\n{}",
        String::from_utf8_lossy(&good.stderr),
        sshd.log()
    );
    let bad = login(&keys.unauthorised_ed25519.path)?;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Permission denied"));
    Ok(())
}
