//! `sshdiag-proxy`: the relay between the browser's SSH client and SSH targets. One WebSocket
//! in (`GET /ws`, subprotocol `sshdiag.v1`), one TCP connection out; deny by default. It also
//! serves the page (`GET /`), `GET /healthz`, `GET /metrics` and, with `--demo`, a built-in SSH
//! server so the product works on a fresh machine. The contract is `shared/spec/proxy.md`.
//!
//! Entry points: [`start`] binds, spawns and returns a [`RunningRelay`]; the binary
//! (`src/main.rs`) only parses the command line, calls it and waits for a signal.
//!
//! Code map: [`config`] (the command line), [`policy`] (which targets, checked after
//! resolution), [`token`] (HMAC connect tokens), `session` (one WebSocket: handshake, resolve,
//! connect, pump), [`log`] (JSON Lines on stdout), [`metrics`] (Prometheus text), [`demo`] (the
//! demo SSH server).
//!
//! Architecture invariants: the relay never parses SSH; it connects only to an address that
//! passed the policy, without a second lookup; nothing from a client is buffered without bound;
//! a token never reaches a log line, a metric label or a control frame.

pub mod config;
pub mod demo;
pub mod log;
pub mod metrics;
pub mod policy;
mod session;
mod static_files;
pub mod token;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Router;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sshdiag_events::Code;
use sshdiag_events::relay::SUBPROTOCOL;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{Config, LogFormat};
pub use demo::DemoServer;
pub use log::{LogSink, MemoryLog};
pub use token::mint_token;

use crate::log::{Level, LogLine, Logger};
use crate::metrics::Metrics;
use crate::policy::{AllowRule, Policy};

/// The WebSocket read buffer each connection allocates up front.
const WS_READ_BUFFER: usize = 16 * 1024;

/// State every request and session shares.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) policy: Policy,
    pub(crate) secret: Option<Vec<u8>>,
    pub(crate) origins: Vec<String>,
    pub(crate) logger: Logger,
    pub(crate) metrics: Metrics,
    /// The demo server's address and host key fingerprint, with `--demo`.
    demo: Option<(SocketAddr, String)>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    total: AtomicUsize,
    /// Becomes true when shutdown starts: new upgrades are refused.
    pub(crate) draining: watch::Receiver<bool>,
    /// Becomes true when the drain deadline passed: sessions end now.
    pub(crate) force_close: watch::Receiver<bool>,
}

impl Shared {
    pub(crate) fn log(&self, line: LogLine) {
        self.logger.emit(line);
    }

    /// Takes a connection slot for `ip`, or names the limit that refuses it. IPv6 clients are
    /// counted per /64 (one site's usual allocation), so rotating addresses inside it does not
    /// escape `--max-per-ip`.
    fn acquire(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, &'static str> {
        let ip = match policy::canonical(ip) {
            IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
            v4 => v4,
        };
        let mut per_ip = match self.per_ip.lock() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        if self.total.load(Ordering::SeqCst) >= self.config.max_connections {
            return Err("max-connections");
        }
        let count = per_ip.entry(ip).or_insert(0);
        if *count >= self.config.max_per_ip {
            return Err("max-per-ip");
        }
        *count += 1;
        self.total.fetch_add(1, Ordering::SeqCst);
        self.metrics.session_started();
        Ok(Slot {
            shared: Arc::clone(self),
            ip,
        })
    }

    fn active(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }
}

/// One admitted WebSocket; gives its place back when dropped.
pub(crate) struct Slot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per_ip = match self.shared.per_ip.lock() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
        self.shared.total.fetch_sub(1, Ordering::SeqCst);
        self.shared.metrics.session_ended();
    }
}

