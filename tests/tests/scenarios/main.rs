//! The end-to-end scenarios: the probe, the CLI and the relay against real OpenSSH sshd,
//! HAProxy, scripted misbehaving servers and headless Chromium. One test binary (one link, one
//! copy of tokio and russh on disk), one module per scenario family. The page tests are their
//! own binary, `page`, so they can be run alone (`cargo test -p sshdiag-tests --test page`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // A test may unwrap: a panic is its failure.

mod certificates;
mod deep_audit_relay;
mod depth_relay;
mod dh_exponent;
mod harness;
mod password_change;
mod portal;
mod probe_native;
mod relay_fleet;
mod relay_vanished;
mod static_files;
mod supervisor;

use sshdiag_cli::native::NativeEnv;
use sshdiag_core::hostkey::NoTrustStore;
use sshdiag_core::transport::Connector;
use sshdiag_core::{ProbeOptions, ProbeReport};
use sshdiag_events::{ErrorData, EventData};

/// The probe as a scenario runs it when it reads only the report: the native environment, no
/// trusted host keys (none is refused or remembered), no live event sink.
async fn probe_untrusted<C: Connector>(opts: ProbeOptions, connector: &mut C) -> ProbeReport {
    sshdiag_core::run(
        opts,
        connector,
        NativeEnv::shared(),
        &mut NoTrustStore,
        Box::new(|_| {}),
    )
    .await
}

/// The run's ERROR event's data; a run without one fails the test.
fn error_of(r: &ProbeReport) -> ErrorData {
    r.events
        .iter()
        .find_map(|e| match &e.data {
            EventData::Error(d) => Some(d.clone()),
            _ => None,
        })
        .expect("the run has an ERROR event")
}

/// A default OpenSSH fixture and a relay that allows exactly it.
async fn sshd_behind_relay() -> (sshdiag_tests::SshdFixture, sshdiag_tests::RelayFixture) {
    let sshd = sshdiag_tests::SshdFixture::start(sshdiag_tests::SshdOptions::default()).unwrap();
    let relay = sshdiag_tests::RelayFixture::start(vec![format!("127.0.0.1/32:{}", sshd.port())])
        .await
        .unwrap();
    (sshd, relay)
}
