//! Jump hosts, certificates and host CAs in the page, against real OpenSSH servers through the
//! real relay: a bastion on 127.0.0.1 and a target listening only on 127.0.0.2, with the relay
//! allowing only the bastion, so the target is reached through the bastion's `direct-tcpip`
//! channel or not at all. Success through one jump host (Chromium and Firefox) and through two;
//! failures at the bastion (its own authentication, and `AllowTcpForwarding no`) named as the
//! bastion's; the bastion's host key changed, named as the bastion's and trusted anew for it;
//! a user certificate login (the key alone is not authorised); and a host certificate trusted
//! through the page's trusted host CAs, which this browser remembers.

use std::net::Ipv4Addr;

use anyhow::Context;
use serde_json::{Value, json};
use sshdiag_tests::RelayFixture;
use sshdiag_tests::certs;
use sshdiag_tests::sshd::{SshdFixture, SshdOptions};
use sshdiag_tests::webdriver::Browser;

use crate::{Page, against_openssh, in_browser, last_of, tail, types};

/// An sshd listening only on 127.0.0.2 (the relay's rules never allow it).
pub(crate) fn hidden(extra: &[&str]) -> anyhow::Result<SshdFixture> {
    SshdFixture::start(SshdOptions {
        extra_config: extra.iter().map(|s| s.to_string()).collect(),
        listen: Some(Ipv4Addr::new(127, 0, 0, 2)),
        ..SshdOptions::default()
    })
}

/// [`in_browser`] on the page of a relay that allows only these bastions; a failure carries
/// the tail of each one's log.
async fn behind(
    browser: Browser,
    bastions: &[&SshdFixture],
    scenario: impl AsyncFnOnce(&Page<'_>, &RelayFixture) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let rules = bastions
        .iter()
        .map(|b| format!("127.0.0.1/32:{}", b.port()))
        .collect();
    let relay = RelayFixture::start(rules).await?;
    in_browser(browser, relay, None, scenario)
        .await
        .with_context(|| {
            let logs: Vec<String> = bastions.iter().map(|b| tail(&b.log(), 20)).collect();
            format!("bastion log tails: {}", logs.join("\n---\n"))
        })
}

/// Opens the jump host section and adds hop `n` (from 1) at `sshd`, with its own password
/// when `password` is given (else the target's credential).
pub(crate) async fn add_hop(
    page: &Page<'_>,
    n: usize,
    sshd: &SshdFixture,
    password: Option<&str>,
) -> anyhow::Result<()> {
    if page.property("jump", "open").await? != json!(true) {
        page.click_css("#jump > summary").await?;
    }
    page.click("jump-add").await?;
    let port = sshd.port().to_string();
    let (host, port_id) = (format!("f-jump-host-{n}"), format!("f-jump-port-{n}"));
    page.fill(&[(&host, sshd.host()), (&port_id, &port)])
        .await?;
    if let Some(password) = password {
        hop_auth(page, n, "password").await?;
        page.fill(&[(&format!("f-jump-password-{n}"), password)])
            .await?;
    }
    Ok(())
}

/// Chooses hop `n`'s credential type as a person does (the change shows its fields).
pub(crate) async fn hop_auth(page: &Page<'_>, n: usize, kind: &str) -> anyhow::Result<()> {
    page.js_with(
        "const s = document.getElementById(arguments[0]); s.value = arguments[1]; \
         s.dispatchEvent(new Event('change'));",
        json!([format!("f-jump-auth-{n}"), kind]),
    )
    .await
    .map(|_| ())
}

/// The hop index of each event of this code.
fn hops_of(events: &[Value], code: &str) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["code"] == json!(code))
        .map(|e| e["hop"]["index"].clone())
        .collect()
}

/// The envelope of the run's VERDICT event.
fn verdict_event(events: &[Value]) -> anyhow::Result<&Value> {
    events
        .iter()
        .rev()
        .find(|e| e["event_type"] == json!("VERDICT"))
        .with_context(|| format!("no VERDICT in {:?}", types(events)))
}

