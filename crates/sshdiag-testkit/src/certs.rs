//! OpenSSH certificates for tests, made with the real `ssh-keygen`: a CA key and its
//! fingerprint, and a public key signed by it. This module exists so every test that needs a
//! certificate makes it the same way, once.
//!
//! It must never make a certificate any other way than through `ssh-keygen`, and never hide a
//! failed `ssh-keygen` run: a failure panics with its stderr (these helpers serve tests only).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test-only helpers: a panic is the failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tools::SSH_KEYGEN;

/// Run `ssh-keygen ARGS`, assert it succeeded, and return its stdout.
pub fn keygen(args: &[&str]) -> String {
    let mut command = Command::new(SSH_KEYGEN.require().unwrap());
    crate::procs::stdout_of(command.args(args), &format!("ssh-keygen {args:?}"))
}

/// A new ed25519 CA key `DIR/NAME` (no passphrase, comment NAME) and its SHA256 fingerprint.
pub fn new_ca(dir: &Path, name: &str) -> (PathBuf, String) {
    let ca = dir.join(name);
    let path = ca.to_str().unwrap();
    keygen(&["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path]);
    let fp = keygen(&["-l", "-E", "sha256", "-f", &format!("{path}.pub")]);
    (ca, fp.split_whitespace().nth(1).unwrap().to_string())
}

/// Write `public_key` to `DIR/NAME.pub`, sign it with `ca` (identity NAME, serial `serial`,
/// then `extra`), and return the certificate's path `DIR/NAME-cert.pub`.
pub fn sign(
    dir: &Path,
    ca: &Path,
    public_key: &str,
    name: &str,
    serial: u64,
    extra: &[&str],
) -> PathBuf {
    let serial = serial.to_string();
    signed(
        dir,
        ca,
        public_key,
        name,
        &["-I", name, "-z", &serial],
        extra,
    )
}

/// Write the host's `public_key` to `DIR/host-NAME.pub`, sign it as a host certificate with
/// `ca` (identity NAME, then `extra`), and return its path `DIR/host-NAME-cert.pub`.
pub fn sign_host(dir: &Path, ca: &Path, public_key: &str, name: &str, extra: &[&str]) -> PathBuf {
    signed(
        dir,
        ca,
        public_key,
        &format!("host-{name}"),
        &["-h", "-I", name],
        extra,
    )
}

/// Write `public_key` to `DIR/FILE.pub`, run `ssh-keygen -q -s CA`, then `kind` (the identity
/// and the certificate's kind), then `extra`, on it, and return `DIR/FILE-cert.pub`.
fn signed(
    dir: &Path,
    ca: &Path,
    public_key: &str,
    file: &str,
    kind: &[&str],
    extra: &[&str],
) -> PathBuf {
    let pubfile = dir.join(format!("{file}.pub"));
    std::fs::write(&pubfile, public_key).unwrap();
    let mut args = vec!["-q", "-s", ca.to_str().unwrap()];
    args.extend(kind);
    args.extend(extra);
    args.push(pubfile.to_str().unwrap());
    keygen(&args);
    dir.join(format!("{file}-cert.pub"))
}

/// Two CAs in a new temp dir: the one a scene's server trusts, and another.
#[cfg(feature = "harness")]
pub struct Cas {
    /// Where the CA keys (and the certificates a test signs) live.
    pub dir: tempfile::TempDir,
    /// The CA the server trusts, and its SHA256 fingerprint.
    pub ca: (PathBuf, String),
    /// A CA the server does not trust, and its SHA256 fingerprint.
    pub other_ca: (PathBuf, String),
}

/// CAs named `ca` and `other` in a new temp dir.
#[cfg(feature = "harness")]
pub fn two_cas(ca: &str, other: &str) -> Cas {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca(dir.path(), ca);
    let other_ca = new_ca(dir.path(), other);
    Cas { dir, ca, other_ca }
}

/// A user-certificate scene: two CAs, and a real sshd whose `TrustedUserCAKeys` lists only
/// the first.
#[cfg(feature = "harness")]
pub struct UserCaScene {
    /// The CAs, `ca` (trusted) and `other-ca`.
    pub cas: Cas,
    /// The server.
    pub sshd: crate::SshdFixture,
}

/// The user certificates the certificate tests sign for one key with a scene's CAs: each one
/// names a different reason a server refuses it (or none).
#[cfg(feature = "harness")]
pub struct UserCerts {
    /// The key they certify: one the server does not list in `authorized_keys`, so only a
    /// certificate can let it in.
    pub key: crate::ClientKey,
    /// Signed by the trusted CA for the user, valid from 5 minutes ago for an hour.
    pub valid: PathBuf,
    /// Signed by the trusted CA for the user, valid only on 2020-01-01.
    pub expired: PathBuf,
    /// Signed by the trusted CA for the user, valid from tomorrow.
    pub not_yet_valid: PathBuf,
    /// Signed by the trusted CA for `someone-else` and `admin` only.
    pub wrong_principal: PathBuf,
    /// Signed by the trusted CA for the user, usable only from 10.9.8.0/24.
    pub source_address: PathBuf,
    /// Signed for the user by the CA the server does not trust.
    pub untrusted_ca: PathBuf,
}

#[cfg(feature = "harness")]
impl UserCaScene {
    /// Sign the server's unlisted key for `user` (serial `serial`) as each of [`UserCerts`], in
    /// the scene's dir.
    pub fn sign_user_certs(&self, user: &str, serial: u64) -> UserCerts {
        let key = self.sshd.client_keys().unauthorised_ed25519.clone();
        let (d, ca, other_ca) = (self.cas.dir.path(), &self.cas.ca.0, &self.cas.other_ca.0);
        let public_key = key.public_key.as_str();
        let s =
            |ca: &Path, name: &str, extra: &[&str]| sign(d, ca, public_key, name, serial, extra);
        UserCerts {
            valid: s(ca, "valid", &["-n", user, "-V", "-5m:+1h"]),
            expired: s(ca, "expired", &["-n", user, "-V", "20200101:20200102"]),
            not_yet_valid: s(ca, "future", &["-n", user, "-V", "+1d:+2d"]),
            wrong_principal: s(ca, "principal", &["-n", "someone-else,admin"]),
            source_address: s(
                ca,
                "source",
                &["-n", user, "-O", "source-address=10.9.8.0/24"],
            ),
            untrusted_ca: s(other_ca, "untrusted", &["-n", user]),
            key,
        }
    }
}

/// A host-certificate scene: two CAs, and a real sshd whose ed25519 host key the tests
/// certify.
#[cfg(feature = "harness")]
pub struct HostCaScene {
    /// The CAs, `host-ca` and `other-host-ca`; the host certificates are written beside them.
    pub cas: Cas,
    /// The server.
    pub sshd: crate::SshdFixture,
    /// The server's ed25519 host key.
    pub host_key: crate::HostKey,
    /// The server's configuration as it started, without a `HostCertificate` line.
    pub config: String,
}

/// Make a [`HostCaScene`]: CAs `host-ca` and `other-host-ca` in a new temp dir, and an sshd.
#[cfg(feature = "harness")]
pub fn host_ca_scene() -> HostCaScene {
    let cas = two_cas("host-ca", "other-host-ca");
    let sshd = crate::SshdFixture::start(crate::SshdOptions::default()).unwrap();
    let host_key = sshd.host_key("ed25519").unwrap().clone();
    let config = std::fs::read_to_string(sshd.config_path()).unwrap();
    HostCaScene {
        cas,
        sshd,
        host_key,
        config,
    }
}

#[cfg(feature = "harness")]
impl HostCaScene {
    /// Write `text` as the scene's `known_hosts` file (in the CAs' dir) and return its path.
    pub fn known_hosts(&self, text: &str) -> PathBuf {
        let path = self.cas.dir.path().join("known_hosts");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Sign the host key with `ca` as `host-NAME` (then `extra`), and restart the server
    /// presenting that certificate; returns its path.
    pub fn serve_host_certificate(&mut self, ca: &Path, name: &str, extra: &[&str]) -> PathBuf {
        let public_key = &self.host_key.public_key;
        let cert = sign_host(self.cas.dir.path(), ca, public_key, name, extra);
        let config = format!("{}HostCertificate {}\n", self.config, cert.display());
        std::fs::write(self.sshd.config_path(), config).unwrap();
        self.sshd.restart().unwrap();
        cert
    }
}

/// Make a [`UserCaScene`]: CAs `ca` and `other-ca` in a new temp dir, and an sshd trusting `ca`.
#[cfg(feature = "harness")]
pub fn user_ca_scene() -> UserCaScene {
    let cas = two_cas("ca", "other-ca");
    let sshd = crate::SshdFixture::start(crate::SshdOptions::with_config([format!(
        "TrustedUserCAKeys {}.pub",
        cas.ca.0.display()
    )]))
    .unwrap();
    UserCaScene { cas, sshd }
}
