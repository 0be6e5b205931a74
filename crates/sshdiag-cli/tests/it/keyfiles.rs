//! Key files as OpenSSH sees them, with keys made by the real `ssh-keygen` and `puttygen`:
//! each format recognised from its content (and loadable where russh can), a private key that
//! others can read refused with the seed's wording and the `chmod` fix, a PuTTY key that logs
//! in to a real sshd, and an encrypted one without its passphrase told how to convert it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sshdiag_core::keyfile::{KeyFileKind, PrivateFormat, classify};
use sshdiag_tests::sshd::{SshdFixture, TEST_USER};
use sshdiag_tests::tools::{PUTTYGEN, SSH_KEYGEN};

use crate::common::{assert_prints, sshd_and_dir};
use sshdiag_tests::procs::stdout_of;

const PASSPHRASE: &str = "correct horse";

fn run(program: &Path, args: &[&str]) {
    let what = format!("{} {args:?}", program.display());
    stdout_of(Command::new(program).args(args), &what);
}

/// `ssh-keygen -t KIND [-m FORMAT] -N PASSPHRASE -f DIR/NAME`.
fn keygen(dir: &Path, name: &str, kind: &str, format: Option<&str>, passphrase: &str) -> PathBuf {
    let path = dir.join(name);
    let mut args = vec!["-q", "-t", kind, "-N", passphrase, "-C", "test"];
    if kind == "rsa" {
        args.extend(["-b", "2048"]);
    }
    if let Some(f) = format {
        args.extend(["-m", f]);
    }
    let p = path.to_str().unwrap().to_string();
    args.extend(["-f", &p]);
    run(&SSH_KEYGEN.require().unwrap(), &args);
    path
}

