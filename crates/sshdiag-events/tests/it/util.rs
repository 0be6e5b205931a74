//! Shared fixtures: realistic sessions built the way the core builds them, and helpers.

use std::collections::BTreeMap;

use serde_json::Value;
use sshdiag_events::bundle::{Bundle, SessionInfo, ToolInfo, TranscriptEntry};
use sshdiag_events::codes::{Code, ErrorType, Layer, Phase};
use sshdiag_events::event::*;
use sshdiag_events::jsonl::EventCollector;

pub const T0: f64 = 1_763_700_000.123;

/// The identities of one session, so tests can plant them and look for them.
#[derive(Debug, Clone)]
pub struct Identity {
    pub username: String,
    pub host: String,
    pub ipv4: String,
    pub ipv6: String,
    pub relay_host: String,
}

impl Default for Identity {
    fn default() -> Identity {
        Identity {
            username: "alice".into(),
            host: "example.com".into(),
            ipv4: "203.0.113.5".into(),
            ipv6: "2001:db8::5".into(),
            relay_host: "relay.example.net".into(),
        }
    }
}

pub fn session_info(id: &Identity) -> SessionInfo {
    SessionInfo {
        connection_id: "c7f3a91e2b".into(),
        created_ms: 1_763_700_001_000,
        tool: ToolInfo::sshdiag("native", None),
        host: id.host.clone(),
        port: 22,
        username: id.username.clone(),
        proxy: Some(format!("wss://{}/ws", id.relay_host)),
        jump: Vec::new(),
    }
}

fn proposal(kex: &[&str]) -> Proposal {
    let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Proposal {
        kex: list(kex),
        host_key: list(&["ssh-ed25519", "rsa-sha2-512"]),
        cipher_cs: list(&["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com"]),
        cipher_sc: list(&["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com"]),
        mac_cs: list(&["hmac-sha2-256-etm@openssh.com"]),
        mac_sc: list(&["hmac-sha2-256-etm@openssh.com"]),
        compression_cs: list(&["none"]),
        compression_sc: list(&["none"]),
    }
}

pub fn phases(entries: &[(Phase, f64)]) -> BTreeMap<Phase, f64> {
    entries.iter().copied().collect()
}

/// The milliseconds of the phases both sessions below go through up to the host key check.
const UP_TO_HOSTKEY: [(Phase, f64); 6] = [
    (Phase::Relay, 12.0),
    (Phase::Dns, 3.5),
    (Phase::Tcp, 8.25),
    (Phase::Banner, 20.0),
    (Phase::Kex, 30.0),
    (Phase::Hostkey, 0.5),
];

/// The verdict's phases of a session that went through [`UP_TO_HOSTKEY`], then `rest`.
fn phases_after_hostkey(rest: &[(Phase, f64)]) -> BTreeMap<Phase, f64> {
    UP_TO_HOSTKEY.iter().chain(rest).copied().collect()
}

/// The bundle of `session` for the default identity, with the standard transcript.
pub fn bundle_of(session: fn(&Identity) -> Vec<Event>) -> Bundle {
    let id = Identity::default();
    Bundle::from_session(session_info(&id), session(&id), transcript())
}

