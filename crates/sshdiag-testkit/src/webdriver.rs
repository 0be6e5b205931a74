//! One WebDriver layer for the page tests and the bench: headless Chromium (chromedriver) and
//! headless Firefox ESR (geckodriver), driven through `fantoccini`.
//!
//! [`Driver::start`] runs the driver binary the tools table finds on a free loopback port, its
//! scratch files (profiles, downloads' temp files, caches) in a temp dir of its own, and kills
//! it with every browser process it started on drop (and with this process).
//! [`Driver::session`] opens a browser with a fresh profile; [`Session`] wraps fantoccini's
//! client with the moves a person makes on a page (fill, click, press a key, choose a file),
//! each bounded by [`STEP`], and errors that say which move failed.
//!
//! It must never fetch a driver or a browser (no driver manager, no download): a missing one
//! fails with the command that installs it. It talks to 127.0.0.1 only. At most two browsers
//! run at once per process: each is several processes, and the machine may have two cores.

use std::future::Future;
use std::marker::PhantomData;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

pub use fantoccini::key::Key;

use crate::ports::{free_loopback_port, wait_for_port};
use crate::procs::{kill_tree, spawn_dying_with_this_process};
use crate::tools::{self, Tool};

/// Chromium's flags for a quiet, local-only headless run (no sync, updates or QUIC).
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
];

/// How long one WebDriver command may take before the test fails.
pub const STEP: Duration = Duration::from_secs(60);

/// The window every session opens with (a desktop screen; a test may resize it).
pub const WINDOW: (u32, u32) = (1280, 1000);

/// The browsers the page must work in (page.md: current Chromium and Firefox).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Browser {
    Chromium,
    Firefox,
}

impl Browser {
    /// Its short name, for file names and messages.
    pub fn name(self) -> &'static str {
        match self {
            Browser::Chromium => "chromium",
            Browser::Firefox => "firefox",
        }
    }

    /// The browser and its WebDriver server.
    pub fn tools(self) -> (Tool, Tool) {
        match self {
            Browser::Chromium => (tools::CHROMIUM, tools::CHROMEDRIVER),
            Browser::Firefox => (tools::FIREFOX, tools::GECKODRIVER),
        }
    }
}

/// At most this many browsers at once in this process.
static BROWSER_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// A WebDriver server (chromedriver or geckodriver) on a free loopback port; killed on drop
/// (and with this process), with every browser process it started.
pub struct Driver {
    browser: Browser,
    child: Child,
    port: u16,
    scratch: tempfile::TempDir,
    _slot: tokio::sync::SemaphorePermit<'static>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Chromium's processes are chromedriver's descendants: none may outlive the test.
        kill_tree(self.child.id());
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Starts the browser's WebDriver server once a browser slot is free, and waits until it
    /// accepts connections.
    pub async fn start(browser: Browser) -> anyhow::Result<Driver> {
        let (browser_tool, driver_tool) = browser.tools();
        let server = driver_tool.require()?;
        browser_tool.require()?;
        let slot = BROWSER_SLOTS
            .acquire()
            .await
            .context("the browser slots are closed")?;
        let port = free_loopback_port()?;
        let scratch = tempfile::Builder::new()
            .prefix("sshdiag-webdriver-")
            .tempdir()?;
        let mut command = Command::new(&server);
        match browser {
            Browser::Chromium => command.arg(format!("--port={port}")),
            Browser::Firefox => command.args(["--host", "127.0.0.1", "--port", &port.to_string()]),
        };
        // Profiles, crash dumps and downloads' temp files land in the driver's own temp dir,
        // never in the user's home.
        for (variable, dir) in [
            ("TMPDIR", "tmp"),
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_CACHE_HOME", "cache"),
        ] {
            let dir = scratch.path().join(dir);
            std::fs::create_dir_all(&dir)?;
            command.env(variable, dir);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = spawn_dying_with_this_process(command)
            .with_context(|| format!("starting {}", server.display()))?;
        let driver = Driver {
            browser,
            child,
            port,
            scratch,
            _slot: slot,
        };
        tokio::task::spawn_blocking(move || wait_for_port(port, Duration::from_secs(20)))
            .await?
            .with_context(|| format!("{} did not start", driver_tool.name))?;
        Ok(driver)
    }

    /// Which browser this driver runs.
    pub fn browser(&self) -> Browser {
        self.browser
    }

    /// A new browser with its own profile and a [`WINDOW`]-sized window; downloads go to
    /// `downloads` without a prompt.
    pub async fn session(&self, downloads: Option<&Path>) -> anyhow::Result<Session<'_>> {
        let capabilities = match self.browser {
            Browser::Chromium => self.chromium_capabilities(downloads)?,
            Browser::Firefox => firefox_capabilities(downloads)?,
        };
        self.session_with(capabilities).await
    }

