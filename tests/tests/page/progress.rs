//! A run as a person follows it: the live progress (the phase in progress, the time against the
//! run's limit) and Cancel, which ends the run at once with a `Cancelled` verdict; results that
//! survive a trip to the viewer and back; a phone-sized screen (the page in a 360 px frame) where
//! the timeline stays to scale and nothing scrolls sideways; wire values in plain words; "Copy summary".

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sshdiag_tests::RelayFixture;
use sshdiag_tests::webdriver::{Browser, STEP};
use tokio::net::TcpListener;

use crate::{in_browser, last_of, on_the_demo_page, types};

/// A loopback server that accepts connections and never says a word (no SSH banner).
async fn silent_server() -> anyhow::Result<(u16, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    Ok((port, task))
}

async fn progress_shows_the_phase_and_time_and_cancel_ends_the_run(
    browser: Browser,
) -> anyhow::Result<()> {
    let (port, server) = silent_server().await?;
    let relay = RelayFixture::start(vec![format!("127.0.0.1/32:{port}")]).await?;
    let result = in_browser(browser, relay, None, async |page, _| {
        page.fill(&[
            ("f-host", "127.0.0.1"),
            ("f-port", &port.to_string()),
            ("f-user", "nobody"),
            ("f-password", "not-used"),
            ("f-timeout", "60000"),
        ])
        .await?;
        page.click("run-button").await?;
        // The server never sends its banner: the progress says so, with the time used.
        let progress = page
            .wait_for(
                "const p = document.getElementById('progress-phase'); \
                 const t = document.getElementById('progress-time'); \
                 return p && p.textContent.includes('Banner') && t.textContent.includes(' of 120 s') \
                   ? p.textContent + ' | ' + t.textContent : null",
                STEP,
                "the progress to show the banner phase and the time",
            )
            .await?;
        let first = page.text("progress-time").await?;
        tokio::time::sleep(Duration::from_millis(700)).await;
        let later = page.text("progress-time").await?;
        anyhow::ensure!(first != later, "the time does not move: {first} → {later}");
        let cancelled_at = Instant::now();
        page.click("cancel-button").await?;
        let (class, events) = page.verdict().await?;
        let took = cancelled_at.elapsed();
        let verdict = last_of(&events, "VERDICT")?;
        anyhow::ensure!(
            class.contains("fail") && verdict["error_type"] == json!("Cancelled"),
            "after Cancel ({progress}): {class}, {verdict}"
        );
        anyhow::ensure!(verdict["code"] == json!("cancelled"), "{verdict}");
        anyhow::ensure!(
            took < Duration::from_secs(10),
            "the cancelled run took {took:?} to end"
        );
        let seen = types(&events);
        let count = |t: &str| seen.iter().filter(|s| **s == t).count();
        anyhow::ensure!(
            count("ERROR") == 1 && count("VERDICT") == 1 && seen.last() == Some(&"VERDICT"),
            "a cancelled run ends with one ERROR and one VERDICT: {seen:?}"
        );
        anyhow::ensure!(
            page.text("verdict").await?.contains("cancelled"),
            "the verdict does not say the run was cancelled"
        );
        anyhow::ensure!(
            page.js("return document.getElementById('cancel-button')").await? == Value::Null,
            "Cancel is still shown after the run ended"
        );

        // The API itself: cancel() before run() cancels the run as it starts, and after the
        // run it changes nothing.
        let early = page
            .js_with(
                "return import('./pkg/sshdiag_web.js').then(async (m) => { await m.default(); \
                   const d = new m.Diagnostics({ host: '127.0.0.1', port: arguments[0], username: 'nobody' }); \
                   d.cancel(); const verdict = await d.run(); d.cancel(); \
                   return { verdict, events: d.eventsJsonl(), again: d.derived().verdict }; })",
                json!([port]),
            )
            .await?;
        anyhow::ensure!(
            early["verdict"]["error_type"] == json!("Cancelled")
                && early["again"]["error_type"] == json!("Cancelled"),
            "cancel() before run(): {early}"
        );
        anyhow::ensure!(
            !early["events"].as_str().unwrap_or("").contains("proxy-tcp-connected"),
            "a run cancelled before it started still connected: {early}"
        );
        Ok(())
    })
    .await;
    server.abort();
    result
}

/// What the page shows now: the verdict's class, the number of event rows, the results' state.
const SHOWN: &str = "return { verdict: document.getElementById('verdict').className, \
    rows: document.querySelectorAll('#events tbody tr').length, \
    results: !document.getElementById('results').hidden, \
    downloads: !document.getElementById('downloads').hidden }";

