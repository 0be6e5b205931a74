//! The error taxonomy (`error_type`, `layer`) and the catalog of stable message codes.
//!
//! Every event and every relay log line carries a `code`: a kebab-case name that never changes
//! once released (scripts, support macros and dashboards match on it). The catalog below is the
//! only place codes are defined; `docs/codes.md` is generated from it (`cargo xtask codegen`) and
//! a test fails when the file is stale. A test also lists every code verbatim, so renaming one
//! breaks the build on purpose.

use serde::{Deserialize, Serialize};

macro_rules! catalog {
    ($( group $group:literal, $intro:literal { $( $variant:ident => $code:literal, $doc:literal; )* } )*) => {
        /// A stable message code. See the module docs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $( $( #[doc = $doc] $variant, )* )* }

        impl Code {
            /// Every code, in catalog order.
            pub const ALL: &'static [Code] = &[ $( $( Code::$variant, )* )* ];

            /// The catalog's groups in order: heading, one-sentence introduction, codes.
            pub const GROUPS: &'static [(&'static str, &'static str, &'static [Code])] =
                &[ $( ($group, $intro, &[ $( Code::$variant, )* ]), )* ];

            /// The kebab-case wire name.
            pub fn as_str(self) -> &'static str {
                match self { $( $( Code::$variant => $code, )* )* }
            }

            /// One sentence: "`code` indicates that …" without the code itself.
            pub fn doc(self) -> &'static str {
                match self { $( $( Code::$variant => $doc, )* )* }
            }

            /// The heading of the catalog group this code belongs to.
            pub fn group(self) -> &'static str {
                match self { $( $( Code::$variant => $group, )* )* }
            }

            /// The code with this wire name, if it is one of ours.
            pub fn from_wire(name: &str) -> Option<Code> {
                match name { $( $( $code => Some(Code::$variant), )* )* _ => None }
            }
        }

        // The TypeScript type of a code, from the same catalog (the package's `.d.ts`).
        #[cfg(feature = "ts")]
        #[wasm_bindgen::prelude::wasm_bindgen(typescript_custom_section)]
        const CODE_TS: &'static str = concat!(
            "/** A stable message code (docs/codes.md). */\nexport type Code =",
            $( $( "\n  | \"", $code, "\"", )* )* ";\n"
        );
    };
}

