//! The relay's WebSocket protocol `sshdiag.v1` (see `shared/spec/proxy.md`): the client's
//! first text frame and the relay's control frames. Binary frames carry raw TCP bytes and have
//! no type here.

use serde::{Deserialize, Serialize};

/// The WebSocket subprotocol name both sides insist on.
pub const SUBPROTOCOL: &str = "sshdiag.v1";

/// Client → relay, the first (text) frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Connect {
        host: String,
        port: u16,
        connection_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// After `connected`, a text frame the relay answers at once with [`ControlFrame::Pong`]:
    /// the client's round trip to the relay, told apart from the round trip to the server
    /// (an addition to spec/proxy.md; browsers cannot send WebSocket pings themselves).
    Ping { id: u64 },
}

/// Relay → client control (text) frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ControlFrame {
    Resolved {
        addrs: Vec<String>,
        ms: f64,
    },
    Connected {
        peer: String,
        ms: f64,
    },
    Error {
        code: RelayErrorCode,
        message: String,
    },
    Closed {
        by: ClosedBy,
        reason: String,
        bytes_up: u64,
        bytes_down: u64,
    },
    /// The answer to [`ClientFrame::Ping`], with its id.
    Pong {
        id: u64,
    },
}

/// The `code` of a relay `error` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RelayErrorCode {
    Denied,
    DeniedPrivateAddress,
    TokenInvalid,
    TokenExpired,
    DnsFailed,
    TcpRefused,
    TcpTimeout,
    HostUnreachable,
    Limit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedBy {
    Target,
    Client,
    Relay,
}
