//! One relayed WebSocket, from upgrade to close: the connect handshake, token and policy
//! checks, resolution, the TCP connect to a checked address, and the byte pump.
//!
//! Sequence (protocol `sshdiag.v1`, `shared/spec/proxy.md`):
//!
//! 1. wait up to the handshake deadline for the first frame, a text `connect` JSON;
//! 2. token (with `--token-secret-file`), then the policy's pre-check on the name;
//! 3. resolve (literal addresses, in every numeric form, are not looked up), send `resolved`;
//! 4. check every address; connect to the first one that passed (never a second lookup);
//!    send `connected`;
//! 5. pump: binary frames → TCP, TCP → binary frames, one frame in flight each way, so nothing
//!    is buffered without bound; when the target ends its side, every byte it sent has been
//!    sent as frames before `closed`.
//!
//! Every end sends what the client can still use (`error` with a code, then `closed` with
//! byte counts) with bounded waits, logs one line and counts a metric. Frames the relay does
//! not accept (binary before connect, bad JSON, unknown type, text after connect, and the
//! WebSocket protocol violations tungstenite reports: invalid UTF-8, unmasked or reserved
//! frames) end the session with `closed` by `relay`, reason `bad-frame: …`, and WebSocket
//! close code 1002.
//!
//! Files: this one (the session's context, its ends before connecting, frame sending),
//! `handshake` (connect frame → checked TCP connection), `pump` (bytes both ways, and the
//! end of a relayed session).
//!
//! Architecture invariant: nothing here parses SSH, and the token is dropped right after it
//! is checked; it never reaches a log line. Each session runs inside a `connection` span
//! that carries its `connection_id`, so every line it logs has it.

mod handshake;
mod pump;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::SinkExt;
use sshdiag_events::Code;
use sshdiag_events::relay::{ClosedBy, ControlFrame, RelayErrorCode, TcpAttempt};
use tracing::Instrument as _;
use tracing::instrument::WithSubscriber as _;

use crate::limit::Limit;
use crate::log::{Level, LogLine, TARGET_FIELD};
use crate::policy::Denial;
use crate::serve::Ticket;
use crate::{Shared, Slot};

/// How long the relay waits to hand a control frame to a client that does not read.
const CONTROL_SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// WebSocket close codes (RFC 6455 §7.4.1).
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_PROTOCOL: u16 = 1002;
const CLOSE_POLICY: u16 = 1008;

pub(crate) fn code_str(code: RelayErrorCode) -> &'static str {
    match code {
        RelayErrorCode::Denied => "denied",
        RelayErrorCode::DeniedPrivateAddress => "denied-private-address",
        RelayErrorCode::TokenInvalid => "token-invalid",
        RelayErrorCode::TokenExpired => "token-expired",
        RelayErrorCode::DnsFailed => "dns-failed",
        RelayErrorCode::TcpRefused => "tcp-refused",
        RelayErrorCode::TcpTimeout => "tcp-timeout",
        RelayErrorCode::HostUnreachable => "host-unreachable",
        RelayErrorCode::Limit => "limit",
    }
}

/// What the session knows about itself. The connection's span holds what log lines need
/// (`connection_id`, `client_ip`, `target`, `peer`); this keeps the session's own state.
struct Ctx {
    shared: Arc<Shared>,
    span: tracing::Span,
    started: Instant,
}

impl Ctx {
    fn line(&self, level: Level, code: Code, message: impl Into<String>) -> LogLine {
        LogLine::new(level, code, message)
    }

    fn log(&self, level: Level, code: Code, message: impl Into<String>) {
        self.shared.log(self.line(level, code, message));
    }

    fn set_connection_id(&self, id: &str) {
        self.span.record("connection_id", id);
    }

    fn set_target(&self, target: &str) {
        self.span.record(TARGET_FIELD, target);
    }

    fn set_peer(&self, peer: &str) {
        self.span.record("peer", peer);
    }
}

/// Sends one control frame, giving up after [`CONTROL_SEND_TIMEOUT`].
async fn send_control<S>(sink: &mut S, frame: &ControlFrame) -> bool
where
    S: futures::Sink<Message> + Unpin,
{
    let Ok(text) = serde_json::to_string(frame) else {
        return false;
    };
    matches!(
        tokio::time::timeout(CONTROL_SEND_TIMEOUT, sink.send(Message::Text(text.into()))).await,
        Ok(Ok(()))
    )
}

