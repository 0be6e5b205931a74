//! The end-to-end harness: the real parts sshdiag is tested against, each started on a free
//! loopback port and stopped on drop.
//!
//! - [`sshd`]: a real OpenSSH server in a temp dir, with host keys, client keys and a test user.
//! - [`relay`]: the real relay (`sshdiag-proxy`'s library) on `127.0.0.1:0`.
//! - [`tools`]: where the external programs are, and which Debian package brings each.
//!
//! The `sshdiag-fixtures` binary starts an sshd and a relay allowing it and prints their facts
//! as one JSON line; `cargo xtask test` uses it for the browser tier.
//!
//! Nothing here may send traffic anywhere but 127.0.0.1, and nothing may skip a test silently
//! when a part is missing: it fails with one line naming what to install.

pub mod procs;
pub mod relay;
pub mod sshd;
pub mod tools;

pub use relay::RelayFixture;
pub use sshd::{
    ClientKey, ClientKeys, HostKey, SshdFixture, SshdOptions, TEST_PASSPHRASE, TEST_PASSWORD,
    TEST_USER,
};
