//! Finding IP addresses (v4 and v6) in identity fields and free text, and the fingerprints that
//! must be left whole around them. Pure text work: no I/O, no lookups.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::scrub::find_ci;

/// An IP address, also in brackets (`[2001:db8::1]`) or with an IPv6 zone (`fe80::1%eth0`).
pub(super) fn parse_ip(value: &str) -> Option<IpAddr> {
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
pub(super) fn fingerprint_spans(text: &str) -> Vec<(usize, usize)> {
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
