//! Files a user hands to sshdiag: event logs, bundles, key and certificate files,
//! `known_hosts`, `ssh_config`.

use std::path::PathBuf;

use sshdiag_cli::ssh_config::{ConfigFiles, Query, resolve};
use sshdiag_core::hostkey::KnownHosts;
use sshdiag_core::{certificate, keydecode, keyfile};
use sshdiag_events::jsonl::{ReadOptions, parse_line, read_jsonl_with};
use sshdiag_events::redact::Redactor;
use sshdiag_events::{Bundle, IntegrityStatus, SessionView, to_line};

/// An event log in both dialects: every event that loads must be written as a line that loads
/// again and is written the same (the writer is a fixed point after one pass), and the page's
/// derivation must take whatever loaded.
pub fn jsonl(data: &[u8]) {
    let text = crate::text(data);
    for options in [ReadOptions::strict(), ReadOptions::nbs_ssh()] {
        let read = read_jsonl_with(&text, options);
        for event in &read.events {
            let line = to_line(event);
            let again = parse_line(&line, ReadOptions::strict(), 0);
            assert!(again.is_ok(), "a written line does not load: {again:?}");
            if let Ok(again) = again {
                assert_eq!(to_line(&again), line, "the JSONL writer is not stable");
            }
        }
        let _ = SessionView::from_events(&read.events);
    }
}

/// A bundle: what loads must derive, and what sshdiag writes of it — raw or redacted — must
/// load again with an intact integrity digest.
pub fn bundle(data: &[u8]) {
    let Ok(bundle) = Bundle::from_json_bytes(data) else {
        return;
    };
    let _ = SessionView::from_bundle(&bundle);
    let _ = bundle.verify_integrity();
    for redact in [false, true] {
        let written = bundle.to_json(redact);
        let again = Bundle::from_json(&written);
        assert!(
            again.is_ok(),
            "a bundle sshdiag wrote does not load: {again:?}"
        );
        if let Ok(again) = again {
            assert_eq!(again.verify_integrity(), IntegrityStatus::Valid);
            assert!(
                !redact || again.redaction.applied,
                "a redacted bundle says it is not"
            );
        }
    }
    let _ = bundle.redacted_with(&mut Redactor::with_key([7; 32]));
}

/// A file given as a key or certificate: recognised by content, described, and (when it is a
/// certificate) its facts read, all without panicking; a text the browser's run module decodes
/// itself (OpenSSH's format, or none) decodes as the every-format decoder decodes it.
pub fn key_file(data: &[u8]) {
    let text = crate::text(data);
    if let Some(browser) = keydecode::decode_openssh(&text, None) {
        let native = keydecode::decode_any(&text, None);
        assert_eq!(
            browser.map(|k| k.public_key().clone()),
            native.map(|k| k.public_key().clone()),
            "the browser's OpenSSH decoder and the every-format decoder disagree"
        );
    }
    let kind = keyfile::classify(&text);
    let _ = kind.describe();
    let _ = kind.identity_problem("/home/u/.ssh/id_test.pub");
    if let Ok((_, facts)) = certificate::parse(&text) {
        let _ = facts.describe();
        let _ = facts.info();
    }
}

/// `known_hosts`: every key found for a host is found again from the line sshdiag would
/// append for it.
pub fn known_hosts(data: &[u8]) {
    let text = crate::text(data);
    let known = KnownHosts::parse(&text);
    for host in candidate_hosts(&text) {
        for port in [22, 2222] {
            let _ = known.revoked(&host, port);
            let _ = known.cert_authorities(&host, port);
            for key in known.lookup(&host, port) {
                let Some(line) = KnownHosts::line_for(&host, port, &key) else {
                    continue;
                };
                let again = KnownHosts::parse(&line).lookup(&host, port);
                assert!(
                    again
                        .iter()
                        .any(|k| k.fingerprint_sha256 == key.fingerprint_sha256),
                    "a remembered key is not found again from its own line"
                );
            }
        }
    }
}

/// Host names to look up: the plain patterns of the file's lines, and one fixed name.
fn candidate_hosts(text: &str) -> Vec<String> {
    let mut hosts = vec!["example.com".to_string()];
    for line in text.lines().take(32) {
        let field = line
            .split_whitespace()
            .find(|w| !w.starts_with('@'))
            .unwrap_or("");
        for pattern in field.split(',').take(4) {
            let plain = pattern.trim_start_matches('[');
            let plain = plain.split(']').next().unwrap_or(plain);
            if !plain.is_empty() && !plain.contains(['*', '?', '!', '|']) {
                hosts.push(plain.to_string());
            }
        }
    }
    hosts.truncate(16);
    hosts
}

/// `ssh_config` as `-F FILE` would read it, for a host named on its first `Host` line, and
/// the `-G` listing of whatever resolved.
pub fn ssh_config(data: &[u8]) {
    let Some(dir) = scratch_dir() else {
        return;
    };
    let file = dir.join("config");
    if std::fs::write(&file, data).is_err() {
        return;
    }
    let text = crate::text(data);
    let host = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Host ").map(str::trim))
        .and_then(|h| h.split_whitespace().next())
        .filter(|h| !h.is_empty() && h.len() < 256)
        .unwrap_or("example.com")
        .to_string();
    let query = Query {
        host,
        local_user: "fuzz".into(),
        home: dir.clone(),
    };
    let Ok(resolved) = resolve(
        query,
        &[],
        &ConfigFiles::File(file),
        &dir.join("ssh_config"),
    ) else {
        return;
    };
    let _ = resolved.ssh_g_lines();
    let _ = resolved.hostname();
    let _ = resolved.port();
}

/// A folder of this process's own for the config file under test, made once.
fn scratch_dir() -> Option<PathBuf> {
    static DIR: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sshdiag-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(".ssh")).ok()?;
        Some(dir)
    })
    .clone()
}
