//! Shared test fixtures: a real relay on port 0 with its log in memory, a real WebSocket
//! client, real TCP listeners on loopback, and a russh client.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser as _;
use futures::{SinkExt, StreamExt};
use sshdiag_events::relay::{ClientFrame, ControlFrame, RelayErrorCode, SUBPROTOCOL};
use sshdiag_proxy::{Config, LogSink, MemoryLog, RunningRelay};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Generous bound on any single wait, so a broken relay fails a test instead of hanging it.
pub const WAIT: Duration = Duration::from_secs(20);

pub struct TestRelay {
    pub relay: RunningRelay,
    pub log: MemoryLog,
}

impl TestRelay {
    /// A relay on 127.0.0.1:0 with these extra flags.
    pub async fn start(args: &[&str]) -> TestRelay {
        let mut argv = vec!["sshdiag-proxy", "--listen", "127.0.0.1:0"];
        if !args.contains(&"--drain-timeout") {
            argv.extend_from_slice(&["--drain-timeout", "500ms"]);
        }
        argv.extend_from_slice(args);
        let config = Config::try_parse_from(argv).expect("valid test flags");
        let log = MemoryLog::new();
        let relay = sshdiag_proxy::start_with_log_sink(config, LogSink::Memory(log.clone()))
            .await
            .expect("relay starts");
        TestRelay { relay, log }
    }

    pub fn addr(&self) -> SocketAddr {
        self.relay.local_addr()
    }

    pub async fn ws(&self) -> Ws {
        ws_connect(self.addr(), None)
            .await
            .expect("WebSocket opens")
    }

    /// Opens a WebSocket and sends a connect frame.
    pub async fn open(&self, host: &str, port: u16, id: &str, token: Option<String>) -> Ws {
        let mut ws = self.ws().await;
        send_connect(&mut ws, host, port, id, token).await;
        ws
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr(), path, &[]).await
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.1
    }

    /// How many times the relay applied the limit `name` (its `sshdiag_proxy_limit_total`).
    pub async fn limit_count(&self, name: &str) -> f64 {
        let series = format!("sshdiag_proxy_limit_total{{limit=\"{name}\"}}");
        metric(&self.metrics().await, &series)
    }

    /// How many connections the relay refused for `reason` (its `sshdiag_proxy_denied_total`).
    pub async fn denied_count(&self, reason: &str) -> f64 {
        let series = format!("sshdiag_proxy_denied_total{{reason=\"{reason}\"}}");
        metric(&self.metrics().await, &series)
    }

    /// Opens a WebSocket to `127.0.0.1:port` as `id` and reads `resolved` then `connected`.
    pub async fn connected(&self, port: u16, id: &str) -> Ws {
        let mut ws = self.open("127.0.0.1", port, id, None).await;
        expect_connected(&mut ws).await;
        ws
    }

    /// Log lines (JSON) for one connection id.
    pub fn lines_for(&self, id: &str) -> Vec<serde_json::Value> {
        self.log
            .json()
            .into_iter()
            .filter(|l| l["connection_id"] == id)
            .collect()
    }

    /// Waits until a log line with `code` exists for `id` (the relay logs after it sends).
    pub async fn wait_line(&self, id: &str, code: &str) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(line) = self.lines_for(id).into_iter().find(|l| l["code"] == code) {
                return line;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {code} line for {id}; log: {:#?}",
                self.log.lines()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

pub async fn ws_connect(
    addr: SocketAddr,
    origin: Option<&str>,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut request = format!("ws://{addr}/ws").into_client_request()?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        SUBPROTOCOL.parse().expect("header"),
    );
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", origin.parse().expect("header"));
    }
    let (ws, response) = tokio_tungstenite::connect_async(request).await?;
    assert_eq!(
        response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok()),
        Some(SUBPROTOCOL),
        "the relay echoes the subprotocol"
    );
    Ok(ws)
}

