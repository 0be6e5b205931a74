//! A portal on another origin, in real headless Chromium: a page served from a second loopback
//! origin `import()`s an ES module from the real relay, which works only because the relay's
//! `--origin` allows the portal's origin (CORS on the static files). The control: the same
//! page against a relay without `--origin` fails to import.
//!
//! Chromium runs with `--dump-dom` (no WebDriver: page.rs's client is its own), and the page
//! writes the outcome into the DOM it dumps.

use std::path::Path;
use std::time::Duration;

use sshdiag_tests::relay::RelayFixture;
use sshdiag_tests::tools;

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
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
            "--virtual-time-budget=10000",
        ])
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
