//! Host key trust: the SHA256 fingerprint as OpenSSH prints it, a [`TrustStore`] the caller
//! plugs in (an OpenSSH `known_hosts` text natively, `localStorage` in the browser), and the
//! decision under a policy (`yes`, `accept-new`, `no`) as OpenSSH's `StrictHostKeyChecking`.
//!
//! The decision is a pure function of what the store knew before the connection and the key the
//! server presented, so it can be made inside russh's handler without touching the store.

use base64ct::{Base64, Encoding as _};
use hmac::{Hmac, KeyInit, Mac};
use sshdiag_events::{HostKeyPolicy, HostkeyStatus};

/// A host key as the trust logic sees it: public facts only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeyInfo {
    pub algorithm: String,
    /// `SHA256:…`, unpadded base64, as `ssh-keygen -l` prints it.
    pub fingerprint_sha256: String,
    /// `algorithm base64` (the `known_hosts` key part), when known.
    pub openssh: Option<String>,
    /// Where a trusted key is trusted: `FILE:LINE` of its `known_hosts` line, `this browser`
    /// for the page's stored key; `None` for a key a server presented.
    pub source: Option<String>,
}

impl HostKeyInfo {
    pub fn from_public_key(key: &russh::keys::PublicKey) -> Self {
        HostKeyInfo {
            algorithm: key.algorithm().as_str().to_string(),
            fingerprint_sha256: key.fingerprint(russh::keys::HashAlg::Sha256).to_string(),
            openssh: key.to_openssh().ok().map(|s| {
                let mut parts = s.split_whitespace();
                format!(
                    "{} {}",
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or("")
                )
            }),
            source: None,
        }
    }

    fn family(&self) -> &str {
        family(&self.algorithm)
    }
}

/// The key type an algorithm name signs with, as `known_hosts` names keys: the RSA signature
/// algorithms are all `ssh-rsa`, a certificate's is its key's, and the rest are their own.
pub fn key_type(alg: &str) -> &str {
    let plain = alg.strip_suffix("-cert-v01@openssh.com").unwrap_or(alg);
    if plain.starts_with("rsa-sha2-") {
        "ssh-rsa"
    } else {
        plain
    }
}

fn family(alg: &str) -> &str {
    if alg.starts_with("rsa-sha2-") || alg == "ssh-rsa" {
        "rsa"
    } else if alg.starts_with("ecdsa-") {
        "ecdsa"
    } else {
        alg
    }
}

/// What kind of store a run's trust lives in, so a message names it as its user knows it: a
/// `known_hosts` file's `@cert-authority` and `@revoked` lines, or the browser's stored keys
/// and the run's list of trusted host CAs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrustKind {
    /// OpenSSH's `known_hosts` (the CLI).
    #[default]
    KnownHosts,
    /// The browser's stored keys and the trusted host CAs list (the page, the JS API).
    Browser,
}

impl TrustKind {
    /// Where a CA is trusted: "no @cert-authority line in known_hosts trusts for this host".
    pub fn ca_not_trusted(self) -> &'static str {
        match self {
            TrustKind::KnownHosts => {
                "which no @cert-authority line in known_hosts trusts for this host"
            }
            TrustKind::Browser => "which is not among the trusted host CAs",
        }
    }

    /// Where a key is marked revoked.
    pub fn revoked_where(self) -> &'static str {
        match self {
            TrustKind::KnownHosts => "marked @revoked in known_hosts",
            TrustKind::Browser => "marked revoked",
        }
    }
}

/// Where trusted host keys live. Implementations must never block for long: the browser's is
/// `localStorage`, the CLI's a `known_hosts` file read before the run.
pub trait TrustStore {
    /// What kind of store this is, for the words of its messages (`known_hosts` unless said).
    fn kind(&self) -> TrustKind {
        TrustKind::KnownHosts
    }
    /// Keys trusted for this host and port.
    fn lookup(&self, host: &str, port: u16) -> Vec<HostKeyInfo>;
    /// Trust this key from now on (accept-new). An error is reported, not fatal.
    fn remember(&mut self, host: &str, port: u16, key: &HostKeyInfo) -> Result<(), String>;
    /// Keys refused for this host and port (`@revoked`); none unless the store knows some.
    fn revoked(&self, _host: &str, _port: u16) -> Vec<HostKeyInfo> {
        Vec::new()
    }
    /// Host certificate authorities trusted for this host and port (`@cert-authority`).
    fn cert_authorities(&self, _host: &str, _port: u16) -> Vec<HostKeyInfo> {
        Vec::new()
    }
}

