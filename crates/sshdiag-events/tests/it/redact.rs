//! Redaction: the secret scrubber's cases, IP detection, pseudonyms, and the canary property —
//! a careless producer's secrets and the session's identities never reach a redacted bundle.

use proptest::prelude::*;
use serde_json::Value;
use sshdiag_events::bundle::{Bundle, IntegrityStatus, SessionInfo, ToolInfo, TranscriptEntry};
use sshdiag_events::codes::{Code, ErrorType, Layer, Phase};
use sshdiag_events::event::*;
use sshdiag_events::jsonl::EventCollector;
use sshdiag_events::redact::{
    IdentityKind, Redactor, find_ip_addresses, is_secret_key, scrub_secrets, scrub_secrets_counted,
};

use crate::util::{self, Identity, all_strings};

const FINGERPRINT: &str = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";

#[test]
fn scrubber_removes_each_kind_of_secret() {
    let cases: &[(&str, &str)] = &[
        (
            "mysql -u root -pS3cret! db",
            "mysql -u root -p[REDACTED] db",
        ),
        ("TOKEN=abc123 ./deploy.sh", "TOKEN=[REDACTED] ./deploy.sh"),
        (
            "export DB_PASSWORD='hunter 2'",
            "export DB_PASSWORD='[REDACTED]'",
        ),
        ("MYSQL_PWD=x mysql", "MYSQL_PWD=[REDACTED] mysql"),
        ("password: hunter2", "password: [REDACTED]"),
        (
            r#"{"password": "pw", "user": "bob"}"#,
            r#"{"password": "[REDACTED]", "user": "bob"}"#,
        ),
        (
            "curl 'https://api?api_key=xyz&user=bob'",
            "curl 'https://api?api_key=[REDACTED]&user=bob'",
        ),
        ("client_secret = s3", "client_secret = [REDACTED]"),
        (
            "--password hunter2 --user bob",
            "--password [REDACTED] --user bob",
        ),
        ("gh --token=ghp_abc", "gh --token=[REDACTED]"),
        ("sshpass -p 'pw' ssh host", "sshpass -p [REDACTED] ssh host"),
        (
            "curl -H 'Authorization: Bearer eyJhbGciOi.abc.def' https://x",
            "curl -H 'Authorization: Bearer [REDACTED]' https://x",
        ),
        (
            "Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l",
            "Authorization: Basic [REDACTED]",
        ),
        ("got bearer abc.def-ghi from", "got bearer [REDACTED] from"),
        (
            "wss://bob:pa55@relay.example/ws",
            "wss://bob:[REDACTED]@relay.example/ws",
        ),
        (
            "bad key: -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n(end)",
            "bad key: [REDACTED PRIVATE KEY]\n(end)",
        ),
        (
            "\"-----BEGIN RSA PRIVATE KEY-----\\nMIIEow\\n-----END RSA PRIVATE KEY-----\"",
            "\"[REDACTED PRIVATE KEY]\"",
        ),
        (
            "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI… (cut)",
            "[REDACTED PRIVATE KEY]",
        ),
        (
            "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nP2/56wAAA\n---- END SSH2 ENCRYPTED PRIVATE KEY ----",
            "[REDACTED PRIVATE KEY]",
        ),
        (
            "blob AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl end",
            "blob [REDACTED] end",
        ),
    ];
    for (input, expected) in cases {
        let (output, count) = scrub_secrets_counted(input);
        assert_eq!(&output, expected, "scrubbing {input:?}");
        assert!(count >= 1, "{input:?} counted nothing");
        assert_eq!(scrub_secrets(&output), output, "scrubbing {input:?} twice");
    }
}

