//! The `sshdiag` binary as a user runs it, against a real OpenSSH sshd: exit statuses, the
//! JSONL stream, the bundle files, and bad input refused before any connection.

use std::process::Command;

use crate::common::{assert_exit, bundle_flags, sshd_and_dir, sshdiag_with_password};
use sshdiag_events::{Bundle, EventData, IntegrityStatus, read_jsonl};
use sshdiag_tests::procs::stdout_of;
use sshdiag_tests::sshd::{TEST_PASSWORD, TEST_USER};

fn dest() -> String {
    format!("{TEST_USER}@127.0.0.1")
}

#[test]
fn remote_exit_status_is_the_cli_exit_status_and_events_stream_to_a_file() {
    let (sshd, dir) = sshd_and_dir();
    let events = dir.path().join("events.jsonl");
    let kh = dir.path().join("known_hosts");
    let port = sshd.port();
    let out = sshdiag_with_password(
        port,
        &[
            "--known-hosts",
            kh.to_str().unwrap(),
            "--events-file",
            events.to_str().unwrap(),
            &dest(),
            "echo",
            "out;",
            "exit",
            "3",
        ],
    );
    assert_exit(&out, Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    let text = std::fs::read_to_string(&events).unwrap();
    let read = read_jsonl(&text);
    assert!(read.errors.is_empty(), "{:?}", read.errors);
    assert!(matches!(read.events.last().map(|e| &e.data), Some(EventData::Verdict(v)) if v.ok));
    assert!(!text.contains(TEST_PASSWORD));
    // accept-new wrote the host key where OpenSSH would look for it.
    let known = std::fs::read_to_string(&kh).unwrap();
    assert!(
        known.starts_with(&format!("[127.0.0.1]:{port} ssh-ed25519 ")),
        "{known}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("exited 3"), "{stderr}");
}

#[test]
fn failure_exits_255_and_the_redacted_bundle_names_the_cause_without_identities() {
    let (sshd, dir) = sshd_and_dir();
    let red = dir.path().join("bundle.json");
    let raw = dir.path().join("bundle-raw.json");
    let port = sshd.port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_sshdiag"))
        .args([
            "-p",
            &port,
            "--password-env",
            "BAD_PW",
            "--strict-host-key-checking",
            "no",
        ])
        .args(bundle_flags(&red, &raw))
        .args(["--events", &dest()])
        .env("BAD_PW", "wrong-canary-pw")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AuthFailed"), "{stderr}");
    assert!(
        stderr.contains("\"event_type\":\"VERDICT\""),
        "--events did not stream JSONL to stderr"
    );
    let red_text = std::fs::read_to_string(&red).unwrap();
    let bundle = Bundle::from_json(&red_text).unwrap();
    assert_eq!(bundle.verify_integrity(), IntegrityStatus::Valid);
    assert_eq!(
        bundle.verdict.error_type,
        Some(sshdiag_events::ErrorType::AuthFailed)
    );
    for secret_or_identity in ["wrong-canary-pw", TEST_USER, "127.0.0.1"] {
        assert!(
            !red_text.contains(secret_or_identity),
            "{secret_or_identity} leaked into the redacted bundle"
        );
    }
    let raw_text = std::fs::read_to_string(&raw).unwrap();
    assert!(raw_text.contains(TEST_USER) && !raw_text.contains("wrong-canary-pw"));
}

#[test]
fn bad_input_is_one_clear_line_and_255_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_key = dir.path().join("id_bogus");
    std::fs::write(&not_a_key, "this is not a key\n").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--no-such-flag".into(), "h".into()], "--no-such-flag"),
        (
            vec![
                "-o".into(),
                "KexAlgorithms=bogus-kex".into(),
                "--probe-auth".into(),
                "u@h".into(),
            ],
            "bogus-kex",
        ),
        (
            vec![
                "-o".into(),
                "NoSuchOption=1".into(),
                "--probe-auth".into(),
                "u@h".into(),
            ],
            "NoSuchOption",
        ),
        (
            vec!["-i".into(), "/nonexistent/key".into(), "u@h".into()],
            "/nonexistent/key",
        ),
        (vec!["u@h".into()], "no credential"),
    ];
    for (args, needle) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_sshdiag"))
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(255), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    // A file that is not a key is a KeyLoadError from the probe, still before any connection
    // (the host does not exist; a connection attempt would say DnsFailure instead).
    let out = Command::new(env!("CARGO_BIN_EXE_sshdiag"))
        .args([
            "-q",
            "--events",
            "-i",
            not_a_key.to_str().unwrap(),
            "u@no-such-host.invalid",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"KeyLoadError\"") && !stderr.contains("DnsFailure"),
        "{stderr}"
    );
}

#[test]
fn an_agents_key_logs_in_and_a_missing_agent_is_agent_error() {
    let (sshd, dir) = sshd_and_dir();
    let sock = dir.path().join("agent.sock");
    // A real OpenSSH agent (Debian's openssh-client), holding the fixture's ed25519 key.
    let mut agent = Command::new("ssh-agent")
        .args(["-D", "-a", sock.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ssh-agent is needed (Debian package openssh-client)");
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut add = Command::new("ssh-add");
    add.arg(&sshd.client_keys().ed25519.path)
        .env("SSH_AUTH_SOCK", &sock);
    stdout_of(&mut add, "ssh-add (Debian package openssh-client)");
    let port = sshd.port().to_string();
    let run = |sock: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_sshdiag"))
            .args([
                "-q",
                "--events",
                "-p",
                &port,
                "--strict-host-key-checking",
                "no",
                &dest(),
                "true",
            ])
            .env("SSH_AUTH_SOCK", sock)
            .env_remove("USER")
            .output()
            .unwrap()
    };
    let out = run(&sock);
    let _ = agent.kill();
    let _ = agent.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let jsonl: String = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| format!("{l}\n"))
        .collect();
    let agent_success = read_jsonl(&jsonl).events.iter().any(|e| {
        matches!(&e.data, EventData::Auth(a)
            if a.method == Some(sshdiag_events::AuthMethod::SshAgent)
                && a.status == Some(sshdiag_events::AuthStatus::Success))
    });
    assert!(agent_success, "{stderr}");
    let out = run(&dir.path().join("no-such.sock"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "{stderr}");
    assert!(stderr.contains(r#""error_type":"AgentError""#), "{stderr}");
    // The agent library's own words reach the user whole: once "Unable" became `[REDACTED]`.
    assert!(
        stderr.contains("SSH_AUTH_SOCK: Unable to connect to ssh-agent")
            && !stderr.contains("[REDACTED]"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(r#""event_type":"VERSION""#),
        "it connected although the agent was missing"
    );
}
