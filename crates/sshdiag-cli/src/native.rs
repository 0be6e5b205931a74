//! The native side of the probe: a tokio clock, every key format decoded in-process, a direct-TCP connector that does its own DNS
//! and TCP (and classifies their failures), and a relay connector over tokio-tungstenite that
//! speaks `sshdiag.v1` like the browser does. The tests use these too.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures::{SinkExt, StreamExt};
use sshdiag_core::keydecode::{KeyProblem, decode_any};
use sshdiag_core::runtime::{Env, LocalBoxFuture};
use sshdiag_core::transport::{
    ConnectFailure, ConnectRequest, ConnectStep, Connected, Connector, RELAY_PING_INTERVAL_MS,
    RelayEndWatch, RelayEvent, RelayPinger, handshake_frame, interpret_control_frame,
    redact_url_credentials,
};
use sshdiag_events::relay::SUBPROTOCOL;
use sshdiag_events::{ErrorType, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Clock and timer on tokio; keys of every format decoded in-process.
pub struct NativeEnv {
    start: Instant,
}

impl NativeEnv {
    pub fn shared() -> Arc<dyn Env> {
        Arc::new(NativeEnv {
            start: Instant::now(),
        })
    }
}

impl Env for NativeEnv {
    fn now_unix_ms(&self) -> f64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    }
    fn monotonic_ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0
    }
    fn sleep(&self, ms: u64) -> LocalBoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(std::time::Duration::from_millis(ms)))
    }
    fn runtime_name(&self) -> &'static str {
        "native"
    }
    fn random_bytes(&self, buf: &mut [u8]) {
        // Connection ids need uniqueness, not secrecy; the OS generator is there anyway.
        if getrandom::fill(buf).is_err() {
            let n = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            for (i, b) in buf.iter_mut().enumerate() {
                *b = (n >> (i * 8)) as u8;
            }
        }
    }
    fn decode_key<'a>(
        &'a self,
        text: &'a str,
        passphrase: Option<&'a str>,
    ) -> LocalBoxFuture<'a, Result<russh::keys::PrivateKey, KeyProblem>> {
        Box::pin(std::future::ready(decode_any(text, passphrase)))
    }
}

/// Direct TCP: the CLI resolves and connects itself.
#[derive(Debug, Default)]
pub struct TcpConnector;

fn classify_io(e: &std::io::Error, host: &str, port: u16) -> ConnectFailure {
    use std::io::ErrorKind as K;
    let et = match e.kind() {
        K::ConnectionRefused => ErrorType::ConnectionRefused,
        K::TimedOut => ErrorType::ConnectionTimeout,
        K::HostUnreachable | K::NetworkUnreachable => ErrorType::HostUnreachable,
        _ => ErrorType::ConnectionRefused,
    };
    ConnectFailure::new(et, format!("TCP connection to {host}:{port} failed: {e}"))
}

impl Connector for TcpConnector {
    type Stream = TcpStream;

