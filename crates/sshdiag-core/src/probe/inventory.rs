//! The host key inventory: every host key the server has, compared with the trusted ones, as
//! a `HOSTKEY_INVENTORY` event (`sshdiag-events`' `inventory` module).
//!
//! Two ways, never more connections than asked for:
//! - after login, from what the server announces itself (OpenSSH's `hostkeys-00@openssh.com`,
//!   sent right after authentication): no extra connection; each key is then proven with
//!   `hostkeys-prove-00@openssh.com`, one round trip (the server signs with every key), so an
//!   announced key that fails its proof is listed as unproven and never taken for the server's;
//! - when asked (`ProbeOptions::host_key_inventory`), after the attempts: one extra key
//!   exchange per key type the server offers, each restricted to that type and ended when the
//!   key is seen, before authentication (as ssh-audit does). Never by default: extra
//!   unauthenticated connections are what PerSourcePenalties and fail2ban punish. Not through
//!   jump hosts.
//!
//! Neither way ever fails the run; what goes wrong is the inventory's own text. The failure of
//! a key of another type than the trusted ones (`host-key-type-changed`) is made here too.

use std::sync::{Arc, Mutex};

use russh::client;
use russh::keys::{Algorithm, PublicKey};
use serde_json::json;
use sshdiag_events::{
    Code, ErrorType, EventData, HostkeyInventoryData, InventoryKey, InventorySource, Level,
    TrustedKey,
};

use super::attempt::Session;
use super::handshake::{BoxedStream, ProbeHandler};
use crate::failure::Failure;
use crate::hints;
use crate::hostkey::{HostKeyInfo, key_type};
use crate::transport::Connector;

/// How long a run waits for an OpenSSH server's announcement after login (one round trip).
const ANNOUNCEMENT_WAIT_MS: u64 = 2_000;

