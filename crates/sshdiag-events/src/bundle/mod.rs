//! The evidence bundle: one JSON document holding everything needed to diagnose a session
//! without reconnecting (see `shared/spec/bundle.md`).
//!
//! Front ends hand over only what they know first-hand — the session's facts ([`SessionInfo`]),
//! its events and the command transcript — and [`Bundle::from_session`] derives the rest from
//! the events: `verdict` from the `VERDICT` event, `algorithms` from the `KEX` events, `server`
//! from `VERSION` and `HOSTKEY`, `timing` from the verdict's phases and the event timestamps,
//! `disconnect_reason` from `DISCONNECT`, `error_context` from `ERROR`, `audit` from `AUDIT`.
//! One derivation, so the page, the CLI and the viewer can never disagree about a session.
//!
//! # Document shape
//!
//! The keys are exactly those of bundle.md, always present (`null` when unknown), except
//! `audit` (only when the audit ran), `ssh_config` (only from the CLI with a configuration),
//! `hops` (only through jump hosts) and `integrity` (absent only in a hand-made file). The
//! seed's keys keep their names: `bundle.timing.connect_duration_ms`, `bundle.algorithms.kex`,
//! `bundle.disconnect_reason`, `bundle.error_context` work as nbs-ssh documents them.
//! [`Bundle::to_json`] writes pretty-printed JSON for people to read.
//!
//! # Integrity
//!
//! `integrity.sha256` is the lowercase hex SHA-256 of the bundle's **canonical serialisation**:
//! the document without its `integrity` key, as compact JSON (no whitespace) with the keys of
//! every object sorted by their UTF-8 bytes, strings escaped as serde_json escapes them and
//! numbers written as serde_json writes them (integers as integers, floats in their shortest
//! round-tripping form, e.g. `45.0`). See [`canonical_json`]. It detects edits, not forgery:
//! anyone can recompute it. For a bundle read by [`Bundle::from_json`],
//! [`Bundle::verify_integrity`] checks the document exactly as it was read, so keys a newer
//! 1.x added (which these types drop) are covered too; for a bundle built in memory it checks
//! the bundle as it is now. After changing a bundle's fields by hand, call [`Bundle::seal`].
//!
//! # Reading
//!
//! [`Bundle::from_json`] refuses bad input with a [`BundleError`] whose message a person can
//! act on (not JSON, not a bundle, a newer major version, over 20 MiB, an event that does not
//! parse, named by its index) and never panics. It still loads an edited bundle, so the viewer
//! can show it and say plainly that it was edited.
//!
//! This module never does I/O, never contacts anything, and never puts a secret into a bundle:
//! free text passes through [`crate::scrub::scrub_secrets`] even in the raw form.
//!
//! # Layout
//!
//! This file holds the document's types and [`Bundle::from_session`]; [`derive`] is the one
//! derivation of facts from events, [`chain`] the same facts per server of a jump-host chain,
//! [`view`] the page's view of a session made from them,
//! `load` reads a bundle, `canonical` computes its integrity digest, and `walk` visits every
//! string of a bundle by kind (the scrubber here and the redactor both use it). The redactor
//! depends on this module, never the other way round: pseudonyms and the redacted writing of
//! a bundle live in the `redact` module.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::codes::{ErrorType, Layer, Phase};
use crate::event::{AuditData, DisconnectReason, ErrorData, Event, Proposal};

pub(crate) mod canonical;
pub mod chain;
pub mod derive;
mod load;
pub mod view;
pub(crate) mod walk;

pub use canonical::{canonical_json, json_tree};
pub use chain::{ChainEntry, ChainHop};
pub use derive::{Derived, derive_from_events, software_from_banner};
pub use load::BundleError;
pub use view::{HostKeyMismatch, SessionView};

