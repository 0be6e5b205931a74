//! Integration tests of `sshdiag-proxy`: a real relay on port 0, real WebSockets, real TCP on
//! loopback, a real SSH server and client. One test binary, shared fixtures in `util`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A test may unwrap: a panic is its failure.

mod cors;
mod data;
mod demo;
mod hardening;
mod limits;
mod observability;
mod policy;
mod properties;
mod pyjwt;
mod raw;
mod ssh;
mod tokens;
mod util;

// The one table of external tools (PyJWT among them), the test kit's.
use sshdiag_testkit::tools;
