//! The CLI's host-key trust store: an OpenSSH `known_hosts` file, read once before the run,
//! appended to when a new key is accepted (`accept-new`).

use std::io::Write;
use std::path::PathBuf;

use sshdiag_core::hostkey::{HostKeyInfo, KnownHosts, TrustStore};

pub struct FileTrustStore {
    path: Option<PathBuf>,
    known: KnownHosts,
}

impl FileTrustStore {
    /// A missing or unreadable file is an empty store, as for OpenSSH.
    pub fn open(path: Option<PathBuf>) -> Self {
        let text = path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        let name = path.as_ref().map(|p| p.display().to_string());
        FileTrustStore {
            known: KnownHosts::parse_named(&text, name.as_deref().unwrap_or("known_hosts")),
            path,
        }
    }
}

impl TrustStore for FileTrustStore {
    fn lookup(&self, host: &str, port: u16) -> Vec<HostKeyInfo> {
        self.known.lookup(host, port)
    }

    fn revoked(&self, host: &str, port: u16) -> Vec<HostKeyInfo> {
        self.known.revoked(host, port)
    }

    fn cert_authorities(&self, host: &str, port: u16) -> Vec<HostKeyInfo> {
        self.known.cert_authorities(host, port)
    }

    fn remember(&mut self, host: &str, port: u16, key: &HostKeyInfo) -> Result<(), String> {
        self.known.add(host, port, key);
        let (Some(path), Some(line)) = (&self.path, KnownHosts::line_for(host, port, key)) else {
            return Ok(());
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        f.write_all(line.as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}
