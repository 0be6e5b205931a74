//! A fleet of relays behind a real load balancer (Debian's HAProxy), as `docs/deploy.md`
//! tells operators to run it: three `sshdiag-proxy` processes sharing one token secret, HAProxy
//! balancing WebSockets over them with `/healthz` as its health check, a real OpenSSH sshd
//! behind, and the real `sshdiag` CLI as the client.
//!
//! What is proven: a token minted once works on every instance; an instance drained with
//! SIGTERM finishes its session while new sessions go to the others; killing one instance
//! ends only its own session, with a relay-layer verdict.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sshdiag_events::{Layer, read_jsonl};
use sshdiag_tests::procs::{Killed, workspace_binary};
use sshdiag_tests::sshd::{SshdFixture, SshdOptions, TEST_PASSWORD, TEST_USER, free_loopback_port};
use sshdiag_tests::tools::HAPROXY;

const SECRET: &str = "fleet-secret-0123456789abcdef0123456789";

fn wait_listening(port: u16) {
    sshdiag_tests::ports::wait_for_port(port, Duration::from_secs(20)).unwrap();
}

/// One relay instance of the fleet.
struct Instance {
    name: String,
    process: Killed,
    log: PathBuf,
}

impl Instance {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, signal: &str) {
        let pid = self.process.0.id().to_string();
        assert!(
            Command::new("kill")
                .args([&format!("-{signal}"), &pid])
                .status()
                .unwrap()
                .success()
        );
    }
}

struct Fleet {
    dir: tempfile::TempDir,
    sshd: SshdFixture,
    instances: Vec<Instance>,
    _haproxy: Killed,
    front: u16,
    stats: u16,
    /// One token, minted once with the shared secret; every session shows it.
    token: String,
}

