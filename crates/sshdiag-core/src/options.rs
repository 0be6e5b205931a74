//! What a diagnosis is asked to do. Secrets live only in [`Secret`], whose `Debug` prints
//! nothing and which is never serialised: they cannot reach an event, a log or a bundle by
//! accident.

use sshdiag_events::HostKeyPolicy;

use crate::algorithms::AlgorithmPrefs;

/// A password, passphrase, private key text or keyboard-interactive answer.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself; call only where it is handed to the SSH library.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// One way to authenticate, tried in the order given.
#[derive(Debug, Clone)]
pub enum Credential {
    Password(Secret),
    /// A private key in OpenSSH, PEM or PKCS#8 form; `label` (a file name) is for messages.
    /// With `certificate` (an OpenSSH user certificate of this key, `…-cert.pub` text, public
    /// by design), the key is offered with the certificate, as `CertificateFile` does.
    PrivateKey {
        key_text: Secret,
        passphrase: Option<Secret>,
        label: Option<String>,
        certificate: Option<String>,
    },
    /// Answers to keyboard-interactive prompts, in order.
    KeyboardInteractive {
        answers: Vec<Secret>,
    },
    /// The keys of an SSH agent (native only: the CLI connects to `SSH_AUTH_SOCK`).
    Agent(AgentSource),
}

/// The agent connection the caller made, as a plain stream so the core stays runtime-neutral.
pub type AgentConnection = russh::keys::agent::client::AgentClient<
    Box<dyn russh::keys::agent::client::AgentStream + Send + Unpin + 'static>,
>;

/// An SSH agent, or why there is none (reported as `AgentError` before connecting).
#[derive(Clone)]
pub enum AgentSource {
    Connected(std::sync::Arc<tokio::sync::Mutex<AgentConnection>>),
    Unavailable(String),
}

impl std::fmt::Debug for AgentSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentSource::Connected(_) => f.write_str("AgentSource::Connected"),
            AgentSource::Unavailable(why) => write!(f, "AgentSource::Unavailable({why:?})"),
        }
    }
}

/// How to authenticate.
#[derive(Debug, Clone)]
pub enum AuthPlan {
    /// Send only `none` and report which methods the server accepts; no secret needed.
    Probe,
    /// Try these credentials in order (a partial success moves on to the next one).
    Credentials(Vec<Credential>),
}

/// Everything a diagnosis needs.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub auth: AuthPlan,
    pub commands: Vec<String>,
    /// Transport (relay + DNS + TCP) and banner deadline.
    pub connect_timeout_ms: u64,
    /// The whole run; `None` for no limit.
    pub timeout_ms: Option<u64>,
    pub host_key_policy: HostKeyPolicy,
    pub algorithms: AlgorithmPrefs,
    /// Output kept per command and stream in the transcript.
    pub transcript_cap: usize,
    /// Set by the caller to correlate with relay logs; random when `None`.
    pub connection_id: Option<String>,
    /// After the commands, ask the server to open a `direct-tcpip` channel to this host and
    /// port and report whether it connects (can the server reach the database behind it?).
    pub forward_probe: Option<(String, u16)>,
    /// Keepalives while commands run and while holding the session (OpenSSH's
    /// `ServerAliveInterval` / `ServerAliveCountMax`).
    pub keepalive: Option<KeepaliveConfig>,
    /// Stay connected this long after the commands, watching keepalives (0: leave at once).
    pub hold_ms: u64,
    /// Retry transient failures (never authentication or host-key failures).
    pub retry: Option<RetryPolicy>,
    /// The `ssh_config` lines that set a value for this run (the CLI's), for the bundle.
    pub ssh_config: Vec<sshdiag_events::bundle::ConfigLine>,
    /// Jump hosts passed through in order before the target (OpenSSH's `ProxyJump`): the
    /// first is reached by the connector, each further one and the target through a
    /// `direct-tcpip` channel of the one before.
    pub jump: Vec<JumpHost>,
    /// After authentication, check that a person can work on the account: a command runs as
    /// sent, sftp answers, and (with no command) a terminal is allowed. On by default.
    pub session_check: bool,
    /// The deep audit: one extra connection that measures the group a group-exchange server
    /// hands out (see `gex.rs`). Off by default: extra unauthenticated connections are what
    /// PerSourcePenalties and fail2ban count.
    pub deep_audit: bool,
    /// The host key inventory: one extra key exchange per host key type the server offers
    /// (host-key algorithms restricted to that type, disconnecting before authentication),
    /// so every key it has is known and compared with the trusted ones, as ssh-audit does.
    /// Off by default for the same reason as the deep audit.
    pub host_key_inventory: bool,
}