    async fn connect(
        &mut self,
        to: ConnectRequest<'_>,
    ) -> Result<Connected<TcpStream>, ConnectFailure> {
        let (host, port) = (to.host, to.port);
        let t = Instant::now();
        let addrs: Vec<std::net::SocketAddr> = match tokio::net::lookup_host((host, port)).await {
            Ok(a) => a.collect(),
            Err(e) => {
                return Err(ConnectFailure::new(
                    ErrorType::DnsFailure,
                    format!("{host} did not resolve: {e}"),
                ));
            }
        };
        if addrs.is_empty() {
            return Err(ConnectFailure::new(
                ErrorType::DnsFailure,
                format!("{host} resolved to no address"),
            ));
        }
        let _ = to.progress.send(ConnectStep::Resolved {
            addrs: addrs.iter().map(|a| a.ip().to_string()).collect(),
            ms: ms_since(t),
        });
        let several = addrs.len() > 1;
        let mut failed: Vec<String> = Vec::new();
        let mut last = None;
        for (i, addr) in addrs.iter().enumerate() {
            let t = Instant::now();
            // Each address but the last gets its own time limit, so a silent one does not
            // take the next one's turn; the last is bounded by the probe's own deadline.
            let connect = TcpStream::connect(addr);
            let connected = if i + 1 < addrs.len() {
                let limit = std::time::Duration::from_millis(to.attempt_timeout_ms);
                match tokio::time::timeout(limit, connect).await {
                    Ok(r) => r,
                    Err(_) => Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no answer within {} s", limit.as_secs_f64()),
                    )),
                }
            } else {
                connect.await
            };
            match connected {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    tracing::debug!(connection_id = to.connection_id, peer = %addr, "TCP connected");
                    let _ = to.progress.send(ConnectStep::TcpConnected {
                        peer: addr.to_string(),
                        // Our own end: the source address and port the server logs.
                        local: s.local_addr().ok().map(|a| a.to_string()),
                        ms: ms_since(t),
                    });
                    return Ok(Connected {
                        stream: s,
                        transport: Transport::Tcp,
                        later_steps: None,
                    });
                }
                Err(e) => {
                    // Every address of several is reported as it fails, in the order tried.
                    if several {
                        let _ = to.progress.send(ConnectStep::TcpAttemptFailed {
                            peer: addr.to_string(),
                            reason: e.to_string(),
                            ms: ms_since(t),
                        });
                    }
                    failed.push(format!("{addr}: {e}"));
                    last = Some(classify_io(&e, host, port));
                }
            }
        }
        let mut failure = last.unwrap_or_else(|| {
            ConnectFailure::new(
                ErrorType::ConnectionRefused,
                "no address could be connected",
            )
        });
        if several {
            failure.message = format!(
                "TCP connection to {host}:{port} failed on every address it resolved to, in order: {}",
                failed.join("; ")
            );
        }
        Err(failure)
    }
}

fn ms_since(t: Instant) -> f64 {
    sshdiag_events::round_thousandths(t.elapsed().as_secs_f64() * 1000.0)
}

/// Through an sshdiag relay, natively.
pub struct WsRelayConnector {
    pub url: String,
    pub token: Option<String>,
}

impl Connector for WsRelayConnector {
    type Stream = DuplexStream;

    fn proxy_url(&self) -> Option<String> {
        Some(redact_url_credentials(&self.url))
    }

    async fn connect(
        &mut self,
        to: ConnectRequest<'_>,
    ) -> Result<Connected<DuplexStream>, ConnectFailure> {
        let shown = redact_url_credentials(&self.url);
        let unreachable = |m: String| ConnectFailure::new(ErrorType::ProxyUnreachable, m);
        let mut request = self
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| unreachable(format!("the relay URL {shown} is not usable: {e}")))?;
        let proto = SUBPROTOCOL
            .parse()
            .map_err(|_| unreachable("internal: subprotocol header".into()))?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", proto);
        let t = Instant::now();
        let (mut ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| unreachable(format!("could not open the WebSocket to {shown}: {e}")))?;
        let _ = to.progress.send(ConnectStep::WsOpen { ms: ms_since(t) });
        let text = to.connect_frame(self.token.as_deref());
        ws.send(Message::Text(text.into()))
            .await
            .map_err(|e| unreachable(format!("the relay closed the WebSocket: {e}")))?;
        // Control frames until `connected`.
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    if handshake_frame(&t, &to.progress)? {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | None => {
                    return Err(unreachable(
                        "the relay closed the WebSocket before connecting".into(),
                    ));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(unreachable(format!("WebSocket error: {e}"))),
            }
        }
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let (later_tx, later_rx) = unbounded_channel();
        // The relayed connection's span: every line its pump (or a library under it) logs
        // carries the connection id the relay logs too.
        let connection_id = to.connection_id;
        let span = tracing::debug_span!("connection", connection_id, relay = %shown);
        tracing::debug!(parent: &span, "connected through the relay");
        tokio::spawn(tracing::Instrument::instrument(
            pump(ws, theirs, later_tx),
            span,
        ));
        Ok(Connected {
            stream: ours,
            transport: Transport::Websocket,
            later_steps: Some(later_rx),
        })
    }
}

