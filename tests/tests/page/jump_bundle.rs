//! The bundle of a run through a jump host, saved by the page and opened in its viewer: the
//! bundle records the chain (every hop's facts, redacted like the target's), and the viewer
//! names each server as a live run does ("jump host 1", "target") — also the target a run that
//! failed at the bastion never reached, which no event names.

use anyhow::Context;
use serde_json::Value;
use sshdiag_tests::RelayFixture;
use sshdiag_tests::sshd::{SshdFixture, SshdOptions};
use sshdiag_tests::webdriver::{Browser, STEP};

use crate::jump::{add_hop, hidden};
use crate::{downloaded, in_browser};

async fn a_bundle_through_a_bastion_names_its_hops_in_the_viewer(
    browser: Browser,
) -> anyhow::Result<()> {
    let bastion = SshdFixture::start(SshdOptions::default())?;
    let target = hidden(&[])?;
    let downloads = tempfile::tempdir()?;
    let relay = RelayFixture::start(vec![format!("127.0.0.1/32:{}", bastion.port())]).await?;
    in_browser(
        browser,
        relay,
        Some(downloads.path()),
        async |page, relay| {
            // The bastion refuses its own password: the run ends there, the target unreached.
            page.fill_target(&target, target.password()).await?;
            add_hop(page, 1, &bastion, Some("not-the-password")).await?;
            page.run_failing("AuthFailed").await?;
            page.click("dl-redacted").await?;
            let path = downloaded(downloads.path(), ".bundle.json").await?;
            let text = std::fs::read_to_string(&path)?;
            for (what, value) in [
                ("user", bastion.user()),
                ("address", "127.0.0.1"),
                ("address", "127.0.0.2"),
                ("password", target.password()),
                ("password", "not-the-password"),
            ] {
                anyhow::ensure!(
                    !text.contains(value),
                    "the redacted bundle holds the {what} {value}"
                );
            }
            let bundle: Value = serde_json::from_str(&text)?;
            let hops = bundle["hops"]
                .as_array()
                .context("no chain in the bundle")?;
            anyhow::ensure!(hops.len() == 2, "{hops:?}");
            let (jump, end) = (&hops[0], &hops[1]);
            anyhow::ensure!(
                jump["reached"] == true
                    && jump["server"]["banner"].is_string()
                    && jump["server"]["host_key"]["fingerprint_sha256"].is_string()
                    && end["target"] == true
                    && end["reached"] == false,
                "the chain's facts: {hops:?}"
            );
            let jump_name = format!("jump host 1 ({}:{})", str_of(&jump["host"]), bastion.port());
            let target_name = format!("target ({}:{})", str_of(&end["host"]), target.port());

            // The viewer, on a fresh page, names the servers as the run did.
            page.open(relay).await?;
            page.click("mode-view").await?;
            page.choose_file("f-bundle", &path).await?;
            page.wait_for(
                "return !document.getElementById('results').hidden \
             && /\\bfail\\b/.test(document.getElementById('verdict').className)",
                STEP,
                "the viewer to show the bundle's verdict",
            )
            .await?;
            let verdict = page.text("verdict").await?;
            anyhow::ensure!(verdict.contains(&jump_name), "the verdict: {verdict}");
            let timeline = page.text("timeline").await?;
            anyhow::ensure!(
                timeline.contains(&format!("{jump_name}: failed here"))
                    && timeline.contains(&format!("{target_name}: not reached")),
                "the timeline: {timeline}"
            );
            let table = page.text("events").await?;
            anyhow::ensure!(
                table.contains(&format!("{jump_name}: ")) && !table.contains("hop 1 ("),
                "the events table: {table}"
            );
            let integrity = page.text("integrity").await?;
            anyhow::ensure!(
                integrity.contains("Jump host 1") && integrity.contains("not reached"),
                "the bundle panel: {integrity}"
            );
            Ok(())
        },
    )
    .await
    .with_context(|| format!("bastion log: {}", crate::tail(&bastion.log(), 20)))
}

fn str_of(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

mod chromium_only {
    use sshdiag_tests::webdriver::Browser::Chromium;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bundle_through_a_bastion_names_its_hops_in_the_viewer() -> anyhow::Result<()> {
        super::a_bundle_through_a_bastion_names_its_hops_in_the_viewer(Chromium).await
    }
}