async fn send_close<S>(sink: &mut S, code: u16, reason: &str)
where
    S: futures::Sink<Message> + Unpin,
{
    // Close reasons must fit a control frame (125 bytes with the code).
    let mut reason = reason.to_string();
    while reason.len() > 120 {
        reason.pop();
    }
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ =
        tokio::time::timeout(CONTROL_SEND_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
}

/// Resolves when the relay's drain deadline passed.
async fn forced(shared: &Shared) {
    let mut rx = shared.force_close.clone();
    let _ = rx.wait_for(|forced| *forced).await;
}

/// How the handshake ended when it did not produce a TCP connection.
enum Refusal {
    /// Policy, token, DNS or TCP said no: an `error` frame with this code.
    Error(Denial, Code),
    /// No address connected: an `error` frame that lists every address tried, when the
    /// name resolved to several.
    TcpFailed(Denial, Vec<TcpAttempt>),
    /// A limit: `error` with `limit`, then `closed`.
    Limit(Limit, String),
    /// The client sent something we do not accept.
    BadFrame(String),
    /// The client closed or vanished.
    ClientGone(String),
    /// No connect frame before the deadline.
    HandshakeTimeout(String),
    /// The relay is shutting down.
    Shutdown,
}

/// The session of one upgraded WebSocket, inside its own `connection` span and with the
/// relay's log subscriber, so every line it (or a library under it) writes carries the span.
pub(crate) fn start(
    shared: Arc<Shared>,
    socket: WebSocket,
    client: SocketAddr,
    slot: Result<Slot, Limit>,
    ticket: Arc<Ticket>,
) -> impl Future<Output = ()> {
    let dispatch = shared.dispatch.clone();
    let span = tracing::dispatcher::with_default(&dispatch, || {
        tracing::info_span!(
            target: crate::log::TARGET,
            "connection",
            client_ip = %client.ip(),
            connection_id = tracing::field::Empty,
            relay_target = tracing::field::Empty,
            peer = tracing::field::Empty,
        )
    });
    run(shared, socket, client, slot, ticket, span.clone())
        .instrument(span)
        .with_subscriber(dispatch)
}

async fn run(
    shared: Arc<Shared>,
    mut socket: WebSocket,
    client: SocketAddr,
    slot: Result<Slot, Limit>,
    ticket: Arc<Ticket>,
    span: tracing::Span,
) {
    let ctx = Ctx {
        shared: Arc::clone(&shared),
        span,
        started: Instant::now(),
    };
    let _slot = match slot {
        Ok(slot) => slot,
        Err(limit) => {
            let message = match limit {
                Limit::MaxPerIp => format!(
                    "too many connections from {} (limit {})",
                    client.ip(),
                    shared.config.max_per_ip
                ),
                _ => format!(
                    "the relay is at its connection limit ({})",
                    shared.config.max_connections
                ),
            };
            refuse_limit(&ctx, &mut socket, limit, &message).await;
            return;
        }
    };
    ctx.log(Level::Info, Code::RelayWsAccepted, "WebSocket accepted");

    let outcome = tokio::select! {
        outcome = handshake::handshake(&ctx, &mut socket) => outcome,
        () = forced(&shared) => Err(Refusal::Shutdown),
    };
    // The upgrade and the connect frame are done: no longer a pending socket.
    ticket.release();
    let tcp = match outcome {
        Ok(tcp) => tcp,
        Err(refusal) => {
            end_before_connect(&ctx, &mut socket, refusal).await;
            return;
        }
    };
    pump::pump(&ctx, socket, tcp).await;
}

async fn refuse_limit(ctx: &Ctx, socket: &mut WebSocket, limit: Limit, message: &str) {
    ctx.shared.metrics.limit(limit);
    ctx.shared.metrics.connection("limit");
    ctx.log(Level::Warn, Code::RelayLimit, format!("{limit}: {message}"));
    send_limit_frames(socket, message).await;
    send_close(socket, limit.close_code(), limit.as_str()).await;
}

/// What a client hears when a limit ends it before anything was relayed: `error{limit}`, then
/// `closed{by: relay, reason: "limit: …"}`.
async fn send_limit_frames(socket: &mut WebSocket, message: &str) {
    send_control(
        socket,
        &ControlFrame::Error {
            code: RelayErrorCode::Limit,
            message: message.to_string(),
            attempts: Vec::new(),
        },
    )
    .await;
    send_closed_early(socket, format!("limit: {message}")).await;
}

/// `closed{by: relay}` before anything was relayed.
async fn send_closed_early(socket: &mut WebSocket, reason: String) {
    send_control(
        socket,
        &ControlFrame::Closed {
            by: ClosedBy::Relay,
            reason,
            bytes_up: 0,
            bytes_down: 0,
        },
    )
    .await;
}

/// The `error` frame of a denial or failure (with the addresses tried, if several), its log
/// line and metrics, and the close.
async fn refuse(
    ctx: &Ctx,
    socket: &mut WebSocket,
    denial: Denial,
    log_code: Code,
    attempts: Vec<TcpAttempt>,
) {
    let code = code_str(denial.code);
    ctx.shared.metrics.connection(code);
    if log_code == Code::RelayDenied {
        ctx.shared.metrics.denied(code);
    }
    ctx.log(Level::Warn, log_code, format!("{code}: {}", denial.message));
    send_control(
        socket,
        &ControlFrame::Error {
            code: denial.code,
            message: denial.message,
            attempts,
        },
    )
    .await;
    send_close(socket, CLOSE_POLICY, code).await;
}

async fn end_before_connect(ctx: &Ctx, socket: &mut WebSocket, refusal: Refusal) {
    match refusal {
        Refusal::Error(denial, log_code) => {
            refuse(ctx, socket, denial, log_code, Vec::new()).await;
        }
        Refusal::TcpFailed(denial, attempts) => {
            refuse(ctx, socket, denial, Code::RelayTcpFailed, attempts).await;
        }
        Refusal::Limit(limit, message) => refuse_limit(ctx, socket, limit, &message).await,
        Refusal::BadFrame(message) => {
            ctx.shared.metrics.connection("bad-frame");
            ctx.shared.metrics.bad_frame();
            ctx.log(Level::Warn, Code::RelayBadFrame, message.clone());
            send_closed_early(socket, format!("bad-frame: {message}")).await;
            send_close(socket, CLOSE_PROTOCOL, "bad frame").await;
        }
        Refusal::ClientGone(message) => {
            ctx.shared.metrics.connection("client-gone");
            let mut line = ctx.line(Level::Info, Code::RelayClosed, message);
            line.ms = Some(ms(ctx.started.elapsed()));
            line.bytes_up = Some(0);
            line.bytes_down = Some(0);
            ctx.shared.log(line);
        }
        Refusal::HandshakeTimeout(message) => {
            ctx.shared.metrics.limit(Limit::HandshakeTimeout);
            ctx.shared.metrics.connection("handshake-timeout");
            ctx.log(
                Level::Warn,
                Code::RelayHandshakeTimeout,
                format!("{message}; dropping the client"),
            );
            send_limit_frames(socket, &message).await;
            send_close(socket, CLOSE_POLICY, "handshake timeout").await;
        }
        Refusal::Shutdown => {
            ctx.shared.metrics.connection("shutdown");
            ctx.log(
                Level::Info,
                Code::RelayClosed,
                "closed before connecting: the relay is shutting down",
            );
            send_closed_early(socket, "relay shutting down".into()).await;
            send_close(socket, CLOSE_GOING_AWAY, "relay shutting down").await;
        }
    }
}

fn ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0 * 10.0).round() / 10.0
}

