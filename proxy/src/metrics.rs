//! The relay's metrics, exposed at `GET /metrics` in the Prometheus text format (version
//! 0.0.4), written by hand: a handful of counters, one gauge and one histogram do not need a
//! metrics framework.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `sshdiag_proxy_connections_total` | counter | `result`: `connected`, or the error code that ended the attempt (`denied`, `denied-private-address`, `token-invalid`, `token-expired`, `dns-failed`, `tcp-refused`, `tcp-timeout`, `host-unreachable`, `limit`, `bad-frame`, `handshake-timeout`, `client-gone` (closed before connecting), `shutdown`) |
//! | `sshdiag_proxy_active_connections` | gauge | |
//! | `sshdiag_proxy_pending_connections` | gauge | | sockets that have not completed the upgrade and the connect frame |
//! | `sshdiag_proxy_bytes_total` | counter | `direction`: `up` (client→target), `down` (target→client) |
//! | `sshdiag_proxy_connect_seconds` | histogram | |
//! | `sshdiag_proxy_denied_total` | counter | `reason`: `denied`, `denied-private-address`, `token-invalid`, `token-expired`, `origin` |
//! | `sshdiag_proxy_limit_total` | counter | `limit`: a [`Limit`] name (`max-connections`, `max-per-ip`, `frame-size`, `idle-timeout`, `max-session`, `handshake-timeout`, `max-pending`, `max-pending-per-ip`, `header-timeout`, `write-buffer`) |
//! | `sshdiag_proxy_bad_frames_total` | counter | |
//!
//! Architecture invariant: label values come from fixed lists in code, never from client
//! input, so a client cannot blow up the number of series.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::limit::Limit;

/// Upper bounds (seconds) of the connect-time histogram buckets.
const CONNECT_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// All of the relay's metrics. Shared by every session.
#[derive(Default)]
pub struct Metrics {
    connections: Mutex<BTreeMap<&'static str, u64>>,
    denied: Mutex<BTreeMap<&'static str, u64>>,
    limits: Mutex<BTreeMap<&'static str, u64>>,
    bad_frames: AtomicU64,
    active: AtomicI64,
    pending: AtomicI64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    connect_buckets: [AtomicU64; CONNECT_BUCKETS.len()],
    connect_count: AtomicU64,
    connect_sum_micros: AtomicU64,
}

fn bump(map: &Mutex<BTreeMap<&'static str, u64>>, label: &'static str) {
    let mut map = match map.lock() {
        Ok(map) => map,
        Err(poisoned) => poisoned.into_inner(),
    };
    *map.entry(label).or_insert(0) += 1;
}

fn snapshot(map: &Mutex<BTreeMap<&'static str, u64>>) -> BTreeMap<&'static str, u64> {
    match map.lock() {
        Ok(map) => map.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

impl Metrics {
    /// Counts one finished connect attempt by how it ended.
    pub fn connection(&self, result: &'static str) {
        bump(&self.connections, result);
    }

    pub fn denied(&self, reason: &'static str) {
        bump(&self.denied, reason);
    }

    pub fn limit(&self, limit: Limit) {
        bump(&self.limits, limit.as_str());
    }

    pub fn bad_frame(&self) {
        self.bad_frames.fetch_add(1, Ordering::Relaxed);
    }

    pub fn session_started(&self) {
        self.active.fetch_add(1, Ordering::Relaxed);
    }

    pub fn session_ended(&self) {
        self.active.fetch_sub(1, Ordering::Relaxed);
    }

    /// A socket was accepted and has not yet completed the upgrade and the connect frame.
    pub fn pending_opened(&self) {
        self.pending.fetch_add(1, Ordering::Relaxed);
    }

    /// A pending socket upgraded and sent its connect frame, or closed.
    pub fn pending_closed(&self) {
        self.pending.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn active(&self) -> i64 {
        self.active.load(Ordering::Relaxed)
    }

    pub fn bytes_up(&self, n: u64) {
        self.bytes_up.fetch_add(n, Ordering::Relaxed);
    }

    pub fn bytes_down(&self, n: u64) {
        self.bytes_down.fetch_add(n, Ordering::Relaxed);
    }

    pub fn connect_time(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        for (bound, bucket) in CONNECT_BUCKETS.iter().zip(&self.connect_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.connect_count.fetch_add(1, Ordering::Relaxed);
        self.connect_sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, label: &str, values: BTreeMap<&str, u64>| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for (value, count) in values {
                let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {count}");
            }
        };
        counter(
            "sshdiag_proxy_connections_total",
            "Relayed connection attempts by how they ended (connected, or the error code).",
            "result",
            snapshot(&self.connections),
        );
        counter(
            "sshdiag_proxy_denied_total",
            "Connections refused by policy, token or Origin.",
            "reason",
            snapshot(&self.denied),
        );
        counter(
            "sshdiag_proxy_limit_total",
            "Connections refused or ended because a limit was reached.",
            "limit",
            snapshot(&self.limits),
        );
        let mut bytes = BTreeMap::new();
        bytes.insert("down", self.bytes_down.load(Ordering::Relaxed));
        bytes.insert("up", self.bytes_up.load(Ordering::Relaxed));
        counter(
            "sshdiag_proxy_bytes_total",
            "Bytes relayed; up is client to target, down is target to client.",
            "direction",
            bytes,
        );
        single(
            &mut out,
            "sshdiag_proxy_bad_frames_total",
            "counter",
            "Frames refused as malformed or out of protocol.",
            self.bad_frames.load(Ordering::Relaxed),
        );
        single(
            &mut out,
            "sshdiag_proxy_active_connections",
            "gauge",
            "Relayed WebSockets open right now.",
            self.active(),
        );
        single(
            &mut out,
            "sshdiag_proxy_pending_connections",
            "gauge",
            "Sockets that have not completed the upgrade and the connect frame.",
            self.pending.load(Ordering::Relaxed),
        );

        let name = "sshdiag_proxy_connect_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time to establish the TCP connection to the target."
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (bound, bucket) in CONNECT_BUCKETS.iter().zip(&self.connect_buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.connect_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.connect_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
        out
    }
}

/// One series without labels: its `HELP` and `TYPE` lines, then its value.
fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_metric() {
        let metrics = Metrics::default();
        metrics.connection("connected");
        metrics.denied("denied-private-address");
        metrics.bytes_up(10);
        metrics.connect_time(Duration::from_millis(3));
        let text = metrics.render();
        assert!(text.contains("sshdiag_proxy_connections_total{result=\"connected\"} 1"));
        assert!(text.contains("sshdiag_proxy_denied_total{reason=\"denied-private-address\"} 1"));
        assert!(text.contains("sshdiag_proxy_bytes_total{direction=\"up\"} 10"));
        assert!(text.contains("sshdiag_proxy_active_connections 0"));
        assert!(text.contains("sshdiag_proxy_connect_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("sshdiag_proxy_connect_seconds_bucket{le=\"0.001\"} 0"));
        assert!(text.contains("sshdiag_proxy_connect_seconds_count 1"));
    }
}
