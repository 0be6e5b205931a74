//! What a session's first output means, text only: the session check's marker command and
//! how its answer is read (the command ran as sent, a startup file printed before it, the
//! account's shell refuses sessions, a forced command answered instead, the password must be
//! changed), the first reply of the `sftp` subsystem, and the hints for each finding.
//!
//! It never depends on the probe and never formats a secret: it sees only what the server
//! printed, which it quotes shortened and escaped.

/// The command the session check runs. The empty quotes vanish in every POSIX shell, csh and
/// fish, so the marker in the output (`sshdiag-check`) differs from the command's text: a
/// forced command that echoes `$SSH_ORIGINAL_COMMAND` does not pass for it. `$SHELL` names the
/// login shell, which tells which startup file printed text.
pub const MARKER_COMMAND: &str = "echo sshdiag\"\"-check $SHELL";
/// The marker line's start as a POSIX shell prints it.
const MARKER: &str = "sshdiag-check";
/// The marker as a shell without POSIX quoting (Windows' cmd.exe) prints it: the command ran.
const MARKER_LITERAL: &str = "sshdiag\"\"-check";
/// How much of the server's text a message quotes.
const QUOTE_CHARS: usize = 160;

/// What the session check's command showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellFinding {
    /// The command ran as sent and printed only the marker.
    Clean { shell: Option<String> },
    /// The command ran, but text came before the marker on standard output.
    StartupOutput { shell: Option<String>, text: String },
    /// The account's shell refuses sessions (`nologin`), or `/etc/nologin` exists (exit 254).
    Disabled { text: String, nologin_file: bool },
    /// The server demands a password change before the session may run anything.
    PasswordExpired { text: String },
    /// The account only runs SFTP (`ForceCommand internal-sftp`).
    SftpOnly { text: String },
    /// Something other than the command answered (a forced command or a restricted shell).
    Forced { text: String },
    /// The session ended at once with no output at all.
    ExitsAtOnce { exit_code: Option<i64> },
    /// Nothing came back within the check's time.
    NoAnswer,
}

/// The server's text, shortened and with control characters escaped, for quoting.
pub fn quote(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end_matches(['\r', '\n']);
    let short: String = text.chars().take(QUOTE_CHARS).collect();
    let mut quoted = format!("{short:?}");
    if text.chars().count() > QUOTE_CHARS {
        quoted.push('…');
    }
    quoted
}

fn contains_any(haystack: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| haystack.contains(n))
}

/// Whether a text says the password has expired or must be changed (OpenSSH's own lines,
/// PAM's `pam_unix`, and the wording of other servers), in any case (ASCII case folding: the
/// phrases are English, and Unicode case tables would cost the wasm module).
pub fn says_password_expired(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    contains_any(
        &lower,
        &[
            "password has expired",
            "password expired",
            "required to change your password",
            "must change your password",
            "password change required",
            "password must be changed",
            "changing password for",
        ],
    )
}

/// Where the marker line starts in `stdout`, and the login shell it names.
fn find_marker(stdout: &str) -> Option<(usize, Option<String>)> {
    let mut at = 0;
    for line in stdout.split_inclusive('\n') {
        let trimmed = line.trim_end_matches(['\r', '\n']);
        for marker in [MARKER, MARKER_LITERAL] {
            if let Some(rest) = trimmed.strip_prefix(marker) {
                let shell = rest.trim();
                let shell = (!shell.is_empty() && shell != "$SHELL").then(|| shell.to_string());
                return Some((at, shell));
            }
        }
        at += line.len();
    }
    None
}

/// Read the session check's output: `stdout` and `stderr` as far as they were kept, the exit
/// status, and whether the check ran out of time first.
pub fn classify(
    stdout: &[u8],
    stderr: &[u8],
    exit_code: Option<i64>,
    timed_out: bool,
) -> ShellFinding {
    let out = String::from_utf8_lossy(stdout);
    if let Some((at, shell)) = find_marker(&out) {
        return if at == 0 {
            ShellFinding::Clean { shell }
        } else {
            ShellFinding::StartupOutput {
                shell,
                text: quote(&stdout[..at]),
            }
        };
    }
    let mut both = stdout.to_vec();
    both.extend_from_slice(stderr);
    let all = String::from_utf8_lossy(&both).to_string();
    let text = quote(&both);
    let lower = all.to_ascii_lowercase();
    if says_password_expired(&all) {
        ShellFinding::PasswordExpired { text }
    } else if lower.contains("allows sftp connections only") {
        ShellFinding::SftpOnly { text }
    } else if lower.contains("currently not available") || lower.contains("nologin") {
        ShellFinding::Disabled {
            text,
            nologin_file: false,
        }
    } else if exit_code == Some(254) && !all.trim().is_empty() {
        // OpenSSH prints /etc/nologin and exits 254 when that file exists.
        ShellFinding::Disabled {
            text,
            nologin_file: true,
        }
    } else if all.trim().is_empty() && timed_out {
        ShellFinding::NoAnswer
    } else if all.trim().is_empty() {
        ShellFinding::ExitsAtOnce { exit_code }
    } else {
        ShellFinding::Forced { text }
    }
}

