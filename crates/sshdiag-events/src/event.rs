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
//! opt-in nbs-ssh mode of [`crate::jsonl`], which fills those in. Writing and reading lines,
//! and assigning `seq`, is [`crate::jsonl`]'s job; this module only defines the types and
//! must never do I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::codes::{Code, ErrorType, Layer, Phase};

/// Severity of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// The event types of the stream (`UPPER_SNAKE` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    Connect,
    Proxy,
    Version,
    Kex,
    Hostkey,
    Auth,
    Channel,
    Exec,
    Forward,
    Keepalive,
    StateChange,
    Error,
    Disconnect,
    Verdict,
    Audit,
}

impl EventType {
    pub const ALL: &'static [EventType] = &[
        EventType::Connect,
        EventType::Proxy,
        EventType::Version,
        EventType::Kex,
        EventType::Hostkey,
        EventType::Auth,
        EventType::Channel,
        EventType::Exec,
        EventType::Forward,
        EventType::Keepalive,
        EventType::StateChange,
        EventType::Error,
        EventType::Disconnect,
        EventType::Verdict,
        EventType::Audit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Connect => "CONNECT",
            EventType::Proxy => "PROXY",
            EventType::Version => "VERSION",
            EventType::Kex => "KEX",
            EventType::Hostkey => "HOSTKEY",
            EventType::Auth => "AUTH",
            EventType::Channel => "CHANNEL",
            EventType::Exec => "EXEC",
            EventType::Forward => "FORWARD",
            EventType::Keepalive => "KEEPALIVE",
            EventType::StateChange => "STATE_CHANGE",
            EventType::Error => "ERROR",
            EventType::Disconnect => "DISCONNECT",
            EventType::Verdict => "VERDICT",
            EventType::Audit => "AUDIT",
        }
    }

    pub fn from_wire(s: &str) -> Option<EventType> {
        EventType::ALL.iter().copied().find(|t| t.as_str() == s)
    }
}

/// One event: the envelope and its typed data.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Unix time in seconds with millisecond precision.
    pub timestamp: f64,
    pub connection_id: String,
    pub seq: u64,
    pub level: Level,
    /// The message code; one of [`Code`] for events we write, any string when reading.
    pub code: String,
    pub data: EventData,
}

impl Event {
    pub fn event_type_name(&self) -> &str {
        match &self.data {
            EventData::Other { event_type, .. } => event_type,
            d => d.event_type().map(EventType::as_str).unwrap_or("UNKNOWN"),
        }
    }
}

/// Rounds a Unix time in milliseconds to the envelope's seconds with three decimals (see also
/// [`crate::jsonl::round_timestamp`] for seconds).
pub fn timestamp_from_unix_ms(ms: f64) -> f64 {
    (ms.round()) / 1000.0
}

macro_rules! event_data {
    ($( $variant:ident($ty:ty) => $et:ident, )*) => {
        /// The `data` object, typed by `event_type`.
        // `KEX` data (both proposals) is much larger than the rest; boxing it would change
        // every producer's and reader's pattern for a few hundred bytes per event, which a
        // session of a few dozen events does not notice.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq)]
        pub enum EventData {
            $( $variant($ty), )*
            /// An event type this version does not know; kept verbatim.
            Other { event_type: String, data: Value },
        }

        impl EventData {
            pub fn event_type(&self) -> Option<EventType> {
                match self { $( EventData::$variant(_) => Some(EventType::$et), )* EventData::Other { .. } => None }
            }

            fn to_value(&self) -> Result<Value, serde_json::Error> {
                match self { $( EventData::$variant(d) => serde_json::to_value(d), )* EventData::Other { data, .. } => Ok(data.clone()) }
            }

            fn from_value(event_type: &str, data: Value) -> Result<EventData, serde_json::Error> {
                match EventType::from_wire(event_type) {
                    $( Some(EventType::$et) => Ok(EventData::$variant(serde_json::from_value(data)?)), )*
                    None => Ok(EventData::Other { event_type: event_type.to_string(), data }),
                }
            }
        }
    };
}

event_data! {
    Connect(ConnectData) => Connect,
    Proxy(ProxyData) => Proxy,
    Version(VersionData) => Version,
    Kex(KexData) => Kex,
    Hostkey(HostkeyData) => Hostkey,
    Auth(AuthData) => Auth,
    Channel(ChannelData) => Channel,
    Exec(ExecData) => Exec,
    Forward(ForwardData) => Forward,
    Keepalive(KeepaliveData) => Keepalive,
    StateChange(StateChangeData) => StateChange,
    Error(ErrorData) => Error,
    Disconnect(DisconnectData) => Disconnect,
    Verdict(VerdictData) => Verdict,
    Audit(AuditData) => Audit,
}

#[derive(Serialize, Deserialize)]
struct WireEvent {
    event_type: String,
    timestamp: f64,
    connection_id: String,
    seq: u64,
    level: Level,
    code: String,
    data: Value,
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
        })
    }
}

// ---- data of each event type --------------------------------------------------------------
// Field names follow shared/spec/events.md; the seed's (nbs-ssh) fields are kept as they were.
// Optional fields are skipped when absent, so a line carries only what is known.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectStatus {
    Initiating,
    Connected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    Websocket,
    Tcp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    None,
    Password,
    PrivateKey,
    KeyboardInteractive,
    SshAgent,
}

