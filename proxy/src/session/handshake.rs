//! The connect handshake: the first frame, token (`--token-secret-file` or `--token-public-key`) and policy checks, resolution, the address
//! check and the TCP connect. It ends with a TCP connection to a checked address, or with
//! the [`Refusal`] that explains why not.
//!
//! Architecture invariant: the relay connects only to an address that passed the policy,
//! without a second lookup; the token is dropped right after it is checked.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{Message, WebSocket};
use sshdiag_events::Code;
use sshdiag_events::relay::{ClientFrame, ControlFrame, RelayErrorCode, TcpAttempt};
use tokio::net::TcpStream;

use super::{Ctx, Refusal, ms, read_error, send_control};
use crate::limit::Limit;
use crate::log::Level;
use crate::policy::{Denial, TargetHost, canonical};

/// The largest connect frame accepted.
const MAX_CONNECT_FRAME: usize = 8 * 1024;

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

fn denied(message: impl Into<String>) -> Refusal {
    Refusal::Error(
        Denial {
            code: RelayErrorCode::Denied,
            message: message.into(),
        },
        Code::RelayDenied,
    )
}

fn dns_failed(message: String) -> Refusal {
    Refusal::Error(
        Denial {
            code: RelayErrorCode::DnsFailed,
            message,
        },
        Code::RelayDnsFailed,
    )
}

/// Reads the connect frame and checks it; resolves; connects.
pub(super) async fn handshake(ctx: &Ctx, socket: &mut WebSocket) -> Result<TcpStream, Refusal> {
    let (target, port) = read_connect(ctx, socket).await?;
    let addrs = resolve(ctx, &target, port).await?;
    let addr_texts: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    send_control(
        socket,
        &ControlFrame::Resolved {
            addrs: addr_texts,
            ms: addrs.ms,
        },
    )
    .await;
    let allowed = allowed_addresses(ctx, &target, port, &addrs)?;
    let (stream, peer, elapsed, attempts) = connect(ctx, allowed, port).await?;
    send_control(
        socket,
        &ControlFrame::Connected {
            peer: peer.to_string(),
            // The relay's own end: the source the target sees and logs, so the client can
            // tell the target's admin what to look for.
            local: stream.local_addr().ok().map(|a| a.to_string()),
            ms: ms(elapsed),
            attempts,
        },
    )
    .await;
    Ok(stream)
}

