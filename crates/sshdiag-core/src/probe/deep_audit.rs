//! The deep audit's stage: when asked (`ProbeOptions::deep_audit`) and the server offers a
//! group-exchange key exchange, one extra connection through the same connector measures the
//! group it hands out (`gex.rs`), and the finding joins the audit as an `AUDIT` event.
//!
//! It never runs by default, never more than one connection per run, never through jump hosts
//! (it says so instead), and never fails the run: whatever goes wrong is the finding's text.

use sshdiag_events::{Code, EventData, Level};

use super::attempt::Session;
use crate::audit::dh_group_finding;
use crate::gex::{GEX_KEX, measure};
use crate::transport::Connector;

impl Session<'_> {
    /// Measure the group-exchange group, when the server's offer (as this run saw it) has a
    /// group-exchange method; nothing when it has none or the offer was never seen.
    pub async fn deep_audit<C: Connector>(&mut self, connector: &mut C) {
        let Some(server) = &self.at.server_proposal else {
            return;
        };
        let Some(method) = GEX_KEX
            .iter()
            .copied()
            .find(|m| server.kex.iter().any(|k| k == m))
        else {
            return;
        };
        let measured = if self.opts.jump.is_empty() {
            let work = async { measure(self.extra_stream(connector).await?, method).await };
            let timer = self.env.sleep(self.opts.connect_timeout_ms);
            tokio::pin!(work, timer);
            tokio::select! {
                r = &mut work => r,
                _ = &mut timer => Err(format!(
                    "no group within {} ms of the extra connection",
                    self.opts.connect_timeout_ms
                )),
            }
        } else {
            Err("the deep audit does not measure through jump hosts".into())
        };
        let finding = dh_group_finding(method, &measured);
        let level = if finding.grade.needs_fix() {
            Level::Warn
        } else {
            Level::Info
        };
        self.rec
            .emit(level, Code::AuditFinding, EventData::Audit(finding.clone()));
        self.at.audit.push(finding);
    }
}
