//! The algorithm audit as a user of the `sshdiag` binary sees it, against the real Debian
//! OpenSSH sshd of the test kit (its default offer, then `KexAlgorithms` and `MACs`
//! restricted) and, for the deep audit, a scripted listener that hands out a 1024-bit group.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sshdiag_core::wire::{binary_packet, minimal_kexinit};
use sshdiag_events::{AuditData, Event, EventData, KexStatus};
use sshdiag_tests::sshd::{SshdFixture, SshdOptions, TEST_USER};

/// Run a probe-only diagnosis of `port` and return the events.
fn run(port: u16, extra: &[&str]) -> Vec<Event> {
    let flags = [&["--probe-auth", "--connect-timeout", "5"], extra].concat();
    let events = crate::common::events_of(port, TEST_USER, &flags, &[]);
    assert!(
        matches!(events.last().map(|e| &e.data), Some(EventData::Verdict(_))),
        "VERDICT is not last"
    );
    events
}

fn findings(events: &[Event]) -> Vec<AuditData> {
    events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::Audit(a) => Some(a.clone()),
            _ => None,
        })
        .collect()
}

fn one<'a>(f: &'a [AuditData], category: &str) -> &'a AuditData {
    let mut it = f.iter().filter(|x| x.category == category);
    let first = it
        .next()
        .unwrap_or_else(|| panic!("no {category} in {f:#?}"));
    assert!(it.next().is_none(), "{category} twice: {f:#?}");
    first
}

/// The server's KEX list from the `KEX` proposals event.
fn server_kex(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .find_map(|e| match &e.data {
            EventData::Kex(k) if k.status == Some(KexStatus::Proposals) => {
                k.server_proposal.as_ref().map(|p| p.kex.clone())
            }
            _ => None,
        })
        .expect("no proposals event")
}

#[test]
fn the_debian_sshd_offers_sntrup761_and_it_counts_as_post_quantum() {
    let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    let ev = run(sshd.port(), &[]);
    let kex = server_kex(&ev);
    assert!(
        kex.contains(&"sntrup761x25519-sha512@openssh.com".to_string()),
        "{kex:?}"
    );
    let f = findings(&ev);
    let pq = one(&f, "post_quantum");
    assert_eq!(pq.grade.as_str(), "good", "{pq:?}");
    assert!(pq.algorithm.starts_with("sntrup761x25519-sha512"), "{pq:?}");
    // Without --deep-audit, no extra connection and so no measured group.
    assert!(f.iter().all(|x| x.category != "dh_group"), "{f:#?}");
}

#[test]
fn without_a_post_quantum_kex_the_finding_says_what_this_openssh_can_add() {
    let sshd = SshdFixture::start(SshdOptions::with_config([
        "KexAlgorithms curve25519-sha256,diffie-hellman-group14-sha256",
    ]))
    .unwrap();
    let ev = run(sshd.port(), &[]);
    let pq = one(&findings(&ev), "post_quantum").clone();
    assert_eq!(pq.grade.as_str(), "weak", "{pq:?}");
    // The fixture is OpenSSH 9.2: sntrup761 yes, ML-KEM not yet.
    let fix = pq.fix.unwrap();
    assert!(
        fix.starts_with("KexAlgorithms ^sntrup761x25519-sha512@openssh.com"),
        "{fix}"
    );
    assert!(fix.contains("9.9"), "{fix}");

    let only = SshdFixture::start(SshdOptions::with_config([
        "KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256",
    ]))
    .unwrap();
    let ev = run(only.port(), &[]);
    let pq = one(&findings(&ev), "post_quantum").clone();
    assert_eq!(
        (pq.grade.as_str(), pq.algorithm.as_str()),
        ("good", "sntrup761x25519-sha512@openssh.com")
    );
}

#[test]
fn encrypt_and_mac_macs_are_a_note_and_etm_only_has_none() {
    let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    let f = findings(&run(sshd.port(), &[]));
    let note = f
        .iter()
        .find(|x| x.algorithm == "hmac-sha2-256")
        .unwrap_or_else(|| panic!("{f:#?}"));
    assert_eq!(note.grade.as_str(), "note");
    assert!(
        note.reason.contains("hmac-sha2-256-etm@openssh.com"),
        "{note:?}"
    );
    let umac = f
        .iter()
        .find(|x| x.algorithm == "umac-64@openssh.com")
        .unwrap();
    assert_eq!(umac.grade.as_str(), "weak", "{umac:?}");

    let etm = SshdFixture::start(SshdOptions::with_config([
        "MACs hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com",
    ]))
    .unwrap();
    let f = findings(&run(etm.port(), &[]));
    assert!(f.iter().all(|x| x.category != "mac"), "{f:#?}");
}

