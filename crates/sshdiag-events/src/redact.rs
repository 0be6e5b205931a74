//! Keeping secrets and identities out of what sshdiag writes (`shared/spec/bundle.md`,
//! "Secrets and redaction").
//!
//! Two tools live here:
//!
//! - [`scrub_secrets`] removes credentials from free text: `key=value` and `key: value` for
//!   password-, token-, secret- and API-key-like keys, `--password VALUE`-style flags,
//!   `-p<value>` (mysql), `sshpass -p VALUE`, `Bearer <token>`, `Authorization:` headers,
//!   passwords in URLs, PEM private key blocks and long base64 runs (40 characters or more with
//!   upper case, lower case and digits; `SHA256:…` fingerprints are left alone). Other crates
//!   run library error messages through it; bundles run every free-text field through it,
//!   raw bundles included.
//! - [`Redactor`] turns identities into pseudonyms for the redacted bundle: usernames become
//!   `user-<8 hex>`, host names `host-<8 hex>`, IP addresses (v4 and v6, also inside text such
//!   as `203.0.113.5:22` or `[2001:db8::1]:22`) `ip-<8 hex>`. A pseudonym is the first four
//!   bytes of HMAC-SHA256 under a random per-bundle key that is never stored, so one value gets
//!   one pseudonym inside a bundle and nothing links two bundles. Should the platform have no
//!   random source, pseudonyms are numbered in order of appearance instead, which keeps both
//!   properties.
//!
//! # What the redacted bundle replaces
//!
//! Identities are found in two ways. Fields that *are* an identity (`username`, `host`,
//! `remote_host`, the relay URL's host …) are replaced whole, and their values are remembered.
//! Then every free-text string in the document — messages, hints, summary, reasons, banner,
//! peer and resolved addresses, commands, error context, unknown event types — has each
//! remembered value replaced where it stands as a whole word, and every IP address replaced
//! wherever it appears. Transcript `stdout`/`stderr` are removed (their lengths stay).
//!
//! Kept as they are: algorithm names and proposals, fingerprints, the server's software
//! version, codes, levels, statuses, timings, and the tool's own description.
//!
//! The traversal destructures every event data struct without `..`, so adding a field to one
//! fails to compile here until someone decides how it is redacted.
//!
//! This module never stores the pseudonym key, never does I/O, and never leaves a secret it
//! recognises in its output; what it does not recognise it cannot remove, which is why the
//! core never puts secrets into events in the first place.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::bundle::{Bundle, BundleVerdict, HostInfo, ReplacedCounts, ServerInfo, TranscriptEntry};
use crate::event::{
    AuditData, AuthData, ChannelData, ConnectData, DisconnectData, ErrorData, Event, EventData,
    ExecData, ForwardData, HostkeyData, KeepaliveData, KexData, ProxyData, StateChangeData,
    VerdictData, VersionData,
};

/// What a scrubbed secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";
/// What a scrubbed PEM private key block is replaced with.
pub const REDACTED_PRIVATE_KEY: &str = "[REDACTED PRIVATE KEY]";

/// Shortest run of base64 characters treated as key or token material.
const BASE64_RUN_MIN: usize = 40;

// ---- secret scrubbing ---------------------------------------------------------------------

/// Removes the credentials it recognises from free text; see the module docs.
pub fn scrub_secrets(text: &str) -> String {
    scrub_secrets_counted(text).0
}

/// [`scrub_secrets`], also saying how many secrets it replaced.
pub fn scrub_secrets_counted(text: &str) -> (String, u64) {
    // One rule's replacement can complete another rule's pattern, so run the rules until
    // nothing changes (in practice at most twice); that makes scrubbing idempotent, which
    // writing a bundle again relies on.
    let (mut text, mut count) = scrub_once(text);
    for _ in 0..4 {
        let (again, more) = scrub_once(&text);
        if more == 0 || again == text {
            break;
        }
        text = again;
        count += more;
    }
    (text, count)
}

fn scrub_once(text: &str) -> (String, u64) {
    let mut count = 0;
    let text = scrub_pem(text, &mut count);
    let text = scrub_url_passwords(&text, &mut count);
    let text = scrub_authorization(&text, &mut count);
    let text = scrub_bearer(&text, &mut count);
    let text = scrub_key_values(&text, &mut count);
    let text = scrub_flags(&text, &mut count);
    let text = scrub_base64_runs(&text, &mut count);
    (text, count)
}

