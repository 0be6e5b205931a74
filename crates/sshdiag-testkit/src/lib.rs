//! The test kit: the real parts sshdiag is tested against and the means to drive them, shared
//! by the scenario tests (`sshdiag-tests`) and `xtask`, so each exists once.
//!
//! Always built (std, `anyhow`, `libc`, `serde_json`; what xtask needs to prepare a run):
//! - [`certs`]: CA keys and certificates signed with the real `ssh-keygen`;
//! - [`openssh`]: OpenSSH's client in batch mode, the tests' reference login;
//! - [`tools`]: where the external programs are, and which Debian package (or crate) brings each;
//! - [`procs`]: spawning processes that die with the test process, and the `/proc` walk that
//!   finds and ends what a test left behind;
//! - [`ports`]: free loopback ports, and waiting for one to accept;
//! - [`fixtures_process`]: the `sshdiag-fixtures` process (an sshd and a relay in a process of
//!   their own, their facts as one JSON line), for the wasm browser tier and the bench.
//!
//! Feature `harness` (the scenario tests):
//! - `sshd`: a real OpenSSH server in a temp dir, with host keys, client keys and a test user;
//! - `relay`: the real relay (`sshdiag-proxy`'s library) on `127.0.0.1:0`.
//!
//! Feature `webdriver` (the page tests and the bench): `webdriver`, headless Chromium and
//! Firefox through their installed WebDriver servers, driven with `fantoccini`.
//!
//! Nothing here may send traffic anywhere but loopback, download a program, or skip a test
//! silently when a part is missing: it fails with one line naming what to install.

pub mod certs;
pub mod fixtures_process;
pub mod openssh;
pub mod ports;
pub mod procs;
pub mod tools;

#[cfg(feature = "harness")]
pub mod relay;
#[cfg(feature = "harness")]
pub mod sshd;
#[cfg(feature = "webdriver")]
pub mod webdriver;

#[cfg(feature = "harness")]
pub use relay::RelayFixture;
#[cfg(feature = "harness")]
pub use sshd::{
    ClientKey, ClientKeys, HostKey, SshdFixture, SshdOptions, TEST_PASSPHRASE, TEST_PASSWORD,
    TEST_USER,
};