    /// A new browser with exactly these capabilities (a JSON object; the bench passes the wasm
    /// tests' `webdriver.json`).
    pub async fn session_with(&self, capabilities: Value) -> anyhow::Result<Session<'_>> {
        let Value::Object(capabilities) = capabilities else {
            bail!("WebDriver capabilities must be a JSON object: {capabilities}");
        };
        let url = format!("http://127.0.0.1:{}", self.port);
        let client = tokio::time::timeout(
            STEP,
            ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities)
                .connect(&url),
        )
        .await
        .with_context(|| format!("the {} session did not start in {STEP:?}", self.name()))?
        .with_context(|| format!("starting a {} session", self.name()))?;
        Ok(Session {
            client,
            browser: self.browser,
            _driver: PhantomData,
        })
    }

    fn name(&self) -> &'static str {
        self.browser.tools().1.name
    }

    fn chromium_capabilities(&self, downloads: Option<&Path>) -> anyhow::Result<Value> {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let profile = self.scratch.path().join(format!("profile-{nanos}"));
        let args = CHROMIUM_FLAGS
            .iter()
            .map(|s| s.to_string())
            .chain([
                format!("--window-size={},{}", WINDOW.0, WINDOW.1),
                format!("--user-data-dir={}", profile.display()),
            ])
            .collect::<Vec<_>>();
        let mut options = json!({ "args": args, "binary": tools::CHROMIUM.require()? });
        if let Some(dir) = downloads {
            options["prefs"] = json!({
                "download.default_directory": dir,
                "download.prompt_for_download": false,
                "download.directory_upgrade": true,
            });
        }
        Ok(json!({ "browserName": "chrome", "goog:chromeOptions": options }))
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
            "args": [
                "-headless",
                format!("--width={}", WINDOW.0),
                format!("--height={}", WINDOW.1),
            ],
            "prefs": prefs,
        },
    }))
}

/// One browser session; it cannot outlive its driver.
pub struct Session<'a> {
    client: Client,
    browser: Browser,
    _driver: PhantomData<&'a Driver>,
}