async fn one_jump_host_reaches_a_target_only_the_bastion_can(
    browser: Browser,
) -> anyhow::Result<()> {
    let bastion = SshdFixture::start(SshdOptions::default())?;
    let target = hidden(&[])?;
    behind(browser, &[&bastion], async |page, _| {
        // The relay alone cannot reach the target: its rules allow only the bastion.
        let direct = json!({
            "host": target.host(), "port": target.port(), "username": target.user(),
            "auth": { "type": "password", "password": target.password() },
        });
        page.start_api_run("direct", &direct).await?;
        let (verdict, _) = page.api_run_verdict("direct").await?;
        anyhow::ensure!(
            verdict["error_type"] == json!("ProxyDenied"),
            "the relay reached the hidden target itself: {verdict}"
        );

        page.fill_target(&target, target.password()).await?;
        add_hop(page, 1, &bastion, None).await?;
        let events = page.run_green().await?;
        // Each server was diagnosed on its own: a banner and a login per hop, the command on
        // the target, and the bastion forwarded the target's session.
        anyhow::ensure!(
            hops_of(&events, "version-received") == [json!(0), json!(1)]
                && hops_of(&events, "auth-success") == [json!(0), json!(1)],
            "banners at {:?}, logins at {:?}",
            hops_of(&events, "version-received"),
            hops_of(&events, "auth-success")
        );
        let exec = events
            .iter()
            .find(|e| e["event_type"] == json!("EXEC"))
            .context("no EXEC")?;
        anyhow::ensure!(
            exec["hop"] == json!({"index": 1, "host": "127.0.0.2", "port": target.port()}),
            "the command ran at {}",
            exec["hop"]
        );
        let forwarded = format!("target 127.0.0.2 port {}", target.port());
        anyhow::ensure!(
            bastion.log().contains(&forwarded),
            "the bastion forwarded nothing to the target"
        );
        // The page names each event's server, and the chain under the timeline.
        let (jump_name, target_name) = (
            format!("jump host 1 (127.0.0.1:{})", bastion.port()),
            format!("target (127.0.0.2:{})", target.port()),
        );
        let table = page.text("events").await?;
        anyhow::ensure!(
            table.contains(&format!("{jump_name}: Server says"))
                && table.contains(&format!("{target_name}: Server says")),
            "the events table does not name the hops: {table}"
        );
        let timeline = page.text("timeline").await?;
        anyhow::ensure!(
            timeline.contains(&format!("{jump_name}: passed"))
                && timeline.contains(&format!("{target_name}: passed")),
            "the timeline does not show the chain: {timeline}"
        );
        // The section with a hop in it, and the results naming hops, are accessible.
        crate::axe::no_serious_violations(page, "with a jump host").await?;
        Ok(())
    })
    .await
}

crate::in_every_browser!(one_jump_host_reaches_a_target_only_the_bastion_can);

