//! What a stage works with: the [`Session`] context, and the per-attempt evidence
//! ([`Attempt`]) that a retry replaces whole.
//!
//! A `Session` is one SSH session being diagnosed: its options (target, user, credentials),
//! the recorder its events go to, the facts of the link it runs over, and the evidence of the
//! current attempt. The stages (connect, handshake, auth, channel) are methods on it and take
//! the russh session handle as an argument, so a second SSH session carried inside the first
//! (a jump host's `direct-tcpip` channel) gets its own `Session` over the same recorder and
//! runs the same stages. Nothing here is global to a run; nothing here ever holds a secret
//! outside [`Secret`](crate::options::Secret).

use std::sync::Arc;

use russh::keys::PrivateKey;
use sshdiag_events::bundle::TranscriptEntry;
use sshdiag_events::codes::Phase;
use sshdiag_events::{AuditData, AuthMethod, Layer, Negotiated, Proposal, Transport};
use tokio::sync::mpsc::UnboundedReceiver;

use super::recorder::{PhaseClock, Recorder};
use crate::algorithms::AlgorithmLists;
use crate::hostkey::{HostKeyDecision, HostKeyInfo};
use crate::options::ProbeOptions;
use crate::runtime::Env;
use crate::tap::TapHandle;
use crate::transport::ConnectStep;

/// The evidence one attempt gathers, for the events, the hints and the verdict. A retry
/// starts from a fresh `Attempt`; the events the failed one produced stay in the stream.
pub struct Attempt {
    pub clock: PhaseClock,
    /// The deepest layer reached so far.
    pub reached: Layer,
    /// What the runner's precheck made of the options: algorithm lists, decoded keys (one
    /// slot per credential, `None` for credentials that are not keys).
    pub lists: Option<AlgorithmLists>,
    pub keys: Vec<Option<Arc<PrivateKey>>>,
    pub server_software: Option<String>,
    pub banner_seen: bool,
    pub client_proposal: Option<Proposal>,
    pub server_proposal: Option<Proposal>,
    pub proposals_emitted: bool,
    pub negotiated: Option<Negotiated>,
    /// The key exchange's duration while its `KEX` event waits for `server-sig-algs`.
    pub kex_pending_ms: Option<f64>,
    pub hostkey: Option<(HostKeyInfo, HostKeyDecision)>,
    /// The keys the trust store held for this host and port when the handshake began.
    pub trusted_keys: Vec<HostKeyInfo>,
    /// The host keys the server announced after login (`hostkeys-00@openssh.com`).
    pub announced_keys: Option<Vec<russh::keys::PublicKey>>,
    /// The server's SSH_MSG_DISCONNECT: reason code and description.
    pub server_disconnect: Option<(u32, String)>,
    /// The prompt of the server's SSH_MSG_USERAUTH_PASSWD_CHANGEREQ, when it sent one.
    pub password_change: Option<String>,
    /// The server's last channel refusal: reason code and its own words.
    pub channel_refusal: Option<(u32, String)>,
    /// The handshake's notes, still read after it (the server's disconnect during auth).
    pub(crate) notes: Option<tokio::sync::mpsc::UnboundedReceiver<super::handshake::Note>>,
    /// The fingerprints of the keys offered during authentication, in order.
    pub keys_offered: Vec<String>,
    /// How the last RSA key was offered (`rsa-sha2-512`, `rsa-sha2-256`, `ssh-rsa`).
    pub rsa_offered_as: Option<String>,
    pub methods_available: Option<Vec<String>>,
    pub methods_tried: Vec<String>,
    pub auth_method: Option<AuthMethod>,
    pub commands: Vec<TranscriptEntry>,
    /// What the session check noticed that does not fail the run (no sftp, SFTP-only).
    pub session_notes: Vec<String>,
    pub audit: Vec<AuditData>,
    /// The byte watcher on this attempt's stream.
    pub tap: Option<TapHandle>,
    /// The relay's `closed` report, when it came.
    pub relay_closed: Option<ConnectStep>,
    /// What the relay reports after the stream was handed over.
    pub later_steps: Option<UnboundedReceiver<ConnectStep>>,
    /// The source address and port the server sees (`ADDR:PORT`: ours, or the relay's), when
    /// the connector could tell.
    pub source: Option<String>,
    /// When TCP to the server came up (Unix ms): where the server's log lines start.
    pub connected_unix_ms: Option<f64>,
}

