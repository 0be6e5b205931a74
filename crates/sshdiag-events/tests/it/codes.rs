//! The code catalog: every wire name listed verbatim (so a rename fails here), the rules codes
//! follow, and the generated `docs/codes.md` being up to date.

use std::collections::HashSet;
use std::path::PathBuf;

use sshdiag_events::codes::{Code, ErrorType, Layer, codes_markdown};

/// Every code's wire name, in catalog order. Released codes must never change: if this test
/// fails because a name changed, put the old name back and add a new code instead.
const EVERY_CODE: &[&str] = &[
    "connect-initiating",
    "connect-established",
    "proxy-ws-open",
    "proxy-resolved",
    "proxy-tcp-connected",
    "proxy-tcp-attempt-failed",
    "proxy-closed",
    "version-received",
    "kex-proposals",
    "kex-negotiated",
    "hostkey-trusted",
    "hostkey-new",
    "hostkey-accepted-new",
    "hostkey-unchecked",
    "auth-certificate",
    "auth-attempt",
    "auth-success",
    "auth-rejected",
    "auth-partial",
    "auth-methods-listed",
    "channel-opened",
    "exec-finished",
    "forward-establishing",
    "forward-established",
    "forward-closed",
    "keepalive-ok",
    "keepalive-missed",
    "state-change",
    "disconnect-normal",
    "disconnect-unexpected",
    "verdict-ok",
    "verdict-failed",
    "audit-finding",
    "connect-authenticated",
    "session-check-ok",
    "sftp-check-ok",
    "hostkey-inventory",
    "sftp-unavailable",
    "proxy-unreachable",
    "proxy-denied",
    "proxy-denied-private-address",
    "proxy-denied-token-invalid",
    "proxy-denied-token-expired",
    "proxy-limit",
    "dns-failure",
    "connection-refused",
    "connection-timeout",
    "host-unreachable",
    "not-ssh",
    "banner-timeout",
    "no-mutual-kex",
    "kex-failed",
    "host-key-mismatch",
    "host-key-revoked",
    "host-certificate-refused",
    "host-key-type-changed",
    "host-key-unknown",
    "key-load-error",
    "auth-failed",
    "agent-error",
    "channel-open-failed",
    "exec-failed",
    "forward-failed",
    "disconnected",
    "keepalive-timeout",
    "timeout",
    "internal",
    "invalid-input",
    "reset-before-banner",
    "closed-before-banner",
    "refused-before-banner",
    "banner-tarpit",
    "protocol-version-unsupported",
    "auth-incomplete",
    "auth-disconnected",
    "cancelled",
    "password-expired",
    "shell-disabled",
    "shell-exits-at-once",
    "forced-command",
    "shell-startup-output",
    "session-no-answer",
    "terminal-refused",
    "session-limit",
    "forward-prohibited",
    "forward-refused",
    "forward-unreachable",
    "relay-started",
    "relay-ws-accepted",
    "relay-origin-refused",
    "relay-connect-request",
    "relay-resolved",
    "relay-tcp-connected",
    "relay-denied",
    "relay-dns-failed",
    "relay-tcp-failed",
    "relay-limit",
    "relay-bad-frame",
    "relay-handshake-timeout",
    "relay-closed",
    "relay-shutdown",
    "demo-server-started",
];

/// Every error type's wire name with its layer and default code, as errors.md fixes them.
const EVERY_ERROR_TYPE: &[(&str, &str, &str)] = &[
    ("ProxyUnreachable", "relay", "proxy-unreachable"),
    ("ProxyDenied", "relay", "proxy-denied"),
    ("DnsFailure", "dns", "dns-failure"),
    ("ConnectionRefused", "tcp", "connection-refused"),
    ("ConnectionTimeout", "tcp", "connection-timeout"),
    ("HostUnreachable", "tcp", "host-unreachable"),
    ("NotSsh", "banner", "not-ssh"),
    ("BannerTimeout", "banner", "banner-timeout"),
    ("NoMutualKex", "kex", "no-mutual-kex"),
    ("KexFailed", "kex", "kex-failed"),
    ("HostKeyMismatch", "hostkey", "host-key-mismatch"),
    ("HostKeyUnknown", "hostkey", "host-key-unknown"),
    ("KeyLoadError", "client", "key-load-error"),
    ("AuthFailed", "auth", "auth-failed"),
    ("AgentError", "client", "agent-error"),
    ("ChannelOpenFailed", "channel", "channel-open-failed"),
    ("ExecFailed", "exec", "exec-failed"),
    ("ForwardFailed", "forward", "forward-failed"),
    ("Disconnected", "transport", "disconnected"),
    ("KeepaliveTimeout", "transport", "keepalive-timeout"),
    ("Timeout", "any", "timeout"),
    ("Internal", "any", "internal"),
    ("InvalidInput", "client", "invalid-input"),
    ("Cancelled", "client", "cancelled"),
];

#[test]
fn every_code_is_listed_verbatim_in_catalog_order() {
    let actual: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        actual, EVERY_CODE,
        "the code catalog changed; released codes must never be renamed or removed"
    );
    for name in EVERY_CODE {
        let code = Code::from_wire(name).unwrap_or_else(|| panic!("{name} is not a code"));
        assert_eq!(code.as_str(), *name);
    }
}