#[test]
fn scrubber_leaves_ordinary_text_fingerprints_and_algorithms_alone() {
    let untouched = [
        "uname -a",
        "ls -la /var/lib/postgresql/14/main/base/pgsql_tmp/some/long/path/x86_64-linux-gnu",
        "find . -name '*.log' -print",
        "ssh -o PasswordAuthentication=no -o PermitEmptyPasswords=no host",
        "token_type=bearer password_file=/etc/pw",
        FINGERPRINT,
        "Host key for example.com changed: expected SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
        "Add -oKexAlgorithms=+diffie-hellman-group14-sha1 or, on the server, KexAlgorithms +diffie-hellman-group14-sha1",
        "The server does not accept passwords for this user; it accepts: publickey.",
        "Permission denied (publickey,password).",
        "the passphrase is wrong",
        "bypass=1 compass=north",
        "sha256sum: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "SSH-2.0-OpenSSH_9.2p1 Debian-2",
        "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256",
        // The CLI's agent error as russh words it: "Unable" once became `[REDACTED]`, taken
        // for the value of a key named `SSH_AUTH_SOCK` (its `auth` looked like a secret).
        "cannot reach the SSH agent at $SSH_AUTH_SOCK: Unable to connect to ssh-agent. The environment variable `SSH_AUTH_SOCK` was set, but it points to a nonexistent file or directory.",
        "SSH_AUTH_SOCK=/tmp/ssh-XXXX/agent.42 ssh-add -l",
        "echo $TOKEN: done",
    ];
    for text in untouched {
        assert_eq!(scrub_secrets(text), text);
    }
    assert!(is_secret_key("DB_PASSWORD") && is_secret_key("x-api-key") && is_secret_key("PASS"));
    assert!(!is_secret_key("PasswordAuthentication") && !is_secret_key("--password-stdin"));
    assert!(!is_secret_key("author") && !is_secret_key("bypass") && !is_secret_key("user"));
    assert!(!is_secret_key("SSH_AUTH_SOCK") && is_secret_key("AUTH_TOKEN"));
}

#[test]
fn ip_addresses_are_found_in_text_but_versions_are_not() {
    let found = |text: &str| -> Vec<String> {
        find_ip_addresses(text)
            .into_iter()
            .map(|(s, e, _)| text[s..e].to_string())
            .collect()
    };
    assert_eq!(found("peer 203.0.113.5:22 ok"), ["203.0.113.5"]);
    assert_eq!(found("[2001:db8::1]:22"), ["2001:db8::1"]);
    assert_eq!(found("from fe80::1%eth0."), ["fe80::1"]);
    assert_eq!(found("to 10.0.0.1."), ["10.0.0.1"]);
    assert_eq!(found("range 10.0.0.1-10.0.0.9"), ["10.0.0.1", "10.0.0.9"]);
    assert_eq!(found("2001:db8::5."), ["2001:db8::5"]);
    for text in [
        "OpenSSH_9.2p1",
        "v1.2.3.4",
        "1.2.3.4.5",
        "999.1.1.1",
        "at 12:34:56",
        "std::io::Error",
        "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
        "Chrome/120.0.0.0x",
        "aa:bb:cc:dd:ee:ff",
        "1763700000.123",
    ] {
        assert_eq!(found(text), Vec::<String>::new(), "{text}");
    }
    // The canonical form joins spellings of one address.
    let canonical: Vec<String> = find_ip_addresses("2001:0db8:0:0:0:0:0:1")
        .into_iter()
        .map(|(_, _, ip)| ip)
        .collect();
    assert_eq!(canonical, ["2001:db8::1"]);
}

#[test]
fn pseudonyms_are_stable_within_a_key_and_unlinkable_across_keys() {
    let mut r = Redactor::with_key([7; 32]);
    let a = r.pseudonym(IdentityKind::Username, "alice");
    assert_eq!(a, r.pseudonym(IdentityKind::Username, "alice"));
    assert_ne!(a, r.pseudonym(IdentityKind::Username, "Alice"));
    let h = r.pseudonym(IdentityKind::Host, "Example.COM.");
    assert_eq!(h, r.pseudonym(IdentityKind::Host, "example.com"));
    let ip = r.pseudonym(IdentityKind::Address, "2001:0db8::0001");
    assert_eq!(ip, r.pseudonym(IdentityKind::Address, "2001:db8::1"));
    let shape = |p: &str, prefix: &str| {
        p.strip_prefix(prefix).is_some_and(|hex| {
            hex.len() == 8
                && hex
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_uppercase())
        })
    };
    assert!(
        shape(&a, "user-") && shape(&h, "host-") && shape(&ip, "ip-"),
        "{a} {h} {ip}"
    );
    let other = Redactor::new().pseudonym(IdentityKind::Username, "alice");
    let another = Redactor::new().pseudonym(IdentityKind::Username, "alice");
    assert_ne!(
        other, another,
        "two bundles' keys differ, so nothing links them"
    );
    assert!(
        !format!("{r:?}").contains("7, 7"),
        "Debug must not show the key"
    );
}

