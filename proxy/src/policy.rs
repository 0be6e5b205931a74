//! Which targets the relay may connect to. Deny by default.
//!
//! A request names `host` and `port`. The relay decides in two steps:
//!
//! 1. **Before any lookup**, the host is parsed ([`TargetHost::parse`]). Every numeric form an
//!    OS resolver would accept (`127.1`, `2130706433`, `0x7f.1`, `0177.0.0.1`, `[::1]`,
//!    `::ffff:127.0.0.1`) is turned into the address it denotes, exactly as `inet_aton` does, so
//!    it is checked as that address and never reaches DNS. A host that looks numeric but is not
//!    a valid address (`1.2.3.4.5`, `4294967296`) is refused. If no `--allow` rule could ever
//!    match the host and port, the request is refused without resolving (the relay is not a DNS
//!    oracle for names nobody allowed).
//! 2. **After resolution**, each address is checked ([`Policy::check_address`]) and the relay
//!    connects only to an address that passed, without a second lookup, so DNS rebinding
//!    cannot slip through.
//!
//! An address passes when a CIDR rule (`10.0.0.0/8:22`, `[fd00::/8]:22`, or a single IP, which
//! is a /32 or /128) with a matching port contains it, or when a host-name rule (`host:port`,
//! `*.example.com:22`, `*:22`) matches the name and the address is public — or internal
//! addresses were opened with `--allow-private`. A host-name pattern alone never unlocks an
//! internal address. Internal means everything [`classify`] names: loopback, RFC 1918 private,
//! CGNAT 100.64/10, link-local (169.254/16 with cloud metadata, fe80::/10), unique-local
//! fc00::/7, multicast, unspecified, broadcast, 0.0.0.0/8, documentation and benchmarking
//! ranges, reserved space, the NAT64 prefixes, and IPv4-mapped / IPv4-compatible / 6to4 IPv6
//! forms of internal IPv4 addresses.
//!
//! `*.example.com` matches any name under `example.com` (any depth) but not `example.com`
//! itself. Names are compared case-insensitively, without a trailing dot.
//!
//! Architecture invariant: nothing here does I/O; the session resolves and connects.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use sshdiag_events::relay::RelayErrorCode;

/// An IP network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network `addr/prefix`; host bits are cleared. `None` when the prefix is too long.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Cidr> {
        match addr {
            IpAddr::V4(v4) if prefix <= 32 => Some(Cidr {
                network: IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask32(prefix))),
                prefix,
            }),
            IpAddr::V6(v6) if prefix <= 128 => Some(Cidr {
                network: IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask128(prefix))),
                prefix,
            }),
            _ => None,
        }
    }

    /// The network holding exactly `addr`.
    pub fn host(addr: IpAddr) -> Cidr {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        Cidr {
            network: addr,
            prefix,
        }
    }

    /// Whether `addr` is in this network. IPv4-mapped IPv6 addresses count as their IPv4 form.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, canonical(addr)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask32(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask128(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn mask32(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn mask128(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it is; others unchanged.
pub fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// What kind of internal (not publicly routable) address `addr` is; `None` for a public one.
pub fn classify(addr: IpAddr) -> Option<&'static str> {
    match canonical(addr) {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u8) -> bool {
    u32::from(ip) & mask32(prefix) == u32::from(Ipv4Addr::from(net))
}

fn classify_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const TABLE: &[([u8; 4], u8, &str)] = &[
        ([255, 255, 255, 255], 32, "broadcast"),
        ([0, 0, 0, 0], 8, "unspecified (0.0.0.0/8)"),
        ([10, 0, 0, 0], 8, "private"),
        ([100, 64, 0, 0], 10, "shared (CGNAT)"),
        ([127, 0, 0, 0], 8, "loopback"),
        ([169, 254, 0, 0], 16, "link-local"),
        ([172, 16, 0, 0], 12, "private"),
        ([192, 0, 0, 0], 24, "IETF protocol assignment"),
        ([192, 0, 2, 0], 24, "documentation"),
        ([192, 88, 99, 0], 24, "reserved (6to4 relay)"),
        ([192, 168, 0, 0], 16, "private"),
        ([198, 18, 0, 0], 15, "benchmarking"),
        ([198, 51, 100, 0], 24, "documentation"),
        ([203, 0, 113, 0], 24, "documentation"),
        ([224, 0, 0, 0], 4, "multicast"),
        ([240, 0, 0, 0], 4, "reserved"),
    ];
    TABLE
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, kind)| *kind)
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u8) -> bool {
    u128::from(ip) & mask128(prefix) == u128::from(Ipv6Addr::from(net))
}