catalog! {
    group "Session progress", "What the probe writes as a diagnosis moves through its phases." {
    ConnectInitiating => "connect-initiating", "a diagnosis started and is about to open its transport";
    ConnectEstablished => "connect-established", "the transport to the target is up (direct TCP, or the relay's TCP connection)";
    ProxyWsOpen => "proxy-ws-open", "the WebSocket to the relay opened";
    ProxyResolved => "proxy-resolved", "the relay (or the CLI, for direct TCP) resolved the target host name";
    ProxyTcpConnected => "proxy-tcp-connected", "a TCP connection to the target was established";
    ProxyTcpAttemptFailed => "proxy-tcp-attempt-failed", "one of the addresses the target's name resolved to refused the TCP connection or did not answer, so the next one was tried (by the relay, or by the CLI for direct TCP); `peer` names the address, `reason` why";
    ProxyClosed => "proxy-closed", "the relay reported that the relayed connection closed, with byte counts";
    VersionReceived => "version-received", "the SSH identification banners were exchanged";
    KexProposals => "kex-proposals", "both sides' KEXINIT algorithm proposals were read";
    KexNegotiated => "kex-negotiated", "key exchange completed and the negotiated algorithms are known";
    HostkeyTrusted => "hostkey-trusted", "the server's host key matches the key trusted for this host";
    HostkeyNew => "hostkey-new", "the server's host key was not known before and was not stored";
    HostkeyAcceptedNew => "hostkey-accepted-new", "the server's host key was not known before and was stored as trusted (accept-new)";
    HostkeyUnchecked => "hostkey-unchecked", "host key checking was turned off, so the server's key was not verified";
    AuthCertificate => "auth-certificate", "a user certificate to offer with a key was read before connecting; the event holds its public facts";
    AuthAttempt => "auth-attempt", "an authentication method is being tried";
    AuthSuccess => "auth-success", "the server accepted authentication";
    AuthRejected => "auth-rejected", "the server rejected one authentication attempt";
    AuthPartial => "auth-partial", "the server accepted a method but requires further methods (partial success)";
    AuthMethodsListed => "auth-methods-listed", "a `none` probe learned which authentication methods the server accepts";
    ChannelOpened => "channel-opened", "the server opened a session channel";
    ExecFinished => "exec-finished", "a remote command ran and finished (any exit status)";
    ForwardEstablishing => "forward-establishing", "a forward or forward probe is being opened";
    ForwardEstablished => "forward-established", "the server connected a forward or forward probe to its target";
    ForwardClosed => "forward-closed", "a forward or forward probe was closed";
    KeepaliveOk => "keepalive-ok", "a keepalive round trip completed";
    KeepaliveMissed => "keepalive-missed", "a keepalive got no answer in time";
    StateChange => "state-change", "the supervisor moved from one state to another";
    DisconnectNormal => "disconnect-normal", "the session ended as planned";
    DisconnectUnexpected => "disconnect-unexpected", "the session ended before the diagnosis finished";
    VerdictOk => "verdict-ok", "the diagnosis finished and every step succeeded";
    VerdictFailed => "verdict-failed", "the diagnosis finished with a failure; its layer, type and hints follow";
    AuditFinding => "audit-finding", "one finding of the algorithm audit: an algorithm (or, with the deep audit, a measured DH group) graded broken, weak, note, ok or good (docs/audit.md)";
    ConnectAuthenticated => "connect-authenticated", "the connection is up and authenticated; the `CONNECT` event carries the method that worked in `auth_method`";
    SessionCheckOk => "session-check-ok", "after authentication, a session ran sshdiag's check command as sent and nothing else printed (the account's shell works and starts quietly); the `EXEC` event names the command";
    SftpCheckOk => "sftp-check-ok", "the `sftp` subsystem answered sshdiag's SSH_FXP_INIT with an SFTP version packet, so sftp and scp work";
    HostkeyInventory => "hostkey-inventory", "the server's host keys were listed: after login from its `hostkeys-00@openssh.com` announcement (each proven with `hostkeys-prove-00@openssh.com`), or, when asked, by one key exchange per key type; each key says which trusted key (known_hosts line) it matches";
    SftpUnavailable => "sftp-unavailable", "the server refused the `sftp` subsystem (no `Subsystem sftp` line in sshd_config), so sftp and OpenSSH 9's scp fail";
    }

    group "Failures", "One code per error type, plus finer codes where they serve; each ends a diagnosis with an `ERROR` event and a failed `VERDICT`." {
    ProxyUnreachable => "proxy-unreachable", "the WebSocket to the relay could not be opened (wrong URL, relay down, Origin refused)";
    ProxyDenied => "proxy-denied", "the relay refused the target because no allow rule matches it";
    ProxyDeniedPrivateAddress => "proxy-denied-private-address", "the relay refused the target because it resolves to a loopback, private, link-local or otherwise internal address";
    ProxyDeniedTokenInvalid => "proxy-denied-token-invalid", "the relay requires a token and the one sent was missing, malformed, tampered with or for another target";
    ProxyDeniedTokenExpired => "proxy-denied-token-expired", "the relay requires a token and the one sent has expired";
    ProxyLimit => "proxy-limit", "the relay refused or ended the connection because a limit was reached (connections, per-IP, frame size, idle, session length)";
    DnsFailure => "dns-failure", "the target host name did not resolve";
    ConnectionRefused => "connection-refused", "the target port answered the TCP connection with a reset (nothing listening, or a firewall rejecting)";
    ConnectionTimeout => "connection-timeout", "the target did not answer the TCP connection within the connect timeout (packets dropped)";
    HostUnreachable => "host-unreachable", "there is no route to the target host (ICMP unreachable)";
    NotSsh => "not-ssh", "the target answered, but with something other than an SSH banner";
    BannerTimeout => "banner-timeout", "TCP connected but no SSH banner arrived in time";
    NoMutualKex => "no-mutual-kex", "client and server share no algorithm in one negotiation category";
    KexFailed => "kex-failed", "key exchange failed for a reason other than a missing common algorithm";
    HostKeyMismatch => "host-key-mismatch", "the server's host key differs from the key trusted for this host";
    HostKeyRevoked => "host-key-revoked", "the server's host key (or its certificate's key, or the CA that signed its certificate) is on an `@revoked` line in known_hosts, which refuses it under every policy";
    HostCertificateRefused => "host-certificate-refused", "the server presented a host certificate that failed its check against the `@cert-authority` lines: expired, not yet valid, not for this host name, or signed by an unknown CA";
    HostKeyTypeChanged => "host-key-type-changed", "the server presented a host key of a type no trusted key has, while keys of other types are trusted for this host: most likely the server now prefers (or only has) another key type rather than a changed key; the hint says which known key the server no longer presented, and the host key inventory (`--host-key-inventory`) lists every key it has";
    HostKeyUnknown => "host-key-unknown", "strict host key checking is on and no key is trusted for this host";
    KeyLoadError => "key-load-error", "the private key could not be used: unreadable, not a key, wrong passphrase or unsupported type";
    AuthFailed => "auth-failed", "every authentication method tried was rejected";
    AgentError => "agent-error", "the SSH agent was not available or failed";
    ChannelOpenFailed => "channel-open-failed", "the server refused to open a session channel";
    ExecFailed => "exec-failed", "the server refused the exec request";
    ForwardFailed => "forward-failed", "the server refused a forward or could not connect it to its target";
    Disconnected => "disconnected", "the connection ended unexpectedly (server disconnect, relay close or TCP reset)";
    KeepaliveTimeout => "keepalive-timeout", "keepalives went unanswered and the connection was given up";
    Timeout => "timeout", "the overall time limit of the diagnosis ran out";
    Internal => "internal", "sshdiag hit a bug; please report it with the evidence bundle";
    InvalidInput => "invalid-input", "an option, key file or other input given to sshdiag was malformed";
    ResetBeforeBanner => "reset-before-banner", "TCP connected, then the connection was reset before any SSH banner (not a refused connection)";
    ClosedBeforeBanner => "closed-before-banner", "TCP connected, then the server closed the connection in order without an SSH banner";
    RefusedBeforeBanner => "refused-before-banner", "the server sent a refusal line instead of its banner (OpenSSH's MaxStartups or PerSourcePenalties, an access rule) and closed";
    BannerTarpit => "banner-tarpit", "the server sent line after line but never an SSH banner (a tarpit such as endlessh)";
    ProtocolVersionUnsupported => "protocol-version-unsupported", "the server speaks an SSH protocol version other than 2.0 (an `SSH-1.x` banner)";
    AuthIncomplete => "auth-incomplete", "the server accepted a first method (partial success) but the further method it wants was not given or was rejected";
    AuthDisconnected => "auth-disconnected", "the server ended the connection during authentication (too many attempts, a PAM or account refusal)";
    Cancelled => "cancelled", "the diagnosis was stopped before it finished by whoever ran it (`Diagnostics.cancel()` in a page, Ctrl-C in the CLI)";
    PasswordExpired => "password-expired", "the account's password has expired and the server demands a change (a password-change request, a keyboard-interactive prompt saying so, or PAM forcing the change after login); layer `auth` for the two forms during login, `channel` when PAM forces it in the session";
    ShellDisabled => "shell-disabled", "the login worked but the account's shell refuses every session (`nologin`: \"This account is currently not available.\", or `/etc/nologin`); layer `channel`";
    ShellExitsAtOnce => "shell-exits-at-once", "the login worked but a session ends at once without output (a login shell such as `/bin/false`, or a forced command that prints nothing); layer `channel`";
    ForcedCommand => "forced-command", "the login worked but the server ran something other than the command sent (`ForceCommand`, `command=` in authorized_keys, a restricted shell); its words are quoted; layer `channel`";
    ShellStartupOutput => "shell-startup-output", "a shell startup file (`~/.bashrc`, …) prints text in non-interactive sessions, which breaks scp, sftp, rsync and git over SSH; the text and the file are named; layer `channel`";
    SessionNoAnswer => "session-no-answer", "the login worked but a command in a new session gave no answer in time (a startup file or forced command that waits); layer `channel`";
    TerminalRefused => "terminal-refused", "the server refuses a terminal (pty) for this user (`PermitTTY no`, or `no-pty`/`restrict` in authorized_keys), so interactive logins get no prompt; layer `channel`";
    SessionLimit => "session-limit", "the server refused a session channel because its session limit is reached or sessions are off (`MaxSessions`); layer `channel`";
    ForwardProhibited => "forward-prohibited", "the server forbids the forward (administratively prohibited: `AllowTcpForwarding`, `PermitOpen`, `DisableForwarding`, `restrict`/`permitopen=` in authorized_keys); layer `forward`";
    ForwardRefused => "forward-refused", "the server tried the forward's target and was refused there (nothing listens on that port as seen from the server); layer `forward`";
    ForwardUnreachable => "forward-unreachable", "the server could not reach the forward's target (no route, timed out, or the name does not resolve on the server); layer `forward`";
    }

    group "Relay log lines", "What `sshdiag-proxy` writes to its own log, one code per kind of line." {
    RelayStarted => "relay-started", "the relay is listening; the line lists its policy";
    RelayWsAccepted => "relay-ws-accepted", "a WebSocket upgrade was accepted";
    RelayOriginRefused => "relay-origin-refused", "a WebSocket upgrade was refused because its Origin is not allowed";
    RelayConnectRequest => "relay-connect-request", "a client asked the relay to connect to a target";
    RelayResolved => "relay-resolved", "the relay resolved a target host name";
    RelayTcpConnected => "relay-tcp-connected", "the relay connected to the target";
    RelayDenied => "relay-denied", "the relay refused a target by policy or token";
    RelayDnsFailed => "relay-dns-failed", "the relay could not resolve the target";
    RelayTcpFailed => "relay-tcp-failed", "the relay could not connect to the target (refused, timeout, unreachable)";
    RelayLimit => "relay-limit", "a relay limit was reached";
    RelayBadFrame => "relay-bad-frame", "a client sent a frame the relay does not accept (malformed, oversized, wrong type)";
    RelayHandshakeTimeout => "relay-handshake-timeout", "a client did not send its connect frame before the deadline";
    RelayClosed => "relay-closed", "a relayed connection ended; the line has byte counts and who closed";
    RelayShutdown => "relay-shutdown", "the relay is shutting down and draining sessions";
    DemoServerStarted => "demo-server-started", "the built-in demo SSH server is listening";
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Code::from_wire(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown message code `{name}`")))
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in the stack something happened, from the outside in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    /// The relay: the WebSocket to it, its policy and its limits.
    Relay,
    /// Resolving the target host name.
    Dns,
    /// The TCP connection to the target.
    Tcp,
    /// The SSH identification banners.
    Banner,
    /// Key exchange: algorithm negotiation and the key agreement.
    Kex,
    /// Checking the server's host key against the trusted one.
    Hostkey,
    /// This side: its options, key files and agent.
    Client,
    /// User authentication.
    Auth,
    /// Opening a session channel.
    Channel,
    /// Running a command.
    Exec,
    /// A forward or the forward probe.
    Forward,
    /// The established connection as a whole (keepalives, disconnects).
    Transport,
    /// No single layer; the event names the phase instead.
    Any,
}

impl Layer {
    /// The lower-case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Relay => "relay",
            Layer::Dns => "dns",
            Layer::Tcp => "tcp",
            Layer::Banner => "banner",
            Layer::Kex => "kex",
            Layer::Hostkey => "hostkey",
            Layer::Client => "client",
            Layer::Auth => "auth",
            Layer::Channel => "channel",
            Layer::Exec => "exec",
            Layer::Forward => "forward",
            Layer::Transport => "transport",
            Layer::Any => "any",
        }
    }
}

