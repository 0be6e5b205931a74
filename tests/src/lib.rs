//! The scenario tests' crate: the harness itself lives in the test kit
//! (`crates/sshdiag-testkit`), shared with xtask; it is re-exported here under the names the
//! tests use (`sshdiag_tests::sshd::…`, `sshdiag_tests::relay::…`).
//!
//! The `sshdiag-fixtures` binary starts an sshd and a relay allowing it and prints their facts
//! as one JSON line; `cargo xtask test` uses it for the browser tier.
//!
//! Nothing here may send traffic anywhere but 127.0.0.1, and nothing may skip a test silently
//! when a part is missing: it fails with one line naming what to install.

pub mod jsonl;

pub use sshdiag_testkit::{
    ClientKey, ClientKeys, HostKey, RelayFixture, SshdFixture, SshdOptions, TEST_PASSPHRASE,
    TEST_PASSWORD, TEST_USER, certs, openssh, ports, procs, relay, sshd, tools, webdriver,
};
