//! `cargo xtask test`: the one command that runs every test, locally and in CI.
//!
//! 1. Prerequisites: Debian packages (installed with apt-get when root, otherwise one line
//!    saying what to install), the wasm32 target.
//! 2. Native tier: `web/pkg/` is built first (`build-web`: the page tests serve it), then
//!    `cargo test --workspace --exclude sshdiag-web` (unit tests, the end-to-end tests against
//!    OpenSSH and the relay, and the page tests in Chromium over WebDriver).
//! 3. Browser tier: starts `sshdiag-fixtures` (a real sshd and relay), exports every key of
//!    its JSON line as `SSHDIAG_TEST_<KEY>`, and runs `cargo test -p sshdiag-web -p
//!    sshdiag-chacha --target wasm32-unknown-unknown` in headless Chromium through the pinned
//!    wasm-bindgen test runner.
//! 4. One summary line, last, `summary: N passed, N failed, N skipped`; non-zero exit when
//!    any step failed.
//!
//! Cleanup: xtask makes itself a child subreaper, so whatever the tiers leave behind (a
//! Chromium orphaned by a timed-out runner, an sshd a crashed test forgot) is re-parented to
//! it; after each tier it kills its remaining descendants — only processes this run started.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use sshdiag_testkit::fixtures_process::FixturesProcess;
use sshdiag_testkit::ports::free_loopback_port;
use sshdiag_testkit::procs::{
    become_subreaper, descendants, is_alive, signal_all, zombie_children,
};
use sshdiag_testkit::tools;

use crate::prereq;
use crate::util::{
    TestCounts, build_wasm_test_runner, cargo, cargo_artifacts, find_artifact, project_root,
    run_counting,
};

/// The native tier's cargo command: every crate but the wasm-only one.
const NATIVE_TEST_ARGS: &[&str] = &["test", "--workspace", "--exclude", "sshdiag-web"];

/// How long the browser tests may run before the runner gives up (its default is 20 s).
const BROWSER_TEST_TIMEOUT_SECS: &str = "120";

#[derive(clap::Args)]
pub struct TestArgs {
    /// Skip the browser tier.
    #[arg(long, conflicts_with = "only")]
    no_browser: bool,
    /// Run one tier only.
    #[arg(long, value_enum)]
    only: Option<Tier>,
    /// Extra arguments for every `cargo test` (after `--`), for example a test name filter.
    #[arg(last = true)]
    cargo_test_args: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Tier {
    Native,
    Browser,
}

impl Tier {
    fn name(self) -> &'static str {
        match self {
            Tier::Native => "native",
            Tier::Browser => "browser",
        }
    }
}

pub fn test(args: TestArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let tiers: Vec<Tier> = match (args.only, args.no_browser) {
        (Some(tier), _) => vec![tier],
        (None, true) => vec![Tier::Native],
        (None, false) => vec![Tier::Native, Tier::Browser],
    };
    become_subreaper();
    prerequisites()?;

    let mut total = TestCounts::default();
    let mut reports = Vec::new();
    let mut all_ok = true;
    for &tier in &tiers {
        let tier_started = Instant::now();
        let result = match tier {
            Tier::Native => {
                // The page tests serve web/pkg; build it here rather than from inside a test.
                if let Err(error) = crate::build_web::build_web() {
                    eprintln!("xtask test: build-web: {error:#}");
                    all_ok = false;
                    reports.push("build-web FAILED".to_string());
                }
                native_tier(&args.cargo_test_args)
            }
            Tier::Browser => browser_tier(&args.cargo_test_args),
        };
        reap_leftovers(tier.name());
        let (ok, counts) = result.unwrap_or_else(|error| {
            eprintln!("xtask test: {} tier: {error:#}", tier.name());
            (false, TestCounts::default())
        });
        // A tier that ran no test binary at all is broken, not green.
        let ok = ok && counts.suites > 0;
        all_ok &= ok;
        total.add(counts);
        reports.push(format!(
            "{} {} ({} passed, {} failed, {:.0} s)",
            tier.name(),
            if ok { "ok" } else { "FAILED" },
            counts.passed,
            counts.failed,
            tier_started.elapsed().as_secs_f64()
        ));
    }
    println!();
    println!(
        "xtask test: {} in {:.0} s",
        reports.join("; "),
        started.elapsed().as_secs_f64()
    );
    println!(
        "summary: {} passed, {} failed, {} skipped",
        total.passed, total.failed, total.ignored
    );
    if !all_ok {
        // Nothing after the summary line: CI reads the last line.
        std::process::exit(1);
    }
    Ok(())
}

/// Debian packages, the test user and the wasm32 target. Both tiers need Chromium (the page
/// tests run in the native tier) and the wasm build.
fn prerequisites() -> anyhow::Result<()> {
    prereq::ensure_tools("test", tools::ALL)?;
    if !tools::is_root() && !tools::user_exists(tools::TEST_USER) {
        bail!(
            "the sshd fixture needs the test user `{}`, which only root can create: run `cargo xtask test` as root once",
            tools::TEST_USER
        );
    }
    prereq::ensure_wasm_target()
}

/// `cargo test --workspace --exclude sshdiag-web`.
fn native_tier(extra: &[String]) -> anyhow::Result<(bool, TestCounts)> {
    eprintln!("xtask test: native tier");
    let mut command = cargo();
    command
        .args(NATIVE_TEST_ARGS)
        .arg("--no-fail-fast")
        .args(extra);
    let (status, counts) = run_counting(&mut command, &|| reap_leftovers("native"))?;
    Ok((status.success(), counts))
}

