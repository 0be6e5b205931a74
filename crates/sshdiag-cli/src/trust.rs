//! The CLI's host-key trust store: an OpenSSH `known_hosts` file, read once before the run,
//! appended to when a new key is accepted (`accept-new`); a jump host whose ssh_config names
//! a `UserKnownHostsFile` of its own is looked up in, and remembered to, that file instead.

use std::io::Write;
use std::path::PathBuf;

use sshdiag_core::hostkey::{HostKeyInfo, KnownHosts, TrustStore};

pub struct FileTrustStore {
    path: Option<PathBuf>,
    known: KnownHosts,
    /// Servers with a file of their own: host, port and that file's store.
    own: Vec<(String, u16, FileTrustStore)>,
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
            own: Vec::new(),
        }
    }

    /// Uses `path` for `host`:`port` (a jump host's own `UserKnownHostsFile`).
    pub fn with_file_for(mut self, host: &str, port: u16, path: PathBuf) -> Self {
        let store = FileTrustStore::open(Some(path));
        self.own.push((host.to_string(), port, store));
        self
    }

    /// The store that holds `host`:`port`'s keys.
    fn store_for(&self, host: &str, port: u16) -> &FileTrustStore {
        self.own
            .iter()
            .find(|(h, p, _)| h.eq_ignore_ascii_case(host) && *p == port)
            .map_or(self, |(_, _, store)| store)
    }
}

impl TrustStore for FileTrustStore {
    fn lookup(&self, host: &str, port: u16) -> Vec<HostKeyInfo> {
        self.store_for(host, port).known.lookup(host, port)
    }

    fn revoked(&self, host: &str, port: u16) -> Vec<HostKeyInfo> {
        self.store_for(host, port).known.revoked(host, port)
    }

    fn cert_authorities(&self, host: &str, port: u16) -> Vec<HostKeyInfo> {
        self.store_for(host, port)
            .known
            .cert_authorities(host, port)
    }

    fn remember(&mut self, host: &str, port: u16, key: &HostKeyInfo) -> Result<(), String> {
        if let Some((_, _, store)) =
            (self.own.iter_mut()).find(|(h, p, _)| h.eq_ignore_ascii_case(host) && *p == port)
        {
            return store.remember(host, port, key);
        }
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
