//! `sshdiag-fixtures`: starts a real OpenSSH sshd and a relay that allows it, prints their
//! facts as ONE JSON line on stdout, then holds them until stdin closes or SIGTERM/SIGINT.
//!
//! `cargo xtask test` runs it for the browser tier and exports every key of the JSON line as
//! an environment variable `SSHDIAG_TEST_<KEY>` (upper case) for the wasm tests, which read
//! them at compile time with `option_env!`. A new fact for the browser tests is a new key here
//! and nothing else.
//!
//! Usage: `sshdiag-fixtures [--sshd-config LINE]... [--relay-origin ORIGIN]...`
//!
//! `--relay-origin` is passed to the relay as `--origin`: the wasm tests run on the test
//! runner's page, a different origin from the relay, exactly like a support portal embedding
//! the tester.
//! Logs go to stderr; stdout carries only the JSON line.

use anyhow::Context;
use serde_json::json;
use sshdiag_tests::{RelayFixture, SshdFixture, SshdOptions, TEST_PASSPHRASE};
use tokio::io::AsyncReadExt;
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut options = SshdOptions::default();
    let mut relay_args = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--sshd-config" => options
                .extra_config
                .push(args.next().context("--sshd-config needs a LINE")?),
            "--relay-origin" => {
                relay_args.push("--origin".to_string());
                relay_args.push(args.next().context("--relay-origin needs an ORIGIN")?);
            }
            "-h" | "--help" => {
                println!(
                    "usage: sshdiag-fixtures [--sshd-config LINE]... [--relay-origin ORIGIN]..."
                );
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other:?} (try --help)"),
        }
    }

    // Handlers first, so a SIGTERM during start-up still ends in the cleanup below.
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;

    let sshd = tokio::task::spawn_blocking(move || SshdFixture::start(options))
        .await
        .context("sshd fixture task")??;
    relay_args.push("--allow".to_string());
    relay_args.push(format!("127.0.0.1/32:{}", sshd.port()));
    let relay = RelayFixture::start_with_args(relay_args).await?;

    let keys = sshd.client_keys();
    let mut facts = json!({
        "relay_url": relay.ws_url(),
        "relay_http_url": relay.http_url(),
        "sshd_host": sshd.host(),
        "sshd_port": sshd.port(),
        "user": sshd.user(),
        "password": sshd.password(),
        "passphrase": TEST_PASSPHRASE,
        "ed25519_key": keys.ed25519.private_key,
        "rsa_enc_key": keys.rsa_enc.private_key,
        "ecdsa_key": keys.ecdsa.private_key,
        "unauthorised_key": keys.unauthorised_ed25519.private_key,
    });
    if let Some(map) = facts.as_object_mut() {
        for key in sshd.host_keys() {
            map.insert(
                format!("sshd_fingerprint_{}", key.kind),
                key.fingerprint_sha256.clone().into(),
            );
        }
    }
    println!("{facts}");
    eprintln!(
        "sshdiag-fixtures: sshd on {}, relay on {}; waiting for stdin to close or SIGTERM",
        sshd.addr(),
        relay.ws_url()
    );

    // The relay keeps its log in memory (stdout is for the JSON line): copy it to stderr.
    let relay_log = relay.log_handle();
    tokio::spawn(async move {
        let mut printed = 0;
        loop {
            let lines = relay_log.lines();
            for line in lines.iter().skip(printed) {
                eprintln!("relay: {line}");
            }
            printed = lines.len();
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    });

    let stdin_closed = async {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 256];
        while let Ok(n) = stdin.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::select! {
        _ = stdin_closed => {}
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    drop(relay);
    drop(sshd);
    eprintln!("sshdiag-fixtures: stopped");
    // tokio's stdin read sits in a blocking thread that cannot be cancelled; exiting here
    // keeps a SIGTERM from waiting on it.
    std::process::exit(0);
}