/// A store that knows nothing and remembers nothing.
#[derive(Debug, Default, Clone)]
pub struct NoTrustStore;

impl TrustStore for NoTrustStore {
    fn lookup(&self, _: &str, _: u16) -> Vec<HostKeyInfo> {
        Vec::new()
    }
    fn remember(&mut self, _: &str, _: u16, _: &HostKeyInfo) -> Result<(), String> {
        Ok(())
    }
}

/// The outcome of checking a presented key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeyDecision {
    pub status: HostkeyStatus,
    /// Whether the connection may go on.
    pub accept: bool,
    /// Whether the key should be stored (accept-new of an unknown host).
    pub remember: bool,
    /// On mismatch: the fingerprint that was trusted.
    pub expected_fingerprint: Option<String>,
    /// No key was trusted and the policy is `yes`.
    pub unknown: bool,
    /// The key is listed on an `@revoked` line: refused whatever the policy, as OpenSSH does.
    pub revoked: bool,
    /// A host certificate judged against the `@cert-authority` lines.
    pub certificate: Option<HostCertCheck>,
    /// The mismatch is of type: keys of other types are trusted for this host, none of this
    /// one (most likely the server now prefers, or only has, another key type).
    pub other_type: bool,
    /// The kind of store the decision was made against (the handler sets it), for its words.
    pub trust: TrustKind,
}

/// The decision on a host certificate: a certificate a trusted CA signed for this name, valid
/// now, is trusted under every policy; one that fails the check is refused under `yes` and
/// `accept-new` with its reason (under `no`, unchecked), as OpenSSH refuses it when the
/// `@cert-authority` line exists.
pub fn decide_certificate(policy: HostKeyPolicy, check: HostCertCheck) -> HostKeyDecision {
    let trusted = check.trusted();
    HostKeyDecision {
        status: if policy == HostKeyPolicy::No && !trusted {
            HostkeyStatus::Unchecked
        } else if trusted {
            HostkeyStatus::Trusted
        } else {
            HostkeyStatus::Mismatch
        },
        accept: trusted || policy == HostKeyPolicy::No,
        remember: false,
        expected_fingerprint: None,
        unknown: false,
        revoked: false,
        certificate: Some(check),
        other_type: false,
        trust: TrustKind::KnownHosts,
    }
}

pub fn decide(
    policy: HostKeyPolicy,
    trusted: &[HostKeyInfo],
    presented: &HostKeyInfo,
) -> HostKeyDecision {
    let matches = trusted
        .iter()
        .any(|t| t.fingerprint_sha256 == presented.fingerprint_sha256);
    let conflicting = trusted
        .iter()
        .find(|t| t.family() == presented.family() && !matches);
    let base = HostKeyDecision {
        status: HostkeyStatus::Trusted,
        accept: true,
        remember: false,
        expected_fingerprint: None,
        unknown: false,
        revoked: false,
        certificate: None,
        other_type: false,
        trust: TrustKind::KnownHosts,
    };
    if matches {
        return if policy == HostKeyPolicy::No {
            HostKeyDecision {
                status: HostkeyStatus::Unchecked,
                ..base
            }
        } else {
            base
        };
    }
    if let Some(t) = conflicting {
        return HostKeyDecision {
            status: if policy == HostKeyPolicy::No {
                HostkeyStatus::Unchecked
            } else {
                HostkeyStatus::Mismatch
            },
            accept: policy == HostKeyPolicy::No,
            remember: false,
            expected_fingerprint: Some(t.fingerprint_sha256.clone()),
            unknown: false,
            revoked: false,
            certificate: None,
            other_type: false,
            trust: TrustKind::KnownHosts,
        };
    }
    // Keys of other types are trusted, none of this one. OpenSSH would take this key for a
    // new host's (adding it under accept-new, asking under ask); but the host is not new, and
    // its known key may be the one an attacker avoids presenting, so it is refused as a
    // mismatch of type, which the hint explains (under `no`, unchecked as ever).
    if let (Some(t), false) = (trusted.first(), policy == HostKeyPolicy::No) {
        return HostKeyDecision {
            status: HostkeyStatus::Mismatch,
            accept: false,
            expected_fingerprint: Some(t.fingerprint_sha256.clone()),
            other_type: true,
            ..base
        };
    }
    match policy {
        HostKeyPolicy::No => HostKeyDecision {
            status: HostkeyStatus::Unchecked,
            ..base
        },
        HostKeyPolicy::AcceptNew => HostKeyDecision {
            status: HostkeyStatus::AcceptedNew,
            remember: true,
            ..base
        },
        HostKeyPolicy::Yes => HostKeyDecision {
            status: HostkeyStatus::New,
            accept: false,
            unknown: true,
            ..base
        },
    }
}

