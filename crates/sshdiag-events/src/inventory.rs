//! The host key inventory's data (`HOSTKEY_INVENTORY`, and the bundle's `server.host_keys`):
//! every host key the server has, as far as this run learned them, and which trusted key
//! (a `known_hosts` line, or the key a browser stored) each one matches.
//!
//! Two sources fill it: the server's own announcement after login (OpenSSH's
//! `hostkeys-00@openssh.com`, each key then proven with `hostkeys-prove-00@openssh.com`), and,
//! only when asked, one key exchange per key type before authentication (as ssh-audit does).
//! Only public facts: key types and SHA-256 fingerprints, never a key itself. This module only
//! defines the types; it never does I/O.

use serde::{Deserialize, Serialize};

/// Where the inventory's keys come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(rename_all = "snake_case")]
pub enum InventorySource {
    /// The server announced them after login (`hostkeys-00@openssh.com`).
    Announced,
    /// One key exchange per key type, each ended before authentication (asked for).
    Scan,
}

/// One host key the server has.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct InventoryKey {
    /// The key type: `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, …
    pub algorithm: String,
    /// `SHA256:…` as OpenSSH prints it.
    pub fingerprint_sha256: String,
    /// Whether the server proved it holds the private key: by its signature in a key exchange
    /// (a scan, and the key this run's connection used), or in answer to
    /// `hostkeys-prove-00@openssh.com`. `false` for an announced key whose proof failed: such
    /// a key must not be trusted.
    pub proven: bool,
    /// True for the key this run's own connection was shown.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub presented: bool,
    /// Where this exact key is trusted: `FILE:LINE` of a `known_hosts` line, or
    /// `this browser` for the key a page stored. Absent when no trusted key matches it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_at: Option<String>,
    /// Why the key of this type could not be taken (a scan's exchange that failed), when the
    /// fingerprint is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A key trusted for this host, and whether the server still has it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct TrustedKey {
    /// The key's type as the trust store names it.
    pub algorithm: String,
    /// `SHA256:…`.
    pub fingerprint_sha256: String,
    /// Where it is trusted: `FILE:LINE`, or `this browser`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// True when one of the server's keys is this key. False: the server no longer has it
    /// (a stale line, or a key that changed when a key of the same type is listed).
    pub matched: bool,
}

/// `HOSTKEY_INVENTORY`: the server's host keys and the trusted ones compared.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct HostkeyInventoryData {
    /// Where the keys come from.
    pub source: Option<InventorySource>,
    /// The server's keys, one per type.
    #[serde(default)]
    pub keys: Vec<InventoryKey>,
    /// The keys trusted for this host and port, each marked whether the server has it.
    #[serde(default)]
    pub trusted: Vec<TrustedKey>,
}
