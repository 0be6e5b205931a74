//! `sshdiag bundle show|verify` on bundles the real `sshdiag` wrote against a real OpenSSH sshd:
//! the rendering names the verdict, hints, timeline, server, commands and integrity; `verify`'s
//! exit status tells an edited bundle (1) from an unredacted one (2) from both (3) from a file
//! that is no bundle (255, one line).

use std::path::{Path, PathBuf};

use crate::common::{sshd_and_dir, sshdiag, sshdiag_with_password};
use sshdiag_cli::bundle_cmd::{EXIT_EDITED, EXIT_NOT_REDACTED, EXIT_UNREADABLE};
use sshdiag_tests::sshd::{SshdFixture, TEST_USER};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A run with a command that prints, writing both bundles into `dir`: (redacted, raw).
fn bundles(sshd: &SshdFixture, dir: &Path) -> (PathBuf, PathBuf) {
    let red = dir.join("bundle.json");
    let raw = dir.join("bundle-raw.json");
    let out = sshdiag_with_password(
        sshd.port(),
        &[
            "--strict-host-key-checking",
            "no",
            "--bundle",
            red.to_str().unwrap(),
            "--bundle-raw",
            raw.to_str().unwrap(),
            "-q",
            &format!("{TEST_USER}@127.0.0.1"),
            "echo",
            "hello-from-sshd",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    (red, raw)
}

/// The bundle with one string value changed, written beside it; integrity no longer matches.
fn edited(path: &Path, from: &str, to: &str) -> PathBuf {
    let original = std::fs::read_to_string(path).unwrap();
    assert!(original.contains(from), "{from} not in {}", path.display());
    let out = path.with_extension("edited.json");
    std::fs::write(&out, original.replacen(from, to, 1)).unwrap();
    out
}

#[test]
fn show_renders_every_section_and_verify_says_which_check_failed() {
    let (sshd, dir) = sshd_and_dir();
    let (red, raw) = bundles(&sshd, dir.path());

    let shown = sshdiag(&["bundle", "show", red.to_str().unwrap()]);
    assert_eq!(shown.status.code(), Some(0), "{}", text(&shown.stderr));
    let page = text(&shown.stdout);
    for needle in [
        "Verdict: OK",
        "Timeline:",
        "  kex ",
        "  auth ",
        "Server:",
        "OpenSSH_",
        "SHA256:",
        "Audit",
        "$ echo hello-from-sshd  (exit 0)",
        "stdout: output removed (16 B)",
        "Integrity: valid",
        "Redaction: applied",
        "saw us from ip-",
        "our version SSH-2.0-sshdiag_",
    ] {
        assert!(page.contains(needle), "missing {needle:?} in:\n{page}");
    }
    assert!(
        !page.contains(TEST_USER) && !page.contains("127.0.0.1"),
        "{page}"
    );

    let raw_page = text(&sshdiag(&["bundle", "show", raw.to_str().unwrap()]).stdout);
    assert!(raw_page.contains("hello-from-sshd\n"), "{raw_page}");
    assert!(raw_page.contains(TEST_USER), "{raw_page}");
    assert!(raw_page.contains("Redaction: none"), "{raw_page}");
    assert!(raw_page.contains("saw us from 127.0.0.1:"), "{raw_page}");

    let verified = sshdiag(&["bundle", "verify", red.to_str().unwrap()]);
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{}",
        text(&verified.stdout)
    );
    assert!(text(&verified.stdout).contains("integrity: ok"));

    let raw_verified = sshdiag(&["bundle", "verify", raw.to_str().unwrap()]);
    assert_eq!(
        raw_verified.status.code(),
        Some(i32::from(EXIT_NOT_REDACTED))
    );
    assert!(text(&raw_verified.stdout).contains("redaction: FAILED"));

    // An edited verdict: integrity fails, and `show` never presents it as a plain success.
    let tampered = edited(&red, "\"ok\": true", "\"ok\": false");
    let out = sshdiag(&["bundle", "verify", tampered.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(i32::from(EXIT_EDITED)));
    let forged_ok = edited(&red, "\"summary\": \"", "\"summary\": \"All good. ");
    let page = text(&sshdiag(&["bundle", "show", forged_ok.to_str().unwrap()]).stdout);
    assert!(page.contains("WARNING: this bundle was edited"), "{page}");
    assert!(
        page.contains("UNVERIFIED") && !page.contains("Verdict: OK ["),
        "{page}"
    );
    assert!(page.contains("Integrity: EDITED"), "{page}");

    // A raw bundle someone marked as redacted: the content still gives it away.
    let relabelled = edited(&raw, "\"redacted\": false", "\"redacted\": true");
    let out = sshdiag(&["bundle", "verify", relabelled.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(i32::from(EXIT_EDITED | EXIT_NOT_REDACTED)),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_file_that_is_no_bundle_is_one_line_and_255() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("garbage.json", "this is not json".to_string(), "not JSON"),
        (
            "other.json",
            r#"{"format":"something-else"}"#.to_string(),
            "format",
        ),
        (
            "events.jsonl",
            "{\"event_type\":\"CONNECT\"}\n{\"event_type\":\"VERDICT\"}\n".to_string(),
            "event log",
        ),
        (
            "newer.json",
            r#"{"format":"sshdiag-evidence-bundle","version":"2.0"}"#.to_string(),
            "newer",
        ),
    ];
    for (name, contents, needle) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        for action in ["show", "verify"] {
            let out = sshdiag(&["bundle", action, path.to_str().unwrap()]);
            let stderr = text(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(i32::from(EXIT_UNREADABLE)),
                "{name}: {stderr}"
            );
            assert_eq!(stderr.trim().lines().count(), 1, "{name}: {stderr}");
            assert!(
                stderr.contains(name) && stderr.contains(needle),
                "{name}: {stderr}"
            );
            assert!(out.stdout.is_empty(), "{name}");
        }
    }
    let missing = sshdiag(&["bundle", "show", "/nonexistent/bundle.json"]);
    assert_eq!(missing.status.code(), Some(i32::from(EXIT_UNREADABLE)));
    assert_eq!(text(&missing.stderr).trim().lines().count(), 1);
    let usage = sshdiag(&["bundle", "frobnicate", "x"]);
    assert_eq!(usage.status.code(), Some(i32::from(EXIT_UNREADABLE)));
    assert_eq!(text(&usage.stderr).trim().lines().count(), 1);
}