#[test]
fn a_redacted_bundle_hides_identities_everywhere_and_keeps_the_diagnosis() {
    let id = Identity::default();
    let mut events = util::failed_session(&id);
    // A relay that reports the address inside a free-text reason, and a v6 peer.
    events.push(Event {
        data: EventData::Proxy(ProxyData {
            status: Some(ProxyStatus::Closed),
            peer: Some(format!("[{}]:22", id.ipv6)),
            reason: Some(format!("target {} closed", id.ipv4)),
            ..Default::default()
        }),
        ..events[1].clone()
    });
    let bundle = Bundle::from_session(
        util::session_info(&id),
        events,
        vec![
            TranscriptEntry::from_output(
                format!("ls /home/{} && ping -c1 {}", id.username, id.host),
                Some(0),
                b"secret output",
                b"",
            ),
            TranscriptEntry::from_output("uname -a", Some(0), b"Linux", b""),
        ],
    );
    let quoted = "SHA256:abc+al/ice+x/alice/yz0123456789ABCDEFGHIJKLMNOPQRSTUVW";
    let mut bundle = bundle;
    bundle
        .verdict
        .hints
        .push(format!("The key {quoted} of alice was offered."));
    let redacted = bundle.redacted_with(&mut Redactor::with_key([1; 32]));
    assert!(
        redacted
            .verdict
            .hints
            .iter()
            .any(|h| h.starts_with(&format!("The key {quoted} of user-")))
    );
    let bundle = {
        let mut b = bundle;
        b.verdict.hints.pop();
        b
    };
    let redacted = bundle.redacted_with(&mut Redactor::with_key([1; 32]));
    let json = redacted.to_json(false);
    for needle in [
        &id.username,
        &id.host,
        &id.ipv4,
        &id.ipv6,
        &id.relay_host,
        &"secret output".to_string(),
    ] {
        assert!(!json.contains(needle.as_str()), "{needle} leaked:\n{json}");
    }
    let mut r = Redactor::with_key([1; 32]);
    let user = r.pseudonym(IdentityKind::Username, &id.username);
    let host = r.pseudonym(IdentityKind::Host, &id.host);
    let ip = r.pseudonym(IdentityKind::Address, &id.ipv4);
    assert_eq!(redacted.host_info.username, user);
    assert_eq!(redacted.host_info.host, host);
    assert!(
        redacted
            .host_info
            .proxy
            .as_deref()
            .is_some_and(|p| p.starts_with("wss://host-") && p.ends_with("/ws"))
    );
    assert!(redacted.verdict.summary.contains(&host) && redacted.verdict.summary.contains(&user));
    let error = redacted.error_context.clone().unwrap_or_default();
    assert_eq!(error.host.as_deref(), Some(host.as_str()));
    assert_eq!(
        error.context.get("username"),
        Some(&Value::from(user.clone()))
    );
    assert!(
        json.contains(&format!("\"{ip}:22\"")),
        "peer keeps its port"
    );
    // The source the server saw is an address like any other: pseudonymised, port kept.
    let ip6 = r.pseudonym(IdentityKind::Address, &id.ipv6);
    assert_eq!(
        redacted.server.source.as_deref(),
        Some(format!("[{ip6}]:40222").as_str())
    );
    assert!(redacted.redaction.replaced.address > 0);
    assert!(json.contains(&format!("Permission denied for {user}@{host} from {ip}")));
    // The diagnosis stays readable.
    assert_eq!(redacted.algorithms, bundle.algorithms);
    assert_eq!(redacted.server.software.as_deref(), Some("OpenSSH_9.2p1"));
    assert_eq!(redacted.server.host_key, bundle.server.host_key);
    assert!(json.contains(FINGERPRINT));
    assert_eq!(redacted.timing, bundle.timing);
    assert_eq!(redacted.verdict.hints, bundle.verdict.hints);
    assert_eq!(redacted.verdict.code, "auth-failed");
    let codes: Vec<&str> = redacted.events.iter().map(|e| e.code.as_str()).collect();
    let before: Vec<&str> = bundle.events.iter().map(|e| e.code.as_str()).collect();
    assert_eq!(codes, before);
    // Output removed, lengths kept, and the counts say so.
    assert_eq!(redacted.transcript[0].stdout, None);
    assert_eq!(redacted.transcript[0].stdout_len, 13);
    assert!(
        redacted.transcript[0]
            .command
            .starts_with(&format!("ls /home/{user} && ping -c1 {host}"))
    );
    // The pseudonymised command says so; one left as typed does not; the raw bundle's
    // commands are as typed.
    assert!(redacted.transcript[0].command_redacted);
    assert!(!redacted.transcript[1].command_redacted);
    assert!(!bundle.transcript[0].command_redacted);
    assert!(json.contains("\"command_redacted\": true"), "{json}");
    // And the redaction lists where it changed text, not the fields it replaced whole.
    let changed = &redacted.redaction.changed;
    assert!(
        changed.contains(&"/transcript/0/command".to_string()),
        "{changed:?}"
    );
    assert!(
        changed.contains(&"/verdict/summary".to_string()),
        "{changed:?}"
    );
    assert!(
        !changed
            .iter()
            .any(|p| p == "/transcript/1/command" || p == "/host_info/host")
    );
    assert!(bundle.redaction.changed.is_empty());
    let replaced = redacted.redaction.replaced;
    assert!(redacted.redaction.applied && redacted.host_info.redacted);
    assert!(
        replaced.username >= 5 && replaced.host >= 4 && replaced.address >= 4,
        "{replaced:?}"
    );
    assert_eq!(replaced.output, 2, "two stdout streams removed");
    assert_eq!(redacted.verify_integrity(), IntegrityStatus::Valid);
    assert_eq!(Bundle::from_json(&json), Ok(redacted));
}