/// The startup files that print in a non-interactive session of this login shell.
pub fn startup_files(shell: Option<&str>) -> String {
    let name = shell.and_then(|s| s.rsplit('/').next()).unwrap_or_default();
    let files = match name {
        "bash" => "~/.bashrc (bash reads it for commands run over SSH; also /etc/bash.bashrc)",
        "zsh" => "~/.zshenv (zsh reads it for every command; also /etc/zsh/zshenv)",
        "csh" | "tcsh" => "~/.cshrc or ~/.tcshrc",
        "fish" => "~/.config/fish/config.fish",
        _ => "the login shell's startup files (~/.bashrc for bash, ~/.zshenv for zsh)",
    };
    format!("{files} or ~/.ssh/rc")
}

/// The first reply on an `sftp` subsystem channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SftpReply {
    /// An SSH_FXP_VERSION packet: the server speaks SFTP of this version.
    Version(u32),
    /// Text came first (a startup file printed it): the first bytes, quoted.
    Text(String),
    /// Binary data that is not an SFTP version packet: the first bytes in hex.
    Other(String),
}

/// SSH_FXP_VERSION's packet type.
const FXP_VERSION: u8 = 2;
/// The SSH_FXP_INIT packet the client sends first: length 5, type 1, version 3.
pub const FXP_INIT: [u8; 9] = [0, 0, 0, 5, 1, 0, 0, 0, 3];

/// Read the first reply from the bytes received so far; `None` while more are needed.
/// `ended` says no more will come.
pub fn sftp_first_reply(bytes: &[u8], ended: bool) -> Option<SftpReply> {
    let first = *bytes.first()?;
    // A packet's length starts with a zero byte (packets are far below 16 MiB); text does not.
    if first != 0 {
        let line_done = bytes.contains(&b'\n') || bytes.len() >= QUOTE_CHARS;
        // The text ends where the SFTP packet that may follow it begins.
        let text = bytes.split(|&b| b == 0).next().unwrap_or(bytes);
        return (line_done || ended).then(|| SftpReply::Text(quote(text)));
    }
    if bytes.len() >= 9 && bytes[4] == FXP_VERSION {
        let version = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
        return Some(SftpReply::Version(version));
    }
    if bytes.len() >= 9 || ended {
        let hex: Vec<String> = bytes.iter().take(16).map(|b| format!("{b:02x}")).collect();
        return Some(SftpReply::Other(hex.join(" ")));
    }
    None
}

/// The verdict's summary and hints for a finding that fails the check.
pub fn failure_words(finding: &ShellFinding, user: &str) -> Option<(String, Vec<String>)> {
    let find = format!("getent passwd {user}");
    let r = match finding {
        ShellFinding::Clean { .. } | ShellFinding::SftpOnly { .. } => return None,
        ShellFinding::StartupOutput { shell, text } => (
            format!("Logged in as {user}, but a shell startup file prints {text} before every command, which breaks scp, sftp, rsync and git over SSH."),
            vec![
                format!("Find the line that prints it in {}, and make it print only in interactive shells (wrap it in `case $- in *i*) … ;; esac`, or `[ -t 1 ] && …`).", startup_files(shell.as_deref())),
                "Confirm: ssh HOST true | od -c | head  (anything printed is the culprit; a clean account prints nothing).".into(),
            ],
        ),
        ShellFinding::Disabled { text, nologin_file: false } => (
            format!("Logged in as {user}, but the account's shell refuses every session: it answered {text}."),
            vec![
                format!("The account's login shell is nologin: check with `{find}` (the last field). An administrator can give it a real shell with `usermod -s /bin/bash {user}` if it should log in."),
                "If the account is meant for tunnels or file transfer only, this is by design: use it with ssh -N (forwarding) or sftp.".into(),
            ],
        ),
        ShellFinding::Disabled { text, nologin_file: true } => (
            format!("Logged in as {user}, but the server refuses sessions for everyone but root: /etc/nologin exists and says {text}."),
            vec!["/etc/nologin on the server blocks every non-root login (often during maintenance or shutdown); it goes away when the server finishes booting or the admin removes it.".into()],
        ),
        ShellFinding::PasswordExpired { text } => (
            format!("Logged in as {user}, but the password has expired and the server demands a change before anything runs: {text}."),
            password_expired_hints(user),
        ),
        ShellFinding::Forced { text } => (
            format!("Logged in as {user}, but the server ran something else instead of the command sent: it answered {text}."),
            vec![
                "A forced command answers every session: `ForceCommand` in sshd_config (look in `Match` blocks too: sshd -T -C user=USER shows the effective one), or `command=\"…\"` before this key in ~/.ssh/authorized_keys; a restricted login shell (git-shell, rssh) does the same.".into(),
                "If the account is meant for one service (git, backup, rsync), this is by design: use it with that service's client.".into(),
            ],
        ),
        ShellFinding::ExitsAtOnce { exit_code } => (
            format!("Logged in as {user}, but the session ends at once without a word (exit status {}): no command runs.", exit_code.map_or("none".to_string(), |c| c.to_string())),
            vec![
                format!("The account's login shell is probably /bin/false or /bin/true: check with `{find}` (the last field), and give it a real shell (`usermod -s /bin/bash {user}`) if it should log in."),
                "A forced command that prints nothing (ForceCommand, or command=\"…\" in authorized_keys) looks the same.".into(),
            ],
        ),
        ShellFinding::NoAnswer => (
            format!("Logged in as {user}, but a command in a new session gave no answer in time: the shell (or a forced command) is waiting for something."),
            vec!["A startup file that waits (a slow network home directory, a prompt for input) or a forced interactive program holds every session; `ssh HOST true` shows the same wait.".into()],
        ),
    };
    Some(r)
}