/// The phases of a session, in order; each has a duration in `VERDICT.data.phases`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Opening the WebSocket to the relay.
    Relay,
    /// Resolving the target host name.
    Dns,
    /// Connecting TCP to the target.
    Tcp,
    /// Exchanging identification banners.
    Banner,
    /// Key exchange.
    Kex,
    /// Checking the server's host key.
    Hostkey,
    /// Authenticating.
    Auth,
    /// Opening the session channel.
    Channel,
    /// Running the commands.
    Exec,
}

impl Phase {
    /// Every phase, in the order a session goes through them.
    pub const ALL: [Phase; 9] = [
        Phase::Relay,
        Phase::Dns,
        Phase::Tcp,
        Phase::Banner,
        Phase::Kex,
        Phase::Hostkey,
        Phase::Auth,
        Phase::Channel,
        Phase::Exec,
    ];

    /// The lower-case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Relay => "relay",
            Phase::Dns => "dns",
            Phase::Tcp => "tcp",
            Phase::Banner => "banner",
            Phase::Kex => "kex",
            Phase::Hostkey => "hostkey",
            Phase::Auth => "auth",
            Phase::Channel => "channel",
            Phase::Exec => "exec",
        }
    }
}

/// The kind of failure, with the seed's names kept (PascalCase on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[non_exhaustive]
pub enum ErrorType {
    /// The WebSocket to the relay could not be opened.
    ProxyUnreachable,
    /// The relay refused the target (policy, token or limit).
    ProxyDenied,
    /// The target host name did not resolve.
    DnsFailure,
    /// The target port refused the TCP connection.
    ConnectionRefused,
    /// The TCP connection was not answered in time.
    ConnectionTimeout,
    /// There is no route to the target host.
    HostUnreachable,
    /// The target answered with something other than SSH.
    NotSsh,
    /// No SSH banner arrived in time.
    BannerTimeout,
    /// The two sides share no algorithm in one category.
    NoMutualKex,
    /// Key exchange failed for another reason.
    KexFailed,
    /// The server's host key differs from the trusted one.
    HostKeyMismatch,
    /// Strict checking is on and no key is trusted for the host.
    HostKeyUnknown,
    /// The private key could not be used.
    KeyLoadError,
    /// Every authentication method tried was rejected.
    AuthFailed,
    /// The SSH agent was missing or failed.
    AgentError,
    /// The server refused a session channel.
    ChannelOpenFailed,
    /// The server refused to run a command.
    ExecFailed,
    /// A forward was refused or could not reach its target.
    ForwardFailed,
    /// The connection ended unexpectedly.
    Disconnected,
    /// Keepalives went unanswered.
    KeepaliveTimeout,
    /// The overall time limit ran out.
    Timeout,
    /// A bug in sshdiag.
    Internal,
    /// An option or input was malformed.
    InvalidInput,
    /// Whoever ran the diagnosis stopped it before it finished.
    Cancelled,
}