/// The value of the `format` key.
pub const FORMAT: &str = "sshdiag-evidence-bundle";
/// The bundle format version this crate writes: 1.1 added `hops` (the jump-host chain);
/// a 1.0 bundle reads as one without it.
pub const VERSION: &str = "1.1";
/// The major format version this crate reads.
pub const READABLE_MAJOR: u64 = 1;
/// Largest input [`Bundle::from_json`] accepts: 20 MiB.
pub const MAX_BUNDLE_BYTES: usize = 20 * 1024 * 1024;
/// Output kept per command and stream in `transcript`: 64 KiB.
pub const DEFAULT_OUTPUT_CAP: usize = 64 * 1024;

/// What a front end knows about a session first-hand.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct SessionInfo {
    /// The id of the diagnosis (also in its events and the relay's logs).
    pub connection_id: String,
    /// When the bundle is made, Unix milliseconds.
    pub created_ms: u64,
    /// The program that ran the diagnosis.
    pub tool: ToolInfo,
    /// The target host, as the user gave it.
    pub host: String,
    /// The target port.
    pub port: u16,
    /// The user the diagnosis logged in as.
    pub username: String,
    /// The relay URL, without credentials; `None` for direct TCP.
    pub proxy: Option<String>,
    /// The jump hosts passed through to the target, in order; empty for a direct run.
    #[serde(default)]
    pub jump: Vec<ChainEntry>,
}

/// Which program made the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct ToolInfo {
    /// The program's name, `sshdiag`.
    pub name: String,
    /// Its version.
    pub version: String,
    /// `wasm32` or `native`.
    pub runtime: String,
    /// The browser's user agent, in the browser.
    pub user_agent: Option<String>,
}

impl ToolInfo {
    /// sshdiag at this crate's version, on the given runtime.
    pub fn sshdiag(runtime: &str, user_agent: Option<String>) -> ToolInfo {
        ToolInfo {
            name: "sshdiag".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            runtime: runtime.to_string(),
            user_agent,
        }
    }
}

/// The target, as the user asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct HostInfo {
    /// The target host (a pseudonym when redacted).
    pub host: String,
    /// The target port.
    pub port: u16,
    /// The user name (a pseudonym when redacted).
    pub username: String,
    /// The relay URL without credentials; `None` for direct TCP.
    pub proxy: Option<String>,
    /// True when the identities in this bundle are pseudonyms.
    pub redacted: bool,
}

/// The outcome, as the `VERDICT` event gave it (its phases are in `timing.phases`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct BundleVerdict {
    /// True when every step succeeded.
    pub ok: bool,
    /// The layer reached (success) or that failed.
    pub layer: Option<Layer>,
    /// The kind of failure, when it failed.
    pub error_type: Option<ErrorType>,
    /// The message code of the outcome.
    pub code: String,
    /// One sentence for people.
    pub summary: String,
    /// What to do, from the evidence of the run.
    pub hints: Vec<String>,
}

/// One command that ran, with its output (capped) and real output lengths.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct TranscriptEntry {
    /// The command as given.
    pub command: String,
    /// `None` when the command was killed by a signal or its status never arrived.
    pub exit_code: Option<i64>,
    /// The signal that ended the command, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_signal: Option<String>,
    /// The output kept (at most the cap), or `None` when redaction removed it.
    #[serde(default)]
    pub stdout: Option<String>,
    /// The standard error kept, like `stdout`.
    #[serde(default)]
    pub stderr: Option<String>,
    /// Bytes the command really wrote, kept or not.
    pub stdout_len: u64,
    /// Bytes the command really wrote to standard error.
    pub stderr_len: u64,
    /// True when kept output is shorter than what was written.
    pub truncated: bool,
    /// True when sshdiag changed the command's text before writing it: a secret scrubbed to
    /// `[REDACTED]`, or (in a redacted bundle) a name or address replaced by its pseudonym, so
    /// `ls /home/user-3ff3a1b2/blob` is not what was typed. Absent when the text is as run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub command_redacted: bool,
}

