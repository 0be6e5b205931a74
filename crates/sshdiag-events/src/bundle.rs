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
//! `audit` (only when the audit ran) and `integrity` (absent only in a hand-made file). The
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
//! free text passes through [`crate::redact::scrub_secrets`] even in the raw form.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::codes::{Code, ErrorType, Layer, Phase};
use crate::event::{
    AuditData, DisconnectReason, ErrorData, Event, EventData, HostkeyData, Proposal, VersionData,
};
use crate::jsonl::json_kind;
use crate::redact::{self, Redactor};

/// The value of the `format` key.
pub const FORMAT: &str = "sshdiag-evidence-bundle";
/// The bundle format version this crate writes.
pub const VERSION: &str = "1.0";
/// The major format version this crate reads.
pub const READABLE_MAJOR: u64 = 1;
/// Largest input [`Bundle::from_json`] accepts: 20 MiB.
pub const MAX_BUNDLE_BYTES: usize = 20 * 1024 * 1024;
/// Output kept per command and stream in `transcript`: 64 KiB.
pub const DEFAULT_OUTPUT_CAP: usize = 64 * 1024;

/// What a front end knows about a session first-hand.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SessionInfo {
    pub connection_id: String,
    /// When the bundle is made, Unix milliseconds.
    pub created_ms: u64,
    pub tool: ToolInfo,
    pub host: String,
    pub port: u16,
    pub username: String,
    /// The relay URL, without credentials; `None` for direct TCP.
    pub proxy: Option<String>,
}

/// Which program made the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
    /// `wasm32` or `native`.
    pub runtime: String,
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
pub struct HostInfo {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub proxy: Option<String>,
    /// True when the identities in this bundle are pseudonyms.
    pub redacted: bool,
}

/// The outcome, as the `VERDICT` event gave it (its phases are in `timing.phases`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BundleVerdict {
    pub ok: bool,
    pub layer: Option<Layer>,
    pub error_type: Option<ErrorType>,
    pub code: String,
    pub summary: String,
    pub hints: Vec<String>,
}

/// One command that ran, with its output (capped) and real output lengths.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TranscriptEntry {
    pub command: String,
    /// `None` when the command was killed by a signal or its status never arrived.
    pub exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_signal: Option<String>,
    /// The output kept (at most the cap), or `None` when redaction removed it.
    #[serde(default)]
    pub stdout: Option<String>,
    #[serde(default)]
    pub stderr: Option<String>,
    /// Bytes the command really wrote, kept or not.
    pub stdout_len: u64,
    pub stderr_len: u64,
    /// True when kept output is shorter than what was written.
    pub truncated: bool,
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
pub struct Algorithms {
    pub kex: Option<String>,
    pub host_key: Option<String>,
    pub cipher_cs: Option<String>,
    pub cipher_sc: Option<String>,
    pub mac_cs: Option<String>,
    pub mac_sc: Option<String>,
    pub compression_cs: Option<String>,
    pub compression_sc: Option<String>,
    pub strict_kex: Option<bool>,
    pub client_proposal: Option<Proposal>,
    pub server_proposal: Option<Proposal>,
    pub server_sig_algs: Option<Vec<String>>,
}

/// What the server said about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServerInfo {
    /// The raw identification line, e.g. `SSH-2.0-OpenSSH_9.2p1 Debian-2`.
    pub banner: Option<String>,
    /// The software version from the banner, e.g. `OpenSSH_9.2p1`.
    pub software: Option<String>,
    pub host_key: Option<ServerHostKey>,
}

/// The public facts about the server's host key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServerHostKey {
    pub algorithm: String,
    /// `SHA256:…` as OpenSSH prints it.
    pub fingerprint_sha256: String,
}

/// Durations in milliseconds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
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
pub struct Redaction {
    /// True when identities were replaced by pseudonyms and output removed.
    pub applied: bool,
    pub replaced: ReplacedCounts,
}

/// Replacements made, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReplacedCounts {
    #[serde(default)]
    pub username: u64,
    #[serde(default)]
    pub host: u64,
    #[serde(default)]
    pub address: u64,
    /// Transcript streams removed.
    #[serde(default)]
    pub output: u64,
    /// Secrets scrubbed (done in raw bundles too).
    #[serde(default)]
    pub secret: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Integrity {
    /// Lowercase hex SHA-256 of the canonical serialisation; see the module docs.
    pub sha256: String,
}

