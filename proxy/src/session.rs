//! One relayed WebSocket, from upgrade to close: the connect handshake, token and policy
//! checks, resolution, the TCP connect to a checked address, and the byte pump.
//!
//! Sequence (protocol `sshdiag.v1`, `shared/spec/proxy.md`):
//!
//! 1. wait up to the handshake deadline for the first frame, a text `connect` JSON;
//! 2. token (with `--token-secret-file` or `--token-public-key`), then the policy's pre-check on the name;
//! 3. resolve (literal addresses, in every numeric form, are not looked up), send `resolved`;
//! 4. check every address; connect to the first one that passed (never a second lookup);
//!    send `connected`;
//! 5. pump: binary frames → TCP, TCP → binary frames, one frame in flight each way, so nothing
//!    is buffered without bound; when the target ends its side, every byte it sent has been
//!    sent as frames before `closed`.
//!
//! Every end sends what the client can still use (`error` with a code, then `closed` with
//! byte counts) with bounded waits, logs one line and counts a metric. Frames the relay does
//! not accept (binary before connect, bad JSON, unknown type, text after connect) end the
//! session with `closed` by `relay`, reason `bad-frame: …`, and WebSocket close code 1002.
//!
//! Architecture invariant: nothing here parses SSH, and the token is dropped right after it
//! is checked; it never reaches a log line.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::{SinkExt, StreamExt};
use sshdiag_events::Code;
use sshdiag_events::relay::{ClientFrame, ClosedBy, ControlFrame, RelayErrorCode};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::log::{Level, LogLine};
use crate::policy::{Denial, TargetHost, canonical};
use crate::{Shared, Slot};

/// How long the relay waits to hand a control frame to a client that does not read.
const CONTROL_SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest connect frame accepted.
const MAX_CONNECT_FRAME: usize = 8 * 1024;
/// Read size from the target: one binary frame carries at most this many bytes.
const READ_CHUNK: usize = 64 * 1024;

/// WebSocket close codes (RFC 6455 §7.4.1).
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_PROTOCOL: u16 = 1002;
const CLOSE_POLICY: u16 = 1008;
const CLOSE_TOO_BIG: u16 = 1009;

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

/// What the session knows about itself, for log lines.
struct Ctx {
    shared: Arc<Shared>,
    client_ip: IpAddr,
    connection_id: Option<String>,
    target: Option<String>,
    peer: Option<String>,
    started: Instant,
}

impl Ctx {
    fn line(&self, level: Level, code: Code, message: impl Into<String>) -> LogLine {
        let mut line = LogLine::new(level, code, message);
        line.client_ip = Some(self.client_ip.to_string());
        line.connection_id = self.connection_id.clone();
        line.target = self.target.clone();
        line.peer = self.peer.clone();
        line
    }