impl Fleet {
    fn start(size: usize) -> Fleet {
        let haproxy = HAPROXY.require().unwrap();
        let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, SECRET).unwrap();
        let mut instances = Vec::new();
        let mut servers = String::new();
        for i in 0..size {
            let port = free_loopback_port().unwrap();
            let log = dir.path().join(format!("relay{i}.jsonl"));
            let process = Command::new(workspace_binary("sshdiag-proxy"))
                .args([
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                    "--allow",
                    &format!("127.0.0.1/32:{}", sshd.port()),
                    "--token-secret-file",
                    secret.to_str().unwrap(),
                    "--drain-timeout",
                    "30s",
                ])
                .env_remove("RUST_LOG")
                .stdout(std::fs::File::create(&log).unwrap())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let name = format!("relay{i}");
            servers.push_str(&format!("  server {name} 127.0.0.1:{port} check\n"));
            instances.push(Instance {
                name,
                process: Killed(process),
                log,
            });
            wait_listening(port);
        }
        let front = free_loopback_port().unwrap();
        let stats = free_loopback_port().unwrap();
        let config = format!(
            "global\n  maxconn 256\n\
             defaults\n  mode http\n  timeout connect 2s\n  timeout client 60s\n  timeout server 60s\n  timeout tunnel 1h\n  timeout http-request 10s\n\
             frontend relays_in\n  bind 127.0.0.1:{front}\n  default_backend relays\n\
             backend relays\n  balance roundrobin\n  option httpchk\n  http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host relay\n  http-check expect status 200\n  default-server inter 200ms fall 1 rise 1\n{servers}\
             listen stats\n  bind 127.0.0.1:{stats}\n  stats enable\n  stats uri /stats\n"
        );
        let config_path = dir.path().join("haproxy.cfg");
        std::fs::write(&config_path, config).unwrap();
        let haproxy = Command::new(haproxy)
            .args(["-db", "-f", config_path.to_str().unwrap()])
            .stdout(std::fs::File::create(dir.path().join("haproxy.log")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("haproxy.err")).unwrap())
            .spawn()
            .unwrap();
        let token = token_for(sshd.port());
        let fleet = Fleet {
            dir,
            sshd,
            instances,
            _haproxy: Killed(haproxy),
            front,
            stats,
            token,
        };
        wait_listening(front);
        fleet.wait_states(|name| (name.to_string(), "UP".to_string()));
        fleet
    }

    /// HAProxy's view of each server: `name → UP/DOWN/…` from its CSV stats page.
    fn server_states(&self) -> HashMap<String, String> {
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.stats)) else {
            return HashMap::new();
        };
        let _ = stream.write_all(b"GET /stats;csv HTTP/1.0\r\nHost: stats\r\n\r\n");
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        text.lines()
            .filter(|l| l.starts_with("relays,relay"))
            .filter_map(|l| {
                let fields: Vec<&str> = l.split(',').collect();
                Some((fields.get(1)?.to_string(), fields.get(17)?.to_string()))
            })
            .collect()
    }

    /// Waits until every server is in the state `want(name)` says.
    fn wait_states(&self, want: impl Fn(&str) -> (String, String)) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let states = self.server_states();
            let ok = self.instances.iter().all(|i| {
                let (_, state) = want(&i.name);
                states.get(&i.name).is_some_and(|s| s.starts_with(&state))
            });
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "HAProxy states {states:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the CLI through the load balancer, running `command` on the target.
    fn session(&self, tag: &str, command: &[&str]) -> Session {
        let events = self.dir.path().join(format!("{tag}.jsonl"));
        let mut args = vec![
            "--proxy".to_string(),
            format!("ws://127.0.0.1:{}/ws", self.front),
            "--token-env".into(),
            "SSHDIAG_TOKEN".into(),
            "-p".into(),
            self.sshd.port().to_string(),
            "--password-env".into(),
            "SSHDIAG_PW".into(),
            "--known-hosts".into(),
            self.dir
                .path()
                .join("known_hosts")
                .to_string_lossy()
                .into_owned(),
            "--events-file".into(),
            events.to_string_lossy().into_owned(),
            "-q".into(),
            format!("{TEST_USER}@127.0.0.1"),
        ];
        args.extend(command.iter().map(|s| s.to_string()));
        let child = Command::new(workspace_binary("sshdiag"))
            .args(&args)
            .env("SSHDIAG_TOKEN", &self.token)
            .env("SSHDIAG_PW", TEST_PASSWORD)
            .env("HOME", self.dir.path())
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Session {
            process: Killed(child),
            events,
        }
    }

    /// Which instance relayed the session with this connection id.
    fn served_by(&self, connection_id: &str) -> Option<usize> {
        let needle = format!("\"connection_id\":\"{connection_id}\"");
        self.instances
            .iter()
            .position(|i| i.log().contains(&needle))
    }
}

struct Session {
    process: Killed,
    events: PathBuf,
}

impl Session {
    fn events_text(&self) -> String {
        std::fs::read_to_string(&self.events).unwrap_or_default()
    }

