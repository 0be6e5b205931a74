//! Replacing identities with pseudonyms in a whole bundle: collect the identities its identity
//! fields name, then replace them (and every IP address) wherever they stand in free text, and
//! drop command output. Runs the secret scrubber first; never stores the key.

use std::collections::BTreeSet;

use super::ip::{find_ip_addresses, fingerprint_spans, parse_ip};
use super::{IdentityKind, REDACTED, Redactor};
use crate::bundle::walk::{Visitor, scrub_bundle, walk_bundle};
use crate::bundle::{Bundle, ReplacedCounts};
use crate::scrub::{char_at, char_before, is_word_char};

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
        // By start, the longest first where several start together, the first found among
        // equally long ones: a stable sort's order, made of two sorts of pairs.
        let by_length = longest_first(matches.iter().map(|m| m.1 - m.0));
        let mut order: Vec<(usize, usize)> = (by_length.iter().enumerate())
            .map(|(rank, &i)| (matches[i].0, rank))
            .collect();
        order.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut cursor = 0;
        for (start, rank) in order {
            let (_, end, kind, value) = &matches[by_length[rank]];
            if start < cursor {
                continue;
            }
            out.push_str(&text[cursor..start]);
            out.push_str(&self.redactor.pseudonym(*kind, value));
            self.count(*kind);
            cursor = *end;
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

/// Redacts a bundle in place (see the module docs) and records what was replaced. The caller
/// re-seals it.
pub(crate) fn redact_bundle(bundle: &mut Bundle, redactor: &mut Redactor) {
    let before = crate::bundle::json_tree(&*bundle).unwrap_or_default();
    let secrets = scrub_bundle(bundle);
    let mut collector = IdentityCollector::default();
    walk_bundle(&mut collector, bundle);
    // Identities shorter than two characters would replace ordinary words and letters.
    let known: Vec<Known> = collector
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
    let order = longest_first(known.iter().map(|k| k.needle.len()));
    let mut slots: Vec<Option<Known>> = known.into_iter().map(Some).collect();
    let known: Vec<Known> = order.into_iter().filter_map(|i| slots[i].take()).collect();
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
    let after = crate::bundle::json_tree(&*bundle).unwrap_or_default();
    let mut changed = Vec::new();
    changed_texts(&before, &after, &mut String::new(), &mut changed);
    bundle.redaction.changed = changed;
}

/// The indices of `lengths`, longest first, equal lengths in their order (a stable sort's
/// order), through the unstable sort of `(usize, usize)` pairs the scrubber already has: one
/// sort in the run's wasm module instead of one more per call site (issue 17).
fn longest_first(lengths: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut keyed: Vec<(usize, usize)> = (lengths.enumerate())
        .map(|(i, len)| (usize::MAX - len, i))
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// Whether `text` is a pseudonym and nothing else: an identity field replaced whole.
fn is_bare_pseudonym(text: &str) -> bool {
    let Some((prefix, tag)) = text.split_once('-') else {
        return false;
    };
    matches!(prefix, "user" | "host" | "ip")
        && tag.len() == 8
        && tag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The JSON Pointers (RFC 6901) of the strings redaction changed inside, leaving out the
/// identity fields it replaced whole and its own bookkeeping (`redaction`, `integrity`).
fn changed_texts(
    before: &serde_json::Value,
    after: &serde_json::Value,
    path: &mut String,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    let mut descend = |path: &mut String, step: &str, b: &Value, a: &Value| {
        let len = path.len();
        path.push('/');
        path.push_str(&step.replace('~', "~0").replace('/', "~1"));
        changed_texts(b, a, path, out);
        path.truncate(len);
    };
    match (before, after) {
        (Value::String(b), Value::String(a)) if a != b && !is_bare_pseudonym(a) => {
            out.push(path.clone());
        }
        (Value::Array(b), Value::Array(a)) => {
            for (i, (b, a)) in b.iter().zip(a).enumerate() {
                descend(path, &i.to_string(), b, a);
            }
        }
        (Value::Object(b), Value::Object(a)) => {
            for (key, b) in b {
                let bookkeeping =
                    path.is_empty() && matches!(key.as_str(), "redaction" | "integrity");
                if let (Some(a), false) = (a.get(key), bookkeeping) {
                    descend(path, key, b, a);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn longest_first_is_the_order_of_a_stable_sort(lengths in proptest::collection::vec(0usize..6, 0..40)) {
            let mut stable: Vec<usize> = (0..lengths.len()).collect();
            stable.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
            prop_assert_eq!(super::longest_first(lengths.iter().copied()), stable);
        }
    }
}
