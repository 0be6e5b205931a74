//! Words and switches against the real OpenSSH fixture through the relay: the verdict's
//! headline is a plain sentence from the core (`SessionView.headline`), with the error type
//! and code beside it; the JS API's `sessionCheck: false` skips the session check and
//! `hostKeyInventory` lists every host key the server has; a command a redacted bundle
//! pseudonymised is marked in the viewer as not what was typed.

use serde_json::{Value, json};
use sshdiag_tests::sshd::{SshdFixture, SshdOptions};
use sshdiag_tests::webdriver::Browser;

use crate::against_openssh;

async fn a_failure_is_headed_in_plain_words_with_its_type_and_code_beside(
    browser: Browser,
) -> anyhow::Result<()> {
    let sshd = SshdFixture::start(SshdOptions::default())?;
    against_openssh(browser, &sshd, None, async |page, _| {
        // This failed run also stores the server's host key in this browser, which the green
        // run below then finds trusted (a test of its own, not a copy of `auth.rs`'s opening).
        page.fill_target(&sshd, "not-the-password").await?;
        page.run_failing("AuthFailed").await?;
        let headline = page.text("verdict-headline").await?;
        anyhow::ensure!(
            headline.trim() == "The server rejected the login.",
            "the headline is {headline:?}"
        );
        let shown = page.text("verdict").await?;
        let first = shown.lines().find(|l| l.contains("rejected the login"));
        anyhow::ensure!(
            first.is_some_and(|l| l.contains("AuthFailed · auth-failed")),
            "the type and code are not beside the headline: {shown}"
        );
        anyhow::ensure!(!headline.contains("AuthFailed"), "{headline}");
        // Logged in, the server panel lists every host key OpenSSH announced.
        page.fill_target(&sshd, sshd.password()).await?;
        page.run_green().await?;
        anyhow::ensure!(page.text("verdict-headline").await?.trim() == "It works.");
        let keys = page.text("host-keys").await?;
        for key in sshd.host_keys() {
            anyhow::ensure!(
                keys.contains(&key.fingerprint_sha256),
                "the {} key is not listed: {keys}",
                key.kind
            );
        }
        anyhow::ensure!(keys.contains("trusted (this browser)"), "{keys}");
        // The form asks for RSA keys only: the server shows a key of a type this browser does
        // not trust, headed and explained as such, not as a changed key.
        let ed = sshd
            .host_key("ed25519")
            .map(|k| k.fingerprint_sha256.clone());
        anyhow::ensure!(
            ed.as_deref()
                .is_some_and(|fp| keys.contains(&format!("{fp} — shown to this run"))),
            "the page stored another key than ed25519: {keys}"
        );
        page.fill(&[("f-hostkey", "rsa-sha2-512,rsa-sha2-256")])
            .await?;
        page.run_failing("HostKeyMismatch").await?;
        let headline = page.text("verdict-headline").await?;
        anyhow::ensure!(
            headline.trim() == "The server now presents a host key of another type.",
            "{headline}"
        );
        anyhow::ensure!(!page.hidden("mismatch").await?, "no mismatch panel");
        let panel = page.text("mismatch").await?;
        anyhow::ensure!(panel.contains("of another type"), "{panel}");
        Ok(())
    })
    .await
}

/// The codes of a run's events.
fn codes(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["code"].as_str()).collect()
}