prop_compose! {
    fn identity()(
        username in "zu[a-z0-9]{4,10}",
        host in "zh[a-z0-9]{3,8}\\.(example|test|corp)",
        ipv4 in any::<[u8; 4]>(),
        ipv6 in any::<[u16; 8]>(),
        relay_host in "zr[a-z]{3,8}\\.example\\.net",
    ) -> Identity {
        let mut ipv6 = ipv6;
        ipv6[0] = ipv6[0].max(0x2001);
        Identity {
            username,
            host,
            ipv4: std::net::Ipv4Addr::from(ipv4).to_string(),
            ipv6: std::net::Ipv6Addr::from(ipv6).to_string(),
            relay_host,
        }
    }
}

/// The secrets a careless producer could let slip: each a distinctive canary.
#[derive(Debug, Clone)]
struct Canaries {
    password: String,
    passphrase: String,
    key: String,
    answer: String,
    token: String,
}

impl Canaries {
    fn all(&self) -> [&str; 5] {
        [
            &self.password,
            &self.passphrase,
            &self.key,
            &self.answer,
            &self.token,
        ]
    }
}

prop_compose! {
    fn canaries()(
        password in "CnPw[A-Za-z0-9]{10,16}",
        passphrase in "CnPp[A-Za-z0-9]{10,16}",
        key in "CnKy[A-Za-z0-9+/]{30,60}",
        answer in "CnKi[A-Za-z0-9]{10,16}",
        token in "CnTk[A-Za-z0-9._-]{10,24}",
    ) -> Canaries {
        Canaries { password, passphrase, key, answer, token }
    }
}

