//! The JS API's own shapes as Rust types, so the npm package's TypeScript declarations are
//! generated (tsify) rather than written by hand: the options of `new Diagnostics()` and of
//! `bundle()`. The wire and file types they hold come from `sshdiag-events` with its `ts`
//! feature; what `openBundle`/`openEventLog` return is declared by the viewer's module
//! (`sshdiag-viewer`), whose declarations the `.d.ts` of this one imports.
//!
//! The options are checked by hand in `options.rs`, so a mistake is refused with a message
//! naming the option; that module's test reads what those checks accept into
//! [`DiagnosticsOptions`] too, so the declared type and the accepted options cannot drift apart
//! unnoticed. The module itself never reads options into these types: they are declarations.

use serde::Deserialize;
use sshdiag_events::HostKeyPolicy;
use tsify::Tsify;

/// The options of `new Diagnostics(options)` (docs/embed.md has every one explained).
#[derive(Deserialize, Tsify)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DiagnosticsOptions {
    /// The relay's WebSocket URL; default: this page's origin + `/ws`.
    #[tsify(optional)]
    pub proxy_url: Option<String>,
    /// The SSH server.
    pub host: String,
    /// Its port (default 22).
    #[tsify(optional)]
    pub port: Option<f64>,
    /// The user to log in as.
    pub username: String,
    /// The credential (default: probe only).
    #[tsify(optional)]
    pub auth: Option<AuthOptions>,
    /// Commands to run after logging in.
    #[tsify(optional)]
    pub commands: Option<Vec<String>>,
    /// The limit of each connecting step, in ms (default 10000).
    #[tsify(optional)]
    pub connect_timeout_ms: Option<f64>,
    /// The relay token.
    #[tsify(optional)]
    pub token: Option<String>,
    /// As OpenSSH's `StrictHostKeyChecking` (default `"accept-new"`).
    #[tsify(optional)]
    pub host_key_policy: Option<HostKeyPolicy>,
    /// Algorithm preferences in OpenSSH syntax.
    #[tsify(optional)]
    pub algorithms: Option<AlgorithmOptions>,
    /// `"host:port"` the server is asked to open a `direct-tcpip` channel to.
    #[tsify(optional)]
    pub forward_probe: Option<String>,
    /// SSH keepalives every this many ms.
    #[tsify(optional)]
    pub keepalive_interval_ms: Option<f64>,
    /// Keepalives unanswered before giving up (default 3).
    #[tsify(optional)]
    pub keepalive_max_missed: Option<f64>,
    /// Keep the session open this long after the commands, in ms.
    #[tsify(optional)]
    pub hold_ms: Option<f64>,
    /// Fresh attempts after a transient failure.
    #[tsify(optional)]
    pub retries: Option<f64>,
    /// The deep audit: one extra connection that measures the group a group-exchange server
    /// hands out (default `false`).
    #[tsify(optional)]
    pub deep_audit: Option<bool>,
    /// The jump hosts to pass through, in order (OpenSSH's `ProxyJump`).
    #[tsify(optional)]
    pub jump: Option<Vec<JumpHostOptions>>,
    /// Host certificate authorities: public key lines (`ssh-ed25519 AAAA… host-ca`), trusted
    /// for every host, or `@cert-authority PATTERNS KEY` lines.
    #[tsify(optional)]
    pub trusted_host_cas: Option<Vec<String>>,
    /// The session check after logging in (a command runs as sent, sftp answers, a terminal
    /// is allowed); `false` turns it off, as the CLI's `--no-session-check` (default `true`).
    #[tsify(optional)]
    pub session_check: Option<bool>,
    /// The host key inventory: one extra key exchange per host key type, before
    /// authentication, to list every key the server has (default `false`).
    #[tsify(optional)]
    pub host_key_inventory: Option<bool>,
}

/// One jump host of `jump`.
#[derive(Deserialize, Tsify)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JumpHostOptions {
    /// The jump host's name or address (the first one as the relay resolves it, the others as
    /// the jump host before resolves them).
    pub host: String,
    /// Its SSH port (default 22).
    #[tsify(optional)]
    pub port: Option<f64>,
    /// The user to log in as there (default: the target's).
    #[tsify(optional)]
    pub username: Option<String>,
    /// The credential there (default: the target's).
    #[tsify(optional)]
    pub auth: Option<AuthOptions>,
}

/// The credential of a run.
#[derive(Deserialize, Tsify)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum AuthOptions {
    /// A password.
    Password {
        /// The password.
        password: String,
    },
    /// A private key's text (OpenSSH, PEM or PuTTY).
    PrivateKey {
        /// The key file's text.
        key: String,
        /// Its passphrase, if it is encrypted.
        #[tsify(optional)]
        passphrase: Option<String>,
        /// A name for messages (a file name).
        #[tsify(optional)]
        label: Option<String>,
        /// The key's OpenSSH user certificate: the one line of its `…-cert.pub` file.
        #[tsify(optional)]
        certificate: Option<String>,
    },
    /// Answers to the server's keyboard-interactive prompts, in order.
    KeyboardInteractive {
        /// The answers.
        answers: Vec<String>,
    },
    /// No secret: ask the server which methods it accepts.
    Probe,
}

/// Algorithm preferences, each in OpenSSH syntax (`+` adds, `-` removes, `^` puts first).
#[derive(Deserialize, Tsify)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlgorithmOptions {
    /// `KexAlgorithms`.
    #[tsify(optional)]
    pub kex: Option<String>,
    /// `HostKeyAlgorithms`.
    #[tsify(optional)]
    pub host_key: Option<String>,
    /// `Ciphers`.
    #[tsify(optional)]
    pub ciphers: Option<String>,
    /// `MACs`.
    #[tsify(optional)]
    pub macs: Option<String>,
}

/// The options of `d.bundle(options)`.
#[derive(Deserialize, Tsify)]
#[serde(deny_unknown_fields)]
pub struct BundleOptions {
    /// Redact it (the default) or not.
    #[tsify(optional)]
    pub redact: Option<bool>,
}