/// A relay that is listening. Stop it with [`RunningRelay::shutdown`].
pub struct RunningRelay {
    local_addr: SocketAddr,
    demo: Option<DemoServer>,
    shared: Arc<Shared>,
    stop_accepting: Option<tokio::sync::oneshot::Sender<()>>,
    draining: watch::Sender<bool>,
    force_close: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl RunningRelay {
    /// The address the relay really listens on (useful with `--listen 127.0.0.1:0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The demo SSH server's address, with `--demo`.
    pub fn demo_addr(&self) -> Option<SocketAddr> {
        self.demo.as_ref().map(DemoServer::local_addr)
    }

    /// The demo SSH server, with `--demo` (its host key fingerprint, for instance).
    pub fn demo(&self) -> Option<&DemoServer> {
        self.demo.as_ref()
    }

    /// Number of relayed WebSockets open right now.
    pub fn active_connections(&self) -> usize {
        self.shared.active()
    }

    /// Graceful shutdown: stop accepting, let sessions run up to the drain deadline
    /// (`--drain-timeout`), then close what is left (`closed` by `relay`) and stop.
    pub async fn shutdown(mut self) {
        let active = self.shared.active();
        self.shared.log(LogLine::new(
            Level::Info,
            Code::RelayShutdown,
            format!(
                "shutting down: no new connections; {active} session(s) may run up to {:?}",
                self.shared.config.drain_timeout
            ),
        ));
        if let Some(stop) = self.stop_accepting.take() {
            let _ = stop.send(());
        }
        let _ = self.draining.send(true);
        let started = Instant::now();
        let deadline = started + self.shared.config.drain_timeout;
        while self.shared.active() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.force_close.send(true);
        // Sessions bound their final sends, so this ends quickly.
        let grace = Instant::now() + Duration::from_secs(6);
        while self.shared.active() > 0 && Instant::now() < grace {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if tokio::time::timeout(Duration::from_secs(2), &mut self.server)
            .await
            .is_err()
        {
            self.server.abort();
        }
        if let Some(demo) = self.demo.take() {
            demo.shutdown().await;
        }
    }
}

/// Starts the relay with log lines on stdout.
pub async fn start(config: Config) -> anyhow::Result<RunningRelay> {
    start_with_log_sink(config, LogSink::Stdout).await
}

/// Starts the relay with log lines going to `sink` (tests use [`LogSink::Memory`]).
pub async fn start_with_log_sink(config: Config, sink: LogSink) -> anyhow::Result<RunningRelay> {
    let logger = Logger::new(sink, config.log_format);

    let mut rules = config
        .allow
        .iter()
        .map(|text| AllowRule::parse(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;

    let secret = match &config.token_secret_file {
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read --token-secret-file {}", path.display()))?;
            let secret = trim_ascii_end(&bytes).to_vec();
            if secret.len() < 16 {
                anyhow::bail!(
                    "--token-secret-file {} holds {} byte(s); use at least 16 random bytes",
                    path.display(),
                    secret.len()
                );
            }
            Some(secret)
        }
        None => None,
    };

    let origins = config
        .origin
        .iter()
        .map(|o| normalise_origin(o))
        .collect::<Vec<_>>();

    let demo = if config.demo {
        if !config.demo_listen.ip().is_loopback() {
            anyhow::bail!(
                "--demo-listen {} is not a loopback address; the demo server listens only on loopback",
                config.demo_listen
            );
        }
        let key_file = config
            .demo_host_key
            .clone()
            .unwrap_or_else(demo::default_host_key_file);
        let key = match demo::load_or_create_host_key(&key_file) {
            Ok(key) => key,
            Err(error) => {
                logger.emit(LogLine::new(
                    Level::Warn,
                    Code::DemoServerStarted,
                    format!("{error:#}; using a host key generated for this run only"),
                ));
                demo::generate_host_key()?
            }
        };
        let server = DemoServer::start_with_key(config.demo_listen, key).await?;
        rules.push(AllowRule::exact(server.local_addr()));
        let mut line = LogLine::new(
            Level::Info,
            Code::DemoServerStarted,
            format!(
                "demo SSH server on {} (user {}, password {}), host key {} {}",
                server.local_addr(),
                demo::USER,
                demo::PASSWORD,
                server.host_key_fingerprint(),
                key_file.display()
            ),
        );
        line.peer = Some(server.local_addr().to_string());
        logger.emit(line);
        Some(server)
    } else {
        None
    };

    let policy = Policy::new(rules, config.allow_private);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local_addr = listener.local_addr()?;

    let web_root = config.web_root.clone().or_else(|| {
        let default = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../web"));
        default
            .is_dir()
            .then(|| default.canonicalize().unwrap_or(default))
    });

    let (draining_tx, draining_rx) = watch::channel(false);
    let (force_tx, force_rx) = watch::channel(false);

    let policy_text = if policy.rules().is_empty() {
        "WARNING: no --allow rule and no --demo: every target is denied".to_string()
    } else {
        let rules: Vec<String> = policy.rules().iter().map(|r| r.to_string()).collect();
        format!("allow {}", rules.join(", "))
    };
    let mut line = LogLine::new(
        if policy.rules().is_empty() {
            Level::Warn
        } else {
            Level::Info
        },
        Code::RelayStarted,
        format!(
            "listening on http://{local_addr} (ws /ws); {policy_text}; private addresses {}; tokens {}; origins {}; page {}",
            if policy.allow_private() {
                "allowed"
            } else {
                "refused unless a CIDR rule names them"
            },
            if secret.is_some() {
                "required"
            } else {
                "not required"
            },
            if origins.is_empty() {
                "same-origin".to_string()
            } else {
                origins.join(" ")
            },
            web_root
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "none".into()),
        ),
    );
    line.peer = Some(local_addr.to_string());
    logger.emit(line);

    let shared = Arc::new(Shared {
        config,
        policy,
        secret,
        origins,
        logger,
        metrics: Metrics::default(),
        demo: demo
            .as_ref()
            .map(|d| (d.local_addr(), d.host_key_fingerprint().to_string())),
        per_ip: Mutex::new(HashMap::new()),
        total: AtomicUsize::new(0),
        draining: draining_rx,
        force_close: force_rx,
    });

    let mut app = Router::new()
        .route("/ws", get(ws_handler))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_handler))
        .route("/relay.json", get(relay_info));
    app = match web_root {
        Some(root) => static_files::serve_from(app, root),
        None => app.fallback(no_page),
    };
    let app = app.with_state(Arc::clone(&shared));

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        // No Nagle on the client side either: SSH answers an exec with several small packets,
        // and Nagle meeting the peer's delayed ACK stalled each exchange ~40 ms (BENCHMARKS.md).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let _ = axum::serve(listener, service)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await;
    });

    Ok(RunningRelay {
        local_addr,
        demo,
        shared,
        stop_accepting: Some(stop_tx),
        draining: draining_tx,
        force_close: force_tx,
        server,
    })
}

