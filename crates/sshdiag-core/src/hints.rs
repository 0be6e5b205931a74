//! Plain-language summaries and hints. Each function takes the evidence of this run (what the
//! server offered, which methods it accepts, what it printed) and says what to do next; a hint
//! that would be true of every failure is not worth printing.
//!
//! Hints return text only: they never build a failure and never depend on the probe, so the
//! probe can grow stages without touching them.

use russh::{AlgorithmKind, ChannelOpenFailure};
use sshdiag_events::codes::Phase;
use sshdiag_events::{AuthMethod, Code, ErrorType};

use crate::hostkey::TrustKind;
use crate::keydecode::{KeyProblem, KeyProblemKind};
use crate::transport::ConnectFailure;

pub fn category_name(kind: &AlgorithmKind) -> &'static str {
    match kind {
        AlgorithmKind::Kex => "kex",
        AlgorithmKind::Key => "host_key",
        AlgorithmKind::Cipher => "cipher",
        AlgorithmKind::Compression => "compression",
        AlgorithmKind::Mac => "mac",
    }
}

pub fn category_human(kind: &AlgorithmKind) -> &'static str {
    match kind {
        AlgorithmKind::Kex => "key exchange",
        AlgorithmKind::Key => "host key",
        AlgorithmKind::Cipher => "cipher",
        AlgorithmKind::Compression => "compression",
        AlgorithmKind::Mac => "MAC",
    }
}

fn option_name(kind: &AlgorithmKind) -> &'static str {
    match kind {
        AlgorithmKind::Kex => "KexAlgorithms",
        AlgorithmKind::Key => "HostKeyAlgorithms",
        AlgorithmKind::Cipher => "Ciphers",
        AlgorithmKind::Compression => "Compression",
        AlgorithmKind::Mac => "MACs",
    }
}

/// `NoMutualKex`: name both offers and the exact option on either side that fixes it.
pub fn no_mutual(kind: &AlgorithmKind, ours: &[String], theirs: &[String]) -> Vec<String> {
    let opt = option_name(kind);
    let is_ext = |s: &&String| s.starts_with("ext-info") || s.starts_with("kex-strict");
    let ours: Vec<&String> = ours.iter().filter(|s| !is_ext(s)).collect();
    let theirs: Vec<&String> = theirs.iter().filter(|s| !is_ext(s)).collect();
    let supported: Vec<&str> = match kind {
        AlgorithmKind::Kex => crate::algorithms::supported_kex(),
        AlgorithmKind::Key => crate::algorithms::supported_host_key(),
        AlgorithmKind::Cipher => crate::algorithms::supported_ciphers(),
        AlgorithmKind::Mac => crate::algorithms::supported_macs(),
        AlgorithmKind::Compression => vec!["none"],
    };
    let join = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
    let mut hints = vec![format!(
        "No {} algorithm is on both lists. The server offers: {}. sshdiag offered: {}.",
        category_human(kind),
        join(&theirs),
        join(&ours)
    )];
    if let Some(alg) = theirs.iter().find(|t| supported.contains(&t.as_str())) {
        hints.push(format!(
            "Client side: allow the server's algorithm with -o{opt}=+{alg} (the server offers nothing better that sshdiag also speaks; prefer upgrading the server)."
        ));
    }
    if let Some(alg) = ours.first() {
        hints.push(format!("Server side: add to sshd_config `{opt} +{alg}` and reload sshd (recommended: the client's algorithm is the modern one)."));
    }
    hints
}

