//! The viewer's JS API (docs/embed.md, "The viewer module"): `openBundle`, `openEventLog` and
//! `maxFileBytes`, the same three the run's module offers as `Diagnostics.openBundle` and so on,
//! which load this module and call these.
//!
//! Decisions the contract leaves open:
//!
//! - `openBundle(input)` takes the file's text (or its bytes as a `Uint8Array`/`ArrayBuffer`,
//!   so a file that is not even UTF-8 gets a clear message) and returns
//!   `{ bundle, integrity, integrityDetail, derived }`: `bundle` the parsed bundle object
//!   (bundle.md), `integrity` one of `"valid"`, `"mismatch"` (edited after it was written) or
//!   `"missing"` (no `integrity` key), `integrityDetail` `{ expected, actual }` on a mismatch,
//!   else `null`, and `derived` the page's view of it (`SessionView`).
//! - An Error thrown by `openBundle` has a `kind` (`"not-json"`, `"wrong-format"`,
//!   `"newer-version"`, `"looks-like-jsonl"`, …) beside its message. `openEventLog(input)`
//!   reads an `events.jsonl` (or nbs-ssh) log as `{ events, errors: [{ line, message }],
//!   derived }` and throws only when no line loads.

use sshdiag_events::jsonl::{ReadOptions, read_jsonl_with};
use sshdiag_events::{Bundle, IntegrityStatus, MAX_BUNDLE_BYTES, SessionView};
use wasm_bindgen::prelude::*;

use crate::files::{FileInput, bundle_error, file_input, js_error, too_large};
use crate::types::{IntegrityCheck, IntegrityDetail, OpenedBundle, OpenedEventLog};

/// Hands a result to JS as the object its JSON describes.
fn to_js<T: serde::Serialize>(value: &T, what: &str) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value)
        .map_err(|e| js_error(format!("could not show the {what} (a bug): {e}")))?;
    js_sys::JSON::parse(&text)
        .map_err(|_| js_error("sshdiag produced JSON the browser could not parse (a bug)"))
}

/// The largest file `openBundle` and `openEventLog` read, in bytes (bundle.md: 20 MiB), so a
/// page can refuse a bigger one before reading it.
#[wasm_bindgen(js_name = maxFileBytes)]
pub fn max_file_bytes() -> f64 {
    MAX_BUNDLE_BYTES as f64
}

/// Reads a bundle file (text, or bytes as a `Uint8Array`/`ArrayBuffer`) and checks its
/// integrity: `{ bundle, integrity: "valid"|"mismatch"|"missing", integrityDetail, derived }`.
/// Throws an Error with a plain message when the file is not a bundle sshdiag can read.
#[wasm_bindgen(js_name = openBundle, unchecked_return_type = "OpenedBundle")]
pub fn open_bundle(
    #[wasm_bindgen(unchecked_param_type = "string | Uint8Array | ArrayBuffer")] input: JsValue,
) -> Result<JsValue, JsValue> {
    let parsed = match file_input(&input, "openBundle")? {
        FileInput::Text(text) => Bundle::from_json(&text),
        FileInput::Bytes(bytes) => Bundle::from_json_bytes(&bytes),
    };
    let bundle = parsed.map_err(|e| bundle_error(&e))?;
    let (integrity, integrity_detail) = match bundle.verify_integrity() {
        IntegrityStatus::Valid => (IntegrityCheck::Valid, None),
        IntegrityStatus::Missing => (IntegrityCheck::Missing, None),
        IntegrityStatus::Mismatch { expected, actual } => (
            IntegrityCheck::Mismatch,
            Some(IntegrityDetail { expected, actual }),
        ),
    };
    let derived = SessionView::from_bundle(&bundle);
    let out = OpenedBundle {
        bundle,
        integrity,
        integrity_detail,
        derived,
    };
    to_js(&out, "bundle")
}

/// Reads an event log (`events.jsonl`, or an nbs-ssh log) as `{ events, errors, derived }`:
/// every line that loads, in order, and `{ line, message }` for each line that does not (the
/// rest still loads). Throws when nothing loads at all.
#[wasm_bindgen(js_name = openEventLog, unchecked_return_type = "OpenedEventLog")]
pub fn open_event_log(
    #[wasm_bindgen(unchecked_param_type = "string | Uint8Array | ArrayBuffer")] input: JsValue,
) -> Result<JsValue, JsValue> {
    let text = match file_input(&input, "openEventLog")? {
        FileInput::Text(text) => text,
        FileInput::Bytes(bytes) => {
            if bytes.len() > MAX_BUNDLE_BYTES {
                return Err(too_large(bytes.len()));
            }
            String::from_utf8(bytes).map_err(|e| {
                js_error(format!(
                    "this file is not text (invalid UTF-8 at byte {}), so it is not an event log",
                    e.utf8_error().valid_up_to()
                ))
            })?
        }
    };
    if text.len() > MAX_BUNDLE_BYTES {
        return Err(too_large(text.len()));
    }
    let read = read_jsonl_with(&text, ReadOptions::nbs_ssh());
    if read.events.is_empty() {
        return Err(js_error(match read.errors.first() {
            Some(first) => format!(
                "no event in this file could be read ({} bad lines; {first})",
                read.errors.len()
            ),
            None => "this file is empty: it holds no event".to_string(),
        }));
    }
    let derived = SessionView::from_events(&read.events);
    let out = OpenedEventLog {
        events: read.events,
        errors: read.errors,
        derived,
    };
    to_js(&out, "events")
}
