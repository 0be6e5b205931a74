//! The relay binary's command line as a whole: run the relay (the flags of [`Config`]), or one
//! of the token tools a portal's scripts use: `sshdiag-proxy mint-token` (prints a signed
//! token) and `sshdiag-proxy link` (mints one and prints a support link). The link format and
//! the claims are documented for users in `docs/embed.md` and `docs/tokens.md`.
//!
//! A support link is `BASE#host=H&port=P&user=U&relay=URL&command=C&jump=J&token=T`: everything
//! in the fragment, which browsers never send to a server, form-encoded. Never a password or a
//! key: a `--jump` that carries one (`user:password@host`) is refused. Through jump hosts the
//! token allows the first jump host, the only server the relay connects to.
//!
//! These tools never print the signing secret or key, and never write a token anywhere but
//! standard output.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, parse_duration};
use crate::token::{Claims, Targets, TokenSigner, read_secret_file, token_target};

/// The longest lifetime these tools give a token: past a week, a link is a standing credential.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// `sshdiag-proxy [RELAY FLAGS]` or `sshdiag-proxy mint-token|link …`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "sshdiag-proxy",
    version,
    about = "sshdiag's relay: one WebSocket in, one TCP connection out. Deny by default.",
    long_about = None,
    args_conflicts_with_subcommands = true,
    subcommand_value_name = "TOOL",
    subcommand_help_heading = "Token tools (instead of running the relay)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub tool: Option<Tool>,
    #[command(flatten)]
    pub config: Config,
}

/// A token tool.
#[derive(Debug, Clone, Subcommand)]
pub enum Tool {
    /// Print a signed relay token (a JWT) for one or more targets.
    MintToken(MintArgs),
    /// Mint a token and print a support link that pre-fills the page.
    Link(LinkArgs),
}

/// What signs: exactly one of a shared secret or an Ed25519 private key.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct KeyArgs {
    /// File holding the shared secret (HS256), the same file as the relay's --token-secret-file.
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
    /// Ed25519 private key in PKCS#8 PEM (EdDSA); relays verify with --token-public-key.
    #[arg(long, value_name = "FILE")]
    pub private_key: Option<PathBuf>,
}

/// Lifetime and ticket, common to both tools.
#[derive(Debug, Clone, Args)]
pub struct GrantArgs {
    /// How long the token is valid (e.g. 15m, 1h, 2d; at most 7d).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub ttl: Duration,
    /// Support-ticket id put in the token's `ticket` claim; the relay logs it.
    #[arg(long, value_name = "ID")]
    pub ticket: Option<String>,
}

/// `sshdiag-proxy mint-token`.
#[derive(Debug, Clone, Args)]
pub struct MintArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// Target the token allows, `HOST:PORT` (IPv6 as `[2001:db8::1]:22`). Repeatable.
    #[arg(long = "target", value_name = "HOST:PORT", required = true)]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub grant: GrantArgs,
}

/// `sshdiag-proxy link`.
#[derive(Debug, Clone, Args)]
pub struct LinkArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// The page's address, e.g. `https://relay.example.com/` or the portal page embedding it.
    #[arg(long, value_name = "URL")]
    pub base: String,
    /// Target host.
    #[arg(long, value_name = "HOST")]
    pub host: String,
    /// Target port.
    #[arg(long, default_value_t = 22)]
    pub port: u16,
    /// User name to pre-fill.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Relay WebSocket URL to pre-fill, when the page is not served by the relay itself.
    #[arg(long, value_name = "URL")]
    pub relay: Option<String>,
    /// Command to pre-fill. Repeatable.
    #[arg(long = "command", value_name = "COMMAND")]
    pub commands: Vec<String>,
    /// Jump host `[USER@]HOST[:PORT]` (OpenSSH's `-J` form), repeatable in the order passed
    /// through; the token then allows the first one, which is what the relay connects to.
    #[arg(long = "jump", value_name = "[USER@]HOST[:PORT]")]
    pub jumps: Vec<String>,
    #[command(flatten)]
    pub grant: GrantArgs,
}

/// One `--jump`: `(user, host, port)` as the page's `jump=` entry reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Jump {
    user: Option<String>,
    host: String,
    port: Option<u16>,
}

impl Jump {
    /// The `jump=` value: `[user@]host[:port]`, an IPv6 address in brackets.
    fn fragment_value(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let user = self
            .user
            .as_ref()
            .map_or(String::new(), |u| format!("{u}@"));
        let port = self.port.map_or(String::new(), |p| format!(":{p}"));
        format!("{user}{host}{port}")
    }
}

