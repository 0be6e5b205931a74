//! The byte pump of a connected session, and how it ends. Binary frames go to the target,
//! the target's bytes go out as binary frames, one frame in flight each way (so nothing is
//! buffered without bound); app-level pings are answered with pongs within a deadline; idle
//! and session-length limits run beside it. The end sends `closed` with byte counts, logs one
//! line and counts it.
//!
//! Architecture invariant: this code never looks inside the bytes it relays.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use sshdiag_events::Code;
use sshdiag_events::relay::{ClientFrame, ClosedBy, ControlFrame, RelayErrorCode};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::{
    CLOSE_GOING_AWAY, CLOSE_NORMAL, CLOSE_PROTOCOL, CONTROL_SEND_TIMEOUT, Ctx, Refusal, forced, ms,
    read_error, send_close, send_control,
};
use crate::limit::Limit;
use crate::log::Level;

/// Read size from the target: one binary frame carries at most this many bytes. Larger frames
/// mean fewer `message` events and copies into wasm in a browser, which is where bulk
/// transfers spend their time besides the cipher; a frame must still fit the WebSocket's
/// bounded write buffer with room for a control and a close frame.
const READ_CHUNK: usize = 128 * 1024;
const _: () = assert!(READ_CHUNK + 64 * 1024 <= crate::WS_MAX_WRITE_BUFFER);

type WsSink = tokio::sync::Mutex<SplitSink<WebSocket, Message>>;

/// How the pump ended.
enum End {
    TargetEof,
    TargetError(String),
    ClientClosed(String),
    BadFrame(String),
    Limit(Limit, String),
    Shutdown,
}

/// What both directions share: activity time and byte counts.
struct Counters {
    base: Instant,
    last_activity: AtomicU64,
    up: AtomicU64,
    down: AtomicU64,
}

