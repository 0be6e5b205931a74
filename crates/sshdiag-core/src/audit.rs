//! The algorithm audit: grade what the server *offers* (its KEXINIT), not just what this run
//! negotiated, because an attacker picks from the offer. Each finding has a one-line reason and
//! the `sshd_config` line that fixes it.
//!
//! Grades: `broken` (practical attacks), `weak` (deprecated, or a missing protection), `note`
//! (worth knowing, nothing urgent: encrypt-and-MAC MACs), `ok` (a check that passed without
//! being notable), `good` (a protection worth showing: strict kex, post-quantum key exchange).
//! Algorithms that are merely fine produce no finding. Where the grades differ from
//! ssh-audit's on purpose, `docs/audit.md` says why.
//!
//! Grading only: this module never does I/O. The deep audit's measurement (the group a
//! group-exchange server hands out) is made by `gex.rs` and graded here by its size.

use sshdiag_events::{AuditData, AuditGrade, Proposal};

use crate::gex::{GEX_REQUEST_BITS, GexAnswer};

struct Rule {
    pattern: &'static str,
    grade: AuditGrade,
    reason: &'static str,
}

const KEX_RULES: &[Rule] = &[
    Rule {
        pattern: "diffie-hellman-group1-sha1",
        grade: AuditGrade::Broken,
        reason: "1024-bit Diffie-Hellman group (Logjam-class) with SHA-1",
    },
    Rule {
        pattern: "diffie-hellman-group14-sha1",
        grade: AuditGrade::Weak,
        reason: "SHA-1 hash in the key exchange",
    },
    Rule {
        pattern: "diffie-hellman-group-exchange-sha1",
        grade: AuditGrade::Weak,
        reason: "SHA-1 hash, and the server may pick small groups",
    },
    Rule {
        pattern: "gss-*",
        grade: AuditGrade::Weak,
        reason: "GSSAPI key exchange variants often use SHA-1 or small groups",
    },
];

const HOST_KEY_RULES: &[Rule] = &[
    Rule {
        pattern: "ssh-dss",
        grade: AuditGrade::Broken,
        reason: "DSA host keys are 1024-bit and signed with SHA-1",
    },
    Rule {
        pattern: "ssh-rsa",
        grade: AuditGrade::Weak,
        reason: "RSA signatures with SHA-1 (rsa-sha2-256/512 use the same key safely)",
    },
    Rule {
        pattern: "ssh-rsa-cert-v01@openssh.com",
        grade: AuditGrade::Weak,
        reason: "RSA certificate signatures with SHA-1",
    },
];

const CIPHER_RULES: &[Rule] = &[
    Rule {
        pattern: "3des-cbc",
        grade: AuditGrade::Broken,
        reason: "64-bit block cipher (Sweet32) in CBC mode",
    },
    Rule {
        pattern: "blowfish-cbc",
        grade: AuditGrade::Broken,
        reason: "64-bit block cipher in CBC mode",
    },
    Rule {
        pattern: "cast128-cbc",
        grade: AuditGrade::Broken,
        reason: "64-bit block cipher in CBC mode",
    },
    Rule {
        pattern: "arcfour*",
        grade: AuditGrade::Broken,
        reason: "RC4 keystream biases",
    },
    Rule {
        pattern: "none",
        grade: AuditGrade::Broken,
        reason: "no encryption at all",
    },
    Rule {
        pattern: "*-cbc",
        grade: AuditGrade::Weak,
        reason: "CBC mode in SSH is open to plaintext-recovery attacks (CVE-2008-5161)",
    },
];

const MAC_RULES: &[Rule] = &[
    Rule {
        pattern: "hmac-md5*",
        grade: AuditGrade::Broken,
        reason: "MD5-based MAC",
    },
    Rule {
        pattern: "none",
        grade: AuditGrade::Broken,
        reason: "no integrity protection",
    },
    Rule {
        pattern: "hmac-sha1-96*",
        grade: AuditGrade::Weak,
        reason: "SHA-1 MAC truncated to 96 bits",
    },
    Rule {
        pattern: "hmac-sha1*",
        grade: AuditGrade::Weak,
        reason: "SHA-1-based MAC",
    },
    Rule {
        pattern: "umac-64*",
        grade: AuditGrade::Weak,
        reason: "64-bit tag",
    },
    Rule {
        pattern: "hmac-ripemd160*",
        grade: AuditGrade::Weak,
        reason: "RIPEMD-160 MAC, deprecated",
    },
];

