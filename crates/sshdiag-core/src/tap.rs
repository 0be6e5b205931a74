//! A transparent wrapper around the transport that watches the unencrypted start of the
//! conversation: the identification lines (and anything the server printed before its banner),
//! and both KEXINIT packets, which russh does not expose. It stops looking at each direction
//! once that side's NEWKEYS has passed, so it never sees encrypted data it could misread.
//!
//! It also counts bytes both ways and can be aborted, which tears the connection down from
//! underneath russh when the probe gives up (timeouts).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use sshdiag_events::Proposal;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc::UnboundedSender;

const MAX_LINE: usize = 1024;
const MAX_PRE_BANNER_LINES: usize = 32;
const MAX_PACKET: usize = 256 * 1024;

/// What the tap noticed, sent as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum TapNote {
    /// The server's identification line arrived.
    ServerBanner {
        line: String,
        pre_banner_lines: Vec<String>,
    },
    /// The first line from the server was not an SSH banner.
    NotSsh {
        first_line: String,
    },
    ClientKexinit(Proposal),
    ServerKexinit(Proposal),
}

#[derive(Default)]
struct Direction {
    buf: Vec<u8>,
    banner_done: bool,
    done: bool,
}

#[derive(Default)]
struct Shared {
    inbound: Direction,
    outbound: Direction,
    pre_banner: Vec<String>,
    bytes_in: u64,
    bytes_out: u64,
    /// The type of the last clear (pre-NEWKEYS) SSH message each way: sent, received.
    last_sent: Option<u8>,
    last_received: Option<u8>,
    aborted: bool,
    read_waker: Option<Waker>,
}

/// A handle to the tap's counters and its abort switch.
#[derive(Clone)]
pub struct TapHandle(Arc<Mutex<Shared>>);

impl TapHandle {
    pub fn bytes(&self) -> (u64, u64) {
        match self.0.lock() {
            Ok(s) => (s.bytes_out, s.bytes_in),
            Err(_) => (0, 0),
        }
    }

    /// The lines the server sent before its banner (or instead of one), in order, verbatim.
    pub fn pre_banner_lines(&self) -> Vec<String> {
        match self.0.lock() {
            Ok(s) => s.pre_banner.clone(),
            Err(_) => Vec::new(),
        }
    }

    /// The types of the last clear SSH messages sent and received (before NEWKEYS), and
    /// whether each direction has gone encrypted.
    pub fn last_messages(&self) -> (Option<u8>, Option<u8>, bool, bool) {
        match self.0.lock() {
            Ok(s) => (
                s.last_sent,
                s.last_received,
                s.outbound.done,
                s.inbound.done,
            ),
            Err(_) => (None, None, false, false),
        }
    }

    /// Make every further read and write fail, so whatever holds the stream lets go.
    pub fn abort(&self) {
        if let Ok(mut s) = self.0.lock() {
            s.aborted = true;
            if let Some(w) = s.read_waker.take() {
                w.wake();
            }
        }
    }
}

pub struct Tap<S> {
    inner: S,
    shared: Arc<Mutex<Shared>>,
    notes: UnboundedSender<TapNote>,
}

impl<S> Tap<S> {
    pub fn new(inner: S, notes: UnboundedSender<TapNote>) -> (Self, TapHandle) {
        let shared = Arc::new(Mutex::new(Shared::default()));
        (
            Tap {
                inner,
                shared: shared.clone(),
                notes,
            },
            TapHandle(shared),
        )
    }
}

fn aborted_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the diagnosis gave up on this connection",
    )
}

impl Shared {
    fn feed(&mut self, inbound: bool, data: &[u8], notes: &UnboundedSender<TapNote>) {
        let (dir, pre, last) = if inbound {
            (
                &mut self.inbound,
                &mut self.pre_banner,
                &mut self.last_received,
            )
        } else {
            (
                &mut self.outbound,
                &mut self.pre_banner,
                &mut self.last_sent,
            )
        };
        if dir.done {
            return;
        }
        dir.buf.extend_from_slice(data);
        // Identification lines first.
        while !dir.banner_done {
            let Some(nl) = dir.buf.iter().position(|b| *b == b'\n') else {
                if dir.buf.len() > MAX_LINE {
                    if inbound {
                        let first =
                            String::from_utf8_lossy(&dir.buf[..MAX_LINE.min(dir.buf.len())]);
                        let _ = notes.send(TapNote::NotSsh {
                            first_line: first.trim_end().to_string(),
                        });
                    }
                    dir.done = true;
                    dir.buf = Vec::new();
                }
                return;
            };
            let line: Vec<u8> = dir.buf.drain(..=nl).collect();
            let text = String::from_utf8_lossy(&line)
                .trim_end_matches(['\r', '\n'])
                .to_string();
            if text.starts_with("SSH-") {
                dir.banner_done = true;
                if inbound {
                    let _ = notes.send(TapNote::ServerBanner {
                        line: text,
                        pre_banner_lines: pre.clone(),
                    });
                }
            } else if inbound {
                if pre.is_empty() && looks_like_other_protocol(&text) {
                    let _ = notes.send(TapNote::NotSsh {
                        first_line: text.clone(),
                    });
                }
                if pre.len() < MAX_PRE_BANNER_LINES {
                    pre.push(text.chars().take(MAX_LINE).collect());
                }
            }
        }
        // Then binary packets, until NEWKEYS.
        loop {
            if dir.buf.len() < 5 {
                return;
            }
            let len = u32::from_be_bytes([dir.buf[0], dir.buf[1], dir.buf[2], dir.buf[3]]) as usize;
            if !(5..=MAX_PACKET).contains(&len) {
                dir.done = true;
                dir.buf = Vec::new();
                return;
            }
            if dir.buf.len() < 4 + len {
                return;
            }
            let packet: Vec<u8> = dir.buf.drain(..4 + len).collect();
            let padding = packet[4] as usize;
            let payload_end = (4 + len).saturating_sub(padding);
            let payload = packet.get(5..payload_end).unwrap_or(&[]);
            if let Some(t) = payload.first() {
                *last = Some(*t);
            }
            match payload.first() {
                Some(20) => {
                    if let Some(p) = parse_kexinit(payload) {
                        let note = if inbound {
                            TapNote::ServerKexinit(p)
                        } else {
                            TapNote::ClientKexinit(p)
                        };
                        let _ = notes.send(note);
                    }
                }
                Some(21) => {
                    dir.done = true;
                    dir.buf = Vec::new();
                    return;
                }
                _ => {}
            }
        }
    }
}