pub async fn send_connect(ws: &mut Ws, host: &str, port: u16, id: &str, token: Option<String>) {
    let frame = ClientFrame::Connect {
        host: host.into(),
        port,
        connection_id: id.into(),
        token,
    };
    ws.send(Message::text(serde_json::to_string(&frame).expect("json")))
        .await
        .expect("send connect");
}

/// What the relay sent, in order, up to a close: control frames and binary payloads.
#[derive(Debug)]
pub enum Got {
    Control(ControlFrame),
    Data(Vec<u8>),
    Close(Option<u16>),
}

/// The next frame from the relay (ping/pong skipped); `Close(None)` when the stream ended.
pub async fn next(ws: &mut Ws) -> Got {
    loop {
        let message = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("the relay answers in time");
        match message {
            None | Some(Err(_)) => return Got::Close(None),
            Some(Ok(Message::Text(text))) => {
                let frame: ControlFrame =
                    serde_json::from_str(text.as_str()).expect("control frames are valid JSON");
                return Got::Control(frame);
            }
            Some(Ok(Message::Binary(data))) => return Got::Data(data.to_vec()),
            Some(Ok(Message::Close(frame))) => return Got::Close(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => continue,
        }
    }
}

/// The next control frame, failing on anything else.
pub async fn control(ws: &mut Ws) -> ControlFrame {
    match next(ws).await {
        Got::Control(frame) => frame,
        other => panic!("expected a control frame, got {other:?}"),
    }
}

/// Reads until an `error` frame and returns its code (skipping `resolved`).
pub async fn expect_error(ws: &mut Ws) -> (RelayErrorCode, String) {
    loop {
        match next(ws).await {
            Got::Control(ControlFrame::Error { code, message, .. }) => return (code, message),
            Got::Control(ControlFrame::Resolved { .. }) => continue,
            other => panic!("expected an error frame, got {other:?}"),
        }
    }
}

/// Reads `resolved` then `connected`; returns the peer.
pub async fn expect_connected(ws: &mut Ws) -> String {
    match control(ws).await {
        ControlFrame::Resolved { addrs, .. } => assert!(!addrs.is_empty()),
        other => panic!("expected resolved, got {other:?}"),
    }
    match control(ws).await {
        ControlFrame::Connected { peer, .. } => peer,
        other => panic!("expected connected, got {other:?}"),
    }
}

/// A TCP echo server on IPv4 loopback; returns its address.
pub async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    echo_on(listener)
}

/// An echo server on IPv4 loopback and a relay that allows exactly it, with `extra` flags;
/// returns the echo's port and the relay.
pub async fn echo_relay(extra: &[&str]) -> (u16, TestRelay) {
    let port = echo_server().await.port();
    let allow = format!("127.0.0.1:{port}");
    let mut args = vec!["--allow", allow.as_str()];
    args.extend_from_slice(extra);
    (port, TestRelay::start(&args).await)
}

/// Echoes every connection `listener` accepts; returns its address.
pub fn echo_on(listener: TcpListener) -> SocketAddr {
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = stream.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// A TCP server that writes `payload` and closes at once.
pub async fn send_and_close_server(payload: Arc<Vec<u8>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let payload = Arc::clone(&payload);
            tokio::spawn(async move {
                let _ = stream.write_all(&payload).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

/// A bare HTTP/1.1 GET; returns status and body.
pub async fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n");
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("connection"))
    {
        request.push_str("Connection: close\r\n");
    }
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    parse_response(&http_exchange(addr, &request).await)
}

/// An HTTP response's status (0 when unreadable) and body.
pub fn parse_response(text: &str) -> (u16, String) {
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Sends one raw HTTP request (the server closes after answering) and returns the whole
/// response as text, within [`WAIT`].
pub async fn http_exchange(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .expect("read");
    String::from_utf8_lossy(&response).into_owned()
}

/// The value of one metric line (`name{labels}`), 0 when absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0.0)
}
