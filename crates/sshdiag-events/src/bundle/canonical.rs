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

/// `value` as a JSON tree, made from its pretty text (the bundle file's) read back: the tree
/// `serde_json::to_value` makes (with serde_json's `float_roundtrip`, every number reads back
/// as it was), but each type's `Serialize` is compiled once, for the text, not a second time
/// for a tree: 1.8 KB of the run's wasm module, brotli (issue 17, BENCHMARKS.md).
pub fn json_tree<T: Serialize + ?Sized>(value: &T) -> Result<Value, serde_json::Error> {
    serde_json::from_str(&serde_json::to_string_pretty(value)?)
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
