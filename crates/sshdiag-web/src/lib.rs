//! `sshdiag-web` runs the probe in a browser: a [`transport::BrowserRelayConnector`] over a
//! browser WebSocket to the relay, a clock and timer on `Date.now()`/`setTimeout`, a host-key
//! trust store in `localStorage`, and the `Diagnostics` JS API the page (and any portal that
//! embeds the module) uses. Reading bundles and event logs is the viewer's module
//! (`sshdiag-viewer`), which `Diagnostics.openBundle` fetches on first use (`viewer.rs`); a
//! private key in a format other than OpenSSH's own is decoded by the key-format module
//! (`sshdiag-keys`), which a run fetches only for such a key (`keys.rs`).
//!
//! Architecture invariant: this is the only crate that touches `web-sys`/`js-sys`. Everything
//! here is compiled for wasm32 only; on other targets the crate is empty.

#[cfg(target_arch = "wasm32")]
pub mod api;
#[cfg(target_arch = "wasm32")]
pub mod env;
#[cfg(target_arch = "wasm32")]
mod keys;
#[cfg(target_arch = "wasm32")]
pub mod options;
#[cfg(target_arch = "wasm32")]
pub mod transport;
#[cfg(target_arch = "wasm32")]
pub mod trust;
#[cfg(target_arch = "wasm32")]
pub mod types;
#[cfg(target_arch = "wasm32")]
mod viewer;

/// A JS `Error` with this message, as every refusal of the API is thrown.
#[cfg(target_arch = "wasm32")]
pub(crate) fn js_error(message: impl AsRef<str>) -> wasm_bindgen::JsValue {
    js_sys::Error::new(message.as_ref()).into()
}