fn classify_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    // 6to4 (2002::/16) embeds an IPv4 address; it is as internal as that address.
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        let bits = u128::from(ip);
        let v4 = Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32);
        return classify_v4(v4).map(|_| "6to4 form of an internal IPv4 address");
    }
    const TABLE: &[([u16; 8], u8, &str)] = &[
        ([0, 0, 0, 0, 0, 0, 0, 0], 96, "IPv4-compatible"),
        ([0, 0, 0, 0, 0, 0xffff, 0, 0], 96, "IPv4-mapped"),
        ([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96, "NAT64"),
        ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, "NAT64 (local use)"),
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only"),
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "documentation"),
        (
            [0x2001, 0, 0, 0, 0, 0, 0, 0],
            23,
            "IETF protocol assignment",
        ),
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "documentation"),
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique-local"),
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local"),
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "site-local"),
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast"),
    ];
    if let Some((_, _, kind)) = TABLE
        .iter()
        .find(|(net, prefix, _)| in_v6(ip, *net, *prefix))
    {
        return Some(kind);
    }
    // Only global unicast (2000::/3) is public.
    if in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3) {
        None
    } else {
        Some("reserved")
    }
}

/// The host of a connect request, parsed before anything is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetHost {
    /// A literal address in any form a resolver accepts.
    Ip(IpAddr),
    /// A DNS name: lower case, no trailing dot.
    Name(String),
}

impl TargetHost {
    /// Parses a client's `host`. Errors are messages for the client.
    pub fn parse(host: &str) -> Result<TargetHost, String> {
        let host = host.trim();
        if host.is_empty() {
            return Err("the host is empty".into());
        }
        if host.len() > 253 + 2 {
            return Err("the host is longer than a DNS name can be".into());
        }
        if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            return inner
                .parse::<Ipv6Addr>()
                .map(|v6| TargetHost::Ip(IpAddr::V6(v6)))
                .map_err(|_| format!("`{host}` is not a valid IPv6 address"));
        }
        if host.contains(':') {
            return host
                .parse::<Ipv6Addr>()
                .map(|v6| TargetHost::Ip(IpAddr::V6(v6)))
                .map_err(|_| {
                    format!("`{host}` is not a valid IPv6 address (zone ids are not accepted)")
                });
        }
        let trimmed = host.strip_suffix('.').unwrap_or(host);
        if let Some(v4) = inet_aton(trimmed) {
            return Ok(TargetHost::Ip(IpAddr::V4(v4)));
        }
        if trimmed.split('.').all(is_numeric_label) {
            return Err(format!(
                "`{host}` looks like a numeric address but is not a valid one"
            ));
        }
        let name = trimmed.to_ascii_lowercase();
        if valid_name(&name) {
            Ok(TargetHost::Name(name))
        } else {
            Err(format!("`{host}` is not a valid host name"))
        }
    }

    /// The form written in logs and control frames.
    pub fn display(&self) -> String {
        match self {
            TargetHost::Ip(IpAddr::V6(v6)) => format!("[{v6}]"),
            TargetHost::Ip(ip) => ip.to_string(),
            TargetHost::Name(name) => name.clone(),
        }
    }
}

fn is_numeric_label(label: &str) -> bool {
    if let Some(hex) = label
        .strip_prefix("0x")
        .or_else(|| label.strip_prefix("0X"))
    {
        hex.bytes().all(|b| b.is_ascii_hexdigit())
    } else {
        !label.is_empty() && label.bytes().all(|b| b.is_ascii_digit())
    }
}

/// `inet_aton(3)`: one to four parts, each decimal, octal (leading `0`) or hex (`0x`); the
/// last part fills the remaining bytes. `127.1` is 127.0.0.1, `2130706433` too.
pub fn inet_aton(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(parts.len());
    for part in &parts {
        let value = if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            if hex.is_empty() {
                0
            } else {
                u32::from_str_radix(hex, 16).ok()?
            }
        } else if part.len() > 1 && part.starts_with('0') {
            u32::from_str_radix(&part[1..], 8).ok()?
        } else if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse::<u32>().ok()?
        } else {
            return None;
        };
        values.push(value);
    }
    let (head, last) = values.split_at(values.len() - 1);
    if head.iter().any(|v| *v > 255) {
        return None;
    }
    let last = last[0];
    let last_bits = 8 * (4 - head.len() as u32);
    if last_bits < 32 && last >= (1u32 << last_bits) {
        return None;
    }
    let mut addr: u32 = 0;
    for (i, v) in head.iter().enumerate() {
        addr |= v << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from(addr | last))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Name(String),
    /// `*.example.com`, stored as `.example.com`.
    Suffix(String),
    Cidr(Cidr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortPattern {
    Any,
    Range(u16, u16),
}

impl PortPattern {
    fn matches(&self, port: u16) -> bool {
        match *self {
            PortPattern::Any => true,
            PortPattern::Range(low, high) => (low..=high).contains(&port),
        }
    }
}

/// One `--allow` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowRule {
    host: HostPattern,
    port: PortPattern,
    text: String,
}