pub fn connect_hints(
    f: &ConnectFailure,
    host: &str,
    port: u16,
    proxy: Option<&str>,
) -> Vec<String> {
    let relay = proxy.unwrap_or("the relay");
    let target = format!("{host}:{port}");
    match (f.error_type, f.relay_code.as_deref()) {
        (ErrorType::ProxyUnreachable, _) => vec![
            format!("The relay at {relay} did not accept the WebSocket: check the URL, that sshdiag-proxy is running, and (in a browser) that the page's origin is allowed with --origin."),
            "This is not a problem with the SSH server: the connection never left this machine.".into(),
        ],
        (ErrorType::ProxyDenied, Some("denied-private-address")) => vec![
            format!("The relay refused {target} because it resolves to a private, loopback or link-local address; the relay operator can allow it with --allow <CIDR>:{port} or --allow-private."),
            "The SSH server was never contacted: this says nothing about whether it works.".into(),
        ],
        (ErrorType::ProxyDenied, Some("token-expired")) => vec!["The relay token has expired; ask the support portal for a new link.".into()],
        (ErrorType::ProxyDenied, Some("token-invalid")) => vec![
            format!("The relay requires a token for {target} and the one given is missing or not for this target; ask the support portal for a link for this host."),
        ],
        (ErrorType::ProxyDenied, Some("limit")) => vec!["The relay is at its connection limit; try again in a minute, or ask its operator to raise --max-connections / --max-per-ip.".into()],
        (ErrorType::ProxyDenied, _) => vec![
            format!("The relay's policy does not allow {target}; its operator can add --allow {target}."),
            "The SSH server was never contacted: this is the relay's decision, not a refused connection.".into(),
        ],
        (ErrorType::DnsFailure, _) => vec![
            format!("The name {host} does not resolve{}: check the spelling, or use the IP address.", if proxy.is_some() { " from the relay" } else { "" }),
            format!("Check with: getent hosts {host}  (or dig {host})"),
        ],
        (ErrorType::ConnectionRefused, _) => vec![
            format!("{host} answered, but nothing accepts connections on port {port}: is sshd running, and on this port? (systemctl status ssh; ss -tlnp | grep :{port})"),
            "A firewall that rejects (rather than drops) gives the same answer.".into(),
        ],
        (ErrorType::ConnectionTimeout, _) => vec![
            format!("No answer from {target}: packets are being dropped (firewall, security group) or the host is down."),
            format!("Check with: nc -zv -w 5 {host} {port}"),
        ],
        (ErrorType::HostUnreachable, _) => vec![
            format!("There is no route to {host}: check the address and the network path (ip route get <address>; traceroute {host})."),
        ],
        _ => Vec::new(),
    }
}

pub fn not_ssh(first_line: &str, port: u16) -> Vec<String> {
    let lower = first_line.to_ascii_lowercase();
    let what = if first_line.starts_with("HTTP/")
        || lower.contains("<!doctype html")
        || lower.contains("<html")
    {
        "an HTTP server"
    } else if first_line.starts_with("220") {
        "an SMTP or FTP server"
    } else {
        "some other service"
    };
    vec![format!(
        "Port {port} is served by {what}, not by sshd: use the port sshd listens on (often 22), or check the port forwarding in front of it."
    )]
}

pub fn kex_failed(msg: &str) -> Vec<String> {
    vec![format!(
        "Key exchange failed ({msg}): if it repeats, the server's log says why; a middlebox that alters traffic can also cause it."
    )]
}

pub fn host_key_unknown(fp: &str) -> Vec<String> {
    vec![format!(
        "No key is trusted for this host. Compare {fp} with the server's own (on the server: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then trust it (accept-new)."
    )]
}

pub fn host_key_mismatch(host: &str, port: u16, expected: &str, presented: &str) -> Vec<String> {
    let name = crate::hostkey::known_hosts_name(host, port);
    vec![
        format!(
            "The server now presents {presented}, but {expected} was trusted. If the server was reinstalled or its keys rotated, that is expected; otherwise someone may be intercepting the connection."
        ),
        format!(
            "Verify on the server (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub); only then remove the old key: ssh-keygen -R '{name}'."
        ),
    ]
}