/// The wasm tests in headless Chromium against a real sshd behind the real relay.
fn browser_tier(extra: &[String]) -> anyhow::Result<(bool, TestCounts)> {
    eprintln!("xtask test: browser tier");
    let root = project_root();
    let runner = build_wasm_test_runner()?;
    // Built exactly as the native tier builds it (same command, so the same feature
    // resolution): after that tier this is a no-op instead of a second build of tokio & co.
    let mut no_run = NATIVE_TEST_ARGS.to_vec();
    no_run.push("--no-run");
    let fixtures_bin = find_artifact(&cargo_artifacts(&no_run)?, "sshdiag-fixtures")?;
    let chromedriver = tools::CHROMEDRIVER.require()?;

    // Chromium and the runner write here (profile, crash dumps, temp files); removed after.
    let scratch = tempfile::Builder::new()
        .prefix("sshdiag-browser-tier-")
        .tempdir()
        .context("creating the browser tier's temp dir")?;
    let tmp = scratch.path().join("tmp");
    let config = scratch.path().join("config");
    let cache = scratch.path().join("cache");
    for dir in [&tmp, &config, &cache] {
        std::fs::create_dir_all(dir)?;
    }

    // The runner serves the test page on this address; the relay must accept it as Origin.
    let page_addr = format!("127.0.0.1:{}", free_loopback_port()?);
    let mut fixtures = FixturesProcess::start(
        &fixtures_bin,
        &["--relay-origin", &format!("http://{page_addr}")],
        &scratch.path().join("fixtures.log"),
    )?;
    let mut command = cargo();
    command
        .args(["test", "-p", "sshdiag-web", "-p", "sshdiag-chacha"])
        .args(["--target", prereq::WASM_TARGET])
        .arg("--no-fail-fast")
        .args(extra)
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", &runner)
        .env("CHROMEDRIVER", &chromedriver)
        .env(
            "WASM_BINDGEN_TEST_WEBDRIVER_JSON",
            root.join("crates/sshdiag-web/webdriver.json"),
        )
        .env("WASM_BINDGEN_TEST_TIMEOUT", BROWSER_TEST_TIMEOUT_SECS)
        .env("WASM_BINDGEN_TEST_ADDRESS", &page_addr)
        // Without DWARF the test modules are ~10x smaller, and the runner's wasm-bindgen pass
        // over each takes seconds instead of half a minute. Panics still name functions (the
        // name section stays).
        .env("CARGO_PROFILE_DEV_DEBUG", "false")
        .env("CARGO_PROFILE_TEST_DEBUG", "false")
        .env("TMPDIR", &tmp)
        .env("XDG_CONFIG_HOME", &config)
        .env("XDG_CACHE_HOME", &cache);
    for (key, value) in &fixtures.facts {
        command.env(key, value);
    }
    // Chromium, chromedriver and the runner are ended here if they outlive the tests; the
    // fixtures process (our child too) is stopped below, properly.
    let fixtures_pid = fixtures.child.id();
    let result = run_counting(&mut command, &|| {
        reap_leftovers_except("browser", fixtures_pid)
    });
    let fixtures_ok = fixtures.stop();
    let (status, counts) = result?;
    if !status.success() || !fixtures_ok {
        fixtures.print_log_tail();
    }
    Ok((status.success(), counts))
}

/// Kills every process still descending from xtask (only ones this run started), then reaps.
fn reap_leftovers(tier: &str) {
    reap_leftovers_except(tier, 0);
}

/// Kills every process descending from xtask except the subtree of `spared` (0: none).
fn reap_leftovers_except(tier: &str, spared: u32) {
    let me = std::process::id();
    // Orphans that already died are zombies under us: collect them whatever else happens.
    reap_children(spared);
    let spared_tree: Vec<u32> = if spared == 0 {
        Vec::new()
    } else {
        let mut tree = descendants(spared);
        tree.push(spared);
        tree
    };
    let leftovers: Vec<u32> = descendants(me)
        .into_iter()
        .filter(|pid| !spared_tree.contains(pid))
        .collect();
    if leftovers.is_empty() {
        return;
    }
    let names: Vec<String> = leftovers.iter().map(|&pid| process_name(pid)).collect();
    for signal in [libc::SIGTERM, libc::SIGKILL] {
        signal_all(&leftovers, signal);
        let alive = || leftovers.iter().any(|&pid| is_alive(pid));
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && alive() {
            reap_children(spared);
            std::thread::sleep(Duration::from_millis(50));
        }
        reap_children(spared);
        if !alive() {
            break;
        }
    }
    let mut summary: BTreeMap<String, usize> = BTreeMap::new();
    for name in names {
        *summary.entry(name).or_default() += 1;
    }
    eprintln!(
        "xtask test: {tier} tier left processes behind; ended them: {}",
        summary
            .iter()
            .map(|(name, n)| format!("{name} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// Collects the exit statuses of dead children (re-parented orphans), except `spared`, whose
/// `Child` handle still has to wait for it.
fn reap_children(spared: u32) {
    let me = std::process::id();
    for pid in zombie_children(me) {
        if pid == spared {
            continue;
        }
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            let mut status = 0;
            // SAFETY: waitpid writes only to `status`, a valid local.
            unsafe {
                libc::waitpid(pid, &mut status, libc::WNOHANG);
            }
        }
    }
}

fn process_name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| format!("pid {pid}"))
}
