//! The host key inventory against a real sshd with three host keys (ed25519, ecdsa, rsa):
//! the keys OpenSSH announces after login, proven, each matched to its known_hosts line; the
//! host-key algorithms ordered so the known type is asked for first; a key of another type told
//! apart from a changed key; and the scan (`--host-key-inventory`), one key exchange per type,
//! only when asked.

use serde_json::Value;
use sshdiag_events::{Bundle, Event, EventData, HostkeyInventoryData, InventorySource, read_jsonl};
use sshdiag_tests::sshd::{SshdFixture, TEST_PASSWORD, TEST_USER};

use crate::common::{sshd_and_dir, sshdiag_with_password, write_file};

/// The `known_hosts` line of one of the fixture's host keys, for `[127.0.0.1]:PORT`.
fn known_line(sshd: &SshdFixture, public_key: &str) -> String {
    let mut fields = public_key.split_whitespace();
    let (alg, b64) = (fields.next().unwrap(), fields.next().unwrap());
    format!("[127.0.0.1]:{} {alg} {b64}\n", sshd.port())
}

/// Runs sshdiag with the password against `sshd`, trusting only `known_hosts`: its exit
/// status, stderr, events and raw bundle.
fn run(
    sshd: &SshdFixture,
    dir: &std::path::Path,
    known_hosts: &str,
    flags: &[&str],
) -> (Option<i32>, String, Vec<Event>, Bundle) {
    let kh = write_file(dir, "known_hosts", known_hosts);
    let events = dir.join("events.jsonl");
    let bundle = dir.join("bundle.json");
    let dest = format!("{TEST_USER}@127.0.0.1");
    let mut args = vec![
        "--known-hosts",
        kh.to_str().unwrap(),
        "--events-file",
        events.to_str().unwrap(),
        "--bundle-raw",
        bundle.to_str().unwrap(),
        "--strict-host-key-checking",
        "yes",
    ];
    args.extend_from_slice(flags);
    args.extend([dest.as_str(), "true"]);
    let out = sshdiag_with_password(sshd.port(), &args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let text = std::fs::read_to_string(&events).unwrap();
    assert!(!text.contains(TEST_PASSWORD));
    let read = read_jsonl(&text);
    assert!(read.errors.is_empty(), "{:?}", read.errors);
    let bundle = Bundle::from_json(&std::fs::read_to_string(&bundle).unwrap()).unwrap();
    (out.status.code(), stderr, read.events, bundle)
}

fn inventories(events: &[Event]) -> Vec<HostkeyInventoryData> {
    events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::HostkeyInventory(i) => Some(i.clone()),
            _ => None,
        })
        .collect()
}

fn error_of(events: &[Event]) -> (String, Vec<String>) {
    events
        .iter()
        .find_map(|e| match &e.data {
            EventData::Error(d) => Some((e.code.clone(), d.hints.clone())),
            _ => None,
        })
        .expect("an ERROR event")
}

/// How many connections sshd has logged so far.
fn connections(sshd: &SshdFixture) -> usize {
    sshd.log().matches("Connection from 127.0.0.1 port").count()
}

