//! The browser tier: the wasm core in headless Chromium, over a real WebSocket through the real
//! relay, to a real OpenSSH sshd. `cargo xtask test` starts the fixtures and passes their facts
//! at compile time (`SSHDIAG_TEST_*`); built any other way these tests fail and say so.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A test may unwrap: a panic is its failure.
#![cfg(target_arch = "wasm32")]
// Built without the fixtures the tests must still compile (clippy, `--no-run`) and then fail
// with a message saying how to run them, which is what `option_env!(..).expect` does.
#![allow(clippy::option_env_unwrap)]

use std::sync::Arc;

use sshdiag_core::hostkey::NoTrustStore;
use sshdiag_core::{AuthPlan, Credential, ProbeOptions, Secret};
use sshdiag_events::{ErrorType, EventData, Layer};
use sshdiag_web::env::BrowserEnv;
use sshdiag_web::transport::BrowserRelayConnector;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

struct Fixture {
    relay_url: &'static str,
    host: &'static str,
    port: u16,
    user: &'static str,
    password: &'static str,
}

fn fixture() -> Fixture {
    let missing = "run the browser tests with `cargo xtask test`, which starts sshd and the relay";
    Fixture {
        relay_url: option_env!("SSHDIAG_TEST_RELAY_URL").expect(missing),
        host: option_env!("SSHDIAG_TEST_SSHD_HOST").expect(missing),
        port: option_env!("SSHDIAG_TEST_SSHD_PORT")
            .expect(missing)
            .parse()
            .expect("SSHDIAG_TEST_SSHD_PORT"),
        user: option_env!("SSHDIAG_TEST_USER").expect(missing),
        password: option_env!("SSHDIAG_TEST_PASSWORD").expect(missing),
    }
}

async fn run(
    f: &Fixture,
    port: u16,
    password: &str,
    commands: &[&str],
) -> sshdiag_core::ProbeReport {
    let mut opts = ProbeOptions::new(
        f.host,
        port,
        f.user,
        AuthPlan::Credentials(vec![Credential::Password(Secret::new(password))]),
    );
    opts.commands = commands.iter().map(|c| c.to_string()).collect();
    let mut c = BrowserRelayConnector {
        url: f.relay_url.to_string(),
        token: None,
    };
    sshdiag_core::run(
        opts,
        &mut c,
        Arc::new(BrowserEnv),
        &mut NoTrustStore,
        Box::new(|_| {}),
    )
    .await
}

/// The run failed with `error_type` in `layer` (the verdict is the message otherwise).
fn assert_failed(r: &sshdiag_core::ProbeReport, error_type: ErrorType, layer: Layer) {
    assert_eq!(r.verdict.error_type, Some(error_type), "{:?}", r.verdict);
    assert_eq!(r.verdict.layer, Some(layer));
}

#[wasm_bindgen_test]
async fn password_login_and_echo_from_the_browser() {
    let f = fixture();
    let r = run(&f, f.port, f.password, &["echo hello"]).await;
    assert!(r.verdict.ok, "{:?}", r.events);
    assert_eq!(r.commands[0].stdout.as_deref(), Some("hello\n"));
    assert_eq!(r.commands[0].exit_code, Some(0));
    let version = r.events.iter().find_map(|e| match &e.data {
        EventData::Version(v) => Some(v.server_version.clone()),
        _ => None,
    });
    assert!(version.unwrap_or_default().starts_with("SSH-2.0-OpenSSH_"));
}

/// The browser's chacha20-poly1305 is `sshdiag-chacha`'s four-blocks-at-a-time code only when
/// wasm `simd128` is on (`.cargo/config.toml`, the same flags as the module `build-web` makes);
/// without it russh silently falls back to ring's one block at a time, correct but 1.15–1.5×
/// slower in bulk (BENCHMARKS.md), so only this test would notice the flag gone.
#[wasm_bindgen_test]
#[allow(clippy::assertions_on_constants)] // The constant is the build's flags: what is tested.
fn built_with_wasm_simd() {
    assert!(
        cfg!(target_feature = "simd128"),
        "wasm32 built without simd128: .cargo/config.toml's rustflags were dropped or replaced (a RUSTFLAGS in the environment replaces them)"
    );
}

#[wasm_bindgen_test]
async fn wrong_password_from_the_browser_is_auth_failed() {
    let f = fixture();
    let r = run(&f, f.port, "definitely-wrong", &[]).await;
    assert_failed(&r, ErrorType::AuthFailed, Layer::Auth);
    assert!(r.verdict.hints.join(" ").contains("password was rejected"));
}

#[wasm_bindgen_test]
async fn target_outside_the_allow_list_is_proxy_denied() {
    let f = fixture();
    let r = run(&f, f.port.wrapping_add(1), f.password, &[]).await;
    assert_failed(&r, ErrorType::ProxyDenied, Layer::Relay);
}