impl TranscriptEntry {
    /// An entry from raw output; bytes that are not UTF-8 are replaced with U+FFFD. Set
    /// `stdout_len`/`stderr_len` afterwards if the front end dropped output itself.
    pub fn from_output(
        command: impl Into<String>,
        exit_code: Option<i64>,
        stdout: &[u8],
        stderr: &[u8],
    ) -> TranscriptEntry {
        TranscriptEntry {
            command: command.into(),
            exit_code,
            exit_signal: None,
            stdout: Some(String::from_utf8_lossy(stdout).into_owned()),
            stderr: Some(String::from_utf8_lossy(stderr).into_owned()),
            stdout_len: stdout.len() as u64,
            stderr_len: stderr.len() as u64,
            truncated: false,
            command_redacted: false,
        }
    }

    /// An entry from what a front end recorded: the output it kept (raw bytes, decoded with
    /// U+FFFD for what is not UTF-8), the lengths the command really wrote, and whether the
    /// front end already dropped output. A length of 0 beside kept output is taken from it.
    // The arguments mirror a recorded command one to one; a struct for them would only be
    // this struct again.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        command: impl Into<String>,
        exit_code: Option<i64>,
        exit_signal: Option<String>,
        stdout: &[u8],
        stderr: &[u8],
        stdout_len: u64,
        stderr_len: u64,
        truncated: bool,
    ) -> TranscriptEntry {
        let mut entry = TranscriptEntry::from_output(command, exit_code, stdout, stderr);
        entry.exit_signal = exit_signal;
        let real_len = |given: u64, kept: &[u8]| if given == 0 { kept.len() as u64 } else { given };
        entry.stdout_len = real_len(stdout_len, stdout);
        entry.stderr_len = real_len(stderr_len, stderr);
        entry.truncated = truncated
            || entry.stdout_len > stdout.len() as u64
            || entry.stderr_len > stderr.len() as u64;
        entry
    }

    /// Keeps at most `cap` bytes of each stream (cut at a character boundary), marking the
    /// entry truncated when less is kept than was written. A length left at 0 beside kept
    /// output is taken from the output.
    pub fn cap_output(&mut self, cap: usize) {
        for (stream, len) in [
            (&mut self.stdout, &mut self.stdout_len),
            (&mut self.stderr, &mut self.stderr_len),
        ] {
            let Some(text) = stream.as_mut() else {
                continue;
            };
            if *len == 0 {
                *len = text.len() as u64;
            }
            if text.len() > cap {
                let mut cut = cap;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
                self.truncated = true;
            }
            if (text.len() as u64) < *len {
                self.truncated = true;
            }
        }
    }
}

/// Negotiated algorithms and both proposals.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct Algorithms {
    /// The key exchange algorithm.
    pub kex: Option<String>,
    /// The host key algorithm.
    pub host_key: Option<String>,
    /// The cipher, client to server.
    pub cipher_cs: Option<String>,
    /// The cipher, server to client.
    pub cipher_sc: Option<String>,
    /// The MAC, client to server (`implicit` for AEAD ciphers).
    pub mac_cs: Option<String>,
    /// The MAC, server to client.
    pub mac_sc: Option<String>,
    /// Compression, client to server.
    pub compression_cs: Option<String>,
    /// Compression, server to client.
    pub compression_sc: Option<String>,
    /// Whether strict key exchange (the Terrapin countermeasure) is on.
    pub strict_kex: Option<bool>,
    /// Our KEXINIT proposal.
    pub client_proposal: Option<Proposal>,
    /// The server's KEXINIT proposal.
    pub server_proposal: Option<Proposal>,
    /// The signature algorithms the server accepts for user keys.
    pub server_sig_algs: Option<Vec<String>>,
}

