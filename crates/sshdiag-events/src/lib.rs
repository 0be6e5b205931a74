//! `sshdiag-events` defines everything sshdiag puts on a wire or into a file: the JSONL event
//! stream ([`event`], written and read by [`jsonl`]), the error taxonomy and message-code
//! catalog ([`codes`]), the plain headline of each outcome ([`headline`]), the algorithm audit's findings ([`audit`]), the host key inventory ([`inventory`]), the relay's control frames ([`relay`]), the evidence bundle
//! ([`bundle`]), free-text secret scrubbing ([`scrub`]) and the bundle's redaction ([`redact`]).
//!
//! Architecture invariant: this crate does no I/O and knows nothing of SSH libraries, sockets or
//! browsers. It compiles for native targets and for `wasm32-unknown-unknown` alike, so the page,
//! the CLI, the relay, the viewer and the tests all read and write through the very same types
//! (every wire type is `serde`, so the web crate can hand them to JavaScript as they are).
//!
//! API boundary: only this crate decides what a line, a frame or a bundle looks like. Other
//! crates build events with [`jsonl::EventCollector`] (or [`Event`] directly), hand them to
//! [`Bundle::from_session`], and write what [`jsonl::to_line`] and [`Bundle::to_json`] give.
//! Every public item is documented (`missing_docs` warns), since scripts, portals and the
//! viewer read these types.

#![warn(missing_docs)]

pub mod audit;
pub mod bundle;
pub mod civil;
pub mod codes;
pub mod event;
pub mod headline;
pub mod hop;
pub mod inventory;
pub mod jsonl;
pub mod outcome;
pub mod precision;
pub mod redact;
pub mod relay;
pub mod scrub;

pub use bundle::{
    Bundle, BundleError, IntegrityStatus, MAX_BUNDLE_BYTES, SessionInfo, SessionView, ToolInfo,
    TranscriptEntry,
};
pub use codes::{Code, ErrorType, Layer};
pub use event::*;
pub use headline::headline;
pub use hop::Hop;
pub use jsonl::{EventBuilder, EventCollector, JsonlRead, LineError, read_jsonl, to_line};
pub use precision::round_thousandths;
pub use scrub::scrub_secrets;