#[test]
fn codes_are_unique_kebab_case_and_documented() {
    let mut seen = HashSet::new();
    for code in Code::ALL {
        let name = code.as_str();
        assert!(seen.insert(name), "duplicate code {name}");
        let kebab = !name.is_empty()
            && !name.starts_with('-')
            && !name.ends_with('-')
            && !name.contains("--")
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        assert!(kebab, "{name} is not kebab-case");
        let doc = code.doc();
        assert!(!doc.trim().is_empty(), "{name} has no doc");
        assert!(
            !doc.ends_with('.'),
            "{name}'s doc must not end with a period (the catalog adds it)"
        );
        // The doc continues a sentence, so it starts in lower case unless with an acronym.
        let first_word = doc.split(' ').next().unwrap_or_default();
        let acronym = first_word.len() > 1 && first_word.chars().all(|c| c.is_ascii_uppercase());
        assert!(
            acronym || doc.chars().next().is_some_and(|c| !c.is_uppercase()),
            "{name}'s doc must continue the sentence \"`{name}` indicates that …\""
        );
    }
    let grouped: usize = Code::GROUPS.iter().map(|(_, _, codes)| codes.len()).sum();
    assert_eq!(
        grouped,
        Code::ALL.len(),
        "every code belongs to exactly one group"
    );
}

#[test]
fn every_error_type_maps_to_a_documented_code_and_its_layer() {
    assert_eq!(ErrorType::ALL.len(), EVERY_ERROR_TYPE.len());
    for (error_type, (name, layer, code)) in ErrorType::ALL.iter().zip(EVERY_ERROR_TYPE) {
        assert_eq!(error_type.as_str(), *name);
        assert_eq!(ErrorType::from_wire(name), Some(*error_type));
        assert_eq!(error_type.layer().as_str(), *layer, "layer of {name}");
        assert_eq!(error_type.code().as_str(), *code, "code of {name}");
        assert!(!error_type.code().doc().is_empty());
        assert!(Code::ALL.contains(&error_type.code()));
        // The wire form is the PascalCase name.
        let json = serde_json::to_string(error_type).unwrap_or_default();
        assert_eq!(json, format!("\"{name}\""));
    }
    let layer: Layer = serde_json::from_str("\"hostkey\"").unwrap_or(Layer::Any);
    assert_eq!(layer, Layer::Hostkey);
}

#[test]
fn codes_round_trip_through_serde() {
    for code in Code::ALL {
        let json = serde_json::to_string(code).unwrap_or_default();
        assert_eq!(json, format!("\"{}\"", code.as_str()));
        let back: Code = serde_json::from_str(&json).unwrap_or(Code::Internal);
        assert_eq!(back, *code);
    }
    assert!(serde_json::from_str::<Code>("\"no-such-code\"").is_err());
}

fn codes_md_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/codes.md")
}

#[test]
fn docs_codes_md_is_up_to_date() {
    let expected = codes_markdown();
    let path = codes_md_path();
    if std::env::var("SSHDIAG_UPDATE_CODES").as_deref() == Ok("1") {
        std::fs::write(&path, &expected).unwrap_or_else(|e| panic!("writing {path:?}: {e}"));
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/codes.md is out of date with the code catalog in crates/sshdiag-events/src/codes.rs; \
         run `cargo xtask codegen` (or SSHDIAG_UPDATE_CODES=1 cargo test -p sshdiag-events --test codes) \
         and commit the result"
    );
}

#[test]
fn codes_markdown_has_one_sentence_per_code_and_every_error_type() {
    let md = codes_markdown();
    assert!(md.starts_with("# Message codes\n"));
    assert!(md.contains(
        "- `auth-rejected` indicates that the server rejected one authentication attempt.\n"
    ));
    for code in Code::ALL {
        let line = format!("- `{}` indicates that {}.\n", code.as_str(), code.doc());
        assert_eq!(md.matches(&line).count(), 1, "{line}");
    }
    for (group, _, _) in Code::GROUPS {
        assert!(md.contains(&format!("\n## {group}\n")));
    }
    for error_type in ErrorType::ALL {
        assert!(md.contains(&format!(
            "| `{}` | `{}` | `{}` |",
            error_type.as_str(),
            error_type.layer().as_str(),
            error_type.code().as_str()
        )));
    }
}

/// Every failure has a plain headline: a sentence of words, not its type name, the same for a
/// code and for its type when the code is the type's own, and finer where the code is.
#[test]
fn every_failure_has_a_plain_headline() {
    use sshdiag_events::headline::{headline, type_headline};
    for t in ErrorType::ALL {
        let h = headline(false, Some(*t), t.code().as_str());
        assert_eq!(h, type_headline(*t));
        assert!(!h.contains(t.as_str()), "{t}: {h}");
        assert!(h.contains(' ') && !h.ends_with('.'), "{t}: {h}");
    }
    assert_eq!(
        headline(false, Some(ErrorType::AuthFailed), "auth-failed"),
        "The server rejected the login"
    );
    assert_eq!(
        headline(
            false,
            Some(ErrorType::NotSsh),
            "protocol-version-unsupported"
        ),
        "The server speaks only the obsolete SSH-1"
    );
    // A code this version does not know still gets its type's sentence.
    assert_eq!(
        headline(false, Some(ErrorType::AuthFailed), "auth-something-new"),
        "The server rejected the login"
    );
    assert_eq!(headline(true, None, "verdict-ok"), "It works");
    assert_eq!(headline(false, None, ""), "The diagnosis did not finish");
}