impl fmt::Display for AllowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl AllowRule {
    /// Parses `host:port`, `*.example.com:22`, `203.0.113.0/24:22`, `[2001:db8::/32]:22`,
    /// `*:22`. The port may also be `*` or a range `2200-2299`.
    pub fn parse(text: &str) -> Result<AllowRule, String> {
        let text = text.trim();
        let bad = |why: &str| format!("--allow `{text}`: {why}");
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (inside, after) = rest
                .split_once(']')
                .ok_or_else(|| bad("missing `]` after an IPv6 address"))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| bad("expected `:port` after `]`"))?;
            let cidr =
                parse_cidr(inside, true).ok_or_else(|| bad("not an IPv6 address or network"))?;
            (HostPattern::Cidr(cidr), port)
        } else {
            let (host, port) = text
                .rsplit_once(':')
                .ok_or_else(|| bad("expected host:port"))?;
            if host.contains(':') {
                return Err(bad("write IPv6 addresses in brackets: [2001:db8::/32]:22"));
            }
            let host = host.to_ascii_lowercase();
            let host = match host.strip_suffix('.') {
                Some(stripped) if !stripped.ends_with('*') && !stripped.is_empty() => {
                    stripped.to_string()
                }
                _ => host,
            };
            let pattern = if host == "*" {
                HostPattern::Any
            } else if let Some(cidr) = parse_cidr(&host, false) {
                HostPattern::Cidr(cidr)
            } else if host.contains('/') {
                return Err(bad("not a valid IPv4 network"));
            } else if let Some(suffix) = host.strip_prefix("*.") {
                if suffix.is_empty() || suffix.contains('*') || !valid_name(suffix) {
                    return Err(bad("not a valid wildcard name"));
                }
                HostPattern::Suffix(format!(".{suffix}"))
            } else if host.contains('*') {
                return Err(bad(
                    "`*` is allowed only alone or as the first label (`*.example.com`)",
                ));
            } else if host.split('.').all(is_numeric_label) {
                return Err(bad("write IPv4 addresses as dotted quads (203.0.113.5)"));
            } else if valid_name(&host) {
                HostPattern::Name(host)
            } else {
                return Err(bad("not a valid host name"));
            };
            (pattern, port)
        };
        let port = if port == "*" {
            PortPattern::Any
        } else if let Some((low, high)) = port.split_once('-') {
            let low = parse_port(low).ok_or_else(|| bad("bad port range"))?;
            let high = parse_port(high).ok_or_else(|| bad("bad port range"))?;
            if low > high {
                return Err(bad("port range is reversed"));
            }
            PortPattern::Range(low, high)
        } else {
            let port =
                parse_port(port).ok_or_else(|| bad("the port must be 1-65535, a range or `*`"))?;
            PortPattern::Range(port, port)
        };
        Ok(AllowRule {
            host,
            port,
            text: text.to_string(),
        })
    }

    /// A rule for exactly one address and port (the demo server).
    pub fn exact(addr: SocketAddr) -> AllowRule {
        AllowRule {
            host: HostPattern::Cidr(Cidr::host(canonical(addr.ip()))),
            port: PortPattern::Range(addr.port(), addr.port()),
            text: match addr.ip() {
                IpAddr::V6(v6) => format!("[{v6}]:{}", addr.port()),
                ip => format!("{ip}:{}", addr.port()),
            },
        }
    }

    fn name_matches(&self, host: &TargetHost) -> bool {
        match (&self.host, host) {
            (HostPattern::Any, _) => true,
            (HostPattern::Name(pattern), TargetHost::Name(name)) => pattern == name,
            (HostPattern::Suffix(suffix), TargetHost::Name(name)) => {
                name.ends_with(suffix.as_str())
            }
            _ => false,
        }
    }
}

