//! Command-line arguments, as `shared/spec/cli.md` fixes them: OpenSSH's flags where OpenSSH
//! has one. Parsing turns them into [`ProbeOptions`] and a transport choice; every bad input
//! (unknown option, unreadable key file, malformed `-o`) is one clear line, before any
//! connection is made.

use clap::Parser;
use sshdiag_core::algorithms::AlgorithmPrefs;
use sshdiag_core::options::{HostPortError, KeepaliveConfig, RetryPolicy, parse_host_port};
use sshdiag_core::{AuthPlan, Credential, JumpHost, ProbeOptions, Secret};
use sshdiag_events::HostKeyPolicy;

#[derive(Debug, Parser)]
#[command(
    name = "sshdiag",
    version,
    about = "Diagnose an SSH connection: every step as an event, a verdict, an evidence bundle.",
    after_help = "Exit status: the remote command's status when it ran; 255 when sshdiag failed; \
                  with no command, 0 when authentication and the session check succeeded. Read a bundle: \
                  sshdiag bundle show|verify FILE."
)]
pub struct Args {
    /// [USER@]HOST
    pub destination: String,
    /// Command to run (joined with spaces, as ssh does).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
    #[arg(short = 'p', long = "port")]
    pub port: Option<u16>,
    #[arg(short = 'l', long = "user")]
    pub user: Option<String>,
    /// Private key file (OpenSSH, PEM, PKCS#8; encrypted ones too).
    #[arg(short = 'i', long = "identity")]
    pub identity: Vec<std::path::PathBuf>,
    /// The user certificates found for the keys (`CertificateFile`, `KEY-cert.pub`), filled in
    /// from the configuration, not a flag.
    #[arg(skip)]
    pub certificates: Vec<crate::identity::FoundCertificate>,
    /// The configuration lines that set a value (keyword, file, line), for the bundle; filled
    /// in from the configuration, not a flag.
    #[arg(skip)]
    pub ssh_config: Vec<sshdiag_events::bundle::ConfigLine>,
    /// The jump hosts as ssh_config resolves each as its own destination (its `Host`
    /// block's HostName, Port, User, IdentityFile), as OpenSSH's per-hop `ssh` does; filled
    /// in from the configuration. `None`: `-J` is read as written.
    #[arg(skip)]
    pub jump_hops: Option<Vec<HopConfig>>,
    /// Environment variable holding the key's passphrase.
    #[arg(long = "passphrase-env", value_name = "VAR")]
    pub passphrase_env: Option<String>,
    /// Environment variable holding the password.
    #[arg(long = "password-env", value_name = "VAR")]
    pub password_env: Option<String>,
    /// Read the password from standard input (first line).
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// Answer keyboard-interactive prompts with the password.
    #[arg(long = "keyboard-interactive")]
    pub keyboard_interactive: bool,
    /// Send `none` auth only and report which methods the server accepts.
    #[arg(long = "probe-auth")]
    pub probe_auth: bool,
    /// Go through an sshdiag relay (ws:// or wss://) instead of direct TCP.
    #[arg(long = "proxy", value_name = "URL")]
    pub proxy: Option<String>,
    /// Environment variable holding the relay token.
    #[arg(long = "token-env", value_name = "VAR")]
    pub token_env: Option<String>,
    /// Stream JSONL events to stderr as they happen.
    #[arg(long = "events")]
    pub events: bool,
    /// Stream JSONL events to this file.
    #[arg(long = "events-file", value_name = "PATH")]
    pub events_file: Option<std::path::PathBuf>,
    /// Write the evidence bundle, redacted.
    #[arg(long = "bundle", value_name = "PATH")]
    pub bundle: Option<std::path::PathBuf>,
    /// Write the evidence bundle unredacted (secrets are still never included).
    #[arg(long = "bundle-raw", value_name = "PATH")]
    pub bundle_raw: Option<std::path::PathBuf>,
    /// Trusted host keys, OpenSSH format (default ~/.ssh/known_hosts).
    #[arg(long = "known-hosts", value_name = "FILE")]
    pub known_hosts: Option<std::path::PathBuf>,
    /// yes | accept-new | no (default accept-new, or the ssh_config value)
    #[arg(long = "strict-host-key-checking", value_name = "POLICY")]
    pub strict_host_key_checking: Option<String>,
    /// ssh_config file (default ~/.ssh/config then /etc/ssh/ssh_config; `none` for none).
    #[arg(short = 'F', value_name = "FILE")]
    pub config_file: Option<String>,
    /// Print the effective settings for the destination, as `ssh -G`, and exit.
    #[arg(short = 'G')]
    pub print_config: bool,
    /// Jump hosts passed through in order, as OpenSSH's `-J` (`-o ProxyJump=`): each is
    /// diagnosed like the target, resolved through ssh_config as its own destination.
    #[arg(short = 'J', value_name = "[USER@]HOST[:PORT][,...]")]
    pub jump: Option<String>,
    /// OpenSSH-style option Name=Value (KexAlgorithms, HostKeyAlgorithms, Ciphers, MACs,
    /// ConnectTimeout, ServerAliveInterval, ServerAliveCountMax).
    #[arg(short = 'o', value_name = "Name=Value")]
    pub options: Vec<String>,
    #[arg(long = "connect-timeout", value_name = "SECS")]
    pub connect_timeout: Option<f64>,
    /// Time limit for the whole run.
    #[arg(long = "timeout", value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Open a direct-tcpip channel from the server to HOST:PORT and report whether it connects.
    #[arg(long = "probe-forward", value_name = "HOST:PORT")]
    pub probe_forward: Option<String>,
    /// Skip the session check after authentication (a command run as sent, sftp, a
    /// terminal): one session channel at a time, on by default.
    #[arg(long = "no-session-check")]
    pub no_session_check: bool,
    /// Deep audit: one extra connection that measures the Diffie-Hellman group a
    /// group-exchange server hands out (graded by its size, not its name). Off by default:
    /// extra unauthenticated connections count against you with PerSourcePenalties/fail2ban.
    #[arg(long = "deep-audit")]
    pub deep_audit: bool,
    /// Host key inventory: one extra key exchange per host key type the server offers (each
    /// ended before authentication), listing every key it has beside the known_hosts lines.
    /// Off by default: extra unauthenticated connections count with PerSourcePenalties/fail2ban.
    #[arg(long = "host-key-inventory")]
    pub host_key_inventory: bool,
    /// Stay connected this many seconds after the commands, with keepalives (an addition to
    /// the spec: watch a flaky path; keepalives every ServerAliveInterval, default 15 s).
    #[arg(long = "hold", value_name = "SECS")]
    pub hold: Option<f64>,
    /// Retry transient failures with backoff.
    #[arg(long = "retries", value_name = "N", default_value_t = 0)]
    pub retries: u32,
    /// No human summary.
    #[arg(short = 'q')]
    pub quiet: bool,
}