fn trim_ascii_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

/// `HTTPS://Example.com/` → `https://example.com`.
fn normalise_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Whether the upgrade's `Origin` may use the relay. See [`Config::origin`]: with `--origin`
/// values, the Origin must be one of them (`*` allows any); without, it must be the same origin
/// as the `Host` the request was sent to. A request without `Origin` is allowed: browsers always
/// send one on WebSocket upgrades, so only non-browser clients (the CLI, tests) omit it, and
/// those are not subject to cross-site attacks.
///
/// DNS rebinding: a hostile page can make its own name resolve to the relay, so that Origin and
/// Host agree. When the relay listens on loopback (`loopback_only`) and relies on same-origin,
/// the browser's Host must therefore itself be loopback (`localhost`, `127.x.x.x`, `[::1]`).
fn origin_check(
    origins: &[String],
    headers: &HeaderMap,
    loopback_only: bool,
) -> Result<(), String> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = normalise_origin(
        origin
            .to_str()
            .map_err(|_| "a non-ASCII Origin".to_string())?,
    );
    if !origins.is_empty() {
        return if origins
            .iter()
            .any(|allowed| allowed == "*" || *allowed == origin)
        {
            Ok(())
        } else {
            Err(format!("Origin {origin} is not in --origin"))
        };
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.trim().to_ascii_lowercase())
        .ok_or_else(|| "no Host header to compare the Origin with".to_string())?;
    let (scheme, origin_host) = origin
        .split_once("://")
        .ok_or_else(|| format!("Origin {origin} is not same-origin"))?;
    let default_port = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return Err(format!("Origin {origin} is not same-origin")),
    };
    let strip = |h: &str| h.strip_suffix(default_port).unwrap_or(h).to_string();
    if loopback_only && !is_loopback_host(&host) {
        return Err(format!(
            "Host {host} is not a loopback name, but this relay listens on loopback (DNS rebinding?)"
        ));
    }
    if strip(origin_host) == strip(&host) {
        Ok(())
    } else {
        Err(format!(
            "Origin {origin} is not the same origin as host {host}"
        ))
    }
}

/// `localhost`, `127.0.0.1:8022`, `[::1]:8022`…
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

