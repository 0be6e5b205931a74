//! The page itself, over WebDriver, in both browsers page.md names: every scenario is one test
//! in a `chromium` module (headless Chromium, chromedriver) and one in a `firefox` module
//! (headless Firefox ESR, geckodriver). The relay serves `web/`, and a person's clicks are
//! replayed. One file per group of scenarios:
//!
//! - `demo.rs`, the demo run and the page's layout and keyboard: the form is pre-filled from
//!   `/relay.json`, one click on Run gives a green verdict, the events arrive as `CONNECT` …
//!   `VERDICT` in order, `seq` without gaps, the timeline has a bar for every phase, no request
//!   went to another origin, and on a laptop screen (1366×768) nothing scrolls sideways and the
//!   verdict is in the top half; a target the relay does not allow, run with the keyboard alone
//!   (Tab walks the form in reading order to Run, Enter runs it): a red `ProxyDenied` verdict;
//! - `api.rs`, the JS API: it refuses an unknown or mistyped option with an Error naming it,
//!   and a file that is not a bundle with a plain message; bytes made in the WebDriver script's
//!   realm (another realm in Firefox) are read as bytes. Its supervisor options on the
//!   browser's timer: a run held open with keepalives every 300 ms whose server then hangs
//!   (SIGSTOP) ends in `KeepaliveTimeout`, the hint placing the silence behind the relay (its
//!   pongs kept coming); `retries: 2` against a closed port makes three attempts; a wrong
//!   password is not retried;
//! - `auth.rs`, credentials against the real OpenSSH fixture through the relay: a wrong
//!   password is a red `AuthFailed` whose hint names the methods the server accepts; every
//!   credential mode of the form (with PAM): a key file from the file picker, an encrypted key
//!   pasted with its passphrase, keyboard-interactive answers (each a green run that logged in
//!   with that method), and "probe only" (no login, no command, the accepted methods named);
//!   no secret appears in the events;
//! - `keys.rs`, key formats: a password or OpenSSH key run never fetches the key-format module
//!   (Resource Timing), a PKCS#8, legacy PEM or PuTTY key fetches it and logs in; their wrong
//!   or missing passphrases and damaged files read as the native decoder's, before connecting;
//!   a module the relay cannot serve is a clear key error and OpenSSH keys still log in;
//! - `bundles.rs`, the bundles and the viewer: the right password is green and the forward
//!   probe field reaches the server; the redacted bundle the Download button saves loads with
//!   our types, its integrity holds, and it holds neither the password nor the user name nor
//!   the host (the raw bundle, behind its confirmation, holds the last two: the check can
//!   fail); after a fresh page load the viewer renders the saved bundle (verdict, every event,
//!   "Intact") with no connection made to the relay; an edited bundle is "Edited"; a truncated
//!   file and a JSON file that is not a bundle get a plain message naming the file;
//! - `relay_killed.rs`: the run's relay (the real binary, a second relay beside the one serving
//!   the page) killed mid-session: a relay-layer verdict naming the relay process, at once;
//! - `jump.rs`: jump hosts, certificates and host CAs: a target on 127.0.0.2 that only the
//!   bastion reaches (the relay allows only the bastion) through one jump host (both browsers)
//!   and two, each hop named in the events, the verdict and the timeline; the bastion's own
//!   authentication failure, its `AllowTcpForwarding no` and its changed host key (trusted
//!   anew for the bastion) named as the bastion's; a user
//!   certificate login (and an untrusted CA's refusal); a host certificate trusted through the
//!   trusted host CAs, which the browser remembers;
//! - `host_key.rs`: the host key changed between two runs (sshd restarted on the same port with
//!   new keys): a red `HostKeyMismatch` with both fingerprints, no login attempted, and after
//!   "Trust the new key" the next run is green.
//!
//! Screenshots of the demo run, the wrong password and the mismatch are written to
//! `target/tmp/page-screenshots/`; with `SSHDIAG_UPDATE_SCREENSHOTS=1` they also replace
//! `docs/screenshots/*.png`, which the README shows.
//!
//! `web/pkg/` (the wasm module) is rebuilt with `cargo xtask build-web` first when it is missing
//! or older than the sources it is built from. A missing browser or driver fails the test with
//! the command that installs it (`cargo xtask test` installs them as root); nothing is skipped.
//! The browsers are driven through the test kit's WebDriver layer (`sshdiag_tests::webdriver`),
//! which runs at most two at once.