    /// The run's connection id, once its first event is written.
    fn connection_id(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.events_text();
            if let Some(event) = read_jsonl(&text).events.first() {
                return event.connection_id.clone();
            }
            assert!(Instant::now() < deadline, "no event from the CLI");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the session is connected through to sshd and authenticated.
    fn wait_authenticated(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.events_text().contains("\"auth-success\"") {
            assert!(
                Instant::now() < deadline,
                "never authenticated: {}",
                self.events_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.process.0.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the CLI never ended");
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn verdict(&self) -> sshdiag_events::VerdictData {
        sshdiag_tests::jsonl::verdict(&self.events_text())
    }
}

/// A token for the target at `port` of 127.0.0.1, valid for ten minutes, signed with the
/// fleet's shared secret.
fn token_for(port: u16) -> String {
    let expires = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    sshdiag_proxy::mint_token(SECRET.as_bytes(), "127.0.0.1", port, expires)
}

fn wait_exit(instance: &mut Instance, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = instance.process.0.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    None
}

#[test]
fn a_token_minted_once_works_on_every_instance() {
    let fleet = Fleet::start(3);
    let mut served = Vec::new();
    for n in 0..3 {
        let mut session = fleet.session(&format!("s{n}"), &["true"]);
        let status = session.wait();
        assert!(status.success(), "{}", session.events_text());
        assert!(session.verdict().ok);
        served.push(
            fleet
                .served_by(&session.connection_id())
                .expect("an instance logged it"),
        );
    }
    served.sort();
    assert_eq!(
        served,
        [0, 1, 2],
        "round robin puts one session on each instance"
    );
    for instance in &fleet.instances {
        assert!(
            instance.log().contains("\"code\":\"relay-tcp-connected\""),
            "{} relayed nothing",
            instance.name
        );
    }
}

#[test]
fn a_drained_instance_finishes_its_session_while_new_ones_go_elsewhere() {
    let fleet = Fleet::start(3);
    let mut long = fleet.session("long", &["sleep", "4"]);
    long.wait_authenticated();
    let drained = fleet.served_by(&long.connection_id()).expect("served");
    let mut fleet = fleet;
    let drained_name = fleet.instances[drained].name.clone();
    fleet.instances[drained].signal("TERM");
    let drain_started = Instant::now();
    // /healthz says `draining`: HAProxy takes the instance out.
    fleet.wait_states(|name| {
        let state = if name == drained_name { "DOWN" } else { "UP" };
        (name.to_string(), state.to_string())
    });
    eprintln!(
        "drain: HAProxy marked {drained_name} down {:?} after SIGTERM",
        drain_started.elapsed()
    );
    for n in 0..3 {
        let mut session = fleet.session(&format!("new{n}"), &["true"]);
        assert!(session.wait().success(), "{}", session.events_text());
        let by = fleet.served_by(&session.connection_id()).expect("served");
        assert_ne!(by, drained, "a new session went to the draining instance");
    }
    let status = long.wait();
    assert!(
        status.success(),
        "the drained session finished: {}",
        long.events_text()
    );
    assert!(long.verdict().ok);
    // With its last session done, the drained instance exits on its own, well before the
    // 30 s drain deadline.
    let exited = wait_exit(&mut fleet.instances[drained], Duration::from_secs(10));
    assert!(exited.is_some_and(|s| s.success()), "{exited:?}");
    eprintln!(
        "drain: {drained_name} exited {:?} after SIGTERM",
        drain_started.elapsed()
    );
    let log = fleet.instances[drained].log();
    assert!(log.contains("\"code\":\"relay-shutdown\""));
}

#[test]
fn killing_one_instance_ends_only_its_own_session_with_a_relay_verdict() {
    let fleet = Fleet::start(3);
    let mut sessions = Vec::new();
    for n in 0..3 {
        let session = fleet.session(&format!("k{n}"), &["sleep", "5"]);
        session.wait_authenticated();
        sessions.push(session);
    }
    let by: Vec<usize> = sessions
        .iter()
        .map(|s| fleet.served_by(&s.connection_id()).expect("served"))
        .collect();
    let mut spread = by.clone();
    spread.sort();
    assert_eq!(spread, [0, 1, 2], "one session per instance");
    let victim = by[0];
    let mut fleet = fleet;
    fleet.instances[victim].signal("KILL");
    let _ = wait_exit(&mut fleet.instances[victim], Duration::from_secs(5));
    for (session, instance) in sessions.iter_mut().zip(&by) {
        let status = session.wait();
        let verdict = session.verdict();
        if *instance == victim {
            assert_eq!(status.code(), Some(255));
            assert!(!verdict.ok);
            assert_eq!(verdict.layer, Some(Layer::Relay), "{verdict:#?}");
            assert!(verdict.hints.iter().any(|h| h.contains("relay process")));
        } else {
            assert!(status.success(), "{}", session.events_text());
            assert!(verdict.ok, "{verdict:#?}");
        }
    }
}
