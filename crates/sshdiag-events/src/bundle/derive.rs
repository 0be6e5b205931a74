//! The one derivation of a session's facts from its events: `verdict` from the `VERDICT` event
//! (or the `ERROR` event), `algorithms` from the `KEX` events, `server` from `VERSION`,
//! `HOSTKEY`, `HOSTKEY_INVENTORY` and the source address in `CONNECT`, `timing` from the verdict's phases and the event timestamps, `disconnect_reason`
//! from `DISCONNECT`, `error_context` from `ERROR`, `audit` from `AUDIT`.
//!
//! [`Bundle::from_session`](super::Bundle::from_session) fills the bundle's sections from it, and
//! the page's view of a running session ([`super::view`]) is made from it too, so the page, the
//! CLI and the viewer can never disagree about a session. This module only reads events; it
//! never does I/O and never adds text that was not in them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Algorithms, BundleVerdict, ServerHostKey, ServerInfo, Timing};
use crate::codes::{ErrorType, Phase};
use crate::event::{
    AuditData, ConnectData, DisconnectReason, ErrorData, Event, EventData, HostkeyData,
    VerdictData, VersionData,
};
use crate::precision::round_thousandths;

/// Everything derived from a session's events: the bundle's derived sections.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct Derived {
    /// The outcome; see [`BundleVerdict`].
    pub verdict: BundleVerdict,
    /// The negotiated algorithms and both proposals.
    pub algorithms: Algorithms,
    /// What the server said about itself.
    pub server: ServerInfo,
    /// Durations of the connection, the login, the whole session and each phase.
    pub timing: Timing,
    /// Why the session ended, from the last `DISCONNECT` event.
    pub disconnect_reason: Option<DisconnectReason>,
    /// The last `ERROR` event's data, when the session failed.
    pub error_context: Option<ErrorData>,
    /// The algorithm audit's findings in event order, or `None` when the audit did not run.
    pub audit: Option<Vec<AuditData>>,
}

/// Derives a session's facts from its events (see the module docs). Events are expected with
/// finite timestamps, as [`Bundle::from_session`](super::Bundle::from_session) makes them.
pub fn derive_from_events(events: &[Event]) -> Derived {
    let verdict_data = events.iter().rev().find_map(|e| match &e.data {
        EventData::Verdict(v) => Some(v),
        _ => None,
    });
    let error = events.iter().rev().find_map(|e| match &e.data {
        EventData::Error(d) => Some((e.code.clone(), d.clone())),
        _ => None,
    });
    // Kept, not collected: a map collected from an iterator is sorted first, and the stable
    // sort for this one type was 4 KB of the run's wasm module (issue 17).
    let mut phases: BTreeMap<Phase, f64> =
        verdict_data.map(|v| v.phases.clone()).unwrap_or_default();
    phases.retain(|_, ms| ms.is_finite());
    let audit: Vec<AuditData> = events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::Audit(a) => Some(a.clone()),
            _ => None,
        })
        .collect();
    Derived {
        verdict: derive_verdict(verdict_data, error.as_ref()),
        algorithms: derive_algorithms(events),
        server: derive_server(events),
        timing: derive_timing(events, phases),
        disconnect_reason: events.iter().rev().find_map(|e| match &e.data {
            EventData::Disconnect(d) => Some(d.reason),
            _ => None,
        }),
        error_context: error.map(|(_, data)| data),
        audit: if audit.is_empty() { None } else { Some(audit) },
    }
}

fn derive_verdict(
    verdict: Option<&VerdictData>,
    error: Option<&(String, ErrorData)>,
) -> BundleVerdict {
    if let Some(v) = verdict {
        return BundleVerdict {
            ok: v.ok,
            layer: v.layer,
            error_type: v.error_type,
            code: v.code.clone(),
            summary: v.summary.clone(),
            hints: v.hints.clone(),
        };
    }
    if let Some((code, e)) = error {
        let error_type = ErrorType::from_wire(&e.error_type);
        return BundleVerdict {
            ok: false,
            layer: e.layer.or(error_type.map(ErrorType::layer)),
            error_type,
            code: code.clone(),
            summary: e.message.clone(),
            hints: e.hints.clone(),
        };
    }
    BundleVerdict {
        ok: false,
        layer: None,
        error_type: None,
        code: String::new(),
        summary: "The event stream ends without a verdict, so the session did not finish."
            .to_string(),
        hints: Vec::new(),
    }
}

