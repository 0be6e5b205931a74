//! How the probe reaches the target: a [`Connector`] turns host and port into a byte stream and
//! reports what it saw on the way (relay WebSocket open, DNS, TCP), or classifies why it failed.
//!
//! Two connectors exist natively (direct TCP, and the relay over tokio-tungstenite, both in the
//! CLI crate) and one in the browser (the relay over a browser WebSocket, in the web crate). The
//! relay protocol's meaning — which control frame is which step, which error code is which
//! failure — is decided once, here, in [`interpret_control_frame`].

use std::future::Future;

use sshdiag_events::relay::{ClosedBy, ControlFrame, RelayErrorCode, TcpAttempt};
use sshdiag_events::{Code, ErrorType};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::UnboundedSender;

/// One step of establishing the transport, reported as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectStep {
    /// The WebSocket to the relay is open.
    WsOpen { ms: f64 },
    /// The host name resolved (by the relay or locally).
    Resolved { addrs: Vec<String>, ms: f64 },
    /// One address of several did not connect (refused, no answer, no route); the next one is
    /// tried. `peer` is the address tried, `reason` why it failed.
    TcpAttemptFailed {
        peer: String,
        reason: String,
        ms: f64,
    },
    /// TCP to the target is up. `local` is this end of that TCP connection (the relay's,
    /// through a relay): the source address and port the server sees and logs.
    TcpConnected {
        peer: String,
        local: Option<String>,
        ms: f64,
    },
    /// The relay reported the end of the relayed connection.
    Closed {
        by: String,
        reason: String,
        bytes_up: u64,
        bytes_down: u64,
    },
    /// A round trip to the relay (ping/pong frames), measured by the connector's pump.
    RelayRtt { ms: f64 },
}

/// How often a relay connector's pump pings the relay once connected.
pub const RELAY_PING_INTERVAL_MS: u64 = 1_000;

/// Matches relay pings to pongs: the pump sends [`RelayPinger::ping`]'s frame and hands each
/// pong id to [`RelayPinger::pong`], which gives the round trip in milliseconds.
#[derive(Debug, Default)]
pub struct RelayPinger {
    next_id: u64,
    outstanding: Vec<(u64, f64)>,
}

impl RelayPinger {
    /// The text frame to send now (`now_ms` from any monotonic clock).
    pub fn ping(&mut self, now_ms: f64) -> String {
        self.next_id += 1;
        self.outstanding.push((self.next_id, now_ms));
        if self.outstanding.len() > 16 {
            self.outstanding.remove(0);
        }
        serde_json::to_string(&sshdiag_events::relay::ClientFrame::Ping { id: self.next_id })
            .unwrap_or_default()
    }

    /// The round trip of the ping with this id, if it is one of ours.
    pub fn pong(&mut self, id: u64, now_ms: f64) -> Option<ConnectStep> {
        let i = self.outstanding.iter().position(|(x, _)| *x == id)?;
        let (_, sent) = self.outstanding.remove(i);
        Some(ConnectStep::RelayRtt {
            ms: sshdiag_events::round_thousandths(now_ms - sent),
        })
    }
}

/// The first word of the `reason` of the `closed` step a relay connector reports when the
/// WebSocket ended without the relay's own `closed` frame: the relay itself went away.
pub const RELAY_VANISHED: &str = "relay-vanished";

/// Watches a relayed connection for the relay's `closed` frame and counts the bytes relayed,
/// so a connector can tell, when its WebSocket ends, whether the relay said goodbye. Both
/// relay connectors (native and browser) use it, so they cannot disagree.
#[derive(Debug, Default)]
pub struct RelayEndWatch {
    closed_seen: bool,
    bytes_up: u64,
    bytes_down: u64,
}

impl RelayEndWatch {
    /// A step the relay reported after `connected`.
    pub fn step(&mut self, step: &ConnectStep) {
        if matches!(step, ConnectStep::Closed { .. }) {
            self.closed_seen = true;
        }
    }

    /// Bytes sent to the relay (client → target).
    pub fn sent(&mut self, n: usize) {
        self.bytes_up += n as u64;
    }

    /// Bytes received from the relay (target → client).
    pub fn received(&mut self, n: usize) {
        self.bytes_down += n as u64;
    }

