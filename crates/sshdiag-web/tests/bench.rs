//! Browser side of `cargo xtask bench`: the wasm core in headless Chromium, through the real
//! relay, to a real OpenSSH sshd. Each measurement is printed as one console line
//! `SSHDIAG-BENCH {json}` which xtask reads (the runner passes console output through with
//! `--nocapture`).
//!
//! Does nothing unless built by `cargo xtask bench`, which sets `SSHDIAG_BENCH=1` and the
//! fixture facts (`SSHDIAG_TEST_*`) at compile time; in `cargo xtask test` it is one empty test
//! that passes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A test may unwrap: a panic is its failure.
#![cfg(target_arch = "wasm32")]

use std::sync::Arc;

use sshdiag_core::hostkey::NoTrustStore;
use sshdiag_core::{AuthPlan, Credential, ProbeOptions, ProbeReport, Secret};
use sshdiag_events::EventData;
use sshdiag_web::env::BrowserEnv;
use sshdiag_web::transport::BrowserRelayConnector;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Set by `cargo xtask bench` only.
const ENABLED: Option<&str> = option_env!("SSHDIAG_BENCH");

struct Setup {
    relay_url: &'static str,
    host: &'static str,
    port: u16,
    user: &'static str,
    key: &'static str,
    handshake_runs: usize,
    kex_runs: usize,
    kex_names: Vec<&'static str>,
    bulk_command: &'static str,
    bulk_runs: usize,
    /// Ciphers to force in extra bulk runs (each beside the default one, in the same round).
    bulk_ciphers: Vec<&'static str>,
}

fn setup() -> Option<Setup> {
    ENABLED?;
    let number = |value: Option<&str>, default: usize| -> usize {
        value.and_then(|v| v.parse().ok()).unwrap_or(default)
    };
    Some(Setup {
        relay_url: option_env!("SSHDIAG_TEST_RELAY_URL")?,
        host: option_env!("SSHDIAG_TEST_SSHD_HOST")?,
        port: option_env!("SSHDIAG_TEST_SSHD_PORT")?.parse().ok()?,
        user: option_env!("SSHDIAG_TEST_USER")?,
        key: option_env!("SSHDIAG_TEST_ED25519_KEY")?,
        handshake_runs: number(option_env!("SSHDIAG_BENCH_HANDSHAKE_RUNS"), 10),
        kex_runs: number(option_env!("SSHDIAG_BENCH_KEX_RUNS"), 5),
        kex_names: option_env!("SSHDIAG_BENCH_KEX")
            .unwrap_or("curve25519-sha256")
            .split(',')
            .filter(|s| !s.is_empty())
            .collect(),
        bulk_command: option_env!("SSHDIAG_BENCH_BULK_COMMAND").unwrap_or("head -c 256M /dev/zero"),
        bulk_runs: number(option_env!("SSHDIAG_BENCH_BULK_RUNS"), 3),
        bulk_ciphers: option_env!("SSHDIAG_BENCH_BULK_CIPHERS")
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.is_empty())
            .collect(),
    })
}

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or_else(js_sys::Date::now)
}

fn emit(value: serde_json::Value) {
    web_sys::console::log_1(&format!("SSHDIAG-BENCH {value}").into());
}

async fn probe(
    s: &Setup,
    kex: Option<&str>,
    cipher: Option<&str>,
    command: &str,
) -> (f64, ProbeReport) {
    let mut opts = ProbeOptions::new(
        s.host,
        s.port,
        s.user,
        AuthPlan::Credentials(vec![Credential::PrivateKey {
            key_text: Secret::new(s.key),
            passphrase: None,
            label: Some("ed25519".into()),
            certificate: None,
        }]),
    );
    opts.commands = vec![command.to_string()];
    // Measured like `ssh HOST COMMAND`, which checks no session first: the session check's
    // extra channels would be timed in, and its EXEC event would stand before the command's.
    opts.session_check = false;
    opts.timeout_ms = Some(600_000);
    opts.algorithms.kex = kex.map(str::to_string);
    opts.algorithms.ciphers = cipher.map(str::to_string);
    let mut connector = BrowserRelayConnector {
        url: s.relay_url.to_string(),
        token: None,
    };
    let started = now_ms();
    let report = sshdiag_core::run(
        opts,
        &mut connector,
        Arc::new(BrowserEnv),
        &mut NoTrustStore,
        Box::new(|_| {}),
    )
    .await;
    (now_ms() - started, report)
}

/// One run as a JSON object: wall ms, the verdict's phases, the EXEC duration and byte count.
fn record(case: &str, name: &str, wall_ms: f64, report: &ProbeReport) -> serde_json::Value {
    let exec = report.events.iter().find_map(|e| match &e.data {
        EventData::Exec(x) if x.duration_ms.is_some() => Some(x.clone()),
        _ => None,
    });
    let kex = report.events.iter().find_map(|e| match &e.data {
        EventData::Kex(k) => k.negotiated.kex.clone(),
        _ => None,
    });
    serde_json::json!({
        "case": case,
        "name": name,
        "ok": report.verdict.ok,
        "summary": report.verdict.summary,
        "wall_ms": wall_ms,
        "phases": serde_json::to_value(&report.verdict.phases).unwrap_or_default(),
        "exec_ms": exec.as_ref().and_then(|x| x.duration_ms),
        "stdout_len": exec.as_ref().map(|x| x.stdout_len),
        "kex": kex,
    })
}

#[wasm_bindgen_test]
async fn bench() {
    let Some(s) = setup() else {
        return;
    };
    // One warm-up, so the first measured run does not pay for lazy JIT tiers.
    let _ = probe(&s, None, None, "true").await;
    for _ in 0..s.handshake_runs {
        let (wall, report) = probe(&s, None, None, "true").await;
        emit(record("handshake", "browser", wall, &report));
    }
    for &kex in &s.kex_names {
        for _ in 0..s.kex_runs {
            let (wall, report) = probe(&s, Some(kex), None, "true").await;
            emit(record("kex", kex, wall, &report));
        }
    }
    for _ in 0..s.bulk_runs {
        let (wall, report) = probe(&s, None, None, s.bulk_command).await;
        emit(record("bulk", "browser", wall, &report));
        for &cipher in &s.bulk_ciphers {
            let (wall, report) = probe(&s, None, Some(cipher), s.bulk_command).await;
            emit(record("bulk", cipher, wall, &report));
        }
    }
    emit(serde_json::json!({"case": "done"}));
}
