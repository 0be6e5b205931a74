//! What several of the `sshdiag` binary's test files share: running the real binary the way a
//! user does, with the test password in `SSHDIAG_PW` and a `HOME` that holds no user config.
//!
//! It must never pass a secret on the command line (only through the environment), and never
//! point `HOME` at the real user's home.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sshdiag_events::{Event, read_jsonl};
use sshdiag_tests::sshd::{SshdFixture, SshdOptions, TEST_PASSWORD};

/// A real sshd with the default options, and a temp dir for the test's files.
pub fn sshd_and_dir() -> (SshdFixture, tempfile::TempDir) {
    let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    (sshd, tempfile::tempdir().unwrap())
}

/// [`sshdiag`] to port `port` with the password from `SSHDIAG_PW`, then `args`.
pub fn sshdiag_with_password(port: u16, args: &[&str]) -> Output {
    let port = port.to_string();
    let mut all = vec!["-p", &port, "--password-env", "SSHDIAG_PW"];
    all.extend_from_slice(args);
    sshdiag(&all)
}

/// The flags that write the redacted bundle to `redacted` and the raw one to `raw`.
pub fn bundle_flags<'a>(redacted: &'a Path, raw: &'a Path) -> [&'a OsStr; 4] {
    let flags: [&OsStr; 2] = ["--bundle".as_ref(), "--bundle-raw".as_ref()];
    [flags[0], redacted.as_os_str(), flags[1], raw.as_os_str()]
}

/// Writes `text` to `DIR/NAME` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The exit status is `code`; on failure the assertion shows the CLI's stderr.
#[track_caller]
pub fn assert_exit(out: &Output, code: Option<i32>) {
    assert_eq!(
        out.status.code(),
        code,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The run printed exactly `stdout`; on failure the assertion shows the CLI's stderr.
#[track_caller]
pub fn assert_prints(out: &Output, stdout: &str) {
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        stdout,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run the `sshdiag` binary with `args`, the test password in `SSHDIAG_PW`, and `HOME` set to
/// the temp dir, and wait for its output.
pub fn sshdiag(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sshdiag"))
        .args(args)
        .env("SSHDIAG_PW", TEST_PASSWORD)
        .env("HOME", std::env::temp_dir())
        .output()
        .expect("run sshdiag")
}

/// Runs [`sshdiag`] against `port` as `user`: `flags` before the destination, `command` after
/// it, its `known_hosts` and events in a fresh temp dir. Returns the events, every line of which
/// must load and none of which may hold the test password.
pub fn events_of(port: u16, user: &str, flags: &[&str], command: &[&str]) -> Vec<Event> {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let kh = dir.path().join("known_hosts");
    let port = port.to_string();
    let mut args = vec!["-p", &port, "--known-hosts", kh.to_str().unwrap()];
    args.extend(["--events-file", events.to_str().unwrap()]);
    args.extend_from_slice(flags);
    let dest = format!("{user}@127.0.0.1");
    args.push(&dest);
    args.extend_from_slice(command);
    let out = sshdiag(&args);
    let text = std::fs::read_to_string(&events)
        .unwrap_or_else(|_| panic!("no events: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(
        !text.contains(TEST_PASSWORD),
        "the password leaked into the events"
    );
    let read = read_jsonl(&text);
    assert!(read.errors.is_empty(), "{:?}", read.errors);
    read.events
}

/// `n` fresh ed25519 keys (no passphrase) made by `ssh-keygen` in `dir`: keys the server does
/// not know, to offer until it gives up.
pub fn stray_keys(dir: &Path, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let path = dir.join(format!("stray{i}"));
            let made = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&path)
                .status()
                .expect("ssh-keygen (apt-get install -y openssh-client)");
            assert!(made.success());
            path
        })
        .collect()
}