async fn ws_handler(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d; log and count them as IPv4.
    let client = SocketAddr::new(policy::canonical(client.ip()), client.port());
    let loopback_only = shared.config.listen.ip().is_loopback();
    if let Err(why) = origin_check(&shared.origins, &headers, loopback_only) {
        let mut line = LogLine::new(
            Level::Warn,
            Code::RelayOriginRefused,
            format!("WebSocket upgrade refused: {why}"),
        );
        line.client_ip = Some(client.ip().to_string());
        shared.log(line);
        shared.metrics.denied("origin");
        return (StatusCode::FORBIDDEN, "Origin not allowed\n").into_response();
    }
    if *shared.draining.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "relay is shutting down\n").into_response();
    }
    let ws = ws.protocols([SUBPROTOCOL]);
    if ws.selected_protocol().is_none() {
        let mut line = LogLine::new(
            Level::Warn,
            Code::RelayBadFrame,
            format!("WebSocket upgrade without subprotocol {SUBPROTOCOL}; refused"),
        );
        line.client_ip = Some(client.ip().to_string());
        shared.log(line);
        return (
            StatusCode::BAD_REQUEST,
            format!("offer the WebSocket subprotocol {SUBPROTOCOL}\n"),
        )
            .into_response();
    }
    let slot = shared.acquire(client.ip());
    // Let tungstenite accept a little more than our limit, so an oversized message is read
    // whole and refused by the session with a clear `limit` error rather than a torn stream.
    let wire_limit = shared
        .config
        .max_frame_size
        .saturating_mul(2)
        .max(64 * 1024);
    ws.max_message_size(wire_limit)
        .max_frame_size(wire_limit)
        // tungstenite allocates its read buffer eagerly (128 KiB by default); a small one keeps
        // idle WebSockets cheap, and larger frames still grow it as needed.
        .read_buffer_size(WS_READ_BUFFER)
        .on_upgrade(move |socket| session::run(shared, socket, client, slot))
}

/// `GET /relay.json`: what the page needs to know about this relay, so it can pre-fill the form
/// for the demo server and ask for a token only when one is needed. Publishes no policy.
///
/// ```json
/// {"subprotocol":"sshdiag.v1","version":"0.1.0","token_required":false,
///  "demo":{"host":"127.0.0.1","port":2222,"username":"demo","password":"demo",
///          "host_key_fingerprint":"SHA256:…","commands":["uname -a","whoami","cat /demo/blob"]}}
/// ```
///
/// `demo` is `null` without `--demo`.
async fn relay_info(State(shared): State<Arc<Shared>>) -> Response {
    let demo = shared.demo.as_ref().map(|(addr, fingerprint)| {
        serde_json::json!({
            "host": addr.ip().to_string(),
            "port": addr.port(),
            "username": demo::USER,
            "password": demo::PASSWORD,
            "host_key_fingerprint": fingerprint,
            "commands": ["uname -a", "whoami", "cat /demo/blob"],
        })
    });
    axum::Json(serde_json::json!({
        "subprotocol": SUBPROTOCOL,
        "version": env!("CARGO_PKG_VERSION"),
        "token_required": shared.secret.is_some(),
        "demo": demo,
    }))
    .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics_handler(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        shared.metrics.render(),
    )
        .into_response()
}

async fn no_page() -> Response {
    (
        StatusCode::NOT_FOUND,
        "sshdiag-proxy: no page to serve; build web/ or pass --web-root DIR\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn origins() {
        let same = headers(&[
            ("origin", "http://relay.example:8022"),
            ("host", "relay.example:8022"),
        ]);
        assert!(origin_check(&[], &same, false).is_ok());
        let https = headers(&[
            ("origin", "https://relay.example"),
            ("host", "relay.example:443"),
        ]);
        assert!(origin_check(&[], &https, false).is_ok());
        let cross = headers(&[
            ("origin", "http://evil.example"),
            ("host", "relay.example:8022"),
        ]);
        assert!(origin_check(&[], &cross, false).is_err());
        let null = headers(&[("origin", "null"), ("host", "relay.example")]);
        assert!(origin_check(&[], &null, false).is_err());
        assert!(origin_check(&[], &headers(&[("host", "x")]), false).is_ok());
        // Listening on loopback: a rebinding name is refused even when Origin and Host agree.
        let rebinding = headers(&[
            ("origin", "http://evil.example:8022"),
            ("host", "evil.example:8022"),
        ]);
        assert!(origin_check(&[], &rebinding, false).is_ok());
        assert!(origin_check(&[], &rebinding, true).is_err());
        let local = headers(&[
            ("origin", "http://localhost:8022"),
            ("host", "localhost:8022"),
        ]);
        assert!(origin_check(&[], &local, true).is_ok());
        let v6 = headers(&[("origin", "http://[::1]:8022"), ("host", "[::1]:8022")]);
        assert!(origin_check(&[], &v6, true).is_ok());
        let listed = vec!["https://portal.example".to_string()];
        let portal = headers(&[
            ("origin", "https://Portal.example/"),
            ("host", "relay.example"),
        ]);
        assert!(origin_check(&listed, &portal, false).is_ok());
        assert!(origin_check(&listed, &same, false).is_err());
    }
}