/// What the CLI will do, with secrets already read.
#[derive(Debug)]
pub struct Plan {
    pub options: ProbeOptions,
    pub proxy: Option<String>,
    pub token: Option<String>,
    pub known_hosts: Option<std::path::PathBuf>,
    /// Jump hosts whose ssh_config names a `known_hosts` file of their own: host, port, file.
    pub hop_known_hosts: Vec<(String, u16, std::path::PathBuf)>,
    /// No credential was given but `SSH_AUTH_SOCK` is set: authenticate with the agent.
    pub agent: bool,
}

fn env_secret(var: &str, what: &str) -> Result<Secret, String> {
    match std::env::var(var) {
        Ok(v) => Ok(Secret::new(v)),
        Err(_) => Err(format!("{what}: environment variable {var} is not set")),
    }
}

fn secs_to_ms(s: f64, what: &str) -> Result<u64, String> {
    if s.is_finite() && s > 0.0 && s < 86_400.0 {
        Ok((s * 1000.0) as u64)
    } else {
        Err(format!(
            "{what}: expected a number of seconds between 0 and 86400, got {s}"
        ))
    }
}

/// What the `-o Name=Value` options ask for.
struct SshOptions {
    algorithms: AlgorithmPrefs,
    connect_timeout_ms: u64,
    /// ServerAliveInterval in seconds, when given.
    alive_interval: Option<u32>,
    alive_count: u32,
}

