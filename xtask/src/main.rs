//! `cargo xtask`: every multi-step job of the project, in Rust, so it runs the same on a
//! developer's machine and in CI (`.ci/run` calls `cargo xtask test` and nothing else).
//!
//! - `build-web`: the wasm module → (wasm-opt) → wasm-bindgen (the pinned library) → `web/pkg/`.
//! - `demo`: build-web, then the relay with its built-in demo SSH server; prints the URL.
//! - `test`: installs what is missing (root on Debian) or says in one line what to install,
//!   then runs the native tiers and the browser tier, and prints one summary line.
//! - `codegen`: writes generated docs (`docs/codes.md`).
//! - `fuzz`: the coverage-guided fuzz targets of `fuzz/` under cargo-fuzz (libFuzzer).
//! - `bench`: side-by-side benchmarks (browser, CLI, OpenSSH, relays), written to BENCHMARKS.md.
//!
//! xtask depends on no crate of the product except `sshdiag-events` (for codegen), and on the
//! test kit (`sshdiag-testkit`: tools table, process tree, fixtures process, WebDriver) without
//! its harness feature, so it keeps building while the product does not.

mod bench;
mod build_web;
mod codegen;
mod demo;
mod fuzz;
mod prereq;
mod test;
mod util;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "sshdiag's build, demo and test tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build the wasm module and its JS glue into web/pkg/ and print its size.
    BuildWeb,
    /// Build the page, start the relay with its demo SSH server and print the URL.
    Demo(demo::DemoArgs),
    /// Run every test tier (installs missing Debian packages when root).
    Test(test::TestArgs),
    /// Regenerate generated files (docs/codes.md).
    Codegen(codegen::CodegenArgs),
    /// Benchmarks side by side in one run; writes BENCHMARKS.md.
    Bench(bench::BenchArgs),
    /// Coverage-guided fuzzing of every parser of outside bytes (cargo-fuzz, libFuzzer).
    Fuzz(fuzz::FuzzArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::BuildWeb => build_web::build_web().map(|_| ()),
        Task::Demo(args) => demo::demo(args),
        Task::Test(args) => test::test(args),
        Task::Codegen(args) => codegen::codegen(args),
        Task::Bench(args) => bench::bench(args),
        Task::Fuzz(args) => fuzz::fuzz(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
