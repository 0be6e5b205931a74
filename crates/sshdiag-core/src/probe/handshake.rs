//! The handshake stage: russh's client over the tapped stream, from the banner through key
//! exchange and the host-key decision, to a session handle ready for authentication.
//!
//! Two sources of evidence meet here: the [`Tap`] reads the clear bytes (banner, both KEXINIT
//! proposals, which russh does not expose) and the russh [`ProbeHandler`] reports the host key
//! and the negotiated algorithms. Both arrive as notes on channels and become events in order.
//! The stage takes any stream, so the same code handshakes with a second server through a
//! channel of the first. It never sees a secret (authentication comes after).

use std::sync::Arc;

use russh::client;
use serde_json::json;
use sshdiag_events::bundle::software_from_banner;
use sshdiag_events::codes::Phase;
use sshdiag_events::{
    AuditData, Code, ErrorType, EventData, HostkeyData, HostkeyStatus, KexData, KexStatus, Layer,
    Level, Negotiated, VersionData,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::unbounded_channel;

use super::attempt::Session;
use super::recorder::round3;
use crate::failure::{Failure, scrub};
use crate::hints;
use crate::hostkey::{HostCertCheck, HostKeyDecision, HostKeyInfo, TrustStore};
use crate::options::CLIENT_VERSION;
use crate::prebanner::{self, Ending};
use crate::tap::{Tap, TapNote};

pub use super::handler::ProbeHandler;
pub(crate) use super::handler::{BoxedStream, Note};

/// Whether an audit finding is worth a warning.
fn audit_warns(finding: &AuditData) -> bool {
    finding.grade.needs_fix()
}

impl Session<'_> {
    /// Run the SSH handshake over `stream`: banner, key exchange, host key. The host key is
    /// checked against (and, when the policy says so, stored in) `trust`.
    pub async fn handshake<S>(
        &mut self,
        stream: S,
        trust: &mut dyn TrustStore,
    ) -> Result<client::Handle<ProbeHandler>, Failure>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.handshake_boxed(Box::new(stream), trust).await
    }

    /// [`Session::handshake`] over the boxed stream (one compiled handshake for all streams).
    async fn handshake_boxed(
        &mut self,
        stream: BoxedStream,
        trust: &mut dyn TrustStore,
    ) -> Result<client::Handle<ProbeHandler>, Failure> {
        self.start_phase(Phase::Banner);
        self.at.reached = Layer::Banner;
        let (notes_tx, mut notes_rx) = unbounded_channel::<Note>();
        let (tap_tx, mut tap_rx) = unbounded_channel::<TapNote>();
        let (tap, tap_handle) = Tap::new(stream, tap_tx);
        self.at.tap = Some(tap_handle.clone());
        let mut config = self.client_config()?;
        let (host, port) = (self.opts.host.clone(), self.opts.port);
        let trusted = trust.lookup(&host, port);
        self.at.trusted_keys = trusted.clone();
        // As OpenSSH (unless HostKeyAlgorithms was set outright), the types of the keys already
        // trusted go first, so the server shows a known key rather than a new type of key.
        let explicit = (self.opts.algorithms.host_key.as_deref())
            .is_some_and(|h| !h.trim_start().starts_with(['+', '-']));
        if !explicit {
            config.preferred.key =
                crate::algorithms::known_types_first(&config.preferred.key, &trusted).into();
        }
        let cas = trust.cert_authorities(&host, port);
        // Host certificates only when a CA is trusted for this host, as OpenSSH offers them.
        if !cas.is_empty() {
            config.preferred.host_key_certificates = config.preferred.key.clone();
        }
        let handler = ProbeHandler {
            notes: notes_tx,
            trusted,
            revoked: trust.revoked(&host, port),
            cas,
            trust_kind: trust.kind(),
            host,
            policy: self.opts.host_key_policy,
            env: self.env.clone(),
            kex_reported: false,
            taken: None,
        };
        let banner_start = self.now();
        let result = {
            let tap: BoxedStream = Box::new(tap);
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
                        if !self.at.banner_seen {
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
        // The handler keeps reporting after the handshake (a disconnect during authentication).
        self.at.notes = Some(notes_rx);
        if !matches!(result, Ok(Ok(_))) {
            self.emit_negotiated(None).await;
        }
        let handle = match result {
            Err(()) => {
                tap_handle.abort();
                let lines = tap_handle.pre_banner_lines();
                return Err(self.banner_timeout(lines));
            }
            Ok(Err(e)) => {
                tap_handle.abort();
                return Err(self.classify_handshake_error(e));
            }
            Ok(Ok(h)) => h,
        };
        self.emit_negotiated(Some(&handle)).await;
        self.end_phase();
        if let Some((info, d)) = &self.at.hostkey
            && d.remember
            && let Err(e) = trust.remember(&self.opts.host, self.opts.port, info)
        {
            log::warn!("could not store the host key: {e}");
        }
        Ok(handle)
    }

    pub(super) fn client_config(&self) -> Result<client::Config, Failure> {
        let lists = self
            .at
            .lists
            .as_ref()
            .ok_or_else(|| Failure::new(ErrorType::Internal, "algorithm lists missing"))?;
        let preferred = lists
            .to_russh()
            .map_err(|m| Failure::new(ErrorType::InvalidInput, m))?;
        Ok(client::Config {
            client_id: russh::SshId::Standard(CLIENT_VERSION.into()),
            preferred,
            inactivity_timeout: None,
            keepalive_interval: None,
            nodelay: true,
            ..Default::default()
        })
    }

    /// Turn a note into events. Returns a failure when the note ends the handshake (not SSH).
    pub(super) fn on_note(&mut self, note: Note, banner_start: f64) -> Option<Failure> {
        match note {
            Note::Tap(TapNote::ServerBanner {
                line,
                pre_banner_lines,
            }) => {
                self.at.banner_seen = true;
                if let Some(version) = prebanner::unsupported_version(&line) {
                    return Some(self.unsupported_version(&line, version));
                }
                let software = software_from_banner(&line);
                self.at.server_software = software.clone();
                let duration = round3(self.now() - banner_start);
                self.end_phase();
                self.start_phase(Phase::Kex);
                self.at.reached = Layer::Kex;
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
                self.at.client_proposal = Some(p);
                self.maybe_emit_proposals();
                None
            }
            Note::Tap(TapNote::ServerKexinit(p)) => {
                self.at.server_proposal = Some(p);
                self.maybe_emit_proposals();
                None
            }
            Note::HostKey {
                info,
                decision,
                start_ms,
                end_ms,
            } => {
                self.on_host_key(info, decision, start_ms, end_ms);
                None
            }
            Note::KexDone(negotiated) => {
                self.on_kex_done(negotiated);
                None
            }
            Note::ServerDisconnect { code, description } => {
                // The server's own words, which can quote what it was sent.
                self.at.server_disconnect = Some((code, scrub(&description)));
                None
            }
            Note::PasswordChangeRequest(prompt) => {
                self.at.password_change = Some(scrub(&prompt));
                None
            }
            Note::ChannelOpenFailure { code, description } => {
                self.at.channel_refusal = Some((code, scrub(&description)));
                None
            }
            Note::HostKeysAnnounced(keys) => {
                self.at.announced_keys = Some(keys);
                None
            }
        }
    }

    fn on_host_key(
        &mut self,
        info: HostKeyInfo,
        decision: HostKeyDecision,
        start_ms: f64,
        end_ms: f64,
    ) {
        let clock = &mut self.at.clock;
        if let Some((Phase::Kex, s)) = clock.current {
            clock.add(Phase::Kex, (start_ms - s).max(0.0));
        }
        clock.set(Phase::Hostkey, end_ms - start_ms);
        clock.current = Some((Phase::Kex, end_ms));
        self.at.reached = Layer::Hostkey;
        let (level, code) = match decision.status {
            _ if decision.revoked => (Level::Error, Code::HostKeyRevoked),
            HostkeyStatus::Mismatch if decision.certificate.is_some() => {
                (Level::Error, Code::HostCertificateRefused)
            }
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
        self.at.hostkey = Some((info, decision));
    }

    fn on_kex_done(&mut self, mut negotiated: Negotiated) {
        let kex_ms = self
            .at
            .clock
            .current
            .map(|(_, s)| self.now() - s)
            .unwrap_or(0.0);
        self.end_phase();
        if let Some(sp) = &self.at.server_proposal {
            // The strict-kex marker in the server's proposal is the evidence.
            if negotiated.strict_kex.is_none() {
                negotiated.strict_kex =
                    Some(sp.kex.iter().any(|k| k == "kex-strict-s-v00@openssh.com"));
            }
        }
        let before = self
            .at
            .clock
            .phases
            .get(&Phase::Kex)
            .copied()
            .unwrap_or(0.0);
        // The event waits for the server's EXT_INFO, which follows the key exchange.
        self.at.kex_pending_ms = Some(round3(kex_ms + before));
        self.at.negotiated = Some(negotiated);
    }

    /// The `KEX` negotiated event, with the server's `server-sig-algs` when it sends them:
    /// when it offered `ext-info-s`, or is OpenSSH 7.2 or later (which answers the client's
    /// `ext-info-c` without announcing it). Its EXT_INFO comes right after the key exchange;
    /// russh waits up to a second for it, so only for servers that send one.
    async fn emit_negotiated(&mut self, handle: Option<&client::Handle<ProbeHandler>>) {
        let Some(ms) = self.at.kex_pending_ms.take() else {
            return;
        };
        let announced = (self.at.server_proposal.as_ref())
            .is_some_and(|p| p.kex.iter().any(|k| k == "ext-info-s"));
        let openssh = (self.at.server_software.as_deref())
            .and_then(hints::openssh_version)
            .is_some_and(|v| v >= (7, 2));
        let offered = announced || openssh;
        if let (Some(h), true) = (handle, offered)
            && let Ok(Some(algs)) = h.server_sig_algs().await
            && let Some(n) = self.at.negotiated.as_mut()
        {
            n.server_sig_algs = Some(algs.iter().map(|a| a.as_str().to_string()).collect());
        }
        let negotiated = self.at.negotiated.clone().unwrap_or_default();
        self.rec.emit(
            Level::Info,
            Code::KexNegotiated,
            EventData::Kex(KexData {
                status: Some(KexStatus::Negotiated),
                negotiated,
                duration_ms: Some(ms),
                ..Default::default()
            }),
        );
    }

    fn maybe_emit_proposals(&mut self) {
        if self.at.proposals_emitted {
            return;
        }
        if let (Some(c), Some(s)) = (&self.at.client_proposal, &self.at.server_proposal) {
            self.at.proposals_emitted = true;
            let data = KexData {
                status: Some(KexStatus::Proposals),
                client_proposal: Some(c.clone()),
                server_proposal: Some(s.clone()),
                ..Default::default()
            };
            let findings = crate::audit::audit(s, self.at.server_software.as_deref());
            self.rec
                .emit(Level::Info, Code::KexProposals, EventData::Kex(data));
            for f in &findings {
                let level = if audit_warns(f) {
                    Level::Warn
                } else {
                    Level::Info
                };
                self.rec
                    .emit(level, Code::AuditFinding, EventData::Audit(f.clone()));
            }
            self.at.audit = findings;
        }
    }

    fn classify_handshake_error(&mut self, e: russh::Error) -> Failure {
        self.drain_later_steps();
        let phase = self.fail_phase();
        let mut f = match (&e, &self.at.hostkey) {
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
            (_, Some((info, d))) if !d.accept => self.host_key_refused(info, d),
            _ if !self.at.banner_seen => self.before_banner(&e),
            _ => self.kex_failed(&e),
        };
        f.phase = phase;
        f
    }

    fn host_key_refused(&self, info: &HostKeyInfo, d: &HostKeyDecision) -> Failure {
        let (host, port) = (&self.opts.host, self.opts.port);
        if d.revoked || d.certificate.is_some() {
            return self.host_key_marked(info, d);
        }
        if d.other_type {
            return self.host_key_type_changed(info);
        }
        if d.unknown {
            return Failure::new(
                ErrorType::HostKeyUnknown,
                format!("no host key is trusted for {host}:{port} and strict checking is on"),
            )
            .ctx("fingerprint_sha256", json!(info.fingerprint_sha256))
            .hints(hints::host_key_unknown(&info.fingerprint_sha256));
        }
        let expected = d.expected_fingerprint.clone().unwrap_or_default();
        let presented = &info.fingerprint_sha256;
        Failure::new(
            ErrorType::HostKeyMismatch,
            format!(
                "the host key of {host}:{port} changed: trusted {expected}, presented {presented}"
            ),
        )
        .ctx("expected_fingerprint", json!(expected))
        .ctx("presented_fingerprint", json!(presented))
        .ctx("algorithm", json!(info.algorithm))
        .hints(hints::host_key_mismatch(host, port, &expected, presented))
    }

    /// A key on an `@revoked` line, or a host certificate that failed its check.
    fn host_key_marked(&self, info: &HostKeyInfo, d: &HostKeyDecision) -> Failure {
        let (host, port) = (&self.opts.host, self.opts.port);
        let fp = &info.fingerprint_sha256;
        let kind = d.trust;
        let (message, hint, code) = match &d.certificate {
            Some(check @ HostCertCheck::CaRevoked { .. }) => (
                format!("the host certificate of {host}:{port} was refused under every policy: {}", check.explain(kind)),
                hints::host_ca_revoked(kind),
                Code::HostKeyRevoked,
            ),
            Some(check) if !d.revoked => (
                format!("the host certificate of {host}:{port} was refused: {}", check.explain(kind)),
                hints::host_certificate_refused(kind),
                Code::HostCertificateRefused,
            ),
            _ => (
                format!("the host key of {host}:{port} ({fp}) is {}; it is refused under every policy", kind.revoked_where()),
                "A revoked key means the server's key was compromised or retired: the server must get a new host key. Remove the @revoked line only if it was added by mistake.".to_string(),
                Code::HostKeyRevoked,
            ),
        };
        let mut f = Failure::new(ErrorType::HostKeyMismatch, message)
            .ctx("presented_fingerprint", json!(fp))
            .ctx("algorithm", json!(info.algorithm))
            .hint(hint);
        f.code = code;
        f
    }

    fn kex_failed(&self, e: &russh::Error) -> Failure {
        if let Some((code, desc)) = &self.at.server_disconnect {
            return Failure::new(
                ErrorType::KexFailed,
                format!("the server ended key exchange: {desc} (disconnect code {code})"),
            )
            .ctx("disconnect_code", json!(code))
            .hints(vec![
                "The server refused the key exchange; its log (journalctl -u ssh / /var/log/auth.log) says why.".into(),
            ]);
        }
        let msg = scrub(&e.to_string());
        Failure::new(ErrorType::KexFailed, format!("key exchange failed: {msg}"))
            .ctx("closed_by", json!(self.closed_by().as_str()))
            .hints(hints::kex_failed(&msg))
    }

    /// The connection ended before any banner: say how, and what the server said.
    fn before_banner(&self, e: &russh::Error) -> Failure {
        let lines = self
            .at
            .tap
            .as_ref()
            .map(|t| t.pre_banner_lines())
            .unwrap_or_default();
        let reset = matches!(e, russh::Error::IO(io) if matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
        ));
        // Through the relay the stream just ends; the relay's `closed` frame says how.
        let relay_saw_reset = matches!(
            &self.at.relay_closed,
            Some(crate::transport::ConnectStep::Closed { by, reason, .. })
                if by == "target" && reason.to_ascii_lowercase().contains("reset")
        );
        let reset = reset || relay_saw_reset;
        let ending = if reset {
            Ending::Reset
        } else if matches!(e, russh::Error::Version) && !lines.is_empty() {
            // More lines than any greeting: russh gave up on them.
            Ending::Drip
        } else {
            Ending::Closed
        };
        let (et, closed_by) = match ending {
            Ending::Reset => (ErrorType::Disconnected, "network"),
            // sshdiag gave up on the lines: the server did not hang up.
            Ending::Drip => (ErrorType::NotSsh, "client"),
            _ => (ErrorType::Disconnected, self.closed_by().as_str()),
        };
        self.pre_banner_failure(et, ending, lines)
            .ctx("closed_by", json!(closed_by))
            .ctx("phase", json!("banner"))
    }

    fn banner_timeout(&self, lines: Vec<String>) -> Failure {
        let ending = if lines.is_empty() {
            Ending::Silent
        } else {
            Ending::Drip
        };
        let secs = self.opts.connect_timeout_ms as f64 / 1000.0;
        let mut f = self.pre_banner_failure(ErrorType::BannerTimeout, ending, lines);
        f.message = format!("{} (waited {secs} s)", f.message);
        f
    }

    fn pre_banner_failure(&self, et: ErrorType, ending: Ending, lines: Vec<String>) -> Failure {
        let (host, port) = (self.opts.host.as_str(), self.opts.port);
        let refusal = prebanner::interpret(&lines);
        let code = match (refusal, ending) {
            (Some(_), _) => Code::RefusedBeforeBanner,
            (None, Ending::Reset) => Code::ResetBeforeBanner,
            (None, Ending::Closed) => Code::ClosedBeforeBanner,
            (None, Ending::Drip) => Code::BannerTarpit,
            (None, Ending::Silent) => et.code(),
        };
        let mut f = Failure::new(et, scrub(&prebanner::message(ending, &lines)))
            .code(code)
            .layer(Layer::Banner)
            .summary(prebanner::summary(ending, &lines, host, port))
            .hints(prebanner::hints(ending, &lines, host, port))
            .ctx("ending", json!(ending.as_str()));
        if let Some(r) = refusal {
            f = f.ctx("refusal", json!(r.as_str()));
        }
        if !lines.is_empty() {
            let shown: Vec<String> = lines.iter().map(|l| scrub(l)).collect();
            f = f.ctx("pre_banner_lines", json!(shown));
        }
        f
    }

    fn unsupported_version(&self, line: &str, version: &str) -> Failure {
        let (host, port) = (&self.opts.host, self.opts.port);
        let shown: String = line.chars().take(200).collect();
        Failure::new(
            ErrorType::NotSsh,
            format!("the server speaks SSH protocol {version}, not 2.0; its banner: {shown:?}"),
        )
        .code(Code::ProtocolVersionUnsupported)
        .layer(Layer::Banner)
        .ctx("server_version", json!(shown))
        .ctx("protocol_version", json!(version))
        .summary(format!(
            "{host}:{port} is an SSH server, but only for protocol version {version} (SSH-1), which no current client speaks."
        ))
        .hint(format!(
            "The server's banner {shown:?} announces SSH protocol {version}: SSH-1 is broken and was removed from OpenSSH (7.6). Upgrade the server (or enable Protocol 2 on it); no client option brings SSH-1 back in sshdiag."
        ))
        .hint("Confirm: nc to the port prints the same SSH-1.x line; a server that speaks both says SSH-1.99.")
    }

    /// Read what the handler reported after the handshake (a disconnect during auth).
    pub fn drain_notes(&mut self) {
        for n in super::attempt::drained(&mut self.at.notes) {
            let _ = self.on_note(n, 0.0);
        }
    }
}
