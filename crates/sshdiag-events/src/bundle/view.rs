//! The page's view of a session: what the bundle derives ([`Derived`]) plus the few details of
//! single events the page shows beside it (the client's banner, the host key's status, the
//! mismatch's two fingerprints). The JS API hands it to the page, live during a run (made from
//! the events so far) and in the viewer (made from a bundle or an event log), so the page
//! renders facts and never derives them itself.
//!
//! This module only reads events and bundles; it never does I/O and adds no text of its own.

use serde::{Deserialize, Serialize};

use super::derive::{Derived, derive_from_events};
use super::{Algorithms, Bundle, BundleVerdict, ChainHop, ServerInfo, Timing};
use crate::codes::{Code, ErrorType, Phase};
use crate::event::{
    AuditData, ErrorData, Event, EventData, HostKeyPolicy, HostkeyData, HostkeyStatus, KexStatus,
    Transport, VersionData,
};
use crate::hop::Hop;

/// What the page shows about a session; see the module docs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct SessionView {
    /// The connection id of the first event, if there is one.
    pub connection_id: Option<String>,
    /// True when the session finished: a `VERDICT` event is among the events (always true for
    /// a view of a bundle, whose `verdict` section stands in for it).
    pub finished: bool,
    /// The outcome, as the bundle derives it.
    pub verdict: BundleVerdict,
    /// The outcome in plain words, the first thing a person reads ("The server rejected the
    /// login"; see [`crate::headline`]); the verdict's error type and code go beside it.
    /// Empty while the session runs.
    #[serde(default)]
    pub headline: String,
    /// The negotiated algorithms and both proposals.
    pub algorithms: Algorithms,
    /// What the server said about itself.
    pub server: ServerInfo,
    /// Durations, with the milliseconds of each phase reached in `timing.phases`.
    pub timing: Timing,
    /// The `ERROR` event's data, when the session failed.
    pub error_context: Option<ErrorData>,
    /// The algorithm audit's findings (empty when the audit did not run).
    pub audit: Vec<AuditData>,
    /// The phase a failed session failed in: the verdict's layer when it names a phase, else
    /// the phase its `ERROR` event names (a timeout or a disconnect). `None` for a success.
    pub failed_phase: Option<Phase>,
    /// Our own identification line, from the last `VERSION` event.
    pub client_version: Option<String>,
    /// Lines the server sent before its banner, from the last `VERSION` event.
    pub pre_banner_lines: Vec<String>,
    /// What the host key check decided, from the last `HOSTKEY` event.
    pub host_key_status: Option<HostkeyStatus>,
    /// The policy the host key was checked under, from the last `HOSTKEY` event.
    pub host_key_policy: Option<HostKeyPolicy>,
    /// True when a key exchange failed (no common algorithm in some category).
    pub kex_failed: bool,
    /// Both fingerprints, when the session failed with `HostKeyMismatch`.
    pub host_key_mismatch: Option<HostKeyMismatch>,
    /// The phase a running session is in now, from its last event that ends a step (the page's
    /// live progress); `None` once it has finished.
    #[serde(default)]
    pub phase_in_progress: Option<Phase>,
    /// Through jump hosts: each server the session reached, in chain order, as its events'
    /// `hop` names it (jump hosts from 0, the target last); empty for a direct session.
    pub hops: Vec<Hop>,
    /// Through jump hosts: the server a failed session failed at, the `hop` of its `VERDICT`
    /// (else of its `ERROR`); `None` for a success or a direct session.
    pub failed_hop: Option<Hop>,
    /// Through jump hosts: the server `server`, `algorithms` and the host key facts are of,
    /// the `hop` of the last `VERSION` event; `None` for a direct session.
    pub server_hop: Option<Hop>,
    /// Through jump hosts, when the chain is known (a bundle of format 1.1): how many jump
    /// hosts it has, so a server can be named "jump host 1" or "target"; `None` otherwise.
    #[serde(default)]
    pub jump_hosts: Option<u32>,
    /// Through jump hosts, when the chain is known: every server of it in order with its own
    /// facts (the bundle's `hops`); empty otherwise.
    #[serde(default)]
    pub chain: Vec<ChainHop>,
}