mod api;
mod auth;
mod axe;
mod bundles;
mod demo;
mod host_key;
mod jump;
mod jump_bundle;
mod jump_credentials;
mod keys;
mod link;
mod progress;
mod relay_killed;
mod types;
mod words;

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use sshdiag_tests::RelayFixture;
use sshdiag_tests::sshd::SshdFixture;
use sshdiag_tests::webdriver::{Browser, Driver, Key, STEP, Session};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one run of the probe may take in the page.
const RUN: Duration = Duration::from_secs(90);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

fn newest_mtime(dir: &Path, newest: &mut SystemTime) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            newest_mtime(&path, newest);
        } else if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
            *newest = (*newest).max(modified);
        }
    }
}

/// `web/pkg/` as built from the sources now in the tree (one build, however many tests ask).
fn ensure_web_pkg() -> anyhow::Result<()> {
    static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = BUILDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let root = workspace_root();
    let wasm = root.join("web/pkg/sshdiag_web_bg.wasm");
    let built = std::fs::metadata(&wasm).and_then(|m| m.modified()).ok();
    let mut newest = SystemTime::UNIX_EPOCH;
    // The three modules' crates (xtask's `MODULES`) and what they link of ours.
    for dir in [
        "crates/sshdiag-web",
        "crates/sshdiag-viewer",
        "crates/sshdiag-keys",
        "crates/sshdiag-core",
        "crates/sshdiag-events",
        "crates/sshdiag-chacha",
        "patches/russh",
    ] {
        newest_mtime(&root.join(dir), &mut newest);
    }
    for file in ["Cargo.lock", "Cargo.toml"] {
        if let Ok(modified) = std::fs::metadata(root.join(file)).and_then(|m| m.modified()) {
            newest = newest.max(modified);
        }
    }
    if built.is_some_and(|b| b >= newest) {
        return Ok(());
    }
    eprintln!("page test: web/pkg is missing or stale; running `cargo xtask build-web`");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["xtask", "build-web"])
        .current_dir(&root)
        .status()
        .context("running `cargo xtask build-web`")?;
    if !status.success() {
        bail!("`cargo xtask build-web` failed ({status}); the page test needs web/pkg");
    }
    Ok(())
}

