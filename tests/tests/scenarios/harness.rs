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
    let login = |key: &std::path::Path| -> anyhow::Result<std::process::Output> {
        Ok(sshdiag_tests::openssh::ssh_batch(key, sshd.port())?
            .arg(format!("{}@{}", sshd.user(), sshd.host()))
            .arg("echo sshdiag-harness-ok")
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

/// The relay fixture relays a WebSocket to the sshd fixture: `connected`, then the server's
/// banner arrives as binary bytes (the `sshdiag.v1` protocol, proxy.md).
#[tokio::test]
async fn relay_fixture_reaches_the_sshd_fixture() -> anyhow::Result<()> {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let sshd = tokio::task::spawn_blocking(|| SshdFixture::start(SshdOptions::default())).await??;
    let relay =
        sshdiag_tests::RelayFixture::start(vec![format!("127.0.0.1/32:{}", sshd.port())]).await?;
    assert!(relay.addr().ip().is_loopback());

    let mut request = relay.ws_url().into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "sshdiag.v1".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let connect = serde_json::json!({
        "type": "connect", "host": sshd.host(), "port": sshd.port(), "connection_id": "harness01",
    });
    socket.send(Message::text(connect.to_string())).await?;

    let mut connected = false;
    let mut bytes = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !bytes.windows(8).any(|w| w == b"SSH-2.0-") {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await?
            .expect("relay closed early")?;
        match message {
            Message::Text(text) => {
                let frame: serde_json::Value = serde_json::from_str(&text)?;
                assert_ne!(frame["type"], "error", "relay said {frame}");
                connected |= frame["type"] == "connected";
            }
            Message::Binary(data) => bytes.extend_from_slice(&data),
            _ => {}
        }
    }
    assert!(connected, "binary bytes before `connected`");
    assert!(String::from_utf8_lossy(&bytes).contains("OpenSSH"));
    relay.shutdown().await;
    Ok(())
}