async fn two_jump_hosts_each_with_its_own_credential(browser: Browser) -> anyhow::Result<()> {
    let first = SshdFixture::start(SshdOptions::default())?;
    let second = hidden(&[])?;
    let target = hidden(&[])?;
    behind(browser, &[&first], async |page, _| {
        page.fill_target(&target, target.password()).await?;
        add_hop(page, 1, &first, Some(first.password())).await?;
        add_hop(page, 2, &second, None).await?;
        // The second jump host logs in with its own key (each fixture has its own keys).
        hop_auth(page, 2, "privateKey").await?;
        page.fill(&[("f-jump-key-2", &second.client_keys().ed25519.private_key)])
            .await?;
        // A third hop left empty: the page asks for its host instead of running.
        page.click("jump-add").await?;
        page.click("run-button").await?;
        let error = page.text("form-error").await?;
        anyhow::ensure!(
            error.contains("Enter the host of jump host 3"),
            "an empty hop: {error}"
        );
        // Removed again, it is not part of the run.
        page.click("f-jump-remove-3").await?;
        let events = page.run_green().await?;
        anyhow::ensure!(
            hops_of(&events, "version-received") == [json!(0), json!(1), json!(2)],
            "banners at {:?}",
            hops_of(&events, "version-received")
        );
        let logins: Vec<(Value, Value)> = events
            .iter()
            .filter(|e| e["code"] == json!("auth-success"))
            .map(|e| (e["hop"]["index"].clone(), e["data"]["method"].clone()))
            .collect();
        anyhow::ensure!(
            logins
                == [
                    (json!(0), json!("password")),
                    (json!(1), json!("private_key")),
                    (json!(2), json!("password")),
                ],
            "logins {logins:?}"
        );
        for (via, to) in [(&first, &second), (&second, &target)] {
            let forwarded = format!("target 127.0.0.2 port {}", to.port());
            anyhow::ensure!(
                via.log().contains(&forwarded),
                "the jump host on port {} forwarded nothing to port {}",
                via.port(),
                to.port()
            );
        }
        let timeline = page.text("timeline").await?;
        anyhow::ensure!(
            timeline.contains(&format!(
                "jump host 2 (127.0.0.2:{}): passed",
                second.port()
            )),
            "{timeline}"
        );
        // Neither hop's secret is in the events.
        let key = &second.client_keys().ed25519.private_key;
        let key_body = key.lines().nth(1).context("a key line")?;
        let raw = page.text("raw-jsonl").await?;
        anyhow::ensure!(
            !raw.contains(key_body) && !raw.contains(first.password()),
            "a jump host's secret is in the events"
        );
        Ok(())
    })
    .await
}

async fn failures_at_the_bastion_name_the_bastion(browser: Browser) -> anyhow::Result<()> {
    let bastion = SshdFixture::start(SshdOptions::default())?;
    let no_forwarding = SshdFixture::start(SshdOptions::with_config(["AllowTcpForwarding no"]))?;
    let target = hidden(&[])?;
    behind(browser, &[&bastion, &no_forwarding], async |page, _| {
        // The bastion refuses its own password: the failure is the bastion's authentication,
        // and the target is never reached.
        page.fill_target(&target, target.password()).await?;
        add_hop(page, 1, &bastion, Some("not-the-password")).await?;
        let (verdict, events) = page.run_failing("AuthFailed").await?;
        let name = format!("jump host 1 (127.0.0.1:{})", bastion.port());
        anyhow::ensure!(
            verdict["summary"].as_str().is_some_and(
                |s| s.contains(&format!("jump host 1 of 1 (127.0.0.1:{})", bastion.port()))
            ),
            "the verdict does not name the bastion: {verdict}"
        );
        anyhow::ensure!(
            verdict_event(&events)?["hop"]["index"] == json!(0)
                && !events.iter().any(|e| e["hop"]["index"] == json!(1)),
            "the failure is not the bastion's alone: {:?}",
            events
                .iter()
                .map(|e| (&e["code"], &e["hop"]["index"]))
                .collect::<Vec<_>>()
        );
        let shown = page.text("verdict").await?;
        anyhow::ensure!(
            shown.contains(&format!("Failed at\n{name}"))
                || shown.contains(&format!("Failed at {name}")),
            "the verdict panel does not name the bastion: {shown}"
        );
        let timeline = page.text("timeline").await?;
        anyhow::ensure!(
            timeline.contains(&format!("{name}: failed here")),
            "{timeline}"
        );
        // The timeline holds the bastion's phases: the relay and TCP were reached there.
        let relay_bar = page
            .js("return document.querySelector('#timeline [data-phase=relay] .bar-ms').textContent")
            .await?;
        anyhow::ensure!(
            relay_bar
                .as_str()
                .is_some_and(|t| t.ends_with(" ms") || t.ends_with(" s")),
            "the bastion's relay phase is not on the timeline: {relay_bar}"
        );
        // The server facts shown are the bastion's, and say so.
        let server = page.text("server").await?;
        anyhow::ensure!(
            server.contains(&format!("These are the facts of {name}")),
            "the server panel does not say whose facts it shows: {server}"
        );
        page.keep_screenshot("jump-bastion-auth-failed").await?;

        // A bastion that forbids forwarding: it accepted the login, and the verdict names
        // its AllowTcpForwarding.
        page.click("f-jump-remove-1").await?;
        add_hop(page, 1, &no_forwarding, None).await?;
        let (verdict, events) = page.run_failing("ChannelOpenFailed").await?;
        anyhow::ensure!(
            hops_of(&events, "auth-success") == [json!(0)]
                && verdict_event(&events)?["hop"]["index"] == json!(0),
            "{verdict}"
        );
        let shown = page.text("verdict").await?;
        let name = format!("jump host 1 (127.0.0.1:{})", no_forwarding.port());
        anyhow::ensure!(
            shown.contains("AllowTcpForwarding") && shown.contains(&name),
            "the verdict does not name the bastion's AllowTcpForwarding: {shown}"
        );
        anyhow::ensure!(
            no_forwarding.log().contains("refused local port forward")
                || no_forwarding.log().contains("AllowTcpForwarding"),
            "sshd did not refuse the forward itself"
        );
        Ok(())
    })
    .await
}

