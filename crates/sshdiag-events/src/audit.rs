//! The algorithm audit's findings as they go on the wire (`AUDIT` event data, the bundle's
//! `audit`): the graded algorithm and the fix. The grading itself is the core's; this module
//! only defines the types, never does I/O, and never parses a grade out of text other than
//! the wire names.

use serde::{Deserialize, Serialize};

/// How the algorithm audit grades one finding (lower case on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "lowercase")]
pub enum AuditGrade {
    /// Practical attacks exist: `broken`.
    Broken,
    /// Deprecated, or a missing protection: `weak`.
    Weak,
    /// Worth knowing, nothing to fix urgently (an encrypt-and-MAC MAC whose `-etm` variant
    /// exists): `note`.
    Note,
    /// A check that passed without being notable: `ok`.
    Ok,
    /// A protection worth showing (strict kex, post-quantum key exchange): `good`.
    Good,
}

impl AuditGrade {
    /// Every grade, worst first.
    pub const ALL: [AuditGrade; 5] = [
        AuditGrade::Broken,
        AuditGrade::Weak,
        AuditGrade::Note,
        AuditGrade::Ok,
        AuditGrade::Good,
    ];

    /// The wire name: `broken`, `weak`, `note`, `ok` or `good`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditGrade::Broken => "broken",
            AuditGrade::Weak => "weak",
            AuditGrade::Note => "note",
            AuditGrade::Ok => "ok",
            AuditGrade::Good => "good",
        }
    }

    /// True for the grades that call for a fix (`broken` and `weak`).
    pub fn needs_fix(self) -> bool {
        matches!(self, AuditGrade::Broken | AuditGrade::Weak)
    }
}

impl std::fmt::Display for AuditGrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One graded finding of the algorithm audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct AuditData {
    /// The negotiation category: `kex`, `host_key`, `cipher`, `mac`, `strict_kex`, `post_quantum`,
    /// `dh_group` (the group a group-exchange server handed out, measured by the deep audit).
    #[serde(default)]
    pub category: String,
    /// The algorithm graded.
    #[serde(default)]
    pub algorithm: String,
    /// How serious the finding is.
    pub grade: AuditGrade,
    /// Why, in one line.
    #[serde(default)]
    pub reason: String,
    /// The `sshd_config` line that fixes it, if one does.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fix: Option<String>,
}
