//! `sshdiag-proxy`: the relay between the browser's SSH client and SSH targets. One WebSocket
//! in (`GET /ws`, subprotocol `sshdiag.v1`), one TCP connection out; deny by default. It also
//! serves the page (`GET /`), `GET /healthz`, `GET /metrics` and, with `--demo`, a built-in SSH
//! server so the product works on a fresh machine. The contract is `shared/spec/proxy.md`.
//!
//! Entry points: [`start`] binds, spawns and returns a [`RunningRelay`]; the binary
//! (`src/main.rs`) only parses the command line, calls it and waits for a signal.
//!
//! Code map: [`config`] (the command line), [`policy`] (which targets, checked after
//! resolution), [`token`] (JWT connect tokens), [`link`] (the
//! token tools `mint-token` and `link`), `cors` (CORS on the static files for `--origin`), `serve` (the accept loop: header deadline,
//! pending-socket caps, accept back-off), `session` (one WebSocket: `handshake` resolves and
//! connects, `pump` relays), [`limit`] (the limits' names), [`log`] (the `tracing` layer that
//! writes JSON Lines on stdout), [`metrics`] (Prometheus text), [`demo`] (the demo SSH server).
//!
//! Architecture invariants: the relay never parses SSH; it connects only to an address that
//! passed the policy, without a second lookup; nothing from a client is buffered without bound
//! and no socket is held without a deadline; a token never reaches a log line, a metric label
//! or a control frame.

pub mod config;
mod cors;
mod counts;
pub mod demo;
pub mod limit;
pub mod link;
pub mod log;
pub mod metrics;
pub mod policy;
mod serve;
mod session;
mod static_files;
pub mod token;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use sshdiag_events::Code;
use sshdiag_events::relay::SUBPROTOCOL;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{Config, LogFormat};
pub use demo::DemoServer;
pub use log::{LogSink, MemoryLog};
pub use token::{TokenKeys, TokenSigner, mint_token};

use crate::limit::Limit;
use crate::log::{Level, LogLine};
use crate::metrics::Metrics;
use crate::policy::{AllowRule, Policy};

/// The WebSocket read buffer each connection allocates up front.
const WS_READ_BUFFER: usize = 16 * 1024;
/// The most a WebSocket's write buffer may hold: one full binary frame (the pump's read size,
/// 128 KiB), a control frame and a close frame fit, with room to spare.
const WS_MAX_WRITE_BUFFER: usize = 256 * 1024;

/// State every request and session shares.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) policy: Policy,
    pub(crate) tokens: Option<token::TokenKeys>,
    pub(crate) origins: Vec<String>,
    /// The relay's log subscriber: every line goes through it (see [`log`]).
    pub(crate) dispatch: tracing::Dispatch,
    pub(crate) metrics: Metrics,
    /// The demo server's address and host key fingerprint, with `--demo`.
    demo: Option<(SocketAddr, String)>,
    /// Relayed sessions, per client and in total.
    sessions: counts::Counts,
    /// Sockets that have not completed the upgrade and the connect frame.
    pending: serve::Pending,
    /// Becomes true when shutdown starts: new upgrades are refused.
    pub(crate) draining: watch::Receiver<bool>,
    /// Becomes true when the drain deadline passed: sessions end now.
    pub(crate) force_close: watch::Receiver<bool>,
}

impl Shared {
    pub(crate) fn log(&self, line: LogLine) {
        log::emit_with(&self.dispatch, &line);
    }

    /// Takes a connection slot for `ip`, or names the limit that refuses it. IPv6 clients are
    /// counted per /64 (one site's usual allocation), so rotating addresses inside it does not
    /// escape `--max-per-ip`.
    fn acquire(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Limit> {
        let ip = self.sessions.take(ip, &self.metrics)?;
        Ok(Slot {
            shared: Arc::clone(self),
            ip,
        })
    }

    fn active(&self) -> usize {
        self.sessions.total()
    }
}

/// What limits count a client as: its IP, IPv6 by /64 (one site's usual allocation, so
/// rotating addresses inside it does not escape a per-IP limit).
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match policy::canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(
            u128::from(v6) & !((1u128 << 64) - 1),
        )),
        v4 => v4,
    }
}

