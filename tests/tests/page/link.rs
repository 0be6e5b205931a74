//! Support links (docs/embed.md): a link made by the real `sshdiag-proxy link` opens the page
//! pre-filled (target, user, commands, relay token), the token leaves the address bar and the
//! history entry at once, and the run it pre-filled passes a relay that requires the token. A
//! fragment carrying a password fills nothing secret and says so. A chain of `jump=` hosts
//! fills the jump host section in order.

use std::time::SystemTime;

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use sshdiag_tests::RelayFixture;
use sshdiag_tests::webdriver::{Browser, STEP};

use crate::in_browser;

/// The fields of the form, as one JSON object.
const FORM: &str = "const v = (id) => document.getElementById(id).value; \
    return { host: v('f-host'), port: v('f-port'), user: v('f-user'), commands: v('f-commands'), \
             token: v('f-token'), password: v('f-password'), proxy: v('f-proxy'), \
             href: location.href, history: history.length, \
             note: document.getElementById('link-note').textContent }";

async fn a_support_link_prefills_the_form_and_its_token_leaves_the_address_bar(
    browser: Browser,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let secret = dir.path().join("token-secret");
    std::fs::write(
        &secret,
        "a shared secret of the portal and its relays, 32+ bytes",
    )?;
    let mut args = crate::demo_relay_args(dir.path());
    args.extend([
        "--token-secret-file".to_string(),
        secret.display().to_string(),
    ]);
    let relay = RelayFixture::start_with_args(args).await?;
    let demo = relay
        .relay()
        .and_then(|r| r.demo_addr())
        .context("the relay has no demo server")?;
    // The link's page is /index.html, so opening it is a new document after the page at /.
    let base = format!("{}index.html", relay.http_url());
    let words = [
        "sshdiag-proxy",
        "link",
        "--secret-file",
        &secret.display().to_string(),
        "--base",
        &base,
        "--host",
        &demo.ip().to_string(),
        "--port",
        &demo.port().to_string(),
        "--user",
        "demo",
        "--command",
        "echo linked & done",
        "--command",
        "uname",
        "--ttl",
        "10m",
    ]
    .map(String::from);
    let cli = sshdiag_proxy::link::Cli::try_parse_from(words)?;
    let link = cli
        .tool
        .context("`link` parsed as no tool")?
        .run(SystemTime::now())?;
    let token = link
        .split("token=")
        .nth(1)
        .context("the link has no token")?
        .to_string();
    anyhow::ensure!(token.len() > 40, "a JWT is longer than {token:?}");
    in_browser(browser, relay, None, async |page, _| {
        let before = page.js("return history.length").await?;
        page.goto(&link).await?;
        page.wait_for(
            "return document.body.dataset.ready || null",
            STEP,
            "the linked page to load",
        )
        .await?;
        let form = page.js(FORM).await?;
        anyhow::ensure!(form["host"] == json!(demo.ip().to_string()), "{form}");
        anyhow::ensure!(form["port"] == json!(demo.port().to_string()), "{form}");
        anyhow::ensure!(form["user"] == json!("demo"), "{form}");
        anyhow::ensure!(
            form["commands"] == json!("echo linked & done\nuname"),
            "{form}"
        );
        anyhow::ensure!(form["token"] == json!(token), "the token field: {form}");
        anyhow::ensure!(
            form["password"] == json!(""),
            "a link's pre-fill must not take the demo's password: {form}"
        );
        let href = form["href"].as_str().unwrap_or("");
        anyhow::ensure!(
            !href.contains(&token) && !href.contains("token="),
            "the token is still in the address bar: {href}"
        );
        anyhow::ensure!(
            href.contains("host=") && href.contains("user=demo"),
            "the harmless part of the link should stay: {href}"
        );
        anyhow::ensure!(
            form["history"].as_u64() == before.as_u64().map(|n| n + 1),
            "the history grew by more than the link's own entry: {form}, before {before}"
        );

        // The pre-filled run passes the relay, which requires this token.
        page.fill(&[("f-password", "demo")]).await?;
        let (class, events) = page.run().await?;
        anyhow::ensure!(
            class.contains("ok"),
            "the linked run is not green: {:?}",
            events.last()
        );

        // Back, then forward: the link's history entry comes back without its token.
        page.js("history.back()").await?;
        page.wait_for(
            "return location.pathname === '/' ? true : null",
            STEP,
            "the page before the link",
        )
        .await?;
        page.js("history.forward()").await?;
        let again = page
            .wait_for(
                "return location.pathname === '/index.html' && document.body.dataset.ready \
                 ? location.href : null",
                STEP,
                "the link's entry again",
            )
            .await?;
        anyhow::ensure!(
            !again.as_str().unwrap_or("").contains("token="),
            "the history entry still holds the token: {again}"
        );

        // A fragment with a password and a key: neither is used, and the page says so.
        page.goto(&format!(
            "{base}#host=example.test&user=eve&password=hunter2&key=AAAA"
        ))
        .await?;
        page.wait_for(
            "const n = document.getElementById('link-note'); \
             return !n.hidden && n.textContent.includes('password') ? true : null",
            STEP,
            "the page to say the password was ignored",
        )
        .await?;
        let form = page.js(FORM).await?;
        anyhow::ensure!(form["password"] == json!(""), "{form}");
        anyhow::ensure!(form["host"] == json!("example.test"), "{form}");
        anyhow::ensure!(
            !form["href"].as_str().unwrap_or("").contains("hunter2")
                && !form["note"].as_str().unwrap_or("").contains("hunter2"),
            "the password stays in the address bar or is shown: {form}"
        );

        // A chain of jump hosts, in order: the section opens with each hop filled in; an
        // entry that is not [user@]host[:port] (this one carries a password) is left out of
        // the form and the address bar, and the page says so.
        page.goto(&format!(
            "{base}#host=db.internal&user=alice&jump=bob@127.0.0.1:2200&jump=127.0.0.3&jump=eve:hunter3@x"
        ))
        .await?;
        page.wait_for(
            "const n = document.getElementById('link-note'); \
             return !n.hidden && n.textContent.includes('db.internal') ? true : null",
            STEP,
            "the page to fill in the chain",
        )
        .await?;
        let chain = page
            .js("return { open: document.getElementById('jump').open, \
                 hops: [...document.querySelectorAll('#jump-hops fieldset.hop')].map((f) => \
                   [...f.querySelectorAll('input:not([type=password]):not([type=file])')].map((i) => i.value)), \
                 note: document.getElementById('link-note').textContent, href: location.href }")
            .await?;
        anyhow::ensure!(
            chain["open"] == json!(true)
                && chain["hops"] == json!([["127.0.0.1", "2200", "bob"], ["127.0.0.3", "22", ""]]),
            "{chain}"
        );
        let note = chain["note"].as_str().unwrap_or("");
        anyhow::ensure!(
            note.contains("through bob@127.0.0.1:2200, 127.0.0.3") && note.contains("left out"),
            "{note}"
        );
        anyhow::ensure!(
            !chain.to_string().contains("hunter3"),
            "the malformed jump host's password stays: {chain}"
        );
        Ok(())
    })
    .await
}

crate::in_every_browser!(a_support_link_prefills_the_form_and_its_token_leaves_the_address_bar);
