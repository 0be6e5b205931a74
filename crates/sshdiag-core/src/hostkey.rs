//! Host key trust: the SHA256 fingerprint as OpenSSH prints it, a [`TrustStore`] the caller
//! plugs in (an OpenSSH `known_hosts` text natively, `localStorage` in the browser), and the
//! decision under a policy (`yes`, `accept-new`, `no`) as OpenSSH's `StrictHostKeyChecking`.
//!
//! The decision is a pure function of what the store knew before the connection and the key the
//! server presented, so it can be made inside russh's handler without touching the store.

use base64::Engine;
use hmac::{Hmac, Mac};
use sshdiag_events::{HostKeyPolicy, HostkeyStatus};

/// A host key as the trust logic sees it: public facts only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeyInfo {
    pub algorithm: String,
    /// `SHA256:…`, unpadded base64, as `ssh-keygen -l` prints it.
    pub fingerprint_sha256: String,
    /// `algorithm base64` (the `known_hosts` key part), when known.
    pub openssh: Option<String>,
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
        }
    }

    fn family(&self) -> &str {
        family(&self.algorithm)
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

/// Where trusted host keys live. Implementations must never block for long: the browser's is
/// `localStorage`, the CLI's a `known_hosts` file read before the run.
pub trait TrustStore {
    /// Keys trusted for this host and port.
    fn lookup(&self, host: &str, port: u16) -> Vec<HostKeyInfo>;
    /// Trust this key from now on (accept-new). An error is reported, not fatal.
    fn remember(&mut self, host: &str, port: u16, key: &HostKeyInfo) -> Result<(), String>;
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

/// An OpenSSH `known_hosts` file's contents: plain and hashed (`|1|salt|hash`) host patterns,
/// `[host]:port` for non-default ports, `*`/`?` wildcards and `!` negations. `@revoked` and
/// `@cert-authority` lines are skipped (certificates are not used here).
#[derive(Debug, Clone, Default)]
pub struct KnownHosts {
    entries: Vec<(String, HostKeyInfo)>,
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
    let b64 = base64::engine::general_purpose::STANDARD;
    let (Ok(salt), Ok(hash)) = (b64.decode(salt), b64.decode(hash)) else {
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
        let mut entries = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
                continue;
            }
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
            entries.push((hosts.to_string(), info));
        }
        KnownHosts { entries }
    }

    pub fn lookup(&self, host: &str, port: u16) -> Vec<HostKeyInfo> {
        let name = known_hosts_name(host, port);
        self.entries
            .iter()
            .filter(|(p, _)| patterns_match(p, &name))
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// The line to append to remember a key (plain, not hashed).
    pub fn line_for(host: &str, port: u16, key: &HostKeyInfo) -> Option<String> {
        key.openssh
            .as_ref()
            .map(|k| format!("{} {}\n", known_hosts_name(host, port), k))
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

    fn info(fp: &str, alg: &str) -> HostKeyInfo {
        HostKeyInfo {
            algorithm: alg.into(),
            fingerprint_sha256: fp.into(),
            openssh: None,
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
    }

    #[test]
    fn known_hosts_plain_port_and_hashed() {
        // The hashed entry is `ssh-keygen -H` of "[127.0.0.1]:2222" with salt "salt-salt-salt-salt!".
        let salt = b"salt-salt-salt-salt!";
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(salt).unwrap();
        mac.update(b"[127.0.0.1]:2222");
        let hash = mac.finalize().into_bytes();
        let b64 = base64::engine::general_purpose::STANDARD;
        let text = format!(
            "# comment\nexample.com,other ssh-ed25519 {ED}\n|1|{}|{} ssh-ed25519 {ED}\ngarbage line\n",
            b64.encode(salt),
            b64.encode(hash)
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
}
