//! The CLI's hook: resolve `ssh_config` for the destination (and for each jump host, as its
//! own destination) and fill in what the flags left open (explicit flags always win), or print
//! the settings for `-G`. It never connects.

use std::path::{Path, PathBuf};

use sshdiag_events::HostKeyPolicy;

use super::{ConfigFiles, Query, Resolved, StrictHostKeyChecking, resolve};
use crate::args::{Args, HopConfig, parse_jump_spec};
use crate::identity::{
    FoundCertificate, check_identity, describe_certificates, find_certificates,
    unmatched_certificates,
};

/// The system-wide file OpenSSH reads after the user's (without `-F`).
const SYSTEM_CONFIG: &str = "/etc/ssh/ssh_config";

/// The `-o` keywords sshdiag understands (the others are refused as before).
const SUPPORTED: &[&str] = &[
    "HostName",
    "User",
    "Port",
    "IdentityFile",
    "CertificateFile",
    "IdentitiesOnly",
    "ProxyJump",
    "UserKnownHostsFile",
    "StrictHostKeyChecking",
    "ConnectTimeout",
    "ServerAliveInterval",
    "ServerAliveCountMax",
    "KexAlgorithms",
    "HostKeyAlgorithms",
    "Ciphers",
    "MACs",
];

/// What the CLI does next.
#[derive(Debug)]
pub enum Outcome {
    /// `-G`: print this and exit 0.
    Print(String),
    /// Go on with the filled-in arguments; `notes` go to stderr (warnings about the
    /// configuration, the certificates found and what in them a server would refuse).
    Run {
        notes: Vec<String>,
        resolved: Box<Resolved>,
        certificates: Vec<FoundCertificate>,
    },
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// The local user name: `$USER`, `$LOGNAME`, else the name of this process's uid.
fn local_user() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(u) = std::env::var(var)
            && !u.is_empty()
        {
            return u;
        }
    }
    let uid = crate::identity::uid();
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into())
}

/// A value as one configuration word, whatever it contains.
fn word(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '#') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The binary's hook: apply the configuration, print `-G` output or notes, and return the
/// exit status when the program should stop here (0 after `-G`, 255 on a bad configuration).
pub fn apply_for_main(args: &mut Args) -> Option<u8> {
    match apply(args) {
        Ok(Outcome::Print(text)) => {
            print!("{text}");
            Some(0)
        }
        Ok(Outcome::Run {
            notes,
            certificates,
            resolved,
        }) => {
            args.certificates = certificates;
            args.ssh_config = resolved
                .applied()
                .into_iter()
                .map(|(keyword, origin)| sshdiag_events::bundle::ConfigLine {
                    keyword: keyword.to_string(),
                    file: origin.file.clone(),
                    line: origin.line as u64,
                })
                .collect();
            for n in notes {
                eprintln!("sshdiag: {n}");
            }
            None
        }
        Err(msg) => {
            eprintln!("sshdiag: {msg}");
            Some(255)
        }
    }
}

