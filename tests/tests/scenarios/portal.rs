//! A portal on another origin, in real headless Chromium. First, a page served from a second
//! loopback origin `import()`s an ES module from the real relay, which works only because the
//! relay's `--origin` allows the portal's origin (CORS on the static files); the control, the
//! same page against a relay without `--origin`, fails to import. Then the whole portal path:
//! the portal page imports sshdiag's module from the relay, runs a diagnosis against a real
//! OpenSSH sshd through a relay that holds only an Ed25519 public key, with an EdDSA token
//! minted by the real PyJWT, and receives the redacted bundle.
//!
//! No WebDriver (page.rs's client is its own): Chromium either dumps the DOM the page wrote its
//! outcome into (`--dump-dom`), or the page POSTs its outcome to a loopback listener of the test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sshdiag_events::{Bundle, IntegrityStatus};
use sshdiag_tests::relay::RelayFixture;
use sshdiag_tests::sshd::{SshdFixture, SshdOptions, TEST_PASSWORD, TEST_USER};
use sshdiag_tests::tools;
use sshdiag_tests::webdriver::CHROMIUM_FLAGS;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A module for the portal to import, written into a relay's web root.
const MODULE: &str = "export const answer = 42;\n";

fn portal_page(module_url: &str) -> String {
    format!(
        r#"<!doctype html><html><body><script type="module">
try {{
  const m = await import("{module_url}");
  document.body.dataset.result = "imported " + m.answer;
}} catch (e) {{
  document.body.dataset.result = "failed: " + e.message;
}}
</script></body></html>
"#
    )
}

/// Loads `url` in headless Chromium and returns the DOM after scripts ran.
async fn dump_dom(url: &str, profile: &Path) -> anyhow::Result<String> {
    let chromium = tools::CHROMIUM.require()?;
    let run = tokio::process::Command::new(chromium)
        .args(CHROMIUM_FLAGS)
        .arg("--virtual-time-budget=10000")
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", url])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run).await??;
    anyhow::ensure!(
        out.status.success(),
        "chromium failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_on_another_origin_imports_the_module_only_when_origin_allows_it()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (portal_root, relay_root) = (dir.path().join("portal"), dir.path().join("relay"));
    std::fs::create_dir_all(&portal_root)?;
    std::fs::create_dir_all(&relay_root)?;
    std::fs::write(relay_root.join("mod.js"), MODULE)?;
    let relay_root = relay_root.to_string_lossy().into_owned();

    // The portal: another origin (another port) on loopback, serving static files.
    let portal_args = [
        "--web-root".to_string(),
        portal_root.to_string_lossy().into(),
    ];
    let portal = RelayFixture::start_with_args(portal_args).await?;
    let portal_origin = portal.http_url().trim_end_matches('/').to_string();
    let relay = RelayFixture::start_with_args([
        "--web-root",
        relay_root.as_str(),
        "--origin",
        portal_origin.as_str(),
    ])
    .await?;
    let same_origin_only =
        RelayFixture::start_with_args(["--web-root", relay_root.as_str()]).await?;

    for (page, relay) in [
        ("allowed.html", &relay),
        ("control.html", &same_origin_only),
    ] {
        let module = format!("{}mod.js", relay.http_url());
        std::fs::write(portal_root.join(page), portal_page(&module))?;
    }
    let allowed = dump_dom(
        &format!("{}allowed.html", portal.http_url()),
        &dir.path().join("profile-a"),
    )
    .await?;
    assert!(
        allowed.contains(r#"data-result="imported 42""#),
        "the portal could not import the module through CORS: {allowed}"
    );
    let control = dump_dom(
        &format!("{}control.html", portal.http_url()),
        &dir.path().join("profile-b"),
    )
    .await?;
    assert!(
        control.contains(r#"data-result="failed: "#),
        "a relay without --origin must not let another origin import: {control}"
    );
    portal.shutdown().await;
    relay.shutdown().await;
    same_origin_only.shutdown().await;
    Ok(())
}

/// The workspace's `web/` with a built `web/pkg/`, or a failure saying how to build it.
fn built_web_root() -> anyhow::Result<PathBuf> {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    anyhow::ensure!(
        web.join("pkg/sshdiag_web.js").is_file(),
        "web/pkg is not built: run `cargo xtask build-web` (the page tests build it too)"
    );
    Ok(web.canonicalize()?)
}

/// An Ed25519 key pair (PEM) made with `cryptography`, and an EdDSA token for `target` signed
/// by PyJWT, as a portal's backend would mint it: (public key file, token).
fn pyjwt_eddsa_token(dir: &Path, target: &str, ticket: &str) -> anyhow::Result<(PathBuf, String)> {
    tools::PY_CRYPTOGRAPHY.require()?;
    let python = tools::PYJWT.require()?;
    let public = dir.join("relay-verify.pub");
    let script = r#"
import sys, time, jwt
from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
public, target, ticket = sys.argv[1:4]
key = Ed25519PrivateKey.generate()
open(public, "wb").write(key.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))
pem = key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption())
now = int(time.time())
print(jwt.encode({"target": target, "nbf": now, "exp": now + 600, "ticket": ticket}, pem, algorithm="EdDSA"))
"#;
    let out = Command::new(python)
        .args(["-c", script, &public.to_string_lossy(), target, ticket])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "PyJWT failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((public, String::from_utf8(out.stdout)?.trim().to_string()))
}

/// Accepts one HTTP POST on `listener` and returns its body (the page's report).
async fn receive_report(listener: tokio::net::TcpListener) -> anyhow::Result<String> {
    let (mut stream, _) = listener.accept().await?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "the page closed before its report was complete");
        raw.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&raw);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                let body = body.to_string();
                let _ = stream
                    .write_all(b"HTTP/1.1 204 No Content\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n")
                    .await;
                return Ok(body);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_page_diagnoses_through_the_relay_with_a_pyjwt_token_and_gets_the_redacted_bundle()