/// `puttygen SOURCE -O private -o OUT [--ppk-param version=N] [--new-passphrase FILE]`.
fn to_ppk(source: &Path, out: &Path, version: u8, passphrase: Option<&str>) {
    let puttygen = PUTTYGEN.require().unwrap();
    let mut args: Vec<String> = vec![
        source.display().to_string(),
        "-O".into(),
        "private".into(),
        "-o".into(),
        out.display().to_string(),
        "--ppk-param".into(),
        format!("version={version}"),
    ];
    if let Some(p) = passphrase {
        let file = out.with_extension("pass");
        std::fs::write(&file, p).unwrap();
        args.extend(["--new-passphrase".into(), file.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&puttygen, &args);
}

/// The fixture's authorised ed25519 key as a version 3 PuTTY key `DIR/NAME` (mode 0600).
fn authorised_ppk(sshd: &SshdFixture, dir: &Path, name: &str, passphrase: Option<&str>) -> PathBuf {
    let ppk = dir.join(name);
    to_ppk(&sshd.client_keys().ed25519.path, &ppk, 3, passphrase);
    std::fs::set_permissions(&ppk, std::fs::Permissions::from_mode(0o600)).unwrap();
    ppk
}

/// `ssh-keygen -s CA -I ID -n PRINCIPALS EXTRA KEY.pub`: writes `KEY-cert.pub`.
fn sign(ca: &Path, key: &Path, id: &str, principals: &str, extra: &[&str]) {
    let public = format!("{}.pub", key.display());
    let mut args = vec!["-q", "-s", ca.to_str().unwrap(), "-I", id, "-n", principals];
    args.extend_from_slice(extra);
    args.push(&public);
    run(&SSH_KEYGEN.require().unwrap(), &args);
}

fn text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn every_format_is_recognised_by_content_and_private_keys_load() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    use PrivateFormat::{OpenSsh, PemEc, PemRsa, Pkcs8};
    // File name, key type, `ssh-keygen -m` format, the format it is, whether encrypted.
    let made = [
        ("ed", "ed25519", None, OpenSsh, false),
        ("ed_enc", "ed25519", None, OpenSsh, true),
        ("rsa_pem", "rsa", Some("PEM"), PemRsa, false),
        ("rsa_pem_enc", "rsa", Some("PEM"), PemRsa, true),
        ("ec_pem", "ecdsa", Some("PEM"), PemEc, false),
        ("rsa_p8", "rsa", Some("PKCS8"), Pkcs8, false),
        ("ec_p8_enc", "ecdsa", Some("PKCS8"), Pkcs8, true),
    ];
    let cases: Vec<(PathBuf, PrivateFormat, bool)> = made
        .into_iter()
        .map(|(name, kind, m, format, encrypted)| {
            let passphrase = if encrypted { PASSPHRASE } else { "" };
            (keygen(d, name, kind, m, passphrase), format, encrypted)
        })
        .collect();
    let mut loaded = Vec::new();
    for (path, format, encrypted) in &cases {
        let t = text(path);
        assert_eq!(
            classify(&t),
            KeyFileKind::PrivateKey {
                format: *format,
                encrypted: *encrypted
            },
            "{}",
            path.display()
        );
        // The probe loads keys with russh's decoder; record which formats it can read.
        let pass = encrypted.then_some(PASSPHRASE);
        loaded.push((
            path.file_name().unwrap().to_string_lossy().into_owned(),
            russh::keys::decode_secret_key(&t, pass).is_ok(),
        ));
        // Public halves and certificates are told apart from private keys.
        let public = text(&path.with_extension("pub"));
        assert!(
            matches!(classify(&public), KeyFileKind::PublicKey { .. }),
            "{public}"
        );
    }
    // Every format, encrypted or not, loads with russh (what the probe uses).
    assert!(loaded.iter().all(|(_, ok)| *ok), "{loaded:?}");
    // A certificate made by ssh-keygen -s.
    let ca = keygen(d, "ca", "ed25519", None, "");
    sign(&ca, &d.join("ed"), "id", "u", &[]);
    assert!(matches!(
        classify(&text(&d.join("ed-cert.pub"))),
        KeyFileKind::Certificate { algorithm } if algorithm == "ssh-ed25519-cert-v01@openssh.com"
    ));
    // PuTTY keys, both versions, plain and encrypted; russh loads each.
    let ed = d.join("ed");
    for (version, pass) in [
        (2u8, None),
        (3, None),
        (3, Some(PASSPHRASE)),
        (2, Some(PASSPHRASE)),
    ] {
        let out = d.join(format!("ed-v{version}-{}.ppk", pass.is_some()));
        to_ppk(&ed, &out, version, pass);
        let t = text(&out);
        assert_eq!(
            classify(&t),
            KeyFileKind::Putty {
                version,
                algorithm: "ssh-ed25519".into(),
                encrypted: pass.is_some()
            }
        );
        let key = russh::keys::decode_secret_key(&t, pass).expect("russh loads the .ppk");
        let original = russh::keys::decode_secret_key(&text(&ed), None).unwrap();
        assert_eq!(key.public_key(), original.public_key(), "{}", out.display());
    }
}

/// The browser's run module decodes OpenSSH keys (and texts in no format) itself and leaves the
/// other formats to its key-format module: for every text it decides, its answer, error text
/// included, must be what the native decoder (every format) gives, and it must leave every other
/// format alone.
#[test]
fn the_browsers_openssh_decoder_answers_as_the_every_format_decoder() {
    use sshdiag_core::keydecode::{decode_any, decode_openssh};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ed = text(&keygen(d, "ed", "ed25519", None, ""));
    let ed_enc = text(&keygen(d, "ed_enc", "ed25519", None, PASSPHRASE));
    let rsa_enc = text(&keygen(d, "rsa_enc", "rsa", None, PASSPHRASE));
    let cut = |t: &str| {
        let longest = t.lines().max_by_key(|l| l.len()).unwrap();
        t.replacen(longest, &longest[..longest.len() / 2], 1)
    };
    let flip = |t: &str| {
        let longest = t.lines().nth(3).unwrap();
        let changed: String = longest.chars().rev().collect();
        t.replacen(longest, &changed, 1)
    };
    let openssh_texts = [
        ed.clone(),
        ed_enc.clone(),
        rsa_enc.clone(),
        ed.replace('\n', "\r\n"),
        format!("some words before\n{ed_enc}"),
        cut(&ed),
        cut(&ed_enc),
        flip(&ed),
        flip(&rsa_enc),
        ed.lines().take(3).collect::<Vec<_>>().join("\n"),
        text(&d.join("ed.pub")),
        String::new(),
        "-----BEGIN DSA PRIVATE KEY-----\nAAAA\n-----END DSA PRIVATE KEY-----\n".into(),
        "not a key at all".into(),
    ];
    for t in &openssh_texts {
        for pass in [None, Some(PASSPHRASE), Some("wrong")] {
            let browser = decode_openssh(t, pass)
                .unwrap_or_else(|| panic!("the run module sends this elsewhere: {t:?}"));
            let native = decode_any(t, pass);
            assert_eq!(
                browser.map(|k| k.public_key().clone()),
                native.map(|k| k.public_key().clone()),
                "{t:?} with {pass:?}"
            );
        }
    }
    // Every other format goes to the key-format module.
    let ppk = d.join("ed.ppk");
    to_ppk(&d.join("ed"), &ppk, 3, None);
    let others = [
        text(&keygen(d, "rsa_pem", "rsa", Some("PEM"), "")),
        text(&keygen(d, "rsa_pem_enc", "rsa", Some("PEM"), PASSPHRASE)),
        text(&keygen(d, "ec_pem", "ecdsa", Some("PEM"), "")),
        text(&keygen(d, "ec_p8", "ecdsa", Some("PKCS8"), "")),
        text(&keygen(d, "ec_p8_enc", "ecdsa", Some("PKCS8"), PASSPHRASE)),
        text(&ppk),
        // A PEM cipher line inside an OpenSSH block changes how russh reads it.
        ed.replacen(
            "\n",
            "\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n",
            1,
        ),
    ];
    for t in &others {
        assert!(decode_openssh(t, None).is_none(), "{t:?}");
    }
}

fn sshdiag(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sshdiag"))
        .args(args)
        .env("HOME", std::env::temp_dir())
        .env("SSHDIAG_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap()
}

#[test]
fn a_key_others_can_read_is_refused_before_connecting_as_openssh_does() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "id_ed25519", "ed25519", None, "");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let k = key.to_str().unwrap();
    let out = sshdiag(&["-F", "none", "-i", k, "u@no-such-host.invalid"]);
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("wrong permissions on key file"), "{err}");
    assert!(
        err.contains("0644") && err.contains(&format!("chmod 600 {k}")),
        "{err}"
    );
    assert!(
        !err.contains("DnsFailure") && !err.contains("no-such-host"),
        "{err}"
    );
    // 0600 is accepted (the run then fails at DNS, which proves the key check passed).
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = sshdiag(&[
        "-F",
        "none",
        "-q",
        "--events",
        "-i",
        k,
        "u@no-such-host.invalid",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("DnsFailure"));
    // A public key given as -i is named for what it is, with the file to give instead.
    let out = sshdiag(&[
        "-F",
        "none",
        "-q",
        "-i",
        &format!("{k}.pub"),
        "u@no-such-host.invalid",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "is a public key (ssh-ed25519); give the private key instead (usually {k},"
        )),
        "{err}"
    );
}