/// What a WebSocket read error means: a message over the size limit, a protocol violation by
/// the client (a bad frame), or the client gone. Told apart by tungstenite's error type.
fn read_error(error: axum::Error, max_frame: usize) -> Refusal {
    use axum_tungstenite::error::{Error as WsError, ProtocolError};
    let inner = error.into_inner();
    let Some(ws_error) = inner.downcast_ref::<WsError>() else {
        return Refusal::ClientGone(format!("WebSocket error: {inner}"));
    };
    match ws_error {
        WsError::Capacity(_) => Refusal::Limit(
            Limit::FrameSize,
            format!("a message exceeded the relay's size limit ({max_frame} bytes)"),
        ),
        WsError::WriteBufferFull(_) => Refusal::Limit(
            Limit::WriteBuffer,
            "the client does not read what the relay sends (its write buffer is full)".into(),
        ),
        WsError::Utf8(_) => Refusal::BadFrame("a text frame is not valid UTF-8".into()),
        WsError::Protocol(
            ProtocolError::ResetWithoutClosingHandshake | ProtocolError::ReceivedAfterClosing,
        )
        | WsError::ConnectionClosed
        | WsError::AlreadyClosed
        | WsError::Io(_) => Refusal::ClientGone(format!("WebSocket error: {ws_error}")),
        WsError::Protocol(violation) => Refusal::BadFrame(format!("{violation}")),
        other => Refusal::ClientGone(format!("WebSocket error: {other}")),
    }
}
