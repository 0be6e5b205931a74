//! `sshdiag-web` runs the probe in a browser: a [`transport::BrowserRelayConnector`] over a
//! browser WebSocket to the relay, a clock and timer on `Date.now()`/`setTimeout`, a host-key
//! trust store in `localStorage`, and the `Diagnostics` JS API the page (and any portal that
//! embeds the module) uses.
//!
//! Architecture invariant: this is the only crate that touches `web-sys`/`js-sys`. Everything
//! here is compiled for wasm32 only; on other targets the crate is empty.

#[cfg(target_arch = "wasm32")]
pub mod api;
#[cfg(target_arch = "wasm32")]
pub mod env;
#[cfg(target_arch = "wasm32")]
pub mod files;
#[cfg(target_arch = "wasm32")]
pub mod options;
#[cfg(target_arch = "wasm32")]
pub mod transport;
#[cfg(target_arch = "wasm32")]
pub mod trust;
#[cfg(target_arch = "wasm32")]
pub mod types;
