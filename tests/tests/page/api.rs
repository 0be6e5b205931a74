//! The JS API a portal embeds: mistakes refused with an Error naming them, and the supervisor
//! options (keepalives, hold, retries) on the browser's own timer, and the deep audit's extra
//! connection through the relay.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use sshdiag_tests::RelayFixture;
use sshdiag_tests::sshd::{SshdFixture, SshdOptions, free_loopback_port};
use sshdiag_tests::webdriver::Browser;

use crate::{RUN, in_browser, on_the_demo_page, tail, types};

async fn the_js_api_refuses_mistakes_with_an_error_naming_them(
    browser: Browser,
) -> anyhow::Result<()> {
    on_the_demo_page(browser, async |page, _| {
        // The JS API refuses mistakes with an Error naming the option, and a bad bundle with a
        // plain message.
        let refusals = page
            .js_async(
                r#"
const done = arguments[arguments.length - 1];
import('./pkg/sshdiag_web.js').then(async (m) => {
  await m.default();
  const out = {};
  const t = (name, f) => { try { f(); out[name] = 'accepted'; } catch (e) { out[name] = (e instanceof Error) ? e.message : 'not an Error: ' + e; } };
  t('unknown', () => new m.Diagnostics({ host: 'h', username: 'u', passwd: 'x' }));
  t('port', () => new m.Diagnostics({ host: 'h', username: 'u', port: '22' }));
  t('auth', () => new m.Diagnostics({ host: 'h', username: 'u', auth: { type: 'password', pasword: 'x' } }));
  t('deepAudit', () => new m.Diagnostics({ host: 'h', username: 'u', deepAudit: 'yes' }));
  t('jumpKey', () => new m.Diagnostics({ host: 'h', username: 'u', jump: [{ host: 'b', user: 'x' }] }));
  t('jumpHost', () => new m.Diagnostics({ host: 'h', username: 'u', jump: [{ host: 'b' }, { port: 22 }] }));
  t('jumpAuth', () => new m.Diagnostics({ host: 'h', username: 'u', jump: [{ host: 'b', auth: { type: 'password', pasword: 'x' } }] }));
  t('jumpShape', () => new m.Diagnostics({ host: 'h', username: 'u', jump: 'b' }));
  t('hostCa', () => new m.Diagnostics({ host: 'h', username: 'u', trustedHostCas: ['-----BEGIN OPENSSH PRIVATE KEY----- secret-body'] }));
  t('certificate', () => new m.Diagnostics({ host: 'h', username: 'u', auth: { type: 'privateKey', key: 'k', certificate: 'not a certificate' } }));
  t('jumpOk', () => new m.Diagnostics({ host: 'h', username: 'u', jump: [{ host: 'b', port: 2222, auth: { type: 'probe' } }, { host: 'c' }],
    trustedHostCas: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl host-ca', '@cert-authority *.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'] }));
  // The viewer's functions return Promises (their module is fetched on first use): a bad file
  // rejects with the Error.
  const rejects = async (name, f) => { try { await f(); out[name] = 'accepted'; } catch (e) { out[name] = (e instanceof Error) ? e.message : 'not an Error: ' + e; } };
  await rejects('bundle', () => m.Diagnostics.openBundle('not json'));
  // Bytes made here, in the WebDriver script's realm (another realm in Firefox).
  await rejects('bytes', () => m.Diagnostics.openBundle(new Uint8Array([0x7b, 0xff, 0x7d])));
  await rejects('buffer', () => m.Diagnostics.openBundle(new TextEncoder().encode('[1]').buffer));
  await rejects('log', () => m.Diagnostics.openEventLog(''));
  done(out);
}).catch((e) => done({ failed: String(e) }));
"#,
                json!([]),
            )
            .await?;
        for (name, wanted) in [
            ("unknown", "`passwd`"),
            ("port", "`port`"),
            ("auth", "`auth.pasword`"),
            ("deepAudit", "`deepAudit` must be true or false"),
            ("jumpKey", "unknown option `jump[0].user`"),
            ("jumpHost", "`jump[1].host` is required"),
            ("jumpAuth", "`jump[0].auth.pasword`"),
            ("jumpShape", "`jump` must be an array"),
            ("hostCa", "`trustedHostCas[0]` must be a CA's public key line"),
            ("certificate", "`auth.certificate` must be an OpenSSH certificate"),
            ("jumpOk", "accepted"),
            ("bundle", "not JSON"),
            ("bytes", "invalid UTF-8 at byte 1"),
            ("buffer", "holds an array"),
            ("log", "holds no event"),
        ] {
            let message = refusals[name].as_str().unwrap_or("");
            anyhow::ensure!(
                message.contains(wanted),
                "{name}: expected an Error naming {wanted}, got {message:?} ({refusals})"
            );
        }
        anyhow::ensure!(
            !refusals.to_string().contains("secret-body"),
            "an error quotes the pasted key: {refusals}"
        );
        Ok(())
    })
    .await
}

async fn api_keepalives_on_the_browser_timer_and_retries(browser: Browser) -> anyhow::Result<()> {
    let sshd = SshdFixture::start(SshdOptions::default())?;
    let closed = free_loopback_port()?;
    let relay = RelayFixture::start(vec![
        format!("127.0.0.1/32:{}", sshd.port()),
        format!("127.0.0.1/32:{closed}"),
    ])
    .await?;
    in_browser(browser, relay, None, async |page, _| {
        // Held open with keepalives every 300 ms, the server then hangs (SIGSTOP): the browser's
        // timer counts the missed keepalives, and the relay's pongs tell where the silence is.
        page.start_api_run(
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
            let events = page.api_run_events("hold").await?;
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
        let (verdict, events) = page.api_run_verdict("hold").await?;
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
        page.start_api_run(
            "retry",
            &json!({
                "host": "127.0.0.1",
                "port": closed,
                "username": sshd.user(),
                "retries": 2,
            }),
        )
        .await?;
        let (verdict, events) = page.api_run_verdict("retry").await?;
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

        page.start_api_run(
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
        let (verdict, events) = page.api_run_verdict("no-retry").await?;
        anyhow::ensure!(verdict["error_type"] == json!("AuthFailed"), "{verdict}");
        anyhow::ensure!(
            !types(&events).contains(&"STATE_CHANGE")
                || events
                    .iter()
                    .all(|e| e["data"]["reconnection_count"].as_u64().unwrap_or(0) == 0),
            "a wrong password was retried: {:?}",
            types(&events)
        );
        Ok(())
    })
    .await
    .with_context(|| format!("sshd log tail: {}", tail(&sshd.log(), 30)))
}

async fn api_deep_audit_measures_the_group_through_the_relay(
    browser: Browser,
) -> anyhow::Result<()> {
    let sshd = SshdFixture::start(SshdOptions::default())?;
    let relay = RelayFixture::start(vec![format!("127.0.0.1/32:{}", sshd.port())]).await?;
    in_browser(browser, relay, None, async |page, _| {
        let audit = |events: &[serde_json::Value]| {
            events
                .iter()
                .filter(|e| e["event_type"] == json!("AUDIT"))
                .map(|e| e["data"].clone())
                .collect::<Vec<_>>()
        };
        let options = |deep: Option<bool>| {
            let mut o = json!({
                "host": sshd.host(),
                "port": sshd.port(),
                "username": sshd.user(),
            });
            if let Some(deep) = deep {
                o["deepAudit"] = json!(deep);
            }
            o
        };
        page.start_api_run("deep", &options(Some(true))).await?;
        let (_, events) = page.api_run_verdict("deep").await?;
        let found = audit(&events);
        let group: Vec<_> = found
            .iter()
            .filter(|f| f["category"] == json!("dh_group"))
            .collect();
        anyhow::ensure!(
            group.len() == 1
                && group[0]["grade"] == json!("ok")
                && group[0]["reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("the server handed out a ")),
            "deepAudit: {found:?}"
        );
        anyhow::ensure!(
            found
                .iter()
                .any(|f| f["grade"] == json!("note") && f["algorithm"] == json!("hmac-sha2-256")),
            "no encrypt-and-MAC note: {found:?}"
        );
        page.start_api_run("plain", &options(None)).await?;
        let (_, events) = page.api_run_verdict("plain").await?;
        anyhow::ensure!(
            audit(&events)
                .iter()
                .all(|f| f["category"] != json!("dh_group")),
            "a group was measured without deepAudit"
        );
        Ok(())
    })
    .await
    .with_context(|| format!("sshd log tail: {}", tail(&sshd.log(), 30)))
}

crate::in_every_browser!(
    the_js_api_refuses_mistakes_with_an_error_naming_them,
    api_keepalives_on_the_browser_timer_and_retries,
    api_deep_audit_measures_the_group_through_the_relay,
);
