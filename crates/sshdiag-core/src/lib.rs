//! `sshdiag-core` is the probe: it speaks real SSH (russh) over whatever transport the caller
//! gives it, turns every step into an event of `sshdiag-events`, and ends with a verdict that
//! names the failing layer and gives hints drawn from the evidence of the run.
//!
//! Architecture invariant: the core is runtime-neutral. It never uses `tokio::net` and never
//! calls `tokio::time`; transport ([`transport::Connector`]), clock and sleep
//! ([`runtime::Env`]) and host-key trust ([`hostkey::TrustStore`]) come from the caller. The
//! same code runs natively (CLI, tests) and in the browser (wasm32).
//!
//! Architecture invariant: secrets ([`options::Secret`]) are handed only to russh; no event,
//! error message or hint ever contains one.

pub mod algorithms;
pub mod audit;
pub mod certificate;
pub mod failure;
pub mod gex;
pub mod hints;
pub mod hostkey;
pub mod keydecode;
pub mod keyfile;
pub mod options;
pub mod prebanner;
pub mod probe;
pub mod report;
pub mod runtime;
pub mod server_log;
pub mod shell_output;
pub mod tap;
pub mod transport;
pub mod wire;

pub use options::{AuthPlan, Credential, JumpHost, ProbeOptions, Secret};
pub use probe::{ProbeReport, run, run_cancellable};
pub use runtime::Env;