/// [`decide`], after OpenSSH's revocation check: a key on an `@revoked` line for this host is
/// refused under every policy, even `no`.
pub fn decide_checked(
    policy: HostKeyPolicy,
    trusted: &[HostKeyInfo],
    revoked: &[HostKeyInfo],
    presented: &HostKeyInfo,
) -> HostKeyDecision {
    if revoked
        .iter()
        .any(|r| r.fingerprint_sha256 == presented.fingerprint_sha256)
    {
        return HostKeyDecision {
            status: HostkeyStatus::Mismatch,
            accept: false,
            remember: false,
            expected_fingerprint: None,
            unknown: false,
            revoked: true,
            certificate: None,
            other_type: false,
            trust: TrustKind::KnownHosts,
        };
    }
    decide(policy, trusted, presented)
}

/// The decision on a host certificate whose own key passed [`decide_checked`]: refused under
/// every policy when its CA's key is on an `@revoked` line (OpenSSH checks the CA too),
/// otherwise [`check_host_certificate`] under the policy.
pub fn decide_host_certificate(
    policy: HostKeyPolicy,
    facts: &crate::certificate::CertificateFacts,
    host: &str,
    cas: &[HostKeyInfo],
    revoked: &[HostKeyInfo],
    now: u64,
) -> HostKeyDecision {
    if revoked
        .iter()
        .any(|r| r.fingerprint_sha256 == facts.ca_fingerprint)
    {
        return HostKeyDecision {
            revoked: true,
            ..decide_certificate(
                HostKeyPolicy::Yes,
                HostCertCheck::CaRevoked {
                    ca_fingerprint: facts.ca_fingerprint.clone(),
                },
            )
        };
    }
    decide_certificate(policy, check_host_certificate(facts, host, cas, now))
}

/// Why a host certificate is or is not trusted, as OpenSSH decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostCertCheck {
    /// Signed by a trusted CA, valid now, and this host name is a principal.
    Valid {
        ca_fingerprint: String,
    },
    /// A user certificate presented as a host key.
    NotAHostCertificate,
    /// The signing CA's key is on an `@revoked` line: every certificate it signed is refused,
    /// as OpenSSH refuses it, whatever the policy.
    CaRevoked {
        ca_fingerprint: String,
    },
    /// No `@cert-authority` line for this host names the signing CA.
    UnknownCa {
        ca_fingerprint: String,
    },
    Expired {
        valid_before: u64,
    },
    NotYetValid {
        valid_after: u64,
    },
    /// This host name is not among the principals.
    NameNotAPrincipal {
        name: String,
        principals: Vec<String>,
    },
}

impl HostCertCheck {
    pub fn trusted(&self) -> bool {
        matches!(self, HostCertCheck::Valid { .. })
    }