/// A session through the relay: password rejected, key accepted, one command, verdict ok.
pub fn ok_session(id: &Identity) -> Vec<Event> {
    let mut c = EventCollector::new("c7f3a91e2b");
    let mut t = T0;
    let mut step = |ms: f64| {
        t += ms / 1000.0;
        t
    };
    c.push(
        Level::Info,
        Code::ConnectInitiating,
        EventData::Connect(ConnectData {
            status: Some(ConnectStatus::Initiating),
            host: id.host.clone(),
            port: 22,
            username: Some(id.username.clone()),
            transport: Some(Transport::Websocket),
            proxy: Some(format!("wss://{}/ws", id.relay_host)),
            auth_method: None,
            source: None,
        }),
        step(0.0),
    );
    c.push(
        Level::Info,
        Code::ProxyWsOpen,
        EventData::Proxy(ProxyData {
            status: Some(ProxyStatus::WsOpen),
            ms: Some(12.0),
            ..Default::default()
        }),
        step(12.0),
    );
    c.push(
        Level::Info,
        Code::ProxyResolved,
        EventData::Proxy(ProxyData {
            status: Some(ProxyStatus::Resolved),
            ms: Some(3.5),
            addrs: Some(vec![id.ipv4.clone(), id.ipv6.clone()]),
            ..Default::default()
        }),
        step(3.5),
    );
    c.push(
        Level::Info,
        Code::ProxyTcpConnected,
        EventData::Proxy(ProxyData {
            status: Some(ProxyStatus::TcpConnected),
            ms: Some(8.25),
            peer: Some(format!("{}:22", id.ipv4)),
            local: Some(format!("[{}]:40222", id.ipv6)),
            ..Default::default()
        }),
        step(8.25),
    );
    c.push(
        Level::Info,
        Code::ConnectEstablished,
        EventData::Connect(ConnectData {
            status: Some(ConnectStatus::Connected),
            host: id.host.clone(),
            port: 22,
            username: Some(id.username.clone()),
            transport: Some(Transport::Websocket),
            proxy: None,
            auth_method: None,
            // The relay's end, which the server sees as the source.
            source: Some(format!("[{}]:40222", id.ipv6)),
        }),
        step(0.1),
    );
    c.push(
        Level::Info,
        Code::VersionReceived,
        EventData::Version(VersionData {
            client_version: "SSH-2.0-sshdiag_0.1.0".into(),
            server_version: "SSH-2.0-OpenSSH_9.2p1 Debian-2".into(),
            server_software: None,
            pre_banner_lines: vec![],
            duration_ms: Some(20.0),
        }),
        step(20.0),
    );
    c.push(
        Level::Debug,
        Code::KexProposals,
        EventData::Kex(KexData {
            status: Some(KexStatus::Proposals),
            client_proposal: Some(proposal(&["curve25519-sha256", "ecdh-sha2-nistp256"])),
            server_proposal: Some(proposal(&[
                "sntrup761x25519-sha512@openssh.com",
                "curve25519-sha256",
            ])),
            ..Default::default()
        }),
        step(1.0),
    );
    c.push(
        Level::Info,
        Code::KexNegotiated,
        EventData::Kex(KexData {
            status: Some(KexStatus::Negotiated),
            negotiated: Negotiated {
                kex: Some("curve25519-sha256".into()),
                host_key: Some("ssh-ed25519".into()),
                cipher_cs: Some("chacha20-poly1305@openssh.com".into()),
                cipher_sc: Some("chacha20-poly1305@openssh.com".into()),
                mac_cs: Some("implicit".into()),
                mac_sc: Some("implicit".into()),
                compression_cs: Some("none".into()),
                compression_sc: Some("none".into()),
                strict_kex: Some(true),
                server_sig_algs: Some(vec!["ssh-ed25519".into(), "rsa-sha2-512".into()]),
            },
            duration_ms: Some(30.0),
            ..Default::default()
        }),
        step(30.0),
    );
    c.push(
        Level::Info,
        Code::HostkeyTrusted,
        EventData::Hostkey(HostkeyData {
            algorithm: "ssh-ed25519".into(),
            fingerprint_sha256: "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s".into(),
            status: Some(HostkeyStatus::Trusted),
            expected_fingerprint: None,
            policy: Some(HostKeyPolicy::AcceptNew),
        }),
        step(0.5),
    );
    c.push(
        Level::Info,
        Code::AuthAttempt,
        EventData::Auth(AuthData {
            status: Some(AuthStatus::Attempt),
            method: Some(AuthMethod::Password),
            username: Some(id.username.clone()),
            ..Default::default()
        }),
        step(0.2),
    );
    c.push(
        Level::Warn,
        Code::AuthRejected,
        EventData::Auth(AuthData {
            status: Some(AuthStatus::Failed),
            method: Some(AuthMethod::Password),
            username: Some(id.username.clone()),
            duration_ms: Some(45.2),
            methods_available: Some(vec!["publickey".into()]),
            error_type: Some("AuthFailed".into()),
            error_message: Some(format!(
                "Permission denied for {}@{} from {}",
                id.username, id.host, id.ipv4
            )),
            ..Default::default()
        }),
        step(45.2),
    );
    c.push(
        Level::Info,
        Code::AuthSuccess,
        EventData::Auth(AuthData {
            status: Some(AuthStatus::Success),
            method: Some(AuthMethod::PrivateKey),
            username: Some(id.username.clone()),
            duration_ms: Some(12.5),
            key_fingerprint: Some("SHA256:Jk1dK8mZp7vQ3bXcR9tY2wL6nF4hS0aE5uI8oP1qA2s".into()),
            ..Default::default()
        }),
        step(12.5),
    );
    c.push(
        Level::Info,
        Code::ChannelOpened,
        EventData::Channel(ChannelData {
            status: ChannelStatus::Opened,
            channel_type: "session".into(),
            reason_code: None,
            reason: None,
        }),
        step(2.0),
    );
    c.push(
        Level::Info,
        Code::ExecFinished,
        EventData::Exec(ExecData {
            command: "uname -a".into(),
            streaming: false,
            duration_ms: Some(15.0),
            exit_code: Some(0),
            exit_signal: None,
            stdout_len: 60,
            stderr_len: 0,
        }),
        step(15.0),
    );
    c.push(
        Level::Info,
        Code::DisconnectNormal,
        EventData::Disconnect(DisconnectData {
            reason: DisconnectReason::Normal,
            disconnect_code: None,
            description: None,
            bytes_sent: Some(2048),
            bytes_received: Some(4096),
        }),
        step(1.0),
    );
    c.push(
        Level::Info,
        Code::VerdictOk,
        EventData::Verdict(VerdictData {
            ok: true,
            layer: Some(Layer::Exec),
            error_type: None,
            code: Code::VerdictOk.as_str().into(),
            summary: format!(
                "Connected to {} as {} and ran 1 command.",
                id.host, id.username
            ),
            hints: vec![],
            phases: phases_after_hostkey(&[
                (Phase::Auth, 57.7),
                (Phase::Channel, 2.0),
                (Phase::Exec, 15.0),
            ]),
        }),
        step(0.3),
    );
    c.into_events()
}