/// One admitted WebSocket; gives its place back when dropped.
pub(crate) struct Slot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared
            .sessions
            .give_back(self.ip, &self.shared.metrics);
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
        // Keep accepting while draining: `/healthz` says `draining` and upgrades get 503, so a
        // load balancer moves new sessions elsewhere; running sessions go on.
        let _ = self.draining.send(true);
        let started = Instant::now();
        let deadline = started + self.shared.config.drain_timeout;
        while self.shared.active() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Some(stop) = self.stop_accepting.take() {
            let _ = stop.send(());
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
    let dispatch = log::dispatch(sink, config.log_format);
    let nofile = serve::raise_nofile_limit();

    let mut rules = config
        .allow
        .iter()
        .map(|text| AllowRule::parse(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;

    let tokens = token::TokenKeys::load(
        config.token_secret_file.as_ref(),
        config.token_public_key.as_ref(),
    )?;

    let origins = config
        .origin
        .iter()
        .map(|o| normalise_origin(o))
        .collect::<Vec<_>>();
    let demo = start_demo(&config, &dispatch, &mut rules).await?;

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

    let started = StartLine {
        local_addr,
        policy: &policy,
        tokens: tokens.as_ref().map(|keys| keys.describe()),
        origins: &origins,
        web_root: web_root.as_deref(),
        nofile,
    };
    log::emit_with(&dispatch, &started.line());

    let sessions = counts::Counts::sessions(&config);
    let pending = serve::Pending::new(&config);
    let shared = Arc::new(Shared {
        config,
        policy,
        tokens,
        origins,
        dispatch,
        metrics: Metrics::default(),
        demo: demo
            .as_ref()
            .map(|d| (d.local_addr(), d.host_key_fingerprint().to_string())),
        sessions,
        pending,
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
    let app = app
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            cors::static_cors,
        ))
        .with_state(Arc::clone(&shared));

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve::accept_loop(
        Arc::clone(&shared),
        listener,
        app,
        stop_rx,
    ));

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

/// With `--demo`: starts the demo SSH server on loopback, allows it, and logs where it is.
async fn start_demo(
    config: &Config,
    dispatch: &tracing::Dispatch,
    rules: &mut Vec<AllowRule>,
) -> anyhow::Result<Option<DemoServer>> {
    if !config.demo {
        return Ok(None);
    }
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
            let line = LogLine::new(
                Level::Warn,
                Code::DemoServerStarted,
                format!("{error:#}; using a host key generated for this run only"),
            );
            log::emit_with(dispatch, &line);
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
    log::emit_with(dispatch, &line);
    Ok(Some(server))
}

/// What the start line says: where the relay listens and what it lets through.
struct StartLine<'a> {
    local_addr: SocketAddr,
    policy: &'a Policy,
    /// What verifies tokens, when they are required.
    tokens: Option<String>,
    origins: &'a [String],
    web_root: Option<&'a std::path::Path>,
    /// The open-file limit in force (it bounds the sockets the relay can hold).
    nofile: Option<u64>,
}

impl StartLine<'_> {
    fn line(&self) -> LogLine {
        let policy = self.policy;
        let policy_text = if policy.rules().is_empty() {
            "WARNING: no --allow rule and no --demo: every target is denied".to_string()
        } else {
            let rules: Vec<String> = policy.rules().iter().map(|r| r.to_string()).collect();
            format!("allow {}", rules.join(", "))
        };
        let level = if policy.rules().is_empty() {
            Level::Warn
        } else {
            Level::Info
        };
        let private = if policy.allow_private() {
            "allowed"
        } else {
            "refused unless a CIDR rule names them"
        };
        let tokens = match &self.tokens {
            Some(keys) => format!("required ({keys})"),
            None => "not required".to_string(),
        };
        let origins = if self.origins.is_empty() {
            "same-origin".to_string()
        } else {
            self.origins.join(" ")
        };
        let page = self
            .web_root
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "none".into());
        let nofile = self
            .nofile
            .map_or_else(|| "unknown".to_string(), |n| n.to_string());
        let mut line = LogLine::new(
            level,
            Code::RelayStarted,
            format!(
                "listening on http://{} (ws /ws); {policy_text}; private addresses {private}; tokens {tokens}; origins {origins}; page {page}; open files limit {nofile}",
                self.local_addr
            ),
        );
        line.peer = Some(self.local_addr.to_string());
        line
    }
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
    Extension(ticket): Extension<Arc<serve::Ticket>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d; log and count them as IPv4.
    let client = SocketAddr::new(policy::canonical(client.ip()), client.port());
    let loopback_only = shared.config.listen.ip().is_loopback();
    if let Err(why) = origin_check(&shared.origins, &headers, loopback_only) {
        let line = LogLine::client_warning(
            client.ip(),
            Code::RelayOriginRefused,
            format!("WebSocket upgrade refused: {why}"),
        );
        shared.log(line);
        shared.metrics.denied("origin");
        return (StatusCode::FORBIDDEN, "Origin not allowed\n").into_response();
    }
    if *shared.draining.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "relay is shutting down\n").into_response();
    }
    let ws = ws.protocols([SUBPROTOCOL]);
    if ws.selected_protocol().is_none() {
        let line = LogLine::client_warning(
            client.ip(),
            Code::RelayBadFrame,
            format!("WebSocket upgrade without subprotocol {SUBPROTOCOL}; refused"),
        );
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
        // Bounded writes: a client that sends pings and never reads the pongs finds the
        // relay's write buffer full, not growing (tungstenite keeps one pending pong).
        .write_buffer_size(0)
        .max_write_buffer_size(WS_MAX_WRITE_BUFFER)
        .on_upgrade(move |socket| session::start(shared, socket, client, slot, ticket))
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
        "token_required": shared.tokens.is_some(),
        "demo": demo,
    }))
    .into_response()
}

