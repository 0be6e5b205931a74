//! Places taken per client and in total, for the limits that cap them: relayed sessions
//! (`--max-connections`, `--max-per-ip`) and sockets before their connect frame
//! (`--max-pending`, `--max-pending-per-ip`). Taking and giving back a place is written here
//! once for both.
//!
//! It must never give back a place it did not hand out: each successful [`Counts::take`] is
//! paired by its caller with exactly one [`Counts::give_back`] for the same key.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::limit::Limit;

/// Places taken, per client key (see [`crate::client_key`]) and in total.
#[derive(Default)]
pub(crate) struct Counts {
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    total: AtomicUsize,
}

impl Counts {
    /// Places taken right now.
    pub(crate) fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    /// Takes a place for `key`, or names the limit that refuses it. `total` and `per_ip` are
    /// each a maximum and the limit that names it; the total is checked first.
    pub(crate) fn take(
        &self,
        key: IpAddr,
        total: (usize, Limit),
        per_ip: (usize, Limit),
    ) -> Result<(), Limit> {
        let mut map = self.map();
        if self.total.load(Ordering::SeqCst) >= total.0 {
            return Err(total.1);
        }
        let count = map.entry(key).or_insert(0);
        if *count >= per_ip.0 {
            return Err(per_ip.1);
        }
        *count += 1;
        self.total.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Gives back a place taken for `key`.
    pub(crate) fn give_back(&self, key: IpAddr) {
        let mut map = self.map();
        if let Some(count) = map.get_mut(&key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&key);
            }
        }
        self.total.fetch_sub(1, Ordering::SeqCst);
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