-> anyhow::Result<()> {
    let web_root = built_web_root()?;
    let sshd = SshdFixture::start(SshdOptions::default())?;
    let dir = tempfile::tempdir()?;
    let target = format!("127.0.0.1:{}", sshd.port());
    let (public_key, token) = pyjwt_eddsa_token(dir.path(), &target, "SUP-9001")?;

    let portal_root = dir.path().join("portal");
    std::fs::create_dir_all(&portal_root)?;
    let portal = RelayFixture::start_with_args([
        "--web-root".to_string(),
        portal_root.to_string_lossy().into(),
    ])
    .await?;
    let portal_origin = portal.http_url().trim_end_matches('/').to_string();
    let relay = RelayFixture::start_with_args([
        "--web-root".to_string(),
        web_root.to_string_lossy().into(),
        "--origin".to_string(),
        portal_origin,
        "--allow".to_string(),
        format!("127.0.0.1/32:{}", sshd.port()),
        "--token-public-key".to_string(),
        public_key.to_string_lossy().into(),
    ])
    .await?;
    let sink = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sink_url = format!("http://{}/report", sink.local_addr()?);
    let options = serde_json::json!({
        "proxyUrl": relay.ws_url(),
        "host": "127.0.0.1",
        "port": sshd.port(),
        "username": TEST_USER,
        "auth": {"type": "password", "password": TEST_PASSWORD},
        "commands": ["echo portal-run"],
        "token": token,
    });
    let module = format!("{}pkg/sshdiag_web.js", relay.http_url());
    let page = format!(
        r#"<!doctype html><html><body><script type="module">
const report = (outcome) => fetch("{sink_url}", {{
  method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}},
  body: JSON.stringify(outcome),
}});
try {{
  const {{ default: init, Diagnostics }} = await import("{module}");
  await init();
  const d = new Diagnostics({options});
  const verdict = await d.run();
  await report({{ verdict, bundle: d.bundle({{ redact: true }}) }});
}} catch (e) {{
  await report({{ error: String(e) }});
}}
</script></body></html>
"#,
    );
    std::fs::write(portal_root.join("portal.html"), page)?;

    let _chromium = tokio::process::Command::new(tools::CHROMIUM.require()?)
        .args(CHROMIUM_FLAGS)
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("{}portal.html", portal.http_url()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let report = tokio::time::timeout(Duration::from_secs(90), receive_report(sink)).await??;
    let report: serde_json::Value = serde_json::from_str(&report)?;
    assert!(
        report.get("error").is_none(),
        "the portal page failed: {report}"
    );
    assert_eq!(report["verdict"]["ok"], true, "{report}");
    let text = report["bundle"].as_str().expect("the bundle is a string");
    let bundle = Bundle::from_json(text)?;
    assert_eq!(bundle.verify_integrity(), IntegrityStatus::Valid);
    assert!(bundle.host_info.redacted && bundle.redaction.applied);
    for identity in [TEST_USER, "127.0.0.1", TEST_PASSWORD, token.as_str()] {
        assert!(
            !text.contains(identity),
            "{identity} is in the redacted bundle"
        );
    }
    assert_eq!(bundle.transcript.len(), 1);
    assert_eq!(bundle.transcript[0].stdout, None, "output is removed");
    assert_eq!(bundle.transcript[0].stdout_len, "portal-run\n".len() as u64);
    let log = relay.log_lines().join("\n");
    assert!(log.contains("SUP-9001"), "the relay did not log the ticket");
    assert!(!log.contains(&token), "the relay logged the token");
    portal.shutdown().await;
    relay.shutdown().await;
    Ok(())
}