/// Whether a first line is clearly another protocol (HTTP, SMTP, …) rather than a harmless
/// pre-banner greeting that SSH allows.
fn looks_like_other_protocol(line: &str) -> bool {
    let l = line.trim_start();
    [
        "HTTP/",
        "<",
        "220 ",
        "220-",
        "+OK",
        "* OK",
        "RFB ",
        "-ERR",
        "{",
        "\u{15}\u{3}",
    ]
    .iter()
    .any(|p| l.starts_with(p))
        || line.chars().any(|c| c.is_control() && c != '\t')
}

/// Parse an SSH_MSG_KEXINIT payload into its name-lists.
pub fn parse_kexinit(payload: &[u8]) -> Option<Proposal> {
    let mut r = payload.get(17..)?;
    let mut lists: Vec<Vec<String>> = Vec::with_capacity(10);
    for _ in 0..10 {
        if r.len() < 4 {
            return None;
        }
        let n = u32::from_be_bytes([r[0], r[1], r[2], r[3]]) as usize;
        let s = r.get(4..4 + n)?;
        let text = std::str::from_utf8(s).ok()?;
        lists.push(if text.is_empty() {
            Vec::new()
        } else {
            text.split(',').map(String::from).collect()
        });
        r = &r[4 + n..];
    }
    let mut it = lists.into_iter();
    Some(Proposal {
        kex: it.next()?,
        host_key: it.next()?,
        cipher_cs: it.next()?,
        cipher_sc: it.next()?,
        mac_cs: it.next()?,
        mac_sc: it.next()?,
        compression_cs: it.next()?,
        compression_sc: it.next()?,
    })
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        {
            let Ok(mut s) = this.shared.lock() else {
                return Poll::Ready(Err(aborted_error()));
            };
            if s.aborted {
                return Poll::Ready(Err(aborted_error()));
            }
            s.read_waker = Some(cx.waker().clone());
        }
        let before = buf.filled().len();
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res {
            let new = &buf.filled()[before..];
            if let Ok(mut s) = this.shared.lock() {
                s.bytes_in += new.len() as u64;
                s.feed(true, new, &this.notes);
            }
        }
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.shared.lock().map(|s| s.aborted).unwrap_or(true) {
            return Poll::Ready(Err(aborted_error()));
        }
        let res = Pin::new(&mut this.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = res
            && let Ok(mut s) = this.shared.lock()
        {
            s.bytes_out += n as u64;
            s.feed(false, &data[..n], &this.notes);
        }
        res
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kexinit_packet(kex: &str) -> Vec<u8> {
        crate::wire::binary_packet(&crate::wire::minimal_kexinit(kex, "hmac-sha2-256"))
    }

    #[test]
    fn banner_pre_lines_and_kexinit_are_read_across_split_reads() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut s = Shared::default();
        let mut bytes = b"hello there\r\nSSH-2.0-OpenSSH_9.2p1 Debian\r\n".to_vec();
        bytes.extend(kexinit_packet(
            "curve25519-sha256,diffie-hellman-group14-sha256",
        ));
        bytes.extend([0, 0, 0, 12, 10, 21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        bytes.extend(b"encrypted garbage that must be ignored");
        for chunk in bytes.chunks(3) {
            s.feed(true, chunk, &tx);
        }
        let banner = rx.try_recv().unwrap();
        assert_eq!(
            banner,
            TapNote::ServerBanner {
                line: "SSH-2.0-OpenSSH_9.2p1 Debian".into(),
                pre_banner_lines: vec!["hello there".into()]
            }
        );
        match rx.try_recv().unwrap() {
            TapNote::ServerKexinit(p) => {
                assert_eq!(
                    p.kex,
                    vec!["curve25519-sha256", "diffie-hellman-group14-sha256"]
                );
                assert_eq!(p.host_key, vec!["ssh-ed25519"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(rx.try_recv().is_err());
        assert!(s.inbound.done);
    }

    #[test]
    fn http_answer_is_not_ssh() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut s = Shared::default();
        s.feed(true, b"HTTP/1.1 400 Bad Request\r\n", &tx);
        assert_eq!(
            rx.try_recv().unwrap(),
            TapNote::NotSsh {
                first_line: "HTTP/1.1 400 Bad Request".into()
            }
        );
    }
}
