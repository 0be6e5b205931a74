//! The page itself, over WebDriver, in both browsers page.md names: every scenario below is
//! one test in `chromium::` (headless Chromium, chromedriver) and one in `firefox::` (headless
//! Firefox ESR, geckodriver). The relay serves `web/`, and a person's clicks are replayed.
//!
//! - the demo run: the form is pre-filled from `/relay.json`, one click on Run gives a green
//!   verdict, the events arrive as `CONNECT` … `VERDICT` in order, `seq` without gaps, the
//!   timeline has a bar for every phase, no request went to another origin, and on a laptop
//!   screen (1366×768) nothing scrolls sideways and the verdict is in the top half;
//! - a target the relay does not allow, run with the keyboard alone (Tab walks the form in
//!   reading order to Run, Enter runs it): a red `ProxyDenied` verdict;
//! - the JS API refuses an unknown or mistyped option with an Error naming it, and a file that
//!   is not a bundle with a plain message; bytes made in the WebDriver script's realm (another
//!   realm in Firefox) are read as bytes;
//! - against the real OpenSSH fixture through the relay: a wrong password is a red `AuthFailed`
//!   whose hint names the methods the server accepts; the right one is green, and the forward
//!   probe field reaches the server; the redacted bundle the Download button saves loads with our
//!   types, its integrity holds, and it holds neither the password nor the user name nor the
//!   host (the raw bundle, behind its confirmation, holds the last two: the check can fail);
//! - the viewer, after a fresh page load: the saved bundle is rendered (verdict, every event,
//!   "Intact") with no connection made to the relay; an edited bundle is "Edited"; a truncated
//!   file and a JSON file that is not a bundle get a plain message naming the file;
//! - the JS API's supervisor options on the browser's timer: a run held open with keepalives
//!   every 300 ms whose server then hangs (SIGSTOP) ends in `KeepaliveTimeout`, the hint placing
//!   the silence behind the relay (its pongs kept coming); `retries: 2` against a closed port
//!   makes three attempts; a wrong password is not retried;
//! - every credential mode of the form against OpenSSH (with PAM): a key file from the file
//!   picker, an encrypted key pasted with its passphrase, keyboard-interactive answers (each a
//!   green run that logged in with that method), and "probe only" (no login, no command, the
//!   accepted methods named); no secret appears in the events;
//! - the host key changed between two runs (sshd restarted on the same port with new keys): a
//!   red `HostKeyMismatch` with both fingerprints, no login attempted, and after "Trust the new
//!   key" the next run is green.
//!
//! Screenshots of the demo run, the wrong password and the mismatch are written to
//! `target/tmp/page-screenshots/`; with `SSHDIAG_UPDATE_SCREENSHOTS=1` they also replace
//! `docs/screenshots/*.png`, which the README shows.
//!
//! `web/pkg/` (the wasm module) is rebuilt with `cargo xtask build-web` first when it is missing
//! or older than the sources it is built from. A missing browser or driver fails the test with
//! the command that installs it (`cargo xtask test` installs them as root); nothing is skipped.
//! At most two browsers run at once.
//!
//! The WebDriver client is a few lines of HTTP/1.1 over a loopback socket (the driver is the
//! only peer), so the test needs no WebDriver crate.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use base64::Engine;
use serde_json::{Value, json};
use sshdiag_events::bundle::{Bundle, IntegrityStatus};
use sshdiag_tests::RelayFixture;
use sshdiag_tests::sshd::{
    SshdFixture, SshdOptions, free_loopback_port, kill_tree, spawn_dying_with_this_process,
};
use sshdiag_tests::tools;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const STEP: Duration = Duration::from_secs(60);
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
    for dir in [
        "crates/sshdiag-web",
        "crates/sshdiag-core",
        "crates/sshdiag-events",
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

/// The browsers the page must work in (page.md): every scenario runs in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Browser {
    Chromium,
    Firefox,
}

impl Browser {
    fn name(self) -> &'static str {
        match self {
            Browser::Chromium => "chromium",
            Browser::Firefox => "firefox",
        }
    }

    /// The browser and its WebDriver server.
    fn tools(self) -> (tools::Tool, tools::Tool) {
        match self {
            Browser::Chromium => (tools::CHROMIUM, tools::CHROMEDRIVER),
            Browser::Firefox => (tools::FIREFOX, tools::GECKODRIVER),
        }
    }
}

/// At most this many browsers at once across the file's tests: each is several processes, and
/// the machine this runs on may have two cores.
static BROWSER_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// A WebDriver server (chromedriver or geckodriver) on a free loopback port; killed on drop
/// (and with this process), with every browser process it started.
struct Driver {
    browser: Browser,
    child: Child,
    port: u16,
    profile: tempfile::TempDir,
    _slot: tokio::sync::SemaphorePermit<'static>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Chromium's processes are chromedriver's descendants: none may outlive the test.
        kill_tree(self.child.id());
        let _ = self.child.wait();
    }
}

