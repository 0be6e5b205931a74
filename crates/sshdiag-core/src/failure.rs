//! A failure on its way to becoming the run's one `ERROR` event and the failed `VERDICT`.
//!
//! Its own module so that the probe's stages build failures and the hints describe them
//! without either depending on the other. It never formats a secret: messages come from the
//! evidence and from library error texts that the verdict scrubs before they leave the core.

use serde_json::{Map, Value};
use sshdiag_events::codes::Phase;
use sshdiag_events::{Code, DisconnectReason, ErrorType, Layer};

/// A failure on its way to becoming the `ERROR` event.
#[derive(Debug, Clone)]
pub struct Failure {
    pub error_type: ErrorType,
    pub code: Code,
    pub message: String,
    pub phase: Option<Phase>,
    pub layer: Option<Layer>,
    pub hints: Vec<String>,
    pub context: Map<String, Value>,
    pub disconnect: DisconnectReason,
    /// The verdict's sentence when the evidence says more than the error type's own does.
    pub summary: Option<String>,
    /// In a jump-host run, the hop the failure belongs to; `None` for the session's own
    /// server.
    pub at_hop: Option<Box<AtHop>>,
}

/// Where in a jump-host chain a failure happened: `ERROR`'s host and port, and the
/// verdict's summary naming that hop.
#[derive(Debug, Clone)]
pub struct AtHop {
    pub host: String,
    pub port: u16,
    pub summary: String,
}

impl Failure {
    pub fn new(error_type: ErrorType, message: impl Into<String>) -> Self {
        let disconnect = match error_type.layer() {
            Layer::Auth => DisconnectReason::AuthFailure,
            Layer::Kex | Layer::Hostkey | Layer::Banner => DisconnectReason::ProtocolError,
            Layer::Relay | Layer::Dns | Layer::Tcp => DisconnectReason::NetworkError,
            _ => DisconnectReason::NetworkError,
        };
        Failure {
            error_type,
            code: error_type.code(),
            message: message.into(),
            phase: None,
            layer: None,
            hints: Vec::new(),
            context: Map::new(),
            disconnect,
            summary: None,
            at_hop: None,
        }
    }
    pub fn code(mut self, code: Code) -> Self {
        self.code = code;
        self
    }
    pub fn hint(mut self, h: impl Into<String>) -> Self {
        self.hints.push(h.into());
        self
    }
    pub fn hints(mut self, hs: Vec<String>) -> Self {
        self.hints.extend(hs);
        self
    }
    pub fn ctx(mut self, k: &str, v: Value) -> Self {
        self.context.insert(k.to_string(), v);
        self
    }
    pub fn layer(mut self, l: Layer) -> Self {
        self.layer = Some(l);
        self
    }
    pub fn summary(mut self, s: impl Into<String>) -> Self {
        self.summary = Some(s.into());
        self
    }
    pub fn disconnect(mut self, d: DisconnectReason) -> Self {
        self.disconnect = d;
        self
    }

    /// The layer the verdict names: the failure's own, else its type's, else (for types that
    /// can happen anywhere) the deepest layer the run reached.
    pub fn failed_layer(&self, reached: Layer) -> Layer {
        self.layer.unwrap_or(match self.error_type.layer() {
            Layer::Any => reached,
            l => l,
        })
    }
}

/// Library error texts can quote what they were given (a URL with its password, a
/// `password=` option): every one passes through here before it reaches a message. Kept short.
pub fn scrub(s: &str) -> String {
    let short: String = s.chars().take(500).collect();
    sshdiag_events::scrub_secrets(&short)
}
