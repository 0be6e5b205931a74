//! `cargo xtask fuzz`: the coverage-guided search over every parser that reads bytes from
//! outside (issue 15, item 5). Each target of the cargo-fuzz project in `fuzz/` runs under
//! libFuzzer for `--seconds`, starting from its committed seeds (`fuzz/seeds/NAME/`) and the
//! corpus earlier runs grew (`target/fuzz/corpus/NAME/`, not committed). A crash is reported
//! with its input file and what to do with it: fix, then commit the input under
//! `fuzz/regressions/NAME/`, where the test suite's smoke runs it on every `cargo xtask test`.
//!
//! cargo-fuzz passes nightly flags (`-Z sanitizer`, coverage instrumentation); this machine
//! has only the stable toolchain, so the build runs with `RUSTC_BOOTSTRAP=1`, which enables
//! them on the same compiler. Nothing here touches the network except `cargo install` of
//! cargo-fuzz itself (from crates.io, when root) and the crates it builds.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, bail};
use sshdiag_testkit::tools;

use crate::prereq;
use crate::util::{cargo, project_root};

#[derive(clap::Args)]
pub struct FuzzArgs {
    /// How long each target runs.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Run only this target (repeat for several); default: every target in fuzz/Cargo.toml.
    #[arg(long = "target", value_name = "NAME")]
    targets: Vec<String>,
    /// Print the targets and stop.
    #[arg(long)]
    list: bool,
}

/// What one target's run came to.
struct Outcome {
    name: String,
    runs: Option<u64>,
    coverage: Option<u64>,
    crash: Option<PathBuf>,
    ok: bool,
    seconds: f64,
}

pub fn fuzz(args: FuzzArgs) -> anyhow::Result<()> {
    let root = project_root();
    let all = target_names(&root.join("fuzz/Cargo.toml"))?;
    if args.list {
        for name in &all {
            println!("{name}");
        }
        return Ok(());
    }
    let chosen: Vec<String> = if args.targets.is_empty() {
        all.clone()
    } else {
        for name in &args.targets {
            if !all.contains(name) {
                bail!(
                    "no fuzz target `{name}`; the targets are: {}",
                    all.join(", ")
                );
            }
        }
        args.targets.clone()
    };
    prereq::ensure_tools("fuzz", &[tools::CARGO_FUZZ])?;
    let mut outcomes = Vec::new();
    for name in &chosen {
        outcomes.push(run_target(&root, name, args.seconds)?);
    }
    println!();
    println!(
        "{:<20} {:>8} {:>12} {:>9}  result",
        "target", "wall s", "runs", "coverage"
    );
    for o in &outcomes {
        let result = match (&o.crash, o.ok) {
            (Some(file), _) => format!("CRASH {}", file.display()),
            (None, true) => "no crash".to_string(),
            (None, false) => "FAILED (see the output above)".to_string(),
        };
        println!(
            "{:<20} {:>8.0} {:>12} {:>9}  {result}",
            o.name,
            o.seconds,
            o.runs.map_or("?".into(), |n| n.to_string()),
            o.coverage.map_or("?".into(), |n| n.to_string()),
        );
    }
    let crashed: Vec<&Outcome> = outcomes.iter().filter(|o| o.crash.is_some()).collect();
    if !crashed.is_empty() {
        println!();
        for o in &crashed {
            if let Some(file) = &o.crash {
                println!(
                    "{}: reproduce with `RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz {} {}`; once fixed, \
                     commit the input as fuzz/regressions/{}/<what it found> so the smoke keeps it fixed",
                    o.name,
                    o.name,
                    file.display(),
                    o.name
                );
            }
        }
    }
    if outcomes.iter().any(|o| !o.ok) {
        bail!("fuzzing found {} crash(es)", crashed.len());
    }
    Ok(())
}

/// The `[[bin]]` names of the cargo-fuzz manifest, in order.
fn target_names(manifest: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin && let Some(value) = line.strip_prefix("name = ") {
            names.push(value.trim_matches('"').to_string());
        }
    }
    if names.is_empty() {
        bail!("{} names no [[bin]] fuzz target", manifest.display());
    }
    Ok(names)
}

fn run_target(root: &Path, name: &str, seconds: u64) -> anyhow::Result<Outcome> {
    let corpus = root.join("target/fuzz/corpus").join(name);
    let artifacts = root.join("target/fuzz/artifacts").join(name);
    for dir in [&corpus, &artifacts] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let before: Vec<PathBuf> = files_in(&artifacts);
    eprintln!("xtask fuzz: {name} for {seconds} s");
    let started = Instant::now();
    let mut artifact_prefix = artifacts.clone().into_os_string();
    artifact_prefix.push("/");
    let mut child = cargo()
        .env("RUSTC_BOOTSTRAP", "1")
        .args([
            "fuzz",
            "run",
            "--fuzz-dir",
            "fuzz",
            "--target-dir",
            "target/fuzz/build",
            name,
        ])
        .arg(&corpus)
        .arg(root.join("fuzz/seeds").join(name))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg("-timeout=10")
        .arg("-rss_limit_mb=2048")
        .arg({
            let mut a = std::ffi::OsString::from("-artifact_prefix=");
            a.push(&artifact_prefix);
            a
        })
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .spawn()
        .context("running cargo fuzz")?;
    // libFuzzer (and cargo's build) write to stderr: pass every line on as it comes, and keep
    // the last status line for the table.
    let mut status_line = String::new();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            if line.starts_with('#') && line.contains("cov: ") {
                status_line = line;
            }
        }
    }
    let status = child.wait().context("waiting for cargo fuzz")?;
    let (runs, coverage) = parse_status(&status_line);
    let crash = files_in(&artifacts)
        .into_iter()
        .find(|f| !before.contains(f));
    Ok(Outcome {
        name: name.to_string(),
        runs,
        coverage,
        ok: status.success() && crash.is_none(),
        crash,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// From a libFuzzer status line (`#N ... cov: C ...`): the number of runs and the edges covered.
fn parse_status(line: &str) -> (Option<u64>, Option<u64>) {
    let runs = line
        .trim_start_matches('#')
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok());
    let coverage = line
        .split("cov: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok());
    (runs, coverage)
}