/// Resolve the configuration for `args` and apply it under the explicit flags.
pub fn apply(args: &mut Args) -> Result<Outcome, String> {
    let (user_at, host) = args.split_destination();
    let mut command_line = Vec::new();
    if let Some(u) = args.user.clone().or(user_at) {
        command_line.push(format!("User {}", word(&u)));
    }
    if let Some(p) = args.port {
        command_line.push(format!("Port {p}"));
    }
    // Explicit files come first, as OpenSSH puts `-i` before the configuration's keys, so
    // `-G` shows what will be used.
    for key in &args.identity {
        command_line.push(format!("IdentityFile {}", word(&key.display().to_string())));
    }
    if let Some(kh) = &args.known_hosts {
        command_line.push(format!(
            "UserKnownHostsFile {}",
            word(&kh.display().to_string())
        ));
    }
    // `-J` is OpenSSH's `-o ProxyJump=`, ahead of the `-o` options.
    if let Some(j) = &args.jump {
        command_line.push(format!("ProxyJump {}", word(j)));
    }
    for o in &args.options {
        let (name, _) = o
            .split_once('=')
            .or_else(|| o.split_once(' '))
            .ok_or_else(|| format!("-o {o}: expected Name=Value"))?;
        if !SUPPORTED
            .iter()
            .any(|s| s.eq_ignore_ascii_case(name.trim()))
        {
            return Err(format!(
                "-o {o}: unsupported option {name} (supported: {})",
                SUPPORTED.join(", ")
            ));
        }
        command_line.push(o.clone());
    }
    let query = Query {
        host,
        local_user: local_user(),
        home: home_dir(),
    };
    let files = ConfigFiles::from_flag(args.config_file.as_deref());
    let resolved = resolve(query, &command_line, &files, Path::new(SYSTEM_CONFIG))
        .map_err(|e| e.to_string())?;
    if args.print_config {
        let lines = resolved.ssh_g_lines().map_err(|e| e.to_string())?;
        return Ok(Outcome::Print(lines.join("\n") + "\n"));
    }
    let mut notes = resolved.warnings.clone();
    let mut shared = hop_command_line(&command_line);
    // The flag holds for every server, as `-o StrictHostKeyChecking=` does.
    if let Some(policy) = &args.strict_host_key_checking {
        shared.push(format!("StrictHostKeyChecking {}", word(policy)));
    }
    fill(args, &resolved, &mut notes)?;
    if let Some(spec) = &args.jump {
        args.jump_hops = Some(resolve_hops(spec, &shared, &files, &mut notes)?);
    }
    for key in &args.identity {
        notes.extend(check_identity(key, args.passphrase_env.as_deref())?);
    }
    let explicit: Vec<PathBuf> = resolved
        .settings
        .certificate_files
        .iter()
        .map(|c| resolved.expand_path(&c.value))
        .collect();
    let certificates = find_certificates(&explicit, &args.identity)?;
    notes.extend(unmatched_certificates(
        &certificates,
        &args.identity,
        args.passphrase_env.as_deref(),
    ));
    if !args.quiet {
        let user = args.user.clone().unwrap_or_else(|| resolved.user());
        notes.extend(describe_certificates(&certificates, &user));
    }
    Ok(Outcome::Run {
        notes,
        resolved: Box::new(resolved),
        certificates,
    })
}

/// The keywords of the command line that hold for every server of a chain (the target's
/// `-o` and `--known-hosts`): its algorithms, host key checking and connect timeout. The
/// destination's own (User, Port, HostName, IdentityFile, ProxyJump…) are never a hop's.
const SHARED_WITH_HOPS: &[&str] = &[
    "KexAlgorithms",
    "HostKeyAlgorithms",
    "Ciphers",
    "MACs",
    "ConnectTimeout",
    "StrictHostKeyChecking",
    "UserKnownHostsFile",
];

/// The target's command-line lines a jump host is resolved with too (they win over its
/// `Host` blocks, as they win over the target's).
fn hop_command_line(command_line: &[String]) -> Vec<String> {
    command_line
        .iter()
        .filter(|line| {
            let name = line.split(['=', ' ']).next().unwrap_or_default().trim();
            SHARED_WITH_HOPS
                .iter()
                .any(|k| k.eq_ignore_ascii_case(name))
        })
        .cloned()
        .collect()
}