/// Byte offset of `needle` (ASCII) in `hay` at or after `from`, ignoring ASCII case.
fn find_ci(hay: &str, needle: &str, from: usize) -> Option<usize> {
    let hay = hay.as_bytes();
    let needle = needle.as_bytes();
    if needle.is_empty() || from > hay.len() || hay.len() - from < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len())
        .find(|&i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn char_before(text: &str, at: usize) -> Option<char> {
    text[..at].chars().next_back()
}

fn char_at(text: &str, at: usize) -> Option<char> {
    text[at..].chars().next()
}

/// Replaces the given byte ranges with `replacement`. Overlapping or touching ranges become
/// one replacement, so no pass can cut text apart twice.
fn splice(text: &str, ranges: &[(usize, usize)], replacement: &str) -> String {
    let mut ranges = ranges.to_vec();
    ranges.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut cursor = 0;
    let mut replaced_up_to = None;
    for (start, end) in ranges {
        let end = end.min(text.len());
        match replaced_up_to {
            Some(previous_end) if start <= previous_end => {
                // Extends the replacement just made.
                cursor = cursor.max(end);
                replaced_up_to = Some(cursor);
                continue;
            }
            _ => {}
        }
        if start >= end {
            continue;
        }
        out.push_str(&text[cursor..start]);
        out.push_str(replacement);
        cursor = end;
        replaced_up_to = Some(end);
    }
    out.push_str(&text[cursor..]);
    out
}

/// `-----BEGIN … PRIVATE KEY-----` … `-----END … PRIVATE KEY-----` (also the `---- BEGIN SSH2
/// ENCRYPTED PRIVATE KEY ----` form); without an END line, everything to the end of the text.
fn scrub_pem(text: &str, count: &mut u64) -> String {
    const LABEL: &str = "PRIVATE KEY";
    let bytes = text.as_bytes();
    let mut ranges = Vec::new();
    let mut search = 0;
    while let Some(label) = find_ci(text, LABEL, search) {
        let mut window = label.saturating_sub(64);
        while !text.is_char_boundary(window) {
            window += 1;
        }
        let begin = text[window..label]
            .to_ascii_uppercase()
            .rfind("BEGIN")
            .map(|i| window + i)
            .filter(|&b| !text[b..label].contains('\n'));
        let Some(begin) = begin else {
            search = label + LABEL.len();
            continue;
        };
        let mut start = begin;
        loop {
            let dash = start > 0 && bytes[start - 1] == b'-';
            let space_after_dash =
                start > 1 && bytes[start - 1] == b' ' && bytes[start - 2] == b'-';
            if !(dash || space_after_dash) {
                break;
            }
            start -= 1;
        }
        let mut end = text.len();
        let mut probe = label + LABEL.len();
        while let Some(e) = find_ci(text, "END", probe) {
            let line_end = text[e..].find('\n').map_or(text.len(), |i| e + i);
            let limit = (e + 80).min(line_end);
            match find_ci(&text[..limit], LABEL, e) {
                Some(closing) => {
                    end = closing + LABEL.len();
                    while end < text.len() && matches!(bytes[end], b'-' | b' ') {
                        if bytes[end] == b' ' && !(end + 1 < text.len() && bytes[end + 1] == b'-') {
                            break;
                        }
                        end += 1;
                    }
                    break;
                }
                None => probe = e + 3,
            }
        }
        ranges.push((start, end));
        *count += 1;
        search = end;
    }
    splice(text, &ranges, REDACTED_PRIVATE_KEY)
}

/// `scheme://user:PASSWORD@host` → `scheme://user:[REDACTED]@host`.
fn scrub_url_passwords(text: &str, count: &mut u64) -> String {
    let mut ranges = Vec::new();
    let mut search = 0;
    while let Some(found) = text[search..].find("://") {
        let authority_start = search + found + 3;
        let authority_end = text[authority_start..]
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>')
            })
            .map_or(text.len(), |i| authority_start + i);
        let authority = &text[authority_start..authority_end];
        if let Some(at) = authority.rfind('@')
            && let Some(colon) = authority[..at].find(':')
        {
            let password = &authority[colon + 1..at];
            if !password.is_empty() && password != REDACTED {
                ranges.push((authority_start + colon + 1, authority_start + at));
                *count += 1;
            }
        }
        search = authority_start;
    }
    splice(text, &ranges, REDACTED)
}

/// The end of the token starting at `start`: up to whitespace or a quote.
fn token_end(text: &str, start: usize) -> usize {
    text[start..]
        .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
        .map_or(text.len(), |i| start + i)
}

fn skip_blanks(text: &str, mut at: usize) -> usize {
    while let Some(c) = char_at(text, at) {
        if c == ' ' || c == '\t' {
            at += 1;
        } else {
            break;
        }
    }
    at
}

/// `Authorization: <scheme> <credentials>` (and `Proxy-Authorization`): the credentials go.
fn scrub_authorization(text: &str, count: &mut u64) -> String {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    let mut search = 0;
    while let Some(found) = find_ci(text, "authorization", search) {
        search = found + "authorization".len();
        let mut at = search;
        if matches!(char_at(text, at), Some('"' | '\'')) {
            at += 1;
        }
        at = skip_blanks(text, at);
        if !matches!(char_at(text, at), Some(':' | '=')) {
            continue;
        }
        at = skip_blanks(text, at + 1);
        let first_end = token_end(text, at);
        if first_end == at {
            continue;
        }
        let first = &text[at..first_end];
        let is_scheme =
            first.len() <= 24 && first.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        // `Bearer xyz` keeps its scheme; a lone token is the credential itself.
        let second = skip_blanks(text, first_end);
        let second_end = token_end(text, second);
        let (start, end) =
            if is_scheme && char_at(text, first_end) == Some(' ') && second_end > second {
                (second, second_end)
            } else {
                (at, first_end)
            };
        if end > start && !text[start..end].contains(REDACTED) {
            ranges.push((start, end));
            *count += 1;
            search = end;
        }
    }
    splice(text, &ranges, REDACTED)
}

