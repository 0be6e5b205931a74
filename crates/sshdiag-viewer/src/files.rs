//! Files handed to the JS API from a page (`openBundle`, `openEventLog`): their text or bytes,
//! whatever realm made them, and the plain errors a file that is not a bundle gets. It never
//! reads a file itself: the page hands over what the person chose.

use sshdiag_events::{BundleError, MAX_BUNDLE_BYTES};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// A JS `Error` with this message, as every refusal of the API is thrown.
pub(crate) fn js_error(message: impl AsRef<str>) -> JsValue {
    js_sys::Error::new(message.as_ref()).into()
}

/// The refusal of a file over the viewer's limit (bundle.md's, also used for event logs).
pub(crate) fn too_large(size: usize) -> JsValue {
    js_error(format!(
        "this file is {size} bytes, over the {MAX_BUNDLE_BYTES}-byte ({} MiB) limit",
        MAX_BUNDLE_BYTES / (1024 * 1024)
    ))
}

pub(crate) enum FileInput {
    Text(String),
    Bytes(Vec<u8>),
}

/// A file handed over from JS: its text, or its bytes (`Uint8Array` or `ArrayBuffer`).
///
/// The checks do not use `instanceof`, which is false for an array made in another realm (an
/// iframe, Firefox's WebDriver scripts): a view is recognised by `ArrayBuffer.isView`, a buffer
/// by its `[object ArrayBuffer]` tag.
pub(crate) fn file_input(input: &JsValue, what: &str) -> Result<FileInput, JsValue> {
    if let Some(text) = input.as_string() {
        Ok(FileInput::Text(text))
    } else if js_sys::ArrayBuffer::is_view(input) {
        let field = |name: &str| {
            js_sys::Reflect::get(input, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
        };
        let offset = field("byteOffset").as_f64().unwrap_or(0.0) as u32;
        let length = field("byteLength").as_f64().unwrap_or(0.0) as u32;
        let bytes =
            js_sys::Uint8Array::new_with_byte_offset_and_length(&field("buffer"), offset, length);
        Ok(FileInput::Bytes(bytes.to_vec()))
    } else if input.is_object()
        && input.unchecked_ref::<js_sys::Object>().to_string() == "[object ArrayBuffer]"
    {
        Ok(FileInput::Bytes(js_sys::Uint8Array::new(input).to_vec()))
    } else {
        Err(js_error(format!(
            "{what} takes the file's text (a string) or its bytes (Uint8Array or ArrayBuffer)"
        )))
    }
}

/// An Error with the bundle's plain message and a `kind` a program can branch on
/// (`"looks-like-jsonl"`: open it with `openEventLog` instead).
pub(crate) fn bundle_error(e: &BundleError) -> JsValue {
    let kind = match e {
        BundleError::TooLarge { .. } => "too-large",
        BundleError::NotUtf8 { .. } => "not-utf8",
        BundleError::NotJson { .. } => "not-json",
        BundleError::LooksLikeJsonl => "looks-like-jsonl",
        BundleError::NotAnObject { .. } => "not-an-object",
        BundleError::WrongFormat { .. } => "wrong-format",
        BundleError::NewerVersion { .. } => "newer-version",
        BundleError::UnsupportedVersion { .. } => "unsupported-version",
        BundleError::BadEvent { .. } => "bad-event",
        BundleError::BadField { .. } => "bad-field",
        _ => "internal",
    };
    let error = js_sys::Error::new(&e.to_string());
    let _ = js_sys::Reflect::set(&error, &JsValue::from_str("kind"), &JsValue::from_str(kind));
    error.into()
}
