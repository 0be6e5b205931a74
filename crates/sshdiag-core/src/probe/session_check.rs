//! The session check: after authentication, whether a person can work on this account, from
//! what the server does with three small requests, one channel at a time (so a server with
//! `MaxSessions 1` sees at most one session of ours):
//!
//! 1. a session runs [`MARKER_COMMAND`] with its input closed: the command ran as sent, or a
//!    `nologin` shell, `/bin/false`, a forced command or a password change answered instead,
//!    or a startup file printed text before it;
//! 2. a session opens the `sftp` subsystem and sends SSH_FXP_INIT: the first reply must be an
//!    SFTP version packet, not text;
//! 3. with no command to run (an interactive login, as `ssh HOST`), a session asks for a
//!    terminal and is closed without running anything.
//!
//! Every wait is bounded by [`CHECK_MS`]. What the check ran never goes into the transcript
//! (that holds the user's commands only); its output is quoted shortened in messages, never
//! whole in an event. It never formats a secret.

use russh::ChannelMsg;
use russh::client;
use serde_json::json;
use sshdiag_events::codes::Phase;
use sshdiag_events::{Code, DisconnectReason, ErrorType, EventData, ExecData, Layer, Level};

use super::attempt::Session;
use super::handshake::ProbeHandler;
use super::recorder::round3;
use crate::failure::Failure;
use crate::hints;
use crate::shell_output::{
    FXP_INIT, MARKER_COMMAND, SftpReply, ShellFinding, classify, failure_words, quote,
    sftp_first_reply,
};

type Handle = client::Handle<ProbeHandler>;
type Channel = russh::Channel<client::Msg>;

/// The longest any one step of the check waits for the server.
pub const CHECK_MS: u64 = 10_000;
/// Output kept per stream for reading the check's answer.
const KEEP_BYTES: usize = 4096;
/// The `EXEC` command name of the sftp step.
const SFTP_COMMAND: &str = "subsystem sftp";

/// What a check channel brought back.
#[derive(Default)]
struct Gathered {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    stdout_len: u64,
    stderr_len: u64,
    exit_code: Option<i64>,
    /// The server refused the channel request (exec, subsystem, pty).
    refused: bool,
    /// It accepted the request.
    accepted: bool,
    closed: bool,
    timed_out: bool,
}

impl Gathered {
    fn keep(buf: &mut Vec<u8>, data: &[u8]) {
        let room = KEEP_BYTES.saturating_sub(buf.len());
        buf.extend_from_slice(&data[..data.len().min(room)]);
    }
}

/// When a gathering loop may stop early.
enum Until {
    /// The channel closes (a command's whole answer).
    Closed,
    /// The server answered the request (a pty).
    Answered,
    /// The sftp subsystem's first reply is complete.
    SftpReply,
}

/// What the shell step concluded, for the steps after it.
enum ShellStep {
    /// Commands run (a startup file may print before them).
    Runs(ShellFinding),
    /// The account runs SFTP only, or refuses commands: the sftp step decides.
    NoCommands(ShellFinding),
}

