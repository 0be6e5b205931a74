//! The command line of `cargo xtask` (the tasks are the `xtask` library, `lib.rs`).

use anyhow::Context;
use clap::{Parser, Subcommand};

use xtask::{build_web, codegen, demo, fuzz, test, util};

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
    #[command(disable_help_flag = true)]
    Bench {
        /// The bench's own flags (`cargo xtask bench --help` lists them).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
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
        Task::Bench { args } => bench(&args),
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

/// Runs the bench's own package with `args` (its flags, `--help` included), in the dev profile
/// as before the split; its exit status is ours.
fn bench(args: &[String]) -> anyhow::Result<()> {
    let mut command = util::cargo();
    command
        .args([
            "run",
            "--package",
            "xtask-bench",
            "--bin",
            "xtask-bench",
            "--",
        ])
        .args(args);
    let status = command
        .status()
        .with_context(|| format!("starting {}", util::describe(&command)))?;
    if !status.success() {
        anyhow::bail!("{} failed ({status})", util::describe(&command));
    }
    Ok(())
}
