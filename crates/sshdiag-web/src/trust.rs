//! Host keys trusted by this browser: the first key seen for each host:port is kept in
//! `localStorage` under `sshdiag.hostkey.<host>:<port>`; a later different key is a mismatch
//! until the user deliberately trusts the new one ([`forget`]). Each server of a jump-host
//! chain is its own host:port here. The host certificate authorities of a run
//! (`trustedHostCas`) come with the options; the page keeps its list in `localStorage` itself.

use sshdiag_core::hostkey::{HostKeyInfo, KnownHosts, TrustKind, TrustStore};

const PREFIX: &str = "sshdiag.hostkey.";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|w| w.local_storage().ok().flatten())
}

fn key(host: &str, port: u16) -> String {
    format!("{PREFIX}{host}:{port}")
}

#[derive(Default)]
pub struct LocalStorageTrust {
    /// The run's trusted host CAs, as `@cert-authority` lines.
    pub host_cas: KnownHosts,
}

impl TrustStore for LocalStorageTrust {
    /// The browser's stored keys and the run's trusted host CAs, not a `known_hosts` file.
    fn kind(&self) -> TrustKind {
        TrustKind::Browser
    }

    fn lookup(&self, host: &str, port: u16) -> Vec<HostKeyInfo> {
        let Some(s) = storage() else {
            return Vec::new();
        };
        let Ok(Some(v)) = s.get_item(&key(host, port)) else {
            return Vec::new();
        };
        let Ok(j) = serde_json::from_str::<serde_json::Value>(&v) else {
            return Vec::new();
        };
        match (j["algorithm"].as_str(), j["fingerprint_sha256"].as_str()) {
            (Some(a), Some(f)) => vec![HostKeyInfo {
                algorithm: a.into(),
                fingerprint_sha256: f.into(),
                openssh: None,
                source: Some("this browser".into()),
            }],
            _ => Vec::new(),
        }
    }

    fn cert_authorities(&self, host: &str, port: u16) -> Vec<HostKeyInfo> {
        self.host_cas.cert_authorities(host, port)
    }

    fn remember(&mut self, host: &str, port: u16, k: &HostKeyInfo) -> Result<(), String> {
        let s = storage().ok_or("localStorage is not available")?;
        let v = serde_json::json!({"algorithm": k.algorithm, "fingerprint_sha256": k.fingerprint_sha256});
        s.set_item(&key(host, port), &v.to_string())
            .map_err(|_| "localStorage refused the write".to_string())
    }
}

/// Forget the trusted key of host:port (the page's "trust the new key" action).
pub fn forget(host: &str, port: u16) {
    if let Some(s) = storage() {
        let _ = s.remove_item(&key(host, port));
    }
}
