//! Part 5 of `cargo xtask bench`: the wasm module's size as served, and the demo page in
//! headless Chromium over WebDriver — navigation → module ready → first event on loopback, then
//! page ready on an emulated slow network (cold and warm), with what the module cost in bytes.
//!
//! The slow network is Chromium's own emulation (`Network.emulateNetworkConditions`, sent as a
//! DevTools command through chromedriver's `goog/cdp/execute`), so every request of the page —
//! HTML, ES modules, the module itself — pays the latency and the bandwidth, as on a real link.
//! It never touches the machine's network settings.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use sshdiag_testkit::ports::free_loopback_port;
use sshdiag_testkit::webdriver::{Browser, Driver, Session};

use super::{BenchArgs, Guards, Results, file, gzip_len, table_head, wait_port};
use xtask::util::project_root;

/// The slow link of the issue's target: 1.6 Mbit/s down, 150 ms round trip (DevTools' "slow
/// 4G" figures; upload 750 kbit/s as there).
const SLOW_DOWN_BITS_PER_S: f64 = 1_600_000.0;
const SLOW_UP_BITS_PER_S: f64 = 750_000.0;
const SLOW_RTT_MS: f64 = 150.0;
/// Targets: the page ready within this on the slow link (cold cache), and the module at most
/// this many bytes as served (brotli).
const SLOW_READY_TARGET_MS: f64 = 2500.0;
const MODULE_TARGET_BYTES: u64 = 450_000;

/// What needs each module `build-web` writes besides the run's ([`xtask::build_web::MODULES`]):
/// each is fetched only when first needed, so it is reported beside the run's module and is
/// never part of page ready. A module missing here is reported without words.
const LAZY_MODULE_USE: [(&str, &str); 2] = [
    (
        "sshdiag-viewer",
        "the viewer's module (fetched only when a bundle or event log is opened, never for a run)",
    ),
    (
        "sshdiag-keys",
        "the key formats' module (fetched only for a PKCS#8, legacy PEM or PuTTY private key, never for a password or OpenSSH key)",
    ),
];

/// The file `build-web` writes for a module crate: `sshdiag-keys` → `sshdiag_keys_bg.wasm`.
pub(super) fn module_file(krate: &str) -> String {
    format!("{}_bg.wasm", krate.replace('-', "_"))
}

/// The module's size on disk and as served.
#[derive(Clone, Copy)]
pub(super) struct ModuleSizes {
    raw: u64,
    gzip: u64,
    /// The `.br` file `build-web` wrote beside the module: what the relay serves to a browser
    /// that accepts brotli.
    brotli: Option<u64>,
}

impl ModuleSizes {
    /// Reads the module and measures it beside the `.br` file next to it.
    pub(super) fn of(wasm: &Path) -> anyhow::Result<ModuleSizes> {
        let raw = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
        let raw = raw.as_slice();
        let mut br = wasm.as_os_str().to_owned();
        br.push(".br");
        Ok(ModuleSizes {
            raw: raw.len() as u64,
            gzip: gzip_len(raw)?,
            brotli: std::fs::metadata(&br).ok().map(|m| m.len()),
        })
    }
}

/// Runs before the page's own scripts (CDP `Page.addScriptToEvaluateOnNewDocument`): notes
/// when `body[data-ready]` appears, presses Run at that moment (unless `sessionStorage` says
/// this is a load-only run), and notes the first event row and the verdict.
const PAGE_PROBE: &str = r#"
window.__bench = {};
new MutationObserver(() => {
  const b = window.__bench;
  const body = document.body;
  if (body && body.dataset.ready && b.ready === undefined) {
    b.ready = performance.now();
    b.readyValue = body.dataset.ready;
    const button = document.getElementById("run-button");
    const loadOnly = sessionStorage.getItem("sshdiag-bench-load-only") === "1";
    if (body.dataset.ready === "true" && button && !loadOnly) { b.clicked = performance.now(); button.click(); }
  }
  const table = document.getElementById("events");
  if (b.firstEvent === undefined && table && table.tBodies[0] && table.tBodies[0].rows.length > 0) {
    b.firstEvent = performance.now();
  }
  const verdict = document.getElementById("verdict");
  if (b.firstEvent !== undefined && b.verdict === undefined && verdict && verdict.textContent.trim() && !document.getElementById("run-button").disabled) {
    b.verdict = performance.now();
  }
}).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
"#;