impl Session<'_> {
    /// Which browser this is.
    pub fn browser(&self) -> Browser {
        self.browser
    }

    /// fantoccini's client, for what the methods below do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs one WebDriver command, bounded by [`STEP`]; errors name `what`.
    async fn step<T, E>(
        &self,
        what: &str,
        command: impl Future<Output = Result<T, E>>,
    ) -> anyhow::Result<T>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        tokio::time::timeout(STEP, command)
            .await
            .with_context(|| format!("{}: no answer to {what} in {STEP:?}", self.browser.name()))?
            .with_context(|| format!("{}: {what}", self.browser.name()))
    }

    /// Loads `url`.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.step(&format!("loading {url}"), self.client.goto(url))
            .await
    }

    /// Runs `script` in the page (as a function body) and returns its result.
    pub async fn js(&self, script: &str) -> anyhow::Result<Value> {
        self.js_with(script, json!([])).await
    }

    /// [`Session::js`] with `args` (a JSON array) as the script's `arguments`.
    pub async fn js_with(&self, script: &str, args: Value) -> anyhow::Result<Value> {
        let args = script_args(args)?;
        self.step(&script_name(script), self.client.execute(script, args))
            .await
    }

    /// Runs an asynchronous `script`: it answers by calling its last argument.
    pub async fn js_async(&self, script: &str, args: Value) -> anyhow::Result<Value> {
        let args = script_args(args)?;
        self.step(
            &script_name(script),
            self.client.execute_async(script, args),
        )
        .await
    }

    /// Polls `script` until it returns something other than null, false or "".
    pub async fn wait_for(
        &self,
        script: &str,
        limit: Duration,
        what: &str,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let value = self.js(script).await?;
            if !(value.is_null() || value == json!(false) || value == json!("")) {
                return Ok(value);
            }
            if Instant::now() > deadline {
                bail!("timed out after {limit:?} waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sets form fields by id (`value` of inputs, textareas and selects).
    pub async fn fill(&self, fields: &[(&str, &str)]) -> anyhow::Result<()> {
        let script = "for (const [id, v] of arguments[0]) { const e = document.getElementById(id); \
             if (!e) throw new Error('no element #' + id); e.value = v; }";
        self.js_with(script, json!([fields])).await.map(|_| ())
    }

    /// Clicks the element with this id like a person (a trusted click, scrolled into view),
    /// not `element.click()`.
    pub async fn click(&self, id: &str) -> anyhow::Result<()> {
        self.click_css(&format!("#{id}")).await
    }

    /// [`Session::click`] for the first element `css` selects.
    pub async fn click_css(&self, css: &str) -> anyhow::Result<()> {
        let element = self
            .step(
                &format!("finding {css}"),
                self.client.find(Locator::Css(css)),
            )
            .await?;
        self.step(&format!("clicking {css}"), element.click()).await
    }

    /// A property of the element with this id (`innerText`, `hidden`, `open`…); an error when
    /// there is no such element.
    pub async fn property(&self, id: &str, name: &str) -> anyhow::Result<Value> {
        let found = self
            .js_with(
                "const e = document.getElementById(arguments[0]); \
                 return e ? { value: e[arguments[1]] } : null",
                json!([id, name]),
            )
            .await?;
        anyhow::ensure!(!found.is_null(), "no element #{id}");
        Ok(found["value"].clone())
    }

    /// The rendered text of the element with this id.
    pub async fn text(&self, id: &str) -> anyhow::Result<String> {
        let text = self.property(id, "innerText").await?;
        text.as_str()
            .map(str::to_string)
            .with_context(|| format!("#{id} has no text: {text}"))
    }

    /// Whether the element with this id is `hidden`.
    pub async fn hidden(&self, id: &str) -> anyhow::Result<bool> {
        Ok(self.property(id, "hidden").await? == json!(true))
    }

    /// Gives `path` to the `<input type=file id=…>` as a person choosing it would.
    pub async fn choose_file(&self, id: &str, path: &Path) -> anyhow::Result<()> {
        let css = format!("#{id}");
        let element = self
            .step(
                &format!("finding {css}"),
                self.client.find(Locator::Css(&css)),
            )
            .await?;
        let path = path.display().to_string();
        self.step(
            &format!("choosing {path} in {css}"),
            element.send_keys(&path),
        )
        .await
    }

    /// Presses and releases one key where the focus is.
    pub async fn press(&self, key: Key) -> anyhow::Result<()> {
        let key: char = key.into();
        let actions = KeyActions::new("keyboard".to_string())
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
        self.step("pressing a key", self.client.perform_actions(actions))
            .await
    }

    /// Resizes the window (its outer size).
    pub async fn set_window_size(&self, width: u32, height: u32) -> anyhow::Result<()> {
        self.step(
            &format!("resizing the window to {width}×{height}"),
            self.client.set_window_size(width, height),
        )
        .await
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> anyhow::Result<Vec<u8>> {
        self.step("taking a screenshot", self.client.screenshot())
            .await
    }

    /// Sends a Chrome DevTools Protocol command through chromedriver (Chromium only).
    pub async fn cdp(&self, command: &str, params: Value) -> anyhow::Result<Value> {
        anyhow::ensure!(
            self.browser == Browser::Chromium,
            "DevTools commands need Chromium, not {}",
            self.browser.name()
        );
        let cdp = ChromiumCdp {
            command: command.to_string(),
            params,
        };
        self.step(&format!("DevTools {command}"), self.client.issue_cmd(cdp))
            .await
    }

    /// Ends the session (the browser closes); an error here is of no interest to a test.
    pub async fn close(self) {
        let _ = tokio::time::timeout(STEP, self.client.close()).await;
    }
}

fn script_args(args: Value) -> anyhow::Result<Vec<Value>> {
    match args {
        Value::Array(args) => Ok(args),
        other => bail!("script arguments must be a JSON array, not {other}"),
    }
}

/// The script's first line, to name it in an error.
fn script_name(script: &str) -> String {
    let line = script.trim().lines().next().unwrap_or("");
    let short: String = line.chars().take(80).collect();
    format!("the script `{short}`")
}

/// chromedriver's `POST /session/{id}/goog/cdp/execute`, which fantoccini does not name.
#[derive(Debug)]
struct ChromiumCdp {
    command: String,
    params: Value,
}

impl WebDriverCompatibleCommand for ChromiumCdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.command, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}