/// The smallest group size in `/etc/ssh/moduli` at or above 2048 bits: what OpenSSH's sshd
/// hands out when asked to prefer 1024 (it raises the preference to 2048).
fn smallest_moduli_bits_from_2048() -> u32 {
    let text = std::fs::read_to_string("/etc/ssh/moduli")
        .expect("/etc/ssh/moduli (apt-get install -y openssh-server)");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().nth(4)?.parse::<u32>().ok())
        .map(|size| size + 1)
        .filter(|bits| *bits >= 2048)
        .min()
        .expect("no group of 2048 bits or more in /etc/ssh/moduli")
}

#[test]
fn the_deep_audit_measures_the_group_the_real_sshd_hands_out() {
    let sshd = SshdFixture::start(SshdOptions::default()).unwrap();
    let ev = run(sshd.port(), &["--deep-audit"]);
    let f = findings(&ev);
    let g = one(&f, "dh_group");
    let bits = smallest_moduli_bits_from_2048();
    assert_eq!(
        (g.grade.as_str(), g.algorithm.as_str()),
        ("ok", "diffie-hellman-group-exchange-sha256"),
        "{g:?}"
    );
    assert!(
        g.reason
            .starts_with(&format!("the server handed out a {bits}-bit group")),
        "{g:?}"
    );

    // A server without group exchange costs no extra connection and has no such finding.
    let no_gex = SshdFixture::start(SshdOptions::with_config([
        "KexAlgorithms curve25519-sha256",
    ]))
    .unwrap();
    let f = findings(&run(no_gex.port(), &["--deep-audit"]));
    assert!(f.iter().all(|x| x.category != "dh_group"), "{f:#?}");
}

/// Read one unencrypted packet's payload from `s`.
fn read_packet(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = [0u8; 5];
    s.read_exact(&mut head).ok()?;
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let mut rest = vec![0u8; len.checked_sub(1)?];
    s.read_exact(&mut rest).ok()?;
    rest.truncate(rest.len().checked_sub(head[4] as usize)?);
    Some(rest)
}

/// Play a group-exchange server that hands out a 1024-bit group to whatever is asked,
/// recording each request's (min, n, max).
fn serve_small_group(mut s: TcpStream, requests: &Mutex<Vec<(u32, u32, u32)>>) {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(b"SSH-2.0-SmallGroup_1.0\r\n");
    let _ = s.write_all(&binary_packet(&minimal_kexinit(
        "diffie-hellman-group-exchange-sha256",
        "hmac-sha2-256-etm@openssh.com",
    )));
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while s.read_exact(&mut b).is_ok() && b[0] != b'\n' {
        line.push(b[0]);
    }
    while let Some(p) = read_packet(&mut s) {
        if p.first() != Some(&34) || p.len() < 13 {
            continue;
        }
        let at = |i: usize| u32::from_be_bytes(p[i..i + 4].try_into().unwrap());
        requests.lock().unwrap().push((at(1), at(5), at(9)));
        // p: a 1024-bit odd number (the top bit set, so an mpint with a leading zero); g = 2.
        let mut group = vec![31u8];
        group.extend(129u32.to_be_bytes());
        group.push(0);
        group.push(0xc0);
        group.extend([0xffu8; 127]);
        group.extend(1u32.to_be_bytes());
        group.push(2);
        let _ = s.write_all(&binary_packet(&group));
        std::thread::sleep(Duration::from_millis(200));
        return;
    }
}

#[test]
fn the_deep_audit_grades_a_1024_bit_group_weak_whatever_the_name() {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = l.local_addr().unwrap();
    let seen = requests.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let seen = seen.clone();
            std::thread::spawn(move || serve_small_group(s, &seen));
        }
    });
    let ev = run(addr.port(), &["--deep-audit", "--timeout", "10"]);
    let f = findings(&ev);
    let g = one(&f, "dh_group");
    assert_eq!(g.grade.as_str(), "weak", "{g:?}");
    assert!(
        g.reason
            .starts_with("the server handed out a 1024-bit group"),
        "{g:?}"
    );
    assert!(g.fix.as_deref().unwrap().contains("moduli"), "{g:?}");
    // The by-name grading alone had nothing against gex-sha256.
    assert!(
        f.iter()
            .all(|x| x.category != "kex" || x.algorithm != "diffie-hellman-group-exchange-sha256")
    );
    let requests = requests.lock().unwrap().clone();
    assert!(requests.contains(&(1024, 1024, 8192)), "{requests:?}");
}