/// Every scenario's frame: `web/pkg` up to date, a browser on the relay's page (downloads to
/// `downloads`), the scenario, then the session closed and the relay shut down whatever the
/// scenario's outcome.
async fn in_browser(
    browser: Browser,
    relay: RelayFixture,
    downloads: Option<&Path>,
    scenario: impl AsyncFnOnce(&Page<'_>, &RelayFixture) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(ensure_web_pkg).await??;
    let driver = Driver::start(browser).await?;
    let page = Page {
        session: driver.session(downloads).await?,
    };
    let result = async {
        page.open(&relay).await?;
        scenario(&page, &relay).await
    }
    .await;
    page.session.close().await;
    relay.shutdown().await;
    result
}

/// [`in_browser`] on the page of a relay that allows the OpenSSH fixture `sshd`; a failure
/// carries the tail of sshd's log.
async fn against_openssh(
    browser: Browser,
    sshd: &SshdFixture,
    downloads: Option<&Path>,
    scenario: impl AsyncFnOnce(&Page<'_>, &RelayFixture) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let relay = RelayFixture::start(vec![format!("127.0.0.1/32:{}", sshd.port())]).await?;
    in_browser(browser, relay, downloads, scenario)
        .await
        .with_context(|| format!("sshd log tail: {}", tail(&sshd.log(), 30)))
}

/// [`in_browser`] on the page of a relay with its demo SSH server (the form is pre-filled to
/// reach it).
async fn on_the_demo_page(
    browser: Browser,
    scenario: impl AsyncFnOnce(&Page<'_>, &RelayFixture) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let key_dir = tempfile::tempdir()?;
    let relay = RelayFixture::start_with_args(demo_relay_args(key_dir.path())).await?;
    in_browser(browser, relay, None, scenario).await
}

/// The relay flags of a demo relay: its SSH server on a free loopback port, its host key
/// kept in `key_dir`.
fn demo_relay_args(key_dir: &Path) -> Vec<String> {
    vec![
        "--demo".to_string(),
        "--demo-listen".to_string(),
        "127.0.0.1:0".to_string(),
        "--demo-host-key".to_string(),
        key_dir.join("demo-host-key").display().to_string(),
    ]
}

/// A WebDriver session on the page, with the page's own moves.
struct Page<'a> {
    session: Session<'a>,
}

impl<'a> Deref for Page<'a> {
    type Target = Session<'a>;

    fn deref(&self) -> &Session<'a> {
        &self.session
    }
}

impl Page<'_> {
    /// Loads the page and waits until the wasm module is ready and (for a relay with its demo
    /// server) the form is pre-filled.
    async fn open(&self, relay: &RelayFixture) -> anyhow::Result<()> {
        self.goto(&relay.http_url()).await?;
        let ready = self
            .wait_for(
                "return document.body.dataset.ready || null",
                STEP,
                "the page to load the wasm module",
            )
            .await?;
        anyhow::ensure!(ready == json!("true"), "the wasm module did not load");
        if relay.relay().and_then(|r| r.demo_addr()).is_none() {
            return Ok(());
        }
        self.wait_for(
            "return document.getElementById('f-host').value",
            STEP,
            "the form to be pre-filled from /relay.json",
        )
        .await?;
        Ok(())
    }

    /// Points the form at the OpenSSH fixture with this password.
    async fn fill_target(&self, sshd: &SshdFixture, password: &str) -> anyhow::Result<()> {
        let port = sshd.port().to_string();
        self.fill(&[
            ("f-host", sshd.host()),
            ("f-port", &port),
            ("f-user", sshd.user()),
            ("f-password", password),
            // The output, not the command line, says `page-test-ran`.
            ("f-commands", "printf 'page-%s' test-ran"),
        ])
        .await
    }

    /// Clicks Run and waits for the verdict; returns (verdict class, events in the raw view).
    async fn run(&self) -> anyhow::Result<(String, Vec<Value>)> {
        self.click("run-button").await?;
        self.verdict().await
    }

    /// Clicks Run and checks that the run is green; returns the events.
    async fn run_green(&self) -> anyhow::Result<Vec<Value>> {
        let (class, events) = self.run().await?;
        anyhow::ensure!(
            class.contains("ok"),
            "{}; {:?}",
            last_of(&events, "VERDICT")?,
            types(&events)
        );
        Ok(events)
    }

    /// Clicks Run and checks that the run is red with this `error_type`; returns the verdict's
    /// data and the events.
    async fn run_failing(&self, error_type: &str) -> anyhow::Result<(Value, Vec<Value>)> {
        let (class, events) = self.run().await?;
        let verdict = last_of(&events, "VERDICT")?.clone();
        anyhow::ensure!(
            class.contains("fail"),
            "a run that should fail with {error_type} shows green"
        );
        anyhow::ensure!(
            verdict["error_type"] == json!(error_type),
            "verdict {verdict}; events {:?}",
            types(&events)
        );
        Ok((verdict, events))
    }

    /// Waits for the verdict of the run just started; returns (verdict class, events in the
    /// raw view).
    async fn verdict(&self) -> anyhow::Result<(String, Vec<Value>)> {
        let class = self
            .wait_for(
                "const c = document.getElementById('verdict').className; \
                 return /\\b(ok|fail)\\b/.test(c) ? c : null",
                RUN,
                "the verdict",
            )
            .await?;
        let raw = self
            .js("return document.getElementById('raw-jsonl').textContent")
            .await?;
        let events = raw
            .as_str()
            .unwrap_or("")
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).with_context(|| format!("raw line {l}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok((class.as_str().unwrap_or("").to_string(), events))
    }

    /// The page's fetches so far whose URL contains `part` (`sshdiag_viewer`, `sshdiag_keys`),
    /// by Resource Timing: which of the lazily loaded modules a page has fetched.
    async fn fetched(&self, part: &str) -> anyhow::Result<Vec<String>> {
        let names = self
            .js_with(
                "return performance.getEntriesByType('resource').map((e) => e.name) \
                 .filter((n) => n.includes(arguments[0]))",
                json!([part]),
            )
            .await?;
        Ok(names
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect())
    }

    /// From the top of the page, presses Tab until `id` has the focus; returns what had the
    /// focus on the way (ids, `name:…` for a radio group, `tag@parent` otherwise).
    async fn tab_to(&self, id: &str) -> anyhow::Result<Vec<String>> {
        self.js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);")
            .await?;
        let mut visited = Vec::new();
        for _ in 0..40 {
            self.press(Key::Tab).await?;
            let here = self
                .js("const a = document.activeElement; if (!a || a === document.body) return 'body'; \
                     if (a.id) return a.id; if (a.name) return 'name:' + a.name; \
                     return a.tagName.toLowerCase() + '@' + (a.parentElement ? a.parentElement.id : '')")
                .await?;
            let here = here.as_str().unwrap_or("?").to_string();
            let done = here == id;
            visited.push(here);
            if done {
                return Ok(visited);
            }
        }
        bail!("Tab never reached #{id}: {visited:?}")
    }

    /// Starts `new Diagnostics(options).run()` with the page's module, as a portal embedding it
    /// would; the run's events and verdict collect in `window.sshdiagTestRuns[name]`.
    async fn start_api_run(&self, name: &str, options: &Value) -> anyhow::Result<()> {
        let script = r#"
const [name, options] = arguments;
window.sshdiagTestRuns = window.sshdiagTestRuns || {};
const slot = window.sshdiagTestRuns[name] = { events: [], verdict: null, error: null };
import('./pkg/sshdiag_web.js').then(async (m) => {
  await m.default();
  const d = new m.Diagnostics(options);
  d.onEvent((e) => slot.events.push(e));
  slot.verdict = await d.run();
}).catch((e) => { slot.error = String(e); });
"#;
        self.js_with(script, json!([name, options]))
            .await
            .map(|_| ())
    }

    /// An API run's verdict (null until it has one) and its events so far, read in one call so
    /// that with a verdict the events are all of them.
    async fn api_run_state(&self, name: &str) -> anyhow::Result<(Value, Vec<Value>)> {
        let slot = self
            .js_with("return window.sshdiagTestRuns[arguments[0]]", json!([name]))
            .await?;
        if let Some(error) = slot["error"].as_str() {
            bail!("the API run {name} threw: {error}");
        }
        let events = slot["events"].as_array().cloned().unwrap_or_default();
        Ok((slot["verdict"].clone(), events))
    }

    /// The events an API run has sent so far.
    async fn api_run_events(&self, name: &str) -> anyhow::Result<Vec<Value>> {
        Ok(self.api_run_state(name).await?.1)
    }

    /// Waits for an API run's verdict; returns it with all the run's events.
    async fn api_run_verdict(&self, name: &str) -> anyhow::Result<(Value, Vec<Value>)> {
        let deadline = Instant::now() + RUN;
        loop {
            let (verdict, events) = self.api_run_state(name).await?;
            if !verdict.is_null() {
                return Ok((verdict, events));
            }
            if Instant::now() > deadline {
                bail!(
                    "the API run {name} had no verdict after {RUN:?}: {:?}",
                    types(&events)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Takes a screenshot of the viewport and keeps it (see [`save_screenshot`]).
    async fn keep_screenshot(&self, name: &str) -> anyhow::Result<()> {
        save_screenshot(self.browser(), name, &self.screenshot().await?)
    }
}

/// Checks that `png` is a PNG about as wide as the browser window (1280 px, less a scroll
/// bar) and keeps it as `target/tmp/page-screenshots/BROWSER-NAME.png` (and Chromium's as the
/// README's, when asked to).
fn save_screenshot(browser: Browser, name: &str, png: &[u8]) -> anyhow::Result<()> {
    anyhow::ensure!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 24,
        "the screenshot is not a PNG"
    );
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    anyhow::ensure!(
        (1200..=1280).contains(&width),
        "the screenshot is {width} px wide, not the window's 1280"
    );
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("page-screenshots");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(format!("{}-{name}.png", browser.name())), png)?;
    if browser == Browser::Chromium
        && std::env::var_os("SSHDIAG_UPDATE_SCREENSHOTS").is_some_and(|v| v == "1")
    {
        let docs = workspace_root().join("docs/screenshots");
        std::fs::create_dir_all(&docs)?;
        std::fs::write(docs.join(format!("{name}.png")), png)?;
        eprintln!("page test: docs/screenshots/{name}.png updated");
    }
    Ok(())
}

/// Waits for a finished download whose name ends with `suffix` (Chromium writes
/// `….crdownload` first, Firefox `….part`, and rename it when done).
async fn downloaded(dir: &Path, suffix: &str) -> anyhow::Result<PathBuf> {
    let deadline = Instant::now() + STEP;
    loop {
        let names: Vec<PathBuf> = std::fs::read_dir(dir)?
            .flatten()
            .map(|e| e.path())
            .collect();
        let partial = names.iter().any(|p| {
            p.extension()
                .is_some_and(|e| e == "crdownload" || e == "part")
        });
        if let Some(done) = names.iter().find(|p| p.to_string_lossy().ends_with(suffix))
            && !partial
        {
            return Ok(done.clone());
        }
        if Instant::now() > deadline {
            bail!("no download ending in {suffix} within {STEP:?}: {names:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// WebSocket connections the relay has handled so far (connected, failed or refused), from
/// its Prometheus text.
async fn relay_connections(relay: &RelayFixture) -> anyhow::Result<u64> {
    let mut stream = TcpStream::connect(relay.addr()).await?;
    stream
        .write_all(
            format!(
                "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                relay.addr()
            )
            .as_bytes(),
        )
        .await?;
    let mut text = String::new();
    tokio::time::timeout(STEP, stream.read_to_string(&mut text))
        .await
        .context("the relay's /metrics did not answer")??;
    anyhow::ensure!(text.starts_with("HTTP/1.1 200"), "/metrics: {text}");
    let mut total = 0;
    for line in text.lines() {
        if line.starts_with("sshdiag_proxy_connections_total{")
            || line.starts_with("sshdiag_proxy_denied_total{")
        {
            let count = line.rsplit(' ').next().unwrap_or("0");
            total += count
                .parse::<u64>()
                .with_context(|| format!("metrics line {line}"))?;
        }
    }
    Ok(total)
}

/// The data of the last event of this type.
fn last_of<'a>(events: &'a [Value], event_type: &str) -> anyhow::Result<&'a Value> {
    events
        .iter()
        .rev()
        .find(|e| e["event_type"] == json!(event_type))
        .map(|e| &e["data"])
        .with_context(|| format!("no {event_type} event in {:?}", types(events)))
}

fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap_or("?"))
        .collect()
}

/// Whether `seen` holds `wanted` in this order (other items may come between).
fn in_order<'a>(
    seen: impl IntoIterator<Item = &'a str>,
    wanted: &[&str],
) -> Result<(), Vec<String>> {
    let mut rest = wanted.iter().peekable();
    for item in seen {
        if rest.peek() == Some(&&item) {
            rest.next();
        }
    }
    let missing: Vec<String> = rest.map(|s| s.to_string()).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing)
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Each scenario of a file as one test per browser, in its modules `chromium` and `firefox`.
macro_rules! in_every_browser {
    ($($scenario:ident),* $(,)?) => {
        mod chromium {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() -> anyhow::Result<()> {
                    super::$scenario(sshdiag_tests::webdriver::Browser::Chromium).await
                }
            )*
        }
        mod firefox {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() -> anyhow::Result<()> {
                    super::$scenario(sshdiag_tests::webdriver::Browser::Firefox).await
                }
            )*
        }
    };
}
pub(crate) use in_every_browser;