/// The result of [`Bundle::verify_integrity`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum IntegrityStatus {
    /// The bundle is as sshdiag wrote it.
    Valid,
    /// The bundle was changed after it was written.
    Mismatch { expected: String, actual: String },
    /// The bundle has no `integrity` key, so edits cannot be detected.
    Missing,
}

/// The digest of the document as it was read, kept out of the document itself. It compares
/// equal to any other, so two bundles with the same content are equal however they were made.
#[derive(Debug, Clone, Default)]
pub(crate) struct LoadedDigest(Option<String>);

impl PartialEq for LoadedDigest {
    fn eq(&self, _other: &LoadedDigest) -> bool {
        true
    }
}

/// The evidence bundle. See the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    pub format: String,
    pub version: String,
    pub created_ms: u64,
    pub connection_id: String,
    pub tool: ToolInfo,
    pub host_info: HostInfo,
    pub verdict: BundleVerdict,
    pub events: Vec<Event>,
    pub transcript: Vec<TranscriptEntry>,
    pub algorithms: Algorithms,
    pub server: ServerInfo,
    pub timing: Timing,
    pub disconnect_reason: Option<DisconnectReason>,
    /// The `ERROR` event's data, when the session failed.
    pub error_context: Option<ErrorData>,
    pub redaction: Redaction,
    /// The algorithm audit's findings, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<Vec<AuditData>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<Integrity>,
    #[serde(skip)]
    pub(crate) loaded_digest: LoadedDigest,
}

/// Why a bundle could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    #[error(
        "this file is {size} bytes, over the {limit}-byte (20 MiB) limit for an evidence bundle"
    )]
    TooLarge { size: usize, limit: usize },
    #[error("this file is not text (invalid UTF-8 at byte {offset}), so it is not a bundle")]
    NotUtf8 { offset: usize },
    #[error("this file is not JSON (line {line}, column {column}: {reason})")]
    NotJson {
        line: usize,
        column: usize,
        reason: String,
    },
    #[error(
        "this is an event log (JSON Lines, one event per line), not an evidence bundle; open it \
         as an event log instead"
    )]
    LooksLikeJsonl,
    #[error("this is not an sshdiag evidence bundle: the file holds {found}, not a JSON object")]
    NotAnObject { found: String },
    #[error(
        "this is not an sshdiag evidence bundle: its `format` is {found}, expected \
         \"sshdiag-evidence-bundle\""
    )]
    WrongFormat { found: String },
    #[error("this bundle was made by a newer sshdiag ({major}.x); this viewer reads 1.x")]
    NewerVersion { version: String, major: u64 },
    #[error("this bundle has version {version}, which this viewer cannot read (it reads 1.x)")]
    UnsupportedVersion { version: String },
    #[error("events[{index}]: {reason}")]
    BadEvent { index: usize, reason: String },
    #[error("{field}: {reason}")]
    BadField { field: String, reason: String },
    #[error("sshdiag could not serialise the bundle (a bug; please report it): {reason}")]
    Serialize { reason: String },
}