/// The first frame, within the handshake deadline: a connect frame whose token (when the
/// relay requires one) and target pass. Records the connection id and target on the span.
async fn read_connect(ctx: &Ctx, socket: &mut WebSocket) -> Result<(TargetHost, u16), Refusal> {
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
    ctx.set_connection_id(if id.is_empty() { "-" } else { &id });
    let parsed = TargetHost::parse(&host);
    ctx.set_target(&match &parsed {
        Ok(target) => format!("{}:{port}", target.display()),
        Err(_) => format!("{}:{port}", loggable_host(&host)),
    });
    let with_token = if token.is_some() {
        " (with a token)"
    } else {
        ""
    };
    ctx.log(
        Level::Info,
        Code::RelayConnectRequest,
        format!("connect requested{with_token}"),
    );
    let target = parsed.map_err(denied)?;
    if port == 0 {
        return Err(denied("port 0 is not a valid target port"));
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
    Ok((target, port))
}

/// Resolved addresses, deduplicated in resolver order, and how long resolution took.
struct Resolved {
    addrs: Vec<IpAddr>,
    ms: f64,
}

impl std::ops::Deref for Resolved {
    type Target = [IpAddr];
    fn deref(&self) -> &[IpAddr] {
        &self.addrs
    }
}

/// Resolves a name (a literal address is not looked up) within the connect timeout.
async fn resolve(ctx: &Ctx, target: &TargetHost, port: u16) -> Result<Resolved, Refusal> {
    let timeout = ctx.shared.config.connect_timeout;
    let started = Instant::now();
    let mut addrs: Vec<IpAddr> = match target {
        TargetHost::Ip(ip) => vec![*ip],
        TargetHost::Name(name) => {
            let lookup = tokio::net::lookup_host((name.as_str(), port));
            match tokio::time::timeout(timeout, lookup).await {
                Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
                Ok(Err(error)) => {
                    return Err(dns_failed(format!("{name} did not resolve: {error}")));
                }
                Err(_) => {
                    return Err(dns_failed(format!(
                        "{name} did not resolve within {timeout:?}"
                    )));
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
        return Err(dns_failed(format!("{} has no addresses", target.display())));
    }
    let resolved = Resolved {
        addrs,
        ms: ms(started.elapsed()),
    };
    let texts: Vec<String> = resolved.iter().map(|a| a.to_string()).collect();
    let mut line = ctx.line(
        Level::Info,
        Code::RelayResolved,
        format!("resolved to {}", texts.join(" ")),
    );
    line.ms = Some(resolved.ms);
    ctx.shared.log(line);
    Ok(resolved)
}

/// Every address that passed the policy, in resolver order; or the most telling denial.
fn allowed_addresses(
    ctx: &Ctx,
    target: &TargetHost,
    port: u16,
    addrs: &[IpAddr],
) -> Result<Vec<IpAddr>, Refusal> {
    let mut allowed = Vec::new();
    let mut first_denial: Option<Denial> = None;
    for addr in addrs {
        match ctx.shared.policy.check_address(target, port, *addr) {
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
    Ok(allowed)
}

/// What [`connect`] hands back: the stream, its peer, how long the connect took, and the
/// addresses that failed before it.
type Connection = (TcpStream, SocketAddr, std::time::Duration, Vec<TcpAttempt>);

/// Connects to the first checked address that answers, trying each in the resolver's order;
/// no second lookup. Every address that failed is kept, in order, for the client.
async fn connect(ctx: &Ctx, allowed: Vec<IpAddr>, port: u16) -> Result<Connection, Refusal> {
    let shared = &ctx.shared;
    let timeout = shared.config.connect_timeout;
    let several = allowed.len() > 1;
    let mut attempts: Vec<TcpAttempt> = Vec::new();
    for addr in allowed {
        let peer = SocketAddr::new(addr, port);
        let started = Instant::now();
        let denial = match tokio::time::timeout(timeout, TcpStream::connect(peer)).await {
            Ok(Ok(stream)) => {
                let elapsed = started.elapsed();
                let _ = stream.set_nodelay(true);
                shared.metrics.connect_time(elapsed);
                shared.metrics.connection("connected");
                ctx.set_peer(&peer.to_string());
                // The relay's own end is what the target logs as the source: with it in this
                // line, the target's log and this one meet on one address and port.
                let mut message = match stream.local_addr() {
                    Ok(local) => format!("connected to the target from {local}"),
                    Err(_) => "connected to the target".to_string(),
                };
                if !attempts.is_empty() {
                    let tried: Vec<&str> = attempts.iter().map(|a| a.peer.as_str()).collect();
                    message.push_str(&format!(" after {} failed", tried.join(", ")));
                }
                let mut line = ctx.line(Level::Info, Code::RelayTcpConnected, message);
                line.ms = Some(ms(elapsed));
                shared.log(line);
                return Ok((stream, peer, elapsed, attempts));
            }
            Ok(Err(error)) => {
                let code = match error.kind() {
                    std::io::ErrorKind::ConnectionRefused => RelayErrorCode::TcpRefused,
                    std::io::ErrorKind::TimedOut => RelayErrorCode::TcpTimeout,
                    _ => RelayErrorCode::HostUnreachable,
                };
                Denial {
                    code,
                    message: format!("TCP connect to {peer} failed: {error}"),
                }
            }
            Err(_) => Denial {
                code: RelayErrorCode::TcpTimeout,
                message: format!("TCP connect to {peer} got no answer within {timeout:?}"),
            },
        };
        attempts.push(TcpAttempt {
            peer: peer.to_string(),
            code: denial.code,
            message: denial.message,
            ms: ms(started.elapsed()),
        });
    }
    let Some(last) = attempts.last() else {
        let denial = Denial {
            code: RelayErrorCode::HostUnreachable,
            message: "no address to connect to".into(),
        };
        return Err(Refusal::TcpFailed(denial, attempts));
    };
    let mut denial = Denial {
        code: last.code,
        message: last.message.clone(),
    };
    if several {
        let each: Vec<&str> = attempts.iter().map(|a| a.message.as_str()).collect();
        denial.message = format!("every address failed, in order: {}", each.join("; "));
    } else {
        // One address: the frame's own code and message say it all.
        attempts.clear();
    }
    Err(Refusal::TcpFailed(denial, attempts))
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
                        Limit::FrameSize,
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

fn parse_connect(text: &str) -> Result<ClientFrame, Refusal> {
    match serde_json::from_str::<ClientFrame>(text) {
        Ok(frame) => Ok(frame),
        // Tell "valid JSON of another type" from "not a connect frame at all" by the value,
        // not by the wording of serde's error.
        Err(error) => {
            let kind = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string));
            Err(Refusal::BadFrame(match kind {
                Some(kind) if kind != "connect" => {
                    "the first frame's `type` is not `connect`".to_string()
                }
                _ => format!("the first frame is not a valid connect frame: {error}"),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(text: &str) -> String {
        match parse_connect(text) {
            Err(Refusal::BadFrame(why)) => why,
            Ok(_) => "accepted".into(),
            Err(_) => "another refusal".into(),
        }
    }

    #[test]
    fn first_frames_are_refused_with_a_reason_that_fits() {
        // A ping parses (it is a client frame); `read_connect` refuses it as not `connect`.
        assert_eq!(why(r#"{"type":"ping","id":1}"#), "accepted");
        assert_eq!(
            why(r#"{"type":"teleport"}"#),
            "the first frame's `type` is not `connect`"
        );
        assert!(
            why(r#"{"type":"connect","host":"x"}"#)
                .starts_with("the first frame is not a valid connect frame")
        );
        assert!(why("{").starts_with("the first frame is not a valid connect frame"));
        assert_eq!(
            why(r#"{"type":"connect","host":"x","port":22,"connection_id":"c"}"#),
            "accepted"
        );
        assert_eq!(sanitise_id("c7\n f3:a.b_-"), "c7f3:a.b_-");
    }
}
