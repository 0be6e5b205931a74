//! Integration tests of the `sshdiag` CLI: the built binary against a real OpenSSH sshd
//! (run by the test kit), ssh-keygen, puttygen and `ssh -G`. One test binary (one link, one
//! copy of tokio and russh on disk), one module per concern, shared helpers in `common`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A test may unwrap: a panic is its failure.

mod addresses;
mod audit;
mod bundle_cmd;
mod cancel;
mod cert_login;
mod cli;
mod common;
mod config_bundle;
mod depth;
mod host_keys;
mod jump;
mod jump_bundle;
mod jump_config;
mod keyfiles;
mod second_session;
mod secrets;
mod session_check;
mod ssh_config;
mod where_to_look;
