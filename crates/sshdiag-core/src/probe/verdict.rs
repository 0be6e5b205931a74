//! The verdict: the end of every run. A failure becomes exactly one `ERROR` event, then the
//! session is closed (`STATE_CHANGE`, `DISCONNECT`), and the last event is always `VERDICT`,
//! naming the layer that failed (or the one reached) with a summary and hints drawn from the
//! evidence of the run.
//!
//! Library error texts in failure messages pass through [`scrub`] here before they reach an
//! event; nothing here is formatted from a secret.

use russh::{Disconnect, client};
use serde_json::json;
use sshdiag_events::codes::Phase;
use sshdiag_events::{
    AuthMethod, Code, DisconnectData, DisconnectReason, ErrorData, ErrorType, EventData,
    HostkeyStatus, Level, SupervisorState, VerdictData,
};

use super::attempt::Session;
use super::handshake::ProbeHandler;
use super::supervisor::{Supervisor, failure_reason};
use crate::failure::{Failure, scrub};
use crate::hints;
use crate::options::AuthPlan;
use crate::prebanner::Refusal;
use crate::server_log;

/// The failure of a run that did not finish within its time limit.
pub fn run_timeout(timeout_ms: Option<u64>, phase: Option<Phase>) -> Failure {
    let secs = timeout_ms.unwrap_or(0) as f64 / 1000.0;
    let phase_name = phase.map(Phase::as_str).unwrap_or("start");
    Failure::new(
        ErrorType::Timeout,
        format!("the diagnosis did not finish within {secs} s (it was in the {phase_name} phase)"),
    )
    .hint(format!("The {phase_name} phase did not complete; raise the time limit if the server is just slow, or look at that phase's events."))
    .ctx("phase", json!(phase_name))
    .disconnect(DisconnectReason::Timeout)
}