    /// The sentence for an event or hint, naming where trust lives as `kind` calls it.
    pub fn explain(&self, kind: TrustKind) -> String {
        use crate::certificate::utc;
        match self {
            HostCertCheck::Valid { ca_fingerprint } => {
                format!("host certificate valid, signed by trusted CA {ca_fingerprint}")
            }
            HostCertCheck::NotAHostCertificate => {
                "the server presented a user certificate as its host key".into()
            }
            HostCertCheck::CaRevoked { ca_fingerprint } => format!(
                "the host certificate is signed by CA {ca_fingerprint}, whose key is {}",
                kind.revoked_where()
            ),
            HostCertCheck::UnknownCa { ca_fingerprint } => format!(
                "the host certificate is signed by CA {ca_fingerprint}, {}",
                kind.ca_not_trusted()
            ),
            HostCertCheck::Expired { valid_before } => {
                format!("the host certificate expired at {}", utc(*valid_before))
            }
            HostCertCheck::NotYetValid { valid_after } => {
                format!(
                    "the host certificate is not valid before {}",
                    utc(*valid_after)
                )
            }
            HostCertCheck::NameNotAPrincipal { name, principals } => format!(
                "the host certificate is for {}, not for {name:?}",
                principals.join(", ")
            ),
        }
    }
}

/// Check a host certificate for `host` against the trusted CAs at `now` (unix seconds), in
/// OpenSSH's order: type, CA, validity, name.
pub fn check_host_certificate(
    facts: &crate::certificate::CertificateFacts,
    host: &str,
    cas: &[HostKeyInfo],
    now: u64,
) -> HostCertCheck {
    if facts.cert_type != "host" {
        return HostCertCheck::NotAHostCertificate;
    }
    if !cas
        .iter()
        .any(|c| c.fingerprint_sha256 == facts.ca_fingerprint)
    {
        return HostCertCheck::UnknownCa {
            ca_fingerprint: facts.ca_fingerprint.clone(),
        };
    }
    if now >= facts.valid_before {
        return HostCertCheck::Expired {
            valid_before: facts.valid_before,
        };
    }
    if now < facts.valid_after {
        return HostCertCheck::NotYetValid {
            valid_after: facts.valid_after,
        };
    }
    let name = host.to_ascii_lowercase();
    if !facts
        .principals
        .iter()
        .any(|p| glob(p.as_bytes(), name.as_bytes()))
    {
        return HostCertCheck::NameNotAPrincipal {
            name,
            principals: facts.principals.clone(),
        };
    }
    HostCertCheck::Valid {
        ca_fingerprint: facts.ca_fingerprint.clone(),
    }
}

/// A `known_hosts` line's marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    CertAuthority,
    Revoked,
}

/// An OpenSSH `known_hosts` file's contents: plain and hashed (`|1|salt|hash`) host patterns,
/// `[host]:port` for non-default ports, `*`/`?` wildcards and `!` negations; `@cert-authority`
/// lines (trusted host CAs, with their patterns) and `@revoked` lines (refused keys).
#[derive(Debug, Clone, Default)]
pub struct KnownHosts {
    entries: Vec<(String, HostKeyInfo)>,
    cert_authorities: Vec<(String, HostKeyInfo)>,
    revoked: Vec<(String, HostKeyInfo)>,
}

fn glob(p: &[u8], n: &[u8]) -> bool {
    match (p.first(), n.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&p[1..], n) || (!n.is_empty() && glob(p, &n[1..])),
        (Some(b'?'), Some(_)) => glob(&p[1..], &n[1..]),
        (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => glob(&p[1..], &n[1..]),
        _ => false,
    }
}

/// The name OpenSSH looks up for a host and port.
pub fn known_hosts_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

