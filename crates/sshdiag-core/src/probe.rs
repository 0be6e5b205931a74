//! The session runner: one diagnosis from transport to verdict.
//!
//! It drives russh over the caller's transport and turns every step into an event as it
//! happens: the connector's steps, then what the [`Tap`](crate::tap) sees (banner, KEXINIT
//! proposals) and what russh's handler reports (host key, negotiated algorithms), then
//! authentication, channels and commands. Whatever happens, the last event is `VERDICT`, and a
//! failure produces exactly one `ERROR` before it.
//!
//! Architecture invariant: no secret is ever formatted into an event. Secrets stay in
//! [`Secret`](crate::options::Secret) and are handed only to russh.

use std::collections::BTreeMap;
use std::sync::Arc;

use russh::client::{self, AuthResult, KeyboardInteractiveAuthResponse};
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg};
use russh::{ChannelMsg, Disconnect};
use serde_json::{Map, Value, json};
use sshdiag_events::codes::Phase;
use sshdiag_events::*;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::algorithms::AlgorithmLists;
use crate::hints;
use crate::hostkey::{HostKeyDecision, HostKeyInfo, TrustStore, decide};
use crate::options::{
    AgentSource, AuthPlan, CLIENT_VERSION, Credential, KeepaliveConfig, ProbeOptions,
};
use crate::runtime::Env;
use crate::tap::{Tap, TapHandle, TapNote};
use crate::transport::{self, ConnectFailure, ConnectStep, Connector};

/// Output of one command, for the transcript.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CommandResult {
    pub command: String,
    pub exit_code: Option<i64>,
    pub exit_signal: Option<String>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub stdout_len: u64,
    pub stderr_len: u64,
    pub truncated: bool,
}

/// Everything a diagnosis produced.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    pub connection_id: String,
    pub started_unix_ms: f64,
    pub events: Vec<Event>,
    pub verdict: VerdictData,
    pub commands: Vec<CommandResult>,
    /// The proxy URL used, without credentials.
    pub proxy: Option<String>,
    /// The algorithm audit of the server's offer, when its KEXINIT was seen.
    pub audit: Vec<AuditData>,
}

impl ProbeReport {
    /// The exit status of the last command that ran, if any.
    pub fn last_exit_code(&self) -> Option<i64> {
        self.commands.iter().rev().find_map(|c| c.exit_code)
    }
}

/// A failure on its way to becoming the `ERROR` event.
#[derive(Debug, Clone)]
pub struct Failure {
    pub error_type: ErrorType,
    pub code: Code,
    pub message: String,
    pub phase: Option<Phase>,
    pub layer: Option<Layer>,
    pub hints: Vec<String>,
    pub context: Map<String, Value>,
    pub disconnect: DisconnectReason,
}

impl Failure {
    pub fn new(error_type: ErrorType, message: impl Into<String>) -> Self {
        let disconnect = match error_type.layer() {
            Layer::Auth => DisconnectReason::AuthFailure,
            Layer::Kex | Layer::Hostkey | Layer::Banner => DisconnectReason::ProtocolError,
            Layer::Relay | Layer::Dns | Layer::Tcp => DisconnectReason::NetworkError,
            _ => DisconnectReason::NetworkError,
        };
        Failure {
            error_type,
            code: error_type.code(),
            message: message.into(),
            phase: None,
            layer: None,
            hints: Vec::new(),
            context: Map::new(),
            disconnect,
        }
    }
    pub fn code(mut self, code: Code) -> Self {
        self.code = code;
        self
    }
    pub fn hint(mut self, h: impl Into<String>) -> Self {
        self.hints.push(h.into());
        self
    }
    pub fn hints(mut self, hs: Vec<String>) -> Self {
        self.hints.extend(hs);
        self
    }
    pub fn ctx(mut self, k: &str, v: Value) -> Self {
        self.context.insert(k.to_string(), v);
        self
    }
    pub fn layer(mut self, l: Layer) -> Self {
        self.layer = Some(l);
        self
    }
    pub fn disconnect(mut self, d: DisconnectReason) -> Self {
        self.disconnect = d;
        self
    }
}

/// Messages from inside russh's session task (Send) to the probe.
#[derive(Debug)]
enum Note {
    Tap(TapNote),
    HostKey {
        info: HostKeyInfo,
        decision: HostKeyDecision,
        start_ms: f64,
        end_ms: f64,
    },
    KexDone(Negotiated),
    ServerDisconnect {
        code: u32,
        description: String,
    },
}

struct ProbeHandler {
    notes: UnboundedSender<Note>,
    trusted: Vec<HostKeyInfo>,
    policy: HostKeyPolicy,
    env: Arc<dyn Env>,
    kex_reported: bool,
}

fn is_aead(cipher: &str) -> bool {
    cipher.contains("poly1305") || cipher.contains("-gcm")
}

impl client::Handler for ProbeHandler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let start_ms = self.env.monotonic_ms();
        let public = match key {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            russh::keys::PublicKeyOrCertificate::Certificate(cert) => {
                cert.public_key().clone().into()
            }
        };
        let info = HostKeyInfo::from_public_key(&public);
        let decision = decide(self.policy, &self.trusted, &info);
        let accept = decision.accept;
        let _ = self.notes.send(Note::HostKey {
            info,
            decision,
            start_ms,
            end_ms: self.env.monotonic_ms(),
        });
        Ok(accept)
    }

    async fn kex_done(
        &mut self,
        _shared_secret: Option<&[u8]>,
        names: &russh::Names,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        if self.kex_reported {
            return Ok(());
        }
        self.kex_reported = true;
        let cipher = names.cipher.as_ref().to_string();
        let aead = is_aead(&cipher);
        // Debug names are `None`, `Zlib`, `ZlibOpenSSH`; the wire names are lower case.
        let comp = |c: &russh::compression::Compression| format!("{c:?}").to_lowercase();
        let negotiated = Negotiated {
            kex: Some(names.kex.as_ref().to_string()),
            host_key: Some(names.key.as_str().to_string()),
            cipher_cs: Some(cipher.clone()),
            cipher_sc: Some(cipher),
            mac_cs: Some(if aead {
                "implicit".into()
            } else {
                names.client_mac.as_ref().to_string()
            }),
            mac_sc: Some(if aead {
                "implicit".into()
            } else {
                names.server_mac.as_ref().to_string()
            }),
            compression_cs: Some(comp(&names.client_compression)),
            compression_sc: Some(comp(&names.server_compression)),
            strict_kex: Some(names.strict_kex()),
            server_sig_algs: None,
        };
        let _ = self.notes.send(Note::KexDone(negotiated));
        Ok(())
    }

    async fn disconnected(
        &mut self,
        reason: client::DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        match reason {
            client::DisconnectReason::ReceivedDisconnect(info) => {
                let _ = self.notes.send(Note::ServerDisconnect {
                    code: info.reason_code as u32,
                    description: info.message,
                });
                Ok(())
            }
            client::DisconnectReason::Error(e) => Err(e),
        }
    }
}

/// Keeps the event stream: assigns `seq`, stamps time, hands each event to the caller's
/// callback the moment it is made.
struct Recorder {
    connection_id: String,
    env: Arc<dyn Env>,
    events: Vec<Event>,
    on_event: Box<dyn FnMut(&Event)>,
}

impl Recorder {
    fn emit(&mut self, level: Level, code: Code, data: EventData) {
        let event = Event {
            timestamp: timestamp_from_unix_ms(self.env.now_unix_ms()),
            connection_id: self.connection_id.clone(),
            seq: self.events.len() as u64,
            level,
            code: code.as_str().to_string(),
            data,
        };
        (self.on_event)(&event);
        self.events.push(event);
    }
}

