//! `decodeKey`: a key's text and passphrase in, the decoded key or the reason it is not one
//! out, as the run's module reads it back (`sshdiag-web`'s `keys.rs`).

use js_sys::{Object, Reflect, Uint8Array};
use sshdiag_core::keydecode::{KeyProblem, KeyProblemKind, decode_any};
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

/// Decode a private key in any format russh reads (the same decoder the native CLI uses):
/// `{ key }`, the key in OpenSSH's binary encoding, or `{ kind, detail, encrypted, keyType }`.
#[wasm_bindgen(js_name = decodeKey)]
pub fn decode_key(text: String, passphrase: Option<String>) -> Object {
    let text = Zeroizing::new(text);
    let passphrase = passphrase.map(Zeroizing::new);
    let answer = Object::new();
    let decoded = decode_any(&text, passphrase.as_ref().map(|p| p.as_str()));
    match decoded.and_then(|key| {
        key.to_bytes().map_err(|e| KeyProblem {
            kind: KeyProblemKind::Unreadable,
            detail: e.to_string(),
            encrypted: false,
        })
    }) {
        Ok(bytes) => set(&answer, "key", &Uint8Array::from(&bytes[..])),
        Err(problem) => {
            set(&answer, "kind", &JsValue::from_str(problem.kind.name()));
            set(&answer, "detail", &JsValue::from_str(&problem.detail));
            set(&answer, "encrypted", &JsValue::from_bool(problem.encrypted));
            if let KeyProblemKind::Unsupported { key_type } = &problem.kind {
                set(&answer, "keyType", &JsValue::from_str(key_type));
            }
        }
    }
    answer
}

fn set(object: &Object, name: &str, value: &JsValue) {
    // Setting a property of a fresh plain object cannot fail.
    let _ = Reflect::set(object, &JsValue::from_str(name), value);
}
