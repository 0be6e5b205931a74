//! The relay's configuration: exactly the command line of `shared/spec/proxy.md`, plus a few
//! hidden knobs tests need (handshake deadline, frame size, drain deadline).
//!
//! `Config` is a plain `clap` derive so the binary and the tests build it the same way:
//! `Config::parse_from(["sshdiag-proxy", "--listen", "127.0.0.1:0", "--allow", "*:22"])`.
//! Parsing only checks syntax; [`crate::start`] turns it into a running relay and is where
//! semantic errors (a bad `--allow` pattern, an unreadable secret file) are reported.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// One JSON object per line (the default; what log pipelines want).
    #[default]
    Json,
    /// One human-readable line per event.
    Text,
}

/// Command line of `sshdiag-proxy`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "sshdiag-proxy",
    version,
    about = "sshdiag's relay: one WebSocket in, one TCP connection out. Deny by default.",
    long_about = None
)]
pub struct Config {
    /// Address to listen on for HTTP and WebSocket (`/ws`). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8022")]
    pub listen: SocketAddr,

    /// Directory served at `/` (the page). Default: the workspace's `web/`, when it exists.
    #[arg(long, value_name = "DIR")]
    pub web_root: Option<PathBuf>,

    /// Allowed target: `host:port`, `*.example.com:22`, `203.0.113.0/24:22`,
    /// `[2001:db8::/32]:22`, `*:22`. Repeatable. Without any, every target is denied.
    #[arg(long = "allow", value_name = "PATTERN")]
    pub allow: Vec<String>,

    /// Let host-name patterns reach loopback, private, link-local and other internal addresses.
    #[arg(long)]
    pub allow_private: bool,

    /// File holding the shared secret for HS256 JWT tokens; when set, every connect must
    /// carry a valid token (see docs/tokens.md).
    #[arg(long, value_name = "FILE")]
    pub token_secret_file: Option<PathBuf>,

    /// Ed25519 public key (PEM) verifying EdDSA JWT tokens; when set, every connect must carry
    /// a valid token. The relay then holds no signing secret.
    #[arg(long, value_name = "FILE")]
    pub token_public_key: Option<PathBuf>,

    /// Allowed `Origin` values for the WebSocket upgrade (e.g. `https://support.example.com`).
    /// Repeatable. Default: same origin as the request's `Host`.
    #[arg(long = "origin", value_name = "ORIGIN")]
    pub origin: Vec<String>,

    /// Maximum number of simultaneous relayed WebSockets.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,

    /// Maximum number of simultaneous relayed WebSockets from one client IP.
    #[arg(long, default_value_t = 32)]
    pub max_per_ip: usize,

    /// TCP connect timeout per target address.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Deadline for a client's HTTP request headers (the WebSocket upgrade included), from the
    /// moment the relay waits for them; a silent or trickling socket is closed then.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,

    /// Maximum number of sockets that have not yet completed the WebSocket upgrade and the
    /// connect frame (plain HTTP requests included); more are answered 503 and closed.
    #[arg(long, default_value_t = 512)]
    pub max_pending: usize,

    /// The same as `--max-pending`, from one client IP (IPv6: one /64).
    #[arg(long, default_value_t = 64)]
    pub max_pending_per_ip: usize,

    /// Close a relayed connection after this long without bytes either way (0 = never).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Close a relayed connection after this long, busy or not (0 = never).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub max_session: Duration,

    /// Log line format on stdout.
    #[arg(long, value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,

    /// Start the built-in demo SSH server (user `demo`, password `demo`) and allow it.
    #[arg(long)]
    pub demo: bool,

    /// Where the demo SSH server listens (loopback only). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:2222")]
    pub demo_listen: SocketAddr,

    /// File holding the demo server's ed25519 host key (OpenSSH format); created on first
    /// start. Default: `sshdiag-demo-host-ed25519` in the system temp directory.
    #[arg(long, value_name = "FILE", hide = true)]
    pub demo_host_key: Option<PathBuf>,

    /// Deadline for the client's first (connect) frame.
    #[arg(long, default_value = "5s", value_parser = parse_duration, hide = true)]
    pub handshake_timeout: Duration,

    /// Largest WebSocket message or frame accepted from a client, in bytes.
    #[arg(long, default_value_t = 1 << 20, hide = true)]
    pub max_frame_size: usize,

    /// On shutdown, how long running sessions may continue before the relay closes them.
    #[arg(long, default_value = "10s", value_parser = parse_duration, hide = true)]
    pub drain_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config::parse_from(["sshdiag-proxy"])
    }
}

/// Parses `500ms`, `10s`, `5m`, `1h`, `2d` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (examples: 500ms, 10s, 5m, 1h)"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86400.0,
        other => {
            return Err(format!(
                "unknown duration unit `{other}` (use ms, s, m, h or d)"
            ));
        }
    };
    if !seconds.is_finite() || !(0.0..=1.0e9).contains(&seconds) {
        return Err(format!("`{text}` is out of range"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5y").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn defaults_match_the_spec() {
        let config = Config::default();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8022");
        assert_eq!(config.demo_listen.to_string(), "127.0.0.1:2222");
        assert_eq!(config.connect_timeout, Duration::from_secs(10));
        assert_eq!(config.idle_timeout, Duration::from_secs(300));
        assert_eq!(config.max_session, Duration::from_secs(3600));
        assert_eq!(config.handshake_timeout, Duration::from_secs(5));
        assert_eq!(config.header_timeout, Duration::from_secs(10));
        assert!(config.max_pending_per_ip <= config.max_pending);
        assert!(config.allow.is_empty() && !config.demo);
    }
}
