//! Key files as OpenSSH sees them: what a file is, told from its content and not its name
//! (a private key in OpenSSH, PEM PKCS#1/SEC1/DSA or PKCS#8 form, encrypted or not; a public
//! key; a certificate; a PuTTY `.ppk`; something else), and the permission rule OpenSSH applies
//! before it reads a private key.
//!
//! Pure functions over text and numbers: it never reads a file (the caller does, so this runs
//! in the browser too) and never puts key material in a message — only kinds, algorithms and
//! fingerprints of public parts.

use base64ct::{Base64, Encoding as _};

/// How a private key is wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivateFormat {
    /// `-----BEGIN OPENSSH PRIVATE KEY-----` (`ssh-keygen`'s default).
    OpenSsh,
    /// PEM `RSA PRIVATE KEY` (PKCS#1).
    PemRsa,
    /// PEM `EC PRIVATE KEY` (SEC1).
    PemEc,
    /// PEM `DSA PRIVATE KEY`.
    PemDsa,
    /// `PRIVATE KEY` / `ENCRYPTED PRIVATE KEY` (PKCS#8).
    Pkcs8,
}

impl PrivateFormat {
    pub fn name(self) -> &'static str {
        match self {
            PrivateFormat::OpenSsh => "OpenSSH",
            PrivateFormat::PemRsa => "PEM (PKCS#1 RSA)",
            PrivateFormat::PemEc => "PEM (SEC1 EC)",
            PrivateFormat::PemDsa => "PEM (DSA)",
            PrivateFormat::Pkcs8 => "PKCS#8",
        }
    }
}

/// What a key file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFileKind {
    PrivateKey {
        format: PrivateFormat,
        encrypted: bool,
    },
    /// An OpenSSH public key line (or an RFC 4716 `SSH2 PUBLIC KEY` block).
    PublicKey { algorithm: String },
    /// An OpenSSH certificate (`…-cert-v01@openssh.com`).
    Certificate { algorithm: String },
    /// A PuTTY private key.
    Putty {
        version: u8,
        algorithm: String,
        encrypted: bool,
    },
    /// Anything else, with what it looks like when that is known.
    Other { looks_like: String },
}

const OPENSSH_MAGIC: &[u8] = b"openssh-key-v1\0";

/// Whether an OpenSSH private key body names a cipher other than `none`.
fn openssh_encrypted(text: &str) -> bool {
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .map(str::trim)
        .collect();
    let Ok(raw) = Base64::decode_vec(&body) else {
        return false;
    };
    let Some(rest) = raw.strip_prefix(OPENSSH_MAGIC) else {
        return false;
    };
    let Some(len) = rest.get(..4) else {
        return false;
    };
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    rest.get(4..4 + len).is_some_and(|name| name != b"none")
}

/// Recognise a key file from its text.
pub fn classify(text: &str) -> KeyFileKind {
    let t = text.trim_start_matches('\u{feff}').trim();
    let first = t.lines().next().unwrap_or("").trim();
    let pem_encrypted = t.contains("Proc-Type: 4,ENCRYPTED");
    let private = |format, encrypted| KeyFileKind::PrivateKey { format, encrypted };
    match first {
        "-----BEGIN OPENSSH PRIVATE KEY-----" => {
            return private(PrivateFormat::OpenSsh, openssh_encrypted(t));
        }
        "-----BEGIN RSA PRIVATE KEY-----" => return private(PrivateFormat::PemRsa, pem_encrypted),
        "-----BEGIN EC PRIVATE KEY-----" => return private(PrivateFormat::PemEc, pem_encrypted),
        "-----BEGIN DSA PRIVATE KEY-----" => return private(PrivateFormat::PemDsa, pem_encrypted),
        "-----BEGIN PRIVATE KEY-----" => return private(PrivateFormat::Pkcs8, false),
        "-----BEGIN ENCRYPTED PRIVATE KEY-----" => return private(PrivateFormat::Pkcs8, true),
        "---- BEGIN SSH2 PUBLIC KEY ----" => {
            return KeyFileKind::PublicKey {
                algorithm: "RFC 4716".into(),
            };
        }
        _ => {}
    }
    if let Some(rest) = first.strip_prefix("PuTTY-User-Key-File-") {
        let (version, algorithm) = rest.split_once(':').unwrap_or((rest, ""));
        let encrypted = t
            .lines()
            .find_map(|l| l.strip_prefix("Encryption:"))
            .is_some_and(|e| e.trim() != "none");
        return KeyFileKind::Putty {
            version: version.trim().parse().unwrap_or(0),
            algorithm: algorithm.trim().to_string(),
            encrypted,
        };
    }
    if let Some(kind) = public_line(first) {
        return kind;
    }
    let looks_like = if t.is_empty() {
        "an empty file".to_string()
    } else if first.starts_with("-----BEGIN CERTIFICATE-----") {
        "an X.509 (TLS) certificate, not an SSH key".to_string()
    } else if first.starts_with("-----BEGIN PGP") {
        "a PGP key, not an SSH key".to_string()
    } else if let Some(label) = first
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
    {
        format!("a PEM block of type {label:?}, not an SSH key")
    } else if text.contains('\0') {
        "a binary file, not a text key".to_string()
    } else {
        "text that is not a key".to_string()
    };
    KeyFileKind::Other { looks_like }
}