/// `Bearer <token>`, anywhere.
fn scrub_bearer(text: &str, count: &mut u64) -> String {
    let mut ranges = Vec::new();
    let mut search = 0;
    while let Some(found) = find_ci(text, "bearer", search) {
        search = found + "bearer".len();
        if char_before(text, found).is_some_and(is_word_char) {
            continue;
        }
        let start = skip_blanks(text, search);
        if start == search {
            continue;
        }
        let end = text[start..]
            .find(|c: char| {
                !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '+' | '/' | '=' | '-'))
            })
            .map_or(text.len(), |i| start + i);
        // A token is long, and `=` can only pad its end (so `bearer password_file=/x`, as in
        // `token_type=bearer …`, is prose, not a token).
        let token = &text[start..end];
        let padded_only = !token.trim_end_matches('=').contains('=');
        let glued_to_marker = text[end..].starts_with("[REDACTED");
        if token.len() >= 8 && padded_only && !glued_to_marker {
            ranges.push((start, end));
            *count += 1;
            search = end;
        }
    }
    splice(text, &ranges, REDACTED)
}

/// Whether a key or flag name names a secret: `password`, `DB_PASSWORD`, `--api-key`,
/// `client_secret`, `GITHUB_TOKEN`, `MYSQL_PWD`, `pass` … Names that only talk *about* a
/// secret are not: `PasswordAuthentication`, `PermitEmptyPasswords`, `password_file`,
/// `--password-stdin`, `token_type`.
pub fn is_secret_key(key: &str) -> bool {
    const CONTAINED: [&str; 11] = [
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "apikey",
        "accesskey",
        "privatekey",
        "credential",
        "sessionkey",
        "authkey",
    ];
    const WHOLE_PART: [&str; 4] = ["pass", "pwd", "pw", "auth"];
    const ABOUT_A_SECRET: [&str; 14] = [
        "authentication",
        "passwords",
        "file",
        "path",
        "dir",
        "prompt",
        "stdin",
        "env",
        "length",
        "policy",
        "type",
        "expiry",
        "expires",
        "method",
    ];
    let lower = key.to_ascii_lowercase();
    let compact: String = lower.chars().filter(char::is_ascii_alphanumeric).collect();
    if ABOUT_A_SECRET
        .iter()
        .any(|suffix| compact.ends_with(suffix))
    {
        return false;
    }
    CONTAINED.iter().any(|word| compact.contains(word))
        || lower
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|part| WHOLE_PART.contains(&part))
}

/// `key=value`, `key: value`, `"key": "value"` for secret-like keys.
fn scrub_key_values(text: &str, count: &mut u64) -> String {
    let bytes = text.as_bytes();
    let mut ranges = Vec::new();
    let mut cursor = 0;
    let mut i = 0;
    while i < bytes.len() {
        let separator = bytes[i];
        if !(separator == b'=' || separator == b':') || i < cursor {
            i += 1;
            continue;
        }
        // The key just before the separator, maybe quoted, maybe followed by blanks.
        let mut key_end = i;
        while key_end > cursor && matches!(bytes[key_end - 1], b' ' | b'\t') {
            key_end -= 1;
        }
        if key_end > cursor && matches!(bytes[key_end - 1], b'"' | b'\'') {
            key_end -= 1;
        }
        let mut key_start = key_end;
        while key_start > cursor
            && (bytes[key_start - 1].is_ascii_alphanumeric()
                || matches!(bytes[key_start - 1], b'_' | b'-' | b'.'))
        {
            key_start -= 1;
        }
        let key = &text[key_start..key_end];
        let url = separator == b':' && text[i..].starts_with("://");
        let comparison = separator == b'=' && bytes.get(i + 1) == Some(&b'=');
        if key.is_empty() || url || comparison || !is_secret_key(key) {
            i += 1;
            continue;
        }
        let mut start = skip_blanks(text, i + 1);
        let end = match char_at(text, start) {
            Some(quote @ ('"' | '\'')) => {
                start += 1;
                text[start..].find(quote).map_or(text.len(), |j| start + j)
            }
            _ => text[start..]
                .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '&'))
                .map_or(text.len(), |j| start + j),
        };
        if end > start && &text[start..end] != REDACTED {
            ranges.push((start, end));
            *count += 1;
            cursor = end;
            i = end;
        } else {
            i += 1;
        }
    }
    splice(text, &ranges, REDACTED)
}

/// `-pSECRET` (mysql and friends), `sshpass -p SECRET`, `--password SECRET`, `--token SECRET`.
fn scrub_flags(text: &str, count: &mut u64) -> String {
    // Flags that start with `-p` but are not a password.
    const NOT_PASSWORDS: [&str; 14] = [
        "-print",
        "-print0",
        "-printf",
        "-prune",
        "-perm",
        "-path",
        "-pthread",
        "-pedantic",
        "-pipe",
        "-pg",
        "-pie",
        "-pe",
        "-pi",
        "-pid",
    ];
    let mut tokens: Vec<(usize, usize)> = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                tokens.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        tokens.push((s, text.len()));
    }
    let mut ranges = Vec::new();
    for (index, &(s, e)) in tokens.iter().enumerate() {
        let token = &text[s..e];
        let next = tokens.get(index + 1).copied();
        let redact_next = |ranges: &mut Vec<(usize, usize)>, count: &mut u64| {
            if let Some((ns, ne)) = next {
                let value = &text[ns..ne];
                if !value.starts_with('-') && value != REDACTED {
                    ranges.push((ns, ne));
                    *count += 1;
                }
            }
        };
        if let Some(value) = token.strip_prefix("-p")
            && !value.is_empty()
            && !value.starts_with('-')
            && value != REDACTED
            && !NOT_PASSWORDS.contains(&token)
        {
            ranges.push((s + 2, e));
            *count += 1;
        } else if token == "-p" {
            let previous = index.checked_sub(1).and_then(|p| tokens.get(p));
            let after_sshpass = previous.is_some_and(|&(ps, pe)| text[ps..pe].ends_with("sshpass"));
            if after_sshpass {
                redact_next(&mut ranges, count);
            }
        } else if token.starts_with('-') && !token.contains('=') {
            let name = token.trim_start_matches('-');
            if !name.is_empty() && is_secret_key(name) {
                redact_next(&mut ranges, count);
            }
        }
    }
    ranges.sort_unstable();
    ranges.dedup();
    splice(text, &ranges, REDACTED)
}