impl BundleError {
    /// The message code for this failure.
    pub fn code(&self) -> Code {
        match self {
            BundleError::Serialize { .. } => Code::Internal,
            _ => Code::InvalidInput,
        }
    }
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
        let verdict_data = events.iter().rev().find_map(|e| match &e.data {
            EventData::Verdict(v) => Some(v.clone()),
            _ => None,
        });
        let error = events.iter().rev().find_map(|e| match &e.data {
            EventData::Error(d) => Some((e.code.clone(), d.clone())),
            _ => None,
        });
        let phases: BTreeMap<Phase, f64> = verdict_data
            .as_ref()
            .map(|v| {
                v.phases
                    .iter()
                    .filter(|(_, ms)| ms.is_finite())
                    .map(|(p, ms)| (*p, *ms))
                    .collect()
            })
            .unwrap_or_default();
        let audit: Vec<AuditData> = events
            .iter()
            .filter_map(|e| match &e.data {
                EventData::Audit(a) => Some(a.clone()),
                _ => None,
            })
            .collect();
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
            verdict: derive_verdict(verdict_data.as_ref(), error.as_ref()),
            algorithms: derive_algorithms(&events),
            server: derive_server(&events),
            timing: derive_timing(&events, phases),
            disconnect_reason: events.iter().rev().find_map(|e| match &e.data {
                EventData::Disconnect(d) => Some(d.reason),
                _ => None,
            }),
            error_context: error.map(|(_, data)| data),
            redaction: Redaction::default(),
            audit: if audit.is_empty() { None } else { Some(audit) },
            integrity: None,
            loaded_digest: LoadedDigest(None),
            events,
            transcript,
        };
        bundle.redaction.replaced.secret += redact::scrub_bundle(&mut bundle);
        bundle.seal();
        bundle
    }

    /// The bundle as JSON (pretty-printed), redacted or raw, with a fresh integrity hash.
    ///
    /// Raw (`redact = false`) is the bundle as it is, with free text passed through the
    /// secret scrubber (a no-op for bundles made by [`Bundle::from_session`]). Redacted
    /// replaces identities with pseudonyms and removes output; see [`crate::redact`]. A bundle
    /// that is already redacted is written as it is either way.
    pub fn to_json(&self, redact: bool) -> String {
        match self.try_to_json(redact) {
            Ok(json) => json,
            // Only a bug can get here (every part of a bundle serialises); still hand back a
            // document that says so rather than nothing.
            Err(error) => serde_json::json!({
                "format": FORMAT,
                "version": VERSION,
                "connection_id": self.connection_id,
                "error": error.to_string(),
            })
            .to_string(),
        }
    }

    /// [`Bundle::to_json`], reporting a serialisation failure instead of hiding it.
    pub fn try_to_json(&self, redact: bool) -> Result<String, BundleError> {
        let output = if redact && !self.redaction.applied {
            self.redacted()
        } else {
            let mut raw = self.clone();
            raw.redaction.replaced.secret += redact::scrub_bundle(&mut raw);
            raw.seal();
            raw
        };
        serde_json::to_string_pretty(&output).map_err(|e| BundleError::Serialize {
            reason: e.to_string(),
        })
    }

    /// A redacted copy under a fresh random key; see [`crate::redact`].
    pub fn redacted(&self) -> Bundle {
        self.redacted_with(&mut Redactor::new())
    }

    /// A redacted copy under the given redactor's key (tests use a fixed key).
    pub fn redacted_with(&self, redactor: &mut Redactor) -> Bundle {
        let mut bundle = self.clone();
        redact::redact_bundle(&mut bundle, redactor);
        bundle.loaded_digest = LoadedDigest(None);
        bundle.seal();
        bundle
    }

    /// Reads a bundle; see the module docs for what is refused and how.
    pub fn from_json(text: &str) -> Result<Bundle, BundleError> {
        if text.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge {
                size: text.len(),
                limit: MAX_BUNDLE_BYTES,
            });
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let value: Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(error) => return Err(not_json(text, &error)),
        };
        let Value::Object(object) = value else {
            return Err(BundleError::NotAnObject {
                found: json_kind(&value).to_string(),
            });
        };
        check_format_and_version(&object)?;

        let events = match object.get("events") {
            Some(Value::Array(items)) => {
                let mut events = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    let event = Event::deserialize(item).map_err(|e| BundleError::BadEvent {
                        index,
                        reason: e.to_string(),
                    })?;
                    events.push(event);
                }
                events
            }
            Some(other) => {
                return Err(BundleError::BadField {
                    field: "events".into(),
                    reason: format!("expected a list of events, found {}", json_kind(other)),
                });
            }
            None => return Err(missing("events")),
        };

        let mut without_integrity = object.clone();
        without_integrity.remove("integrity");
        let loaded = sha256_hex(&canonical_json(&Value::Object(without_integrity)));

        Ok(Bundle {
            format: FORMAT.to_string(),
            version: section_required(&object, "version")?,
            created_ms: section(&object, "created_ms")?,
            connection_id: section_required(&object, "connection_id")?,
            tool: section(&object, "tool")?,
            host_info: section(&object, "host_info")?,
            verdict: section(&object, "verdict")?,
            events,
            transcript: section(&object, "transcript")?,
            algorithms: section(&object, "algorithms")?,
            server: section(&object, "server")?,
            timing: section(&object, "timing")?,
            disconnect_reason: section(&object, "disconnect_reason")?,
            error_context: section(&object, "error_context")?,
            redaction: section(&object, "redaction")?,
            audit: section(&object, "audit")?,
            integrity: section(&object, "integrity")?,
            loaded_digest: LoadedDigest(Some(loaded)),
        })
    }

    /// [`Bundle::from_json`] for raw file bytes, which may not even be text.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Bundle, BundleError> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge {
                size: bytes.len(),
                limit: MAX_BUNDLE_BYTES,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| BundleError::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        Bundle::from_json(text)
    }

    /// The hex SHA-256 of this bundle's canonical serialisation (see the module docs).
    pub fn canonical_digest(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(object) = &mut value {
            object.remove("integrity");
        }
        sha256_hex(&canonical_json(&value))
    }

    /// Sets `integrity` to this bundle's digest. Done by every constructor and by
    /// [`Bundle::to_json`]; call it after changing a bundle by hand.
    pub fn seal(&mut self) {
        self.integrity = Some(Integrity {
            sha256: self.canonical_digest(),
        });
        self.loaded_digest = LoadedDigest(None);
    }

    /// Whether the bundle is as sshdiag wrote it; see the module docs.
    pub fn verify_integrity(&self) -> IntegrityStatus {
        let Some(integrity) = &self.integrity else {
            return IntegrityStatus::Missing;
        };
        let expected = integrity.sha256.trim().to_ascii_lowercase();
        let actual = match &self.loaded_digest.0 {
            Some(loaded) => loaded.clone(),
            None => self.canonical_digest(),
        };
        if actual == expected {
            IntegrityStatus::Valid
        } else {
            IntegrityStatus::Mismatch {
                expected: integrity.sha256.clone(),
                actual,
            }
        }
    }
}

