//! Removing credentials from free text: the secret scrubber every free-text string passes
//! through before sshdiag writes it (`shared/spec/bundle.md`, "Secrets and redaction").
//!
//! [`scrub_secrets`] removes `key=value` and `key: value` for password-, token-, secret- and
//! API-key-like keys, `--password VALUE`-style flags, `-p<value>` (mysql), `sshpass -p VALUE`,
//! `Bearer <token>`, `Authorization:` headers, passwords in URLs, PEM private key blocks and long
//! base64 runs (40 characters or more with upper case, lower case and digits; `SHA256:…`
//! fingerprints are left alone). Other crates run library error messages through it; bundles
//! run every free-text field through it, raw bundles included.
//!
//! This module knows nothing of events or bundles (the bundle's traversal calls it, not the
//! other way round). It never does I/O and never leaves a secret it recognises in its output;
//! what it does not recognise it cannot remove, which is why the core never puts secrets into
//! events in the first place.

/// What a scrubbed secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";
/// What a scrubbed PEM private key block is replaced with.
pub const REDACTED_PRIVATE_KEY: &str = "[REDACTED PRIVATE KEY]";

/// Shortest run of base64 characters treated as key or token material.
const BASE64_RUN_MIN: usize = 40;

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
pub(crate) fn find_ci(hay: &str, needle: &str, from: usize) -> Option<usize> {
    let hay = hay.as_bytes();
    let needle = needle.as_bytes();
    if needle.is_empty() || from > hay.len() || hay.len() - from < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len())
        .find(|&i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

pub(crate) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

pub(crate) fn char_before(text: &str, at: usize) -> Option<char> {
    text[..at].chars().next_back()
}

pub(crate) fn char_at(text: &str, at: usize) -> Option<char> {
    text[at..].chars().next()
}

/// Records one secret found at the byte range `range`; returns its end, where the search
/// goes on.
fn mark_secret(ranges: &mut Vec<(usize, usize)>, count: &mut u64, range: (usize, usize)) -> usize {
    ranges.push(range);
    *count += 1;
    range.1
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
        search = mark_secret(&mut ranges, count, (start, end));
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
                mark_secret(
                    &mut ranges,
                    count,
                    (authority_start + colon + 1, authority_start + at),
                );
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
            search = mark_secret(&mut ranges, count, (start, end));
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
            search = mark_secret(&mut ranges, count, (start, end));
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
    // `SSH_AUTH_SOCK` names the agent's socket, not a secret (its "auth" made the word after
    // `$SSH_AUTH_SOCK:` in an agent error, "Unable", look like a value).
    const ABOUT_A_SECRET: [&str; 16] = [
        "authentication",
        "sock",
        "socket",
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
        // `$NAME:` refers to a variable; its value is not in the text, what follows is prose.
        let reference = key_start > 0 && bytes[key_start - 1] == b'$';
        let url = separator == b':' && text[i..].starts_with("://");
        let comparison = separator == b'=' && bytes.get(i + 1) == Some(&b'=');
        if key.is_empty() || url || comparison || reference || !is_secret_key(key) {
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
            cursor = mark_secret(&mut ranges, count, (start, end));
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
                    mark_secret(ranges, count, (ns, ne));
                }
            }
        };
        if let Some(value) = token.strip_prefix("-p")
            && !value.is_empty()
            && !value.starts_with('-')
            && value != REDACTED
            && !NOT_PASSWORDS.contains(&token)
        {
            mark_secret(&mut ranges, count, (s + 2, e));
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
            mark_secret(&mut ranges, count, (start, i));
        }
    }
    splice(text, &ranges, REDACTED)
}
