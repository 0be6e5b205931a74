//! The JSONL event stream: one [`Event`] per line, written as it happens.
//!
//! Wire format (see `shared/spec/events.md`): an envelope of `event_type`, `timestamp` (Unix
//! seconds, millisecond precision), `connection_id`, `seq`, `level`, `code` and `data`. The keys
//! of nbs-ssh's events keep their names and meaning so its users' `jq` filters still work.
//!
//! `data` is typed per event type ([`EventData`]); a reader ignores unknown keys, and an
//! event type it does not know is kept as [`EventData::Other`] rather than rejected.
//!
//! Every envelope key is required when deserialising an [`Event`]; there are deliberately no
//! serde defaults, so a damaged sshdiag line is reported rather than silently given `seq: 0`.
//! nbs-ssh's lines (which lack `connection_id`, `seq`, `level` and `code`) load through the
//! opt-in nbs-ssh mode of the `jsonl` module, which fills those in. Writing and reading lines,
//! and assigning `seq`, is that module's job (it depends on this one, never the other way
//! round); this module only defines the types and must never do I/O.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::audit::{AuditData, AuditGrade};
use crate::hop::Hop;
pub use crate::inventory::{HostkeyInventoryData, InventoryKey, InventorySource, TrustedKey};
pub use crate::outcome::*;
use crate::precision::round_thousandths;

/// Severity of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Detail for debugging.
    Debug,
    /// Progress.
    Info,
    /// Something worth attention that did not stop the session.
    Warn,
    /// A failure.
    Error,
}

/// One event: the envelope and its typed data.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Unix time in seconds with millisecond precision.
    pub timestamp: f64,
    /// The id of the diagnosis this event belongs to (also in the relay's logs).
    pub connection_id: String,
    /// The position in the stream, from 0, without gaps.
    pub seq: u64,
    /// The severity.
    pub level: Level,
    /// The message code; one of [`Code`] for events we write, any string when reading.
    pub code: String,
    /// The typed data of this event type.
    pub data: EventData,
    /// In a jump-host run, the server (hop) this event belongs to; absent for a direct run.
    pub hop: Option<Hop>,
}

impl Event {
    /// The `event_type` wire name, also for an event type this version does not know.
    pub fn event_type_name(&self) -> &str {
        match &self.data {
            EventData::Other { event_type, .. } => event_type,
            d => d.event_type().map(EventType::as_str).unwrap_or("UNKNOWN"),
        }
    }
}

/// A Unix time in milliseconds as the envelope's seconds with three decimals.
pub fn timestamp_from_unix_ms(ms: f64) -> f64 {
    round_thousandths(ms / 1000.0)
}

