//! The browser's way to the target: a WebSocket to the relay (`sshdiag.v1`), bridged to the
//! core as a plain byte stream.
//!
//! russh needs a `Send` stream and a browser WebSocket is not one, so the socket stays on this
//! thread's event loop. Incoming binary frames go straight from the socket's `message` handler
//! into an [`Inbox`] that russh reads (one copy into wasm memory, one into russh's buffer: the
//! bulk path); what russh writes goes through a bounded `tokio::io::duplex` pipe to one local
//! task that sends it, and that also handles the relay's text frames and the socket's end. The
//! pump never buffers without bound: it reads from the pipe only while the socket's
//! `bufferedAmount` is below a ceiling, and the pipe itself is bounded. The inbox holds what
//! the server sent and russh has not read yet, which SSH's channel window bounds.

use sshdiag_core::transport::{
    ConnectFailure, ConnectRequest, ConnectStep, Connected, Connector, RELAY_PING_INTERVAL_MS,
    RelayEndWatch, RelayEvent, RelayPinger, handshake_frame, interpret_control_frame,
    redact_url_credentials,
};
use sshdiag_events::relay::SUBPROTOCOL;
use sshdiag_events::{ErrorType, Transport};
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, DuplexStream, ReadBuf};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::env::sleep_ms;

/// Stop reading from the probe while this much is queued in the browser's socket.
const MAX_BUFFERED: u32 = 1 << 20;
/// Size of the pipe between the pump and russh.
const PIPE: usize = 64 * 1024;

enum WsEvent {
    Open,
    Text(String),
    /// A binary frame before the relay said `connected` (the inbox was not open yet).
    Binary(Vec<u8>),
    Error,
    Close {
        code: u16,
        reason: String,
    },
}

/// The relay's bytes on their way to russh, filled by the socket's `message` handler.
#[derive(Default)]
struct Inbox {
    frames: VecDeque<Vec<u8>>,
    /// How much of the front frame russh has already read.
    offset: usize,
    /// Bytes received in all, for the relay's end watch.
    received: usize,
    /// Set once the relay said `connected`: binary frames before that are refused.
    open: bool,
    /// The socket ended: russh reads the end of the stream once the frames are read.
    ended: bool,
    reader: Option<Waker>,
}

type SharedInbox = Arc<Mutex<Inbox>>;

fn lock(inbox: &SharedInbox) -> std::sync::MutexGuard<'_, Inbox> {
    inbox.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inbox {
    /// Queues a frame and wakes russh's read; the waker runs after the lock is released.
    fn push(inbox: &SharedInbox, frame: Vec<u8>) {
        let waker = {
            let mut i = lock(inbox);
            i.received += frame.len();
            i.frames.push_back(frame);
            i.reader.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn end(inbox: &SharedInbox) {
        let waker = {
            let mut i = lock(inbox);
            i.ended = true;
            i.reader.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// What russh gets: reads from the inbox, writes into the pipe the pump sends from.
pub struct RelayStream {
    inbox: SharedInbox,
    out: DuplexStream,
}

impl AsyncRead for RelayStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut i = lock(&self.inbox);
        if i.frames.is_empty() {
            if !i.ended {
                i.reader = Some(cx.waker().clone());
                return Poll::Pending;
            }
            return Poll::Ready(Ok(()));
        }
        // As much as fits, across frames: russh asks for whole packets.
        while buf.remaining() > 0 {
            let offset = i.offset;
            let Some(front) = i.frames.front() else { break };
            let rest = &front[offset..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            if n == rest.len() {
                i.frames.pop_front();
                i.offset = 0;
            } else {
                i.offset += n;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for RelayStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.out).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.out).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.out).poll_shutdown(cx)
    }
}

/// Keeps the socket's callbacks alive as long as the socket is used.
struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut(web_sys::Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onerror(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}

fn open_socket(
    url: &str,
    inbox: SharedInbox,
) -> Result<(Socket, UnboundedReceiver<WsEvent>), String> {
    let protocols = js_sys::Array::of1(&JsValue::from_str(SUBPROTOCOL));
    let ws = WebSocket::new_with_str_sequence(url, &protocols).map_err(|e| {
        e.as_string()
            .or_else(|| {
                js_sys::Reflect::get(&e, &"message".into())
                    .ok()
                    .and_then(|m| m.as_string())
            })
            .unwrap_or_else(|| "the browser refused the URL".into())
    })?;
    ws.set_binary_type(BinaryType::Arraybuffer);
    let (tx, rx) = unbounded_channel();
    let t = tx.clone();
    let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        let _ = t.send(WsEvent::Open);
    });
    let t = tx.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        let data = e.data();
        if let Some(s) = data.as_string() {
            let _ = t.send(WsEvent::Text(s));
        } else {
            // Binary frames are ArrayBuffers (binaryType above), but not always of this
            // module's realm: when `run()` is called from another realm (Firefox's WebDriver
            // scripts, a portal's frame), `instanceof ArrayBuffer` is false and a checked cast
            // would drop every byte. `new Uint8Array(buffer)` accepts any realm's buffer.
            let frame = js_sys::Uint8Array::new(&data).to_vec();
            if lock(&inbox).open {
                Inbox::push(&inbox, frame);
            } else {
                let _ = t.send(WsEvent::Binary(frame));
            }
        }
    });
    let t = tx.clone();
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        let _ = t.send(WsEvent::Error);
    });
    let t = tx;
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
        let _ = t.send(WsEvent::Close {
            code: e.code(),
            reason: e.reason(),
        });
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    Ok((
        Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_error: on_error,
            _on_close: on_close,
        },
        rx,
    ))
}

