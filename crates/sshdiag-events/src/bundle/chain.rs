//! A bundle's jump-host chain (format 1.1): every server a run was asked to pass through, as the
//! user named it (host, port, user — a front end knows this first-hand, in [`ChainEntry`]),
//! each with the facts of its own events ([`ChainHop`]): banner, key exchange, host key,
//! authentication and audit, derived exactly as the bundle derives the target's, from the
//! events whose `hop` names that server. The viewer names the servers from it ("jump host 1",
//! "target") and shows the ones a failed run never reached.
//!
//! This module only reads events; it never does I/O and adds no text of its own. A redacted
//! bundle pseudonymises each hop's host and user like the target's (see `walk`).

use serde::{Deserialize, Serialize};

use super::derive::derive_from_events;
use super::{Algorithms, ServerInfo};
use crate::event::{AuditData, AuthMethod, AuthStatus, Event, EventData, HostkeyStatus};
use crate::hop::Hop;

/// One jump host as the user named it; the front end hands the chain to
/// [`SessionInfo`](super::SessionInfo)'s `jump`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct ChainEntry {
    /// The host as given (also its `known_hosts` name).
    pub host: String,
    /// The SSH port.
    pub port: u16,
    /// The user it logs in as.
    pub username: String,
}

/// One server of a jump-host chain with its own facts; see the module docs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct ChainHop {
    /// The position in the chain: jump hosts from 0 in the order passed through, the target
    /// last (its index is the number of jump hosts), as the events' `hop` numbers them.
    pub index: u32,
    /// True for the target, false for a jump host.
    pub target: bool,
    /// The host as given (a pseudonym when redacted).
    pub host: String,
    /// The SSH port.
    pub port: u16,
    /// The user it logs in as (a pseudonym when redacted).
    pub username: String,
    /// True when the run reached this server (some event belongs to it).
    pub reached: bool,
    /// What this server said about itself: banner, software, host key, the source it saw.
    pub server: ServerInfo,
    /// This server's negotiated algorithms and both proposals.
    pub algorithms: Algorithms,
    /// What the host key check decided for this server.
    #[serde(default)]
    pub host_key_status: Option<HostkeyStatus>,
    /// The method this server accepted; `None` when the login did not get through.
    #[serde(default)]
    pub auth_method: Option<AuthMethod>,
    /// The methods this server last said can continue.
    #[serde(default)]
    pub methods_available: Option<Vec<String>>,
    /// This server's audit findings, when the audit ran on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<Vec<AuditData>>,
}

impl ChainHop {
    /// The `hop` envelope value of this server.
    pub fn hop(&self) -> Hop {
        Hop {
            index: self.index,
            host: self.host.clone(),
            port: self.port,
        }
    }
}

/// The chain of a run through `jump` (empty: a direct run, `None`) to `target`, each server's
/// facts derived from its own events.
pub(crate) fn chain_from_events(
    jump: &[ChainEntry],
    target: ChainEntry,
    events: &[Event],
) -> Option<Vec<ChainHop>> {
    if jump.is_empty() {
        return None;
    }
    let servers = jump.iter().cloned().chain(std::iter::once(target));
    Some(
        servers
            .enumerate()
            .map(|(i, entry)| hop_facts(i as u32, i == jump.len(), entry, events))
            .collect(),
    )
}

fn hop_facts(index: u32, target: bool, entry: ChainEntry, events: &[Event]) -> ChainHop {
    let own: Vec<Event> = events
        .iter()
        .filter(|e| e.hop.as_ref().is_some_and(|h| h.index == index))
        .cloned()
        .collect();
    let derived = derive_from_events(&own);
    let mut hop = ChainHop {
        index,
        target,
        host: entry.host,
        port: entry.port,
        username: entry.username,
        reached: !own.is_empty(),
        server: derived.server,
        algorithms: derived.algorithms,
        audit: derived.audit,
        ..ChainHop::default()
    };
    for event in &own {
        match &event.data {
            EventData::Hostkey(h) if h.status.is_some() => hop.host_key_status = h.status,
            EventData::Auth(a) => {
                if a.status == Some(AuthStatus::Success) {
                    hop.auth_method = a.method;
                }
                if a.methods_available.is_some() {
                    hop.methods_available.clone_from(&a.methods_available);
                }
            }
            _ => {}
        }
    }
    hop
}