// The one list of event types: their `EventType` and `EventData` variants, wire names and docs.
macro_rules! event_types {
    ($( $variant:ident($ty:ty) => $wire:literal, $doc:literal; )*) => {
        /// The event types of the stream (`UPPER_SNAKE` on the wire).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "ts", derive(tsify::Tsify))]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum EventType { $( #[doc = $doc] $variant, )* }

        impl EventType {
            /// Every event type, in the order a session writes them.
            pub const ALL: &'static [EventType] = &[ $( EventType::$variant, )* ];

            /// The `UPPER_SNAKE` wire name.
            pub fn as_str(self) -> &'static str {
                match self { $( EventType::$variant => $wire, )* }
            }

            /// The event type with this wire name, if it is one of ours.
            pub fn from_wire(s: &str) -> Option<EventType> {
                EventType::ALL.iter().copied().find(|t| t.as_str() == s)
            }
        }

        /// The `data` object, typed by `event_type`.
        // `KEX` data (both proposals) is much larger than the rest; boxing it would change
        // every producer's and reader's pattern for a few hundred bytes per event, which a
        // session of a few dozen events does not notice.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq)]
        pub enum EventData {
            $( #[doc = concat!("`", $wire, "` data.")] $variant($ty), )*
            /// An event type this version does not know; kept verbatim.
            Other {
                /// The event type's wire name.
                event_type: String,
                /// The `data` object as it was read.
                data: Value,
            },
        }

        impl EventData {
            /// The event type of this data; `None` for an unknown one.
            pub fn event_type(&self) -> Option<EventType> {
                match self { $( EventData::$variant(_) => Some(EventType::$variant), )* EventData::Other { .. } => None }
            }

            fn to_value(&self) -> Result<Value, serde_json::Error> {
                match self { $( EventData::$variant(d) => serde_json::to_value(d), )* EventData::Other { data, .. } => Ok(data.clone()) }
            }

            fn from_value(event_type: &str, data: Value) -> Result<EventData, serde_json::Error> {
                match EventType::from_wire(event_type) {
                    $( Some(EventType::$variant) => Ok(EventData::$variant(serde_json::from_value(data)?)), )*
                    None => Ok(EventData::Other { event_type: event_type.to_string(), data }),
                }
            }
        }

        // The TypeScript type of an event, from the same table (the package's `.d.ts`).
        #[cfg(feature = "ts")]
        #[wasm_bindgen::prelude::wasm_bindgen(typescript_custom_section)]
        const EVENT_TS: &'static str = concat!(
            "/** One event as its JSON object (events.md): the envelope, and `data` typed by `event_type`. */\n",
            "export type Event = Omit<WireEvent, \"event_type\" | \"data\"> & (\n",
            $( "  | { event_type: \"", $wire, "\"; data: ", stringify!($ty), " }\n", )*
            ");\n"
        );
    };
}

event_types! {
    Connect(ConnectData) => "CONNECT", "The transport opens and connects.";
    Proxy(ProxyData) => "PROXY", "The relay's progress (WebSocket, DNS, TCP, close).";
    Version(VersionData) => "VERSION", "Identification banners.";
    Kex(KexData) => "KEX", "Key exchange proposals and outcome.";
    Hostkey(HostkeyData) => "HOSTKEY", "The server's host key and the trust decision.";
    Auth(AuthData) => "AUTH", "An authentication attempt and its outcome.";
    Channel(ChannelData) => "CHANNEL", "A channel opened or refused.";
    Exec(ExecData) => "EXEC", "A command that ran.";
    Forward(ForwardData) => "FORWARD", "A forward or the forward probe.";
    Keepalive(KeepaliveData) => "KEEPALIVE", "A keepalive round trip or miss.";
    StateChange(StateChangeData) => "STATE_CHANGE", "The supervisor's state moved.";
    Error(ErrorData) => "ERROR", "The failure that ends a failed session.";
    Disconnect(DisconnectData) => "DISCONNECT", "The session ended.";
    Verdict(VerdictData) => "VERDICT", "The outcome; always the last event.";
    Audit(AuditData) => "AUDIT", "One finding of the audit of the server's algorithms.";
    HostkeyInventory(HostkeyInventoryData) => "HOSTKEY_INVENTORY", "Every host key the server has, and which trusted key each matches.";
}

#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
struct WireEvent {
    event_type: String,
    timestamp: f64,
    connection_id: String,
    seq: u64,
    level: Level,
    code: String,
    #[cfg_attr(feature = "ts", tsify(type = "unknown"))]
    data: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hop: Option<Hop>,
}

impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let data = self.data.to_value().map_err(serde::ser::Error::custom)?;
        WireEvent {
            event_type: self.event_type_name().to_string(),
            timestamp: self.timestamp,
            connection_id: self.connection_id.clone(),
            seq: self.seq,
            level: self.level,
            code: self.code.clone(),
            data,
            hop: self.hop.clone(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = WireEvent::deserialize(d)?;
        let data = EventData::from_value(&w.event_type, w.data)
            .map_err(|e| serde::de::Error::custom(format!("bad data for {}: {e}", w.event_type)))?;
        Ok(Event {
            timestamp: w.timestamp,
            connection_id: w.connection_id,
            seq: w.seq,
            level: w.level,
            code: w.code,
            data,
            hop: w.hop,
        })
    }
}