/// What the page's Resource Timing entries say it fetched: the module's entry, and the sum
/// over the document and every resource (`transferSize` is 0 for a cache hit and the headers
/// alone for a 304).
const TRANSFERS: &str = r#"
const all = performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource"));
const wasm = all.find(e => e.name.includes("_bg.wasm"));
return {
  module: wasm ? { transfer: wasm.transferSize, encoded: wasm.encodedBodySize, decoded: wasm.decodedBodySize, ms: wasm.responseEnd - wasm.startTime } : null,
  page_transfer: all.reduce((sum, e) => sum + (e.transferSize || 0), 0),
  requests: all.length,
};
"#;

pub(super) fn page_timing(
    args: &BenchArgs,
    proxy: &Path,
    wasm: &Path,
    scratch: &Path,
    results: &mut Results,
) -> anyhow::Result<()> {
    let web_root = wasm
        .parent()
        .and_then(Path::parent)
        .context("web/pkg has no parent")?;
    let mut guards = Guards::default();
    let port = free_loopback_port()?;
    let demo_port = free_loopback_port()?;
    guards.spawn(
        "sshdiag-proxy --demo",
        Command::new(proxy)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--demo", "--demo-listen", &format!("127.0.0.1:{demo_port}")])
            .arg("--demo-host-key")
            .arg(scratch.join("demo-host-key"))
            .arg("--web-root")
            .arg(web_root)
            .stdout(file(&scratch.join("demo-relay.log"))?)
            .stderr(Stdio::null()),
    )?;
    wait_port(port)?;
    let webdriver_json: Value = serde_json::from_str(&std::fs::read_to_string(
        project_root().join("crates/sshdiag-web/webdriver.json"),
    )?)?;
    let url = format!("http://127.0.0.1:{port}/");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the WebDriver client's runtime")?;
    let result = runtime.block_on(page_runs(args, &url, webdriver_json, results));
    guards.stop_all();
    result
}

/// The page runs themselves, in Chromium through the test kit's WebDriver layer (the same one
/// the page tests use), with the wasm tests' capabilities (`webdriver.json`).
async fn page_runs(
    args: &BenchArgs,
    url: &str,
    capabilities: Value,
    results: &mut Results,
) -> anyhow::Result<()> {
    let driver = Driver::start(Browser::Chromium).await?;
    let session = driver.session_with(capabilities).await?;
    let result = async {
        session
            .cdp(
                "Page.addScriptToEvaluateOnNewDocument",
                json!({ "source": PAGE_PROBE }),
            )
            .await?;
        for run in 0..args.page_runs {
            session.goto(url).await?;
            let timing = wait_for_page(&session, "verdict").await?;
            eprintln!("bench: page run {run}: {timing}");
            let get = |k: &str| timing[k].as_f64().unwrap_or(f64::NAN);
            let label = if run == 0 { "page/cold" } else { "page/warm" };
            results.add(format!("{label}/ready_ms"), get("ready"));
            results.add(format!("{label}/first_event_ms"), get("firstEvent"));
            results.add(
                format!("{label}/click_to_first_event_ms"),
                get("firstEvent") - get("clicked"),
            );
            results.add(format!("{label}/verdict_ms"), get("verdict"));
            results.page.push(timing);
        }
        slow_runs(args, &session, url, results).await
    }
    .await;
    session.close().await;
    result
}