/// One WebDriver session.
struct Session<'a> {
    driver: &'a Driver,
    id: String,
}

async fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    // chromedriver keeps the connection open even when asked to close it, so the answer ends
    // where its Content-Length (or last chunk) says, not at EOF.
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            if let Some(payload) = complete_body(&response) {
                return anyhow::Ok(payload);
            }
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return complete_body(&response)
                    .or_else(|| {
                        let text = String::from_utf8_lossy(&response).to_string();
                        text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
                    })
                    .context("chromedriver closed the connection without an answer");
            }
            response.extend_from_slice(&buf[..n]);
        }
    };
    let payload = tokio::time::timeout(STEP, exchange)
        .await
        .with_context(|| format!("chromedriver did not answer {method} {path} in {STEP:?}"))??;
    let value: Value = serde_json::from_str(&payload)
        .with_context(|| format!("chromedriver's answer to {method} {path}: {payload}"))?;
    if let Some(error) = value["value"]["error"].as_str() {
        bail!(
            "WebDriver {method} {path}: {error}: {}",
            value["value"]["message"].as_str().unwrap_or("")
        );
    }
    Ok(value["value"].clone())
}

/// The body of a complete HTTP response in `raw`, or `None` while more is to come.
fn complete_body(raw: &[u8]) -> Option<String> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let rest = &raw[end + 4..];
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    if let Some(len) = header("content-length:").and_then(|v| v.parse::<usize>().ok()) {
        return (rest.len() >= len).then(|| String::from_utf8_lossy(&rest[..len]).to_string());
    }
    if header("transfer-encoding:").is_some_and(|v| v.contains("chunked")) {
        let text = String::from_utf8_lossy(rest);
        return text
            .contains("\r\n0\r\n\r\n")
            .then(|| dechunk(&text))
            .or_else(|| text.starts_with("0\r\n\r\n").then(String::new));
    }
    None
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

