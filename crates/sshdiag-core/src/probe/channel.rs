//! Channel work on an authenticated session: run a command on a `session` channel (its output
//! becomes a transcript entry, its end an `EXEC` event) and the forward probe (a
//! `direct-tcpip` channel opened and closed at once, to learn whether the server forwards).
//!
//! The session handle is an argument, so the same work runs on a second session. Output is
//! kept up to the transcript cap; it never goes into an event (only its lengths do).

use russh::client;
use russh::{ChannelMsg, Sig};
use serde_json::json;
use sshdiag_events::bundle::TranscriptEntry;
use sshdiag_events::codes::Phase;
use sshdiag_events::{
    ChannelData, ChannelStatus, Code, DisconnectReason, ErrorType, EventData, ExecData,
    ForwardData, ForwardStatus, Layer, Level,
};

use super::attempt::Session;
use super::handshake::ProbeHandler;
use super::recorder::round3;
use crate::failure::Failure;
use crate::hints;

type Handle = client::Handle<ProbeHandler>;

/// How long a channel refusal waits for the server's words to come through the handler.
const REFUSAL_WORDS_WAIT_MS: u64 = 500;

/// What a command wrote and how it ended, gathered while it runs.
#[derive(Default)]
struct Output {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    stdout_len: u64,
    stderr_len: u64,
    truncated: bool,
    exit_code: Option<i64>,
    exit_signal: Option<String>,
}

impl Output {
    fn into_entry(self, command: &str) -> TranscriptEntry {
        TranscriptEntry::new(
            command,
            self.exit_code,
            self.exit_signal,
            &self.stdout,
            &self.stderr,
            self.stdout_len,
            self.stderr_len,
            self.truncated,
        )
    }
}

fn keep(buf: &mut Vec<u8>, data: &[u8], cap: usize, truncated: &mut bool) {
    let room = cap.saturating_sub(buf.len());
    if data.len() > room {
        *truncated = true;
    }
    buf.extend_from_slice(&data[..data.len().min(room)]);
}

/// The signal's name as the server sent it, without the `SIG` prefix (RFC 4254 6.10).
fn signal_name(sig: &Sig) -> String {
    let name = match sig {
        Sig::ABRT => "ABRT",
        Sig::ALRM => "ALRM",
        Sig::FPE => "FPE",
        Sig::HUP => "HUP",
        Sig::ILL => "ILL",
        Sig::INT => "INT",
        Sig::KILL => "KILL",
        Sig::PIPE => "PIPE",
        Sig::QUIT => "QUIT",
        Sig::SEGV => "SEGV",
        Sig::TERM => "TERM",
        Sig::USR1 => "USR1",
        Sig::Custom(name) => name,
    };
    name.to_string()
}

