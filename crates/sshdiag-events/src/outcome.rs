//! The data of the events that report how a session lives and ends: `KEEPALIVE`,
//! `STATE_CHANGE`, `ERROR`, `DISCONNECT` and `VERDICT`. Types only, like the `event` module,
//! which re-exports them; this module never depends on that one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::codes::{Code, ErrorType, Layer, Phase};

/// `KEEPALIVE`: one keepalive round trip or miss.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct KeepaliveData {
    /// The round trip in milliseconds; absent on a miss.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rtt_ms: Option<f64>,
    /// Keepalives missed in a row so far.
    #[serde(default)]
    pub missed: u32,
    /// `relay` (WebSocket ping) or `target` (SSH keepalive).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub path: Option<String>,
}

/// The supervisor's connection state, as `STATE_CHANGE` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
pub enum SupervisorState {
    /// Not connected, before the first attempt.
    #[default]
    Disconnected,
    /// An attempt is under way.
    Connecting,
    /// Connected and authenticated.
    Connected,
    /// Waiting before the next attempt.
    Reconnecting,
    /// Given up.
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

/// `STATE_CHANGE`: the supervisor's state moved.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct StateChangeData {
    /// The state left.
    #[serde(default)]
    pub from_state: SupervisorState,
    /// The state entered.
    #[serde(default)]
    pub to_state: SupervisorState,
    /// Reconnections so far.
    #[serde(default)]
    pub reconnection_count: u32,
    /// Why the state moved (the failure that caused a reconnect), in plain words.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

/// `ERROR`: the failure that ends a failed session.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct ErrorData {
    /// The kind of failure (an [`ErrorType`] name; any string when reading).
    #[serde(default)]
    pub error_type: String,
    /// What failed, for people.
    #[serde(default)]
    pub message: String,
    /// Where in the stack it failed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub layer: Option<Layer>,
    /// What to do about it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
    /// The target host.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub host: Option<String>,
    /// The target port.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub port: Option<u16>,
    /// The phase the failure happened in.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub phase: Option<Phase>,
    /// The authentication methods tried, on an authentication failure (where the seed puts
    /// them; `context.methods_tried` keeps the same list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods_tried: Vec<String>,
    /// Further evidence, per error type (e.g. both offers for `NoMutualKex`).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    #[cfg_attr(feature = "ts", tsify(type = "Record<string, unknown>"))]
    pub context: serde_json::Map<String, Value>,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
pub enum DisconnectReason {
    /// As planned.
    Normal,
    /// Keepalives went unanswered.
    KeepaliveTimeout,
    /// The network failed.
    NetworkError,
    /// Authentication failed.
    AuthFailure,
    /// An SSH protocol error.
    ProtocolError,
    /// The server disconnected.
    ServerDisconnect,
    /// The relay closed the connection.
    ProxyClosed,
    /// The time limit ran out.
    Timeout,
    /// Whoever ran the diagnosis stopped it.
    Cancelled,
}

/// `DISCONNECT`: the session ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct DisconnectData {
    /// Why the session ended.
    pub reason: DisconnectReason,
    /// The SSH disconnect reason code, when the server sent one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub disconnect_code: Option<u32>,
    /// The server's disconnect text.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    /// Bytes sent in the session.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bytes_sent: Option<u64>,
    /// Bytes received in the session.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bytes_received: Option<u64>,
}

/// `VERDICT`: the outcome, always the last event.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct VerdictData {
    /// True when every step succeeded.
    pub ok: bool,
    /// The layer reached (success) or that failed.
    pub layer: Option<Layer>,
    /// The kind of failure, when it failed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error_type: Option<ErrorType>,
    /// The message code of the outcome.
    #[serde(default)]
    pub code: String,
    /// One sentence for people.
    #[serde(default)]
    pub summary: String,
    /// What to do, from the evidence of the run.
    #[serde(default)]
    pub hints: Vec<String>,
    /// Milliseconds per phase reached, in phase order.
    #[serde(default)]
    pub phases: BTreeMap<Phase, f64>,
}

impl VerdictData {
    /// The code as a [`Code`], if it is one of ours.
    pub fn code_enum(&self) -> Option<Code> {
        Code::from_wire(&self.code)
    }
}