fn hashed_match(entry: &str, name: &str) -> bool {
    let Some(rest) = entry.strip_prefix("|1|") else {
        return false;
    };
    let Some((salt, hash)) = rest.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (Base64::decode_vec(salt), Base64::decode_vec(hash)) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

fn patterns_match(patterns: &str, name: &str) -> bool {
    if patterns.starts_with("|1|") {
        return hashed_match(patterns, name);
    }
    let mut positive = false;
    for p in patterns.split(',') {
        if let Some(neg) = p.strip_prefix('!') {
            if glob(neg.as_bytes(), name.as_bytes()) {
                return false;
            }
        } else if glob(p.as_bytes(), name.as_bytes()) {
            positive = true;
        }
    }
    positive
}

impl KnownHosts {
    /// Parse the text; lines that are not host keys are skipped, never an error.
    pub fn parse(text: &str) -> Self {
        Self::parse_named(text, "known_hosts")
    }

    /// [`KnownHosts::parse`], each key's `source` naming `NAME:LINE` (the file's path).
    pub fn parse_named(text: &str, name: &str) -> Self {
        let mut known = KnownHosts::default();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (marker, line) = match line.split_once(char::is_whitespace) {
                Some(("@cert-authority", rest)) => (Marker::CertAuthority, rest.trim_start()),
                Some(("@revoked", rest)) => (Marker::Revoked, rest.trim_start()),
                // An unknown marker: OpenSSH ignores the line, so do we.
                _ if line.starts_with('@') => continue,
                _ => (Marker::None, line),
            };
            let mut parts = line.split_whitespace();
            let (Some(hosts), Some(alg), Some(b64)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Ok(key) = russh::keys::parse_public_key_base64(b64) else {
                continue;
            };
            let mut info = HostKeyInfo::from_public_key(&key);
            info.algorithm = alg.to_string();
            info.source = Some(format!("{name}:{}", number + 1));
            let list = match marker {
                Marker::None => &mut known.entries,
                Marker::CertAuthority => &mut known.cert_authorities,
                Marker::Revoked => &mut known.revoked,
            };
            list.push((hosts.to_string(), info));
        }
        known
    }

    /// Keys on `@revoked` lines whose patterns match this host and port.
    pub fn revoked(&self, host: &str, port: u16) -> Vec<HostKeyInfo> {
        Self::matching(&self.revoked, host, port)
    }

    /// CA keys on `@cert-authority` lines whose patterns match this host and port.
    pub fn cert_authorities(&self, host: &str, port: u16) -> Vec<HostKeyInfo> {
        Self::matching(&self.cert_authorities, host, port)
    }

    fn matching(list: &[(String, HostKeyInfo)], host: &str, port: u16) -> Vec<HostKeyInfo> {
        let name = known_hosts_name(host, port);
        list.iter()
            .filter(|(p, _)| patterns_match(p, &name))
            .map(|(_, k)| k.clone())
            .collect()
    }

    pub fn lookup(&self, host: &str, port: u16) -> Vec<HostKeyInfo> {
        Self::matching(&self.entries, host, port)
    }

    /// The line to append to remember a key (plain, not hashed); `None` for a name that
    /// line could not carry back (empty, starting with `@` or `#`, or holding a comma, a
    /// pattern character or white space): a line [`KnownHosts::parse`] would read as a
    /// marker, a comment or other hosts is never written. (Found by the `known_hosts` fuzz
    /// target: `@cert-authorityx` as a host name was written and could not be read back.)
    pub fn line_for(host: &str, port: u16, key: &HostKeyInfo) -> Option<String> {
        let name = known_hosts_name(host, port);
        let unwritable = name.is_empty()
            || name.starts_with(['@', '#'])
            || name.contains([',', '*', '?', '!', '|'])
            || name.contains(char::is_whitespace);
        if unwritable {
            return None;
        }
        key.openssh.as_ref().map(|k| format!("{name} {k}\n"))
    }

    pub fn add(&mut self, host: &str, port: u16, key: &HostKeyInfo) {
        self.entries
            .push((known_hosts_name(host, port), key.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    #[test]
    fn a_remembered_line_reads_back_or_is_not_written() {
        let key = HostKeyInfo {
            algorithm: "ssh-ed25519".into(),
            fingerprint_sha256: "SHA256:x".into(),
            openssh: Some(format!("ssh-ed25519 {ED}")),
            source: None,
        };
        let line = KnownHosts::line_for("db.example.com", 2222, &key).unwrap();
        assert_eq!(line, format!("[db.example.com]:2222 ssh-ed25519 {ED}\n"));
        assert_eq!(
            KnownHosts::parse(&line)
                .lookup("db.example.com", 2222)
                .len(),
            1
        );
        for host in ["@cert-authorityx", "#host", "a,b", "a b", "*", ""] {
            assert_eq!(KnownHosts::line_for(host, 22, &key), None, "{host:?}");
        }
    }

    fn info(fp: &str, alg: &str) -> HostKeyInfo {
        HostKeyInfo {
            algorithm: alg.into(),
            fingerprint_sha256: fp.into(),
            openssh: None,
            source: None,
        }
    }

    #[test]
    fn policies_decide_as_openssh() {
        let presented = info("SHA256:new", "ssh-ed25519");
        let d = decide(HostKeyPolicy::AcceptNew, &[], &presented);
        assert_eq!(
            (d.status, d.accept, d.remember),
            (HostkeyStatus::AcceptedNew, true, true)
        );
        let d = decide(HostKeyPolicy::Yes, &[], &presented);
        assert!(!d.accept && d.unknown);
        let old = [info("SHA256:old", "ssh-ed25519")];
        let d = decide(HostKeyPolicy::AcceptNew, &old, &presented);
        assert_eq!((d.status, d.accept), (HostkeyStatus::Mismatch, false));
        assert_eq!(d.expected_fingerprint.as_deref(), Some("SHA256:old"));
        let d = decide(HostKeyPolicy::No, &old, &presented);
        assert_eq!((d.status, d.accept), (HostkeyStatus::Unchecked, true));
        let d = decide(
            HostKeyPolicy::Yes,
            &[info("SHA256:new", "ssh-ed25519")],
            &presented,
        );
        assert_eq!((d.status, d.accept), (HostkeyStatus::Trusted, true));
        // Only a key of another type is trusted: a mismatch of type, not a new host.
        let rsa = [info("SHA256:rsa", "ssh-rsa")];
        for policy in [HostKeyPolicy::Yes, HostKeyPolicy::AcceptNew] {
            let d = decide(policy, &rsa, &presented);
            assert_eq!(
                (d.status, d.accept, d.remember),
                (HostkeyStatus::Mismatch, false, false)
            );
            assert!(d.other_type && !d.unknown, "{policy:?}");
            assert_eq!(d.expected_fingerprint.as_deref(), Some("SHA256:rsa"));
        }
        let d = decide(HostKeyPolicy::No, &rsa, &presented);
        assert_eq!((d.status, d.accept), (HostkeyStatus::Unchecked, true));
        // The same type with another key is a changed key, not a type change.
        assert!(!decide(HostKeyPolicy::AcceptNew, &old, &presented).other_type);
        for (alg, t) in [
            ("rsa-sha2-512", "ssh-rsa"),
            ("ssh-rsa", "ssh-rsa"),
            ("ssh-ed25519-cert-v01@openssh.com", "ssh-ed25519"),
            ("ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384"),
        ] {
            assert_eq!(key_type(alg), t);
        }
    }

    #[test]
    fn known_hosts_plain_port_and_hashed() {
        // The hashed entry is `ssh-keygen -H` of "[127.0.0.1]:2222" with salt "salt-salt-salt-salt!".
        let salt = b"salt-salt-salt-salt!";
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(salt).unwrap();
        mac.update(b"[127.0.0.1]:2222");
        let hash = mac.finalize().into_bytes();
        let text = format!(
            "# comment\nexample.com,other ssh-ed25519 {ED}\n|1|{}|{} ssh-ed25519 {ED}\ngarbage line\n",
            Base64::encode_string(salt),
            Base64::encode_string(&hash)
        );
        let kh = KnownHosts::parse(&text);
        assert_eq!(kh.lookup("example.com", 22).len(), 1);
        assert_eq!(kh.lookup("example.com", 2200).len(), 0);
        assert_eq!(kh.lookup("127.0.0.1", 2222).len(), 1);
        assert_eq!(kh.lookup("127.0.0.1", 22).len(), 0);
        assert!(
            kh.lookup("other", 22)[0]
                .fingerprint_sha256
                .starts_with("SHA256:")
        );
    }

    const ED2: &str = "AAAAC3NzaC1lZDI1NTE5AAAAILZBmUiMn9AtE9LSMItTgA1LuzRuRur8kcMMKZCv+Fdm";

    #[test]
    fn markers_are_parsed_not_skipped() {
        let text = format!(
            "@cert-authority *.example.com,!bad.example.com ssh-ed25519 {ED} ca\n\
             @revoked * ssh-ed25519 {ED2}\n\
             @unknown-marker host ssh-ed25519 {ED}\n\
             host.example.com ssh-ed25519 {ED2}\n"
        );
        let kh = KnownHosts::parse(&text);
        // Marker lines are not plain trusted keys.
        assert_eq!(kh.lookup("a.example.com", 22).len(), 0);
        assert_eq!(kh.cert_authorities("a.example.com", 22).len(), 1);
        assert_eq!(kh.cert_authorities("bad.example.com", 22).len(), 0);
        assert_eq!(kh.cert_authorities("other.org", 22).len(), 0);
        assert_eq!(kh.revoked("anything", 2222).len(), 1);
        // A revoked key is refused even when it is also trusted, and even under `no`.
        let revoked = kh.revoked("host.example.com", 22);
        let trusted = kh.lookup("host.example.com", 22);
        assert_eq!(trusted.len(), 1);
        for policy in [
            HostKeyPolicy::Yes,
            HostKeyPolicy::AcceptNew,
            HostKeyPolicy::No,
        ] {
            let d = decide_checked(policy, &trusted, &revoked, &trusted[0]);
            assert!(d.revoked && !d.accept && !d.remember, "{policy:?}");
        }
        // Another key is decided as before.
        let ca = &kh.cert_authorities("a.example.com", 22)[0];
        let d = decide_checked(HostKeyPolicy::AcceptNew, &[], &revoked, ca);
        assert!(!d.revoked && d.accept);
    }

    fn host_cert(
        principals: &[&str],
        after: u64,
        before: u64,
    ) -> crate::certificate::CertificateFacts {
        crate::certificate::CertificateFacts {
            key_id: "h".into(),
            serial: 1,
            cert_type: "host",
            algorithm: "ssh-ed25519-cert-v01@openssh.com".into(),
            key_fingerprint: "SHA256:k".into(),
            principals: principals.iter().map(|p| p.to_string()).collect(),
            valid_after: after,
            valid_before: before,
            ca_algorithm: "ssh-ed25519".into(),
            ca_fingerprint: "SHA256:ca".into(),
            critical_options: Vec::new(),
            extensions: Vec::new(),
        }
    }

    #[test]
    fn host_certificates_as_openssh_checks_them() {
        let cas = [info("SHA256:ca", "ssh-ed25519")];
        let c = host_cert(&["db.example.com"], 100, 200);
        assert!(check_host_certificate(&c, "DB.example.com", &cas, 150).trusted());
        assert_eq!(
            check_host_certificate(&c, "db.example.com", &cas, 200),
            HostCertCheck::Expired { valid_before: 200 }
        );
        assert_eq!(
            check_host_certificate(&c, "db.example.com", &cas, 99),
            HostCertCheck::NotYetValid { valid_after: 100 }
        );
        assert!(matches!(
            check_host_certificate(&c, "web.example.com", &cas, 150),
            HostCertCheck::NameNotAPrincipal { .. }
        ));
        let other = [info("SHA256:other", "ssh-ed25519")];
        let unknown = check_host_certificate(&c, "db.example.com", &other, 150);
        let (cli, page) = (
            unknown.explain(TrustKind::KnownHosts),
            unknown.explain(TrustKind::Browser),
        );
        assert!(
            cli.contains("SHA256:ca") && page.contains("SHA256:ca"),
            "{cli}"
        );
        assert!(cli.contains("@cert-authority line in known_hosts"), "{cli}");
        assert!(
            page.contains("trusted host CAs") && !page.contains("known_hosts"),
            "{page}"
        );
        let mut user = c.clone();
        user.cert_type = "user";
        assert_eq!(
            check_host_certificate(&user, "db.example.com", &cas, 150),
            HostCertCheck::NotAHostCertificate
        );
    }
}