impl Counters {
    fn touch(&self) {
        self.last_activity
            .store(self.base.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn quiet(&self) -> Duration {
        let last = Duration::from_millis(self.last_activity.load(Ordering::Relaxed));
        self.base.elapsed().saturating_sub(last)
    }
}

pub(super) async fn pump(ctx: &Ctx, socket: WebSocket, tcp: TcpStream) {
    let (ws_tx, ws_rx) = socket.split();
    let ws_tx = tokio::sync::Mutex::new(ws_tx);
    let (tcp_rx, tcp_tx) = tcp.into_split();
    let counters = Counters {
        base: Instant::now(),
        last_activity: AtomicU64::new(0),
        up: AtomicU64::new(0),
        down: AtomicU64::new(0),
    };
    let end = tokio::select! {
        end = up(ctx, ws_rx, tcp_tx, &ws_tx, &counters) => end,
        end = down(ctx, tcp_rx, &ws_tx, &counters) => end,
        end = idle(ctx, &counters) => end,
        end = session_limit(ctx) => end,
        () = forced(&ctx.shared) => End::Shutdown,
    };
    finish(ctx, end, ws_tx.into_inner(), &counters).await;
}

/// Client → target: binary frames are written to the target; `ping` text frames get a pong.
async fn up(
    ctx: &Ctx,
    mut ws_rx: SplitStream<WebSocket>,
    mut tcp_tx: OwnedWriteHalf,
    ws_tx: &WsSink,
    counters: &Counters,
) -> End {
    let max_frame = ctx.shared.config.max_frame_size;
    loop {
        match ws_rx.next().await {
            None => return End::ClientClosed("client went away".into()),
            Some(Err(error)) => {
                return match read_error(error, max_frame) {
                    Refusal::Limit(limit, message) => End::Limit(limit, message),
                    Refusal::BadFrame(message) => End::BadFrame(message),
                    Refusal::ClientGone(message) => End::ClientClosed(message),
                    _ => End::ClientClosed("WebSocket error".into()),
                };
            }
            Some(Ok(Message::Binary(data))) => {
                if data.len() > max_frame {
                    return End::Limit(
                        Limit::FrameSize,
                        format!(
                            "a {}-byte frame exceeds the relay's limit of {max_frame} bytes",
                            data.len()
                        ),
                    );
                }
                counters.touch();
                if let Err(error) = tcp_tx.write_all(&data).await {
                    return End::TargetError(format!("writing to the target failed: {error}"));
                }
                counters.up.fetch_add(data.len() as u64, Ordering::Relaxed);
                ctx.shared.metrics.bytes_up(data.len() as u64);
                counters.touch();
            }
            Some(Ok(Message::Text(text))) => {
                if let Some(end) = answer_ping(text.as_str(), ws_tx).await {
                    return end;
                }
            }
            Some(Ok(Message::Close(_))) => {
                return End::ClientClosed("client closed the WebSocket".into());
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
        }
    }
}

/// The one text frame allowed after connect: a ping, answered at once so the client can tell
/// its latency to the relay from the server's. A client that does not read its pongs is cut
/// off after [`CONTROL_SEND_TIMEOUT`] instead of having them queued.
async fn answer_ping(text: &str, ws_tx: &WsSink) -> Option<End> {
    let Ok(ClientFrame::Ping { id }) = serde_json::from_str::<ClientFrame>(text) else {
        return Some(End::BadFrame(
            "a text frame other than ping arrived after the connect frame".into(),
        ));
    };
    let pong = serde_json::to_string(&ControlFrame::Pong { id }).unwrap_or_default();
    let mut sink = ws_tx.lock().await;
    match tokio::time::timeout(CONTROL_SEND_TIMEOUT, sink.send(Message::Text(pong.into()))).await {
        Ok(Ok(())) => None,
        Ok(Err(_)) => Some(End::ClientClosed("client went away".into())),
        Err(_) => Some(End::Limit(
            Limit::WriteBuffer,
            format!("the client did not read a pong within {CONTROL_SEND_TIMEOUT:?}"),
        )),
    }
}

/// Target → client: each read becomes one binary frame, sent before the next read.
async fn down(ctx: &Ctx, tcp_rx: OwnedReadHalf, ws_tx: &WsSink, counters: &Counters) -> End {
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
                counters.touch();
                if ws_tx
                    .lock()
                    .await
                    .send(Message::Binary(Bytes::from(buf)))
                    .await
                    .is_err()
                {
                    return End::ClientClosed("client went away".into());
                }
                counters.down.fetch_add(n as u64, Ordering::Relaxed);
                ctx.shared.metrics.bytes_down(n as u64);
                counters.touch();
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(error) => {
                return End::TargetError(format!("reading from the target failed: {error}"));
            }
        }
    }
}

/// Ends the session after `--idle-timeout` without bytes either way.
async fn idle(ctx: &Ctx, counters: &Counters) -> End {
    let idle = ctx.shared.config.idle_timeout;
    if idle.is_zero() {
        return std::future::pending::<End>().await;
    }
    loop {
        let quiet = counters.quiet();
        if quiet >= idle {
            return End::Limit(
                Limit::IdleTimeout,
                format!("no data either way for {idle:?}"),
            );
        }
        tokio::time::sleep(idle - quiet).await;
    }
}

/// Ends the session at `--max-session`.
async fn session_limit(ctx: &Ctx) -> End {
    let max = ctx.shared.config.max_session;
    if max.is_zero() {
        return std::future::pending::<End>().await;
    }
    tokio::time::sleep(max.saturating_sub(ctx.started.elapsed())).await;
    End::Limit(
        Limit::MaxSession,
        format!("the session reached the maximum length of {max:?}"),
    )
}

/// Says how the session ended: `error{limit}` when a limit ended it, `closed` with byte
/// counts and a close frame (unless the client left first), one log line, the metrics.
async fn finish(ctx: &Ctx, end: End, mut sink: SplitSink<WebSocket, Message>, counters: &Counters) {
    let shared = &ctx.shared;
    let up_total = counters.up.load(Ordering::Relaxed);
    let down_total = counters.down.load(Ordering::Relaxed);
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
                    attempts: Vec::new(),
                },
            )
            .await;
            (
                ClosedBy::Relay,
                format!("limit: {message}"),
                Level::Warn,
                Some(limit.close_code()),
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
        let closed = ControlFrame::Closed {
            by,
            reason,
            bytes_up: up_total,
            bytes_down: down_total,
        };
        send_control(&mut sink, &closed).await;
        send_close(&mut sink, code, by_text).await;
    }
}