fn is_base64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
}

fn has_mixed_classes(run: &str) -> bool {
    run.bytes().any(|b| b.is_ascii_uppercase())
        && run.bytes().any(|b| b.is_ascii_lowercase())
        && run.bytes().any(|b| b.is_ascii_digit())
}

/// Long base64 runs: key blobs, tokens. Paths are spared unless a long segment of theirs looks
/// random; fingerprints after `SHA256:` (and friends) are spared.
fn scrub_base64_runs(text: &str, count: &mut u64) -> String {
    let bytes = text.as_bytes();
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !is_base64_char(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_base64_char(bytes[i]) {
            i += 1;
        }
        let run = &text[start..i];
        if run.len() < BASE64_RUN_MIN || !has_mixed_classes(run) {
            continue;
        }
        let prefix = &text[..start];
        let fingerprint = ["SHA256:", "SHA512:", "SHA384:", "SHA1:", "MD5:"]
            .iter()
            .any(|p| {
                prefix.len() >= p.len() && prefix[prefix.len() - p.len()..].eq_ignore_ascii_case(p)
            });
        if fingerprint {
            continue;
        }
        let looks_random = !run.contains('/')
            || run
                .split('/')
                .any(|segment| segment.len() >= 16 && has_mixed_classes(segment));
        if looks_random {
            ranges.push((start, i));
            *count += 1;
        }
    }
    splice(text, &ranges, REDACTED)
}

// ---- pseudonyms ---------------------------------------------------------------------------

/// What kind of identity a pseudonym stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentityKind {
    Username,
    Host,
    Address,
}

impl IdentityKind {
    /// The pseudonym's prefix: `user`, `host` or `ip`.
    pub fn prefix(self) -> &'static str {
        match self {
            IdentityKind::Username => "user",
            IdentityKind::Host => "host",
            IdentityKind::Address => "ip",
        }
    }
}

/// Makes pseudonyms under one key (one per bundle). Its `Debug` never shows the key.
pub struct Redactor {
    key: Option<[u8; 32]>,
    memo: HashMap<(IdentityKind, String), String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("keyed", &self.key.is_some())
            .field("pseudonyms", &self.memo.len())
            .finish()
    }
}

impl Default for Redactor {
    fn default() -> Redactor {
        Redactor::new()
    }
}

impl Redactor {
    /// A redactor under a fresh random key (numbered pseudonyms if there is no random source).
    pub fn new() -> Redactor {
        let mut key = [0u8; 32];
        match getrandom::fill(&mut key) {
            Ok(()) => Redactor::with_key(key),
            Err(_) => Redactor {
                key: None,
                memo: HashMap::new(),
            },
        }
    }

    /// A redactor under a given key, for reproducible output in tests.
    pub fn with_key(key: [u8; 32]) -> Redactor {
        Redactor {
            key: Some(key),
            memo: HashMap::new(),
        }
    }

    /// The pseudonym of `value`: `user-1a2b3c4d`, `host-…`, `ip-…`. Host names compare without
    /// regard to ASCII case or a trailing dot, addresses by their canonical form.
    pub fn pseudonym(&mut self, kind: IdentityKind, value: &str) -> String {
        let normal = match kind {
            IdentityKind::Username => value.to_string(),
            IdentityKind::Host => value.trim_end_matches('.').to_ascii_lowercase(),
            IdentityKind::Address => {
                parse_ip(value).map_or_else(|| value.to_string(), |ip| ip.to_string())
            }
        };
        let memo_key = (kind, normal);
        if let Some(known) = self.memo.get(&memo_key) {
            return known.clone();
        }
        let number = self.memo.len() as u32 + 1;
        let tag = match self
            .key
            .as_ref()
            .and_then(|key| Hmac::<Sha256>::new_from_slice(key).ok())
        {
            Some(mut mac) => {
                mac.update(kind.prefix().as_bytes());
                mac.update(&[0]);
                mac.update(memo_key.1.as_bytes());
                hex::encode(&mac.finalize().into_bytes()[..4])
            }
            None => format!("{number:08x}"),
        };
        let pseudonym = format!("{}-{tag}", kind.prefix());
        self.memo.insert(memo_key, pseudonym.clone());
        pseudonym
    }
}

