//! The integrity digest: the canonical serialisation of a bundle (see the `bundle` module
//! docs, "Integrity") and its SHA-256. It detects edits, not forgery.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Bundle, Integrity, IntegrityStatus, LoadedDigest};

impl Bundle {
    /// The hex SHA-256 of this bundle's canonical serialisation (see the module docs).
    pub fn canonical_digest(&self) -> String {
        let mut value = json_tree(self).unwrap_or(Value::Null);
        if let Value::Object(object) = &mut value {
            object.remove("integrity");
        }
        sha256_hex(&canonical_json(&value))
    }

    /// Sets `integrity` to this bundle's digest. Done by every constructor and by
    /// [`Bundle::to_json`]; call it after changing a bundle by hand.
    pub fn seal(&mut self) {
        self.integrity = Some(Integrity {
            sha256: self.canonical_digest(),
        });
        self.loaded_digest = LoadedDigest(None);
    }

    /// Whether the bundle is as sshdiag wrote it; see the module docs.
    pub fn verify_integrity(&self) -> IntegrityStatus {
        let Some(integrity) = &self.integrity else {
            return IntegrityStatus::Missing;
        };
        let expected = integrity.sha256.trim().to_ascii_lowercase();
        let actual = match &self.loaded_digest.0 {
            Some(loaded) => loaded.clone(),
            None => self.canonical_digest(),
        };
        if actual == expected {
            IntegrityStatus::Valid
        } else {
            IntegrityStatus::Mismatch {
                expected: integrity.sha256.clone(),
                actual,
            }
        }
    }
}

/// `value` as a JSON tree, made from its compact text read back: the tree
/// `serde_json::to_value` makes (with serde_json's `float_roundtrip`, every number reads back
/// as it was), but each type's `Serialize` is compiled once, for compact text (which the
/// events' JSON Lines need anyway), not a second time for a tree: 1.8 KB of the run's wasm
/// module, brotli (issue 17, BENCHMARKS.md).
pub fn json_tree<T: Serialize + ?Sized>(value: &T) -> Result<Value, serde_json::Error> {
    serde_json::from_str(&serde_json::to_string(value)?)
}

/// `value` as serde_json's pretty text (the bundle file's layout), made by laying out its
/// compact text ([`pretty_from_compact`]): every type's `Serialize` is then compiled for one
/// formatter, not for the compact one (events, trees) and again for the pretty one.
pub(crate) fn to_pretty<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    Ok(pretty_from_compact(&serde_json::to_string(value)?))
}

/// Compact JSON as serde_json writes it (no whitespace outside strings) laid out exactly as
/// `serde_json::to_string_pretty` lays it out: two spaces per level, `": "` after a key, `{}`
/// and `[]` for empty ones. The bundle tests check that the two agree byte for byte.
fn pretty_from_compact(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    let (mut in_string, mut escaped) = (false, false);
    let mut chars = compact.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                if chars.peek() == Some(&close) {
                    out.push(close);
                    chars.next();
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            _ => out.push(c),
        }
    }
    out
}

/// Compact JSON with every object's keys sorted by their UTF-8 bytes: the form the integrity
/// hash covers. Strings and numbers are written exactly as serde_json writes them.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(object) => {
            // serde_json's map (a `BTreeMap<String, Value>`: no `preserve_order`) iterates its
            // keys in `str` order, which is their UTF-8 bytes' order: already canonical, with
            // no sort of our own in the wasm module (issue 17). A test checks the order.
            out.push('{');
            for (i, (key, item)) in object.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

pub(super) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}