    /// The WebSocket ended (`how`: close code, error or end of stream): the step to report,
    /// `None` when the relay had said `closed` first.
    pub fn ended(&self, how: &str) -> Option<ConnectStep> {
        (!self.closed_seen).then(|| ConnectStep::Closed {
            by: "relay".into(),
            reason: format!(
                "{RELAY_VANISHED}: the WebSocket to the relay ended without a closed frame ({how})"
            ),
            bytes_up: self.bytes_up,
            bytes_down: self.bytes_down,
        })
    }
}

/// Whether a `closed` step says the relay vanished rather than closed the connection itself.
pub fn is_relay_vanished(step: &ConnectStep) -> bool {
    matches!(step, ConnectStep::Closed { reason, .. } if reason.starts_with(RELAY_VANISHED))
}

/// What the probe says when the relay vanished under it during `phase`: the message and the
/// hints of a relay-layer failure (the relay process or the path to it died, not the server).
pub fn relay_vanished_diagnosis(phase: &str) -> (String, Vec<String>) {
    (
        format!("the relay went away during {phase}: its WebSocket dropped without a closed frame"),
        vec![
            format!("The relay process or the network path to it died during {phase} (a crash, a kill, a restart without draining, or a proxy or load balancer in between dropping the WebSocket)."),
            "This says nothing about the SSH server: the relay never reported that the target closed. The relay's operator can look its log up by connection_id.".into(),
        ],
    )
}

/// Why the transport could not be established.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectFailure {
    pub error_type: ErrorType,
    pub code: Code,
    /// Plain words; never contains a secret (no token, no password).
    pub message: String,
    /// The relay's own error code, when the relay said it.
    pub relay_code: Option<String>,
}

impl ConnectFailure {
    pub fn new(error_type: ErrorType, message: impl Into<String>) -> Self {
        ConnectFailure {
            error_type,
            code: error_type.code(),
            message: message.into(),
            relay_code: None,
        }
    }
}

/// What a connector hands back: the byte stream to the SSH server.
pub struct Connected<S> {
    pub stream: S,
    /// `websocket` or `tcp`.
    pub transport: sshdiag_events::Transport,
    /// Steps reported after the stream was handed over (the relay's `closed` frame): the
    /// probe reads them when the session ends, to say who closed it.
    pub later_steps: Option<tokio::sync::mpsc::UnboundedReceiver<ConnectStep>>,
}

/// What a connector is asked for: the target, the diagnosis's id (the relay logs it too),
/// and where each [`ConnectStep`] goes as it happens.
pub struct ConnectRequest<'a> {
    pub host: &'a str,
    pub port: u16,
    pub connection_id: &'a str,
    pub progress: UnboundedSender<ConnectStep>,
    /// How long one address may take to answer, as OpenSSH's `ConnectTimeout` (per address):
    /// a connector that tries several addresses itself gives each but the last this long,
    /// and reports the one that did not answer as a failed attempt before trying the next.
    /// (After a `Resolved` step with several addresses, the probe waits for all of them.)
    pub attempt_timeout_ms: u64,
}

impl ConnectRequest<'_> {
    /// The relay's `connect` frame for this target, carrying `token` when there is one.
    pub fn connect_frame(&self, token: Option<&str>) -> String {
        connect_frame(self.host, self.port, self.connection_id, token)
    }
}

/// Establishes the transport. Implementations send [`ConnectStep`]s on `progress` as they
/// happen and return the stream, or a classified failure.
pub trait Connector {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    fn connect(
        &mut self,
        to: ConnectRequest<'_>,
    ) -> impl Future<Output = Result<Connected<Self::Stream>, ConnectFailure>>;

    /// The relay URL (without credentials), when this connector uses one.
    fn proxy_url(&self) -> Option<String> {
        None
    }
}

/// What one relay text frame means to the client.
#[derive(Debug, Clone, PartialEq)]
pub enum RelayEvent {
    Step(ConnectStep),
    Failed(ConnectFailure),
    /// The answer to a ping the connector sent.
    Pong(u64),
    /// Not a frame of `sshdiag.v1`.
    Malformed(String),
}

/// Interpret one control frame of the relay protocol (see `shared/spec/proxy.md`).
pub fn interpret_control_frame(text: &str) -> RelayEvent {
    match serde_json::from_str(text) {
        Ok(frame) => interpret(frame),
        Err(e) => RelayEvent::Malformed(format!("relay sent an unknown control frame: {e}")),
    }
}

