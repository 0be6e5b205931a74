//! The relay's limits, by name. A limit's wire string is its label in
//! `sshdiag_proxy_limit_total{limit}`, the first word of its `relay-limit` log line and of the
//! `closed` reason a client reads, so it is written here once and nowhere else.
//!
//! This module never decides whether a limit is hit; it only names limits.

/// One of the relay's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Limit {
    /// `--max-connections`: relayed WebSockets in total.
    MaxConnections,
    /// `--max-per-ip`: relayed WebSockets from one client IP (IPv6: one /64).
    MaxPerIp,
    /// `--max-frame-size`, and the connect frame's own bound.
    FrameSize,
    /// `--idle-timeout`: no bytes either way.
    IdleTimeout,
    /// `--max-session`: a session's whole length.
    MaxSession,
    /// `--handshake-timeout`: no connect frame in time.
    HandshakeTimeout,
    /// `--max-pending`: sockets that have not yet completed the upgrade and the connect frame.
    MaxPending,
    /// `--max-pending-per-ip`: the same, from one client IP.
    MaxPendingPerIp,
    /// `--header-timeout`: HTTP request headers not complete in time.
    HeaderTimeout,
    /// A client that does not read: the relay's bounded write buffer is full.
    WriteBuffer,
}

impl Limit {
    /// Every limit, in the order metrics list them.
    pub const ALL: [Limit; 10] = [
        Limit::MaxConnections,
        Limit::MaxPerIp,
        Limit::FrameSize,
        Limit::IdleTimeout,
        Limit::MaxSession,
        Limit::HandshakeTimeout,
        Limit::MaxPending,
        Limit::MaxPendingPerIp,
        Limit::HeaderTimeout,
        Limit::WriteBuffer,
    ];

    /// The wire name: metric label, log word, `closed` reason prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::MaxConnections => "max-connections",
            Limit::MaxPerIp => "max-per-ip",
            Limit::FrameSize => "frame-size",
            Limit::IdleTimeout => "idle-timeout",
            Limit::MaxSession => "max-session",
            Limit::HandshakeTimeout => "handshake-timeout",
            Limit::MaxPending => "max-pending",
            Limit::MaxPendingPerIp => "max-pending-per-ip",
            Limit::HeaderTimeout => "header-timeout",
            Limit::WriteBuffer => "write-buffer",
        }
    }

    /// The WebSocket close code a session ended by this limit gets (RFC 6455 §7.4.1): 1009
    /// for a message too big, 1008 (policy) for the others.
    pub fn close_code(self) -> u16 {
        match self {
            Limit::FrameSize => 1009,
            _ => 1008,
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_distinct_kebab_case() {
        let names: std::collections::BTreeSet<&str> =
            Limit::ALL.iter().map(|l| l.as_str()).collect();
        assert_eq!(names.len(), Limit::ALL.len());
        for name in names {
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{name}"
            );
        }
    }
}
