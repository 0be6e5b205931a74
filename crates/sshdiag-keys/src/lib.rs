//! `sshdiag-keys` reads the private key formats a page user rarely needs — PKCS#8 (plain and
//! encrypted), legacy PEM (`BEGIN RSA/EC PRIVATE KEY`, plain and encrypted) and PuTTY `.ppk`
//! (versions 2 and 3) — as a wasm module of its own (`sshdiag_keys.js` and
//! `sshdiag_keys_bg.wasm` beside `sshdiag_web.js`). Their code (DER, PKCS#5/#8, PBKDF2, scrypt,
//! Argon2, BLAKE2, MD5, DES…) is a run's cost only when such a key is given, so the run's
//! module (`sshdiag-web`) decodes OpenSSH's own format itself and fetches this one otherwise
//! (its `keys.rs`).
//!
//! ```js
//! import initKeys, { decodeKey } from "./pkg/sshdiag_keys.js";
//! await initKeys();
//! decodeKey(text, passphrase);  // { key: Uint8Array } or { kind, detail, encrypted, keyType }
//! ```
//!
//! `key` is the decoded key in OpenSSH's binary encoding, not encrypted: the caller copies it
//! and zero-fills the array. It makes no connection and keeps nothing between calls: the
//! text and passphrase it was handed and the key's encoding it returns are wiped from this
//! module's memory before `decodeKey` returns. A failure names a kind of fault and the library's text, never a byte of
//! the key or the passphrase. It must never depend on `sshdiag-web` (whose run this module
//! exists to keep small). Everything here is compiled for wasm32 only; on other targets the
//! crate is empty.

#[cfg(target_arch = "wasm32")]
mod decode;

#[cfg(target_arch = "wasm32")]
pub use decode::decode_key;