/// One jump host as ssh_config resolved it for itself (the command line's settings first,
/// then its own `Host` blocks); each setting it leaves open is the target's.
#[derive(Debug, Clone)]
pub struct HopConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Its own `IdentityFile`s (existing files only); empty: the target's credentials.
    pub identity: Vec<std::path::PathBuf>,
    /// The certificates found for its keys (its `CertificateFile`s, then `KEY-cert.pub`).
    pub certificates: Vec<crate::identity::FoundCertificate>,
    /// Its `StrictHostKeyChecking`.
    pub host_key_policy: Option<HostKeyPolicy>,
    /// Its `ConnectTimeout`, in milliseconds.
    pub connect_timeout_ms: Option<u64>,
    /// Its `KexAlgorithms`, `HostKeyAlgorithms`, `Ciphers` and `MACs`; each one it leaves
    /// unset is the target's.
    pub algorithms: AlgorithmPrefs,
    /// Its `UserKnownHostsFile`, when its own and not the target's.
    pub known_hosts: Option<std::path::PathBuf>,
}

/// One element of a `ProxyJump` list as written: what it says, and what it leaves open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpSpec {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// OpenSSH's `ProxyJump` list, `[USER@]HOST[:PORT][,...]`: a jump host without a user logs
/// in as `user` (the target's login), and without a port uses 22. (With ssh_config applied,
/// each hop is resolved as its own destination instead: see [`HopConfig`].)
pub fn parse_jump(spec: &str, user: &str) -> Result<Vec<JumpHost>, String> {
    Ok(parse_jump_spec(spec)?
        .into_iter()
        .map(|j| {
            let username = j.user.unwrap_or_else(|| user.to_string());
            JumpHost::new(j.host, j.port.unwrap_or(22), username)
        })
        .collect())
}

/// A `ProxyJump` list as written, element by element; a malformed element is one line.
pub fn parse_jump_spec(spec: &str) -> Result<Vec<JumpSpec>, String> {
    let mut hops = Vec::new();
    for part in spec.split(',') {
        let part = part.trim().trim_start_matches("ssh://");
        let bad = |why: &str| format!("-J {spec}: {part:?}: {why}");
        let (user_at, hostport) = match part.rsplit_once('@') {
            Some((u, h)) if !u.is_empty() => (Some(u.to_string()), h),
            Some(_) => return Err(bad("the user before @ is empty")),
            None => (None, part),
        };
        let bracketed = hostport.starts_with('[');
        let has_port = if bracketed {
            hostport.contains("]:")
        } else {
            hostport.matches(':').count() == 1
        };
        let (host, port) = if has_port {
            let (h, p) = parse_host_port(hostport).map_err(|e| match e {
                HostPortError::Malformed => bad("expected [USER@]HOST[:PORT]"),
                HostPortError::BadPort => bad("the port must be 1-65535"),
            })?;
            (h, Some(p))
        } else {
            let h = hostport.trim_start_matches('[').trim_end_matches(']');
            (h.to_string(), None)
        };
        if host.is_empty() || host.starts_with('-') || host.contains(char::is_whitespace) {
            return Err(bad("expected [USER@]HOST[:PORT]"));
        }
        hops.push(JumpSpec {
            user: user_at,
            host,
            port,
        });
    }
    Ok(hops)
}

impl Args {
    /// The certificate OpenSSH would offer with this key: the one that certifies it, else
    /// (when the key's public half cannot be read) its `KEY-cert.pub`.
    fn certificate_for(&self, key: &std::path::Path) -> Result<Option<String>, String> {
        self.certificate_among(&self.certificates, key)
    }

