//! What the viewer's functions return, as Rust types, so the npm package's TypeScript
//! declarations of them are generated (tsify) rather than written by hand. The run's module
//! declares its `Diagnostics.openBundle`/`openEventLog` with these names and imports them from
//! this module's declarations (`sshdiag_viewer.d.ts`).

use serde::Serialize;
use sshdiag_events::jsonl::LineError;
use sshdiag_events::{Bundle, Event, SessionView};
use tsify::Tsify;

/// Whether a bundle is as sshdiag wrote it.
#[derive(Serialize, Tsify)]
#[serde(rename_all = "lowercase")]
pub enum IntegrityCheck {
    /// Its digest matches its contents.
    Valid,
    /// It was edited after it was written.
    Mismatch,
    /// It has no digest.
    Missing,
}

/// Both digests of an edited bundle.
#[derive(Serialize, Tsify)]
pub struct IntegrityDetail {
    /// The digest the bundle carries.
    pub expected: String,
    /// The digest of its contents now.
    pub actual: String,
}

/// What `Diagnostics.openBundle` returns.
#[derive(Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct OpenedBundle {
    /// The bundle (bundle.md).
    pub bundle: Bundle,
    /// Whether it is as sshdiag wrote it.
    pub integrity: IntegrityCheck,
    /// Both digests, when it was edited.
    pub integrity_detail: Option<IntegrityDetail>,
    /// What the page shows about it.
    pub derived: SessionView,
}

/// What `Diagnostics.openEventLog` returns.
#[derive(Serialize, Tsify)]
pub struct OpenedEventLog {
    /// The events that loaded, in order.
    pub events: Vec<Event>,
    /// One entry per line that did not.
    pub errors: Vec<LineError>,
    /// What the page shows about them.
    pub derived: SessionView,
}