/// The trusted and the presented host key of a `HostKeyMismatch`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct HostKeyMismatch {
    /// The presented key's algorithm, when the `HOSTKEY` event names it.
    pub algorithm: Option<String>,
    /// The fingerprint this client trusted for the host.
    pub expected: Option<String>,
    /// The fingerprint the server presented.
    pub presented: Option<String>,
}

impl SessionView {
    /// The view of a session from its events so far (a running session has no verdict yet:
    /// `finished` is false and `verdict` says the stream has none).
    pub fn from_events(events: &[Event]) -> SessionView {
        let finished = events
            .iter()
            .any(|e| matches!(e.data, EventData::Verdict(_)));
        SessionView::new(events, derive_from_events(events), finished)
    }

    /// The view of a bundle: its derived sections as they are written in it, with the details
    /// of single events taken from its events. A bundle that records its jump-host chain
    /// names every server of it in `hops`, also those a failed run never reached.
    pub fn from_bundle(bundle: &Bundle) -> SessionView {
        let derived = Derived {
            verdict: bundle.verdict.clone(),
            algorithms: bundle.algorithms.clone(),
            server: bundle.server.clone(),
            timing: bundle.timing.clone(),
            disconnect_reason: bundle.disconnect_reason,
            error_context: bundle.error_context.clone(),
            audit: bundle.audit.clone(),
        };
        let mut view = SessionView::new(&bundle.events, derived, true);
        if let Some(chain) = bundle.hops.as_ref().filter(|c| !c.is_empty()) {
            view.jump_hosts = Some(chain.iter().filter(|h| !h.target).count() as u32);
            view.hops = chain.iter().map(ChainHop::hop).collect();
            view.chain = chain.clone();
        }
        view
    }

    fn new(events: &[Event], derived: Derived, finished: bool) -> SessionView {
        let version_event = events
            .iter()
            .rev()
            .find(|e| matches!(e.data, EventData::Version(_)));
        let version = version_event.and_then(|e| match &e.data {
            EventData::Version(v) => Some(v),
            _ => None,
        });
        let hostkeys: Vec<&HostkeyData> = events
            .iter()
            .filter_map(|e| match &e.data {
                EventData::Hostkey(h) => Some(h),
                _ => None,
            })
            .collect();
        let last_hostkey = hostkeys.last().copied();
        let kex_failed = events
            .iter()
            .any(|e| matches!(&e.data, EventData::Kex(k) if k.status == Some(KexStatus::Failed)));
        let failed_phase = failed_phase(&derived.verdict, derived.error_context.as_ref());
        let host_key_mismatch = (derived.verdict.error_type == Some(ErrorType::HostKeyMismatch))
            .then(|| mismatch(&hostkeys, derived.error_context.as_ref()));
        let headline = if finished {
            let v = &derived.verdict;
            crate::headline::headline(v.ok, v.error_type, &v.code).to_string()
        } else {
            String::new()
        };
        // Each hop once (its first event's), in index order: inserted in place, so the run's
        // wasm module needs no sort for it (issue 17).
        let mut hops: Vec<Hop> = Vec::new();
        for hop in events.iter().filter_map(|e| e.hop.as_ref()) {
            if let Err(at) = hops.binary_search_by_key(&hop.index, |h| h.index) {
                hops.insert(at, hop.clone());
            }
        }
        let failed_hop = (!derived.verdict.ok)
            .then(|| {
                let last_of = |error: bool| {
                    events.iter().rev().find(|e| match e.data {
                        EventData::Verdict(_) => !error,
                        EventData::Error(_) => error,
                        _ => false,
                    })
                };
                last_of(false)
                    .and_then(|e| e.hop.clone())
                    .or_else(|| last_of(true).and_then(|e| e.hop.clone()))
            })
            .flatten();
        SessionView {
            headline,
            hops,
            failed_hop,
            server_hop: version_event.and_then(|e| e.hop.clone()),
            jump_hosts: None,
            chain: Vec::new(),
            connection_id: events.first().map(|e| e.connection_id.clone()),
            phase_in_progress: phase_in_progress(events, finished),
            finished,
            failed_phase,
            client_version: version
                .map(|v: &VersionData| v.client_version.clone())
                .filter(|v| !v.is_empty()),
            pre_banner_lines: version
                .map(|v| v.pre_banner_lines.clone())
                .unwrap_or_default(),
            host_key_status: last_hostkey.and_then(|h| h.status),
            host_key_policy: last_hostkey.and_then(|h| h.policy),
            kex_failed,
            host_key_mismatch,
            verdict: derived.verdict,
            algorithms: derived.algorithms,
            server: derived.server,
            timing: derived.timing,
            error_context: derived.error_context,
            audit: derived.audit.unwrap_or_default(),
        }
    }
}