/// A host key of a type no trusted key has, while keys of other types are trusted (`known`:
/// each as `TYPE SHA256:… (where)`).
pub fn host_key_type_changed(
    host: &str,
    port: u16,
    alg: &str,
    presented: &str,
    known: &[String],
    scanning: bool,
) -> Vec<String> {
    let short = alg
        .trim_start_matches("ssh-")
        .trim_start_matches("ecdsa-sha2-");
    let short = if alg.starts_with("ecdsa-") {
        "ecdsa"
    } else {
        short
    };
    let mut hints = vec![
        format!(
            "Not necessarily a changed key: the key type differs. Trusted: {}; the server presented its {alg} key instead, which happens when it no longer offers the trusted type (that key was removed, or its HostKeyAlgorithms changed) or when this client's HostKeyAlgorithms leaves that type out.",
            known.join(", ")
        ),
        "Find out without logging in: --host-key-inventory (the page's hostKeyInventory option) makes one key exchange per key type and lists every key the server has beside the trusted ones. It opens extra unauthenticated connections, which fail2ban and PerSourcePenalties count.".to_string(),
    ];
    if scanning {
        // The inventory runs in this very run; its answer replaces the suggestion.
        hints.pop();
    }
    hints.push(format!(
            "If the server's administrator confirms {presented} (ssh-keygen -lf /etc/ssh/ssh_host_{short}_key.pub), trust it beside the old key: ssh-keyscan -t {short} -p {port} {host} >> ~/.ssh/known_hosts (in the page: trust the new key)."
    ));
    hints
}

/// A host certificate refused (expired, not for this name, from a CA not trusted): what to
/// change, in the words of where this run's trust lives.
pub fn host_certificate_refused(kind: TrustKind) -> String {
    match kind {
        TrustKind::KnownHosts => "Have the host certificate signed again for this name by the CA your known_hosts trusts (ssh-keygen -s CA -h -n NAME), or correct the @cert-authority line.".into(),
        TrustKind::Browser => "Have the host certificate signed again for this name by a CA in the trusted host CAs (ssh-keygen -s CA -h -n NAME), or add the CA that signed it to that list once you have checked its fingerprint.".into(),
    }
}

/// A host certificate whose CA is revoked.
pub fn host_ca_revoked(kind: TrustKind) -> String {
    let trust = match kind {
        TrustKind::KnownHosts => {
            "known_hosts an @cert-authority line for that CA. Remove the @revoked line only if it was added by mistake"
        }
        TrustKind::Browser => "that CA in the trusted host CAs",
    };
    format!(
        "A revoked CA means every certificate it signed is refused (its key was compromised or retired): the server needs a host certificate from a CA that is not revoked, and {trust}."
    )
}

/// Why a private key could not be used: the message and the one hint that fixes it.
pub fn key_load_failure(
    label: &str,
    problem: &KeyProblem,
    had_passphrase: bool,
) -> (String, String) {
    use KeyProblemKind as K;
    let (msg, hint) = match &problem.kind {
        K::DecoderUnavailable => (
            format!("{label} could not be read: the code that reads its format did not load ({})", problem.detail),
            "Reload the page and run again, or convert the key to OpenSSH's own format, which needs nothing more to load (ssh-keygen -p -f KEY rewrites it; for a PuTTY key, puttygen KEY -O private-openssh -o NEWKEY).".to_string(),
        ),
        _ if problem.encrypted && had_passphrase => (
            format!("{label} could not be decrypted: the passphrase is wrong"),
            format!("Check the passphrase (ssh-keygen -yf {label} asks for it and prints the public key)."),
        ),
        K::Encrypted if !had_passphrase => (
            format!("{label} is encrypted and no passphrase was given"),
            "Give the key's passphrase.".to_string(),
        ),
        K::Encrypted | K::Corrupt if had_passphrase => (
            format!("{label} could not be decrypted: the passphrase is wrong or the key is damaged"),
            format!("Check the passphrase (ssh-keygen -yf {label} asks for it and prints the public key)."),
        ),
        K::Unsupported { key_type } => (
            format!("{label} is a {key_type} key, which sshdiag does not support"),
            "Use an ed25519, ecdsa or rsa key.".to_string(),
        ),
        _ => (
            format!("{label} is not a private key sshdiag can read ({})", problem.detail),
            "Give the private key file (OpenSSH 'BEGIN OPENSSH PRIVATE KEY', PEM or PKCS#8), not the .pub file.".to_string(),
        ),
    };
    (msg, hint)
}