/// Reads `[USER@]HOST[:PORT]` as the page's `parseJump` does; anything else, and above all a
/// password (`user:password@host`) or a URL, is refused with the reason (never echoing a
/// secret back).
fn parse_jump(text: &str) -> anyhow::Result<Jump> {
    let text = text.trim();
    let bad = |why: &str| anyhow::anyhow!("--jump: {why}; expected [USER@]HOST[:PORT]");
    if text.contains("://") || text.contains('/') {
        return Err(bad("a jump host is not a URL or a path"));
    }
    let (user, rest) = match text.split_once('@') {
        Some((user, rest)) => {
            if user.contains(':') {
                return Err(bad(
                    "it carries a password (USER:PASSWORD@HOST); a link never carries a secret",
                ));
            }
            if rest.contains('@') || user.is_empty() || user.chars().any(char::is_whitespace) {
                return Err(bad(&format!("`{user}` is not a user name")));
            }
            (Some(user.to_string()), rest)
        }
        None => (None, text),
    };
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or_else(|| bad(&format!("`{rest}` has no closing ]")))?;
        (host, after.strip_prefix(':').map(str::to_string))
    } else if rest.matches(':').count() > 1 {
        return Err(bad(&format!("`{rest}`: write an IPv6 address in brackets")));
    } else {
        match rest.split_once(':') {
            Some((host, port)) => (host, Some(port.to_string())),
            None => (rest, None),
        }
    };
    if host.contains(['[', ']']) {
        return Err(bad(&format!("`{rest}` is not a host")));
    }
    let host = valid_host(host).map_err(|why| bad(&why))?;
    let port = match port {
        Some(port) => Some(
            port.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad(&format!("`{port}` is not a port (1-65535)")))?,
        ),
        None => None,
    };
    Ok(Jump {
        user,
        host: host.to_string(),
        port,
    })
}

impl Tool {
    /// Runs the tool at `now`: the line to print on stdout, or one line saying what is wrong.
    pub fn run(&self, now: SystemTime) -> anyhow::Result<String> {
        match self {
            Tool::MintToken(args) => {
                let targets = args
                    .targets
                    .iter()
                    .map(|t| parse_target(t))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                mint(&args.key, targets, &args.grant, now)
            }
            Tool::Link(args) => link(args, now),
        }
    }
}

fn parse_target(text: &str) -> anyhow::Result<String> {
    let (host, port) = text
        .trim()
        .rsplit_once(':')
        .ok_or_else(|| anyhow::anyhow!("--target {text}: expected HOST:PORT"))?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| anyhow::anyhow!("--target {text}: `{port}` is not a port (1-65535)"))?;
    let host = valid_host(host).map_err(|why| anyhow::anyhow!("--target {text}: {why}"))?;
    Ok(token_target(host, port))
}

fn valid_host(host: &str) -> Result<&str, String> {
    let host = host.trim();
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the host is empty or has spaces".into());
    }
    Ok(host)
}

fn mint(
    key: &KeyArgs,
    targets: Vec<String>,
    grant: &GrantArgs,
    now: SystemTime,
) -> anyhow::Result<String> {
    if grant.ttl.is_zero() || grant.ttl > MAX_TTL {
        anyhow::bail!("--ttl must be more than 0 and at most 7d");
    }
    let signer = match (&key.secret_file, &key.private_key) {
        (Some(path), _) => TokenSigner::hs256(&read_secret_file(path, "--secret-file")?),
        (None, Some(path)) => {
            let pem = std::fs::read(path).map_err(|e| {
                anyhow::anyhow!("cannot read --private-key {}: {e}", path.display())
            })?;
            TokenSigner::eddsa_pem(&pem)
                .map_err(|e| anyhow::anyhow!("--private-key {}: {e}", path.display()))?
        }
        (None, None) => anyhow::bail!("give --secret-file or --private-key"),
    };
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| anyhow::anyhow!("the system clock is before 1970"))?
        .as_secs();
    let claims = Claims {
        exp: now + grant.ttl.as_secs().max(1),
        nbf: Some(now),
        target: match <[String; 1]>::try_from(targets) {
            Ok([one]) => Targets::One(one),
            Err(many) => Targets::Many(many),
        },
        ticket: grant.ticket.clone(),
    };
    signer.sign(&claims)
}

