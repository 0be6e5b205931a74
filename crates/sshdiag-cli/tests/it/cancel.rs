//! Ctrl-C: a run interrupted by SIGINT ends cleanly, as `Diagnostics.cancel()` does in a page:
//! a `Cancelled` verdict as the last event, exit status 255, and the bundle asked for written.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sshdiag_events::{Bundle, ErrorType, EventData, read_jsonl};

#[test]
fn ctrl_c_ends_the_run_with_a_cancelled_verdict_and_still_writes_the_bundle() {
    // A server that accepts and never sends its banner, so the run waits until interrupted.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for socket in listener.incoming().flatten() {
            held.push(socket);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let bundle = dir.path().join("bundle.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sshdiag"))
        .args([
            "-p",
            &port,
            "-o",
            "ConnectTimeout=60",
            "--password-env",
            "SSHDIAG_PW",
        ])
        .args(["--known-hosts", dir.path().join("kh").to_str().unwrap()])
        .args(["--events-file", events.to_str().unwrap()])
        .args([
            "--bundle",
            bundle.to_str().unwrap(),
            "nobody@127.0.0.1",
            "true",
        ])
        .env("SSHDIAG_PW", "not-used")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&events)
        .unwrap_or_default()
        .contains("connect-established")
    {
        assert!(
            Instant::now() < deadline,
            "the run never connected: {:?} {:?}",
            child.try_wait(),
            std::fs::read_to_string(&events)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let interrupted = Instant::now();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            interrupted.elapsed() < Duration::from_secs(10),
            "sshdiag did not end after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(255), "{stderr}");
    let read = read_jsonl(&std::fs::read_to_string(&events).unwrap());
    let Some(EventData::Verdict(verdict)) = read.events.last().map(|e| &e.data) else {
        panic!("the last event is not a VERDICT: {stderr}");
    };
    assert_eq!(verdict.error_type, Some(ErrorType::Cancelled), "{stderr}");
    let written = Bundle::from_json(&std::fs::read_to_string(&bundle).unwrap()).unwrap();
    assert_eq!(written.verdict.error_type, Some(ErrorType::Cancelled));
}