/// The failed addresses a `connected` or `error` frame lists, as steps, in the order tried.
fn attempt_steps(frame: &ControlFrame) -> Vec<ConnectStep> {
    let attempts: &[TcpAttempt] = match frame {
        ControlFrame::Connected { attempts, .. } | ControlFrame::Error { attempts, .. } => attempts,
        _ => &[],
    };
    attempts
        .iter()
        .map(|a| ConnectStep::TcpAttemptFailed {
            peer: a.peer.clone(),
            reason: a.message.clone(),
            ms: a.ms,
        })
        .collect()
}

fn interpret(frame: ControlFrame) -> RelayEvent {
    match frame {
        ControlFrame::Resolved { addrs, ms } => {
            RelayEvent::Step(ConnectStep::Resolved { addrs, ms })
        }
        ControlFrame::Connected {
            peer, local, ms, ..
        } => RelayEvent::Step(ConnectStep::TcpConnected { peer, local, ms }),
        ControlFrame::Closed {
            by,
            reason,
            bytes_up,
            bytes_down,
        } => {
            let by = match by {
                ClosedBy::Target => "target",
                ClosedBy::Client => "client",
                ClosedBy::Relay => "relay",
            };
            RelayEvent::Step(ConnectStep::Closed {
                by: by.into(),
                reason,
                bytes_up,
                bytes_down,
            })
        }
        ControlFrame::Pong { id } => RelayEvent::Pong(id),
        ControlFrame::Error { code, message, .. } => {
            let (error_type, our_code, wire) = match code {
                RelayErrorCode::Denied => (ErrorType::ProxyDenied, Code::ProxyDenied, "denied"),
                RelayErrorCode::DeniedPrivateAddress => (
                    ErrorType::ProxyDenied,
                    Code::ProxyDeniedPrivateAddress,
                    "denied-private-address",
                ),
                RelayErrorCode::TokenInvalid => (
                    ErrorType::ProxyDenied,
                    Code::ProxyDeniedTokenInvalid,
                    "token-invalid",
                ),
                RelayErrorCode::TokenExpired => (
                    ErrorType::ProxyDenied,
                    Code::ProxyDeniedTokenExpired,
                    "token-expired",
                ),
                RelayErrorCode::Limit => (ErrorType::ProxyDenied, Code::ProxyLimit, "limit"),
                RelayErrorCode::DnsFailed => {
                    (ErrorType::DnsFailure, Code::DnsFailure, "dns-failed")
                }
                RelayErrorCode::TcpRefused => (
                    ErrorType::ConnectionRefused,
                    Code::ConnectionRefused,
                    "tcp-refused",
                ),
                RelayErrorCode::TcpTimeout => (
                    ErrorType::ConnectionTimeout,
                    Code::ConnectionTimeout,
                    "tcp-timeout",
                ),
                RelayErrorCode::HostUnreachable => (
                    ErrorType::HostUnreachable,
                    Code::HostUnreachable,
                    "host-unreachable",
                ),
            };
            RelayEvent::Failed(ConnectFailure {
                error_type,
                code: our_code,
                message,
                relay_code: Some(wire.to_string()),
            })
        }
    }
}

/// The client's first frame: connect to host:port, tagged with the connection id.
pub fn connect_frame(host: &str, port: u16, connection_id: &str, token: Option<&str>) -> String {
    let hello = sshdiag_events::relay::ClientFrame::Connect {
        host: host.to_string(),
        port,
        connection_id: connection_id.to_string(),
        token: token.map(str::to_string),
    };
    serde_json::to_string(&hello).unwrap_or_default()
}

/// One text frame while waiting for `connected`: report steps as they come; `Ok(true)` once
/// connected, `Ok(false)` to keep waiting, `Err` when the relay refused or spoke nonsense.
/// Both relay connectors (native and browser) use this, so they cannot disagree.
pub fn handshake_frame(
    text: &str,
    progress: &UnboundedSender<ConnectStep>,
) -> Result<bool, ConnectFailure> {
    let frame: ControlFrame = match serde_json::from_str(text) {
        Ok(frame) => frame,
        Err(e) => {
            let m = format!("relay sent an unknown control frame: {e}");
            return Err(ConnectFailure::new(ErrorType::ProxyUnreachable, m));
        }
    };
    // The addresses that failed before this frame's outcome, reported first, in order.
    for step in attempt_steps(&frame) {
        let _ = progress.send(step);
    }
    match interpret(frame) {
        RelayEvent::Step(step) => {
            let done = matches!(step, ConnectStep::TcpConnected { .. });
            let _ = progress.send(step);
            Ok(done)
        }
        RelayEvent::Failed(f) => Err(f),
        RelayEvent::Pong(_) => Ok(false),
        RelayEvent::Malformed(m) => Err(ConnectFailure::new(ErrorType::ProxyUnreachable, m)),
    }
}

