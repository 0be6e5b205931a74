//! The integration tests of `sshdiag-events`, one binary (ripgrep's layout): shared fixtures
//! in `util`, one module per concern.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A test may unwrap: a panic is its failure.

mod bundle;
mod codes;
mod jsonl;
mod precision;
mod redact;
mod relay;
mod robustness;
mod util;
mod view;
