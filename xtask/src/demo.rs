//! `cargo xtask demo`: the whole product on one machine with nothing else running: builds the
//! page (build-web), then runs `sshdiag-proxy --demo`, which serves `web/` and starts its
//! built-in demo SSH server, and prints the URL to open.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::build_web::build_web;
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
    build_web()?;
    let files = cargo_build(&["-p", "sshdiag-proxy", "--bin", "sshdiag-proxy"])?;
    let proxy = find_artifact(&files, "sshdiag-proxy")?;

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
        println!("sshdiag demo: open http://{listen}/ (Ctrl-C stops it)");
    }
    let status = child.wait()?;
    if !status.success() {
        anyhow::bail!("sshdiag-proxy --demo exited ({status})");
    }
    Ok(())
}