pub fn auth_rejected_message(method: AuthMethod, user: &str) -> String {
    match method {
        AuthMethod::Password => format!("password rejected for {user}"),
        AuthMethod::PrivateKey => format!("key not accepted for {user}"),
        AuthMethod::KeyboardInteractive => {
            format!("keyboard-interactive answers rejected for {user}")
        }
        AuthMethod::SshAgent => format!("no agent key accepted for {user}"),
        AuthMethod::None => format!("{user} needs authentication"),
    }
}

/// Whether the server's list allows a method; an empty list (some servers send none) proves
/// nothing, so it counts as allowing.
fn accepts(available: &[String], name: &str) -> bool {
    available.is_empty() || available.iter().any(|m| m == name)
}

pub fn auth_failed(
    tried: &[String],
    available: &[String],
    user: &str,
    partial: bool,
) -> Vec<String> {
    let list = if available.is_empty() {
        "nothing".to_string()
    } else {
        available.join(", ")
    };
    let mut h = Vec::new();
    for m in tried {
        match m.as_str() {
            "password" if !accepts(available, "password") => h.push(format!(
                "The server does not accept passwords for this user; it accepts: {list}."
            )),
            "password" => h.push(format!(
                "The password was rejected for {user}: check it, and the user name (a wrong user name looks the same from outside)."
            )),
            "private_key" if !accepts(available, "publickey") => h.push(format!(
                "The server does not accept keys for this user; it accepts: {list}."
            )),
            "private_key" => h.push(format!(
                "The key is not authorised for {user}: add its public key to ~{user}/.ssh/authorized_keys on the server (check that file's permissions: 600, and the .ssh directory 700)."
            )),
            "keyboard_interactive" if !accepts(available, "keyboard-interactive") => h.push(format!(
                "The server does not offer keyboard-interactive for this user; it accepts: {list}."
            )),
            "keyboard_interactive" => h.push("The keyboard-interactive answers were rejected: check the password or one-time code.".into()),
            "ssh_agent" if !accepts(available, "publickey") => h.push(format!(
                "The server does not accept keys for this user; it accepts: {list}."
            )),
            "ssh_agent" => h.push(format!(
                "None of the agent's keys is authorised for {user} (ssh-add -l lists them): add one's public key to ~{user}/.ssh/authorized_keys on the server."
            )),
            _ => {}
        }
    }
    if partial {
        h.push(format!("The server accepted a first method but wants another as well (AuthenticationMethods); it can continue with: {list}."));
    }
    // Whatever was rejected, say what the server would take: a rejected password with
    // `publickey` on offer means "try a key", not only "check the password".
    if h.is_empty() || (!available.is_empty() && !h.iter().any(|hint| hint.contains(&list))) {
        h.push(format!("The server accepts for {user}: {list}."));
    }
    h.dedup();
    h
}