// ---- data of each event type --------------------------------------------------------------
// Field names follow shared/spec/events.md; the seed's (nbs-ssh) fields are kept as they were.
// Optional fields are skipped when absent, so a line carries only what is known.

/// How far connecting got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
pub enum ConnectStatus {
    /// About to open the transport.
    Initiating,
    /// The session is connected and logged in (or the probe finished).
    Connected,
}

/// How the transport reaches the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Through an sshdiag relay.
    Websocket,
    /// Direct TCP.
    Tcp,
}

/// An authentication method (snake case on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// The `none` method, which lists the methods the server accepts.
    None,
    /// A password.
    Password,
    /// A private key.
    PrivateKey,
    /// Keyboard-interactive answers.
    KeyboardInteractive,
    /// A key held by an SSH agent.
    SshAgent,
}

impl AuthMethod {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::Password => "password",
            AuthMethod::PrivateKey => "private_key",
            AuthMethod::KeyboardInteractive => "keyboard_interactive",
            AuthMethod::SshAgent => "ssh_agent",
        }
    }
}

/// `CONNECT`: a diagnosis starts, and its transport is up.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct ConnectData {
    /// Which step of connecting.
    pub status: Option<ConnectStatus>,
    /// The target host, as given.
    #[serde(default)]
    pub host: String,
    /// The target port.
    #[serde(default)]
    pub port: u16,
    /// The user to log in as.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub username: Option<String>,
    /// Direct TCP or through a relay.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub transport: Option<Transport>,
    /// Relay URL without credentials.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub proxy: Option<String>,
    /// The method that logged in, on `connected`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub auth_method: Option<AuthMethod>,
    /// The source address and port the server sees this connection come from (`ADDR:PORT`,
    /// as in its log's `from ADDR port PORT`): this machine's own, or the relay's through a
    /// relay. Absent when the connector could not tell (an older relay).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source: Option<String>,
}

/// Which step of the relay a `PROXY` event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
pub enum ProxyStatus {
    /// The WebSocket to the relay opened.
    WsOpen,
    /// The target host name resolved.
    Resolved,
    /// TCP to the target connected.
    TcpConnected,
    /// The relay refused the target.
    Denied,
    /// The relay could not reach the target.
    Failed,
    /// The relayed connection closed.
    Closed,
}

/// `PROXY`: the relay's progress (or, for direct TCP, the CLI's own DNS and TCP steps).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct ProxyData {
    /// Which step.
    pub status: Option<ProxyStatus>,
    /// How long the step took, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ms: Option<f64>,
    /// The addresses the host name resolved to, on `resolved`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub addrs: Option<Vec<String>>,
    /// The address connected to, on `tcp_connected`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub peer: Option<String>,
    /// The relay's own end of its TCP connection (`ADDR:PORT`), on `tcp_connected`: the
    /// source the server sees and logs. Absent from relays that do not report it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub local: Option<String>,
    /// Why, on `denied`, `failed` and `closed`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// Who closed (`target`, `client`, `relay`), on `closed`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub by: Option<String>,
    /// Bytes carried to the target, on `closed`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bytes_up: Option<u64>,
    /// Bytes carried from the target, on `closed`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bytes_down: Option<u64>,
}

/// `VERSION`: the identification banners both sides sent.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct VersionData {
    /// Our own identification line.
    #[serde(default)]
    pub client_version: String,
    /// The raw identification line the server sent.
    #[serde(default)]
    pub server_version: String,
    /// The software version from the banner, e.g. `OpenSSH_9.2p1`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub server_software: Option<String>,
    /// Lines the server sent before its banner (allowed by RFC 4253).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_banner_lines: Vec<String>,
    /// Milliseconds from connecting to the banner.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_ms: Option<f64>,
}