/// Move bytes between the WebSocket and the duplex pipe the probe reads; control frames that
/// arrive later become steps, and a ping every second measures the round trip to the relay.
/// Backpressure: each side waits for the other to accept.
async fn pump<S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    pipe: DuplexStream,
    later: UnboundedSender<ConnectStep>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut ws_tx, mut ws_rx) = ws.split();
    let (mut pipe_rx, mut pipe_tx) = tokio::io::split(pipe);
    let start = Instant::now();
    let now_ms = move || start.elapsed().as_secs_f64() * 1000.0;
    let pinger = std::sync::Mutex::new(RelayPinger::default());
    let watch = std::sync::Mutex::new(RelayEndWatch::default());
    let up = async {
        let mut buf = vec![0u8; 32 * 1024];
        let mut tick =
            tokio::time::interval(std::time::Duration::from_millis(RELAY_PING_INTERVAL_MS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                r = pipe_rx.read(&mut buf) => match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if ws_tx.send(Message::Binary(buf[..n].to_vec().into())).await.is_err() {
                            break;
                        }
                        if let Ok(mut w) = watch.lock() {
                            w.sent(n);
                        }
                    }
                },
                _ = tick.tick() => {
                    let frame = pinger.lock().map(|mut p| p.ping(now_ms())).unwrap_or_default();
                    if ws_tx.send(Message::Text(frame.into())).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = ws_tx.send(Message::Close(None)).await;
    };
    let down = async {
        let how = loop {
            let msg = match ws_rx.next().await {
                None => break "the stream ended".to_string(),
                Some(Err(e)) => break format!("WebSocket error: {e}"),
                Some(Ok(msg)) => msg,
            };
            match msg {
                Message::Binary(b) => {
                    if let Ok(mut w) = watch.lock() {
                        w.received(b.len());
                    }
                    if pipe_tx.write_all(&b).await.is_err() {
                        return;
                    }
                }
                Message::Text(t) => match interpret_control_frame(&t) {
                    RelayEvent::Step(step) => {
                        if let Ok(mut w) = watch.lock() {
                            w.step(&step);
                        }
                        let _ = later.send(step);
                    }
                    RelayEvent::Pong(id) => {
                        if let Some(step) =
                            pinger.lock().ok().and_then(|mut p| p.pong(id, now_ms()))
                        {
                            let _ = later.send(step);
                        }
                    }
                    _ => {}
                },
                Message::Close(frame) => {
                    break match frame {
                        Some(f) => format!("close code {}", u16::from(f.code)),
                        None => "a close frame without a code".to_string(),
                    };
                }
                _ => {}
            }
        };
        // Reported before the pipe ends, so the probe reads it with the end of the stream.
        if let Some(step) = watch.lock().ok().and_then(|w| w.ended(&how)) {
            tracing::debug!(%how, "the relay vanished");
            let _ = later.send(step);
        }
        let _ = pipe_tx.shutdown().await;
    };
    tokio::select! {
        _ = up => {},
        _ = down => {},
    }
}

/// The SSH agent at `SSH_AUTH_SOCK` as a credential, or why it cannot be used (the probe then
/// reports `AgentError` before connecting).
pub async fn agent_credential() -> sshdiag_core::Credential {
    use sshdiag_core::options::AgentSource;
    let source = match russh::keys::agent::client::AgentClient::connect_env().await {
        Ok(client) => AgentSource::Connected(Arc::new(tokio::sync::Mutex::new(client.dynamic()))),
        Err(e) => {
            AgentSource::Unavailable(format!("cannot reach the SSH agent at $SSH_AUTH_SOCK: {e}"))
        }
    };
    sshdiag_core::Credential::Agent(source)
}
