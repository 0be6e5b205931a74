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
    let out = Command::new(SSH_KEYGEN.require().unwrap())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
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
    let pubfile = dir.join(format!("{name}.pub"));
    std::fs::write(&pubfile, public_key).unwrap();
    let serial = serial.to_string();
    let mut args = vec!["-q", "-s", ca.to_str().unwrap(), "-I", name, "-z", &serial];
    args.extend(extra);
    args.push(pubfile.to_str().unwrap());
    keygen(&args);
    dir.join(format!("{name}-cert.pub"))
}

/// A user-certificate scene: a temp dir holding a trusted CA and an untrusted one, and a real
/// sshd whose `TrustedUserCAKeys` lists only the trusted CA.
#[cfg(feature = "harness")]
pub struct UserCaScene {
    /// Where the CA keys (and the certificates a test signs) live.
    pub dir: tempfile::TempDir,
    /// The CA the server trusts, and its SHA256 fingerprint.
    pub ca: (PathBuf, String),
    /// A CA the server does not trust, and its SHA256 fingerprint.
    pub other_ca: (PathBuf, String),
    /// The server.
    pub sshd: crate::SshdFixture,
}

/// Make a [`UserCaScene`]: CAs `ca` and `other-ca` in a new temp dir, and an sshd trusting `ca`.
#[cfg(feature = "harness")]
pub fn user_ca_scene() -> UserCaScene {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca(dir.path(), "ca");
    let other_ca = new_ca(dir.path(), "other-ca");
    let sshd = crate::SshdFixture::start(crate::SshdOptions::with_config([format!(
        "TrustedUserCAKeys {}.pub",
        ca.0.display()
    )]))
    .unwrap();
    UserCaScene {
        dir,
        ca,
        other_ca,
        sshd,
    }
}