#[test]
fn a_putty_key_logs_in_to_a_real_sshd_and_a_locked_one_is_told_how_to_convert() {
    let (sshd, dir) = sshd_and_dir();
    // The fixture's authorised ed25519 key, converted by PuTTY's own tool.
    let ppk = authorised_ppk(&sshd, dir.path(), "id.ppk", None);
    let port = sshd.port().to_string();
    let dest = format!("{TEST_USER}@127.0.0.1");
    let base = [
        "-F",
        "none",
        "--strict-host-key-checking",
        "no",
        "-p",
        &port,
    ];
    let mut args = base.to_vec();
    args.extend(["-i", ppk.to_str().unwrap(), &dest, "echo", "ppk-ok"]);
    assert_prints(&sshdiag(&args), "ppk-ok\n");
    // Encrypted, and no passphrase given: the exact conversion command.
    let locked = authorised_ppk(&sshd, dir.path(), "locked.ppk", Some(PASSPHRASE));
    let l = locked.to_str().unwrap();
    let mut args = base.to_vec();
    args.extend(["-i", l, &dest]);
    let out = sshdiag(&args);
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8_lossy(&out.stderr);
    let stem = l.strip_suffix(".ppk").unwrap();
    assert!(
        err.contains(&format!("puttygen {l} -O private-openssh -o {stem}")),
        "{err}"
    );
    // With its passphrase it loads and logs in.
    let mut args = base.to_vec();
    args.extend([
        "--passphrase-env",
        "SSHDIAG_PASSPHRASE",
        "-i",
        l,
        &dest,
        "echo",
        "locked-ok",
    ]);
    assert_prints(&sshdiag(&args), "locked-ok\n");
}