/// The OpenSSH version of a server's software string (`OpenSSH_9.2p1 …` → (9, 2)).
pub fn openssh_version(software: &str) -> Option<(u32, u32)> {
    let v = software.strip_prefix("OpenSSH_")?;
    let mut parts = v.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// An RSA user key, from the evidence: how it was offered (`offered`: `rsa-sha2-512`,
/// `rsa-sha2-256` or `ssh-rsa`), the server's `server-sig-algs` (`accepted`), its software,
/// and whether the login was refused. OpenSSH 8.8 and later refuse `ssh-rsa` (SHA-1)
/// signatures by default.
pub fn rsa_key(
    offered: &str,
    accepted: Option<&[String]>,
    software: &str,
    refused: bool,
) -> Option<String> {
    let version = openssh_version(software).filter(|v| *v >= (8, 8));
    let modern = version.map(|(a, b)| format!("OpenSSH {a}.{b}"));
    if refused {
        if let Some(list) = accepted.filter(|l| !l.iter().any(|a| a == offered)) {
            return Some(format!(
                "The server accepts these signature algorithms for user keys (server-sig-algs): {}; this RSA key was offered as {offered}, which is not among them: use a key of a listed type (ssh-keygen -t ed25519).",
                list.join(", ")
            ));
        }
        if offered == "ssh-rsa" {
            let why = modern.map_or(String::new(), |m| {
                format!(" {m} refuses SHA-1 signatures by default.")
            });
            return Some(format!(
                "This RSA key could only be offered as ssh-rsa (SHA-1): the server's server-sig-algs names no rsa-sha2-256/512.{why} Use an ed25519 key, or enable rsa-sha2-512 on the server."
            ));
        }
        return modern.map(|m| format!(
            "The key is RSA, offered as {offered}. {m} refuses only the SHA-1 form (ssh-rsa) by default; if its PubkeyAcceptedAlgorithms leaves out {offered} too, its log says \"signature algorithm {offered} not in PubkeyAcceptedAlgorithms\" (sshd -T | grep -i pubkeyaccepted shows the list), else the key is simply not authorised."
        ));
    }
    modern.map(|m| format!(
        "This RSA key was accepted as {offered}. {m} refuses the same key from clients that sign with ssh-rsa (SHA-1: OpenSSH before 7.2, old libraries such as JSch or Paramiko < 2.9): upgrade those clients, or switch to an ed25519 key."
    ))
}

/// Partial success: what was accepted, what the server still wants, and how to give it.
pub fn auth_partial(
    accepted: &[String],
    rejected: &[String],
    available: &[String],
    user: &str,
) -> Vec<String> {
    let wants = if available.is_empty() {
        "another method".to_string()
    } else {
        available.join(" or ")
    };
    let mut h = vec![format!(
        "First step accepted ({}): the server wants another as well for {user} (AuthenticationMethods in sshd_config); it now wants {wants}.",
        accepted.join(", ")
    )];
    let still: Vec<&String> = rejected.iter().filter(|m| !accepted.contains(m)).collect();
    if still.is_empty() {
        h.push(format!(
            "Give {wants} as well (e.g. a password together with the key) and run again."
        ));
    } else {
        let names: Vec<&str> = still.iter().map(|s| s.as_str()).collect();
        h.push(format!(
            "The next step ({}) was rejected: check it; the server still accepts {wants} for {user}.",
            names.join(", ")
        ));
    }
    h
}

pub fn disconnected(who: &str, phase: Option<Phase>) -> Vec<String> {
    let when = phase.map(Phase::as_str).unwrap_or("session");
    match who {
        "server" => vec![format!(
            "The server ended the session during {when}; its log (journalctl -u ssh) says why."
        )],
        "relay" => vec![format!(
            "The relay closed the connection during {when} (a relay limit, idle timeout or restart); its log, searched by connection_id, says which."
        )],
        _ => vec![format!(
            "The connection dropped during {when} without an SSH goodbye: sshd or the host went down, or something on the path reset it."
        )],
    }
}

/// The reason code of a refused channel, and its name when the server gave no words.
pub fn channel_failure(reason: &ChannelOpenFailure) -> (u32, String) {
    match reason {
        ChannelOpenFailure::AdministrativelyProhibited => (1, "administratively prohibited".into()),
        ChannelOpenFailure::ConnectFailed => (2, "connect failed".into()),
        ChannelOpenFailure::UnknownChannelType => (3, "unknown channel type".into()),
        ChannelOpenFailure::ResourceShortage => (4, "resource shortage".into()),
        ChannelOpenFailure::Other { code, reason } => (*code, reason.chars().take(200).collect()),
    }
}

/// RFC 4254's name of a channel refusal's reason code.
fn reason_name(code: u32) -> &'static str {
    match code {
        1 => "administratively prohibited",
        2 => "connect failed",
        3 => "unknown channel type",
        4 => "resource shortage",
        _ => "unknown reason",
    }
}

/// How a refusal is quoted: the server's words and the code's name.
pub fn refusal_quote(code: u32, words: &str) -> String {
    format!("{words:?} (code {code}, {})", reason_name(code))
}

