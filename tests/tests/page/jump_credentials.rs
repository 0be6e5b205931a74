//! A jump host's own credential in the page, against a real OpenSSH bastion (PAM on, so it
//! offers keyboard-interactive) in front of a target only it reaches: the hop's private key
//! chosen as a file, like the target's key field, and keyboard-interactive answers. Each run
//! logs in at the bastion with that method, and neither the key nor the answer reaches the
//! events.

use anyhow::Context;
use serde_json::{Value, json};
use sshdiag_tests::RelayFixture;
use sshdiag_tests::sshd::{SshdFixture, SshdOptions};
use sshdiag_tests::webdriver::{Browser, STEP};

use crate::jump::{add_hop, hidden, hop_auth};
use crate::{in_browser, last_of, types};

/// The method of the bastion's (hop 0's) successful login.
fn bastion_login(events: &[Value]) -> Option<&str> {
    events
        .iter()
        .find(|e| e["code"] == json!("auth-success") && e["hop"]["index"] == json!(0))
        .and_then(|e| e["data"]["method"].as_str())
}

async fn a_jump_hosts_key_file_and_keyboard_interactive_answers(
    browser: Browser,
) -> anyhow::Result<()> {
    let bastion = SshdFixture::start(SshdOptions::with_config(["UsePAM yes"]))?;
    let target = hidden(&[])?;
    let key = bastion.client_keys().ed25519.clone();
    let relay = RelayFixture::start(vec![format!("127.0.0.1/32:{}", bastion.port())]).await?;
    in_browser(browser, relay, None, async |page, _| {
        page.fill_target(&target, target.password()).await?;
        add_hop(page, 1, &bastion, None).await?;
        let run = async |what: &str, method: &str| {
            let (class, events) = page.run().await?;
            anyhow::ensure!(
                class.contains("ok") && bastion_login(&events) == Some(method),
                "{what}: {}; bastion login {:?}; {:?}",
                last_of(&events, "VERDICT")?,
                bastion_login(&events),
                types(&events)
            );
            page.text("raw-jsonl").await
        };

        // The hop's key chosen as a file.
        hop_auth(page, 1, "privateKey").await?;
        page.choose_file("f-jump-keyfile-1", &key.path).await?;
        page.wait_for(
            "return document.getElementById('f-jump-keynote-1').textContent.includes('Using the key file')",
            STEP,
            "the hop to take the key file",
        )
        .await?;
        let raw = run("the hop's key file", "private_key").await?;
        let body = key.private_key.lines().nth(1).context("key body")?;
        anyhow::ensure!(!raw.contains(body), "the hop's key reached the events");

        // Keyboard-interactive answers at the hop: PAM's password prompt.
        hop_auth(page, 1, "keyboardInteractive").await?;
        page.fill(&[("f-jump-answers-1", bastion.password())]).await?;
        let raw = run("the hop's answers", "keyboard_interactive").await?;
        anyhow::ensure!(!raw.contains(bastion.password()), "the answer reached the events");
        Ok(())
    })
    .await
    .with_context(|| format!("bastion log: {}", crate::tail(&bastion.log(), 20)))
}

mod chromium_only {
    use sshdiag_tests::webdriver::Browser::Chromium;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_jump_hosts_key_file_and_keyboard_interactive_answers() -> anyhow::Result<()> {
        super::a_jump_hosts_key_file_and_keyboard_interactive_answers(Chromium).await
    }
}
