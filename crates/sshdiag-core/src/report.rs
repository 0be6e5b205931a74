//! From a finished [`ProbeReport`] to the evidence bundle, the one place both front ends (CLI
//! and browser) make bundles.

use sshdiag_events::bundle::{Bundle, ChainEntry, SessionInfo, ToolInfo};

use crate::ProbeReport;
use crate::options::ProbeOptions;
use crate::runtime::Env;

pub fn bundle(report: &ProbeReport, opts: &ProbeOptions, env: &dyn Env) -> Bundle {
    let info = SessionInfo {
        connection_id: report.connection_id.clone(),
        created_ms: env.now_unix_ms() as u64,
        tool: ToolInfo::sshdiag(env.runtime_name(), env.user_agent()),
        host: opts.host.clone(),
        port: opts.port,
        username: opts.username.clone(),
        proxy: report.proxy.clone(),
        jump: opts
            .jump
            .iter()
            .map(|j| ChainEntry {
                host: j.host.clone(),
                port: j.port,
                username: j.username.clone(),
            })
            .collect(),
    };
    let mut bundle = Bundle::from_session(info, report.events.clone(), report.commands.clone());
    if !opts.ssh_config.is_empty() {
        bundle.ssh_config = Some(opts.ssh_config.clone());
    }
    bundle
}

/// The bundle as JSON, redacted or raw.
pub fn bundle_json(
    report: &ProbeReport,
    opts: &ProbeOptions,
    env: &dyn Env,
    redact: bool,
) -> String {
    bundle(report, opts, env).to_json(redact)
}