impl Session<'_> {
    /// Close the run: `ERROR` (on failure), the session's goodbye, `DISCONNECT`, `VERDICT`.
    pub async fn finish(
        &mut self,
        sup: &mut Supervisor,
        slot: &mut Option<client::Handle<ProbeHandler>>,
        result: Result<(), Failure>,
    ) {
        self.end_phase();
        let (bytes_sent, bytes_received) = self.at.tap.as_ref().map(|t| t.bytes()).unzip();
        let failure = result
            .err()
            .map(|f| self.locate_stall(f))
            .map(|f| self.where_to_look(f));
        if let Some(f) = &failure {
            self.error_event(f);
        }
        if let Some(handle) = slot.take() {
            let _ = handle
                .disconnect(Disconnect::ByApplication, "sshdiag finished", "en")
                .await;
        }
        if let Some(tap) = &self.at.tap {
            tap.abort();
        }
        self.drain_later_steps();
        match &failure {
            Some(f) => sup.set_state(self.rec, SupervisorState::Failed, Some(failure_reason(f))),
            None => sup.set_state(self.rec, SupervisorState::Disconnected, None),
        }
        let (dcode, ddesc) = self.at.server_disconnect.clone().unzip();
        let (level, code, reason) = match &failure {
            Some(f) => (Level::Warn, Code::DisconnectUnexpected, f.disconnect),
            None => (
                Level::Info,
                Code::DisconnectNormal,
                DisconnectReason::Normal,
            ),
        };
        self.rec.emit(
            level,
            code,
            EventData::Disconnect(DisconnectData {
                reason,
                disconnect_code: dcode,
                description: ddesc,
                bytes_sent,
                bytes_received,
            }),
        );
        let verdict = match &failure {
            Some(f) => self.verdict_failed(f),
            None => self.verdict_ok(),
        };
        let (level, code) = if verdict.ok {
            (Level::Info, Code::VerdictOk)
        } else {
            (Level::Error, Code::VerdictFailed)
        };
        self.rec.emit(level, code, EventData::Verdict(verdict));
    }

    fn error_event(&mut self, f: &Failure) {
        let mut data = ErrorData {
            error_type: f.error_type.as_str().to_string(),
            message: scrub(&f.message),
            layer: Some(f.failed_layer(self.at.reached)),
            hints: f.hints.clone(),
            host: Some(
                f.at_hop
                    .as_ref()
                    .map_or(&self.opts.host, |a| &a.host)
                    .clone(),
            ),
            port: Some(f.at_hop.as_ref().map_or(self.opts.port, |a| a.port)),
            phase: f.phase,
            methods_tried: f
                .context
                .get("methods_tried")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default(),
            context: f.context.clone(),
        };
        if let Some(sw) = &self.at.server_software {
            data.context.entry("server_software").or_insert(json!(sw));
        }
        self.rec.emit(Level::Error, f.code, EventData::Error(data));
    }

    fn verdict_failed(&self, f: &Failure) -> VerdictData {
        VerdictData {
            ok: false,
            layer: Some(f.failed_layer(self.at.reached)),
            error_type: Some(f.error_type),
            code: f.code.as_str().to_string(),
            summary: f
                .at_hop
                .as_ref()
                .map(|a| a.summary.clone())
                .or_else(|| f.summary.clone())
                .unwrap_or_else(|| {
                    hints::summary_failed(f.error_type, &f.message, &self.opts.host, self.opts.port)
                }),
            hints: f.hints.clone(),
            phases: self.all_phases(),
        }
    }

    /// This attempt's phases, with the jump hosts' added (through jump hosts).
    fn all_phases(&self) -> std::collections::BTreeMap<Phase, f64> {
        let mut phases = self.at.clock.phases.clone();
        for (phase, ms) in &self.rec.hop_phases {
            *phases.entry(*phase).or_insert(0.0) += ms;
        }
        phases
    }

    fn verdict_ok(&self) -> VerdictData {
        VerdictData {
            ok: true,
            layer: Some(self.at.reached),
            error_type: None,
            code: Code::VerdictOk.as_str().to_string(),
            summary: self.summary_ok(),
            hints: self.ok_hints(),
            phases: self.all_phases(),
        }
    }

    fn summary_ok(&self) -> String {
        let target = format!("{}:{}", self.opts.host, self.opts.port);
        let user = &self.opts.username;
        if let (AuthPlan::Probe, None) = (&self.opts.auth, self.at.auth_method) {
            let m = self.at.methods_available.clone().unwrap_or_default();
            let methods = if m.is_empty() {
                "no method".to_string()
            } else {
                m.join(", ")
            };
            return format!(
                "SSH to {target} works up to authentication; the server accepts for {user}: {methods} (probe only, no secret sent)."
            );
        }
        let how = self
            .at
            .auth_method
            .map(AuthMethod::as_str)
            .unwrap_or("none");
        let mut s = format!("SSH to {target} works: authenticated as {user} with {how}");
        if !self.opts.jump.is_empty() {
            let via: Vec<String> = (self.opts.jump.iter())
                .map(|j| format!("{}@{}:{}", j.username, j.host, j.port))
                .collect();
            s.push_str(&format!(", through {}", via.join(" then ")));
        }
        if let Some(last) = self.at.commands.last() {
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

    fn ok_hints(&self) -> Vec<String> {
        let mut h = Vec::new();
        if let Some(last) = self.at.commands.last()
            && let Some(c) = last.exit_code
            && c != 0
        {
            h.push(format!("The connection is fine; the command itself exited with status {c} (that is the command's answer, not an SSH failure)."));
        }
        if let Some((_, d)) = &self.at.hostkey
            && d.status == HostkeyStatus::Unchecked
        {
            h.push("Host key checking was off: this run cannot tell you are talking to the right server.".into());
        }
        h.extend(self.at.session_notes.iter().cloned());
        h.extend(self.rsa_note(false));
        h
    }
}

impl Session<'_> {
    /// A failure the server decided or saw gets the commands that find this attempt in sshd's
    /// log, by the source address and port the server saw, and what the line says. A jump
    /// host's own failure got them where it happened (`jump.rs`); the target behind jump
    /// hosts saw the last jump host connect, which this run finds by user and time.
    fn where_to_look(&self, mut f: Failure) -> Failure {
        if f.at_hop.is_some() {
            return f;
        }
        let hints = match self.opts.jump.len() {
            0 => self.log_hints(&f, None, None),
            total => {
                let last = &self.opts.jump[total - 1];
                let whose = format!(
                    "{}'s own address",
                    super::jump::hop_name(total - 1, total, &last.host, last.port)
                );
                let server = format!("the target {}:{}", self.opts.host, self.opts.port);
                self.log_hints(&f, Some(&server), Some(&whose))
            }
        };
        f.hints.extend(hints);
        f
    }

    /// The where-to-look hints for failure `f` of this session's server: by the source
    /// address this session saw (`seen_from: None`), or, when the server saw another
    /// machine connect (`seen_from` says whose address), by user and time. `server` names
    /// the server in a chain.
    pub(super) fn log_hints(
        &self,
        f: &Failure,
        server: Option<&str>,
        seen_from: Option<&str>,
    ) -> Vec<String> {
        let Some(since) = self.at.connected_unix_ms else {
            return Vec::new();
        };
        let refusal = f.context.get("refusal").and_then(|v| v.as_str());
        let lookup = server_log::LogLookup {
            code: f.code,
            phase: f.phase,
            source: if seen_from.is_some() {
                None
            } else {
                self.at.source.as_deref()
            },
            seen_from,
            server,
            via_relay: self.via_relay(),
            username: &self.opts.username,
            methods_tried: &self.at.methods_tried,
            server_said: self.at.server_disconnect.as_ref().map(|(_, d)| d.as_str()),
            refusal: [Refusal::MaxStartups, Refusal::Penalty, Refusal::AccessRule]
                .into_iter()
                .find(|r| Some(r.as_str()) == refusal),
            since_unix_ms: since,
            until_unix_ms: self.env.now_unix_ms(),
        };
        server_log::hints(&lookup)
    }

    /// A run that ran out of time names the last SSH message sent and the one awaited.
    fn locate_stall(&self, mut f: Failure) -> Failure {
        if f.error_type != ErrorType::Timeout {
            return f;
        }
        let Some(tap) = &self.at.tap else {
            return f;
        };
        let (sent, received, enc_out, enc_in) = tap.last_messages();
        let Some((sent, awaited, hint)) = crate::prebanner::stall(sent, received, enc_out, enc_in)
        else {
            return f;
        };
        f.message = format!("{}; last sent: {sent}; waiting for {awaited}", f.message);
        f.context.insert("last_sent".into(), json!(sent));
        f.context.insert("awaited".into(), json!(awaited));
        if let Some(h) = hint {
            f.hints.insert(0, h);
        }
        f
    }
}
