//! `cargo xtask demo`: the whole product on one machine with nothing else running: builds the
//! page and the relay, then runs `sshdiag-proxy --demo`, which serves `web/` and starts its
//! built-in demo SSH server, and prints the URL to open.
//!
//! A newcomer's first command, so it builds only what the demo needs, in the profile fastest to
//! build (`demo` in the root `Cargo.toml`: dependencies at opt-level 1, no debug info; the page
//! over loopback needs neither wasm-opt nor compression), and says what it is doing at every
//! step. `cargo xtask` itself compiles only what this task needs (see `lib.rs`); it must never
//! grow a dependency only another task uses.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::build_web::{DEMO_PROFILE, WebProfile, build_web_with};
use crate::util::{cargo_build, describe, find_artifact, project_root};

/// Where the relay listens unless `--listen` says otherwise (the proxy's own default).
const DEFAULT_LISTEN: &str = "127.0.0.1:8022";

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Extra flags for sshdiag-proxy (after `--`), for example `-- --listen 127.0.0.1:9000`.
    #[arg(last = true)]
    proxy_args: Vec<String>,
}

pub fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    eprintln!(
        "sshdiag demo: 1/3 building the page's wasm module ({DEMO_PROFILE} profile; the first build takes minutes)"
    );
    build_web_with(WebProfile::Quick)?;
    eprintln!(
        "sshdiag demo: 2/3 building the relay ({:.0} s so far)",
        started.elapsed().as_secs_f64()
    );
    let files = cargo_build(&[
        "-p",
        "sshdiag-proxy",
        "--bin",
        "sshdiag-proxy",
        "--profile",
        DEMO_PROFILE,
    ])?;
    let proxy = find_artifact(&files, "sshdiag-proxy")?;
    eprintln!(
        "sshdiag demo: 3/3 starting the relay and its demo SSH server ({:.0} s so far)",
        started.elapsed().as_secs_f64()
    );

    let listen = args
        .proxy_args
        .iter()
        .position(|a| a == "--listen")
        .and_then(|i| args.proxy_args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let mut command = std::process::Command::new(&proxy);
    command
        .arg("--demo")
        .arg("--web-root")
        .arg(project_root().join("web"))
        .args(&args.proxy_args)
        .current_dir(project_root());
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", describe(&command)))?;

    // Say where to go once the relay really listens (or at once if we cannot tell).
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr: Option<SocketAddr> = listen.parse().ok();
    while let Some(addr) = addr {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            || Instant::now() >= deadline
            || child.try_wait()?.is_some()
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if child.try_wait()?.is_none() {
        println!(
            "sshdiag demo: open http://{listen}/ (ready after {:.0} s; Ctrl-C stops it)",
            started.elapsed().as_secs_f64()
        );
    }
    let status = child.wait()?;
    if !status.success() {
        anyhow::bail!("sshdiag-proxy --demo exited ({status})");
    }
    Ok(())
}
