//! "Where to look on the server", proven by the server's own log: a wrong password against a
//! real sshd, directly and through the real relay, then the very `grep` command the verdict's
//! hint gives, run against sshd's log file, must find this attempt's line — and that line must
//! say what the hint says it says. The source address and port the server saw must be in the
//! events and the bundle, and pseudonymised in the redacted bundle. Through a jump host, the
//! hint names the server whose log to read: the jump host's, by the source it saw, or the
//! target's, by user and time, since the target saw the jump host connect.

use std::process::Command;

use sshdiag_events::{Bundle, Event, EventData, read_jsonl};
use sshdiag_tests::relay::RelayFixture;
use sshdiag_tests::sshd::{SshdFixture, SshdOptions, TEST_USER};

/// What one failed run left: its events, its raw and redacted bundles.
struct Run {
    events: Vec<Event>,
    raw: Bundle,
    redacted: Bundle,
}

/// The CLI with a wrong password to the fixture, through `proxy` when given.
fn wrong_password(sshd: &SshdFixture, dir: &std::path::Path, proxy: Option<&str>) -> Run {
    let (raw, red) = (dir.join("raw.json"), dir.join("red.json"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sshdiag"));
    if let Some(url) = proxy {
        cmd.args(["--proxy", url]);
    }
    cmd.args(["--password-env", "BAD_PW"])
        .args(crate::common::bundle_flags(&red, &raw))
        .env("BAD_PW", "not-the-password-9");
    let events = failing_run(cmd, sshd, dir, &["--strict-host-key-checking", "no"]);
    let read = |p: &std::path::Path| Bundle::from_json(&std::fs::read_to_string(p).unwrap());
    Run {
        events,
        raw: read(&raw).unwrap(),
        redacted: read(&red).unwrap(),
    }
}

/// Runs `cmd` (the CLI with its credential flags) against the fixture as the test user with
/// `flags`, its events in `DIR/events.jsonl` and `HOME` in `dir`; the run must fail (exit 255).
/// Returns its events.
fn failing_run(
    mut cmd: Command,
    sshd: &SshdFixture,
    dir: &std::path::Path,
    flags: &[&str],
) -> Vec<Event> {
    let events = dir.join("events.jsonl");
    let out = cmd
        .args(["-p", &sshd.port().to_string()])
        .args(flags)
        .arg("--events-file")
        .arg(&events)
        .arg(format!("{TEST_USER}@127.0.0.1"))
        .env("HOME", dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(255),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    read_jsonl(&std::fs::read_to_string(&events).unwrap()).events
}

/// The `CONNECT` event's source: `127.0.0.1:PORT`.
fn connect_source(events: &[Event]) -> String {
    events
        .iter()
        .find_map(|e| match &e.data {
            EventData::Connect(c) if e.code == "connect-established" => c.source.clone(),
            _ => None,
        })
        .expect("connect-established carries the source")
}

/// The verdict's hints, after checking its code.
fn hints_of(events: &[Event], code: &str) -> Vec<String> {
    match events.last().map(|e| &e.data) {
        Some(EventData::Verdict(v)) => {
            assert_eq!(v.code, code, "{v:#?}");
            v.hints.clone()
        }
        other => panic!("the last event is not the verdict: {other:?}"),
    }
}

/// The verdict's hints of a rejected login.
fn hints(events: &[Event]) -> Vec<String> {
    hints_of(events, "auth-failed")
}

/// Runs the plain-log command of the "Where to look" hint against sshd's log file, as an
/// admin would against /var/log/auth.log; returns what it printed.
fn run_hint_command(hints: &[String], log: &std::path::Path) -> String {
    run_hint_command_of(hints, "Where to look on the server", log)
}

/// [`run_hint_command`] for the where-to-look hint that starts with `start` (a chain names
/// the server whose log to read).
fn run_hint_command_of(hints: &[String], start: &str, log: &std::path::Path) -> String {
    let hint = hints
        .iter()
        .find(|h| h.starts_with(start))
        .unwrap_or_else(|| panic!("no where-to-look hint {start:?} in {hints:#?}"));
    let grep = hint
        .split_once("or on a plain log: ")
        .and_then(|(_, rest)| rest.split_once(" /var/log/auth.log"))
        .map(|(cmd, _)| cmd)
        .unwrap_or_else(|| panic!("no plain-log command in {hint}"));
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{grep} {}", log.display()))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The line the hint says sshd writes for a wrong password, as quoted in the hint.
fn expected_line(hints: &[String]) -> String {
    quoted_line(hints, "Failed password")
}

/// The line starting with `start` that the expected-line hint quotes.
fn quoted_line(hints: &[String], start: &str) -> String {
    let hint = hints
        .iter()
        .find(|h| h.starts_with("For this failure sshd's line reads"))
        .unwrap_or_else(|| panic!("no expected-line hint in {hints:#?}"));
    let from = hint.find(&format!("\"{start}")).expect("the quoted line") + 1;
    let len = hint[from..].find('"').expect("the closing quote");
    hint[from..from + len].to_string()
}

/// Waits a moment for sshd to write the attempt's last lines, then the log file's path.
fn sshd_log_file(sshd: &SshdFixture, needle: &str) -> std::path::PathBuf {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !sshd.log().contains(needle) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    sshd.dir().join("sshd.log")
}

/// Checks the source's facts in the bundles and returns its port.
fn check_source(run: &Run) -> u16 {
    let source = connect_source(&run.events);
    let port: u16 = source
        .strip_prefix("127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("source {source}"));
    assert_eq!(run.raw.server.source.as_deref(), Some(source.as_str()));
    assert!(
        run.raw
            .server
            .client_version
            .as_deref()
            .is_some_and(|v| v.starts_with("SSH-2.0-sshdiag_")),
        "{:?}",
        run.raw.server
    );
    // Redacted: the address is a pseudonym, the port stays, and no hint keeps the address.
    let red = run.redacted.server.source.clone().unwrap_or_default();
    assert!(
        red.starts_with("ip-") && red.ends_with(&format!(":{port}")),
        "{red}"
    );
    let red_text = run.redacted.to_json(false);
    assert!(!red_text.contains("127.0.0.1"), "the address leaked");
    assert!(red_text.contains(&format!("port {port}")));
    port
}

#[test]
fn a_wrong_passwords_hint_finds_its_own_line_in_sshds_log() {
    let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = wrong_password(&sshd, dir.path(), None);
    let port = check_source(&run);
    let hints = hints(&run.events);
    let line = expected_line(&hints);
    assert_eq!(
        line,
        format!("Failed password for {TEST_USER} from 127.0.0.1 port {port} ssh2")
    );
    let found = run_hint_command(&hints, &sshd_log_file(&sshd, &line));
    assert!(
        found.lines().any(|l| l.contains(&line)),
        "the hint's command did not find {line:?}; it printed:\n{found}\nsshd's log:\n{}",
        sshd.log()
    );
    // Every line it found is this attempt's, not another connection's.
    let ours = |l: &str| l.contains(&format!("port {port}")) || l.contains(&format!("]:{port}"));
    assert!(found.lines().all(ours), "{found}");
    // The journalctl window covers the attempt, in UTC.
    let utc = |e: &Event| sshdiag_core::server_log::utc(e.timestamp as u64);
    let hint = hints.iter().find(|h| h.contains("journalctl")).unwrap();
    let since = hint.split("--since \"").nth(1).unwrap().split('"').next();
    let until = hint.split("--until \"").nth(1).unwrap().split('"').next();
    let (first, last) = (&run.events[0], run.events.last().unwrap());
    assert!(since.unwrap() <= utc(first).as_str(), "{hint}");
    assert!(until.unwrap() > utc(last).as_str(), "{hint}");
    assert!(!hints.iter().any(|h| h.contains("relay")), "{hints:#?}");
}

#[test]
fn through_the_relay_the_hint_names_the_relays_source_and_finds_it() {
    let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let relay = runtime
        .block_on(RelayFixture::start(vec![format!(
            "127.0.0.1/32:{}",
            sshd.port()
        )]))
        .unwrap();
    let run = wrong_password(&sshd, dir.path(), Some(&relay.ws_url()));
    let port = check_source(&run);
    // The relay reported its own end, and logged it beside the connection id.
    let proxy_local = run.events.iter().find_map(|e| match &e.data {
        EventData::Proxy(p) => p.local.clone(),
        _ => None,
    });
    assert_eq!(proxy_local, Some(format!("127.0.0.1:{port}")));
    let logged = relay.log_lines().join("\n");
    assert!(
        logged.contains(&format!("connected to the target from 127.0.0.1:{port}")),
        "{logged}"
    );
    let hints = hints(&run.events);
    let line = expected_line(&hints);
    let found = run_hint_command(&hints, &sshd_log_file(&sshd, &line));
    assert!(
        found.lines().any(|l| l.contains(&line)),
        "the hint's command did not find {line:?} (the relay's source); it printed:\n{found}"
    );
    let relay_hint = hints.last().unwrap();
    assert!(
        relay_hint.contains("every user of the relay"),
        "{relay_hint}"
    );
    assert!(relay_hint.contains("PerSourcePenalties") && relay_hint.contains("fail2ban"));
    assert!(
        hints
            .iter()
            .any(|h| h.contains("the relay's address 127.0.0.1 port"))
    );
    runtime.block_on(relay.shutdown());
}

#[test]
fn a_disconnect_for_too_many_keys_is_found_by_the_servers_own_words() {
    let sshd = SshdFixture::start(SshdOptions::with_config(["MaxAuthTries 2"])).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sshdiag"));
    for path in crate::common::stray_keys(dir.path(), 3) {
        cmd.arg("-i").arg(&path);
    }
    let events = failing_run(
        cmd,
        &sshd,
        dir.path(),
        &["--strict-host-key-checking", "no"],
    );
    let port = connect_source(&events)
        .rsplit_once(':')
        .map(|(_, p)| p.to_string())
        .unwrap();
    let hints = hints_of(&events, "auth-disconnected");
    let line = quoted_line(&hints, "Disconnecting authenticating user");
    assert_eq!(
        line,
        format!(
            "Disconnecting authenticating user {TEST_USER} 127.0.0.1 port {port}: Too many authentication failures [preauth]"
        )
    );
    let found = run_hint_command(
        &hints,
        &sshd_log_file(&sshd, &format!("port {port}: Too many")),
    );
    // sshd's line may carry its own prefix; the words the hint quotes are all in it.
    let words = line.trim_end_matches(" [preauth]");
    assert!(
        found.lines().any(|l| l.contains(words)),
        "the hint's command did not find {words:?}; it printed:\n{found}"
    );
    let before = quoted_line(&hints, "maximum authentication attempts exceeded");
    assert!(
        found
            .lines()
            .any(|l| l.contains(before.trim_end_matches(" [preauth]"))),
        "{before:?} not in:\n{found}"
    );
}

#[test]
fn a_maxstartups_drop_is_found_by_its_bracketed_address() {
    let sshd = SshdFixture::start(SshdOptions::with_config(["MaxStartups 1"])).unwrap();
    // One connection that never logs in fills MaxStartups 1; its banner says sshd took it
    // (until the fixture's own readiness check has gone, sshd still counts that one).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let held = loop {
        let held = std::net::TcpStream::connect(sshd.addr()).unwrap();
        held.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut banner = [0u8; 8];
        if std::io::Read::read_exact(&mut &held, &mut banner).is_ok() && &banner == b"SSH-2.0-" {
            break held;
        }
        assert!(std::time::Instant::now() < deadline, "sshd never took one");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let dir = tempfile::tempdir().unwrap();
    let cmd = Command::new(env!("CARGO_BIN_EXE_sshdiag"));
    let events = failing_run(cmd, &sshd, dir.path(), &["--probe-auth"]);
    let source = connect_source(&events);
    let code = match events.last().map(|e| &e.data) {
        Some(EventData::Verdict(v)) => v.code.clone(),
        other => panic!("{other:?}"),
    };
    let hints = hints_of(&events, &code);
    let port = source.rsplit_once(':').map(|(_, p)| p).unwrap();
    let found = run_hint_command(&hints, &sshd_log_file(&sshd, "past MaxStartups"));
    assert!(
        found
            .lines()
            .any(|l| l.contains(&format!("from [127.0.0.1]:{port} on "))
                && l.contains("past MaxStartups")),
        "the hint's command ({code}) did not find the drop line; it printed:\n{found}\nsshd's log:\n{}",
        sshd.log()
    );
    assert!(
        hints.iter().any(|h| h.contains("past MaxStartups")),
        "{hints:#?}"
    );
    drop(held);
}

/// The CLI with password `pw` (for both servers) through `bastion` to `target`; the run fails.
fn wrong_password_through(
    bastion: &SshdFixture,
    target: &SshdFixture,
    dir: &std::path::Path,
    pw: &str,
) -> Vec<Event> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sshdiag"));
    let jump = format!("{TEST_USER}@127.0.0.1:{}", bastion.port());
    cmd.args(["-J", &jump, "--password-env", "PW"])
        .env("PW", pw);
    failing_run(
        cmd,
        target,
        dir,
        &["--strict-host-key-checking", "no", "-F", "none"],
    )
}

#[test]
fn through_a_jump_host_the_hint_names_the_server_whose_log_to_read() {
    // A wrong password fails at the bastion: its log, by the source it saw from us.
    let bastion = SshdFixture::start(SshdOptions::default()).unwrap();
    let target = SshdFixture::start(SshdOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let events = wrong_password_through(&bastion, &target, dir.path(), "not-the-password-9");
    let said = hints(&events);
    let name = format!("jump host 1 of 1 (127.0.0.1:{})", bastion.port());
    let start = format!("Where to look on {name}: sshd saw this attempt come from 127.0.0.1 port");
    let log = sshd_log_file(&bastion, "Failed password");
    let found = run_hint_command_of(&said, &start, &log);
    assert!(
        found.contains(&format!(
            "Failed password for {TEST_USER} from 127.0.0.1 port"
        )),
        "{found}"
    );

    // The target takes no password but the bastion does: it fails at the target, which saw
    // the bastion connect; found by user and time in the target's log.
    let target = SshdFixture::start(SshdOptions::with_config([
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
    ]))
    .unwrap();
    let events = wrong_password_through(
        &bastion,
        &target,
        dir.path(),
        sshdiag_tests::sshd::TEST_PASSWORD,
    );
    let said = hints(&events);
    let start = format!(
        "Where to look on the target 127.0.0.1:{}: sshd saw this attempt come from {name}'s own address, not from this machine",
        target.port()
    );
    let log = sshd_log_file(&target, "Connection closed by authenticating user");
    let found = run_hint_command_of(&said, &start, &log);
    assert!(
        found.contains(&format!("authenticating user {TEST_USER} 127.0.0.1 port")),
        "{found}\n{}",
        target.log()
    );
    assert!(!said.iter().any(|h| h.contains("relay")), "{said:#?}");
}