/// Every post-quantum hybrid key exchange a server may offer: ML-KEM (OpenSSH 9.9+ and the
/// IETF drafts' NIST-curve pairs) and Streamlined NTRU Prime (OpenSSH 8.5+, and its unsuffixed
/// name since 9.9).
pub const PQ_KEX: &[&str] = &[
    "mlkem768x25519-sha256",
    "mlkem768nistp256-sha256",
    "mlkem1024nistp384-sha384",
    "sntrup761x25519-sha512",
    "sntrup761x25519-sha512@openssh.com",
];

/// The suffix of OpenSSH's encrypt-then-MAC variants.
const ETM_SUFFIX: &str = "-etm@openssh.com";

/// The `-etm@openssh.com` variant of an encrypt-and-MAC MAC: `hmac-sha2-256` →
/// `hmac-sha2-256-etm@openssh.com`, `umac-64@openssh.com` → `umac-64-etm@openssh.com`.
fn etm_variant(mac: &str) -> String {
    let base = mac.strip_suffix("@openssh.com").unwrap_or(mac);
    format!("{base}{ETM_SUFFIX}")
}

/// Whether `mac` is an encrypt-and-MAC MAC (computed over the plaintext), not `none`.
fn encrypt_and_mac(mac: &str) -> bool {
    mac != "none" && !mac.ends_with(ETM_SUFFIX)
}

/// The note for an encrypt-and-MAC MAC that no rule graded worse.
fn encrypt_and_mac_note(mac: &str) -> AuditData {
    let etm = etm_variant(mac);
    AuditData {
        category: "mac".into(),
        algorithm: mac.to_string(),
        grade: AuditGrade::Note,
        reason: format!(
            "encrypt-and-MAC: the tag covers the plaintext, so the receiver decrypts before it \
             can authenticate; {etm} authenticates the ciphertext instead (and with \
             chacha20-poly1305 or AES-GCM no separate MAC is used at all)"
        ),
        fix: Some(format!("MACs -{mac} (keep {etm})")),
    }
}

fn glob(p: &[u8], n: &[u8]) -> bool {
    match (p.first(), n.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&p[1..], n) || (!n.is_empty() && glob(p, &n[1..])),
        (Some(a), Some(b)) if a == b => glob(&p[1..], &n[1..]),
        _ => false,
    }
}

fn grade(
    category: &str,
    option: &str,
    offered: &[String],
    rules: &[Rule],
    out: &mut Vec<AuditData>,
) {
    let mut seen = std::collections::HashSet::new();
    for alg in offered {
        if !seen.insert(alg.as_str()) {
            continue;
        }
        let is_mac = category == "mac";
        if let Some(rule) = rules
            .iter()
            .find(|r| glob(r.pattern.as_bytes(), alg.as_bytes()))
        {
            let mut reason = rule.reason.to_string();
            if is_mac && encrypt_and_mac(alg) {
                reason.push_str(", and encrypt-and-MAC");
            }
            out.push(AuditData {
                category: category.to_string(),
                algorithm: alg.clone(),
                grade: rule.grade,
                reason,
                fix: Some(format!("{option} -{alg}")),
            });
        } else if is_mac && encrypt_and_mac(alg) {
            out.push(encrypt_and_mac_note(alg));
        }
    }
}