impl ErrorType {
    /// Every error type, from the outside in.
    pub const ALL: &'static [ErrorType] = &[
        ErrorType::ProxyUnreachable,
        ErrorType::ProxyDenied,
        ErrorType::DnsFailure,
        ErrorType::ConnectionRefused,
        ErrorType::ConnectionTimeout,
        ErrorType::HostUnreachable,
        ErrorType::NotSsh,
        ErrorType::BannerTimeout,
        ErrorType::NoMutualKex,
        ErrorType::KexFailed,
        ErrorType::HostKeyMismatch,
        ErrorType::HostKeyUnknown,
        ErrorType::KeyLoadError,
        ErrorType::AuthFailed,
        ErrorType::AgentError,
        ErrorType::ChannelOpenFailed,
        ErrorType::ExecFailed,
        ErrorType::ForwardFailed,
        ErrorType::Disconnected,
        ErrorType::KeepaliveTimeout,
        ErrorType::Timeout,
        ErrorType::Internal,
        ErrorType::InvalidInput,
        ErrorType::Cancelled,
    ];

    /// The error type with this PascalCase wire name, if it is one of ours.
    pub fn from_wire(name: &str) -> Option<ErrorType> {
        ErrorType::ALL.iter().copied().find(|t| t.as_str() == name)
    }

    /// The PascalCase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::ProxyUnreachable => "ProxyUnreachable",
            ErrorType::ProxyDenied => "ProxyDenied",
            ErrorType::DnsFailure => "DnsFailure",
            ErrorType::ConnectionRefused => "ConnectionRefused",
            ErrorType::ConnectionTimeout => "ConnectionTimeout",
            ErrorType::HostUnreachable => "HostUnreachable",
            ErrorType::NotSsh => "NotSsh",
            ErrorType::BannerTimeout => "BannerTimeout",
            ErrorType::NoMutualKex => "NoMutualKex",
            ErrorType::KexFailed => "KexFailed",
            ErrorType::HostKeyMismatch => "HostKeyMismatch",
            ErrorType::HostKeyUnknown => "HostKeyUnknown",
            ErrorType::KeyLoadError => "KeyLoadError",
            ErrorType::AuthFailed => "AuthFailed",
            ErrorType::AgentError => "AgentError",
            ErrorType::ChannelOpenFailed => "ChannelOpenFailed",
            ErrorType::ExecFailed => "ExecFailed",
            ErrorType::ForwardFailed => "ForwardFailed",
            ErrorType::Disconnected => "Disconnected",
            ErrorType::KeepaliveTimeout => "KeepaliveTimeout",
            ErrorType::Timeout => "Timeout",
            ErrorType::Internal => "Internal",
            ErrorType::InvalidInput => "InvalidInput",
            ErrorType::Cancelled => "Cancelled",
        }
    }

    /// The code used when no finer code applies.
    pub fn code(self) -> Code {
        match self {
            ErrorType::ProxyUnreachable => Code::ProxyUnreachable,
            ErrorType::ProxyDenied => Code::ProxyDenied,
            ErrorType::DnsFailure => Code::DnsFailure,
            ErrorType::ConnectionRefused => Code::ConnectionRefused,
            ErrorType::ConnectionTimeout => Code::ConnectionTimeout,
            ErrorType::HostUnreachable => Code::HostUnreachable,
            ErrorType::NotSsh => Code::NotSsh,
            ErrorType::BannerTimeout => Code::BannerTimeout,
            ErrorType::NoMutualKex => Code::NoMutualKex,
            ErrorType::KexFailed => Code::KexFailed,
            ErrorType::HostKeyMismatch => Code::HostKeyMismatch,
            ErrorType::HostKeyUnknown => Code::HostKeyUnknown,
            ErrorType::KeyLoadError => Code::KeyLoadError,
            ErrorType::AuthFailed => Code::AuthFailed,
            ErrorType::AgentError => Code::AgentError,
            ErrorType::ChannelOpenFailed => Code::ChannelOpenFailed,
            ErrorType::ExecFailed => Code::ExecFailed,
            ErrorType::ForwardFailed => Code::ForwardFailed,
            ErrorType::Disconnected => Code::Disconnected,
            ErrorType::KeepaliveTimeout => Code::KeepaliveTimeout,
            ErrorType::Timeout => Code::Timeout,
            ErrorType::Internal => Code::Internal,
            ErrorType::InvalidInput => Code::InvalidInput,
            ErrorType::Cancelled => Code::Cancelled,
        }
    }

    /// The layer this kind of failure belongs to (`Timeout` and `Internal` say `any`; the
    /// event then names the phase it happened in).
    pub fn layer(self) -> Layer {
        match self {
            ErrorType::ProxyUnreachable | ErrorType::ProxyDenied => Layer::Relay,
            ErrorType::DnsFailure => Layer::Dns,
            ErrorType::ConnectionRefused
            | ErrorType::ConnectionTimeout
            | ErrorType::HostUnreachable => Layer::Tcp,
            ErrorType::NotSsh | ErrorType::BannerTimeout => Layer::Banner,
            ErrorType::NoMutualKex | ErrorType::KexFailed => Layer::Kex,
            ErrorType::HostKeyMismatch | ErrorType::HostKeyUnknown => Layer::Hostkey,
            ErrorType::KeyLoadError
            | ErrorType::AgentError
            | ErrorType::InvalidInput
            | ErrorType::Cancelled => Layer::Client,
            ErrorType::AuthFailed => Layer::Auth,
            ErrorType::ChannelOpenFailed => Layer::Channel,
            ErrorType::ExecFailed => Layer::Exec,
            ErrorType::ForwardFailed => Layer::Forward,
            ErrorType::Disconnected | ErrorType::KeepaliveTimeout => Layer::Transport,
            ErrorType::Timeout | ErrorType::Internal => Layer::Any,
        }
    }
}