/// What the server said about itself, and what it saw of this client (where to find the
/// attempt in its log).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct ServerInfo {
    /// The raw identification line, e.g. `SSH-2.0-OpenSSH_9.2p1 Debian-2`.
    pub banner: Option<String>,
    /// The software version from the banner, e.g. `OpenSSH_9.2p1`.
    pub software: Option<String>,
    /// The server's host key, when it was seen.
    pub host_key: Option<ServerHostKey>,
    /// The source address and port the server saw this connection come from (`ADDR:PORT`,
    /// its log's `from ADDR port PORT`): this machine's, or the relay's through a relay.
    #[serde(default)]
    pub source: Option<String>,
    /// The identification line this client sent, e.g. `SSH-2.0-sshdiag_0.1.0` (sshd logs it
    /// as the remote software version at `LogLevel DEBUG`).
    #[serde(default)]
    pub client_version: Option<String>,
    /// Every host key the server has, as the run's last `HOSTKEY_INVENTORY` event lists them
    /// (the server's announcement after login, or a scan when asked), each with the trusted
    /// key it matches. Absent when no inventory was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_keys: Option<crate::inventory::HostkeyInventoryData>,
}

/// The public facts about the server's host key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct ServerHostKey {
    /// The key's algorithm, e.g. `ssh-ed25519`.
    pub algorithm: String,
    /// `SHA256:…` as OpenSSH prints it.
    pub fingerprint_sha256: String,
}

/// Durations in milliseconds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct Timing {
    /// relay + dns + tcp + banner + kex + hostkey (the phases reached).
    pub connect_duration_ms: f64,
    /// The auth phase; 0 when it was not reached.
    pub auth_duration_ms: f64,
    /// Last event's timestamp minus the first's.
    pub total_duration_ms: f64,
    /// Milliseconds per phase reached, from the `VERDICT` event.
    pub phases: BTreeMap<Phase, f64>,
}

/// What redaction did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct Redaction {
    /// True when identities were replaced by pseudonyms and output removed.
    pub applied: bool,
    /// How many values of each kind were replaced.
    pub replaced: ReplacedCounts,
    /// Where redaction changed free text (a pseudonym or `[REDACTED]` inside a message,
    /// hint, command or reason), as JSON Pointers into this document (`/transcript/0/command`,
    /// `/events/12/data/message`). Fields that are an identity (`username`, `host`, …) are
    /// replaced whole and not listed. Empty in a raw bundle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
}

/// Replacements made, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct ReplacedCounts {
    /// User names replaced.
    #[serde(default)]
    pub username: u64,
    /// Host names replaced.
    #[serde(default)]
    pub host: u64,
    /// IP addresses replaced.
    #[serde(default)]
    pub address: u64,
    /// Transcript streams removed.
    #[serde(default)]
    pub output: u64,
    /// Secrets scrubbed (done in raw bundles too).
    #[serde(default)]
    pub secret: u64,
}

/// The integrity digest of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct Integrity {
    /// Lowercase hex SHA-256 of the canonical serialisation; see the module docs.
    pub sha256: String,
}

/// The result of [`Bundle::verify_integrity`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum IntegrityStatus {
    /// The bundle is as sshdiag wrote it.
    Valid,
    /// The bundle was changed after it was written.
    Mismatch {
        /// The digest the bundle carries.
        expected: String,
        /// The digest of the bundle as it is.
        actual: String,
    },
    /// The bundle has no `integrity` key, so edits cannot be detected.
    Missing,
}

/// The digest of the document as it was read, kept out of the document itself. It compares
/// equal to any other, so two bundles with the same content are equal however they were made.
#[derive(Debug, Clone, Default)]
pub(crate) struct LoadedDigest(pub(crate) Option<String>);

impl PartialEq for LoadedDigest {
    fn eq(&self, _other: &LoadedDigest) -> bool {
        true
    }
}

/// One `ssh_config` line that set a value for the run: where, and which keyword.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct ConfigLine {
    /// The keyword (`HostName`, `IdentityFile`, …).
    pub keyword: String,
    /// The file it was read from (`command line` for `-o` and flags).
    pub file: String,
    /// The line in that file (0 for the command line).
    pub line: u64,
}

