//! The evidence bundles the page saves and the viewer that shows them: a green run against the
//! real OpenSSH fixture, its redacted and raw bundles as the Download buttons save them, and the
//! viewer on a fresh page, offline, with an intact, an edited and two broken files. The run
//! never fetches the viewer's module; opening the first file does (Resource Timing).

use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use sshdiag_events::bundle::{Bundle, IntegrityStatus};
use sshdiag_tests::sshd::{SshdFixture, SshdOptions};
use sshdiag_tests::webdriver::{Browser, STEP};

use crate::axe::no_serious_violations;
use crate::{against_openssh, downloaded, last_of, relay_connections, types};

async fn right_password_forward_probe_bundle_download_and_viewer(
    browser: Browser,
) -> anyhow::Result<()> {
    let sshd = SshdFixture::start(SshdOptions::default())?;
    let downloads = tempfile::tempdir()?;
    let files = tempfile::tempdir()?;
    against_openssh(
        browser,
        &sshd,
        Some(downloads.path()),
        async |page, relay| {
            // The right password, and the forward probe field: green, the command ran, and the
            // server opened the forward (to its own port, which listens).
            let forward = format!("127.0.0.1:{}", sshd.port());
            page.fill_target(&sshd, sshd.password()).await?;
            page.fill(&[("f-forward", &forward)]).await?;
            let (class, events) = page.run().await?;
            let verdict = last_of(&events, "VERDICT")?;
            anyhow::ensure!(
                class.contains("ok"),
                "the right password is not green: {verdict}; {:?}",
                types(&events)
            );
            let forwards: Vec<&Value> = events
                .iter()
                .filter(|e| e["event_type"] == json!("FORWARD"))
                .map(|e| &e["data"]["status"])
                .collect();
            anyhow::ensure!(
                forwards.contains(&&json!("established")),
                "the forward probe was not established: {forwards:?}"
            );
            let transcript = page.text("transcript").await?;
            anyhow::ensure!(
                transcript.contains("page-test-ran"),
                "the command's output is not shown: {transcript}"
            );
            page.fill(&[("f-forward", "")]).await?;

            // The redacted bundle, as the Download button saves it.
            page.click("dl-redacted").await?;
            let redacted_path = downloaded(downloads.path(), ".bundle.json").await?;
            // A run, and the bundle it writes, never fetch the viewer's module.
            let fetched = page.fetched("sshdiag_viewer").await?;
            anyhow::ensure!(
                fetched.is_empty(),
                "a plain run fetched the viewer's module: {fetched:?}"
            );
            let redacted_text = std::fs::read_to_string(&redacted_path)?;
            let redacted = Bundle::from_json(&redacted_text)
                .with_context(|| format!("the downloaded bundle does not load: {redacted_text}"))?;
            anyhow::ensure!(
                redacted.verify_integrity() == IntegrityStatus::Valid,
                "the downloaded bundle's integrity: {:?}",
                redacted.verify_integrity()
            );
            anyhow::ensure!(
                redacted.redaction.applied,
                "the bundle says it is not redacted"
            );
            anyhow::ensure!(redacted.verdict.ok, "the bundle's verdict is not ok");
            anyhow::ensure!(
                redacted.events.len() == events.len(),
                "the bundle has {} events, the page showed {}",
                redacted.events.len(),
                events.len()
            );
            for (what, secret) in [
                ("password", sshd.password()),
                ("username", sshd.user()),
                ("host", sshd.host()),
                ("command output", "page-test-ran"),
            ] {
                anyhow::ensure!(
                    !redacted_text.contains(secret),
                    "the redacted bundle contains the {what} {secret:?}"
                );
            }

            // The raw bundle only after its confirmation; it has the user and host (so the check
            // above could fail), never the password.
            page.click("dl-raw").await?;
            let open = page
                .js("return document.getElementById('raw-dialog').open")
                .await?;
            anyhow::ensure!(open == json!(true), "no confirmation before the raw bundle");
            tokio::time::sleep(Duration::from_millis(500)).await;
            anyhow::ensure!(
                !std::fs::read_dir(downloads.path())?
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().contains("raw-bundle")),
                "the raw bundle was saved before it was confirmed"
            );
            page.click("raw-confirm").await?;
            let raw_text =
                std::fs::read_to_string(downloaded(downloads.path(), ".raw-bundle.json").await?)?;
            let raw = Bundle::from_json(&raw_text)?;
            anyhow::ensure!(raw.verify_integrity() == IntegrityStatus::Valid);
            anyhow::ensure!(
                raw_text.contains(sshd.user())
                    && raw_text.contains(sshd.host())
                    && raw_text.contains("page-test-ran"),
                "the raw bundle lacks the user, the host or the output"
            );
            anyhow::ensure!(
                !raw_text.contains(sshd.password()),
                "the raw bundle contains the password"
            );

            // The viewer, on a fresh page: the saved bundle, with no connection made.
            page.open(relay).await?;
            let connections = relay_connections(relay).await?;
            anyhow::ensure!(
                page.fetched("sshdiag_viewer").await?.is_empty(),
                "the page fetched the viewer's module before a file was opened"
            );
            page.click("mode-view").await?;
            page.choose_file("f-bundle", &redacted_path).await?;
            page.wait_for(
                "return /\\bok\\b/.test(document.getElementById('verdict').className) \
             && !document.getElementById('results').hidden",
                STEP,
                "the viewer to show the bundle's green verdict",
            )
            .await?;
            let fetched = page.fetched("sshdiag_viewer").await?;
            anyhow::ensure!(
                fetched
                    .iter()
                    .any(|f| f.ends_with("/pkg/sshdiag_viewer_bg.wasm"))
                    && fetched
                        .iter()
                        .any(|f| f.ends_with("/pkg/sshdiag_viewer.js")),
                "opening a bundle did not fetch the viewer's module: {fetched:?}"
            );
            let integrity = page.text("integrity").await?;
            anyhow::ensure!(integrity.contains("Intact"), "integrity panel: {integrity}");
            let rows = page
                .js("return document.querySelectorAll('#events tbody tr').length")
                .await?;
            anyhow::ensure!(
                rows == json!(redacted.events.len()),
                "the viewer shows {rows} events of {}",
                redacted.events.len()
            );
            let shown = page.text("verdict").await?;
            anyhow::ensure!(shown.contains("It works"), "the viewer's verdict: {shown}");
            let transcript = page.text("transcript").await?;
            anyhow::ensure!(
                !transcript.contains("page-test-ran"),
                "the redacted bundle shows the command's output"
            );
            // Redacted output is said to be removed, with its length, per stream: never "No
            // output." (the command printed 13 bytes).
            anyhow::ensure!(
                transcript.contains("stdout: output removed (13 B)")
                    && transcript.contains("stderr: empty")
                    && !transcript.contains("No output"),
                "the viewer's transcript of a redacted bundle: {transcript}"
            );
            no_serious_violations(page, "in the viewer").await?;

            // To the run mode (no run on this fresh page: the intro) and back: the bundle is
            // still shown.
            page.click("mode-run").await?;
            anyhow::ensure!(
                page.hidden("results").await?,
                "the run mode shows the viewer's bundle"
            );
            page.click("mode-view").await?;
            let back = page
                .js("return document.querySelectorAll('#events tbody tr').length")
                .await?;
            anyhow::ensure!(
                back == json!(redacted.events.len())
                    && page.text("integrity").await?.contains("Intact"),
                "the viewer lost its bundle after a trip to the run mode: {back} rows"
            );

            // An edited bundle: shown, but marked as edited.
            let mut edited: Value = serde_json::from_str(&redacted_text)?;
            edited["verdict"]["summary"] = json!("all fine, trust me");
            let edited_path = files.path().join("edited.bundle.json");
            std::fs::write(&edited_path, serde_json::to_string_pretty(&edited)?)?;
            page.choose_file("f-bundle", &edited_path).await?;
            let integrity = page
                .wait_for(
                    "const t = document.getElementById('integrity').innerText; \
                 return t.includes('Edited') ? t : null",
                    STEP,
                    "the viewer to mark the edited bundle",
                )
                .await?;
            anyhow::ensure!(
                integrity
                    .as_str()
                    .unwrap_or("")
                    .contains("Expected SHA-256"),
                "the edited bundle's digests are not shown: {integrity}"
            );
            // Its verdict says it worked, but an edited file's claim is never shown green.
            let class = page
                .js("return document.getElementById('verdict').className")
                .await?;
            let class = class.as_str().unwrap_or("");
            anyhow::ensure!(
                !class.split(' ').any(|c| c == "ok") && class.contains("edited"),
                "an edited bundle's verdict is shown as {class:?}"
            );
            anyhow::ensure!(
                page.text("verdict").await?.contains("edited"),
                "the verdict does not say the bundle was edited"
            );

            // A truncated file and a JSON file that is not a bundle: a plain message each.
            let truncated_path = files.path().join("cut.bundle.json");
            std::fs::write(&truncated_path, &redacted_text[..redacted_text.len() / 2])?;
            let not_bundle_path = files.path().join("package.json");
            std::fs::write(
                &not_bundle_path,
                r#"{"name": "left-pad", "version": "1.3.0"}"#,
            )?;
            for (path, wanted) in [
                (&truncated_path, "is not JSON"),
                (&not_bundle_path, "not an sshdiag evidence bundle"),
            ] {
                page.choose_file("f-bundle", path).await?;
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                let message = page
                    .wait_for(
                        &format!(
                            "const e = document.getElementById('bundle-error'); \
                         return !e.hidden && e.textContent.startsWith({}) ? e.textContent : null",
                            json!(format!("{name}:"))
                        ),
                        STEP,
                        &format!("the viewer's message for {name}"),
                    )
                    .await?;
                let message = message.as_str().unwrap_or("");
                anyhow::ensure!(message.contains(wanted), "{name}: {message}");
                anyhow::ensure!(
                    page.hidden("results").await?,
                    "{name}: the previous bundle is still shown under the error"
                );
            }
            anyhow::ensure!(
                relay_connections(relay).await? == connections,
                "the viewer made a connection to the relay"
            );
            Ok(())
        },
    )
    .await
}

crate::in_every_browser!(right_password_forward_probe_bundle_download_and_viewer);