/// Through an sshdiag relay, from the browser.
pub struct BrowserRelayConnector {
    pub url: String,
    pub token: Option<String>,
}

impl Connector for BrowserRelayConnector {
    type Stream = RelayStream;

    fn proxy_url(&self) -> Option<String> {
        Some(redact_url_credentials(&self.url))
    }

    async fn connect(
        &mut self,
        to: ConnectRequest<'_>,
    ) -> Result<Connected<RelayStream>, ConnectFailure> {
        let shown = redact_url_credentials(&self.url);
        let unreachable = |m: String| ConnectFailure::new(ErrorType::ProxyUnreachable, m);
        let t = js_sys::Date::now();
        let inbox = SharedInbox::default();
        let (socket, mut rx) = open_socket(&self.url, inbox.clone())
            .map_err(|e| unreachable(format!("could not open a WebSocket to {shown}: {e}")))?;
        match rx.recv().await {
            Some(WsEvent::Open) => {}
            Some(WsEvent::Close { code, .. }) => {
                return Err(unreachable(format!(
                    "the relay at {shown} did not accept the WebSocket (close code {code}): wrong URL, relay down, or this page's origin is not allowed"
                )));
            }
            _ => {
                return Err(unreachable(format!(
                    "the relay at {shown} did not accept the WebSocket: wrong URL, relay down, or this page's origin is not allowed"
                )));
            }
        }
        let _ = to.progress.send(ConnectStep::WsOpen {
            ms: sshdiag_events::round_thousandths(js_sys::Date::now() - t),
        });
        let text = to.connect_frame(self.token.as_deref());
        socket
            .ws
            .send_with_str(&text)
            .map_err(|_| unreachable("the relay closed the WebSocket".into()))?;
        loop {
            match rx.recv().await {
                Some(WsEvent::Text(t)) => {
                    if handshake_frame(&t, &to.progress)? {
                        break;
                    }
                }
                Some(WsEvent::Binary(_)) => {
                    return Err(unreachable("the relay sent data before connecting".into()));
                }
                Some(WsEvent::Open) => {}
                Some(WsEvent::Error) | Some(WsEvent::Close { .. }) | None => {
                    return Err(unreachable(
                        "the relay closed the WebSocket before connecting".into(),
                    ));
                }
            }
        }
        // Set in the same turn of the event loop as `connected` was read, so no frame after it
        // can reach the channel.
        lock(&inbox).open = true;
        let (ours, theirs) = tokio::io::duplex(PIPE);
        let (later_tx, later_rx) = unbounded_channel();
        let stream = RelayStream {
            inbox: inbox.clone(),
            out: ours,
        };
        wasm_bindgen_futures::spawn_local(pump(socket, rx, theirs, inbox, later_tx));
        Ok(Connected {
            stream,
            transport: Transport::Websocket,
            later_steps: Some(later_rx),
        })
    }
}

/// Bytes both ways until either side ends; the socket is closed when the pump ends.
async fn pump(
    socket: Socket,
    mut rx: UnboundedReceiver<WsEvent>,
    mut pipe: DuplexStream,
    inbox: SharedInbox,
    later: UnboundedSender<ConnectStep>,
) {
    let ws = socket.ws.clone();
    let pinger = std::cell::RefCell::new(RelayPinger::default());
    let watch = std::cell::RefCell::new(RelayEndWatch::default());
    let now_ms = js_sys::Date::now;
    // A ping to the relay every second: its round trip, told apart from the server's.
    let ping = async {
        loop {
            sleep_ms(RELAY_PING_INTERVAL_MS).await;
            if ws.ready_state() != WebSocket::OPEN {
                break;
            }
            let frame = pinger.borrow_mut().ping(now_ms());
            if ws.send_with_str(&frame).is_err() {
                break;
            }
        }
    };
    let up = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            while ws.buffered_amount() > MAX_BUFFERED {
                sleep_ms(2).await;
            }
            match pipe.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if ws.ready_state() != WebSocket::OPEN
                        || ws.send_with_u8_array(&buf[..n]).is_err()
                    {
                        break;
                    }
                    watch.borrow_mut().sent(n);
                }
            }
        }
    };
    let down = async {
        let how = loop {
            let Some(ev) = rx.recv().await else {
                break "the socket's events ended".to_string();
            };
            match ev {
                WsEvent::Binary(b) => Inbox::push(&inbox, b),
                WsEvent::Text(t) => match interpret_control_frame(&t) {
                    RelayEvent::Step(step) => {
                        watch.borrow_mut().step(&step);
                        let _ = later.send(step);
                    }
                    RelayEvent::Pong(id) => {
                        if let Some(step) = pinger.borrow_mut().pong(id, now_ms()) {
                            let _ = later.send(step);
                        }
                    }
                    _ => {}
                },
                WsEvent::Close { code, reason } => {
                    if code != 1000 && code != 1005 {
                        log_close(code, &reason);
                    }
                    break format!("close code {code}");
                }
                WsEvent::Error => break "a WebSocket error".to_string(),
                WsEvent::Open => {}
            }
        };
        // Reported before the stream ends, so the probe reads it with the end of the stream.
        watch.borrow_mut().received(lock(&inbox).received);
        if let Some(step) = watch.borrow().ended(&how) {
            let _ = later.send(step);
        }
        Inbox::end(&inbox);
    };
    futures::pin_mut!(up, down, ping);
    futures::future::select(futures::future::select(up, down), ping).await;
    Inbox::end(&inbox);
    drop(socket);
}

fn log_close(code: u16, reason: &str) {
    web_sys::console::debug_1(&JsValue::from_str(&format!(
        "sshdiag: relay WebSocket closed ({code}) {reason}"
    )));
}
