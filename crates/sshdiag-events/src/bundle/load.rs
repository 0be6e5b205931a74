//! Reading a bundle: [`Bundle::from_json`] and the [`BundleError`] that says, in words a person
//! can act on, why a file is not a bundle this version can read. Never panics on any input.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::canonical::sha256_hex;
use super::{Bundle, FORMAT, LoadedDigest, MAX_BUNDLE_BYTES, READABLE_MAJOR, canonical_json};
use crate::codes::Code;
use crate::event::Event;
use crate::jsonl::json_kind;

/// Why a bundle could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The input is over [`MAX_BUNDLE_BYTES`].
    #[error(
        "this file is {size} bytes, over the {limit}-byte ({} MiB) limit for an evidence bundle",
        limit / (1024 * 1024)
    )]
    TooLarge {
        /// The size of the input, in bytes.
        size: usize,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The bytes are not UTF-8 text.
    #[error("this file is not text (invalid UTF-8 at byte {offset}), so it is not a bundle")]
    NotUtf8 {
        /// The offset of the first byte that is not UTF-8.
        offset: usize,
    },
    /// The text is not JSON.
    #[error("this file is not JSON (line {line}, column {column}: {reason})")]
    NotJson {
        /// The line of the error, from 1.
        line: usize,
        /// The column of the error, from 1.
        column: usize,
        /// What is wrong, as the JSON parser says it.
        reason: String,
    },
    /// The file is an event log (JSON Lines), not a bundle.
    #[error(
        "this is an event log (JSON Lines, one event per line), not an evidence bundle; open it \
         as an event log instead"
    )]
    LooksLikeJsonl,
    /// The JSON is not an object.
    #[error("this is not an sshdiag evidence bundle: the file holds {found}, not a JSON object")]
    NotAnObject {
        /// What the file holds instead (`an array`, `a string` …).
        found: String,
    },
    /// The `format` key is missing or not ours.
    #[error(
        "this is not an sshdiag evidence bundle: its `format` is {found}, expected \
         \"sshdiag-evidence-bundle\""
    )]
    WrongFormat {
        /// The `format` found (shortened), or `missing`.
        found: String,
    },
    /// A newer major version than this crate reads.
    #[error("this bundle was made by a newer sshdiag ({major}.x); this viewer reads 1.x")]
    NewerVersion {
        /// The version found (shortened).
        version: String,
        /// Its major version.
        major: u64,
    },
    /// A version that is not one this crate reads.
    #[error("this bundle has version {version}, which this viewer cannot read (it reads 1.x)")]
    UnsupportedVersion {
        /// The version found (shortened).
        version: String,
    },
    /// An event does not parse.
    #[error("events[{index}]: {reason}")]
    BadEvent {
        /// The index of the event in `events`, from 0.
        index: usize,
        /// Why it does not parse.
        reason: String,
    },
    /// A top-level key is missing or has the wrong type.
    #[error("{field}: {reason}")]
    BadField {
        /// The key.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Writing the bundle failed (a bug).
    #[error("sshdiag could not serialise the bundle (a bug; please report it): {reason}")]
    Serialize {
        /// What the serialiser said.
        reason: String,
    },
}

impl BundleError {
    /// The message code for this failure.
    pub fn code(&self) -> Code {
        match self {
            BundleError::Serialize { .. } => Code::Internal,
            _ => Code::InvalidInput,
        }
    }
}

