//! `sshdiag-proxy`: parse the command line, start the relay, print where it listens, and run
//! until Ctrl-C or SIGTERM, then shut down gracefully (drain, then close). `mint-token` and
//! `link` (the token tools of `link.rs`) print one line and exit instead.

use clap::Parser as _;
use sshdiag_proxy::link::Cli;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Some(tool) = cli.tool {
        return match tool.run(std::time::SystemTime::now()) {
            Ok(line) => {
                println!("{line}");
                std::process::ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("sshdiag-proxy: {error:#}");
                std::process::ExitCode::from(2)
            }
        };
    }
    let config = cli.config;
    let demo = config.demo;
    let relay = match sshdiag_proxy::start(config).await {
        Ok(relay) => relay,
        Err(error) => {
            eprintln!("sshdiag-proxy: {error:#}");
            return std::process::ExitCode::from(2);
        }
    };
    eprintln!("sshdiag-proxy: listening on http://{}/", relay.local_addr());
    if let (true, Some(demo_addr)) = (demo, relay.demo_addr()) {
        eprintln!("sshdiag-proxy: demo SSH server on {demo_addr} (user demo, password demo)");
    }
    wait_for_signal().await;
    relay.shutdown().await;
    std::process::ExitCode::SUCCESS
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
