//! `sshdiag [OPTIONS] [USER@]HOST [COMMAND...]` — see `shared/spec/cli.md`.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use sshdiag_cli::args::Args;
use sshdiag_cli::native::{NativeEnv, TcpConnector, WsRelayConnector};
use sshdiag_cli::trust::FileTrustStore;
use sshdiag_core::ProbeReport;

/// The status `ssh` uses for its own failures.
const FAILED: u8 = 255;

fn main() -> ExitCode {
    sshdiag_cli::logging::init();
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            let text = e.to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            eprintln!("sshdiag: {first} (see sshdiag --help)");
            return ExitCode::from(FAILED);
        }
    };
    let plan = match args.plan(|| {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| format!("--password-stdin: {e}"))?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("sshdiag: {msg}");
            return ExitCode::from(FAILED);
        }
    };
    let mut events_file = match &args.events_file {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("sshdiag: --events-file {}: {e}", path.display());
                return ExitCode::from(FAILED);
            }
        },
        None => None,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sshdiag: cannot start the async runtime: {e}");
            return ExitCode::from(FAILED);
        }
    };
    let stream_events = args.events;
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
    let env = NativeEnv::shared();
    let mut options = plan.options.clone();
    let report: ProbeReport = runtime.block_on(async {
        if plan.agent
            && let sshdiag_core::AuthPlan::Credentials(creds) = &mut options.auth
        {
            creds.push(sshdiag_cli::native::agent_credential().await);
        }
        match &plan.proxy {
            Some(url) => {
                let mut c = WsRelayConnector {
                    url: url.clone(),
                    token: plan.token.clone(),
                };
                sshdiag_core::run(options, &mut c, env.clone(), &mut trust, on_event).await
            }
            None => {
                sshdiag_core::run(
                    options,
                    &mut TcpConnector,
                    env.clone(),
                    &mut trust,
                    on_event,
                )
                .await
            }
        }
    });
    let mut notes = Vec::new();
    for (path, redact) in [(&args.bundle, true), (&args.bundle_raw, false)] {
        if let Some(path) = path {
            let json =
                sshdiag_core::report::bundle_json(&report, &plan.options, env.as_ref(), redact);
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
    // The command's output goes where ssh would put it.
    for c in &report.commands {
        let _ = std::io::stdout().write_all(&c.stdout);
        let _ = std::io::stderr().write_all(&c.stderr);
    }
    if !args.quiet {
        eprintln!("{}", sshdiag_cli::summary::human_summary(&report, &notes));
    }
    let v = &report.verdict;
    if !v.ok {
        return ExitCode::from(FAILED);
    }
    match report.last_exit_code() {
        Some(c) => ExitCode::from(c.clamp(0, 255) as u8),
        None if !plan.options.commands.is_empty() => ExitCode::from(FAILED),
        None => ExitCode::SUCCESS,
    }
}