impl Bundle {
    /// Reads a bundle; see the module docs for what is refused and how.
    pub fn from_json(text: &str) -> Result<Bundle, BundleError> {
        if text.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge {
                size: text.len(),
                limit: MAX_BUNDLE_BYTES,
            });
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let value: Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(error) => return Err(not_json(text, &error)),
        };
        let Value::Object(object) = value else {
            return Err(BundleError::NotAnObject {
                found: json_kind(&value).to_string(),
            });
        };
        check_format_and_version(&object)?;

        let events = match object.get("events") {
            Some(Value::Array(items)) => {
                let mut events = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    let event = Event::deserialize(item).map_err(|e| BundleError::BadEvent {
                        index,
                        reason: e.to_string(),
                    })?;
                    events.push(event);
                }
                events
            }
            Some(other) => {
                return Err(BundleError::BadField {
                    field: "events".into(),
                    reason: format!("expected a list of events, found {}", json_kind(other)),
                });
            }
            None => return Err(missing("events")),
        };

        let mut without_integrity = object.clone();
        without_integrity.remove("integrity");
        let loaded = sha256_hex(&canonical_json(&Value::Object(without_integrity)));

        Ok(Bundle {
            format: FORMAT.to_string(),
            version: section_required(&object, "version")?,
            created_ms: section(&object, "created_ms")?,
            connection_id: section_required(&object, "connection_id")?,
            tool: section(&object, "tool")?,
            host_info: section(&object, "host_info")?,
            verdict: section(&object, "verdict")?,
            events,
            transcript: section(&object, "transcript")?,
            algorithms: section(&object, "algorithms")?,
            server: section(&object, "server")?,
            timing: section(&object, "timing")?,
            disconnect_reason: section(&object, "disconnect_reason")?,
            error_context: section(&object, "error_context")?,
            redaction: section(&object, "redaction")?,
            audit: section(&object, "audit")?,
            ssh_config: section(&object, "ssh_config")?,
            hops: section(&object, "hops")?,
            integrity: section(&object, "integrity")?,
            loaded_digest: LoadedDigest(Some(loaded)),
        })
    }

    /// [`Bundle::from_json`] for raw file bytes, which may not even be text.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Bundle, BundleError> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge {
                size: bytes.len(),
                limit: MAX_BUNDLE_BYTES,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| BundleError::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        Bundle::from_json(text)
    }
}

fn missing(field: &str) -> BundleError {
    BundleError::BadField {
        field: field.to_string(),
        reason: "missing; every bundle has it".to_string(),
    }
}

/// One top-level key, typed; absent keys take their default (a hand-trimmed bundle still
/// opens), wrong types are named.
fn section<T: DeserializeOwned + Default>(
    object: &Map<String, Value>,
    key: &str,
) -> Result<T, BundleError> {
    match object.get(key) {
        None => Ok(T::default()),
        Some(value) => T::deserialize(value).map_err(|e| BundleError::BadField {
            field: key.to_string(),
            reason: e.to_string(),
        }),
    }
}

fn section_required<T: DeserializeOwned + Default>(
    object: &Map<String, Value>,
    key: &str,
) -> Result<T, BundleError> {
    if !object.contains_key(key) {
        return Err(missing(key));
    }
    section(object, key)
}

fn check_format_and_version(object: &Map<String, Value>) -> Result<(), BundleError> {
    match object.get("format") {
        Some(Value::String(format)) if format == FORMAT => {}
        Some(other) => {
            return Err(BundleError::WrongFormat {
                found: shorten(&other.to_string(), 80),
            });
        }
        None => {
            return Err(BundleError::WrongFormat {
                found: "missing".to_string(),
            });
        }
    }
    let version = match object.get("version") {
        Some(Value::String(version)) => version.clone(),
        Some(other) => {
            return Err(BundleError::UnsupportedVersion {
                version: shorten(&other.to_string(), 40),
            });
        }
        None => return Err(missing("version")),
    };
    let major = version
        .split('.')
        .next()
        .and_then(|major| major.trim().parse::<u64>().ok());
    match major {
        Some(major) if major == READABLE_MAJOR => Ok(()),
        Some(major) if major > READABLE_MAJOR => Err(BundleError::NewerVersion {
            version: shorten(&version, 40),
            major,
        }),
        _ => Err(BundleError::UnsupportedVersion {
            version: shorten(&format!("{version:?}"), 40),
        }),
    }
}

fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut short: String = text.chars().take(max_chars).collect();
    short.push('…');
    short
}

/// A JSON syntax error as a [`BundleError`], recognising an event log dropped in by mistake.
fn not_json(text: &str, error: &serde_json::Error) -> BundleError {
    let first_line = text.lines().find(|line| !line.trim().is_empty());
    if let Some(first) = first_line
        && error.line() > 1
        && let Ok(Value::Object(object)) = serde_json::from_str::<Value>(first)
        && object.contains_key("event_type")
    {
        return BundleError::LooksLikeJsonl;
    }
    let message = error.to_string();
    let reason = match message.rfind(" at line ") {
        Some(cut) => message[..cut].to_string(),
        None => message,
    };
    BundleError::NotJson {
        line: error.line(),
        column: error.column(),
        reason,
    }
}
