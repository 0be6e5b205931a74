//! `cargo xtask`: every multi-step job of the project, in Rust, so it runs the same on a
//! developer's machine and in CI (`.ci/run` calls `cargo xtask test` and nothing else).
//!
//! - `build-web`: the wasm module → (wasm-opt) → wasm-bindgen (the pinned library) → `web/pkg/`.
//! - `demo`: build-web, then the relay with its built-in demo SSH server; prints the URL.
//! - `test`: installs what is missing (root on Debian) or says in one line what to install,
//!   then runs the native tiers and the browser tier, and prints one summary line.
//! - `codegen`: writes generated docs (`docs/codes.md`).
//! - `fuzz`: the coverage-guided fuzz targets of `fuzz/` under cargo-fuzz (libFuzzer).
//! - `bench`: side-by-side benchmarks (browser, CLI, OpenSSH, relays), written to BENCHMARKS.md;
//!   its own package (`xtask/bench`, run with `cargo run -p xtask-bench`), so its WebDriver
//!   client is never compiled for the other tasks.
//!
//! The wasm test runner is its own package too (`xtask/runner`, the whole `wasm-bindgen-cli`),
//! built only by `test` and `bench`; `build-web` needs only `wasm-bindgen-cli-support`. What
//! `cargo xtask` itself compiles is what the demo needs, because it is a newcomer's first
//! command (BENCHMARKS.md, "The demo.").
//!
//! xtask depends on no crate of the product except `sshdiag-events` (for codegen), and on the
//! test kit (`sshdiag-testkit`: tools table, process tree, fixtures process) without its
//! harness and WebDriver features, so it keeps building while the product does not.
//!
//! This library is the tasks; `main.rs` is only their command line, and `xtask-bench` uses
//! the shared parts (`util`, `prereq`, `build_web`).

pub mod build_web;
pub mod codegen;
pub mod demo;
pub mod fuzz;
pub mod prereq;
pub mod test;
pub mod util;