fn link(args: &LinkArgs, now: SystemTime) -> anyhow::Result<String> {
    let mut base = url::Url::parse(args.base.trim())
        .map_err(|e| anyhow::anyhow!("--base {}: not a URL ({e})", args.base))?;
    if !matches!(base.scheme(), "http" | "https") {
        anyhow::bail!(
            "--base {}: the page's address starts with https:// or http://",
            args.base
        );
    }
    if base.fragment().is_some() {
        anyhow::bail!(
            "--base {}: it already has a #fragment; the link writes its own",
            args.base
        );
    }
    if args.port == 0 {
        anyhow::bail!("--port 0 is not a port (1-65535)");
    }
    let host = valid_host(&args.host).map_err(|why| anyhow::anyhow!("--host: {why}"))?;
    if let Some(relay) = &args.relay
        && !(relay.starts_with("ws://") || relay.starts_with("wss://"))
    {
        anyhow::bail!("--relay {relay}: a relay URL starts with wss:// or ws://");
    }
    let jumps = args
        .jumps
        .iter()
        .map(|j| parse_jump(j))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // The relay connects to the first server of the path: the first jump host, if any.
    let first = match jumps.first() {
        Some(jump) => token_target(&jump.host, jump.port.unwrap_or(22)),
        None => token_target(host, args.port),
    };
    let token = mint(&args.key, vec![first], &args.grant, now)?;
    let mut fragment = url::form_urlencoded::Serializer::new(String::new());
    fragment.append_pair("host", host);
    fragment.append_pair("port", &args.port.to_string());
    if let Some(user) = &args.user {
        fragment.append_pair("user", user);
    }
    if let Some(relay) = &args.relay {
        fragment.append_pair("relay", relay);
    }
    for command in &args.commands {
        fragment.append_pair("command", command);
    }
    for jump in &jumps {
        fragment.append_pair("jump", &jump.fragment_value());
    }
    fragment.append_pair("token", &token);
    base.set_fragment(Some(&fragment.finish()));
    Ok(base.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("sshdiag-proxy").chain(args.iter().copied()))
            .expect("parses")
    }

    #[test]
    fn relay_flags_still_parse_without_a_tool() {
        let parsed = cli(&["--listen", "127.0.0.1:0", "--allow", "*:22"]);
        assert!(parsed.tool.is_none());
        assert_eq!(parsed.config.allow, vec!["*:22".to_string()]);
    }

    #[test]
    fn targets_are_normalised_and_bad_ones_named() {
        assert_eq!(parse_target("Example.COM.:22").unwrap(), "example.com:22");
        assert_eq!(parse_target("[::1]:2222").unwrap(), "[::1]:2222");
        for bad in [
            "example.com",
            "example.com:0",
            "example.com:ssh",
            ":22",
            "a b:22",
        ] {
            let error = parse_target(bad).unwrap_err().to_string();
            assert!(error.contains(bad), "{error}");
        }
    }

    #[test]
    fn jump_hosts_are_read_as_the_page_reads_them_and_secrets_refused() {
        let jump = |user: Option<&str>, host: &str, port: Option<u16>| Jump {
            user: user.map(str::to_string),
            host: host.to_string(),
            port,
        };
        for (text, want, value) in [
            ("bastion", jump(None, "bastion", None), "bastion"),
            (
                "ops@bastion.example:2222",
                jump(Some("ops"), "bastion.example", Some(2222)),
                "ops@bastion.example:2222",
            ),
            (
                "ops@[2001:db8::1]:22",
                jump(Some("ops"), "2001:db8::1", Some(22)),
                "ops@[2001:db8::1]:22",
            ),
        ] {
            let read = parse_jump(text).unwrap();
            assert_eq!(read, want);
            assert_eq!(read.fragment_value(), value);
        }
        let password = parse_jump("ops:hunter2@bastion").unwrap_err().to_string();
        assert!(password.contains("carries a password"), "{password}");
        assert!(!password.contains("hunter2"), "{password}");
        for bad in [
            "",
            "ssh://ops@bastion",
            "ops@bastion:0",
            "ops@bastion:ssh",
            "@bastion",
            "a@b@c",
            "2001:db8::1",
            "[::1",
            "bas tion",
        ] {
            assert!(parse_jump(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn exactly_one_key_source_is_required() {
        let none = Cli::try_parse_from(["sshdiag-proxy", "mint-token", "--target", "a:22"]);
        assert!(none.is_err());
        let both = Cli::try_parse_from([
            "sshdiag-proxy",
            "mint-token",
            "--target",
            "a:22",
            "--secret-file",
            "x",
            "--private-key",
            "y",
        ]);
        assert!(both.is_err());
    }
}
