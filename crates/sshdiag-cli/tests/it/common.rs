//! What several of the `sshdiag` binary's test files share: running the real binary the way a
//! user does, with the test password in `SSHDIAG_PW` and a `HOME` that holds no user config.
//!
//! It must never pass a secret on the command line (only through the environment), and never
//! point `HOME` at the real user's home.

use std::process::{Command, Output};

use sshdiag_tests::sshd::TEST_PASSWORD;

/// Run the `sshdiag` binary with `args`, the test password in `SSHDIAG_PW`, and `HOME` set to
/// the temp dir, and wait for its output.
pub fn sshdiag(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sshdiag"))
        .args(args)
        .env("SSHDIAG_PW", TEST_PASSWORD)
        .env("HOME", std::env::temp_dir())
        .output()
        .expect("run sshdiag")
}
