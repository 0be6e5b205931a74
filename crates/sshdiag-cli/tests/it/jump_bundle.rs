//! The bundle of a run through a real bastion keeps every hop's facts: the chain's hosts,
//! ports and users, each server's own banner, key exchange, host key and login, and in the
//! redacted bundle none of the hops' names, addresses or users (nor the password).

use std::net::Ipv4Addr;
use std::process::Command;

use serde_json::Value;
use sshdiag_tests::sshd::{SshdFixture, SshdOptions, TEST_PASSWORD, TEST_USER};

/// Runs `echo chained` on a target on 127.0.0.2 through a bastion named `localhost`, writing
/// both bundles; returns (raw, redacted, bastion, target).
fn run_through_bastion(dir: &std::path::Path) -> (Value, String, SshdFixture, SshdFixture) {
    let bastion = SshdFixture::start(SshdOptions::default()).unwrap();
    let target = SshdFixture::start(SshdOptions {
        listen: Some(Ipv4Addr::new(127, 0, 0, 2)),
        ..SshdOptions::default()
    })
    .unwrap();
    let raw = dir.join("raw.json");
    let redacted = dir.join("redacted.json");
    let out = Command::new(env!("CARGO_BIN_EXE_sshdiag"))
        .args(["-F", "none", "--password-env", "SSHDIAG_PW"])
        .arg("--known-hosts")
        .arg(dir.join("known_hosts"))
        .arg("--bundle-raw")
        .arg(&raw)
        .arg("--bundle")
        .arg(&redacted)
        .args(["-J", &format!("{TEST_USER}@localhost:{}", bastion.port())])
        .args(["-p", &target.port().to_string()])
        .arg(format!("{TEST_USER}@127.0.0.2"))
        .args(["echo", "chained"])
        .env("SSHDIAG_PW", TEST_PASSWORD)
        .env("HOME", dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw: Value = serde_json::from_str(&std::fs::read_to_string(&raw).unwrap()).unwrap();
    let redacted = std::fs::read_to_string(&redacted).unwrap();
    (raw, redacted, bastion, target)
}

#[test]
fn the_bundle_keeps_every_hops_facts_and_redacts_them_like_the_targets() {
    let dir = tempfile::tempdir().unwrap();
    let (raw, redacted, bastion, target) = run_through_bastion(dir.path());
    assert_eq!(raw["version"], "1.1");
    let hops = raw["hops"].as_array().expect("the chain is in the bundle");
    assert_eq!(hops.len(), 2, "{hops:#?}");
    let expect = [
        (false, "localhost", bastion.port(), &bastion),
        (true, "127.0.0.2", target.port(), &target),
    ];
    for (i, (hop, (is_target, host, port, sshd))) in hops.iter().zip(expect).enumerate() {
        assert_eq!(hop["index"], i as u64);
        assert_eq!(hop["target"], is_target);
        assert_eq!(hop["host"], host);
        assert_eq!(hop["port"], port);
        assert_eq!(hop["username"], TEST_USER);
        assert_eq!(hop["reached"], true);
        // Each server's own facts: its banner, its key exchange, its host key as its sshd
        // holds it, and its login.
        let banner = hop["server"]["banner"].as_str().unwrap_or_default();
        assert!(banner.starts_with("SSH-2.0-OpenSSH"), "{hop:#?}");
        assert!(hop["algorithms"]["kex"].is_string(), "{hop:#?}");
        let fingerprint = hop["server"]["host_key"]["fingerprint_sha256"].as_str();
        let own = sshd
            .host_keys()
            .iter()
            .any(|k| Some(k.fingerprint_sha256.as_str()) == fingerprint);
        assert!(own, "hop {i}'s host key is its own sshd's: {hop:#?}");
        assert_eq!(hop["host_key_status"], "accepted_new");
        assert_eq!(hop["auth_method"], "password");
    }
    // The two servers' keys differ, so the facts are not one server's copied twice.
    assert_ne!(hops[0]["server"]["host_key"], hops[1]["server"]["host_key"]);

    // Redacted: no host name, address or user of any hop, and never the password.
    for identity in [
        "localhost",
        "127.0.0.1",
        "127.0.0.2",
        TEST_USER,
        TEST_PASSWORD,
    ] {
        assert!(
            !redacted.contains(identity),
            "{identity} in the redacted bundle"
        );
    }
    let redacted: Value = serde_json::from_str(&redacted).unwrap();
    let chain = redacted["hops"]
        .as_array()
        .expect("the chain stays, redacted");
    assert_eq!(chain.len(), 2);
    for (hop, raw_hop) in chain.iter().zip(hops) {
        assert!(
            hop["host"].as_str().unwrap().starts_with("host-")
                || hop["host"].as_str().unwrap().starts_with("ip-")
        );
        assert!(hop["username"].as_str().unwrap().starts_with("user-"));
        // Public facts are kept as the target's are: the banner's software, algorithms and
        // fingerprints.
        assert_eq!(hop["server"]["host_key"], raw_hop["server"]["host_key"]);
        assert_eq!(hop["algorithms"]["kex"], raw_hop["algorithms"]["kex"]);
        assert_eq!(hop["server"]["software"], raw_hop["server"]["software"]);
    }
    // A hop's pseudonym is the one its events carry, so the chain and the timeline agree.
    let bastion_events: Vec<&Value> = redacted["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["hop"]["index"] == 0)
        .collect();
    assert!(!bastion_events.is_empty());
    assert!(
        bastion_events
            .iter()
            .all(|e| e["hop"]["host"] == chain[0]["host"])
    );
    assert_eq!(redacted["host_info"]["host"], chain[1]["host"]);

    // `bundle verify` counts the jump hosts' names in its redaction check, and `bundle show`
    // names the chain.
    let verify = |path: &str| {
        Command::new(env!("CARGO_BIN_EXE_sshdiag"))
            .args(["bundle", "verify"])
            .arg(dir.path().join(path))
            .output()
            .unwrap()
    };
    let ok = verify("redacted.json");
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    let raw_verify = verify("raw.json");
    let report = String::from_utf8_lossy(&raw_verify.stdout);
    assert!(
        report.contains("jump host 1's host name is not a pseudonym"),
        "{report}"
    );
    let show = Command::new(env!("CARGO_BIN_EXE_sshdiag"))
        .args(["bundle", "show"])
        .arg(dir.path().join("raw.json"))
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&show.stdout);
    let through = format!(
        "through jump host 1 {TEST_USER}@localhost:{}",
        bastion.port()
    );
    assert!(shown.contains(&through), "{shown}");
}