/// Make a random connection id (10 hex digits, like the spec's example).
pub fn new_connection_id(env: &dyn Env) -> String {
    let mut b = [0u8; 5];
    env.random_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

struct Probe<'a> {
    opts: ProbeOptions,
    env: Arc<dyn Env>,
    rec: Recorder,
    trust: &'a mut dyn TrustStore,
    phases: BTreeMap<Phase, f64>,
    phase: Option<(Phase, f64)>,
    reached: Layer,
    keys: Vec<Option<Arc<PrivateKey>>>,
    lists: Option<AlgorithmLists>,
    // Evidence gathered on the way, for hints.
    server_software: Option<String>,
    banner_seen: bool,
    client_proposal: Option<Proposal>,
    server_proposal: Option<Proposal>,
    proposals_emitted: bool,
    negotiated: Option<Negotiated>,
    hostkey: Option<(HostKeyInfo, HostKeyDecision)>,
    server_disconnect: Option<(u32, String)>,
    methods_available: Option<Vec<String>>,
    methods_tried: Vec<String>,
    auth_method: Option<AuthMethod>,
    commands: Vec<CommandResult>,
    audit: Vec<AuditData>,
    // Supervisor state (STATE_CHANGE events only when retries or keepalives are on).
    supervised: bool,
    /// When the relay last answered a ping, and the target a keepalive (monotonic ms).
    last_relay_rtt_at: Option<f64>,
    last_target_rtt_at: Option<f64>,
    state: &'static str,
    reconnections: u32,
    tap: Option<TapHandle>,
    relay_closed: Option<ConnectStep>,
    later_steps: Option<tokio::sync::mpsc::UnboundedReceiver<ConnectStep>>,
    proxy: Option<String>,
    transport: Transport,
    handle: Option<client::Handle<ProbeHandler>>,
}

/// Run one diagnosis. Never fails: every outcome is in the report, ending with `VERDICT`.
pub async fn run<C: Connector>(
    opts: ProbeOptions,
    connector: &mut C,
    env: Arc<dyn Env>,
    trust: &mut dyn TrustStore,
    on_event: Box<dyn FnMut(&Event)>,
) -> ProbeReport {
    let connection_id = opts
        .connection_id
        .clone()
        .unwrap_or_else(|| new_connection_id(env.as_ref()));
    let started_unix_ms = env.now_unix_ms();
    let proxy = connector.proxy_url();
    let transport = if proxy.is_some() {
        Transport::Websocket
    } else {
        Transport::Tcp
    };
    let mut p = Probe {
        rec: Recorder {
            connection_id: connection_id.clone(),
            env: env.clone(),
            events: Vec::new(),
            on_event,
        },
        opts,
        env: env.clone(),
        trust,
        phases: BTreeMap::new(),
        phase: None,
        reached: Layer::Client,
        keys: Vec::new(),
        lists: None,
        server_software: None,
        banner_seen: false,
        client_proposal: None,
        server_proposal: None,
        proposals_emitted: false,
        negotiated: None,
        hostkey: None,
        server_disconnect: None,
        methods_available: None,
        methods_tried: Vec::new(),
        auth_method: None,
        commands: Vec::new(),
        audit: Vec::new(),
        supervised: false,
        last_relay_rtt_at: None,
        last_target_rtt_at: None,
        state: "disconnected",
        reconnections: 0,
        tap: None,
        relay_closed: None,
        later_steps: None,
        proxy: proxy.clone(),
        transport,
        handle: None,
    };
    p.rec.emit(
        Level::Info,
        Code::ConnectInitiating,
        EventData::Connect(ConnectData {
            status: Some(ConnectStatus::Initiating),
            host: p.opts.host.clone(),
            port: p.opts.port,
            username: Some(p.opts.username.clone()),
            transport: Some(transport),
            proxy: proxy.clone(),
            auth_method: None,
        }),
    );

    let timeout = p.opts.timeout_ms;
    let result = {
        p.supervised = p.opts.retry.is_some() || p.opts.keepalive.is_some();
        let steps = p.supervise(connector);
        let timer = match timeout {
            Some(ms) => env.sleep(ms),
            None => Box::pin(futures::future::pending::<()>()),
        };
        tokio::pin!(steps, timer);
        tokio::select! {
            biased;
            r = &mut steps => Some(r),
            _ = &mut timer => None,
        }
    };
    let result = match result {
        Some(r) => r,
        None => {
            let phase = p.phase.map(|(ph, _)| ph);
            let secs = timeout.unwrap_or(0) as f64 / 1000.0;
            let phase_name = phase.map(Phase::as_str).unwrap_or("start");
            Err(Failure::new(ErrorType::Timeout, format!("the diagnosis did not finish within {secs} s (it was in the {phase_name} phase)"))
                .hint(format!("The {phase_name} phase did not complete; raise the time limit if the server is just slow, or look at that phase's events."))
                .ctx("phase", json!(phase_name))
                .disconnect(DisconnectReason::Timeout))
        }
    };
    p.finish(result).await;
    let verdict = match p.rec.events.last().map(|e| &e.data) {
        Some(EventData::Verdict(v)) => v.clone(),
        _ => VerdictData::default(),
    };
    ProbeReport {
        connection_id,
        started_unix_ms,
        events: std::mem::take(&mut p.rec.events),
        verdict,
        commands: std::mem::take(&mut p.commands),
        proxy,
        audit: std::mem::take(&mut p.audit),
    }
}