/// The evidence bundle. See the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct Bundle {
    /// Always [`FORMAT`].
    pub format: String,
    /// The format version, e.g. `1.0`.
    pub version: String,
    /// When the bundle was made, Unix milliseconds.
    pub created_ms: u64,
    /// The id of the diagnosis.
    pub connection_id: String,
    /// The program that made the bundle.
    pub tool: ToolInfo,
    /// The target, as the user asked for it.
    pub host_info: HostInfo,
    /// The outcome, derived from the `VERDICT` event.
    pub verdict: BundleVerdict,
    /// Every event of the session, in order.
    pub events: Vec<Event>,
    /// The commands that ran, with their output.
    pub transcript: Vec<TranscriptEntry>,
    /// Negotiated algorithms and both proposals, derived from the `KEX` events.
    pub algorithms: Algorithms,
    /// What the server said about itself, derived from `VERSION` and `HOSTKEY`.
    pub server: ServerInfo,
    /// Durations, derived from the verdict's phases and the timestamps.
    pub timing: Timing,
    /// Why the session ended, from the `DISCONNECT` event.
    pub disconnect_reason: Option<DisconnectReason>,
    /// The `ERROR` event's data, when the session failed.
    pub error_context: Option<ErrorData>,
    /// What redaction did.
    pub redaction: Redaction,
    /// The algorithm audit's findings, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<Vec<AuditData>>,
    /// The `ssh_config` lines that set a value for this run (CLI), keyword and place only:
    /// the values stay out, and a redacted bundle treats the file names as free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_config: Option<Vec<ConfigLine>>,
    /// Through jump hosts (format 1.1): every server of the chain in order, jump hosts then
    /// the target, each with its own facts (see [`chain`]); absent for a direct run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hops: Option<Vec<ChainHop>>,
    /// The integrity digest; see the module docs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<Integrity>,
    #[serde(skip)]
    pub(crate) loaded_digest: LoadedDigest,
}

impl Bundle {
    /// Builds a bundle from what a front end knows, deriving the rest from the events (see the
    /// module docs). Output is capped at [`DEFAULT_OUTPUT_CAP`] per command and stream.
    pub fn from_session(
        info: SessionInfo,
        events: Vec<Event>,
        transcript: Vec<TranscriptEntry>,
    ) -> Bundle {
        Bundle::from_session_capped(info, events, transcript, DEFAULT_OUTPUT_CAP)
    }

    /// [`Bundle::from_session`] with another output cap (bytes per command and stream).
    pub fn from_session_capped(
        info: SessionInfo,
        mut events: Vec<Event>,
        mut transcript: Vec<TranscriptEntry>,
        output_cap: usize,
    ) -> Bundle {
        for event in &mut events {
            if !event.timestamp.is_finite() {
                event.timestamp = 0.0;
            }
        }
        for entry in &mut transcript {
            entry.cap_output(output_cap);
        }
        let derived = derive_from_events(&events);
        let target = ChainEntry {
            host: info.host.clone(),
            port: info.port,
            username: info.username.clone(),
        };
        let hops = chain::chain_from_events(&info.jump, target, &events);
        let mut bundle = Bundle {
            format: FORMAT.to_string(),
            version: VERSION.to_string(),
            created_ms: info.created_ms,
            connection_id: info.connection_id,
            tool: info.tool,
            host_info: HostInfo {
                host: info.host,
                port: info.port,
                username: info.username,
                proxy: info.proxy,
                redacted: false,
            },
            verdict: derived.verdict,
            algorithms: derived.algorithms,
            server: derived.server,
            timing: derived.timing,
            disconnect_reason: derived.disconnect_reason,
            error_context: derived.error_context,
            redaction: Redaction::default(),
            audit: derived.audit,
            ssh_config: None,
            hops,
            integrity: None,
            loaded_digest: LoadedDigest(None),
            events,
            transcript,
        };
        bundle.redaction.replaced.secret += walk::scrub_bundle(&mut bundle);
        bundle.seal();
        bundle
    }
}