async fn a_user_certificate_logs_in(browser: Browser) -> anyhow::Result<()> {
    let scene = certs::user_ca_scene();
    let certs = scene.sign_user_certs(scene.sshd.user(), 7);
    let sshd = &scene.sshd;
    against_openssh(browser, sshd, None, async |page, _| {
        page.fill_target(sshd, "").await?;
        page.click_css("input[name=authType][value=privateKey]")
            .await?;
        // The key alone is not in authorized_keys: only its certificate lets it in.
        page.fill(&[("f-key", &certs.key.private_key)]).await?;
        page.choose_file("f-certfile", &certs.valid).await?;
        page.wait_for(
            "return document.getElementById('f-cert').value.includes('-cert-v01@openssh.com') || null",
            sshdiag_tests::webdriver::STEP,
            "the page to read the certificate file",
        )
        .await?;
        let events = page.run_green().await?;
        let described = events
            .iter()
            .find_map(|e| e["data"]["certificate"]["key_id"].as_str())
            .context("no event describes the certificate")?;
        anyhow::ensure!(described == "valid", "the certificate described is {described}");

        // Signed by a CA the server does not trust: refused, the hint naming the cause.
        let untrusted = std::fs::read_to_string(&certs.untrusted_ca)?;
        page.fill(&[("f-cert", untrusted.trim())]).await?;
        page.run_failing("AuthFailed").await?;
        let shown = page.text("verdict").await?;
        anyhow::ensure!(
            shown.contains("TrustedUserCAKeys") && shown.contains(&scene.cas.other_ca.1),
            "the refusal does not name the untrusted CA: {shown}"
        );
        Ok(())
    })
    .await
}