fn valid_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn parse_port(text: &str) -> Option<u16> {
    match text.trim().parse::<u16>() {
        Ok(0) | Err(_) => None,
        Ok(port) => Some(port),
    }
}

fn parse_cidr(text: &str, v6: bool) -> Option<Cidr> {
    let (addr, prefix) = match text.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().ok()?)),
        None => (text, None),
    };
    let addr: IpAddr = if v6 {
        IpAddr::V6(addr.parse::<Ipv6Addr>().ok()?)
    } else {
        IpAddr::V4(addr.parse::<Ipv4Addr>().ok()?)
    };
    match prefix {
        Some(prefix) => Cidr::new(addr, prefix),
        None => Some(Cidr::host(addr)),
    }
}

/// Why a target was refused: the control-frame code and a message for the client.
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    pub code: RelayErrorCode,
    pub message: String,
}

/// The allow rules plus `--allow-private`.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    rules: Vec<AllowRule>,
    allow_private: bool,
}

impl Policy {
    pub fn new(rules: Vec<AllowRule>, allow_private: bool) -> Policy {
        Policy {
            rules,
            allow_private,
        }
    }

    pub fn rules(&self) -> &[AllowRule] {
        &self.rules
    }

    pub fn allow_private(&self) -> bool {
        self.allow_private
    }

    /// Before resolving: whether any rule could admit some address of `host:port`. A name
    /// nobody allowed is refused without a lookup.
    pub fn precheck(&self, host: &TargetHost, port: u16) -> Result<(), Denial> {
        let possible = self.rules.iter().any(|rule| {
            rule.port.matches(port)
                && match (&rule.host, host) {
                    (HostPattern::Cidr(cidr), TargetHost::Ip(ip)) => cidr.contains(*ip),
                    // A name may resolve into any network.
                    (HostPattern::Cidr(_), TargetHost::Name(_)) => true,
                    _ => rule.name_matches(host),
                }
        });
        if possible {
            Ok(())
        } else {
            Err(self.not_allowed(host, port))
        }
    }

    fn not_allowed(&self, host: &TargetHost, port: u16) -> Denial {
        let message = if self.rules.is_empty() {
            "this relay allows no targets (it was started without --allow)".to_string()
        } else {
            format!("{}:{port} is not allowed by this relay", host.display())
        };
        Denial {
            code: RelayErrorCode::Denied,
            message,
        }
    }