impl Session<'_> {
    /// Keys of other types are trusted for this host, none of the presented one's type.
    pub(super) fn host_key_type_changed(&self, info: &HostKeyInfo) -> Failure {
        let (host, port) = (&self.opts.host, self.opts.port);
        let trusted = &self.at.trusted_keys;
        let known: Vec<String> = trusted
            .iter()
            .map(|t| {
                let at = t
                    .source
                    .as_deref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default();
                format!("{} {}{at}", t.algorithm, t.fingerprint_sha256)
            })
            .collect();
        let (alg, fp) = (
            crate::hostkey::key_type(&info.algorithm),
            &info.fingerprint_sha256,
        );
        let known_types: Vec<&str> = trusted
            .iter()
            .map(|t| crate::hostkey::key_type(&t.algorithm))
            .collect();
        Failure::new(
            ErrorType::HostKeyMismatch,
            format!(
                "{host}:{port} presented its {alg} host key {fp}, but only keys of other types are trusted for it: {}",
                known.join(", ")
            ),
        )
        .code(Code::HostKeyTypeChanged)
        .summary(format!(
            "{host}:{port} presented a {alg} host key, but the key trusted for it is of another type ({}): most likely the server now prefers or only has another key type, not a changed key.",
            known_types.join(", ")
        ))
        .ctx("expected_fingerprint", json!(trusted.first().map(|t| t.fingerprint_sha256.clone())))
        .ctx("presented_fingerprint", json!(fp))
        .ctx("algorithm", json!(info.algorithm))
        .ctx("trusted_types", json!(known_types))
        .hints(hints::host_key_type_changed(
            host,
            port,
            alg,
            fp,
            &known,
            self.opts.host_key_inventory,
        ))
    }

    /// After login: the keys the server announced, each proven, as the inventory. Nothing when
    /// the server announces none (not OpenSSH, or older than 6.8).
    pub async fn announced_host_keys(&mut self, handle: &client::Handle<ProbeHandler>) {
        self.drain_notes();
        if self.at.announced_keys.is_none() && self.server_announces_keys() {
            // The announcement follows the login at once: after one round trip it is read.
            let _ = self.within(ANNOUNCEMENT_WAIT_MS, handle.send_ping()).await;
            self.drain_notes();
        }
        let Some(keys) = self.at.announced_keys.take() else {
            return;
        };
        let proven = self.prove(handle, &keys).await;
        let found = keys
            .iter()
            .zip(proven)
            .map(|(key, proven)| self.inventory_key(&HostKeyInfo::from_public_key(key), proven))
            .collect();
        self.emit_inventory(InventorySource::Announced, found);
    }

    /// OpenSSH 6.8 and later announce their host keys after login.
    fn server_announces_keys(&self) -> bool {
        (self.at.server_software.as_deref())
            .and_then(crate::hints::openssh_version)
            .is_some_and(|v| v >= (6, 8))
    }

    /// Whether the server proves it holds each key: all in one request, and when that is
    /// refused, one by one, so one bad proof does not hide the others.
    async fn prove(&self, handle: &client::Handle<ProbeHandler>, keys: &[PublicKey]) -> Vec<bool> {
        let wait = self.opts.connect_timeout_ms;
        let all = self
            .within(wait, handle.hostkeys_prove(keys.to_vec()))
            .await;
        if matches!(all, Some(Ok(()))) {
            return vec![true; keys.len()];
        }
        let mut proven = Vec::with_capacity(keys.len());
        for key in keys {
            let one = self
                .within(wait, handle.hostkeys_prove(vec![key.clone()]))
                .await;
            proven.push(matches!(one, Some(Ok(()))));
        }
        proven
    }

    async fn within<F: std::future::Future>(&self, ms: u64, work: F) -> Option<F::Output> {
        let timer = self.env.sleep(ms);
        tokio::pin!(work, timer);
        tokio::select! {
            r = &mut work => Some(r),
            _ = &mut timer => None,
        }
    }

    /// One key of the inventory, with the trusted key it is (if any).
    fn inventory_key(&self, info: &HostKeyInfo, proven: bool) -> InventoryKey {
        let fp = &info.fingerprint_sha256;
        let presented =
            (self.at.hostkey.as_ref()).is_some_and(|(p, _)| &p.fingerprint_sha256 == fp);
        let trusted_at = (self.at.trusted_keys.iter())
            .find(|t| &t.fingerprint_sha256 == fp)
            .map(|t| t.source.clone().unwrap_or_else(|| "trusted".into()));
        InventoryKey {
            algorithm: key_type(&info.algorithm).to_string(),
            fingerprint_sha256: fp.clone(),
            proven,
            presented,
            trusted_at,
            error: None,
        }
    }

    fn emit_inventory(&mut self, source: InventorySource, keys: Vec<InventoryKey>) {
        let trusted: Vec<TrustedKey> = (self.at.trusted_keys.iter())
            .map(|t| TrustedKey {
                algorithm: t.algorithm.clone(),
                fingerprint_sha256: t.fingerprint_sha256.clone(),
                source: t.source.clone(),
                matched: keys
                    .iter()
                    .any(|k| k.proven && k.fingerprint_sha256 == t.fingerprint_sha256),
            })
            .collect();
        // A trusted key the server no longer has, or a key it could not prove, is worth a look.
        let warn = trusted.iter().any(|t| !t.matched) || keys.iter().any(|k| !k.proven);
        let level = if warn { Level::Warn } else { Level::Info };
        let data = HostkeyInventoryData {
            source: Some(source),
            keys,
            trusted,
        };
        self.rec.emit(
            level,
            Code::HostkeyInventory,
            EventData::HostkeyInventory(data),
        );
    }

    /// When asked: one key exchange per key type the server offers (the type this run was
    /// shown needs none), then the inventory. Returns the keys, for the verdict's hints.
    pub async fn scan_host_keys<C: Connector>(
        &mut self,
        connector: &mut C,
    ) -> Option<Vec<InventoryKey>> {
        let server = self.at.server_proposal.clone()?;
        if !self.opts.jump.is_empty() {
            return None;
        }
        let presented = self.at.hostkey.as_ref().map(|(info, _)| info.clone());
        let mut keys = Vec::new();
        for (kind, algorithms) in types_offered(&server.host_key) {
            if let Some(info) = presented
                .as_ref()
                .filter(|p| key_type(&p.algorithm) == kind)
            {
                // Its signature was checked before the trust decision: proven.
                keys.push(self.inventory_key(info, true));
                continue;
            }
            keys.push(match self.take_key(connector, algorithms).await {
                Ok(info) => self.inventory_key(&info, true),
                Err(error) => InventoryKey {
                    algorithm: kind,
                    error: Some(error),
                    ..Default::default()
                },
            });
        }
        self.emit_inventory(InventorySource::Scan, keys.clone());
        Some(keys)
    }

    /// One extra connection whose key exchange allows only `algorithms`: the key it shows.
    async fn take_key<C: Connector>(
        &self,
        connector: &mut C,
        algorithms: Vec<Algorithm>,
    ) -> Result<HostKeyInfo, String> {
        let mut config = self.client_config().map_err(|f| f.message)?;
        config.preferred.key = algorithms.into();
        let seen = Arc::new(Mutex::new(None));
        let handler = ProbeHandler::key_taker(self.env.clone(), seen.clone());
        let work = async {
            let stream: BoxedStream = Box::new(self.extra_stream(connector).await?);
            // The handler refuses the key, so this ends before authentication.
            let ended = client::connect_stream(Arc::new(config), stream, handler).await;
            let taken = seen.lock().ok().and_then(|mut s| s.take());
            taken.ok_or_else(|| match ended {
                Err(e) => format!("no key: {}", crate::failure::scrub(&e.to_string())),
                Ok(_) => "no key was shown".to_string(),
            })
        };
        let wait = self.opts.connect_timeout_ms;
        self.within(wait, work)
            .await
            .unwrap_or_else(|| Err(format!("no key within {wait} ms")))
    }
}

