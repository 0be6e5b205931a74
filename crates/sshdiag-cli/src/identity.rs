//! The identity files the CLI will use, checked as OpenSSH checks them before it connects: a
//! private key others can read is refused ("wrong permissions on key file"), a file that is not
//! a private key is named for what it is, a PuTTY key that cannot be loaded gets the exact
//! `puttygen` command; and the user certificates that go with the keys (`CertificateFile`, and
//! `KEY-cert.pub` next to `-i KEY`) are read and described, with the reasons a server would
//! refuse them that the certificate itself shows.
//!
//! It reads files but never prints a secret: only kinds, paths, modes and public facts.

use std::path::{Path, PathBuf};

use sshdiag_core::certificate::{self, CertificateFacts, Clock};
use sshdiag_core::keyfile::{self, KeyFileKind};

/// Seconds of clock difference a certificate's validity is checked with.
const CLOCK_SKEW_SECS: u64 = 60;

/// Refuse a private key file as OpenSSH would (permissions, an unloadable PuTTY key); for a
/// file that is not a private key, a note saying what it is (the probe still reports its
/// `KeyLoadError`, so the evidence stays in the events and bundle).
pub fn check_identity(path: &Path, passphrase_env: Option<&str>) -> Result<Option<String>, String> {
    use std::os::unix::fs::MetadataExt;
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("-i {shown}: cannot read the key file: {e}"))?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("-i {shown}: cannot read the key file: {e}"))?;
    let kind = keyfile::classify(&text);
    if let Some(problem) = kind.identity_problem(&shown) {
        return Ok(Some(format!("-i {problem}")));
    }
    let owned = uid() == meta.uid().to_string();
    if let Some(problem) = keyfile::permission_problem(&shown, meta.mode(), owned) {
        return Err(problem);
    }
    if let KeyFileKind::Putty { .. } = kind {
        let passphrase = passphrase_env.and_then(|v| std::env::var(v).ok());
        if let Err(e) = russh::keys::decode_secret_key(&text, passphrase.as_deref()) {
            let why = if matches!(e, russh::keys::Error::KeyIsEncrypted) {
                "it is encrypted and no --passphrase-env was given".to_string()
            } else {
                sshdiag_events::scrub_secrets(&e.to_string())
            };
            return Err(format!(
                "-i {shown}: {} cannot be loaded ({why}); convert it with: {}",
                kind.describe(),
                keyfile::puttygen_command(&shown)
            ));
        }
    }
    Ok(None)
}

/// A certificate found for this run, with its facts.
#[derive(Debug, Clone)]
pub struct FoundCertificate {
    pub path: PathBuf,
    pub facts: CertificateFacts,
}

/// The certificates OpenSSH would offer: each `CertificateFile`, then `KEY-cert.pub` for each
/// identity that has one. An explicit file that cannot be read or parsed is an error; an
/// implicit `KEY-cert.pub` that does not exist is simply absent.
pub fn find_certificates(
    explicit: &[PathBuf],
    identities: &[PathBuf],
) -> Result<Vec<FoundCertificate>, String> {
    let mut out = Vec::new();
    let read = |path: &Path| -> Result<FoundCertificate, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("CertificateFile {}: {e}", path.display()))?;
        let (_, facts) = certificate::parse(&text)
            .map_err(|e| format!("CertificateFile {}: {e}", path.display()))?;
        Ok(FoundCertificate {
            path: path.to_path_buf(),
            facts,
        })
    };
    for p in explicit {
        out.push(read(p)?);
    }
    for key in identities {
        let implicit = PathBuf::from(certificate::certificate_path_for_key(
            &key.display().to_string(),
        ));
        if implicit.exists() && !out.iter().any(|c| c.path == implicit) {
            out.push(read(&implicit)?);
        }
    }
    Ok(out)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The SHA256 fingerprint of a private key file's public half: from the OpenSSH container
/// (readable even when encrypted), else by decoding with the passphrase; `None` if neither.
pub fn key_fingerprint(path: &Path, passphrase_env: Option<&str>) -> Option<String> {
    use russh::keys::HashAlg;
    let text = std::fs::read_to_string(path).ok()?;
    if let Ok(key) = russh::keys::PrivateKey::from_openssh(&text) {
        return Some(key.public_key().fingerprint(HashAlg::Sha256).to_string());
    }
    let passphrase = passphrase_env.and_then(|v| std::env::var(v).ok());
    russh::keys::decode_secret_key(&text, passphrase.as_deref())
        .ok()
        .map(|k| k.public_key().fingerprint(HashAlg::Sha256).to_string())
}

/// Notes for certificates that certify none of the given keys: OpenSSH would not use them.
pub fn unmatched_certificates(
    found: &[FoundCertificate],
    identities: &[PathBuf],
    passphrase_env: Option<&str>,
) -> Vec<String> {
    let fingerprints: Vec<String> = identities
        .iter()
        .filter_map(|k| key_fingerprint(k, passphrase_env))
        .collect();
    if fingerprints.is_empty() {
        return Vec::new();
    }
    found
        .iter()
        .filter(|c| !fingerprints.contains(&c.facts.key_fingerprint))
        .map(|c| {
            format!(
                "certificate {} certifies key {}, which is none of the keys given ({}); OpenSSH does not use a certificate without its key",
                c.path.display(),
                c.facts.key_fingerprint,
                fingerprints.join(", ")
            )
        })
        .collect()
}

/// Lines describing each certificate, and what in it a server would refuse for `user`.
pub fn describe_certificates(found: &[FoundCertificate], user: &str) -> Vec<String> {
    let clock = Clock {
        now: unix_now(),
        skew: CLOCK_SKEW_SECS,
    };
    let mut out = Vec::new();
    for c in found {
        out.push(format!("certificate {}:", c.path.display()));
        out.extend(c.facts.describe().into_iter().map(|l| format!("  {l}")));
        for r in certificate::refusal_reasons(&c.facts, user, clock, None) {
            out.push(format!("  a server will refuse it: {}", r.explain()));
        }
    }
    out
}

/// The numeric user id, for `%i` and OpenSSH's key-file ownership rule (read from
/// `/proc/self/status`; 0 elsewhere).
pub fn uid() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().next().map(str::to_string))
        })
        .unwrap_or_else(|| "0".into())
}