impl Driver {
    async fn start(browser: Browser) -> anyhow::Result<Driver> {
        let (browser_tool, driver_tool) = browser.tools();
        let server = driver_tool.require()?;
        browser_tool.require()?;
        let slot = BROWSER_SLOTS
            .acquire()
            .await
            .context("the browser slots are closed")?;
        let port = free_loopback_port()?;
        let profile = tempfile::Builder::new()
            .prefix("sshdiag-page-test-")
            .tempdir()?;
        let mut command = Command::new(&server);
        match browser {
            Browser::Chromium => command.arg(format!("--port={port}")),
            Browser::Firefox => command.args(["--host", "127.0.0.1", "--port", &port.to_string()]),
        };
        // Profiles and downloads' temp files land in the test's own temp dir.
        command
            .env("TMPDIR", profile.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = spawn_dying_with_this_process(command)
            .with_context(|| format!("starting {}", server.display()))?;
        let driver = Driver {
            browser,
            child,
            port,
            profile,
            _slot: slot,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(status) = http(port, "GET", "/status", None).await
                && status["ready"].as_bool() == Some(true)
            {
                return Ok(driver);
            }
            if Instant::now() > deadline {
                bail!(
                    "{} on port {port} was not ready within 20 s",
                    driver_tool.name
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new browser with its own profile; downloads go to `downloads` without a prompt.
    async fn session(&self, downloads: Option<&Path>) -> anyhow::Result<Session<'_>> {
        let caps = match self.browser {
            Browser::Chromium => self.chromium_capabilities(downloads),
            Browser::Firefox => firefox_capabilities(downloads)?,
        };
        let created = http(
            self.port,
            "POST",
            "/session",
            Some(&json!({"capabilities": {"alwaysMatch": caps}})),
        )
        .await?;
        let id = created["sessionId"]
            .as_str()
            .context("chromedriver gave no session id")?
            .to_string();
        Ok(Session { driver: self, id })
    }

    fn chromium_capabilities(&self, downloads: Option<&Path>) -> Value {
        let profile = self.profile.path().join(format!(
            "profile-{}",
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
            "--window-size=1280,1000",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
        let mut options = json!({ "args": args });
        if let Ok(binary) = tools::CHROMIUM.require() {
            options["binary"] = json!(binary);
        }
        if let Some(dir) = downloads {
            options["prefs"] = json!({
                "download.default_directory": dir,
                "download.prompt_for_download": false,
                "download.directory_upgrade": true,
            });
        }
        json!({ "browserName": "chrome", "goog:chromeOptions": options })
    }
}

/// Firefox headless with a fresh profile (geckodriver makes one per session) that saves
/// downloads to `downloads` without asking and makes no background requests.
fn firefox_capabilities(downloads: Option<&Path>) -> anyhow::Result<Value> {
    let mut prefs = json!({
        "app.update.enabled": false,
        "browser.shell.checkDefaultBrowser": false,
        "datareporting.policy.dataSubmissionEnabled": false,
        "toolkit.telemetry.enabled": false,
        "network.captive-portal-service.enabled": false,
        "browser.safebrowsing.malware.enabled": false,
        "browser.safebrowsing.phishing.enabled": false,
    });
    if let Some(dir) = downloads {
        prefs["browser.download.folderList"] = json!(2);
        prefs["browser.download.dir"] = json!(dir);
        prefs["browser.download.useDownloadDir"] = json!(true);
        prefs["browser.download.always_ask_before_handling_new_types"] = json!(false);
        prefs["browser.download.manager.showWhenStarting"] = json!(false);
        prefs["browser.helperApps.neverAsk.saveToDisk"] =
            json!("application/json,application/x-ndjson,application/octet-stream");
    }
    Ok(json!({
        "browserName": "firefox",
        "moz:firefoxOptions": {
            "binary": tools::FIREFOX.require()?,
            "args": ["-headless", "--width=1280", "--height=1000"],
            "prefs": prefs,
        },
    }))
}

impl Session<'_> {
    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        http(
            self.driver.port,
            method,
            &format!("/session/{}{path}", self.id),
            body,
        )
        .await
    }

    async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.call("POST", "/url", Some(&json!({ "url": url })))
            .await
            .map(|_| ())
    }

    /// Runs `script` in the page (as a function body) and returns its result.
    async fn js(&self, script: &str) -> anyhow::Result<Value> {
        self.js_with(script, json!([])).await
    }

    /// [`Session::js`] with `arguments` (a JSON array) passed to the script.
    async fn js_with(&self, script: &str, args: Value) -> anyhow::Result<Value> {
        self.call(
            "POST",
            "/execute/sync",
            Some(&json!({ "script": script, "args": args })),
        )
        .await
    }

    /// Polls `script` until it returns something other than null/false/"".
    async fn wait_for(&self, script: &str, limit: Duration, what: &str) -> anyhow::Result<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let v = self.js(script).await?;
            let done = !(v.is_null() || v == json!(false) || v == json!(""));
            if done {
                return Ok(v);
            }
            if Instant::now() > deadline {
                bail!("timed out after {limit:?} waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sets form fields by id (`value` of inputs, textareas and selects).
    async fn fill(&self, fields: &[(&str, &str)]) -> anyhow::Result<()> {
        let script = format!(
            "for (const [id, v] of {}) {{ const e = document.getElementById(id); \
             if (!e) throw new Error('no element #' + id); e.value = v; }}",
            serde_json::to_string(fields)?
        );
        self.js(&script).await.map(|_| ())
    }

    /// The element's WebDriver reference.
    async fn element(&self, css: &str) -> anyhow::Result<String> {
        let found = self
            .call(
                "POST",
                "/element",
                Some(&json!({"using": "css selector", "value": css})),
            )
            .await?;
        Ok(found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .with_context(|| format!("no element {css}: {found}"))?
            .to_string())
    }

    /// Clicks like a person (a trusted click, scrolled into view), not `element.click()`.
    async fn click(&self, id: &str) -> anyhow::Result<()> {
        self.click_css(&format!("#{id}")).await
    }

    async fn click_css(&self, css: &str) -> anyhow::Result<()> {
        let element = self.element(css).await?;
        self.call(
            "POST",
            &format!("/element/{element}/click"),
            Some(&json!({})),
        )
        .await
        .map(|_| ())
    }

    async fn text(&self, id: &str) -> anyhow::Result<String> {
        let v = self
            .js(&format!(
                "const e = document.getElementById({}); return e ? e.innerText : null",
                json!(id)
            ))
            .await?;
        v.as_str()
            .map(str::to_string)
            .with_context(|| format!("no element #{id}"))
    }

    async fn hidden(&self, id: &str) -> anyhow::Result<bool> {
        let v = self
            .js(&format!(
                "return document.getElementById({}).hidden",
                json!(id)
            ))
            .await?;
        Ok(v == json!(true))
    }

    /// Gives `path` to the `<input type=file id=…>` as a person choosing it would.
    async fn choose_file(&self, id: &str, path: &Path) -> anyhow::Result<()> {
        let element = self.element(&format!("#{id}")).await?;
        self.call(
            "POST",
            &format!("/element/{element}/value"),
            Some(&json!({ "text": path.display().to_string() })),
        )
        .await
        .map(|_| ())
    }

    /// A PNG of the viewport.
    async fn screenshot(&self) -> anyhow::Result<Vec<u8>> {
        let encoded = self.call("GET", "/screenshot", None).await?;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().context("the screenshot is not a string")?)
            .context("the screenshot is not base64")
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

    async fn close(self) {
        let _ = self.call("DELETE", "", None).await;
    }

    /// Loads the page and waits until the wasm module is ready and (for a relay with its demo
    /// server) the form is pre-filled.
    async fn open_page(&self, relay: &RelayFixture) -> anyhow::Result<()> {
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

    /// Clicks Run and waits for the verdict; returns (verdict class, events in the raw view).
    async fn run(&self) -> anyhow::Result<(String, Vec<Value>)> {
        self.click("run-button").await?;
        self.verdict().await
    }

    /// Presses and releases one key (a WebDriver key code such as `\u{E004}`, Tab) where the
    /// focus is.
    async fn press(&self, key: &str) -> anyhow::Result<()> {
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": key},
            {"type": "keyUp", "value": key},
        ]}]});
        self.call("POST", "/actions", Some(&actions))
            .await
            .map(|_| ())
    }

    /// From the top of the page, presses Tab until `id` has the focus; returns what had the
    /// focus on the way (ids, `name:…` for a radio group, `tag@parent` otherwise).
    async fn tab_to(&self, id: &str) -> anyhow::Result<Vec<String>> {
        self.js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);")
            .await?;
        let mut visited = Vec::new();
        for _ in 0..40 {
            self.press("\u{E004}").await?;
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

async fn demo_run_is_green_and_a_denied_target_is_proxy_denied(
    browser: Browser,
) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(ensure_web_pkg).await??;
    let key_dir = tempfile::tempdir()?;
    let relay = RelayFixture::start_with_args([
        "--demo".to_string(),
        "--demo-listen".to_string(),
        "127.0.0.1:0".to_string(),
        "--demo-host-key".to_string(),
        key_dir.path().join("demo-host-key").display().to_string(),
    ])
    .await?;
    let driver = Driver::start(browser).await?;
    let session = driver.session(None).await?;
    let result = async {
        // One click on the pre-filled form: a green run, events in order.
        session.open_page(&relay).await?;
        let (class, events) = session.run().await?;
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
        let mut wanted = [
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
        ]
        .into_iter()
        .peekable();
        for t in &seen {
            if wanted.peek() == Some(t) {
                wanted.next();
            }
        }
        anyhow::ensure!(
            wanted.peek().is_none(),
            "events out of order or missing {:?}: {seen:?}",
            wanted.collect::<Vec<_>>()
        );
        for (i, e) in events.iter().enumerate() {
            anyhow::ensure!(e["seq"] == json!(i), "seq has a gap at {i}: {seen:?}");
        }
        let rows = session
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
        let timeline = session.text("timeline").await?;
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
        save_screenshot(browser, "demo-run", &session.screenshot().await?)?;
        // On a laptop screen (1366×768) nothing scrolls sideways and the verdict is in the
        // first screenful.
        session
            .call(
                "POST",
                "/window/rect",
                Some(&json!({"width": 1366, "height": 768})),
            )
            .await?;
        let fit = session
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
            fit["verdictTop"].as_f64().unwrap_or(f64::MAX) < fit["height"].as_f64().unwrap_or(0.0) / 2.0,
            "the verdict is not in the top half of a laptop screen: {fit}"
        );
        session
            .call(
                "POST",
                "/window/rect",
                Some(&json!({"width": 1280, "height": 1000})),
            )
            .await?;

        // No request left the page's origin (the module, styles, /relay.json: all its own).
        let foreign = session
            .js("return performance.getEntriesByType('resource')\
                 .map((e) => e.name).filter((u) => !u.startsWith(location.origin + '/'))")
            .await?;
        anyhow::ensure!(
            foreign == json!([]),
            "requests to other origins: {foreign}"
        );

        // A target the relay does not allow, with the keyboard alone: Tab walks the form in
        // reading order to Run, Enter runs. ProxyDenied, red.
        session.open_page(&relay).await?;
        session
            .fill(&[("f-host", "192.0.2.10"), ("f-port", "22")])
            .await?;
        let visited = session.tab_to("run-button").await?;
        let mut expected = [
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
        ]
        .into_iter()
        .peekable();
        for v in &visited {
            if expected.peek() == Some(&v.as_str()) {
                expected.next();
            }
        }
        anyhow::ensure!(
            expected.peek().is_none(),
            "Tab skipped {:?} or went out of order: {visited:?}",
            expected.collect::<Vec<_>>()
        );
        session.press("\u{E007}").await?;
        let (class, events) = session.verdict().await?;
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
        let shown = session
            .js("return document.getElementById('verdict').innerText")
            .await?;
        anyhow::ensure!(
            shown.as_str().unwrap_or("").contains("ProxyDenied"),
            "the verdict panel says {shown}"
        );

        // The JS API refuses mistakes with an Error naming the option, and a bad bundle
        // with a plain message.
        let refusals = session
            .call(
                "POST",
                "/execute/async",
                Some(&json!({"args": [], "script": r#"
const done = arguments[arguments.length - 1];
import('./pkg/sshdiag_web.js').then(async (m) => {
  await m.default();
  const out = {};
  const t = (name, f) => { try { f(); out[name] = 'accepted'; } catch (e) { out[name] = (e instanceof Error) ? e.message : 'not an Error: ' + e; } };
  t('unknown', () => new m.Diagnostics({ host: 'h', username: 'u', passwd: 'x' }));
  t('port', () => new m.Diagnostics({ host: 'h', username: 'u', port: '22' }));
  t('auth', () => new m.Diagnostics({ host: 'h', username: 'u', auth: { type: 'password', pasword: 'x' } }));
  t('bundle', () => m.Diagnostics.openBundle('not json'));
  // Bytes made here, in the WebDriver script's realm (another realm in Firefox).
  t('bytes', () => m.Diagnostics.openBundle(new Uint8Array([0x7b, 0xff, 0x7d])));
  t('buffer', () => m.Diagnostics.openBundle(new TextEncoder().encode('[1]').buffer));
  done(out);
}).catch((e) => done({ failed: String(e) }));
"#})),
            )
            .await?;
        for (name, wanted) in [
            ("unknown", "`passwd`"),
            ("port", "`port`"),
            ("auth", "`auth.pasword`"),
            ("bundle", "not JSON"),
            ("bytes", "invalid UTF-8 at byte 1"),
            ("buffer", "holds an array"),
        ] {
            let message = refusals[name].as_str().unwrap_or("");
            anyhow::ensure!(
                message.contains(wanted),
                "{name}: expected an Error naming {wanted}, got {message:?} ({refusals})"
            );
        }
        anyhow::Ok(())
    }
    .await;
    session.close().await;
    relay.shutdown().await;
    result
}

/// The relay (no demo server) and an OpenSSH fixture it may reach; the form pointed at it.
async fn openssh_target(sshd: &SshdFixture) -> anyhow::Result<RelayFixture> {
    RelayFixture::start(vec![format!("127.0.0.1/32:{}", sshd.port())]).await
}

async fn fill_target(
    session: &Session<'_>,
    sshd: &SshdFixture,
    password: &str,
) -> anyhow::Result<()> {
    let port = sshd.port().to_string();
    session
        .fill(&[
            ("f-host", sshd.host()),
            ("f-port", &port),
            ("f-user", sshd.user()),
            ("f-password", password),
            // The output, not the command line, says `page-test-ran`.
            ("f-commands", "printf 'page-%s' test-ran"),
        ])
        .await
}

async fn against_openssh_wrong_password_bundle_download_and_viewer(
    browser: Browser,
) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(ensure_web_pkg).await??;
    let sshd = SshdFixture::start(SshdOptions::default())?;
    let relay = openssh_target(&sshd).await?;
    let downloads = tempfile::tempdir()?;
    let files = tempfile::tempdir()?;
    let driver = Driver::start(browser).await?;
    let session = driver.session(Some(downloads.path())).await?;
    let result = async {
        session.open_page(&relay).await?;

        // A wrong password: red, AuthFailed, and a hint naming what the server accepts.
        fill_target(&session, &sshd, "not-the-password").await?;
        let (class, events) = session.run().await?;
        let verdict = last_of(&events, "VERDICT")?;
        anyhow::ensure!(class.contains("fail"), "a wrong password shows green");
        anyhow::ensure!(
            verdict["error_type"] == json!("AuthFailed"),
            "verdict {verdict}; events {:?}",
            types(&events)
        );
        let shown = session.text("verdict").await?;
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
        save_screenshot(browser, "auth-failed", &session.screenshot().await?)?;

        // The right password, and the forward probe field: green, the command ran, and the
        // server opened the forward (to its own port, which listens).
        let forward = format!("127.0.0.1:{}", sshd.port());
        fill_target(&session, &sshd, sshd.password()).await?;
        session.fill(&[("f-forward", &forward)]).await?;
        let (class, events) = session.run().await?;
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
        let transcript = session.text("transcript").await?;
        anyhow::ensure!(
            transcript.contains("page-test-ran"),
            "the command's output is not shown: {transcript}"
        );
        session.fill(&[("f-forward", "")]).await?;

        // The redacted bundle, as the Download button saves it.
        session.click("dl-redacted").await?;
        let redacted_path = downloaded(downloads.path(), ".bundle.json").await?;
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
        session.click("dl-raw").await?;
        let open = session
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
        session.click("raw-confirm").await?;
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
        session.open_page(&relay).await?;
        let connections = relay_connections(&relay).await?;
        session.click("mode-view").await?;
        session.choose_file("f-bundle", &redacted_path).await?;
        session
            .wait_for(
                "return /\\bok\\b/.test(document.getElementById('verdict').className) \
                 && !document.getElementById('results').hidden",
                STEP,
                "the viewer to show the bundle's green verdict",
            )
            .await?;
        let integrity = session.text("integrity").await?;
        anyhow::ensure!(integrity.contains("Intact"), "integrity panel: {integrity}");
        let rows = session
            .js("return document.querySelectorAll('#events tbody tr').length")
            .await?;
        anyhow::ensure!(
            rows == json!(redacted.events.len()),
            "the viewer shows {rows} events of {}",
            redacted.events.len()
        );
        let shown = session.text("verdict").await?;
        anyhow::ensure!(shown.contains("It works"), "the viewer's verdict: {shown}");
        anyhow::ensure!(
            !session.text("transcript").await?.contains("page-test-ran"),
            "the redacted bundle shows the command's output"
        );

        // An edited bundle: shown, but marked as edited.
        let mut edited: Value = serde_json::from_str(&redacted_text)?;
        edited["verdict"]["summary"] = json!("all fine, trust me");
        let edited_path = files.path().join("edited.bundle.json");
        std::fs::write(&edited_path, serde_json::to_string_pretty(&edited)?)?;
        session.choose_file("f-bundle", &edited_path).await?;
        let integrity = session
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
            session.choose_file("f-bundle", path).await?;
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let message = session
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
                session.hidden("results").await?,
                "{name}: the previous bundle is still shown under the error"
            );
        }
        anyhow::ensure!(
            relay_connections(&relay).await? == connections,
            "the viewer made a connection to the relay"
        );
        anyhow::Ok(())
    }
    .await;
    session.close().await;
    relay.shutdown().await;
    result.with_context(|| format!("sshd log tail: {}", tail(&sshd.log(), 20)))
}

async fn host_key_changed_between_two_runs_is_a_mismatch_with_both_fingerprints(
    browser: Browser,
) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(ensure_web_pkg).await??;
    let mut first = SshdFixture::start(SshdOptions::default())?;
    let port = first.port();
    let relay = openssh_target(&first).await?;
    let driver = Driver::start(browser).await?;
    let session = driver.session(None).await?;
    let result = async {
        session.open_page(&relay).await?;
        fill_target(&session, &first, first.password()).await?;
        let (class, events) = session.run().await?;
        anyhow::ensure!(class.contains("ok"), "first run: {:?}", types(&events));
        let learned = last_of(&events, "HOSTKEY")?;
        let algorithm = learned["algorithm"].as_str().unwrap_or("").to_string();
        let old = learned["fingerprint_sha256"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let kind = ["ed25519", "ecdsa", "rsa"]
            .into_iter()
            .find(|k| first.host_key_fingerprint(k) == Some(old.as_str()))
            .with_context(|| format!("the first run saw {old}, not one of sshd's keys"))?;

        // The server is reinstalled: same port, new host keys.
        first.kill()?;
        let second = SshdFixture::start(SshdOptions {
            port: Some(port),
            ..SshdOptions::default()
        })?;
        let new = second
            .host_key_fingerprint(kind)
            .context("the new server has no key of the same kind")?
            .to_string();
        anyhow::ensure!(new != old, "the new server has the same key");

        let (class, events) = session.run().await?;
        let verdict = last_of(&events, "VERDICT")?;
        anyhow::ensure!(class.contains("fail"), "a changed host key shows green");
        anyhow::ensure!(
            verdict["error_type"] == json!("HostKeyMismatch"),
            "verdict {verdict}; {:?}",
            types(&events)
        );
        anyhow::ensure!(
            !types(&events).contains(&"AUTH"),
            "the page logged in to a server whose key changed: {:?}",
            types(&events)
        );
        anyhow::ensure!(!session.hidden("mismatch").await?, "no mismatch panel");
        let panel = session.text("mismatch").await?;
        anyhow::ensure!(
            panel.contains(&old) && panel.contains(&new),
            "the mismatch panel lacks a fingerprint (trusted {old}, presented {new}): {panel}"
        );
        anyhow::ensure!(panel.contains(&algorithm), "{panel}");
        save_screenshot(browser, "host-key-mismatch", &session.screenshot().await?)?;

        // Trusting the new key (after checking it) makes the next run green.
        session
            .js("document.querySelector('#mismatch-body button').click()")
            .await?;
        let (class, events) = session.run().await?;
        anyhow::ensure!(
            class.contains("ok"),
            "after trusting the new key: {}",
            last_of(&events, "VERDICT")?
        );
        let hostkey = last_of(&events, "HOSTKEY")?;
        anyhow::ensure!(hostkey["fingerprint_sha256"] == json!(new), "{hostkey}");
        drop(second);
        anyhow::Ok(())
    }
    .await;
    session.close().await;
    relay.shutdown().await;
    result
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

async fn api_keepalives_on_the_browser_timer_and_retries(browser: Browser) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(ensure_web_pkg).await??;
    let sshd = SshdFixture::start(SshdOptions::default())?;
    let closed = free_loopback_port()?;
    let relay = RelayFixture::start(vec![
        format!("127.0.0.1/32:{}", sshd.port()),
        format!("127.0.0.1/32:{closed}"),
    ])
    .await?;
    let driver = Driver::start(browser).await?;
    let session = driver.session(None).await?;
    let result = async {
        session.open_page(&relay).await?;

        // Held open with keepalives every 300 ms, the server then hangs (SIGSTOP): the browser's
        // timer counts the missed keepalives, and the relay's pongs tell where the silence is.
        session
            .start_api_run(
                "hold",
                &json!({
                    "host": sshd.host(),
                    "port": sshd.port(),
                    "username": sshd.user(),
                    "auth": { "type": "password", "password": sshd.password() },
                    "commands": ["true"],
                    "keepaliveIntervalMs": 300,
                    "keepaliveMaxMissed": 3,
                    "holdMs": 60_000,
                }),
            )
            .await?;
        let deadline = Instant::now() + RUN;
        loop {
            let events = session.api_run_events("hold").await?;
            let answered = |path: &str| {
                events.iter().any(|e| {
                    e["event_type"] == json!("KEEPALIVE")
                        && e["data"]["path"] == json!(path)
                        && e["data"]["rtt_ms"].is_number()
                })
            };
            if answered("target") && answered("relay") {
                break;
            }
            if events.iter().any(|e| e["event_type"] == json!("VERDICT")) {
                bail!(
                    "the held run ended before its keepalives were answered: {}",
                    serde_json::to_string(&events)?
                );
            }
            if Instant::now() > deadline {
                bail!("no answered keepalives on both paths: {:?}", types(&events));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let frozen = sshd.freeze()?;
        let (verdict, events) = session.api_run_verdict("hold").await?;
        drop(frozen);
        anyhow::ensure!(
            verdict["error_type"] == json!("KeepaliveTimeout"),
            "a hung server during the hold: {verdict}; {:?}",
            types(&events)
        );
        let hints = verdict["hints"].to_string();
        anyhow::ensure!(
            hints.contains("The relay kept answering its pings while the server did not"),
            "the hint does not place the silence behind the relay: {hints}"
        );

        // A closed port with `retries: 2`: tried three times (the backoff on the browser's
        // timer), then ConnectionRefused; a wrong password is never retried.
        session
            .start_api_run(
                "retry",
                &json!({
                    "host": "127.0.0.1",
                    "port": closed,
                    "username": sshd.user(),
                    "retries": 2,
                }),
            )
            .await?;
        let (verdict, events) = session.api_run_verdict("retry").await?;
        anyhow::ensure!(
            verdict["error_type"] == json!("ConnectionRefused"),
            "{verdict}; {:?}",
            types(&events)
        );
        // Each failed attempt is one `→ reconnecting` with its reason and count.
        let reconnecting: Vec<(u64, bool)> = events
            .iter()
            .filter(|e| {
                e["event_type"] == json!("STATE_CHANGE")
                    && e["data"]["to_state"] == json!("reconnecting")
            })
            .map(|e| {
                (
                    e["data"]["reconnection_count"].as_u64().unwrap_or(0),
                    e["data"]["reason"]
                        .as_str()
                        .is_some_and(|r| r.contains("ConnectionRefused")),
                )
            })
            .collect();
        anyhow::ensure!(
            reconnecting == [(1, true), (2, true)],
            "not retried twice with reasons: {reconnecting:?}; {:?}",
            types(&events)
        );
        let attempts = events
            .iter()
            .filter(|e| {
                e["event_type"] == json!("PROXY") && e["data"]["status"] == json!("ws_open")
            })
            .count();
        anyhow::ensure!(
            attempts == 3,
            "{attempts} connection attempts through the relay, not 3: {:?}",
            types(&events)
        );

        session
            .start_api_run(
                "no-retry",
                &json!({
                    "host": sshd.host(),
                    "port": sshd.port(),
                    "username": sshd.user(),
                    "auth": { "type": "password", "password": "wrong" },
                    "retries": 2,
                }),
            )
            .await?;
        let (verdict, events) = session.api_run_verdict("no-retry").await?;
        anyhow::ensure!(verdict["error_type"] == json!("AuthFailed"), "{verdict}");
        anyhow::ensure!(
            !types(&events).contains(&"STATE_CHANGE")
                || events
                    .iter()
                    .all(|e| e["data"]["reconnection_count"].as_u64().unwrap_or(0) == 0),
            "a wrong password was retried: {:?}",
            types(&events)
        );
        anyhow::Ok(())
    }
    .await;
    session.close().await;
    relay.shutdown().await;
    result.with_context(|| format!("sshd log tail: {}", tail(&sshd.log(), 30)))
}

async fn credential_modes_key_file_passphrase_keyboard_interactive_and_probe(
    browser: Browser,
) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(ensure_web_pkg).await??;
    // PAM, so that OpenSSH offers keyboard-interactive.
    let sshd = SshdFixture::start(SshdOptions::with_config(["UsePAM yes"]))?;
    let relay = openssh_target(&sshd).await?;
    let driver = Driver::start(browser).await?;
    let session = driver.session(None).await?;
    let keys = sshd.client_keys().clone();
    let result = async {
        session.open_page(&relay).await?;
        fill_target(&session, &sshd, "").await?;
        let mut raw_logs = String::new();
        let auth_method = |events: &[Value]| {
            events
                .iter()
                .filter(|e| e["event_type"] == json!("AUTH") && e["data"]["status"] == json!("success"))
                .map(|e| e["data"]["method"].as_str().unwrap_or("?").to_string())
                .next()
        };

        // A key file chosen with the file picker.
        session.click_css("input[name=authType][value=privateKey]").await?;
        session.choose_file("f-keyfile", &keys.ed25519.path).await?;
        session
            .wait_for(
                "return document.getElementById('f-keyfile-note').textContent.includes('Using the key file')",
                STEP,
                "the page to take the key file",
            )
            .await?;
        let (class, events) = session.run().await?;
        anyhow::ensure!(
            class.contains("ok") && auth_method(&events).as_deref() == Some("private_key"),
            "key file: {}; {:?}",
            last_of(&events, "VERDICT")?,
            types(&events)
        );
        raw_logs.push_str(&session.text("raw-jsonl").await?);

        // An encrypted key pasted, with its passphrase.
        session.click("f-keyfile-clear").await?;
        session
            .fill(&[
                ("f-key", &keys.rsa_enc.private_key),
                ("f-passphrase", keys.rsa_enc.passphrase.unwrap_or_default()),
            ])
            .await?;
        let (class, events) = session.run().await?;
        anyhow::ensure!(
            class.contains("ok") && auth_method(&events).as_deref() == Some("private_key"),
            "encrypted key: {}; {:?}",
            last_of(&events, "VERDICT")?,
            types(&events)
        );
        raw_logs.push_str(&session.text("raw-jsonl").await?);

        // Keyboard-interactive: the answer to PAM's password prompt.
        session
            .click_css("input[name=authType][value=keyboardInteractive]")
            .await?;
        session.fill(&[("f-answers", sshd.password())]).await?;
        let (class, events) = session.run().await?;
        anyhow::ensure!(
            class.contains("ok")
                && auth_method(&events).as_deref() == Some("keyboard_interactive"),
            "keyboard-interactive: {}; {:?}",
            last_of(&events, "VERDICT")?,
            types(&events)
        );
        raw_logs.push_str(&session.text("raw-jsonl").await?);

        // Probe only: no secret, no login, and the methods the server accepts are named.
        session.click_css("input[name=authType][value=probe]").await?;
        let (_, events) = session.run().await?;
        anyhow::ensure!(
            auth_method(&events).is_none() && !types(&events).contains(&"EXEC"),
            "a probe logged in or ran a command: {:?}",
            types(&events)
        );
        let shown = session.text("verdict").await?;
        anyhow::ensure!(
            shown.contains("publickey") && shown.contains("keyboard-interactive"),
            "the probe's verdict does not name the methods: {shown}"
        );
        raw_logs.push_str(&session.text("raw-jsonl").await?);

        let key_body = keys.ed25519.private_key.lines().nth(1).unwrap_or("?").to_string();
        let rsa_body = keys.rsa_enc.private_key.lines().nth(1).unwrap_or("?").to_string();
        for (what, secret) in [
            ("password", sshd.password()),
            ("ed25519 key", key_body.as_str()),
            ("encrypted key", rsa_body.as_str()),
            ("passphrase", keys.rsa_enc.passphrase.unwrap_or("?")),
        ] {
            anyhow::ensure!(!raw_logs.contains(secret), "the events contain the {what}");
        }
        anyhow::Ok(())
    }
    .await;
    session.close().await;
    relay.shutdown().await;
    result.with_context(|| format!("sshd log tail: {}", tail(&sshd.log(), 20)))
}

/// Each scenario as one test per browser.
macro_rules! in_every_browser {
    ($($scenario:ident),* $(,)?) => {
        mod chromium {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() -> anyhow::Result<()> {
                    super::$scenario(super::Browser::Chromium).await
                }
            )*
        }
        mod firefox {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() -> anyhow::Result<()> {
                    super::$scenario(super::Browser::Firefox).await
                }
            )*
        }
    };
}

in_every_browser!(
    demo_run_is_green_and_a_denied_target_is_proxy_denied,
    against_openssh_wrong_password_bundle_download_and_viewer,
    host_key_changed_between_two_runs_is_a_mismatch_with_both_fingerprints,
    api_keepalives_on_the_browser_timer_and_retries,
    credential_modes_key_file_passphrase_keyboard_interactive_and_probe,
);