impl Session<'_> {
    /// Run `command` on a new session channel; its transcript entry goes to the attempt.
    pub async fn exec(&mut self, handle: &Handle, command: &str) -> Result<(), Failure> {
        self.start_phase(Phase::Channel);
        self.at.reached = Layer::Channel;
        let r = self.exec_on(handle, command).await;
        self.end_phase();
        r
    }

    fn channel_event(&mut self, level: Level, code: Code, data: ChannelData) {
        self.rec.emit(level, code, EventData::Channel(data));
    }

    /// Open a session channel; a refusal is reported with the server's own words and the
    /// cause its reason code and words point to (MaxSessions, a Match block, …).
    pub(super) async fn open_session(
        &mut self,
        handle: &Handle,
    ) -> Result<russh::Channel<client::Msg>, Failure> {
        let channel = match handle.channel_open_session().await {
            Ok(c) => c,
            Err(russh::Error::ChannelOpenFailure(reason)) => {
                let (code, name) = hints::channel_failure(&reason);
                let text = self.refusal_words().await.unwrap_or(name);
                self.channel_event(
                    Level::Error,
                    Code::ChannelOpenFailed,
                    ChannelData {
                        status: ChannelStatus::Failed,
                        channel_type: "session".into(),
                        reason_code: Some(code),
                        reason: Some(text.clone()),
                    },
                );
                let (finer, hints) = hints::session_refused(code, &text);
                return Err(Failure::new(
                    ErrorType::ChannelOpenFailed,
                    format!(
                        "the server refused a session channel: {}",
                        hints::refusal_quote(code, &text)
                    ),
                )
                .code(finer)
                .ctx("reason_code", json!(code))
                .ctx("reason", json!(text))
                .hints(hints)
                .disconnect(DisconnectReason::ProtocolError));
            }
            Err(e) => return Err(self.transport_failure(e)),
        };
        self.channel_event(
            Level::Info,
            Code::ChannelOpened,
            ChannelData {
                status: ChannelStatus::Opened,
                channel_type: "session".into(),
                ..Default::default()
            },
        );
        Ok(channel)
    }

    /// The server's own words for the channel it just refused. russh hands them to the handler
    /// right after it fails the open, so they can arrive a moment after the error does.
    pub(super) async fn refusal_words(&mut self) -> Option<String> {
        self.drain_notes();
        if let Some((_, words)) = self.at.channel_refusal.take() {
            return Some(words);
        }
        let mut rx = self.at.notes.take()?;
        let deadline = self.env.sleep(REFUSAL_WORDS_WAIT_MS);
        tokio::pin!(deadline);
        let words = loop {
            tokio::select! {
                biased;
                n = rx.recv() => match n {
                    Some(n) => {
                        let _ = self.on_note(n, 0.0);
                        if let Some((_, words)) = self.at.channel_refusal.take() {
                            break Some(words);
                        }
                    }
                    None => break None,
                },
                _ = &mut deadline => break None,
            }
        };
        self.at.notes = Some(rx);
        words
    }

    async fn exec_on(&mut self, handle: &Handle, command: &str) -> Result<(), Failure> {
        let mut channel = self.open_session(handle).await?;
        self.start_phase(Phase::Exec);
        self.at.reached = Layer::Exec;
        let t = self.now();
        if let Err(e) = channel.exec(true, command).await {
            return Err(self.transport_failure(e));
        }
        let cap = self.opts.transcript_cap;
        let mut out = Output::default();
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
                    out.stdout_len += data.len() as u64;
                    keep(&mut out.stdout, &data, cap, &mut out.truncated);
                }
                ChannelMsg::ExtendedData { data, .. } => {
                    out.stderr_len += data.len() as u64;
                    keep(&mut out.stderr, &data, cap, &mut out.truncated);
                }
                ChannelMsg::ExitStatus { exit_status } => out.exit_code = Some(exit_status as i64),
                ChannelMsg::ExitSignal { signal_name: s, .. } => {
                    out.exit_signal = Some(signal_name(&s))
                }
                ChannelMsg::Close => {
                    closed = true;
                    break;
                }
                _ => {}
            }
        }
        let duration = round3(self.now() - t);
        if !closed && out.exit_code.is_none() && out.exit_signal.is_none() {
            self.at.commands.push(out.into_entry(command));
            let mut f = self.transport_failure(russh::Error::HUP);
            f.message = format!("{} while {command:?} was running", f.message);
            return Err(f);
        }
        let level = if out.exit_code == Some(0) {
            Level::Info
        } else {
            Level::Warn
        };
        let entry = out.into_entry(command);
        self.rec.emit(
            level,
            Code::ExecFinished,
            EventData::Exec(ExecData {
                command: command.to_string(),
                streaming: false,
                duration_ms: Some(duration),
                exit_code: entry.exit_code,
                exit_signal: entry.exit_signal.clone(),
                stdout_len: entry.stdout_len,
                stderr_len: entry.stderr_len,
            }),
        );
        self.at.commands.push(entry);
        Ok(())
    }

    /// Ask the server to connect a `direct-tcpip` channel and report what it said.
    pub async fn forward_probe(
        &mut self,
        handle: &Handle,
        host: &str,
        port: u16,
    ) -> Result<(), Failure> {
        self.end_phase();
        self.at.reached = Layer::Forward;
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
        let establishing = data(ForwardStatus::Establishing, None, None);
        self.rec.emit(
            Level::Info,
            Code::ForwardEstablishing,
            EventData::Forward(establishing),
        );
        let t = self.now();
        let r = handle
            .channel_open_direct_tcpip(host, port as u32, "127.0.0.1", 0)
            .await;
        let d = Some(round3(self.now() - t));
        match r {
            Ok(channel) => {
                let established = data(ForwardStatus::Established, None, d);
                self.rec.emit(
                    Level::Info,
                    Code::ForwardEstablished,
                    EventData::Forward(established),
                );
                let _ = channel.close().await;
                let closed = data(ForwardStatus::Closed, None, None);
                self.rec
                    .emit(Level::Info, Code::ForwardClosed, EventData::Forward(closed));
                Ok(())
            }
            Err(russh::Error::ChannelOpenFailure(reason)) => {
                let (code, name) = hints::channel_failure(&reason);
                let text = self.refusal_words().await.unwrap_or(name);
                let failed = data(ForwardStatus::Failed, Some(text.clone()), d);
                self.rec.emit(
                    Level::Error,
                    Code::ForwardFailed,
                    EventData::Forward(failed),
                );
                let (finer, hints) = hints::forward_failed(code, &text, host, port);
                Err(Failure::new(
                    ErrorType::ForwardFailed,
                    format!(
                        "the server could not open a forward to {host}:{port}: {}",
                        hints::refusal_quote(code, &text)
                    ),
                )
                .code(finer)
                .ctx("reason_code", json!(code))
                .ctx("reason", json!(text))
                .ctx("target", json!(format!("{host}:{port}")))
                .hints(hints)
                .disconnect(DisconnectReason::Normal))
            }
            Err(e) => Err(self.transport_failure(e)),
        }
    }
}