#[test]
fn a_login_lists_every_announced_host_key_proven_and_asks_for_the_known_type_first() {
    let (sshd, dir) = sshd_and_dir();
    let rsa = sshd.host_key("rsa").unwrap().clone();
    // Only the RSA key is known: as OpenSSH, sshdiag must ask for RSA first (its default
    // order puts ed25519 first, which strict checking would then refuse).
    let before = connections(&sshd);
    let (code, stderr, events, bundle) =
        run(&sshd, dir.path(), &known_line(&sshd, &rsa.public_key), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        connections(&sshd) - before,
        1,
        "no extra connection by default"
    );
    let hostkey = events
        .iter()
        .find_map(|e| match &e.data {
            EventData::Hostkey(h) => Some(h.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        hostkey.fingerprint_sha256, rsa.fingerprint_sha256,
        "{hostkey:?}"
    );
    assert_eq!(hostkey.algorithm, "ssh-rsa", "{hostkey:?}");
    let negotiated = bundle.algorithms.host_key.clone().unwrap_or_default();
    assert!(negotiated.starts_with("rsa-sha2-"), "{negotiated}");

    let found = inventories(&events);
    assert_eq!(found.len(), 1, "{found:?}");
    let inventory = &found[0];
    assert_eq!(inventory.source, Some(InventorySource::Announced));
    let mut fingerprints: Vec<&str> = inventory
        .keys
        .iter()
        .map(|k| k.fingerprint_sha256.as_str())
        .collect();
    let mut expected: Vec<&str> = sshd
        .host_keys()
        .iter()
        .map(|k| k.fingerprint_sha256.as_str())
        .collect();
    fingerprints.sort_unstable();
    expected.sort_unstable();
    assert_eq!(
        fingerprints, expected,
        "every host key, announced: {inventory:?}"
    );
    assert!(inventory.keys.iter().all(|k| k.proven), "{inventory:?}");
    let kh_line = format!("{}:1", dir.path().join("known_hosts").display());
    for key in &inventory.keys {
        let is_rsa = key.fingerprint_sha256 == rsa.fingerprint_sha256;
        assert_eq!(key.algorithm == "ssh-rsa", is_rsa, "{key:?}");
        assert_eq!(key.presented, is_rsa, "{key:?}");
        assert_eq!(
            key.trusted_at.as_deref(),
            is_rsa.then_some(kh_line.as_str())
        );
    }
    assert_eq!(inventory.trusted.len(), 1);
    assert!(inventory.trusted[0].matched);
    // The terminal summary says which known_hosts line is which key.
    let line = format!(
        "ssh-rsa {} — trusted at {kh_line}, shown to this run",
        rsa.fingerprint_sha256
    );
    assert!(stderr.contains(&line), "{stderr}");
    // The bundle keeps it as the server's facts, and `bundle show` lists them.
    assert_eq!(bundle.server.host_keys.as_ref(), Some(inventory));
    let shown = crate::common::sshdiag(&[
        "bundle",
        "show",
        dir.path().join("bundle.json").to_str().unwrap(),
    ]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains(&format!(
            "server key  ssh-rsa {} ({kh_line})",
            rsa.fingerprint_sha256
        )),
        "{shown}"
    );
}

#[test]
fn a_key_of_another_type_is_told_apart_from_a_changed_key_and_the_scan_says_which() {
    let (sshd, dir) = sshd_and_dir();
    let ed = sshd.host_key("ed25519").unwrap().clone();
    // Only the ed25519 key is known, and this client is told to take RSA keys only: the server
    // shows its RSA key, which is not a changed key.
    let rsa_only = ["-o", "HostKeyAlgorithms=rsa-sha2-512,rsa-sha2-256"];
    let before = connections(&sshd);
    let known = known_line(&sshd, &ed.public_key);
    let (code, stderr, events, _) = run(&sshd, dir.path(), &known, &rsa_only);
    assert_eq!(code, Some(255), "{stderr}");
    assert_eq!(connections(&sshd) - before, 1, "no scan unless asked");
    let (error_code, hints) = error_of(&events);
    assert_eq!(error_code, "host-key-type-changed", "{hints:?}");
    assert!(
        hints[0].contains("the key type differs") && hints[0].contains(&ed.fingerprint_sha256),
        "{hints:?}"
    );
    assert!(
        hints.iter().any(|h| h.contains("--host-key-inventory")),
        "{hints:?}"
    );
    assert!(inventories(&events).is_empty());
    assert!(!events.iter().any(|e| matches!(e.data, EventData::Auth(_))));
    assert!(
        stderr.contains("The server now presents a host key of another type"),
        "{stderr}"
    );

    // Asked: one key exchange per other type (ed25519, ecdsa), and the verdict knows the
    // trusted key is still the server's.
    let before = connections(&sshd);
    let mut flags = rsa_only.to_vec();
    flags.push("--host-key-inventory");
    let (code, stderr, events, bundle) = run(&sshd, dir.path(), &known, &flags);
    assert_eq!(code, Some(255), "{stderr}");
    assert_eq!(connections(&sshd) - before, 3, "the run and two scans");
    let found = inventories(&events);
    assert_eq!(found.len(), 1, "{found:?}");
    let scan = &found[0];
    assert_eq!(scan.source, Some(InventorySource::Scan));
    for kind in ["ed25519", "ecdsa", "rsa"] {
        let fp = &sshd.host_key(kind).unwrap().fingerprint_sha256;
        let key = scan.keys.iter().find(|k| &k.fingerprint_sha256 == fp);
        assert!(key.is_some_and(|k| k.proven), "no {kind} key in {scan:?}");
    }
    let ed_key = scan
        .keys
        .iter()
        .find(|k| k.algorithm == "ssh-ed25519")
        .unwrap();
    assert!(
        ed_key
            .trusted_at
            .as_deref()
            .is_some_and(|t| t.ends_with("known_hosts:1"))
    );
    assert!(scan.trusted[0].matched);
    let (_, hints) = error_of(&events);
    // The scan's answer comes first, and the suggestion to run it is gone.
    assert!(
        hints[0].contains("still has the trusted ssh-ed25519 key"),
        "{hints:?}"
    );
    assert!(
        !hints.iter().any(|h| h.contains("--host-key-inventory")),
        "{hints:?}"
    );
    let shown: Value = serde_json::to_value(&bundle.server.host_keys).unwrap();
    assert_eq!(shown["source"], "scan", "{shown}");
}

#[test]
fn a_changed_key_of_the_same_type_is_a_real_change_and_the_scan_confirms_it() {
    let (sshd, dir) = sshd_and_dir();
    // An ed25519 key that is not the server's (the fixture's client key) stands in for the
    // key the server had before it was reinstalled.
    let known = known_line(&sshd, &sshd.client_keys().ed25519.public_key);
    let (code, stderr, events, _) = run(&sshd, dir.path(), &known, &["--host-key-inventory"]);
    assert_eq!(code, Some(255), "{stderr}");
    let (error_code, hints) = error_of(&events);
    assert_eq!(error_code, "host-key-mismatch", "{hints:?}");
    let now = &sshd.host_key("ed25519").unwrap().fingerprint_sha256;
    assert!(
        hints
            .iter()
            .any(|h| h.contains("really changed") && h.contains(now.as_str())),
        "{hints:?}"
    );
    let scan = &inventories(&events)[0];
    assert!(!scan.trusted[0].matched, "{scan:?}");
    assert!(scan.keys.iter().all(|k| k.trusted_at.is_none()), "{scan:?}");
}
