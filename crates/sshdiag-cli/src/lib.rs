//! The `sshdiag` command line as a library: argument parsing ([`args`]) and the native
//! transports and clock ([`native`]). The binary in `main.rs` wires them to the core; tests
//! and benchmarks use the same pieces.

pub mod args;
pub mod bundle_cmd;
pub mod identity;
pub mod logging;
pub mod native;
pub mod ssh_config;

pub mod summary;
pub mod trust;
