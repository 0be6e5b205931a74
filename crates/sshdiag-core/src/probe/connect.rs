//! The connect stage: the caller's [`Connector`] establishes the transport (directly or
//! through the relay) and its steps (DNS, every address tried, TCP) become `PROXY` events and
//! phases; what the relay reports
//! later (its `closed` frame, ping round trips) is read here too, and so is the one
//! description of a connection lost after the transport was up.
//!
//! It never opens a socket itself (the core is runtime-neutral) and never sees a secret.

use serde_json::json;
use sshdiag_events::codes::Phase;
use sshdiag_events::{
    Code, ConnectData, ConnectStatus, DisconnectReason, ErrorType, EventData, KeepaliveData, Layer,
    Level, ProxyData, ProxyStatus, Transport,
};
use tokio::sync::mpsc::unbounded_channel;

use super::attempt::{ClosedBy, Session};
use crate::failure::{Failure, scrub};
use crate::hints;
use crate::transport::{self, ConnectFailure, ConnectRequest, ConnectStep, Connector};

/// How much longer than the addresses' time limits together the connect stage waits, so a
/// connector's own report of the last attempt arrives before the stage gives up.
const ATTEMPT_GRACE_MS: u64 = 1_000;

impl Session<'_> {
    pub(super) fn via_relay(&self) -> bool {
        self.link.transport == Transport::Websocket
    }

    /// A connection beside the run's own (the deep audit's, the host key scan's) to the same
    /// server: its stream, or why there is none. Its steps are not this run's transport, so
    /// they are dropped.
    pub(super) async fn extra_stream<C: Connector>(
        &self,
        connector: &mut C,
    ) -> Result<C::Stream, String> {
        let request = ConnectRequest {
            host: &self.opts.host,
            port: self.opts.port,
            connection_id: &self.rec.connection_id,
            progress: unbounded_channel().0,
            attempt_timeout_ms: self.opts.connect_timeout_ms,
        };
        let connected = connector
            .connect(request)
            .await
            .map_err(|f| format!("the extra connection failed: {}", scrub(&f.message)))?;
        Ok(connected.stream)
    }

    /// Establish the transport and report its steps; the stream goes to the handshake.
    pub async fn connect_transport<C: Connector>(
        &mut self,
        connector: &mut C,
    ) -> Result<C::Stream, Failure> {
        let (layer, phase) = if self.via_relay() {
            (Layer::Relay, Phase::Relay)
        } else {
            (Layer::Dns, Phase::Dns)
        };
        self.at.reached = layer;
        self.start_phase(phase);
        let (tx, mut rx) = unbounded_channel();
        let host = self.opts.host.clone();
        let port = self.opts.port;
        let cid = self.rec.connection_id.clone();
        let result = {
            let fut = connector.connect(ConnectRequest {
                host: &host,
                port,
                connection_id: &cid,
                progress: tx,
                attempt_timeout_ms: self.opts.connect_timeout_ms,
            });
            let mut deadline = self.env.sleep(self.opts.connect_timeout_ms);
            tokio::pin!(fut);
            let mut progress_open = true;
            // A closed channel is always ready: the guards keep it from starving the others.
            loop {
                tokio::select! {
                    biased;
                    step = rx.recv(), if progress_open => match step {
                        Some(step) => {
                            // A name with several addresses: each gets the whole time limit,
                            // as OpenSSH's ConnectTimeout (the connector times out all but the
                            // last itself; a grace lets its report arrive first).
                            if let ConnectStep::Resolved { addrs, .. } = &step
                                && addrs.len() > 1
                            {
                                let each = self.opts.connect_timeout_ms;
                                let all = each.saturating_mul(addrs.len() as u64);
                                deadline = self.env.sleep(all.saturating_add(ATTEMPT_GRACE_MS));
                            }
                            self.on_connect_step(step);
                        }
                        None => progress_open = false,
                    },
                    r = &mut fut => break Some(r),
                    _ = &mut deadline => break None,
                }
            }
        };
        while let Ok(step) = rx.try_recv() {
            self.on_connect_step(step);
        }
        self.at.clock.current = None;
        match result {
            Some(Ok(c)) => {
                self.at.reached = Layer::Tcp;
                self.at.later_steps = c.later_steps;
                self.rec.emit(
                    Level::Info,
                    Code::ConnectEstablished,
                    EventData::Connect(ConnectData {
                        status: Some(ConnectStatus::Connected),
                        host: self.opts.host.clone(),
                        port: self.opts.port,
                        username: Some(self.opts.username.clone()),
                        transport: Some(c.transport),
                        proxy: self.link.proxy.clone(),
                        auth_method: None,
                        source: self.at.source.clone(),
                    }),
                );
                Ok(c.stream)
            }
            Some(Err(f)) => Err(self.connect_failure(f)),
            None => Err(self.connect_timeout()),
        }
    }

    fn connect_timeout(&mut self) -> Failure {
        let secs = self.opts.connect_timeout_ms as f64 / 1000.0;
        let (et, msg) = if self.at.reached == Layer::Relay {
            (
                ErrorType::ProxyUnreachable,
                format!("the relay did not answer within {secs} s"),
            )
        } else {
            (
                ErrorType::ConnectionTimeout,
                format!(
                    "no TCP connection to {}:{} within {secs} s",
                    self.opts.host, self.opts.port
                ),
            )
        };
        self.connect_failure(ConnectFailure::new(et, msg))
    }

    /// One step of the connector (or of the relay, later) becomes phases and events.
    pub fn on_connect_step(&mut self, step: ConnectStep) {
        if let ConnectStep::RelayRtt { ms } = step {
            self.link.last_relay_rtt_at = Some(self.now());
            self.rec.emit(
                Level::Debug,
                Code::KeepaliveOk,
                EventData::Keepalive(KeepaliveData {
                    rtt_ms: Some(ms),
                    missed: 0,
                    path: Some("relay".into()),
                }),
            );
            return;
        }
        let (code, data) = match &step {
            ConnectStep::WsOpen { ms } => {
                self.at.clock.set(Phase::Relay, *ms);
                self.at.reached = Layer::Dns;
                (Code::ProxyWsOpen, timed(ProxyStatus::WsOpen, *ms))
            }
            ConnectStep::Resolved { addrs, ms } => {
                self.at.clock.set(Phase::Dns, *ms);
                self.at.reached = Layer::Tcp;
                let data = ProxyData {
                    addrs: Some(addrs.clone()),
                    ..timed(ProxyStatus::Resolved, *ms)
                };
                (Code::ProxyResolved, data)
            }
            ConnectStep::TcpAttemptFailed { peer, reason, ms } => {
                let data = ProxyData {
                    peer: Some(peer.clone()),
                    reason: Some(scrub(reason)),
                    ..timed(ProxyStatus::Failed, *ms)
                };
                (Code::ProxyTcpAttemptFailed, data)
            }
            ConnectStep::TcpConnected { peer, local, ms } => {
                self.at.clock.set(Phase::Tcp, *ms);
                self.at.source = local.clone();
                self.at.connected_unix_ms = Some(self.env.now_unix_ms());
                let data = ProxyData {
                    peer: Some(peer.clone()),
                    local: local.clone(),
                    ..timed(ProxyStatus::TcpConnected, *ms)
                };
                (Code::ProxyTcpConnected, data)
            }
            ConnectStep::Closed {
                by,
                reason,
                bytes_up,
                bytes_down,
            } => {
                let data = ProxyData {
                    status: Some(ProxyStatus::Closed),
                    reason: Some(reason.clone()),
                    by: Some(by.clone()),
                    bytes_up: Some(*bytes_up),
                    bytes_down: Some(*bytes_down),
                    ..Default::default()
                };
                self.at.relay_closed = Some(step.clone());
                (Code::ProxyClosed, data)
            }
            ConnectStep::RelayRtt { .. } => return,
        };
        // Direct TCP reports its own DNS and TCP steps the same way: the addresses a name
        // resolved to and every one tried, in order.
        self.rec.emit(Level::Info, code, EventData::Proxy(data));
    }

    fn connect_failure(&mut self, f: ConnectFailure) -> Failure {
        // A connector's text quotes libraries and the relay, which can quote what they were
        // given (a URL with its password): scrubbed before it reaches any event.
        let message = scrub(&f.message);
        if self.via_relay() && f.relay_code.is_some() {
            let status = if f.error_type == ErrorType::ProxyDenied {
                ProxyStatus::Denied
            } else {
                ProxyStatus::Failed
            };
            self.rec.emit(
                Level::Warn,
                f.code,
                EventData::Proxy(ProxyData {
                    status: Some(status),
                    reason: Some(message.clone()),
                    ..Default::default()
                }),
            );
        }
        let phase = match f.error_type.layer() {
            Layer::Relay => Phase::Relay,
            Layer::Dns => Phase::Dns,
            _ => Phase::Tcp,
        };
        let mut failure = Failure::new(f.error_type, message).code(f.code);
        failure.phase = Some(phase);
        if let Some(rc) = &f.relay_code {
            failure = failure.ctx("relay_code", json!(rc));
        }
        failure.hints = hints::connect_hints(
            &f,
            &self.opts.host,
            self.opts.port,
            self.link.proxy.as_deref(),
        );
        failure
    }

    /// Read what the relay reported after the stream was handed over.
    pub fn drain_later_steps(&mut self) {
        for step in super::attempt::drained(&mut self.at.later_steps) {
            self.on_connect_step(step);
        }
    }

    /// A russh error after key exchange: the connection went away.
    pub fn transport_failure(&mut self, e: russh::Error) -> Failure {
        self.drain_later_steps();
        self.drain_notes();
        let phase = self.fail_phase();
        if phase == Some(Phase::Auth)
            && let Some((code, desc)) = self.at.server_disconnect.clone()
        {
            return self.auth_disconnected(code, &desc);
        }
        let (code, desc) = self.at.server_disconnect.clone().unzip();
        let who = self.closed_by();
        let msg = match (&code, &desc) {
            (Some(c), Some(d)) => format!("the server disconnected (code {c}: {d})"),
            _ => format!("the connection was lost ({})", scrub(&e.to_string())),
        };
        let mut f = Failure::new(ErrorType::Disconnected, msg)
            .ctx("closed_by", json!(who.as_str()))
            .ctx("phase", json!(phase.map(Phase::as_str)))
            .hints(hints::disconnected(who.as_str(), phase))
            .disconnect(if code.is_some() {
                DisconnectReason::ServerDisconnect
            } else if who == ClosedBy::Relay {
                DisconnectReason::ProxyClosed
            } else {
                DisconnectReason::NetworkError
            });
        if let Some(c) = code {
            f = f.ctx("disconnect_code", json!(c));
        } else if self
            .at
            .relay_closed
            .as_ref()
            .is_some_and(transport::is_relay_vanished)
        {
            let when = phase.map(Phase::as_str).unwrap_or("session");
            (f.message, f.hints) = transport::relay_vanished_diagnosis(when);
            f.layer = Some(Layer::Relay);
        }
        f.phase = phase;
        f
    }

    /// The server ended the connection during authentication: its own words, and what to
    /// change on the client side.
    fn auth_disconnected(&self, code: u32, desc: &str) -> Failure {
        let user = &self.opts.username;
        let tried = &self.at.methods_tried;
        let keys = &self.at.keys_offered;
        let mut hints = vec![format!(
            "The server ended the login itself (disconnect code {code}): {desc:?}. This is the server's decision, not a client-side error."
        )];
        let lower = desc.to_ascii_lowercase();
        if lower.contains("too many") || (code == 2 && !keys.is_empty()) {
            hints.push(format!(
                "Too many authentication attempts (sshd's MaxAuthTries, default 6, counts every key offered): {} key(s) were offered ({}). Offer only the key meant for {user} (ssh -o IdentitiesOnly=yes -i KEY), or remove keys from the agent (ssh-add -D).",
                keys.len(),
                keys.join(", ")
            ));
        } else {
            hints.push(format!("The server refused the account during login (a PAM or account rule, AllowUsers/DenyUsers): its log (journalctl -u ssh) has the line for {user}."));
        }
        if let Some(avail) = &self.at.methods_available {
            hints.push(format!(
                "The server accepts for {user}: {}.",
                avail.join(", ")
            ));
        }
        let mut f = Failure::new(
            ErrorType::Disconnected,
            format!("the server ended the connection during authentication: {desc} (disconnect code {code})"),
        )
        .code(Code::AuthDisconnected)
        .layer(Layer::Auth)
        .ctx("closed_by", json!("server"))
        .ctx("phase", json!("auth"))
        .ctx("disconnect_code", json!(code))
        .ctx("methods_tried", json!(tried))
        .ctx("keys_offered", json!(keys))
        .hints(hints)
        .disconnect(DisconnectReason::ServerDisconnect);
        f.phase = Some(Phase::Auth);
        f
    }

    /// The seed's `CONNECT` with `auth_method`: the connection is up and authenticated.
    pub fn emit_authenticated(&mut self) {
        let Some(method) = self.at.auth_method else {
            return;
        };
        self.rec.emit(
            Level::Info,
            Code::ConnectAuthenticated,
            EventData::Connect(ConnectData {
                status: Some(ConnectStatus::Connected),
                host: self.opts.host.clone(),
                port: self.opts.port,
                username: Some(self.opts.username.clone()),
                transport: Some(self.link.transport),
                proxy: self.link.proxy.clone(),
                auth_method: Some(method),
                source: self.at.source.clone(),
            }),
        );
    }
}

/// A relay step that took `ms` milliseconds.
fn timed(status: ProxyStatus, ms: f64) -> ProxyData {
    ProxyData {
        status: Some(status),
        ms: Some(ms),
        ..Default::default()
    }
}