impl AuthMethod {
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

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConnectData {
    pub status: Option<ConnectStatus>,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub port: u16,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub transport: Option<Transport>,
    /// Relay URL without credentials.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub proxy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub auth_method: Option<AuthMethod>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProxyStatus {
    WsOpen,
    Resolved,
    TcpConnected,
    Denied,
    Failed,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProxyData {
    pub status: Option<ProxyStatus>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub addrs: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub peer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// Who closed (`target`, `client`, `relay`), on `closed`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bytes_up: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bytes_down: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VersionData {
    #[serde(default)]
    pub client_version: String,
    /// The raw identification line the server sent.
    #[serde(default)]
    pub server_version: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub server_software: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_banner_lines: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_ms: Option<f64>,
}

/// One side's KEXINIT name-lists, per negotiation category.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Proposal {
    #[serde(default)]
    pub kex: Vec<String>,
    #[serde(default)]
    pub host_key: Vec<String>,
    #[serde(default)]
    pub cipher_cs: Vec<String>,
    #[serde(default)]
    pub cipher_sc: Vec<String>,
    #[serde(default)]
    pub mac_cs: Vec<String>,
    #[serde(default)]
    pub mac_sc: Vec<String>,
    #[serde(default)]
    pub compression_cs: Vec<String>,
    #[serde(default)]
    pub compression_sc: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KexStatus {
    Proposals,
    Negotiated,
    Failed,
}

/// Negotiated algorithms (also the bundle's `algorithms`, with the proposals added).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Negotiated {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub host_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cipher_cs: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cipher_sc: Option<String>,
    /// `implicit` for AEAD ciphers.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mac_cs: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mac_sc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub compression_cs: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub compression_sc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub strict_kex: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub server_sig_algs: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct KexData {
    pub status: Option<KexStatus>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client_proposal: Option<Proposal>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub server_proposal: Option<Proposal>,
    #[serde(flatten)]
    pub negotiated: Negotiated,
    /// On `failed`: the category without a common algorithm.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostkeyStatus {
    Trusted,
    New,
    AcceptedNew,
    Mismatch,
    Unchecked,
}

/// Host key checking policy, as OpenSSH's `StrictHostKeyChecking`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicy {
    Yes,
    #[default]
    AcceptNew,
    No,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HostkeyData {
    #[serde(default)]
    pub algorithm: String,
    /// `SHA256:…` as OpenSSH prints it.
    #[serde(default)]
    pub fingerprint_sha256: String,
    pub status: Option<HostkeyStatus>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expected_fingerprint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub policy: Option<HostKeyPolicy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthStatus {
    Attempt,
    Success,
    Failed,
    Partial,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AuthData {
    pub status: Option<AuthStatus>,
    pub method: Option<AuthMethod>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub methods_available: Option<Vec<String>>,
    /// Public part only: `SHA256:…` of the key offered.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub key_fingerprint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error_message: Option<String>,
}

/// What became of a channel the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelStatus {
    #[default]
    Opened,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChannelData {
    #[serde(default)]
    pub status: ChannelStatus,
    #[serde(default)]
    pub channel_type: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason_code: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExecData {
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub streaming: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exit_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exit_signal: Option<String>,
    #[serde(default)]
    pub stdout_len: u64,
    #[serde(default)]
    pub stderr_len: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForwardStatus {
    Establishing,
    Established,
    Closed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ForwardData {
    pub status: Option<ForwardStatus>,
    /// `local` or `probe`.
    #[serde(default)]
    pub forward_type: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub local_host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub local_port: Option<u16>,
    #[serde(default)]
    pub remote_host: String,
    #[serde(default)]
    pub remote_port: u16,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct KeepaliveData {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rtt_ms: Option<f64>,
    #[serde(default)]
    pub missed: u32,
    /// `relay` (WebSocket ping) or `target` (SSH keepalive).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub path: Option<String>,
}

/// The supervisor's connection state, as `STATE_CHANGE` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupervisorState {
    #[default]
    Disconnected,
    Connecting,
    Connected,
    Reconnecting,
    Failed,
}

impl SupervisorState {
    /// The wire name, as in the events.
    pub fn as_str(self) -> &'static str {
        match self {
            SupervisorState::Disconnected => "disconnected",
            SupervisorState::Connecting => "connecting",
            SupervisorState::Connected => "connected",
            SupervisorState::Reconnecting => "reconnecting",
            SupervisorState::Failed => "failed",
        }
    }
}

/// Lets scripts and tests compare a state with its wire name.
impl PartialEq<&str> for SupervisorState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StateChangeData {
    #[serde(default)]
    pub from_state: SupervisorState,
    #[serde(default)]
    pub to_state: SupervisorState,
    #[serde(default)]
    pub reconnection_count: u32,
    /// Why the state moved (the failure that caused a reconnect), in plain words.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ErrorData {
    #[serde(default)]
    pub error_type: String,
    #[serde(default)]
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub layer: Option<Layer>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub port: Option<u16>,
    /// The phase the failure happened in.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub phase: Option<Phase>,
    /// Further evidence, per error type (e.g. both offers for `NoMutualKex`).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub context: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisconnectReason {
    Normal,
    KeepaliveTimeout,
    NetworkError,
    AuthFailure,
    ProtocolError,
    ServerDisconnect,
    ProxyClosed,
    Timeout,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisconnectData {
    pub reason: DisconnectReason,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub disconnect_code: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bytes_sent: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bytes_received: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VerdictData {
    pub ok: bool,
    pub layer: Option<Layer>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error_type: Option<ErrorType>,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub hints: Vec<String>,
    /// Milliseconds per phase reached, in phase order.
    #[serde(default)]
    pub phases: BTreeMap<Phase, f64>,
}

/// One graded finding of the algorithm audit.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AuditData {
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub algorithm: String,
    /// `broken`, `weak`, `ok`, `good`.
    #[serde(default)]
    pub grade: String,
    #[serde(default)]
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fix: Option<String>,
}

impl VerdictData {
    pub fn code_enum(&self) -> Option<Code> {
        Code::from_wire(&self.code)
    }
}