/// A session recorded by a careless producer: secrets in commands, output and messages.
fn careless_bundle(id: &Identity, c: &Canaries) -> Bundle {
    let mut events = EventCollector::new("c0ffee0000");
    let t = util::T0;
    let proxy = format!("wss://{}/ws?token={}", id.relay_host, c.token);
    events.push(
        Level::Info,
        Code::ConnectInitiating,
        EventData::Connect(ConnectData {
            status: Some(ConnectStatus::Initiating),
            host: id.host.clone(),
            port: 2222,
            username: Some(id.username.clone()),
            transport: Some(Transport::Websocket),
            proxy: Some(proxy.clone()),
            auth_method: None,
            source: Some(format!("{}:51000", id.ipv4)),
        }),
        t,
    );
    events.push(
        Level::Info,
        Code::ProxyResolved,
        EventData::Proxy(ProxyData {
            status: Some(ProxyStatus::Resolved),
            addrs: Some(vec![id.ipv4.clone(), id.ipv6.clone()]),
            peer: Some(format!("[{}]:2222", id.ipv6)),
            local: Some(format!("[{}]:51000", id.ipv6)),
            ..Default::default()
        }),
        t + 0.01,
    );
    events.push(
        Level::Warn,
        Code::AuthRejected,
        EventData::Auth(AuthData {
            status: Some(AuthStatus::Failed),
            method: Some(AuthMethod::KeyboardInteractive),
            username: Some(id.username.clone()),
            error_message: Some(format!(
                "prompt answered with password: {} for {}@{} ({})",
                c.answer, id.username, id.host, id.ipv4
            )),
            ..Default::default()
        }),
        t + 0.02,
    );
    events.push(
        Level::Info,
        Code::ExecFinished,
        EventData::Exec(ExecData {
            command: format!("mysql -u {} -p{} -h {}", id.username, c.password, id.host),
            exit_code: Some(1),
            ..Default::default()
        }),
        t + 0.03,
    );
    events.push(
        Level::Error,
        Code::KeyLoadError,
        EventData::Error(ErrorData {
            error_type: ErrorType::KeyLoadError.as_str().into(),
            message: format!(
                "could not decode key with passphrase={}: -----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----",
                c.passphrase, c.key
            ),
            layer: Some(Layer::Client),
            hints: vec![format!("Check the key you gave for {} on {}.", id.username, id.host)],
            host: Some(id.host.clone()),
            port: Some(2222),
            phase: Some(Phase::Auth),
            methods_tried: Vec::new(),
            context: serde_json::json!({
                "key_path": format!("/home/{}/.ssh/id_ed25519", id.username),
                "relay": proxy,
                "peer": format!("{}:2222", id.ipv4),
                "header": format!("Authorization: Bearer {}", c.token),
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        }),
        t + 0.04,
    );
    events.push(
        Level::Error,
        Code::VerdictFailed,
        EventData::Verdict(VerdictData {
            ok: false,
            layer: Some(Layer::Client),
            error_type: Some(ErrorType::KeyLoadError),
            code: Code::KeyLoadError.as_str().into(),
            summary: format!("The key for {}@{} could not be used.", id.username, id.host),
            hints: vec![],
            phases: util::phases(&[(Phase::Relay, 5.0), (Phase::Tcp, 1.0)]),
        }),
        t + 0.05,
    );
    let info = SessionInfo {
        connection_id: "c0ffee0000".into(),
        created_ms: 1_763_700_000_500,
        tool: ToolInfo::sshdiag("wasm32", Some("Mozilla/5.0 (X11; Linux x86_64)".into())),
        host: id.host.clone(),
        port: 2222,
        username: id.username.clone(),
        proxy: Some(proxy),
        jump: Vec::new(),
    };
    let everything = format!(
        "{} {} {} {} {} {} {} {}",
        c.password, c.passphrase, c.key, c.answer, c.token, id.username, id.host, id.ipv4
    );
    let transcript = vec![
        TranscriptEntry::from_output(
            format!("TOKEN={} ./deploy.sh --host {}", c.token, id.host),
            Some(0),
            everything.as_bytes(),
            everything.as_bytes(),
        ),
        TranscriptEntry::from_output(
            format!(
                "curl -H 'Authorization: Bearer {}' http://{}/",
                c.token, id.ipv4
            ),
            Some(0),
            b"",
            b"",
        ),
    ];
    Bundle::from_session(info, events.into_events(), transcript)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn canaries_and_identities_never_reach_a_redacted_bundle(id in identity(), c in canaries()) {
        let bundle = careless_bundle(&id, &c);
        let redacted_json = bundle.to_json(true);
        for canary in c.all() {
            prop_assert!(!redacted_json.contains(canary), "secret {} leaked:\n{}", canary, redacted_json);
        }
        for identity in [&id.username, &id.host, &id.relay_host, &id.ipv4, &id.ipv6] {
            prop_assert!(!redacted_json.contains(identity.as_str()), "identity {} leaked:\n{}", identity, redacted_json);
        }
        // Still a valid, verifiable bundle with the diagnosis intact.
        let back = Bundle::from_json(&redacted_json);
        prop_assert!(back.is_ok(), "{:?}", back.err());
        let back = back.unwrap_or_else(|_| bundle.clone());
        prop_assert_eq!(back.verify_integrity(), IntegrityStatus::Valid);
        prop_assert_eq!(back.verdict.code.as_str(), "key-load-error");
        prop_assert!(back.redaction.replaced.secret >= 5);

        // The raw bundle keeps identities and output, but no secret outside the output.
        let raw_json = bundle.to_json(false);
        let mut raw: Value = serde_json::from_str(&raw_json).unwrap_or(Value::Null);
        prop_assert!(raw_json.contains(id.username.as_str()));
        for entry in raw["transcript"].as_array_mut().into_iter().flatten() {
            entry["stdout"] = Value::Null;
            entry["stderr"] = Value::Null;
        }
        let mut strings = Vec::new();
        all_strings(&raw, &mut strings);
        for canary in c.all() {
            prop_assert!(strings.iter().all(|s| !s.contains(canary)), "raw bundle leaked {}", canary);
        }
    }
}

#[test]
fn a_certificate_keeps_its_fingerprints_and_loses_its_principals_key_id_and_addresses() {
    let id = Identity::default();
    let mut events = util::failed_session(&id);
    let ca = "SHA256:Ca1dK8mZp7vQ3bXcR9tY2wL6nF4hS0aE5uI8oP1qA2s";
    events.push(Event {
        code: Code::AuthCertificate.as_str().into(),
        data: EventData::Auth(AuthData {
            status: Some(AuthStatus::Attempt),
            method: Some(AuthMethod::PrivateKey),
            certificate: Some(CertificateInfo {
                key_id: format!("{} laptop", id.username),
                principals: vec![id.username.clone(), "carol-admin".into()],
                ca_fingerprint: ca.into(),
                critical_options: vec![format!("source-address={}/32", id.ipv4)],
                extensions: vec!["permit-pty".into()],
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..events[1].clone()
    });
    let bundle = Bundle::from_session(util::session_info(&id), events, vec![]);
    let json = bundle
        .redacted_with(&mut Redactor::with_key([1; 32]))
        .to_json(false);
    for needle in [id.username.as_str(), "carol-admin", id.ipv4.as_str()] {
        assert!(!json.contains(needle), "{needle} leaked:\n{json}");
    }
    assert!(json.contains(ca) && json.contains("permit-pty"), "{json}");
}

#[test]
fn identities_are_replaced_as_whole_tokens_never_inside_an_ordinary_word() {
    // A user whose name is also part of ordinary words.
    let id = Identity {
        username: "ice".into(),
        ..Identity::default()
    };
    let bundle = Bundle::from_session(
        util::session_info(&id),
        util::failed_session(&id),
        vec![TranscriptEntry::from_output(
            "ls /home/ice/notice.txt && echo practice",
            Some(0),
            b"",
            b"",
        )],
    );
    let mut r = Redactor::with_key([3; 32]);
    let redacted = bundle.redacted_with(&mut Redactor::with_key([3; 32]));
    let user = r.pseudonym(IdentityKind::Username, "ice");
    assert_eq!(
        redacted.transcript[0].command,
        format!("ls /home/{user}/notice.txt && echo practice")
    );
    assert!(redacted.transcript[0].command_redacted);
}

#[test]
fn the_host_key_inventory_keeps_fingerprints_and_pseudonymises_where_keys_are_trusted() {
    let id = Identity::default();
    let mut events = util::ok_session(&id);
    let inventory = HostkeyInventoryData {
        source: Some(InventorySource::Announced),
        keys: vec![InventoryKey {
            algorithm: "ssh-ed25519".into(),
            fingerprint_sha256: FINGERPRINT.into(),
            proven: true,
            presented: true,
            trusted_at: Some(format!("/home/{}/.ssh/known_hosts:3", id.username)),
            error: None,
        }],
        trusted: vec![TrustedKey {
            algorithm: "ssh-ed25519".into(),
            fingerprint_sha256: FINGERPRINT.into(),
            source: Some(format!("/home/{}/.ssh/known_hosts:3", id.username)),
            matched: true,
        }],
    };
    let last = events.pop().expect("a verdict");
    events.push(Event {
        code: Code::HostkeyInventory.as_str().into(),
        data: EventData::HostkeyInventory(inventory),
        ..last.clone()
    });
    events.push(last);
    let bundle = Bundle::from_session(util::session_info(&id), events, vec![]);
    assert!(
        bundle.server.host_keys.is_some(),
        "the bundle keeps the inventory"
    );
    let redacted = bundle.redacted_with(&mut Redactor::with_key([2; 32]));
    let json = redacted.to_json(false);
    assert!(!json.contains(&format!("/home/{}/", id.username)), "{json}");
    let kept = redacted.server.host_keys.expect("kept when redacted");
    assert_eq!(kept.keys[0].fingerprint_sha256, FINGERPRINT);
    let at = kept.keys[0].trusted_at.clone().unwrap_or_default();
    assert!(
        at.starts_with("/home/user-") && at.ends_with("/.ssh/known_hosts:3"),
        "{at}"
    );
    assert!(
        redacted
            .redaction
            .changed
            .iter()
            .any(|p| p.starts_with("/server/host_keys/"))
    );
}