/// One side's KEXINIT name-lists, per negotiation category.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct Proposal {
    /// Key exchange algorithms.
    #[serde(default)]
    pub kex: Vec<String>,
    /// Host key algorithms.
    #[serde(default)]
    pub host_key: Vec<String>,
    /// Ciphers, client to server.
    #[serde(default)]
    pub cipher_cs: Vec<String>,
    /// Ciphers, server to client.
    #[serde(default)]
    pub cipher_sc: Vec<String>,
    /// MACs, client to server.
    #[serde(default)]
    pub mac_cs: Vec<String>,
    /// MACs, server to client.
    #[serde(default)]
    pub mac_sc: Vec<String>,
    /// Compression, client to server.
    #[serde(default)]
    pub compression_cs: Vec<String>,
    /// Compression, server to client.
    #[serde(default)]
    pub compression_sc: Vec<String>,
}

/// Which step of key exchange a `KEX` event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
pub enum KexStatus {
    /// Both sides' proposals were read.
    Proposals,
    /// Key exchange completed.
    Negotiated,
    /// Key exchange failed.
    Failed,
}

/// Negotiated algorithms (also the bundle's `algorithms`, with the proposals added).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct Negotiated {
    /// The key exchange algorithm.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kex: Option<String>,
    /// The host key algorithm.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub host_key: Option<String>,
    /// The cipher, client to server.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cipher_cs: Option<String>,
    /// The cipher, server to client.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cipher_sc: Option<String>,
    /// `implicit` for AEAD ciphers.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mac_cs: Option<String>,
    /// The MAC, server to client.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mac_sc: Option<String>,
    /// Compression, client to server.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub compression_cs: Option<String>,
    /// Compression, server to client.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub compression_sc: Option<String>,
    /// Whether strict key exchange (the Terrapin countermeasure) is on.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub strict_kex: Option<bool>,
    /// The signature algorithms the server accepts for user keys (`server-sig-algs`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub server_sig_algs: Option<Vec<String>>,
}

/// `KEX`: the proposals, the negotiated algorithms, or the failure.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct KexData {
    /// Which step.
    pub status: Option<KexStatus>,
    /// Our proposal, on `proposals`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client_proposal: Option<Proposal>,
    /// The server's proposal, on `proposals`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub server_proposal: Option<Proposal>,
    /// The negotiated algorithms, on `negotiated` (flattened into `data`).
    #[serde(flatten)]
    pub negotiated: Negotiated,
    /// On `failed`: the category without a common algorithm.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub category: Option<String>,
    /// Milliseconds the key exchange took.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_ms: Option<f64>,
}

/// What the host key check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
pub enum HostkeyStatus {
    /// The key matches the trusted one.
    Trusted,
    /// No key was known and none was stored.
    New,
    /// No key was known; this one is now trusted.
    AcceptedNew,
    /// The key differs from the trusted one.
    Mismatch,
    /// Checking was turned off.
    Unchecked,
}

/// Host key checking policy, as OpenSSH's `StrictHostKeyChecking`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicy {
    /// Only a trusted key is accepted.
    Yes,
    /// An unknown key is trusted from now on; a changed one is refused.
    #[default]
    AcceptNew,
    /// Any key is accepted and nothing is stored.
    No,
}

/// `HOSTKEY`: the server's host key and the trust decision.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct HostkeyData {
    /// The host key's algorithm.
    #[serde(default)]
    pub algorithm: String,
    /// `SHA256:…` as OpenSSH prints it.
    #[serde(default)]
    pub fingerprint_sha256: String,
    /// What the check decided.
    pub status: Option<HostkeyStatus>,
    /// The trusted fingerprint, on `mismatch`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expected_fingerprint: Option<String>,
    /// The policy the key was checked under.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub policy: Option<HostKeyPolicy>,
}

/// The outcome of one authentication attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
pub enum AuthStatus {
    /// A method is being tried.
    Attempt,
    /// The server accepted.
    Success,
    /// The server rejected this attempt.
    Failed,
    /// Accepted, but further methods are required.
    Partial,
}