impl Session<'_> {
    /// Run the session check after authentication; a finding that keeps a person from working
    /// ends the run with its cause, anything else becomes a note on the verdict.
    pub async fn session_check(&mut self, handle: &Handle) -> Result<(), Failure> {
        self.start_phase(Phase::Channel);
        self.at.reached = Layer::Channel;
        let r = self.session_check_steps(handle).await;
        self.end_phase();
        r
    }

    async fn session_check_steps(&mut self, handle: &Handle) -> Result<(), Failure> {
        let shell = self.check_shell(handle).await?;
        let sftp = self.check_sftp(handle).await?;
        let user = self.opts.username.clone();
        match (&shell, &sftp) {
            (ShellStep::Runs(f @ ShellFinding::StartupOutput { .. }), _) => {
                return Err(self.finding_failure(f, sftp.as_ref()));
            }
            (ShellStep::Runs(ShellFinding::Clean { shell }), Some(SftpReply::Text(text))) => {
                let f = ShellFinding::StartupOutput {
                    shell: shell.clone(),
                    text: text.clone(),
                };
                return Err(self.finding_failure(&f, sftp.as_ref()));
            }
            (ShellStep::NoCommands(f), Some(SftpReply::Version(_))) => {
                self.at.session_notes.push(format!(
                    "This account runs SFTP only ({}): sftp and scp work, shell commands do not.",
                    describe_no_commands(f)
                ));
                return Ok(());
            }
            (ShellStep::NoCommands(ShellFinding::SftpOnly { text }), _) => {
                let f = ShellFinding::Forced { text: text.clone() };
                return Err(self.finding_failure(&f, sftp.as_ref()));
            }
            (ShellStep::NoCommands(_), _) => {
                return Err(Failure::new(
                    ErrorType::ExecFailed,
                    format!("the server refused to run a command for {user}, and sftp does not work either"),
                )
                .hints(hints::exec_failed())
                .disconnect(DisconnectReason::Normal));
            }
            _ => {}
        }
        match &sftp {
            None => self.at.session_notes.push("The server offers no sftp subsystem (no `Subsystem sftp` line in sshd_config): sftp fails, and so does scp from OpenSSH 9 on (scp -O uses the old protocol).".into()),
            Some(SftpReply::Other(hex)) => self.at.session_notes.push(format!("The sftp subsystem answered with bytes that are not an SFTP version packet ({hex}): sftp clients may fail.")),
            _ => {}
        }
        if self.opts.commands.is_empty() {
            self.check_terminal(handle).await?;
        }
        Ok(())
    }

    /// Step 1: run the marker command and read what answered.
    async fn check_shell(&mut self, handle: &Handle) -> Result<ShellStep, Failure> {
        let channel = self.open_session(handle).await?;
        let t = self.now();
        channel
            .exec(true, MARKER_COMMAND)
            .await
            .map_err(|e| self.transport_failure(e))?;
        // Nothing reads our input: a shell or forced program waiting for it ends at once.
        let _ = channel.eof().await;
        let got = self.gather(channel, Until::Closed).await?;
        self.settle(handle).await;
        let duration = round3(self.now() - t);
        if got.refused {
            self.check_event(
                Level::Warn,
                Code::ExecFinished,
                MARKER_COMMAND,
                &got,
                duration,
            );
            return Ok(ShellStep::NoCommands(ShellFinding::ExitsAtOnce {
                exit_code: None,
            }));
        }
        let finding = classify(&got.stdout, &got.stderr, got.exit_code, got.timed_out);
        let ok = matches!(finding, ShellFinding::Clean { .. });
        let (level, code) = if ok {
            (Level::Info, Code::SessionCheckOk)
        } else {
            (Level::Warn, Code::ExecFinished)
        };
        self.check_event(level, code, MARKER_COMMAND, &got, duration);
        match finding {
            ShellFinding::Clean { .. } | ShellFinding::StartupOutput { .. } => {
                Ok(ShellStep::Runs(finding))
            }
            ShellFinding::SftpOnly { .. } => Ok(ShellStep::NoCommands(finding)),
            // A router's or appliance's SSH server answers with its own command language:
            // only a Unix sshd's silence or other answer means a forced command or a broken
            // shell.
            ShellFinding::Forced { text } if !self.unix_sshd() => {
                self.at.session_notes.push(format!("This server does not run POSIX shell commands (it answered sshdiag's `echo` with {text}): a network device or appliance CLI; give commands in its own language."));
                Ok(ShellStep::Runs(ShellFinding::Clean { shell: None }))
            }
            f => Err(self.finding_failure(&f, None)),
        }
    }

    /// Whether the server is a Unix sshd (OpenSSH, Dropbear), whose sessions run the
    /// account's login shell.
    fn unix_sshd(&self) -> bool {
        let software = self.at.server_software.as_deref().unwrap_or_default();
        let lower = software.to_ascii_lowercase();
        lower.starts_with("openssh") || lower.starts_with("dropbear")
    }

    /// Step 2: open the sftp subsystem and read its first reply; `None` when it is refused.
    async fn check_sftp(&mut self, handle: &Handle) -> Result<Option<SftpReply>, Failure> {
        let channel = self.open_session(handle).await?;
        let t = self.now();
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|e| self.transport_failure(e))?;
        let got = self.gather(channel, Until::SftpReply).await?;
        self.settle(handle).await;
        let duration = round3(self.now() - t);
        if got.refused || !got.accepted {
            self.check_event(
                Level::Warn,
                Code::SftpUnavailable,
                SFTP_COMMAND,
                &got,
                duration,
            );
            return Ok(None);
        }
        let reply = sftp_first_reply(&got.stdout, true);
        let reply = match reply {
            Some(r) => r,
            // The server accepted the subsystem, then said nothing or closed: what stderr
            // said (sftp-server missing) is the evidence.
            None if !got.stderr.is_empty() => SftpReply::Other(quote(&got.stderr)),
            None => SftpReply::Other("no reply".into()),
        };
        let (level, code) = match reply {
            SftpReply::Version(_) => (Level::Info, Code::SftpCheckOk),
            _ => (Level::Warn, Code::ExecFinished),
        };
        self.check_event(level, code, SFTP_COMMAND, &got, duration);
        Ok(Some(reply))
    }

    /// Step 3: ask for a terminal, as an interactive `ssh HOST` does, and close the channel.
    async fn check_terminal(&mut self, handle: &Handle) -> Result<(), Failure> {
        let channel = self.open_session(handle).await?;
        channel
            .request_pty(true, "xterm", 80, 24, 0, 0, &[])
            .await
            .map_err(|e| self.transport_failure(e))?;
        let got = self.gather(channel, Until::Answered).await?;
        self.settle(handle).await;
        if !got.refused {
            return Ok(());
        }
        let user = &self.opts.username;
        Err(Failure::new(
            ErrorType::ExecFailed,
            format!("the server refused a terminal (pty) for {user}"),
        )
        .code(Code::TerminalRefused)
        .layer(Layer::Channel)
        .summary(format!("Logged in as {user}, but the server refuses a terminal: an interactive login gets no prompt."))
        .hints(hints::terminal_refused(user))
        .disconnect(DisconnectReason::Normal))
    }

    /// Read a check channel until `until` is met, it closes or [`CHECK_MS`] passes; the
    /// channel is closed (and its close awaited briefly) before the next one opens.
    async fn gather(&mut self, mut channel: Channel, until: Until) -> Result<Gathered, Failure> {
        let mut got = Gathered::default();
        let mut init_sent = false;
        let deadline = self.env.sleep(CHECK_MS);
        tokio::pin!(deadline);
        loop {
            let msg = tokio::select! {
                biased;
                m = channel.wait() => m,
                _ = &mut deadline => {
                    got.timed_out = true;
                    break;
                }
            };
            let Some(msg) = msg else {
                got.closed = true;
                break;
            };
            match msg {
                ChannelMsg::Success => got.accepted = true,
                ChannelMsg::Failure => got.refused = true,
                ChannelMsg::Data { data } => {
                    got.stdout_len += data.len() as u64;
                    Gathered::keep(&mut got.stdout, &data);
                }
                ChannelMsg::ExtendedData { data, .. } => {
                    got.stderr_len += data.len() as u64;
                    Gathered::keep(&mut got.stderr, &data);
                }
                ChannelMsg::ExitStatus { exit_status } => got.exit_code = Some(exit_status as i64),
                ChannelMsg::Close => {
                    got.closed = true;
                    break;
                }
                _ => {}
            }
            let done = match until {
                Until::Closed => got.refused,
                Until::Answered => got.refused || got.accepted,
                Until::SftpReply => {
                    if got.accepted && !got.refused && !init_sent {
                        init_sent = true;
                        channel
                            .data(&FXP_INIT[..])
                            .await
                            .map_err(|e| self.transport_failure(e))?;
                    }
                    got.refused || sftp_first_reply(&got.stdout, false).is_some()
                }
            };
            if done {
                break;
            }
        }
        if !got.closed {
            // A program still running (sftp-server) ends on EOF, and the server then closes
            // the channel and frees the session; a bare channel (the pty) is closed at once.
            let program =
                !matches!(until, Until::Answered) && got.accepted && !got.refused && !got.timed_out;
            self.close_check_channel(&mut channel, program).await;
        }
        Ok(got)
    }

    /// End a check channel. With a `program` on it, send EOF and wait a moment for the
    /// server's close (OpenSSH keeps a session busy until its program exits, which matters
    /// under `MaxSessions 1`); close it ourselves if that does not come. russh does not pass
    /// the server's answer to our own close on, so that is not waited for.
    async fn close_check_channel(&mut self, channel: &mut Channel, program: bool) {
        if program {
            let _ = channel.eof().await;
            let deadline = self.env.sleep(1_000);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    biased;
                    m = channel.wait() => match m {
                        Some(ChannelMsg::Close) | None => return,
                        Some(_) => {}
                    },
                    _ = &mut deadline => break,
                }
            }
        }
        let _ = channel.close().await;
    }

    /// One round trip after a check channel closed: OpenSSH frees a closed session only after
    /// it has handled the packets that came with the close, so without it a server with
    /// `MaxSessions 1` would refuse the next channel.
    async fn settle(&mut self, handle: &Handle) {
        let ping = handle.send_ping();
        let deadline = self.env.sleep(2_000);
        tokio::pin!(ping, deadline);
        tokio::select! {
            biased;
            _ = &mut ping => {}
            _ = &mut deadline => {}
        }
    }

    /// The `EXEC` event of a check step (lengths only; the output stays out of events).
    fn check_event(&mut self, level: Level, code: Code, command: &str, got: &Gathered, ms: f64) {
        self.rec.emit(
            level,
            code,
            EventData::Exec(ExecData {
                command: command.to_string(),
                streaming: false,
                duration_ms: Some(ms),
                exit_code: got.exit_code,
                exit_signal: None,
                stdout_len: got.stdout_len,
                stderr_len: got.stderr_len,
            }),
        );
    }

    /// The failure of a finding that keeps a person from working.
    fn finding_failure(&self, f: &ShellFinding, sftp: Option<&SftpReply>) -> Failure {
        let user = &self.opts.username;
        let Some((summary, hints)) = failure_words(f, user) else {
            return Failure::new(
                ErrorType::Internal,
                "a passing session check was reported as failing",
            );
        };
        let (code, what) = match f {
            ShellFinding::StartupOutput { text, .. } => (
                Code::ShellStartupOutput,
                format!("a shell startup file printed {text} before the command's output"),
            ),
            ShellFinding::Disabled { text, .. } => (
                Code::ShellDisabled,
                format!("the account's shell refused the session: {text}"),
            ),
            ShellFinding::PasswordExpired { text } => (
                Code::PasswordExpired,
                format!("the password has expired and must be changed: {text}"),
            ),
            ShellFinding::Forced { text } | ShellFinding::SftpOnly { text } => (
                Code::ForcedCommand,
                format!("the server ran another command instead: {text}"),
            ),
            ShellFinding::ExitsAtOnce { exit_code } => (
                Code::ShellExitsAtOnce,
                format!(
                    "the session ended at once without output (exit status {})",
                    exit_code.map_or("none".into(), |c| c.to_string())
                ),
            ),
            ShellFinding::NoAnswer => (
                Code::SessionNoAnswer,
                format!(
                    "the check command gave no answer within {} s",
                    CHECK_MS / 1000
                ),
            ),
            ShellFinding::Clean { .. } => (Code::Internal, String::new()),
        };
        let mut failure = Failure::new(ErrorType::ExecFailed, what)
            .code(code)
            .layer(Layer::Channel)
            .summary(summary)
            .hints(hints)
            .ctx("check_command", json!(MARKER_COMMAND))
            .disconnect(DisconnectReason::Normal);
        if let ShellFinding::StartupOutput { shell: Some(s), .. } = f {
            failure = failure.ctx("login_shell", json!(s));
        }
        match sftp {
            Some(SftpReply::Text(t)) => failure.ctx("sftp_first_reply", json!(t)),
            Some(SftpReply::Version(v)) => failure.ctx("sftp_version", json!(v)),
            _ => failure,
        }
    }
}

/// How an account that runs no commands showed it.
fn describe_no_commands(f: &ShellFinding) -> String {
    match f {
        ShellFinding::SftpOnly { text } => format!("it answers commands with {text}"),
        _ => "the server refuses to run commands".into(),
    }
}
