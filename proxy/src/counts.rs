//! Places taken per client and in total, for the limits that cap them: relayed sessions
//! (`--max-connections`, `--max-per-ip`) and sockets before their connect frame
//! (`--max-pending`, `--max-pending-per-ip`). Taking and giving back a place, the client key
//! it is counted under and the gauge it moves are written here once for both.
//!
//! It must never give back a place it did not hand out: each successful [`Counts::take`] is
//! paired by its caller with exactly one [`Counts::give_back`] for the key it returned.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::config::Config;
use crate::limit::Limit;
use crate::metrics::Metrics;

/// Which of the relay's gauges a [`Counts`] moves.
#[derive(Debug, Clone, Copy)]
enum Counted {
    Sessions,
    Pending,
}

/// Places taken, per client key (see [`crate::client_key`]) and in total.
pub(crate) struct Counts {
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    total: AtomicUsize,
    counted: Counted,
    /// The most places in total, and the limit that names it.
    total_limit: (usize, Limit),
    /// The most places for one client, and the limit that names it.
    per_ip_limit: (usize, Limit),
}

impl Counts {
    /// Relayed sessions, capped by `--max-connections` and `--max-per-ip`.
    pub(crate) fn sessions(config: &Config) -> Counts {
        Counts::new(
            Counted::Sessions,
            (config.max_connections, Limit::MaxConnections),
            (config.max_per_ip, Limit::MaxPerIp),
        )
    }

    /// Sockets before their connect frame, capped by `--max-pending` and
    /// `--max-pending-per-ip`.
    pub(crate) fn pending(config: &Config) -> Counts {
        Counts::new(
            Counted::Pending,
            (config.max_pending, Limit::MaxPending),
            (config.max_pending_per_ip, Limit::MaxPendingPerIp),
        )
    }

    fn new(counted: Counted, total_limit: (usize, Limit), per_ip_limit: (usize, Limit)) -> Counts {
        Counts {
            per_ip: Mutex::new(HashMap::new()),
            total: AtomicUsize::new(0),
            counted,
            total_limit,
            per_ip_limit,
        }
    }

    /// Places taken right now.
    pub(crate) fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    /// Takes a place for the client at `ip` and counts it in `metrics`; returns the key it
    /// is counted under, or the limit that refuses it (the total is checked first).
    pub(crate) fn take(&self, ip: IpAddr, metrics: &Metrics) -> Result<IpAddr, Limit> {
        let key = crate::client_key(ip);
        {
            let mut map = self.map();
            if self.total.load(Ordering::SeqCst) >= self.total_limit.0 {
                return Err(self.total_limit.1);
            }
            let count = map.entry(key).or_insert(0);
            if *count >= self.per_ip_limit.0 {
                return Err(self.per_ip_limit.1);
            }
            *count += 1;
            self.total.fetch_add(1, Ordering::SeqCst);
        }
        match self.counted {
            Counted::Sessions => metrics.session_started(),
            Counted::Pending => metrics.pending_opened(),
        }
        Ok(key)
    }

    /// Gives back a place taken under `key`, and counts that in `metrics`.
    pub(crate) fn give_back(&self, key: IpAddr, metrics: &Metrics) {
        {
            let mut map = self.map();
            if let Some(count) = map.get_mut(&key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    map.remove(&key);
                }
            }
            self.total.fetch_sub(1, Ordering::SeqCst);
        }
        match self.counted {
            Counted::Sessions => metrics.session_ended(),
            Counted::Pending => metrics.pending_closed(),
        }
    }

    /// The per-client map; a panic elsewhere while it was held leaves counts that are still
    /// right, so a poisoned lock is used as it is.
    fn map(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        match self.per_ip.lock() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}