/// The key types a server offers (its KEXINIT's host key list), each with the algorithms
/// this client can use for it, in the server's order. Certificates and types russh cannot
/// verify are left out.
fn types_offered(offer: &[String]) -> Vec<(String, Vec<Algorithm>)> {
    let usable = crate::algorithms::supported_host_key();
    let mut types: Vec<(String, Vec<Algorithm>)> = Vec::new();
    for name in offer.iter().filter(|n| usable.contains(&n.as_str())) {
        let Ok(algorithm) = name.parse::<Algorithm>() else {
            continue;
        };
        let kind = key_type(name).to_string();
        match types.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, list)) => list.push(algorithm),
            None => types.push((kind, vec![algorithm])),
        }
    }
    types
}

/// What a scan says about a host key failure: for each trusted key, whether the server still
/// has it (only another type is preferred), has another key of its type (it changed), or has
/// no key of its type any more.
pub fn scan_conclusions(keys: &[InventoryKey], trusted: &[HostKeyInfo]) -> Vec<String> {
    let mut out = Vec::new();
    for t in trusted {
        let kind = key_type(&t.algorithm);
        let at = t.source.as_deref().unwrap_or("trusted");
        let fp = &t.fingerprint_sha256;
        let same_type = keys
            .iter()
            .find(|k| k.algorithm == kind && k.error.is_none());
        out.push(match same_type {
            Some(k) if &k.fingerprint_sha256 == fp => format!(
                "The inventory shows the server still has the trusted {kind} key {fp} ({at}): that key did not change; the server only presented another type."
            ),
            Some(k) => format!(
                "The inventory shows the server's {kind} key is now {}, not the trusted {fp} ({at}): that key really changed. Verify it with the server's administrator before trusting it.",
                k.fingerprint_sha256
            ),
            None => format!(
                "The inventory shows the server has no {kind} key any more: the trusted {fp} ({at}) is gone (removed, or its type disabled)."
            ),
        });
    }
    out
}
