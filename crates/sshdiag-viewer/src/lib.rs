//! `sshdiag-viewer` is the bundle viewer of the browser module, built as a second wasm module
//! (`sshdiag_viewer.js` and `sshdiag_viewer_bg.wasm` beside `sshdiag_web.js`): reading an
//! evidence bundle or an event log, checking a bundle's integrity and deriving the page's view
//! of it. A run never needs any of that, so the run's module (`sshdiag-web`) leaves it out and
//! fetches this one on first use (`Diagnostics.openBundle`, `Diagnostics.openEventLog`,
//! `Diagnostics.loadViewer`); a page that only views files can import it alone.
//!
//! ```js
//! import initViewer, { openBundle, openEventLog } from "./pkg/sshdiag_viewer.js";
//! await initViewer();
//! openBundle(text);     // { bundle, integrity, integrityDetail, derived } or throws
//! openEventLog(text);   // { events, errors, derived } from an events.jsonl
//! maxFileBytes();       // the largest file the two read (20 MiB)
//! ```
//!
//! It makes no connection and holds no secret: it reads what the page hands it. It must never
//! depend on `sshdiag-core` or `sshdiag-web` (either would pull the SSH client back into this
//! module), and `sshdiag-web` must never depend on it (its exports would be linked into the run's
//! module). Everything here is compiled for wasm32 only; on other targets the crate is empty.

#[cfg(target_arch = "wasm32")]
mod files;
#[cfg(target_arch = "wasm32")]
mod open;
#[cfg(target_arch = "wasm32")]
pub mod types;

#[cfg(target_arch = "wasm32")]
pub use open::{max_file_bytes, open_bundle, open_event_log};