/// A session that fails authentication: the `ERROR` and failed `VERDICT` at the end.
pub fn failed_session(id: &Identity) -> Vec<Event> {
    let mut events: Vec<Event> = ok_session(id)
        .into_iter()
        .filter(|e| {
            !matches!(
                e.data,
                EventData::Auth(AuthData {
                    status: Some(AuthStatus::Success),
                    ..
                }) | EventData::Channel(_)
                    | EventData::Exec(_)
                    | EventData::Disconnect(_)
                    | EventData::Verdict(_)
            )
        })
        .collect();
    let mut c = EventCollector::new("c7f3a91e2b");
    let mut t = events.last().map_or(T0, |e| e.timestamp);
    for e in events.drain(..) {
        c.push_built(
            sshdiag_events::jsonl::EventBuilder::new(
                Code::from_wire(&e.code).unwrap_or(Code::Internal),
                e.data,
            )
            .level(e.level)
            .at(e.timestamp),
        );
    }
    t += 0.004;
    c.push(
        Level::Error,
        Code::AuthFailed,
        EventData::Error(ErrorData {
            error_type: ErrorType::AuthFailed.as_str().into(),
            message: format!("Every method was rejected for {}", id.username),
            layer: Some(Layer::Auth),
            hints: vec![
                "The server does not accept passwords for this user; it accepts: publickey.".into(),
            ],
            host: Some(id.host.clone()),
            port: Some(22),
            phase: Some(Phase::Auth),
            methods_tried: Vec::new(),
            context: serde_json::json!({
                "methods_tried": ["password"],
                "methods_available": ["publickey"],
                "partial_success": false,
                "username": id.username,
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        }),
        t,
    );
    t += 0.001;
    c.push(
        Level::Warn,
        Code::DisconnectUnexpected,
        EventData::Disconnect(DisconnectData {
            reason: DisconnectReason::AuthFailure,
            disconnect_code: Some(14),
            description: Some("No more authentication methods available".into()),
            bytes_sent: None,
            bytes_received: None,
        }),
        t,
    );
    t += 0.001;
    c.push(
        Level::Error,
        Code::VerdictFailed,
        EventData::Verdict(VerdictData {
            ok: false,
            layer: Some(Layer::Auth),
            error_type: Some(ErrorType::AuthFailed),
            code: Code::AuthFailed.as_str().into(),
            summary: format!(
                "{} rejected every method tried for {}.",
                id.host, id.username
            ),
            hints: vec!["Add your public key to ~/.ssh/authorized_keys on the server.".into()],
            phases: phases_after_hostkey(&[(Phase::Auth, 45.2)]),
        }),
        t,
    );
    c.into_events()
}

pub fn transcript() -> Vec<TranscriptEntry> {
    vec![TranscriptEntry::from_output(
        "uname -a",
        Some(0),
        b"Linux example 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian x86_64 GNU/Linux\n",
        b"",
    )]
}

/// Every string anywhere in a JSON document, keys included.
pub fn all_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| all_strings(v, out)),
        Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                all_strings(v, out);
            }
        }
        _ => {}
    }
}

/// JSON equality with numbers compared as f64 (tools print floats differently).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            (x - y).abs() <= 1e-9 * x.abs().max(1.0)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}
