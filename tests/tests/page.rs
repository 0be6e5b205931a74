//! The page itself, in headless Chromium over WebDriver: the relay serves `web/` with its demo
//! SSH server, and a person's clicks are replayed.
//!
//! - the demo run: the form is pre-filled from `/relay.json`, one click on Run gives a green
//!   verdict, and the events arrive as `CONNECT` … `VERDICT` in order, `seq` without gaps;
//! - a target the relay does not allow: a red `ProxyDenied` verdict;
//! - the JS API refuses an unknown or mistyped option with an Error naming it, and a file that
//!   is not a bundle with a plain message.
//!
//! `web/pkg/` (the wasm module) is rebuilt with `cargo xtask build-web` first when it is missing
//! or older than the sources it is built from. A missing `chromedriver` fails the test with the
//! package to install; nothing is skipped.
//!
//! The WebDriver client is a few lines of HTTP/1.1 over a loopback socket (chromedriver is the
//! only peer), so the test needs no WebDriver crate.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use sshdiag_tests::RelayFixture;
use sshdiag_tests::sshd::{free_loopback_port, kill_tree, spawn_dying_with_this_process};
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

/// `web/pkg/` as built from the sources now in the tree.
fn ensure_web_pkg() -> anyhow::Result<()> {
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

/// chromedriver on a free loopback port; killed on drop (and with this process).
struct Driver {
    child: Child,
    port: u16,
    profile: tempfile::TempDir,
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
    async fn start() -> anyhow::Result<Driver> {
        let chromedriver = tools::CHROMEDRIVER.require()?;
        tools::CHROMIUM.require()?;
        let port = free_loopback_port()?;
        let profile = tempfile::Builder::new()
            .prefix("sshdiag-page-test-")
            .tempdir()?;
        let mut command = Command::new(&chromedriver);
        command
            .arg(format!("--port={port}"))
            .env("TMPDIR", profile.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = spawn_dying_with_this_process(command)
            .with_context(|| format!("starting {}", chromedriver.display()))?;
        let driver = Driver {
            child,
            port,
            profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(status) = http(port, "GET", "/status", None).await
                && status["ready"].as_bool() == Some(true)
            {
                return Ok(driver);
            }
            if Instant::now() > deadline {
                bail!("chromedriver on port {port} was not ready within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn session(&self) -> anyhow::Result<Session<'_>> {
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
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
        }}});
        let created = http(self.port, "POST", "/session", Some(&caps)).await?;
        let id = created["sessionId"]
            .as_str()
            .context("chromedriver gave no session id")?
            .to_string();
        Ok(Session { driver: self, id })
    }
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
        self.call(
            "POST",
            "/execute/sync",
            Some(&json!({ "script": script, "args": [] })),
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

    async fn close(self) {
        let _ = self.call("DELETE", "", None).await;
    }

    /// Loads the page and waits until the wasm module is ready and the form is pre-filled.
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
        self.js("document.getElementById('run-button').click()")
            .await?;
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

fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap_or("?"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_demo_run_is_green_and_a_denied_target_is_proxy_denied() -> anyhow::Result<()> {
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
    let driver = Driver::start().await?;
    let session = driver.session().await?;
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

        // A target the relay does not allow: ProxyDenied, red.
        session.open_page(&relay).await?;
        session
            .js("document.getElementById('f-host').value = '192.0.2.10'; \
                 document.getElementById('f-port').value = '22';")
            .await?;
        let (class, events) = session.run().await?;
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