/// One jump host of a chain.
#[derive(Debug, Clone)]
pub struct JumpHost {
    pub host: String,
    pub port: u16,
    pub username: String,
    /// Its own credentials; `None`: the target's.
    pub auth: Option<AuthPlan>,
    /// Its own host key policy (its `StrictHostKeyChecking`); `None`: the target's.
    pub host_key_policy: Option<HostKeyPolicy>,
    /// Its own connect and banner deadline (its `ConnectTimeout`); `None`: the target's.
    pub connect_timeout_ms: Option<u64>,
    /// Its own algorithm preferences (its `KexAlgorithms`, `HostKeyAlgorithms`, `Ciphers`,
    /// `MACs`); `None`: the target's.
    pub algorithms: Option<AlgorithmPrefs>,
}

impl JumpHost {
    /// A jump host that uses the target's credentials and settings.
    pub fn new(host: impl Into<String>, port: u16, username: impl Into<String>) -> JumpHost {
        JumpHost {
            host: host.into(),
            port,
            username: username.into(),
            auth: None,
            host_key_policy: None,
            connect_timeout_ms: None,
            algorithms: None,
        }
    }
}

/// Keepalive settings: a round trip every `interval_ms`; `max_missed` unanswered in a row end
/// the session with `KeepaliveTimeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepaliveConfig {
    pub interval_ms: u64,
    pub max_missed: u32,
}

/// Exponential backoff with jitter: attempt n waits `min(base * 2^(n-1), max)`, scaled by a
/// random factor in [0.5, 1.0] when `jitter` is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay_ms: 1_000,
            max_delay_ms: 30_000,
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `n` (1-based); `unit` in [0, 1) supplies the jitter.
    pub fn delay_ms(&self, n: u32, unit: f64) -> u64 {
        let exp = self
            .base_delay_ms
            .saturating_mul(1u64 << (n.saturating_sub(1)).min(20));
        let capped = exp.min(self.max_delay_ms) as f64;
        let factor = if self.jitter {
            0.5 + 0.5 * unit.clamp(0.0, 1.0)
        } else {
            1.0
        };
        (capped * factor) as u64
    }
}

impl ProbeOptions {
    pub fn new(
        host: impl Into<String>,
        port: u16,
        username: impl Into<String>,
        auth: AuthPlan,
    ) -> Self {
        ProbeOptions {
            host: host.into(),
            port,
            username: username.into(),
            auth,
            commands: Vec::new(),
            connect_timeout_ms: 10_000,
            timeout_ms: Some(120_000),
            host_key_policy: HostKeyPolicy::AcceptNew,
            algorithms: AlgorithmPrefs::default(),
            transcript_cap: 64 * 1024,
            connection_id: None,
            forward_probe: None,
            keepalive: None,
            hold_ms: 0,
            retry: None,
            ssh_config: Vec::new(),
            jump: Vec::new(),
            session_check: true,
            deep_audit: false,
            host_key_inventory: false,
        }
    }
}

/// The version string sshdiag sends.
pub const CLIENT_VERSION: &str = concat!("SSH-2.0-sshdiag_", env!("CARGO_PKG_VERSION"));

/// Why a `HOST:PORT` text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostPortError {
    /// No `:`, no host, or port 0.
    Malformed,
    /// The port is not a number from 1 to 65535.
    BadPort,
}

/// `HOST:PORT`, the host optionally in brackets (`[::1]:22`): the one reading of a forward
/// probe target, for the CLI's flag and the JS API's option alike.
pub fn parse_host_port(spec: &str) -> Result<(String, u16), HostPortError> {
    let (host, port) = spec.rsplit_once(':').ok_or(HostPortError::Malformed)?;
    let port: u16 = port.parse().map_err(|_| HostPortError::BadPort)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || port == 0 {
        return Err(HostPortError::Malformed);
    }
    Ok((host.to_string(), port))
}