    /// [`Args::certificate_for`] among `certificates` (a jump host's own).
    fn certificate_among(
        &self,
        certificates: &[crate::identity::FoundCertificate],
        key: &std::path::Path,
    ) -> Result<Option<String>, String> {
        use crate::identity::key_fingerprint;
        let fp = key_fingerprint(key, self.passphrase_env.as_deref());
        let implicit = std::path::PathBuf::from(format!("{}-cert.pub", key.display()));
        let found = certificates.iter().find(|c| match &fp {
            Some(fp) => &c.facts.key_fingerprint == fp,
            None => c.path == implicit,
        });
        found
            .map(|c| {
                std::fs::read_to_string(&c.path)
                    .map_err(|e| format!("certificate {}: {e}", c.path.display()))
            })
            .transpose()
    }

    /// A jump host resolved by ssh_config: with `IdentityFile`s of its own, it is offered
    /// those keys, then the target's other credentials (password, keyboard-interactive);
    /// without, the target's credentials, as before.
    fn hop(
        &self,
        h: &HopConfig,
        target: &AuthPlan,
        target_algorithms: &AlgorithmPrefs,
    ) -> Result<JumpHost, String> {
        let auth = match target {
            AuthPlan::Credentials(creds) if !h.identity.is_empty() => {
                let passphrase = match &self.passphrase_env {
                    Some(var) => Some(env_secret(var, "--passphrase-env")?),
                    None => None,
                };
                let mut own = Vec::new();
                for path in &h.identity {
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        format!(
                            "IdentityFile {} of jump host {}: cannot read the key file: {e}",
                            path.display(),
                            h.host
                        )
                    })?;
                    own.push(Credential::PrivateKey {
                        key_text: Secret::new(text),
                        passphrase: passphrase.clone(),
                        label: Some(path.display().to_string()),
                        certificate: self.certificate_among(&h.certificates, path)?,
                    });
                }
                own.extend(
                    creds
                        .iter()
                        .filter(|c| !matches!(c, Credential::PrivateKey { .. }))
                        .cloned(),
                );
                Some(AuthPlan::Credentials(own))
            }
            _ => None,
        };
        let mut algorithms = target_algorithms.clone();
        for (mine, theirs) in [
            (&mut algorithms.kex, &h.algorithms.kex),
            (&mut algorithms.host_key, &h.algorithms.host_key),
            (&mut algorithms.ciphers, &h.algorithms.ciphers),
            (&mut algorithms.macs, &h.algorithms.macs),
        ] {
            if theirs.is_some() {
                mine.clone_from(theirs);
            }
        }
        Ok(JumpHost {
            auth,
            host_key_policy: h.host_key_policy,
            connect_timeout_ms: h.connect_timeout_ms,
            algorithms: (algorithms != *target_algorithms).then_some(algorithms),
            ..JumpHost::new(h.host.clone(), h.port, h.user.clone())
        })
    }

    /// Turn arguments into a plan; `read_stdin` supplies `--password-stdin`. Inputs are
    /// checked in a fixed order, so that the first bad one is the one reported.
    pub fn plan(
        &self,
        read_stdin: impl FnOnce() -> Result<String, String>,
    ) -> Result<Plan, String> {
        let (host, user) = self.destination()?;
        let mut ssh = self.ssh_options()?;
        if let Some(s) = self.connect_timeout {
            ssh.connect_timeout_ms = secs_to_ms(s, "--connect-timeout")?;
        }
        let policy = self.host_key_policy()?;
        let auth = self.auth(read_stdin)?;
        if let Some(p) = &self.proxy
            && !(p.starts_with("ws://") || p.starts_with("wss://"))
        {
            return Err(format!("--proxy {p}: expected a ws:// or wss:// URL"));
        }
        let forward_probe = match &self.probe_forward {
            Some(spec) => Some(parse_host_port(spec).map_err(|e| match e {
                HostPortError::Malformed => format!("--probe-forward {spec}: expected HOST:PORT"),
                HostPortError::BadPort => {
                    format!("--probe-forward {spec}: the port must be 1-65535")
                }
            })?),
            None => None,
        };
        let token = match &self.token_env {
            Some(var) => Some(env_secret(var, "--token-env")?.expose().to_string()),
            None => None,
        };
        let mut options = ProbeOptions::new(host, self.port.unwrap_or(22), user, auth);
        options.commands = if self.command.is_empty() {
            Vec::new()
        } else {
            vec![self.command.join(" ")]
        };
        options.connect_timeout_ms = ssh.connect_timeout_ms;
        options.timeout_ms = match self.timeout {
            Some(s) => Some(secs_to_ms(s, "--timeout")?),
            None => Some(300_000),
        };
        options.host_key_policy = policy;
        options.forward_probe = forward_probe;
        options.session_check = !self.no_session_check;
        options.deep_audit = self.deep_audit;
        options.host_key_inventory = self.host_key_inventory;
        options.ssh_config = self.ssh_config.clone();
        // ServerAliveInterval 0 means off, as in OpenSSH.
        options.keepalive = ssh
            .alive_interval
            .filter(|s| *s > 0)
            .map(|s| KeepaliveConfig {
                interval_ms: s as u64 * 1000,
                max_missed: ssh.alive_count.max(1),
            });
        if self.retries > 0 {
            options.retry = Some(RetryPolicy {
                max_retries: self.retries,
                ..RetryPolicy::default()
            });
        }
        if let Some(h) = self.hold {
            options.hold_ms = secs_to_ms(h, "--hold")?;
            options.timeout_ms = options.timeout_ms.map(|t| t + options.hold_ms);
        }
        options.algorithms = ssh.algorithms;
        if let Some(hops) = &self.jump_hops {
            options.jump = hops
                .iter()
                .map(|h| self.hop(h, &options.auth, &options.algorithms))
                .collect::<Result<_, _>>()?;
        } else if let Some(spec) = &self.jump {
            options.jump = parse_jump(spec, &options.username)?;
        }
        let known_hosts = match &self.known_hosts {
            Some(p) => Some(p.clone()),
            None => {
                std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".ssh/known_hosts"))
            }
        };
        let agent = matches!(&options.auth, AuthPlan::Credentials(c) if c.is_empty());
        let hop_known_hosts = (self.jump_hops.iter().flatten())
            .filter_map(|h| Some((h.host.clone(), h.port, h.known_hosts.clone()?)))
            .filter(|(_, _, path)| Some(path) != known_hosts.as_ref())
            .collect();
        Ok(Plan {
            options,
            proxy: self.proxy.clone(),
            token,
            known_hosts,
            hop_known_hosts,
            agent,
        })
    }

    /// The destination `[USER@]HOST` split into the user it names, if any, and the host
    /// (an IPv6 address without its brackets).
    pub fn split_destination(&self) -> (Option<String>, String) {
        let (user_at, host) = match self.destination.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, self.destination.as_str()),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        (user_at, host.to_string())
    }

    /// `[USER@]HOST`, with `-l` and then `$USER` for the user.
    fn destination(&self) -> Result<(String, String), String> {
        let (user_at, host) = self.split_destination();
        if host.is_empty() {
            return Err("no host given: usage sshdiag [USER@]HOST [COMMAND...]".into());
        }
        let user = self
            .user
            .clone()
            .or(user_at)
            .or_else(|| std::env::var("USER").ok())
            .ok_or("no user given: use USER@HOST or -l USER")?;
        Ok((host, user))
    }

    fn ssh_options(&self) -> Result<SshOptions, String> {
        let mut ssh = SshOptions {
            algorithms: AlgorithmPrefs::default(),
            connect_timeout_ms: 10_000,
            alive_interval: None,
            alive_count: 3,
        };
        for o in &self.options {
            let (name, value) = o
                .split_once('=')
                .or_else(|| o.split_once(' '))
                .ok_or_else(|| format!("-o {o}: expected Name=Value"))?;
            match name.to_ascii_lowercase().as_str() {
                "kexalgorithms" => ssh.algorithms.kex = Some(value.to_string()),
                "hostkeyalgorithms" => ssh.algorithms.host_key = Some(value.to_string()),
                "ciphers" => ssh.algorithms.ciphers = Some(value.to_string()),
                "macs" => ssh.algorithms.macs = Some(value.to_string()),
                "connecttimeout" => {
                    let v: f64 = value
                        .parse()
                        .map_err(|_| format!("-o {o}: ConnectTimeout takes seconds"))?;
                    ssh.connect_timeout_ms = secs_to_ms(v, "ConnectTimeout")?;
                }
                "serveraliveinterval" => {
                    ssh.alive_interval = Some(
                        value
                            .parse::<u32>()
                            .map_err(|_| format!("-o {o}: expected a whole number of seconds"))?,
                    );
                }
                "serveralivecountmax" => {
                    ssh.alive_count = value
                        .parse::<u32>()
                        .map_err(|_| format!("-o {o}: expected a whole number"))?;
                }
                "stricthostkeychecking" => {}
                _ => {
                    return Err(format!(
                        "-o {o}: unsupported option {name} (supported: KexAlgorithms, HostKeyAlgorithms, Ciphers, MACs, ConnectTimeout, ServerAliveInterval, ServerAliveCountMax)"
                    ));
                }
            }
        }
        ssh.algorithms.resolve()?;
        Ok(ssh)
    }

    fn host_key_policy(&self) -> Result<HostKeyPolicy, String> {
        let policy = self
            .strict_host_key_checking
            .as_deref()
            .unwrap_or("accept-new");
        match policy.to_ascii_lowercase().as_str() {
            "yes" => Ok(HostKeyPolicy::Yes),
            "accept-new" => Ok(HostKeyPolicy::AcceptNew),
            "no" | "off" => Ok(HostKeyPolicy::No),
            other => Err(format!(
                "--strict-host-key-checking {other}: expected yes, accept-new or no"
            )),
        }
    }

    /// The credentials, secrets read from the environment or standard input.
    fn auth(
        &self,
        read_stdin: impl FnOnce() -> Result<String, String>,
    ) -> Result<AuthPlan, String> {
        let password = match (&self.password_env, self.password_stdin) {
            (Some(_), true) => {
                return Err("use either --password-env or --password-stdin, not both".into());
            }
            (Some(var), false) => Some(env_secret(var, "--password-env")?),
            (None, true) => Some(Secret::new(read_stdin()?)),
            (None, false) => None,
        };
        let passphrase = match &self.passphrase_env {
            Some(var) => Some(env_secret(var, "--passphrase-env")?),
            None => None,
        };
        if self.probe_auth {
            return Ok(AuthPlan::Probe);
        }
        let mut creds = Vec::new();
        for path in &self.identity {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("-i {}: cannot read the key file: {e}", path.display()))?;
            creds.push(Credential::PrivateKey {
                key_text: Secret::new(text),
                passphrase: passphrase.clone(),
                label: Some(path.display().to_string()),
                certificate: self.certificate_for(path)?,
            });
        }
        if let Some(pw) = &password {
            if self.keyboard_interactive {
                creds.push(Credential::KeyboardInteractive {
                    answers: vec![pw.clone()],
                });
            } else {
                creds.push(Credential::Password(pw.clone()));
            }
        } else if self.keyboard_interactive {
            return Err(
                "--keyboard-interactive needs a password (--password-env or --password-stdin)"
                    .into(),
            );
        }
        // As OpenSSH: with no key or password given, the agent's keys are used; the caller
        // connects to it (see `Plan::agent`).
        if creds.is_empty() && std::env::var_os("SSH_AUTH_SOCK").is_none() {
            return Err("no credential: give -i KEY, --password-env VAR, --password-stdin, use an SSH agent (SSH_AUTH_SOCK), or use --probe-auth".into());
        }
        Ok(AuthPlan::Credentials(creds))
    }
}