/// A refused session channel: the finer code and the hints, from the reason code and the
/// server's own words.
pub fn session_refused(code: u32, words: &str) -> (Code, Vec<String>) {
    let said = format!("The server said {}.", refusal_quote(code, words));
    match code {
        // OpenSSH refuses a session beyond MaxSessions with "connect failed: open failed".
        2 | 4 => (
            Code::SessionLimit,
            vec![
                format!("{said} The server allows no further session on this connection: MaxSessions in sshd_config (0 turns sessions off; `sshd -T -C user=USER | grep -i maxsessions` shows the value in effect), or its resources ran out."),
                "An account with sessions turned off is meant for forwarding only (ssh -N); anything else needs MaxSessions raised.".into(),
            ],
        ),
        1 => (
            Code::ChannelOpenFailed,
            vec![format!("{said} The server forbids sessions for this user: a Match block in sshd_config, or `restrict` in authorized_keys.")],
        ),
        3 => (
            Code::ChannelOpenFailed,
            vec![format!("{said} This SSH service offers no shell or command sessions at all (a forwarding-only or special-purpose server).")],
        ),
        _ => (
            Code::ChannelOpenFailed,
            vec![format!("{said} The server's log says why.")],
        ),
    }
}

/// A refused pty request: where the refusal comes from.
pub fn terminal_refused(user: &str) -> Vec<String> {
    vec![
        format!("The server refuses a terminal for {user}: `PermitTTY no` in sshd_config (or a Match block), or `no-pty`/`restrict` before this key in authorized_keys. ssh then says \"PTY allocation request failed\" and the shell has no prompt or line editing."),
        "Commands (ssh HOST CMD), scp and sftp still work; for an interactive login the admin must allow a terminal.".into(),
    ]
}

pub fn exec_failed() -> Vec<String> {
    vec!["Authentication worked but the server will not run commands for this user (a subsystem-only account such as SFTP-only, or ForceCommand).".into()]
}

/// The verdict's one-line summary of a failure of type `error_type` with `message`.
pub fn summary_failed(error_type: ErrorType, message: &str, host: &str, port: u16) -> String {
    let target = format!("{host}:{port}");
    match error_type {
        ErrorType::ProxyUnreachable => {
            "The relay could not be reached, so the SSH server was never tried.".into()
        }
        ErrorType::ProxyDenied => {
            format!("The relay refused to connect to {target} ({}).", message)
        }
        ErrorType::DnsFailure => format!("The host name {host} does not resolve."),
        ErrorType::ConnectionRefused => {
            format!("{target} refused the connection: nothing is listening there.")
        }
        ErrorType::ConnectionTimeout => {
            format!("{target} did not answer: the connection timed out.")
        }
        ErrorType::HostUnreachable => format!("There is no route to {host}."),
        ErrorType::NotSsh => format!("Something answers on {target}, but it is not an SSH server."),
        ErrorType::BannerTimeout => {
            format!("{target} accepted the connection but never sent an SSH banner.")
        }
        ErrorType::NoMutualKex => format!(
            "sshdiag and {target} have no {} in common.",
            message.trim_start_matches("no common ")
        ),
        ErrorType::KexFailed => format!("Key exchange with {target} failed."),
        // A revoked key or a refused host certificate: the message itself is the summary.
        ErrorType::HostKeyMismatch
            if message.contains("@revoked") || message.starts_with("the host certificate") =>
        {
            let mut m = message.to_string();
            m[..1].make_ascii_uppercase();
            format!("{m}.")
        }
        ErrorType::HostKeyMismatch => {
            format!("{target} presented a different host key than the one trusted.")
        }
        ErrorType::HostKeyUnknown => {
            format!("No host key is trusted for {target} and strict checking is on.")
        }
        ErrorType::KeyLoadError => format!("The private key could not be used: {}.", message),
        ErrorType::AuthFailed => format!("{target} works, but rejected the login: {}.", message),
        ErrorType::ChannelOpenFailed => {
            "Logged in, but the server refused to open a session.".into()
        }
        ErrorType::ExecFailed => "Logged in, but the server refused to run the command.".into(),
        ErrorType::ForwardFailed => format!(
            "SSH to {target} works, but the forward probe failed: {}.",
            message
        ),
        ErrorType::Disconnected => format!(
            "The connection to {target} ended unexpectedly: {}.",
            message
        ),
        ErrorType::Timeout => format!("The diagnosis ran out of time: {}.", message),
        ErrorType::InvalidInput => format!("The input is not usable: {}.", message),
        _ => message.to_string(),
    }
}