/// The phase a session that has not finished is in: the one after the last step its events
/// report done (the relay or DNS before any).
fn phase_in_progress(events: &[Event], finished: bool) -> Option<Phase> {
    if finished {
        return None;
    }
    let relayed = events.iter().any(
        |e| matches!(&e.data, EventData::Connect(c) if c.transport == Some(Transport::Websocket)),
    );
    let first = if relayed { Phase::Relay } else { Phase::Dns };
    let after = |code: Code| {
        Some(match code {
            Code::ConnectInitiating => first,
            Code::ProxyWsOpen => Phase::Dns,
            Code::ProxyResolved => Phase::Tcp,
            Code::ProxyTcpConnected | Code::ConnectEstablished => Phase::Banner,
            Code::VersionReceived | Code::KexProposals => Phase::Kex,
            Code::KexNegotiated => Phase::Hostkey,
            Code::HostkeyTrusted
            | Code::HostkeyNew
            | Code::HostkeyAcceptedNew
            | Code::HostkeyUnchecked
            | Code::AuthAttempt
            | Code::AuthRejected
            | Code::AuthPartial
            | Code::AuthMethodsListed => Phase::Auth,
            Code::AuthSuccess | Code::ConnectAuthenticated | Code::ExecFinished => Phase::Channel,
            Code::ChannelOpened => Phase::Exec,
            _ => return None,
        })
    };
    let last = events
        .iter()
        .rev()
        .find_map(|e| Code::from_wire(&e.code).and_then(after));
    Some(last.unwrap_or(first))
}

/// The verdict's layer when it is a phase, else the phase the `ERROR` event names.
fn failed_phase(verdict: &BundleVerdict, error: Option<&ErrorData>) -> Option<Phase> {
    if verdict.ok {
        return None;
    }
    let layer_phase = verdict.layer.and_then(|layer| {
        Phase::ALL
            .into_iter()
            .find(|p| p.as_str() == layer.as_str())
    });
    layer_phase.or(error.and_then(|e| e.phase))
}

/// The two fingerprints of a mismatch: from the `HOSTKEY` event that reported it (or the last
/// one), else from the `ERROR` event's context.
fn mismatch(hostkeys: &[&HostkeyData], error: Option<&ErrorData>) -> HostKeyMismatch {
    let reported = hostkeys
        .iter()
        .rev()
        .find(|h| h.status == Some(HostkeyStatus::Mismatch))
        .or(hostkeys.last())
        .copied();
    let context = |key: &str| {
        error
            .and_then(|e| e.context.get(key))
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let non_empty = |value: &str| (!value.is_empty()).then(|| value.to_string());
    HostKeyMismatch {
        algorithm: reported.and_then(|h| non_empty(&h.algorithm)),
        expected: reported
            .and_then(|h| h.expected_fingerprint.as_deref().and_then(non_empty))
            .or_else(|| context("expected_fingerprint")),
        presented: reported
            .and_then(|h| non_empty(&h.fingerprint_sha256))
            .or_else(|| context("fingerprint_sha256")),
    }
}
