//! The relay's HTTP server: its own accept loop on hyper (HTTP/1.1), so that every socket has
//! a deadline and a place in a count.
//!
//! - Every socket is *pending* from accept until it has completed the WebSocket upgrade and
//!   the connect frame (or, for plain HTTP, until it closes). Pending sockets are capped per
//!   client IP (`--max-pending-per-ip`, IPv6 by /64) and in total (`--max-pending`); a socket
//!   over a cap is answered `503` without waiting and closed, counted in
//!   `sshdiag_proxy_limit_total{limit}` and shown in `sshdiag_proxy_pending_connections`.
//! - Request headers must be complete within `--header-timeout`, idle keep-alive included
//!   (hyper's header-read timer), so a silent or one-byte-a-second socket is closed then.
//! - Accept errors (out of file descriptors, most often) back off, 5 ms doubling to 1 s,
//!   instead of spinning; the listener keeps going, and `/healthz` answers again as soon as
//!   descriptors are free.
//!
//! What this module must never do: hold a socket without a deadline, or log a line per
//! refused socket during a flood (refusals are logged at most once a second per limit).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use sshdiag_events::Code;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt as _;

use crate::Shared;
use crate::limit::Limit;
use crate::log::{Level, LogLine};

/// The shortest and the longest pause after a failed accept.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(5), Duration::from_secs(1));

/// What a socket over a pending cap reads before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 39\r\nConnection: close\r\n\r\nsshdiag-proxy: too many pending sockets\n";

/// Counts of sockets that have not completed the upgrade and the connect frame.
pub(crate) struct Pending {
    counts: crate::counts::Counts,
    /// When a refusal of each kind (`None`: a failed accept) was last logged.
    last_logged: Mutex<HashMap<Option<Limit>, Instant>>,
}

impl Pending {
    /// No pending sockets yet, with `config`'s limits.
    pub(crate) fn new(config: &crate::Config) -> Pending {
        Pending {
            counts: crate::counts::Counts::pending(config),
            last_logged: Mutex::default(),
        }
    }

    /// Pending sockets right now.
    pub(crate) fn count(&self) -> usize {
        self.counts.total()
    }
}

/// One pending socket's place; given back by [`Ticket::release`] or when the last holder
/// drops it (the connection task, and the WebSocket session once upgraded).
pub(crate) struct Ticket {
    shared: Arc<Shared>,
    key: IpAddr,
    released: AtomicBool,
}

impl Ticket {
    fn take(shared: &Arc<Shared>, ip: IpAddr) -> Result<Ticket, Limit> {
        let key = shared.pending.counts.take(ip, &shared.metrics)?;
        Ok(Ticket {
            shared: Arc::clone(shared),
            key,
            released: AtomicBool::new(false),
        })
    }

    /// Gives the place back (once; later calls do nothing).
    pub(crate) fn release(&self) {
        if self.released.swap(true, Ordering::SeqCst) {
            return;
        }
        self.shared
            .pending
            .counts
            .give_back(self.key, &self.shared.metrics);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.release();
    }
}

/// Accepts until `stop` resolves; each socket is served on its own task.
pub(crate) async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    app: Router,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    tokio::pin!(stop);
    let mut backoff = ACCEPT_BACKOFF.0;
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, client)) => {
                backoff = ACCEPT_BACKOFF.0;
                admit(&shared, tcp, client, &app);
            }
            Err(error) if is_per_connection(&error) => {}
            Err(error) => {
                let mut line = LogLine::new(
                    Level::Error,
                    Code::RelayLimit,
                    format!("accepting a connection failed: {error}; retrying in {backoff:?}"),
                );
                line.peer = Some(shared.config.listen.to_string());
                log_throttled(&shared, None, line);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
            }
        }
    }
}

/// Errors that concern one connection only (it went away while queued); the next accept
/// works at once.
fn is_per_connection(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

/// Takes a pending place for the socket, or answers 503 and closes it; then serves it.
fn admit(shared: &Arc<Shared>, tcp: TcpStream, client: SocketAddr, app: &Router) {
    let client = SocketAddr::new(crate::policy::canonical(client.ip()), client.port());
    let ticket = match Ticket::take(shared, client.ip()) {
        Ok(ticket) => Arc::new(ticket),
        Err(limit) => {
            shared.metrics.limit(limit);
            // Never wait on a socket we refuse: what fits in the send buffer now is all.
            let _ = tcp.try_write(BUSY);
            let line = LogLine::client_warning(
                client.ip(),
                Code::RelayLimit,
                format!(
                    "{limit}: refusing sockets from {} before their request ({} pending; limits {} per IP, {} in total)",
                    client.ip(),
                    shared.pending.count(),
                    shared.config.max_pending_per_ip,
                    shared.config.max_pending
                ),
            );
            log_throttled(shared, Some(limit), line);
            return;
        }
    };
    // No Nagle on the client side either: SSH answers an exec with several small packets,
    // and Nagle meeting the peer's delayed ACK stalled each exchange ~40 ms (BENCHMARKS.md).
    let _ = tcp.set_nodelay(true);
    // Whether a request ever arrived: a header timeout after one is an idle keep-alive
    // connection closing, which is normal; before any, it is a silent or trickling socket.
    let served = Arc::new(AtomicBool::new(false));
    let service = app.clone().map_request({
        let ticket = Arc::clone(&ticket);
        let served = Arc::clone(&served);
        move |mut request: axum::http::Request<hyper::body::Incoming>| {
            served.store(true, Ordering::Relaxed);
            request.extensions_mut().insert(ConnectInfo(client));
            request.extensions_mut().insert(Arc::clone(&ticket));
            request
        }
    });
    let header_timeout = shared.config.header_timeout;
    let mut force_close = shared.force_close.clone();
    let counted = Arc::clone(shared);
    tokio::spawn(async move {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout);
        let connection = builder
            .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service))
            .with_upgrades();
        tokio::pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = async { let _ = force_close.wait_for(|forced| *forced).await; } => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(error) = result
            && error.is_timeout()
            && !served.load(Ordering::Relaxed)
        {
            counted.metrics.limit(Limit::HeaderTimeout);
            let line = LogLine::client_warning(
                client.ip(),
                Code::RelayLimit,
                format!("header-timeout: no complete request within {header_timeout:?}; closed"),
            );
            log_throttled(&counted, Some(Limit::HeaderTimeout), line);
        }
        drop(ticket);
    });
}

/// Logs `line` unless a line of its kind (`key`: a limit, or `None` for a failed accept) was
/// logged less than a second ago: a flood must not become a flood of log lines.
fn log_throttled(shared: &Shared, key: Option<Limit>, line: LogLine) {
    let now = Instant::now();
    {
        let mut last = match shared.pending.last_logged.lock() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(at) = last.get(&key)
            && now.duration_since(*at) < Duration::from_secs(1)
        {
            return;
        }
        last.insert(key, now);
    }
    shared.log(line);
}

/// The soft `nofile` limit raised to the hard one; returns the limit now in force (`None`
/// where the platform has none to read).
pub fn raise_nofile_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit only read and write the local struct.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return None;
            }
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit = raised;
                }
            }
        }
        Some(limit.rlim_cur)
    }
    #[cfg(not(unix))]
    {
        None
    }
}