/// Grade the server's proposal; `software` (the banner's software version, e.g.
/// `OpenSSH_9.2p1 Debian-2`) tailors the post-quantum fix to what that version can do.
pub fn audit(server: &Proposal, software: Option<&str>) -> Vec<AuditData> {
    let mut out = Vec::new();
    let kex: Vec<String> = server
        .kex
        .iter()
        .filter(|k| !k.starts_with("ext-info") && !k.starts_with("kex-strict"))
        .cloned()
        .collect();
    grade("kex", "KexAlgorithms", &kex, KEX_RULES, &mut out);
    grade(
        "host_key",
        "HostKeyAlgorithms",
        &server.host_key,
        HOST_KEY_RULES,
        &mut out,
    );
    let mut ciphers = server.cipher_cs.clone();
    ciphers.extend(server.cipher_sc.iter().cloned());
    grade("cipher", "Ciphers", &ciphers, CIPHER_RULES, &mut out);
    let mut macs = server.mac_cs.clone();
    macs.extend(server.mac_sc.iter().cloned());
    grade("mac", "MACs", &macs, MAC_RULES, &mut out);

    let strict = server
        .kex
        .iter()
        .any(|k| k == "kex-strict-s-v00@openssh.com");
    let terrapin_prone = ciphers.iter().any(|c| c == "chacha20-poly1305@openssh.com")
        || (macs.iter().any(|m| m.ends_with("-etm@openssh.com"))
            && ciphers.iter().any(|c| c.ends_with("-cbc")));
    out.push(if strict {
        AuditData {
            category: "strict_kex".into(),
            algorithm: "kex-strict-s-v00@openssh.com".into(),
            grade: AuditGrade::Good,
            reason: "strict key exchange is offered: the Terrapin prefix-truncation attack (CVE-2023-48795) is blocked".into(),
            fix: None,
        }
    } else {
        AuditData {
            category: "strict_kex".into(),
            algorithm: "kex-strict-s-v00@openssh.com".into(),
            grade: if terrapin_prone {
                AuditGrade::Weak
            } else {
                AuditGrade::Ok
            },
            reason: if terrapin_prone {
                "no strict key exchange while chacha20-poly1305 or CBC+EtM is offered: open to Terrapin (CVE-2023-48795)".into()
            } else {
                "no strict key exchange (Terrapin countermeasure); the offered ciphers are not affected".into()
            },
            fix: Some("upgrade to OpenSSH 9.6 or later (or remove chacha20-poly1305@openssh.com and *-etm MACs with CBC)".into()),
        }
    });
    let pq: Vec<&String> = kex
        .iter()
        .filter(|k| PQ_KEX.contains(&k.as_str()))
        .collect();
    out.push(if pq.is_empty() {
        AuditData {
            category: "post_quantum".into(),
            algorithm: "mlkem768x25519-sha256".into(),
            grade: AuditGrade::Weak,
            reason: "no post-quantum key exchange is offered: recorded sessions could be decrypted by a future quantum computer".into(),
            fix: Some(post_quantum_fix(software)),
        }
    } else {
        AuditData {
            category: "post_quantum".into(),
            algorithm: pq[0].clone(),
            grade: AuditGrade::Good,
            reason: "a post-quantum hybrid key exchange is offered".into(),
            fix: None,
        }
    });
    out
}

/// The deep audit's finding for `method` (a group-exchange kex): graded by the size of the
/// group the server handed out (under 2048 bits is weak), not by the name.
pub fn dh_group_finding(method: &str, measured: &Result<GexAnswer, String>) -> AuditData {
    let (min, n, max) = GEX_REQUEST_BITS;
    let asked = format!("asked for {min} to {max} bits, preferring {n}");
    let (grade, reason, fix) = match measured {
        Ok(GexAnswer::Group { bits }) if *bits < 2048 => (
            AuditGrade::Weak,
            format!(
                "the server handed out a {bits}-bit group ({asked}): a client that accepts it gets a group in reach of precomputation attacks (Logjam)"
            ),
            Some(format!(
                "remove the groups under 2048 bits from the server's moduli (OpenSSH: keep the lines of /etc/ssh/moduli whose fifth field is 2047 or more), or KexAlgorithms -{method}"
            )),
        ),
        Ok(GexAnswer::Group { bits }) => (
            AuditGrade::Ok,
            format!(
                "the server handed out a {bits}-bit group ({asked}): it hands out none under 2048 bits"
            ),
            None,
        ),
        Ok(GexAnswer::Refused { reason }) => (
            AuditGrade::Note,
            format!("not measured: {reason} when {asked}"),
            None,
        ),
        Err(why) => (AuditGrade::Note, format!("not measured: {why}"), None),
    };
    AuditData {
        category: "dh_group".into(),
        algorithm: method.to_string(),
        grade,
        reason,
        fix,
    }
}