/// Each jump host resolved as its own destination, as OpenSSH's `ssh` for that hop does: the
/// `ProxyJump` element's user and port win, then the command line's shared settings, then its
/// `Host` blocks: User, Port, HostName, IdentityFile and CertificateFile, UserKnownHostsFile,
/// StrictHostKeyChecking, ConnectTimeout and the algorithm lists; without a user anywhere, the
/// local user (not the target's).
fn resolve_hops(
    spec: &str,
    shared: &[String],
    files: &ConfigFiles,
    warnings: &mut Vec<String>,
) -> Result<Vec<HopConfig>, String> {
    let mut hops = Vec::new();
    for j in parse_jump_spec(spec)? {
        let mut command_line = Vec::new();
        if let Some(u) = &j.user {
            command_line.push(format!("User {}", word(u)));
        }
        if let Some(p) = j.port {
            command_line.push(format!("Port {p}"));
        }
        command_line.extend(shared.iter().cloned());
        let query = Query {
            host: j.host.clone(),
            local_user: local_user(),
            home: home_dir(),
        };
        let r = resolve(query, &command_line, files, Path::new(SYSTEM_CONFIG))
            .map_err(|e| format!("jump host {}: {e}", j.host))?;
        r.algorithm_lists()
            .map_err(|e| format!("jump host {}: {e}", j.host))?;
        let mut identity = Vec::new();
        for f in &r.settings.identity_files {
            let path = r.expand_path(&f.value);
            if path.exists() {
                identity.push(path);
            } else {
                warnings.push(format!(
                    "{}: IdentityFile {} (jump host {}): no such file, skipped",
                    f.origin,
                    path.display(),
                    j.host
                ));
            }
        }
        let explicit: Vec<PathBuf> = (r.settings.certificate_files.iter())
            .map(|c| r.expand_path(&c.value))
            .collect();
        let certificates = find_certificates(&explicit, &identity)
            .map_err(|e| format!("jump host {}: {e}", j.host))?;
        let s = &r.settings;
        hops.push(HopConfig {
            host: r.hostname(),
            port: r.port(),
            user: r.user(),
            identity,
            certificates,
            host_key_policy: s.strict_host_key_checking.as_ref().map(|v| policy(v.value)),
            connect_timeout_ms: (s.connect_timeout.as_ref())
                .and_then(|v| v.value)
                .map(|secs| secs.saturating_mul(1000)),
            algorithms: r.algorithm_prefs(),
            known_hosts: (s.user_known_hosts_files.is_some())
                .then(|| r.user_known_hosts_files().into_iter().next())
                .flatten(),
        });
    }
    Ok(hops)
}

/// Fill the arguments the user left open from the resolved settings.
fn fill(args: &mut Args, r: &Resolved, warnings: &mut Vec<String>) -> Result<(), String> {
    let s = &r.settings;
    // The jump hosts as resolved (`-J` was read first, so it wins); `none` means none.
    args.jump = r.proxy_jump().map(str::to_string);
    r.algorithm_lists().map_err(|e| e.to_string())?;
    args.destination = r.hostname();
    if s.user.is_some() {
        args.user = Some(r.user());
    }
    if s.port.is_some() {
        args.port = Some(r.port());
    }
    if args.identity.is_empty() {
        for f in &s.identity_files {
            let path = r.expand_path(&f.value);
            if path.exists() {
                args.identity.push(path);
            } else {
                warnings.push(format!(
                    "{}: IdentityFile {}: no such file, skipped",
                    f.origin,
                    path.display()
                ));
            }
        }
    }
    // The options the argument parser applies, rebuilt from the resolved values (the
    // command line's `-o` were read first, so they are what resolved).
    let mut options = Vec::new();
    for (name, v) in [
        ("KexAlgorithms", &s.kex_algorithms),
        ("HostKeyAlgorithms", &s.host_key_algorithms),
        ("Ciphers", &s.ciphers),
        ("MACs", &s.macs),
    ] {
        if let Some(v) = v {
            options.push(format!("{name}={}", v.value));
        }
    }
    if let Some(Some(t)) = s.connect_timeout.as_ref().map(|v| v.value) {
        options.push(format!("ConnectTimeout={t}"));
    }
    if let Some(v) = &s.server_alive_interval {
        options.push(format!("ServerAliveInterval={}", v.value));
    }
    if let Some(v) = &s.server_alive_count_max {
        options.push(format!("ServerAliveCountMax={}", v.value));
    }
    args.options = options;
    if args.strict_host_key_checking.is_none()
        && let Some(v) = &s.strict_host_key_checking
    {
        let policy = match policy(v.value) {
            HostKeyPolicy::Yes => "yes",
            HostKeyPolicy::AcceptNew => "accept-new",
            HostKeyPolicy::No => "no",
        };
        args.strict_host_key_checking = Some(policy.into());
    }
    if args.known_hosts.is_none() && s.user_known_hosts_files.is_some() {
        args.known_hosts = r.user_known_hosts_files().into_iter().next();
    }
    Ok(())
}

/// `StrictHostKeyChecking` as the probe's policy: sshdiag never prompts, so `ask` refuses an
/// unknown host as `yes` does.
fn policy(value: StrictHostKeyChecking) -> HostKeyPolicy {
    match value {
        StrictHostKeyChecking::Yes | StrictHostKeyChecking::Ask => HostKeyPolicy::Yes,
        StrictHostKeyChecking::AcceptNew => HostKeyPolicy::AcceptNew,
        StrictHostKeyChecking::No => HostKeyPolicy::No,
    }
}