impl Probe<'_> {
    fn now(&self) -> f64 {
        self.env.monotonic_ms()
    }

    fn start_phase(&mut self, phase: Phase) {
        self.end_phase();
        self.phase = Some((phase, self.now()));
    }

    fn end_phase(&mut self) {
        if let Some((ph, start)) = self.phase.take() {
            let d = (self.now() - start).max(0.0);
            *self.phases.entry(ph).or_insert(0.0) += round3(d);
        }
    }

    fn set_phase_ms(&mut self, phase: Phase, ms: f64) {
        self.phases.insert(phase, round3(ms));
    }

    fn fail_phase(&self) -> Option<Phase> {
        self.phase.map(|(p, _)| p)
    }

    /// Everything before the first byte: options that cannot work are reported without
    /// connecting (bad algorithm names, unreadable keys).
    fn precheck(&mut self) -> Result<(), Failure> {
        let lists = self.opts.algorithms.resolve().map_err(|m| {
            Failure::new(ErrorType::InvalidInput, m.clone())
                .hint("Fix the algorithm option; the message lists what sshdiag supports.")
        })?;
        lists
            .to_russh()
            .map_err(|m| Failure::new(ErrorType::InvalidInput, m))?;
        self.lists = Some(lists);
        if let AuthPlan::Credentials(creds) = &self.opts.auth {
            for c in creds {
                let key = match c {
                    Credential::PrivateKey {
                        key_text,
                        passphrase,
                        label,
                    } => {
                        let label = label.clone().unwrap_or_else(|| "the private key".into());
                        match russh::keys::decode_secret_key(
                            key_text.expose(),
                            passphrase.as_ref().map(|p| p.expose()),
                        ) {
                            Ok(k) => Some(Arc::new(k)),
                            Err(e) => {
                                // Whether the key is encrypted at all tells a wrong passphrase
                                // apart from a damaged file.
                                let encrypted = matches!(
                                    russh::keys::decode_secret_key(key_text.expose(), None),
                                    Err(russh::keys::Error::KeyIsEncrypted)
                                );
                                return Err(hints::key_load_failure(
                                    &label,
                                    &e,
                                    passphrase.is_some(),
                                    encrypted,
                                ));
                            }
                        }
                    }
                    Credential::Agent(AgentSource::Unavailable(why)) => {
                        return Err(Failure::new(ErrorType::AgentError, why.clone())
                            .hints(hints::agent_unavailable()));
                    }
                    _ => None,
                };
                self.keys.push(key);
            }
            if creds.is_empty() {
                return Err(Failure::new(ErrorType::InvalidInput, "no credential was given")
                    .hint("Give a password, a private key or keyboard-interactive answers, or use probe-only mode."));
            }
        }
        Ok(())
    }

    fn set_state(&mut self, to: &'static str, reason: Option<String>) {
        if !self.supervised || self.state == to {
            return;
        }
        let from = std::mem::replace(&mut self.state, to);
        self.rec.emit(
            if to == "failed" || to == "reconnecting" {
                Level::Warn
            } else {
                Level::Info
            },
            Code::StateChange,
            EventData::StateChange(StateChangeData {
                from_state: from.to_string(),
                to_state: to.to_string(),
                reconnection_count: self.reconnections,
                reason,
            }),
        );
    }

    /// The seed's supervisor: `disconnected → connecting → connected`, and on a transient
    /// failure `→ reconnecting` (with the reason) and after the backoff `→ connecting` again,
    /// so every attempt and every failure is one event, until the retries run out
    /// (`→ failed`).
    async fn supervise<C: Connector>(&mut self, connector: &mut C) -> Result<(), Failure> {
        self.set_state("connecting", None);
        loop {
            let failure = match self.steps(connector).await {
                Ok(()) => return Ok(()),
                Err(f) => f,
            };
            let Some(policy) = self.opts.retry else {
                return Err(failure);
            };
            if !is_transient(failure.error_type) || self.reconnections >= policy.max_retries {
                return Err(failure);
            }
            self.reconnections += 1;
            let reason = format!("{}: {}", failure.error_type, scrub(&failure.message));
            self.set_state("reconnecting", Some(reason));
            self.drop_connection().await;
            let mut b = [0u8; 2];
            self.env.random_bytes(&mut b);
            let unit = u16::from_le_bytes(b) as f64 / 65536.0;
            self.env
                .sleep(policy.delay_ms(self.reconnections, unit))
                .await;
            self.reset_for_retry();
            self.set_state("connecting", None);
        }
    }

    async fn drop_connection(&mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = handle
                .disconnect(Disconnect::ByApplication, "sshdiag retrying", "en")
                .await;
        }
        if let Some(tap) = self.tap.take() {
            tap.abort();
        }
    }

    /// Forget what the failed attempt learned; the events it produced stay in the stream.
    fn reset_for_retry(&mut self) {
        self.phases.clear();
        self.phase = None;
        self.reached = Layer::Client;
        self.server_software = None;
        self.banner_seen = false;
        self.client_proposal = None;
        self.server_proposal = None;
        self.proposals_emitted = false;
        self.negotiated = None;
        self.hostkey = None;
        self.server_disconnect = None;
        self.methods_available = None;
        self.methods_tried.clear();
        self.auth_method = None;
        self.commands.clear();
        self.audit.clear();
        self.relay_closed = None;
        self.later_steps = None;
    }

    /// One keepalive round trip on the SSH connection; counts misses and fails after too many.
    async fn keepalive_round(
        &mut self,
        handle: &client::Handle<ProbeHandler>,
        ka: KeepaliveConfig,
        missed: &mut u32,
    ) -> Result<(), Failure> {
        self.drain_later_steps();
        let t = self.now();
        let answered = {
            let ping = handle.send_ping();
            let timer = self.env.sleep(ka.interval_ms.max(1));
            tokio::pin!(ping, timer);
            tokio::select! {
                biased;
                r = &mut ping => Some(r),
                _ = &mut timer => None,
            }
        };
        match answered {
            // russh answers a ping on a dead session at once: check the session is alive.
            Some(Ok(())) if !handle.is_closed() => {
                *missed = 0;
                self.last_target_rtt_at = Some(self.now());
                self.rec.emit(
                    Level::Debug,
                    Code::KeepaliveOk,
                    EventData::Keepalive(KeepaliveData {
                        rtt_ms: Some(round3(self.now() - t)),
                        missed: 0,
                        path: Some("target".into()),
                    }),
                );
                Ok(())
            }
            Some(Ok(())) => Err(self.transport_failure(russh::Error::HUP)),
            Some(Err(e)) => Err(self.transport_failure(e)),
            None => {
                *missed += 1;
                self.rec.emit(
                    Level::Warn,
                    Code::KeepaliveMissed,
                    EventData::Keepalive(KeepaliveData {
                        rtt_ms: None,
                        missed: *missed,
                        path: Some("target".into()),
                    }),
                );
                if *missed >= ka.max_missed {
                    let secs = ka.interval_ms as f64 / 1000.0;
                    let via_relay = self.transport == Transport::Websocket;
                    let mut f = Failure::new(
                        ErrorType::KeepaliveTimeout,
                        format!("{missed} keepalives in a row got no answer (one every {secs} s)"),
                    )
                    .ctx("missed", json!(*missed))
                    .ctx("interval_ms", json!(ka.interval_ms))
                    .hints(hints::keepalive_timeout(
                        via_relay,
                        self.relay_answers_while_target_silent(),
                    ))
                    .disconnect(DisconnectReason::KeepaliveTimeout);
                    f.phase = self.fail_phase();
                    return Err(f);
                }
                Ok(())
            }
        }
    }

    /// Through a relay: did the relay keep answering pings after the server went quiet?
    /// `Some(true)`: the silence is behind the relay; `Some(false)`: the relay went quiet too;
    /// `None`: no relay pings to judge by.
    fn relay_answers_while_target_silent(&self) -> Option<bool> {
        let relay = self.last_relay_rtt_at?;
        Some(relay > self.last_target_rtt_at.unwrap_or(0.0) + 1.0)
    }

    /// Stay connected for `hold_ms`, with a keepalive round trip every interval.
    async fn hold(&mut self) -> Result<(), Failure> {
        let ka = self.opts.keepalive.unwrap_or(KeepaliveConfig {
            interval_ms: 15_000,
            max_missed: 3,
        });
        let Some(handle) = self.handle.take() else {
            return Err(Failure::new(ErrorType::Internal, "no session to hold"));
        };
        let end = self.now() + self.opts.hold_ms as f64;
        let mut missed = 0;
        let mut result = Ok(());
        while self.now() < end {
            let wait = (end - self.now()).max(0.0).min(ka.interval_ms as f64) as u64;
            self.env.sleep(wait).await;
            if self.now() >= end {
                break;
            }
            if let Err(f) = self.keepalive_round(&handle, ka, &mut missed).await {
                result = Err(f);
                break;
            }
        }
        self.handle = Some(handle);
        result
    }

    async fn steps<C: Connector>(&mut self, connector: &mut C) -> Result<(), Failure> {
        self.precheck()?;
        let stream = self.connect_transport(connector).await?;
        self.handshake(stream).await?;
        self.authenticate().await?;
        let commands = self.opts.commands.clone();
        for command in commands {
            self.exec(&command).await?;
        }
        if let Some((host, port)) = self.opts.forward_probe.clone() {
            self.forward_probe(&host, port).await?;
        }
        if self.opts.hold_ms > 0 {
            self.hold().await?;
        }
        Ok(())
    }

    async fn connect_transport<C: Connector>(
        &mut self,
        connector: &mut C,
    ) -> Result<C::Stream, Failure> {
        self.reached = if self.transport == Transport::Websocket {
            Layer::Relay
        } else {
            Layer::Dns
        };
        self.start_phase(if self.transport == Transport::Websocket {
            Phase::Relay
        } else {
            Phase::Dns
        });
        let (tx, mut rx) = unbounded_channel();
        let host = self.opts.host.clone();
        let port = self.opts.port;
        let cid = self.rec.connection_id.clone();
        let result = {
            let fut = connector.connect(&host, port, &cid, tx);
            let deadline = self.env.sleep(self.opts.connect_timeout_ms);
            tokio::pin!(fut, deadline);
            let mut progress_open = true;
            // A closed channel is always ready: the guards keep it from starving the others.
            loop {
                tokio::select! {
                    biased;
                    step = rx.recv(), if progress_open => match step {
                        Some(step) => self.on_connect_step(step),
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
        self.phase = None;
        match result {
            Some(Ok(c)) => {
                self.reached = Layer::Tcp;
                self.later_steps = c.later_steps;
                self.rec.emit(
                    Level::Info,
                    Code::ConnectEstablished,
                    EventData::Connect(ConnectData {
                        status: Some(ConnectStatus::Connected),
                        host: self.opts.host.clone(),
                        port: self.opts.port,
                        username: Some(self.opts.username.clone()),
                        transport: Some(c.transport),
                        proxy: self.proxy.clone(),
                        auth_method: None,
                    }),
                );
                Ok(c.stream)
            }
            Some(Err(f)) => Err(self.connect_failure(f)),
            None => {
                let secs = self.opts.connect_timeout_ms as f64 / 1000.0;
                let (et, msg) = if self.reached == Layer::Relay {
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
                Err(self.connect_failure(ConnectFailure::new(et, msg)))
            }
        }
    }

    fn on_connect_step(&mut self, step: ConnectStep) {
        if let ConnectStep::RelayRtt { ms } = step {
            self.last_relay_rtt_at = Some(self.now());
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
                self.set_phase_ms(Phase::Relay, *ms);
                self.reached = Layer::Dns;
                (
                    Code::ProxyWsOpen,
                    ProxyData {
                        status: Some(ProxyStatus::WsOpen),
                        ms: Some(*ms),
                        ..Default::default()
                    },
                )
            }
            ConnectStep::Resolved { addrs, ms } => {
                self.set_phase_ms(Phase::Dns, *ms);
                self.reached = Layer::Tcp;
                (
                    Code::ProxyResolved,
                    ProxyData {
                        status: Some(ProxyStatus::Resolved),
                        ms: Some(*ms),
                        addrs: Some(addrs.clone()),
                        ..Default::default()
                    },
                )
            }
            ConnectStep::TcpConnected { peer, ms } => {
                self.set_phase_ms(Phase::Tcp, *ms);
                (
                    Code::ProxyTcpConnected,
                    ProxyData {
                        status: Some(ProxyStatus::TcpConnected),
                        ms: Some(*ms),
                        peer: Some(peer.clone()),
                        ..Default::default()
                    },
                )
            }
            ConnectStep::Closed {
                by,
                reason,
                bytes_up,
                bytes_down,
            } => {
                self.relay_closed = Some(step.clone());
                (
                    Code::ProxyClosed,
                    ProxyData {
                        status: Some(ProxyStatus::Closed),
                        reason: Some(reason.clone()),
                        by: Some(by.clone()),
                        bytes_up: Some(*bytes_up),
                        bytes_down: Some(*bytes_down),
                        ..Default::default()
                    },
                )
            }
            ConnectStep::RelayRtt { .. } => return,
        };
        // Direct TCP has no relay: its DNS and TCP steps are kept as phases, and reported as
        // PROXY events only when a relay produced them.
        if self.transport == Transport::Websocket {
            self.rec.emit(Level::Info, code, EventData::Proxy(data));
        }
    }

    fn connect_failure(&mut self, f: ConnectFailure) -> Failure {
        if self.transport == Transport::Websocket && f.relay_code.is_some() {
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
                    reason: Some(f.message.clone()),
                    ..Default::default()
                }),
            );
        }
        let phase = match f.error_type.layer() {
            Layer::Relay => Phase::Relay,
            Layer::Dns => Phase::Dns,
            _ => Phase::Tcp,
        };
        let mut failure = Failure::new(f.error_type, f.message.clone()).code(f.code);
        failure.phase = Some(phase);
        if let Some(rc) = &f.relay_code {
            failure = failure.ctx("relay_code", json!(rc));
        }
        failure.hints =
            hints::connect_hints(&f, &self.opts.host, self.opts.port, self.proxy.as_deref());
        failure
    }

    async fn handshake<S>(&mut self, stream: S) -> Result<(), Failure>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        self.start_phase(Phase::Banner);
        self.reached = Layer::Banner;
        let (notes_tx, mut notes_rx) = unbounded_channel::<Note>();
        let (tap_tx, mut tap_rx) = unbounded_channel::<TapNote>();
        let (tap, tap_handle) = Tap::new(stream, tap_tx);
        self.tap = Some(tap_handle.clone());
        let lists = self
            .lists
            .clone()
            .ok_or_else(|| Failure::new(ErrorType::Internal, "algorithm lists missing"))?;
        let preferred = lists
            .to_russh()
            .map_err(|m| Failure::new(ErrorType::InvalidInput, m))?;
        let config = client::Config {
            client_id: russh::SshId::Standard(CLIENT_VERSION.into()),
            preferred,
            inactivity_timeout: None,
            keepalive_interval: None,
            nodelay: true,
            ..Default::default()
        };
        let handler = ProbeHandler {
            notes: notes_tx,
            trusted: self.trust.lookup(&self.opts.host, self.opts.port),
            policy: self.opts.host_key_policy,
            env: self.env.clone(),
            kex_reported: false,
        };
        let banner_start = self.now();
        let result = {
            let fut = client::connect_stream(Arc::new(config), tap, handler);
            let banner_deadline = self.env.sleep(self.opts.connect_timeout_ms);
            tokio::pin!(fut, banner_deadline);
            let (mut tap_open, mut notes_open, mut deadline_armed) = (true, true, true);
            // A closed channel is always ready: the guards keep it from starving the others.
            loop {
                tokio::select! {
                    biased;
                    n = tap_rx.recv(), if tap_open => match n {
                        Some(n) => {
                            if let Some(f) = self.on_note(Note::Tap(n), banner_start) {
                                tap_handle.abort();
                                return Err(f);
                            }
                        }
                        None => tap_open = false,
                    },
                    n = notes_rx.recv(), if notes_open => match n {
                        Some(n) => {
                            let _ = self.on_note(n, banner_start);
                        }
                        None => notes_open = false,
                    },
                    r = &mut fut => break Ok(r),
                    _ = &mut banner_deadline, if deadline_armed => {
                        deadline_armed = false;
                        if !self.banner_seen {
                            break Err(());
                        }
                    }
                }
            }
        };
        while let Ok(n) = tap_rx.try_recv() {
            if let Some(f) = self.on_note(Note::Tap(n), banner_start) {
                tap_handle.abort();
                return Err(f);
            }
        }
        while let Ok(n) = notes_rx.try_recv() {
            let _ = self.on_note(n, banner_start);
        }
        let handle = match result {
            Err(()) => {
                tap_handle.abort();
                let secs = self.opts.connect_timeout_ms as f64 / 1000.0;
                return Err(Failure::new(
                    ErrorType::BannerTimeout,
                    format!("TCP connected, but no SSH banner arrived within {secs} s"),
                )
                .hints(hints::banner_timeout(&self.opts.host, self.opts.port)));
            }
            Ok(Err(e)) => {
                tap_handle.abort();
                return Err(self.classify_handshake_error(e));
            }
            Ok(Ok(h)) => h,
        };
        self.end_phase();
        if let Some((info, d)) = &self.hostkey
            && d.remember
            && let Err(e) = self.trust.remember(&self.opts.host, self.opts.port, info)
        {
            log::warn!("could not store the host key: {e}");
        }
        // server-sig-algs arrives encrypted; russh tells which RSA hash it allows.
        self.handle = Some(handle);
        Ok(())
    }

    /// Turn a note into events. Returns a failure when the note ends the handshake (not SSH).
    fn on_note(&mut self, note: Note, banner_start: f64) -> Option<Failure> {
        match note {
            Note::Tap(TapNote::ServerBanner {
                line,
                pre_banner_lines,
            }) => {
                self.banner_seen = true;
                let software = line
                    .splitn(3, '-')
                    .nth(2)
                    .map(|s| s.split(' ').next().unwrap_or(s).to_string());
                self.server_software = software.clone();
                let duration = round3(self.now() - banner_start);
                self.end_phase();
                self.start_phase(Phase::Kex);
                self.reached = Layer::Kex;
                self.rec.emit(
                    Level::Info,
                    Code::VersionReceived,
                    EventData::Version(VersionData {
                        client_version: CLIENT_VERSION.to_string(),
                        server_version: line,
                        server_software: software,
                        pre_banner_lines,
                        duration_ms: Some(duration),
                    }),
                );
                None
            }
            Note::Tap(TapNote::NotSsh { first_line }) => {
                let shown: String = first_line.chars().take(200).collect();
                Some(
                    Failure::new(
                        ErrorType::NotSsh,
                        format!(
                            "the server answered, but not with SSH; its first line was: {shown:?}"
                        ),
                    )
                    .ctx("first_line", json!(shown))
                    .hints(hints::not_ssh(&shown, self.opts.port)),
                )
            }
            Note::Tap(TapNote::ClientKexinit(p)) => {
                self.client_proposal = Some(p);
                self.maybe_emit_proposals();
                None
            }
            Note::Tap(TapNote::ServerKexinit(p)) => {
                self.server_proposal = Some(p);
                self.maybe_emit_proposals();
                None
            }
            Note::HostKey {
                info,
                decision,
                start_ms,
                end_ms,
            } => {
                if let Some((Phase::Kex, s)) = self.phase {
                    *self.phases.entry(Phase::Kex).or_insert(0.0) +=
                        round3((start_ms - s).max(0.0));
                }
                self.phases
                    .insert(Phase::Hostkey, round3(end_ms - start_ms));
                self.phase = Some((Phase::Kex, end_ms));
                self.reached = Layer::Hostkey;
                let (level, code) = match decision.status {
                    HostkeyStatus::Trusted => (Level::Info, Code::HostkeyTrusted),
                    HostkeyStatus::AcceptedNew => (Level::Info, Code::HostkeyAcceptedNew),
                    HostkeyStatus::New => (Level::Error, Code::HostKeyUnknown),
                    HostkeyStatus::Mismatch => (Level::Error, Code::HostKeyMismatch),
                    HostkeyStatus::Unchecked => (Level::Warn, Code::HostkeyUnchecked),
                };
                self.rec.emit(
                    level,
                    code,
                    EventData::Hostkey(HostkeyData {
                        algorithm: info.algorithm.clone(),
                        fingerprint_sha256: info.fingerprint_sha256.clone(),
                        status: Some(decision.status),
                        expected_fingerprint: decision.expected_fingerprint.clone(),
                        policy: Some(self.opts.host_key_policy),
                    }),
                );
                self.hostkey = Some((info, decision));
                None
            }
            Note::KexDone(mut negotiated) => {
                let kex_ms = self.phase.map(|(_, s)| self.now() - s).unwrap_or(0.0);
                self.end_phase();
                if let Some(sp) = &self.server_proposal {
                    // The strict-kex marker in the server's proposal is the evidence.
                    if negotiated.strict_kex.is_none() {
                        negotiated.strict_kex =
                            Some(sp.kex.iter().any(|k| k == "kex-strict-s-v00@openssh.com"));
                    }
                }
                self.rec.emit(
                    Level::Info,
                    Code::KexNegotiated,
                    EventData::Kex(KexData {
                        status: Some(KexStatus::Negotiated),
                        negotiated: negotiated.clone(),
                        duration_ms: Some(round3(
                            kex_ms + self.phases.get(&Phase::Kex).copied().unwrap_or(0.0),
                        )),
                        ..Default::default()
                    }),
                );
                self.negotiated = Some(negotiated);
                None
            }
            Note::ServerDisconnect { code, description } => {
                self.server_disconnect = Some((code, description));
                None
            }
        }
    }

    fn maybe_emit_proposals(&mut self) {
        if self.proposals_emitted {
            return;
        }
        if let (Some(c), Some(s)) = (&self.client_proposal, &self.server_proposal) {
            self.proposals_emitted = true;
            let data = KexData {
                status: Some(KexStatus::Proposals),
                client_proposal: Some(c.clone()),
                server_proposal: Some(s.clone()),
                ..Default::default()
            };
            self.rec
                .emit(Level::Info, Code::KexProposals, EventData::Kex(data));
            let findings = crate::audit::audit(s);
            for f in &findings {
                let level = if f.grade == "broken" || f.grade == "weak" {
                    Level::Warn
                } else {
                    Level::Info
                };
                self.rec
                    .emit(level, Code::AuditFinding, EventData::Audit(f.clone()));
            }
            self.audit = findings;
        }
    }

    fn classify_handshake_error(&mut self, e: russh::Error) -> Failure {
        self.drain_later_steps();
        let phase = self.fail_phase();
        let mut f = match (&e, &self.hostkey) {
            (russh::Error::NoCommonAlgo { kind, ours, theirs }, _) => {
                let category = hints::category_name(kind);
                self.rec.emit(
                    Level::Error,
                    Code::NoMutualKex,
                    EventData::Kex(KexData {
                        status: Some(KexStatus::Failed),
                        category: Some(category.to_string()),
                        ..Default::default()
                    }),
                );
                Failure::new(
                    ErrorType::NoMutualKex,
                    format!("no common {} algorithm", hints::category_human(kind)),
                )
                .ctx("category", json!(category))
                .ctx("client_offer", json!(ours))
                .ctx("server_offer", json!(theirs))
                .hints(hints::no_mutual(kind, ours, theirs))
            }
            (_, Some((info, d))) if !d.accept => {
                if d.unknown {
                    Failure::new(
                        ErrorType::HostKeyUnknown,
                        format!(
                            "no host key is trusted for {}:{} and strict checking is on",
                            self.opts.host, self.opts.port
                        ),
                    )
                    .ctx("fingerprint_sha256", json!(info.fingerprint_sha256))
                    .hints(hints::host_key_unknown(&info.fingerprint_sha256))
                } else {
                    let expected = d.expected_fingerprint.clone().unwrap_or_default();
                    Failure::new(
                        ErrorType::HostKeyMismatch,
                        format!(
                            "the host key of {}:{} changed: trusted {expected}, presented {}",
                            self.opts.host, self.opts.port, info.fingerprint_sha256
                        ),
                    )
                    .ctx("expected_fingerprint", json!(expected))
                    .ctx("presented_fingerprint", json!(info.fingerprint_sha256))
                    .ctx("algorithm", json!(info.algorithm))
                    .hints(hints::host_key_mismatch(
                        &self.opts.host,
                        self.opts.port,
                        &expected,
                        &info.fingerprint_sha256,
                    ))
                }
            }
            _ if !self.banner_seen => Failure::new(
                ErrorType::Disconnected,
                "the server closed the connection before sending an SSH banner".to_string(),
            )
            .ctx("closed_by", json!(self.closed_by()))
            .ctx("phase", json!("banner"))
            .hints(hints::closed_before_banner()),
            _ => {
                if let Some((code, desc)) = self.server_disconnect.clone() {
                    Failure::new(ErrorType::KexFailed, format!("the server ended key exchange: {desc} (disconnect code {code})"))
                        .ctx("disconnect_code", json!(code))
                        .hints(vec![
                            "The server refused the key exchange; its log (journalctl -u ssh / /var/log/auth.log) says why.".into(),
                        ])
                } else {
                    let msg = scrub(&e.to_string());
                    Failure::new(ErrorType::KexFailed, format!("key exchange failed: {msg}"))
                        .ctx("closed_by", json!(self.closed_by()))
                        .hints(hints::kex_failed(&msg))
                }
            }
        };
        f.phase = phase;
        f
    }

    /// Read what the relay reported after the stream was handed over.
    fn drain_later_steps(&mut self) {
        let mut steps = Vec::new();
        if let Some(rx) = self.later_steps.as_mut() {
            while let Ok(step) = rx.try_recv() {
                steps.push(step);
            }
        }
        for step in steps {
            self.on_connect_step(step);
        }
    }

    fn closed_by(&self) -> &'static str {
        if self.server_disconnect.is_some() {
            "server"
        } else if let Some(ConnectStep::Closed { by, .. }) = &self.relay_closed {
            if by == "relay" { "relay" } else { "target" }
        } else {
            "peer"
        }
    }

    async fn authenticate(&mut self) -> Result<(), Failure> {
        self.start_phase(Phase::Auth);
        self.reached = Layer::Auth;
        let user = self.opts.username.clone();
        let Some(mut handle) = self.handle.take() else {
            return Err(Failure::new(
                ErrorType::Internal,
                "no session after key exchange",
            ));
        };
        let result = self.authenticate_with(&mut handle, &user).await;
        self.handle = Some(handle);
        self.end_phase();
        if result.is_ok() {
            self.set_state("connected", None);
        }
        result
    }

    fn auth_event(
        &mut self,
        status: AuthStatus,
        method: AuthMethod,
        duration: Option<f64>,
        key_fp: Option<String>,
        err: Option<(&str, String)>,
    ) {
        let (level, code) = match status {
            AuthStatus::Attempt => (Level::Debug, Code::AuthAttempt),
            AuthStatus::Success => (Level::Info, Code::AuthSuccess),
            AuthStatus::Partial => (Level::Info, Code::AuthPartial),
            AuthStatus::Failed if method == AuthMethod::None => {
                (Level::Info, Code::AuthMethodsListed)
            }
            AuthStatus::Failed => (Level::Warn, Code::AuthRejected),
        };
        let data = AuthData {
            status: Some(status),
            method: Some(method),
            username: Some(self.opts.username.clone()),
            duration_ms: duration.map(round3),
            methods_available: if status == AuthStatus::Attempt {
                None
            } else {
                self.methods_available.clone()
            },
            key_fingerprint: key_fp,
            error_type: err.as_ref().map(|(t, _)| t.to_string()),
            error_message: err.map(|(_, m)| m),
        };
        self.rec.emit(level, code, EventData::Auth(data));
    }

    fn record_result(&mut self, r: &AuthResult) -> Option<bool> {
        match r {
            AuthResult::Success => Some(true),
            AuthResult::Failure {
                remaining_methods,
                partial_success,
            } => {
                self.methods_available = Some(remaining_methods.iter().map(String::from).collect());
                if *partial_success { None } else { Some(false) }
            }
        }
    }

    async fn authenticate_with(
        &mut self,
        handle: &mut client::Handle<ProbeHandler>,
        user: &str,
    ) -> Result<(), Failure> {
        // `none` first, as OpenSSH does: it costs nothing and tells which methods can work.
        let t = self.now();
        self.auth_event(AuthStatus::Attempt, AuthMethod::None, None, None, None);
        let r = handle
            .authenticate_none(user)
            .await
            .map_err(|e| self.transport_failure(e))?;
        let ok = self.record_result(&r);
        let d = self.now() - t;
        if ok == Some(true) {
            self.auth_event(AuthStatus::Success, AuthMethod::None, Some(d), None, None);
            self.auth_method = Some(AuthMethod::None);
            return Ok(());
        }
        self.auth_event(AuthStatus::Failed, AuthMethod::None, Some(d), None, None);
        let creds = match &self.opts.auth {
            AuthPlan::Probe => return Ok(()),
            AuthPlan::Credentials(c) => c.clone(),
        };
        let mut partial = false;
        for (i, cred) in creds.iter().enumerate() {
            let t = self.now();
            let (method, key_fp, outcome) = match cred {
                Credential::Password(pw) => {
                    self.auth_event(AuthStatus::Attempt, AuthMethod::Password, None, None, None);
                    let r = handle
                        .authenticate_password(user, pw.expose())
                        .await
                        .map_err(|e| self.transport_failure(e))?;
                    (AuthMethod::Password, None, self.record_result(&r))
                }
                Credential::PrivateKey { .. } => {
                    let Some(Some(key)) = self.keys.get(i).cloned() else {
                        return Err(Failure::new(
                            ErrorType::Internal,
                            "a decoded key went missing",
                        ));
                    };
                    let fp = key
                        .public_key()
                        .fingerprint(russh::keys::HashAlg::Sha256)
                        .to_string();
                    self.auth_event(
                        AuthStatus::Attempt,
                        AuthMethod::PrivateKey,
                        None,
                        Some(fp.clone()),
                        None,
                    );
                    let hash = rsa_hash(handle, key.algorithm()).await;
                    let r = handle
                        .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key, hash))
                        .await
                        .map_err(|e| self.transport_failure(e))?;
                    (AuthMethod::PrivateKey, Some(fp), self.record_result(&r))
                }
                Credential::Agent(AgentSource::Unavailable(why)) => {
                    return Err(Failure::new(ErrorType::AgentError, why.clone()));
                }
                Credential::Agent(AgentSource::Connected(agent)) => {
                    let mut agent = agent.lock().await;
                    let identities = agent.request_identities().await.map_err(|e| {
                        Failure::new(
                            ErrorType::AgentError,
                            format!("the agent did not list its keys: {e}"),
                        )
                        .hints(hints::agent_unavailable())
                    })?;
                    let keys: Vec<russh::keys::PublicKey> = identities
                        .into_iter()
                        .filter_map(|id| match id {
                            russh::keys::agent::AgentIdentity::PublicKey { key, .. } => Some(key),
                            _ => None,
                        })
                        .collect();
                    let mut outcome = Some(false);
                    let mut last_fp = None;
                    if keys.is_empty() {
                        self.auth_event(
                            AuthStatus::Failed,
                            AuthMethod::SshAgent,
                            None,
                            None,
                            Some(("AgentError", "the agent holds no keys (ssh-add -l)".into())),
                        );
                    }
                    for key in keys {
                        let fp = key.fingerprint(russh::keys::HashAlg::Sha256).to_string();
                        self.auth_event(
                            AuthStatus::Attempt,
                            AuthMethod::SshAgent,
                            None,
                            Some(fp.clone()),
                            None,
                        );
                        let hash = rsa_hash(handle, key.algorithm()).await;
                        let r = handle
                            .authenticate_publickey_with(user, key, hash, &mut *agent)
                            .await
                            .map_err(|e| {
                                Failure::new(
                                    ErrorType::AgentError,
                                    format!("the agent could not sign: {e:?}"),
                                )
                                .hints(hints::agent_unavailable())
                            })?;
                        outcome = self.record_result(&r);
                        last_fp = Some(fp.clone());
                        if outcome != Some(false) {
                            break;
                        }
                        self.auth_event(
                            AuthStatus::Failed,
                            AuthMethod::SshAgent,
                            None,
                            Some(fp),
                            Some(("AuthFailed", format!("agent key not accepted for {user}"))),
                        );
                    }
                    if outcome == Some(false) {
                        // Each key's rejection is already reported above.
                        self.methods_tried
                            .push(AuthMethod::SshAgent.as_str().to_string());
                        continue;
                    }
                    (AuthMethod::SshAgent, last_fp, outcome)
                }
                Credential::KeyboardInteractive { answers } => {
                    self.auth_event(
                        AuthStatus::Attempt,
                        AuthMethod::KeyboardInteractive,
                        None,
                        None,
                        None,
                    );
                    let mut r = handle
                        .authenticate_keyboard_interactive_start(user, None::<String>)
                        .await
                        .map_err(|e| self.transport_failure(e))?;
                    let mut next = 0usize;
                    let mut rounds = 0;
                    let outcome = loop {
                        match r {
                            KeyboardInteractiveAuthResponse::Success => break Some(true),
                            KeyboardInteractiveAuthResponse::Failure {
                                remaining_methods,
                                partial_success,
                            } => {
                                self.methods_available =
                                    Some(remaining_methods.iter().map(String::from).collect());
                                break if partial_success { None } else { Some(false) };
                            }
                            KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                                rounds += 1;
                                if rounds > 8 {
                                    break Some(false);
                                }
                                let replies: Vec<String> = prompts
                                    .iter()
                                    .map(|_| {
                                        let a = answers
                                            .get(next)
                                            .map(|s| s.expose().to_string())
                                            .unwrap_or_default();
                                        next += 1;
                                        a
                                    })
                                    .collect();
                                r = handle
                                    .authenticate_keyboard_interactive_respond(replies)
                                    .await
                                    .map_err(|e| self.transport_failure(e))?;
                            }
                        }
                    };
                    (AuthMethod::KeyboardInteractive, None, outcome)
                }
            };
            self.methods_tried.push(method.as_str().to_string());
            let d = self.now() - t;
            match outcome {
                Some(true) => {
                    self.auth_event(AuthStatus::Success, method, Some(d), key_fp, None);
                    self.auth_method = Some(method);
                    return Ok(());
                }
                None => {
                    partial = true;
                    self.auth_event(AuthStatus::Partial, method, Some(d), key_fp, None);
                }
                Some(false) => {
                    let msg = hints::auth_rejected_message(method, user);
                    self.auth_event(
                        AuthStatus::Failed,
                        method,
                        Some(d),
                        key_fp,
                        Some(("AuthFailed", msg)),
                    );
                }
            }
        }
        let available = self.methods_available.clone().unwrap_or_default();
        Err(Failure::new(
            ErrorType::AuthFailed,
            format!(
                "the server rejected every method tried for user {user} ({})",
                self.methods_tried.join(", ")
            ),
        )
        .ctx("methods_tried", json!(self.methods_tried))
        .ctx("methods_available", json!(available))
        .ctx("partial_success", json!(partial))
        .hints(hints::auth_failed(
            &self.methods_tried,
            &available,
            user,
            partial,
        ))
        .disconnect(DisconnectReason::AuthFailure))
    }

    /// A russh error after key exchange: the connection went away.
    fn transport_failure(&mut self, e: russh::Error) -> Failure {
        self.drain_later_steps();
        let phase = self.fail_phase();
        let (code, desc) = self.server_disconnect.clone().unzip();
        let who = self.closed_by();
        let msg = match (&code, &desc) {
            (Some(c), Some(d)) => format!("the server disconnected (code {c}: {d})"),
            _ => format!("the connection was lost ({})", scrub(&e.to_string())),
        };
        let mut f = Failure::new(ErrorType::Disconnected, msg)
            .ctx("closed_by", json!(who))
            .ctx("phase", json!(phase.map(Phase::as_str)))
            .hints(hints::disconnected(who, phase))
            .disconnect(if code.is_some() {
                DisconnectReason::ServerDisconnect
            } else if who == "relay" {
                DisconnectReason::ProxyClosed
            } else {
                DisconnectReason::NetworkError
            });
        if let Some(c) = code {
            f = f.ctx("disconnect_code", json!(c));
        } else if self
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

    async fn exec(&mut self, command: &str) -> Result<(), Failure> {
        self.start_phase(Phase::Channel);
        self.reached = Layer::Channel;
        let Some(handle) = self.handle.take() else {
            return Err(Failure::new(
                ErrorType::Internal,
                "no session for the command",
            ));
        };
        let r = self.exec_on(&handle, command).await;
        self.handle = Some(handle);
        self.end_phase();
        r
    }

    async fn exec_on(
        &mut self,
        handle: &client::Handle<ProbeHandler>,
        command: &str,
    ) -> Result<(), Failure> {
        let mut channel = match handle.channel_open_session().await {
            Ok(c) => c,
            Err(russh::Error::ChannelOpenFailure(reason)) => {
                let (code, text) = hints::channel_failure(&reason);
                self.rec.emit(
                    Level::Error,
                    Code::ChannelOpenFailed,
                    EventData::Channel(ChannelData {
                        status: "failed".into(),
                        channel_type: "session".into(),
                        reason_code: Some(code),
                        reason: Some(text.clone()),
                    }),
                );
                return Err(Failure::new(
                    ErrorType::ChannelOpenFailed,
                    format!("the server refused a session channel: {text}"),
                )
                .ctx("reason_code", json!(code))
                .hints(hints::channel_open_failed(code))
                .disconnect(DisconnectReason::ProtocolError));
            }
            Err(e) => return Err(self.transport_failure(e)),
        };
        self.rec.emit(
            Level::Info,
            Code::ChannelOpened,
            EventData::Channel(ChannelData {
                status: "opened".into(),
                channel_type: "session".into(),
                ..Default::default()
            }),
        );
        self.start_phase(Phase::Exec);
        self.reached = Layer::Exec;
        let t = self.now();
        if let Err(e) = channel.exec(true, command).await {
            return Err(self.transport_failure(e));
        }
        let cap = self.opts.transcript_cap;
        let mut result = CommandResult {
            command: command.to_string(),
            ..Default::default()
        };
        let mut closed = false;
        let keepalive = self.opts.keepalive;
        let mut missed = 0;
        loop {
            // Keepalives run while the command is silent, as OpenSSH's ServerAliveInterval.
            let msg = match keepalive {
                Some(ka) => {
                    let tick = self.env.sleep(ka.interval_ms.max(1));
                    tokio::pin!(tick);
                    tokio::select! {
                        biased;
                        m = channel.wait() => m,
                        _ = &mut tick => {
                            self.keepalive_round(handle, ka, &mut missed).await?;
                            continue;
                        }
                    }
                }
                None => channel.wait().await,
            };
            let Some(msg) = msg else { break };
            match msg {
                ChannelMsg::Failure => {
                    return Err(Failure::new(
                        ErrorType::ExecFailed,
                        format!("the server refused to run {command:?}"),
                    )
                    .hints(hints::exec_failed())
                    .disconnect(DisconnectReason::ProtocolError));
                }
                ChannelMsg::Data { data } => {
                    result.stdout_len += data.len() as u64;
                    keep(&mut result.stdout, &data, cap, &mut result.truncated);
                }
                ChannelMsg::ExtendedData { data, .. } => {
                    result.stderr_len += data.len() as u64;
                    keep(&mut result.stderr, &data, cap, &mut result.truncated);
                }
                ChannelMsg::ExitStatus { exit_status } => {
                    result.exit_code = Some(exit_status as i64)
                }
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    result.exit_signal = Some(
                        format!("{signal_name:?}")
                            .trim_start_matches("Custom(")
                            .trim_end_matches(')')
                            .trim_matches('"')
                            .to_string(),
                    )
                }
                ChannelMsg::Close => {
                    closed = true;
                    break;
                }
                _ => {}
            }
        }
        let duration = round3(self.now() - t);
        if !closed && result.exit_code.is_none() && result.exit_signal.is_none() {
            self.commands.push(result);
            let mut f = self.transport_failure(russh::Error::HUP);
            f.message = format!("{} while {command:?} was running", f.message);
            return Err(f);
        }
        let level = if result.exit_code == Some(0) {
            Level::Info
        } else {
            Level::Warn
        };
        self.rec.emit(
            level,
            Code::ExecFinished,
            EventData::Exec(ExecData {
                command: command.to_string(),
                streaming: false,
                duration_ms: Some(duration),
                exit_code: result.exit_code,
                exit_signal: result.exit_signal.clone(),
                stdout_len: result.stdout_len,
                stderr_len: result.stderr_len,
            }),
        );
        self.commands.push(result);
        Ok(())
    }

    /// Ask the server to connect a `direct-tcpip` channel and report what it said.
    async fn forward_probe(&mut self, host: &str, port: u16) -> Result<(), Failure> {
        self.end_phase();
        self.reached = Layer::Forward;
        let Some(handle) = self.handle.take() else {
            return Err(Failure::new(
                ErrorType::Internal,
                "no session for the forward probe",
            ));
        };
        let data = |status, reason: Option<String>, duration_ms| ForwardData {
            status: Some(status),
            forward_type: "probe".into(),
            local_host: None,
            local_port: None,
            remote_host: host.to_string(),
            remote_port: port,
            duration_ms,
            reason,
        };
        self.rec.emit(
            Level::Info,
            Code::ForwardEstablishing,
            EventData::Forward(data(ForwardStatus::Establishing, None, None)),
        );
        let t = self.now();
        let r = handle
            .channel_open_direct_tcpip(host, port as u32, "127.0.0.1", 0)
            .await;
        let d = Some(round3(self.now() - t));
        let result = match r {
            Ok(channel) => {
                self.rec.emit(
                    Level::Info,
                    Code::ForwardEstablished,
                    EventData::Forward(data(ForwardStatus::Established, None, d)),
                );
                let _ = channel.close().await;
                self.rec.emit(
                    Level::Info,
                    Code::ForwardClosed,
                    EventData::Forward(data(ForwardStatus::Closed, None, None)),
                );
                Ok(())
            }
            Err(russh::Error::ChannelOpenFailure(reason)) => {
                let (code, text) = hints::channel_failure(&reason);
                self.rec.emit(
                    Level::Error,
                    Code::ForwardFailed,
                    EventData::Forward(data(ForwardStatus::Failed, Some(text.clone()), d)),
                );
                Err(Failure::new(
                    ErrorType::ForwardFailed,
                    format!("the server could not open a forward to {host}:{port}: {text}"),
                )
                .ctx("reason_code", json!(code))
                .ctx("target", json!(format!("{host}:{port}")))
                .hints(hints::forward_failed(code, host, port))
                .disconnect(DisconnectReason::Normal))
            }
            Err(e) => Err(self.transport_failure(e)),
        };
        self.handle = Some(handle);
        result
    }

    async fn finish(&mut self, result: Result<(), Failure>) {
        self.end_phase();
        let (bytes_sent, bytes_received) = self.tap.as_ref().map(|t| t.bytes()).unzip();
        let failure = result.err();
        if let Some(f) = &failure {
            let layer = f.layer.unwrap_or(match f.error_type.layer() {
                Layer::Any => self.reached,
                l => l,
            });
            let mut data = ErrorData {
                error_type: f.error_type.as_str().to_string(),
                message: scrub(&f.message),
                layer: Some(layer),
                hints: f.hints.clone(),
                host: Some(self.opts.host.clone()),
                port: Some(self.opts.port),
                phase: f.phase,
                context: f.context.clone(),
            };
            if let Some(sw) = &self.server_software {
                data.context.entry("server_software").or_insert(json!(sw));
            }
            self.rec.emit(Level::Error, f.code, EventData::Error(data));
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle
                .disconnect(Disconnect::ByApplication, "sshdiag finished", "en")
                .await;
        }
        if let Some(tap) = &self.tap {
            tap.abort();
        }
        self.drain_later_steps();
        match &failure {
            Some(f) => self.set_state(
                "failed",
                Some(format!("{}: {}", f.error_type, scrub(&f.message))),
            ),
            None => self.set_state("disconnected", None),
        }
        let reason = failure
            .as_ref()
            .map(|f| f.disconnect)
            .unwrap_or(DisconnectReason::Normal);
        let (dcode, ddesc) = self.server_disconnect.clone().unzip();
        self.rec.emit(
            if failure.is_some() {
                Level::Warn
            } else {
                Level::Info
            },
            if failure.is_some() {
                Code::DisconnectUnexpected
            } else {
                Code::DisconnectNormal
            },
            EventData::Disconnect(DisconnectData {
                reason,
                disconnect_code: dcode,
                description: ddesc,
                bytes_sent,
                bytes_received,
            }),
        );
        let verdict = match &failure {
            Some(f) => {
                let layer = f.layer.unwrap_or(match f.error_type.layer() {
                    Layer::Any => self.reached,
                    l => l,
                });
                VerdictData {
                    ok: false,
                    layer: Some(layer),
                    error_type: Some(f.error_type),
                    code: f.code.as_str().to_string(),
                    summary: hints::summary_failed(f, &self.opts.host, self.opts.port),
                    hints: f.hints.clone(),
                    phases: self.phases.clone(),
                }
            }
            None => VerdictData {
                ok: true,
                layer: Some(self.reached),
                error_type: None,
                code: Code::VerdictOk.as_str().to_string(),
                summary: self.summary_ok(),
                hints: self.ok_hints(),
                phases: self.phases.clone(),
            },
        };
        let code = if verdict.ok {
            Code::VerdictOk
        } else {
            Code::VerdictFailed
        };
        self.rec.emit(
            if verdict.ok {
                Level::Info
            } else {
                Level::Error
            },
            code,
            EventData::Verdict(verdict),
        );
    }

    fn summary_ok(&self) -> String {
        let target = format!("{}:{}", self.opts.host, self.opts.port);
        match (&self.opts.auth, self.auth_method) {
            (AuthPlan::Probe, None) => {
                let m = self.methods_available.clone().unwrap_or_default();
                format!(
                    "SSH to {target} works up to authentication; the server accepts for {}: {} (probe only, no secret sent).",
                    self.opts.username,
                    if m.is_empty() {
                        "no method".to_string()
                    } else {
                        m.join(", ")
                    }
                )
            }
            (_, method) => {
                let how = method.map(AuthMethod::as_str).unwrap_or("none");
                let mut s = format!(
                    "SSH to {target} works: authenticated as {} with {how}",
                    self.opts.username
                );
                if let Some(last) = self.commands.last() {
                    match (last.exit_code, &last.exit_signal) {
                        (Some(c), _) => s.push_str(&format!("; {:?} exited {c}", last.command)),
                        (None, Some(sig)) => {
                            s.push_str(&format!("; {:?} was killed by signal {sig}", last.command))
                        }
                        _ => {}
                    }
                }
                s.push('.');
                s
            }
        }
    }

    fn ok_hints(&self) -> Vec<String> {
        let mut h = Vec::new();
        if let Some(last) = self.commands.last()
            && let Some(c) = last.exit_code
            && c != 0
        {
            h.push(format!("The connection is fine; the command itself exited with status {c} (that is the command's answer, not an SSH failure)."));
        }
        if let Some((_, d)) = &self.hostkey
            && d.status == HostkeyStatus::Unchecked
        {
            h.push("Host key checking was off: this run cannot tell you are talking to the right server.".into());
        }
        h
    }
}

