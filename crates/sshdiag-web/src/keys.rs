//! The browser's key decoder (`Env::decode_key`): OpenSSH's own format (plain or encrypted with
//! bcrypt) is decoded here, in the run's module; a key in another format (PKCS#8, legacy PEM,
//! PuTTY `.ppk`) is handed to the key-format module (`sshdiag-keys`), loaded on first need, and
//! comes back decoded. A run with an OpenSSH key or a password never fetches it.
//!
//! The loading is a few lines of JS (a dynamic `import()`, which Rust cannot write), shipped by
//! wasm-bindgen as a snippet in `pkg/snippets/sshdiag-web-…/`, like the viewer's (`viewer.rs`).
//! A failed load is tried again on the next key, and becomes the key's failure, kind
//! `decoder-unavailable`, with the browser's reason. The key's text and passphrase cross into
//! that module through JS strings; the decoded key comes back as OpenSSH's binary encoding in
//! a `Uint8Array`, which is copied into this module and zero-filled at once. Never puts any of
//! them in an event, a log, an error or a URL.

use js_sys::{Reflect, Uint8Array};
use sshdiag_core::keydecode::{KeyProblem, KeyProblemKind, PrivateKey, decode_openssh};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

#[wasm_bindgen(inline_js = r#"
let loading = null;
export function loadKeyFormats() {
  if (!loading) {
    loading = import("../../sshdiag_keys.js")
      .then(async (keys) => { await keys.default(); return keys; })
      .catch((e) => {
        loading = null;
        const error = new Error(e && e.message ? e.message : String(e));
        error.kind = "keys-unavailable";
        throw error;
      });
  }
  return loading;
}
export function decodeKeyElsewhere(text, passphrase) {
  return loadKeyFormats().then((keys) => keys.decodeKey(text, passphrase));
}
"#)]
extern "C" {
    /// Loads the key-format module if need be; resolves to it, or rejects with
    /// `kind: "keys-unavailable"` (and the next call tries again).
    #[wasm_bindgen(js_name = loadKeyFormats)]
    pub(crate) fn load_key_formats() -> js_sys::Promise;

    /// Loads the key-format module if need be, then decodes the key with it.
    #[wasm_bindgen(js_name = decodeKeyElsewhere)]
    fn decode_key_elsewhere(text: &str, passphrase: Option<&str>) -> js_sys::Promise;
}

/// Decode a private key: OpenSSH's own format here, any other by the key-format module.
pub(crate) async fn decode_key(
    text: &str,
    passphrase: Option<&str>,
) -> Result<PrivateKey, KeyProblem> {
    if let Some(decoded) = decode_openssh(text, passphrase) {
        return decoded;
    }
    let promise = decode_key_elsewhere(text, passphrase);
    match wasm_bindgen_futures::JsFuture::from(promise).await {
        Ok(answer) => read_answer(&answer),
        Err(error) => Err(load_failure(&error)),
    }
}

/// What `decodeKey` of the key-format module answered: the key, or its problem.
fn read_answer(answer: &JsValue) -> Result<PrivateKey, KeyProblem> {
    let field = |name: &str| Reflect::get(answer, &JsValue::from_str(name)).unwrap_or_default();
    if let Ok(array) = field("key").dyn_into::<Uint8Array>() {
        let bytes = Zeroizing::new(array.to_vec());
        array.fill(0, 0, array.length());
        return PrivateKey::from_bytes(&bytes).map_err(|e| KeyProblem {
            kind: KeyProblemKind::Unreadable,
            detail: e.to_string(),
            encrypted: false,
        });
    }
    let text = |name: &str| field(name).as_string().unwrap_or_default();
    Err(KeyProblem {
        kind: KeyProblemKind::from_name(&text("kind"), text("keyType")),
        detail: text("detail"),
        encrypted: field("encrypted").as_bool().unwrap_or(false),
    })
}

/// The problem of a rejected load or call: the module could not be fetched (`keys-unavailable`)
/// or failed while decoding.
fn load_failure(error: &JsValue) -> KeyProblem {
    let field = |name: &str| {
        Reflect::get(error, &JsValue::from_str(name))
            .ok()
            .and_then(|v| v.as_string())
    };
    let message = field("message").unwrap_or_else(|| "unknown error".into());
    match field("kind").as_deref() {
        Some("keys-unavailable") => KeyProblem {
            kind: KeyProblemKind::DecoderUnavailable,
            detail: message,
            encrypted: false,
        },
        _ => KeyProblem {
            kind: KeyProblemKind::Unreadable,
            detail: format!("the key-format module failed: {message}"),
            encrypted: false,
        },
    }
}