/// An IP address, also in brackets (`[2001:db8::1]`) or with an IPv6 zone (`fe80::1%eth0`).
fn parse_ip(value: &str) -> Option<IpAddr> {
    let value = value.trim();
    let value = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    let value = value.split('%').next().unwrap_or(value);
    value.parse().ok()
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Every IP address in `text`: (start, end, canonical form). See the module docs for the
/// boundaries that keep version numbers such as `OpenSSH_9.2.1.4` out.
pub fn find_ip_addresses(text: &str) -> Vec<(usize, usize, String)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();

    // IPv6: a maximal run of hex digits, colons and dots with at least two colons.
    let is_v6 = |b: u8| b.is_ascii_hexdigit() || b == b':' || b == b'.';
    let mut i = 0;
    while i < bytes.len() {
        if !is_v6(bytes[i]) || (i > 0 && is_word_byte(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_v6(bytes[i]) {
            i += 1;
        }
        if i < bytes.len() && is_word_byte(bytes[i]) {
            continue;
        }
        let run = &text[start..i];
        if run.matches(':').count() < 2 || !run.bytes().any(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        if let Some((len, ip)) = parse_v6_prefix(run) {
            found.push((start, start + len, ip.to_string()));
        }
    }

    // IPv4: four decimal octets, not glued to letters or to more dotted numbers.
    let mut i = 0;
    while i < bytes.len() {
        let starts_here = bytes[i].is_ascii_digit()
            && (i == 0 || !(is_word_byte(bytes[i - 1]) || bytes[i - 1] == b'.'));
        if !starts_here {
            i += 1;
            continue;
        }
        match parse_v4_at(bytes, i) {
            Some((end, ip)) => {
                found.push((i, end, ip.to_string()));
                i = end;
            }
            None => {
                while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                    i += 1;
                }
            }
        }
    }
    found
}

fn parse_v6_prefix(run: &str) -> Option<(usize, Ipv6Addr)> {
    let mut candidate = run;
    // Trailing sentence dots, then a trailing `:port`, may follow an address.
    for _ in 0..3 {
        if let Ok(ip) = candidate.parse::<Ipv6Addr>()
            && candidate.matches(':').count() >= 2
        {
            return Some((candidate.len(), ip));
        }
        let trimmed = candidate.trim_end_matches('.');
        candidate = if trimmed.len() < candidate.len() {
            trimmed
        } else {
            match candidate.rfind(':') {
                Some(cut) if cut > 0 => &candidate[..cut],
                _ => return None,
            }
        };
    }
    None
}

fn parse_v4_at(bytes: &[u8], start: usize) -> Option<(usize, Ipv4Addr)> {
    let mut octets = [0u8; 4];
    let mut at = start;
    for (n, octet) in octets.iter_mut().enumerate() {
        if n > 0 {
            if bytes.get(at) != Some(&b'.') {
                return None;
            }
            at += 1;
        }
        let digits_start = at;
        let mut value: u32 = 0;
        while at < bytes.len() && bytes[at].is_ascii_digit() && at - digits_start < 3 {
            value = value * 10 + u32::from(bytes[at] - b'0');
            at += 1;
        }
        if at == digits_start || value > 255 {
            return None;
        }
        *octet = value as u8;
    }
    let glued = match bytes.get(at) {
        Some(&b) if is_word_byte(b) => true,
        Some(b'.') => bytes.get(at + 1).is_some_and(u8::is_ascii_digit),
        _ => false,
    };
    if glued {
        return None;
    }
    Some((at, Ipv4Addr::from(octets)))
}

/// Byte ranges of fingerprints (`SHA256:…`, `MD5:…:…`) in `text`.
fn fingerprint_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    for prefix in ["SHA256:", "SHA512:", "SHA384:", "SHA1:", "MD5:"] {
        let mut search = 0;
        while let Some(found) = find_ci(text, prefix, search) {
            let start = found;
            let mut end = found + prefix.len();
            while end < text.len()
                && (text.as_bytes()[end].is_ascii_alphanumeric()
                    || matches!(text.as_bytes()[end], b'+' | b'/' | b'=' | b':'))
            {
                end += 1;
            }
            spans.push((start, end));
            search = end;
        }
    }
    spans
}

// ---- walking a bundle ---------------------------------------------------------------------

/// What each kind of string in a bundle gets. One traversal, three uses: collecting
/// identities, scrubbing secrets, replacing identities.
trait Visitor {
    fn username(&mut self, value: &mut String);
    fn host(&mut self, value: &mut String);
    fn url(&mut self, value: &mut String);
    fn text(&mut self, value: &mut String);
    fn output(&mut self, value: &mut Option<String>);
}

fn each_text(v: &mut impl Visitor, values: &mut [String]) {
    for value in values {
        v.text(value);
    }
}

fn opt(value: &mut Option<String>, mut f: impl FnMut(&mut String)) {
    if let Some(value) = value.as_mut() {
        f(value);
    }
}

/// How a key inside free-form JSON (error context, unknown event types) is treated.
enum KeyRole {
    Username,
    Host,
    Url,
    Keep,
    Text,
}

fn key_role(key: Option<&str>) -> KeyRole {
    let Some(key) = key else {
        return KeyRole::Text;
    };
    let key = key.to_ascii_lowercase();
    match key.as_str() {
        "username" | "user" | "login" => KeyRole::Username,
        "host" | "hostname" | "local_host" | "remote_host" | "target_host" | "target" => {
            KeyRole::Host
        }
        "proxy" | "proxy_url" | "relay_url" | "url" => KeyRole::Url,
        "kex" | "host_key" | "cipher_cs" | "cipher_sc" | "mac_cs" | "mac_sc" | "compression_cs"
        | "compression_sc" | "server_sig_algs" | "client_proposal" | "server_proposal"
        | "algorithm" | "algorithms" | "code" | "event_type" | "level" | "status" | "layer"
        | "phase" | "error_type" | "method" | "methods_available" | "methods_tried"
        | "server_software" | "software" => KeyRole::Keep,
        _ if key.contains("fingerprint") => KeyRole::Keep,
        _ => KeyRole::Text,
    }
}

fn walk_value(v: &mut impl Visitor, key: Option<&str>, value: &mut Value) {
    match value {
        Value::String(s) => match key_role(key) {
            KeyRole::Username => v.username(s),
            KeyRole::Host => v.host(s),
            KeyRole::Url => v.url(s),
            KeyRole::Keep => {}
            KeyRole::Text => v.text(s),
        },
        Value::Array(items) => {
            for item in items {
                walk_value(v, key, item);
            }
        }
        Value::Object(object) => {
            if !matches!(key_role(key), KeyRole::Keep) {
                for (inner_key, item) in object.iter_mut() {
                    walk_value(v, Some(inner_key), item);
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn walk_error(v: &mut impl Visitor, error: &mut ErrorData) {
    let ErrorData {
        error_type: _,
        message,
        layer: _,
        hints,
        host,
        port: _,
        phase: _,
        context,
    } = error;
    v.text(message);
    each_text(v, hints);
    opt(host, |h| v.host(h));
    for (key, item) in context.iter_mut() {
        walk_value(v, Some(key), item);
    }
}

fn walk_audit(v: &mut impl Visitor, audit: &mut AuditData) {
    let AuditData {
        category: _,
        algorithm: _,
        grade: _,
        reason,
        fix,
    } = audit;
    v.text(reason);
    opt(fix, |f| v.text(f));
}

fn walk_event(v: &mut impl Visitor, event: &mut Event) {
    let Event {
        timestamp: _,
        connection_id: _,
        seq: _,
        level: _,
        code: _,
        data,
    } = event;
    match data {
        EventData::Connect(ConnectData {
            status: _,
            host,
            port: _,
            username,
            transport: _,
            proxy,
            auth_method: _,
        }) => {
            v.host(host);
            opt(username, |u| v.username(u));
            opt(proxy, |p| v.url(p));
        }
        EventData::Proxy(ProxyData {
            status: _,
            ms: _,
            addrs,
            peer,
            reason,
            by: _,
            bytes_up: _,
            bytes_down: _,
        }) => {
            if let Some(addrs) = addrs {
                each_text(v, addrs);
            }
            opt(peer, |p| v.text(p));
            opt(reason, |r| v.text(r));
        }
        EventData::Version(VersionData {
            client_version: _,
            server_version,
            server_software: _,
            pre_banner_lines,
            duration_ms: _,
        }) => {
            v.text(server_version);
            each_text(v, pre_banner_lines);
        }
        // Algorithms, proposals and the failed category are kept as they are.
        EventData::Kex(KexData { .. }) => {}
        EventData::Hostkey(HostkeyData {
            algorithm: _,
            fingerprint_sha256: _,
            status: _,
            expected_fingerprint: _,
            policy: _,
        }) => {}
        EventData::Auth(AuthData {
            status: _,
            method: _,
            username,
            duration_ms: _,
            methods_available: _,
            key_fingerprint: _,
            error_type: _,
            error_message,
        }) => {
            opt(username, |u| v.username(u));
            opt(error_message, |m| v.text(m));
        }
        EventData::Channel(ChannelData {
            status: _,
            channel_type: _,
            reason_code: _,
            reason,
        }) => opt(reason, |r| v.text(r)),
        EventData::Exec(ExecData {
            command,
            streaming: _,
            duration_ms: _,
            exit_code: _,
            exit_signal: _,
            stdout_len: _,
            stderr_len: _,
        }) => v.text(command),
        EventData::Forward(ForwardData {
            status: _,
            forward_type: _,
            local_host,
            local_port: _,
            remote_host,
            remote_port: _,
            duration_ms: _,
            reason,
        }) => {
            opt(local_host, |h| v.host(h));
            v.host(remote_host);
            opt(reason, |r| v.text(r));
        }
        EventData::Keepalive(KeepaliveData {
            rtt_ms: _,
            missed: _,
            path: _,
        }) => {}
        EventData::StateChange(StateChangeData {
            from_state: _,
            to_state: _,
            reconnection_count: _,
            reason,
        }) => opt(reason, |r| v.text(r)),
        EventData::Error(error) => walk_error(v, error),
        EventData::Disconnect(DisconnectData {
            reason: _,
            disconnect_code: _,
            description,
            bytes_sent: _,
            bytes_received: _,
        }) => opt(description, |d| v.text(d)),
        EventData::Verdict(VerdictData {
            ok: _,
            layer: _,
            error_type: _,
            code: _,
            summary,
            hints,
            phases: _,
        }) => {
            v.text(summary);
            each_text(v, hints);
        }
        EventData::Audit(audit) => walk_audit(v, audit),
        EventData::Other {
            event_type: _,
            data,
        } => walk_value(v, None, data),
    }
}

fn walk_bundle(v: &mut impl Visitor, bundle: &mut Bundle) {
    let Bundle {
        format: _,
        version: _,
        created_ms: _,
        connection_id: _,
        // The tool's own name, version, runtime and user agent describe sshdiag, not the user.
        tool: _,
        host_info,
        verdict,
        events,
        transcript,
        algorithms: _,
        server,
        timing: _,
        disconnect_reason: _,
        error_context,
        redaction: _,
        audit,
        integrity: _,
        loaded_digest: _,
    } = bundle;
    let HostInfo {
        host,
        port: _,
        username,
        proxy,
        redacted: _,
    } = host_info;
    v.host(host);
    v.username(username);
    opt(proxy, |p| v.url(p));
    let BundleVerdict {
        ok: _,
        layer: _,
        error_type: _,
        code: _,
        summary,
        hints,
    } = verdict;
    v.text(summary);
    each_text(v, hints);
    for event in events {
        walk_event(v, event);
    }
    for entry in transcript {
        let TranscriptEntry {
            command,
            exit_code: _,
            exit_signal: _,
            stdout,
            stderr,
            stdout_len: _,
            stderr_len: _,
            truncated: _,
        } = entry;
        v.text(command);
        v.output(stdout);
        v.output(stderr);
    }
    let ServerInfo {
        banner,
        software: _,
        host_key: _,
    } = server;
    opt(banner, |b| v.text(b));
    if let Some(error) = error_context {
        walk_error(v, error);
    }
    if let Some(findings) = audit {
        for finding in findings {
            walk_audit(v, finding);
        }
    }
}

/// Scrubs secrets from every free-text string (raw and redacted bundles alike).
struct SecretScrubber {
    count: u64,
}

impl SecretScrubber {
    fn scrub(&mut self, value: &mut String) {
        let (clean, n) = scrub_secrets_counted(value);
        if n > 0 {
            *value = clean;
            self.count += n;
        }
    }
}

impl Visitor for SecretScrubber {
    fn username(&mut self, _value: &mut String) {}
    fn host(&mut self, _value: &mut String) {}
    fn url(&mut self, value: &mut String) {
        self.scrub(value);
    }
    fn text(&mut self, value: &mut String) {
        self.scrub(value);
    }
    fn output(&mut self, _value: &mut Option<String>) {}
}

/// Parts of a URL: (authority start, userinfo end or None, host range, authority end).
struct UrlParts {
    userinfo: Option<(usize, usize)>,
    host: (usize, usize),
}

fn url_parts(url: &str) -> Option<UrlParts> {
    let authority_start = url.find("://")? + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority_start + i);
    let authority = &url[authority_start..authority_end];
    let (userinfo, host_start) = match authority.rfind('@') {
        Some(at) => (
            Some((authority_start, authority_start + at)),
            authority_start + at + 1,
        ),
        None => (None, authority_start),
    };
    let host_port = &url[host_start..authority_end];
    let host_len = if host_port.starts_with('[') {
        host_port.find(']').map_or(host_port.len(), |i| i + 1)
    } else {
        host_port.rfind(':').unwrap_or(host_port.len())
    };
    Some(UrlParts {
        userinfo,
        host: (host_start, host_start + host_len),
    })
}

/// Collects the identities named by identity fields, to find them again in free text.
#[derive(Default)]
struct IdentityCollector {
    usernames: BTreeSet<String>,
    hosts: BTreeSet<String>,
}

impl Visitor for IdentityCollector {
    fn username(&mut self, value: &mut String) {
        if !value.is_empty() {
            self.usernames.insert(value.clone());
        }
    }
    fn host(&mut self, value: &mut String) {
        let host = value.trim().trim_end_matches('.');
        if !host.is_empty() && parse_ip(host).is_none() {
            self.hosts.insert(host.to_ascii_lowercase());
        }
    }
    fn url(&mut self, value: &mut String) {
        if let Some(parts) = url_parts(value) {
            if let Some((s, e)) = parts.userinfo {
                let user = value[s..e]
                    .split(':')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                self.username(&mut user.clone());
            }
            let mut host = value[parts.host.0..parts.host.1].to_string();
            self.host(&mut host);
        }
    }
    fn text(&mut self, _value: &mut String) {}
    fn output(&mut self, _value: &mut Option<String>) {}
}

/// A remembered identity to look for in free text.
struct Known {
    needle: String,
    kind: IdentityKind,
    ignore_case: bool,
}

/// Replaces identities with pseudonyms and removes output.
struct Pseudonymizer<'a> {
    redactor: &'a mut Redactor,
    known: Vec<Known>,
    counts: ReplacedCounts,
}

impl Pseudonymizer<'_> {
    fn count(&mut self, kind: IdentityKind) {
        match kind {
            IdentityKind::Username => self.counts.username += 1,
            IdentityKind::Host => self.counts.host += 1,
            IdentityKind::Address => self.counts.address += 1,
        }
    }

    fn replace_whole(&mut self, kind: IdentityKind, value: &mut String) {
        let pseudonym = self.redactor.pseudonym(kind, value);
        *value = pseudonym;
        self.count(kind);
    }

    /// Replaces every remembered identity (as a whole word) and every IP address in `text`.
    fn replace_in_text(&mut self, text: &str) -> String {
        let mut matches: Vec<(usize, usize, IdentityKind, String)> = find_ip_addresses(text)
            .into_iter()
            .map(|(s, e, ip)| (s, e, IdentityKind::Address, ip))
            .collect();
        let lower = text.to_ascii_lowercase();
        for known in &self.known {
            let hay = if known.ignore_case { &lower } else { text };
            let mut from = 0;
            while let Some(pos) = hay[from..].find(known.needle.as_str()) {
                let start = from + pos;
                let end = start + known.needle.len();
                let free_before = !char_before(text, start).is_some_and(is_word_char);
                let free_after = !char_at(text, end).is_some_and(is_word_char);
                if free_before && free_after {
                    matches.push((start, end, known.kind, known.needle.clone()));
                }
                from = start + hay[start..].chars().next().map_or(1, char::len_utf8);
            }
        }
        // A fingerprint quoted in a message is kept whole, even where a short name happens to
        // stand between its `+` and `/`.
        let fingerprints = fingerprint_spans(text);
        matches.retain(|(start, end, _, _)| {
            !fingerprints
                .iter()
                .any(|&(fs, fe)| *start < fe && fs < *end)
        });
        if matches.is_empty() {
            return text.to_string();
        }
        matches.sort_by(|a, b| a.0.cmp(&b.0).then((b.1 - b.0).cmp(&(a.1 - a.0))));
        let mut out = String::with_capacity(text.len());
        let mut cursor = 0;
        for (start, end, kind, value) in matches {
            if start < cursor {
                continue;
            }
            out.push_str(&text[cursor..start]);
            out.push_str(&self.redactor.pseudonym(kind, &value));
            self.count(kind);
            cursor = end;
        }
        out.push_str(&text[cursor..]);
        out
    }
}

impl Visitor for Pseudonymizer<'_> {
    fn username(&mut self, value: &mut String) {
        if !value.is_empty() {
            self.replace_whole(IdentityKind::Username, value);
        }
    }

    fn host(&mut self, value: &mut String) {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return;
        }
        if parse_ip(trimmed).is_some() {
            let ip = trimmed.to_string();
            *value = ip;
            self.replace_whole(IdentityKind::Address, value);
        } else {
            self.replace_whole(IdentityKind::Host, value);
        }
    }

    fn url(&mut self, value: &mut String) {
        let Some(parts) = url_parts(value) else {
            self.text(value);
            return;
        };
        let (host_start, host_end) = parts.host;
        let prefix_end = parts.userinfo.map_or(host_start, |(s, _)| s);
        let mut out = value[..prefix_end].to_string();
        if let Some((s, e)) = parts.userinfo {
            let mut user = value[s..e]
                .split(':')
                .next()
                .unwrap_or_default()
                .to_string();
            self.username(&mut user);
            out.push_str(&user);
            if value[s..e].contains(':') {
                out.push(':');
                out.push_str(REDACTED);
            }
            out.push('@');
        }
        let mut host = value[host_start..host_end]
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        self.host(&mut host);
        out.push_str(&host);
        let rest = self.replace_in_text(&value[host_end..]);
        out.push_str(&rest);
        *value = out;
    }

    fn text(&mut self, value: &mut String) {
        *value = self.replace_in_text(value);
    }

    fn output(&mut self, value: &mut Option<String>) {
        if let Some(removed) = value.take()
            && !removed.is_empty()
        {
            self.counts.output += 1;
        }
    }
}

/// Scrubs secrets from every free-text field of a bundle; returns how many were replaced.
pub(crate) fn scrub_bundle(bundle: &mut Bundle) -> u64 {
    let mut scrubber = SecretScrubber { count: 0 };
    walk_bundle(&mut scrubber, bundle);
    scrubber.count
}

/// Redacts a bundle in place (see the module docs) and records what was replaced. The caller
/// re-seals it.
pub(crate) fn redact_bundle(bundle: &mut Bundle, redactor: &mut Redactor) {
    let secrets = scrub_bundle(bundle);
    let mut collector = IdentityCollector::default();
    walk_bundle(&mut collector, bundle);
    // Identities shorter than two characters would replace ordinary words and letters.
    let mut known: Vec<Known> = collector
        .usernames
        .into_iter()
        .map(|needle| Known {
            needle,
            kind: IdentityKind::Username,
            ignore_case: false,
        })
        .chain(collector.hosts.into_iter().map(|needle| Known {
            needle,
            kind: IdentityKind::Host,
            ignore_case: true,
        }))
        .filter(|known| known.needle.chars().count() >= 2)
        .collect();
    known.sort_by_key(|known| std::cmp::Reverse(known.needle.len()));
    let mut pseudonymizer = Pseudonymizer {
        redactor,
        known,
        counts: ReplacedCounts::default(),
    };
    walk_bundle(&mut pseudonymizer, bundle);
    let counts = pseudonymizer.counts;
    bundle.host_info.redacted = true;
    bundle.redaction.applied = true;
    let replaced = &mut bundle.redaction.replaced;
    replaced.username += counts.username;
    replaced.host += counts.host;
    replaced.address += counts.address;
    replaced.output += counts.output;
    replaced.secret += secrets;
}