async fn the_api_turns_the_session_check_off_and_lists_host_keys_when_asked(
    browser: Browser,
) -> anyhow::Result<()> {
    let sshd = SshdFixture::start(SshdOptions::default())?;
    against_openssh(browser, &sshd, None, async |page, _| {
        let options = |extra: Value| {
            let mut o = json!({
                "host": sshd.host(),
                "port": sshd.port(),
                "username": sshd.user(),
                "auth": { "type": "password", "password": sshd.password() },
            });
            for (k, v) in extra.as_object().into_iter().flatten() {
                o[k] = v.clone();
            }
            o
        };
        page.start_api_run("checked", &options(json!({}))).await?;
        let (verdict, events) = page.api_run_verdict("checked").await?;
        anyhow::ensure!(verdict["ok"] == json!(true), "{verdict}");
        anyhow::ensure!(
            codes(&events).contains(&"session-check-ok"),
            "no session check by default: {:?}",
            codes(&events)
        );
        // OpenSSH announces its keys after login: listed, proven, without another connection.
        let inventory = events
            .iter()
            .find(|e| e["event_type"] == json!("HOSTKEY_INVENTORY"))
            .map(|e| e["data"].clone())
            .unwrap_or(Value::Null);
        anyhow::ensure!(inventory["source"] == json!("announced"), "{inventory}");
        for key in sshd.host_keys() {
            let listed = inventory["keys"].as_array().into_iter().flatten().any(|k| {
                k["fingerprint_sha256"] == json!(key.fingerprint_sha256)
                    && k["proven"] == json!(true)
            });
            anyhow::ensure!(listed, "{} is not listed: {inventory}", key.kind);
        }

        page.start_api_run("unchecked", &options(json!({ "sessionCheck": false })))
            .await?;
        let (verdict, events) = page.api_run_verdict("unchecked").await?;
        anyhow::ensure!(verdict["ok"] == json!(true), "{verdict}");
        let seen = codes(&events);
        anyhow::ensure!(
            !seen.contains(&"session-check-ok") && !seen.contains(&"sftp-check-ok"),
            "sessionCheck: false still checked the session: {seen:?}"
        );

        // The key the first run stored in this browser is matched to the server's key.
        let stored = events
            .iter()
            .find(|e| e["event_type"] == json!("HOSTKEY"))
            .map(|e| e["data"].clone())
            .unwrap_or(Value::Null);
        let inventory = events
            .iter()
            .find(|e| e["event_type"] == json!("HOSTKEY_INVENTORY"))
            .map(|e| e["data"].clone())
            .unwrap_or(Value::Null);
        let matched = inventory["keys"].as_array().into_iter().flatten().any(|k| {
            k["fingerprint_sha256"] == stored["fingerprint_sha256"]
                && k["trusted_at"] == json!("this browser")
                && k["presented"] == json!(true)
        });
        anyhow::ensure!(
            matched,
            "the stored key is not matched: {stored} {inventory}"
        );

        // Told to take another key type only, the server shows a key of a type this browser
        // does not trust: not a changed key, and the scan (asked for) says the trusted key is
        // still the server's.
        let other = if stored["algorithm"] == json!("ssh-ed25519") {
            "rsa-sha2-512,rsa-sha2-256"
        } else {
            "ssh-ed25519"
        };
        let asked = json!({ "hostKeyInventory": true, "algorithms": { "hostKey": other } });
        page.start_api_run("scan", &options(asked)).await?;
        let (verdict, events) = page.api_run_verdict("scan").await?;
        anyhow::ensure!(
            verdict["code"] == json!("host-key-type-changed"),
            "{verdict}"
        );
        let scanned = events.iter().any(|e| {
            e["event_type"] == json!("HOSTKEY_INVENTORY") && e["data"]["source"] == json!("scan")
        });
        anyhow::ensure!(scanned, "no scan: {:?}", codes(&events));
        let told = verdict["hints"].as_array().into_iter().flatten().any(|h| {
            h.as_str()
                .is_some_and(|h| h.contains("still has the trusted") && h.contains("this browser"))
        });
        anyhow::ensure!(told, "{verdict}");
        Ok(())
    })
    .await
}

async fn a_pseudonymised_command_is_marked_as_not_what_was_typed(
    browser: Browser,
) -> anyhow::Result<()> {
    let sshd = SshdFixture::start(SshdOptions::default())?;
    let dir = tempfile::tempdir()?;
    against_openssh(browser, &sshd, None, async |page, relay| {
        // A run through the JS API whose command names the user; its redacted bundle.
        let options = json!({
            "host": sshd.host(),
            "port": sshd.port(),
            "username": sshd.user(),
            "auth": { "type": "password", "password": sshd.password() },
            "commands": [format!("ls -d /home/{} /tmp", sshd.user()), "uname -s"],
        });
        let text = page
            .js_async(
                r#"
const [options, done] = [arguments[0], arguments[arguments.length - 1]];
import('./pkg/sshdiag_web.js').then(async (m) => {
  await m.default();
  const d = new m.Diagnostics(options);
  await d.run();
  done(d.bundle({ redact: true }));
}).catch((e) => done('failed: ' + e));
"#,
                json!([options]),
            )
            .await?;
        let text = text.as_str().unwrap_or_default().to_string();
        let bundle: Value = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("not a bundle ({e}): {text}"))?;
        let transcript = &bundle["transcript"];
        anyhow::ensure!(
            transcript[0]["command_redacted"] == json!(true)
                && transcript[0]["command"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("ls -d /home/user-")),
            "{transcript}"
        );
        anyhow::ensure!(
            transcript[1].get("command_redacted").is_none(),
            "{transcript}"
        );
        // The viewer says so beside the command, and only there.
        let path = dir.path().join("redacted.json");
        std::fs::write(&path, &text)?;
        page.open(relay).await?;
        page.click("mode-view").await?;
        page.choose_file("f-bundle", &path).await?;
        page.wait_for(
            "return !document.getElementById('results').hidden \
             && !document.getElementById('transcript-panel').hidden",
            sshdiag_tests::webdriver::STEP,
            "the viewer to show the bundle's transcript",
        )
        .await?;
        let marks = page
            .js("return document.querySelectorAll('#transcript .redacted-command').length")
            .await?;
        anyhow::ensure!(marks == json!(1), "{marks} commands marked");
        let shown = page.text("transcript").await?;
        anyhow::ensure!(shown.contains("not exactly what was typed"), "{shown}");
        Ok(())
    })
    .await
}

crate::in_every_browser!(
    a_failure_is_headed_in_plain_words_with_its_type_and_code_beside,
    the_api_turns_the_session_check_off_and_lists_host_keys_when_asked,
    a_pseudonymised_command_is_marked_as_not_what_was_typed
);