fn missing(field: &str) -> BundleError {
    BundleError::BadField {
        field: field.to_string(),
        reason: "missing; every bundle has it".to_string(),
    }
}

/// One top-level key, typed; absent keys take their default (a hand-trimmed bundle still
/// opens), wrong types are named.
fn section<T: DeserializeOwned + Default>(
    object: &Map<String, Value>,
    key: &str,
) -> Result<T, BundleError> {
    match object.get(key) {
        None => Ok(T::default()),
        Some(value) => T::deserialize(value).map_err(|e| BundleError::BadField {
            field: key.to_string(),
            reason: e.to_string(),
        }),
    }
}

fn section_required<T: DeserializeOwned + Default>(
    object: &Map<String, Value>,
    key: &str,
) -> Result<T, BundleError> {
    if !object.contains_key(key) {
        return Err(missing(key));
    }
    section(object, key)
}

fn check_format_and_version(object: &Map<String, Value>) -> Result<(), BundleError> {
    match object.get("format") {
        Some(Value::String(format)) if format == FORMAT => {}
        Some(other) => {
            return Err(BundleError::WrongFormat {
                found: shorten(&other.to_string(), 80),
            });
        }
        None => {
            return Err(BundleError::WrongFormat {
                found: "missing".to_string(),
            });
        }
    }
    let version = match object.get("version") {
        Some(Value::String(version)) => version.clone(),
        Some(other) => {
            return Err(BundleError::UnsupportedVersion {
                version: shorten(&other.to_string(), 40),
            });
        }
        None => return Err(missing("version")),
    };
    let major = version
        .split('.')
        .next()
        .and_then(|major| major.trim().parse::<u64>().ok());
    match major {
        Some(major) if major == READABLE_MAJOR => Ok(()),
        Some(major) if major > READABLE_MAJOR => Err(BundleError::NewerVersion {
            version: shorten(&version, 40),
            major,
        }),
        _ => Err(BundleError::UnsupportedVersion {
            version: shorten(&format!("{version:?}"), 40),
        }),
    }
}

fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut short: String = text.chars().take(max_chars).collect();
    short.push('…');
    short
}

/// A JSON syntax error as a [`BundleError`], recognising an event log dropped in by mistake.
fn not_json(text: &str, error: &serde_json::Error) -> BundleError {
    let first_line = text.lines().find(|line| !line.trim().is_empty());
    if let Some(first) = first_line
        && error.line() > 1
        && let Ok(Value::Object(object)) = serde_json::from_str::<Value>(first)
        && object.contains_key("event_type")
    {
        return BundleError::LooksLikeJsonl;
    }
    let message = error.to_string();
    let reason = match message.rfind(" at line ") {
        Some(cut) => message[..cut].to_string(),
        None => message,
    };
    BundleError::NotJson {
        line: error.line(),
        column: error.column(),
        reason,
    }
}