/// Page loads on the emulated slow link: each cold one after clearing the browser's cache,
/// each warm one right after a load (a reload as a returning visitor makes it). Run is not
/// pressed: what is timed is the page becoming ready, and what it fetched.
async fn slow_runs(
    args: &BenchArgs,
    session: &Session<'_>,
    url: &str,
    results: &mut Results,
) -> anyhow::Result<()> {
    if args.slow_page_runs == 0 {
        return Ok(());
    }
    // Run is pressed unless this origin's sessionStorage says otherwise (set on a page of it).
    session.goto(url).await?;
    wait_for_page(session, "ready").await?;
    session
        .js("sessionStorage.setItem('sshdiag-bench-load-only', '1'); return null;")
        .await?;
    session.cdp("Network.enable", json!({})).await?;
    session
        .cdp(
            "Network.emulateNetworkConditions",
            json!({
                "offline": false,
                // DevTools adds this much to every request's response: the round trip.
                "latency": SLOW_RTT_MS,
                "downloadThroughput": SLOW_DOWN_BITS_PER_S / 8.0,
                "uploadThroughput": SLOW_UP_BITS_PER_S / 8.0,
            }),
        )
        .await?;
    let result = async {
        for run in 0..args.slow_page_runs {
            for label in ["slow/cold", "slow/warm"] {
                if label == "slow/cold" {
                    session.cdp("Network.clearBrowserCache", json!({})).await?;
                }
                session.goto(url).await?;
                let timing = wait_for_page(session, "ready").await?;
                let transfers = session.js(TRANSFERS).await?;
                eprintln!("bench: {label} run {run}: {timing} {transfers}");
                results.add(
                    format!("{label}/ready_ms"),
                    timing["ready"].as_f64().unwrap_or(f64::NAN),
                );
                let module = &transfers["module"];
                for key in ["transfer", "encoded", "ms"] {
                    if let Some(v) = module[key].as_f64() {
                        results.add(format!("{label}/module_{key}"), v);
                    }
                }
                if let Some(v) = transfers["page_transfer"].as_f64() {
                    results.add(format!("{label}/page_transfer"), v);
                }
            }
        }
        anyhow::Ok(())
    }
    .await;
    // Back to the plain loopback for whatever runs next in this browser.
    let _ = session
        .cdp(
            "Network.emulateNetworkConditions",
            json!({ "offline": false, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1 }),
        )
        .await;
    let _ = session
        .js("sessionStorage.removeItem('sshdiag-bench-load-only'); return null;")
        .await;
    result
}