/// A public key or certificate line: `[options] algorithm base64 [comment]` whose base64
/// decodes to a key of that algorithm.
fn public_line(line: &str) -> Option<KeyFileKind> {
    let words: Vec<&str> = line.split_whitespace().collect();
    (0..words.len().saturating_sub(1)).find_map(|i| {
        let (alg, b64) = (words[i], words[i + 1]);
        if alg.ends_with("-cert-v01@openssh.com") {
            return russh::keys::Certificate::from_openssh(&format!("{alg} {b64}"))
                .ok()
                .map(|_| KeyFileKind::Certificate {
                    algorithm: alg.to_string(),
                });
        }
        let key = russh::keys::parse_public_key_base64(b64).ok()?;
        (key.algorithm().as_str() == alg || alg.starts_with("ssh-") || alg.starts_with("ecdsa-"))
            .then(|| KeyFileKind::PublicKey {
                algorithm: key.algorithm().as_str().to_string(),
            })
    })
}

impl KeyFileKind {
    /// One phrase for a human.
    pub fn describe(&self) -> String {
        let enc = |e: bool| if e { "encrypted" } else { "not encrypted" };
        match self {
            KeyFileKind::PrivateKey { format, encrypted } => {
                format!(
                    "a private key, {} format, {}",
                    format.name(),
                    enc(*encrypted)
                )
            }
            KeyFileKind::PublicKey { algorithm } => format!("a public key ({algorithm})"),
            KeyFileKind::Certificate { algorithm } => {
                format!("an OpenSSH certificate ({algorithm})")
            }
            KeyFileKind::Putty {
                version,
                algorithm,
                encrypted,
            } => format!(
                "a PuTTY private key (.ppk version {version}, {algorithm}, {})",
                enc(*encrypted)
            ),
            KeyFileKind::Other { looks_like } => looks_like.clone(),
        }
    }

    /// Why this file cannot be used where a private key is expected (`-i`), with what to do;
    /// `None` when it can.
    pub fn identity_problem(&self, path: &str) -> Option<String> {
        let base = path.strip_suffix(".pub").unwrap_or(path);
        match self {
            KeyFileKind::PrivateKey { .. } | KeyFileKind::Putty { .. } => None,
            KeyFileKind::PublicKey { .. } => Some(format!(
                "{path} is {}; give the private key instead (usually {base}, without .pub)",
                self.describe()
            )),
            KeyFileKind::Certificate { .. } => {
                let key = path
                    .strip_suffix("-cert.pub")
                    .unwrap_or("the private key it certifies");
                Some(format!(
                    "{path} is {}; give the private key with -i ({key}) and the certificate with -o CertificateFile={path} (or keep it next to the key as KEY-cert.pub)",
                    self.describe()
                ))
            }
            KeyFileKind::Other { looks_like } => Some(format!(
                "{path} is {looks_like}; expected a private SSH key"
            )),
        }
    }
}

/// The command that converts a PuTTY key for OpenSSH, for when it cannot be loaded.
pub fn puttygen_command(path: &str) -> String {
    let out = path.strip_suffix(".ppk").unwrap_or(path);
    let out = if out == path {
        format!("{path}.openssh")
    } else {
        out.to_string()
    };
    format!("puttygen {path} -O private-openssh -o {out}")
}

/// OpenSSH's rule for a private key file it owns: refused when group or others have any
/// access (`mode & 0o077 != 0`). `owned_by_user` is whether the file's owner is the running
/// user (OpenSSH checks only then).
pub fn permission_problem(path: &str, mode: u32, owned_by_user: bool) -> Option<String> {
    if !owned_by_user || mode & 0o077 == 0 {
        return None;
    }
    Some(format!(
        "{path}: wrong permissions on key file: mode {:04o} lets other users read it, so OpenSSH refuses it (\"UNPROTECTED PRIVATE KEY FILE\"); fix: chmod 600 {path}",
        mode & 0o7777
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_files_say_what_they_look_like() {
        assert!(
            matches!(classify(""), KeyFileKind::Other { looks_like } if looks_like.contains("empty"))
        );
        assert!(matches!(
            classify("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
            KeyFileKind::Other { looks_like } if looks_like.contains("X.509")
        ));
        assert!(matches!(classify("hello world"), KeyFileKind::Other { .. }));
        assert!(matches!(
            classify("PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: aes256-cbc\n"),
            KeyFileKind::Putty {
                version: 3,
                encrypted: true,
                ..
            }
        ));
    }

    #[test]
    fn permissions_as_openssh() {
        assert!(permission_problem("k", 0o600, true).is_none());
        assert!(permission_problem("k", 0o400, true).is_none());
        assert!(permission_problem("k", 0o644, false).is_none());
        let p = permission_problem("/h/k", 0o100644, true).unwrap();
        assert!(p.contains("wrong permissions on key file") && p.contains("chmod 600 /h/k"));
        assert!(p.contains("0644"), "{p}");
    }

    #[test]
    fn puttygen_command_names_the_output() {
        assert_eq!(
            puttygen_command("/k/id.ppk"),
            "puttygen /k/id.ppk -O private-openssh -o /k/id"
        );
    }
}