async fn results_survive_the_viewer_fit_a_phone_and_speak_plainly(
    browser: Browser,
) -> anyhow::Result<()> {
    on_the_demo_page(browser, async |page, _| {
        let (class, events) = page.run().await?;
        anyhow::ensure!(class.contains("ok"), "the demo run is not green: {events:?}");

        // Wire values in plain words: the demo's host key was new to this browser.
        let results = page.text("results").await?;
        anyhow::ensure!(
            results.contains("accepted new"),
            "no plain host key status in {results}"
        );
        anyhow::ensure!(
            !results.contains("accepted_new") && !results.contains("tcp_connected"),
            "snake_case values shown: {results}"
        );

        // Copy summary, right under the verdict.
        page.click("copy-summary").await?;
        let copied = page
            .wait_for(
                "return document.getElementById('copy-status').textContent",
                STEP,
                "Copy summary to answer",
            )
            .await?;
        anyhow::ensure!(
            copied.as_str().unwrap_or("").contains("copied"),
            "Copy summary says {copied}"
        );

        // To the viewer and back: the run's results are still there.
        let before = page.js(SHOWN).await?;
        page.click("mode-view").await?;
        anyhow::ensure!(
            page.hidden("results").await?,
            "the viewer, with no file opened, shows the run's results"
        );
        page.click("mode-run").await?;
        let after = page.js(SHOWN).await?;
        anyhow::ensure!(
            before == after && after["results"] == json!(true) && after["downloads"] == json!(true),
            "the run's results did not survive the viewer: {before} → {after}"
        );

        // A phone's 360 px: the page in an iframe that wide (Firefox keeps its windows at least
        // 500 px wide), run there.
        page.js(
            "const f = document.createElement('iframe'); f.id = 'phone'; f.src = '/'; \
             f.title = 'the page at 360 px'; \
             f.style.cssText = 'width: 360px; height: 800px; border: 0'; document.body.append(f);",
        )
        .await?;
        page.wait_for(
            "const d = document.getElementById('phone').contentDocument; \
             return d && d.body && d.body.dataset.ready === 'true' \
               && d.getElementById('f-host').value ? true : null",
            STEP,
            "the page in the 360 px frame to load",
        )
        .await?;
        page.js("document.getElementById('phone').contentDocument.getElementById('run-button').click()")
            .await?;
        page.wait_for(
            "const d = document.getElementById('phone').contentDocument; \
             return /\\b(ok|fail)\\b/.test(d.getElementById('verdict').className) ? true : null",
            crate::RUN,
            "the run in the 360 px frame",
        )
        .await?;
        // Nothing scrolls sideways at 360 px, and the timeline's bars are to scale: each bar's
        // width is its phase's share of the track.
        let layout = page
            .js("const w = document.getElementById('phone').contentWindow; const d = w.document; \
                 const track = d.querySelector('#timeline .bar-track').getBoundingClientRect().width; \
                 const bars = [...d.querySelectorAll('#timeline .bar[data-ms]')].map((b) => \
                   ({ ms: Number(b.dataset.ms), px: b.getBoundingClientRect().width })); \
                 return { width: w.innerWidth, verdict: d.getElementById('verdict').className, \
                          overflow: d.documentElement.scrollWidth - w.innerWidth, track, bars }")
            .await?;
        anyhow::ensure!(
            layout["verdict"].as_str().unwrap_or("").contains("ok")
                && layout["width"].as_f64().is_some_and(|w| w <= 360.0),
            "the run in the 360 px frame: {layout}"
        );
        anyhow::ensure!(
            layout["overflow"].as_f64().is_some_and(|o| o <= 0.0),
            "the page scrolls sideways at 360 px: {layout}"
        );
        let track = layout["track"].as_f64().unwrap_or(0.0);
        anyhow::ensure!(
            track >= 240.0,
            "the timeline's track is {track} px wide at 360 px"
        );
        let bars = layout["bars"].as_array().cloned().unwrap_or_default();
        let total: f64 = bars.iter().filter_map(|b| b["ms"].as_f64()).sum();
        anyhow::ensure!(bars.len() >= 6 && total > 0.0, "bars: {layout}");
        for bar in &bars {
            let want = bar["ms"].as_f64().unwrap_or(0.0) / total * track;
            let got = bar["px"].as_f64().unwrap_or(0.0);
            // Bars under 3 px are drawn 3 px wide so they can be seen.
            anyhow::ensure!(
                (got - want).abs() <= 1.5 || (want < 3.0 && got <= 3.5),
                "a bar of {} ms is {got} px, to scale it is {want} px: {layout}",
                bar["ms"]
            );
        }

        Ok(())
    })
    .await
}

crate::in_every_browser!(
    progress_shows_the_phase_and_time_and_cancel_ends_the_run,
    results_survive_the_viewer_fit_a_phone_and_speak_plainly,
);
