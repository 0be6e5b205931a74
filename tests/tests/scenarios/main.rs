//! The end-to-end scenarios: the probe, the CLI and the relay against real OpenSSH sshd,
//! HAProxy, scripted misbehaving servers and headless Chromium. One test binary (one link, one
//! copy of tokio and russh on disk), one module per scenario family. The page tests are their
//! own binary, `page`, so they can be run alone (`cargo test -p sshdiag-tests --test page`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // A test may unwrap: a panic is its failure.

mod certificates;
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
