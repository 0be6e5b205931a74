//! The host key: a server reinstalled between two runs (same port, new keys) is a mismatch the
//! page shows with both fingerprints, and trusting the new key makes the next run green.

use anyhow::Context;
use serde_json::json;
use sshdiag_tests::RelayFixture;
use sshdiag_tests::sshd::{SshdFixture, SshdOptions};
use sshdiag_tests::webdriver::Browser;

use crate::{in_browser, last_of, types};

async fn host_key_changed_between_two_runs_is_a_mismatch_with_both_fingerprints(
    browser: Browser,
) -> anyhow::Result<()> {
    let mut first = SshdFixture::start(SshdOptions::default())?;
    let port = first.port();
    let relay = RelayFixture::start(vec![format!("127.0.0.1/32:{port}")]).await?;
    in_browser(browser, relay, None, async |page, _| {
        page.fill_target(&first, first.password()).await?;
        let (class, events) = page.run().await?;
        anyhow::ensure!(class.contains("ok"), "first run: {:?}", types(&events));
        let learned = last_of(&events, "HOSTKEY")?;
        let algorithm = learned["algorithm"].as_str().unwrap_or("").to_string();
        let old = learned["fingerprint_sha256"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let kind = ["ed25519", "ecdsa", "rsa"]
            .into_iter()
            .find(|k| first.host_key_fingerprint(k) == Some(old.as_str()))
            .with_context(|| format!("the first run saw {old}, not one of sshd's keys"))?;

        // The server is reinstalled: same port, new host keys.
        first.kill()?;
        let second = SshdFixture::start(SshdOptions {
            port: Some(port),
            ..SshdOptions::default()
        })?;
        let new = second
            .host_key_fingerprint(kind)
            .context("the new server has no key of the same kind")?
            .to_string();
        anyhow::ensure!(new != old, "the new server has the same key");

        let (_, events) = page.run_failing("HostKeyMismatch").await?;
        anyhow::ensure!(
            !types(&events).contains(&"AUTH"),
            "the page logged in to a server whose key changed: {:?}",
            types(&events)
        );
        anyhow::ensure!(!page.hidden("mismatch").await?, "no mismatch panel");
        let panel = page.text("mismatch").await?;
        anyhow::ensure!(
            panel.contains(&old) && panel.contains(&new),
            "the mismatch panel lacks a fingerprint (trusted {old}, presented {new}): {panel}"
        );
        anyhow::ensure!(panel.contains(&algorithm), "{panel}");
        page.keep_screenshot("host-key-mismatch").await?;

        // Trusting the new key (after checking it) makes the next run green.
        page.js("document.querySelector('#mismatch-body button').click()")
            .await?;
        let (class, events) = page.run().await?;
        anyhow::ensure!(
            class.contains("ok"),
            "after trusting the new key: {}",
            last_of(&events, "VERDICT")?
        );
        let hostkey = last_of(&events, "HOSTKEY")?;
        anyhow::ensure!(hostkey["fingerprint_sha256"] == json!(new), "{hostkey}");
        drop(second);
        Ok(())
    })
    .await
}

crate::in_every_browser!(host_key_changed_between_two_runs_is_a_mismatch_with_both_fingerprints);
