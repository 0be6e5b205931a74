//! Jump-host chains as a user runs them: the `sshdiag` binary with `-J` (and `-o ProxyJump=`)
//! through real OpenSSH bastions to a real OpenSSH target, each server its own sshd. Success
//! through one and two jump hosts, and each failure (bastion auth, forwarding disabled on the
//! bastion, target port closed behind the bastion, target auth) naming the right hop and layer.
//! A target that listens only on 127.0.0.2 is reached through bastions on 127.0.0.1, directly
//! and through the real relay allowing only the first bastion.

use std::net::Ipv4Addr;
use std::process::{Command, Output};

use crate::common::{assert_exit, write_file};

use sshdiag_events::{ErrorData, Event, EventData, Layer, VerdictData, read_jsonl};
use sshdiag_tests::relay::RelayFixture;
use sshdiag_tests::sshd::{SshdFixture, SshdOptions, TEST_PASSWORD, TEST_USER, free_loopback_port};

/// Run `sshdiag` with the test password, the events in a file and no ssh_config unless
/// `args` names one; returns the output, the events and the known_hosts file.
fn sshdiag(args: &[&str]) -> (Output, Vec<Event>, String) {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let kh = dir.path().join("known_hosts");
    let out = Command::new(env!("CARGO_BIN_EXE_sshdiag"))
        .args(if args.contains(&"-F") {
            &[][..]
        } else {
            &["-F", "none"][..]
        })
        .args(["--password-env", "SSHDIAG_PW"])
        .args(["--known-hosts", kh.to_str().unwrap()])
        .args(["--events-file", events.to_str().unwrap()])
        .args(args)
        .env("SSHDIAG_PW", TEST_PASSWORD)
        .env("HOME", dir.path())
        .output()
        .expect("run sshdiag");
    let text = std::fs::read_to_string(&events).unwrap_or_default();
    let read = read_jsonl(&text);
    assert!(read.errors.is_empty(), "{:?}", read.errors);
    assert!(!text.contains(TEST_PASSWORD));
    let known = std::fs::read_to_string(&kh).unwrap_or_default();
    (out, read.events, known)
}

/// Run `true` through `bastion` to port `port` of 127.0.0.1: the run must fail with its one
/// ERROR at hop `hop`. Returns the events and that ERROR's data.
fn fails_at_hop(bastion: &SshdFixture, port: &str, hop: u32) -> (Vec<Event>, ErrorData) {
    let (out, events, _) = sshdiag(&["-J", &jump(bastion), "-p", port, &dest(), "true"]);
    assert_ne!(out.status.code(), Some(0));
    let (event, e) = error(&events);
    assert_eq!(event.hop.as_ref().map(|h| h.index), Some(hop));
    let e = e.clone();
    (events, e)
}

fn jump(sshd: &SshdFixture) -> String {
    format!("{TEST_USER}@127.0.0.1:{}", sshd.port())
}

fn dest() -> String {
    format!("{TEST_USER}@127.0.0.1")
}

fn error(events: &[Event]) -> (&Event, &ErrorData) {
    let mut errors = events.iter().filter_map(|e| match &e.data {
        EventData::Error(d) => Some((e, d)),
        _ => None,
    });
    let first = errors.next().expect("an ERROR event");
    assert!(errors.next().is_none(), "exactly one ERROR: {events:#?}");
    first
}

fn verdict(events: &[Event]) -> &VerdictData {
    match events.last().map(|e| &e.data) {
        Some(EventData::Verdict(v)) => v,
        other => panic!("the last event is not VERDICT: {other:?}"),
    }
}

/// The hop index of each VERSION event: one banner per server passed through.
fn banner_hops(events: &[Event]) -> Vec<Option<u32>> {
    events
        .iter()
        .filter(|e| matches!(e.data, EventData::Version(_)))
        .map(|e| e.hop.as_ref().map(|h| h.index))
        .collect()
}

/// The hop index of each successful AUTH event.
fn login_hops(events: &[Event]) -> Vec<Option<u32>> {
    events
        .iter()
        .filter(|e| e.code == "auth-success")
        .map(|e| e.hop.as_ref().map(|h| h.index))
        .collect()
}