    fn log(&self, level: Level, code: Code, message: impl Into<String>) {
        self.shared.log(self.line(level, code, message));
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
    /// A limit: `error` with `limit`, then `closed`.
    Limit(&'static str, String),
    /// The client sent something we do not accept.
    BadFrame(String),
    /// The client closed or vanished.
    ClientGone(String),
    /// No connect frame before the deadline.
    HandshakeTimeout(String),
    /// The relay is shutting down.
    Shutdown,
}

pub(crate) async fn run(
    shared: Arc<Shared>,
    mut socket: WebSocket,
    client: SocketAddr,
    slot: Result<Slot, &'static str>,
) {
    let mut ctx = Ctx {
        shared: Arc::clone(&shared),
        client_ip: client.ip(),
        connection_id: None,
        target: None,
        peer: None,
        started: Instant::now(),
    };
    let _slot = match slot {
        Ok(slot) => slot,
        Err(limit) => {
            let message = match limit {
                "max-per-ip" => format!(
                    "too many connections from {} (limit {})",
                    client.ip(),
                    shared.config.max_per_ip
                ),
                _ => format!(
                    "the relay is at its connection limit ({})",
                    shared.config.max_connections
                ),
            };
            refuse_limit(&ctx, &mut socket, limit, &message, CLOSE_POLICY).await;
            return;
        }
    };
    ctx.log(Level::Info, Code::RelayWsAccepted, "WebSocket accepted");

    let outcome = tokio::select! {
        outcome = handshake(&mut ctx, &mut socket) => outcome,
        () = forced(&shared) => Err(Refusal::Shutdown),
    };
    let tcp = match outcome {
        Ok(tcp) => tcp,
        Err(refusal) => {
            end_before_connect(&ctx, &mut socket, refusal).await;
            return;
        }
    };
    pump(&ctx, socket, tcp).await;
}

async fn refuse_limit(
    ctx: &Ctx,
    socket: &mut WebSocket,
    limit: &'static str,
    message: &str,
    close_code: u16,
) {
    ctx.shared.metrics.limit(limit);
    ctx.shared.metrics.connection("limit");
    ctx.log(Level::Warn, Code::RelayLimit, format!("{limit}: {message}"));
    send_limit_frames(socket, message).await;
    send_close(socket, close_code, limit).await;
}

/// What a client hears when a limit ends it before anything was relayed: `error{limit}`, then
/// `closed{by: relay, reason: "limit: …"}`.
async fn send_limit_frames(socket: &mut WebSocket, message: &str) {
    send_control(
        socket,
        &ControlFrame::Error {
            code: RelayErrorCode::Limit,
            message: message.to_string(),
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

async fn end_before_connect(ctx: &Ctx, socket: &mut WebSocket, refusal: Refusal) {
    match refusal {
        Refusal::Error(denial, log_code) => {
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
                },
            )
            .await;
            send_close(socket, CLOSE_POLICY, code).await;
        }
        Refusal::Limit(limit, message) => {
            let close = if limit == "frame-size" {
                CLOSE_TOO_BIG
            } else {
                CLOSE_POLICY
            };
            refuse_limit(ctx, socket, limit, &message, close).await;
        }
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
            ctx.shared.metrics.limit("handshake-timeout");
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

/// Keeps what is safe and useful of a client-chosen id: `[A-Za-z0-9._:-]`, at most 64.
fn sanitise_id(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
        .take(64)
        .collect()
}

/// A client-chosen host as it may appear in a log line: printable, bounded.
fn loggable_host(host: &str) -> String {
    let mut out: String = host
        .chars()
        .take(255)
        .flat_map(char::escape_default)
        .collect();
    out.truncate(300);
    out
}

/// Reads the connect frame and checks it; resolves; connects.
async fn handshake(ctx: &mut Ctx, socket: &mut WebSocket) -> Result<TcpStream, Refusal> {
    let shared = Arc::clone(&ctx.shared);
    let config = &shared.config;
    let deadline = config.handshake_timeout;
    let first =
        match tokio::time::timeout(deadline, first_frame(socket, config.max_frame_size)).await {
            Ok(first) => first?,
            Err(_) => {
                return Err(Refusal::HandshakeTimeout(format!(
                    "no connect frame within {deadline:?}"
                )));
            }
        };
    let ClientFrame::Connect {
        host,
        port,
        connection_id,
        token,
    } = first
    else {
        return Err(Refusal::BadFrame(
            "the first frame's `type` is not `connect`".into(),
        ));
    };
    let id = sanitise_id(&connection_id);
    ctx.connection_id = Some(if id.is_empty() { "-".into() } else { id });
    let parsed = TargetHost::parse(&host);
    ctx.target = Some(match &parsed {
        Ok(target) => format!("{}:{port}", target.display()),
        Err(_) => format!("{}:{port}", loggable_host(&host)),
    });
    ctx.log(
        Level::Info,
        Code::RelayConnectRequest,
        format!(
            "connect requested{}",
            if token.is_some() {
                " (with a token)"
            } else {
                ""
            }
        ),
    );
    let target = parsed.map_err(|message| {
        Refusal::Error(
            Denial {
                code: RelayErrorCode::Denied,
                message,
            },
            Code::RelayDenied,
        )
    })?;
    if port == 0 {
        return Err(Refusal::Error(
            Denial {
                code: RelayErrorCode::Denied,
                message: "port 0 is not a valid target port".into(),
            },
            Code::RelayDenied,
        ));
    }

    if let Some(keys) = &shared.tokens {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let accepted = keys
            .verify(token.as_deref(), &host, port, now)
            .map_err(|denial| Refusal::Error(denial, Code::RelayDenied))?;
        if let Some(ticket) = accepted.ticket {
            ctx.log(
                Level::Info,
                Code::RelayConnectRequest,
                format!("token accepted for ticket {ticket}"),
            );
        }
    }
    drop(token);

    shared
        .policy
        .precheck(&target, port)
        .map_err(|denial| Refusal::Error(denial, Code::RelayDenied))?;

    // Resolve.
    let resolve_started = Instant::now();
    let mut addrs: Vec<IpAddr> = match &target {
        TargetHost::Ip(ip) => vec![*ip],
        TargetHost::Name(name) => {
            let lookup = tokio::net::lookup_host((name.as_str(), port));
            match tokio::time::timeout(config.connect_timeout, lookup).await {
                Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
                Ok(Err(error)) => {
                    return Err(Refusal::Error(
                        Denial {
                            code: RelayErrorCode::DnsFailed,
                            message: format!("{name} did not resolve: {error}"),
                        },
                        Code::RelayDnsFailed,
                    ));
                }
                Err(_) => {
                    return Err(Refusal::Error(
                        Denial {
                            code: RelayErrorCode::DnsFailed,
                            message: format!(
                                "{name} did not resolve within {:?}",
                                config.connect_timeout
                            ),
                        },
                        Code::RelayDnsFailed,
                    ));
                }
            }
        }
    };
    let mut seen = Vec::new();
    addrs.retain(|a| {
        let a = canonical(*a);
        if seen.contains(&a) {
            false
        } else {
            seen.push(a);
            true
        }
    });
    if addrs.is_empty() {
        return Err(Refusal::Error(
            Denial {
                code: RelayErrorCode::DnsFailed,
                message: format!("{} has no addresses", target.display()),
            },
            Code::RelayDnsFailed,
        ));
    }
    let resolve_ms = ms(resolve_started.elapsed());
    let addr_texts: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    let mut line = ctx.line(
        Level::Info,
        Code::RelayResolved,
        format!("resolved to {}", addr_texts.join(" ")),
    );
    line.ms = Some(resolve_ms);
    shared.log(line);
    send_control(
        socket,
        &ControlFrame::Resolved {
            addrs: addr_texts,
            ms: resolve_ms,
        },
    )
    .await;

    // Check every address; keep those that passed, in resolver order.
    let mut allowed = Vec::new();
    let mut first_denial: Option<Denial> = None;
    for addr in &addrs {
        match shared.policy.check_address(&target, port, *addr) {
            Ok(()) => allowed.push(canonical(*addr)),
            Err(denial) => {
                let better = match &first_denial {
                    None => true,
                    Some(d) => {
                        d.code == RelayErrorCode::Denied
                            && denial.code == RelayErrorCode::DeniedPrivateAddress
                    }
                };
                if better {
                    first_denial = Some(denial);
                }
            }
        }
    }
    if allowed.is_empty() {
        let denial = first_denial.unwrap_or(Denial {
            code: RelayErrorCode::Denied,
            message: "no allowed address".into(),
        });
        return Err(Refusal::Error(denial, Code::RelayDenied));
    }

    // Connect to a checked address; no second lookup.
    let mut last: Option<Denial> = None;
    for addr in allowed {
        let peer = SocketAddr::new(addr, port);
        let started = Instant::now();
        match tokio::time::timeout(config.connect_timeout, TcpStream::connect(peer)).await {
            Ok(Ok(stream)) => {
                let elapsed = started.elapsed();
                let _ = stream.set_nodelay(true);
                shared.metrics.connect_time(elapsed);
                shared.metrics.connection("connected");
                ctx.peer = Some(peer.to_string());
                let mut line = ctx.line(
                    Level::Info,
                    Code::RelayTcpConnected,
                    "connected to the target",
                );
                line.ms = Some(ms(elapsed));
                shared.log(line);
                send_control(
                    socket,
                    &ControlFrame::Connected {
                        peer: peer.to_string(),
                        ms: ms(elapsed),
                    },
                )
                .await;
                return Ok(stream);
            }
            Ok(Err(error)) => {
                let code = match error.kind() {
                    std::io::ErrorKind::ConnectionRefused => RelayErrorCode::TcpRefused,
                    std::io::ErrorKind::TimedOut => RelayErrorCode::TcpTimeout,
                    _ => RelayErrorCode::HostUnreachable,
                };
                last = Some(Denial {
                    code,
                    message: format!("TCP connect to {peer} failed: {error}"),
                });
            }
            Err(_) => {
                last = Some(Denial {
                    code: RelayErrorCode::TcpTimeout,
                    message: format!(
                        "TCP connect to {peer} got no answer within {:?}",
                        config.connect_timeout
                    ),
                });
            }
        }
    }
    let denial = last.unwrap_or(Denial {
        code: RelayErrorCode::HostUnreachable,
        message: "no address to connect to".into(),
    });
    Err(Refusal::Error(denial, Code::RelayTcpFailed))
}

/// Waits for the first data frame and parses it as a connect frame.
async fn first_frame(socket: &mut WebSocket, max_frame: usize) -> Result<ClientFrame, Refusal> {
    loop {
        let message = match socket.recv().await {
            None => {
                return Err(Refusal::ClientGone(
                    "client went away before sending a connect frame".into(),
                ));
            }
            Some(Err(error)) => return Err(read_error(error, max_frame)),
            Some(Ok(message)) => message,
        };
        match message {
            Message::Text(text) => {
                if text.len() > MAX_CONNECT_FRAME {
                    return Err(Refusal::Limit(
                        "frame-size",
                        format!(
                            "the connect frame is {} bytes; at most {MAX_CONNECT_FRAME} are accepted",
                            text.len()
                        ),
                    ));
                }
                return parse_connect(text.as_str());
            }
            Message::Binary(data) => {
                return Err(Refusal::BadFrame(format!(
                    "a binary frame ({} bytes) arrived before the connect frame",
                    data.len()
                )));
            }
            Message::Close(_) => {
                return Err(Refusal::ClientGone(
                    "client closed before sending a connect frame".into(),
                ));
            }
            Message::Ping(_) | Message::Pong(_) => continue,
        }
    }
}

fn read_error(error: axum::Error, max_frame: usize) -> Refusal {
    let text = error.to_string();
    if text.contains("Space limit exceeded")
        || text.to_ascii_lowercase().contains("too long")
        || text.to_ascii_lowercase().contains("capacity")
    {
        Refusal::Limit(
            "frame-size",
            format!("a message exceeded the relay's size limit ({max_frame} bytes)"),
        )
    } else {
        Refusal::ClientGone(format!("WebSocket error: {text}"))
    }
}

fn parse_connect(text: &str) -> Result<ClientFrame, Refusal> {
    serde_json::from_str::<ClientFrame>(text).map_err(|error| {
        let why = if error.to_string().contains("unknown variant") {
            "the first frame's `type` is not `connect`".to_string()
        } else {
            format!("the first frame is not a valid connect frame: {error}")
        };
        Refusal::BadFrame(why)
    })
}

/// How the pump ended.
enum End {
    TargetEof,
    TargetError(String),
    ClientClosed(String),
    BadFrame(String),
    Limit(&'static str, String),
    Shutdown,
}

async fn pump(ctx: &Ctx, socket: WebSocket, tcp: TcpStream) {
    let shared = &ctx.shared;
    let config = &shared.config;
    let (ws_tx, mut ws_rx) = socket.split();
    let ws_tx = tokio::sync::Mutex::new(ws_tx);
    let (tcp_rx, mut tcp_tx) = tcp.into_split();
    let base = Instant::now();
    let last_activity = AtomicU64::new(0);
    let touch = || last_activity.store(base.elapsed().as_millis() as u64, Ordering::Relaxed);
    let bytes_up = AtomicU64::new(0);
    let bytes_down = AtomicU64::new(0);
    let max_frame = config.max_frame_size;

    let up = async {
        loop {
            match ws_rx.next().await {
                None => return End::ClientClosed("client went away".into()),
                Some(Err(error)) => {
                    return match read_error(error, max_frame) {
                        Refusal::Limit(limit, message) => End::Limit(limit, message),
                        Refusal::ClientGone(message) => End::ClientClosed(message),
                        _ => End::ClientClosed("WebSocket error".into()),
                    };
                }
                Some(Ok(Message::Binary(data))) => {
                    if data.len() > max_frame {
                        return End::Limit(
                            "frame-size",
                            format!(
                                "a {}-byte frame exceeds the relay's limit of {max_frame} bytes",
                                data.len()
                            ),
                        );
                    }
                    touch();
                    if let Err(error) = tcp_tx.write_all(&data).await {
                        return End::TargetError(format!("writing to the target failed: {error}"));
                    }
                    bytes_up.fetch_add(data.len() as u64, Ordering::Relaxed);
                    shared.metrics.bytes_up(data.len() as u64);
                    touch();
                }
                Some(Ok(Message::Text(text))) => {
                    // The one text frame allowed after connect: a ping, answered at once so the
                    // client can tell its latency to the relay from the server's.
                    match serde_json::from_str::<ClientFrame>(text.as_str()) {
                        Ok(ClientFrame::Ping { id }) => {
                            let pong = serde_json::to_string(&ControlFrame::Pong { id })
                                .unwrap_or_default();
                            if ws_tx
                                .lock()
                                .await
                                .send(Message::Text(pong.into()))
                                .await
                                .is_err()
                            {
                                return End::ClientClosed("client went away".into());
                            }
                        }
                        _ => {
                            return End::BadFrame(
                                "a text frame other than ping arrived after the connect frame"
                                    .into(),
                            );
                        }
                    }
                }
                Some(Ok(Message::Close(_))) => {
                    return End::ClientClosed("client closed the WebSocket".into());
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            }
        }
    };

    let down = async {
        loop {
            // Wait for bytes before taking a buffer, so an idle session holds none; each read
            // gets its own buffer, handed to the WebSocket without a copy.
            if let Err(error) = tcp_rx.readable().await {
                return End::TargetError(format!("reading from the target failed: {error}"));
            }
            let mut buf = Vec::with_capacity(READ_CHUNK);
            match tcp_rx.try_read_buf(&mut buf) {
                Ok(0) => return End::TargetEof,
                Ok(n) => {
                    touch();
                    if ws_tx
                        .lock()
                        .await
                        .send(Message::Binary(Bytes::from(buf)))
                        .await
                        .is_err()
                    {
                        return End::ClientClosed("client went away".into());
                    }
                    bytes_down.fetch_add(n as u64, Ordering::Relaxed);
                    shared.metrics.bytes_down(n as u64);
                    touch();
                }
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(error) => {
                    return End::TargetError(format!("reading from the target failed: {error}"));
                }
            }
        }
    };

    let idle = async {
        let idle = config.idle_timeout;
        if idle.is_zero() {
            return std::future::pending::<End>().await;
        }
        loop {
            let last = Duration::from_millis(last_activity.load(Ordering::Relaxed));
            let quiet = base.elapsed().saturating_sub(last);
            if quiet >= idle {
                return End::Limit("idle-timeout", format!("no data either way for {idle:?}"));
            }
            tokio::time::sleep(idle - quiet).await;
        }
    };

    let session_limit = async {
        let max = config.max_session;
        if max.is_zero() {
            return std::future::pending::<End>().await;
        }
        tokio::time::sleep(max.saturating_sub(ctx.started.elapsed())).await;
        End::Limit(
            "max-session",
            format!("the session reached the maximum length of {max:?}"),
        )
    };

    let end = tokio::select! {
        end = up => end,
        end = down => end,
        end = idle => end,
        end = session_limit => end,
        () = forced(shared) => End::Shutdown,
    };
    drop(tcp_tx);
    drop(tcp_rx);

    let up_total = bytes_up.load(Ordering::Relaxed);
    let down_total = bytes_down.load(Ordering::Relaxed);
    let mut sink = ws_tx.into_inner();
    let closed = |by: ClosedBy, reason: String| ControlFrame::Closed {
        by,
        reason,
        bytes_up: up_total,
        bytes_down: down_total,
    };
    let (by, reason, level, close_code) = match end {
        End::TargetEof => (
            ClosedBy::Target,
            "the target closed the connection".to_string(),
            Level::Info,
            Some(CLOSE_NORMAL),
        ),
        End::TargetError(reason) => (ClosedBy::Target, reason, Level::Info, Some(CLOSE_NORMAL)),
        End::ClientClosed(reason) => (ClosedBy::Client, reason, Level::Info, None),
        End::BadFrame(message) => {
            shared.metrics.bad_frame();
            ctx.log(Level::Warn, Code::RelayBadFrame, message.clone());
            (
                ClosedBy::Relay,
                format!("bad-frame: {message}"),
                Level::Warn,
                Some(CLOSE_PROTOCOL),
            )
        }
        End::Limit(limit, message) => {
            shared.metrics.limit(limit);
            ctx.log(Level::Warn, Code::RelayLimit, format!("{limit}: {message}"));
            send_control(
                &mut sink,
                &ControlFrame::Error {
                    code: RelayErrorCode::Limit,
                    message: message.clone(),
                },
            )
            .await;
            let code = if limit == "frame-size" {
                CLOSE_TOO_BIG
            } else {
                CLOSE_POLICY
            };
            (
                ClosedBy::Relay,
                format!("limit: {message}"),
                Level::Warn,
                Some(code),
            )
        }
        End::Shutdown => (
            ClosedBy::Relay,
            "relay shutting down".to_string(),
            Level::Info,
            Some(CLOSE_GOING_AWAY),
        ),
    };
    let by_text = match by {
        ClosedBy::Target => "target",
        ClosedBy::Client => "client",
        ClosedBy::Relay => "relay",
    };
    let mut line = ctx.line(
        level,
        Code::RelayClosed,
        format!("closed by {by_text}: {reason}"),
    );
    line.ms = Some(ms(ctx.started.elapsed()));
    line.bytes_up = Some(up_total);
    line.bytes_down = Some(down_total);
    shared.log(line);
    if let Some(code) = close_code {
        send_control(&mut sink, &closed(by, reason.clone())).await;
        send_close(&mut sink, code, by_text).await;
    }
}