/// What to do about an expired password, in every form it is reported in.
pub fn password_expired_hints(user: &str) -> Vec<String> {
    vec![
        format!("Log in once interactively (ssh -t HOST) and set a new password when asked, or have an administrator set one (passwd {user}); `chage -l {user}` on the server shows the password's age rules."),
        "Key logins are refused the same way while the password is expired under PAM (UsePAM yes): the account, not the key, is blocked.".into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_alone_is_clean_and_names_the_shell() {
        let f = classify(b"sshdiag-check /bin/bash\n", b"", Some(0), false);
        assert_eq!(
            f,
            ShellFinding::Clean {
                shell: Some("/bin/bash".into())
            }
        );
        // cmd.exe prints the quotes: the command still ran.
        let f = classify(b"sshdiag\"\"-check $SHELL\r\n", b"", Some(0), false);
        assert_eq!(f, ShellFinding::Clean { shell: None });
    }

    #[test]
    fn an_echoed_command_is_not_the_marker() {
        let f = classify(b"echo sshdiag\"\"-check $SHELL\n", b"", Some(0), false);
        assert!(matches!(f, ShellFinding::Forced { .. }), "{f:?}");
    }

    #[test]
    fn text_before_the_marker_is_startup_output() {
        let f = classify(b"hi\nsshdiag-check /bin/zsh\n", b"", Some(0), false);
        assert_eq!(
            f,
            ShellFinding::StartupOutput {
                shell: Some("/bin/zsh".into()),
                text: "\"hi\"".into()
            }
        );
        assert!(startup_files(Some("/bin/zsh")).contains("~/.zshenv"));
    }

    #[test]
    fn nologin_false_expiry_and_etc_nologin_are_told_apart() {
        let nologin = classify(
            b"This account is currently not available.\n",
            b"",
            Some(1),
            false,
        );
        assert!(matches!(
            nologin,
            ShellFinding::Disabled {
                nologin_file: false,
                ..
            }
        ));
        let etc = classify(b"", b"System maintenance until 6pm\n", Some(254), false);
        assert!(matches!(
            etc,
            ShellFinding::Disabled {
                nologin_file: true,
                ..
            }
        ));
        let exp = classify(
            b"",
            b"WARNING: Your password has expired.\n",
            Some(1),
            false,
        );
        assert!(matches!(exp, ShellFinding::PasswordExpired { .. }));
        assert_eq!(
            classify(b"", b"", Some(1), false),
            ShellFinding::ExitsAtOnce { exit_code: Some(1) }
        );
        assert_eq!(classify(b"", b"", None, true), ShellFinding::NoAnswer);
    }

    #[test]
    fn the_sftp_reply_is_a_version_packet_or_the_text_before_it() {
        assert_eq!(
            sftp_first_reply(&[0, 0, 0, 5, 2, 0, 0, 0, 3], false),
            Some(SftpReply::Version(3))
        );
        assert_eq!(sftp_first_reply(&[0, 0, 0], false), None);
        let mut noisy = b"Welcome\n".to_vec();
        noisy.extend([0, 0, 0, 5, 2, 0, 0, 0, 3]);
        assert_eq!(
            sftp_first_reply(&noisy, false),
            Some(SftpReply::Text("\"Welcome\"".into()))
        );
        assert_eq!(sftp_first_reply(b"Welc", false), None);
    }
}
