//! The demo run and the page's layout and keyboard: one click on the pre-filled form is green,
//! the page fits a laptop screen, and a run made with the keyboard alone reaches the relay.

use anyhow::Context;
use serde_json::json;
use sshdiag_tests::webdriver::{Browser, Key, STEP};

use crate::axe::no_serious_violations;
use crate::{in_order, on_the_demo_page, types};

async fn demo_run_is_green_in_order_and_fits_a_laptop_screen(
    browser: Browser,
) -> anyhow::Result<()> {
    on_the_demo_page(browser, async |page, _| {
        no_serious_violations(page, "on the start page").await?;
        // One click on the pre-filled form: a green run, events in order.
        let (class, events) = page.run().await?;
        let seen = types(&events);
        anyhow::ensure!(
            class.contains("ok"),
            "the demo run is not green: {class}; events {seen:?}; verdict {}",
            events
                .last()
                .map(|e| e["data"].to_string())
                .unwrap_or_default()
        );
        anyhow::ensure!(seen.first() == Some(&"CONNECT"), "events {seen:?}");
        anyhow::ensure!(seen.last() == Some(&"VERDICT"), "events {seen:?}");
        let wanted = [
            "CONNECT",
            "PROXY",
            "VERSION",
            "KEX",
            "HOSTKEY",
            "AUTH",
            "CHANNEL",
            "EXEC",
            "DISCONNECT",
            "VERDICT",
        ];
        if let Err(missing) = in_order(seen.iter().copied(), &wanted) {
            anyhow::bail!("events out of order or missing {missing:?}: {seen:?}");
        }
        for (i, e) in events.iter().enumerate() {
            anyhow::ensure!(e["seq"] == json!(i), "seq has a gap at {i}: {seen:?}");
        }
        let rows = page
            .js("return document.querySelectorAll('#events tbody tr').length")
            .await?;
        anyhow::ensure!(rows == json!(events.len()), "the table shows every event");
        let verdict = &events[events.len() - 1]["data"];
        anyhow::ensure!(
            verdict["ok"] == json!(true),
            "the demo verdict is not ok: {verdict}"
        );
        anyhow::ensure!(
            verdict["layer"] == json!("exec"),
            "the demo run did not reach exec: {verdict}"
        );
        let timeline = page.text("timeline").await?;
        for phase in [
            "Relay (WebSocket)",
            "TCP",
            "Banner",
            "Key exchange",
            "Host key",
            "Authentication",
            "Channel",
            "Commands",
        ] {
            anyhow::ensure!(
                timeline.contains(phase),
                "the timeline has no {phase} row: {timeline}"
            );
        }
        anyhow::ensure!(
            !timeline.contains("failed here") && !timeline.contains("not reached"),
            "a green run's timeline shows a failed or missing phase: {timeline}"
        );
        page.keep_screenshot("demo-run").await?;
        no_serious_violations(page, "after a good run").await?;

        // On a laptop screen (1366×768) nothing scrolls sideways and the verdict is in the
        // first screenful.
        page.set_window_size(1366, 768).await?;
        let fit = page
            .wait_for(
                "return window.innerWidth <= 1366 && window.innerWidth > 1000 \
                 ? { overflow: document.documentElement.scrollWidth - window.innerWidth, \
                     verdictTop: document.getElementById('verdict').getBoundingClientRect().top + window.scrollY, \
                     height: window.innerHeight } : null",
                STEP,
                "the window to take the laptop size",
            )
            .await?;
        anyhow::ensure!(
            fit["overflow"].as_f64().is_some_and(|o| o <= 0.0),
            "the page scrolls sideways on a laptop screen: {fit}"
        );
        anyhow::ensure!(
            fit["verdictTop"].as_f64().unwrap_or(f64::MAX)
                < fit["height"].as_f64().unwrap_or(0.0) / 2.0,
            "the verdict is not in the top half of a laptop screen: {fit}"
        );

        // No request left the page's origin (the module, styles, /relay.json: all its own).
        let foreign = page
            .js("return performance.getEntriesByType('resource')\
                 .map((e) => e.name).filter((u) => !u.startsWith(location.origin + '/'))")
            .await?;
        anyhow::ensure!(
            foreign == json!([]),
            "requests to other origins: {foreign}"
        );
        Ok(())
    })
    .await
}

async fn a_denied_target_run_with_the_keyboard_alone_is_proxy_denied(
    browser: Browser,
) -> anyhow::Result<()> {
    on_the_demo_page(browser, async |page, _| {
        // A target the relay does not allow, with the keyboard alone: Tab walks the form in
        // reading order to Run, Enter runs. ProxyDenied, red.
        page.fill(&[("f-host", "192.0.2.10"), ("f-port", "22")])
            .await?;
        let visited = page.tab_to("run-button").await?;
        let expected = [
            "mode-run",
            "mode-view",
            "f-host",
            "f-port",
            "f-user",
            "f-proxy",
            "name:authType",
            "f-password",
            "f-commands",
            "summary@advanced",
            "run-button",
        ];
        if let Err(skipped) = in_order(visited.iter().map(String::as_str), &expected) {
            anyhow::bail!("Tab skipped {skipped:?} or went out of order: {visited:?}");
        }
        page.press(Key::Enter).await?;
        let (class, events) = page.verdict().await?;
        let seen = types(&events);
        anyhow::ensure!(
            class.contains("fail"),
            "a denied target shows green: {seen:?}"
        );
        let verdict = &events.last().context("no events")?["data"];
        anyhow::ensure!(
            verdict["error_type"] == json!("ProxyDenied"),
            "verdict {verdict}; events {seen:?}"
        );
        let shown = page
            .js("return document.getElementById('verdict').innerText")
            .await?;
        anyhow::ensure!(
            shown.as_str().unwrap_or("").contains("ProxyDenied"),
            "the verdict panel says {shown}"
        );
        no_serious_violations(page, "after a failed run").await?;
        Ok(())
    })
    .await
}

crate::in_every_browser!(
    demo_run_is_green_in_order_and_fits_a_laptop_screen,
    a_denied_target_run_with_the_keyboard_alone_is_proxy_denied,
);