/// A refused forward: the finer code and the hints, told apart by the reason code and the
/// server's own words (refused at the target, unreachable, or forbidden by the server).
pub fn forward_failed(code: u32, words: &str, host: &str, port: u16) -> (Code, Vec<String>) {
    let target = format!("{host}:{port}");
    let said = format!("The server said {}.", refusal_quote(code, words));
    let lower = words.to_ascii_lowercase();
    let unresolved = [
        "name",
        "resolve",
        "unknown host",
        "getaddrinfo",
        "not known",
    ];
    let unreachable = ["no route", "unreachable", "timed out", "timeout"];
    match code {
        1 => (
            Code::ForwardProhibited,
            vec![
                format!(
                    "{said} The server forbids TCP forwarding for this user (AllowTcpForwarding no, PermitOpen, DisableForwarding, or `restrict`/`permitopen=` in authorized_keys)."
                ),
                "SSH itself works; only forwarding is refused.".into(),
            ],
        ),
        2 if lower.contains("refused") => (
            Code::ForwardRefused,
            vec![
                format!(
                    "{said} The server forwards, and reached {host}, but nothing accepts connections on port {port} there (as the server sees it): the service is down or listens elsewhere."
                ),
                format!("Check from the server: nc -zv {host} {port}"),
            ],
        ),
        2 if unresolved.iter().any(|w| lower.contains(w)) => (
            Code::ForwardUnreachable,
            vec![
                format!(
                    "{said} The name {host} does not resolve on the server: use a name or address the server knows (the forward's target is looked up there, not here)."
                ),
                format!("Check from the server: getent hosts {host}"),
            ],
        ),
        2 if unreachable.iter().any(|w| lower.contains(w)) => (
            Code::ForwardUnreachable,
            vec![
                format!(
                    "{said} The server forwards, but cannot reach {target}: no route, or a firewall dropping the packets between the server and the target."
                ),
                format!("Check from the server: nc -zv -w 5 {host} {port}"),
            ],
        ),
        2 => (
            Code::ForwardFailed,
            vec![
                format!(
                    "{said} The server accepted the forward but could not connect it to {target}."
                ),
                format!("Check from the server: nc -zv {host} {port}"),
            ],
        ),
        _ => (
            Code::ForwardFailed,
            vec![format!(
                "{said} The server refused the forward to {target}; its log says why."
            )],
        ),
    }
}

/// Where to look when keepalives go unanswered; through a relay the relay is a suspect too.
pub fn keepalive_timeout(via_relay: bool, relay_alive: Option<bool>) -> Vec<String> {
    let mut h = vec![
        "The connection went silent: nothing answered the SSH keepalives. A NAT or firewall dropping idle connections, a network outage, or a frozen server.".to_string(),
    ];
    match (via_relay, relay_alive) {
        (true, Some(true)) => h.push("The relay kept answering its pings while the server did not: the silence is between the relay and the server (the server, or the network behind the relay).".into()),
        (true, Some(false)) => h.push("The relay stopped answering its pings too: the relay itself (or the path to it) stopped forwarding; its log, searched by connection_id, says more.".into()),
        (true, None) => h.push("This run went through the relay: check the relay's /healthz and its log for this connection_id to tell a stuck relay from a silent server.".into()),
        (false, _) => {}
    }
    h.push("Keepalives every 15-30 s (ServerAliveInterval) keep most NATs from dropping an idle session.".into());
    h
}

pub fn agent_unavailable() -> Vec<String> {
    vec![
        "No usable SSH agent: is it running and is SSH_AUTH_SOCK set in this shell? (echo $SSH_AUTH_SOCK; ssh-add -l)".into(),
        "Start one with eval $(ssh-agent) and add a key with ssh-add, or give the key file with -i.".into(),
    ]
}