/// OpenSSH's version from a banner's software (`OpenSSH_9.2p1 Debian-2` → `(9, 2)`).
fn openssh_version(software: &str) -> Option<(u32, u32)> {
    let rest = software.strip_prefix("OpenSSH_")?;
    let mut parts = rest.splitn(2, '.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((major, minor.parse().ok()?))
}

/// What to add to `KexAlgorithms` for a post-quantum key exchange, for the server's version
/// when it is OpenSSH: sntrup761 came in 8.5 (default since 9.0), ML-KEM in 9.9 (default
/// since 10.0).
fn post_quantum_fix(software: Option<&str>) -> String {
    match software.and_then(openssh_version) {
        Some(v) if v >= (9, 9) => "KexAlgorithms ^mlkem768x25519-sha256,sntrup761x25519-sha512 (this OpenSSH has both; 10.0 and later offer them by default)".into(),
        Some(v) if v >= (8, 5) => "KexAlgorithms ^sntrup761x25519-sha512@openssh.com (this OpenSSH has it, the default since 9.0; mlkem768x25519-sha256 needs OpenSSH 9.9 or later)".into(),
        Some(_) => "upgrade to OpenSSH 9.9 or later, then KexAlgorithms ^mlkem768x25519-sha256,sntrup761x25519-sha512 (this version has no post-quantum key exchange)".into(),
        None => "KexAlgorithms ^mlkem768x25519-sha256,sntrup761x25519-sha512@openssh.com (OpenSSH 8.5+ for sntrup761, 9.9+ for mlkem768; other servers: enable their ML-KEM or sntrup761 hybrid)".into(),
    }
}

/// One line for a summary: counts by grade.
pub fn summary(findings: &[AuditData]) -> String {
    let count = |grade: AuditGrade| findings.iter().filter(|f| f.grade == grade).count();
    format!(
        "algorithm audit: {} broken, {} weak, {} note(s), {} good",
        count(AuditGrade::Broken),
        count(AuditGrade::Weak),
        count(AuditGrade::Note),
        count(AuditGrade::Good)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split(',').map(String::from).collect()
    }

    /// A server's offer: these lists, with the same ciphers and MACs both ways.
    fn offer(kex: &str, host_key: &str, ciphers: &str, macs: &str) -> Proposal {
        Proposal {
            kex: v(kex),
            host_key: v(host_key),
            cipher_cs: v(ciphers),
            cipher_sc: v(ciphers),
            mac_cs: v(macs),
            mac_sc: v(macs),
            ..Default::default()
        }
    }

    #[test]
    fn weak_offer_is_graded_and_strong_one_is_not() {
        let weak = offer(
            "curve25519-sha256,diffie-hellman-group1-sha1,diffie-hellman-group14-sha1",
            "ssh-ed25519,ssh-rsa",
            "aes128-ctr,aes128-cbc,3des-cbc",
            "hmac-sha2-256,hmac-sha1",
        );
        let f = audit(&weak, None);
        let g = |alg: &str| {
            f.iter()
                .find(|x| x.algorithm == alg)
                .map(|x| x.grade.as_str())
        };
        assert_eq!(g("diffie-hellman-group1-sha1"), Some("broken"));
        assert_eq!(g("diffie-hellman-group14-sha1"), Some("weak"));
        assert_eq!(g("ssh-rsa"), Some("weak"));
        assert_eq!(g("aes128-cbc"), Some("weak"));
        assert_eq!(g("3des-cbc"), Some("broken"));
        assert_eq!(g("hmac-sha1"), Some("weak"));
        assert_eq!(g("hmac-sha2-256"), Some("note"));
        assert_eq!(g("curve25519-sha256"), None);
        assert_eq!(
            f.iter().filter(|x| x.algorithm == "3des-cbc").count(),
            1,
            "listed once for both directions"
        );
        let fix = f
            .iter()
            .find(|x| x.algorithm == "diffie-hellman-group1-sha1")
            .unwrap()
            .fix
            .clone();
        assert_eq!(
            fix.as_deref(),
            Some("KexAlgorithms -diffie-hellman-group1-sha1")
        );

        let strong = offer(
            "mlkem768x25519-sha256,curve25519-sha256,kex-strict-s-v00@openssh.com",
            "ssh-ed25519",
            "chacha20-poly1305@openssh.com",
            "hmac-sha2-256-etm@openssh.com",
        );
        let f = audit(&strong, None);
        assert!(f.iter().all(|x| x.grade == AuditGrade::Good), "{f:?}");
        assert_eq!(
            summary(&f),
            "algorithm audit: 0 broken, 0 weak, 0 note(s), 2 good"
        );
    }

    fn post_quantum(f: &[AuditData]) -> &AuditData {
        f.iter().find(|x| x.category == "post_quantum").unwrap()
    }

    #[test]
    fn every_post_quantum_hybrid_counts_as_one() {
        for name in PQ_KEX {
            let kex = format!("curve25519-sha256,{name},kex-strict-s-v00@openssh.com");
            let f = audit(
                &offer(
                    &kex,
                    "ssh-ed25519",
                    "aes128-ctr",
                    "hmac-sha2-256-etm@openssh.com",
                ),
                None,
            );
            let pq = post_quantum(&f);
            assert_eq!((pq.grade, pq.algorithm.as_str()), (AuditGrade::Good, *name));
            assert_eq!(pq.fix, None);
            assert!(
                f.iter()
                    .all(|x| x.algorithm != *name || x.category == "post_quantum")
            );
        }
    }

    #[test]
    fn no_post_quantum_kex_says_what_to_add_for_the_servers_version() {
        let classic = offer(
            "curve25519-sha256",
            "ssh-ed25519",
            "aes128-ctr",
            "hmac-sha2-256-etm@openssh.com",
        );
        let fix = |software: Option<&str>| {
            let f = audit(&classic, software);
            let pq = post_quantum(&f);
            assert_eq!(pq.grade, AuditGrade::Weak);
            pq.fix.clone().unwrap()
        };
        assert!(
            fix(Some("OpenSSH_9.2p1 Debian-2+deb12u10"))
                .starts_with("KexAlgorithms ^sntrup761x25519-sha512@openssh.com ")
        );
        assert!(
            fix(Some("OpenSSH_9.9"))
                .starts_with("KexAlgorithms ^mlkem768x25519-sha256,sntrup761x25519-sha512 ")
        );
        assert!(fix(Some("OpenSSH_10.0")).starts_with("KexAlgorithms ^mlkem768x25519-sha256,"));
        assert!(fix(Some("OpenSSH_7.4")).starts_with("upgrade to OpenSSH 9.9"));
        assert!(fix(Some("dropbear_2022.83")).contains("other servers"));
        assert!(fix(None).contains("8.5+ for sntrup761, 9.9+ for mlkem768"));
    }

    #[test]
    fn a_measured_group_is_graded_by_its_size() {
        let m = "diffie-hellman-group-exchange-sha256";
        let f = dh_group_finding(m, &Ok(GexAnswer::Group { bits: 1024 }));
        assert_eq!(
            (f.category.as_str(), f.grade),
            ("dh_group", AuditGrade::Weak)
        );
        assert!(
            f.reason
                .starts_with("the server handed out a 1024-bit group"),
            "{}",
            f.reason
        );
        assert!(f.fix.unwrap().contains("/etc/ssh/moduli"));
        let f = dh_group_finding(m, &Ok(GexAnswer::Group { bits: 2048 }));
        assert_eq!((f.grade, f.fix), (AuditGrade::Ok, None));
        let f = dh_group_finding(m, &Err("timed out".into()));
        assert_eq!(
            (f.grade, f.reason.as_str()),
            (AuditGrade::Note, "not measured: timed out")
        );
    }

    #[test]
    fn encrypt_and_mac_macs_get_a_note_naming_their_etm_variant() {
        let macs = "hmac-sha2-256,hmac-sha2-512-etm@openssh.com,umac-128@openssh.com,hmac-sha1,umac-64@openssh.com";
        let f = audit(
            &offer("curve25519-sha256", "ssh-ed25519", "aes128-ctr", macs),
            None,
        );
        let find = |alg: &str| f.iter().find(|x| x.algorithm == alg);
        let note = find("hmac-sha2-256").unwrap();
        assert_eq!(note.grade, AuditGrade::Note);
        assert!(!note.grade.needs_fix());
        assert!(
            note.reason.contains("hmac-sha2-256-etm@openssh.com"),
            "{}",
            note.reason
        );
        assert!(
            note.reason.contains("chacha20-poly1305 or AES-GCM"),
            "{}",
            note.reason
        );
        assert_eq!(
            note.fix.as_deref(),
            Some("MACs -hmac-sha2-256 (keep hmac-sha2-256-etm@openssh.com)")
        );
        let umac = find("umac-128@openssh.com").unwrap();
        assert_eq!(umac.grade, AuditGrade::Note);
        assert!(umac.reason.contains("umac-128-etm@openssh.com"));
        assert!(find("hmac-sha2-512-etm@openssh.com").is_none());
        // A weak encrypt-and-MAC MAC stays weak, and says both.
        for weak in ["hmac-sha1", "umac-64@openssh.com"] {
            let w = find(weak).unwrap();
            assert_eq!(w.grade, AuditGrade::Weak, "{weak}");
            assert!(w.reason.ends_with("and encrypt-and-MAC"), "{}", w.reason);
        }
        assert_eq!(f.iter().filter(|x| x.category == "mac").count(), 4);
    }
}