fn keep(buf: &mut Vec<u8>, data: &[u8], cap: usize, truncated: &mut bool) {
    let room = cap.saturating_sub(buf.len());
    if data.len() > room {
        *truncated = true;
    }
    buf.extend_from_slice(&data[..data.len().min(room)]);
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Library error texts can quote what they were given; pass them through the scrubber.
fn scrub(s: &str) -> String {
    let short: String = s.chars().take(500).collect();
    sshdiag_events::scrub_secrets(&short)
}

/// Failures worth a retry: the network or the server may come back. Never authentication,
/// host keys, keys, algorithms, policy or input: retrying those only repeats the answer.
fn is_transient(e: ErrorType) -> bool {
    matches!(
        e,
        ErrorType::ConnectionRefused
            | ErrorType::ConnectionTimeout
            | ErrorType::HostUnreachable
            | ErrorType::DnsFailure
            | ErrorType::BannerTimeout
            | ErrorType::Disconnected
            | ErrorType::KeepaliveTimeout
            | ErrorType::ProxyUnreachable
    )
}

/// The signature hash for a key: for RSA what the server's `server-sig-algs` prefers
/// (rsa-sha2-256 when it says nothing), for other keys none.
async fn rsa_hash(
    handle: &client::Handle<ProbeHandler>,
    algorithm: russh::keys::Algorithm,
) -> Option<russh::keys::HashAlg> {
    if !algorithm.is_rsa() {
        return None;
    }
    match handle.best_supported_rsa_hash().await {
        Ok(Some(h)) => h,
        _ => Some(russh::keys::HashAlg::Sha256),
    }
}