#[test]
fn a_command_runs_on_the_target_through_one_jump_host() {
    let bastion = SshdFixture::start(SshdOptions::default()).unwrap();
    let target = SshdFixture::start(SshdOptions::default()).unwrap();
    let tport = target.port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw.json");
    let redacted = dir.path().join("redacted.json");
    let (out, events, known) = sshdiag(&[
        "--bundle-raw",
        raw.to_str().unwrap(),
        "--bundle",
        redacted.to_str().unwrap(),
        "-J",
        &jump(&bastion),
        "-p",
        &tport,
        &dest(),
        "echo",
        "via-bastion",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "via-bastion\n");
    let v = verdict(&events);
    assert!(v.ok, "{v:?}");
    assert!(
        v.summary.contains(&format!("through {}", jump(&bastion))),
        "{}",
        v.summary
    );
    // Each server was diagnosed on its own, and its events say which it was.
    assert_eq!(banner_hops(&events), [Some(0), Some(1)]);
    assert_eq!(login_hops(&events), [Some(0), Some(1)]);
    let bastion_hop = events
        .iter()
        .find_map(|e| e.hop.as_ref().filter(|h| h.index == 0))
        .unwrap();
    assert_eq!(bastion_hop.port, bastion.port());
    let exec = events
        .iter()
        .find(|e| matches!(e.data, EventData::Exec(_)))
        .unwrap();
    assert_eq!(
        exec.hop.as_ref().map(|h| (h.index, h.port)),
        Some((1, target.port()))
    );
    // Each host key was checked and stored under its own name.
    for port in [bastion.port(), target.port()] {
        assert!(known.contains(&format!("[127.0.0.1]:{port} ")), "{known}");
    }
    // The target session really went through the bastion's forwarding.
    let wanted = format!("target 127.0.0.1 port {}", target.port());
    // The bundle keeps every hop's facts; the redacted one hides the hops' host names as
    // it hides the target's.
    let hops = |path: &std::path::Path| -> Vec<serde_json::Value> {
        let bundle: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let events = bundle["events"].as_array().expect("events").clone();
        events.into_iter().map(|e| e["hop"].clone()).collect()
    };
    let raw_hops = hops(&raw);
    let bastion_hop = serde_json::json!({"index": 0, "host": "127.0.0.1", "port": bastion.port()});
    assert!(raw_hops.contains(&bastion_hop), "{raw_hops:?}");
    let redacted_hops = hops(&redacted);
    assert!(
        redacted_hops.iter().any(|h| h["index"] == 1),
        "{redacted_hops:?}"
    );
    assert!(
        redacted_hops
            .iter()
            .all(|h| h.is_null() || h["host"] != "127.0.0.1"),
        "{redacted_hops:?}"
    );
    assert!(
        bastion.log().contains(&wanted),
        "the bastion forwarded nothing to the target"
    );
}

#[test]
fn a_direct_run_carries_no_hop() {
    let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    let port = sshd.port().to_string();
    let (out, events, _) = sshdiag(&["-p", &port, &dest(), "true"]);
    assert_exit(&out, Some(0));
    assert!(events.iter().all(|e| e.hop.is_none()));
    let line = serde_json::to_string(&events[0]).unwrap();
    assert!(!line.contains("\"hop\""), "{line}");
}

#[test]
fn two_jump_hosts_from_proxyjump_are_passed_in_order() {
    let first = SshdFixture::start(SshdOptions::default()).unwrap();
    let second = SshdFixture::start(SshdOptions::default()).unwrap();
    let target = SshdFixture::start(SshdOptions::default()).unwrap();
    let chain = format!("ProxyJump={},{}", jump(&first), jump(&second));
    let tport = target.port().to_string();
    let (out, events, _) = sshdiag(&["-o", &chain, "-p", &tport, &dest(), "echo", "two"]);
    assert_exit(&out, Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "two\n");
    assert_eq!(banner_hops(&events), [Some(0), Some(1), Some(2)]);
    assert_eq!(login_hops(&events), [Some(0), Some(1), Some(2)]);
    assert!(
        first
            .log()
            .contains(&format!("target 127.0.0.1 port {}", second.port()))
    );
    assert!(
        second
            .log()
            .contains(&format!("target 127.0.0.1 port {}", target.port()))
    );
}

#[test]
fn a_refused_login_at_the_bastion_names_the_bastion() {
    let bastion =
        SshdFixture::start(SshdOptions::with_config(["PasswordAuthentication no"])).unwrap();
    let target = SshdFixture::start(SshdOptions::default()).unwrap();
    let tport = target.port().to_string();
    let (events, e) = fails_at_hop(&bastion, &tport, 0);
    assert_eq!((e.layer, e.port), (Some(Layer::Auth), Some(bastion.port())));
    let v = verdict(&events);
    assert_eq!(v.layer, Some(Layer::Auth));
    assert!(
        v.summary.starts_with("At jump host 1 of 1 (127.0.0.1:"),
        "{}",
        v.summary
    );
    assert_eq!(
        banner_hops(&events),
        [Some(0)],
        "the target was never reached"
    );
}

#[test]
fn forwarding_disabled_on_the_bastion_names_allowtcpforwarding() {
    let bastion = SshdFixture::start(SshdOptions::with_config(["AllowTcpForwarding no"])).unwrap();
    let target = SshdFixture::start(SshdOptions::default()).unwrap();
    let tport = target.port().to_string();
    let (events, e) = fails_at_hop(&bastion, &tport, 0);
    assert_eq!(e.error_type, "ChannelOpenFailed");
    assert_eq!(
        (e.layer, e.port),
        (Some(Layer::Channel), Some(bastion.port()))
    );
    assert!(
        e.hints.iter().any(|h| h.contains("AllowTcpForwarding")),
        "{:?}",
        e.hints
    );
    let v = verdict(&events);
    assert!(
        v.summary
            .contains("accepted you; it could not open a connection to"),
        "{}",
        v.summary
    );
    assert!(
        v.summary.contains("administratively prohibited"),
        "{}",
        v.summary
    );
    assert_eq!(login_hops(&events), [Some(0)]);
}

#[test]
fn a_closed_target_port_behind_the_bastion_names_the_target_as_seen_from_it() {
    let bastion = SshdFixture::start(SshdOptions::default()).unwrap();
    let closed = free_loopback_port().unwrap().to_string();
    let (events, e) = fails_at_hop(&bastion, &closed, 1);
    assert_eq!(e.error_type, "ConnectionRefused");
    assert_eq!(e.layer, Some(Layer::Tcp));
    assert_eq!(e.port.map(|p| p.to_string()), Some(closed.clone()));
    let v = verdict(&events);
    let said = format!(
        "The jump host 1 of 1 (127.0.0.1:{}) accepted you; it could not open a connection to 127.0.0.1:{closed}: connect failed",
        bastion.port()
    );
    assert!(v.summary.starts_with(&said), "{}", v.summary);
    assert_eq!(v.layer, Some(Layer::Tcp));
}

#[test]
fn a_refused_login_at_the_target_names_the_target() {
    let bastion = SshdFixture::start(SshdOptions::default()).unwrap();
    let target =
        SshdFixture::start(SshdOptions::with_config(["PasswordAuthentication no"])).unwrap();
    let tport = target.port().to_string();
    let (events, e) = fails_at_hop(&bastion, &tport, 1);
    assert_eq!((e.layer, e.port), (Some(Layer::Auth), Some(target.port())));
    assert_eq!(
        login_hops(&events),
        [Some(0)],
        "the bastion accepted the login"
    );
    assert_eq!(verdict(&events).layer, Some(Layer::Auth));
}

#[test]
fn a_bad_jump_spec_is_refused_before_connecting() {
    let (out, events, _) = sshdiag(&["-J", "user@", &dest(), "true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(events.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("-J user@"), "{stderr}");
}

#[test]
fn proxyjump_in_ssh_config_applies_to_its_host() {
    let bastion = SshdFixture::start(SshdOptions::default()).unwrap();
    let target = SshdFixture::start(SshdOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "Host db\n  HostName 127.0.0.1\n  Port {}\n  User {TEST_USER}\n  ProxyJump {}\n",
        target.port(),
        jump(&bastion)
    );
    let config = write_file(dir.path(), "config", &text);
    let (out, events, _) = sshdiag(&["-F", config.to_str().unwrap(), "db", "echo", "cfg"]);
    assert_exit(&out, Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "cfg\n");
    assert_eq!(banner_hops(&events), [Some(0), Some(1)]);
    let wanted = format!("target 127.0.0.1 port {}", target.port());
    assert!(bastion.log().contains(&wanted));
}

/// A target sshd listening only on 127.0.0.2: a client that connects to 127.0.0.1 (where the
/// bastions are) does not find it there.
fn target_behind() -> SshdFixture {
    let target = SshdFixture::start(SshdOptions {
        listen: Some(Ipv4Addr::new(127, 0, 0, 2)),
        ..SshdOptions::default()
    })
    .unwrap();
    assert_eq!(target.host(), "127.0.0.2");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", target.port())).is_err(),
        "the target must not answer on the client's address"
    );
    target
}

/// The run got through to the target behind the bastions: `echo behind` ran there, every
/// server passed gave its banner, and the last command ran at the target's hop.
fn reached_behind(out: &Output, events: &[Event], target: &SshdFixture, hops: usize) {
    assert_exit(out, Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "behind\n");
    let want: Vec<Option<u32>> = (0..=hops as u32).map(Some).collect();
    assert_eq!(banner_hops(events), want);
    assert_eq!(login_hops(events), want);
    let exec = events
        .iter()
        .find(|e| matches!(e.data, EventData::Exec(_)))
        .unwrap();
    let hop = exec.hop.as_ref().unwrap();
    assert_eq!(
        (hop.index, hop.host.as_str(), hop.port),
        (hops as u32, "127.0.0.2", target.port())
    );
    assert!(verdict(events).ok);
}

#[test]
fn a_target_only_the_bastion_reaches_is_diagnosed_through_one_and_two_jump_hosts() {
    let first = SshdFixture::start(SshdOptions::default()).unwrap();
    let second = SshdFixture::start(SshdOptions::default()).unwrap();
    let target = target_behind();
    let tport = target.port().to_string();
    let dest = format!("{TEST_USER}@127.0.0.2");
    let asked = format!("target 127.0.0.2 port {tport}");

    let (out, events, known) =
        sshdiag(&["-J", &jump(&first), "-p", &tport, &dest, "echo", "behind"]);
    reached_behind(&out, &events, &target, 1);
    assert!(
        first.log().contains(&asked),
        "the bastion forwarded nothing"
    );
    assert!(known.contains(&format!("[127.0.0.2]:{tport} ")), "{known}");
    // The target saw the connection come from the bastion's side of loopback.
    let accepted = format!("Accepted password for {TEST_USER} from 127.0.0.1 port");
    assert!(target.log().contains(&accepted), "{}", target.log());

    let chain = format!("{},{}", jump(&first), jump(&second));
    let (out, events, _) = sshdiag(&["-J", &chain, "-p", &tport, &dest, "echo", "behind"]);
    reached_behind(&out, &events, &target, 2);
    assert!(
        second.log().contains(&asked),
        "the second bastion forwarded nothing"
    );
}

#[test]
fn through_the_relay_allowing_only_the_bastion_the_target_behind_it_is_reached() {
    let bastion = SshdFixture::start(SshdOptions::default()).unwrap();
    let target = target_behind();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let relay = runtime
        .block_on(RelayFixture::start(vec![format!(
            "127.0.0.1/32:{}",
            bastion.port()
        )]))
        .unwrap();
    let tport = target.port().to_string();
    let dest = format!("{TEST_USER}@127.0.0.2");
    let url = relay.ws_url();
    let (out, events, _) = sshdiag(&[
        "--proxy",
        &url,
        "-J",
        &jump(&bastion),
        "-p",
        &tport,
        &dest,
        "echo",
        "behind",
    ]);
    reached_behind(&out, &events, &target, 1);
    // The relay itself refuses the target: only the bastion can reach it.
    let (out, events, _) = sshdiag(&["--proxy", &url, "-p", &tport, &dest, "true"]);
    assert_eq!(out.status.code(), Some(255));
    assert_eq!(error(&events).1.layer, Some(Layer::Relay));
    runtime.block_on(relay.shutdown());
}

/// `ssh -G -F CONFIG HOST`'s value of `key`: OpenSSH's own resolution of a destination.
fn ssh_g(config: &std::path::Path, host: &str, key: &str) -> String {
    let ssh = sshdiag_tests::tools::SSH.require().unwrap();
    let mut command = Command::new(ssh);
    command.args(["-F", config.to_str().unwrap(), "-G", host]);
    let text = sshdiag_tests::procs::stdout_of(&mut command, "ssh -G");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key} ")))
        .unwrap_or_else(|| panic!("no {key} in ssh -G {host}"))
        .to_string()
}

#[test]
fn a_jump_hosts_own_host_block_applies_to_its_hop_as_ssh_resolves_it() {
    // The bastion takes only its key, named in its own Host block; the target takes the
    // password. Neither block's values are on the command line.
    let bastion =
        SshdFixture::start(SshdOptions::with_config(["PasswordAuthentication no"])).unwrap();
    let target = SshdFixture::start(SshdOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = &bastion.client_keys().ed25519;
    let text = format!(
        "Host bastion\n  HostName 127.0.0.1\n  Port {}\n  User {TEST_USER}\n  IdentityFile {}\n\
         Host db\n  HostName 127.0.0.1\n  Port {}\n  User {TEST_USER}\n  ProxyJump bastion\n",
        bastion.port(),
        key.path.display(),
        target.port(),
    );
    let config = write_file(dir.path(), "config", &text);
    let (out, events, _) = sshdiag(&["-F", config.to_str().unwrap(), "db", "echo", "hop"]);
    assert_exit(&out, Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hop\n");
    // The hop is where OpenSSH's own resolution of `bastion` puts it.
    let hop = events
        .iter()
        .find_map(|e| e.hop.as_ref().filter(|h| h.index == 0))
        .unwrap();
    assert_eq!(hop.host, ssh_g(&config, "bastion", "hostname"));
    assert_eq!(hop.port.to_string(), ssh_g(&config, "bastion", "port"));
    // It logged in as its block's user with its block's key.
    let login = events
        .iter()
        .find(|e| e.code == "auth-success" && e.hop.as_ref().is_some_and(|h| h.index == 0))
        .unwrap();
    let EventData::Auth(auth) = &login.data else {
        panic!("{login:?}")
    };
    assert_eq!(
        auth.username.as_deref(),
        Some(ssh_g(&config, "bastion", "user").as_str())
    );
    assert_eq!(
        ssh_g(&config, "bastion", "identityfile"),
        key.path.display().to_string()
    );
    assert_eq!(
        serde_json::to_value(auth.method).unwrap(),
        serde_json::json!("private_key"),
        "{auth:?}"
    );
    assert!(
        bastion.log().contains("Accepted publickey for"),
        "{}",
        bastion.log()
    );
    assert!(
        bastion
            .log()
            .contains(&format!("target 127.0.0.1 port {}", target.port()))
    );
}

#[test]
fn a_jump_host_without_a_user_logs_in_as_the_local_user_as_openssh_does() {
    let bastion = SshdFixture::start(SshdOptions::default()).unwrap();
    let target = SshdFixture::start(SshdOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    // The local user is the test user; the target login is for another name.
    let out = Command::new(env!("CARGO_BIN_EXE_sshdiag"))
        .args(["-F", "none", "--strict-host-key-checking", "no"])
        .args(["--password-env", "SSHDIAG_PW", "--events-file"])
        .arg(&events)
        .args(["-J", &format!("127.0.0.1:{}", bastion.port())])
        .args([
            "-p",
            &target.port().to_string(),
            "someone-else@127.0.0.1",
            "true",
        ])
        .env("SSHDIAG_PW", TEST_PASSWORD)
        .env("HOME", dir.path())
        .env("USER", TEST_USER)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    let events = read_jsonl(&std::fs::read_to_string(&events).unwrap()).events;
    assert_eq!(
        login_hops(&events),
        [Some(0)],
        "the bastion took the local user"
    );
    assert!(
        bastion
            .log()
            .contains(&format!("Accepted password for {TEST_USER} from")),
        "{}",
        bastion.log()
    );
    let (event, _) = error(&events);
    assert_eq!(event.hop.as_ref().map(|h| h.index), Some(1));
}
