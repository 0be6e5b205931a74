//! The session check after authentication, as a user of the `sshdiag` binary meets it: a real
//! OpenSSH sshd configured for each way a login can work while a person still cannot
//! (`nologin` and `/bin/false` shells, an expired password in each form OpenSSH shows it, a
//! `.bashrc` that prints, `ForceCommand` and `command=`, `MaxSessions`, `PermitTTY no`,
//! forwarding refused), each asserting the exact code, layer and the words of the hint.
//!
//! The accounts are this module's own (`sdiag-*`), made idempotently as root the way the kit
//! makes its test user, so tests running in parallel in this binary never share one.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use sshdiag_events::{Event, EventData};
use sshdiag_tests::sshd::{SshdFixture, SshdOptions, TEST_PASSWORD, TEST_USER};
use sshdiag_tests::tools;

/// The sftp server every fixture of this module offers (the kit's default config has none).
const SFTP: &str = "Subsystem sftp /usr/lib/openssh/sftp-server";

/// Make (or refresh) a local account with this login shell and [`TEST_PASSWORD`]: as root,
/// retrying while another test process holds /etc/passwd's lock.
fn ensure_user(name: &str, shell: &str) -> PathBuf {
    let home = PathBuf::from(format!("/home/{name}"));
    if !tools::is_root() {
        assert!(
            tools::user_exists(name),
            "run the tests as root once, or create the account: useradd -m -s {shell} {name}"
        );
        return home;
    }
    for _ in 0..50 {
        if !tools::user_exists(name) {
            let _ = Command::new("useradd")
                .args(["-m", "-s", shell, name])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let modded = Command::new("usermod")
            .args(["-s", shell, name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if tools::user_exists(name) && modded && set_password(name) {
            std::fs::create_dir_all(&home).unwrap();
            let _ = Command::new("chown").arg(name).arg(&home).status();
            return home;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("could not create the account {name} (useradd, usermod, chpasswd: Debian `passwd`)");
}

fn set_password(name: &str) -> bool {
    let mut child = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chpasswd (apt-get install -y passwd)");
    use std::io::Write;
    let line = format!("{name}:{TEST_PASSWORD}\n");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(line.as_bytes())
        .unwrap();
    child.wait().is_ok_and(|s| s.success())
}

/// An account whose password must be changed at the next login (`chage -d 0`).
fn expired_user(name: &str) {
    ensure_user(name, "/bin/sh");
    let st = Command::new("chage").args(["-d", "0", name]).status();
    assert!(st.is_ok_and(|s| s.success()), "chage -d 0 {name}");
}

/// A real sshd that lets `users` in (besides the kit's user) with these extra lines.
fn sshd(users: &[&str], lines: &[&str]) -> SshdFixture {
    let mut config: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    if !users.is_empty() {
        // AllowUsers lines add up in sshd_config; the kit's own comes after.
        config.push(format!("AllowUsers {}", users.join(" ")));
    }
    SshdFixture::start(SshdOptions::with_config(config)).unwrap()
}

/// Run the CLI as `user` against `sshd` with `args` before the destination and `command`
/// after it; returns the events (checking that the password appears in none).
fn run(sshd: &SshdFixture, user: &str, args: &[&str], command: &[&str]) -> Vec<Event> {
    let flags = [&["-F", "none", "--timeout", "60"], args].concat();
    crate::common::events_of(sshd.port(), user, &flags, command)
}

fn key(sshd: &SshdFixture) -> String {
    sshd.client_keys()
        .ed25519
        .path
        .to_str()
        .unwrap()
        .to_string()
}

/// The one ERROR: type, code, layer, message, hints (joined) and context.
fn error(events: &[Event]) -> (String, String, String, String, String, serde_json::Value) {
    let errors: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e.data, EventData::Error(_)))
        .collect();
    assert_eq!(errors.len(), 1, "exactly one ERROR: {events:#?}");
    let EventData::Error(d) = &errors[0].data else {
        unreachable!()
    };
    let layer = serde_json::to_value(d.layer).unwrap();
    (
        d.error_type.clone(),
        errors[0].code.as_str().to_string(),
        layer.as_str().unwrap_or_default().to_string(),
        d.message.clone(),
        d.hints.join("\n"),
        serde_json::Value::Object(d.context.clone()),
    )
}

/// The VERDICT: ok, code, layer, summary, hints (joined).
fn verdict(events: &[Event]) -> (bool, String, String, String, String) {
    let Some(EventData::Verdict(v)) = events.last().map(|e| &e.data) else {
        panic!("VERDICT is not last: {events:#?}");
    };
    let layer = serde_json::to_value(v.layer).unwrap();
    (
        v.ok,
        v.code.clone(),
        layer.as_str().unwrap_or_default().to_string(),
        v.summary.clone(),
        v.hints.join("\n"),
    )
}

fn codes(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.code.as_str().to_string()).collect()
}

/// The run failed with this error type, code and layer (ERROR and VERDICT agree).
fn assert_failed(
    events: &[Event],
    et: &str,
    code: &str,
    layer: &str,
) -> (String, String, serde_json::Value) {
    let (t, c, l, msg, hints, ctx) = error(events);
    assert_eq!(
        (t.as_str(), c.as_str(), l.as_str()),
        (et, code, layer),
        "{msg}\n{hints}"
    );
    let (ok, vcode, vlayer, _, _) = verdict(events);
    assert!(!ok);
    assert_eq!((vcode.as_str(), vlayer.as_str()), (code, layer));
    (msg, hints, ctx)
}

#[test]
fn a_nologin_shell_is_not_a_working_login() {
    let user = "sdiag-nologin";
    ensure_user(user, "/usr/sbin/nologin");
    let sshd = sshd(&[user], &[SFTP]);
    let ev = run(&sshd, user, &["-i", &key(&sshd)], &[]);
    let (msg, hints, _) = assert_failed(&ev, "ExecFailed", "shell-disabled", "channel");
    assert!(
        msg.contains("This account is currently not available."),
        "{msg}"
    );
    assert!(hints.contains(&format!("getent passwd {user}")), "{hints}");
    let (_, _, _, summary, _) = verdict(&ev);
    assert!(
        summary.starts_with(&format!("Logged in as {user}, but")),
        "{summary}"
    );
}

#[test]
fn a_false_shell_is_a_session_that_ends_at_once() {
    let user = "sdiag-false";
    ensure_user(user, "/bin/false");
    let sshd = sshd(&[user], &[SFTP]);
    let ev = run(&sshd, user, &["-i", &key(&sshd)], &["uname"]);
    let (msg, hints, _) = assert_failed(&ev, "ExecFailed", "shell-exits-at-once", "channel");
    assert!(msg.contains("exit status 1"), "{msg}");
    assert!(hints.contains("/bin/false"), "{hints}");
    // The user's own command never ran: the check stopped the run first.
    assert!(
        !ev.iter()
            .any(|e| matches!(&e.data, EventData::Exec(x) if x.command == "uname"))
    );
}

#[test]
fn a_bashrc_that_prints_is_named_with_its_text_and_breaks_sftp() {
    let user = "sdiag-noisy";
    let home = ensure_user(user, "/bin/bash");
    std::fs::write(home.join(".bashrc"), "echo Welcome to the noisy host\n").unwrap();
    let sshd = sshd(&[user], &[SFTP]);
    let ev = run(&sshd, user, &["-i", &key(&sshd)], &[]);
    let (msg, hints, ctx) = assert_failed(&ev, "ExecFailed", "shell-startup-output", "channel");
    assert!(msg.contains("\"Welcome to the noisy host\""), "{msg}");
    assert!(hints.contains("~/.bashrc"), "{hints}");
    assert_eq!(ctx["login_shell"], "/bin/bash", "{ctx}");
    // The sftp subsystem's first reply was the text, not SSH_FXP_VERSION.
    assert_eq!(
        ctx["sftp_first_reply"], "\"Welcome to the noisy host\"",
        "{ctx}"
    );
}

#[test]
fn an_expired_password_without_pam_is_named_after_the_login() {
    let user = "sdiag-expired";
    expired_user(user);
    let sshd = sshd(&[user], &[SFTP]);
    let ev = run(&sshd, user, &["--password-env", "SSHDIAG_PW"], &[]);
    let (msg, hints, _) = assert_failed(&ev, "ExecFailed", "password-expired", "channel");
    assert!(msg.contains("Your password has expired"), "{msg}");
    assert!(hints.contains(&format!("chage -l {user}")), "{hints}");
    // Where to look: PAM's lines carry no port, so the hint also finds the attempt by user,
    // and that grep finds the login in sshd's own log.
    let grep = format!("grep -F -e \"for {user} \" -e \"user {user} \"");
    assert!(
        hints.contains("PAM's lines name no address or port"),
        "{hints}"
    );
    assert!(hints.contains(&grep), "{hints}");
    let log = sshd.dir().join("sshd.log");
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("{grep} {}", log.display()))
        .output()
        .unwrap();
    let found = String::from_utf8_lossy(&found.stdout);
    assert!(
        found.contains(&format!("Accepted password for {user} from 127.0.0.1 port")),
        "{found}"
    );
}

#[test]
fn an_expired_password_under_pam_is_named_in_each_of_its_forms() {
    let user = "sdiag-expired-pam";
    expired_user(user);
    let sshd = sshd(&[user], &["UsePAM yes", SFTP]);
    // Keyboard-interactive: PAM's change dialogue comes as the next prompt; never answered.
    let ev = run(
        &sshd,
        user,
        &["--password-env", "SSHDIAG_PW", "--keyboard-interactive"],
        &[],
    );
    let (msg, hints, _) = assert_failed(&ev, "AuthFailed", "password-expired", "auth");
    assert!(
        msg.contains("You are required to change your password immediately"),
        "{msg}"
    );
    assert!(hints.contains("passwd"), "{hints}");
    // Password: PAM lets the login through and the session demands the change.
    let ev = run(&sshd, user, &["--password-env", "SSHDIAG_PW"], &[]);
    let (msg, _, _) = assert_failed(&ev, "ExecFailed", "password-expired", "channel");
    assert!(msg.contains("Password change required"), "{msg}");
    // The password was not changed by any of it.
    let st = Command::new("chage").args(["-l", user]).output().unwrap();
    assert!(String::from_utf8_lossy(&st.stdout).contains("password must be changed"));
}

#[test]
fn a_forced_command_is_named_with_what_it_printed() {
    let sshd = sshd(
        &[],
        &["ForceCommand echo this-host-runs-backups-only", SFTP],
    );
    let ev = run(&sshd, TEST_USER, &["-i", &key(&sshd)], &["uptime"]);
    let (msg, hints, _) = assert_failed(&ev, "ExecFailed", "forced-command", "channel");
    assert!(msg.contains("this-host-runs-backups-only"), "{msg}");
    assert!(hints.contains("ForceCommand"), "{hints}");
}

/// A fresh key of `kind` in `dir`, authorised with `options` (e.g. `command="…"`) in an
/// authorized_keys file of its own; returns the key file and the `AuthorizedKeysFile` line.
fn own_key(dir: &Path, kind: &str, options: &str) -> (String, String) {
    let key = dir.join(format!("id_{kind}"));
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen (apt-get install -y openssh-client)");
    assert!(st.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let ak = dir.join("authorized_keys");
    std::fs::write(&ak, format!("{options}{public}")).unwrap();
    open_to_all(dir);
    (
        key.to_str().unwrap().to_string(),
        format!("AuthorizedKeysFile {}", ak.display()),
    )
}

#[test]
fn a_command_in_authorized_keys_is_a_forced_command_too() {
    let dir = tempfile::tempdir().unwrap();
    let (key, line) = own_key(dir.path(), "ed25519", "command=\"echo only-rsync-here\" ");
    let sshd = sshd(&[], &[&line, SFTP]);
    let ev = run(&sshd, TEST_USER, &["-i", &key], &[]);
    let (msg, hints, _) = assert_failed(&ev, "ExecFailed", "forced-command", "channel");
    assert!(msg.contains("only-rsync-here"), "{msg}");
    assert!(hints.contains("command="), "{hints}");
}

/// sshd reads authorized_keys as the user: the temp dir and that file must be readable by
/// all (the private key stays 0600, as the CLI demands).
fn open_to_all(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |m| std::fs::Permissions::from_mode(m);
    std::fs::set_permissions(dir, mode(0o755)).unwrap();
    std::fs::set_permissions(dir.join("authorized_keys"), mode(0o644)).unwrap();
}

/// The server's `server-sig-algs`, from the negotiated `KEX` event.
fn server_sig_algs(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .find_map(|e| match &e.data {
            EventData::Kex(k) => k.negotiated.server_sig_algs.clone(),
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn an_rsa_key_names_the_signature_it_was_offered_with_and_the_servers_list() {
    let dir = tempfile::tempdir().unwrap();
    let (key, line) = own_key(dir.path(), "rsa", "");
    // Accepted: OpenSSH 8.8+ refuses the SHA-1 form, and the note says so.
    let sshd_ok = sshd(&[], &[&line, SFTP]);
    let ev = run(
        &sshd_ok,
        TEST_USER,
        &["-i", &key, "--no-session-check"],
        &[],
    );
    let (ok, _, _, _, hints) = verdict(&ev);
    assert!(ok, "{ev:#?}");
    assert!(hints.contains("accepted as rsa-sha2-512"), "{hints}");
    assert!(hints.contains("ssh-rsa (SHA-1"), "{hints}");
    let algs = server_sig_algs(&ev);
    assert!(algs.contains(&"rsa-sha2-512".to_string()), "{algs:?}");
    assert!(algs.contains(&"ssh-ed25519".to_string()), "{algs:?}");
    // Refused by PubkeyAcceptedAlgorithms: the hint names how the key was offered.
    let sshd_no = sshd(
        &[],
        &[
            &line,
            "PubkeyAcceptedAlgorithms ssh-ed25519,ecdsa-sha2-nistp256",
        ],
    );
    let ev = run(&sshd_no, TEST_USER, &["-i", &key], &[]);
    let (_, hints, _) = assert_failed(&ev, "AuthFailed", "auth-failed", "auth");
    assert!(hints.contains("offered as rsa-sha2-512"), "{hints}");
    assert!(hints.contains("PubkeyAcceptedAlgorithms"), "{hints}");
    let log = sshd_no.log();
    assert!(log.contains("not in PubkeyAcceptedAlgorithms"), "{log}");
}

#[test]
fn an_sftp_only_account_is_green_and_says_so() {
    let sshd = sshd(&[], &["ForceCommand internal-sftp", SFTP]);
    let ev = run(&sshd, TEST_USER, &["-i", &key(&sshd)], &[]);
    let (ok, _, _, _, hints) = verdict(&ev);
    assert!(ok, "{ev:#?}");
    assert!(hints.contains("SFTP only"), "{hints}");
    assert!(
        codes(&ev).contains(&"sftp-check-ok".to_string()),
        "{:?}",
        codes(&ev)
    );
}

/// The session check is cheap: three short channels and no wait for a close that never
/// comes (about 0.1 s on loopback).
fn assert_cheap(events: &[Event]) {
    let Some(EventData::Verdict(v)) = events.last().map(|e| &e.data) else {
        unreachable!()
    };
    let channel_ms = v.phases[&sshdiag_events::codes::Phase::Channel];
    assert!(channel_ms < 900.0, "the session check took {channel_ms} ms");
}

#[test]
fn a_clean_account_passes_every_step_within_max_sessions_1() {
    // One session at a time: the check's three channels and the command follow each other.
    let sshd = sshd(&[], &["MaxSessions 1", SFTP]);
    let ev = run(&sshd, TEST_USER, &["-i", &key(&sshd)], &[]);
    let (ok, code, layer, _, hints) = verdict(&ev);
    assert!(ok, "{ev:#?}");
    assert_eq!((code.as_str(), layer.as_str()), ("verdict-ok", "channel"));
    assert!(hints.is_empty(), "{hints}");
    let c = codes(&ev);
    assert!(c.contains(&"session-check-ok".to_string()), "{c:?}");
    assert!(c.contains(&"sftp-check-ok".to_string()), "{c:?}");
    assert_cheap(&ev);
    let ev = run(&sshd, TEST_USER, &["-i", &key(&sshd)], &["echo", "hi"]);
    assert!(verdict(&ev).0, "{ev:#?}");
}

#[test]
fn a_server_without_sftp_is_green_with_a_note_and_skipping_the_check_skips_it() {
    let sshd = sshd(&[], &[]);
    let ev = run(&sshd, TEST_USER, &["-i", &key(&sshd)], &[]);
    let (ok, _, _, _, hints) = verdict(&ev);
    assert!(ok, "{ev:#?}");
    assert!(hints.contains("no sftp subsystem"), "{hints}");
    assert!(codes(&ev).contains(&"sftp-unavailable".to_string()));
    // A refused subsystem is not waited on.
    assert_cheap(&ev);
    let ev = run(
        &sshd,
        TEST_USER,
        &["-i", &key(&sshd), "--no-session-check"],
        &[],
    );
    let (ok, _, layer, _, hints) = verdict(&ev);
    assert!(ok && hints.is_empty(), "{hints}");
    assert_eq!(layer, "auth");
    assert!(!codes(&ev).iter().any(|c| c.contains("check")));
}

#[test]
fn sessions_turned_off_are_named_as_max_sessions_with_the_servers_words() {
    let sshd = sshd(&[], &["MaxSessions 0", SFTP]);
    let ev = run(&sshd, TEST_USER, &["-i", &key(&sshd)], &[]);
    let (msg, hints, ctx) = assert_failed(&ev, "ChannelOpenFailed", "session-limit", "channel");
    assert!(
        msg.contains("\"open failed\" (code 2, connect failed)"),
        "{msg}"
    );
    assert!(hints.contains("MaxSessions"), "{hints}");
    assert_eq!(ctx["reason"], "open failed");
}

#[test]
fn a_refused_terminal_fails_an_interactive_login_but_not_a_command() {
    let sshd = sshd(&[], &["PermitTTY no", SFTP]);
    let ev = run(&sshd, TEST_USER, &["-i", &key(&sshd)], &[]);
    let (_, hints, _) = assert_failed(&ev, "ExecFailed", "terminal-refused", "channel");
    assert!(hints.contains("PermitTTY no"), "{hints}");
    let ev = run(&sshd, TEST_USER, &["-i", &key(&sshd)], &["true"]);
    assert!(verdict(&ev).0, "{ev:#?}");
}

#[test]
fn a_forward_probe_tells_refused_from_prohibited_in_the_servers_words() {
    let closed = sshdiag_tests::sshd::free_loopback_port().unwrap();
    let target = format!("127.0.0.1:{closed}");
    let refused = "\"Connection refused\" (code 2, connect failed)";
    let prohibited = "(code 1, administratively prohibited)";
    let nothing_listens = format!("nothing accepts connections on port {closed}");
    let rules = "AllowTcpForwarding no, PermitOpen".to_string();
    let cases: [(&[&str], &str, &str, &String); 3] = [
        (&[SFTP], "forward-refused", refused, &nothing_listens),
        (
            &["AllowTcpForwarding no", SFTP],
            "forward-prohibited",
            prohibited,
            &rules,
        ),
        (
            &["PermitOpen 127.0.0.1:1", SFTP],
            "forward-prohibited",
            prohibited,
            &rules,
        ),
    ];
    for (config, code, words, hint) in cases {
        let s = sshd(&[], config);
        let args = ["-i", &key(&s), "--probe-forward", &target];
        let ev = run(&s, TEST_USER, &args, &[]);
        let (msg, hints, _) = assert_failed(&ev, "ForwardFailed", code, "forward");
        assert!(msg.contains(words), "{config:?}: {msg}");
        assert!(hints.contains(hint.as_str()), "{config:?}: {hints}");
    }
}