async fn a_host_certificate_is_trusted_through_the_trusted_host_cas(
    browser: Browser,
) -> anyhow::Result<()> {
    let mut scene = certs::host_ca_scene();
    let (ca, other_ca) = (scene.cas.ca.0.clone(), scene.cas.other_ca.0.clone());
    scene.serve_host_certificate(&ca, "page", &["-n", "127.0.0.1", "-V", "-5m:+1h"]);
    let ca_line = std::fs::read_to_string(format!("{}.pub", ca.display()))?;
    let other_line = std::fs::read_to_string(format!("{}.pub", other_ca.display()))?;
    let sshd = &scene.sshd;
    against_openssh(browser, sshd, None, async |page, relay| {
        page.fill_target(sshd, sshd.password()).await?;
        // Strict checking: no key of this server is trusted, so only the CA can vouch for it.
        page.fill(&[("f-policy", "yes")]).await?;
        page.fill(&[("f-hostcas", &other_line)]).await?;
        let (class, events) = page.run().await?;
        anyhow::ensure!(
            class.contains("fail") && last_of(&events, "HOSTKEY")?["status"] != json!("trusted"),
            "a host certificate from an untrusted CA was trusted: {}",
            last_of(&events, "VERDICT")?
        );
        // The reason and the hint speak of the page's list, not of a known_hosts file.
        let shown = page.text("verdict").await?;
        anyhow::ensure!(
            shown.contains("not among the trusted host CAs")
                && shown.contains("a CA in the trusted host CAs")
                && !shown.contains("known_hosts"),
            "the verdict: {shown}"
        );

        page.fill(&[("f-hostcas", ca_line.trim())]).await?;
        let events = page.run_green().await?;
        anyhow::ensure!(
            last_of(&events, "HOSTKEY")?["status"] == json!("trusted"),
            "the host certificate was not trusted: {}",
            last_of(&events, "HOSTKEY")?
        );
        // The list is remembered in this browser, like trusted host keys.
        page.open(relay).await?;
        let kept = page.property("f-hostcas", "value").await?;
        anyhow::ensure!(
            kept == json!(ca_line.trim()),
            "the trusted host CAs were not kept: {kept}"
        );
        Ok(())
    })
    .await
}

async fn a_changed_key_at_the_bastion_names_the_bastion_and_is_trusted_anew_there(
    browser: Browser,
) -> anyhow::Result<()> {
    let mut bastion = SshdFixture::start(SshdOptions::default())?;
    let port = bastion.port();
    let target = hidden(&[])?;
    let relay = RelayFixture::start(vec![format!("127.0.0.1/32:{port}")]).await?;
    in_browser(browser, relay, None, async |page, _| {
        page.fill_target(&target, target.password()).await?;
        add_hop(page, 1, &bastion, None).await?;
        page.run_green().await?;
        // The bastion is reinstalled: same port, new host keys. Its key is the one that
        // changed, not the target's.
        bastion.kill()?;
        let _renewed = SshdFixture::start(SshdOptions {
            port: Some(port),
            ..SshdOptions::default()
        })?;
        let (verdict, events) = page.run_failing("HostKeyMismatch").await?;
        anyhow::ensure!(
            verdict_event(&events)?["hop"]["index"] == json!(0),
            "the mismatch is not the bastion's: {verdict}"
        );
        let button = page
            .js("return document.querySelector('#mismatch-body button').textContent")
            .await?;
        anyhow::ensure!(
            button == json!(format!("Trust the new key for 127.0.0.1:{port}")),
            "the mismatch offers to trust {button}"
        );
        page.js("document.querySelector('#mismatch-body button').click()")
            .await?;
        page.run_green().await?;
        Ok(())
    })
    .await
}

/// The scenarios only Chromium runs, to keep the browser tier's time: what they add is the
/// same code in both browsers (the wasm core and the page's fields), which the one-jump-host
/// scenario runs in both.
mod chromium_only {
    use sshdiag_tests::webdriver::Browser::Chromium;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_jump_hosts_each_with_its_own_credential() -> anyhow::Result<()> {
        super::two_jump_hosts_each_with_its_own_credential(Chromium).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failures_at_the_bastion_name_the_bastion() -> anyhow::Result<()> {
        super::failures_at_the_bastion_name_the_bastion(Chromium).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_changed_key_at_the_bastion_names_the_bastion_and_is_trusted_anew_there()
    -> anyhow::Result<()> {
        super::a_changed_key_at_the_bastion_names_the_bastion_and_is_trusted_anew_there(Chromium)
            .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_user_certificate_logs_in() -> anyhow::Result<()> {
        super::a_user_certificate_logs_in(Chromium).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_host_certificate_is_trusted_through_the_trusted_host_cas() -> anyhow::Result<()> {
        super::a_host_certificate_is_trusted_through_the_trusted_host_cas(Chromium).await
    }
}
