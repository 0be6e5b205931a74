//! Credentials against the real OpenSSH fixture through the relay: a wrong password is named as
//! such, and every credential mode of the form logs in with its method without leaking it.

use anyhow::Context;
use serde_json::{Value, json};
use sshdiag_tests::sshd::{SshdFixture, SshdOptions};
use sshdiag_tests::webdriver::{Browser, STEP};

use crate::{against_openssh, last_of, types};

async fn a_wrong_password_is_auth_failed_naming_the_accepted_methods(
    browser: Browser,
) -> anyhow::Result<()> {
    let sshd = SshdFixture::start(SshdOptions::default())?;
    against_openssh(browser, &sshd, None, async |page, _| {
        // A wrong password: red, AuthFailed, and a hint naming what the server accepts.
        page.fill_target(&sshd, "not-the-password").await?;
        page.run_failing("AuthFailed").await?;
        let shown = page.text("verdict").await?;
        anyhow::ensure!(
            shown.contains("AuthFailed"),
            "the verdict panel says {shown}"
        );
        let methods_hint = shown
            .lines()
            .find(|l| l.contains("accepts"))
            .with_context(|| format!("no hint names the accepted methods: {shown}"))?;
        for method in ["publickey", "password"] {
            anyhow::ensure!(
                methods_hint.contains(method),
                "the methods hint does not name {method}: {methods_hint}"
            );
        }
        // Where to look on the server, through the relay: the hint's own grep, run on sshd's
        // log, finds this attempt's line (the relay's source address and port).
        let where_hint = shown
            .lines()
            .find(|l| l.contains("Where to look on the server"))
            .with_context(|| format!("no where-to-look hint: {shown}"))?;
        anyhow::ensure!(
            where_hint.contains("the relay's address 127.0.0.1 port"),
            "{where_hint}"
        );
        let grep = where_hint
            .split_once("or on a plain log: ")
            .and_then(|(_, rest)| rest.split_once(" /var/log/auth.log"))
            .map(|(cmd, _)| cmd)
            .with_context(|| format!("no plain-log command: {where_hint}"))?;
        let log = sshd.dir().join("sshd.log");
        let found = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{grep} {}", log.display()))
            .output()?;
        let found = String::from_utf8_lossy(&found.stdout);
        anyhow::ensure!(
            found.contains("Failed password for"),
            "the hint's command found no failed password in sshd's log: {found}"
        );
        anyhow::ensure!(
            shown.contains("every user of the relay"),
            "no relay hint: {shown}"
        );
        page.keep_screenshot("auth-failed").await?;
        Ok(())
    })
    .await
}

/// The method of the run's successful login, if it logged in.
fn auth_method(events: &[Value]) -> Option<String> {
    events
        .iter()
        .filter(|e| e["event_type"] == json!("AUTH") && e["data"]["status"] == json!("success"))
        .map(|e| e["data"]["method"].as_str().unwrap_or("?").to_string())
        .next()
}

async fn credential_modes_key_file_passphrase_keyboard_interactive_and_probe(
    browser: Browser,
) -> anyhow::Result<()> {
    // PAM, so that OpenSSH offers keyboard-interactive.
    let sshd = SshdFixture::start(SshdOptions::with_config(["UsePAM yes"]))?;
    let keys = sshd.client_keys().clone();
    against_openssh(browser, &sshd, None, async |page, _| {
        page.fill_target(&sshd, "").await?;
        let mut raw_logs = String::new();
        // Run: green, logged in with `method`; the raw events are kept for the secret check.
        let logs_in_with = async |method: &str, what: &str, raw_logs: &mut String| {
            let (class, events) = page.run().await?;
            anyhow::ensure!(
                class.contains("ok") && auth_method(&events).as_deref() == Some(method),
                "{what}: {}; {:?}",
                last_of(&events, "VERDICT")?,
                types(&events)
            );
            raw_logs.push_str(&page.text("raw-jsonl").await?);
            anyhow::Ok(())
        };

        // A key file chosen with the file picker.
        page.click_css("input[name=authType][value=privateKey]")
            .await?;
        page.choose_file("f-keyfile", &keys.ed25519.path).await?;
        page.wait_for(
            "return document.getElementById('f-keyfile-note').textContent.includes('Using the key file')",
            STEP,
            "the page to take the key file",
        )
        .await?;
        logs_in_with("private_key", "key file", &mut raw_logs).await?;

        // An encrypted key pasted, with its passphrase.
        page.click("f-keyfile-clear").await?;
        page.fill(&[
            ("f-key", &keys.rsa_enc.private_key),
            ("f-passphrase", keys.rsa_enc.passphrase.unwrap_or_default()),
        ])
        .await?;
        logs_in_with("private_key", "encrypted key", &mut raw_logs).await?;

        // Keyboard-interactive: the answer to PAM's password prompt.
        page.click_css("input[name=authType][value=keyboardInteractive]")
            .await?;
        page.fill(&[("f-answers", sshd.password())]).await?;
        logs_in_with("keyboard_interactive", "keyboard-interactive", &mut raw_logs).await?;

        // Probe only: no secret, no login, and the methods the server accepts are named.
        page.click_css("input[name=authType][value=probe]").await?;
        let (_, events) = page.run().await?;
        anyhow::ensure!(
            auth_method(&events).is_none() && !types(&events).contains(&"EXEC"),
            "a probe logged in or ran a command: {:?}",
            types(&events)
        );
        let shown = page.text("verdict").await?;
        anyhow::ensure!(
            shown.contains("publickey") && shown.contains("keyboard-interactive"),
            "the probe's verdict does not name the methods: {shown}"
        );
        raw_logs.push_str(&page.text("raw-jsonl").await?);

        let key_body = keys
            .ed25519
            .private_key
            .lines()
            .nth(1)
            .unwrap_or("?")
            .to_string();
        let rsa_body = keys
            .rsa_enc
            .private_key
            .lines()
            .nth(1)
            .unwrap_or("?")
            .to_string();
        for (what, secret) in [
            ("password", sshd.password()),
            ("ed25519 key", key_body.as_str()),
            ("encrypted key", rsa_body.as_str()),
            ("passphrase", keys.rsa_enc.passphrase.unwrap_or("?")),
        ] {
            anyhow::ensure!(!raw_logs.contains(secret), "the events contain the {what}");
        }
        Ok(())
    })
    .await
}

crate::in_every_browser!(
    a_wrong_password_is_auth_failed_naming_the_accepted_methods,
    credential_modes_key_file_passphrase_keyboard_interactive_and_probe,
);