fn derive_algorithms(events: &[Event]) -> Algorithms {
    let mut algorithms = Algorithms::default();
    for event in events {
        let EventData::Kex(kex) = &event.data else {
            continue;
        };
        if kex.client_proposal.is_some() {
            algorithms.client_proposal = kex.client_proposal.clone();
        }
        if kex.server_proposal.is_some() {
            algorithms.server_proposal = kex.server_proposal.clone();
        }
        let n = &kex.negotiated;
        let slots = [
            (&mut algorithms.kex, &n.kex),
            (&mut algorithms.host_key, &n.host_key),
            (&mut algorithms.cipher_cs, &n.cipher_cs),
            (&mut algorithms.cipher_sc, &n.cipher_sc),
            (&mut algorithms.mac_cs, &n.mac_cs),
            (&mut algorithms.mac_sc, &n.mac_sc),
            (&mut algorithms.compression_cs, &n.compression_cs),
            (&mut algorithms.compression_sc, &n.compression_sc),
        ];
        for (slot, value) in slots {
            if value.is_some() {
                slot.clone_from(value);
            }
        }
        if n.strict_kex.is_some() {
            algorithms.strict_kex = n.strict_kex;
        }
        if n.server_sig_algs.is_some() {
            algorithms.server_sig_algs.clone_from(&n.server_sig_algs);
        }
    }
    algorithms
}

fn derive_server(events: &[Event]) -> ServerInfo {
    let mut server = ServerInfo::default();
    for event in events {
        match &event.data {
            EventData::Version(VersionData {
                client_version,
                server_version,
                server_software,
                ..
            }) => {
                if !client_version.is_empty() {
                    server.client_version = Some(client_version.clone());
                }
                if !server_version.is_empty() {
                    server.banner = Some(server_version.clone());
                    server.software = server_software
                        .clone()
                        .or_else(|| software_from_banner(server_version));
                }
            }
            // The connected `CONNECT` names the source: our own end for direct TCP, the
            // relay's end (from its `connected` frame) through a relay.
            EventData::Connect(ConnectData {
                source: Some(source),
                ..
            }) if !source.is_empty() => server.source = Some(source.clone()),
            // A scan (asked for) lists every type; it wins over an announcement before it.
            EventData::HostkeyInventory(inventory) => {
                server.host_keys = Some(inventory.clone());
            }
            EventData::Hostkey(HostkeyData {
                algorithm,
                fingerprint_sha256,
                ..
            }) if !fingerprint_sha256.is_empty() => {
                server.host_key = Some(ServerHostKey {
                    algorithm: algorithm.clone(),
                    fingerprint_sha256: fingerprint_sha256.clone(),
                });
            }
            _ => {}
        }
    }
    server
}

/// `SSH-2.0-OpenSSH_9.2p1 Debian-2` → `OpenSSH_9.2p1`.
pub fn software_from_banner(banner: &str) -> Option<String> {
    let rest = banner.trim().strip_prefix("SSH-")?;
    let (_protocol, software) = rest.split_once('-')?;
    let software = software.split_whitespace().next()?;
    Some(software.to_string())
}

fn derive_timing(events: &[Event], phases: BTreeMap<Phase, f64>) -> Timing {
    // Connecting is every phase before authentication.
    let connect: f64 = Phase::ALL
        .iter()
        .take_while(|phase| **phase != Phase::Auth)
        .filter_map(|phase| phases.get(phase))
        .sum();
    let auth = phases.get(&Phase::Auth).copied().unwrap_or(0.0);
    let total = match (events.first(), events.last()) {
        (Some(first), Some(last)) => ((last.timestamp - first.timestamp) * 1000.0).round(),
        _ => 0.0,
    };
    Timing {
        connect_duration_ms: round_thousandths(connect),
        auth_duration_ms: round_thousandths(auth),
        total_duration_ms: if total.is_finite() {
            total.max(0.0)
        } else {
            0.0
        },
        phases,
    }
}