impl Default for Attempt {
    fn default() -> Self {
        Attempt {
            clock: PhaseClock::default(),
            reached: Layer::Client,
            lists: None,
            keys: Vec::new(),
            server_software: None,
            banner_seen: false,
            client_proposal: None,
            server_proposal: None,
            proposals_emitted: false,
            negotiated: None,
            kex_pending_ms: None,
            hostkey: None,
            trusted_keys: Vec::new(),
            announced_keys: None,
            server_disconnect: None,
            channel_refusal: None,
            password_change: None,
            notes: None,
            keys_offered: Vec::new(),
            rsa_offered_as: None,
            methods_available: None,
            methods_tried: Vec::new(),
            auth_method: None,
            commands: Vec::new(),
            session_notes: Vec::new(),
            audit: Vec::new(),
            tap: None,
            relay_closed: None,
            later_steps: None,
            source: None,
            connected_unix_ms: None,
        }
    }
}

/// Everything `rx` holds right now (nothing when there is no receiver), without waiting.
pub(crate) fn drained<T>(rx: &mut Option<UnboundedReceiver<T>>) -> Vec<T> {
    let mut items = Vec::new();
    if let Some(rx) = rx.as_mut() {
        while let Ok(item) = rx.try_recv() {
            items.push(item);
        }
    }
    items
}

/// Facts of the link a session runs over that outlive an attempt.
#[derive(Debug, Clone)]
pub struct Link {
    pub transport: Transport,
    /// The relay URL, without credentials.
    pub proxy: Option<String>,
    /// When the relay last answered a ping, and the target a keepalive (monotonic ms).
    pub last_relay_rtt_at: Option<f64>,
    pub last_target_rtt_at: Option<f64>,
}

impl Link {
    /// A fresh link through the relay at `proxy` (a WebSocket), or over plain TCP when `None`.
    pub fn new(proxy: Option<String>) -> Link {
        let transport = if proxy.is_some() {
            Transport::Websocket
        } else {
            Transport::Tcp
        };
        Link {
            transport,
            proxy,
            last_relay_rtt_at: None,
            last_target_rtt_at: None,
        }
    }
}

/// Who ended a connection that went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedBy {
    /// The server sent SSH_MSG_DISCONNECT.
    Server,
    /// The relay closed the relayed connection itself.
    Relay,
    /// The relay saw the target close it.
    Target,
    /// The stream ended without either saying why.
    Peer,
}

impl ClosedBy {
    /// The name used in `closed_by` contexts and hints.
    pub fn as_str(self) -> &'static str {
        match self {
            ClosedBy::Server => "server",
            ClosedBy::Relay => "relay",
            ClosedBy::Target => "target",
            ClosedBy::Peer => "peer",
        }
    }
}

/// One SSH session being diagnosed; the stages are its methods.
pub struct Session<'a> {
    pub opts: &'a ProbeOptions,
    pub env: Arc<dyn Env>,
    pub rec: &'a mut Recorder,
    pub link: &'a mut Link,
    pub at: Attempt,
}

impl<'a> Session<'a> {
    /// A session with options `opts` recording into `rec`, over `link`, before its first
    /// attempt.
    pub fn new(
        opts: &'a ProbeOptions,
        env: Arc<dyn Env>,
        rec: &'a mut Recorder,
        link: &'a mut Link,
    ) -> Session<'a> {
        Session {
            opts,
            env,
            rec,
            link,
            at: Default::default(),
        }
    }

    pub fn now(&self) -> f64 {
        self.env.monotonic_ms()
    }

    pub fn start_phase(&mut self, phase: Phase) {
        let now = self.now();
        self.at.clock.start(phase, now);
    }

    pub fn end_phase(&mut self) {
        let now = self.now();
        self.at.clock.end(now);
    }

    /// The phase a failure now would be reported in.
    pub fn fail_phase(&self) -> Option<Phase> {
        self.at.clock.running()
    }

    /// Who closed the connection, by the evidence of this attempt.
    pub fn closed_by(&self) -> ClosedBy {
        if self.at.server_disconnect.is_some() {
            ClosedBy::Server
        } else if let Some(ConnectStep::Closed { by, .. }) = &self.at.relay_closed {
            if by == "relay" {
                ClosedBy::Relay
            } else {
                ClosedBy::Target
            }
        } else {
            ClosedBy::Peer
        }
    }
}