    /// After resolving: whether the relay may connect to `addr` for a request of `host:port`.
    pub fn check_address(&self, host: &TargetHost, port: u16, addr: IpAddr) -> Result<(), Denial> {
        let rules = || self.rules.iter().filter(|rule| rule.port.matches(port));
        if rules().any(|rule| matches!(&rule.host, HostPattern::Cidr(cidr) if cidr.contains(addr)))
        {
            return Ok(());
        }
        if !rules().any(|rule| rule.name_matches(host)) {
            return Err(self.not_allowed(host, port));
        }
        match classify(addr) {
            Some(kind) if !self.allow_private => Err(Denial {
                code: RelayErrorCode::DeniedPrivateAddress,
                message: format!(
                    "{} resolves to {} ({kind}), an internal address this relay does not reach",
                    host.display(),
                    canonical(addr)
                ),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn inet_aton_forms() {
        for form in [
            "127.0.0.1",
            "127.1",
            "127.0.1",
            "2130706433",
            "0x7f.1",
            "0177.0.0.1",
            "0x7f000001",
            "017700000001",
        ] {
            assert_eq!(inet_aton(form), Some(Ipv4Addr::LOCALHOST), "{form}");
        }
        for bad in [
            "256.0.0.1",
            "1.2.3.4.5",
            "4294967296",
            "1.2.3.256",
            "08.1.1.1",
            "",
            "a.b",
            "1..2",
        ] {
            assert_eq!(inet_aton(bad), None, "{bad}");
        }
        assert_eq!(inet_aton("0"), Some(Ipv4Addr::UNSPECIFIED));
        assert_eq!(inet_aton("10.65535"), Some(Ipv4Addr::new(10, 0, 255, 255)));
    }

    #[test]
    fn target_hosts_parse() {
        assert_eq!(
            TargetHost::parse("127.1"),
            Ok(TargetHost::Ip(ip("127.0.0.1")))
        );
        assert_eq!(TargetHost::parse("[::1]"), Ok(TargetHost::Ip(ip("::1"))));
        assert_eq!(
            TargetHost::parse("::ffff:127.0.0.1"),
            Ok(TargetHost::Ip(ip("::ffff:127.0.0.1")))
        );
        assert_eq!(
            TargetHost::parse("Example.COM."),
            Ok(TargetHost::Name("example.com".into()))
        );
        assert_eq!(
            TargetHost::parse("deadbeef.cafe"),
            Ok(TargetHost::Name("deadbeef.cafe".into()))
        );
        assert!(TargetHost::parse("1.2.3.4.5").is_err());
        assert!(TargetHost::parse("fe80::1%eth0").is_err());
        assert!(TargetHost::parse("a b").is_err());
        assert!(TargetHost::parse("").is_err());
    }

    #[test]
    fn internal_addresses_are_classified() {
        for internal in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.5",
            "198.18.0.1",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "64:ff9b::7f00:1",
            "64:ff9b::808:808",
            "2001:db8::1",
            "2002:7f00:1::1",
            "2002:a00:1::",
            "100::1",
            "fec0::1",
            "::ffff:169.254.169.254",
        ] {
            assert!(
                classify(ip(internal)).is_some(),
                "{internal} should be internal"
            );
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "2606:4700::1111",
            "2002:808:808::1",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(classify(ip(public)), None, "{public} should be public");
        }
    }

    #[test]
    fn rules_parse() {
        for good in [
            "example.com:22",
            "*.example.com:22",
            "203.0.113.0/24:22",
            "[2001:db8::/32]:22",
            "*:22",
            "[::1]:2222",
            "127.0.0.1:2222",
            "*:*",
            "host:2200-2299",
        ] {
            assert!(AllowRule::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "example.com",
            "example.com:0",
            "example.com:70000",
            "ex*ample.com:22",
            "2001:db8::1:22",
            "10.0.0.0/33:22",
            "[::1]22",
            "127.1:22",
            "a..b:22",
            "*.:22",
        ] {
            assert!(AllowRule::parse(bad).is_err(), "{bad}");
        }
    }

    fn policy(rules: &[&str], allow_private: bool) -> Policy {
        Policy::new(
            rules.iter().map(|r| AllowRule::parse(r).unwrap()).collect(),
            allow_private,
        )
    }

    fn name(text: &str) -> TargetHost {
        TargetHost::parse(text).unwrap()
    }

    /// `p`'s decision for `host:port` resolved to `addr`: the refusal's code when it refuses.
    fn check(p: &Policy, host: &str, port: u16, addr: &str) -> Result<(), RelayErrorCode> {
        p.check_address(&name(host), port, ip(addr))
            .map_err(|denial| denial.code)
    }

    #[test]
    fn host_patterns_never_unlock_internal_addresses() {
        let p = policy(&["*:22", "*.example.com:2222"], false);
        assert_eq!(check(&p, "a.example.com", 2222, "8.8.8.8"), Ok(()));
        assert_eq!(check(&p, "x.org", 22, "8.8.8.8"), Ok(()));
        let denied = check(&p, "a.example.com", 2222, "10.0.0.1");
        assert_eq!(denied, Err(RelayErrorCode::DeniedPrivateAddress));
        let denied = check(&p, "example.com", 2222, "8.8.8.8");
        assert_eq!(denied, Err(RelayErrorCode::Denied));
        let denied = check(&p, "x.org", 23, "8.8.8.8");
        assert_eq!(denied, Err(RelayErrorCode::Denied));
    }

    #[test]
    fn cidr_rules_and_allow_private_open_internal_addresses() {
        let p = policy(&["127.0.0.0/8:22", "[fd00::/8]:22"], false);
        assert_eq!(check(&p, "localhost", 22, "127.0.0.1"), Ok(()));
        assert_eq!(check(&p, "x", 22, "::ffff:127.0.0.2"), Ok(()));
        assert_eq!(check(&p, "x", 22, "fd00::5"), Ok(()));
        assert!(check(&p, "x", 23, "127.0.0.1").is_err());
        let open = policy(&["*:22"], true);
        assert_eq!(check(&open, "localhost", 22, "127.0.0.1"), Ok(()));
    }

    #[test]
    fn precheck_refuses_names_nobody_allowed() {
        let p = policy(&["*.example.com:22"], false);
        assert!(p.precheck(&name("a.example.com"), 22).is_ok());
        assert!(p.precheck(&name("example.org"), 22).is_err());
        assert!(p.precheck(&name("a.example.com"), 23).is_err());
        let empty = Policy::default();
        assert_eq!(
            empty.precheck(&name("a.example.com"), 22).unwrap_err().code,
            RelayErrorCode::Denied
        );
    }
}