/// Polls the probe until it has noted `until` (`ready` or `verdict`); fails when the page says
/// its module did not load, or after 60 s.
async fn wait_for_page(session: &Session<'_>, until: &str) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let b = session.js("return window.__bench || null;").await?;
        if b["readyValue"] == "false" {
            bail!("the page says its module did not load");
        }
        if b[until].is_number() {
            return Ok(b);
        }
        if Instant::now() > deadline {
            bail!("the page showed no {until} within 60 s: {b}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Section 5 of the report: the module's sizes, the page on loopback, the page on the slow link.
pub(super) fn report(out: &mut String, r: &Results) {
    let show = |label: &str, digits: usize| {
        r.stats(label)
            .map_or_else(|| "—".to_string(), |s| s.show(digits))
    };
    let _ = writeln!(out, "### 5. The wasm module and the page\n");
    if let Some(sizes) = r.sizes {
        let served = match sizes.brotli {
            Some(br) => format!(
                "**{br} bytes brotli** ({:.1} KB, what the relay serves) — {} (target ≤ 450 KB brotli as served)",
                br as f64 / 1e3,
                if br <= MODULE_TARGET_BYTES {
                    "met"
                } else {
                    "**missed**"
                }
            ),
            None => "no brotli file beside it (not built by `build-web`?)".to_string(),
        };
        let _ = writeln!(
            out,
            "`web/pkg/sshdiag_web_bg.wasm` (as `cargo xtask build-web` leaves it): {served}; {} bytes gzip -9 ({:.0} KB); {} bytes raw ({:.0} KB).\n",
            sizes.gzip,
            sizes.gzip as f64 / 1e3,
            sizes.raw,
            sizes.raw as f64 / 1e3,
        );
    }
    for (krate, sizes) in &r.lazy_sizes {
        let what = LAZY_MODULE_USE
            .iter()
            .find_map(|(k, what)| (k == krate).then_some(*what))
            .unwrap_or("fetched on first use");
        let _ = writeln!(
            out,
            "`web/pkg/{}`, {what}: {} bytes brotli ({:.1} KB); {} bytes gzip -9; {} bytes raw.\n",
            module_file(krate),
            sizes
                .brotli
                .map_or_else(|| "—".to_string(), |b| b.to_string()),
            sizes.brotli.unwrap_or(0) as f64 / 1e3,
            sizes.gzip,
            sizes.raw,
        );
    }
    if r.stats("page/cold/ready_ms").is_some() {
        let _ = writeln!(
            out,
            "The demo page (served by `sshdiag-proxy --demo`, headless Chromium over WebDriver). Times are `performance.now()` in the page, from navigation start; Run is pressed by script the moment the page marks itself ready; the first run has a cold cache.\n"
        );
        table_head(
            out,
            &[
                "load",
                "ready (module fetched + instantiated, form filled) ms",
                "first event ms",
                "Run → first event ms",
                "verdict ms",
            ],
        );
        for (name, key) in [("cold", "page/cold"), ("warm", "page/warm")] {
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {} |",
                show(&format!("{key}/ready_ms"), 1),
                show(&format!("{key}/first_event_ms"), 1),
                show(&format!("{key}/click_to_first_event_ms"), 1),
                show(&format!("{key}/verdict_ms"), 1),
            );
        }
        let _ = writeln!(out);
    }
    if let Some(cold) = r.stats("slow/cold/ready_ms") {
        let _ = writeln!(
            out,
            "The same page on a slow link: Chromium's network emulation (DevTools `Network.emulateNetworkConditions` over WebDriver) at {:.1} Mbit/s down, {:.0} kbit/s up, {SLOW_RTT_MS:.0} ms added to every request. Cold: the browser's cache cleared first; warm: loaded again right after. Bytes are the Resource Timing API's (`transferSize`: what crossed the link, headers included, 0 from the cache; `encodedBodySize`: the body as served).\n",
            SLOW_DOWN_BITS_PER_S / 1e6,
            SLOW_UP_BITS_PER_S / 1e3,
        );
        table_head(
            out,
            &[
                "load",
                "ready ms",
                "module transferSize bytes",
                "module encodedBodySize bytes",
                "module fetch ms",
                "whole page transferSize bytes",
            ],
        );
        for (name, key) in [("cold", "slow/cold"), ("warm", "slow/warm")] {
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {} | {} |",
                show(&format!("{key}/ready_ms"), 1),
                show(&format!("{key}/module_transfer"), 0),
                show(&format!("{key}/module_encoded"), 0),
                show(&format!("{key}/module_ms"), 1),
                show(&format!("{key}/page_transfer"), 0),
            );
        }
        // Chromium reports a revalidated (304) entry with the cached response's status, so
        // the bytes tell it: a `transferSize` below the body's size means the body came from
        // the cache and only the 304's headers crossed the link.
        let warm_transfer = r.stats("slow/warm/module_transfer").map(|s| s.max);
        let warm_body = r.stats("slow/warm/module_encoded").map(|s| s.min);
        let _ = writeln!(
            out,
            "\nPage ready on the slow link, cold: {:.0} ms — {} (target ≤ {SLOW_READY_TARGET_MS:.0} ms). Warm reload, the module: {}.\n",
            cold.median,
            if cold.median <= SLOW_READY_TARGET_MS {
                "met"
            } else {
                "**missed**"
            },
            match (warm_transfer, warm_body) {
                (Some(0.0), _) =>
                    "0 bytes (from the cache, not even revalidated) — met".to_string(),
                (Some(t), Some(b)) if t < b => format!(
                    "0 bytes of its body, at most {t:.0} bytes of a revalidation's headers (ETag → 304) — met for the body (target: 0 bytes of the module fetched)"
                ),
                (Some(t), _) =>
                    format!("{t:.0} bytes — **missed** (target: 0 bytes of the module fetched)"),
                _ => "not measured".to_string(),
            },
        );
    }
}