impl std::fmt::Display for ErrorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Renders the code catalog as Markdown: the exact contents of `docs/codes.md`.
///
/// `cargo xtask codegen` writes this to the file, and a test fails when the file is stale. The
/// output depends only on the catalog above, so it is the same on every machine.
pub fn codes_markdown() -> String {
    let mut out = String::new();
    out.push_str("# Message codes\n\n");
    out.push_str(
        "<!-- Generated from crates/sshdiag-events/src/codes.rs by `cargo xtask codegen`. \
         Do not edit by hand. -->\n\n",
    );
    out.push_str(
        "Every event sshdiag writes and every line its relay logs carries a `code`: a stable \
         kebab-case name that scripts, support macros and dashboards can match on. A code is \
         never renamed once released; new codes may be added. Failures also carry an \
         `error_type`; those are listed at the end with their layer.\n",
    );
    for (group, intro, codes) in Code::GROUPS {
        out.push_str(&format!("\n## {group}\n\n{intro}\n\n"));
        for code in *codes {
            out.push_str(&format!(
                "- `{}` indicates that {}.\n",
                code.as_str(),
                code.doc()
            ));
        }
    }
    out.push_str("\n## Error types\n\n");
    out.push_str(
        "Every failure ends in exactly one `ERROR` event whose `error_type` is one of these. \
         The code is the one used when no finer code applies; the layer is where in the stack \
         the failure happened (`any` means the event names the phase instead).\n\n",
    );
    out.push_str("| error_type | layer | code |\n|---|---|---|\n");
    for error_type in ErrorType::ALL {
        out.push_str(&format!(
            "| `{}` | `{}` | `{}` |\n",
            error_type.as_str(),
            error_type.layer().as_str(),
            error_type.code().as_str()
        ));
    }
    out
}
