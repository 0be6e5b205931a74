//! `sshdiag-events` defines everything sshdiag puts on a wire or into a file: the JSONL event
//! stream ([`event`]), the error taxonomy and message-code catalog ([`codes`]), the relay's
//! control frames ([`relay`]), the evidence bundle ([`bundle`]) and its redaction ([`redact`]).
//!
//! Architecture invariant: this crate does no I/O and knows nothing of SSH libraries, sockets or
//! browsers. It compiles for native targets and for `wasm32-unknown-unknown` alike, so the page,
//! the CLI, the relay and the tests all read and write through the very same types.

pub mod codes;
pub mod event;
pub mod relay;

pub use codes::{Code, ErrorType, Layer};
pub use event::*;
