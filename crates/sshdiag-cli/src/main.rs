//! `sshdiag [OPTIONS] [USER@]HOST [COMMAND...]` — see `shared/spec/cli.md`.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use sshdiag_cli::args::{Args, Plan};
use sshdiag_cli::native::{NativeEnv, TcpConnector, WsRelayConnector};
use sshdiag_cli::trust::FileTrustStore;
use sshdiag_core::{Env, ProbeReport};

/// The status `ssh` uses for its own failures.
const FAILED: u8 = 255;

fn main() -> ExitCode {
    sshdiag_cli::logging::init();
    match try_main() {
        Ok(code) => code,
        Err(msg) => {
            if let Some(msg) = msg {
                eprintln!("sshdiag: {msg}");
            }
            ExitCode::from(FAILED)
        }
    }
}

/// The run; an `Err` is sshdiag's own failure (with its one line, when there is one).
fn try_main() -> Result<ExitCode, Option<String>> {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(status) = sshdiag_cli::bundle_cmd::dispatch(&argv) {
        return Ok(status);
    }
    let mut args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return Ok(ExitCode::SUCCESS);
            }
            let text = e.to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            return Err(Some(format!("{first} (see sshdiag --help)")));
        }
    };
    // ssh_config fills what the flags left open, or `-G` prints the effective settings.
    if let Some(status) = sshdiag_cli::ssh_config::apply_for_main(&mut args) {
        return Ok(ExitCode::from(status));
    }
    let plan = args.plan(|| {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| format!("--password-stdin: {e}"))?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    })?;
    let events_file = match &args.events_file {
        Some(path) => Some(
            std::fs::File::create(path)
                .map_err(|e| format!("--events-file {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let env = NativeEnv::shared();
    let report = runtime.block_on(probe(&plan, env.clone(), args.events, events_file));
    let notes = write_bundles(&args, &plan, &report, env.as_ref());
    // The command's output goes where ssh would put it.
    for c in &report.commands {
        let _ = std::io::stdout().write_all(c.stdout.as_deref().unwrap_or("").as_bytes());
        let _ = std::io::stderr().write_all(c.stderr.as_deref().unwrap_or("").as_bytes());
    }
    if !args.quiet {
        eprintln!("{}", sshdiag_cli::summary::human_summary(&report, &notes));
    }
    if !report.verdict.ok {
        return Err(None);
    }
    Ok(match report.last_exit_code() {
        Some(c) => ExitCode::from(c.clamp(0, 255) as u8),
        None if !plan.options.commands.is_empty() => ExitCode::from(FAILED),
        None => ExitCode::SUCCESS,
    })
}

/// Run the diagnosis of `plan`, streaming events to stderr and/or the events file.
async fn probe(
    plan: &Plan,
    env: std::sync::Arc<dyn Env>,
    stream_events: bool,
    mut events_file: Option<std::fs::File>,
) -> ProbeReport {
    let on_event = Box::new(move |event: &sshdiag_events::Event| {
        let line = sshdiag_events::to_line(event);
        if stream_events {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        if let Some(f) = events_file.as_mut() {
            let _ = f.write_all(line.as_bytes());
            let _ = f.flush();
        }
    });
    let mut trust = FileTrustStore::open(plan.known_hosts.clone());
    for (host, port, path) in &plan.hop_known_hosts {
        trust = trust.with_file_for(host, *port, path.clone());
    }
    let mut options = plan.options.clone();
    if plan.agent
        && let sshdiag_core::AuthPlan::Credentials(creds) = &mut options.auth
    {
        creds.push(sshdiag_cli::native::agent_credential().await);
    }
    // Ctrl-C stops the run cleanly: it ends with a `Cancelled` verdict, and the bundles asked
    // for are still written.
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    match &plan.proxy {
        Some(url) => {
            let mut c = WsRelayConnector {
                url: url.clone(),
                token: plan.token.clone(),
            };
            sshdiag_core::run_cancellable(options, &mut c, env, &mut trust, on_event, ctrl_c).await
        }
        None => {
            let mut c = TcpConnector;
            sshdiag_core::run_cancellable(options, &mut c, env, &mut trust, on_event, ctrl_c).await
        }
    }
}

/// Write the bundles asked for; the notes say where they went.
fn write_bundles(args: &Args, plan: &Plan, report: &ProbeReport, env: &dyn Env) -> Vec<String> {
    let mut notes = Vec::new();
    for (path, redact) in [(&args.bundle, true), (&args.bundle_raw, false)] {
        if let Some(path) = path {
            let json = sshdiag_core::report::bundle_json(report, &plan.options, env, redact);
            match std::fs::write(path, json) {
                Ok(()) => notes.push(format!(
                    "{} bundle: {}",
                    if redact { "redacted" } else { "raw" },
                    path.display()
                )),
                Err(e) => eprintln!("sshdiag: cannot write {}: {e}", path.display()),
            }
        }
    }
    notes
}
