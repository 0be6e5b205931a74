//! The relay's WebSocket protocol `sshdiag.v1` (see `shared/spec/proxy.md`): the client's
//! first text frame and the relay's control frames. Binary frames carry raw TCP bytes and have
//! no type here.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The WebSocket subprotocol name both sides insist on.
pub const SUBPROTOCOL: &str = "sshdiag.v1";

/// Client → relay, the first (text) frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Asks the relay to connect to a target.
    Connect {
        /// The target host name or address, checked against the relay's policy.
        host: String,
        /// The target port.
        port: u16,
        /// The client's connection id, which the relay writes into its log lines.
        connection_id: String,
        /// The signed token, when the relay requires one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// After `connected`, a text frame the relay answers at once with [`ControlFrame::Pong`]:
    /// the client's round trip to the relay, told apart from the round trip to the server
    /// (an addition to spec/proxy.md; browsers cannot send WebSocket pings themselves).
    Ping {
        /// Chosen by the client; the `pong` carries it back.
        id: u64,
    },
}

/// Relay → client control (text) frames. Read by hand ([`Deserialize`] below), written by serde.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ControlFrame {
    /// The relay resolved the target host name.
    Resolved {
        /// The addresses it resolved to.
        addrs: Vec<String>,
        /// How long resolving took, in milliseconds.
        ms: f64,
    },
    /// The relay connected TCP to the target; bytes flow from now on.
    Connected {
        /// The address it connected to.
        peer: String,
        /// The relay's own end of that TCP connection (`ADDR:PORT`): the source address and
        /// port the target sees, and logs, for this connection. Optional, so relays and
        /// clients from before it still understand each other.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        local: Option<String>,
        /// How long connecting took, in milliseconds.
        ms: f64,
        /// The addresses tried before `peer` that failed, in the order tried (a name that
        /// resolved to several addresses). Optional, so relays and clients from before it
        /// still understand each other.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attempts: Vec<TcpAttempt>,
    },
    /// The relay refused or could not connect; the WebSocket closes after it.
    Error {
        /// What went wrong, for programs.
        code: RelayErrorCode,
        /// What went wrong, for people.
        message: String,
        /// On a TCP failure, every address tried, in order (the last is the one `code` and
        /// `message` describe). Optional, like `connected`'s.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attempts: Vec<TcpAttempt>,
    },
    /// The relayed connection ended.
    Closed {
        /// Who closed it.
        by: ClosedBy,
        /// Why, in words.
        reason: String,
        /// Bytes carried from the client to the target.
        bytes_up: u64,
        /// Bytes carried from the target to the client.
        bytes_down: u64,
    },
    /// The answer to [`ClientFrame::Ping`], with its id.
    Pong {
        /// The id of the ping answered.
        id: u64,
    },
}

/// The `type`s of [`ControlFrame`], as serde names them.
const CONTROL_FRAME_TYPES: &[&str] = &["resolved", "connected", "error", "closed", "pong"];

/// Read as a JSON object, then field by field, instead of serde's derive: a derived internally
/// tagged enum first buffers the whole frame in serde's private `Content`, whose code (27 KB
/// before wasm-opt, 5.6 KB brotli) the run's wasm module carried for this enum alone (issue 17).
/// The same frames are read: the same required and optional fields, unknown fields ignored.
impl<'de> Deserialize<'de> for ControlFrame {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Value::Object(mut object) = Value::deserialize(d)? else {
            return Err(D::Error::custom(
                "invalid type: expected internally tagged enum ControlFrame",
            ));
        };
        let mut fields = Fields(&mut object);
        let kind: String = fields.required("type")?;
        Ok(match kind.as_str() {
            "resolved" => ControlFrame::Resolved {
                addrs: fields.required("addrs")?,
                ms: fields.required("ms")?,
            },
            "connected" => ControlFrame::Connected {
                peer: fields.required("peer")?,
                local: fields.optional("local")?,
                ms: fields.required("ms")?,
                attempts: fields.optional("attempts")?,
            },
            "error" => ControlFrame::Error {
                code: fields.required("code")?,
                message: fields.required("message")?,
                attempts: fields.optional("attempts")?,
            },
            "closed" => ControlFrame::Closed {
                by: fields.required("by")?,
                reason: fields.required("reason")?,
                bytes_up: fields.required("bytes_up")?,
                bytes_down: fields.required("bytes_down")?,
            },
            "pong" => ControlFrame::Pong {
                id: fields.required("id")?,
            },
            other => return Err(D::Error::unknown_variant(other, CONTROL_FRAME_TYPES)),
        })
    }
}

/// The fields of one frame, each taken out once.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Fields<'_> {
    /// A field the frame must have.
    fn required<T: DeserializeOwned, E: serde::de::Error>(
        &mut self,
        name: &'static str,
    ) -> Result<T, E> {
        let value = self.0.remove(name).ok_or_else(|| E::missing_field(name))?;
        serde_json::from_value(value).map_err(E::custom)
    }

    /// A field a frame may leave out (`#[serde(default)]`): its default then.
    fn optional<T: DeserializeOwned + Default, E: serde::de::Error>(
        &mut self,
        name: &'static str,
    ) -> Result<T, E> {
        match self.0.remove(name) {
            Some(value) => serde_json::from_value(value).map_err(E::custom),
            None => Ok(T::default()),
        }
    }
}

/// One address the relay tried to connect to that failed: a name can resolve to several, and
/// the relay tries each in the resolver's order until one connects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TcpAttempt {
    /// The address tried, `ADDR:PORT` (`[ADDR]:PORT` for IPv6).
    pub peer: String,
    /// Why it failed: `tcp-refused`, `tcp-timeout` or `host-unreachable`.
    pub code: RelayErrorCode,
    /// Why it failed, in words.
    pub message: String,
    /// How long the attempt took, in milliseconds.
    pub ms: f64,
}

/// The `code` of a relay `error` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RelayErrorCode {
    /// No allow rule matches the target.
    Denied,
    /// The target resolves to a loopback, private or otherwise internal address.
    DeniedPrivateAddress,
    /// The token is missing, malformed, tampered with or for another target.
    TokenInvalid,
    /// The token has expired.
    TokenExpired,
    /// The target host name did not resolve.
    DnsFailed,
    /// The target refused the TCP connection.
    TcpRefused,
    /// The target did not answer the TCP connection in time.
    TcpTimeout,
    /// There is no route to the target.
    HostUnreachable,
    /// A relay limit was reached.
    Limit,
}

/// Who closed a relayed connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedBy {
    /// The target (the SSH server) closed its TCP connection.
    Target,
    /// The client closed the WebSocket.
    Client,
    /// The relay ended it (a limit, shutdown or an error).
    Relay,
}