fn derive_verdict(
    verdict: Option<&crate::event::VerdictData>,
    error: Option<&(String, ErrorData)>,
) -> BundleVerdict {
    if let Some(v) = verdict {
        return BundleVerdict {
            ok: v.ok,
            layer: v.layer,
            error_type: v.error_type,
            code: v.code.clone(),
            summary: v.summary.clone(),
            hints: v.hints.clone(),
        };
    }
    if let Some((code, e)) = error {
        let error_type = ErrorType::from_wire(&e.error_type);
        return BundleVerdict {
            ok: false,
            layer: e.layer.or(error_type.map(ErrorType::layer)),
            error_type,
            code: code.clone(),
            summary: e.message.clone(),
            hints: e.hints.clone(),
        };
    }
    BundleVerdict {
        ok: false,
        layer: None,
        error_type: None,
        code: String::new(),
        summary: "The event stream ends without a verdict, so the session did not finish."
            .to_string(),
        hints: Vec::new(),
    }
}

fn derive_algorithms(events: &[Event]) -> Algorithms {
    let mut algorithms = Algorithms::default();
    for event in events {
        let EventData::Kex(kex) = &event.data else {
            continue;
        };
        if kex.client_proposal.is_some() {
            algorithms.client_proposal = kex.client_proposal.clone();
        }
        if kex.server_proposal.is_some() {
            algorithms.server_proposal = kex.server_proposal.clone();
        }
        let n = &kex.negotiated;
        let slots = [
            (&mut algorithms.kex, &n.kex),
            (&mut algorithms.host_key, &n.host_key),
            (&mut algorithms.cipher_cs, &n.cipher_cs),
            (&mut algorithms.cipher_sc, &n.cipher_sc),
            (&mut algorithms.mac_cs, &n.mac_cs),
            (&mut algorithms.mac_sc, &n.mac_sc),
            (&mut algorithms.compression_cs, &n.compression_cs),
            (&mut algorithms.compression_sc, &n.compression_sc),
        ];
        for (slot, value) in slots {
            if value.is_some() {
                slot.clone_from(value);
            }
        }
        if n.strict_kex.is_some() {
            algorithms.strict_kex = n.strict_kex;
        }
        if n.server_sig_algs.is_some() {
            algorithms.server_sig_algs.clone_from(&n.server_sig_algs);
        }
    }
    algorithms
}

fn derive_server(events: &[Event]) -> ServerInfo {
    let mut server = ServerInfo::default();
    for event in events {
        match &event.data {
            EventData::Version(VersionData {
                server_version,
                server_software,
                ..
            }) if !server_version.is_empty() => {
                server.banner = Some(server_version.clone());
                server.software = server_software
                    .clone()
                    .or_else(|| software_from_banner(server_version));
            }
            EventData::Hostkey(HostkeyData {
                algorithm,
                fingerprint_sha256,
                ..
            }) if !fingerprint_sha256.is_empty() => {
                server.host_key = Some(ServerHostKey {
                    algorithm: algorithm.clone(),
                    fingerprint_sha256: fingerprint_sha256.clone(),
                });
            }
            _ => {}
        }
    }
    server
}

/// `SSH-2.0-OpenSSH_9.2p1 Debian-2` → `OpenSSH_9.2p1`.
pub fn software_from_banner(banner: &str) -> Option<String> {
    let rest = banner.trim().strip_prefix("SSH-")?;
    let (_protocol, software) = rest.split_once('-')?;
    let software = software.split_whitespace().next()?;
    Some(software.to_string())
}

fn derive_timing(events: &[Event], phases: BTreeMap<Phase, f64>) -> Timing {
    let connect: f64 = [
        Phase::Relay,
        Phase::Dns,
        Phase::Tcp,
        Phase::Banner,
        Phase::Kex,
        Phase::Hostkey,
    ]
    .iter()
    .filter_map(|phase| phases.get(phase))
    .sum();
    let auth = phases.get(&Phase::Auth).copied().unwrap_or(0.0);
    let total = match (events.first(), events.last()) {
        (Some(first), Some(last)) => ((last.timestamp - first.timestamp) * 1000.0).round(),
        _ => 0.0,
    };
    Timing {
        connect_duration_ms: round_ms(connect),
        auth_duration_ms: round_ms(auth),
        total_duration_ms: if total.is_finite() {
            total.max(0.0)
        } else {
            0.0
        },
        phases,
    }
}

/// Rounds milliseconds to microseconds, hiding float noise such as `0.30000000000000004`.
fn round_ms(ms: f64) -> f64 {
    if ms.is_finite() {
        (ms * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

/// Compact JSON with every object's keys sorted by their UTF-8 bytes: the form the integrity
/// hash covers. Strings and numbers are written exactly as serde_json writes them.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(object) => {
            let mut entries: Vec<(&String, &Value)> = object.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}
