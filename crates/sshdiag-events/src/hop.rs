//! The `hop` envelope field of a run through jump hosts: which server an event belongs to.
//! Plain data; it never holds anything but a host name and port.

use serde::{Deserialize, Serialize};

/// One server of a jump-host chain: jump hosts are numbered from 0 in the order they are
/// passed through, and the target is the last index (the number of jump hosts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct Hop {
    /// The position in the chain, from 0 (the first jump host).
    pub index: u32,
    /// The host name as given (also its `known_hosts` name).
    pub host: String,
    /// The SSH port.
    pub port: u16,
}
