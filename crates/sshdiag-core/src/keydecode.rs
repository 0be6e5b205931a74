//! A private key's text turned into the key russh signs with, and the reasons it cannot be,
//! told apart the way the verdict's hints need them (a wrong passphrase, a missing one, a
//! damaged file, an unsupported type).
//!
//! Two decoders with one behaviour. [`decode_any`] reads every format russh reads (OpenSSH,
//! PKCS#8 plain and encrypted, legacy PEM plain and encrypted, PuTTY `.ppk`): the native front
//! end's `Env` (`runtime.rs`) calls it in-process, and the browser's key-format module
//! (`sshdiag-keys`) calls it for the formats the run's module leaves out. [`decode_openssh`]
//! reads OpenSSH's own format only, and says when a text is in another one, so the browser's
//! run module links none of the code of the other formats (PKCS#8, DER, PKCS#5, PPK, Argon2,
//! MD5…) and fetches it only when such a key is given. For any text that [`decode_openssh`]
//! decides, both give the same result, error text included.
//!
//! Never puts key material or a passphrase in a [`KeyProblem`]: only the library's error text,
//! which names a kind of fault, never a byte of the key.

use base64ct::{Base64, Encoding as _};
use russh::keys::Error as KeyError;
/// The decoded key, as russh signs with it (re-exported so front ends need not name russh).
pub use russh::keys::PrivateKey;

/// Why a key's text did not give a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProblem {
    pub kind: KeyProblemKind,
    /// The library's description of the fault (`Display` of its error), for a damaged file.
    pub detail: String,
    /// Whether the key is encrypted at all: with a passphrase given, this tells a wrong
    /// passphrase apart from a damaged file.
    pub encrypted: bool,
}

/// The faults the hints tell apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblemKind {
    /// The key is encrypted and no passphrase was given (or decrypting said so).
    Encrypted,
    /// The key's contents are inconsistent (what a wrong passphrase often gives).
    Corrupt,
    /// A key of a type russh does not support.
    Unsupported { key_type: String },
    /// Not a key sshdiag can read.
    Unreadable,
    /// The browser could not load the code that reads this key's format; `detail` says why.
    DecoderUnavailable,
}

impl KeyProblemKind {
    /// Its name where it crosses from the browser's key-format module to the run's (the key
    /// type of `Unsupported` travels beside it).
    pub fn name(&self) -> &'static str {
        match self {
            KeyProblemKind::Encrypted => "encrypted",
            KeyProblemKind::Corrupt => "corrupt",
            KeyProblemKind::Unsupported { .. } => "unsupported",
            KeyProblemKind::Unreadable => "unreadable",
            KeyProblemKind::DecoderUnavailable => "decoder-unavailable",
        }
    }

    /// The kind of a [`name`](Self::name) (`key_type` for `unsupported`); an unknown name is
    /// `Unreadable`.
    pub fn from_name(name: &str, key_type: String) -> KeyProblemKind {
        match name {
            "encrypted" => KeyProblemKind::Encrypted,
            "corrupt" => KeyProblemKind::Corrupt,
            "unsupported" => KeyProblemKind::Unsupported { key_type },
            "decoder-unavailable" => KeyProblemKind::DecoderUnavailable,
            _ => KeyProblemKind::Unreadable,
        }
    }
}

impl KeyProblem {
    /// The problem of a russh error, for a key that is `encrypted` or not.
    pub fn of(e: &KeyError, encrypted: bool) -> KeyProblem {
        let kind = match e {
            KeyError::KeyIsEncrypted => KeyProblemKind::Encrypted,
            KeyError::KeyIsCorrupt => KeyProblemKind::Corrupt,
            KeyError::UnsupportedKeyType {
                key_type_string, ..
            } => KeyProblemKind::Unsupported {
                key_type: key_type_string.clone(),
            },
            _ => KeyProblemKind::Unreadable,
        };
        KeyProblem {
            kind,
            detail: e.to_string(),
            encrypted,
        }
    }
}

/// Decode a key in any format russh reads; a failure says whether the key is encrypted.
pub fn decode_any(text: &str, passphrase: Option<&str>) -> Result<PrivateKey, KeyProblem> {
    with_problem(|p| russh::keys::decode_secret_key(text, p), passphrase)
}

/// `decode` with `passphrase`, a failure made a [`KeyProblem`]: whether the key is encrypted
/// at all (`decode` without a passphrase says so) tells a wrong passphrase from a damaged file.
fn with_problem(
    decode: impl Fn(Option<&str>) -> Result<PrivateKey, KeyError>,
    passphrase: Option<&str>,
) -> Result<PrivateKey, KeyProblem> {
    decode(passphrase).map_err(|e| {
        let encrypted = matches!(decode(None), Err(KeyError::KeyIsEncrypted));
        KeyProblem::of(&e, encrypted)
    })
}

/// The first line of OpenSSH's own private key format.
const OPENSSH_BEGIN: &str = "-----BEGIN OPENSSH PRIVATE KEY-----";

/// The lines by which russh recognises its other formats: any of them, a legacy PEM key's
/// cipher line, or a PuTTY key's first line sends a text to [`decode_any`].
const OTHER_FORMATS: [&str; 5] = [
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----BEGIN ENCRYPTED PRIVATE KEY-----",
    "-----BEGIN PRIVATE KEY-----",
    "-----BEGIN EC PRIVATE KEY-----",
    "DEK-Info: ",
];

/// Decode a key in OpenSSH's own format (plain or encrypted with bcrypt), or a text that is in
/// no format russh knows; `None` for a text in one of russh's other formats, which only
/// [`decode_any`] reads. Reads the text as `russh::keys::decode_secret_key` does (the Base64
/// lines after the first line, up to the `-----END` line), so its answers are the same.
pub fn decode_openssh(
    text: &str,
    passphrase: Option<&str>,
) -> Option<Result<PrivateKey, KeyProblem>> {
    if in_other_format(text) {
        return None;
    }
    Some(with_problem(|p| openssh_only(text, p), passphrase))
}

/// Whether `text` is a key in one of the formats [`decode_openssh`] leaves to [`decode_any`]
/// (PuTTY, PKCS#8, legacy PEM): a look at its lines, nothing decoded or decrypted.
pub fn in_other_format(text: &str) -> bool {
    text.trim().starts_with("PuTTY-User-Key-File-")
        || text
            .lines()
            .any(|l| OTHER_FORMATS.iter().any(|other| l.starts_with(other)))
}

/// `russh::keys::decode_secret_key` for a text it reads as OpenSSH's format or as nothing at
/// all (never one [`in_other_format`]).
fn openssh_only(text: &str, passphrase: Option<&str>) -> Result<PrivateKey, KeyError> {
    let mut started = false;
    let mut body = String::new();
    for line in text.lines() {
        if started {
            if line.starts_with("-----END ") {
                break;
            }
            if line.chars().all(is_base64_char) {
                body.push_str(line);
            }
        }
        if line == OPENSSH_BEGIN {
            started = true;
        }
    }
    match Base64::decode_vec(&body) {
        Err(e) => Err(KeyError::from(e)),
        Ok(bytes) if started => russh::keys::decode_openssh(&bytes, passphrase),
        Ok(_) => Err(KeyError::CouldNotReadKey),
    }
}

/// The characters russh keeps from a key's Base64 lines.
fn is_base64_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '/' || c == '+' || c == '='
}
