//! The relay killed mid-session under the page (issue 15, item 2, in the browser): the page is
//! served by one relay (the kit's) and the run goes through another, the real `sshdiag-proxy`
//! binary, which accepts the page's origin and is killed with SIGKILL while the command runs.
//! The WebSocket drops without a `closed` frame; the verdict must blame the relay (relay layer,
//! "the relay process or the path to it died"), never sshd or the host, and come at once.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;
use sshdiag_tests::RelayFixture;
use sshdiag_tests::procs::{Killed, spawn_relay_binary};
use sshdiag_tests::sshd::{SshdFixture, SshdOptions};
use sshdiag_tests::webdriver::Browser;

use crate::{RUN, in_browser, types};

/// The relay binary on a free loopback port, allowing `sshd_port` for pages of `origin`.
fn relay_binary(sshd_port: u16, origin: &str) -> anyhow::Result<(Killed, u16)> {
    spawn_relay_binary(|relay| {
        relay
            .args(["--allow", &format!("127.0.0.1/32:{sshd_port}")])
            .args(["--origin", origin])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    })
}

async fn a_relay_killed_mid_session_is_a_relay_layer_verdict_in_the_page(
    browser: Browser,
) -> anyhow::Result<()> {
    let sshd = SshdFixture::start(SshdOptions::default())?;
    // This relay only serves the page; it allows no target.
    let page_relay = RelayFixture::start(Vec::new()).await?;
    let origin = page_relay.http_url().trim_end_matches('/').to_string();
    let (mut relay, port) = relay_binary(sshd.port(), &origin)?;
    in_browser(browser, page_relay, None, async |page, _| {
        page.start_api_run(
            "killed",
            &json!({
                "host": sshd.host(),
                "port": sshd.port(),
                "username": sshd.user(),
                "auth": { "type": "password", "password": sshd.password() },
                "commands": ["sleep 30"],
                "proxyUrl": format!("ws://127.0.0.1:{port}/ws"),
            }),
        )
        .await?;
        // Kill the relay once the login worked and the command runs.
        let deadline = Instant::now() + RUN;
        loop {
            let events = page.api_run_events("killed").await?;
            if events.iter().any(|e| e["code"] == json!("auth-success")) {
                break;
            }
            if events.iter().any(|e| e["event_type"] == json!("VERDICT"))
                || Instant::now() > deadline
            {
                bail!(
                    "the run never logged in: {}",
                    serde_json::to_string(&events)?
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
        let killed_at = Instant::now();
        relay.0.kill()?;
        let _ = relay.0.wait();
        let (verdict, events) = page.api_run_verdict("killed").await?;
        let after = killed_at.elapsed();
        anyhow::ensure!(
            verdict["ok"] == json!(false) && verdict["layer"] == json!("relay"),
            "a killed relay: {verdict}; {:?}",
            types(&events)
        );
        let hints = verdict["hints"].to_string();
        anyhow::ensure!(hints.contains("relay process"), "{hints}");
        anyhow::ensure!(!hints.contains("sshd or the host"), "{hints}");
        anyhow::ensure!(
            serde_json::to_string(&events)?.contains("relay-vanished"),
            "no event says the relay vanished: {:?}",
            types(&events)
        );
        anyhow::ensure!(
            after < Duration::from_secs(10),
            "the verdict took {after:?}"
        );
        Ok(())
    })
    .await
}

crate::in_every_browser!(a_relay_killed_mid_session_is_a_relay_layer_verdict_in_the_page);
