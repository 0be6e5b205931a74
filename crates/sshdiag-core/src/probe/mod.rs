//! The probe: one diagnosis from transport to verdict, split by stage.
//!
//! It drives russh over the caller's transport and turns every step into an event as it
//! happens: the connector's steps, then what the [`Tap`](crate::tap) sees (banner, KEXINIT
//! proposals) and what russh's handler reports (host key, negotiated algorithms), then
//! authentication, channels and commands. Whatever happens, the last event is `VERDICT`, and a
//! failure produces exactly one `ERROR` before it.
//!
//! One job per file, each depending only on those before it: [`recorder`] (events and the
//! phase clock), [`attempt`] (the `Session` a stage works with and the per-attempt evidence),
//! [`connect`], `handler` (russh's client handler) and [`handshake`], [`auth`] (stages taking the session handle as an argument),
//! [`supervisor`] (state, retries, keepalives, hold), [`channel`] (exec and the forward probe,
//! with keepalives while a command is silent), [`deep_audit`] (the opt-in extra connection
//! that measures a group-exchange server's group), [`inventory`] (every host key of the server: announced after login, or scanned when asked), [`session_check`] (after authentication: does a
//! command run as sent, does sftp answer, is a terminal allowed), [`verdict`], and [`runner`] (the run and its
//! attempts).
//!
//! Architecture invariant: no secret is ever formatted into an event. Secrets stay in
//! [`Secret`](crate::options::Secret) and are handed only to russh.

pub mod attempt;
pub mod auth;
pub mod channel;
pub mod connect;
pub mod deep_audit;
mod handler;
pub mod handshake;
pub mod inventory;
pub mod jump;
pub mod recorder;
pub mod runner;
pub mod session_check;
pub mod supervisor;
pub mod verdict;

pub use recorder::new_connection_id;
pub use runner::{ProbeReport, run, run_cancellable};