/// Strip user info, query and fragment from a relay URL before it goes into an event.
pub fn redact_url_credentials(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    match scheme {
        Some(s) => format!("{s}://{authority}{path}"),
        None => format!("{authority}{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_denials_keep_their_finer_codes() {
        let e = interpret_control_frame(
            r#"{"type":"error","code":"denied-private-address","message":"x"}"#,
        );
        match e {
            RelayEvent::Failed(f) => {
                assert_eq!(f.error_type, ErrorType::ProxyDenied);
                assert_eq!(f.code, Code::ProxyDeniedPrivateAddress);
            }
            other => panic!("{other:?}"),
        }
        let e = interpret_control_frame(r#"{"type":"error","code":"tcp-refused","message":"x"}"#);
        assert!(matches!(e, RelayEvent::Failed(f) if f.error_type == ErrorType::ConnectionRefused));
        assert!(matches!(
            interpret_control_frame("{"),
            RelayEvent::Malformed(_)
        ));
    }

    #[test]
    fn the_addresses_tried_before_the_outcome_are_reported_in_order() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let connected = r#"{"type":"connected","peer":"127.0.0.1:22","ms":0.4,"attempts":[{"peer":"[::1]:22","code":"tcp-refused","message":"refused","ms":0.1}]}"#;
        assert_eq!(handshake_frame(connected, &tx), Ok(true));
        assert!(
            matches!(rx.try_recv(), Ok(ConnectStep::TcpAttemptFailed { peer, .. }) if peer == "[::1]:22")
        );
        assert!(
            matches!(rx.try_recv(), Ok(ConnectStep::TcpConnected { peer, .. }) if peer == "127.0.0.1:22")
        );
        // An older relay's frames, without attempts, still read.
        let old = r#"{"type":"connected","peer":"127.0.0.1:22","ms":0.4}"#;
        assert_eq!(handshake_frame(old, &tx), Ok(true));
        assert!(matches!(
            rx.try_recv(),
            Ok(ConnectStep::TcpConnected { .. })
        ));
        let failed = r#"{"type":"error","code":"tcp-refused","message":"all refused","attempts":[{"peer":"[::1]:22","code":"tcp-refused","message":"a","ms":0.1},{"peer":"127.0.0.1:22","code":"tcp-refused","message":"b","ms":0.2}]}"#;
        let err = handshake_frame(failed, &tx).unwrap_err();
        assert_eq!(err.error_type, ErrorType::ConnectionRefused);
        let tried: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|s| match s {
                ConnectStep::TcpAttemptFailed { peer, .. } => peer,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(tried, ["[::1]:22", "127.0.0.1:22"]);
    }

    #[test]
    fn a_websocket_that_ends_without_closed_means_the_relay_vanished() {
        let mut watch = RelayEndWatch::default();
        watch.sent(10);
        watch.received(32);
        let step = watch.ended("close code 1006").expect("vanished");
        assert!(is_relay_vanished(&step));
        assert!(matches!(
            &step,
            ConnectStep::Closed { by, bytes_up: 10, bytes_down: 32, .. } if by == "relay"
        ));
        watch.step(&ConnectStep::Closed {
            by: "target".into(),
            reason: "the target closed the connection".into(),
            bytes_up: 10,
            bytes_down: 32,
        });
        assert_eq!(watch.ended("close code 1000"), None);
        let (message, hints) = relay_vanished_diagnosis("exec");
        assert!(message.contains("during exec"));
        assert!(hints[0].contains("relay process"));
    }

    #[test]
    fn urls_lose_credentials_and_queries() {
        assert_eq!(
            redact_url_credentials("wss://u:p@relay.example/ws?token=abc"),
            "wss://relay.example/ws"
        );
        assert_eq!(
            redact_url_credentials("ws://127.0.0.1:8022/ws"),
            "ws://127.0.0.1:8022/ws"
        );
    }
}