/// `AUTH`: one authentication attempt.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct AuthData {
    /// The outcome of this attempt.
    pub status: Option<AuthStatus>,
    /// The method tried.
    pub method: Option<AuthMethod>,
    /// The user name tried.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub username: Option<String>,
    /// Milliseconds the attempt took.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_ms: Option<f64>,
    /// The methods the server says can continue.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub methods_available: Option<Vec<String>>,
    /// Public part only: `SHA256:…` of the key offered.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub key_fingerprint: Option<String>,
    /// Why this attempt failed, for programs.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error_type: Option<String>,
    /// Why this attempt failed, for people.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error_message: Option<String>,
    /// The OpenSSH user certificate offered with the key: its public facts only.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub certificate: Option<CertificateInfo>,
}

/// The public facts of an OpenSSH certificate (a certificate is public by design).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct CertificateInfo {
    /// The key id the CA wrote (often a person's name or address).
    pub key_id: String,
    /// The serial number.
    pub serial: u64,
    /// `user` or `host`.
    pub cert_type: String,
    /// The certificate's algorithm (`ssh-ed25519-cert-v01@openssh.com`, …).
    pub algorithm: String,
    /// `SHA256:…` of the certified key.
    pub key_fingerprint: String,
    /// The user (or host) names it is valid for.
    pub principals: Vec<String>,
    /// Valid from (UTC, RFC 3339).
    pub valid_after: String,
    /// Valid until (UTC, RFC 3339, or `forever`).
    pub valid_before: String,
    /// `SHA256:…` of the signing CA's key.
    pub ca_fingerprint: String,
    /// Critical options as `name=value` (`force-command`, `source-address`, …).
    pub critical_options: Vec<String>,
    /// Extensions (`permit-pty`, …).
    pub extensions: Vec<String>,
}

/// What became of a channel the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
pub enum ChannelStatus {
    /// The channel is open.
    #[default]
    Opened,
    /// The server refused the channel.
    Failed,
}

/// `CHANNEL`: a channel opened or refused.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct ChannelData {
    #[serde(default)]
    /// `opened` or `failed`.
    pub status: ChannelStatus,
    /// The channel type, e.g. `session`.
    #[serde(default)]
    pub channel_type: String,
    /// The server's refusal code (RFC 4254), on `failed`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason_code: Option<u32>,
    /// The server's refusal text, on `failed`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

/// `EXEC`: a command that ran.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct ExecData {
    /// The command as given.
    #[serde(default)]
    pub command: String,
    /// True when output was streamed as it came.
    #[serde(default)]
    pub streaming: bool,
    /// Milliseconds the command ran.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_ms: Option<f64>,
    /// The exit status, when the server sent one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exit_code: Option<i64>,
    /// The signal that ended the command, when one did.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exit_signal: Option<String>,
    /// Bytes written to standard output.
    #[serde(default)]
    pub stdout_len: u64,
    /// Bytes written to standard error.
    #[serde(default)]
    pub stderr_len: u64,
}

/// Which step of a forward a `FORWARD` event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
pub enum ForwardStatus {
    /// Being opened.
    Establishing,
    /// The server connected it to its target.
    Established,
    /// Closed.
    Closed,
    /// Refused, or the target could not be reached.
    Failed,
}

/// `FORWARD`: a forward, or the forward probe.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct ForwardData {
    /// Which step.
    pub status: Option<ForwardStatus>,
    /// `local` or `probe`.
    #[serde(default)]
    pub forward_type: String,
    /// The local listening host, for a local forward.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub local_host: Option<String>,
    /// The local listening port, for a local forward.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub local_port: Option<u16>,
    /// The host the server connects to.
    #[serde(default)]
    pub remote_host: String,
    /// The port the server connects to.
    #[serde(default)]
    pub remote_port: u16,
    /// Milliseconds the step took.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_ms: Option<f64>,
    /// Why it failed or closed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}