#[test]
fn certificates_are_found_as_openssh_finds_them_and_described_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = keygen(d, "id_ed25519", "ed25519", None, "");
    let ca = keygen(d, "ca", "ed25519", None, "");
    // KEY-cert.pub next to -i KEY: expired, for another principal.
    let validity = ["-V", "20200101:20200102"];
    sign(&ca, &key, "ops-key", "root,ops", &validity);
    let k = key.to_str().unwrap();
    let out = sshdiag(&["-F", "none", "-i", k, "alice@no-such-host.invalid"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("certificate {k}-cert.pub:")), "{err}");
    assert!(err.contains("key id: \"ops-key\""), "{err}");
    assert!(
        err.contains("a server will refuse it: the certificate expired at 2020-01-02"),
        "{err}"
    );
    assert!(
        err.contains("\"alice\" is not among the principals (root, ops)"),
        "{err}"
    );
    assert!(!err.contains("PRIVATE KEY"), "{err}");
    assert!(!err.contains("none of the keys given"), "{err}");
    // A certificate for another key is named as such (OpenSSH would not use it).
    let other = keygen(d, "other", "ed25519", None, "");
    sign(&ca, &other, "other", "alice", &[]);
    let o = format!("CertificateFile={}-cert.pub", other.display());
    let out = sshdiag(&[
        "-F",
        "none",
        "-q",
        "-o",
        &o,
        "-i",
        k,
        "alice@no-such-host.invalid",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("which is none of the keys given"), "{err}");
    // -o CertificateFile= names one explicitly; a missing one is one clear error.
    let missing = d.join("missing-cert.pub");
    let o = format!("CertificateFile={}", missing.display());
    let out = sshdiag(&[
        "-F",
        "none",
        "-o",
        &o,
        "-i",
        k,
        "alice@no-such-host.invalid",
    ]);
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("CertificateFile") && err.contains("missing-cert.pub"),
        "{err}"
    );
}

#[test]
fn the_permission_rule_is_openssh_own_on_every_mode() {
    use sshdiag_core::keyfile::permission_problem;
    use sshdiag_tests::openssh;
    let (sshd, dir) = sshd_and_dir();
    let key = dir.path().join("id_ed25519");
    std::fs::copy(&sshd.client_keys().ed25519.path, &key).unwrap();
    for mode in [0o600, 0o400, 0o640, 0o604, 0o660, 0o644] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = openssh::ssh_batch(&key, sshd.port())
            .unwrap()
            .arg(format!("{TEST_USER}@127.0.0.1"))
            .arg("echo perm-ok")
            .output()
            .unwrap();
        let openssh_refuses =
            String::from_utf8_lossy(&out.stderr).contains("UNPROTECTED PRIVATE KEY FILE");
        let openssh_logs_in = String::from_utf8_lossy(&out.stdout).trim() == "perm-ok";
        assert_ne!(openssh_refuses, openssh_logs_in, "{mode:o}");
        let ours = permission_problem(key.to_str().unwrap(), mode, true);
        assert_eq!(ours.is_some(), openssh_refuses, "mode {mode:o}: {ours:?}");
    }
}