/// `GET /healthz`: `200 ok` while serving, `503 draining` once shutdown began (a load
/// balancer then sends new sessions elsewhere while this one finishes its own).
async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    if *shared.draining.borrow() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    } else {
        (StatusCode::OK, "ok\n").into_response()
    }
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

    /// Whether `origin_check` accepts this Origin (none: no header) and Host.
    fn accepts(allowed: &[String], origin: Option<&str>, host: &str, loopback: bool) -> bool {
        let mut pairs = vec![("host", host)];
        if let Some(origin) = origin {
            pairs.insert(0, ("origin", origin));
        }
        origin_check(allowed, &headers(&pairs), loopback).is_ok()
    }

    #[test]
    fn origins() {
        let same = Some("http://relay.example:8022");
        for (origin, host, accepted) in [
            (same, "relay.example:8022", true),
            (Some("https://relay.example"), "relay.example:443", true),
            (Some("http://evil.example"), "relay.example:8022", false),
            (Some("null"), "relay.example", false),
            (None, "x", true),
            (Some("http://evil.example:8022"), "evil.example:8022", true),
        ] {
            assert_eq!(
                accepts(&[], origin, host, false),
                accepted,
                "{origin:?} {host}"
            );
        }
        // Listening on loopback: a rebinding name is refused even when Origin and Host agree.
        for (origin, host, accepted) in [
            (Some("http://evil.example:8022"), "evil.example:8022", false),
            (Some("http://localhost:8022"), "localhost:8022", true),
            (Some("http://[::1]:8022"), "[::1]:8022", true),
        ] {
            assert_eq!(
                accepts(&[], origin, host, true),
                accepted,
                "{origin:?} {host}"
            );
        }
        let listed = vec!["https://portal.example".to_string()];
        let portal = Some("https://Portal.example/");
        assert!(accepts(&listed, portal, "relay.example", false));
        assert!(!accepts(&listed, same, "relay.example:8022", false));
    }
}
